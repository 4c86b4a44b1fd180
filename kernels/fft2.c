/* fft2, ifft2, rfft2, irfft2: 2-D FFTs of each item, as numpy.fft. */
#include "fftplan.h"

#include <parkit/fft.h>

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { FFT2, IFFT2, RFFT2, IRFFT2 };
static const int ops[] = {FFT2, IFFT2, RFFT2, IRFFT2};

/* What one item needs: h x w is the real-space shape, wc = w/2 + 1. */
typedef struct geo {
  int op;
  pk_dtype in;
  int h, w, wc;
  pk__fft_kind kind;
  size_t inb, outb; /* bytes of an input, an output item */
} geo;

static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

static void geo_of(const pk_kernel *k, const pk_item *it, geo *g) {
  g->op = *(const int *)k->data;
  g->in = it->dtype;
  g->h = (int)it->shape[0];
  if (g->op == IRFFT2) {
    g->wc = (int)it->shape[1];
    g->w = 2 * (g->wc - 1);
  } else {
    g->w = (int)it->shape[1];
    g->wc = g->w / 2 + 1;
  }
  if (g->op == RFFT2)
    g->kind = PK__FFT_R2C;
  else if (g->op == IRFFT2)
    g->kind = PK__FFT_C2R;
  else if (g->in == PK_F64)
    g->kind = PK__FFT_R2C_FULL;
  else
    g->kind = g->op == FFT2 ? PK__FFT_FWD : PK__FFT_BWD;
  size_t hw = (size_t)g->h * (size_t)g->w, hc = (size_t)g->h * (size_t)g->wc;
  g->inb = g->op == IRFFT2 ? hc * 16 : hw * (g->in == PK_F64 ? 8 : 16);
  g->outb = g->op == IRFFT2 ? hw * 8 : (g->op == RFFT2 ? hc : hw) * 16;
}

static pk_status shape(const pk_kernel *k, const pk_item *in, pk_item *out,
                       char *msg, size_t len) {
  pk_status st;
  int op = *(const int *)k->data;
  size_t h, w;

  if ((st = pk__fft_item2d(k, in, msg, len, &h, &w)) != PK_OK)
    return st;
  if (in->dtype != PK_F64 && in->dtype != PK_C128)
    return pk__fft_refuse(msg, len, PK_EDTYPE, "%s: unknown dtype %d", k->name,
                          (int)in->dtype);
  if (op == RFFT2 && in->dtype != PK_F64)
    return pk__fft_refuse(msg, len, PK_EDTYPE,
                          "%s: items must be real (float64), not complex",
                          k->name);
  if (op == IRFFT2 && in->dtype != PK_C128)
    return pk__fft_refuse(msg, len, PK_EDTYPE,
                          "%s: items must be complex (complex128), not real",
                          k->name);
  if (op == IRFFT2) {
    if (w < 2)
      return pk__fft_refuse(
          msg, len, PK_ESHAPE,
          "%s: items need at least 2 columns (h x (w/2 + 1)), "
          "not %zu",
          k->name, w);
    w = 2 * (w - 1);
  }
  if (h > INT_MAX || w > INT_MAX / h)
    return pk__fft_refuse(
        msg, len, PK_ESHAPE,
        "%s: item %zu x %zu is too large for FFTW (int sizes)", k->name, h, w);
  out->dtype = op == IRFFT2 ? PK_F64 : PK_C128;
  out->ndim = 2;
  out->shape[0] = h;
  out->shape[1] = op == RFFT2 ? w / 2 + 1 : w;
  return PK_OK;
}

static double cost(const pk_kernel *k, const pk_item *in);

static pk_status prepare(const pk_kernel *k, const pk_item *in,
                         size_t items) {
  fftw_plan p;
  geo g;

  geo_of(k, in, &g);
  return pk__fft_plan(g.kind, g.h, g.w, (double)items * cost(k, in), &p);
}

static size_t scratch(const pk_kernel *k, const pk_item *in) {
  geo g;

  geo_of(k, in, &g);
  return up64(g.inb) + up64(g.outb);
}

/* Fitted on one x86-64 core, warm caches: 0.3 ns per element and level
 * for a complex transform, 0.21 for a real one. */
static double cost(const pk_kernel *k, const pk_item *in) {
  geo g;
  double n;

  geo_of(k, in, &g);
  n = (double)g.h * g.w;
  return 20 + (g.in == PK_F64 ? 0.21 : 0.3) * n * (n > 2 ? log2(n) : 1);
}

/* One item from x to y, both aligned; x is scratch for irfft2. */
static void item(const geo *g, fftw_plan p, void *x, void *y) {
  size_t hw = (size_t)g->h * (size_t)g->w;
  double s = 1.0 / (double)hw;

  switch (g->kind) {
  case PK__FFT_FWD:
  case PK__FFT_BWD:
    fftw_execute_dft(p, x, y);
    if (g->op == IFFT2)
      pk__fft_scale(y, 2 * hw, s, s);
    break;
  case PK__FFT_R2C_FULL:
    fftw_execute_dft_r2c(p, x, y);
    pk__fft_mirror_full(y, (size_t)g->h, (size_t)g->w, (size_t)g->wc,
                        g->op == IFFT2);
    break;
  case PK__FFT_R2C:
    fftw_execute_dft_r2c(p, x, y);
    break;
  case PK__FFT_C2R:
    fftw_execute_dft_c2r(p, x, y);
    for (size_t i = 0; i < hw; i++)
      ((double *)y)[i] *= s;
    break;
  default: /* the one-dimension kinds are autocorr2d's and correlate2d's */
    break;
  }
}

static pk_status run(const pk_kernel *k, const pk_task *t, size_t lo,
                     size_t hi, size_t *bad) {
  void *own = NULL;
  char *xb, *yb;
  fftw_plan p;
  pk_status st;
  geo g;

  geo_of(k, &t->in_item, &g);
  st = pk__fft_plan(g.kind, g.h, g.w, (double)(hi - lo) * cost(k, &t->in_item),
                    &p);
  if (st != PK_OK) {
    *bad = lo;
    return st;
  }
  xb = t->scratch;
  if (!xb || !pk__fft_aligned(xb)) {
    xb = own = fftw_malloc(up64(g.inb) + up64(g.outb));
    if (!own) {
      *bad = lo;
      return PK_ENOMEM;
    }
  }
  yb = xb + up64(g.inb);
  /*
   * A map of real items whose inputs and results outgrow the last level of
   * cache makes each item's half spectrum in the scratch, where it stays
   * in cache, and stores the whole spectrum once, past cache, each row's
   * mirror half made as the row is stored; the stores fetch the next item
   * (pk__fft_put_full).  Written in place, the transform's half rows, then
   * the mirror's other halves, were each missed on lines of their own.
   * Items 100 x 100 on one core of an AMD EPYC family 26 (32 MB of L3):
   * 5,000 took 0.57-0.59 of the time of the transform in place (0.80
   * without the fetch), 250 0.62; 30 and 60, which stay in the L3 from map
   * to map, took 1.2 times as long staged, and are written in place.  The
   * same staging of a complex item's transform took 1.4 times as long as
   * writing it in place.  The mirror made as it is stored, where it was
   * made in the scratch and the whole spectrum stored after: 5,000 items
   * took 0.93 of the time on one core, 0.90 on two openmp workers (medians
   * of 8 alternations, AMD EPYC family 25), same bits.
   */
  const double items = (double)(t->count ? t->count : hi - lo);
  const int stage = g.kind == PK__FFT_R2C_FULL &&
                    items * (double)(g.inb + g.outb) >=
                        (double)pk__fft_llc_bytes();
  for (size_t i = lo; i < hi; i++) {
    const char *src = t->in + i * t->in_stride;
    char *dst = t->out + i * t->out_stride;
    void *x = (void *)(uintptr_t)src, *y = dst;
    /* c2r destroys its input; unaligned data would need another plan. */
    if (g.kind == PK__FFT_C2R || !pk__fft_aligned(src))
      x = memcpy(xb, src, g.inb);
    if (stage) {
      fftw_execute_dft_r2c(p, x, (fftw_complex *)yb);
      pk__fft_put_full((double *)dst, (const double *)yb, (size_t)g.h,
                       (size_t)g.w, (size_t)g.wc, g.op == IFFT2,
                       i + 1 < hi ? src + t->in_stride : NULL, g.inb);
      continue;
    }
    if (!pk__fft_aligned(dst))
      y = yb;
    item(&g, p, x, y);
    if (y != dst)
      memcpy(dst, y, g.outb);
  }
  if (stage)
    pk__fft_fence();
  fftw_free(own);
  return PK_OK;
}

#define KERNEL(nm, i)                                                        \
  {.name = nm, .shape = shape, .run = run, .cost = cost, .scratch = scratch, \
   .prepare = prepare, .data = &ops[i], .data_size = sizeof ops[i]}

static const pk_kernel kernels[] = {KERNEL("fft2", FFT2),
                                    KERNEL("ifft2", IFFT2),
                                    KERNEL("rfft2", RFFT2),
                                    KERNEL("irfft2", IRFFT2)};

const pk_kernel *pk_kernel_fft2(void) { return &kernels[FFT2]; }
const pk_kernel *pk_kernel_ifft2(void) { return &kernels[IFFT2]; }
const pk_kernel *pk_kernel_rfft2(void) { return &kernels[RFFT2]; }
const pk_kernel *pk_kernel_irfft2(void) { return &kernels[IRFFT2]; }
