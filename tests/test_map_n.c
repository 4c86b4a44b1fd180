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
#include <parkit/async.h>

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

static void count_items(void *arg, size_t lo, size_t hi) {
  *(size_t *)arg += hi - lo;
}

/*
 * The other forms of pk_map_n on every backend: pk_map_reduce_n against
 * pk_reduce of pk_map_n's outputs (the same bits) and the plain loop's
 * sums (close); pk_map_async_n and pk_map_each_n against pk_map_n's bits
 * (each chunk told once); input 0 given as a view of its transpose
 * (pk_array_view) against the contiguous input's bits.
 */
static void test_forms(void **state) {
  const size_t n = 517, m = 5;
  double *a = malloc(n * m * sizeof *a), *b = malloc(n * m * sizeof *b);
  double *at = malloc(n * m * sizeof *at), *y = malloc(n * m * sizeof *y);
  double *d = malloc(n * sizeof *d);
  char *fails = malloc(n);
  (void)state;

  fill(a, n * m, 3);
  fill(b, n * m, 4);
  for (size_t i = 0; i < n; i++)
    a[i * m] = fabs(a[i * m]); /* no item fails */
  for (size_t i = 0; i < n; i++)
    for (size_t e = 0; e < m; e++)
      at[e * n + i] = a[i * m + e];
  reference(a, b, n, m, 0, y, d, fails);
  double sy = 0, sd = 0;
  for (size_t i = 0; i < n * m; i++)
    sy += y[i];
  for (size_t i = 0; i < n; i++)
    sd += d[i];
  for (const char *const *be = backends; *be; be++) {
    pk_context *ctx = open_ctx(*be, 2);
    size_t sa[2] = {n, m}, st_[2] = {m, n}, told = 0;
    pk_array *ia = NULL, *ib = NULL, *it = NULL, *iv = NULL;
    pk_array *ref[2] = {NULL, NULL}, *got[2] = {NULL, NULL};
    pk_map_opts never = {.inlining = PK_INLINE_NEVER, .chunk = 50};
    pk_future *f = NULL;
    double r[4] = {-1, -1, -1, -1}, want[2];
    assert_int_equal(pk_array_wrap(ctx, PK_F64, 2, sa, a, &ia), PK_OK);
    assert_int_equal(pk_array_wrap(ctx, PK_F64, 2, sa, b, &ib), PK_OK);
    const pk_array *in[2] = {ia, ib};
    assert_int_equal(pk_map_n(ctx, &pair, 2, in, 2, ref, &never), PK_OK);
    assert_memory_equal(pk_array_data(ref[1]), d, n * sizeof *d);
    for (int k = 0; k < 2; k++)
      assert_int_equal(pk_reduce(ctx, ref[k], PK_SUM, &want[k]), PK_OK);
    assert_int_equal(pk_map_reduce_n(ctx, &pair, 2, in, PK_SUM, r, &never),
                     PK_OK);
    assert_memory_equal(&r[0], &want[0], sizeof *r);
    assert_memory_equal(&r[2], &want[1], sizeof *r);
    assert_true(r[1] == 0 && r[3] == 0);
    assert_true(fabs(r[0] - sy) <= 1e-12 * (double)(n * m));
    assert_true(fabs(r[2] - sd) <= 1e-12 * (double)(n * m));
    assert_int_equal(pk_map_reduce(ctx, &pair, ia, PK_SUM, r, NULL),
                     PK_EINVAL);
    assert_non_null(strstr(pk_errmsg(ctx), "pk_map_reduce_n"));

    assert_int_equal(pk_map_async_n(ctx, &pair, 2, in, 2, got, &never, &f),
                     PK_OK);
    assert_int_equal(pk_future_get(f), PK_OK);
    pk_future_destroy(&f);
    for (int k = 0; k < 2; k++) {
      assert_memory_equal(pk_array_data(got[k]), pk_array_data(ref[k]),
                          pk_array_nbytes(ref[k]));
      memset(pk_array_data(got[k]), 0, pk_array_nbytes(got[k]));
    }
    assert_int_equal(pk_map_each_n(ctx, &pair, 2, in, 2, got, &never,
                                   count_items, &told), PK_OK);
    assert_int_equal(told, n);
    for (int k = 0; k < 2; k++) {
      assert_memory_equal(pk_array_data(got[k]), pk_array_data(ref[k]),
                          pk_array_nbytes(ref[k]));
      pk_array_destroy(&got[k]);
    }

    /* input 0 read through a view of its transpose */
    assert_int_equal(pk_array_wrap(ctx, PK_F64, 2, st_, at, &it), PK_OK);
    assert_int_equal(pk_array_view(ctx, it, 1, &iv), PK_OK);
    in[0] = iv;
    assert_int_equal(pk_map_n(ctx, &pair, 2, in, 2, got, &never), PK_OK);
    for (int k = 0; k < 2; k++) {
      assert_memory_equal(pk_array_data(got[k]), pk_array_data(ref[k]),
                          pk_array_nbytes(ref[k]));
      pk_array_destroy(&got[k]);
      pk_array_destroy(&ref[k]);
    }
    pk_array_destroy(&iv);
    pk_array_destroy(&it);
    pk_array_destroy(&ia);
    pk_array_destroy(&ib);
    assert_int_equal(pk_finalize(&ctx), PK_OK);
  }
  free(a), free(b), free(at), free(y), free(d), free(fails);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_forms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
