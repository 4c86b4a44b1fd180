/*
 * A kernel of two inputs and two outputs for the tests of pk_map_n
 * (test_map_n, test_mpi): out0 = a + 2 b and out1 = a . b for vectors a
 * and b of one length; an item whose a[0] is below -0.9 fails.
 */
#ifndef PK_TESTS_PAIR_KERNEL_H
#define PK_TESTS_PAIR_KERNEL_H

#include <parkit.h>

#include <stdio.h>

static pk_status pair_shape(const pk_kernel *k, const pk_item *in,
                            pk_item *out, char *msg, size_t len) {
  (void)k;
  if (in[0].dtype != PK_F64 || in[1].dtype != PK_F64)
    return PK_EDTYPE;
  if (in[0].ndim != 1 || in[1].ndim != 1 ||
      in[0].shape[0] != in[1].shape[0]) {
    snprintf(msg, len, "both items are vectors of one length");
    return PK_ESHAPE;
  }
  out[0] = in[0];
  out[1] = (pk_item){PK_F64, 0, {0}};
  return PK_OK;
}

static pk_status pair_run(const pk_kernel *k, const pk_task *t, size_t lo,
                          size_t hi, size_t *bad) {
  size_t m = t->in_items[0].shape[0];
  (void)k;
  for (size_t i = lo; i < hi; i++) {
    const double *a = (const double *)(t->ins[0] + i * t->in_strides[0]);
    const double *b = (const double *)(t->ins[1] + i * t->in_strides[1]);
    double *y = (double *)(t->outs[0] + i * t->out_strides[0]);
    double *d = (double *)(t->outs[1] + i * t->out_strides[1]);
    if (a[0] < -0.9) {
      *bad = i;
      return PK_EKERNEL;
    }
    *d = 0;
    for (size_t e = 0; e < m; e++) {
      y[e] = a[e] + 2 * b[e];
      *d += a[e] * b[e];
    }
  }
  return PK_OK;
}

static double pair_cost(const pk_kernel *k, const pk_item *in) {
  (void)k;
  return 2.0 * (double)in[0].shape[0];
}

static const pk_kernel pair = {.name = "pair",
                               .shape = pair_shape,
                               .run = pair_run,
                               .cost = pair_cost,
                               .nin = 2,
                               .nout = 2};

#endif /* PK_TESTS_PAIR_KERNEL_H */
