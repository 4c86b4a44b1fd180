/*
 * pk_fft2_array, pk_rfft2_array, pk_autocorr2d_array: one large 2-D array
 * transformed as a whole.  This front end checks the arrays and sends the
 * transform to one node's threads (local.c) or across the mpi backend's
 * ranks (mpi.c), which hands an array of one row or column to local.c on
 * rank 0.  The helpers both share are in common.c.
 */
#include "internal.h"
#include "array.h"

#include <parkit/fft.h>
#include <parkit/mpi.h>

#include <limits.h>
#include <math.h>
#include <string.h>

pk__fft_mpi_fn pk__fft_mpi_hook;

/* Distributed arrays' transforms run across the processes (mpi.c). */
static int on_mpi(const pk_context *ctx) { return ctx->ops->dist != NULL; }

static size_t rows_of(const pk_array *a) {
  return a->distributed ? a->global : a->shape[0];
}

/* Check in and fill g; every rank comes to the same verdict (global
 * shapes only). */
static pk_status check(pk_context *ctx, const char *fn, int op,
                       const pk_array *in, pk_array **out, pk__ageo *g) {
  size_t h, w;

  memset(g, 0, sizeof *g);
  g->op = op;
  if (in == NULL || out == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: in and out must not be NULL", fn);
  if (in->ctx != ctx || (*out != NULL && (*out)->ctx != ctx))
    return pk__error(ctx, PK_EINVAL, "%s: an array belongs to another "
                     "context", fn);
  if (in->ndim != 2)
    return pk__error(ctx, PK_ESHAPE, "%s: the array must be 2-D (h x w), "
                     "not %d-D; for a batch use pk_map with the kernel", fn,
                     in->ndim);
  g->in = in->dtype;
  if (in->dtype != PK_F64 && (op == PK__A_RFFT2 || op == PK__A_AUTOCORR))
    return pk__error(ctx, PK_EDTYPE, "%s: the array must be real "
                     "(float64), not complex", fn);
  h = g->h = rows_of(in);
  w = g->w = in->shape[1];
  if (h == 0 || w == 0)
    return pk__error(ctx, PK_ESHAPE, "%s: empty array (%zu x %zu)", fn, h,
                     w);
  /* FFTW takes int extents; rows travel between ranks as one MPI item. */
  if (h > INT_MAX / 2 || w > INT_MAX / 32)
    return pk__error(ctx, PK_ESHAPE, "%s: %zu x %zu is too large for FFTW's "
                     "int extents", fn, h, w);
  g->wc = w / 2 + 1;
  g->out = op == PK__A_AUTOCORR ? PK_F64 : PK_C128;
  g->oh = h;
  g->ow = op == PK__A_RFFT2 ? g->wc : w;
  if (op == PK__A_AUTOCORR) {
    g->oh = 2 * h - 1;
    g->ow = 2 * w - 1;
    g->H = pk__fft_fast_size(2 * h - 1);
    g->W = pk__fft_fast_even(2 * w - 1);
    if (g->H == 0 || g->W == 0 || g->W > INT_MAX / 32)
      return pk__error(ctx, PK_ESHAPE, "%s: the FFT grid of %zu x %zu is "
                       "too large for FFTW's int extents", fn, h, w);
  }
  {
    int ovf = 0;
    size_t n = pk__mul(g->oh, g->ow, &ovf);
    pk__mul(n, 16, &ovf);
    pk__mul(pk__mul(g->H, g->W, &ovf), 16, &ovf);
    if (ovf)
      return pk__error(ctx, PK_EOVERFLOW, "%s: %zu x %zu: the result does "
                       "not fit in memory addresses", fn, h, w);
  }
  return PK_OK;
}

static int overlaps(const pk_array *a, const pk_array *b) {
  const char *p = a->data, *q = b->data;
  return a->nbytes && b->nbytes && p < q + b->nbytes && q < p + a->nbytes;
}

/* The output's local rows under the mpi backend: the balanced block of
 * oh for a distributed input, all of them for a replica. */
static void out_block(pk_context *ctx, const pk__ageo *g, const pk_array *in,
                      size_t *first, size_t *n) {
  if (in->distributed)
    pk_mpi_block(g->oh, pk_mpi_size(ctx), pk_mpi_rank(ctx), first, n);
  else {
    *first = 0;
    *n = g->oh;
  }
}

static pk_status check_out(pk_context *ctx, const char *fn,
                           const pk__ageo *g, const pk_array *in,
                           const pk_array *o) {
  size_t first, n;

  if (o->dtype != g->out)
    return pk__error(ctx, PK_EDTYPE, "%s: the output must be %s", fn,
                     g->out == PK_F64 ? "float64" : "complex128");
  out_block(ctx, g, in, &first, &n);
  if (o->ndim != 2 || rows_of(o) != g->oh || o->shape[1] != g->ow ||
      o->distributed != in->distributed ||
      (o->distributed && (o->offset != first || o->shape[0] != n)))
    return pk__error(ctx, PK_ESHAPE, "%s: the output must be %zu x %zu%s",
                     fn, g->oh, g->ow,
                     in->distributed ? ", distributed in balanced blocks"
                                     : "");
  if (overlaps(in, o))
    return pk__error(ctx, PK_EINVAL, "%s: input and output overlap", fn);
  return PK_OK;
}

static pk_status run(pk_context *ctx, const char *fn, int op,
                     const pk_array *in, pk_array **out) {
  pk__ageo g;
  pk_status st;
  int made = 0;

  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  st = check(ctx, fn, op, in, out, &g);
  if (st == PK_OK && (st = pk__no_view(ctx, fn, in)) == PK_OK && *out)
    st = pk__no_view(ctx, fn, *out);
  st = pk__agree(ctx, st);
  if (st != PK_OK)
    return st;
  if (*out == NULL) {
    size_t shape[2] = {g.oh, g.ow};
    made = 1;
    /* pk_mpi_create is collective and agrees by itself. */
    if (on_mpi(ctx) && in->distributed)
      st = pk_mpi_create(ctx, g.out, 2, shape, out);
    else
      st = pk__agree(ctx, pk__array_new(ctx, fn, g.out, 2, shape, out));
  } else {
    st = pk__agree(ctx, check_out(ctx, fn, &g, in, *out));
  }
  if (st == PK_OK) {
    if (on_mpi(ctx) && pk__fft_mpi_hook != NULL)
      st = pk__agree(ctx, pk__fft_mpi_hook(ctx, &g, in, *out));
    else if (on_mpi(ctx))
      st = pk__agree(ctx, pk__error(ctx, PK_EBACKEND, "%s: the mpi "
                                    "backend's transforms are not loaded",
                                    fn));
    else
      st = pk__fft_local(ctx, fn, &g, in, *out);
  }
  if (st != PK_OK && made)
    pk_array_destroy(out);
  return st;
}

pk_status pk_fft2_array(pk_context *ctx, const pk_array *in, pk_array **out,
                        int inverse) {
  return run(ctx, inverse ? "pk_fft2_array (inverse)" : "pk_fft2_array",
             inverse ? PK__A_IFFT2 : PK__A_FFT2, in, out);
}

pk_status pk_rfft2_array(pk_context *ctx, const pk_array *in,
                         pk_array **out) {
  return run(ctx, "pk_rfft2_array", PK__A_RFFT2, in, out);
}

pk_status pk_autocorr2d_array(pk_context *ctx, const pk_array *in,
                              pk_array **out) {
  return run(ctx, "pk_autocorr2d_array", PK__A_AUTOCORR, in, out);
}
