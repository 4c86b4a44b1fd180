/*
 * A kernel in a module the test loads with dlopen after the library (and
 * its fork server) started: out[i] = in[i] + the kernel's offset, which is
 * data in the module's read-only memory, passed by pointer.
 */
#include <parkit.h>

static const double offset = 0.5;

static pk_status late_shape(const pk_kernel *k, const pk_item *in,
                            pk_item *out, char *msg, size_t len) {
  (void)k, (void)msg, (void)len;
  *out = *in;
  return PK_OK;
}

static pk_status late_run(const pk_kernel *k, const pk_task *t, size_t lo,
                          size_t hi, size_t *bad) {
  (void)bad;
  for (size_t i = lo; i < hi; i++)
    *(double *)(t->out + i * t->out_stride) =
        *(const double *)(t->in + i * t->in_stride) +
        *(const double *)k->data;
  return PK_OK;
}

static const pk_kernel late = {.name = "late", .shape = late_shape,
                               .run = late_run, .data = &offset};

const pk_kernel *late_kernel(void) { return &late; }
