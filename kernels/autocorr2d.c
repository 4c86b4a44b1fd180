/* autocorr2d: full 2-D autocorrelation of each item, as
 * scipy.signal.correlate2d(a, a). */
#include "det.h"
#include "fftplan.h"

#include <parkit/fft.h>

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const int methods[] = {PK_AUTOCORR_AUTO, PK_AUTOCORR_DIRECT,
                              PK_AUTOCORR_FFT};

/* An item h x w, its result (2h-1) x (2w-1), the FFT grid H x W. */
typedef struct geo {
  int method; /* DIRECT or FFT, never AUTO */
  int asked;  /* the kernel's: AUTO, DIRECT or FFT */
  size_t h, w;
  int H, W; /* 0 if the grid does not fit FFTW's int sizes */
} geo;

static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

/*
 * Nanoseconds on one core, fitted on an x86-64 core (gcc -O3, SSE2):
 * direct() does w^2 h(h+1)/2 multiply-adds, those of the last (h-di) % 4
 * rows of each lag row in plain axpy calls, the rest four rows at a time.
 */
static double direct_ns(size_t h, size_t w) {
  double q = (double)(h / 4), r = (double)(h % 4), dh = (double)h;
  double ww = (double)w * (double)w;
  double m = ww * dh * (dh + 1) / 2;            /* multiply-adds */
  double m1 = ww * (6 * q + r * (r + 1) / 2);   /* of them, in axpy */
  double calls = (double)w * (2 * q * (q - 1) + q * (r + 1) +
                              6 * q + r * (r + 1) / 2);
  return 30 + 0.17 * (m - m1) + 0.3 * m1 + 2.5 * calls;
}

static double fft_ns(int H, int W) {
  double n = (double)H * W;
  return 100 + 0.5 * pk__fft_grid_nlogn(H, W) + 1.0 * n;
}

static void geo_of(const pk_kernel *k, const pk_item *in, geo *g) {
  g->method = g->asked = *(const int *)k->data;
  g->h = in->shape[0];
  g->w = in->shape[1];
  g->H = g->h <= INT_MAX / 2 ? (int)pk__fft_fast_cols(2 * g->h - 1) : 0;
  g->W = g->w <= INT_MAX / 2 && g->H
             ? (int)pk__fft_fast_rows(2 * g->w - 1, g->H)
             : 0;
  if (g->H && g->W > INT_MAX / g->H)
    g->H = g->W = 0;
  if (!g->H || !g->W)
    g->H = g->W = 0;
  if (g->method == PK_AUTOCORR_AUTO)
    g->method = g->H && fft_ns(g->H, g->W) < direct_ns(g->h, g->w)
                    ? PK_AUTOCORR_FFT
                    : PK_AUTOCORR_DIRECT;
}

static pk_status shape(const pk_kernel *k, const pk_item *in, pk_item *out,
                       char *msg, size_t len) {
  pk_status st;
  size_t h, w;
  geo g;

  if (in->dtype != PK_F64)
    return pk__fft_refuse(msg, len, PK_EDTYPE,
                          "%s: items must be real (float64)%s", k->name,
                          in->dtype == PK_C128 ? ", not complex" : "");
  if ((st = pk__fft_item2d(k, in, msg, len, &h, &w)) != PK_OK)
    return st;
  if (h > SIZE_MAX / 4 || w > SIZE_MAX / 4 ||
      2 * w - 1 > SIZE_MAX / 8 / (2 * h - 1))
    return pk__fft_refuse(msg, len, PK_EOVERFLOW,
                          "%s: item %zu x %zu is too large", k->name, h, w);
  geo_of(k, in, &g);
  if (g.method == PK_AUTOCORR_FFT && !g.H)
    return pk__fft_refuse(
        msg, len, PK_ESHAPE,
        "%s: item %zu x %zu is too large for FFTW (int sizes)", k->name, h, w);
  out->dtype = PK_F64;
  out->ndim = 2;
  out->shape[0] = 2 * h - 1;
  out->shape[1] = 2 * w - 1;
  return PK_OK;
}

/*
 * The four plans of items items, each run once an item (see viafft): the
 * h rows of the image forward, every column forward, every column back,
 * the h rows of the result back.  A 2-D plan over the whole grid did the
 * H - h rows of zeros too, and the rows of the result no lag reads.
 */
enum { ROWS_FWD, COLS_FWD, COLS_BWD, ROWS_BWD, NPLANS };

static pk_status plans(const geo *g, size_t items, fftw_plan *p) {
  static const pk__fft_kind kind[NPLANS] = {
      PK__FFT_ROWS_R2C, PK__FFT_COLS_FWD, PK__FFT_COLS_BWD, PK__FFT_ROWS_C2R};
  double work = (double)items * fft_ns(g->H, g->W) / NPLANS;
  pk_status st = PK_OK;

  for (int i = 0; i < NPLANS && st == PK_OK; i++) {
    int cols = i == COLS_FWD || i == COLS_BWD;
    st = pk__fft_plan(kind[i], cols ? g->H : (int)g->h,
                      cols ? g->W / 2 + 1 : g->W, work, &p[i]);
  }
  return st;
}

static pk_status prepare(const pk_kernel *k, const pk_item *in,
                         size_t items) {
  fftw_plan p[NPLANS];
  geo g;

  geo_of(k, in, &g);
  return g.method == PK_AUTOCORR_FFT ? plans(&g, items, p) : PK_OK;
}

static size_t fft_scratch(const geo *g) {
  return up64((size_t)g->H * g->W * 8) + (size_t)g->H * (g->W / 2 + 1) * 16;
}

static size_t scratch(const pk_kernel *k, const pk_item *in) {
  geo g;

  geo_of(k, in, &g);
  return g.method == PK_AUTOCORR_FFT ? fft_scratch(&g) : 0;
}

static double cost(const pk_kernel *k, const pk_item *in) {
  geo g;

  geo_of(k, in, &g);
  return g.method == PK_AUTOCORR_FFT ? fft_ns(g.H, g.W)
                                     : direct_ns(g.h, g.w);
}

static void axpy(double *restrict r, double c, const double *restrict y,
                 size_t n) {
  for (size_t k = 0; k < n; k++)
    r[k] += c * y[k];
}

/* Four rows at once: one load and store of r for four products. */
static void axpy4(double *restrict r, const double *c,
                  const double *restrict y0, const double *restrict y1,
                  const double *restrict y2, const double *restrict y3,
                  size_t n) {
  for (size_t k = 0; k < n; k++)
    r[k] += c[0] * y0[k] + c[1] * y1[k] + c[2] * y2[k] + c[3] * y3[k];
}

/*
 * Rows h-1+di, di >= 0, as sums of rows a[p+di] shifted by q and weighted
 * by a[p][q]; the other rows are their mirror images, so the result is
 * exactly symmetric.
 */
static void direct(const double *a, size_t h, size_t w, double *r) {
  size_t R = 2 * w - 1;

  for (size_t di = 0; di < h; di++) {
    double *row = r + (h - 1 + di) * R;
    size_t np = h - di, p;
    memset(row, 0, R * sizeof *row);
    for (size_t q = 0; q < w; q++) {
      double *o = row + (w - 1 - q);
      const double *y = a + di * w;
      for (p = 0; p + 4 <= np; p += 4) {
        double c[4] = {a[p * w + q], a[(p + 1) * w + q],
                       a[(p + 2) * w + q], a[(p + 3) * w + q]};
        axpy4(o, c, y + p * w, y + (p + 1) * w, y + (p + 2) * w,
              y + (p + 3) * w, w);
      }
      for (; p < np; p++)
        axpy(o, a[p * w + q], y + p * w, w);
    }
    if (di == 0)
      for (size_t m = 1; m < w; m++)
        row[w - 1 - m] = row[w - 1 + m];
    else
      for (size_t j = 0; j < R; j++)
        r[(h - 1 - di) * R + j] = row[R - 1 - j];
  }
}

/*
 * What the FFT can promise for item a: 0 if some a[i] is not an integer
 * (or not finite); 1 if all are and the error bound E = 32 u log2(HW)
 * |a|_1 |a|_2 (see fft.h) is below 1/2, so its result rounds to the exact
 * integers (every result is at most sum a^2 <= |a|_1 |a|_2 < 2^47: pk__rint51
 * holds); 2 if all are integers but the bound fails.  *big gets max |a|
 * times |a|_1, which bounds every partial sum of the direct method.
 */
static int exact(const pk__det_isa *v, const double *a, size_t n, int H,
                 int W, double *big) {
  double l1, l2, mx, lg = log2((double)H * W);

  if (!v->integers(a, n, &l1, &l2, &mx))
    return 0; /* also NaN and inf */
  *big = mx * l1;
  return 32 * 0x1p-53 * (lg > 1 ? lg : 1) * l1 * l2 < 0.5 ? 1 : 2;
}

/*
 * direct() with the sums in long double, whose 64-bit (or wider)
 * significand holds every partial sum of integers exactly while max |a|
 * times |a|_1 is below 2^64: for integer items too large for direct()'s
 * doubles (below 2^53).  Slow, and only for them.
 */
static void direct_wide(const double *a, size_t h, size_t w, double *r) {
  size_t R = 2 * w - 1;

  for (size_t di = 0; di < h; di++)
    for (size_t j = 0; j < R; j++) {
      long dj = (long)j - (long)(w - 1);
      long double acc = 0;
      for (size_t p = 0; p + di < h; p++)
        for (size_t q = 0; q < w; q++) {
          long q2 = (long)q + dj;
          if (q2 >= 0 && q2 < (long)w)
            acc += (long double)a[p * w + q] * a[(p + di) * w + (size_t)q2];
        }
      r[(h - 1 + di) * R + j] = (double)acc;
      r[(h - 1 - di) * R + (R - 1 - j)] = (double)acc;
    }
}

/* out[m] = in[m] * s, rounded to an integer if rnd. */
static void scale(double *restrict out, const double *restrict in, size_t n,
                  double s, int rnd) {
  if (rnd)
    for (size_t m = 0; m < n; m++)
      out[m] = pk__rint51(in[m] * s);
  else
    for (size_t m = 0; m < n; m++)
      out[m] = in[m] * s;
}

static void viafft(const geo *g, const fftw_plan *p, const pk__det_isa *v,
                   const double *a, double *r, double *buf) {
  size_t h = g->h, w = g->w, H = (size_t)g->H, W = (size_t)g->W;
  size_t R = 2 * w - 1, nc = H * (W / 2 + 1);
  double *c = buf + up64(H * W * 8) / 8, s = 1.0 / ((double)H * W), big;
  int rnd = exact(v, a, h * w, g->H, g->W, &big);

  /* auto promises integers for integer input: where the FFT's bound does
     not, the direct sums, exact while they stay below 2^53, or wider. */
  if (rnd == 2 && g->asked == PK_AUTOCORR_AUTO) {
    if (big < 0x1p53)
      direct(a, h, w, r);
    else
      direct_wide(a, h, w, r);
    return;
  }
  rnd = rnd == 1;

  /* Rows h .. H-1 of the image are zero, and so are their transforms:
     only the h rows go forward, the columns then see zeros below. */
  for (size_t q = 0; q < h; q++) {
    memcpy(buf + q * W, a + q * w, w * sizeof *a);
    memset(buf + q * W + w, 0, (W - w) * sizeof *buf);
  }
  fftw_execute_dft_r2c(p[ROWS_FWD], buf, (fftw_complex *)c);
  memset(c + h * (W / 2 + 1) * 2, 0, (H - h) * (W / 2 + 1) * 16);
  fftw_execute_dft(p[COLS_FWD], (fftw_complex *)c, (fftw_complex *)c);
  for (size_t k = 0; k < nc; k++) {
    c[2 * k] = c[2 * k] * c[2 * k] + c[2 * k + 1] * c[2 * k + 1];
    c[2 * k + 1] = 0;
  }
  /* Back: every column, then only rows 0 .. h-1, the lags the result
     reads (lag -d is lag d mirrored). */
  fftw_execute_dft(p[COLS_BWD], (fftw_complex *)c, (fftw_complex *)c);
  fftw_execute_dft_c2r(p[ROWS_BWD], (fftw_complex *)c, buf);
  /*
   * Lag (di, dj) sits at buf[di mod H][dj mod W].  Row h-1+di of r is lags
   * dj = -(w-1) .. w-1 of di, two runs of buf's row di; row h-1-di is its
   * reverse (lag -d mirrors lag d), so the result is exactly symmetric.
   * Row h-1 (di = 0) is made from its dj >= 0 half alone.
   */
  for (size_t di = 0; di < h; di++) {
    const double *src = buf + di * W;
    double *up = r + (h - 1 + di) * R, *dn = r + (h - 1 - di) * R;
    scale(up + (w - 1), src, w, s, rnd);
    if (di == 0) {
      for (size_t m = 1; m < w; m++)
        up[w - 1 - m] = up[w - 1 + m];
      continue;
    }
    scale(up, src + (W - (w - 1)), w - 1, s, rnd);
    for (size_t j = 0; j < R; j++)
      dn[j] = up[R - 1 - j];
  }
}

static pk_status run(const pk_kernel *k, const pk_task *t, size_t lo,
                     size_t hi, size_t *bad) {
  fftw_plan p[NPLANS] = {NULL};
  double *buf = NULL;
  void *own = NULL;
  const pk__det_isa *v = pk__simd_paths(t->isa);
  pk_status st;
  geo g;

  geo_of(k, &t->in_item, &g);
  if (g.method == PK_AUTOCORR_FFT) {
    if ((st = plans(&g, hi - lo, p)) != PK_OK) {
      *bad = lo;
      return st;
    }
    buf = t->scratch;
    if (!buf || !pk__fft_aligned(buf)) {
      buf = own = fftw_malloc(fft_scratch(&g));
      if (!own) {
        *bad = lo;
        return PK_ENOMEM;
      }
    }
  }
  for (size_t i = lo; i < hi; i++) {
    const double *a = (const double *)(t->in + i * t->in_stride);
    double *r = (double *)(t->out + i * t->out_stride);
    double big;
    if (g.method == PK_AUTOCORR_FFT)
      viafft(&g, p, v, a, r, buf);
    else if (g.asked == PK_AUTOCORR_AUTO &&
             exact(v, a, g.h * g.w, 1, 1, &big) && big >= 0x1p53)
      direct_wide(a, g.h, g.w, r); /* integers past direct's 2^53 */
    else
      direct(a, g.h, g.w, r);
  }
  fftw_free(own);
  return PK_OK;
}

#define KERNEL(nm, m)                                                        \
  {.name = nm, .shape = shape, .run = run, .cost = cost, .scratch = scratch, \
   .prepare = prepare, .data = &methods[m], .data_size = sizeof methods[m]}

static const pk_kernel kernels[] = {KERNEL("autocorr2d", PK_AUTOCORR_AUTO),
                                    KERNEL("autocorr2d_direct",
                                           PK_AUTOCORR_DIRECT),
                                    KERNEL("autocorr2d_fft", PK_AUTOCORR_FFT)};

const pk_kernel *pk_kernel_autocorr2d(pk_autocorr_method method) {
  if ((unsigned)method > PK_AUTOCORR_FFT)
    return NULL;
  return &kernels[method];
}
