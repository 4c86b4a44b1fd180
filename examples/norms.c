/*
 * norms: a user-written kernel.  Each item of the batch is a vector; the
 * kernel gives its Euclidean norm.  Then the largest norm, by pk_reduce.
 *
 *   cc norms.c $(pkg-config --cflags --libs parkit) -o norms
 *   ./norms --pk-backend=openmp --pk-workers=2
 */
#include <parkit.h>

#include <math.h>
#include <stdio.h>

/* One item: a vector of length n -> one float64. */
static pk_status norm_shape(const pk_kernel *k, const pk_item *in,
                            pk_item *out, char *msg, size_t len) {
  (void)k;
  if (in->dtype != PK_F64 || in->ndim != 1) {
    snprintf(msg, len, "norm takes float64 vectors: a batch of shape (M, n)");
    return in->dtype != PK_F64 ? PK_EDTYPE : PK_ESHAPE;
  }
  out->dtype = PK_F64;
  out->ndim = 0;
  return PK_OK;
}

/* Items [lo, hi): item i starts at in + i * in_stride bytes. */
static pk_status norm_run(const pk_kernel *k, const pk_task *t, size_t lo,
                          size_t hi, size_t *bad) {
  size_t n = t->in_item.shape[0], i, j;
  (void)k, (void)bad;
  for (i = lo; i < hi; i++) {
    const double *x = (const double *)(t->in + i * t->in_stride);
    double s = 0;
    for (j = 0; j < n; j++)
      s += x[j] * x[j];
    *(double *)(t->out + i * t->out_stride) = sqrt(s);
  }
  return PK_OK;
}

/* About a nanosecond an element: small batches run inline. */
static double norm_cost(const pk_kernel *k, const pk_item *in) {
  (void)k;
  return (double)in->shape[0];
}

static const pk_kernel norm = {
    .name = "norm", .shape = norm_shape, .run = norm_run, .cost = norm_cost};

int main(int argc, char **argv) {
  size_t shape[2] = {100000, 64}, i;
  pk_context *ctx = NULL;
  pk_array *v = NULL, *norms = NULL;
  pk_status st;
  double *x, largest = 0, expect = sqrt(63.0 * 64.0 * 127.0 / 6.0) / 8.0;

  if ((st = pk_init(&ctx, &argc, &argv)) != PK_OK) {
    fprintf(stderr, "norms: %s\n", pk_errmsg(NULL));
    return 1;
  }
  st = pk_array_create(ctx, PK_F64, 2, shape, &v);
  if (st == PK_OK) {
    x = pk_array_data(v);
    for (i = 0; i < shape[0] * shape[1]; i++)
      x[i] = (double)(i % 64) / 8.0; /* every norm is the same */
    st = pk_map(ctx, &norm, v, &norms, NULL);
  }
  if (st == PK_OK)
    st = pk_reduce(ctx, norms, PK_MAX, &largest);
  if (st != PK_OK)
    fprintf(stderr, "norms: %s\n", pk_errmsg(ctx));
  else
    printf("%zu norms on %s (%d workers), largest %.6f (expected %.6f)\n",
           shape[0], pk_backend(ctx), pk_workers(ctx), largest, expect);
  if (st == PK_OK && fabs(largest - expect) > 1e-12 * expect)
    st = PK_EKERNEL;
  pk_array_destroy(&v);
  pk_array_destroy(&norms);
  pk_finalize(&ctx);
  return st != PK_OK;
}
