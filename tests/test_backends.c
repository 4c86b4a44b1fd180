/*
 * Cross-backend: the same maps and reductions on every compiled backend
 * (the mpi backend has its own tests under mpirun), with several worker
 * counts and schedules, give the same bits as the serial backend.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <parkit.h>
#include <parkit/kernels.h>

#include "count_kernel.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng = 7;

static double uniform(void) {
  rng = rng * 6364136223846793005u + 1442695040888963407u;
  return (double)(rng >> 11) / 9007199254740992.0;
}

typedef struct result {
  double *out;
  size_t nbytes;
  double sum, prod, min, max;
} result;

/* Map kernel over a copy of x (count items of n x n) and reduce it. */
static void run(const char *backend, int workers, pk_schedule sched,
                pk_inline inl, const pk_kernel *k, const double *x,
                size_t count, size_t n, result *r) {
  pk_config cfg = {.backend = backend, .workers = workers};
  pk_map_opts o = {.schedule = sched, .inlining = inl};
  size_t shape[3] = {count, n, n};
  pk_context *ctx = NULL;
  pk_array *a = NULL, *out = NULL;

  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
  assert_int_equal(pk_array_create(ctx, PK_F64, 3, shape, &a), PK_OK);
  if (pk_array_nbytes(a))
    memcpy(pk_array_data(a), x, pk_array_nbytes(a));
  assert_int_equal(pk_map(ctx, k, a, &out, &o), PK_OK);
  if (pk_array_nbytes(a)) /* the input is left intact */
    assert_memory_equal(pk_array_data(a), x, pk_array_nbytes(a));
  r->nbytes = pk_array_nbytes(out);
  r->out = malloc(r->nbytes ? r->nbytes : 1);
  if (r->nbytes)
    memcpy(r->out, pk_array_data(out), r->nbytes);
  double sum[2] = {0, 0}, prod[2] = {0, 0};
  assert_int_equal(pk_reduce(ctx, out, PK_SUM, sum), PK_OK);
  assert_int_equal(pk_reduce(ctx, out, PK_PROD, prod), PK_OK);
  r->sum = sum[0] + sum[1]; /* complex: both parts count */
  r->prod = prod[0] + prod[1];
  r->min = r->max = 0;
  if (pk_array_dtype(out) == PK_F64) {
    assert_int_equal(pk_reduce(ctx, out, PK_MIN, &r->min), PK_OK);
    assert_int_equal(pk_reduce(ctx, out, PK_MAX, &r->max), PK_OK);
  }
  pk_array_destroy(&a);
  pk_array_destroy(&out);
  assert_int_equal(pk_finalize(&ctx), PK_OK);
}

static void same(const result *a, const result *b) {
  assert_int_equal(a->nbytes, b->nbytes);
  if (a->nbytes)
    assert_memory_equal(a->out, b->out, a->nbytes);
  assert_memory_equal(&a->sum, &b->sum, sizeof a->sum);
  assert_memory_equal(&a->prod, &b->prod, sizeof a->prod);
  assert_memory_equal(&a->min, &b->min, sizeof a->min);
  assert_memory_equal(&a->max, &b->max, sizeof a->max);
}

static void check_kernel(const pk_kernel *k, const size_t *ns, size_t nns,
                         const size_t *counts, size_t ncounts) {
  static const pk_schedule scheds[] = {PK_SCHEDULE_BLOCK, PK_SCHEDULE_CYCLIC,
                                       PK_SCHEDULE_DYNAMIC};
  for (size_t in = 0; in < nns; in++)
    for (size_t ic = 0; ic < ncounts; ic++) {
      size_t n = ns[in], count = counts[ic], len = count * n * n;
      if ((n >= 25 && count > 1000) || (n > 256 && count > 9))
        continue; /* keep the larger matrices' share of the run short */
      double *x = malloc((len ? len : 1) * sizeof *x);
      result ref, r;
      for (size_t i = 0; i < len; i++)
        x[i] = (double)(int)(uniform() * 10) - 5;
      run("serial", 1, PK_SCHEDULE_AUTO, PK_INLINE_AUTO, k, x, count, n,
          &ref);
      for (const char *const *b = pk_backends(); *b; b++) {
        if (strcmp(*b, "mpi") == 0)
          continue;
        for (int w = 1; w <= 3; w++)
          for (int s = 0; s < 3; s++) {
            run(*b, w, scheds[s], PK_INLINE_NEVER, k, x, count, n, &r);
            same(&ref, &r);
            free(r.out);
          }
        run(*b, 2, PK_SCHEDULE_AUTO, PK_INLINE_AUTO, k, x, count, n, &r);
        same(&ref, &r);
        free(r.out);
      }
      free(ref.out);
      free(x);
    }
}

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Every det path: 0, the interleaved one, the middle one, LAPACK's. */
static const size_t det_ns[] = {0, 1, 2, 3, 5, 10, 24, 25, 40, 260};
static const size_t det_counts[] = {1, 7, 9, 1000, 4100};

static void test_det(void **state) {
  (void)state;
  check_kernel(pk_kernel_det(), det_ns, LEN(det_ns), det_counts,
               LEN(det_counts));
}

static void test_slogdet(void **state) {
  (void)state;
  check_kernel(pk_kernel_slogdet(), det_ns, LEN(det_ns), det_counts,
               LEN(det_counts));
}

/* FFTs plan per process: workers of another process must plan alike. */
static const size_t fft_ns[] = {1, 6, 7, 32};
static const size_t fft_counts[] = {1, 9, 300};

static void test_fft2(void **state) {
  (void)state;
  check_kernel(pk_kernel_fft2(), fft_ns, LEN(fft_ns), fft_counts,
               LEN(fft_counts));
  check_kernel(pk_kernel_rfft2(), fft_ns, LEN(fft_ns), fft_counts,
               LEN(fft_counts));
}

static void test_autocorr2d(void **state) {
  (void)state;
  check_kernel(pk_kernel_autocorr2d(PK_AUTOCORR_FFT), fft_ns, LEN(fft_ns),
               fft_counts, LEN(fft_counts));
  check_kernel(pk_kernel_autocorr2d(PK_AUTOCORR_DIRECT), fft_ns,
               LEN(fft_ns), fft_counts, LEN(fft_counts));
}

/* Every run of a map knows how many items the whole map has, on every
 * backend, worker count and small-job rule. */
static void test_count(void **state) {
  (void)state;
  static const size_t counts[] = {1, 9, 1000};
  static const pk_inline inl[] = {PK_INLINE_NEVER, PK_INLINE_ALWAYS};
  for (const char *const *b = pk_backends(); *b; b++) {
    if (strcmp(*b, "mpi") == 0)
      continue;
    for (int w = 1; w <= 3; w++)
      for (size_t c = 0; c < 3; c++)
        for (size_t q = 0; q < 2; q++) {
          pk_config cfg = {.backend = *b, .workers = w};
          pk_map_opts o = {.inlining = inl[q]};
          size_t shape[2] = {counts[c], 3};
          pk_context *ctx = NULL;
          pk_array *a = NULL, *out = NULL;
          assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
          assert_int_equal(pk_array_create(ctx, PK_F64, 2, shape, &a), PK_OK);
          assert_int_equal(pk_map(ctx, &count_kernel, a, &out, &o),
                           PK_OK);
          const double *y = pk_array_data(out);
          for (size_t i = 0; i < counts[c]; i++)
            if (y[i] != (double)counts[c])
              fail_msg("%s, %d workers, %zu items: item %zu saw %g", *b, w,
                       counts[c], i, y[i]);
          pk_array_destroy(&a);
          pk_array_destroy(&out);
          assert_int_equal(pk_finalize(&ctx), PK_OK);
        }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_det),
      cmocka_unit_test(test_slogdet),
      cmocka_unit_test(test_fft2),
      cmocka_unit_test(test_autocorr2d),
      cmocka_unit_test(test_count),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
