/*
 * det and slogdet: numpy.linalg.det / slogdet over a batch of n x n float64
 * matrices.  Three paths, by n, with crossovers per instruction set:
 *  - small n: LU with partial pivoting on as many matrices at once as a
 *    vector has lanes, stored interleaved, so every step is one vector
 *    instruction over the lanes (det_simd.c, group);
 *  - middle n: blocked LU of one matrix in cache, panels one vector wide
 *    (det_simd.c, mid);
 *  - large n: LAPACK dgetrf.
 * The vector paths are compiled once per instruction set at its own width
 * (det.h); a map runs the one its task names (pk_task.isa).
 *
 * Every path gives each matrix a result that depends on that matrix alone,
 * never on its neighbours in the batch, so the bits do not depend on how the
 * batch is chunked.
 */
#include "config.h"
#include "det.h"

#include <parkit.h>
#include <parkit/kernels.h>

#include <lapacke.h>

#include <complex.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ALIGN PK__DET_ALIGN
#define VMAX 8 /* the widest vector, in doubles: scratch is sized for it */
#define LN2 0.693147180559945309417232121458176568
/* C11's CMPLX, which glibc's complex.h defines only for GCC, not clang. */
#ifndef CMPLX
#define CMPLX(x, y) ((union { double d[2]; double complex z; }){{(x), (y)}}.z)
#endif

static double *aligned(void *p) {
  uintptr_t u = (uintptr_t)p;
  return (double *)((u + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
}

const pk__det_isa *pk__simd_paths(int isa) {
  if (isa == PK_ISA_AUTO)
    isa = pk_isa_best();
#ifdef PK_HAVE_AVX512
  if (isa >= PK_ISA_AVX512)
    return &pk__det_avx512;
#endif
#ifdef PK_HAVE_AVX2
  if (isa >= PK_ISA_AVX2)
    return &pk__det_avx2;
#endif
  return &pk__det_generic;
}

/* -------------------------------------------------- determinant from LU */

/*
 * The result from the n pivots u[0], u[s], ... and the sign of the row
 * permutation.  The product keeps a separate binary exponent, so it neither
 * overflows nor underflows on the way when the result is representable.
 */
static void finish(const double *u, size_t s, size_t n, double sign,
                   int slog, double *out) {
  double m = sign;
  int e = 0, f;

  for (size_t k = 0; k < n; k++) {
    double d = u[k * s];
    if (d == 0) {
      out[0] = 0;
      if (slog)
        out[1] = -INFINITY;
      return;
    }
    if (!(fabs(d) >= 0x1p-500 && fabs(d) <= 0x1p500) && isfinite(d)) {
      d = frexp(d, &f);
      e += f;
    }
    m *= d;
    if (!(fabs(m) >= 0x1p-500 && fabs(m) <= 0x1p500) && isfinite(m)) {
      m = frexp(m, &f);
      e += f;
    }
  }
  if (!slog) {
    out[0] = ldexp(m, e);
    return;
  }
  out[0] = m > 0 ? 1 : m < 0 ? -1 : m; /* m is NaN here, or nonzero */
  out[1] = log(fabs(m)) + e * LN2;
}



/* ---------------------------------------------------------- LAPACK path */

static size_t big_scratch(size_t n) {
  return ALIGN + n * n * sizeof(double) + n * sizeof(lapack_int);
}

/*
 * LU with partial pivoting that divides by each pivot, as reference
 * LAPACK's dgetf2 does for pivots below DBL_MIN, whose reciprocal
 * overflows (OpenBLAS multiplies by it and gets NaN).  Slow: only for the
 * rare matrix with a subnormal pivot.  a has room for n*n doubles.
 */
static void lu_div(const double *x, size_t n, double *a, int slog,
                   double *out) {
  double sign = 1;

  memcpy(a, x, n * n * sizeof *a);
  for (size_t k = 0; k < n; k++) {
    size_t p = k;
    for (size_t i = k + 1; i < n; i++)
      if (fabs(a[i * n + k]) > fabs(a[p * n + k]))
        p = i;
    if (p != k) {
      for (size_t j = 0; j < n; j++) {
        double t = a[k * n + j];
        a[k * n + j] = a[p * n + j];
        a[p * n + j] = t;
      }
      sign = -sign;
    }
    double d = a[k * n + k];
    if (d == 0)
      continue;
    for (size_t i = k + 1; i < n; i++) {
      double f = a[i * n + k] / d;
      for (size_t j = k + 1; j < n; j++)
        a[i * n + j] -= f * a[k * n + j];
    }
  }
  finish(a, n + 1, n, sign, slog, out);
}

/*
 * numpy's result for a matrix with a NaN or an infinity, by numpy's own
 * computation: dgetrf on A in column-major order; an exact zero pivot
 * gives sign 0 and log -inf; else the sign of the permutation and of each
 * pivot (a NaN pivot changes no sign) and the sum of the pivots' logs;
 * det = sign * exp(log).  So NaN and inf come out where numpy's do (one
 * infinite entry gives +-inf; a NaN beside a zero column, 0).  Finite
 * matrices take the paths above, which differ from numpy in rounding
 * only, and where they handle a subnormal pivot that numpy does not.
 * w has big_scratch(n) bytes.
 */
/*
 * x copied to a in column-major order, as numpy hands A to dgetrf, and
 * factored there; dgetrf's info.  Factoring A^T (no transpose) has the
 * same det in exact arithmetic, but rounds differently, and equal rows of
 * A become equal columns that no longer cancel exactly.  The transposing
 * copy costs n^2 against dgetrf's n^3.
 */
static lapack_int lu_colmajor(const double *x, size_t n, double *a,
                              lapack_int *ipiv) {
  /* In 8 x 8 tiles, each column of a tile written in turn: a plain
     transposing copy writes each element to another cache line, a few
     percent of dgetrf's time at n = 128-300.  Rows near 4 KB apart fall
     in one set of the L1 cache: 16 x 16 tiles (32 lines each way) took
     1.09-1.14 times as long at n = 513 and 1024, 1.02-1.03 at 128-400 (AMD
     EPYC family 26, whole dets, one core). */
  for (size_t i0 = 0; i0 < n; i0 += 8)
    for (size_t j0 = 0; j0 < n; j0 += 8)
      for (size_t j = j0; j < j0 + 8 && j < n; j++)
        for (size_t i = i0; i < i0 + 8 && i < n; i++)
          a[j * n + i] = x[i * n + j];
  return LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)n,
                             a, (lapack_int)n, ipiv);
}

static void nonfinite(const double *x, size_t n, void *w, int slog,
                      double *out) {
  double *a = aligned(w), sign = 1, logdet = 0;
  lapack_int *ipiv = (lapack_int *)(a + n * n);

  if (lu_colmajor(x, n, a, ipiv) > 0) {
    sign = 0;
    logdet = -INFINITY;
  } else {
    for (size_t k = 0; k < n; k++) {
      double d = a[k * (n + 1)];
      if (ipiv[k] != (lapack_int)k + 1)
        sign = -sign;
      if (d < 0) {
        sign = -sign;
        d = -d;
      }
      logdet += log(d);
    }
  }
  out[0] = slog ? sign : sign * exp(logdet);
  if (slog)
    out[1] = logdet;
}

/* ------------------------------------------------------ complex path */

/*
 * Complex matrices take zgetrf, as numpy's do, on A copied in column-major
 * order (lu_colmajor's reasons), or, small and finite, the same elimination
 * here (zlu_small).  With every entry finite, det is the
 * product of the pivots and the permutation's sign, kept in range by a
 * separate binary exponent, as finish does; slogdet, and det with a NaN or
 * an infinity, are numpy's own computation: sign the product of the
 * permutation's sign and each pivot over its modulus, log|det| the sum of
 * the moduli's logs, det = sign * exp(log|det|); an exact zero pivot gives
 * 0, and {0, -inf}.  w has zdet_scratch(n) bytes.
 */
static size_t zdet_scratch(size_t n) {
  return ALIGN + n * n * sizeof(double complex) + n * sizeof(lapack_int);
}

/* z scaled by a power of two, added to *e, when its larger part is out of
   [2^-500, 2^500] (and finite, nonzero); else z. */
static double complex zrange(double complex z, int *e) {
  double m = fmax(fabs(creal(z)), fabs(cimag(z)));
  int f;
  if ((m >= 0x1p-500 && m <= 0x1p500) || m == 0 || !isfinite(m))
    return z;
  (void)frexp(m, &f);
  *e += f;
  return CMPLX(ldexp(creal(z), -f), ldexp(cimag(z), -f));
}

/*
 * Small finite matrices (zgetrf's call costs more than their LU): the same
 * elimination here, on A's rows in a (row-major, stride n), pivots chosen
 * as zgetrf's izamax does (the first largest |re| + |im|), multipliers by
 * the pivot's reciprocal unless the pivot is subnormal (then divided by,
 * where the reciprocal would overflow).  The pivots on a's diagonal, the
 * row swaps' sign in *m; 0, or k + 1 for an exact zero pivot at step k.
 */
#define ZSMALL 24
static lapack_int zlu_small(const double complex *x, size_t n,
                            double complex *a, double complex *m) {
  memcpy(a, x, n * n * sizeof *a);
  for (size_t k = 0; k < n; k++) {
    size_t p = k;
    double best = -1;
    for (size_t i = k; i < n; i++) {
      double v = fabs(creal(a[i * n + k])) + fabs(cimag(a[i * n + k]));
      if (v > best) {
        best = v;
        p = i;
      }
    }
    if (p != k) { /* columns before k are not read again */
      for (size_t j = k; j < n; j++) {
        double complex t = a[k * n + j];
        a[k * n + j] = a[p * n + j];
        a[p * n + j] = t;
      }
      *m = -*m;
    }
    const double complex d = a[k * n + k];
    if (d == 0)
      return (lapack_int)k + 1;
    const int tiny = fmax(fabs(creal(d)), fabs(cimag(d))) < DBL_MIN;
    const double complex r = 1.0 / d;
    for (size_t i = k + 1; i < n; i++) {
      const double complex l = tiny ? a[i * n + k] / d : a[i * n + k] * r;
      const double lr = creal(l), li = cimag(l);
      double *ai = (double *)(a + i * n), *ak = (double *)(a + k * n);
      /* By parts: C's complex product checks each for NaN (finite here). */
      for (size_t j = k + 1; j < n; j++) {
        const double br = ak[2 * j], bi = ak[2 * j + 1];
        ai[2 * j] -= lr * br - li * bi;
        ai[2 * j + 1] -= lr * bi + li * br;
      }
    }
  }
  return 0;
}

static void zdet(const double complex *x, size_t n, void *w, int slog,
                 double complex *out) {
  double complex *a = (double complex *)aligned(w), m = 1;
  lapack_int *ipiv = (lapack_int *)(a + n * n), info = 0;
  double logdet = 0;
  int finite = 1, e = 0;

  for (size_t i = 0; i < n * n; i++)
    finite &= isfinite(creal(x[i])) && isfinite(cimag(x[i]));
  if (finite && n <= ZSMALL) {
    info = zlu_small(x, n, a, &m);
  } else if (n > 0) {
    for (size_t i0 = 0; i0 < n; i0 += 8)
      for (size_t j0 = 0; j0 < n; j0 += 8)
        for (size_t j = j0; j < j0 + 8 && j < n; j++)
          for (size_t i = i0; i < i0 + 8 && i < n; i++)
            a[j * n + i] = x[i * n + j];
    info = LAPACKE_zgetrf_work(LAPACK_COL_MAJOR, (lapack_int)n,
                               (lapack_int)n, a, (lapack_int)n, ipiv);
    for (size_t k = 0; info == 0 && k < n; k++)
      if (ipiv[k] != (lapack_int)k + 1)
        m = -m;
  }
  if (info > 0) {
    out[0] = 0;
    if (slog)
      out[1] = -INFINITY;
    return;
  }
  if (finite && !slog) {
    for (size_t k = 0; k < n; k++)
      m = zrange(m * zrange(a[k * (n + 1)], &e), &e);
    out[0] = CMPLX(ldexp(creal(m), e), ldexp(cimag(m), e));
    return;
  }
  for (size_t k = 0; k < n; k++) {
    double complex d = a[k * (n + 1)];
    double r = cabs(d);
    m *= d / r;
    logdet += log(r);
  }
  if (slog) {
    out[0] = m;
    out[1] = logdet;
  } else {
    out[0] = m * exp(logdet);
  }
}

/* One matrix x through dgetrf, in w (big_scratch(n) bytes). */
static void big(const double *x, size_t n, void *w, int slog, double *out) {
  double *a = aligned(w);
  lapack_int *ipiv = (lapack_int *)(a + n * n);
  double sign = 1;

  for (size_t e = 0; e < n * n; e++)
    if (!(fabs(x[e]) <= DBL_MAX)) {
      nonfinite(x, n, w, slog, out);
      return;
    }
  lu_colmajor(x, n, a, ipiv);
  for (size_t k = 0; k < n; k++) {
    double d = fabs(a[k * (n + 1)]);
    if (d < DBL_MIN && d != 0) {
      lu_div(x, n, a, slog, out);
      return;
    }
    if (ipiv[k] != (lapack_int)k + 1)
      sign = -sign;
  }
  finish(a, n + 1, n, sign, slog, out);
}

/* Rows padded (also the division fallback's n * n), then the panel's
   columns, for any width. */
static size_t mid_scratch(size_t n) {
  return 2 * ALIGN + (n + VMAX) * pk__det_ld(n, VMAX) * sizeof(double);
}

/* One matrix x through the middle path of v, in w (mid_scratch(n) bytes). */
static void mid(const pk__det_isa *v, const double *x, const char *next,
                size_t n, void *w, int slog, double *out) {
  const size_t ld = pk__det_ld(n, v->lanes);
  double *a = aligned(w), *p = aligned(a + n * ld), sign = 1;

  switch (v->mid(x, n, a, p, &sign, next)) {
  case 0:
    finish(a, ld + 1, n, sign, slog, out);
    break;
  case 1:
    lu_div(x, n, a, slog, out);
    break;
  default:
    nonfinite(x, n, w, slog, out);
  }
}

/*
 * Up to n = PAIR_MAX the middle path factors two matrices at once, the
 * chains of pivot steps in their panels interleaved: one core, AMD EPYC
 * family 26, n = 37 0.83-0.91 of the time one at a time, 56 0.90-0.96,
 * 80 0.95-0.97, 100 0.97-1.0, 128 0.98-1.0, 160 1.0-1.02.
 */
#define PAIR_MAX 128

/* Matrices [lo, hi) through the middle path, two at a time up to
   PAIR_MAX; the scratch holds two of mid's. */
static void mids(const pk__det_isa *v, const pk_task *t, size_t lo,
                 size_t hi, size_t n, int slog) {
  const size_t ld = pk__det_ld(n, v->lanes);
  double *a0 = aligned(t->scratch), *p0 = aligned(a0 + n * ld);
  double *a1 = aligned((char *)t->scratch + mid_scratch(n));
  double *p1 = aligned(a1 + n * ld);
  size_t i = lo;

#define X(i) ((const double *)(t->in + (i) * t->in_stride))
#define OUT(i) ((double *)(t->out + (i) * t->out_stride))
  if (n <= PAIR_MAX)
    for (; i + 1 < hi; i += 2) {
      double sign[2];
      const char *next0 = i + 2 < hi ? t->in + (i + 2) * t->in_stride : NULL;
      const char *next1 = i + 3 < hi ? t->in + (i + 3) * t->in_stride : NULL;
      if (v->mid2(X(i), X(i + 1), n, a0, a1, p0, p1, sign, next0, next1) ==
          0) {
        finish(a0, ld + 1, n, sign[0], slog, OUT(i));
        finish(a1, ld + 1, n, sign[1], slog, OUT(i + 1));
      } else {
        mid(v, X(i), NULL, n, t->scratch, slog, OUT(i));
        mid(v, X(i + 1), NULL, n, t->scratch, slog, OUT(i + 1));
      }
    }
  for (; i < hi; i++)
    mid(v, X(i), i + 1 < hi ? t->in + (i + 1) * t->in_stride : NULL, n,
        t->scratch, slog, OUT(i));
#undef X
#undef OUT
}

/* Matrices a call of group can take at n: room in a for them. */
static size_t small_room(size_t n) {
  return n <= PK__DET_WIDE_N ? PK__DET_WIDE : PK__DET_GROUP;
}

/* The interleaved groups, their pivots, then room for the division
   fallback. */
static size_t small_scratch(size_t n) {
  return 2 * ALIGN + (small_room(n) * n * n + PK__DET_WIDE * n) *
                         sizeof(double) +
         big_scratch(n);
}

static void small(const pk__det_isa *v, const pk_task *t, size_t lo,
                  size_t hi, size_t n, int slog) {
  const size_t W = PK__DET_WIDE;
  double *a = aligned(t->scratch), *u = aligned(a + small_room(n) * n * n);
  void *w = u + W * n; /* for the odd matrix with a subnormal pivot */
  double sg[PK__DET_WIDE], prod[PK__DET_WIDE];
  int64_t odd[PK__DET_WIDE], nan[PK__DET_WIDE], tiny[PK__DET_WIDE];

  for (size_t g = lo, L; g < hi; g += L) {
    /* PK__DET_WIDE at once only where they are all there: padding lanes
     * cost as much as matrices */
    L = n <= v->wide_max && hi - g >= W ? W : PK__DET_GROUP;
    int cnt = hi - g < L ? (int)(hi - g) : (int)L;
    const char *x = t->in + g * t->in_stride;

    /* The group after next (4 ahead if wide), while this one computes: a
     * group is too short a run of cache lines for the hardware prefetcher
     * alone.  The group spreads the fetches over its steps: issued here
     * all at once, they waited for line fill buffers, and the core with
     * them (n = 10: 60 ns a matrix, what the matrix takes at one core's
     * bandwidth).  A wide group of 10x10 is 25 KB: 4 ahead, 100,000 of
     * them took 0.93 of the time on one AVX-512 worker and 0.96 on two,
     * AVX2 0.99, n = 12 0.96 and 0.99 (AMD EPYC family 26). */
    const size_t D = L == W ? 4 : 2;
    const char *next = NULL;
    size_t lines = 0;
    if (hi - g > D * L) {
      size_t ahead = hi - g - D * L < L ? hi - g - D * L : L;
      next = x + D * L * t->in_stride;
      lines = (ahead * t->in_stride + 63) / 64;
    }
    v->group(x, t->in_stride, cnt, (int)n, a, u, sg, prod, odd, nan, tiny,
             next, lines);
    for (int l = 0; l < cnt; l++) {
      double *out = (double *)(t->out + (g + l) * t->out_stride);
      if (nan[l])
        nonfinite((const double *)(x + l * t->in_stride), n, w, slog, out);
      else if (tiny[l])
        lu_div((const double *)(x + l * t->in_stride), n, aligned(w), slog,
               out);
      else if (odd[l])
        finish(u + l, W, n, sg[l], slog, out);
      else if (!slog)
        out[0] = prod[l];
      else
        out[0] = prod[l] > 0 ? 1 : -1, out[1] = log(fabs(prod[l]));
    }
  }
}

/* --------------------------------------------------------------- tables */

/*
 * Where the middle path hands over to dgetrf.  Each path's mid_max is
 * where dgetrf overtook it with OpenBLAS running kernels as wide as the
 * path (AVX2 ones on a Zen 3, AVX-512 ones on a Skylake-X).  With OpenBLAS
 * kernels narrower than the path, the path stays ahead far longer:
 * OpenBLAS's SSE3 ("Prescott") kernels, which it falls back to on a CPU
 * newer than the build knows, measured on a Xeon model 207: the generic
 * middle path ahead of dgetrf to n = 160 (at 100: 5.3 GFLOP/s against
 * 4.0), the AVX-512 one to 1024 and past (at 1000: 24.7 against 10.9), and
 * the AVX2 one too (one core, in-process A/B: 0.62 of dgetrf's time at
 * 600, 0.96 at 800, 0.75 at 1000); its AVX2 ("Haswell") kernels on an AMD
 * EPYC family 26 with AVX-512: the AVX-512 path in 0.36 of dgetrf's time
 * at 513, 0.42 at 1024, 0.50 at 1500.  The choice depends on the BLAS of
 * the process only: the same in every worker and on every backend.
 */
extern char *openblas_get_corename(void) __attribute__((weak));

/* The doubles a vector of OpenBLAS's kernels holds; 0 if not known. */
static int blas_lanes(void) {
#if defined(__x86_64__) || defined(__i386__)
  static const char *const sse[] = {"prescott", "core2", "penryn",
                                    "dunnington", "nehalem", "atom",
                                    "opteron", "barcelona", "bobcat",
                                    "nano", "katmai", "coppermine",
                                    "northwood", "banias", "athlon"};
  static const char *const avx[] = {"sandybridge", "haswell", "zen",
                                    "bulldozer", "piledriver", "steamroller",
                                    "excavator"};
  static const char *const avx512[] = {"skylakex", "cooperlake",
                                       "sapphirerapids"};
  static const struct {
    const char *const *names;
    size_t count;
    int lanes;
  } kinds[] = {{sse, sizeof sse / sizeof *sse, 2},
               {avx, sizeof avx / sizeof *avx, 4},
               {avx512, sizeof avx512 / sizeof *avx512, 8}};
  static _Atomic int known = -1;
  int k = atomic_load(&known);
  if (k < 0) {
    const char *name = openblas_get_corename ? openblas_get_corename() : NULL;
    k = 0;
    for (size_t c = 0; name && c < sizeof kinds / sizeof *kinds; c++)
      for (size_t i = 0; i < kinds[c].count; i++)
        if (strncasecmp(name, kinds[c].names[i],
                        strlen(kinds[c].names[i])) == 0)
          k = kinds[c].lanes;
    atomic_store(&known, k);
  }
  return k;
#else
  return 0;
#endif
}

static size_t mid_end(const pk__det_isa *v) {
  const int b = blas_lanes();
  if (b == 2)
    return v->lanes == 2 ? 160 : 1024;
  if (b != 0 && b < v->lanes)
    return 1024;
  return v->mid_max;
}

static pk_status run(const pk_task *t, size_t lo, size_t hi, int slog) {
  const pk__det_isa *v = pk__simd_paths(t->isa);
  size_t n = t->in_item.shape[0];

  if (t->in_item.dtype == PK_C128) {
    for (size_t i = lo; i < hi; i++)
      zdet((const double complex *)(t->in + i * t->in_stride), n,
           t->scratch, slog, (double complex *)(t->out + i * t->out_stride));
    return PK_OK;
  }

  if (n == 0) {
    for (size_t i = lo; i < hi; i++) {
      double *out = (double *)(t->out + i * t->out_stride);
      out[0] = 1;
      if (slog)
        out[1] = 0;
    }
  } else if (n <= v->small_max) {
    small(v, t, lo, hi, n, slog);
  } else if (n <= mid_end(v)) {
    mids(v, t, lo, hi, n, slog);
  } else {
    for (size_t i = lo; i < hi; i++)
      big((const double *)(t->in + i * t->in_stride), n, t->scratch, slog,
          (double *)(t->out + i * t->out_stride));
  }
  return PK_OK;
}

static pk_status check(const pk_kernel *k, const pk_item *in, char *msg,
                       size_t len) {
  if (in->dtype != PK_F64 && in->dtype != PK_C128) {
    snprintf(msg, len, "%s takes float64 or complex128 matrices, not dtype "
             "%d", k->name, (int)in->dtype);
    return PK_EDTYPE;
  }
  if (in->ndim != 2) {
    if (in->ndim == 1)
      snprintf(msg, len, "%s takes a batch of square matrices, shape (M, N, "
               "N); this array is 2-D, so its items are rows of %zu: a "
               "single matrix is a batch of one, shape (1, N, N)", k->name,
               in->shape[0]);
    else
      snprintf(msg, len, "%s takes a batch of square matrices, shape (M, N, "
               "N); this item has %d dimensions: if the batch is on "
               "another axis, move it to the front (--batch-axis, "
               "pk_array_moveaxis)", k->name, in->ndim);
    return PK_ESHAPE;
  }
  if (in->shape[0] != in->shape[1]) {
    snprintf(msg, len, "%s takes square matrices; this item is %zu x %zu: "
             "if the batch is not the first axis, move it there "
             "(--batch-axis, pk_array_moveaxis)", k->name, in->shape[0],
             in->shape[1]);
    return PK_ESHAPE;
  }
  if (in->shape[0] > INT_MAX || (in->shape[0] > 0 &&
      in->shape[0] > SIZE_MAX / 2 / sizeof(double) / in->shape[0])) {
    snprintf(msg, len, "%s: a %zu x %zu matrix is too large for LAPACK",
             k->name, in->shape[0], in->shape[0]);
    return PK_ESHAPE;
  }
  return PK_OK;
}

static pk_status det_shape(const pk_kernel *k, const pk_item *in,
                           pk_item *out, char *msg, size_t len) {
  pk_status st = check(k, in, msg, len);
  if (st != PK_OK)
    return st;
  memset(out, 0, sizeof *out);
  out->dtype = in->dtype;
  out->ndim = 0;
  return PK_OK;
}

static pk_status slogdet_shape(const pk_kernel *k, const pk_item *in,
                               pk_item *out, char *msg, size_t len) {
  pk_status st = check(k, in, msg, len);
  if (st != PK_OK)
    return st;
  memset(out, 0, sizeof *out);
  out->dtype = in->dtype; /* complex: {sign, log|det| + 0i} */
  out->ndim = 1;
  out->shape[0] = 2;
  return PK_OK;
}

static pk_status det_run(const pk_kernel *k, const pk_task *t, size_t lo,
                         size_t hi, size_t *bad) {
  (void)k, (void)bad;
  return run(t, lo, hi, 0);
}

static pk_status slogdet_run(const pk_kernel *k, const pk_task *t, size_t lo,
                             size_t hi, size_t *bad) {
  (void)k, (void)bad;
  return run(t, lo, hi, 1);
}

/*
 * Nanoseconds per matrix on one core, on the widest path this CPU has: a
 * shape model of each path (the small path's n^3 shared by the lanes; the
 * middle path's panels, n^2, then its updates at a rate that scales with
 * the vector width; dgetrf's call, then its updates), fitted on an AVX-512
 * Xeon.  The core scales it by what a map measures on this CPU.  Past a
 * crossover that the vector width forces (a small path's end), the cost is
 * held at the previous path's last, so it grows with n.
 */
static double path_cost(const pk__det_isa *v, double n) {
  const double w = VMAX / (double)v->lanes;
  if (n <= (double)v->small_max)
    return 10 + (v->lanes == 8 ? 0.065 : v->lanes == 4 ? 0.1 : 0.2) * n * n * n;
  if (n <= (double)mid_end(v))
    return fmax(1200 + 1.6 * n * n + 0.012 * w * n * n * n,
                path_cost(v, (double)v->small_max));
  return fmax(1500 + 0.07 * n * n * n, path_cost(v, (double)mid_end(v)));
}

static double cost(const pk_kernel *k, const pk_item *in) {
  const double n = (double)in->shape[0];
  (void)k;
  if (in->dtype == PK_C128) /* four real multiply-adds each; zgetrf's call */
    return n <= ZSMALL ? 150 + 0.45 * n * n * n : 1500 + 0.28 * n * n * n;
  return path_cost(pk__simd_paths(PK_ISA_AUTO), n);
}

/* Enough for whichever path n takes, on any instruction set. */
static size_t scratch(const pk_kernel *k, const pk_item *in) {
  const size_t n = in->shape[0];
  size_t s = big_scratch(n);
  (void)k;
  if (in->dtype == PK_C128)
    return zdet_scratch(n);
  if (n <= PK__DET_SMALL_CAP && small_scratch(n) > s)
    s = small_scratch(n);
  const size_t m = (n <= PAIR_MAX ? 2 : 1) * mid_scratch(n);
  return m > s ? m : s;
}

static const pk_kernel det_k = {
    .name = "det",
    .shape = det_shape,
    .run = det_run,
    .cost = cost,
    .scratch = scratch,
    .grain = PK__DET_GROUP,
};

static const pk_kernel slogdet_k = {
    .name = "slogdet",
    .shape = slogdet_shape,
    .run = slogdet_run,
    .cost = cost,
    .scratch = scratch,
    .grain = PK__DET_GROUP,
};

const pk_kernel *pk_kernel_det(void) { return &det_k; }

const pk_kernel *pk_kernel_slogdet(void) { return &slogdet_k; }
