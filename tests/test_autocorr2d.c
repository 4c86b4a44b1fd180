/* autocorr2d through its kernel tables, against a naive quadruple loop and
 * a scipy.signal.correlate2d result; correlate2d's direct sums on every
 * instruction-set path against the naive loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <parkit.h>
#include <parkit/fft.h>
#include <parkit/kernels.h>
#include "det.h"
#include "fftplan.h"

enum { AUTO = PK_AUTOCORR_AUTO, DIRECT = PK_AUTOCORR_DIRECT,
       FFT = PK_AUTOCORR_FFT };

static void *zalloc(size_t n) {
  void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
  assert_non_null(p);
  memset(p, 0, (n + 63) / 64 * 64 + 64);
  return p;
}

/* r = autocorr2d of the n items h x w at a, by method m, items [lo, hi). */
static void run(int m, const double *a, size_t h, size_t w, size_t lo,
                size_t hi, double *r) {
  const pk_kernel *k = pk_kernel_autocorr2d((pk_autocorr_method)m);
  pk_item in = {.dtype = PK_F64, .ndim = 2, .shape = {h, w}}, out;
  char msg[256] = "";
  size_t bad = 0, sb;
  void *scr = NULL;

  assert_non_null(k);
  assert_int_equal(k->shape(k, &in, &out, msg, sizeof msg), PK_OK);
  assert_int_equal(out.dtype, PK_F64);
  assert_int_equal(out.ndim, 2);
  assert_int_equal(out.shape[0], 2 * h - 1);
  assert_int_equal(out.shape[1], 2 * w - 1);
  assert_int_equal(k->prepare(k, &in, 1), PK_OK);
  sb = k->scratch(k, &in);
  if (sb)
    scr = zalloc(sb);
  pk_task t = {.in = (const char *)a, .out = (char *)r,
               .in_stride = h * w * 8,
               .out_stride = (2 * h - 1) * (2 * w - 1) * 8, .in_item = in,
               .out_item = out, .scratch = scr};
  assert_int_equal(k->run(k, &t, lo, hi, &bad), PK_OK);
  free(scr);
}

/* r[i][j] = sum_{p,q} a[p][q] a[p + i - (h-1)][q + j - (w-1)]. */
static void naive(const double *a, size_t h, size_t w, double *r) {
  long H = (long)h, W = (long)w;
  for (long i = 0; i < 2 * H - 1; i++)
    for (long j = 0; j < 2 * W - 1; j++) {
      double s = 0;
      for (long p = 0; p < H; p++)
        for (long q = 0; q < W; q++) {
          long pp = p + i - (H - 1), qq = q + j - (W - 1);
          if (pp >= 0 && pp < H && qq >= 0 && qq < W)
            s += a[p * W + q] * a[pp * W + qq];
        }
      r[i * (2 * W - 1) + j] = s;
    }
}

static void naive_int(const int64_t *a, size_t h, size_t w, int64_t *r) {
  long H = (long)h, W = (long)w;
  for (long i = 0; i < 2 * H - 1; i++)
    for (long j = 0; j < 2 * W - 1; j++) {
      int64_t s = 0;
      for (long p = 0; p < H; p++)
        for (long q = 0; q < W; q++) {
          long pp = p + i - (H - 1), qq = q + j - (W - 1);
          if (pp >= 0 && pp < H && qq >= 0 && qq < W)
            s += a[p * W + q] * a[pp * W + qq];
        }
      r[i * (2 * W - 1) + j] = s;
    }
}

static const size_t sizes[][2] = {{1, 1}, {1, 6}, {6, 1}, {2, 2}, {3, 4},
                                  {5, 3}, {8, 8}, {13, 7}, {4, 17}};
#define NSIZES (sizeof sizes / sizeof *sizes)

static void check_symmetric(const double *r, size_t h, size_t w) {
  size_t R = 2 * h - 1, C = 2 * w - 1;
  for (size_t i = 0; i < R; i++)
    for (size_t j = 0; j < C; j++)
      assert_true(r[i * C + j] == r[(R - 1 - i) * C + (C - 1 - j)]);
}

static void test_real(void **state) {
  (void)state;
  const size_t n = 3;
  for (size_t s = 0; s < NSIZES; s++) {
    size_t h = sizes[s][0], w = sizes[s][1], no = (2 * h - 1) * (2 * w - 1);
    double *a = zalloc(n * h * w * 8), *ref = zalloc(no * 8);
    double *r[3] = {zalloc(n * no * 8), zalloc(n * no * 8),
                    zalloc(n * no * 8)};
    for (size_t i = 0; i < n * h * w; i++)
      a[i] = 2.0 * rand() / RAND_MAX - 1.0 + 0.125;
    for (int m = 0; m < 3; m++)
      run(m, a, h, w, 0, n, r[m]);
    for (size_t i = 0; i < n; i++) {
      double s2 = 0;
      naive(a + i * h * w, h, w, ref);
      for (size_t e = 0; e < h * w; e++)
        s2 += a[i * h * w + e] * a[i * h * w + e];
      for (int m = 0; m < 3; m++) {
        check_symmetric(r[m] + i * no, h, w);
        for (size_t e = 0; e < no; e++)
          if (fabs(r[m][i * no + e] - ref[e]) > 1e-13 * s2)
            fail_msg("method %d %zux%zu item %zu elt %zu: %.17g vs %.17g", m,
                     h, w, i, e, r[m][i * no + e], ref[e]);
      }
    }
    for (int m = 0; m < 3; m++)
      free(r[m]);
    free(a);
    free(ref);
  }
}

static void test_integers(void **state) {
  (void)state;
  for (size_t s = 0; s < NSIZES + 1; s++) {
    size_t h = s < NSIZES ? sizes[s][0] : 40;
    size_t w = s < NSIZES ? sizes[s][1] : 50;
    size_t no = (2 * h - 1) * (2 * w - 1);
    double *a = zalloc(h * w * 8), *r = zalloc(no * 8);
    int64_t *ai = zalloc(h * w * 8), *ref = zalloc(no * 8);
    for (size_t e = 0; e < h * w; e++) {
      ai[e] = rand() % 2001 - 1000;
      a[e] = (double)ai[e];
    }
    naive_int(ai, h, w, ref);
    for (int m = 0; m < 3; m++) {
      run(m, a, h, w, 0, 1, r);
      for (size_t e = 0; e < no; e++)
        if (r[e] != (double)ref[e])
          fail_msg("method %d %zux%zu elt %zu: %.17g vs %lld", m, h, w, e,
                   r[e], (long long)ref[e]);
      check_symmetric(r, h, w);
    }
    free(a);
    free(r);
    free(ai);
    free(ref);
  }
}

/*
 * auto gives the exact integers for integer input where the FFT's bound
 * fails: 200x200 in [-2000, 2000] (E about 0.56), and 64x65 up to 2^22,
 * whose sums pass 2^53 (direct's doubles would round them too).  Against
 * the sums in int64 (below 2^62 here); the second case's results above
 * 2^53 are the exact sums rounded once.
 */
static void test_auto_exact(void **state) {
  (void)state;
  const struct { size_t h, w; int64_t range; } c[] = {{200, 200, 2000},
                                                       {64, 65, 1 << 22}};
  for (size_t k = 0; k < 2; k++) {
    size_t h = c[k].h, w = c[k].w, no = (2 * h - 1) * (2 * w - 1);
    double *a = zalloc(h * w * 8), *r = zalloc(no * 8);
    int64_t *ai = zalloc(h * w * 8), *ref = zalloc(no * 8);
    for (size_t e = 0; e < h * w; e++) {
      ai[e] = (int64_t)(((uint64_t)rand() << 16 ^ (uint64_t)rand()) %
                        (uint64_t)(2 * c[k].range + 1)) - c[k].range;
      a[e] = (double)ai[e];
    }
    naive_int(ai, h, w, ref);
    run(AUTO, a, h, w, 0, 1, r);
    for (size_t e = 0; e < no; e++)
      if (r[e] != (double)ref[e])
        fail_msg("auto %zux%zu in +-%lld, elt %zu: %.17g vs %lld", h, w,
                 (long long)c[k].range, e, r[e], (long long)ref[e]);
    check_symmetric(r, h, w);
    free(a);
    free(r);
    free(ai);
    free(ref);
  }
}

/* scipy.signal.correlate2d(a, a) for this a, from scipy 1.10. */
static void test_scipy(void **state) {
  (void)state;
  const double a[3][4] = {{-3, -4, -1, 1}, {-1, 2, -2, 1}, {2, 4, -1, -5}};
  const double want[5][7] = {{15, 23, -3, -26, -13, 2, 2},
                             {2, -7, 5, 1, -5, 3, 1},
                             {-14, -19, 16, 83, 16, -19, -14},
                             {1, 3, -5, 1, 5, -7, 2},
                             {2, 2, -13, -26, -3, 23, 15}};
  double r[5][7];
  for (int m = 0; m < 3; m++) {
    memset(r, 0, sizeof r);
    run(m, &a[0][0], 3, 4, 0, 1, &r[0][0]);
    assert_memory_equal(r, want, sizeof r);
  }
}

/* Large integers: the FFT result is not rounded, but still close. */
static void test_large(void **state) {
  (void)state;
  size_t h = 20, w = 30, no = (2 * h - 1) * (2 * w - 1);
  double *a = zalloc(h * w * 8), *r = zalloc(no * 8), *ref = zalloc(no * 8);
  for (size_t e = 0; e < h * w; e++)
    a[e] = (double)(rand() % 2000000) + 1e9;
  run(DIRECT, a, h, w, 0, 1, ref);
  run(FFT, a, h, w, 0, 1, r);
  for (size_t e = 0; e < no; e++)
    assert_true(fabs(r[e] - ref[e]) <= 1e-12 * ref[no / 2]);
  free(a);
  free(r);
  free(ref);
}

static void test_bits(void **state) {
  (void)state;
  size_t h = 7, w = 5, n = 6, no = (2 * h - 1) * (2 * w - 1);
  double *a = zalloc(n * h * w * 8), *r1 = zalloc(n * no * 8),
         *r2 = zalloc(n * no * 8);
  for (size_t i = 0; i < n * h * w; i++)
    a[i] = 1.0 * rand() / RAND_MAX;
  for (int m = 0; m < 3; m++) {
    run(m, a, h, w, 0, n, r1);
    for (size_t i = 0; i < n; i++)
      run(m, a, h, w, i, i + 1, r2);
    assert_memory_equal(r1, r2, n * no * 8);
  }
  free(a);
  free(r1);
  free(r2);
}

static void test_auto(void **state) {
  (void)state;
  const pk_kernel *k = pk_kernel_autocorr2d(PK_AUTOCORR_AUTO);
  pk_item small = {.dtype = PK_F64, .ndim = 2, .shape = {3, 3}};
  pk_item big = {.dtype = PK_F64, .ndim = 2, .shape = {100, 100}};
  assert_int_equal(k->scratch(k, &small), 0);
  assert_true(k->scratch(k, &big) > 0);
  for (int m = 1; m < 3; m++) {
    const pk_kernel *km = pk_kernel_autocorr2d((pk_autocorr_method)m);
    assert_true(k->cost(k, &small) <= km->cost(km, &small));
    assert_true(k->cost(k, &big) <= km->cost(km, &big));
  }
  assert_null(pk_kernel_autocorr2d((pk_autocorr_method)3));
  assert_null(pk_kernel_autocorr2d((pk_autocorr_method)-1));
}

static void expect_refused(pk_dtype t, int ndim, size_t h, size_t w,
                           pk_status want) {
  for (int m = 0; m < 3; m++) {
    const pk_kernel *k = pk_kernel_autocorr2d((pk_autocorr_method)m);
    pk_item in = {.dtype = t, .ndim = ndim, .shape = {h, w}}, out;
    char msg[256] = "";
    assert_int_equal(k->shape(k, &in, &out, msg, sizeof msg), want);
    assert_non_null(strstr(msg, k->name));
  }
}

static void test_bad_input(void **state) {
  (void)state;
  expect_refused(PK_C128, 2, 4, 4, PK_EDTYPE);
  expect_refused(PK_F64, 1, 4, 0, PK_ESHAPE);
  expect_refused(PK_F64, 3, 4, 4, PK_ESHAPE);
  expect_refused(PK_F64, 2, 0, 4, PK_ESHAPE);
  expect_refused(PK_F64, 2, 4, 0, PK_ESHAPE);
  expect_refused(PK_F64, 2, SIZE_MAX / 2, 3, PK_EOVERFLOW);
  /* FFT sizes beyond FFTW's int: only the fft method refuses. */
  const pk_kernel *k = pk_kernel_autocorr2d(PK_AUTOCORR_FFT);
  pk_item in = {.dtype = PK_F64, .ndim = 2, .shape = {1 << 16, 1 << 16}}, out;
  char msg[256] = "";
  assert_int_equal(k->shape(k, &in, &out, msg, sizeof msg), PK_ESHAPE);
  assert_true(strlen(msg) > 0);
  k = pk_kernel_autocorr2d(PK_AUTOCORR_AUTO);
  assert_int_equal(k->shape(k, &in, &out, msg, sizeof msg), PK_OK);
}

/*
 * correlate2d's direct sums of small integers (exact in any order) on each
 * path this CPU has, against the naive sum over F's window: shapes that
 * take the vector paths' blocks and strips whole and cut at every edge
 * (outputs of 1 .. 45 rows and columns, kernel images of 1 .. 13 rows,
 * below and past each path's rows a block), and a kernel image larger
 * than the image.  The FFT method too, once: it rounds integers to the
 * exact sums, wherever the window lies in its grid.
 */
static void naive_pair(const double *a, size_t h1, size_t w1,
                       const double *b, size_t h2, size_t w2, size_t oi,
                       size_t oj, size_t ho, size_t wo, double *r) {
  for (size_t i = 0; i < ho; i++)
    for (size_t j = 0; j < wo; j++) {
      double s = 0; /* F[u][v] = sum a[u - (h2-1) + p][v - (w2-1) + q] b[p][q] */
      for (size_t p = 0; p < h2; p++)
        for (size_t q = 0; q < w2; q++) {
          long x = (long)(i + oi + p) - (long)(h2 - 1);
          long y = (long)(j + oj + q) - (long)(w2 - 1);
          if (x >= 0 && x < (long)h1 && y >= 0 && y < (long)w1)
            s += a[(size_t)x * w1 + (size_t)y] * b[p * w2 + q];
        }
      r[i * wo + j] = s;
    }
}

static void test_pair_paths(void **state) {
  (void)state;
  static const size_t img[][2] = {{6, 5}, {23, 37}, {40, 19}, {33, 33},
                                  {30, 30}, {61, 44}};
  static const size_t ker[][2] = {{1, 1}, {2, 3}, {3, 3}, {5, 4}, {6, 7},
                                  {7, 6}, {9, 9}, {13, 5}, {4, 13}, {8, 2}};
  const size_t n = 3;

  /* both methods on every path (the FFT's product is per path too) */
  for (int run = 0; run < 2 * ((int)pk_isa_best() - PK_ISA_GENERIC + 1);
       run++) {
    int isa = PK_ISA_GENERIC + run / 2, fft = run % 2;
    pk_context *ctx = NULL;
    pk_config c = {.backend = "serial", .isa = pk_isa_name((pk_isa)isa)};
    assert_int_equal(pk_init_config(&ctx, NULL, NULL, &c), PK_OK);
    assert_int_equal(pk_isa_of(ctx), (pk_isa)isa);
    for (size_t u = 0; u < sizeof img / sizeof *img; u++)
      for (size_t v = 0; v < sizeof ker / sizeof *ker; v++)
        for (int m = 0; m < 3; m++) {
          size_t h1 = img[u][0], w1 = img[u][1], h2 = ker[v][0], w2 = ker[v][1];
          int fits = h2 <= h1 && w2 <= w1, holds = h2 >= h1 && w2 >= w1;
          if (m == 1 && !fits && !holds)
            continue; /* valid mode refuses these */
          pk_mode mode = m == 0 ? PK_MODE_FULL : m == 1 ? PK_MODE_VALID
                                                        : PK_MODE_SAME;
          size_t ho, wo, oi, oj;
          if (m == 0)
            ho = h1 + h2 - 1, wo = w1 + w2 - 1, oi = oj = 0;
          else if (m == 1 && fits)
            ho = h1 - h2 + 1, wo = w1 - w2 + 1, oi = h2 - 1, oj = w2 - 1;
          else if (m == 1)
            ho = h2 - h1 + 1, wo = w2 - w1 + 1, oi = h1 - 1, oj = w1 - 1;
          else
            ho = h1, wo = w1, oi = h2 / 2, oj = w2 / 2;
          size_t sa[3] = {n, h1, w1}, sb[3] = {n, h2, w2};
          pk_array *A = NULL, *B = NULL, *out = NULL;
          assert_int_equal(pk_array_create(ctx, PK_F64, 3, sa, &A), PK_OK);
          assert_int_equal(pk_array_create(ctx, PK_F64, 3, sb, &B), PK_OK);
          double *a = pk_array_data(A), *b = pk_array_data(B);
          for (size_t k = 0; k < n * h1 * w1; k++)
            a[k] = rand() % 19 - 9;
          for (size_t k = 0; k < n * h2 * w2; k++)
            b[k] = rand() % 9 - 4;
          const pk_array *const in[2] = {A, B};
          const pk_kernel *kc = pk_kernel_correlate2d(
              mode, fft ? PK_AUTOCORR_FFT : PK_AUTOCORR_DIRECT);
          assert_int_equal(pk_map_n(ctx, kc, 2, in, 1, &out, NULL), PK_OK);
          assert_int_equal(pk_array_dim(out, 1), ho);
          assert_int_equal(pk_array_dim(out, 2), wo);
          double *want = zalloc(ho * wo * 8);
          const double *r = pk_array_data(out);
          for (size_t k = 0; k < n; k++) {
            naive_pair(a + k * h1 * w1, h1, w1, b + k * h2 * w2, h2, w2, oi,
                       oj, ho, wo, want);
            for (size_t e = 0; e < ho * wo; e++)
              if (r[k * ho * wo + e] != want[e])
                fail_msg("%s %s: %zux%zu with %zux%zu mode %d item %zu: "
                         "output %zu is %g, want %g",
                         pk_isa_name((pk_isa)isa), fft ? "fft" : "direct",
                         h1, w1, h2, w2, m, k, e,
                         r[k * ho * wo + e], want[e]);
          }
          free(want);
          pk_array_destroy(&A);
          pk_array_destroy(&B);
          pk_array_destroy(&out);
        }
    assert_int_equal(pk_finalize(&ctx), PK_OK);
  }
}

/*
 * A large batch of pairs through the FFT (its results stored past cache:
 * a run's output over 2 MB) against the same pairs mapped one at a time
 * (stored as usual): the same bits, real or integer data; the integers
 * also against the naive sums.  Rows of odd width start off the vectors'
 * alignment every other row.
 */
static void test_pair_batch(void **state) {
  (void)state;
  const size_t n = 40, h2 = 5, w2 = 5;
  pk_context *ctx = NULL;
  pk_config c = {.backend = "serial"};

  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &c), PK_OK);
  for (int u = 0; u < 8; u++) {
    size_t h1 = u & 1 ? 99 : 100, w1 = h1;
    int same = u & 2, ints = u & 4;
    size_t ho = same ? h1 : h1 + h2 - 1, wo = same ? w1 : w1 + w2 - 1;
    size_t sa[3] = {n, h1, w1}, sb[3] = {1, h2, w2}, s1[3] = {1, h1, w1};
    pk_array *A = NULL, *B = NULL, *out = NULL, *A1 = NULL;
    assert_int_equal(pk_array_create(ctx, PK_F64, 3, sa, &A), PK_OK);
    assert_int_equal(pk_array_create(ctx, PK_F64, 3, sb, &B), PK_OK);
    assert_int_equal(pk_array_create(ctx, PK_F64, 3, s1, &A1), PK_OK);
    double *a = pk_array_data(A), *b = pk_array_data(B);
    for (size_t k = 0; k < n * h1 * w1; k++)
      a[k] = ints ? rand() % 19 - 9 : (double)rand() / RAND_MAX - 0.5;
    for (size_t k = 0; k < h2 * w2; k++)
      b[k] = ints ? rand() % 9 - 4 : (double)rand() / RAND_MAX;
    const pk_kernel *kc = pk_kernel_correlate2d(
        same ? PK_MODE_SAME : PK_MODE_FULL, PK_AUTOCORR_FFT);
    const pk_array *const in[2] = {A, B}, *const in1[2] = {A1, B};
    assert_int_equal(pk_map_n(ctx, kc, 2, in, 1, &out, NULL), PK_OK);
    const double *r = pk_array_data(out);
    double *want = zalloc(ho * wo * 8);
    for (size_t k = 0; k < n; k++) {
      pk_array *o1 = NULL;
      memcpy(pk_array_data(A1), a + k * h1 * w1, h1 * w1 * 8);
      assert_int_equal(pk_map_n(ctx, kc, 2, in1, 1, &o1, NULL), PK_OK);
      if (memcmp(pk_array_data(o1), r + k * ho * wo, ho * wo * 8) != 0)
        fail_msg("%zux%zu %s %s: item %zu differs from its map alone", h1,
                 w1, same ? "same" : "full", ints ? "integers" : "reals", k);
      pk_array_destroy(&o1);
      if (!ints)
        continue;
      naive_pair(a + k * h1 * w1, h1, w1, b, h2, w2, same ? h2 / 2 : 0,
                 same ? w2 / 2 : 0, ho, wo, want);
      if (memcmp(want, r + k * ho * wo, ho * wo * 8) != 0)
        fail_msg("%zux%zu %s integers: item %zu is not the naive sums", h1,
                 w1, same ? "same" : "full", k);
    }
    free(want);
    pk_array_destroy(&A);
    pk_array_destroy(&A1);
    pk_array_destroy(&B);
    pk_array_destroy(&out);
  }
  assert_int_equal(pk_finalize(&ctx), PK_OK);
}

/* Only 2, 3, 5 and 7 divide n. */
static int only_small_primes(size_t n) {
  static const size_t pr[] = {2, 3, 5, 7};
  for (int i = 0; i < 4; i++)
    while (n % pr[i] == 0)
      n /= pr[i];
  return n == 1;
}

/* The padded grids' lengths: never shorter than asked nor more than twice
   it (parkit/fft.h), FFTW's small primes only, a whole codelet's column
   from 17 to 128, even rows no more than a tenth past the even fast
   size. */
static void test_grid_sizes(void **state) {
  (void)state;
  for (size_t n = 1; n <= 700; n++) {
    size_t c = pk__fft_fast_cols(n), e = pk__fft_fast_even(n);
    if (c < n || !only_small_primes(c) || c > 2 * n)
      fail_msg("columns for %zu: %zu", n, c);
    if (n > 16 && n <= 128 && c != 20 && c != 32 && c != 64 && c != 128)
      fail_msg("columns for %zu: %zu, not a whole codelet's", n, c);
    for (int H = 1; H <= 256; H *= 4) {
      size_t r = pk__fft_fast_rows(n, H);
      if (r < n || r > 2 * n || r % 2 || !only_small_primes(r) ||
          10 * r > 11 * e)
        fail_msg("rows for %zu (H %d): %zu (even fast size %zu)", n, H, r,
                 e);
    }
  }
}

/* Each path's scans for integers and norms (det.h) against plain loops:
   every length up to a few blocks, each position of a value that fails. */
static void test_scans(void **state) {
  (void)state;
  enum { N = 150 };
  double x[N];

  for (int isa = PK_ISA_GENERIC; isa <= (int)pk_isa_best(); isa++) {
    const pk__det_isa *v = pk__simd_paths(isa);
    for (size_t n = 0; n <= N; n++) {
      double l1 = 0, l2 = 0, mx = 0, r1, r2, rm;
      for (size_t i = 0; i < n; i++)
        x[i] = (double)(rand() % 2000001 - 1000000);
      if (n == N / 2)
        x[n / 3] = -0x1p51 + 1; /* the largest taken */
      for (size_t i = 0; i < n; i++) {
        l1 += fabs(x[i]), l2 += x[i] * x[i];
        mx = fabs(x[i]) > mx ? fabs(x[i]) : mx;
      }
      if (!v->integers(x, n, &r1, &r2, &rm) || r1 != l1 || rm != mx ||
          fabs(r2 - sqrt(l2)) > 1e-12 * sqrt(l2))
        fail_msg("%s: integers of %zu: %g %g %g, want %g %g %g",
                 pk_isa_name((pk_isa)isa), n, r1, r2, rm, l1, sqrt(l2), mx);
      v->norms(x, n, &rm, &r1);
      if (r1 != l1 || rm != mx)
        fail_msg("%s: norms of %zu: %g %g, want %g %g",
                 pk_isa_name((pk_isa)isa), n, r1, rm, l1, mx);
      static const double bad[] = {0.5, -1e-300, 0x1p51, -INFINITY, NAN};
      for (size_t i = 0; i < n; i++) {
        double keep = x[i], b = bad[(i + n) % 5];
        x[i] = b;
        if (v->integers(x, n, &r1, &r2, &rm))
          fail_msg("%s: %g at %zu of %zu taken for an integer",
                   pk_isa_name((pk_isa)isa), b, i, n);
        v->norms(x, n, &rm, &r1);
        if (b != b ? r1 == r1 : isinf(b) ? !isinf(r1) : 0)
          fail_msg("%s: norms with %g at %zu of %zu: 1-norm %g",
                   pk_isa_name((pk_isa)isa), b, i, n, r1);
        x[i] = keep;
      }
    }
  }
}

/* The naive DFT of n complex points x (re, im), sign -1 forward, +1
   back, unscaled, in long double. */
static void naive_dft(const double *x, size_t n, int sign, double *y) {
  const long double tau = 6.283185307179586476925286766559L;
  for (size_t k = 0; k < n; k++) {
    long double re = 0, im = 0;
    for (size_t j = 0; j < n; j++) {
      long double t = sign * tau * (long double)((j * k) % n) / n;
      re += x[2 * j] * cosl(t) - x[2 * j + 1] * sinl(t);
      im += x[2 * j] * sinl(t) + x[2 * j + 1] * cosl(t);
    }
    y[2 * k] = (double)re, y[2 * k + 1] = (double)im;
  }
}

/*
 * Each path's split, merge and put_row (det.h, correlate2d's paired rows):
 * split of the transform of two real rows as one complex row against each
 * row's own transform, merge's row transformed back against the rows, and
 * put_row against a plain loop; every path the same bits as the baseline.
 */
static void test_pair_rows(void **state) {
  (void)state;
  static const size_t lens[] = {2, 4, 6, 8, 10, 16, 20, 32, 64, 128};
  enum { M = 128 };
  double x1[2 * M], x2[2 * M], z[2 * M], Z[2 * M], X1[2 * M], X2[2 * M];
  double s1[2 * M + 2], s2[2 * M + 2], y[2 * M], back[2 * M];
  double r1[2 * M + 2], r2[2 * M + 2], ry[2 * M], o0[M + 8];

  for (size_t t = 0; t < sizeof lens / sizeof *lens; t++) {
    size_t W = lens[t], h = W / 2;
    double big = 0;
    for (size_t j = 0; j < W; j++) {
      x1[2 * j] = (double)rand() / RAND_MAX - 0.5, x1[2 * j + 1] = 0;
      x2[2 * j] = (double)rand() / RAND_MAX - 0.5, x2[2 * j + 1] = 0;
      z[2 * j] = x1[2 * j], z[2 * j + 1] = x2[2 * j];
    }
    naive_dft(z, W, -1, Z);
    naive_dft(x1, W, -1, X1);
    naive_dft(x2, W, -1, X2);
    for (size_t k = 0; k < 2 * W; k++)
      big = fabs(X1[k]) > big ? fabs(X1[k]) : big;
    for (int isa = PK_ISA_GENERIC; isa <= (int)pk_isa_best(); isa++) {
      const pk__det_isa *v = pk__simd_paths(isa);
      const char *nm = pk_isa_name((pk_isa)isa);
      v->split(Z, W, s1, s2);
      for (size_t k = 0; k <= 2 * h + 1; k++)
        if (fabs(s1[k] - X1[k]) > 1e-13 * W || fabs(s2[k] - X2[k]) > 1e-13 * W)
          fail_msg("%s: split of %zu, element %zu: %g %g, want %g %g", nm,
                   W, k, s1[k], s2[k], X1[k], X2[k]);
      v->split(Z, W, r1, NULL);
      if (memcmp(r1, s1, (2 * h + 2) * 8) != 0)
        fail_msg("%s: split of %zu without x2 differs", nm, W);
      /* merge of the rows' own half spectra: back to W x1 + i W x2 */
      v->merge(X1, X2, W, y);
      naive_dft(y, W, 1, back);
      for (size_t j = 0; j < W; j++)
        if (fabs(back[2 * j] - W * x1[2 * j]) > 1e-12 * W * big ||
            fabs(back[2 * j + 1] - W * x2[2 * j]) > 1e-12 * W * big)
          fail_msg("%s: merge of %zu, point %zu: %g %g, want %g %g", nm, W,
                   j, back[2 * j], back[2 * j + 1], W * x1[2 * j],
                   W * x2[2 * j]);
      v->merge(X1, NULL, W, ry);
      naive_dft(ry, W, 1, back);
      for (size_t j = 0; j < W; j++)
        if (fabs(back[2 * j] - W * x1[2 * j]) > 1e-12 * W * big ||
            fabs(back[2 * j + 1]) > 1e-12 * W * big)
          fail_msg("%s: merge of %zu alone, point %zu: %g %g", nm, W, j,
                   back[2 * j], back[2 * j + 1]);
      /* put_row: rows of W .. W + 3 at each alignment, both parts, edges
         of 0 .. 2 at each end, rounded or not, past cache or not */
      for (int u = 0; u < 96; u++) {
        size_t n = W + (size_t)u % 4, off = (size_t)u / 4 % 4;
        size_t l = (size_t)u % 3 < n ? (size_t)u % 3 : 0, r = (size_t)u / 3 % 3;
        int part = u / 12 % 2, rnd = u / 24 % 2, st = u / 48;
        double lead[2] = {-7.5, 3.25}, trail[3] = {11, -0.5, 2};
        double *o = o0 + off, sc = rnd ? 1000.0 : 0.25;
        size_t m = n - (r < n - l ? r : 0);
        if (m > W) /* y holds W points */
          continue;
        memset(o0, 0, sizeof o0);
        v->put_row(o, n, Z, part, l, m, lead, trail, sc, rnd, st);
        for (size_t j = 0; j < n; j++) {
          double x = j < l || j >= m ? 0 : Z[2 * j + (size_t)part] * sc;
          double w = j < l ? lead[j] : j >= m ? trail[j - m]
                     : rnd ? nearbyint(x) : x;
          if (o[j] != w)
            fail_msg("%s: put_row of %zu at +%zu (l %zu m %zu part %d rnd "
                     "%d stream %d), %zu: %g, want %g", nm, n, off, l, m,
                     part, rnd, st, j, o[j], w);
        }
      }
      /* the same bits on every path */
      const pk__det_isa *g0 = pk__simd_paths(PK_ISA_GENERIC);
      g0->split(Z, W, r1, r2);
      if (memcmp(r1, s1, (2 * h + 2) * 8) || memcmp(r2, s2, (2 * h + 2) * 8))
        fail_msg("%s: split of %zu differs from the baseline's", nm, W);
      g0->merge(X1, X2, W, ry);
      v->merge(X1, X2, W, y);
      if (memcmp(ry, y, 2 * W * 8))
        fail_msg("%s: merge of %zu differs from the baseline's", nm, W);
    }
  }
}

static int teardown(void **state) {
  (void)state;
  pk__fft_cache_clear();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real),  cmocka_unit_test(test_integers),
      cmocka_unit_test(test_scipy), cmocka_unit_test(test_large),
      cmocka_unit_test(test_bits),  cmocka_unit_test(test_auto),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_auto_exact), cmocka_unit_test(test_pair_paths),
      cmocka_unit_test(test_pair_batch), cmocka_unit_test(test_grid_sizes),
      cmocka_unit_test(test_scans), cmocka_unit_test(test_pair_rows),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}
