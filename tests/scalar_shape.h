/*
 * The shape function of the tests' kernels whose item, whatever it is,
 * maps to one float64 (count_kernel.h, test_fork's pid, test_cost's slow
 * item, test_backends' nap).
 */
#ifndef PK_TESTS_SCALAR_SHAPE_H
#define PK_TESTS_SCALAR_SHAPE_H

#include <parkit.h>

static pk_status scalar_shape(const pk_kernel *k, const pk_item *in,
                              pk_item *out, char *msg, size_t len) {
  (void)k, (void)in, (void)msg, (void)len;
  out->dtype = PK_F64;
  out->ndim = 0;
  return PK_OK;
}

#endif /* PK_TESTS_SCALAR_SHAPE_H */
