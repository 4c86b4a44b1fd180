/*
 * correlate2d and convolve2d of item pairs (a, b), as scipy.signal's
 * correlate2d(a, b, mode) and convolve2d(a, b, mode) with boundary 'fill'
 * and fill value 0.  Both are one computation: the full correlation
 *   F[i][j] = sum_{p,q} c[p][q] a[p + i - (h2-1)][q + j - (w2-1)]
 * with c = b (correlate) or b turned by 180 degrees (convolve), of which a
 * mode keeps a window; direct sums or zero-padded real FFTs, as autocorr2d.
 */
#include "det.h"
#include "fftplan.h"

#include <parkit/kernels.h>

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { CORR, CONV };

/* A run's results past this many bytes are stored past cache (put_row). */
#define STREAM_BYTES (2 << 20)

typedef struct params {
  int op, mode, method;
} params;

/* The pair's shapes, the window of F kept, the FFT grid H x W. */
typedef struct geo {
  int op, method, asked;
  size_t h1, w1, h2, w2;
  size_t ho, wo, oi, oj; /* the output, and where it starts in F */
  int H, W;              /* 0 if the grid does not fit FFTW's int sizes */
  int paired;            /* rows two at a time in complex transforms */
  size_t top, bottom;    /* the window's first and last rows that the grid
                            aliases, summed directly instead */
  size_t left, right;    /* its first and last columns, likewise */
} geo;

static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Nanoseconds on one core.  The vector sums over a padded image (det.h,
   corr: an image and a smaller kernel image) at the rate of this CPU's
   widest path, as measured at 9x9 and 13x13 on an AVX-512 Xeon: about 20
   multiply-adds a nanosecond with AVX-512, 14 with AVX2, 5 with SSE2; the
   padding copied once.  direct() where the second item is the larger, a
   multiply-add a term as autocorr2d's axpy.  The widest path's rate, not
   the one a context forces, so that every context and process of this
   CPU picks the same method for a pair (scratch and plans agree). */
static double direct_ns(const geo *g) {
  double terms = (double)g->ho * (double)g->wo * (double)g->h2 * (double)g->w2;
  if (g->h2 <= g->h1 && g->w2 <= g->w1) {
    const int lanes = pk__simd_paths(PK_ISA_AUTO)->lanes;
    return 30 + (lanes >= 8 ? 0.05 : lanes >= 4 ? 0.07 : 0.2) * terms +
           0.5 * (double)(g->ho + g->h2) * (double)(g->wo + g->w2);
  }
  return 30 + 0.3 * terms + 2.5 * (double)g->ho * (double)g->h2 * (double)g->w2;
}

/* Rows (of n2) of one item that meet rows (of n1) of the other at F's
   index m along that dimension. */
static double taps1(size_t m, size_t n1, size_t n2) {
  long lo = (long)n2 - 1 - (long)m > 0 ? (long)n2 - 1 - (long)m : 0;
  long hi = (long)(n1 + n2) - 2 - (long)m < (long)n2 - 1
                ? (long)(n1 + n2) - 2 - (long)m
                : (long)n2 - 1;
  return hi >= lo ? (double)(hi - lo + 1) : 0;
}

/* Taps (p, q) of c that meet a at window row i: direct()'s work for the
   row is this times wo; at window column j: direct_col()'s, times ho. */
static double row_taps(const geo *g, size_t i) {
  return taps1(g->oi + i, g->h1, g->h2) * (double)g->w2;
}

static double col_taps(const geo *g, size_t j) {
  return taps1(g->oj + j, g->w1, g->w2) * (double)g->h2;
}

/*
 * Two real rows as one complex row of a codelet's length (paired, viafft)
 * against real transforms of the rows, per n log2 n.  FFTW's estimate
 * planner takes a scalar codelet for real rows of 128 and vector codelets
 * for complex ones.  100x100 with 31x31, full, one core of the Xeon (model
 * 207), AVX-512, kilocycles a pair: the rows forward and back 37 and their
 * split and merge 28 (paired, 128 x 128) against 89 (real rows of 144).
 * The pair's time, 1,000 pairs on two workers, against the real rows':
 * AVX-512 full 0.79-0.82 and same 0.84 (the rows in bands, BAND; 0.85-0.89
 * and 0.90-0.95 all in one call), AVX2 0.85-0.89 and 0.94, SSE2 (forced)
 * 0.97 and 0.96 (all in one call).  Paired only where AVX2 is: no
 * SSE2-only CPU was measured.
 */
#define PAIRED_ROWS 0.5

static double fft_ns(const geo *g) {
  double n = (double)g->H * g->W, edge = 0, cedge = 0, nl;
  for (size_t i = 0; i < g->top; i++)
    edge += row_taps(g, i);
  for (size_t i = g->ho - g->bottom; i < g->ho; i++)
    edge += row_taps(g, i);
  for (size_t j = 0; j < g->left; j++)
    cedge += col_taps(g, j);
  for (size_t j = g->wo - g->right; j < g->wo; j++)
    cedge += col_taps(g, j);
  if (g->paired)
    nl = (double)g->W * pk__fft_grid_nlogn(g->H, 1) +
         PAIRED_ROWS * n * log2((double)g->W);
  else
    nl = pk__fft_grid_nlogn(g->H, g->W);
  return 150 + 0.75 * nl + 1.5 * n + (0.3 * (double)g->wo + 2.5) * edge +
         (0.3 * (double)g->ho + 2.5) * cedge +
         (g->left + g->right ? 0.5 * (double)g->ho * (double)g->wo : 0);
}

/*
 * The least grid along one dimension whose circular correlation holds the
 * window [o, o + n) of F (n1 + n2 - 1 long) unaliased: F[i] lands at i mod
 * N, so no other index of F may meet a kept one (N >= n1 + n2 - 1 - o and
 * N >= o + n), and both items fit.  Full mode needs all of F; same and
 * valid less: 100 x 100 with 31 x 31 in same mode, a grid of 115 instead
 * of 130, 0.6 of FFTW's time for the pair of transforms on this Xeon
 * (then 120 x 120; now 128 rows, pk__fft_fast_cols).  geo_of may also
 * take fewer rows than this and sum the rows they alias directly.
 */
static size_t grid(size_t n1, size_t n2, size_t o, size_t n) {
  size_t m = n1 + n2 - 1 - o;
  m = o + n > m ? o + n : m;
  m = n1 > m ? n1 : m;
  return n2 > m ? n2 : m;
}

/*
 * The window's indices along one dimension that a grid of N <= 128 aliases:
 * F's index m (of nf) lands on (m - o) mod N of the result, and an index
 * two of F's land on holds neither; the window's indices (of n) from N on
 * land nowhere of their own.  The window's first indices up to the last
 * such in its first half go into *lo, its last from the first such in its
 * second half into *hi: rows into top and bottom, columns into left and
 * right.  In 2-D a result both of whose indices are clean is F's alone.
 */
static void aliased(size_t nf, size_t o, size_t n, size_t N, size_t *lo,
                    size_t *hi) {
  unsigned char k[128] = {0};

  *lo = *hi = 0;
  for (size_t m = 0; m < nf; m++) {
    long d = ((long)m - (long)o) % (long)N;
    size_t p = (size_t)(d < 0 ? d + (long)N : d);
    k[p] += k[p] < 2;
  }
  for (size_t p = 0; p < n; p++) {
    if (p < N && k[p] < 2)
      continue;
    if (p < n / 2)
      *lo = p + 1;
    else if (*hi == 0)
      *hi = n - p;
  }
}

/* 0, or why the pair cannot be computed in this mode. */
static const char *geo_of(const pk_kernel *k, const pk_item *in, geo *g) {
  const params *pm = k->data;
  size_t h1 = in[0].shape[0], w1 = in[0].shape[1];
  size_t h2 = in[1].shape[0], w2 = in[1].shape[1];

  memset(g, 0, sizeof *g);
  g->op = pm->op;
  g->method = g->asked = pm->method;
  g->h1 = h1, g->w1 = w1, g->h2 = h2, g->w2 = w2;
  switch (pm->mode) {
  case PK_MODE_FULL:
    g->ho = h1 + h2 - 1, g->wo = w1 + w2 - 1;
    break;
  case PK_MODE_SAME: /* centred on F, as scipy centres each */
    g->ho = h1, g->wo = w1;
    g->oi = pm->op == CORR ? h2 / 2 : (h2 - 1) / 2;
    g->oj = pm->op == CORR ? w2 / 2 : (w2 - 1) / 2;
    break;
  default: /* valid: where the smaller lies wholly inside the larger */
    if (h1 >= h2 && w1 >= w2)
      g->ho = h1 - h2 + 1, g->wo = w1 - w2 + 1, g->oi = h2 - 1,
      g->oj = w2 - 1;
    else if (h2 >= h1 && w2 >= w1)
      g->ho = h2 - h1 + 1, g->wo = w2 - w1 + 1, g->oi = h1 - 1,
      g->oj = w1 - 1;
    else
      return "in 'valid' mode one item must be at least as large as the "
             "other in every dimension";
  }
  g->H = (int)pk__fft_fast_cols(grid(h1, h2, g->oi, g->ho));
  g->W = g->H ? (int)pk__fft_fast_rows(grid(w1, w2, g->oj, g->wo), g->H) : 0;
  if (!g->H || !g->W || g->W > INT_MAX / g->H)
    g->H = g->W = 0;
  /* A shorter column that FFTW's codelets take whole (pk__fft_fast_cols)
     and both items fit, if the rows it aliases cost less directly than
     the longer columns: 100x100 with 31x31 in full mode, 128 rows and 4
     of the 130 summed directly, for 140 rows. */
  size_t hc = pk__fft_fast_cols(h1 > h2 ? h1 : h2);
  if (g->H && hc < (size_t)g->H && hc <= 128) {
    geo a = *g;
    a.H = (int)hc;
    aliased(h1 + h2 - 1, g->oi, g->ho, hc, &a.top, &a.bottom);
    if (a.top + a.bottom < a.ho && fft_ns(&a) < fft_ns(g))
      *g = a;
  }
  /* Rows of a length FFTW's codelets take whole, two real rows a complex
     transform (PAIRED_ROWS), the columns they alias summed directly:
     100x100 with 31x31, full: 128 x 128 (4 columns, 4 rows direct) for
     128 x 144; same: 128 x 128 for 128 x 120.  By the CPU's widest path,
     not the context's, as direct_ns. */
  size_t wp = pk__fft_fast_cols(w1 > w2 ? w1 : w2);
  if (g->H && wp % 2 == 0 && wp <= 128 && (size_t)g->H <= INT_MAX / wp &&
      pk__simd_paths(PK_ISA_AUTO)->lanes >= 4) {
    geo a = *g;
    a.W = (int)wp;
    a.paired = 1;
    aliased(w1 + w2 - 1, g->oj, g->wo, wp, &a.left, &a.right);
    if (a.left + a.right < a.wo && fft_ns(&a) < fft_ns(g))
      *g = a;
  }
  if (g->method == PK_AUTOCORR_AUTO)
    g->method = g->H && fft_ns(g) < direct_ns(g) ? PK_AUTOCORR_FFT
                                                  : PK_AUTOCORR_DIRECT;
  return NULL;
}

static pk_status shape(const pk_kernel *k, const pk_item *in, pk_item *out,
                       char *msg, size_t len) {
  const char *why;
  size_t h, w;
  pk_status st;
  geo g;

  for (int c = 0; c < 2; c++) {
    if (in[c].dtype != PK_F64)
      return pk__fft_refuse(msg, len, PK_EDTYPE,
                            "%s: the %s items must be real (float64)%s",
                            k->name, c ? "second" : "first",
                            in[c].dtype == PK_C128 ? ", not complex" : "");
    if ((st = pk__fft_item2d(k, &in[c], msg, len, &h, &w)) != PK_OK) {
      size_t n = strlen(msg);
      snprintf(msg + n, len - n, " (the %s items)", c ? "second" : "first");
      return st;
    }
    if (h > INT_MAX / 2 || w > INT_MAX / 2)
      return pk__fft_refuse(msg, len, PK_EOVERFLOW,
                            "%s: item %zu x %zu is too large", k->name, h, w);
  }
  if ((why = geo_of(k, in, &g)) != NULL)
    return pk__fft_refuse(msg, len, PK_ESHAPE, "%s: %s (they are %zu x %zu "
                          "and %zu x %zu)", k->name, why, g.h1, g.w1, g.h2,
                          g.w2);
  if (g.ho > SIZE_MAX / 8 / g.wo)
    return pk__fft_refuse(msg, len, PK_EOVERFLOW, "%s: the result is too "
                          "large", k->name);
  if (g.method == PK_AUTOCORR_FFT && !g.H)
    return pk__fft_refuse(msg, len, PK_ESHAPE, "%s: the pair is too large "
                          "for FFTW (int sizes)", k->name);
  out[0] = (pk_item){PK_F64, 2, {g.ho, g.wo}};
  return PK_OK;
}

/*
 * The FFT's plans, one dimension at a time (as autocorr2d's): the h1 rows
 * of a forward, the H rows of c (moved; see viafft), every column forward,
 * every column back, and only the ho rows of the result that the window
 * keeps.  The 2-D transforms did the H - h1 rows of zeros of a and the
 * H - ho rows no output reads, and copied through buffers.  Paired, a's
 * rows and the result's go two to a complex row, a row a plan (BAND), the
 * result's from row pair pair0 up to pair1.
 */
enum { A_ROWS, C_ROWS, COLS_FWD, COLS_BWD, OUT_ROWS, NPLANS };

/*
 * Paired, the rows go through FFTW in bands of BAND row pairs, each band
 * split (or stored) while it is still in L1: 1,000 pairs of 100x100 with
 * 31x31 against all rows in one call, alternated in one process: 0.90-0.95
 * of the time (full and same, 2 workers; Xeon model 207).  Each row pair
 * is one call of a plan of one row, out of place: the estimate planner
 * gave 4 rows of 128 in place its 128-point codelet (0.49 us) and 1 row
 * out of place a 8 x 16 split (0.37 us for 4 calls), and a measured plan
 * in place copied through a buffer it allocated at every call.  1,000
 * pairs full on one core, AMD EPYC family 26: 0.92-0.93 of the time with
 * the estimate planner, 0.88 with measured plans; same 0.95.
 */
#define BAND 4

static size_t pair0(const geo *g) { return g->top / 2; }
static size_t pair1(const geo *g) { return (g->ho - g->bottom + 1) / 2; }

static pk_status plans(const geo *g, size_t items, fftw_plan *p) {
  static const pk__fft_kind kind[NPLANS] = {
      PK__FFT_ROWS_R2C, PK__FFT_ROWS_R2C, PK__FFT_COLS_FWD, PK__FFT_COLS_BWD,
      PK__FFT_ROWS_C2R};
  int n0[NPLANS] = {(int)g->h1, g->H, g->H, g->H, (int)(g->ho - g->bottom)};
  double work = (double)items * fft_ns(g) / NPLANS;
  pk_status st = PK_OK;

  if (g->paired)
    n0[A_ROWS] = n0[OUT_ROWS] = 1;
  for (int i = 0; i < NPLANS && st == PK_OK; i++) {
    int cols = i == COLS_FWD || i == COLS_BWD;
    pk__fft_kind kd = kind[i];
    if (g->paired && i == A_ROWS)
      kd = PK__FFT_ROWS_FWD;
    if (g->paired && i == OUT_ROWS)
      kd = PK__FFT_ROWS_BWD;
    st = pk__fft_plan(kd, n0[i], cols ? g->W / 2 + 1 : g->W, work, &p[i]);
  }
  return st;
}

static pk_status prepare(const pk_kernel *k, const pk_item *in,
                         size_t items) {
  fftw_plan p[NPLANS];
  geo g;

  if (geo_of(k, in, &g) != NULL || g.method != PK_AUTOCORR_FFT)
    return PK_OK;
  return plans(&g, items, p);
}

/*
 * The vector sums' zero-padded image: P[u][v] = a[u - tp][v - lp], rows of
 * pw doubles, so that F's window is the whole sum over the taps at every
 * output (det.h, corr).  For pairs whose second item is the smaller (the
 * usual image and kernel image): else the padding would outweigh the sums,
 * and direct() skips what lies outside.  0 if not.
 */
static size_t padded(const geo *g, size_t *pw) {
  if (g->h2 > g->h1 || g->w2 > g->w1)
    return 0;
  *pw = (g->wo + PK__CORR_BLOCK - 1) / PK__CORR_BLOCK * PK__CORR_BLOCK +
        g->w2 - 1;
  return (g->ho + g->h2 - 1) * *pw;
}

static void pad(const geo *g, const double *a, double *P, size_t pw) {
  size_t tp = g->h2 - 1 - g->oi, lp = g->w2 - 1 - g->oj;
  size_t rows = g->ho + g->h2 - 1;

  for (size_t u = 0; u < rows; u++) {
    double *row = P + u * pw;
    size_t n = 0;
    if (u >= tp && u - tp < g->h1) {
      n = lp + g->w1 < pw ? g->w1 : pw - lp;
      memset(row, 0, lp * sizeof *row);
      memcpy(row + lp, a + (u - tp) * g->w1, n * sizeof *row);
      n += lp;
    }
    memset(row + n, 0, (pw - n) * sizeof *row);
  }
}

/* The FFT's first buffer: the padded real grid (c's rows), and paired a
   band of row pairs of a or of the result and its transform. */
static size_t grid_bytes(const geo *g) {
  size_t n = (size_t)g->H * g->W * 8, p = 2 * BAND * (size_t)g->W * 16;
  return up64(g->paired && p > n ? p : n);
}

/* After the spectra, paired: the aliased columns' direct sums (ho each), a
   column of a (direct_col) and a row's of them (put_pair). */
static size_t edge_bytes(const geo *g) {
  return up64(((g->left + g->right) * (g->ho + 1) + g->h1) * 8);
}

/* The turned b, then for the FFT: grid_bytes, two spectra, edge_bytes;
   for the direct sums the padded image. */
static size_t scratch_of(const geo *g) {
  size_t s = up64(g->h2 * g->w2 * 8), pw;
  if (g->method == PK_AUTOCORR_DIRECT)
    s += up64(padded(g, &pw) * 8);
  if (g->method == PK_AUTOCORR_FFT)
    s += grid_bytes(g) + 2 * up64((size_t)g->H * (g->W / 2 + 1) * 16) +
         (g->paired ? edge_bytes(g) : 0);
  return s;
}

static size_t scratch(const pk_kernel *k, const pk_item *in) {
  geo g;

  return geo_of(k, in, &g) ? 0 : scratch_of(&g);
}

static double cost(const pk_kernel *k, const pk_item *in) {
  geo g;

  if (geo_of(k, in, &g))
    return 0;
  return g.method == PK_AUTOCORR_FFT ? fft_ns(&g) : direct_ns(&g);
}

/* Rows i0 .. i1 - 1 of the window, by v's axpy (one tap along a row)
   and axpy4 (four taps of one row of c at once, where all four lie inside
   a's row: one load and store of r for four products). */
static void direct(const geo *g, const pk__det_isa *v, const double *a,
                   const double *c, double *r, size_t i0, size_t i1) {
  long w1 = (long)g->w1, wo = (long)g->wo;

  for (size_t i = i0; i < i1; i++) {
    double *row = r + i * g->wo;
    memset(row, 0, g->wo * sizeof *row);
    for (size_t p = 0; p < g->h2; p++) {
      long x = (long)(p + i + g->oi) - (long)(g->h2 - 1);
      if (x < 0 || x >= (long)g->h1)
        continue;
      const double *ar = a + (size_t)x * g->w1, *cr = c + p * g->w2;
      /* tap q reads a's row from column y0 + j, y0 = q + oj - (w2-1) */
      long y00 = (long)g->oj - (long)(g->w2 - 1);
      /* columns j where taps q .. q+3 all read inside the row */
      for (size_t q = 0; q < g->w2;) {
        long y0 = y00 + (long)q;
        long lo = y0 < 0 ? -y0 : 0, hi = w1 - y0 < wo ? w1 - y0 : wo;
        if (q + 4 <= g->w2) {
          long hi4 = w1 - (y0 + 3) < wo ? w1 - (y0 + 3) : wo;
          if (lo < hi4) {
            /* the edges, tap by tap; the middle four at a time */
            for (int t = 0; t < 4; t++) {
              long yt = y0 + t, lt = yt < 0 ? -yt : 0;
              long ht = w1 - yt < wo ? w1 - yt : wo;
              if (lt < lo)
                v->axpy(row + lt, cr[q + t], ar + lt + yt,
                     (size_t)((lo < ht ? lo : ht) - lt));
              if (hi4 < ht)
                v->axpy(row + hi4, cr[q + t], ar + hi4 + yt,
                     (size_t)(ht - hi4));
            }
            v->axpy4(row + lo, cr + q, ar + lo + y0, (size_t)(hi4 - lo));
            q += 4;
            continue;
          }
        }
        if (lo < hi)
          v->axpy(row + lo, cr[q], ar + lo + y0, (size_t)(hi - lo));
        q++;
      }
    }
  }
}

/*
 * Window column j's rows i0 .. i1 - 1 into E[i] (E ho long): for each tap
 * column q that meets a, a's column gathered into col, then one axpy down
 * it per tap row, as direct() along rows.
 */
static void direct_col(const geo *g, const pk__det_isa *v, const double *a,
                       const double *c, double *E, size_t j, size_t i0,
                       size_t i1, double *col) {
  memset(E + i0, 0, (i1 - i0) * sizeof *E);
  for (size_t q = 0; q < g->w2; q++) {
    long y = (long)(j + g->oj + q) - (long)(g->w2 - 1);
    if (y < 0 || y >= (long)g->w1)
      continue;
    for (size_t x = 0; x < g->h1; x++)
      col[x] = a[x * g->w1 + (size_t)y];
    for (size_t p = 0; p < g->h2; p++) {
      /* row i reads a's row i + off */
      long off = (long)(g->oi + p) - (long)(g->h2 - 1);
      long lo = -off > (long)i0 ? -off : (long)i0;
      long hi = (long)g->h1 - off < (long)i1 ? (long)g->h1 - off : (long)i1;
      if (lo < hi)
        v->axpy(E + lo, c[p * g->w2 + q], col + lo + off, (size_t)(hi - lo));
    }
  }
}

/* direct() with the sums in long double, tap by tap: exact for integer
   pairs whose partial sums pass 2^53 but stay below 2^64.  Slow, and only
   for them. */
static void direct_wide(const geo *g, const double *a, const double *c,
                        double *r, long double *row) {
  long w1 = (long)g->w1, wo = (long)g->wo;

  for (size_t i = 0; i < g->ho; i++) {
    for (long j = 0; j < wo; j++)
      row[j] = 0;
    for (size_t p = 0; p < g->h2; p++) {
      long x = (long)(p + i + g->oi) - (long)(g->h2 - 1);
      if (x < 0 || x >= (long)g->h1)
        continue;
      const double *ar = a + (size_t)x * g->w1;
      for (size_t q = 0; q < g->w2; q++) {
        long y0 = (long)(q + g->oj) - (long)(g->w2 - 1);
        long lo = y0 < 0 ? -y0 : 0, hi = w1 - y0 < wo ? w1 - y0 : wo;
        long double cq = c[p * g->w2 + q];
        for (long j = lo; j < hi; j++)
          row[j] += cq * ar[j + y0];
      }
    }
    for (long j = 0; j < wo; j++)
      r[i * g->wo + (size_t)j] = (double)row[j];
  }
}

/*
 * What the pair's integers allow: 0 not integers; else 1 if the direct
 * sums stay below 2^53 (and 3 if not), plus 4 if the FFT's error bound
 * (32 u log2(HW) max(|a|_1 |c|_2, |c|_1 |a|_2), as autocorr2d's) is below
 * 1/2, so that its result rounds to the exact integers.
 */
/*
 * The kernel image of the pair in hand as the sums take it (b, or b
 * turned for convolve2d), and what the scans below found of it: kept
 * while the pairs' b is the same item (one broadcast to every pair), not
 * turned and scanned again for each.
 */
typedef struct kimg {
  const double *b, *c; /* b: whose (NULL: none yet) */
  int ints;            /* -1: not scanned; else v->integers' answer */
  double l1, l2, mx;   /* its norms, if ints */
  int normed;          /* 1: nmx, nl1 are v->norms' */
  double nmx, nl1;
} kimg;

static void kimg_take(kimg *k, const geo *g, const double *b,
                      double *turned) {
  size_t n = g->h2 * g->w2;

  if (b == k->b)
    return;
  k->b = k->c = b;
  if (g->op == CONV) {
    for (size_t m = 0; m < n; m++)
      turned[m] = b[n - 1 - m];
    k->c = turned;
  }
  k->ints = -1;
  k->normed = 0;
}

static int exactness(const geo *g, const pk__det_isa *v, const double *a,
                     kimg *k) {
  double a1, a2, am, lg = log2((double)g->H * g->W + 1);

  if (k->ints < 0)
    k->ints = v->integers(k->c, g->h2 * g->w2, &k->l1, &k->l2, &k->mx);
  if (!k->ints || !v->integers(a, g->h1 * g->w1, &a1, &a2, &am))
    return 0;
  int r = am * k->l1 < 0x1p53 && k->mx * a1 < 0x1p53 ? 1 : 3;
  double e = 32 * 0x1p-53 * (lg > 1 ? lg : 1) *
             (a1 * k->l2 > k->l1 * a2 ? a1 * k->l2 : k->l1 * a2);
  return e < 0.5 ? r | 4 : r;
}

/* 1 if no direct sum of the pair can pass 2^53 in magnitude (max|a|
   sum|c| and max|c| sum|a| below it): then the direct sums of integers are
   exact whatever they are, and nothing more need be known.  One pass of
   abs, max and add, where exactness() tests every element. */
static int small_sums(const geo *g, const pk__det_isa *v, const double *a,
                      kimg *k) {
  double am, a1;

  if (!k->normed) {
    v->norms(k->c, g->h2 * g->w2, &k->nmx, &k->nl1);
    k->normed = 1;
  }
  v->norms(a, g->h1 * g->w1, &am, &a1);
  return am * k->nl1 < 0x1p53 && k->nmx * a1 < 0x1p53;
}

/*
 * out[j] = src[j] s, rounded if rnd, j < n.  With stream, past cache
 * (non-temporal stores, x86), for runs whose results outgrow a core's L2:
 * a store that misses reads the line it writes first.  1,000 pairs of
 * 100x100 with 31x31 (130x130 results) on an AVX-512 Xeon: 0.94 of the
 * time.  The direct sums write their results a column block at a time,
 * partial lines; gathered and stored past cache they took 1.04-1.07.
 */
static void put_row(double *out, const double *src, size_t n, double s,
                    int rnd, int stream) {
  size_t j = 0;

#ifdef __SSE2__
  if (stream) {
    if ((uintptr_t)out & 15 && n > 0) {
      out[0] = rnd ? pk__rint51(src[0] * s) : src[0] * s;
      j = 1;
    }
    if (rnd)
      for (; j + 2 <= n; j += 2)
        _mm_stream_pd(out + j, _mm_set_pd(pk__rint51(src[j + 1] * s),
                                          pk__rint51(src[j] * s)));
    else
      for (; j + 2 <= n; j += 2)
        _mm_stream_pd(out + j, _mm_set_pd(src[j + 1] * s, src[j] * s));
  }
#else
  (void)stream;
#endif
  if (rnd)
    for (; j < n; j++)
      out[j] = pk__rint51(src[j] * s);
  else
    for (; j < n; j++)
      out[j] = src[j] * s;
}

/* Window rows 2q and 2q + 1 of r, those of them the FFT gives, from row
   pair y (paired), with the aliased columns' direct sums from E (v's
   put_row). */
static void put_pair(const geo *g, const pk__det_isa *v, double *r,
                     const double *y, size_t q, const double *E,
                     double *line, double s, int rnd, int stream) {
  size_t wo = g->wo, ho = g->ho, l = g->left, m = wo - g->right;

  for (size_t h = 0; h < 2; h++) {
    size_t i = 2 * q + h;
    if (i < g->top || i >= ho - g->bottom)
      continue;
    for (size_t j = 0; j < l + g->right; j++)
      line[j] = E[j * ho + i];
    v->put_row(r + i * wo, wo, y, (int)h, l, m, line, line + l, s, rnd,
               stream);
  }
}

/*
 * Paired rows: a's rows 2q and 2q + 1 as the real and imaginary parts of
 * a complex row, BAND of them (Z) transformed at a time (into the band
 * after Z's); as both are real,
 * their spectra part as X1[k] = (Z[k] + conj Z[W-k]) / 2 and X2[k] =
 * (Z[k] - conj Z[W-k]) / 2i, into A's rows 2q and 2q + 1 (W / 2 + 1 each).
 * Pairs past a's rows are zeros.
 */
static void split_rows(const geo *g, const fftw_plan *p,
                       const pk__det_isa *v, const double *a, double *Z,
                       double *A) {
  size_t W = (size_t)g->W, Wc = W / 2 + 1, w1 = g->w1, h1 = g->h1;

  for (size_t q0 = 0; 2 * q0 < h1; q0 += BAND) {
    for (size_t q = q0; q < q0 + BAND; q++) {
      const double *x = 2 * q < h1 ? a + 2 * q * w1 : NULL;
      double *z = Z + 2 * (q - q0) * W;
      if (2 * q + 1 < h1)
        for (size_t j = 0; j < w1; j++)
          z[2 * j] = x[j], z[2 * j + 1] = x[w1 + j];
      else if (x)
        for (size_t j = 0; j < w1; j++)
          z[2 * j] = x[j], z[2 * j + 1] = 0;
      else
        memset(z, 0, 2 * w1 * sizeof *z);
      memset(z + 2 * w1, 0, 2 * (W - w1) * sizeof *z);
    }
    for (size_t q = 0; q < BAND; q++)
      fftw_execute_dft(p[A_ROWS], (fftw_complex *)(Z + 2 * q * W),
                       (fftw_complex *)(Z + 2 * (BAND + q) * W));
    for (size_t q = q0; q < q0 + BAND && 2 * q < h1; q++) {
      double *x1 = A + 4 * q * Wc;
      v->split(Z + 2 * (BAND + q - q0) * W, W, x1,
               2 * q + 1 < h1 ? x1 + 2 * Wc : NULL);
    }
  }
}

/*
 * The inverse: Y[k] = X1[k] + i X2[k] over the whole row, X's missing half
 * X[W-k] = conj X[k] (the imaginary parts of X[0] and X[W/2] dropped, as a
 * real inverse transform does), so that the transform of Y's row holds
 * window rows 2q and 2q + 1 in its real and imaginary parts; the band of
 * row pairs q0 .. q0 + BAND - 1 (zeros past A's rows), transformed into
 * the band after Y's.
 */
static void merge_rows(const geo *g, const fftw_plan *p,
                       const pk__det_isa *v, const double *A, size_t q0,
                       double *Y) {
  size_t W = (size_t)g->W, Wc = W / 2 + 1, H = (size_t)g->H;

  for (size_t q = q0; q < q0 + BAND; q++) {
    if (2 * q < H) {
      const double *x1 = A + 4 * q * Wc;
      v->merge(x1, 2 * q + 1 < H ? x1 + 2 * Wc : NULL, W,
               Y + 2 * (q - q0) * W);
    } else
      memset(Y + 2 * (q - q0) * W, 0, 2 * W * sizeof *Y);
  }
  for (size_t q = 0; q < BAND; q++)
    fftw_execute_dft(p[OUT_ROWS], (fftw_complex *)(Y + 2 * q * W),
                     (fftw_complex *)(Y + 2 * (BAND + q) * W));
}

/*
 * F's window through the FFT: R = IFFT(FFT(a) conj(FFT(c))) holds lag
 * (i - (h2-1), j - (w2-1)) of F[i][j] at its index mod (H, W).  c goes in
 * moved by (t, u), the index of the window's first lag, wrapping: R moves
 * by as much the other way, so the window is R's first ho rows and wo
 * columns, and only those rows are transformed back.  B is c's transform,
 * kept from the item before when c is the same (a broadcast).
 */
static void viafft(const geo *g, const fftw_plan *p, const pk__det_isa *v,
                   const double *a, const double *c, double *r, double *buf,
                   int rnd, int have_b, int stream) {
  size_t H = (size_t)g->H, W = (size_t)g->W, Wc = W / 2 + 1, nc = H * Wc;
  double *A = buf + grid_bytes(g) / 8, *B = A + up64(nc * 16) / 8;
  double *E = B + up64(nc * 16) / 8, *col = E + (g->left + g->right) * g->ho;
  double s = 1.0 / ((double)H * W);
  size_t t = (g->oi + H - (g->h2 - 1)) % H, u = (g->oj + W - (g->w2 - 1)) % W;

  if (!have_b) {
    memset(buf, 0, H * W * sizeof *buf);
    for (size_t i = 0; i < g->h2; i++) {
      double *row = buf + (i + t) % H * W;
      for (size_t j = 0; j < g->w2; j++)
        row[(j + u) % W] = c[i * g->w2 + j];
    }
    fftw_execute_dft_r2c(p[C_ROWS], buf, (fftw_complex *)B);
    fftw_execute_dft(p[COLS_FWD], (fftw_complex *)B, (fftw_complex *)B);
  }
  if (g->paired)
    split_rows(g, p, v, a, buf, A);
  else {
    for (size_t i = 0; i < g->h1; i++) {
      memcpy(buf + i * W, a + i * g->w1, g->w1 * sizeof *a);
      memset(buf + i * W + g->w1, 0, (W - g->w1) * sizeof *buf);
    }
    fftw_execute_dft_r2c(p[A_ROWS], buf, (fftw_complex *)A);
  }
  memset(A + g->h1 * Wc * 2, 0, (H - g->h1) * Wc * 16);
  fftw_execute_dft(p[COLS_FWD], (fftw_complex *)A, (fftw_complex *)A);
  /* A conj(B), a row at a time.  The next image is not fetched here:
     on the Xeon (model 207) fetching it meanwhile took 0.97 of the time
     (1,000 pairs as above), on AMD EPYC family 26 1.06 on 2 workers
     (1.05 on one; its scan for integers waited longer on the fetched
     lines than on memory streamed by the hardware), and fetching the
     first 16 KB of it, or during the last steps, gained nothing there. */
  v->cmulc(A, B, H * Wc);
  fftw_execute_dft(p[COLS_BWD], (fftw_complex *)A, (fftw_complex *)A);
  if (g->paired) {
    size_t l = g->left, m = g->wo - g->right;
    for (size_t j = 0; j < l; j++)
      direct_col(g, v, a, c, E + j * g->ho, j, g->top, g->ho - g->bottom,
                 col);
    for (size_t j = m; j < g->wo; j++)
      direct_col(g, v, a, c, E + (l + j - m) * g->ho, j, g->top,
                 g->ho - g->bottom, col);
    for (size_t q0 = pair0(g); q0 < pair1(g); q0 += BAND) {
      merge_rows(g, p, v, A, q0, buf);
      for (size_t q = q0; q < q0 + BAND && q < pair1(g); q++)
        put_pair(g, v, r, buf + 2 * (BAND + q - q0) * W, q, E, col + g->h1, s,
                 rnd, stream);
    }
  } else {
    fftw_execute_dft_c2r(p[OUT_ROWS], (fftw_complex *)A, buf);
    for (size_t i = g->top; i < g->ho - g->bottom; i++)
      put_row(r + i * g->wo, buf + i * W, g->wo, s, rnd, stream);
  }
#ifdef __SSE2__
  if (stream)
    _mm_sfence();
#endif
  direct(g, v, a, c, r, 0, g->top);
  direct(g, v, a, c, r, g->ho - g->bottom, g->ho);
}

static pk_status run(const pk_kernel *k, const pk_task *t, size_t lo,
                     size_t hi, size_t *bad) {
  fftw_plan p[NPLANS] = {NULL};
  char *buf = t->scratch;
  void *own = NULL;
  pk_status st;
  geo g;

  geo_of(k, t->in_items, &g);
  if (g.method == PK_AUTOCORR_FFT &&
      (st = plans(&g, hi - lo, p)) != PK_OK) {
    *bad = lo;
    return st;
  }
  if (!buf || !pk__fft_aligned(buf)) {
    buf = own = fftw_malloc(scratch_of(&g) + 64);
    if (!own) {
      *bad = lo;
      return PK_ENOMEM;
    }
  }
  double *turned = (double *)buf;
  double *fbuf = (double *)(buf + up64(g.h2 * g.w2 * 8));
  /* the direct sums' padded image, in the scratch after turned */
  const pk__det_isa *v = pk__simd_paths(t->isa);
  size_t pw = 0;
  double *P = g.method == PK_AUTOCORR_DIRECT && padded(&g, &pw) ? fbuf : NULL;
  const double *spectrum_of = NULL; /* whose transform fbuf holds */
  kimg ki = {NULL};
  size_t lines = (g.h1 * g.w1 * 8 + 63) / 64;
  int stream = (double)(hi - lo) * (double)g.ho * (double)g.wo * 8 >=
               STREAM_BYTES;
  for (size_t i = lo; i < hi; i++) {
    const double *a = (const double *)(t->ins[0] + i * t->in_strides[0]);
    const double *b = (const double *)(t->ins[1] + i * t->in_strides[1]);
    double *r = (double *)(t->outs[0] + i * t->out_strides[0]);
    /* the next image comes into cache during this pair's direct sums (not
       its FFT: see viafft) */
    const char *nx = i + 1 < hi ? t->ins[0] + (i + 1) * t->in_strides[0]
                                : NULL;
    kimg_take(&ki, &g, b, turned);
    const double *c = ki.c;
    /* what the integers allow: only auto and the FFT need to know, and
       auto's direct sums only when they may pass 2^53 */
    int ex = g.asked == PK_AUTOCORR_DIRECT ||
                     (g.method == PK_AUTOCORR_DIRECT &&
                      small_sums(&g, v, a, &ki))
                 ? 0
                 : exactness(&g, v, a, &ki);
    if (g.method == PK_AUTOCORR_FFT &&
        !(g.asked == PK_AUTOCORR_AUTO && ex && !(ex & 4))) {
      viafft(&g, p, v, a, c, r, fbuf, ex & 4, b == spectrum_of, stream);
      spectrum_of = b;
    } else if (ex & 2 && g.asked == PK_AUTOCORR_AUTO) {
      /* integers past direct's 2^53: one long double row, on the heap */
      long double *row = malloc(g.wo * sizeof *row);
      if (row == NULL) {
        fftw_free(own);
        *bad = i;
        return PK_ENOMEM;
      }
      direct_wide(&g, a, c, r, row);
      free(row);
    } else if (P != NULL) {
      pad(&g, a, P, pw);
      v->corr(P, pw, c, g.h2, g.w2, r, g.ho, g.wo, nx, lines);
    } else {
      direct(&g, v, a, c, r, 0, g.ho);
    }
  }
  fftw_free(own);
  return PK_OK;
}

#define PAIR(nm, op, mode, m)                                                \
  {.name = nm, .shape = shape, .run = run, .cost = cost, .scratch = scratch, \
   .prepare = prepare, .data = &(const params){op, mode, m},                 \
   .data_size = sizeof(params), .nin = 2, .nout = 1}
#define MODES(nm, op, m)                                                     \
  PAIR(nm "_full", op, PK_MODE_FULL, m), PAIR(nm "_valid", op, PK_MODE_VALID, m), \
      PAIR(nm "_same", op, PK_MODE_SAME, m)
#define METHODS(nm, op)                                                      \
  MODES(nm, op, PK_AUTOCORR_AUTO), MODES(nm "_direct", op, PK_AUTOCORR_DIRECT), \
      MODES(nm "_fft", op, PK_AUTOCORR_FFT)

static const pk_kernel kernels[] = {METHODS("correlate2d", CORR),
                                    METHODS("convolve2d", CONV)};

static const pk_kernel *find(int op, pk_mode mode,
                             pk_autocorr_method method) {
  if ((unsigned)mode > PK_MODE_SAME || (unsigned)method > PK_AUTOCORR_FFT)
    return NULL;
  return &kernels[(op * 3 + (int)method) * 3 + (int)mode];
}

const pk_kernel *pk_kernel_correlate2d(pk_mode mode,
                                       pk_autocorr_method method) {
  return find(CORR, mode, method);
}

const pk_kernel *pk_kernel_convolve2d(pk_mode mode,
                                      pk_autocorr_method method) {
  return find(CONV, mode, method);
}
