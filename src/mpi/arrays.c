/*
 * The mpi backend's distributed arrays (backend.h, pk__dist_ops): blocks made,
 * scattered, shared in a node's window and gathered.
 */
#include "backend.h"

/* ---------------------------------------------------- distributed arrays */

int pk__mpi_rank(const pk_context *ctx) {
  return ((const mpi *)ctx->impl)->rank;
}

int pk__mpi_size(const pk_context *ctx) {
  return ((const mpi *)ctx->impl)->size;
}

pk_status pk__mpi_comm(pk_context *ctx, void *comm) {
  *(MPI_Comm *)comm = ((mpi *)ctx->impl)->comm;
  return PK_OK;
}

/* Bytes of one item of an array of dtype, ndim and shape; 0 with *ovf on
 * overflow. */
size_t pk__mpi_item_bytes(pk_dtype dt, int ndim, const size_t *shape,
                          int *ovf) {
  size_t n = pk_dtype_size(dt);
  int i;

  for (i = 1; i < ndim; i++)
    n = pk__mul(n, shape[i], ovf);
  return n;
}

/* Check a global shape; this rank's block of it in a new array, not yet
 * agreed on. */
pk_status pk__mpi_dist_new(pk_context *ctx, const char *fn, pk_dtype dt,
                           int ndim, const size_t *gshape, pk_array **out) {
  mpi *m = ctx->impl;
  size_t shape[PK_MAX_DIMS], first, n;
  int ovf = 0;
  pk_status st;

  if (ndim < 1 || ndim > PK_MAX_DIMS || gshape == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: ndim %d (1 to %d) or a NULL shape",
                     fn, ndim, PK_MAX_DIMS);
  pk__mul(pk__mpi_item_bytes(dt, ndim, gshape, &ovf), gshape[0], &ovf);
  if (ovf)
    return pk__error(ctx, PK_EOVERFLOW, "%s: the array's size in bytes "
                     "does not fit in size_t", fn);
  pk_mpi_block(gshape[0], m->size, m->rank, &first, &n);
  memcpy(shape, gshape, (size_t)ndim * sizeof *shape);
  shape[0] = n;
  st = pk__array_new(ctx, fn, dt, ndim, shape, out);
  if (st != PK_OK)
    return st;
  (*out)->distributed = 1;
  (*out)->offset = first;
  (*out)->global = gshape[0];
  return PK_OK;
}

/* Agree on st; on a failure, undo *out. */
pk_status pk__mpi_settle(pk_context *ctx, pk_status st, pk_array **out) {
  st = pk__mpi_agree(ctx, st);
  if (st != PK_OK)
    pk_array_destroy(out);
  return st;
}

pk_status pk__mpi_create(pk_context *ctx, pk_dtype dtype, int ndim,
                         const size_t *shape, pk_array **out) {
  pk_status st = pk__mpi_dist_new(ctx, "pk_mpi_create", dtype, ndim, shape,
                                  out);
  return pk__mpi_settle(ctx, st, out);
}

/* Root sends [lo, hi) items of its src to each node leader but itself. */
static int send_spans(mpi *m, const pk_array *src, size_t ib) {
  int r, rc = MPI_SUCCESS;

  for (r = 0; r < m->size && rc == MPI_SUCCESS; r++) {
    size_t lo = m->meta[3 * r + 1], hi = m->meta[3 * r + 2], off;
    const char *p = (const char *)src->data + lo * ib;
    if (!m->meta[3 * r] || r == m->rank)
      continue;
    for (off = 0; off < (hi - lo) * ib && rc == MPI_SUCCESS; off += PIECE) {
      size_t len = (hi - lo) * ib - off < PIECE ? (hi - lo) * ib - off : PIECE;
      rc = MPI_Send(p + off, (int)len, MPI_BYTE, r, TAG_SHARE, m->comm);
    }
  }
  return rc;
}

/*
 * The shared-window path: the node's leader allocates one window for the
 * node's span of blocks, receives it once from root (or copies it, being
 * root), and every rank of the node points its array at its block there.
 */
static pk_status share(pk_context *ctx, const pk_array *src, int root,
                       pk_dtype dt, int ndim, const size_t *gshape,
                       size_t ib, pk_array **out) {
  mpi *m = ctx->impl;
  size_t first, n, shape[PK_MAX_DIMS], off;
  uint64_t span[2], lo, hi;
  MPI_Aint size = 0;
  MPI_Win win = MPI_WIN_NULL;
  shared *sh = calloc(1, sizeof *sh);
  char *base = NULL, *node_base = NULL;
  int du = 1, rc;
  pk_status st;

  pk_mpi_block(gshape[0], m->size, m->rank, &first, &n);
  span[0] = first;
  span[1] = UINT64_MAX - (first + n);
  rc = MPI_Allreduce(MPI_IN_PLACE, span, 2, MPI_UINT64_T, MPI_MIN, m->node);
  lo = span[0];
  hi = UINT64_MAX - span[1];
  if (rc == MPI_SUCCESS)
    rc = MPI_Win_allocate_shared(m->nrank == 0 ? (MPI_Aint)((hi - lo) * ib)
                                               : 0,
                                 1, MPI_INFO_NULL, m->node, &base, &win);
  st = rc == MPI_SUCCESS ? PK_OK
                         : pk__mpi_fail(ctx, rc, "MPI_Win_allocate_shared");
  if (st == PK_OK && sh == NULL)
    st = pk__error(ctx, PK_ENOMEM, "pk_mpi_share: out of memory");
  if ((st = pk__mpi_agree(ctx, st)) != PK_OK) {
    if (win != MPI_WIN_NULL)
      MPI_Win_free(&win);
    free(sh);
    return st;
  }
  sh->win = win;
  MPI_Win_shared_query(sh->win, 0, &size, &du, &node_base);
  MPI_Win_lock_all(MPI_MODE_NOCHECK, sh->win);

  /* Root learns each node leader's span, and sends it. */
  {
    uint64_t me[3] = {m->nrank == 0, lo, hi};
    rc = MPI_Gather(me, 3, MPI_UINT64_T, m->meta, 3, MPI_UINT64_T, root,
                    m->comm);
  }
  if (rc == MPI_SUCCESS && m->rank == root && m->nrank == 0 && hi > lo)
    memcpy(node_base, (const char *)src->data + lo * ib, (hi - lo) * ib);
  if (rc == MPI_SUCCESS && m->rank == root)
    rc = send_spans(m, src, ib);
  if (rc == MPI_SUCCESS && m->rank != root && m->nrank == 0)
    for (off = 0; off < (hi - lo) * ib && rc == MPI_SUCCESS; off += PIECE) {
      size_t len = (hi - lo) * ib - off < PIECE ? (hi - lo) * ib - off : PIECE;
      rc = MPI_Recv(node_base + off, (int)len, MPI_BYTE, root, TAG_SHARE,
                    m->comm, MPI_STATUS_IGNORE);
    }
  /* The leader's stores become visible to the node's ranks. */
  MPI_Win_sync(sh->win);
  if (rc == MPI_SUCCESS)
    rc = MPI_Barrier(m->node);
  MPI_Win_sync(sh->win);
  st = rc == MPI_SUCCESS ? PK_OK : pk__mpi_fail(ctx, rc, "sharing the input");

  memcpy(shape, gshape, (size_t)ndim * sizeof *shape);
  shape[0] = n;
  if (st == PK_OK) {
    /* Never NULL, even when empty: pk_array_destroy must reach mpi_free
     * on every rank of the node, to free the window together. */
    char *data = node_base ? node_base + (first - lo) * ib : (char *)sh;
    st = pk_array_wrap(ctx, dt, ndim, shape, data, out);
  }
  if (st == PK_OK) {
    (*out)->wrapped = 0;
    (*out)->handle = sh;
    (*out)->distributed = 1;
    (*out)->offset = first;
    (*out)->global = gshape[0];
  }
  st = pk__mpi_agree(ctx, st);
  if (st != PK_OK) {
    if (*out != NULL) {
      pk_array_destroy(out); /* frees the window */
    } else {
      MPI_Win_unlock_all(sh->win);
      MPI_Win_free(&sh->win);
      free(sh);
    }
  }
  return st;
}

pk_status pk__mpi_scatter(pk_context *ctx, const pk_array *src, int root,
                          int shared_window, pk_array **out) {
  const char *fn = shared_window ? "pk_mpi_share" : "pk_mpi_scatter";
  mpi *m = ctx->impl;
  uint64_t meta[2 + PK_MAX_DIMS] = {0};
  size_t shape[PK_MAX_DIMS], ib;
  pk_status st = PK_OK;
  MPI_Datatype t;
  int i, ndim, ovf = 0, rc;
  pk_dtype dt;

  if (root < 0 || root >= m->size)
    return pk__mpi_agree(ctx, pk__error(ctx, PK_EINVAL, "%s: root %d is not "
                                        "a rank (0 to %d)", fn, root,
                                        m->size - 1));
  if (m->rank == root) {
    if (src == NULL || src->ctx != ctx)
      st = pk__error(ctx, PK_EINVAL, "%s: the root's array is NULL or "
                     "belongs to another context", fn);
    else if (src->distributed && m->size > 1)
      st = pk__error(ctx, PK_EINVAL, "%s: the root's array is already "
                     "distributed", fn);
    else {
      meta[0] = (uint64_t)src->dtype;
      meta[1] = (uint64_t)src->ndim;
      for (i = 0; i < src->ndim; i++)
        meta[2 + i] = src->shape[i];
    }
  }
  if ((st = pk__mpi_agree(ctx, st)) != PK_OK)
    return st;
  rc = MPI_Bcast(meta, 2 + PK_MAX_DIMS, MPI_UINT64_T, root, m->comm);
  if (rc != MPI_SUCCESS)
    return pk__mpi_agree(ctx, pk__mpi_fail(ctx, rc, "MPI_Bcast"));
  dt = (pk_dtype)meta[0];
  ndim = (int)meta[1];
  for (i = 0; i < ndim; i++)
    shape[i] = (size_t)meta[2 + i];
  ib = pk__mpi_item_bytes(dt, ndim, shape, &ovf);
  if (shape[0] > INT32_MAX || ib > INT32_MAX)
    return pk__mpi_agree(ctx, pk__error(ctx, PK_EOVERFLOW, "%s: %zu items "
                                        "of %zu bytes are more than MPI "
                                        "counts reach", fn, shape[0], ib));
  if (shared_window)
    return share(ctx, src, root, dt, ndim, shape, ib, out);

  st = pk__mpi_dist_new(ctx, fn, dt, ndim, shape, out);
  st = pk__mpi_settle(ctx, st, out);
  if (st != PK_OK || ib == 0 || shape[0] == 0)
    return st;
  pk__mpi_block_counts(m, shape[0]);
  rc = pk__mpi_item_type(ib, &t);
  if (rc == MPI_SUCCESS) {
    rc = MPI_Scatterv(m->rank == root ? src->data : NULL, m->counts,
                      m->displs, t, (*out)->data, m->counts[m->rank], t, root,
                      m->comm);
    MPI_Type_free(&t);
  }
  return pk__mpi_settle(ctx, rc == MPI_SUCCESS
                                ? PK_OK
                                : pk__mpi_fail(ctx, rc, "MPI_Scatterv"),
                        out);
}

pk_status pk__mpi_gather(pk_context *ctx, const pk_array *a, int root,
                         pk_array **out) {
  mpi *m = ctx->impl;
  size_t shape[PK_MAX_DIMS], ib, next = 0;
  int r, rc, ovf = 0, want = root < 0 || root == m->rank;
  pk_status st = PK_OK;
  MPI_Datatype t;

  if (root < -1 || root >= m->size)
    st = pk__error(ctx, PK_EINVAL, "pk_mpi_gather: root %d is neither -1 "
                   "nor a rank (0 to %d)", root, m->size - 1);
  else if (a == NULL || a->ctx != ctx)
    st = pk__error(ctx, PK_EINVAL, "pk_mpi_gather: the array is NULL or "
                   "belongs to another context");
  if ((st = pk__mpi_agree(ctx, st)) != PK_OK)
    return st;
  memcpy(shape, a->shape, sizeof shape);
  if (!a->distributed) { /* a replica: copy it where it is wanted */
    if (want)
      st = pk__array_new(ctx, "pk_mpi_gather", a->dtype, a->ndim, shape, out);
    if (st == PK_OK && want && a->nbytes)
      memcpy((*out)->data, a->data, a->nbytes);
    return pk__mpi_settle(ctx, st, out);
  }
  shape[0] = a->global;
  ib = pk__mpi_item_bytes(a->dtype, a->ndim, shape, &ovf);
  m->meta[3 * m->rank] = a->offset;
  m->meta[3 * m->rank + 1] = a->shape[0];
  rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, m->meta, 3,
                     MPI_UINT64_T, m->comm);
  if (rc != MPI_SUCCESS)
    return pk__mpi_agree(ctx, pk__mpi_fail(ctx, rc, "MPI_Allgather"));
  for (r = 0; r < m->size && st == PK_OK; r++) {
    if (m->meta[3 * r] != next)
      st = pk__error(ctx, PK_EINVAL, "pk_mpi_gather: the blocks are not "
                     "contiguous in rank order");
    next += m->meta[3 * r + 1];
    m->counts[r] = (int)m->meta[3 * r + 1];
    m->displs[r] = (int)m->meta[3 * r];
  }
  if (st == PK_OK && (a->global > INT32_MAX || ib > INT32_MAX))
    st = pk__error(ctx, PK_EOVERFLOW, "pk_mpi_gather: %zu items of %zu "
                   "bytes are more than MPI counts reach", a->global, ib);
  if (st == PK_OK && want)
    st = pk__array_new(ctx, "pk_mpi_gather", a->dtype, a->ndim, shape, out);
  if ((st = pk__mpi_settle(ctx, st, out)) != PK_OK || ib == 0 ||
      a->global == 0)
    return st;
  rc = pk__mpi_item_type(ib, &t);
  if (rc == MPI_SUCCESS) {
    if (root < 0)
      rc = MPI_Allgatherv(a->data, (int)a->shape[0], t, (*out)->data,
                          m->counts, m->displs, t, m->comm);
    else
      rc = MPI_Gatherv(a->data, (int)a->shape[0], t,
                       want ? (*out)->data : NULL, m->counts, m->displs, t,
                       root, m->comm);
    MPI_Type_free(&t);
  }
  return pk__mpi_settle(ctx, rc == MPI_SUCCESS
                                ? PK_OK
                                : pk__mpi_fail(ctx, rc, "gathering"),
                        out);
}
