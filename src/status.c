/* Status codes, error messages and small utilities of the core. */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *pk_strerror(pk_status status) {
  switch (status) {
#define PK__STATUS_STR(name, value, msg) \
  case PK_##name:                        \
    return msg;
    PK_STATUS_MAP(PK__STATUS_STR)
#undef PK__STATUS_STR
  }
  return "unknown status";
}

void pk__begin(pk_context *ctx) {
  ctx->status = PK_OK;
  ctx->msg[0] = '\0';
}

pk_status pk__error(pk_context *ctx, pk_status status, const char *fmt, ...) {
  va_list ap;

  if (ctx == NULL)
    return status;
  ctx->status = status;
  va_start(ap, fmt);
  vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
  va_end(ap);
  if (ctx->verbose)
    fprintf(stderr, "parkit: %s\n", ctx->msg);
  return status;
}

void pk__log(const pk_context *ctx, const char *fmt, ...) {
  va_list ap;

  if (ctx == NULL || !ctx->verbose)
    return;
  va_start(ap, fmt);
  fputs("parkit: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* The message of the last pk_init that failed in this thread. */
static _Thread_local char init_msg[1024];

void pk__init_say(const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(init_msg, sizeof init_msg, fmt, ap);
  va_end(ap);
}

const char *pk_errmsg(const pk_context *ctx) {
  if (ctx == NULL)
    return init_msg[0] ? init_msg
                       : "no context (pk_init failed or was not called)";
  return ctx->msg;
}

size_t pk_dtype_size(pk_dtype dtype) {
  switch (dtype) {
  case PK_F64:
    return 8;
  case PK_C128:
    return 16;
  }
  return 0;
}

size_t pk__mul(size_t a, size_t b, int *overflow) {
  if (b != 0 && a > SIZE_MAX / b) {
    *overflow = 1;
    return 0;
  }
  return a * b;
}

double pk_time(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void pk__fails_add(pk__fails *f, size_t item, pk_status st, int worker) {
  f->n++;
  if (f->len == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 16;
    pk__fail *v = realloc(f->v, cap * sizeof *v);
    if (v == NULL)
      return; /* counted, not stored: the message says so */
    f->v = v;
    f->cap = cap;
  }
  f->v[f->len++] = (pk__fail){item, st, worker};
}

/* Items of a range not run are listed up to this many in one list, and
   counted past it: a map of 100 million items stopped early would otherwise take 2.4
   GB, and seconds, to list them. */
#define SKIP_LISTED ((size_t)1 << 20)

void pk__fails_range(pk__fails *f, size_t lo, size_t hi, pk_status st,
                     int worker) {
  for (; lo < hi && f->len < SKIP_LISTED; lo++)
    pk__fails_add(f, lo, st, worker);
  f->n += hi - lo;
}

void pk__fails_skip(pk__fails *f, size_t lo, size_t hi, int worker) {
  pk__fails_range(f, lo, hi, PK_EINTR, worker);
}

void pk__fails_free(pk__fails *f) {
  free(f->v);
  *f = (pk__fails){0};
}

/*
 * Scratch is whole 4 KB pages of its own, so that no line of it is near
 * another worker's (hardware prefetchers stop at a 4 KB boundary: one
 * worker streaming through the end of its scratch could otherwise pull in
 * lines the other is writing; the likely cause).  With 64-byte
 * alignment the openmp team's two buffers lay end to end in the heap, and
 * in some hours' runs the second worker took 91-116 ns for each 10x10 det
 * where the first took 63-67 (every path; 100,000 from memory on two
 * workers: 4.1 ms, where two threads with a context each took 3.3; AMD
 * EPYC family 26); on pages of their own both took 63-69, whatever the
 * offset, and in a quieter hour AVX2's map took 0.93-0.97 of the time.
 */
#define SCRATCH_PAGE 4096

int pk__scratch_reserve(void **p, size_t *cap, size_t need) {
  void *q;

  if (need <= *cap)
    return 0;
  need = (need + SCRATCH_PAGE - 1) & ~(size_t)(SCRATCH_PAGE - 1);
  if (posix_memalign(&q, SCRATCH_PAGE, need) != 0)
    return -1;
  /* Its pages faulted in now, not in the first items, which the front end
     may be timing to learn what an item costs. */
  memset(q, 0, need);
  free(*p);
  *p = q;
  *cap = need;
  return 0;
}

void pk__scratch_release(void **p, size_t *cap) {
  free(*p);
  *p = NULL;
  *cap = 0;
}

pk_status pk__agree(pk_context *ctx, pk_status st) {
  return ctx->ops->agree != NULL ? ctx->ops->agree(ctx, st) : st;
}

pk_status pk__same(pk_context *ctx, const char *fn, const char *what,
                   const void *v, size_t len) {
  const unsigned char *b = v;
  uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */

  if (ctx->ops->same == NULL)
    return PK_OK;
  for (size_t i = 0; i < len; i++)
    h = (h ^ b[i]) * 0x100000001b3u;
  return ctx->ops->same(ctx, h, fn, what);
}

/* The start of a collective call that makes *out: its own checks (more
   in ok, 1 if they passed) agreed on by every rank. */
pk_status pk__begin_out(pk_context *ctx, const char *fn, pk_array **out,
                        int ok, const char *why) {
  pk_status st = PK_OK;

  pk__begin(ctx);
  if (out == NULL)
    st = pk__error(ctx, PK_EINVAL, "%s: out is NULL", fn);
  else
    *out = NULL;
  if (st == PK_OK && !ok)
    st = pk__error(ctx, PK_EINVAL, "%s: %s", fn, why);
  return pk__agree(ctx, st);
}
