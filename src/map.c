/* The map/reduce front end: checks once, chooses chunks, calls a backend. */
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void pk__chunk(const pk__job *j, size_t c, size_t *lo, size_t *hi) {
  *lo = j->lo + c * j->chunk;
  *hi = *lo + j->chunk < j->n ? *lo + j->chunk : j->n;
}

/* Items [lo, hi) of task t, failures recorded as item base + i. */
static void run_task(const pk__job *j, const pk_task *t, size_t lo,
                     size_t hi, size_t base, int worker, pk__fails *f) {
  while (lo < hi) {
    size_t bad = hi;
    pk_status st = j->kernel->run(j->kernel, t, lo, hi, &bad);
    if (st == PK_OK)
      return;
    /* A kernel that fails without naming an item in range loses the rest. */
    if (bad < lo || bad >= hi) {
      for (; lo < hi; lo++)
        pk__fails_add(f, base + lo, st, worker);
      return;
    }
    pk__fails_add(f, base + bad, st, worker);
    lo = bad + 1;
  }
}

/*
 * cnt items of a view from src (stride bytes apart) into dst, contiguous,
 * item bytes each.  Run by run across the items: when the batch is the
 * last axis, consecutive items' elements are neighbours in memory, and the
 * reads go along them.
 */
static void gather(const char *src, size_t stride, size_t cnt,
                   const pk__gather *g, size_t item, char *dst) {
  for (size_t r = 0; r < g->runs; r++) {
    const char *s = src + r * g->runstride;
    char *d = dst + r * g->run;
    if (g->run == sizeof(double))
      for (size_t i = 0; i < cnt; i++)
        memcpy(d + i * item, s + i * stride, sizeof(double));
    else
      for (size_t i = 0; i < cnt; i++)
        memcpy(d + i * item, s + i * stride, g->run);
  }
}

/*
 * The pages of the new outputs that items [lo, hi) write, made present in
 * one call each rather than faulted in one by one as the kernel first
 * writes them: 93 MB of new output took 36 ms to write on two threads of a
 * 2-core VM, 28 ms with them filled first (Linux 5.14 on; elsewhere, or if
 * refused, the kernel's writes fault them in as before).  Whole pages
 * around the range: filling a page writes nothing into it, so a page it
 * shares with a neighbour, or that two workers fill, comes to no harm.
 */
static void fill_pages(const pk__job *j, size_t lo, size_t hi) {
#if defined(MADV_POPULATE_WRITE)
  const long size = sysconf(_SC_PAGESIZE);
  const uintptr_t pg = size > 0 ? (uintptr_t)size : 4096;
  for (int k = 0; k < j->task.nout; k++) {
    if (!(j->fresh >> k & 1))
      continue;
    uintptr_t a = (uintptr_t)(j->task.outs[k] + lo * j->task.out_strides[k]);
    uintptr_t b = (uintptr_t)(j->task.outs[k] + hi * j->task.out_strides[k]);
    a &= ~(pg - 1);
    b = (b + pg - 1) & ~(pg - 1);
    if (b > a)
      (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
  }
#else
  (void)j, (void)lo, (void)hi;
#endif
}

void pk__run(const pk__job *j, size_t lo, size_t hi, void *scratch,
             int worker, pk__fails *f) {
  pk_task t = j->task;

  t.scratch = scratch;
  if (j->fresh)
    fill_pages(j, lo, hi);
  if (j->piece == 0) {
    run_task(j, &t, lo, hi, 0, worker, f);
    return;
  }
  /* Views: piece items at a time gathered, the task shifted to them. */
  for (size_t a = lo; a < hi; a += j->piece) {
    size_t cnt = hi - a < j->piece ? hi - a : j->piece;
    char *buf = (char *)scratch + j->gather_at;
    pk_task v = t;
    pk__task_shift(&v, a);
    for (int c = 0; c < v.nin; c++) {
      const pk__gather *g = &j->gather[c];
      size_t item = g->runs * g->run;
      if (g->runs == 0)
        continue;
      gather(v.ins[c], v.in_strides[c], v.in_strides[c] ? cnt : 1, g, item,
             buf);
      v.ins[c] = buf;
      v.in_strides[c] = v.in_strides[c] ? item : 0;
      buf += (j->piece * item + 63) / 64 * 64;
    }
    pk__task_mirror(&v);
    run_task(j, &v, 0, cnt, a, worker, f);
  }
}

pk_status pk_interrupt(pk_context *ctx) {
  if (ctx == NULL)
    return PK_EINVAL;
  atomic_store(&ctx->interrupted, 1);
  if (ctx->ops->interrupt)
    ctx->ops->interrupt(ctx);
  return PK_OK;
}

void pk__run_chunk(pk_context *ctx, const pk__job *j, size_t c,
                   void *scratch, int worker, pk__fails *f) {
  size_t lo, hi;
  pk__chunk(j, c, &lo, &hi);
  if (pk__interrupted(ctx))
    pk__fails_skip(f, lo, hi, worker);
  else
    pk__run(j, lo, hi, scratch, worker, f);
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
  if (first != NULL && f->len < f->n)
    pk__error(ctx, st,
              "%s: %zu of %zu items failed, %zu of them listed (see "
              "pk_failed); the first, item %zu (worker %d): %s",
              j->kernel->name, f->n, j->n, f->len,
              first->item + j->task.first, first->worker,
              pk_strerror(first->status));
  else if (first != NULL)
    pk__error(ctx, st,
              "%s: %zu of %zu items failed; the first, item %zu (worker "
              "%d): %s",
              j->kernel->name, f->n, j->n, first->item + j->task.first,
              first->worker, pk_strerror(first->status));
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

/* Between pieces of an inline map, pk_interrupt is looked at. */
#define PIECE_NS 1e7

/* About x items, in whole grains, at least one. */
static size_t grains(double x, size_t grain) {
  return x >= (double)(2 * grain) ? (size_t)(x / (double)grain) * grain
                                  : grain;
}

/*
 * The items of j from j->lo on, in this thread, so that pk_interrupt stops
 * a long map: in pieces of about PIECE_NS, at per ns an item, then at the
 * rate the last piece took (a kernel without a cost starts at a grain).
 */
static void run_here(pk_context *ctx, pk__job *j, double per, size_t grain,
                     pk__fails *f) {
  size_t lo = j->lo, piece = j->n - j->lo;

  if (per * (double)piece > PIECE_NS)
    piece = isfinite(per) ? grains(PIECE_NS / per, grain) : grain;
  while (lo < j->n) {
    size_t hi = j->n - lo > piece ? lo + piece : j->n;
    if (pk__interrupted(ctx)) {
      pk__fails_skip(f, lo, j->n, 0);
      return;
    }
    if (hi == j->n) {
      pk__run(j, lo, hi, ctx->scratch, 0, f);
      return;
    }
    double t = pk_time();
    pk__run(j, lo, hi, ctx->scratch, 0, f);
    t = (pk_time() - t) * 1e9;
    /* At most twice the last piece: one item may have been quick. */
    piece = grains(t > 0 && PIECE_NS < 2 * t ? (double)piece * PIECE_NS / t
                                             : (double)(2 * piece),
                   grain);
    lo = hi;
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
  const pk_item *item = j->task.in_items;
  size_t grain = k->grain > 1 ? k->grain : 1, rest, limit;
  double t0 = pk_time(), per, here = 0, t1, late;
  pk__fails f = {0};
  pk_status st = PK_OK;
  int w = ctx->workers, run_inline, probed = 0, retime;
  int dist = ctx->ops->distributed;

  if (o == NULL)
    o = &none;
  /* A job left pending may write what this map reads, even one run here:
     it ends first (its result goes to its future; a pk_interrupt made
     while it ran stops it). */
  if (ctx->ops->wait && ctx->ops->wait(ctx, -1) == PK_ESTATE)
    return PK_ESTATE; /* a context its process's parent made */
  atomic_store(&ctx->interrupted, 0); /* an earlier pk_interrupt is spent */
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

  /* Parallel wins when est / w + dispatch < est.  When the workers are
     likely to come late by L (asleep after a pause): where the caller
     runs chunks too, the map takes max(L, (est + (w - 1) L) / w), which
     is less than est when L < est; where it only waits, est / w + dispatch
     + L. */
  rest = j->n - j->lo;
  if (rest < (size_t)w)
    w = rest ? (int)rest : 1;
  late = !dist && w > 1 && ctx->ops->late ? ctx->ops->late(ctx) : 0;
  ctx->stats.dispatch_seconds = (ctx->dispatch_ns + late) * 1e-9;
  run_inline = !dist &&
               (o->inlining == PK_INLINE_ALWAYS ||
                (o->inlining == PK_INLINE_AUTO &&
                 (w == 1 ||
                  per * (double)rest * (w - 1) <
                      (ctx->dispatch_ns + (ctx->ops->caller_runs ? 0 : late)) *
                          w ||
                  (ctx->ops->caller_runs && per * (double)rest < late))));
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
    run_here(ctx, j, per, grain, &f);
    here += pk_time() - t1;
    /* Fewer items than a vector: the cost of whole vectors, a bound.
       Stopped by pk_interrupt, it did not time them all. */
    if (!pk__interrupted(ctx))
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
        t1 > 4 * ctx->dispatch_ns && !pk__interrupted(ctx))
      pk__cost_put(k, j->task.isa, item,
                   (t1 - ctx->dispatch_ns) *
                       (double)((size_t)w < j->nchunks ? (size_t)w
                                                       : j->nchunks) /
                       (double)rest,
                   0);
  }

  /* Stopped by pk_interrupt (fork's backend says so itself). */
  for (size_t i = 0; st == PK_OK && i < f.len; i++)
    if (f.v[i].status == PK_EINTR)
      st = PK_EINTR;
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

/* "input 1" / "the input": how messages name array k of a call. */
static const char *arg_name(char *buf, size_t len, const char *what, int k,
                            int n) {
  if (n == 1)
    snprintf(buf, len, "the %s", what);
  else
    snprintf(buf, len, "%s %d", what, k);
  return buf;
}

/* Make or check output k, of item oi, for a batch of n local items laid
   out as ref. */
static pk_status setup_out(pk_context *ctx, const char *fn, const pk__job *j,
                           const pk_array *ref, const pk_item *oi, int k,
                           pk_array **out) {
  size_t shape[PK_MAX_DIMS];
  char name[32];
  pk_status st;
  int i, c;

  arg_name(name, sizeof name, "output", k, j->nout);
  shape[0] = j->n;
  for (i = 0; i < oi->ndim; i++)
    shape[i + 1] = oi->shape[i];
  if (*out == NULL) {
    if ((st = pk__array_new(ctx, fn, oi->dtype, oi->ndim + 1, shape, out)))
      return st;
    /* A distributed input's output is distributed alike. */
    (*out)->distributed = ref->distributed;
    (*out)->offset = ref->offset;
    (*out)->global = ref->global;
    return PK_OK;
  }
  const pk_array *o = *out;
  int same = o->dtype == oi->dtype && o->ndim == oi->ndim + 1;
  for (i = 0; same && i < o->ndim; i++)
    same = o->shape[i] == shape[i];
  if (!same)
    return pk__error(ctx, PK_ESHAPE, "%s: %s's dtype or shape is not what "
                     "kernel %s makes from %s", fn, name, j->kernel->name,
                     j->nin > 1 ? "these inputs" : "this input");
  for (c = 0; c < j->nin; c++)
    if (overlaps(j->ins[c], o))
      return pk__error(ctx, PK_EINVAL, "%s: %s overlaps %s", fn, name,
                       j->nin > 1 ? "an input" : "the input");
  for (c = 0; c < k; c++)
    if (overlaps(j->outs[c], o))
      return pk__error(ctx, PK_EINVAL, "%s: outputs %d and %d overlap", fn,
                       c, k);
  /* The caller's output is never redistributed behind its back: it must
     hold the block the input holds, or the whole batch. */
  if (ref->distributed && !(o->distributed && o->offset == ref->offset &&
                            o->global == ref->global))
    return pk__error(ctx, PK_EINVAL, "%s: the input is distributed; %s "
                     "must be distributed alike (let %s make it, or "
                     "pk_mpi_create it with the same global shape)", fn,
                     name, fn);
  if (!ref->distributed && o->distributed &&
      (o->offset != 0 || o->global != o->shape[0]))
    return pk__error(ctx, PK_EINVAL, "%s: the input is replicated (not "
                     "distributed) but %s is distributed", fn, name);
  return PK_OK;
}

/* The items of a as an input of a batch: global length along axis 0. */
static size_t batch_of(const pk_array *a) {
  return a->distributed ? a->global : a->shape[0];
}

/*
 * The pieces views are gathered in (pk__run): about 256 KiB of items, at
 * least 8 items while they are small enough (so that a batch on the last
 * axis reads whole cache lines), in multiples of the kernel's grain; the
 * gather buffers after the kernel's own scratch.
 */
static void plan_gather(pk__job *j) {
  size_t per = 0, piece, at;

  for (int c = 0; c < j->nin; c++)
    per += j->gather[c].runs * j->gather[c].run;
  if (per == 0)
    return;
  piece = ((size_t)256 << 10) / per;
  if (piece < 8)
    piece = per <= ((size_t)512 << 10) ? 8 : 1;
  if (piece > 4096)
    piece = 4096;
  if (j->kernel->grain > 1 && piece >= j->kernel->grain)
    piece -= piece % j->kernel->grain;
  at = (j->scratch + 63) / 64 * 64;
  j->piece = piece;
  j->gather_at = at;
  for (int c = 0; c < j->nin; c++)
    at += (piece * j->gather[c].runs * j->gather[c].run + 63) / 64 * 64;
  j->scratch = at;
}

pk_status pk__map_setup_n(pk_context *ctx, const char *fn,
                          const pk_kernel *k, int nin,
                          const pk_array *const in[], int nout,
                          pk_array *out[], pk__job *j) {
  char msg[512] = "", name[32];
  const pk_array *ref = NULL;
  size_t total = 0;
  pk_status st;
  int i, c, r = 0, bcasts[PK_MAX_ARGS] = {0};

  memset(j, 0, sizeof *j);
  if (k == NULL || in == NULL || out == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: kernel, input and output must "
                     "not be NULL", fn);
  if (k->name == NULL || k->shape == NULL || k->run == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: the kernel table needs a name, "
                     "a shape and a run function", fn);
  if (nin != (k->nin ? k->nin : 1) || nout != (k->nout ? k->nout : 1) ||
      nin < 1 || nin > PK_MAX_ARGS || nout < 1 || nout > PK_MAX_ARGS)
    return pk__error(ctx, PK_EINVAL, "%s: kernel %s takes %d input%s and "
                     "makes %d output%s, not %d and %d (1 to %d each)", fn,
                     k->name, k->nin ? k->nin : 1,
                     (k->nin ? k->nin : 1) == 1 ? "" : "s",
                     k->nout ? k->nout : 1,
                     (k->nout ? k->nout : 1) == 1 ? "" : "s", nin, nout,
                     PK_MAX_ARGS);
  for (c = 0; c < nin; c++)
    if (in[c] == NULL)
      return pk__error(ctx, PK_EINVAL, "%s: %s is NULL", fn,
                       arg_name(name, sizeof name, "input", c, nin));
  for (c = 0; c < nin; c++)
    if (in[c]->ctx != ctx)
      return pk__error(ctx, PK_EINVAL, "%s: %s belongs to another context",
                       fn, arg_name(name, sizeof name, "input", c, nin));
  for (c = 0; c < nout; c++)
    if (out[c] != NULL && out[c]->ctx != ctx)
      return pk__error(ctx, PK_EINVAL, "%s: %s belongs to another context",
                       fn, arg_name(name, sizeof name, "output", c, nout));

  /* The batch: the length of the inputs not of one item (an empty batch
     too); an input of one item is broadcast, or all are of one. */
  total = 1;
  for (c = 0; c < nin && total == 1; c++)
    if (batch_of(in[c]) != 1)
      total = batch_of(in[c]);
  for (c = 0; c < nin; c++) {
    size_t b = batch_of(in[c]);
    if (b != total && b != 1)
      return pk__error(ctx, PK_ESHAPE, "%s: %s has %zu items, the batch %zu "
                       "(an input of one item is broadcast to every item)",
                       fn, arg_name(name, sizeof name, "input", c, nin), b,
                       total);
  }
  /* The input the map's layout follows: one of the batch's length, a
     distributed one if the batch is of one item. */
  for (c = 0; c < nin; c++)
    if (ref == NULL || (total == 1 && in[c]->distributed &&
                        !ref->distributed) ||
        (batch_of(ref) != total && batch_of(in[c]) == total))
      ref = in[r = c];
  for (c = 0; c < nin; c++) {
    int bcast = batch_of(in[c]) == 1 && c != r &&
                (total != 1 || (ref->distributed && !in[c]->distributed));
    bcasts[c] = bcast;
    arg_name(name, sizeof name, "input", c, nin);
    if (bcast && in[c]->distributed)
      return pk__error(ctx, PK_EINVAL, "%s: %s, of one item, is broadcast "
                       "to every item and must be whole on every process: "
                       "not distributed", fn, name);
    if (!bcast && (in[c]->distributed != ref->distributed ||
                   in[c]->offset != ref->offset ||
                   in[c]->shape[0] != ref->shape[0]))
      return pk__error(ctx, PK_EINVAL, "%s: %s is not distributed as "
                       "input %d is: every input of a batch must have the "
                       "same blocks, or be whole", fn, name, r);
  }

  j->kernel = k;
  j->nin = nin;
  j->nout = nout;
  j->in = ref;
  j->n = ref->shape[0];
  j->total = total;
  j->task.count = j->n;
  for (c = 0; c < nin; c++) {
    pk_item *it = &j->task.in_items[c];
    j->ins[c] = in[c];
    it->dtype = in[c]->dtype;
    it->ndim = in[c]->ndim - 1;
    for (i = 1; i < in[c]->ndim; i++)
      it->shape[i - 1] = in[c]->shape[i];
    j->task.ins[c] = in[c]->data;
    j->task.in_strides[c] =
        bcasts[c] ? 0 : in[c]->view ? in[c]->vstride : item_bytes(it);
    j->gather[c] = in[c]->gather;
  }

  st = k->shape(k, j->task.in_items, j->task.out_items, msg, sizeof msg);
  if (st != PK_OK)
    return pk__error(ctx, st, "%s: kernel %s: %s", fn, k->name,
                     msg[0] ? msg : pk_strerror(st));
  for (c = 0; c < nout; c++) {
    const pk_item *oi = &j->task.out_items[c];
    if (oi->ndim < 0 || oi->ndim > PK_MAX_DIMS - 1 ||
        !pk_dtype_size(oi->dtype))
      return pk__error(ctx, PK_ESHAPE, "%s: kernel %s gave %s an item of %d "
                       "dimensions, dtype %d", fn, k->name,
                       arg_name(name, sizeof name, "output", c, nout),
                       oi->ndim, (int)oi->dtype);
  }
  for (c = 0; c < nout; c++)
    if (out[c] != NULL && out[c]->view != NULL)
      return pk__error(ctx, PK_EINVAL, "%s: %s is a view (pk_array_view), "
                       "which a map reads but never writes; pass NULL for "
                       "a new output, or an array of your own", fn,
                       arg_name(name, sizeof name, "output", c, nout));
  for (c = 0; c < nout; c++) {
    int made = out[c] == NULL;
    if ((st = setup_out(ctx, fn, j, ref, &j->task.out_items[c], c,
                        &out[c])) != PK_OK)
      return st;
    /* pages nobody has touched, and enough of them to be worth a call */
    if (made && out[c]->nbytes >= PK__MAPPED_BYTES)
      j->fresh |= 1u << c;
    j->outs[c] = out[c];
    j->task.outs[c] = out[c]->data;
    j->task.out_strides[c] = item_bytes(&j->task.out_items[c]);
  }
  j->out = out[0];
  j->task.nin = nin;
  j->task.nout = nout;
  j->task.isa = ctx->isa;
  pk__task_mirror(&j->task);
  j->scratch = k->scratch ? k->scratch(k, j->task.in_items) : 0;
  plan_gather(j);
  return PK_OK;
}

void pk__task_mirror(pk_task *t) {
  t->in = t->ins[0];
  t->out = t->outs[0];
  t->in_stride = t->in_strides[0];
  t->out_stride = t->out_strides[0];
  t->in_item = t->in_items[0];
  t->out_item = t->out_items[0];
}

void pk__task_one(pk_task *t) {
  t->nin = t->nout = 1;
  t->ins[0] = t->in;
  t->outs[0] = t->out;
  t->in_strides[0] = t->in_stride;
  t->out_strides[0] = t->out_stride;
  t->in_items[0] = t->in_item;
  t->out_items[0] = t->out_item;
}

void pk__task_shift(pk_task *t, size_t lo) {
  for (int c = 0; c < t->nin; c++)
    t->ins[c] += lo * t->in_strides[c];
  for (int c = 0; c < t->nout; c++)
    t->outs[c] += lo * t->out_strides[c];
  t->first += lo;
  pk__task_mirror(t);
}

pk_status pk__map(pk_context *ctx, const char *fn, const pk_kernel *kernel,
                  int nin, const pk_array *const in[], int nout,
                  pk_array *out[], const pk_map_opts *opts,
                  struct pk_future *future,
                  void (*on_chunk)(void *, size_t, size_t), void *arg) {
  pk__job j;
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  /* Before an output is made. */
  if (ctx->ops->usable && (st = ctx->ops->usable(ctx)) != PK_OK)
    return st;
  if ((st = pk__map_check_opts(ctx, opts)) == PK_OK)
    st = pk__map_setup_n(ctx, fn, kernel, nin, in, nout, out, &j);
  if ((st = pk__agree(ctx, st)) != PK_OK ||
      (st = pk__same(ctx, fn, "the kernel", kernel->name,
                     strlen(kernel->name))) != PK_OK)
    return st;
  j.future = future;
  j.on_chunk = on_chunk;
  j.on_chunk_arg = arg;
  return pk__map_execute(ctx, &j, opts);
}

pk_status pk_map(pk_context *ctx, const pk_kernel *kernel, const pk_array *in,
                 pk_array **out, const pk_map_opts *opts) {
  const pk_array *ins[1] = {in};
  return pk__map(ctx, "pk_map", kernel, 1, in ? ins : NULL, 1, out, opts,
                 NULL, NULL, NULL);
}

pk_status pk_map_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                   const pk_array *const in[], int nout, pk_array *out[],
                   const pk_map_opts *opts) {
  return pk__map(ctx, "pk_map_n", kernel, nin, in, nout, out, opts, NULL,
                 NULL, NULL);
}
