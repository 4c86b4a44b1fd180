#include "baselines.h"

#include <fftw3.h>
#include <lapacke.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ LU loop */

int pkb_lu_loop(const double *x, size_t count, int n, int threads,
                int logdet, double *out) {
  int err = 0;

#pragma omp parallel num_threads(threads) reduction(| : err)
  {
    size_t nn = (size_t)n * (size_t)n;
    double *a = malloc(nn * sizeof *a + 1);
    lapack_int *ipiv = malloc((size_t)n * sizeof *ipiv + 1);

    if (a == NULL || ipiv == NULL)
      err = 1;
#pragma omp for schedule(static)
    for (size_t i = 0; i < count; i++) {
      double d = 1, s = 1, l = 0;
      lapack_int info;
      if (err)
        continue;
      memcpy(a, x + i * nn, nn * sizeof *a);
      if ((info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, a, n, ipiv)) < 0) {
        err = 1;
        continue;
      }
      for (int k = 0; k < n; k++) {
        double u = ipiv[k] != k + 1 ? -a[k * n + k] : a[k * n + k];
        d *= u;
        s *= u < 0 ? -1 : 1;
        l += log(fabs(u));
      }
      if (!logdet) {
        out[i] = d;
      } else if (info > 0) { /* exactly singular, as numpy: {0, -inf} */
        out[2 * i] = 0;
        out[2 * i + 1] = -INFINITY;
      } else {
        out[2 * i] = s;
        out[2 * i + 1] = l;
      }
    }
    free(a);
    free(ipiv);
  }
  return err ? -1 : 0;
}

/* --------------------------------------------------------------- FFTW */

struct pkb_fftw {
  fftw_plan plan;
  fftw_complex *in; /* our own copy: FFTW_MEASURE writes over its arrays */
};

pkb_fftw *pkb_fftw_plan(int h, int w, size_t count, const void *in,
                        void *out) {
  int dims[2] = {h, w}, dist = h * w;
  size_t bytes = count * (size_t)dist * sizeof(fftw_complex);
  pkb_fftw *p = calloc(1, sizeof *p);

  if (p == NULL || count > (size_t)INT_MAX / dist ||
      (p->in = fftw_malloc(bytes + 1)) == NULL) {
    pkb_fftw_destroy(&p);
    return NULL;
  }
  /* A batch of a few thousand items makes each trial slow: bound the
   * planner so the benchmark does not spend minutes planning. */
  fftw_set_timelimit(2.0);
  p->plan = fftw_plan_many_dft(2, dims, (int)count, p->in, NULL, 1, dist,
                               out, NULL, 1, dist, FFTW_FORWARD,
                               FFTW_MEASURE);
  fftw_set_timelimit(FFTW_NO_TIMELIMIT);
  if (p->plan == NULL) {
    pkb_fftw_destroy(&p);
    return NULL;
  }
  memcpy(p->in, in, bytes);
  return p;
}

void pkb_fftw_run(pkb_fftw *p) { fftw_execute(p->plan); }

void pkb_fftw_destroy(pkb_fftw **p) {
  if (p == NULL || *p == NULL)
    return;
  if ((*p)->plan)
    fftw_destroy_plan((*p)->plan);
  fftw_free((*p)->in);
  free(*p);
  *p = NULL;
}

/* ------------------------------------------------------------ trivial */

static pk_status inc_shape(const pk_kernel *k, const pk_item *in,
                           pk_item *out, char *msg, size_t len) {
  (void)k;
  if (in->dtype != PK_F64 || in->ndim != 0) {
    if (msg && len)
      snprintf(msg, len, "inc: items must be float64 scalars");
    return in->dtype != PK_F64 ? PK_EDTYPE : PK_ESHAPE;
  }
  *out = *in;
  return PK_OK;
}

static pk_status inc_run(const pk_kernel *k, const pk_task *t, size_t lo,
                         size_t hi, size_t *bad) {
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++)
    *(double *)(t->out + i * t->out_stride) =
        *(const double *)(t->in + i * t->in_stride) + 1;
  return PK_OK;
}

static double inc_cost(const pk_kernel *k, const pk_item *in) {
  (void)k, (void)in;
  return 1.0; /* ns per item: a load, an add, a store */
}

static const pk_kernel inc = {.name = "inc", .shape = inc_shape,
                              .run = inc_run, .cost = inc_cost};

const pk_kernel *pkb_kernel_inc(void) { return &inc; }

void pkb_inc_loop(const double *in, double *out, size_t count, int threads) {
  long n = (long)count;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (long i = 0; i < n; i++)
    out[i] = in[i] + 1;
}
