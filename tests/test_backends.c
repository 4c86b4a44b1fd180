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
#include "scalar_shape.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

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

/* ------------------------------------------------------------ interrupt */

#define NAP_ITEMS 400

/* out = 2 * in, 5 ms an item. */
static pk_status nap_run(const pk_kernel *k, const pk_task *t, size_t lo,
                         size_t hi, size_t *bad) {
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++) {
    struct timespec ts = {0, 5000000};
    while (nanosleep(&ts, &ts) != 0) /* a signal: sleep the rest */
      ;
    *(double *)(t->out + i * t->out_stride) =
        2 * *(const double *)(t->ins[0] + i * t->in_strides[0]);
  }
  return PK_OK;
}

static double nap_cost(const pk_kernel *k, const pk_item *in) {
  (void)k, (void)in;
  return 5e6;
}

static pk_context *nap_ctx; /* the context the interrupters stop */

static void *interrupt_later(void *arg) {
  struct timespec ts = {0, 100000000};
  (void)arg;
  nanosleep(&ts, NULL);
  pk_interrupt(nap_ctx);
  return NULL;
}

static void on_alarm(int sig) {
  (void)sig;
  pk_interrupt(nap_ctx);
}

/* A map of 400 items of 5 ms (2 s on one worker), stopped 0.1 s in by
   pk_interrupt from another thread (how == 0) or from a SIGALRM handler
   (1): PK_EINTR; the items listed keep the caller's values, the others
   are computed, and a map runs whole afterwards. */
static void interrupt_on(const char *backend, int workers, pk_inline inl,
                         const pk_kernel *k, int how) {
  pk_config cfg = {.backend = backend, .workers = workers};
  /* Dispatched, chunks of 20 ms: some are done by the time it stops (a
     fork worker's chunk is stopped with it). */
  pk_map_opts o = {.inlining = inl, .chunk = inl == PK_INLINE_NEVER ? 4 : 0};
  size_t shape[1] = {NAP_ITEMS}, nf, i, j = 0;
  pk_array *a = NULL, *out = NULL;
  pthread_t th;
  struct sigaction sa = {.sa_handler = on_alarm}, old;
  struct itimerval it = {{0, 0}, {0, 100000}};

  assert_int_equal(pk_init_config(&nap_ctx, NULL, NULL, &cfg), PK_OK);
  assert_int_equal(pk_array_create(nap_ctx, PK_F64, 1, shape, &a), PK_OK);
  /* The caller's memory: it keeps its values where items did not
     complete (a fork worker writes the context's own arrays in place,
     where a stopped chunk may have written some of its items). */
  double *x = pk_array_data(a), y[NAP_ITEMS];
  assert_int_equal(pk_array_wrap(nap_ctx, PK_F64, 1, shape, y, &out), PK_OK);
  for (i = 0; i < NAP_ITEMS; i++)
    x[i] = (double)i, y[i] = -1;
  if (how == 0) {
    assert_int_equal(pthread_create(&th, NULL, interrupt_later, NULL), 0);
  } else {
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
  }
  double t0 = pk_time();
  pk_status st = pk_map(nap_ctx, k, a, &out, &o);
  double took = pk_time() - t0;
  if (how == 0)
    pthread_join(th, NULL);
  else
    sigaction(SIGALRM, &old, NULL);
  if (st != PK_EINTR)
    fail_msg("%s, %d workers, %s: %s after %.3f s", backend, workers,
             how ? "a signal" : "a thread", pk_strerror(st), took);
  assert_true(took < 1.0); /* not run to its end (2 s on one worker) */
  assert_non_null(strstr(pk_errmsg(nap_ctx), "interrupted"));
  const size_t *fl = pk_failed(nap_ctx, &nf);
  if (!(nf > 0 && nf < NAP_ITEMS))
    fail_msg("%s, %d workers, %s: %zu items listed", backend, workers,
             how ? "a signal" : "a thread", nf);
  assert_int_equal(pk_last_stats(nap_ctx)->failed, nf);
  for (i = 0; i < NAP_ITEMS; i++) {
    int failed = j < nf && fl[j] == i;
    j += failed;
    if (y[i] != (failed ? -1 : 2 * x[i]))
      fail_msg("%s: item %zu (%s) holds %g", backend, i,
               failed ? "listed" : "not listed", y[i]);
  }
  assert_int_equal(j, nf);
  /* Spent: the next map runs whole, its estimate not taken from the
     stopped map's time (400 items of 5 ms on one core: 2 s). */
  assert_int_equal(pk_map(nap_ctx, k, a, &out, &o), PK_OK);
  for (i = 0; i < NAP_ITEMS; i++)
    assert_true(y[i] == 2 * x[i]);
  if (pk_last_stats(nap_ctx)->est_seconds < 1.0)
    fail_msg("%s: estimate %g s after an interrupted map", backend,
             pk_last_stats(nap_ctx)->est_seconds);
  pk_array_destroy(&a);
  pk_array_destroy(&out);
  assert_int_equal(pk_finalize(&nap_ctx), PK_OK);
}

/* out = 2 * in; item 0 takes 0.3 s. */
static pk_status stall_run(const pk_kernel *k, const pk_task *t, size_t lo,
                           size_t hi, size_t *bad) {
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++) {
    if (t->first + i == 0) {
      struct timespec ts = {0, 300000000};
      while (nanosleep(&ts, &ts) != 0)
        ;
    }
    *(double *)(t->out + i * t->out_stride) =
        2 * *(const double *)(t->ins[0] + i * t->in_strides[0]);
  }
  return PK_OK;
}

/* A map of 3,000,000 items stopped while its first runs: the items not
   run are all counted, the first 1,048,576 of them listed, in order, and
   the message says so; the others are computed. */
static void test_interrupt_many(void **state) {
  const pk_kernel stall = {.name = "stall", .shape = scalar_shape,
                           .run = stall_run};
  pk_config cfg = {.backend = "serial"};
  size_t n = 3000000, shape[1] = {n}, nf, i, done = 0;
  pk_array *a = NULL, *out = NULL;
  pthread_t th;
  (void)state;

  assert_int_equal(pk_init_config(&nap_ctx, NULL, NULL, &cfg), PK_OK);
  assert_int_equal(pk_array_create(nap_ctx, PK_F64, 1, shape, &a), PK_OK);
  double *x = pk_array_data(a);
  for (i = 0; i < n; i++)
    x[i] = (double)i;
  assert_int_equal(pthread_create(&th, NULL, interrupt_later, NULL), 0);
  assert_int_equal(pk_map(nap_ctx, &stall, a, &out, NULL), PK_EINTR);
  pthread_join(th, NULL);
  const double *y = pk_array_data(out);
  while (done < n && y[done] == 2 * x[done])
    done++;
  assert_true(done >= 1 && done < n - (1u << 20));
  for (i = done; i < n; i++)
    assert_true(y[i] == 0); /* a new output: zeros where nothing ran */
  assert_int_equal(pk_last_stats(nap_ctx)->failed, n - done);
  const size_t *fl = pk_failed(nap_ctx, &nf);
  assert_int_equal(nf, 1u << 20);
  for (i = 0; i < nf; i++)
    assert_int_equal(fl[i], done + i);
  assert_non_null(strstr(pk_errmsg(nap_ctx), "1048576 of them listed"));
  pk_array_destroy(&a);
  pk_array_destroy(&out);
  assert_int_equal(pk_finalize(&nap_ctx), PK_OK);
}

static void test_interrupt(void **state) {
  /* A map in the calling thread runs in pieces of about 10 ms: sized by
     the cost, or without one from a first item, timed. */
  const pk_kernel costed = {.name = "nap", .shape = scalar_shape,
                            .run = nap_run, .cost = nap_cost};
  const pk_kernel plain = {.name = "nap", .shape = scalar_shape,
                           .run = nap_run};
  (void)state;
  for (const char *const *b = pk_backends(); *b; b++) {
    if (strcmp(*b, "mpi") == 0)
      continue;
    for (int how = 0; how < 2; how++) {
      interrupt_on(*b, 1, PK_INLINE_AUTO, &costed, how);
      interrupt_on(*b, 2, PK_INLINE_NEVER, &costed, how);
      interrupt_on(*b, 2, PK_INLINE_ALWAYS, &plain, how);
    }
  }
  assert_int_equal(pk_interrupt(NULL), PK_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_det),
      cmocka_unit_test(test_slogdet),
      cmocka_unit_test(test_fft2),
      cmocka_unit_test(test_autocorr2d),
      cmocka_unit_test(test_count),
      cmocka_unit_test(test_interrupt),
      cmocka_unit_test(test_interrupt_many),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
