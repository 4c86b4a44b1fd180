/*
 * A kernel for the tests of pk_task.count (test_backends, test_mpi): each
 * item's output is the count of items its map has in this process, as the
 * task told the run.
 */
#ifndef PK_TESTS_COUNT_KERNEL_H
#define PK_TESTS_COUNT_KERNEL_H

#include "scalar_shape.h"

static pk_status count_run(const pk_kernel *k, const pk_task *t, size_t lo,
                           size_t hi, size_t *bad) {
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++)
    ((double *)(t->out + i * t->out_stride))[0] = (double)t->count;
  return PK_OK;
}

static const pk_kernel count_kernel = {.name = "count", .shape = scalar_shape,
                                       .run = count_run};

#endif /* PK_TESTS_COUNT_KERNEL_H */
