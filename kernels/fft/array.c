/*
 * pk_fft2_array, pk_rfft2_array, pk_autocorr2d_array: one large 2-D array
 * transformed as a whole.  On one node FFTW's threads do the work, in
 * place in the output (or one padded buffer for autocorr2d), so the memory
 * is the input, the output and nothing of the array's size more; the mpi
 * backend's path is in mpi.c.
 */
#include "internal.h"
#include "array.h"

#include <parkit/fft.h>
#include <parkit/mpi.h>

#include <limits.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------ shared helpers */

static int threads_state; /* under the planning lock: 0, 1 ok, -1 failed */

int pk__fft_threads(int n) {
  if (threads_state == 0)
    threads_state = fftw_init_threads() ? 1 : -1;
  if (threads_state < 0)
    return 0;
  fftw_plan_with_nthreads(n > 0 ? n : 1);
  return 1;
}

int pk__autocorr_exact(double l1, double s, size_t H, size_t W) {
  double lg = log2((double)H * (double)W);
  return 32 * 0x1p-53 * (lg > 1 ? lg : 1) * l1 * sqrt(s) < 0.5;
}

void pk__autocorr_sums(const double *a, size_t n, int *integers, double *l1,
                       double *s) {
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(a[i]) || a[i] != floor(a[i]))
      *integers = 0;
    *l1 += fabs(a[i]);
    *s += a[i] * a[i];
  }
}

void pk__autocorr_row(const double *c, double *r, size_t i, size_t h,
                      size_t w, size_t W, double scale, int round_) {
  size_t R = 2 * w - 1;
  int up = i >= h - 1;

  /* Lag (di, dj) sits at c[di mod H][dj mod W]; the rows below the middle
   * and the left half of the middle row are the mirror images of the
   * others, read from the same values, as the kernel does. */
  for (size_t j = 0; j < R; j++) {
    size_t col;
    if (up && !(i == h - 1 && j < w - 1))
      col = j >= w - 1 ? j - (w - 1) : W - (w - 1 - j);
    else
      col = j <= w - 1 ? w - 1 - j : W - (j - (w - 1));
    double v = c[col] * scale;
    r[j] = round_ ? round(v) + 0.0 : v; /* + 0.0: no -0 */
  }
}

void pk__fft_hermitian_row(double *row, const double *mirror, size_t w,
                           size_t wc) {
  for (size_t j = wc; j < w; j++) {
    row[2 * j] = mirror[2 * (w - j)];
    row[2 * j + 1] = -mirror[2 * (w - j) + 1];
  }
}

/* ------------------------------------------------------------ one node */

void pk__fft_plan_begin(int nt) {
  pk__fft_lock();
  pk__fft_threads(nt);
}

/* Back to one thread before anyone else plans: the cache's plans must
 * stay single-threaded, they run inside workers already. */
void pk__fft_plan_end(void) {
  if (threads_state > 0)
    fftw_plan_with_nthreads(1);
  pk__fft_unlock();
}

void pk__fft_plan_free(fftw_plan p) {
  if (p == NULL)
    return;
  pk__fft_lock();
  fftw_destroy_plan(p);
  pk__fft_unlock();
}

static pk_status no_plan(pk_context *ctx, const char *fn, const pk__ageo *g) {
  return pk__error(ctx, PK_EKERNEL, "%s: FFTW made no plan for %zu x %zu",
                   fn, g->h, g->w);
}

/* fft2 and ifft2 of a complex array, in place in out. */
static pk_status local_c2c(pk_context *ctx, const char *fn, const pk__ageo *g,
                           const pk_array *in, pk_array *out, int nt) {
  fftw_complex *o = out->data;
  fftw_plan p;

  /* Planning scribbles over o; in is copied in afterwards. */
  pk__fft_plan_begin(nt);
  p = fftw_plan_dft_2d((int)g->h, (int)g->w, o, o,
                       g->op == PK__A_IFFT2 ? FFTW_BACKWARD : FFTW_FORWARD,
                       pk__fft_flags());
  pk__fft_plan_end();
  if (p == NULL)
    return no_plan(ctx, fn, g);
  memcpy(o, in->data, in->nbytes);
  fftw_execute(p);
  pk__fft_plan_free(p);
  if (g->op == PK__A_IFFT2) {
    double s = 1.0 / ((double)g->h * (double)g->w);
    pk__fft_scale((double *)o, 2 * g->h * g->w, s, s);
  }
  return PK_OK;
}

/*
 * fft2 and ifft2 of a real array: a real-to-complex transform in place in
 * out, each real row at the start of its own complex output row (FFTW's
 * advanced layout allows it: a row's half spectrum fits in its own row),
 * then the other half by symmetry.
 */
static pk_status local_r2c_full(pk_context *ctx, const char *fn,
                                const pk__ageo *g, const pk_array *in,
                                pk_array *out, int nt) {
  size_t h = g->h, w = g->w;
  int n[2] = {(int)h, (int)w}, ie[2] = {(int)h, 2 * (int)w};
  double *o = out->data;
  const double *a = in->data;
  fftw_plan p;

  pk__fft_plan_begin(nt);
  p = fftw_plan_many_dft_r2c(2, n, 1, o, ie, 1, 0, (fftw_complex *)o, n, 1,
                             0, pk__fft_flags());
  pk__fft_plan_end();
  if (p == NULL)
    return no_plan(ctx, fn, g);
  for (size_t i = 0; i < h; i++)
    memcpy(o + 2 * i * w, a + i * w, w * sizeof *a);
  fftw_execute(p);
  pk__fft_plan_free(p);
  for (size_t k = 0; k < h; k++)
    pk__fft_hermitian_row(o + 2 * k * w, o + 2 * ((h - k) % h) * w, w,
                          g->wc);
  /* ifft2 of real x is conj(fft2(x)) / hw. */
  if (g->op == PK__A_IFFT2) {
    double s = 1.0 / ((double)h * (double)w);
    pk__fft_scale(o, 2 * h * w, s, -s);
  }
  return PK_OK;
}

/* rfft2: in place in out, whose rows of wc complex are FFTW's padding. */
static pk_status local_rfft2(pk_context *ctx, const char *fn,
                             const pk__ageo *g, const pk_array *in,
                             pk_array *out, int nt) {
  double *o = out->data;
  const double *a = in->data;
  fftw_plan p;

  pk__fft_plan_begin(nt);
  p = fftw_plan_dft_r2c_2d((int)g->h, (int)g->w, o, (fftw_complex *)o,
                           pk__fft_flags());
  pk__fft_plan_end();
  if (p == NULL)
    return no_plan(ctx, fn, g);
  for (size_t i = 0; i < g->h; i++)
    memcpy(o + 2 * i * g->wc, a + i * g->w, g->w * sizeof *a);
  fftw_execute(p);
  pk__fft_plan_free(p);
  return PK_OK;
}

/* autocorr2d: one padded H x 2(W/2+1) buffer, transformed in place both
 * ways. */
static pk_status local_autocorr(pk_context *ctx, const char *fn,
                                const pk__ageo *g, const pk_array *in,
                                pk_array *out, int nt) {
  size_t H = g->H, W = g->W, P = 2 * (W / 2 + 1), nc = H * (W / 2 + 1);
  const double *a = in->data;
  double l1 = 0, s = 0, *b, *r = out->data;
  fftw_plan f, v = NULL;
  int ints = 1;

  b = fftw_alloc_real(H * P);
  if (b == NULL)
    return pk__error(ctx, PK_ENOMEM, "%s: cannot allocate the %zu x %zu "
                     "FFT grid", fn, H, W);
  pk__fft_plan_begin(nt);
  f = fftw_plan_dft_r2c_2d((int)H, (int)W, b, (fftw_complex *)b,
                           pk__fft_flags());
  if (f != NULL)
    v = fftw_plan_dft_c2r_2d((int)H, (int)W, (fftw_complex *)b, b,
                             pk__fft_flags());
  pk__fft_plan_end();
  if (f == NULL || v == NULL) {
    pk__fft_plan_free(f);
    fftw_free(b);
    return no_plan(ctx, fn, g);
  }
  memset(b, 0, H * P * sizeof *b);
  for (size_t i = 0; i < g->h; i++)
    memcpy(b + i * P, a + i * g->w, g->w * sizeof *a);
  pk__autocorr_sums(a, g->h * g->w, &ints, &l1, &s);
  fftw_execute(f);
  for (size_t k = 0; k < nc; k++) {
    b[2 * k] = b[2 * k] * b[2 * k] + b[2 * k + 1] * b[2 * k + 1];
    b[2 * k + 1] = 0;
  }
  fftw_execute(v);
  ints = ints && pk__autocorr_exact(l1, s, H, W);
  for (size_t i = 0; i < g->oh; i++) {
    size_t di = i >= g->h - 1 ? i - (g->h - 1) : g->h - 1 - i;
    pk__autocorr_row(b + di * P, r + i * g->ow, i, g->h, g->w, W,
                     1.0 / ((double)H * (double)W), ints);
  }
  pk__fft_plan_free(f);
  pk__fft_plan_free(v);
  fftw_free(b);
  return PK_OK;
}

pk_status pk__fft_local(pk_context *ctx, const char *fn, const pk__ageo *g,
                        const pk_array *in, pk_array *out) {
  int nt = ctx->workers > 0 ? ctx->workers : 1;

  switch (g->op) {
  case PK__A_FFT2:
  case PK__A_IFFT2:
    return g->in == PK_C128 ? local_c2c(ctx, fn, g, in, out, nt)
                            : local_r2c_full(ctx, fn, g, in, out, nt);
  case PK__A_RFFT2:
    return local_rfft2(ctx, fn, g, in, out, nt);
  default:
    return local_autocorr(ctx, fn, g, in, out, nt);
  }
}

/* ------------------------------------------------------------ front end */

/* Distributed arrays' transforms run across the processes (mpi.c). */
static int on_mpi(const pk_context *ctx) { return ctx->ops->dist != NULL; }

static pk_status agree(pk_context *ctx, pk_status st) {
  return on_mpi(ctx) && ctx->ops->agree ? ctx->ops->agree(ctx, st) : st;
}

static size_t rows_of(const pk_array *a) {
  return a->distributed ? a->global : a->shape[0];
}

/* Check in and fill g; every rank comes to the same verdict (global
 * shapes only). */
static pk_status check(pk_context *ctx, const char *fn, int op,
                       const pk_array *in, pk_array **out, pk__ageo *g) {
  size_t h, w;

  memset(g, 0, sizeof *g);
  g->op = op;
  if (in == NULL || out == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: in and out must not be NULL", fn);
  if (in->ctx != ctx || (*out != NULL && (*out)->ctx != ctx))
    return pk__error(ctx, PK_EINVAL, "%s: an array belongs to another "
                     "context", fn);
  if (in->ndim != 2)
    return pk__error(ctx, PK_ESHAPE, "%s: the array must be 2-D (h x w), "
                     "not %d-D; for a batch use pk_map with the kernel", fn,
                     in->ndim);
  g->in = in->dtype;
  if (in->dtype != PK_F64 && (op == PK__A_RFFT2 || op == PK__A_AUTOCORR))
    return pk__error(ctx, PK_EDTYPE, "%s: the array must be real "
                     "(float64), not complex", fn);
  h = g->h = rows_of(in);
  w = g->w = in->shape[1];
  if (h == 0 || w == 0)
    return pk__error(ctx, PK_ESHAPE, "%s: empty array (%zu x %zu)", fn, h,
                     w);
  /* FFTW takes int extents; rows travel between ranks as one MPI item. */
  if (h > INT_MAX / 2 || w > INT_MAX / 32)
    return pk__error(ctx, PK_ESHAPE, "%s: %zu x %zu is too large for FFTW's "
                     "int extents", fn, h, w);
  g->wc = w / 2 + 1;
  g->out = op == PK__A_AUTOCORR ? PK_F64 : PK_C128;
  g->oh = h;
  g->ow = op == PK__A_RFFT2 ? g->wc : w;
  if (op == PK__A_AUTOCORR) {
    g->oh = 2 * h - 1;
    g->ow = 2 * w - 1;
    g->H = pk__fft_fast_size(2 * h - 1);
    g->W = pk__fft_fast_size(2 * w - 1);
    if (g->H == 0 || g->W == 0 || g->W > INT_MAX / 32)
      return pk__error(ctx, PK_ESHAPE, "%s: the FFT grid of %zu x %zu is "
                       "too large for FFTW's int extents", fn, h, w);
  }
  {
    int ovf = 0;
    size_t n = pk__mul(g->oh, g->ow, &ovf);
    pk__mul(n, 16, &ovf);
    pk__mul(pk__mul(g->H, g->W, &ovf), 16, &ovf);
    if (ovf)
      return pk__error(ctx, PK_EOVERFLOW, "%s: %zu x %zu: the result does "
                       "not fit in memory addresses", fn, h, w);
  }
  return PK_OK;
}

static int overlaps(const pk_array *a, const pk_array *b) {
  const char *p = a->data, *q = b->data;
  return a->nbytes && b->nbytes && p < q + b->nbytes && q < p + a->nbytes;
}

/* The output's local rows under the mpi backend: the balanced block of
 * oh for a distributed input, all of them for a replica. */
static void out_block(pk_context *ctx, const pk__ageo *g, const pk_array *in,
                      size_t *first, size_t *n) {
  if (in->distributed)
    pk_mpi_block(g->oh, pk_mpi_size(ctx), pk_mpi_rank(ctx), first, n);
  else {
    *first = 0;
    *n = g->oh;
  }
}

static pk_status check_out(pk_context *ctx, const char *fn,
                           const pk__ageo *g, const pk_array *in,
                           const pk_array *o) {
  size_t first, n;

  if (o->dtype != g->out)
    return pk__error(ctx, PK_EDTYPE, "%s: the output must be %s", fn,
                     g->out == PK_F64 ? "float64" : "complex128");
  out_block(ctx, g, in, &first, &n);
  if (o->ndim != 2 || rows_of(o) != g->oh || o->shape[1] != g->ow ||
      o->distributed != in->distributed ||
      (o->distributed && (o->offset != first || o->shape[0] != n)))
    return pk__error(ctx, PK_ESHAPE, "%s: the output must be %zu x %zu%s",
                     fn, g->oh, g->ow,
                     in->distributed ? ", distributed in balanced blocks"
                                     : "");
  if (overlaps(in, o))
    return pk__error(ctx, PK_EINVAL, "%s: input and output overlap", fn);
  return PK_OK;
}

static pk_status run(pk_context *ctx, const char *fn, int op,
                     const pk_array *in, pk_array **out) {
  pk__ageo g;
  pk_status st;
  int made = 0;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  st = agree(ctx, check(ctx, fn, op, in, out, &g));
  if (st != PK_OK)
    return st;
  if (*out == NULL) {
    size_t shape[2] = {g.oh, g.ow};
    made = 1;
    /* pk_mpi_create is collective and agrees by itself. */
    if (on_mpi(ctx) && in->distributed)
      st = pk_mpi_create(ctx, g.out, 2, shape, out);
    else
      st = agree(ctx, pk__array_new(ctx, g.out, 2, shape, out));
  } else {
    st = agree(ctx, check_out(ctx, fn, &g, in, *out));
  }
  if (st == PK_OK) {
#ifdef PK_HAVE_MPI
    if (on_mpi(ctx))
      st = agree(ctx, pk__fft_mpi(ctx, &g, in, *out));
    else
#endif
      st = pk__fft_local(ctx, fn, &g, in, *out);
  }
  if (st != PK_OK && made)
    pk_array_destroy(out);
  return st;
}

pk_status pk_fft2_array(pk_context *ctx, const pk_array *in, pk_array **out,
                        int inverse) {
  return run(ctx, inverse ? "pk_fft2_array (inverse)" : "pk_fft2_array",
             inverse ? PK__A_IFFT2 : PK__A_FFT2, in, out);
}

pk_status pk_rfft2_array(pk_context *ctx, const pk_array *in,
                         pk_array **out) {
  return run(ctx, "pk_rfft2_array", PK__A_RFFT2, in, out);
}

pk_status pk_autocorr2d_array(pk_context *ctx, const pk_array *in,
                              pk_array **out) {
  return run(ctx, "pk_autocorr2d_array", PK__A_AUTOCORR, in, out);
}
