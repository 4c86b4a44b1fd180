/*
 * Allocation failures: the Nth allocation inside the library fails, for
 * every N, and each call returns PK_OK or PK_ENOMEM with a message, never
 * crashes, and leaves the context usable.  Linked with --wrap so that the
 * library's malloc, calloc, realloc and posix_memalign come here.  (Under
 * the sanitizer build, LeakSanitizer also checks nothing leaks.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <parkit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);

static long countdown = -1; /* the allocation that fails; -1: none */
static long seen;

static int fail_now(void) {
  if (countdown < 0)
    return 0;
  seen++;
  return seen == countdown;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) {
  return fail_now() ? NULL : __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
  return fail_now() ? NULL : __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t a, size_t n) {
  return fail_now() ? 12 /* ENOMEM */ : __real_posix_memalign(p, a, n);
}

static pk_status twice_shape(const pk_kernel *k, const pk_item *in,
                             pk_item *out, char *msg, size_t len) {
  (void)k, (void)msg, (void)len;
  *out = *in;
  return PK_OK;
}

/* Doubles each value; fails on items whose first value is negative. */
static pk_status twice_run(const pk_kernel *k, const pk_task *t, size_t lo,
                           size_t hi, size_t *bad) {
  size_t m = t->in_item.shape[0];
  (void)k;
  for (size_t i = lo; i < hi; i++) {
    const double *x = (const double *)(t->in + i * t->in_stride);
    double *y = (double *)(t->out + i * t->out_stride);
    if (x[0] < 0) {
      *bad = i;
      return PK_EKERNEL;
    }
    for (size_t e = 0; e < m; e++)
      y[e] = 2 * x[e];
  }
  return PK_OK;
}

static size_t twice_scratch(const pk_kernel *k, const pk_item *in) {
  (void)k;
  return in->shape[0] * 8;
}

static const pk_kernel twice = {.name = "twice",
                                .shape = twice_shape,
                                .run = twice_run,
                                .scratch = twice_scratch};

static int ok_or_oom(pk_context *ctx, pk_status st) {
  if (st == PK_ENOMEM && ctx != NULL)
    assert_true(strlen(pk_errmsg(ctx)) > 0);
  assert_true(st == PK_OK || st == PK_ENOMEM);
  return st == PK_OK;
}

/* One pass through the API with the Nth allocation failing. */
static void pass(const char *backend, long n, const char *path) {
  pk_config cfg = {.backend = backend, .workers = 2};
  pk_map_opts never = {.inlining = PK_INLINE_NEVER};
  size_t shape[2] = {5000, 4}, nf;
  pk_context *ctx = NULL;
  pk_array *a = NULL, *out = NULL, *b = NULL;
  double r;

  seen = 0;
  countdown = n;
  if (!ok_or_oom(NULL, pk_init_config(&ctx, NULL, NULL, &cfg))) {
    assert_null(ctx);
    countdown = -1;
    return;
  }
  if (ok_or_oom(ctx, pk_array_create(ctx, PK_F64, 2, shape, &a))) {
    double *x = pk_array_data(a);
    for (size_t i = 0; i < 20000; i++)
      x[i] = (double)i;
    x[4 * 17] = -1; /* item 17 fails in the kernel */
    pk_status st = pk_map(ctx, &twice, a, &out, &never);
    assert_true(st == PK_EKERNEL || st == PK_ENOMEM);
    if (st == PK_EKERNEL) {
      pk_failed(ctx, &nf);
      assert_true(nf <= 1); /* the list itself may not have been kept */
      assert_int_equal(pk_last_stats(ctx)->failed, 1);
    }
    x[4 * 17] = 1;
    ok_or_oom(ctx, pk_reduce(ctx, a, PK_SUM, &r));
    ok_or_oom(ctx, pk_map_reduce(ctx, &twice, a, PK_MAX, &r, NULL));
    if (ok_or_oom(ctx, pk_array_save_npy(ctx, a, path)))
      ok_or_oom(ctx, pk_array_load_npy(ctx, path, &b));
  }
  /* With allocation working again, the same context does the whole job. */
  countdown = -1;
  pk_array_destroy(&out);
  if (a == NULL)
    assert_int_equal(pk_array_create(ctx, PK_F64, 2, shape, &a), PK_OK);
  double *x = pk_array_data(a);
  for (size_t i = 0; i < 20000; i++)
    x[i] = (double)i;
  assert_int_equal(pk_map(ctx, &twice, a, &out, &never), PK_OK);
  assert_int_equal(pk_reduce(ctx, out, PK_MAX, &r), PK_OK);
  assert_true(r == 2 * 19999.0);
  pk_array_destroy(&a);
  pk_array_destroy(&b);
  pk_array_destroy(&out);
  assert_int_equal(pk_finalize(&ctx), PK_OK);
}

static void run_all(const char *backend) {
  char path[64];
  long n, total;

  snprintf(path, sizeof path, "/tmp/parkit-oom-%d.npy", (int)getpid());
  /* Count the allocations of a pass with none failing. */
  seen = 0;
  countdown = 1L << 40;
  pass(backend, 1L << 40, path);
  total = seen;
  assert_true(total > 5);
  for (n = 1; n <= total; n++)
    pass(backend, n, path);
  unlink(path);
}

static void test_serial(void **state) {
  (void)state;
  run_all("serial");
}

static void test_openmp(void **state) {
  (void)state;
  run_all("openmp");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_serial),
      cmocka_unit_test(test_openmp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
