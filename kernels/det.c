/*
 * det and slogdet: numpy.linalg.det / slogdet over a batch of n x n float64
 * matrices.
 *
 * n <= PK_DET_SMALL_MAX: LU with partial pivoting on PK_DET_LANES matrices at
 * once, stored interleaved (element (i, j) of lane l at a[(i*n + j)*L + l]),
 * so every step is a fixed loop over the L lanes that the compiler turns into
 * one SIMD instruction.  Row swaps differ per lane, so they are blends.
 * Larger n: one LAPACK dgetrf per matrix.
 *
 * Both paths give each matrix a result that depends on that matrix alone,
 * never on its neighbours in the batch, so the bits do not depend on how the
 * batch is chunked.
 */
#include <parkit.h>
#include <parkit/kernels.h>

#include <lapacke.h>

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define L PK_DET_LANES
/* The shuffles, lane masks and unrolled loops below are written for 8. */
_Static_assert(L == 8, "det.c is written for 8 doubles a vector");
#define SMALL PK_DET_SMALL_MAX
#ifndef MID
#define MID PK_DET_MID_MAX
#endif
#define ALIGN 64
#define LN2 0.693147180559945309417232121458176568

static double *aligned(void *p) {
  uintptr_t u = (uintptr_t)p;
  return (double *)((u + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
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

static void put_nan(int slog, double *out) {
  out[0] = NAN;
  if (slog)
    out[1] = NAN;
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

/* One matrix x through dgetrf, in w (big_scratch(n) bytes). */
static void big(const double *x, size_t n, void *w, int slog, double *out) {
  double *a = aligned(w);
  lapack_int *ipiv = (lapack_int *)(a + n * n);
  double sign = 1;
  int nan = 0;

  /* A in column-major order, as numpy hands it to dgetrf: factoring A^T
   * (no transpose) has the same det in exact arithmetic, but rounds
   * differently, and equal rows of A become equal columns that no longer
   * cancel exactly.  The copy is made anyway; transposing it costs n^2
   * against dgetrf's n^3. */
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      a[j * n + i] = x[i * n + j];
      nan |= x[i * n + j] != x[i * n + j];
    }
  if (nan) {
    put_nan(slog, out);
    return;
  }
  LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)n, a,
                      (lapack_int)n, ipiv);
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

/*
 * VERSIONS(DEF, name, type): DEF(fn, attr) stamped out as name_avx512,
 * name_avx2 and name_any, and pick_name(), which returns the best of them
 * for this CPU (after the first call, a load and a test).
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(PK_NO_MULTIVERSION)
#define VERSIONS(DEF, name, type)                                            \
  DEF(name##_avx512, __attribute__((target("avx512f"))))                   \
  DEF(name##_avx2, __attribute__((target("avx2,fma"))))                    \
  DEF(name##_any, )                                                        \
  static type *pick_##name(void) {                                         \
    __builtin_cpu_init();                                                  \
    if (__builtin_cpu_supports("avx512f"))                                 \
      return name##_avx512;                                                \
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))   \
      return name##_avx2;                                                  \
    return name##_any;                                                     \
  }
#else
#define VERSIONS(DEF, name, type)                                            \
  DEF(name##_any, )                                                        \
  static type *pick_##name(void) { return name##_any; }
#endif

/*
 * The L lanes as one value: the compiler lowers these vectors to what the
 * target has (one zmm, two ymm, four xmm).  Selections are bitwise, since C
 * has no ?: on vectors.
 */
typedef double v8 __attribute__((vector_size(L * sizeof(double))));
typedef int64_t m8 __attribute__((vector_size(L * sizeof(double))));

#define SEL(m, x, y) ((v8)(((m8)(x) & (m)) | ((m8)(y) & ~(m))))
#define MSEL(m, x, y) (((x) & (m)) | ((y) & ~(m)))
#define VABS(x) ((v8)((m8)(x) & INT64_MAX))

#ifdef __clang__
#define SHUF(x, y, ...) __builtin_shufflevector(x, y, __VA_ARGS__)
#else
#define SHUF(x, y, ...) __builtin_shuffle(x, y, (m8){__VA_ARGS__})
#endif

/*
 * DEFINE_GROUP(name, attr) defines
 *
 *   static void name(const char *x, size_t s, int cnt, int n, v8 *a,
 *                    v8 *u, v8 *sg, m8 *nan, m8 *tiny)
 *
 * compiled with attr (a target attribute).  It copies matrices x[0 .. cnt)
 * (each n*n, stride s bytes) into the L lanes of a, identity in the lanes
 * past cnt, and factors them in place.  u[k] gets pivot k of every lane, *sg
 * the sign of the row permutation (+-1); *nan is set in the lanes with a
 * NaN, *tiny in those with a subnormal pivot, for which 1/pivot overflows.
 *
 * The pivot is the first row with the largest |a_ik|, as LAPACK's idamax.
 * Row k is never read after step k (only the pivots are needed), so the
 * swap only moves old row k into the pivot row's place, by a blend merged
 * into the elimination.  A zero pivot gets reciprocal 0: the step is a no-op
 * and the determinant is 0 anyway.
 *
 * A macro stamped out per target, not target_clones: GCC 12 lowers vector
 * code for the default target before it makes the clones (so the AVX-512
 * clone compared lane by lane, 2x slower), and fails with an internal error
 * when it inlines a helper with vector code into a clone.  With a target
 * attribute from the start, neither happens.  (Making n a constant through
 * a switch gained 4% for 16 times the code and a minute of compiling.)
 */
#define DEFINE_GROUP(name, attr)                                            \
  attr static void name(const char *x, size_t s, int cnt, const int n,    \
                        v8 *restrict a, v8 *restrict u, v8 *sgp,          \
                        m8 *nanp, m8 *tinyp) {                            \
    const v8 zero = {0}, one = zero + 1;                                  \
    const int nn = n * n;                                                 \
    v8 sg = one, r[SMALL];                                                \
    m8 bad = {0}, tiny = {0}, ones = ~bad;                                \
    int e = 0;                                                            \
                                                                          \
    if (cnt == L) {                                                       \
      const double *y[L];                                                 \
      for (int l = 0; l < L; l++)                                         \
        y[l] = (const double *)(x + (size_t)l * s);                       \
      for (; e + L <= nn; e += L) { /* 8 x 8 blocks: transpose */         \
        v8 v[L], t[L], w[L];                                              \
        for (int l = 0; l < L; l++)                                       \
          memcpy(&v[l], y[l] + e, sizeof v[l]);                           \
        for (int i = 0; i < L; i += 2) {                                  \
          t[i] = SHUF(v[i], v[i + 1], 0, 8, 2, 10, 4, 12, 6, 14);         \
          t[i + 1] = SHUF(v[i], v[i + 1], 1, 9, 3, 11, 5, 13, 7, 15);     \
        }                                                                 \
        for (int i = 0; i < L; i += 4)                                    \
          for (int h = 0; h < 2; h++) {                                   \
            v[i + h] = SHUF(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, \
                            13);                                          \
            v[i + h + 2] = SHUF(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6,  \
                                7, 14, 15);                               \
          }                                                               \
        for (int i = 0; i < 4; i++) {                                     \
          w[i] = SHUF(v[i], v[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);          \
          w[i + 4] = SHUF(v[i], v[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);    \
        }                                                                 \
        for (int l = 0; l < L; l++) {                                     \
          a[e + l] = w[l];                                                \
          bad = MSEL(w[l] != w[l], ones, bad);                            \
        }                                                                 \
      }                                                                   \
      for (; e < nn; e++) {                                               \
        v8 v = {y[0][e], y[1][e], y[2][e], y[3][e],                       \
                y[4][e], y[5][e], y[6][e], y[7][e]};                      \
        a[e] = v;                                                         \
        bad = MSEL(v != v, ones, bad);                                    \
      }                                                                   \
    } else {                                                              \
      double *b = (double *)a;                                            \
      for (int l = 0; l < L; l++) {                                       \
        const double *y = (const double *)(x + (size_t)l * s);            \
        for (e = 0; e < nn; e++)                                          \
          b[e * L + l] = l < cnt ? y[e] : e % (n + 1) == 0;               \
      }                                                                   \
      for (e = 0; e < nn; e++)                                            \
        bad = MSEL(a[e] != a[e], ones, bad);                              \
    }                                                                     \
                                                                          \
    for (int k = 0; k < n; k++) {                                         \
      const v8 *ak = a + k * n;                                           \
      v8 m = VABS(ak[k]), p = zero + k;                                   \
                                                                          \
      for (int i = k + 1; i < n; i++) {                                   \
        v8 v = VABS(a[i * n + k]);                                        \
        m8 gt = v > m;                                                    \
        m = SEL(gt, v, m);                                                \
        p = SEL(gt, zero + i, p);                                         \
      }                                                                   \
      for (int j = k; j < n; j++)                                         \
        r[j] = ak[j];                                                     \
      for (int i = k + 1; i < n; i++) {                                   \
        m8 sw = p == zero + i;                                            \
        for (int j = k; j < n; j++)                                       \
          r[j] = SEL(sw, a[i * n + j], r[j]);                             \
      }                                                                   \
      v8 d = r[k];                                                        \
      m8 nz = d != 0;                                                     \
      v8 rinv = SEL(nz, one / SEL(nz, d, one), zero);                     \
      u[k] = d;                                                           \
      sg = SEL(p != zero + k, -sg, sg);                                   \
      tiny = MSEL(VABS(d) < DBL_MIN, MSEL(nz, ones, tiny), tiny);         \
      for (int i = k + 1; i < n; i++) {                                   \
        v8 *xi = a + i * n;                                               \
        m8 sw = p == zero + i;                                            \
        v8 f = SEL(sw, ak[k], xi[k]) * rinv;                              \
        for (int j = k + 1; j < n; j++)                                   \
          xi[j] = SEL(sw, ak[j], xi[j]) - f * r[j];                       \
      }                                                                   \
    }                                                                     \
    *sgp = sg;                                                            \
    *nanp = bad;                                                          \
    *tinyp = tiny;                                                        \
  }

typedef void group_fn(const char *x, size_t s, int cnt, int n, v8 *a,
                      v8 *u, v8 *sg, m8 *nan, m8 *tiny);

VERSIONS(DEFINE_GROUP, group, group_fn)

/* -------------------------------------------------------- middle path */

/* The lines of the next matrix, fetched one every `every` steps. */
typedef struct prefetcher {
  const char *next;
  size_t left, every, tick;
} prefetcher;

static inline void prefetch_step(prefetcher *pf) {
  if (pf->left > 0 && ++pf->tick >= pf->every) {
    __builtin_prefetch(pf->next);
    pf->next += 64;
    pf->left--;
    pf->tick = 0;
  }
}

/*
 * Blocked LU with partial pivoting on a row-major copy of A, right-looking
 * as LAPACK's dgetrf, with panels one vector (L columns) wide.  Rows are
 * padded to a multiple of L doubles, so every update is a run of whole
 * vectors.  For each panel:
 *  - its columns, rows k0 .. n-1, are copied to p column by column, where
 *    the unblocked LU runs down whole columns as dgetf2 does: the first
 *    largest pivot (idamax), multipliers by the pivot's reciprocal, a rank-1
 *    update of the panel's columns to the right;
 *  - its row swaps are applied to the rows right of it (columns left of it
 *    are never read again) and its pivots written back to the diagonal;
 *  - its L pivot rows right of it are solved by its unit lower triangle;
 *  - the rows below, right of it, get one rank-L update, two rows at a time
 *    with every multiplier in a register.
 * Each trailing element is loaded and stored once per L pivot steps rather
 * than once per step, which is what bounded an unblocked LU at these sizes;
 * the panel's pivot searches and updates run on whole vectors.  Up to a few
 * hundred rows the matrix stays in L2 and this is 2-3x OpenBLAS's dgetrf,
 * whose call and panel overheads dominate there.
 */
#define DEFINE_MID(name, attr)                                              \
  /* Unblocked LU of the m x L column-major panel p (column stride ld, rows \
     padded with zeros to a multiple of L), steps 0 .. nb-1; piv[e] gets    \
     the row swapped with row e. */                                         \
  attr static int name##_panel(double *restrict p, size_t m, size_t ld,     \
                               size_t nb, size_t *piv, double *s) {         \
    const v8 zero = {0};                                                    \
    const m8 lane = {0, 1, 2, 3, 4, 5, 6, 7};                               \
    const size_t blocks = (m + L - 1) / L;                                  \
    for (size_t e = 0; e < nb; e++) {                                       \
      v8 *col = (v8 *)(p + e * ld);                                         \
      /* The largest |p_ie|, i >= e, then the first row that has it. */     \
      v8 best = SEL(lane >= (int64_t)e, VABS(col[0]), zero - 1);            \
      for (size_t b = 1; b < blocks; b++) {                                 \
        v8 v = VABS(col[b]);                                                \
        best = SEL(v > best, v, best);                                      \
      }                                                                     \
      double top = best[0];                                                 \
      for (int q = 1; q < L; q++)                                           \
        top = best[q] > top ? best[q] : top;                                \
      size_t r = e;                                                         \
      for (size_t i = e; i < m; i++)                                        \
        if (fabs(p[e * ld + i]) == top) {                                   \
          r = i;                                                            \
          break;                                                            \
        }                                                                   \
      piv[e] = r;                                                           \
      if (r != e) {                                                         \
        for (size_t q = 0; q < L; q++) {                                    \
          double t = p[q * ld + e];                                         \
          p[q * ld + e] = p[q * ld + r];                                    \
          p[q * ld + r] = t;                                                \
        }                                                                   \
        *s = -*s;                                                           \
      }                                                                     \
      const double d = p[e * ld + e];                                       \
      if (d != 0 && fabs(d) < DBL_MIN)                                      \
        return 1;                                                           \
      const double rd = d != 0 ? 1 / d : 0;                                 \
      /* Multipliers below the pivot, then the columns right of it. */      \
      const m8 below = lane > (int64_t)e;                                   \
      col[0] = SEL(below, col[0] * rd, col[0]);                             \
      for (size_t b = 1; b < blocks; b++)                                   \
        col[b] *= rd;                                                       \
      const v8 l0 = SEL(below, col[0], zero);                               \
      for (size_t q = e + 1; q < nb; q++) {                                 \
        v8 *cq = (v8 *)(p + q * ld);                                        \
        const double u = cq[0][e];                                          \
        cq[0] -= l0 * u;                                                    \
        for (size_t b = 1; b < blocks; b++)                                 \
          cq[b] -= col[b] * u;                                              \
      }                                                                     \
    }                                                                       \
    return 0;                                                               \
  }                                                                         \
                                                                            \
  /* Rows k0 .. n-1 of panel c: copied out to p, factored, the swaps and    \
     pivots applied to a; then the rows right of the panel updated. */      \
  attr static int name##_step(v8 *restrict a, size_t n, size_t w, size_t c, \
                              double *restrict p, double *s,                \
                              prefetcher *pf) {                             \
    const size_t k0 = c * L, m = n - k0, nb = m < L ? m : L,                \
                 ld = (m + L - 1) / L * L;                                  \
    const v8 zero = {0};                                                    \
    size_t piv[L];                                                          \
    for (size_t i = 0; i < m; i++) {                                        \
      const v8 x = a[(k0 + i) * w + c];                                     \
      _Pragma("GCC unroll 8") for (int q = 0; q < L; q++)                   \
        p[q * ld + i] = x[q];                                               \
    }                                                                       \
    for (size_t i = m; i < ld; i++)                                         \
      _Pragma("GCC unroll 8") for (int q = 0; q < L; q++)                   \
        p[q * ld + i] = 0;                                                  \
    if (name##_panel(p, m, ld, nb, piv, s) != 0)                            \
      return 1;                                                             \
    for (size_t e = 0; e < nb; e++) {                                       \
      a[(k0 + e) * w + c][e] = p[e * ld + e];                               \
      if (piv[e] != e) {                                                    \
        v8 *x = a + (k0 + e) * w, *y = a + (k0 + piv[e]) * w;               \
        for (size_t j = c + 1; j < w; j++) {                                \
          v8 t = x[j];                                                      \
          x[j] = y[j];                                                      \
          y[j] = t;                                                         \
        }                                                                   \
      }                                                                     \
    }                                                                       \
    if (m <= L)                                                             \
      return 0;                                                             \
    const v8 *u = a + k0 * w;                                               \
    for (size_t r = 1; r < L; r++) {                                        \
      v8 *ar = a + (k0 + r) * w;                                            \
      for (size_t q = 0; q < r; q++) {                                      \
        const double l = p[q * ld + r];                                     \
        for (size_t j = c + 1; j < w; j++)                                  \
          ar[j] -= l * u[q * w + j];                                        \
      }                                                                     \
    }                                                                       \
    /* Two vectors of the pivot rows in registers, down every row below. */ \
    size_t j = c + 1;                                                       \
    for (; j + 2 <= w; j += 2) {                                            \
      v8 u0[L], u1[L];                                                      \
      _Pragma("GCC unroll 8") for (int q = 0; q < L; q++) {                 \
        u0[q] = u[q * w + j];                                               \
        u1[q] = u[q * w + j + 1];                                           \
      }                                                                     \
      for (size_t i = L; i < m; i++) {                                      \
        prefetch_step(pf);                                                  \
        v8 *x = a + (k0 + i) * w + j, t0 = x[0], t1 = x[1];                 \
        _Pragma("GCC unroll 8") for (int q = 0; q < L; q++) {               \
          const v8 l = zero + p[q * ld + i];                                \
          t0 -= l * u0[q];                                                  \
          t1 -= l * u1[q];                                                  \
        }                                                                   \
        x[0] = t0;                                                          \
        x[1] = t1;                                                          \
      }                                                                     \
    }                                                                       \
    if (j < w) {                                                            \
      v8 u0[L];                                                             \
      _Pragma("GCC unroll 8") for (int q = 0; q < L; q++)                   \
        u0[q] = u[q * w + j];                                               \
      for (size_t i = L; i < m; i++) {                                      \
        v8 *x = a + (k0 + i) * w + j, t0 = x[0];                            \
        _Pragma("GCC unroll 8") for (int q = 0; q < L; q++)                 \
          t0 -= (zero + p[q * ld + i]) * u0[q];                             \
        x[0] = t0;                                                          \
      }                                                                     \
    }                                                                       \
    return 0;                                                               \
  }                                                                         \
                                                                            \
  /* x copied to a with rows padded to whole vectors, and factored there.   \
     Returns 0 with *sign and the pivots on a's diagonal; 1 on a subnormal  \
     pivot, whose reciprocal overflows (the caller divides); 2 if x has a   \
     NaN. */                                                                \
  attr static int name(const double *x, size_t n, v8 *restrict a,           \
                       double *restrict p, double *sign, const char *next) { \
    const size_t w = (n + L - 1) / L; /* vectors a row, and panels */       \
    m8 nan = {0};                                                           \
    for (size_t i = 0; i < n; i++) {                                        \
      const double *xi = x + i * n;                                         \
      size_t j = 0;                                                         \
      for (; j + L <= n; j += L) {                                          \
        v8 v;                                                               \
        memcpy(&v, xi + j, sizeof v);                                       \
        nan |= v != v;                                                      \
        a[i * w + j / L] = v;                                               \
      }                                                                     \
      if (j < n) {                                                          \
        v8 v = {0};                                                         \
        for (size_t q = 0; j + q < n; q++)                                  \
          v[q] = xi[j + q];                                                 \
        nan |= v != v;                                                      \
        a[i * w + j / L] = v;                                               \
      }                                                                     \
    }                                                                       \
    for (int q = 0; q < L; q++)                                             \
      if (nan[q] != 0)                                                      \
        return 2;                                                           \
    /* The next matrix comes from memory while this one is factored in      \
       cache, a line every so many rows updated: an even stream. */         \
    size_t rows = 1;                                                        \
    for (size_t c = 0; (c + 1) * L < n; c++)                                \
      rows += (n - (c + 1) * L) * ((w - c) / 2);                            \
    prefetcher pf = {next, 0, 0, 0};                                        \
    if (next != NULL) {                                                     \
      pf.left = (n * n * sizeof(double) + 63) / 64;                         \
      pf.every = rows / pf.left > 0 ? rows / pf.left : 1;                   \
    }                                                                       \
    double s = 1;                                                           \
    for (size_t c = 0; c < w; c++)                                          \
      if (name##_step(a, n, w, c, p, &s, &pf) != 0)                         \
        return 1;                                                           \
    *sign = s;                                                              \
    return 0;                                                               \
  }

typedef int mid_fn(const double *x, size_t n, v8 *a, double *p, double *sign,
                   const char *next);

VERSIONS(DEFINE_MID, mid, mid_fn)

/* Rows padded to whole vectors (also the division fallback's n * n), then
   the panel's L columns. */
static size_t mid_scratch(size_t n) {
  const size_t ld = (n + L - 1) / L * L;
  return ALIGN + (n + L) * ld * sizeof(double);
}

/* One matrix x through the middle path, in w (mid_scratch(n) bytes). */
static void mid(const double *x, const char *next, size_t n, void *w,
                mid_fn *lu, int slog, double *out) {
  const size_t ld = (n + L - 1) / L * L;
  double *a = aligned(w), *p = a + n * ld, sign = 1;

  switch (lu(x, n, (v8 *)a, p, &sign, next)) {
  case 0:
    finish(a, ld + 1, n, sign, slog, out);
    break;
  case 1:
    lu_div(x, n, a, slog, out);
    break;
  default:
    put_nan(slog, out);
  }
}

static size_t small_scratch(size_t n) {
  return ALIGN + L * n * n * sizeof(double) + big_scratch(n);
}

static void small(const pk_task *t, size_t lo, size_t hi, size_t n,
                  int slog) {
  double *a = aligned(t->scratch);
  void *w = a + L * n * n; /* for the odd matrix with a subnormal pivot */
  group_fn *group = pick_group();
  v8 u[SMALL], sg;
  m8 nan, tiny;

  for (size_t g = lo; g < hi; g += L) {
    int cnt = hi - g < L ? (int)(hi - g) : L;
    const char *x = t->in + g * t->in_stride;

    /* The group after next, while this one computes: a group is too
     * short a run of cache lines for the hardware prefetcher alone. */
    if (hi - g > 2 * L) {
      size_t ahead = hi - g - 2 * L < L ? hi - g - 2 * L : L;
      for (size_t b = 0; b < ahead * t->in_stride; b += 64)
        __builtin_prefetch(x + 2 * L * t->in_stride + b);
    }
    group(x, t->in_stride, cnt, (int)n, (v8 *)a, u, &sg, &nan, &tiny);
    for (int l = 0; l < cnt; l++) {
      double *out = (double *)(t->out + (g + l) * t->out_stride);
      if (nan[l])
        put_nan(slog, out);
      else if (tiny[l])
        lu_div((const double *)(x + l * t->in_stride), n, aligned(w), slog,
               out);
      else
        finish((double *)u + l, L, n, sg[l], slog, out);
    }
  }
}

/* --------------------------------------------------------------- tables */

static pk_status run(const pk_task *t, size_t lo, size_t hi, int slog) {
  size_t n = t->in_item.shape[0];

  if (n == 0) {
    for (size_t i = lo; i < hi; i++) {
      double *out = (double *)(t->out + i * t->out_stride);
      out[0] = 1;
      if (slog)
        out[1] = 0;
    }
  } else if (n <= SMALL) {
    small(t, lo, hi, n, slog);
  } else if (n <= MID) {
    mid_fn *lu = pick_mid();
    for (size_t i = lo; i < hi; i++)
      mid((const double *)(t->in + i * t->in_stride),
          i + 1 < hi ? t->in + (i + 1) * t->in_stride : NULL, n, t->scratch,
          lu, slog, (double *)(t->out + i * t->out_stride));
  } else {
    for (size_t i = lo; i < hi; i++)
      big((const double *)(t->in + i * t->in_stride), n, t->scratch, slog,
          (double *)(t->out + i * t->out_stride));
  }
  return PK_OK;
}

static pk_status check(const pk_kernel *k, const pk_item *in, char *msg,
                       size_t len) {
  if (in->dtype != PK_F64) {
    snprintf(msg, len, "%s takes float64 matrices; this item's dtype is "
             "not float64", k->name);
    return PK_EDTYPE;
  }
  if (in->ndim != 2) {
    snprintf(msg, len, "%s takes square matrices (2-D items); this item "
             "has %d dimension%s", k->name, in->ndim, in->ndim == 1 ? "" : "s");
    return PK_ESHAPE;
  }
  if (in->shape[0] != in->shape[1]) {
    snprintf(msg, len, "%s takes square matrices; this item is %zu x %zu",
             k->name, in->shape[0], in->shape[1]);
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
  out->dtype = PK_F64;
  out->ndim = 0;
  return PK_OK;
}

static pk_status slogdet_shape(const pk_kernel *k, const pk_item *in,
                               pk_item *out, char *msg, size_t len) {
  pk_status st = check(k, in, msg, len);
  if (st != PK_OK)
    return st;
  memset(out, 0, sizeof *out);
  out->dtype = PK_F64;
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
 * Nanoseconds per matrix on one core, fitted to measurements on an AVX-512
 * Xeon: the small path does 2/3 n^3 flops in 8 lanes plus the copy; the
 * middle one pays for its panels (n^2) and then runs at 20-35 GFLOP/s
 * (n = 100 to 256); dgetrf has a fixed call cost and then speeds up with n.
 */
static double cost(const pk_kernel *k, const pk_item *in) {
  double n = (double)in->shape[0];
  (void)k;
  if (n <= SMALL)
    return 20 + 0.6 * n * n + 0.1 * n * n * n;
  if (n <= MID)
    return 1200 + 1.6 * n * n + 0.012 * n * n * n;
  return 1500 + 0.05 * n * n * n; /* monotone across the switch */
}

static size_t scratch(const pk_kernel *k, const pk_item *in) {
  size_t n = in->shape[0];
  (void)k;
  return n <= SMALL ? small_scratch(n)
         : n <= MID ? mid_scratch(n)
                    : big_scratch(n);
}

static const pk_kernel det_k = {
    .name = "det",
    .shape = det_shape,
    .run = det_run,
    .cost = cost,
    .scratch = scratch,
    .grain = L,
};

static const pk_kernel slogdet_k = {
    .name = "slogdet",
    .shape = slogdet_shape,
    .run = slogdet_run,
    .cost = cost,
    .scratch = scratch,
    .grain = L,
};

const pk_kernel *pk_kernel_det(void) { return &det_k; }

const pk_kernel *pk_kernel_slogdet(void) { return &slogdet_k; }
