/*
 * The mpi backend's maps and reductions (backend.h): each rank's block on its
 * OpenMP team, the failures gathered, and reductions with the serial bits.
 */
#include "backend.h"

/* ------------------------------------------------------------------- map */

/*
 * Agree on a map's outcome.  Every rank gets every rank's failed items in f
 * (global indices: mine's plus shift), and the status and message of the
 * lowest rank that failed.  One MPI_Allreduce when nothing failed.
 */
static pk_status agree_map(pk_context *ctx, const pk__job *j, pk_status st,
                           const pk__fails *mine, size_t shift, size_t total,
                           pk__fails *f) {
  mpi *m = ctx->impl;
  int bad = st != PK_OK || mine->n > 0, any = 0, low = -1, nbad = 0, r, rc;
  size_t listed = 0, k, nfail = 0, first_item = 0;
  uint64_t *send = NULL, *recv = NULL;
  pk_status code = PK_OK, first_st = PK_EKERNEL;
  char msg[sizeof ctx->msg];
  int have_first = 0;

  rc = MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, m->comm);
  if (rc != MPI_SUCCESS)
    return pk__mpi_fail(ctx, rc, "MPI_Allreduce");
  if (!any)
    return PK_OK;

  /* Who failed, how, how many items; then the items, if they fit. */
  m->meta[3 * m->rank] = (uint64_t)(int64_t)st;
  m->meta[3 * m->rank + 1] = mine->n;
  m->meta[3 * m->rank + 2] = mine->len < MAX_SHARED_FAILS / (size_t)m->size
                                 ? mine->len
                                 : MAX_SHARED_FAILS / (size_t)m->size;
  rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, m->meta, 3,
                     MPI_UINT64_T, m->comm);
  if (rc != MPI_SUCCESS)
    return pk__mpi_fail(ctx, rc, "MPI_Allgather");
  for (r = 0; r < m->size; r++) {
    pk_status s = (pk_status)(int64_t)m->meta[3 * r];
    if ((s != PK_OK || m->meta[3 * r + 1] > 0) && low < 0) {
      low = r;
      code = s;
    }
    nbad += s != PK_OK || m->meta[3 * r + 1] > 0;
    nfail += m->meta[3 * r + 1];
    listed += m->meta[3 * r + 2];
  }
  send = malloc((2 * m->meta[3 * m->rank + 2] + 1) * sizeof *send);
  recv = malloc((2 * listed + 1) * sizeof *recv);
  bad = send == NULL || recv == NULL;
  rc = MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, m->comm);
  if (rc == MPI_SUCCESS && !bad) {
    for (k = 0; k < m->meta[3 * m->rank + 2]; k++) {
      send[2 * k] = mine->v[k].item + shift;
      send[2 * k + 1] = (uint64_t)(int64_t)mine->v[k].status;
    }
    for (r = 0, k = 0; r < m->size; r++) {
      m->counts[r] = (int)(2 * m->meta[3 * r + 2]);
      m->displs[r] = (int)k;
      k += 2 * m->meta[3 * r + 2];
    }
    rc = MPI_Allgatherv(send, m->counts[m->rank], MPI_UINT64_T, recv,
                        m->counts, m->displs, MPI_UINT64_T, m->comm);
  }
  if (rc != MPI_SUCCESS) {
    free(send);
    free(recv);
    return pk__mpi_fail(ctx, rc, "MPI_Allgatherv");
  }
  for (r = 0, k = 0; r < m->size; r++) {
    size_t i, n = bad ? 0 : m->meta[3 * r + 2];
    for (i = 0; i < n; i++, k++) {
      /* Threads record out of order: the first is the least. */
      if (r == low && (!have_first || recv[2 * k] < first_item)) {
        have_first = 1;
        first_item = (size_t)recv[2 * k];
        first_st = (pk_status)(int64_t)recv[2 * k + 1];
      }
      pk__fails_add(f, (size_t)recv[2 * k],
                    (pk_status)(int64_t)recv[2 * k + 1], r);
    }
    f->n += m->meta[3 * r + 1] - n;
  }
  free(send);
  free(recv);

  if (code != PK_OK) {
    /* The backend failed on rank low: its own message. */
    snprintf(msg, sizeof msg, "%s", ctx->msg[0] ? ctx->msg
                                                : pk_strerror(code));
    rc = MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, low, m->comm);
    if (rc != MPI_SUCCESS)
      return pk__mpi_fail(ctx, rc, "MPI_Bcast");
    msg[sizeof msg - 1] = '\0';
    return pk__error(ctx, code, "rank %d: %s", low, msg);
  }
  if (have_first)
    return pk__error(ctx, PK_EKERNEL, "%s: %zu of %zu items failed, on "
                     "rank %d%s; the first, item %zu: %s", j->kernel->name,
                     nfail, total, low, nbad > 1 ? " and others" : "",
                     first_item, pk_strerror(first_st));
  return pk__error(ctx, PK_EKERNEL, "%s: %zu of %zu items failed, the first "
                   "on rank %d (out of memory: their indices are not known)",
                   j->kernel->name, nfail, total, low);
}

/* An MPI type of one item of bytes (> 0) bytes. */
int pk__mpi_item_type(size_t bytes, MPI_Datatype *t) {
  int rc;

  if (bytes > INT32_MAX)
    return MPI_ERR_COUNT;
  rc = MPI_Type_contiguous((int)bytes, MPI_BYTE, t);
  if (rc == MPI_SUCCESS)
    rc = MPI_Type_commit(t);
  return rc;
}

/* counts and displs of m for count items in blocks. */
void pk__mpi_block_counts(mpi *m, size_t count) {
  int r;

  for (r = 0; r < m->size; r++) {
    size_t first, n;
    pk_mpi_block(count, m->size, r, &first, &n);
    m->counts[r] = (int)n;
    m->displs[r] = (int)first;
  }
}

/* Every rank's block of each replicated output to every rank. */
static pk_status allgather_out(pk_context *ctx, const pk__job *j) {
  mpi *m = ctx->impl;
  MPI_Datatype t;
  int rc = MPI_SUCCESS;

  if (j->n == 0 || m->size == 1)
    return PK_OK;
  if (j->n > INT32_MAX)
    return pk__error(ctx, PK_EOVERFLOW, "pk_map: %zu items of a replicated "
                     "array are more than MPI can gather (%d)", j->n,
                     INT32_MAX);
  pk__mpi_block_counts(m, j->n);
  for (int c = 0; c < j->task.nout && rc == MPI_SUCCESS; c++) {
    if (j->task.out_strides[c] == 0)
      continue;
    rc = pk__mpi_item_type(j->task.out_strides[c], &t);
    if (rc == MPI_SUCCESS) {
      rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL,
                          j->task.outs[c], m->counts, m->displs, t, m->comm);
      MPI_Type_free(&t);
    }
  }
  return rc == MPI_SUCCESS ? PK_OK : pk__mpi_fail(ctx, rc, "MPI_Allgatherv");
}

/*
 * A distributed input: this rank's block, indices offset by the array's
 * offset, no communication but the agreement.  A replicated input: this
 * rank's block of items, then every block to every rank.
 */
/*
 * The inputs' layouts, the same on every rank: a replica is the same array
 * everywhere (each rank maps its block of it, then every block goes to
 * every rank), and a rank that passed its own data, of another length or
 * item shape, had other ranks' results mixed into its output, or the
 * gather's garbage, without an error.  Their values are not compared.
 */
static pk_status same_inputs(pk_context *ctx, const pk__job *j) {
  size_t d[PK_MAX_ARGS * (PK_MAX_DIMS + 4) + 1], k = 0;
  const int nin = j->nin > 0 ? j->nin : 1;

  d[k++] = j->in->distributed ? j->in->global : j->n;
  for (int i = 0; i < nin && i < PK_MAX_ARGS; i++) {
    const pk_array *a = j->nin > 0 ? j->ins[i] : j->in;
    d[k++] = (size_t)a->dtype;
    d[k++] = (size_t)a->ndim;
    d[k++] = (size_t)a->distributed;
    d[k++] = a->distributed ? a->global : a->shape[0];
    for (int e = 1; e < a->ndim; e++)
      d[k++] = a->shape[e];
  }
  return pk__same(ctx, "pk_map", "the inputs' shapes", d, k * sizeof d[0]);
}

/* PK_EINTR if pk_interrupt stopped this rank's share (mine lists the items
   it did not start), for the ranks to agree on; else PK_OK. */
static pk_status stopped(pk_context *ctx, const pk__job *j,
                         const pk__fails *mine, size_t n) {
  size_t k, skipped = 0;

  for (k = 0; k < mine->len; k++)
    skipped += mine->v[k].status == PK_EINTR;
  if (skipped == 0)
    return PK_OK;
  return pk__error(ctx, PK_EINTR, "%s: interrupted, %zu%s of the rank's "
                   "%zu items not run", j->kernel->name, skipped,
                   mine->len < mine->n ? " or more" : "", n);
}

pk_status pk__mpi_map(pk_context *ctx, const pk__job *j, pk__fails *f) {
  mpi *m = ctx->impl;
  pk__job s = *j;
  pk__fails mine = {0};
  pk_status st;
  size_t total = j->n;
  int repl = !j->in->distributed;

  if ((st = same_inputs(ctx, j)) != PK_OK)
    return st;
  if (repl) {
    size_t lo, n;
    pk_mpi_block(j->n, m->size, m->rank, &lo, &n);
    s.n = s.task.count = n;
    pk__task_shift(&s.task, lo);
    s.lo = 0;
    pk__plan_chunks(&s, j->schedule, m->threads);
  } else {
    /* The front end made or checked the output's distribution. */
    s.task.first += j->in->offset;
    total = j->in->global;
  }
  st = pk__team_run(ctx, &m->team, &s, m->threads, &mine);
  if (st == PK_OK)
    st = stopped(ctx, j, &mine, s.n);
  st = agree_map(ctx, j, st, &mine, s.task.first - j->task.first, total, f);
  pk__fails_free(&mine);
  if (repl && st != PK_EMPI && st != PK_EINVAL) {
    pk_status g = allgather_out(ctx, j);
    if (st == PK_OK)
      st = g;
  }
  return st;
}

/* ---------------------------------------------------------------- reduce */

/* Elements in one item of a (the product of shape[1..]); 0 on overflow. */
static size_t item_elems(const pk_array *a) {
  size_t n = 1;
  int i, ovf = 0;

  for (i = 1; i < a->ndim; i++)
    n = pk__mul(n, a->shape[i], &ovf);
  return ovf ? 0 : n;
}

/* Is block b of a whole array of G elements wholly inside [s, e)? */
static int whole(size_t b, size_t s, size_t e, size_t G) {
  size_t bs = b * PK_REDUCE_BLOCK;
  size_t be = bs + PK_REDUCE_BLOCK < G ? bs + PK_REDUCE_BLOCK : G;

  return bs >= s && be <= e;
}

/*
 * What a rank holding elements [s, e) of G contributes, in order: for each
 * block of PK_REDUCE_BLOCK it touches, the block's partial result if it
 * holds the whole block, else its raw elements (only the first and last
 * blocks can be partly held).  k doubles an element.  Returns the number of
 * doubles, and fills out if not NULL.
 */
static size_t contribution(pk_op op, pk_dtype dt, const double *x, size_t s,
                           size_t e, size_t G, int threads, double *out) {
  const size_t B = PK_REDUCE_BLOCK, k = dt == PK_C128 ? 2 : 1;
  size_t b0, b1, lo, hi, n = 0;

  if (e <= s)
    return 0;
  b0 = s / B;
  b1 = (e - 1) / B;
  lo = b0;
  hi = b1 + 1; /* whole blocks [lo, hi) */
  if (!whole(b0, s, e, G)) { /* head: raw, up to the first boundary */
    size_t pe = (b0 + 1) * B < e ? (b0 + 1) * B : e;
    if (out)
      memcpy(out, x, (pe - s) * k * sizeof *x);
    n = (pe - s) * k;
    lo = b0 + 1;
  }
  if (b1 >= lo && !whole(b1, s, e, G))
    hi = b1;
  if (hi > lo && out) {
    const double *base = x + (lo * B - s) * k;
    double *o = out + n;
    long nb = (long)(hi - lo), i;
#pragma omp parallel for num_threads(threads) schedule(static) if (nb > 8)
    for (i = 0; i < nb; i++) {
      size_t bs = (lo + (size_t)i) * B, len = bs + B < G ? B : G - bs;
      double acc[2] = {pk__identity(op), 0.0};
      pk__fold_partial(op, dt, base + (size_t)i * B * k, len, acc);
      memcpy(o + (size_t)i * k, acc, k * sizeof *acc);
    }
  }
  if (hi > lo)
    n += (hi - lo) * k;
  if (hi == b1 && b1 >= lo) { /* tail: raw, from the last boundary */
    if (out)
      memcpy(out + n, x + (b1 * B - s) * k, (e - b1 * B) * k * sizeof *x);
    n += (e - b1 * B) * k;
  }
  return n;
}

/*
 * Every rank's contribution to every rank (MPI_Allgatherv), each then
 * folded in rank order, which is index order: the blocks and their order
 * are pk__fold's, so are the bits, on every rank.
 */
pk_status pk__mpi_reduce(pk_context *ctx, const pk_array *a, pk_op op,
                         double *result) {
  mpi *m = ctx->impl;
  const size_t B = PK_REDUCE_BLOCK, k = a->dtype == PK_C128 ? 2 : 1;
  size_t E = item_elems(a), s, e, G = 0, total = 0, mine, i;
  double acc[2] = {pk__identity(op), 0.0}, cur[2] = {acc[0], 0.0};
  double *send = NULL, *recv = NULL;
  const double *x = a->data;
  pk_status st = PK_OK;
  int r, rc;

  memset(&ctx->stats, 0, sizeof ctx->stats);
  if (a->distributed) {
    s = a->offset * E;
    e = s + a->shape[0] * E;
  } else {
    /* A replica: rank r folds its block of whole blocks. */
    size_t nb = (a->count + B - 1) / B, b0, nbr;
    pk_mpi_block(nb, m->size, m->rank, &b0, &nbr);
    s = b0 * B < a->count ? b0 * B : a->count;
    e = (b0 + nbr) * B < a->count ? (b0 + nbr) * B : a->count;
    x += s * k;
  }
  m->meta[3 * m->rank] = s;
  m->meta[3 * m->rank + 1] = e;
  rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, m->meta, 3,
                     MPI_UINT64_T, m->comm);
  if (rc != MPI_SUCCESS)
    return pk__mpi_fail(ctx, rc, "MPI_Allgather");
  for (r = 0; r < m->size; r++) {
    if (m->meta[3 * r] != G && m->meta[3 * r + 1] > m->meta[3 * r])
      return pk__error(ctx, PK_EINVAL, "pk_reduce: the array's blocks are "
                       "not contiguous in rank order (rank %d starts at "
                       "element %zu, not %zu)", r, (size_t)m->meta[3 * r], G);
    if (m->meta[3 * r + 1] > G)
      G = m->meta[3 * r + 1];
  }
  for (r = 0; r < m->size; r++) {
    size_t n = contribution(op, a->dtype, NULL, m->meta[3 * r],
                            m->meta[3 * r + 1], G, 1, NULL);
    total += n;
    if (n > INT32_MAX || total > INT32_MAX)
      return pk__error(ctx, PK_EOVERFLOW, "pk_reduce: too many elements "
                       "for one MPI_Allgatherv");
    m->counts[r] = (int)n;
    m->displs[r] = (int)(total - n);
  }
  mine = (size_t)m->counts[m->rank];
  send = malloc((mine + 1) * sizeof *send);
  recv = malloc((total + 1) * sizeof *recv);
  st = send && recv ? PK_OK : pk__error(ctx, PK_ENOMEM, "pk_reduce: out of "
                                        "memory for %zu partials", total);
  if ((st = pk__mpi_agree(ctx, st)) == PK_OK) {
    contribution(op, a->dtype, x, s, e, G, m->threads, send);
    rc = MPI_Allgatherv(send, (int)mine, MPI_DOUBLE, recv, m->counts,
                        m->displs, MPI_DOUBLE, m->comm);
    if (rc != MPI_SUCCESS)
      st = pk__mpi_fail(ctx, rc, "MPI_Allgatherv");
  }
  free(send);
  if (st != PK_OK) {
    free(recv);
    return st;
  }

  /* Replay each rank's pieces: cur folds a block split between ranks. */
  for (r = 0; r < m->size; r++) {
    size_t rs = m->meta[3 * r], re = m->meta[3 * r + 1], b;
    const double *v = recv + m->displs[r];
    for (b = re > rs ? rs / B : 0; re > rs && b * B < re; b++) {
      size_t bs = b * B, be = bs + B < G ? bs + B : G;
      size_t ps = bs > rs ? bs : rs, pe = be < re ? be : re;
      if (ps == bs && pe == be) {
        pk__fold_partial(op, a->dtype, v, 1, acc);
        v += k;
        continue;
      }
      pk__fold_partial(op, a->dtype, v, pe - ps, cur);
      v += (pe - ps) * k;
      if (pe == be) {
        pk__fold_partial(op, a->dtype, cur, 1, acc);
        cur[0] = pk__identity(op);
        cur[1] = 0.0;
      }
    }
  }
  free(recv);
  for (i = 0; i < k; i++)
    result[i] = acc[i];
  ctx->stats.items = G;
  ctx->stats.workers = m->threads;
  return PK_OK;
}
