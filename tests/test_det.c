/* The det and slogdet kernels, called through their tables directly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <parkit.h>
#include <parkit/kernels.h>

#include <lapacke.h>

#include <complex.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* C11's CMPLX, which glibc's complex.h defines only for GCC, not clang. */
#ifndef CMPLX
#define CMPLX(x, y) ((union { double d[2]; double complex z; }){{(x), (y)}}.z)
#endif

#define BIG 25 /* past every small path: a matrix embedded in one this size
                  takes another path than it does itself */

/* The instruction-set path every run below uses (main runs them all). */
static pk_isa isa = PK_ISA_GENERIC;

/* ------------------------------------------------------------- helpers */

/* xorshift64*: the same numbers on every machine. */
static uint64_t rng = 88172645463325252u;

static double unif(void) { /* [-1, 1) */
  rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
  return (double)((rng * 2685821657736338717u) >> 11) * 0x1p-52 - 1;
}

static int randint(int lo, int hi) { /* [lo, hi) */
  return lo + (int)((unif() + 1) / 2 * (hi - lo));
}

static double *random_matrix(size_t n) {
  double *a = malloc((n * n + 1) * sizeof *a);
  assert_non_null(a);
  for (size_t e = 0; e < n * n; e++)
    a[e] = unif();
  return a;
}

/*
 * Run kernel k on count n x n matrices at in (item stride in_stride bytes)
 * into out (out_stride bytes), items [lo, hi); returns run's status.
 */
static pk_status run_range(const pk_kernel *k, size_t n, const void *in,
                           size_t in_stride, void *out, size_t out_stride,
                           size_t lo, size_t hi) {
  pk_item it = {.dtype = PK_F64, .ndim = 2, .shape = {n, n}}, ot;
  char msg[256] = "";
  size_t bad = (size_t)-1;

  assert_int_equal(k->shape(k, &it, &ot, msg, sizeof msg), PK_OK);
  void *scratch = malloc(k->scratch(k, &it) + 1);
  assert_non_null(scratch);
  pk_task t = {.in = in, .out = out, .in_stride = in_stride,
               .out_stride = out_stride, .in_item = it, .out_item = ot,
               .first = 0, .scratch = scratch, .isa = isa};
  pk_status st = k->run(k, &t, lo, hi, &bad);
  free(scratch);
  return st;
}

/* Kernel k on count contiguous matrices. */
static void run_all(const pk_kernel *k, size_t n, const double *in,
                    size_t count, double *out) {
  size_t ow = k == pk_kernel_det() ? 1 : 2;
  assert_int_equal(run_range(k, n, in, n * n * sizeof *in, out,
                             ow * sizeof *out, 0, count),
                   PK_OK);
}

static double det(size_t n, const double *a) {
  double d;
  run_all(pk_kernel_det(), n, a, 1, &d);
  return d;
}

static void slogdet(size_t n, const double *a, double *sign, double *lg) {
  double r[2];
  run_all(pk_kernel_slogdet(), n, a, 1, r);
  *sign = r[0];
  *lg = r[1];
}

/* Both kernels agree with an expected det d (tolerance tol, absolute). */
static void check(size_t n, const double *a, double d, double tol) {
  double got = det(n, a), sign, lg;

  if (!(fabs(got - d) <= tol))
    fail_msg("n=%zu: det %.17g, expected %.17g (tol %g)", n, got, d, tol);
  slogdet(n, a, &sign, &lg);
  if (d == 0 && tol == 0) {
    assert_true(sign == 0 && lg == -INFINITY);
    return;
  }
  if (fabs(d) <= tol) /* the sign is not determined */
    return;
  assert_true(sign == (d > 0 ? 1 : -1));
  if (!(fabs(lg - log(fabs(d))) <= tol / fabs(d) + 1e-14 * fabs(lg)))
    fail_msg("n=%zu: log|det| %.17g, expected %.17g", n, lg, log(fabs(d)));
}

/* Hadamard's bound on |det a|: the product of the rows' lengths. */
static double hadamard(size_t n, const double *a) {
  double h = 1;
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t j = 0; j < n; j++)
      s += a[i * n + j] * a[i * n + j];
    h *= sqrt(s);
  }
  return h;
}

/* Laplace expansion along the first row, in long double complex (a real matrix's
   imaginary parts stay exactly 0). */
static long double complex zlaplace(size_t n, const double complex *a) {
  if (n == 0)
    return 1;
  if (n == 1)
    return a[0];
  long double complex s = 0;
  double complex *m = malloc((n - 1) * (n - 1) * sizeof *m);
  assert_non_null(m);
  for (size_t c = 0; c < n; c++) {
    size_t e = 0;
    for (size_t i = 1; i < n; i++)
      for (size_t j = 0; j < n; j++)
        if (j != c)
          m[e++] = a[i * n + j];
    long double complex t = a[c] * zlaplace(n - 1, m);
    s += c % 2 ? -t : t;
  }
  free(m);
  return s;
}

static long double laplace(size_t n, const double *a) {
  double complex *z = malloc((n * n + 1) * sizeof *z);
  assert_non_null(z);
  for (size_t e = 0; e < n * n; e++)
    z[e] = a[e];
  long double d = creall(zlaplace(n, z));
  free(z);
  return d;
}

/* det and log|det| through LAPACK, computed here, independently. */
static double lapack_det(size_t n, const double *a, double *lg) {
  double *w = malloc(n * n * sizeof *w + 1);
  lapack_int *ipiv = malloc(n * sizeof *ipiv + 1);
  double d = 1;
  *lg = 0;
  assert_true(w && ipiv);
  memcpy(w, a, n * n * sizeof *w);
  LAPACKE_dgetrf_work(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, w,
                      (lapack_int)n, ipiv);
  for (size_t k = 0; k < n; k++) {
    d *= w[k * n + k];
    *lg += log(fabs(w[k * n + k]));
    if (ipiv[k] != (lapack_int)k + 1)
      d = -d;
  }
  free(w);
  free(ipiv);
  return d;
}

/* b = a with its rows permuted by perm; returns the permutation's sign. */
static double permute_rows(size_t n, const double *a, const size_t *perm,
                           double *b) {
  double sign = 1;
  size_t *seen = calloc(n + 1, sizeof *seen);
  assert_non_null(seen);
  for (size_t i = 0; i < n; i++)
    memcpy(b + i * n, a + perm[i] * n, n * sizeof *b);
  for (size_t i = 0; i < n; i++) { /* sign from the cycles */
    size_t len = 0;
    for (size_t j = i; !seen[j]; j = perm[j], len++)
      seen[j] = 1;
    if (len > 0 && len % 2 == 0)
      sign = -sign;
  }
  free(seen);
  return sign;
}

static void random_perm(size_t n, size_t *perm) {
  for (size_t i = 0; i < n; i++)
    perm[i] = i;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)randint(0, (int)i), t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
}

/* The n x n block diagonal [[a, 0], [0, I]] of the m x m matrix a. */
static double *embed(size_t m, const double *a, size_t n) {
  double *b = calloc(n * n + 1, sizeof *b);
  assert_non_null(b);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      b[i * n + j] = i < m && j < m ? a[i * m + j] : i == j;
  return b;
}

static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16,
                               17, 20, 33, 64};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* ------------------------------------------------------- closed forms */

static void test_empty_and_one(void **state) {
  double sign, lg, a[1] = {-2.5};
  (void)state;

  assert_true(det(0, a) == 1);
  slogdet(0, a, &sign, &lg);
  assert_true(sign == 1 && lg == 0);

  assert_true(det(1, a) == -2.5);
  slogdet(1, a, &sign, &lg);
  assert_true(sign == -1 && lg == log(2.5));

  a[0] = 0;
  assert_true(det(1, a) == 0);
  slogdet(1, a, &sign, &lg);
  assert_true(sign == 0 && lg == -INFINITY);
}

static void test_identity_diagonal(void **state) {
  (void)state;
  for (size_t s = 0; s < NSIZES; s++) {
    size_t n = sizes[s];
    double *a = calloc(n * n, sizeof *a), sign, lg;
    assert_non_null(a);
    for (size_t i = 0; i < n; i++)
      a[i * n + i] = 1;
    assert_true(det(n, a) == 1);
    slogdet(n, a, &sign, &lg);
    assert_true(sign == 1 && lg == 0);

    /* Powers of two: the product is exact. */
    double d = 1;
    for (size_t i = 0; i < n; i++) {
      a[i * n + i] = ldexp(i % 2 ? -1 : 1, randint(-20, 20));
      d *= a[i * n + i];
    }
    assert_true(det(n, a) == d);
    slogdet(n, a, &sign, &lg);
    assert_true(sign == (d > 0 ? 1 : -1));
    assert_true(fabs(lg - log(fabs(d))) <= 1e-13 * (1 + fabs(lg)));

    d = 1;
    for (size_t i = 0; i < n; i++)
      d *= a[i * n + i] = unif() * 4;
    check(n, a, d, 1e-15 * (double)n * fabs(d));
    free(a);
  }
}

static void test_triangular(void **state) {
  (void)state;
  for (size_t s = 0; s < NSIZES; s++) {
    size_t n = sizes[s];
    for (int lower = 0; lower < 2; lower++) {
      double *a = calloc(n * n, sizeof *a), d = 1;
      assert_non_null(a);
      for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
          if (lower ? j < i : j > i)
            a[i * n + j] = unif();
      for (size_t i = 0; i < n; i++) /* pivots well away from zero */
        d *= a[i * n + i] = (unif() < 0 ? -1 : 1) * (1 + unif() / 2);
      check(n, a, d, 1e-12 * (double)n * hadamard(n, a));
      free(a);
    }
  }
}

static void test_permutation(void **state) {
  (void)state;
  for (size_t s = 0; s < NSIZES; s++) {
    size_t n = sizes[s], perm[64];
    double *id = calloc(n * n, sizeof *id), *p = malloc(n * n * sizeof *p);
    assert_true(id && p);
    for (size_t i = 0; i < n; i++)
      id[i * n + i] = 1;
    for (int rep = 0; rep < 5; rep++) {
      random_perm(n, perm);
      double sign = permute_rows(n, id, perm, p), sg, lg;
      assert_true(det(n, p) == sign);
      slogdet(n, p, &sg, &lg);
      assert_true(sg == sign && lg == 0);
    }
    free(id);
    free(p);
  }
}

static void test_formulas(void **state) {
  (void)state;
  for (int rep = 0; rep < 200; rep++) {
    double a[4] = {unif(), unif(), unif(), unif()};
    double d2 = a[0] * a[3] - a[1] * a[2];
    check(2, a, d2, 4 * DBL_EPSILON * hadamard(2, a));

    double b[9];
    for (int e = 0; e < 9; e++)
      b[e] = randint(-9, 10);
    double d3 = b[0] * (b[4] * b[8] - b[5] * b[7]) -
                b[1] * (b[3] * b[8] - b[5] * b[6]) +
                b[2] * (b[3] * b[7] - b[4] * b[6]);
    check(3, b, d3, 1e-13 * hadamard(3, b));
  }
}

static void test_pivoting(void **state) {
  (void)state;
  const double swap2[4] = {0, 1, 1, 0};
  const double a3[9] = {0, 2, 1, 1, 1, 1, 2, 1, 0}; /* det = 3 */
  const double z3[9] = {0, 0, 1, 0, 1, 0, 1, 0, 0}; /* anti-diagonal: -1 */

  check(2, swap2, -1, 0);
  check(3, a3, 3, 1e-14);
  check(3, z3, -1, 0);
  for (size_t n = 4; n <= 40; n += 12) { /* both paths */
    double *b = embed(3, a3, n);
    check(n, b, 3, 1e-14);
    free(b);
    b = embed(2, swap2, n);
    check(n, b, -1, 0);
    free(b);
  }
}

static void test_scaled(void **state) {
  (void)state;
  for (size_t s = 0; s < NSIZES; s++) {
    size_t n = sizes[s];
    double *a = random_matrix(n), *b = malloc(n * n * sizeof *b + 1);
    assert_non_null(b);
    double d = det(n, a);

    /* By 2: every step of LU scales exactly. */
    for (size_t e = 0; e < n * n; e++)
      b[e] = 2 * a[e];
    assert_true(det(n, b) == ldexp(d, (int)n));
    for (size_t e = 0; e < n * n; e++)
      b[e] = -3 * a[e];
    double c = pow(-3, (double)n);
    check(n, b, c * d, 1e-12 * (double)n * hadamard(n, b));
    free(a);
    free(b);
  }
}

static void test_singular(void **state) {
  (void)state;
  for (size_t s = 0; s < NSIZES; s++) {
    size_t n = sizes[s];
    if (n < 2)
      continue;
    double *a = malloc(n * n * sizeof *a);
    assert_non_null(a);

    /* A zero column: its pivot is exactly 0 whatever the order. */
    for (size_t e = 0; e < n * n; e++)
      a[e] = randint(-5, 5);
    size_t c = (size_t)randint(0, (int)n);
    for (size_t i = 0; i < n; i++)
      a[i * n + c] = 0;
    check(n, a, 0, 0);

    /* A repeated row that is also the first pivot row (its leading 8 is
     * the largest), so elimination cancels the copy exactly. */
    for (size_t e = 0; e < n * n; e++)
      a[e] = randint(-3, 4);
    a[0] = 8;
    size_t r = (size_t)randint(1, (int)n);
    memcpy(a + r * n, a, n * sizeof *a);
    check(n, a, 0, 0);
    free(a);
  }
}

static void test_nan(void **state) {
  (void)state;
  for (size_t s = 0; s < NSIZES; s++) {
    size_t n = sizes[s], count = 11;
    size_t where[] = {0, n * n - 1, n * n / 2, n - 1};
    for (size_t w = 0; w < 4; w++) {
      double *a = malloc(count * n * n * sizeof *a), d[11], r[22];
      assert_non_null(a);
      for (size_t e = 0; e < count * n * n; e++)
        a[e] = randint(-5, 5);
      /* Item 3 has a NaN; item 5 also a zero column, which LU alone would
       * report as singular. */
      a[3 * n * n + where[w]] = NAN;
      for (size_t i = 0; i < n; i++)
        a[5 * n * n + i * n + where[w] % n] = 0;
      a[5 * n * n + where[w]] = NAN;
      run_all(pk_kernel_det(), n, a, count, d);
      run_all(pk_kernel_slogdet(), n, a, count, r);
      for (size_t i = 0; i < count; i++) {
        int bad = i == 3 || i == 5;
        double sign = r[2 * i], lg = r[2 * i + 1];
        if (!bad) { /* the others are untouched by their neighbours */
          assert_true(d[i] == det(n, a + i * n * n));
          continue;
        }
        /* numpy's convention (numpy_det.sh compares the values): the
           sign is -1, 0 or 1, never NaN; log|det| is NaN, or -inf with
           sign 0 (an exact zero pivot); det is sign * exp(log). */
        assert_true(sign == -1 || sign == 0 || sign == 1);
        assert_true(sign == 0 ? lg == -INFINITY : isnan(lg));
        assert_true(sign == 0 ? d[i] == 0 : isnan(d[i]));
      }
      free(a);
    }
  }
}

/* An infinite entry: numpy's +-inf, not NaN.  Identity with a[0][0] =
   +-inf: one pivot +-inf, the others 1, so det = +-inf, log|det| = inf. */
static void test_inf(void **state) {
  (void)state;
  const size_t ns[] = {1, 2, 3, 10, 17, 30, 40, 100, 600};
  for (size_t s = 0; s < sizeof ns / sizeof *ns; s++) {
    size_t n = ns[s];
    double *a = calloc(n * n, sizeof *a), sign, lg;
    assert_non_null(a);
    for (size_t i = 0; i < n; i++)
      a[i * n + i] = 1;
    for (int neg = 0; neg < 2; neg++) {
      a[0] = neg ? -INFINITY : INFINITY;
      double d = det(n, a);
      slogdet(n, a, &sign, &lg);
      if (!(d == a[0] && sign == (neg ? -1 : 1) && lg == INFINITY))
        fail_msg("%s n=%zu: det %g, slogdet (%g, %g)", pk_isa_name(isa), n,
                 d, sign, lg);
    }
    /* Nine such matrices, signs alternating: a whole group of lanes and
       one more, which the small path reads in two ways. */
    if (n <= 40) {
      double *b = malloc(9 * n * n * sizeof *b), d9[9];
      assert_non_null(b);
      for (size_t i = 0; i < 9; i++) {
        memcpy(b + i * n * n, a, n * n * sizeof *a);
        b[i * n * n] = i % 2 ? -INFINITY : INFINITY;
      }
      run_all(pk_kernel_det(), n, b, 9, d9);
      for (size_t i = 0; i < 9; i++)
        if (d9[i] != b[i * n * n])
          fail_msg("%s n=%zu, item %zu of 9: det %g", pk_isa_name(isa), n, i,
                   d9[i]);
      free(b);
    }
    free(a);
  }
}

/*
 * numpy's slogdet of a matrix with a NaN or an infinity, computed as numpy
 * computes it: dgetrf on the column-major copy; info > 0 gives (0, -inf),
 * else the sign of the permutation and of each pivot and the sum of the
 * logs of the pivots' moduli.  Its det is sign * exp(log).
 */
static void numpy_slogdet(size_t n, const double *x, double *sign,
                          double *lg) {
  double *w = malloc(n * n * sizeof *w + 1);
  lapack_int *ipiv = malloc(n * sizeof *ipiv + 1);
  assert_true(w && ipiv);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      w[j * n + i] = x[i * n + j];
  *sign = 1;
  *lg = 0;
  if (LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)n, w,
                          (lapack_int)n, ipiv) > 0) {
    *sign = 0;
    *lg = -INFINITY;
  } else {
    for (size_t k = 0; k < n; k++) {
      double d = w[k * n + k];
      if (ipiv[k] != (lapack_int)k + 1)
        *sign = -*sign;
      if (d < 0) {
        *sign = -*sign;
        d = -d;
      }
      *lg += log(d);
    }
  }
  free(w);
  free(ipiv);
}

static int same(double x, double y) {
  return x == y || (isnan(x) && isnan(y));
}

/*
 * A NaN, +inf or -inf at every place of a matrix, in every lane of the
 * small path's groups, in matrices that are random, that have a zero
 * column (a zero pivot, whose step multiplies by 0), or that are 0 but for
 * it: each gives numpy's values, and its neighbours their own.  The small
 * path finds such lanes from the product of their pivots; one missed would
 * give the product's value here, not numpy's.
 */
static void test_nonfinite_anywhere(void **state) {
  (void)state;
  const size_t ns[] = {2, 3, 4, 5, 7, 10, 12, 17, 24};
  const double bads[] = {NAN, INFINITY, -INFINITY};
  for (size_t s = 0; s < sizeof ns / sizeof *ns; s++)
    for (int base = 0; base < 3; base++)
      for (size_t b = 0; b < 3; b++) {
        const size_t n = ns[s], nn = n * n, count = 3 * nn;
        double *a = malloc(count * nn * sizeof *a);
        double *d = malloc(count * sizeof *d);
        double *r = malloc(2 * count * sizeof *r);
        assert_true(a && d && r);
        /* Items 3e, 3e + 1, 3e + 2: clean, the value at place e, at place
           nn - 1 - e; 3 is prime to the groups' 8 and 32 matrices, so the
           items with the value fall in every lane. */
        for (size_t i = 0; i < count; i++) {
          double *x = a + i * nn;
          const size_t e = i / 3;
          for (size_t f = 0; f < nn; f++)
            x[f] = base == 2 ? 0 : randint(-5, 6);
          if (base == 1)
            for (size_t k = 0; k < n; k++)
              x[k * n + e % n] = 0;
          if (i % 3)
            x[i % 3 == 1 ? e : nn - 1 - e] = bads[b];
        }
        run_all(pk_kernel_det(), n, a, count, d);
        run_all(pk_kernel_slogdet(), n, a, count, r);
        for (size_t i = 0; i < count; i++) {
          const double *x = a + i * nn;
          double sign, lg;
          if (i % 3 == 0) { /* clean: as the matrix alone */
            double alone = det(n, x);
            if (!same(d[i], alone))
              fail_msg("%s n=%zu item %zu: det %g, alone %g",
                       pk_isa_name(isa), n, i, d[i], alone);
            continue;
          }
          numpy_slogdet(n, x, &sign, &lg);
          if (!same(r[2 * i], sign) || !same(r[2 * i + 1], lg) ||
              !same(d[i], sign * exp(lg)))
            fail_msg("%s n=%zu base %d, %g at %zu: det %g, slogdet (%g, %g);"
                     " numpy's (%g, %g)",
                     pk_isa_name(isa), n, base, bads[b],
                     i % 3 == 1 ? i / 3 : nn - 1 - i / 3, d[i], r[2 * i],
                     r[2 * i + 1], sign, lg);
        }
        free(a);
        free(d);
        free(r);
      }
}

static void test_range(void **state) {
  (void)state;
  double sign, lg;

  /* diag(1e200, 1e200, 1e-300): the running product overflows. */
  double a[9] = {1e200, 0, 0, 0, 1e200, 0, 0, 0, 1e-300};
  double want = 1e200 * (1e200 * 1e-300);
  check(3, a, want, 1e-15 * want);
  slogdet(3, a, &sign, &lg);
  assert_true(sign == 1);
  assert_true(fabs(lg - (2 * log(1e200) + log(1e-300))) <= 1e-13 * 100);

  /* ... and underflows. */
  double b[9] = {1e-200, 0, 0, 0, -1e-200, 0, 0, 0, 1e300};
  want = -(1e-200 * (1e-200 * 1e300));
  check(3, b, want, 1e-15 * fabs(want));

  /* The LAPACK path: ten times 1e200 then ten times 1e-190 is 1e100. */
  double *c = calloc(20 * 20, sizeof *c);
  assert_non_null(c);
  for (size_t i = 0; i < 20; i++)
    c[i * 20 + i] = i < 10 ? 1e200 : 1e-190;
  check(20, c, 1e100, 1e-13 * 1e100);

  /* A result that is itself out of range: +-inf, 0, as numpy. */
  for (size_t i = 0; i < 20; i++)
    c[i * 20 + i] = 1e200;
  assert_true(det(20, c) == INFINITY);
  slogdet(20, c, &sign, &lg);
  assert_true(sign == 1 && fabs(lg - 20 * log(1e200)) < 1e-10);
  free(c);

  /* A subnormal pivot: 1/pivot overflows, the kernel must still work. */
  double t[4] = {1e-310, 0, 0, 1e300};
  want = 1e-310 * 1e300;
  check(2, t, want, 1e-15 * want);
  c = calloc(20 * 20, sizeof *c);
  assert_non_null(c);
  for (size_t i = 0; i < 20; i++)
    c[i * 20 + i] = i == 7 ? 1e-310 : i == 8 ? 1e300 : 1;
  c[8 * 20 + 7] = 1e-320; /* below the subnormal pivot: divided, not 0 */
  check(20, c, want, 1e-15 * want);
  free(c);
  /* The same in the middle path, in its third panel of columns. */
  c = calloc(50 * 50, sizeof *c);
  assert_non_null(c);
  for (size_t i = 0; i < 50; i++)
    c[i * 50 + i] = i == 17 ? 1e-310 : i == 18 ? 1e300 : 1;
  c[18 * 50 + 17] = 1e-320;
  check(50, c, want, 1e-15 * want);
  free(c);
}

/*
 * Batches as large as the small path takes in one call (PK__DET_WIDE, 32)
 * and past it, with the matrices its caller finishes itself in every part
 * of them: a product of pivots out of range, a subnormal pivot, a NaN; at
 * 50 and 100 the same in the middle path's pairs.
 */
static void test_batch_lanes(void **state) {
  (void)state;
  const size_t ns[] = {3, 5, 12, 50, 100};
  for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++) {
    const size_t n = ns[s], count = 45;
    double *a = malloc(count * n * n * sizeof *a), want[45];
    double *d = malloc(count * sizeof *d), *r = malloc(2 * count * sizeof *r);
    assert_true(a && d && r);
    for (size_t i = 0; i < count; i++) {
      double *x = a + i * n * n, lg;
      for (size_t e = 0; e < n * n; e++)
        x[e] = unif();
      if (i % 7 == 3 || i % 7 == 5) {
        for (size_t e = 0; e < n * n; e++)
          x[e] = e % (n + 1) == 0;
        if (i % 7 == 3) { /* the running product overflows */
          x[0] = x[n + 1] = 1e200;
          x[2 * n + 2] = i % 2 ? -1e-300 : 1e-300;
          want[i] = x[2 * n + 2] * 1e200 * 1e200;
          if (i % 3) { /* rows 0 and 1 swapped: the sign too */
            x[1] = x[n] = 1e200;
            x[0] = x[n + 1] = 0;
            want[i] = -want[i];
          }
        } else { /* a subnormal pivot, a smaller number below it */
          x[0] = 1e-310;
          x[n + 1] = 1e300;
          x[n] = 1e-320;
          want[i] = 1e-310 * 1e300;
        }
      } else if (i % 7 == 0 && i % 2) {
        x[n * n / 2] = NAN;
        want[i] = NAN;
      } else {
        want[i] = lapack_det(n, x, &lg);
      }
    }
    run_all(pk_kernel_det(), n, a, count, d);
    run_all(pk_kernel_slogdet(), n, a, count, r);
    for (size_t i = 0; i < count; i++) {
      const double *x = a + i * n * n;
      const double tol = i % 7 == 3 || i % 7 == 5
                             ? 1e-15 * fabs(want[i])
                             : 1e-13 * n * hadamard(n, x);
      if (isnan(want[i])) { /* numpy's convention, as test_nan */
        const double sign = r[2 * i], lg = r[2 * i + 1];
        if (!(sign == -1 || sign == 0 || sign == 1) ||
            !(sign == 0 ? lg == -INFINITY && d[i] == 0
                        : isnan(lg) && isnan(d[i])))
          fail_msg("n=%zu item %zu: %g (%g, %g) for a NaN", n, i, d[i],
                   sign, lg);
        continue;
      }
      if (!(fabs(d[i] - want[i]) <= tol))
        fail_msg("n=%zu item %zu: det %.17g, expected %.17g", n, i, d[i],
                 want[i]);
      if (fabs(want[i]) > 1e3 * tol) {
        assert_true(r[2 * i] == (want[i] > 0 ? 1 : -1));
        if (!(fabs(r[2 * i + 1] - log(fabs(want[i]))) <= 1e-12 * n))
          fail_msg("n=%zu item %zu: log|det| %.17g, expected %.17g", n, i,
                   r[2 * i + 1], log(fabs(want[i])));
      }
    }
    free(a);
    free(d);
    free(r);
  }
}

/* --------------------------------------------- independent computations */

static void test_laplace(void **state) {
  (void)state;
  for (size_t n = 1; n <= 6; n++) {
    for (int rep = 0; rep < 100; rep++) {
      double *a = random_matrix(n);
      double d = (double)laplace(n, a);
      check(n, a, d, 1e-14 * hadamard(n, a));

      /* A path for larger n on the same matrix, rows shuffled into a
       * larger block diagonal matrix. */
      size_t m = BIG + n, perm[64];
      double *b = embed(n, a, m), *p = malloc(m * m * sizeof *p);
      assert_non_null(p);
      random_perm(m, perm);
      double sign = permute_rows(m, b, perm, p);
      check(m, p, sign * d, 1e-14 * hadamard(n, a));
      free(a);
      free(b);
      free(p);
    }
  }
}

static void test_vs_lapack(void **state) {
  (void)state;
  for (size_t n = 1; n <= 40; n++) {
    size_t count = 37;
    double *a = malloc(count * n * n * sizeof *a);
    double *d = malloc(count * sizeof *d), *r = malloc(2 * count * sizeof *r);
    assert_true(a && d && r);
    for (size_t e = 0; e < count * n * n; e++)
      a[e] = unif();
    for (size_t i = 0; i < count; i += 3) { /* a zero at the first pivot */
      a[i * n * n] = 0;
      if (i % 2 && n > 1) /* and a whole first column of small values */
        for (size_t j = 1; j < n; j++)
          a[i * n * n + j * n] *= 1e-3;
    }
    run_all(pk_kernel_det(), n, a, count, d);
    run_all(pk_kernel_slogdet(), n, a, count, r);
    for (size_t i = 0; i < count; i++) {
      const double *x = a + i * n * n;
      double lg, ref = lapack_det(n, x, &lg), tol = 1e-13 * n * hadamard(n, x);
      if (!(fabs(d[i] - ref) <= tol))
        fail_msg("n=%zu item %zu: det %.17g, LAPACK %.17g", n, i, d[i], ref);
      if (fabs(ref) > 1e3 * tol) { /* the sign is then beyond doubt */
        assert_true(r[2 * i] == (ref > 0 ? 1 : -1));
        assert_true(fabs(r[2 * i + 1] - lg) <= 2 * tol / fabs(ref) + 1e-12);
      }
    }
    free(a);
    free(d);
    free(r);
  }
}

/* ------------------------------------------------------------ chunking */

static void test_chunking(void **state) {
  (void)state;
  const size_t ns[] = {1, 3, 8, 10, 16, 17, 24};
  for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++) {
    size_t n = ns[s], count = 100;
    double *a = malloc(count * n * n * sizeof *a);
    double *whole = malloc(2 * count * sizeof *whole);
    double *piece = malloc(2 * count * sizeof *piece);
    assert_true(a && whole && piece);
    for (size_t e = 0; e < count * n * n; e++)
      a[e] = randint(-5, 5) + (e % 7 == 0 ? unif() : 0);
    a[17 * n * n] = NAN;
    for (int slog = 0; slog < 2; slog++) {
      const pk_kernel *k = slog ? pk_kernel_slogdet() : pk_kernel_det();
      size_t ow = (size_t)(slog + 1) * sizeof(double), st = n * n * 8;

      assert_int_equal(run_range(k, n, a, st, whole, ow, 0, count), PK_OK);
      memset(piece, 0x55, 2 * count * sizeof *piece);
      for (size_t i = 0; i < count; i++)
        assert_int_equal(run_range(k, n, a, st, piece, ow, i, i + 1), PK_OK);
      assert_memory_equal(whole, piece, count * ow);

      /* Uneven ranges: every matrix lands in another group and lane. */
      size_t cuts[] = {0, 3, 11, 12, 50, 61, 99, 100};
      memset(piece, 0x55, 2 * count * sizeof *piece);
      for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
        assert_int_equal(
            run_range(k, n, a, st, piece, ow, cuts[c], cuts[c + 1]), PK_OK);
      assert_memory_equal(whole, piece, count * ow);
    }
    free(a);
    free(whole);
    free(piece);
  }
}

static void test_strides(void **state) {
  (void)state;
  size_t n = 6, count = 13, is = (n * n + 3) * sizeof(double);
  char *in = calloc(count, is);
  double out[13 * 4], want[13];
  assert_non_null(in);
  for (size_t i = 0; i < count; i++) {
    double *x = (double *)(in + i * is);
    for (size_t e = 0; e < n * n; e++)
      x[e] = randint(-5, 5);
    want[i] = det(n, x);
  }
  for (size_t i = 0; i < 13 * 4; i++)
    out[i] = -7;
  assert_int_equal(run_range(pk_kernel_det(), n, in, is, out,
                             4 * sizeof(double), 0, count),
                   PK_OK);
  for (size_t i = 0; i < count; i++) {
    assert_true(out[4 * i] == want[i]);
    assert_true(out[4 * i + 1] == -7 && out[4 * i + 3] == -7);
  }
  free(in);
}

/* -------------------------------------------------------------- tables */

static void test_shape(void **state) {
  const pk_kernel *ks[2] = {pk_kernel_det(), pk_kernel_slogdet()};
  (void)state;
  assert_string_equal(ks[0]->name, "det");
  assert_string_equal(ks[1]->name, "slogdet");
  for (int i = 0; i < 2; i++) {
    const pk_kernel *k = ks[i];
    pk_item in = {.dtype = PK_F64, .ndim = 2, .shape = {5, 5}}, out;
    char msg[256];

    assert_int_equal(k->shape(k, &in, &out, msg, sizeof msg), PK_OK);
    assert_int_equal(out.dtype, PK_F64);
    assert_int_equal(out.ndim, i);
    if (i == 1)
      assert_int_equal(out.shape[0], 2);

    in.shape[1] = 4;
    msg[0] = 0;
    assert_int_equal(k->shape(k, &in, &out, msg, sizeof msg), PK_ESHAPE);
    assert_true(strlen(msg) > 0);

    pk_item v = {.dtype = PK_F64, .ndim = 1, .shape = {5}};
    msg[0] = 0;
    assert_int_equal(k->shape(k, &v, &out, msg, sizeof msg), PK_ESHAPE);
    assert_true(strlen(msg) > 0);

    pk_item t3 = {.dtype = PK_F64, .ndim = 3, .shape = {2, 2, 2}};
    msg[0] = 0;
    assert_int_equal(k->shape(k, &t3, &out, msg, sizeof msg), PK_ESHAPE);
    assert_true(strlen(msg) > 0);

    pk_item z = {.dtype = (pk_dtype)7, .ndim = 2, .shape = {5, 5}};
    msg[0] = 0;
    assert_int_equal(k->shape(k, &z, &out, msg, sizeof msg), PK_EDTYPE);
    assert_true(strlen(msg) > 0);
    pk_item c = {.dtype = PK_C128, .ndim = 2, .shape = {5, 5}};
    assert_int_equal(k->shape(k, &c, &out, msg, sizeof msg), PK_OK);
    assert_int_equal(out.dtype, PK_C128);
    assert_true(k->scratch(k, &c) >= 25 * sizeof(double complex));

    /* A short buffer still gets a terminated message. */
    char tiny[8];
    assert_int_equal(k->shape(k, &z, &out, tiny, sizeof tiny), PK_EDTYPE);
    assert_true(strlen(tiny) < sizeof tiny);

    /* A group of every path's lanes (2, 4, 8) fills whole vectors. */
    assert_int_equal(k->grain % 8, 0);
    double prev = 0;
    for (size_t n = 0; n <= 200; n++) {
      pk_item it = {.dtype = PK_F64, .ndim = 2, .shape = {n, n}};
      double c = k->cost(k, &it);
      assert_true(c > 0 && c >= prev);
      prev = c;
      assert_true(k->scratch(k, &it) >= n * n * sizeof(double));
    }
  }
}

/* Every path and crossover: n around the small paths' ends, the middle
 * path's panel edges, rows padded off multiples of 1 KiB (128), LAPACK,
 * and the middle path's end beside OpenBLAS kernels narrower than it. */
/* ------------------------------------------------------------ complex */

/* det (ow 1) or slogdet (ow 2) of count complex n x n matrices. */
static void zrun(const pk_kernel *k, size_t n, const double complex *in,
                 size_t count, double complex *out) {
  pk_item it = {.dtype = PK_C128, .ndim = 2, .shape = {n, n}}, ot;
  char msg[256] = "";
  size_t bad = (size_t)-1, ow = k == pk_kernel_det() ? 1 : 2;

  assert_int_equal(k->shape(k, &it, &ot, msg, sizeof msg), PK_OK);
  assert_int_equal(ot.dtype, PK_C128);
  void *scratch = malloc(k->scratch(k, &it) + 1);
  assert_non_null(scratch);
  pk_task t = {.in = (const char *)in, .out = (char *)out,
               .in_stride = n * n * sizeof *in, .out_stride = ow * sizeof *out,
               .in_item = it, .out_item = ot, .scratch = scratch, .isa = isa};
  assert_int_equal(k->run(k, &t, 0, count, &bad), PK_OK);
  free(scratch);
}

/* det, slogdet's sign and log|det| of a, against d (relative tol). */
static void zcheck(size_t n, const double complex *a, double complex d,
                   double tol) {
  double complex got, sl[2];
  zrun(pk_kernel_det(), n, a, 1, &got);
  zrun(pk_kernel_slogdet(), n, a, 1, sl);
  assert_true(cabs(got - d) <= tol * cabs(d));
  assert_true(cabs(sl[0] - d / cabs(d)) <= tol);
  assert_true(fabs(cimag(sl[1])) == 0);
  assert_true(fabs(creal(sl[1]) - log(cabs(d))) <= tol * (1 + fabs(log(cabs(d)))));
}

static void test_complex(void **state) {
  (void)state;
  double complex a[64 * 64], r[2];

  /* Random matrices against the Laplace expansion. */
  for (size_t n = 1; n <= 7; n++)
    for (int rep = 0; rep < 5; rep++) {
      for (size_t e = 0; e < n * n; e++)
        a[e] = CMPLX(unif(), unif());
      zcheck(n, a, (double complex)zlaplace(n, a), 1e-12);
    }
  /* A permuted diagonal: the permutation's sign times the product. */
  for (size_t n = 2; n <= 64; n += 31) {
    size_t perm[64];
    double complex d = 1;
    random_perm(n, perm);
    memset(a, 0, sizeof a);
    for (size_t i = 0; i < n; i++) {
      double complex z = CMPLX(randint(1, 4), randint(-3, 4));
      a[i * n + perm[i]] = z;
      d *= z;
    }
    for (size_t i = 0; i < n; i++) /* its sign: the parity of inversions */
      for (size_t j = i + 1; j < n; j++)
        if (perm[i] > perm[j])
          d = -d;
    zcheck(n, a, d, 1e-13);
  }
  /* (1+i)^8 = 16 exactly; 2^600 i twice and 2^-600 i twice, whose running
     product leaves the range of a double: i^4 = 1. */
  memset(a, 0, sizeof a);
  for (size_t i = 0; i < 8; i++)
    a[i * 9] = CMPLX(1, 1);
  zrun(pk_kernel_det(), 8, a, 1, r);
  assert_true(r[0] == 16);
  memset(a, 0, sizeof a);
  a[0] = a[5] = CMPLX(0, 0x1p600);
  a[10] = a[15] = CMPLX(0, 0x1p-600);
  zrun(pk_kernel_det(), 4, a, 1, r);
  assert_true(r[0] == 1);
  zrun(pk_kernel_slogdet(), 4, a, 1, r);
  assert_true(cabs(r[0] - 1) < 1e-15 && fabs(creal(r[1])) < 1e-12);
  /* A subnormal pivot, whose reciprocal overflows: divided by. */
  a[0] = CMPLX(0x1p-1030, 0), a[1] = 2, a[2] = 0, a[3] = 3;
  zrun(pk_kernel_det(), 2, a, 1, r);
  assert_true(r[0] == 3 * 0x1p-1030);
  /* Singular: a zero column, an exact zero pivot (equal rows cancel only
     to rounding in complex arithmetic).  Empty: 1 and {1, 0}.  A NaN:
     NaN. */
  for (size_t e = 0; e < 9; e++)
    a[e] = e % 3 == 1 ? 0 : CMPLX(unif(), unif());
  zrun(pk_kernel_det(), 3, a, 1, r);
  assert_true(r[0] == 0);
  zrun(pk_kernel_slogdet(), 3, a, 1, r);
  assert_true(r[0] == 0 && creal(r[1]) == -INFINITY);
  zrun(pk_kernel_det(), 0, a, 1, r);
  assert_true(r[0] == 1);
  zrun(pk_kernel_slogdet(), 0, a, 1, r);
  assert_true(r[0] == 1 && r[1] == 0);
  /* The NaN is the last pivot's only candidate: which of a NaN and a
     zero a BLAS's pivot search takes differs (OpenBLAS on aarch64 takes
     the zero, and zgetrf then reports a zero pivot, det 0, as numpy
     does there). */
  for (size_t e = 0; e < 9; e++)
    a[e] = e % 4 == 0 ? 1 : 0;
  a[8] = CMPLX(NAN, 0);
  zrun(pk_kernel_det(), 3, a, 1, r);
  assert_true(isnan(creal(r[0])));
}

static void test_vs_lapack_large(void **state) {
  (void)state;
  const size_t ns[] = {24, 25, 31, 32, 33, 36, 37, 40, 41, 63, 64, 100,
                       127, 128, 129, 256, 257, 300, 512, 513, 600,
                       1024, 1025};
  for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++) {
    size_t n = ns[s], count = 3;
    double *a = malloc(count * n * n * sizeof *a);
    double *d = malloc(count * sizeof *d), *r = malloc(2 * count * sizeof *r);
    assert_true(a && d && r);
    for (size_t e = 0; e < count * n * n; e++)
      a[e] = unif();
    a[n * n] = 0; /* item 1: a zero first pivot */
    run_all(pk_kernel_det(), n, a, count, d);
    run_all(pk_kernel_slogdet(), n, a, count, r);
    for (size_t i = 0; i < count; i++) {
      double lg, ref = lapack_det(n, a + i * n * n, &lg);
      /* Random matrices of this size: |det| is far from 0 and inf, so
       * compare the logarithms, which LU gives to about n * eps. */
      if (!(fabs(r[2 * i + 1] - lg) <= 1e-12 * n))
        fail_msg("%s n=%zu item %zu: log|det| %.17g, LAPACK %.17g",
                 pk_isa_name(isa), n, i, r[2 * i + 1], lg);
      assert_true(r[2 * i] == (ref > 0 ? 1 : -1));
      assert_true(d[i] == r[2 * i] * exp(r[2 * i + 1]) ||
                  fabs(d[i] / ref - 1) <= 1e-12 * n);
    }
    free(a);
    free(d);
    free(r);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_and_one),
      cmocka_unit_test(test_identity_diagonal),
      cmocka_unit_test(test_triangular),
      cmocka_unit_test(test_permutation),
      cmocka_unit_test(test_formulas),
      cmocka_unit_test(test_pivoting),
      cmocka_unit_test(test_scaled),
      cmocka_unit_test(test_singular),
      cmocka_unit_test(test_nan),
      cmocka_unit_test(test_inf),
      cmocka_unit_test(test_nonfinite_anywhere),
      cmocka_unit_test(test_range),
      cmocka_unit_test(test_laplace),
      cmocka_unit_test(test_vs_lapack),
      cmocka_unit_test(test_batch_lanes),
      cmocka_unit_test(test_vs_lapack_large),
      cmocka_unit_test(test_complex),
      cmocka_unit_test(test_chunking),
      cmocka_unit_test(test_strides),
      cmocka_unit_test(test_shape),
  };
  int failed = 0;

  /* Every path this CPU runs, so the narrow ones are tested on a wide
   * CPU too. */
  for (isa = PK_ISA_GENERIC; isa <= pk_isa_best(); isa++) {
    char name[64];
    snprintf(name, sizeof name, "det on the %s path", pk_isa_name(isa));
    failed += cmocka_run_group_tests_name(name, tests, NULL, NULL);
  }
  return failed;
}
