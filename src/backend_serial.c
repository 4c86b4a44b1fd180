/* The serial backend: every chunk in order on the calling thread. */
#include "internal.h"

#include <stdlib.h>

typedef struct serial {
  void *scratch;
  size_t cap;
} serial;

static pk_status serial_start(pk_context *ctx) {
  ctx->workers = 1;
  ctx->dispatch_ns = 0;
  ctx->impl = calloc(1, sizeof(serial));
  return ctx->impl ? PK_OK : PK_ENOMEM;
}

static void serial_stop(pk_context *ctx) {
  serial *s = ctx->impl;

  if (s != NULL)
    pk__scratch_release(&s->scratch, &s->cap);
  free(s);
  ctx->impl = NULL;
}

static pk_status serial_map(pk_context *ctx, const pk__job *j, pk__fails *f) {
  serial *s = ctx->impl;
  size_t c;

  if (pk__scratch_reserve(&s->scratch, &s->cap, j->scratch) != 0)
    return pk__error(ctx, PK_ENOMEM, "%s: cannot allocate %zu bytes of "
                     "scratch", j->kernel->name, j->scratch);
  for (c = 0; c < j->nchunks; c++)
    pk__run_chunk(ctx, j, c, s->scratch, 0, f);
  return PK_OK;
}

const pk__backend_ops pk__backend_serial = {
    .name = "serial",
    .start = serial_start,
    .stop = serial_stop,
    .map = serial_map,
};
