/*
 * parkit/mpi.h: distributed arrays for the mpi backend.
 *
 * A distributed array is split along its batch axis (axis 0) over the ranks
 * of the context's communicator: rank r holds items [offset, offset + n) of
 * global items, contiguous, in rank order, and block sizes differ by at most
 * one (pk_mpi_block).  On such an array pk_array_dim(a, 0) and
 * pk_array_data(a) are the rank's own block; pk_map runs each rank's block
 * with no communication (a new output has the same layout), and pk_reduce
 * gives every rank the bits pk_reduce gives on the whole array on the serial
 * backend, whatever the number of ranks.
 *
 * An array that is not distributed is, under the mpi backend, a replica that
 * every rank holds whole: pk_map computes a block on each rank and then
 * every rank receives every block of the output (an allgather).
 *
 * Every function here works on every backend, so one program runs anywhere:
 * on a backend other than mpi there is one rank (rank 0 of 1), "distributed"
 * arrays are ordinary arrays, and the collective calls are local.  No MPI
 * header is needed to use them.
 *
 * Errors in collective calls are agreed on: every rank returns the status
 * of the lowest rank that failed, and pk_errmsg says which rank that was
 * ("rank 2: ...").
 */
#ifndef PARKIT_MPI_H
#define PARKIT_MPI_H

#include <parkit.h>

#ifdef __cplusplus
extern "C" {
#endif

/* This process's rank and the number of ranks of ctx (0 and 1 when ctx is
 * not on the mpi backend, or NULL).  Not collective. */
int pk_mpi_rank(const pk_context *ctx);
int pk_mpi_size(const pk_context *ctx);

/*
 * pk_mpi_comm - copy the context's communicator (parkit's duplicate of the
 * one it was given) into *(MPI_Comm *)comm, for the caller's own MPI calls.
 * It stays owned by ctx: do not free it.  Not collective.
 * Errors: PK_EINVAL (NULL), PK_EBACKEND (ctx is not on the mpi backend).
 */
pk_status pk_mpi_comm(pk_context *ctx, void *comm);

/* The block of count items that rank owns out of size ranks: items
 * [*first, *first + *n); the first count % size ranks get one more. */
void pk_mpi_block(size_t count, int size, int rank, size_t *first,
                  size_t *n);

/* 1 if a is distributed; the global index of its first local item (0 if
 * not distributed); its global number of items (pk_array_dim(a, 0) if not
 * distributed).  Not collective. */
int pk_array_distributed(const pk_array *a);
size_t pk_array_offset(const pk_array *a);
size_t pk_array_global(const pk_array *a);

/*
 * pk_mpi_create - a new zero-filled distributed array of global shape
 * `shape`: each rank allocates only its block.  Collective.  Every rank
 * passes the same arguments.  The caller destroys it (pk_array_destroy, not
 * collective).  Errors as pk_array_create, agreed on every rank.
 */
pk_status pk_mpi_create(pk_context *ctx, pk_dtype dtype, int ndim,
                        const size_t *shape, pk_array **out);

/*
 * pk_mpi_scatter - a new distributed array holding the items of src, an
 * ordinary array on rank root (src is ignored on the other ranks, and may be
 * NULL there): each rank receives a copy of its block.  Collective.
 * Errors: PK_EINVAL (root out of range, src NULL or distributed on root),
 * PK_ENOMEM, PK_EOVERFLOW (more than INT_MAX items), PK_EMPI; agreed.
 */
pk_status pk_mpi_scatter(pk_context *ctx, const pk_array *src, int root,
                         pk_array **out);

/*
 * pk_mpi_share - as pk_mpi_scatter, but the ranks of one node share one copy
 * of their node's blocks in an MPI-3 shared-memory window: each node
 * receives only the blocks its ranks own, once, and each rank's array is
 * its block of that window, with no copy inside the node.  Treat the result
 * as read-only input.  Collective; pk_array_destroy of a shared array is
 * collective over the ranks of its node.  Errors as pk_mpi_scatter.
 */
pk_status pk_mpi_share(pk_context *ctx, const pk_array *src, int root,
                       pk_array **out);

/*
 * pk_mpi_gather - a new ordinary array holding every item of the
 * distributed array a: on rank root only (*out is NULL on the others), or,
 * with root = -1, on every rank.  A non-distributed a is a replica: root
 * (or every rank) gets a copy of it.  Collective.
 * Errors: PK_EINVAL, PK_ENOMEM, PK_EOVERFLOW, PK_EMPI; agreed.
 */
pk_status pk_mpi_gather(pk_context *ctx, const pk_array *a, int root,
                        pk_array **out);

/*
 * pk_mpi_load_npy - read a .npy file into a new distributed array with
 * MPI-IO: rank 0 reads and checks the header (formats as pk_array_load_npy)
 * and broadcasts it; each rank reads only its own block.  Every rank must
 * see the file at path.  Collective.  Errors as pk_array_load_npy (a refused
 * format is PK_EFORMAT with rank 0's message on every rank), PK_EMPI.
 */
pk_status pk_mpi_load_npy(pk_context *ctx, const char *path,
                          pk_array **out);

/*
 * pk_mpi_save_npy - write a (format 1.0) .npy file with MPI-IO: rank 0
 * writes the header, each rank its own block.  A non-distributed a is
 * written by rank 0 alone.  pk_array_save_npy on a distributed array calls
 * this, and so is collective too.  Collective.  Errors: PK_EINVAL, PK_EIO,
 * PK_EMPI; agreed.
 */
pk_status pk_mpi_save_npy(pk_context *ctx, const pk_array *a,
                          const char *path);

#ifdef __cplusplus
}
#endif
#endif /* PARKIT_MPI_H */
