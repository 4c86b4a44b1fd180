/*
 * One large array transformed on one node (array.h): FFTW's threads work in
 * place in the output (or in one padded buffer for autocorr2d), so the
 * memory is the input, the output and nothing of the array's size more.
 */
#include "internal.h"
#include "array.h"

#include <math.h>
#include <string.h>

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
  pk__fft_mirror_full(o, h, w, g->wc, g->op == PK__A_IFFT2);
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
