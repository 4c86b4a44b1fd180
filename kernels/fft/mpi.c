/*
 * One large 2-D array over MPI ranks with FFTW-MPI (compiled only with
 * PK_HAVE_MPI).
 *
 * Layout: parkit's distributed arrays split rows in balanced blocks
 * (pk_mpi_block: sizes differ by at most one), FFTW-MPI in blocks of
 * ceil(n0 / P) with the remainder on the last ranks (fftw_mpi_local_size_2d).
 * The two agree only when P divides the rows.  Rather than make arrays
 * that break parkit's layout (pk_map, pk_reduce, pk_mpi_save_npy and
 * pk_mpi_gather all rely on balanced blocks), each call moves the rows of
 * its input into FFTW's slab and the result back to balanced blocks, with
 * one MPI_Alltoallv each way of the rows that change rank; rows that stay
 * are copied locally, so with P dividing h nothing crosses the network.
 * The same move, with a map from each destination row to its source row,
 * also does what needs other ranks' rows: zero padding (autocorr2d), the
 * mirrored rows of a Hermitian spectrum (fft2 of real input), and the
 * circular shift of the autocorrelation's lags.
 */
#include "internal.h"
#include "array.h"

#include <parkit/mpi.h>

#include <fftw3-mpi.h>
#include <mpi.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mpi_ready; /* under the planning lock: fftw_mpi_init done */

/* A split of n rows over P ranks: rank r holds [start[r], start[r + 1]).
 * start NULL: every rank holds every row (a replica). */
typedef struct side {
  const ptrdiff_t *start;
  char *data;
  size_t stride; /* bytes from a row to the next */
} side;

/* The map from a destination row to its source row, -1: leave it. */
typedef ptrdiff_t (*rowmap)(ptrdiff_t d, const ptrdiff_t *arg);

static ptrdiff_t same(ptrdiff_t d, const ptrdiff_t *a) {
  (void)a;
  return d;
}

/* Rows below a[0] only: the rest of the grid is zero padding. */
static ptrdiff_t below(ptrdiff_t d, const ptrdiff_t *a) {
  return d < a[0] ? d : -1;
}

/* (h - d) mod h, h = a[0]: the mirror row of a spectrum. */
static ptrdiff_t mirror(ptrdiff_t d, const ptrdiff_t *a) {
  return d ? a[0] - d : 0;
}

/* |d - (h - 1)|, h = a[0]: the row of non-negative lag an output row of
 * the autocorrelation reads. */
static ptrdiff_t lag(ptrdiff_t d, const ptrdiff_t *a) {
  return d >= a[0] - 1 ? d - (a[0] - 1) : a[0] - 1 - d;
}

/* The rank that holds row: the last r with start[r] <= row (ranks holding
 * nothing have start[r] = start[r + 1] and are skipped). */
static int owner(const ptrdiff_t *start, int P, ptrdiff_t row) {
  int lo = 0, hi = P; /* start[lo] <= row < start[hi] */
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (start[mid] <= row)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

typedef struct team {
  pk_context *ctx;
  MPI_Comm comm;
  int P, me;
  int *sc, *sd, *rc, *rd; /* P each: counts and displacements, in rows */
} team;

static pk_status mpi_err(team *t, int rc, const char *what) {
  char s[MPI_MAX_ERROR_STRING];
  int len = 0;

  if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
    snprintf(s, sizeof s, "error %d", rc);
  return pk__error(t->ctx, PK_EMPI, "%s: %s", what, s);
}

/*
 * dst rows (this rank's, of a split) = src rows map(d), len bytes each.
 * Collective.  Rows whose source is here are copied directly; the others
 * travel in one MPI_Alltoallv, packed in destination order.
 */
static pk_status move(team *t, const side *src, side *dst, size_t len,
                      rowmap map, const ptrdiff_t *arg) {
  int P = t->P, me = t->me, r, rc;
  ptrdiff_t d, lo = dst->start[me], hi = dst->start[me + 1], s;
  const ptrdiff_t *ss = src->start;
  size_t ns = 0, nr = 0;
  char *sbuf = NULL, *rbuf = NULL;
  MPI_Datatype row;
  pk_status st = PK_OK;

  /* This rank's source rows are [ss[me], ss[me + 1]), or all of them. */
#define MINE(s) (ss == NULL || owner(ss, P, s) == me)
#define SRC(s) (src->data + (size_t)((s) - (ss ? ss[me] : 0)) * src->stride)
  for (r = 0; r < P; r++) {
    t->sc[r] = t->rc[r] = 0;
    if (r == me || ss == NULL)
      continue;
    for (d = dst->start[r]; d < dst->start[r + 1]; d++)
      if ((s = map(d, arg)) >= 0 && MINE(s))
        t->sc[r]++;
  }
  for (d = lo; d < hi; d++) {
    if ((s = map(d, arg)) < 0)
      continue;
    if (MINE(s))
      memcpy(dst->data + (size_t)(d - lo) * dst->stride, SRC(s), len);
    else
      t->rc[owner(ss, P, s)]++;
  }
  if (ss == NULL) /* a replica: every row was here */
    return PK_OK;
  for (r = 0; r < P; r++) {
    t->sd[r] = (int)ns;
    t->rd[r] = (int)nr;
    ns += (size_t)t->sc[r];
    nr += (size_t)t->rc[r];
  }
  sbuf = malloc(ns * len + 1);
  rbuf = malloc(nr * len + 1);
  if (sbuf == NULL || rbuf == NULL)
    st = pk__error(t->ctx, PK_ENOMEM, "cannot allocate %zu rows to "
                   "exchange", ns + nr);
  if ((st = pk__agree(t->ctx, st)) != PK_OK)
    goto done;
  for (r = 0, ns = 0; r < P; r++)
    for (d = dst->start[r]; r != me && d < dst->start[r + 1]; d++)
      if ((s = map(d, arg)) >= 0 && MINE(s))
        memcpy(sbuf + ns++ * len, SRC(s), len);
  rc = MPI_Type_contiguous((int)len, MPI_BYTE, &row);
  if (rc == MPI_SUCCESS) {
    MPI_Type_commit(&row);
    rc = MPI_Alltoallv(sbuf, t->sc, t->sd, row, rbuf, t->rc, t->rd, row,
                       t->comm);
    MPI_Type_free(&row);
  }
  if (rc != MPI_SUCCESS) {
    st = mpi_err(t, rc, "MPI_Alltoallv");
    goto done;
  }
  /* Each source rank's rows arrive in destination order. */
  for (r = 0; r < P; r++)
    t->sc[r] = 0;
  for (d = lo; d < hi; d++) {
    if ((s = map(d, arg)) < 0 || MINE(s))
      continue;
    r = owner(ss, P, s);
    memcpy(dst->data + (size_t)(d - lo) * dst->stride,
           rbuf + (size_t)(t->rd[r] + t->sc[r]++) * len, len);
  }
#undef MINE
#undef SRC
done:
  free(sbuf);
  free(rbuf);
  return st;
}

/* The balanced split of n rows (pk_mpi_block) into start[0 .. P]. */
static void balanced(size_t n, int P, ptrdiff_t *start) {
  size_t first, k;

  for (int r = 0; r < P; r++) {
    pk_mpi_block(n, P, r, &first, &k);
    start[r] = (ptrdiff_t)first;
  }
  start[P] = (ptrdiff_t)n;
}

/* FFTW's split: every rank's local_n0, in rank order. */
static pk_status slab_split(team *t, ptrdiff_t n0, ptrdiff_t mine,
                            ptrdiff_t *start) {
  int64_t me = mine, *all = malloc((size_t)t->P * sizeof *all);
  pk_status st = PK_OK;
  int rc;

  if (all == NULL)
    st = pk__error(t->ctx, PK_ENOMEM, "out of memory");
  if ((st = pk__agree(t->ctx, st)) != PK_OK)
    return st;
  rc = MPI_Allgather(&me, 1, MPI_INT64_T, all, 1, MPI_INT64_T, t->comm);
  if (rc != MPI_SUCCESS)
    st = mpi_err(t, rc, "MPI_Allgather");
  start[0] = 0;
  for (int r = 0; r < t->P; r++)
    start[r + 1] = start[r] + (ptrdiff_t)all[r];
  if (st == PK_OK && start[t->P] != n0)
    st = pk__error(t->ctx, PK_EMPI, "FFTW-MPI's slabs cover %td of %td "
                   "rows", start[t->P], n0);
  free(all);
  return pk__agree(t->ctx, st);
}

/* The work of one call, with every buffer it needs. */
typedef struct work {
  team t;
  const pk__ageo *g;
  ptrdiff_t *in_s, *slab_s, *out_s; /* P + 1 each */
  double *buf;                      /* FFTW's slab */
  char *ob;                         /* this rank's balanced output rows */
  double *tmp;                      /* mirror or lag rows */
  fftw_plan p, q;
  int rooted; /* done by on_root: out is complete */
} work;

/* Make a plan on every rank (collective), with nt threads per rank. */
typedef struct plan_req {
  int kind; /* 0 c2c, 1 r2c, 2 c2r */
  ptrdiff_t n0, n1;
  void *buf;
  int sign;
} plan_req;

static pk_status make_plan(team *t, const plan_req *q, fftw_plan *p) {
  unsigned f = 0;

  pk__fft_plan_begin(t->ctx->workers);
  if (!mpi_ready) {
    fftw_mpi_init();
    mpi_ready = 1;
  }
  /* Collective planning wants one rigor: rank 0's, whatever a rank's own
   * setting (pk_fft_set_planner may have been called on rank 0 alone). */
  f = pk__fft_flags();
  MPI_Bcast(&f, 1, MPI_UNSIGNED, 0, t->comm);
  if (q->kind == 0)
    *p = fftw_mpi_plan_dft_2d(q->n0, q->n1, q->buf, q->buf, t->comm,
                              q->sign, f);
  else if (q->kind == 1)
    *p = fftw_mpi_plan_dft_r2c_2d(q->n0, q->n1, q->buf, q->buf, t->comm, f);
  else
    *p = fftw_mpi_plan_dft_c2r_2d(q->n0, q->n1, q->buf, q->buf, t->comm, f);
  pk__fft_plan_end();
  return PK_OK;
}

/* 1 if every rank has its plans. */
static int all_planned(team *t, const fftw_plan *p, int n) {
  int mine = p[0] != NULL && (n < 2 || p[1] != NULL), all = 0;
  if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, t->comm) != MPI_SUCCESS)
    return 0;
  return all;
}

/*
 * FFTW-MPI 3.3.10 crashes on a 1 x 1 problem and makes no plan for some
 * with an extent of 1 (2 x 1 on 2 ranks): arrays of one row or column,
 * small by nature, are gathered on rank 0, transformed there with
 * threads, and handed back.
 */
static pk_status on_root(work *k, const pk_array *in, pk_array *out) {
  const pk__ageo *g = k->g;
  k->rooted = 1;
  team *t = &k->t;
  pk_context *ctx = t->ctx;
  int P = t->P, me = t->me, rc;
  ptrdiff_t *rs = malloc(2 * ((size_t)P + 1) * sizeof *rs), *ro;
  size_t ib = g->w * pk_dtype_size(g->in), ob = g->ow * pk_dtype_size(g->out);
  size_t s_in[2] = {g->h, g->w}, s_out[2] = {g->oh, g->ow};
  pk_array *fi = NULL, *fo = NULL;
  pk_status st = PK_OK;

  if (rs == NULL)
    st = pk__error(ctx, PK_ENOMEM, "out of memory");
  if ((st = pk__agree(t->ctx, st)) != PK_OK)
    goto done;
  ro = rs + P + 1; /* rank 0 holds every row */
  rs[0] = ro[0] = 0;
  for (int r = 1; r <= P; r++) {
    rs[r] = (ptrdiff_t)g->h;
    ro[r] = (ptrdiff_t)g->oh;
  }
  if (me == 0 && in->distributed)
    st = pk__array_new(ctx, "the mpi transform", g->in, 2, s_in, &fi);
  if (me == 0 && out->distributed && st == PK_OK)
    st = pk__array_new(ctx, "the mpi transform", g->out, 2, s_out, &fo);
  if ((st = pk__agree(t->ctx, st)) != PK_OK)
    goto done;
  if (in->distributed) {
    side a = {k->in_s, in->data, ib}, b = {rs, fi ? fi->data : NULL, ib};
    if ((st = move(t, &a, &b, ib, same, NULL)) != PK_OK)
      goto done;
  }
  if (me == 0)
    st = pk__fft_local(ctx, "pk_fft2_array", g, fi ? fi : in,
                       fo ? fo : out);
  if ((st = pk__agree(t->ctx, st)) != PK_OK)
    goto done;
  if (out->distributed) {
    side a = {ro, fo ? fo->data : NULL, ob}, b = {k->out_s, out->data, ob};
    st = move(t, &a, &b, ob, same, NULL);
  } else {
    MPI_Datatype row;
    rc = MPI_Type_contiguous((int)ob, MPI_BYTE, &row);
    if (rc == MPI_SUCCESS) {
      MPI_Type_commit(&row);
      rc = MPI_Bcast(out->data, (int)g->oh, row, 0, t->comm);
      MPI_Type_free(&row);
    }
    if (rc != MPI_SUCCESS)
      st = mpi_err(t, rc, "MPI_Bcast");
  }
done:
  pk_array_destroy(&fi);
  pk_array_destroy(&fo);
  free(rs);
  return st;
}


static pk_status transform(work *k, const pk_array *in, pk_array *out) {
  const pk__ageo *g = k->g;
  team *t = &k->t;
  int me = t->me;
  ptrdiff_t ln0, l0s, alloc, n0, n1c, arg[1];
  size_t ol = (size_t)(k->out_s[me + 1] - k->out_s[me]), i;
  side src, dst;
  plan_req rq = {0};
  pk_status st = PK_OK;

  if (g->op == PK__A_AUTOCORR) {
    n0 = (ptrdiff_t)g->H;
    n1c = (ptrdiff_t)(g->W / 2 + 1);
  } else {
    n0 = (ptrdiff_t)g->h;
    n1c = (ptrdiff_t)(g->in == PK_C128 ? g->w : g->wc);
  }
  if (n0 < 2 || n1c < 2)
    return on_root(k, in, out);
  alloc = fftw_mpi_local_size_2d(n0, n1c, t->comm, &ln0, &l0s);
  k->buf = (double *)fftw_alloc_complex(alloc > 0 ? (size_t)alloc : 1);
  if (k->buf == NULL)
    st = pk__error(t->ctx, PK_ENOMEM, "cannot allocate FFTW's slab of "
                   "%td complex", alloc);
  if ((st = pk__agree(t->ctx, st)) != PK_OK)
    return st;
  if ((st = slab_split(t, n0, ln0, k->slab_s)) != PK_OK)
    return st;

  /* Plans before the data: measuring scribbles over the slab. */
  rq.n0 = n0;
  rq.buf = k->buf;
  rq.n1 = g->op == PK__A_AUTOCORR ? (ptrdiff_t)g->W : (ptrdiff_t)g->w;
  rq.kind = g->in == PK_C128 ? 0 : 1;
  rq.sign = g->op == PK__A_IFFT2 ? FFTW_BACKWARD : FFTW_FORWARD;
  make_plan(t, &rq, &k->p);
  if (g->op == PK__A_AUTOCORR && k->p != NULL) {
    rq.kind = 2;
    make_plan(t, &rq, &k->q);
  }
  if (!all_planned(t, &k->p, g->op == PK__A_AUTOCORR ? 2 : 1)) {
    pk__fft_plan_free(k->p);
    pk__fft_plan_free(k->q);
    k->p = k->q = NULL;
    return on_root(k, in, out);
  }

  /* Input rows into the slab; a complex row is n1c complex, a real one
   * is padded to 2 n1c reals. */
  src.start = in->distributed ? k->in_s : NULL;
  src.data = in->data;
  src.stride = g->w * pk_dtype_size(g->in);
  dst.start = k->slab_s;
  dst.data = (char *)k->buf;
  dst.stride = (size_t)n1c * 16;
  memset(k->buf, 0, (size_t)(alloc > 0 ? alloc : 1) * 16);
  arg[0] = (ptrdiff_t)g->h;
  st = move(t, &src, &dst, src.stride, g->op == PK__A_AUTOCORR ? below : same,
            arg);
  if ((st = pk__agree(t->ctx, st)) != PK_OK)
    return st;
  fftw_execute(k->p);

  src.start = k->slab_s;
  src.data = (char *)k->buf;
  src.stride = (size_t)n1c * 16;
  dst.start = k->out_s;
  dst.data = k->ob;
  dst.stride = g->ow * pk_dtype_size(g->out);
  if (g->op != PK__A_AUTOCORR) {
    st = move(t, &src, &dst, (size_t)n1c * 16, same, arg);
    if (st == PK_OK && g->in == PK_F64 && g->op != PK__A_RFFT2) {
      /* The other half: conj X[(h - k) mod h][w - j], rows from anywhere. */
      side m = {k->out_s, (char *)k->tmp, g->wc * 16};
      st = move(t, &src, &m, g->wc * 16, mirror, arg);
      for (i = 0; st == PK_OK && i < ol; i++)
        pk__fft_hermitian_row((double *)(k->ob + i * dst.stride),
                              k->tmp + 2 * i * g->wc, g->w, g->wc);
      if (g->op == PK__A_IFFT2) {
        double s = 1.0 / ((double)g->h * (double)g->w);
        pk__fft_scale((double *)k->ob, 2 * ol * g->w, s, -s);
      }
    } else if (g->op == PK__A_IFFT2) {
      double s = 1.0 / ((double)g->h * (double)g->w);
      pk__fft_scale((double *)k->ob, 2 * ol * g->w, s, s);
    }
    return st;
  }

  /* autocorr2d: |X|^2, back, then each output row from its lag row. */
  {
    size_t nc = (size_t)ln0 * (size_t)n1c;
    double *b = k->buf, l1 = 0, sq = 0, sums[2];
    int ints = 1, rnd;
    for (i = 0; i < nc; i++) {
      b[2 * i] = b[2 * i] * b[2 * i] + b[2 * i + 1] * b[2 * i + 1];
      b[2 * i + 1] = 0;
    }
    fftw_execute(k->q);
    pk__autocorr_sums(in->data, pk_array_count(in), &ints, &l1, &sq);
    sums[0] = l1;
    sums[1] = sq;
    if (in->distributed) {
      MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, t->comm);
      MPI_Allreduce(MPI_IN_PLACE, &ints, 1, MPI_INT, MPI_MIN, t->comm);
    }
    rnd = ints && pk__autocorr_exact(sums[0], sums[1], g->H, g->W);
    /* Sums added in different orders may differ in the last bit: rank
     * 0's verdict is everyone's. */
    MPI_Bcast(&rnd, 1, MPI_INT, 0, t->comm);
    side lagrows = {k->out_s, (char *)k->tmp, g->W * 8};
    st = move(t, &src, &lagrows, g->W * 8, lag, arg);
    for (i = 0; st == PK_OK && i < ol; i++)
      pk__autocorr_row(k->tmp + i * g->W,
                       (double *)(k->ob + i * dst.stride),
                       (size_t)k->out_s[me] + i, g->h, g->w, g->W,
                       1.0 / ((double)g->H * (double)g->W), rnd);
  }
  return st;
}

/* The splits and this rank's output buffers; not yet agreed on. */
static pk_status setup(work *k, const pk_array *in, const pk_array *out) {
  const pk__ageo *g = k->g;
  team *t = &k->t;
  int P = t->P;
  size_t ol, first, n;
  int half = g->in == PK_F64 && g->op != PK__A_RFFT2;

  t->sd = t->sc + P;
  t->rc = t->sd + P;
  t->rd = t->rc + P;
  k->slab_s = k->in_s + P + 1;
  k->out_s = k->slab_s + P + 1;
  balanced(g->h, P, k->in_s);
  balanced(g->oh, P, k->out_s);
  pk_mpi_block(g->h, P, t->me, &first, &n);
  if (in->distributed && (in->offset != first || in->shape[0] != n))
    return pk__error(t->ctx, PK_EINVAL, "this rank holds rows %zu to %zu of "
                     "the input, not its balanced block %zu to %zu "
                     "(pk_mpi_block)", in->offset,
                     in->offset + in->shape[0], first, first + n);
  ol = (size_t)(k->out_s[t->me + 1] - k->out_s[t->me]);
  k->ob = out->distributed ? out->data
                           : malloc(ol * g->ow * pk_dtype_size(g->out) + 1);
  if (g->op == PK__A_AUTOCORR)
    k->tmp = malloc(ol * g->W * 8 + 1);
  else if (half)
    k->tmp = malloc(ol * g->wc * 16 + 1);
  if ((k->ob == NULL && ol > 0) ||
      (k->tmp == NULL && (g->op == PK__A_AUTOCORR || half)))
    return pk__error(t->ctx, PK_ENOMEM, "cannot allocate %zu output rows", ol);
  return PK_OK;
}

pk_status pk__fft_mpi(pk_context *ctx, const pk__ageo *g, const pk_array *in,
                      pk_array *out) {
  work k;
  team *t = &k.t;
  size_t ol;
  pk_status st = PK_OK;
  int P, rc;

  memset(&k, 0, sizeof k);
  k.g = g;
  t->ctx = ctx;
  /* The front end sends only distributed arrays here. */
  ctx->ops->dist->comm(ctx, &t->comm);
  P = t->P = ctx->ops->dist->size(ctx);
  t->me = ctx->ops->dist->rank(ctx);
  t->sc = malloc(4 * (size_t)P * sizeof *t->sc);
  k.in_s = malloc(3 * ((size_t)P + 1) * sizeof *k.in_s);
  if (t->sc == NULL || k.in_s == NULL)
    st = pk__error(ctx, PK_ENOMEM, "out of memory");
  else
    st = setup(&k, in, out);
  if ((st = pk__agree(t->ctx, st)) != PK_OK)
    goto done;
  st = transform(&k, in, out);
  ol = (size_t)(k.out_s[t->me + 1] - k.out_s[t->me]);
  if (st == PK_OK && !out->distributed && !k.rooted) {
    /* A replica: every rank receives every block. */
    MPI_Datatype row;
    size_t rb = g->ow * pk_dtype_size(g->out);
    for (int r = 0; r < P; r++) {
      t->rc[r] = (int)(k.out_s[r + 1] - k.out_s[r]);
      t->rd[r] = (int)k.out_s[r];
    }
    rc = MPI_Type_contiguous((int)rb, MPI_BYTE, &row);
    if (rc == MPI_SUCCESS) {
      MPI_Type_commit(&row);
      rc = MPI_Allgatherv(k.ob, (int)ol, row, out->data, t->rc, t->rd, row,
                          t->comm);
      MPI_Type_free(&row);
    }
    if (rc != MPI_SUCCESS)
      st = mpi_err(t, rc, "MPI_Allgatherv");
  }
done:
  pk__fft_plan_free(k.p);
  pk__fft_plan_free(k.q);
  fftw_free(k.buf);
  free(k.tmp);
  if (k.ob != NULL && !out->distributed)
    free(k.ob);
  free(t->sc);
  free(k.in_s);
  return st;
}

/* Loaded with the mpi backend (its plugin, or a static link): the front
   end (array.c) finds the transforms here. */
__attribute__((constructor)) static void register_mpi(void) {
  pk__fft_mpi_hook = pk__fft_mpi;
}
