/* The mpi backend's side of parkit/mpi.h, called by src/mpi_api.c only
 * when the context is on the mpi backend; no MPI types here, so mpi_api.c
 * compiles without mpi.h. */
#ifndef PK_MPI_INTERNAL_H
#define PK_MPI_INTERNAL_H

#include "internal.h"

int pk__mpi_rank(const pk_context *ctx);
int pk__mpi_size(const pk_context *ctx);
pk_status pk__mpi_comm(pk_context *ctx, void *comm);
pk_status pk__mpi_create(pk_context *ctx, pk_dtype dtype, int ndim,
                         const size_t *shape, pk_array **out);
pk_status pk__mpi_scatter(pk_context *ctx, const pk_array *src, int root,
                          int share, pk_array **out);
pk_status pk__mpi_gather(pk_context *ctx, const pk_array *a, int root,
                         pk_array **out);
pk_status pk__mpi_load_npy(pk_context *ctx, const char *path,
                           pk_array **out);
pk_status pk__mpi_save_npy(pk_context *ctx, const pk_array *a,
                           const char *path);

#endif /* PK_MPI_INTERNAL_H */
