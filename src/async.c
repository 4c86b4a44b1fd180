/* Futures, per-chunk callbacks, single tasks and worker settings. */
#include "internal.h"

#include <parkit/async.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pk_future {
  pk_context *ctx;   /* while pending */
  int pending, done;
  pk_status status;
  size_t *failed, nfailed;
  char msg[1024];
  char kernel[64]; /* a map's kernel, to name in its message */
};

void pk__future_pend(pk_future *f) { f->pending = 1; }

static int cmp_fail(const void *a, const void *b) {
  const pk__fail *x = a, *y = b;
  return (x->item > y->item) - (x->item < y->item);
}

void pk__future_done(pk_future *f, pk_status st, pk__fails *fails,
                     const char *msg) {
  size_t i;

  f->pending = 0;
  f->done = 1;
  f->ctx = NULL;
  if (fails->len > 1)
    qsort(fails->v, fails->len, sizeof *fails->v, cmp_fail);
  if (fails->len > 0 && (f->failed = malloc(fails->len * sizeof *f->failed))) {
    for (i = 0; i < fails->len; i++)
      f->failed[i] = fails->v[i].item;
    f->nfailed = fails->len;
  }
  if (st == PK_OK && fails->n > 0)
    st = PK_EKERNEL;
  f->status = st;
  if (msg != NULL)
    snprintf(f->msg, sizeof f->msg, "%s", msg);
  else if (fails->len > 0)
    snprintf(f->msg, sizeof f->msg, "%s%s%zu items failed; the first, "
             "item %zu (worker %d): %s", f->kernel, f->kernel[0] ? ": " : "",
             fails->n, fails->v[0].item, fails->v[0].worker,
             pk_strerror(fails->v[0].status));
  else if (st != PK_OK)
    snprintf(f->msg, sizeof f->msg, "%s", pk_strerror(st));
}

/* A job that ran before its call returned: the context has its result. */
static void done_here(pk_future *f, pk_context *ctx, pk_status st) {
  f->done = 1;
  f->status = st;
  if (st == PK_OK)
    return;
  snprintf(f->msg, sizeof f->msg, "%s", ctx->msg[0] ? ctx->msg
                                                    : pk_strerror(st));
  if (ctx->nfailed > 0 &&
      (f->failed = malloc(ctx->nfailed * sizeof *f->failed)) != NULL) {
    memcpy(f->failed, ctx->failed, ctx->nfailed * sizeof *f->failed);
    f->nfailed = ctx->nfailed;
  }
}

static pk_status map_async(pk_context *ctx, const char *fn,
                           const pk_kernel *kernel, int nin,
                           const pk_array *const in[], int nout,
                           pk_array *out[], const pk_map_opts *opts,
                           pk_future **future) {
  pk_future *f;
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  if (future == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: future is NULL", fn);
  *future = NULL;
  if ((f = calloc(1, sizeof *f)) == NULL)
    return pk__error(ctx, PK_ENOMEM, "%s: out of memory", fn);
  f->ctx = ctx;
  if (kernel != NULL && kernel->name != NULL)
    snprintf(f->kernel, sizeof f->kernel, "%s", kernel->name);
  /* pk_map sets stats only once its checks have passed: a marker tells a
     refused call, whose caller must see the stats it saw before. */
  pk_stats before = ctx->stats;
  ctx->stats.items = SIZE_MAX;
  st = pk__map(ctx, fn, kernel, nin, in, nout, out, opts, f, NULL, NULL);
  if (!f->pending && ctx->stats.items == SIZE_MAX) {
    ctx->stats = before;
    free(f);
    return st;
  }
  if (!f->pending)
    done_here(f, ctx, st);
  *future = f;
  pk__begin(ctx);
  return PK_OK;
}

pk_status pk_map_async(pk_context *ctx, const pk_kernel *kernel,
                       const pk_array *in, pk_array **out,
                       const pk_map_opts *opts, pk_future **future) {
  const pk_array *ins[1] = {in};
  return map_async(ctx, "pk_map_async", kernel, 1, in ? ins : NULL, 1, out,
                   opts, future);
}

pk_status pk_map_async_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                         const pk_array *const in[], int nout,
                         pk_array *out[], const pk_map_opts *opts,
                         pk_future **future) {
  return map_async(ctx, "pk_map_async_n", kernel, nin, in, nout, out, opts,
                   future);
}

/* ------------------------------------------------- callbacks per chunk */

/* A kernel that runs another and reports each range it ran. */
typedef struct wrap {
  pk_kernel k;
  const pk_kernel *inner;
  void (*fn)(void *, size_t, size_t);
  void *arg;
  pthread_mutex_t lock;
} wrap;

static const wrap *inner_of(const pk_kernel *k) { return k->data; }

static pk_status w_shape(const pk_kernel *k, const pk_item *in, pk_item *out,
                         char *msg, size_t msglen) {
  const pk_kernel *i = inner_of(k)->inner;
  return i->shape(i, in, out, msg, msglen);
}

/* Ranges in the batch, as pk_failed counts its items: t may hold a piece
   of it (a view's items gathered into scratch, an mpi rank's block) whose
   item 0 is item t->first of the batch. */
static pk_status w_run(const pk_kernel *k, const pk_task *t, size_t lo,
                       size_t hi, size_t *bad) {
  wrap *w = (wrap *)inner_of(k);
  pk_status st = w->inner->run(w->inner, t, lo, hi, bad);
  size_t end = st == PK_OK ? hi : *bad, at = t->first;

  if (end > lo && end <= hi) {
    pthread_mutex_lock(&w->lock);
    w->fn(w->arg, at + lo, at + end);
    pthread_mutex_unlock(&w->lock);
  }
  return st;
}

static double w_cost(const pk_kernel *k, const pk_item *in) {
  const pk_kernel *i = inner_of(k)->inner;
  return i->cost(i, in);
}

static size_t w_scratch(const pk_kernel *k, const pk_item *in) {
  const pk_kernel *i = inner_of(k)->inner;
  return i->scratch(i, in);
}

static pk_status w_prepare(const pk_kernel *k, const pk_item *in,
                           size_t items) {
  const pk_kernel *i = inner_of(k)->inner;
  return i->prepare(i, in, items);
}

static pk_status map_each(pk_context *ctx, const char *name,
                          const pk_kernel *kernel, int nin,
                          const pk_array *const in[], int nout,
                          pk_array *out[], const pk_map_opts *opts,
                          void (*fn)(void *arg, size_t lo, size_t hi),
                          void *arg) {
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  if (fn == NULL)
    return pk__map(ctx, name, kernel, nin, in, nout, out, opts, NULL, NULL,
                   NULL);
  if (ctx->ops->reports_chunks) {
    /* The backend reports chunks itself as its workers finish them. */
    pk_stats before = ctx->stats; /* for a refused call, as above */
    ctx->stats.items = SIZE_MAX;
    st = pk__map(ctx, name, kernel, nin, in, nout, out, opts, NULL, fn, arg);
    if (ctx->stats.items == SIZE_MAX)
      ctx->stats = before;
    else if (ctx->stats.ran_inline && ctx->stats.items > 0 &&
             ctx->stats.failed == 0)
      fn(arg, 0, ctx->stats.items);
    return st;
  }
  if (kernel == NULL || kernel->shape == NULL || kernel->run == NULL)
    return pk__map(ctx, name, kernel, nin, in, nout, out, opts, NULL, NULL,
                   NULL); /* it says what is wrong */
  wrap w;
  memset(&w, 0, sizeof w);
  w.inner = kernel;
  w.fn = fn;
  w.arg = arg;
  w.k = *kernel;
  w.k.data = &w;
  w.k.data_size = 0;
  w.k.shape = w_shape;
  w.k.run = w_run;
  w.k.cost = kernel->cost ? w_cost : NULL;
  w.k.scratch = kernel->scratch ? w_scratch : NULL;
  w.k.prepare = kernel->prepare ? w_prepare : NULL;
  pthread_mutex_init(&w.lock, NULL);
  st = pk__map(ctx, name, &w.k, nin, in, nout, out, opts, NULL, NULL, NULL);
  pthread_mutex_destroy(&w.lock);
  return st;
}

pk_status pk_map_each(pk_context *ctx, const pk_kernel *kernel,
                      const pk_array *in, pk_array **out,
                      const pk_map_opts *opts,
                      void (*fn)(void *arg, size_t lo, size_t hi),
                      void *arg) {
  const pk_array *ins[1] = {in};
  return map_each(ctx, "pk_map_each", kernel, 1, in ? ins : NULL, 1, out,
                  opts, fn, arg);
}

pk_status pk_map_each_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                        const pk_array *const in[], int nout,
                        pk_array *out[], const pk_map_opts *opts,
                        void (*fn)(void *arg, size_t lo, size_t hi),
                        void *arg) {
  return map_each(ctx, "pk_map_each_n", kernel, nin, in, nout, out, opts,
                  fn, arg);
}

/* ------------------------------------------------------------ one task */

pk_status pk_apply_async(pk_context *ctx, pk_status (*fn)(void *, size_t),
                         void *buf, size_t size, pk_future **future) {
  pk_future *f;
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (future == NULL || fn == NULL || (buf == NULL && size > 0))
    return pk__error(ctx, PK_EINVAL, "pk_apply_async: fn and future must "
                     "not be NULL, nor buf when size is not 0");
  *future = NULL;
  if (ctx->ops->usable && (st = ctx->ops->usable(ctx)) != PK_OK)
    return st;
  if ((f = calloc(1, sizeof *f)) == NULL)
    return pk__error(ctx, PK_ENOMEM, "pk_apply_async: out of memory");
  f->ctx = ctx;
  if (ctx->ops->apply != NULL) {
    st = ctx->ops->apply(ctx, fn, buf, size, f);
  } else {
    st = fn(size ? buf : NULL, size);
    if (st != PK_OK)
      pk__error(ctx, st, "pk_apply_async: the task returned %s",
                pk_strerror(st));
  }
  if (!f->pending)
    done_here(f, ctx, st);
  *future = f;
  pk__begin(ctx);
  return PK_OK;
}

/* ---------------------------------------------------------------- futures */

pk_status pk_future_wait(pk_future *f, double timeout) {
  pk_status st;

  if (f == NULL)
    return PK_EINVAL;
  if (f->done)
    return PK_OK;
  st = f->ctx->ops->wait(f->ctx, timeout);
  if (st != PK_OK && !f->done)
    return st; /* PK_ETIMEDOUT; PK_ESTATE in a fork of its process */
  return PK_OK;
}

pk_status pk_future_cancel(pk_future *f) {
  pk_status st;

  if (f == NULL)
    return PK_EINVAL;
  if (f->done)
    return PK_OK;
  st = f->ctx->ops->cancel ? f->ctx->ops->cancel(f->ctx)
                           : f->ctx->ops->wait(f->ctx, -1);
  return f->done ? PK_OK : st; /* PK_ESTATE in a fork of its process */
}

int pk_future_ready(pk_future *f) {
  return f != NULL && pk_future_wait(f, 0) == PK_OK;
}

pk_status pk_future_get(pk_future *f) {
  pk_status st;

  if (f == NULL)
    return PK_EINVAL;
  st = pk_future_wait(f, -1);
  return f->done ? f->status : st;
}

int pk_future_successful(pk_future *f) {
  return pk_future_ready(f) && f->status == PK_OK; /* ready: a look at the job */
}

const size_t *pk_future_failed(const pk_future *f, size_t *n) {
  if (n)
    *n = f && f->done ? f->nfailed : 0;
  return f && f->done ? f->failed : NULL;
}

const char *pk_future_errmsg(const pk_future *f) {
  return f && f->done ? f->msg : "";
}

void pk_future_destroy(pk_future **f) {
  if (f == NULL || *f == NULL)
    return;
  /* The backend holds the pointer until the job ends. */
  pk_future_wait(*f, -1);
  free((*f)->failed);
  free(*f);
  *f = NULL;
}

/* ------------------------------------------------------ worker settings */

pk_status pk_worker_init(pk_context *ctx,
                         pk_status (*fn)(void *arg, size_t size, int worker),
                         const void *arg, size_t size) {
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (arg == NULL && size > 0)
    return pk__error(ctx, PK_EINVAL, "pk_worker_init: arg is NULL with a "
                     "size of %zu", size);
  if (ctx->ops->usable && (st = ctx->ops->usable(ctx)) != PK_OK)
    return st;
  if (ctx->ops->winit == NULL) {
    if (fn == NULL)
      return PK_OK;
    /* One process: the caller is the only worker there is. */
    void *copy = size ? malloc(size) : NULL;
    if (size && copy == NULL)
      return pk__error(ctx, PK_ENOMEM, "pk_worker_init: out of memory");
    if (size)
      memcpy(copy, arg, size);
    st = fn(copy, size, 0);
    free(copy);
    if (st != PK_OK)
      return pk__error(ctx, st, "pk_worker_init: the initializer returned "
                       "%s", pk_strerror(st));
    return PK_OK;
  }
  return ctx->ops->winit(ctx, fn, arg, fn ? size : 0);
}

pk_status pk_worker_max_tasks(pk_context *ctx, unsigned long n) {
  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (ctx->ops->max_tasks != NULL)
    ctx->ops->max_tasks(ctx, n);
  return PK_OK;
}
