/* The map/reduce front end: checks once, chooses chunks, calls a backend. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

void pk__chunk(const pk__job *j, size_t c, size_t *lo, size_t *hi) {
  *lo = j->lo + c * j->chunk;
  *hi = *lo + j->chunk < j->n ? *lo + j->chunk : j->n;
}

void pk__run(const pk__job *j, size_t lo, size_t hi, void *scratch,
             int worker, pk__fails *f) {
  pk_task t = j->task;

  t.scratch = scratch;
  while (lo < hi) {
    size_t bad = hi;
    pk_status st = j->kernel->run(j->kernel, &t, lo, hi, &bad);
    if (st == PK_OK)
      return;
    /* A kernel that fails without naming an item in range loses the rest. */
    if (bad < lo || bad >= hi) {
      for (; lo < hi; lo++)
        pk__fails_add(f, lo, st, worker);
      return;
    }
    pk__fails_add(f, bad, st, worker);
    lo = bad + 1;
  }
}

static size_t round_up(size_t x, size_t m) {
  return m > 1 ? (x + m - 1) / m * m : x;
}

size_t pk__auto_chunk(size_t n, int w, size_t grain, int block) {
  size_t per = block ? (size_t)w : 4 * (size_t)w;
  size_t chunk = round_up((n + per - 1) / per, grain);

  /* The grain is how the kernel likes its items (det factors 8 matrices
     at once); a few costly items still go to every worker. */
  if (chunk > 0 && (n + chunk - 1) / chunk < (size_t)w)
    chunk = (n + (size_t)w - 1) / (size_t)w;
  return chunk ? chunk : 1;
}

void pk__plan_chunks(pk__job *j, pk_schedule schedule, int w) {
  size_t grain = j->kernel->grain > 1 ? j->kernel->grain : 1;
  size_t n = j->n - j->lo, chunk = j->asked;

  j->schedule = schedule ? schedule : PK_SCHEDULE_DYNAMIC;
  if (j->schedule == PK_SCHEDULE_BLOCK || chunk == 0)
    /* About four chunks a worker: balance on a noisy machine, few calls. */
    chunk = pk__auto_chunk(n, w, grain, j->schedule == PK_SCHEDULE_BLOCK);
  j->chunk = chunk;
  j->nchunks = n ? (n - 1) / chunk + 1 : 0;
  j->workers = w;
}

static int cmp_fail(const void *a, const void *b) {
  const pk__fail *x = a, *y = b;
  return (x->item > y->item) - (x->item < y->item);
}

/* Keep f's items in ctx (for pk_failed) and write the message. */
static pk_status report(pk_context *ctx, const pk__job *j, pk__fails *f,
                        pk_status st) {
  size_t i;
  const pk__fail *first;

  free(ctx->failed);
  ctx->failed = NULL;
  ctx->nfailed = 0;
  ctx->stats.failed = f->n;
  if (f->n == 0)
    return st;
  if (f->len > 1)
    qsort(f->v, f->len, sizeof *f->v, cmp_fail);
  ctx->failed = malloc((f->len ? f->len : 1) * sizeof *ctx->failed);
  if (ctx->failed != NULL) {
    for (i = 0; i < f->len; i++)
      ctx->failed[i] = f->v[i].item;
    ctx->nfailed = f->len;
  }
  if (st == PK_OK)
    st = PK_EKERNEL;
  first = f->len ? &f->v[0] : NULL;
  if (ctx->status != PK_OK && st == ctx->status)
    return st; /* the backend wrote the message already */
  if (first != NULL)
    pk__error(ctx, st,
              "%s: %zu of %zu items failed; the first, item %zu (worker "
              "%d): %s%s",
              j->kernel->name, f->n, j->n, first->item + j->task.first,
              first->worker, pk_strerror(first->status),
              f->len < f->n ? " (out of memory: not every index is listed)"
                            : "");
  else
    pk__error(ctx, st, "%s: %zu of %zu items failed (out of memory: their "
              "indices are not known)", j->kernel->name, f->n, j->n);
  return st;
}

/* What planning learnt goes to the user's wisdom file (only a process that
 * leads writes it); what it decided, to the verbose. */
static void said(const pk_context *ctx) {
  char msg[2048], *line, *save = NULL;

  if (!pk__plans_flush(msg, sizeof msg))
    return;
  for (line = strtok_r(msg, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save))
    pk__log(ctx, "%s", line);
}

/* A first map's probe runs at least this long, when it has the items. */
#define PROBE_NS 5000.0
/* An inline run shorter than this is mostly the clock and the call: its
   time per item only bounds the cost. */
#define EXACT_NS 2000.0

/*
 * Run the first items of j on this thread, timed: a grain's worth, then
 * doubling until PROBE_NS have passed or limit items ran; j->lo moves past
 * them.  Returns nanoseconds per item, from the items after the first
 * grain when there are some: the first items touch new arrays' pages (a
 * fresh shared segment faults on each), which later maps do not pay.
 */
static double probe(pk__job *j, size_t limit, size_t grain, void *scratch,
                    pk__fails *f) {
  double t0 = pk_time(), t, first = 0;
  size_t step = grain;

  for (;;) {
    size_t hi = j->lo + step < limit ? j->lo + step : limit;
    pk__run(j, j->lo, hi, scratch, 0, f);
    j->lo = hi;
    t = (pk_time() - t0) * 1e9;
    if (hi == grain && hi < limit) {
      first = t;
      continue;
    }
    if (t - first >= PROBE_NS || hi >= limit)
      return hi > grain ? (t - first) / (double)(hi - grain) : t / (double)hi;
    step = hi;
  }
}

/*
 * Run j inline, or on the backend; fills ctx->stats.
 *
 * The inline rule weighs the estimated time of the items on one core
 * against the backend's measured dispatch cost.  The estimate is what
 * earlier maps of this kernel and item layout measured (src/cost.c); a map
 * without one, large enough, first times a few of its own items here, then
 * decides for the rest.  Processes of a distributed backend never run a
 * map inline and never probe, so their chunks do not depend on timings.
 */
pk_status pk__map_execute(pk_context *ctx, pk__job *j,
                          const pk_map_opts *o) {
  pk_map_opts none = {0};
  const pk_kernel *k = j->kernel;
  const pk_item *item = &j->task.in_item;
  size_t grain = k->grain > 1 ? k->grain : 1, rest, limit;
  double t0 = pk_time(), per, here = 0, t1;
  pk__fails f = {0};
  pk_status st = PK_OK;
  int w = ctx->workers, run_inline, probed = 0, retime;
  int dist = ctx->ops->distributed;

  if (o == NULL)
    o = &none;
  per = pk__cost_get(k, j->task.isa, item, &retime);
  memset(&ctx->stats, 0, sizeof ctx->stats);
  ctx->stats.items = j->n;
  ctx->stats.est_seconds = j->n ? per * (double)j->n * 1e-9 : 0;
  ctx->stats.dispatch_seconds = ctx->dispatch_ns * 1e-9;
  if (j->n < (size_t)w)
    w = j->n ? (int)j->n : 1;

  /* Every process of a distributed backend plans, items or not. */
  if (k->prepare != NULL && (j->n > 0 || dist)) {
    st = ctx->ops->prepare ? ctx->ops->prepare(ctx, j)
                           : k->prepare(k, item, j->total);
    if (st != PK_OK)
      pk__error(ctx, st, "%s: preparing the kernel failed: %s", k->name,
                pk_strerror(st));
    said(ctx);
  }
  /* A distributed backend: every process goes on, or none does. */
  if ((st = pk__agree(ctx, st)) != PK_OK)
    return st;

  /* Not measured on this CPU, or near the crossover and due again (a
     dispatched map cannot show that items are cheaper than its dispatch;
     a first map's may have paid for touching new pages): time a quarter
     of a worker's share at most, which leaves the workers nearly all of
     it if it is costly; in whole grains if it can, else it only bounds the
     cost.  Not for a map whose chunks are reported or left running
     (futures). */
  limit = j->n / (4 * (size_t)(w > 1 ? w : 1));
  if (!dist && o->inlining == PK_INLINE_AUTO && k->cost != NULL && w > 1 &&
      (retime == 2 || (retime == 1 && per * (double)j->n * (w - 1) <
                                          8 * ctx->dispatch_ns * w)) &&
      j->future == NULL && j->on_chunk == NULL && limit > 0) {
    int whole = limit >= grain;
    if (pk__scratch_reserve(&ctx->scratch, &ctx->scratch_cap, j->scratch))
      return pk__error(ctx, PK_ENOMEM, "%s: cannot allocate %zu bytes of "
                       "scratch", k->name, j->scratch);
    if (whole)
      limit = limit / grain * grain;
    t1 = pk_time();
    per = probe(j, limit, whole ? grain : limit, ctx->scratch, &f);
    here = pk_time() - t1;
    pk__cost_put(k, j->task.isa, item, per, whole);
    ctx->stats.est_seconds = per * (double)j->n * 1e-9;
    probed = 1;
  }

  /* Parallel wins when est / w + dispatch < est. */
  rest = j->n - j->lo;
  if (rest < (size_t)w)
    w = rest ? (int)rest : 1;
  run_inline = !dist &&
               (o->inlining == PK_INLINE_ALWAYS ||
                (o->inlining == PK_INLINE_AUTO &&
                 (w == 1 || per * (double)rest * (w - 1) <
                                ctx->dispatch_ns * w)));
  if (run_inline)
    w = 1;
  j->asked = o->chunk;
  pk__plan_chunks(j, o->schedule, w);

  /* A process of a distributed backend with no items still takes part. */
  if (j->n == 0 && !dist) {
    /* nothing to do */
  } else if (run_inline) {
    if (pk__scratch_reserve(&ctx->scratch, &ctx->scratch_cap, j->scratch))
      return pk__error(ctx, PK_ENOMEM, "%s: cannot allocate %zu bytes of "
                       "scratch", k->name, j->scratch);
    t1 = pk_time();
    pk__run(j, j->lo, j->n, ctx->scratch, 0, &f);
    here += pk_time() - t1;
    /* Fewer items than a vector: the cost of whole vectors, a bound. */
    pk__cost_put(k, j->task.isa, item, here * 1e9 / (double)j->n,
                 j->n >= grain && here * 1e9 >= EXACT_NS);
    j->nchunks = 1;
    j->chunk = j->n;
    probed = 0;
  } else {
    t1 = pk_time();
    st = ctx->ops->map(ctx, j, &f);
    t1 = (pk_time() - t1) * 1e9;
    /* Each worker computed for at most the wall time less the dispatch:
       a bound, once dispatch is a small part of it. */
    if (!dist && st == PK_OK && j->future == NULL &&
        t1 > 4 * ctx->dispatch_ns)
      pk__cost_put(k, j->task.isa, item,
                   (t1 - ctx->dispatch_ns) *
                       (double)((size_t)w < j->nchunks ? (size_t)w
                                                       : j->nchunks) /
                       (double)rest,
                   0);
  }

  ctx->stats.ran_inline = run_inline;
  ctx->stats.workers = w;
  ctx->stats.schedule = j->schedule;
  ctx->stats.chunk = j->chunk;
  ctx->stats.chunks = j->nchunks + (size_t)probed;
  st = report(ctx, j, &f, st);
  pk__fails_free(&f);
  ctx->stats.seconds = pk_time() - t0;
  return st;
}

pk_status pk__map_check_opts(pk_context *ctx, const pk_map_opts *o) {
  if (o == NULL)
    return PK_OK;
  if ((unsigned)o->schedule > PK_SCHEDULE_DYNAMIC)
    return pk__error(ctx, PK_EINVAL, "pk_map: unknown schedule %d",
                     (int)o->schedule);
  if ((unsigned)o->inlining > PK_INLINE_ALWAYS)
    return pk__error(ctx, PK_EINVAL, "pk_map: unknown inlining %d",
                     (int)o->inlining);
  return PK_OK;
}

static int overlaps(const pk_array *a, const pk_array *b) {
  const char *p = a->data, *q = b->data;
  return a->nbytes && b->nbytes && p < q + b->nbytes && q < p + a->nbytes;
}

static size_t item_bytes(const pk_item *it) {
  size_t n = pk_dtype_size(it->dtype);
  int i;

  for (i = 0; i < it->ndim; i++)
    n *= it->shape[i]; /* bounded by an array's checked size */
  return n;
}

/* Fill j from kernel and in; make or check *out. */
pk_status pk__map_setup(pk_context *ctx, const char *fn, const pk_kernel *k,
                        const pk_array *in, pk_array **out, pk__job *j) {
  size_t shape[PK_MAX_DIMS];
  char msg[512] = "";
  pk_item oi;
  pk_status st;
  int i;

  memset(j, 0, sizeof *j);
  if (k == NULL || in == NULL || out == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: kernel, input and output must "
                     "not be NULL", fn);
  if (k->name == NULL || k->shape == NULL || k->run == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: the kernel table needs a name, "
                     "a shape and a run function", fn);
  if (in->ctx != ctx || (*out != NULL && (*out)->ctx != ctx))
    return pk__error(ctx, PK_EINVAL, "%s: an array belongs to another "
                     "context", fn);

  j->kernel = k;
  j->in = in;
  j->n = in->shape[0];
  j->total = in->distributed ? in->global : j->n;
  j->task.in_item.dtype = in->dtype;
  j->task.in_item.ndim = in->ndim - 1;
  for (i = 1; i < in->ndim; i++)
    j->task.in_item.shape[i - 1] = in->shape[i];

  memset(&oi, 0, sizeof oi);
  st = k->shape(k, &j->task.in_item, &oi, msg, sizeof msg);
  if (st != PK_OK)
    return pk__error(ctx, st, "%s: kernel %s: %s", fn, k->name,
                     msg[0] ? msg : pk_strerror(st));
  if (oi.ndim < 0 || oi.ndim > PK_MAX_DIMS - 1 || !pk_dtype_size(oi.dtype))
    return pk__error(ctx, PK_ESHAPE, "%s: kernel %s gave an output item of "
                     "%d dimensions, dtype %d", fn, k->name, oi.ndim,
                     (int)oi.dtype);
  j->task.out_item = oi;
  shape[0] = j->n;
  for (i = 0; i < oi.ndim; i++)
    shape[i + 1] = oi.shape[i];

  if (*out == NULL) {
    st = pk__array_new(ctx, oi.dtype, oi.ndim + 1, shape, out);
    if (st != PK_OK)
      return st;
    /* A distributed input's output is distributed alike. */
    (*out)->distributed = in->distributed;
    (*out)->offset = in->offset;
    (*out)->global = in->global;
  } else {
    const pk_array *o = *out;
    int same = o->dtype == oi.dtype && o->ndim == oi.ndim + 1;
    for (i = 0; same && i < o->ndim; i++)
      same = o->shape[i] == shape[i];
    if (!same)
      return pk__error(ctx, PK_ESHAPE, "%s: the output array's dtype or "
                       "shape is not what kernel %s makes from this input",
                       fn, k->name);
    if (overlaps(in, o))
      return pk__error(ctx, PK_EINVAL, "%s: input and output overlap", fn);
    /* The caller's output is never redistributed behind its back: it must
       hold the block the input holds, or the whole batch. */
    if (in->distributed && !(o->distributed && o->offset == in->offset &&
                             o->global == in->global))
      return pk__error(ctx, PK_EINVAL, "%s: the input is distributed; the "
                       "output must be distributed alike (let %s make it, "
                       "or pk_mpi_create it with the same global shape)",
                       fn, fn);
    if (!in->distributed && o->distributed &&
        (o->offset != 0 || o->global != o->shape[0]))
      return pk__error(ctx, PK_EINVAL, "%s: the input is replicated (not "
                       "distributed) but the output is distributed", fn);
  }
  j->out = *out;
  j->task.in = in->data;
  j->task.out = (*out)->data;
  j->task.in_stride = item_bytes(&j->task.in_item);
  j->task.out_stride = item_bytes(&oi);
  j->task.isa = ctx->isa;
  j->scratch = k->scratch ? k->scratch(k, &j->task.in_item) : 0;
  return PK_OK;
}

pk_status pk__map(pk_context *ctx, const pk_kernel *kernel,
                  const pk_array *in, pk_array **out,
                  const pk_map_opts *opts, struct pk_future *future,
                  void (*on_chunk)(void *, size_t, size_t), void *arg) {
  pk__job j;
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if ((st = pk__map_check_opts(ctx, opts)) == PK_OK)
    st = pk__map_setup(ctx, "pk_map", kernel, in, out, &j);
  if ((st = pk__agree(ctx, st)) != PK_OK ||
      (st = pk__same(ctx, "pk_map", "the kernel", kernel->name,
                     strlen(kernel->name))) != PK_OK)
    return st;
  j.future = future;
  j.on_chunk = on_chunk;
  j.on_chunk_arg = arg;
  return pk__map_execute(ctx, &j, opts);
}

pk_status pk_map(pk_context *ctx, const pk_kernel *kernel, const pk_array *in,
                 pk_array **out, const pk_map_opts *opts) {
  return pk__map(ctx, kernel, in, out, opts, NULL, NULL, NULL);
}
