/*
 * Contexts used at the same time from several threads of one program, a
 * context each (parkit.h: a context is used by one thread at a time;
 * different contexts, at once): every built-in kernel, at shapes that make
 * new FFT plans while the other threads plan theirs, through pk_map_n and
 * pk_map_async_n, on every backend at once.  Each result is compared with
 * one computed before the threads start by a path that makes no FFT plan
 * (so that the threads find none made and plan at once): det, slogdet and
 * direct sums by the same kernel in a serial context, bit for bit (an
 * item's bits depend on the item alone on every backend); the FFT
 * correlations with the direct method and the transforms with a plain
 * discrete Fourier transform, to 1e-12 of their largest value.  Plain C,
 * so that `make tsan-check` can build it with ThreadSanitizer (see
 * Makefile.am); exit status 0 when every result agrees, 1 otherwise, 77
 * (skipped) when no thread can be made.
 */
#include "config.h"

#include <parkit.h>
#include <parkit/async.h>
#include <parkit/fft.h>
#include <parkit/kernels.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splitmix.h"

enum { THREADS = 3, ROUNDS = 24 };

typedef struct kcase {
  const char *name;
  const pk_kernel *(*kernel)(void);
  size_t count, h, w, h2, w2; /* h2 x w2: a pair kernel's second input */
  /* the reference: the same kernel (ref == kernel, bit for bit), another
     kernel, or (NULL) the plain transform of sign dft, dft_scale'd */
  const pk_kernel *(*ref)(void);
  int dft, dft_half;
} kcase;

static const pk_kernel *k_det(void) { return pk_kernel_det(); }
static const pk_kernel *k_slogdet(void) { return pk_kernel_slogdet(); }
static const pk_kernel *k_fft2(void) { return pk_kernel_fft2(); }
static const pk_kernel *k_ifft2(void) { return pk_kernel_ifft2(); }
static const pk_kernel *k_rfft2(void) { return pk_kernel_rfft2(); }
static const pk_kernel *k_auto_fft(void) {
  return pk_kernel_autocorr2d(PK_AUTOCORR_FFT);
}
static const pk_kernel *k_auto(void) {
  return pk_kernel_autocorr2d(PK_AUTOCORR_AUTO);
}
static const pk_kernel *k_auto_direct(void) {
  return pk_kernel_autocorr2d(PK_AUTOCORR_DIRECT);
}
static const pk_kernel *k_corr_fft(void) {
  return pk_kernel_correlate2d(PK_MODE_FULL, PK_AUTOCORR_FFT);
}
static const pk_kernel *k_corr_direct(void) {
  return pk_kernel_correlate2d(PK_MODE_FULL, PK_AUTOCORR_DIRECT);
}
static const pk_kernel *k_conv_same(void) {
  return pk_kernel_convolve2d(PK_MODE_SAME, PK_AUTOCORR_DIRECT);
}

static const kcase cases[] = {
    {"det 10x10", k_det, 300, 10, 10, 0, 0, k_det, 0, 0},
    {"det 100x100", k_det, 12, 100, 100, 0, 0, k_det, 0, 0},
    {"slogdet 1100x1100", k_slogdet, 2, 1100, 1100, 0, 0, k_slogdet, 0,
     0}, /* dgetrf on every path; a det would overflow */
    {"slogdet 37x37", k_slogdet, 40, 37, 37, 0, 0, k_slogdet, 0, 0},
    {"fft2 100x100", k_fft2, 6, 100, 100, 0, 0, NULL, -1, 0},
    {"fft2 48x30", k_fft2, 8, 48, 30, 0, 0, NULL, -1, 0},
    {"ifft2 27x64", k_ifft2, 8, 27, 64, 0, 0, NULL, 1, 0},
    {"rfft2 60x60", k_rfft2, 8, 60, 60, 0, 0, NULL, -1, 1},
    {"autocorr2d fft 50x50", k_auto_fft, 8, 50, 50, 0, 0, k_auto_direct, 0,
     0},
    {"autocorr2d auto 33x21", k_auto, 8, 33, 21, 0, 0, k_auto_direct, 0, 0},
    {"correlate2d full fft 100x100 31x31", k_corr_fft, 6, 100, 100, 31, 31,
     k_corr_direct, 0, 0},
    {"convolve2d same direct 40x40 9x9", k_conv_same, 6, 40, 40, 9, 9,
     k_conv_same, 0, 0},
};
enum { NCASES = sizeof cases / sizeof cases[0] };

static double *input[NCASES][2];
static double *want[NCASES];
static size_t nwant[NCASES];

static const char *const backends[THREADS] = {"serial", "openmp",
#ifdef PK_HAVE_FORK_BACKEND
                                              "fork"
#else
                                              "openmp"
#endif
};

/* Case c's results by kernel on ctx into a new buffer (*n doubles); 0 or
   -1. */
static int run(pk_context *ctx, int c, const pk_kernel *kernel, int async,
               double **res, size_t *n) {
  const kcase *k = &cases[c];
  size_t s0[3] = {k->count, k->h, k->w}, s1[3] = {k->count, k->h2, k->w2};
  pk_array *in[2] = {NULL, NULL}, *out = NULL;
  int nin = k->h2 ? 2 : 1, rc = -1;
  pk_status st = pk_array_wrap(ctx, PK_F64, 3, s0, input[c][0], &in[0]);

  if (st == PK_OK && nin == 2)
    st = pk_array_wrap(ctx, PK_F64, 3, s1, input[c][1], &in[1]);
  if (st == PK_OK && async) {
    pk_future *f = NULL;
    st = pk_map_async_n(ctx, kernel, nin, (const pk_array *const *)in,
                        1, &out, NULL, &f);
    if (st == PK_OK)
      st = pk_future_get(f);
    pk_future_destroy(&f);
  } else if (st == PK_OK) {
    st = pk_map_n(ctx, kernel, nin, (const pk_array *const *)in, 1, &out,
                  NULL);
  }
  if (st != PK_OK) {
    fprintf(stderr, "%s: %s\n", k->name, pk_errmsg(ctx));
  } else {
    *n = pk_array_nbytes(out) / sizeof(double);
    if ((*res = malloc(*n * sizeof(double))) != NULL) {
      memcpy(*res, pk_array_data(out), *n * sizeof(double));
      rc = 0;
    }
  }
  pk_array_destroy(&out);
  pk_array_destroy(&in[0]);
  pk_array_destroy(&in[1]);
  return rc;
}

/* Whether got agrees with case c's reference. */
static int agrees(int c, const double *got, size_t n, const char *who) {
  double top = 0;

  if (n != nwant[c]) {
    fprintf(stderr, "%s, %s: %zu values, %zu expected\n", who, cases[c].name,
            n, nwant[c]);
    return 0;
  }
  if (cases[c].ref == cases[c].kernel) {
    if (memcmp(got, want[c], n * sizeof *got) == 0)
      return 1;
    fprintf(stderr, "%s, %s: not the bits computed before by one thread\n", who,
            cases[c].name);
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    top = fmax(top, fabs(want[c][i]));
  for (size_t i = 0; i < n; i++)
    if (!(fabs(got[i] - want[c][i]) <= 1e-12 * top)) {
      fprintf(stderr, "%s, %s: value %zu is %.17g, reference %.17g\n", who,
              cases[c].name, i, got[i], want[c][i]);
      return 0;
    }
  return 1;
}

/*
 * Case c's transform by its definition, item by item: a plain discrete
 * Fourier transform of sign cases[c].dft along each axis in turn (rows,
 * then columns), scaled by 1 / (h w) for the inverse; of the half
 * spectrum's w / 2 + 1 columns for dft_half.  Complex results interleaved.
 */
static int dft(int c, double **res, size_t *n) {
  const kcase *k = &cases[c];
  const size_t h = k->h, w = k->w, wo = k->dft_half ? w / 2 + 1 : w;
  const double pi = 3.14159265358979323846, sc = k->dft > 0 ? 1.0 / (h * w) : 1;
  double *t = malloc(2 * h * w * sizeof *t);

  *n = 2 * k->count * h * wo;
  if (t == NULL || (*res = malloc(*n * sizeof **res)) == NULL) {
    free(t);
    return -1;
  }
  for (size_t it = 0; it < k->count; it++) {
    const double *x = input[c][0] + it * h * w;
    double *y = *res + it * 2 * h * wo;
    for (size_t r = 0; r < h; r++) /* along the rows */
      for (size_t q = 0; q < w; q++) {
        double re = 0, im = 0;
        for (size_t j = 0; j < w; j++) {
          double a = k->dft * 2 * pi * (double)((q * j) % w) / (double)w;
          re += x[r * w + j] * cos(a);
          im += x[r * w + j] * sin(a);
        }
        t[2 * (r * w + q)] = re;
        t[2 * (r * w + q) + 1] = im;
      }
    for (size_t p = 0; p < h; p++) /* then down the columns */
      for (size_t q = 0; q < wo; q++) {
        double re = 0, im = 0;
        for (size_t r = 0; r < h; r++) {
          double a = k->dft * 2 * pi * (double)((p * r) % h) / (double)h;
          double cr = cos(a), ci = sin(a);
          const double *v = t + 2 * (r * w + q);
          re += v[0] * cr - v[1] * ci;
          im += v[0] * ci + v[1] * cr;
        }
        y[2 * (p * wo + q)] = re * sc;
        y[2 * (p * wo + q) + 1] = im * sc;
      }
  }
  free(t);
  return 0;
}

typedef struct job {
  int id, bad, done;
} job;

static void *thread_main(void *arg) {
  job *j = arg;
  pk_config cfg = {.backend = backends[j->id], .workers = 2};
  pk_context *ctx = NULL;
  uint64_t seed = 0x9E3779B97F4A7C15u * (uint64_t)(j->id + 1);
  char who[64];

  snprintf(who, sizeof who, "thread %d (%s)", j->id, backends[j->id]);
  if (pk_init_config(&ctx, NULL, NULL, &cfg) != PK_OK) {
    fprintf(stderr, "%s: %s\n", who, pk_errmsg(NULL));
    j->bad++;
    return NULL;
  }
  for (int r = 0; r < ROUNDS; r++) {
    /* every case once in the first rounds, each thread in its own order */
    int c = r < NCASES ? (r + 4 * j->id) % NCASES
                       : (int)(pk__splitmix(&seed) % NCASES);
    double *got = NULL;
    size_t n = 0;
    if (run(ctx, c, cases[c].kernel(), (int)(pk__splitmix(&seed) & 1), &got,
            &n) != 0 ||
        !agrees(c, got, n, who))
      j->bad++;
    j->done++;
    free(got);
  }
  if (pk_finalize(&ctx) != PK_OK)
    j->bad++;
  return NULL;
}

int main(void) {
  pk_config alone = {.backend = "serial"};
  pk_context *ctx = NULL;
  pthread_t th[THREADS];
  job jobs[THREADS];
  int bad = 0, made = 0;
  uint64_t seed = 20261202;

  for (int c = 0; c < NCASES; c++)
    for (int i = 0; i < (cases[c].h2 ? 2 : 1); i++) {
      size_t n = cases[c].count *
                 (i ? cases[c].h2 * cases[c].w2 : cases[c].h * cases[c].w);
      if ((input[c][i] = malloc(n * sizeof(double))) == NULL)
        return 1;
      for (size_t e = 0; e < n; e++) /* a third of the cases on integers */
        input[c][i][e] = c % 3 == 2
                             ? (double)(pk__splitmix(&seed) % 16) - 8
                             : (double)(pk__splitmix(&seed) >> 11) * 0x1p-53 -
                                   0.5;
    }
  /* The references, before any thread runs and without FFT plans. */
  if (pk_init_config(&ctx, NULL, NULL, &alone) != PK_OK) {
    fprintf(stderr, "%s\n", pk_errmsg(NULL));
    return 1;
  }
  for (int c = 0; c < NCASES; c++)
    if (cases[c].ref ? run(ctx, c, cases[c].ref(), 0, &want[c], &nwant[c])
                     : dft(c, &want[c], &nwant[c]))
      return 1;
  if (pk_finalize(&ctx) != PK_OK)
    return 1;

  for (int t = 0; t < THREADS; t++) {
    jobs[t] = (job){.id = t};
    if (pthread_create(&th[t], NULL, thread_main, &jobs[t]) != 0)
      break;
    made++;
  }
  for (int t = 0; t < made; t++) {
    pthread_join(th[t], NULL);
    bad += jobs[t].bad;
    printf("thread %d (%s): %d maps, %d wrong or failed\n", t, backends[t],
           jobs[t].done, jobs[t].bad);
  }
  for (int c = 0; c < NCASES; c++) {
    free(input[c][0]);
    free(input[c][1]);
    free(want[c]);
  }
  if (made < THREADS) {
    printf("SKIP: only %d threads could be made\n", made);
    return made == 0 ? 77 : (bad ? 1 : 77);
  }
  printf("%s\n", bad ? "FAIL" : "every result as its reference");
  return bad ? 1 : 0;
}
