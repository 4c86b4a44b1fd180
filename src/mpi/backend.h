/*
 * The mpi backend: each rank runs its block of the batch on OpenMP threads
 * (hybrid MPI+OpenMP).  Only the calling thread of a rank calls MPI
 * (MPI_THREAD_FUNNELED).
 *
 * Every collective call follows one rule so that no rank waits forever:
 * a rank that fails (bad input, no memory, a kernel error) still makes
 * every collective call the others make, and the outcome is agreed on
 * (agree) before any call whose progress depends on every rank: allocate,
 * agree, then communicate.
 */
#ifndef PK_MPI_BACKEND_H
#define PK_MPI_BACKEND_H

#include "internal.h"

#include <parkit/mpi.h>

#include <mpi.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest piece of one MPI-IO or point-to-point transfer, in bytes: MPI
 * counts are ints. */
#define PIECE ((size_t)1 << 30)
/* Failed items exchanged between ranks at most; beyond, only counted. */
#define MAX_SHARED_FAILS ((size_t)1 << 22)
#define TAG_SHARE 7411

typedef struct mpi {
  MPI_Comm comm;        /* parkit's duplicate of the user's communicator */
  MPI_Comm node;        /* the ranks that share memory with this one */
  int rank, size, nrank, nsize;
  int threads;          /* OpenMP threads this rank runs */
  int counted;          /* 1: counted in live */
  int *counts, *displs; /* size each, for v-collectives */
  uint64_t *meta;       /* 3 * size, for allgathered triples */
  pk__team team;        /* this rank's threads */
} mpi;


/* A window holding a node's shared copy; an array's handle. */
typedef struct shared {
  MPI_Win win;
} shared;

/* -------------------------------------------- between this folder's files */

/* backend.c: errors and agreement between the ranks. */
pk_status pk__mpi_fail(pk_context *ctx, int rc, const char *what);
pk_status pk__mpi_agree(pk_context *ctx, pk_status st);

/* map.c: maps and reductions over the ranks' blocks. */
int pk__mpi_item_type(size_t bytes, MPI_Datatype *t);
void pk__mpi_block_counts(mpi *m, size_t count);
pk_status pk__mpi_map(pk_context *ctx, const pk__job *j, pk__fails *f);
pk_status pk__mpi_reduce(pk_context *ctx, const pk_array *a, pk_op op,
                         double *result);

/* arrays.c: distributed arrays (pk__dist_ops). */
size_t pk__mpi_item_bytes(pk_dtype dt, int ndim, const size_t *shape,
                          int *ovf);
pk_status pk__mpi_dist_new(pk_context *ctx, const char *fn, pk_dtype dt,
                           int ndim, const size_t *gshape, pk_array **out);
pk_status pk__mpi_settle(pk_context *ctx, pk_status st, pk_array **out);
int pk__mpi_rank(const pk_context *ctx);
int pk__mpi_size(const pk_context *ctx);
pk_status pk__mpi_comm(pk_context *ctx, void *comm);
pk_status pk__mpi_create(pk_context *ctx, pk_dtype dtype, int ndim,
                         const size_t *shape, pk_array **out);
pk_status pk__mpi_scatter(pk_context *ctx, const pk_array *src, int root,
                          int shared_window, pk_array **out);
pk_status pk__mpi_gather(pk_context *ctx, const pk_array *a, int root,
                         pk_array **out);

/* io.c: .npy files by MPI-IO. */
pk_status pk__mpi_load_npy(pk_context *ctx, const char *path, pk_array **out);
pk_status pk__mpi_save_npy(pk_context *ctx, const pk_array *a,
                           const char *path);

#endif /* PK_MPI_BACKEND_H */
