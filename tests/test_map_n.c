/*
 * pk_map_n: maps over several input batches and outputs, on every backend,
 * against a plain loop over the same items; broadcast inputs, outputs made
 * or given, wrapped and library arrays, failed items, refusals that name
 * the array.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"

#include <parkit.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitmix.h"

#include "pair_kernel.h"

static pk_context *open_ctx(const char *backend, int workers) {
  pk_config cfg = {.backend = backend, .workers = workers};
  pk_context *ctx = NULL;
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
  return ctx;
}

static void fill(double *x, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++)
    x[i] = (double)(pk__splitmix(&seed) >> 11) * 0x1p-52 - 1.0;
}

/* The plain loop: y, d of n items from a (n x m) and b (n x m, or one
   vector when bcast); fails[] marks the items the kernel refuses. */
static void reference(const double *a, const double *b, size_t n, size_t m,
                      int bcast, double *y, double *d, char *fails) {
  for (size_t i = 0; i < n; i++) {
    const double *ai = a + i * m, *bi = b + (bcast ? 0 : i * m);
    fails[i] = ai[0] < -0.9;
    d[i] = 0;
    for (size_t e = 0; e < m; e++) {
      y[i * m + e] = ai[e] + 2 * bi[e];
      d[i] += ai[e] * bi[e];
    }
  }
}

static const char *const backends[] = {"serial", "openmp",
#ifdef PK_HAVE_FORK_BACKEND
                                       "fork",
#endif
                                       NULL};

static void test_values(void **state) {
  const size_t n = 1003, m = 7;
  double *a = malloc(n * m * sizeof *a), *b = malloc(n * m * sizeof *b);
  double *y = malloc(n * m * sizeof *y), *d = malloc(n * sizeof *d);
  char *fails = malloc(n);
  (void)state;

  fill(a, n * m, 1);
  fill(b, n * m, 2);
  for (const char *const *be = backends; *be; be++)
    for (int bcast = 0; bcast < 2; bcast++)
      for (int made = 0; made < 2; made++) {
        pk_context *ctx = open_ctx(*be, 2);
        size_t sa[2] = {n, m}, sb[2] = {bcast ? 1 : n, m}, nfail = 0, k = 0;
        pk_array *ia = NULL, *ib = NULL, *out[2] = {NULL, NULL};
        pk_map_opts never = {.inlining = PK_INLINE_NEVER, .chunk = 64};
        reference(a, b, n, m, bcast, y, d, fails);
        /* library arrays (shared memory on fork), or the caller's */
        if (made) {
          assert_int_equal(pk_array_create(ctx, PK_F64, 2, sa, &ia), PK_OK);
          assert_int_equal(pk_array_create(ctx, PK_F64, 2, sb, &ib), PK_OK);
          memcpy(pk_array_data(ia), a, n * m * sizeof *a);
          memcpy(pk_array_data(ib), b, sb[0] * m * sizeof *b);
        } else {
          assert_int_equal(pk_array_wrap(ctx, PK_F64, 2, sa, a, &ia), PK_OK);
          assert_int_equal(pk_array_wrap(ctx, PK_F64, 2, sb, b, &ib), PK_OK);
        }
        const pk_array *in[2] = {ia, ib};
        pk_status st = pk_map_n(ctx, &pair, 2, in, 2, out, &never);
        for (size_t i = 0; i < n; i++)
          nfail += fails[i];
        assert_true(nfail > 0 && nfail < n);
        assert_int_equal(st, PK_EKERNEL);
        const size_t *f = pk_failed(ctx, &k);
        assert_int_equal(k, nfail);
        for (size_t i = 0, c = 0; i < n; i++)
          if (fails[i])
            assert_int_equal(f[c++], i);
        assert_int_equal(pk_array_dim(out[0], 0), n);
        assert_int_equal(pk_array_dim(out[0], 1), m);
        assert_int_equal(pk_array_ndim(out[1]), 1);
        const double *gy = pk_array_data(out[0]), *gd = pk_array_data(out[1]);
        for (size_t i = 0; i < n; i++) {
          if (fails[i])
            continue;
          assert_memory_equal(gy + i * m, y + i * m, m * sizeof *y);
          assert_memory_equal(&gd[i], &d[i], sizeof *d);
        }
        /* Into the outputs given: the same values again, written there. */
        memset(pk_array_data(out[0]), 0, n * m * sizeof *y);
        st = pk_map_n(ctx, &pair, 2, in, 2, out, NULL);
        assert_int_equal(st, PK_EKERNEL);
        for (size_t i = 0; i < n; i++)
          if (!fails[i])
            assert_memory_equal(gy + i * m, y + i * m, m * sizeof *y);
        pk_array_destroy(&out[0]);
        pk_array_destroy(&out[1]);
        pk_array_destroy(&ia);
        pk_array_destroy(&ib);
        assert_int_equal(pk_finalize(&ctx), PK_OK);
      }
  free(a), free(b), free(y), free(d), free(fails);
}

static void test_refusals(void **state) {
  double a[40] = {0}, b[40] = {0};
  size_t s10[2] = {10, 4}, s9[2] = {9, 4}, s5[2] = {10, 5};
  (void)state;

  for (const char *const *be = backends; *be; be++) {
    pk_context *ctx = open_ctx(*be, 2);
    pk_array *ia = NULL, *ib = NULL, *ic = NULL, *id = NULL, *out[2] = {0};
    assert_int_equal(pk_array_wrap(ctx, PK_F64, 2, s10, a, &ia), PK_OK);
    assert_int_equal(pk_array_wrap(ctx, PK_F64, 2, s9, b, &ib), PK_OK);
    assert_int_equal(pk_array_create(ctx, PK_F64, 2, s5, &ic), PK_OK);
    const pk_array *in[2] = {ia, ib};
    /* batches of 10 and 9 items */
    assert_int_equal(pk_map_n(ctx, &pair, 2, in, 2, out, NULL), PK_ESHAPE);
    assert_non_null(strstr(pk_errmsg(ctx), "input 1 has 9 items"));
    assert_null(out[0]);
    /* the kernel's own check, with its message */
    in[1] = ic;
    assert_int_equal(pk_map_n(ctx, &pair, 2, in, 2, out, NULL), PK_ESHAPE);
    assert_non_null(strstr(pk_errmsg(ctx), "one length"));
    /* counts that are not the kernel's */
    assert_int_equal(pk_map_n(ctx, &pair, 1, in, 2, out, NULL), PK_EINVAL);
    assert_non_null(strstr(pk_errmsg(ctx), "takes 2 inputs"));
    assert_int_equal(pk_map(ctx, &pair, ia, &id, NULL), PK_EINVAL);
    assert_null(id);
    /* a NULL input, named */
    in[1] = NULL;
    assert_int_equal(pk_map_n(ctx, &pair, 2, in, 2, out, NULL), PK_EINVAL);
    assert_non_null(strstr(pk_errmsg(ctx), "input 1 is NULL"));
    /* an output over an input */
    in[1] = ia;
    out[0] = ia;
    assert_int_equal(pk_map_n(ctx, &pair, 2, in, 2, out, NULL), PK_EINVAL);
    assert_non_null(strstr(pk_errmsg(ctx), "output 0 overlaps"));
    out[0] = NULL;
    /* and the pool still maps */
    assert_int_equal(pk_map_n(ctx, &pair, 2, in, 2, out, NULL), PK_OK);
    pk_array_destroy(&out[0]);
    pk_array_destroy(&out[1]);
    pk_array_destroy(&ia);
    pk_array_destroy(&ib);
    pk_array_destroy(&ic);
    assert_int_equal(pk_finalize(&ctx), PK_OK);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
