/*
 * Kernels in a module the test loads with dlopen after the library (and
 * its fork server) started: out[i] = in[i] + the kernel's offset, passed by
 * pointer, in the module's read-only memory (late_kernel) or writable
 * memory (late_writable_kernel).
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

/* The same with its offset in writable memory: where a worker cannot see
   the program's copy, the map must be refused, not read another. */
static double woffset = 0.5;
static const pk_kernel late_w = {.name = "late_w", .shape = late_shape,
                                 .run = late_run, .data = &woffset};

const pk_kernel *late_writable_kernel(void) { return &late_w; }
