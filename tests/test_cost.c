/*
 * The cost model and the inline rule: estimates measured on this CPU, and
 * chunks that use every worker.
 *
 * The estimate is checked against the time of the same serial maps, as a
 * median over several: it is a property of the estimate, not a speed.  The
 * chunking checks read only the statistics the rule decided from, so they
 * do not depend on how fast the machine is.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <parkit.h>
#include <parkit/kernels.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "scalar_shape.h"

static uint64_t rng = 88172645463325252u;

static double unif(void) { /* [-1, 1) */
  rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
  return (double)((rng * 2685821657736338717u) >> 11) * 0x1p-52 - 1;
}

static int compiled(const char *backend) {
  for (const char *const *b = pk_backends(); *b; b++)
    if (strcmp(*b, backend) == 0)
      return 1;
  return 0;
}

static pk_context *open_ctx(const char *backend, int workers) {
  pk_config cfg = {.backend = backend, .workers = workers};
  pk_context *ctx = NULL;
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
  return ctx;
}

/* count items of h x w random values of dtype. */
static pk_array *batch(pk_context *ctx, pk_dtype dt, size_t count, size_t h,
                       size_t w) {
  size_t shape[3] = {count, h, w}, i, m;
  pk_array *a = NULL;
  double *x;

  assert_int_equal(pk_array_create(ctx, dt, 3, shape, &a), PK_OK);
  x = pk_array_data(a);
  m = pk_array_count(a) * (dt == PK_C128 ? 2 : 1);
  for (i = 0; i < m; i++)
    x[i] = unif();
  return a;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct kcase {
  const char *what;
  const pk_kernel *(*kernel)(void);
  pk_dtype dtype;
  size_t n, count;
} kcase;

static const pk_kernel *autocorr(void) {
  return pk_kernel_autocorr2d(PK_AUTOCORR_AUTO);
}

/* Items a case runs: a few milliseconds a map at most. */
static const kcase cases[] = {
    {"det", pk_kernel_det, PK_F64, 10, 256},
    {"det", pk_kernel_det, PK_F64, 32, 64},
    {"det", pk_kernel_det, PK_F64, 100, 16},
    {"det", pk_kernel_det, PK_F64, 256, 4},
    {"slogdet", pk_kernel_slogdet, PK_F64, 10, 256},
    {"slogdet", pk_kernel_slogdet, PK_F64, 100, 16},
    {"fft2", pk_kernel_fft2, PK_C128, 100, 16},
    {"autocorr2d", autocorr, PK_F64, 100, 4},
};

#define MAPS 11 /* per case; the first, which plans, is not compared */

/*
 * est_seconds of a serial map (every item on one core) against the time of
 * that map: the medians of the maps after the first within a factor of 2.
 * A map that a busy machine slowed down counts against one of the medians
 * only.
 */
static void test_estimate_serial(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 1);

  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const kcase *k = &cases[c];
    pk_array *a = batch(ctx, k->dtype, k->count, k->n, k->n), *out = NULL;
    double est[MAPS], sec[MAPS], first, me, ms;

    for (int r = 0; r < MAPS; r++) {
      assert_int_equal(pk_map(ctx, k->kernel(), a, &out, NULL), PK_OK);
      const pk_stats *s = pk_last_stats(ctx);
      assert_int_equal(s->ran_inline, 1);
      est[r] = s->est_seconds;
      sec[r] = s->seconds;
    }
    first = est[0] / sec[0];
    me = median(est + 1, MAPS - 1);
    ms = median(sec + 1, MAPS - 1);
    print_message("%-10s %3zux%-3zu x%-4zu est %9.1f us  time %9.1f us  "
                  "ratio %5.2f  (first map %5.2f)\n",
                  k->what, k->n, k->n, k->count, me * 1e6, ms * 1e6, me / ms,
                  first);
    assert_true(me > 0.5 * ms);
    assert_true(me < 2.0 * ms);
    pk_array_destroy(&a);
    pk_array_destroy(&out);
  }
  assert_int_equal(pk_finalize(&ctx), PK_OK);
}

/*
 * A pair kernel's cost is its second item's as much as its first's: maps
 * of the same images against a 1x1 and then a 15x15 kernel image (direct
 * sums, 225 times the products) each get an estimate within 2x of their
 * own time, from the second map of each on (the first measures).
 */
static void test_estimate_pairs(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 1);
  const pk_kernel *k = pk_kernel_correlate2d(PK_MODE_FULL,
                                             PK_AUTOCORR_DIRECT);
  pk_array *a = batch(ctx, PK_F64, 16, 100, 100);
  const size_t side[] = {1, 15};

  assert_non_null(k);
  for (size_t c = 0; c < 2; c++) {
    pk_array *b = batch(ctx, PK_F64, 1, side[c], side[c]), *out = NULL;
    const pk_array *const in[2] = {a, b};
    double est[MAPS], sec[MAPS], me, ms;

    for (int r = 0; r < MAPS; r++) {
      assert_int_equal(pk_map_n(ctx, k, 2, in, 1, &out, NULL), PK_OK);
      const pk_stats *s = pk_last_stats(ctx);
      assert_int_equal(s->ran_inline, 1);
      est[r] = s->est_seconds;
      sec[r] = s->seconds;
    }
    ms = median(sec + 1, MAPS - 1);
    me = median(est + 1, MAPS - 1);
    print_message("correlate2d 100x100 with %zux%zu x16: est %9.1f us (second "
                  "map %9.1f)  time %9.1f us\n", side[c], side[c], me * 1e6,
                  est[1] * 1e6, ms * 1e6);
    assert_true(me > 0.5 * ms && me < 2.0 * ms);
    assert_true(est[1] > 0.5 * ms && est[1] < 2.0 * ms);
    pk_array_destroy(&b);
    pk_array_destroy(&out);
  }
  pk_array_destroy(&a);
  assert_int_equal(pk_finalize(&ctx), PK_OK);
}

/* An item that takes at least 5 us on any CPU; its cost function says
   100 ns, as constants fitted on a faster one might. */
static pk_status slow_run(const pk_kernel *k, const pk_task *t, size_t lo,
                          size_t hi, size_t *bad) {
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++) {
    double t0 = pk_time();
    while (pk_time() - t0 < 5e-6)
      ;
    *(double *)(t->out + i * t->out_stride) = 1;
  }
  return PK_OK;
}

static double slow_cost(const pk_kernel *k, const pk_item *in) {
  (void)k, (void)in;
  return 100;
}

/*
 * The first map of a kernel whose cost function is far too low: it times
 * its first items before deciding, so it runs on every worker, and its
 * estimate is the measured one.  One kernel table per backend: the
 * measurements are kept per process.
 */
static void first_map_measures(const char *backend) {
  static const pk_kernel slow[2] = {
      {.name = "slow", .shape = scalar_shape, .run = slow_run,
       .cost = slow_cost},
      {.name = "slow", .shape = scalar_shape, .run = slow_run,
       .cost = slow_cost}};
  pk_context *ctx = open_ctx(backend, 2);
  pk_array *a = batch(ctx, PK_F64, 200, 1, 1), *out = NULL;
  const pk_kernel *k = &slow[strcmp(backend, "openmp") == 0];

  assert_int_equal(pk_map(ctx, k, a, &out, NULL), PK_OK);
  const pk_stats *s = pk_last_stats(ctx);
  print_message("%s: first map of 200 x 5 us: est %.0f us, dispatch %.1f us, "
                "%d workers, %zu chunks\n", backend, s->est_seconds * 1e6,
                s->dispatch_seconds * 1e6, s->workers, s->chunks);
  assert_true(s->est_seconds >= 200 * 5e-6);
  /* 1 ms of work against a dispatch cost of at most tens of us */
  if (s->est_seconds > 4 * s->dispatch_seconds) {
    assert_int_equal(s->ran_inline, 0);
    assert_int_equal(s->workers, 2);
  }
  for (size_t i = 0; i < 200; i++)
    assert_true(((double *)pk_array_data(out))[i] == 1);
  pk_array_destroy(&a);
  pk_array_destroy(&out);
  assert_int_equal(pk_finalize(&ctx), PK_OK);
}

static void test_first_map_measures(void **state) {
  (void)state;
  first_map_measures("openmp");
  if (compiled("fork"))
    first_map_measures("fork");
}

/*
 * Batches of costly items use every worker: dispatched (forced), they are
 * split into at least one chunk a worker whatever the kernel's grain; with
 * the default rule, a batch estimated at several dispatch costs is
 * dispatched to every worker.  The second reads only what the rule read.
 */
static void chunks_on(const char *backend) {
  static const struct { size_t n, count; } b[] = {
      {10, 64}, {10, 256}, {100, 8}, {100, 2}};
  pk_map_opts never = {.inlining = PK_INLINE_NEVER};
  pk_context *ctx = open_ctx(backend, 2);

  for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
    pk_array *a = batch(ctx, PK_F64, b[i].count, b[i].n, b[i].n);
    pk_array *out = NULL;
    const pk_stats *s;

    assert_int_equal(pk_map(ctx, pk_kernel_det(), a, &out, &never), PK_OK);
    s = pk_last_stats(ctx);
    assert_int_equal(s->ran_inline, 0);
    assert_int_equal(s->workers, 2);
    assert_true(s->chunks >= 2);

    for (int r = 0; r < 3; r++) {
      assert_int_equal(pk_map(ctx, pk_kernel_det(), a, &out, NULL), PK_OK);
      s = pk_last_stats(ctx);
      print_message("%s: det %zux%zu x%zu: est %.1f us, dispatch %.1f us: "
                    "%s, %d workers, %zu chunks of %zu\n", backend, b[i].n,
                    b[i].n, b[i].count, s->est_seconds * 1e6,
                    s->dispatch_seconds * 1e6,
                    s->ran_inline ? "inline" : "dispatched", s->workers,
                    s->chunks, s->chunk);
      /* the rule: inline when est < est / 2 + dispatch */
      if (s->est_seconds > 2.5 * s->dispatch_seconds) {
        assert_int_equal(s->ran_inline, 0);
        assert_int_equal(s->workers, 2);
        assert_true(s->chunks >= 2);
      } else if (s->est_seconds < 1.5 * s->dispatch_seconds) {
        assert_int_equal(s->ran_inline, 1);
      }
    }
    pk_array_destroy(&a);
    pk_array_destroy(&out);
  }
  assert_int_equal(pk_finalize(&ctx), PK_OK);
}

static void test_chunks(void **state) {
  (void)state;
  chunks_on("openmp");
  if (compiled("fork"))
    chunks_on("fork");
}

/* A user's kernel without a cost function is dispatched, as before. */
static void test_no_cost(void **state) {
  (void)state;
  pk_kernel k = {.name = "slow-unknown", .shape = scalar_shape,
                 .run = slow_run};
  pk_context *ctx = open_ctx("openmp", 2);
  pk_array *a = batch(ctx, PK_F64, 4, 1, 1), *out = NULL;

  assert_int_equal(pk_map(ctx, &k, a, &out, NULL), PK_OK);
  assert_int_equal(pk_last_stats(ctx)->ran_inline, 0);
  assert_true(isinf(pk_last_stats(ctx)->est_seconds));
  pk_array_destroy(&a);
  pk_array_destroy(&out);
  /* An empty batch: nothing to estimate is 0 seconds, not inf * 0. */
  a = batch(ctx, PK_F64, 0, 1, 1);
  assert_int_equal(pk_map(ctx, &k, a, &out, NULL), PK_OK);
  assert_true(pk_last_stats(ctx)->est_seconds == 0);
  pk_array_destroy(&a);
  pk_array_destroy(&out);
  assert_int_equal(pk_finalize(&ctx), PK_OK);
}

/*
 * Several threads map on contexts of their own at once, so they measure
 * into the one table of the process together: each still gets the bits a
 * lone map gives.
 */
#define THREADS 4

typedef struct job {
  size_t n;
  const double *ref;
  int ok;
} job;

static void *mapper(void *arg) {
  job *jb = arg;
  pk_config cfg = {.backend = "serial"};
  pk_context *ctx = NULL;
  size_t shape[3] = {64, jb->n, jb->n};
  pk_array *a = NULL, *out = NULL;
  uint64_t seed = 88172645463325252u + jb->n;

  jb->ok = pk_init_config(&ctx, NULL, NULL, &cfg) == PK_OK &&
           pk_array_create(ctx, PK_F64, 3, shape, &a) == PK_OK;
  for (size_t i = 0; jb->ok && i < pk_array_count(a); i++) {
    seed ^= seed >> 12, seed ^= seed << 25, seed ^= seed >> 27;
    ((double *)pk_array_data(a))[i] =
        (double)((seed * 2685821657736338717u) >> 11) * 0x1p-52 - 0.5;
  }
  for (int r = 0; jb->ok && r < 40; r++) {
    jb->ok = pk_map(ctx, r % 2 ? pk_kernel_det() : pk_kernel_slogdet(), a,
                    &out, NULL) == PK_OK;
    pk_array_destroy(&out);
  }
  if (jb->ok)
    jb->ok = pk_map(ctx, pk_kernel_det(), a, &out, NULL) == PK_OK &&
             memcmp(pk_array_data(out), jb->ref, 64 * sizeof(double)) == 0;
  pk_array_destroy(&out);
  pk_array_destroy(&a);
  pk_finalize(&ctx);
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  pthread_t th[THREADS];
  job jb[THREADS];
  double ref[THREADS][64];

  /* The references, one thread at a time. */
  for (int t = 0; t < THREADS; t++) {
    job one = {.n = (size_t)(3 + 5 * t), .ref = NULL};
    pk_config cfg = {.backend = "serial"};
    pk_context *ctx = NULL;
    size_t shape[3] = {64, one.n, one.n};
    pk_array *a = NULL, *out = NULL;
    uint64_t seed = 88172645463325252u + one.n;
    assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
    assert_int_equal(pk_array_create(ctx, PK_F64, 3, shape, &a), PK_OK);
    for (size_t i = 0; i < pk_array_count(a); i++) {
      seed ^= seed >> 12, seed ^= seed << 25, seed ^= seed >> 27;
      ((double *)pk_array_data(a))[i] =
          (double)((seed * 2685821657736338717u) >> 11) * 0x1p-52 - 0.5;
    }
    assert_int_equal(pk_map(ctx, pk_kernel_det(), a, &out, NULL), PK_OK);
    memcpy(ref[t], pk_array_data(out), sizeof ref[t]);
    pk_array_destroy(&out);
    pk_array_destroy(&a);
    assert_int_equal(pk_finalize(&ctx), PK_OK);
  }
  for (int t = 0; t < THREADS; t++) {
    jb[t] = (job){.n = (size_t)(3 + 5 * t), .ref = ref[t]};
    assert_int_equal(pthread_create(&th[t], NULL, mapper, &jb[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    assert_true(jb[t].ok);
  }
}

/*
 * The model of workers late after a pause (pk__wake), on made-up pauses,
 * lateness and times in seconds: nothing is expected from fewer than two
 * notes of a class of pause, then the lower median of its notes of the
 * last PK__WAKE_TTL seconds, where that is a late wake.
 */
static void test_wake(void **state) {
  (void)state;
  const double warm = 2e-6;
  pk__wake w;
  memset(&w, 0, sizeof w);

  assert_true(pk__wake_expect(&w, 1.0, 0, warm) == 0);
  pk__wake_note(&w, 0.020, 3e-3, 10.0); /* late, once: maybe a stall */
  assert_true(pk__wake_expect(&w, 0.020, 10.0, warm) == 0);
  pk__wake_note(&w, 0.021, 2e-3, 10.1); /* late again */
  assert_true(pk__wake_expect(&w, 0.022, 10.2, warm) == 2e-3); /* 2, 3 */
  assert_true(pk__wake_expect(&w, 0.015, 10.2, warm) == 2e-3); /* 10-41 ms */
  assert_true(pk__wake_expect(&w, 0.009, 10.2, warm) == 0); /* another */
  assert_true(pk__wake_expect(&w, 0.050, 10.2, warm) == 0);
  /* Stale after PK__WAKE_TTL: learnt again. */
  assert_true(pk__wake_expect(&w, 0.020, 10.0 + PK__WAKE_TTL + 0.2, warm) ==
              0);
  assert_true(pk__wake_expect(&w, 0.020, 10.1 + PK__WAKE_TTL - 0.01,
                              warm) == 0); /* one note left */
  /* One stall among quick wakes after short pauses changes nothing. */
  pk__wake_note(&w, 14e-6, 4e-3, 11.0);
  pk__wake_note(&w, 15e-6, 30e-6, 11.0);
  assert_true(pk__wake_expect(&w, 16e-6, 11.0, warm) == 30e-6);
  pk__wake_note(&w, 12e-6, 5e-6, 11.0);
  assert_true(pk__wake_expect(&w, 16e-6, 11.0, warm) == 30e-6); /* middle */
  pk__wake_note(&w, 12e-6, 6e-6, 11.0); /* 30, 5, 6 us: no late wake */
  assert_true(pk__wake_expect(&w, 16e-6, 11.0, warm) == 0);
  /* A class keeps its last PK__WAKE_KEEP notes. */
  for (int i = 1; i <= 5; i++)
    pk__wake_note(&w, 0.300, i * 1e-3, 12.0);
  assert_int_equal(w.c[8].n, PK__WAKE_KEEP);
  assert_true(pk__wake_expect(&w, 0.200, 12.0, warm) == 4e-3); /* 3, 4, 5 */
  for (int i = 0; i < PK__WAKE_KEEP; i++) /* quick wakes after long pauses */
    pk__wake_note(&w, 0.300, 10e-6, 12.5);
  assert_true(pk__wake_expect(&w, 0.300, 12.5, warm) == 0);
  assert_true(pk__wake_expect(&w, 0.020, 12.5, warm) == 0); /* stale */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wake),
      cmocka_unit_test(test_estimate_serial),
      cmocka_unit_test(test_estimate_pairs),
      cmocka_unit_test(test_first_map_measures),
      cmocka_unit_test(test_chunks),
      cmocka_unit_test(test_no_cost),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
