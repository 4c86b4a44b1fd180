/*
 * parkit/mpi.h on every backend.  Compiled always: on a context that is not
 * on the mpi backend there is one rank, and each call is its local meaning
 * (scatter and gather copy), so one program runs on any backend.
 */
#include "internal.h"

#include <parkit/mpi.h>

#include <stdint.h>
#include <string.h>

/* The backend's distributed arrays, or NULL: one process. */
static const pk__dist_ops *dist(const pk_context *ctx) {
  return ctx != NULL ? ctx->ops->dist : NULL;
}

int pk_mpi_rank(const pk_context *ctx) {
  if (dist(ctx) != NULL)
    return dist(ctx)->rank(ctx);
  (void)ctx;
  return 0;
}

int pk_mpi_size(const pk_context *ctx) {
  if (dist(ctx) != NULL)
    return dist(ctx)->size(ctx);
  (void)ctx;
  return 1;
}

pk_status pk_mpi_comm(pk_context *ctx, void *comm) {
  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (comm == NULL)
    return pk__error(ctx, PK_EINVAL, "pk_mpi_comm: comm is NULL");
  if (dist(ctx) != NULL)
    return dist(ctx)->comm(ctx, comm);
  return pk__error(ctx, PK_EBACKEND, "pk_mpi_comm: the context is on the "
                   "%s backend, not mpi", ctx->ops->name);
}

/* The one-rank meaning of scatter and gather: a copy. */
static pk_status copy(pk_context *ctx, const char *fn, const pk_array *src,
                      int root, pk_array **out) {
  pk_status st;

  if (root != 0 && !(root == -1 && strcmp(fn, "pk_mpi_gather") == 0))
    return pk__error(ctx, PK_EINVAL, "%s: root %d is not a rank (there is "
                     "one rank, 0)", fn, root);
  if (src == NULL || src->ctx != ctx)
    return pk__error(ctx, PK_EINVAL, "%s: the array is NULL or belongs to "
                     "another context", fn);
  st = pk__array_new(ctx, fn, src->dtype, src->ndim, src->shape, out);
  if (st == PK_OK && src->nbytes)
    memcpy((*out)->data, src->data, src->nbytes);
  return st;
}

pk_status pk_mpi_create(pk_context *ctx, pk_dtype dtype, int ndim,
                        const size_t *shape, pk_array **out) {
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  if ((st = pk__begin_out(ctx, "pk_mpi_create", out, 1, NULL)) != PK_OK)
    return st;
  {
    /* The shape only where ndim is one: the checks after refuse others. */
    uint64_t v[2 + PK_MAX_DIMS] = {(uint64_t)dtype, (uint64_t)ndim};
    for (int i = 0; shape != NULL && ndim <= PK_MAX_DIMS && i < ndim; i++)
      v[2 + i] = shape[i];
    if ((st = pk__same(ctx, "pk_mpi_create", "dtype and shape", v,
                       sizeof v)) != PK_OK)
      return st;
  }
  if (dist(ctx) != NULL)
    return dist(ctx)->create(ctx, dtype, ndim, shape, out);
  return pk__array_new(ctx, "pk_mpi_create", dtype, ndim, shape, out);
}

/* What the calls that move whole arrays say of a view. */
#define VIEW_WHY                                                          \
  "the array is a view (pk_array_view), which only a map reads; "         \
  "pk_array_moveaxis makes the same array as a copy"

pk_status pk_mpi_scatter(pk_context *ctx, const pk_array *src, int root,
                         pk_array **out) {
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  if ((st = pk__begin_out(ctx, "pk_mpi_scatter", out, src == NULL || src->view == NULL,
                            VIEW_WHY)) != PK_OK ||
      (st = pk__same(ctx, "pk_mpi_scatter", "the root", &root,
                     sizeof root)) != PK_OK)
    return st;
  if (dist(ctx) != NULL)
    return dist(ctx)->scatter(ctx, src, root, 0, out);
  return copy(ctx, "pk_mpi_scatter", src, root, out);
}

pk_status pk_mpi_share(pk_context *ctx, const pk_array *src, int root,
                       pk_array **out) {
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  if ((st = pk__begin_out(ctx, "pk_mpi_share", out, src == NULL || src->view == NULL,
                            VIEW_WHY)) != PK_OK ||
      (st = pk__same(ctx, "pk_mpi_share", "the root", &root,
                     sizeof root)) != PK_OK)
    return st;
  if (dist(ctx) != NULL)
    return dist(ctx)->scatter(ctx, src, root, 1, out);
  return copy(ctx, "pk_mpi_share", src, root, out);
}

pk_status pk_mpi_gather(pk_context *ctx, const pk_array *a, int root,
                        pk_array **out) {
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  if ((st = pk__begin_out(ctx, "pk_mpi_gather", out, a == NULL || a->view == NULL,
                            VIEW_WHY)) != PK_OK ||
      (st = pk__same(ctx, "pk_mpi_gather", "the root", &root,
                     sizeof root)) != PK_OK)
    return st;
  if (dist(ctx) != NULL)
    return dist(ctx)->gather(ctx, a, root, out);
  return copy(ctx, "pk_mpi_gather", a, root, out);
}
