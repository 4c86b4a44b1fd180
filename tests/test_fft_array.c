/* pk_fft2_array, pk_rfft2_array, pk_autocorr2d_array on one node: against
 * the batch kernels on the same data, a naive DFT and quadruple loop, the
 * round trip, on every backend compiled in but mpi; and bad input. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <parkit/fft.h>

#include "splitmix.h"

static const double PI = 3.14159265358979323846;

static const size_t sizes[][2] = {{1, 1}, {1, 7}, {6, 1}, {4, 4}, {5, 5},
                                  {7, 11}, {8, 6}, {13, 16}, {31, 9},
                                  {64, 48}};
#define NSIZES (sizeof sizes / sizeof *sizes)

static uint64_t state = 12345;

static double urand(void) {
  return (double)(pk__splitmix(&state) >> 11) * 0x1p-53;
}

static pk_context *ctx_on(const char *backend, int workers) {
  pk_config cfg = {.backend = backend, .workers = workers};
  pk_context *ctx = NULL;
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
  return ctx;
}

/* An h x w array of dtype, random in [-1, 1), or integers in [0, 100). */
static pk_array *random2d(pk_context *ctx, pk_dtype dt, size_t h, size_t w,
                          int ints) {
  size_t shape[2] = {h, w};
  pk_array *a = NULL;
  assert_int_equal(pk_array_create(ctx, dt, 2, shape, &a), PK_OK);
  double *x = pk_array_data(a);
  size_t n = pk_array_count(a) * (dt == PK_C128 ? 2 : 1);
  for (size_t i = 0; i < n; i++)
    x[i] = ints ? floor(urand() * 100) : 2 * urand() - 1;
  return a;
}

/* The same data as a batch of one item, wrapped. */
static pk_array *as_batch(pk_context *ctx, const pk_array *a) {
  size_t shape[3] = {1, pk_array_dim(a, 0), pk_array_dim(a, 1)};
  pk_array *b = NULL;
  assert_int_equal(pk_array_wrap(ctx, pk_array_dtype(a), 3, shape,
                                 pk_array_data(a), &b),
                   PK_OK);
  return b;
}

static double maxabs(const double *x, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++)
    m = fabs(x[i]) > m ? fabs(x[i]) : m;
  return m;
}

/* max |x - y| <= tol * max(1, max |y|), over n doubles. */
static void assert_close(const double *x, const double *y, size_t n,
                         double tol, const char *what) {
  double scale = maxabs(y, n), err = 0;
  for (size_t i = 0; i < n; i++)
    err = fabs(x[i] - y[i]) > err ? fabs(x[i] - y[i]) : err;
  if (!(err <= tol * (scale > 1 ? scale : 1))) {
    print_error("%s: max error %g, scale %g\n", what, err, scale);
    fail();
  }
}

static size_t ndoubles(const pk_array *a) {
  return pk_array_nbytes(a) / sizeof(double);
}

/* The array call against pk_map of the kernel on a batch of one. */
static void against_kernel(pk_context *ctx, const pk_kernel *k, pk_dtype dt,
                           size_t h, size_t w, int ints,
                           pk_status (*fn)(pk_context *, const pk_array *,
                                           pk_array **, int),
                           int arg) {
  pk_array *a = random2d(ctx, dt, h, w, ints), *b = as_batch(ctx, a);
  pk_array *r = NULL, *o = NULL;
  char what[128];

  assert_int_equal(pk_map(ctx, k, b, &r, NULL), PK_OK);
  assert_int_equal(fn(ctx, a, &o, arg), PK_OK);
  assert_int_equal(ndoubles(o), ndoubles(r));
  assert_int_equal(pk_array_ndim(o), 2);
  assert_int_equal(pk_array_dim(o, 0), pk_array_dim(r, 1));
  assert_int_equal(pk_array_dim(o, 1), pk_array_dim(r, 2));
  snprintf(what, sizeof what, "%s %zux%zu %s on %s", k->name, h, w,
           dt == PK_C128 ? "complex" : "real", pk_backend(ctx));
  if (ints) /* integer autocorrelations are exact both ways */
    assert_memory_equal(pk_array_data(o), pk_array_data(r),
                        pk_array_nbytes(o));
  else
    assert_close(pk_array_data(o), pk_array_data(r), ndoubles(o), 1e-12,
                 what);
  pk_array_destroy(&a);
  pk_array_destroy(&b);
  pk_array_destroy(&r);
  pk_array_destroy(&o);
}

static pk_status fft2_fn(pk_context *c, const pk_array *a, pk_array **o,
                         int inv) {
  return pk_fft2_array(c, a, o, inv);
}
static pk_status rfft2_fn(pk_context *c, const pk_array *a, pk_array **o,
                          int x) {
  (void)x;
  return pk_rfft2_array(c, a, o);
}
static pk_status ac_fn(pk_context *c, const pk_array *a, pk_array **o,
                       int x) {
  (void)x;
  return pk_autocorr2d_array(c, a, o);
}

static void all_against_kernels(pk_context *ctx) {
  for (size_t s = 0; s < NSIZES; s++) {
    size_t h = sizes[s][0], w = sizes[s][1];
    against_kernel(ctx, pk_kernel_fft2(), PK_F64, h, w, 0, fft2_fn, 0);
    against_kernel(ctx, pk_kernel_fft2(), PK_C128, h, w, 0, fft2_fn, 0);
    against_kernel(ctx, pk_kernel_ifft2(), PK_F64, h, w, 0, fft2_fn, 1);
    against_kernel(ctx, pk_kernel_ifft2(), PK_C128, h, w, 0, fft2_fn, 1);
    against_kernel(ctx, pk_kernel_rfft2(), PK_F64, h, w, 0, rfft2_fn, 0);
    against_kernel(ctx, pk_kernel_autocorr2d(PK_AUTOCORR_FFT), PK_F64, h, w,
                   0, ac_fn, 0);
    against_kernel(ctx, pk_kernel_autocorr2d(PK_AUTOCORR_DIRECT), PK_F64, h,
                   w, 1, ac_fn, 0);
  }
}

static void test_against_kernels(void **st) {
  (void)st;
  for (const char *const *b = pk_backends(); *b; b++) {
    if (strcmp(*b, "mpi") == 0)
      continue;
    pk_context *ctx = ctx_on(*b, 2);
    all_against_kernels(ctx);
    assert_int_equal(pk_finalize(&ctx), PK_OK);
  }
  pk_context *ctx = ctx_on("serial", 1);
  all_against_kernels(ctx);
  pk_finalize(&ctx);
}

/* fft2 against sum_{p,q} x[p][q] e^{-2 pi i (jp/h + kq/w)}, and
 * autocorr2d against the quadruple loop. */
static void test_naive(void **st) {
  (void)st;
  pk_context *ctx = ctx_on("openmp", 2);
  for (size_t s = 0; s < NSIZES; s++) {
    size_t h = sizes[s][0], w = sizes[s][1];
    if (h * w > 400)
      continue;
    pk_array *a = random2d(ctx, PK_C128, h, w, 0), *o = NULL;
    const double *x = pk_array_data(a);
    double *ref = calloc(2 * h * w, sizeof *ref);
    for (size_t j = 0; j < h; j++)
      for (size_t k = 0; k < w; k++)
        for (size_t p = 0; p < h; p++)
          for (size_t q = 0; q < w; q++) {
            double t = -2 * PI * ((double)(j * p % h) / (double)h +
                                  (double)(k * q % w) / (double)w);
            const double *v = x + 2 * (p * w + q);
            ref[2 * (j * w + k)] += v[0] * cos(t) - v[1] * sin(t);
            ref[2 * (j * w + k) + 1] += v[0] * sin(t) + v[1] * cos(t);
          }
    assert_int_equal(pk_fft2_array(ctx, a, &o, 0), PK_OK);
    assert_close(pk_array_data(o), ref, 2 * h * w, 1e-12, "naive dft");
    pk_array_destroy(&o);
    pk_array_destroy(&a);
    free(ref);

    a = random2d(ctx, PK_F64, h, w, 0);
    x = pk_array_data(a);
    size_t R = 2 * w - 1;
    ref = calloc((2 * h - 1) * R, sizeof *ref);
    for (size_t i = 0; i < 2 * h - 1; i++)
      for (size_t j = 0; j < R; j++)
        for (size_t p = 0; p < h; p++)
          for (size_t q = 0; q < w; q++) {
            long pi = (long)p + (long)i - (long)(h - 1);
            long qj = (long)q + (long)j - (long)(w - 1);
            if (pi >= 0 && pi < (long)h && qj >= 0 && qj < (long)w)
              ref[i * R + j] += x[p * w + q] * x[pi * (long)w + qj];
          }
    assert_int_equal(pk_autocorr2d_array(ctx, a, &o), PK_OK);
    assert_close(pk_array_data(o), ref, (2 * h - 1) * R, 1e-12,
                 "naive autocorr");
    /* Exactly symmetric under a half turn. */
    const double *r = pk_array_data(o);
    size_t n = (2 * h - 1) * R;
    for (size_t i = 0; i < n; i++)
      assert_memory_equal(&r[i], &r[n - 1 - i], sizeof *r);
    pk_array_destroy(&o);
    pk_array_destroy(&a);
    free(ref);
  }
  pk_finalize(&ctx);
}

static void test_roundtrip(void **st) {
  (void)st;
  pk_context *ctx = ctx_on("openmp", 2);
  for (size_t s = 0; s < NSIZES; s++)
    for (int c = 0; c < 2; c++) {
      size_t h = sizes[s][0], w = sizes[s][1];
      pk_dtype dt = c ? PK_C128 : PK_F64;
      pk_array *a = random2d(ctx, dt, h, w, 0), *f = NULL, *b = NULL;
      assert_int_equal(pk_fft2_array(ctx, a, &f, 0), PK_OK);
      assert_int_equal(pk_fft2_array(ctx, f, &b, 1), PK_OK);
      const double *x = pk_array_data(a), *y = pk_array_data(b);
      double scale = maxabs(x, ndoubles(a)), err = 0;
      for (size_t i = 0; i < h * w; i++) {
        double re = c ? x[2 * i] : x[i], im = c ? x[2 * i + 1] : 0;
        err = fmax(err, fmax(fabs(y[2 * i] - re), fabs(y[2 * i + 1] - im)));
      }
      assert_true(err <= 1e-12 * scale);
      pk_array_destroy(&a);
      pk_array_destroy(&f);
      pk_array_destroy(&b);
    }
  pk_finalize(&ctx);
}

/* A large array, where FFTW's threads take part; and an output given. */
static void test_large_and_given_out(void **st) {
  (void)st;
  pk_context *ctx = ctx_on("openmp", 2), *sctx = ctx_on("serial", 1);
  size_t shape[2] = {300, 512};
  pk_array *a = random2d(ctx, PK_F64, 300, 512, 0), *o = NULL, *r = NULL;
  pk_array *a1 = NULL;
  assert_int_equal(pk_array_wrap(sctx, PK_F64, 2, shape, pk_array_data(a),
                                 &a1), PK_OK);
  assert_int_equal(pk_array_create(ctx, PK_C128, 2, shape, &o), PK_OK);
  pk_array *keep = o;
  assert_int_equal(pk_fft2_array(ctx, a, &o, 0), PK_OK);
  assert_ptr_equal(o, keep);
  assert_int_equal(pk_fft2_array(sctx, a1, &r, 0), PK_OK);
  assert_close(pk_array_data(o), pk_array_data(r), ndoubles(o), 1e-12,
               "2 threads against 1");
  pk_array_destroy(&r);
  assert_int_equal(pk_autocorr2d_array(ctx, a, &r), PK_OK);
  assert_int_equal(pk_array_dim(r, 0), 599);
  assert_int_equal(pk_array_dim(r, 1), 1023);
  pk_array_destroy(&r);
  pk_array_destroy(&a1);
  pk_array_destroy(&a);
  pk_array_destroy(&o);
  pk_finalize(&ctx);
  pk_finalize(&sctx);
}

static void test_bad_input(void **st) {
  (void)st;
  pk_context *ctx = ctx_on("serial", 1), *other = ctx_on("serial", 1);
  size_t s1[1] = {8}, s3[3] = {2, 4, 4}, s0[2] = {0, 4}, s02[2] = {4, 0};
  size_t s2[2] = {4, 4}, s5[2] = {5, 4};
  pk_array *a = NULL, *o = NULL, *c = NULL, *x = NULL;

  assert_int_equal(pk_array_create(ctx, PK_F64, 1, s1, &a), PK_OK);
  assert_int_equal(pk_fft2_array(ctx, a, &o, 0), PK_ESHAPE);
  assert_non_null(strstr(pk_errmsg(ctx), "2-D"));
  assert_null(o);
  pk_array_destroy(&a);
  assert_int_equal(pk_array_create(ctx, PK_F64, 3, s3, &a), PK_OK);
  assert_int_equal(pk_autocorr2d_array(ctx, a, &o), PK_ESHAPE);
  assert_int_equal(pk_rfft2_array(ctx, a, &o), PK_ESHAPE);
  assert_null(o);
  pk_array_destroy(&a);
  assert_int_equal(pk_array_create(ctx, PK_F64, 2, s0, &a), PK_OK);
  assert_int_equal(pk_fft2_array(ctx, a, &o, 1), PK_ESHAPE);
  assert_non_null(strstr(pk_errmsg(ctx), "empty"));
  pk_array_destroy(&a);
  assert_int_equal(pk_array_create(ctx, PK_F64, 2, s02, &a), PK_OK);
  assert_int_equal(pk_autocorr2d_array(ctx, a, &o), PK_ESHAPE);
  pk_array_destroy(&a);

  assert_int_equal(pk_array_create(ctx, PK_C128, 2, s2, &c), PK_OK);
  assert_int_equal(pk_autocorr2d_array(ctx, c, &o), PK_EDTYPE);
  assert_int_equal(pk_rfft2_array(ctx, c, &o), PK_EDTYPE);
  assert_non_null(strstr(pk_errmsg(ctx), "complex"));
  assert_int_equal(pk_fft2_array(ctx, c, &o, 0), PK_OK);
  pk_array_destroy(&o);

  /* A given output of the wrong shape, dtype, or the input itself. */
  assert_int_equal(pk_array_create(ctx, PK_C128, 2, s5, &o), PK_OK);
  assert_int_equal(pk_fft2_array(ctx, c, &o, 0), PK_ESHAPE);
  pk_array_destroy(&o);
  assert_int_equal(pk_array_create(ctx, PK_F64, 2, s2, &o), PK_OK);
  assert_int_equal(pk_fft2_array(ctx, c, &o, 0), PK_EDTYPE);
  pk_array_destroy(&o);
  o = c;
  assert_int_equal(pk_fft2_array(ctx, c, &o, 0), PK_EINVAL);

  assert_int_equal(pk_fft2_array(ctx, NULL, &o, 0), PK_EINVAL);
  assert_int_equal(pk_fft2_array(ctx, c, NULL, 0), PK_EINVAL);
  assert_int_equal(pk_fft2_array(NULL, c, &o, 0), PK_EINVAL);
  assert_int_equal(pk_array_create(other, PK_C128, 2, s2, &x), PK_OK);
  o = NULL;
  assert_int_equal(pk_fft2_array(ctx, x, &o, 0), PK_EINVAL);
  assert_null(o);
  pk_array_destroy(&x);
  pk_array_destroy(&c);
  assert_int_equal(pk_finalize(&ctx), PK_OK);
  assert_int_equal(pk_finalize(&other), PK_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_against_kernels),
      cmocka_unit_test(test_naive),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_large_and_given_out),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
