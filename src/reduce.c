/*
 * pk_reduce and pk_map_reduce: a whole array combined, in blocks of
 * PK_REDUCE_BLOCK folded in order and their partials in order, so that
 * every backend and worker count gives the same bits.  The blocks run as a
 * map (src/map.c) of an internal kernel.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- reduce */

typedef struct { double re, im; } cplx;

static double fmin_nan(double a, double b) {
  if (a != a || b != b)
    return NAN;
  return b < a ? b : a;
}

static double fmax_nan(double a, double b) {
  if (a != a || b != b)
    return NAN;
  return b > a ? b : a;
}

double pk__identity(pk_op op) {
  switch (op) {
  case PK_SUM:
    return 0.0;
  case PK_PROD:
    return 1.0;
  case PK_MIN:
    return HUGE_VAL;
  case PK_MAX:
    return -HUGE_VAL;
  }
  return 0.0;
}

void pk__fold_partial(pk_op op, pk_dtype dt, const void *xv, size_t n,
                      double *acc) {
  const double *x = xv;
  size_t i;

  if (dt == PK_C128) {
    cplx a = {acc[0], acc[1]};
    const cplx *v = (const cplx *)x;
    for (i = 0; i < n; i++) {
      if (op == PK_SUM) {
        a.re += v[i].re;
        a.im += v[i].im;
      } else {
        cplx p = {a.re * v[i].re - a.im * v[i].im,
                  a.re * v[i].im + a.im * v[i].re};
        a = p;
      }
    }
    acc[0] = a.re;
    acc[1] = a.im;
    return;
  }
  double a = acc[0];
  switch (op) {
  case PK_SUM:
    for (i = 0; i < n; i++)
      a += x[i];
    break;
  case PK_PROD:
    for (i = 0; i < n; i++)
      a *= x[i];
    break;
  case PK_MIN:
    for (i = 0; i < n; i++)
      a = fmin_nan(a, x[i]);
    break;
  case PK_MAX:
    for (i = 0; i < n; i++)
      a = fmax_nan(a, x[i]);
    break;
  }
  acc[0] = a;
}

static const pk_op op_sum = PK_SUM, op_prod = PK_PROD, op_min = PK_MIN,
                   op_max = PK_MAX;

static pk_status block_shape(const pk_kernel *k, const pk_item *in,
                             pk_item *out, char *msg, size_t msglen) {
  (void)k, (void)msg, (void)msglen;
  out->dtype = in->dtype;
  out->ndim = 0;
  return PK_OK;
}

/* Item i: one block of PK_REDUCE_BLOCK elements -> its partial result. */
static pk_status block_run(const pk_kernel *k, const pk_task *t, size_t lo,
                           size_t hi, size_t *bad) {
  pk_op op = *(const pk_op *)k->data;
  size_t i;

  (void)bad;
  for (i = lo; i < hi; i++) {
    double acc[2] = {pk__identity(op), 0.0};
    pk__fold_partial(op, t->in_item.dtype,
                     (const double *)(t->in + i * t->in_stride),
                     t->in_item.shape[0], acc);
    memcpy(t->out + i * t->out_stride, acc, t->out_stride);
  }
  return PK_OK;
}

static double block_cost(const pk_kernel *k, const pk_item *in) {
  (void)k;
  return 0.5 * (double)in->shape[0];
}

#define BLOCK_KERNEL(op)                                                   \
  {.name = "reduce", .shape = block_shape, .run = block_run,               \
   .cost = block_cost, .data = &op, .data_size = sizeof op}

static const pk_kernel block_kernels[] = {
    BLOCK_KERNEL(op_sum), BLOCK_KERNEL(op_prod), BLOCK_KERNEL(op_min),
    BLOCK_KERNEL(op_max)};

/*
 * Full blocks go to the backend as items; the tail block runs here.  Then
 * the partials are folded in order, so the bits never depend on how the
 * blocks were shared out.
 */
static pk_status reduce(pk_context *ctx, const pk_array *a, pk_op op,
                        double *result) {
  size_t esize = pk_dtype_size(a->dtype), nblocks = a->count / PK_REDUCE_BLOCK;
  size_t tail = a->count - nblocks * PK_REDUCE_BLOCK;
  double acc[2] = {pk__identity(op), 0.0};
  pk_array *part = NULL;
  pk__job j;
  pk_status st = PK_OK;

  /* The last elements are summed here: a pending job ends first. */
  if (ctx->ops->wait && ctx->ops->wait(ctx, -1) == PK_ESTATE)
    return PK_ESTATE; /* a context its process's parent made */
  memset(&j, 0, sizeof j);
  if (nblocks > 0) {
    size_t shape[1] = {nblocks};
    st = pk__array_new(ctx, "pk_reduce", a->dtype, 1, shape, &part);
    if (st != PK_OK)
      return st;
    j.kernel = &block_kernels[op - PK_SUM];
    j.in = a;
    j.out = part;
    j.n = j.total = j.task.count = nblocks;
    j.task.in = a->data;
    j.task.out = part->data;
    j.task.in_item = (pk_item){a->dtype, 1, {PK_REDUCE_BLOCK}};
    j.task.out_item = (pk_item){a->dtype, 0, {0}};
    j.task.in_stride = PK_REDUCE_BLOCK * esize;
    j.task.out_stride = esize;
    pk__task_one(&j.task);
    j.nin = j.nout = 1;
    j.ins[0] = a;
    j.outs[0] = part;
    st = pk__map_execute(ctx, &j, NULL);
    if (st == PK_OK)
      pk__fold_partial(op, a->dtype, part->data, nblocks, acc);
    pk_array_destroy(&part);
  } else {
    memset(&ctx->stats, 0, sizeof ctx->stats);
    ctx->stats.ran_inline = 1;
    ctx->stats.workers = 1;
  }
  if (st != PK_OK)
    return st;
  if (tail > 0) {
    double t[2] = {pk__identity(op), 0.0};
    pk__fold_partial(op, a->dtype, (const double *)((const char *)a->data +
                                        nblocks * PK_REDUCE_BLOCK * esize),
         tail, t);
    pk__fold_partial(op, a->dtype, t, 1, acc);
  }
  result[0] = acc[0];
  if (a->dtype == PK_C128)
    result[1] = acc[1];
  ctx->stats.items = a->count;
  return PK_OK;
}

void pk__fold(pk_op op, pk_dtype dt, const void *x, size_t count,
              double *result) {
  size_t esize = pk_dtype_size(dt), b;
  double acc[2] = {pk__identity(op), 0.0};

  for (b = 0; b < count; b += PK_REDUCE_BLOCK) {
    size_t len = count - b < PK_REDUCE_BLOCK ? count - b : PK_REDUCE_BLOCK;
    double part[2] = {pk__identity(op), 0.0};
    pk__fold_partial(op, dt, (const char *)x + b * esize, len, part);
    pk__fold_partial(op, dt, part, 1, acc);
  }
  result[0] = acc[0];
  if (dt == PK_C128)
    result[1] = acc[1];
}

static pk_status check_reduce(pk_context *ctx, const char *fn, pk_op op,
                              pk_dtype dt, double *result) {
  if (result == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: result is NULL", fn);
  if (op < PK_SUM || op > PK_MAX)
    return pk__error(ctx, PK_EINVAL, "%s: unknown operation %d", fn, (int)op);
  if (dt == PK_C128 && (op == PK_MIN || op == PK_MAX))
    return pk__error(ctx, PK_EDTYPE, "%s: min and max are not defined for "
                     "complex values", fn);
  return PK_OK;
}

pk_status pk_reduce(pk_context *ctx, const pk_array *a, pk_op op,
                    double *result) {
  pk_status st;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (a == NULL)
    st = pk__error(ctx, PK_EINVAL, "pk_reduce: array is NULL");
  else if (a->ctx != ctx)
    st = pk__error(ctx, PK_EINVAL, "pk_reduce: the array belongs to "
                   "another context");
  else if ((st = pk__no_view(ctx, "pk_reduce", a)) != PK_OK)
    ;
  else
    st = check_reduce(ctx, "pk_reduce", op, a->dtype, result);
  if ((st = pk__agree(ctx, st)) != PK_OK ||
      (st = pk__same(ctx, "pk_reduce", "the op", &op, sizeof op)) != PK_OK)
    return st;
  free(ctx->failed);
  ctx->failed = NULL;
  ctx->nfailed = 0;
  double t0 = pk_time();
  st = ctx->ops->reduce ? ctx->ops->reduce(ctx, a, op, result)
                        : reduce(ctx, a, op, result);
  ctx->stats.seconds = pk_time() - t0;
  return st;
}

/*
 * pk_map_reduce and pk_map_reduce_n as public function fn: output k's
 * reduction at results + k * step (step 0: one output).
 */
static pk_status map_reduce(pk_context *ctx, const char *fn,
                            const pk_kernel *kernel, int nin,
                            const pk_array *const in[], pk_op op,
                            double *results, size_t step,
                            const pk_map_opts *opts) {
  pk_array *out[PK_MAX_ARGS] = {NULL};
  int nout = kernel != NULL && kernel->nout > 1 ? kernel->nout : 1, k;
  pk_stats map_stats;
  pk_status st;
  pk__job j;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (step == 0 && nout != 1)
    st = pk__error(ctx, PK_EINVAL, "%s: kernel %s makes %d outputs; "
                   "pk_map_reduce_n reduces each", fn, kernel->name, nout);
  else if ((st = pk__map_check_opts(ctx, opts)) == PK_OK)
    st = pk__map_setup_n(ctx, fn, kernel, nin, in,
                         nout > PK_MAX_ARGS ? PK_MAX_ARGS + 1 : nout, out,
                         &j);
  for (k = 0; k < nout && st == PK_OK; k++)
    st = check_reduce(ctx, fn, op, j.task.out_items[k].dtype, results);
  if ((st = pk__agree(ctx, st)) == PK_OK && ctx->ops->same != NULL) {
    char what[128]; /* made only where ranks are to agree on it */
    snprintf(what, sizeof what, "%s %d", kernel->name, (int)op);
    st = pk__same(ctx, fn, "the kernel and op", what, strlen(what));
  }
  if (st == PK_OK)
    st = pk__map_execute(ctx, &j, opts);
  if (st == PK_OK) {
    /* The map's stats, and its time with the reduces': timed here, as
       pk_reduce does, since not every reduce path sets its own. */
    double t0 = pk_time();
    map_stats = ctx->stats;
    for (k = 0; k < nout && st == PK_OK; k++) {
      double *r = results + (size_t)k * step;
      if (step)
        r[1] = 0;
      st = ctx->ops->reduce ? ctx->ops->reduce(ctx, out[k], op, r)
                            : reduce(ctx, out[k], op, r);
    }
    map_stats.seconds += pk_time() - t0;
    ctx->stats = map_stats;
  }
  for (k = 0; k < nout && k < PK_MAX_ARGS; k++)
    pk_array_destroy(&out[k]);
  return st;
}

pk_status pk_map_reduce(pk_context *ctx, const pk_kernel *kernel,
                        const pk_array *in, pk_op op, double *result,
                        const pk_map_opts *opts) {
  const pk_array *ins[1] = {in};
  return map_reduce(ctx, "pk_map_reduce", kernel, 1, in ? ins : NULL, op,
                    result, 0, opts);
}

pk_status pk_map_reduce_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                          const pk_array *const in[], pk_op op,
                          double *results, const pk_map_opts *opts) {
  return map_reduce(ctx, "pk_map_reduce_n", kernel, nin, in, op, results, 2,
                    opts);
}
