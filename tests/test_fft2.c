/* fft2, ifft2, rfft2, irfft2 through their kernel tables, against a naive
 * DFT and closed forms computed here. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <parkit/fft.h>
#include "fftplan.h"

static const double PI = 3.14159265358979323846;

typedef struct job {
  const pk_kernel *k;
  pk_item in, out;
  size_t n, inb, outb;
  char *src, *dst; /* n items each, 64-byte aligned */
} job;

static size_t esize(pk_dtype t) { return t == PK_C128 ? 16 : 8; }

static size_t item_bytes(const pk_item *it) {
  size_t b = esize(it->dtype);
  for (int i = 0; i < it->ndim; i++)
    b *= it->shape[i];
  return b;
}

static void *zalloc(size_t n) {
  void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
  assert_non_null(p);
  memset(p, 0, (n + 63) / 64 * 64 + 64);
  return p;
}

/* A job of n items of h x w dtype, input filled by the caller. */
static void job_init(job *j, const pk_kernel *k, pk_dtype t, size_t h,
                     size_t w, size_t n) {
  char msg[256] = "";
  memset(j, 0, sizeof *j);
  j->k = k;
  j->in = (pk_item){.dtype = t, .ndim = 2, .shape = {h, w}};
  assert_int_equal(k->shape(k, &j->in, &j->out, msg, sizeof msg), PK_OK);
  j->n = n;
  j->inb = item_bytes(&j->in);
  j->outb = item_bytes(&j->out);
  j->src = zalloc(n * j->inb);
  j->dst = zalloc(n * j->outb);
}

/* The items of the map a job's runs belong to (pk_task.count; 0: not
   known, the run alone). */
static size_t task_count;

static void job_free(job *j) {
  free(j->src);
  free(j->dst);
}

/* Run items [lo, hi) with the input at src + off bytes (a misaligned
 * copy when off != 0) and fresh scratch, or none. */
static void job_run(job *j, size_t lo, size_t hi, size_t off, int noscratch) {
  size_t sb = j->k->scratch ? j->k->scratch(j->k, &j->in) : 0, bad = 0;
  char *in = j->src, *buf = NULL, *scr = NULL;
  if (off) {
    buf = zalloc(j->n * j->inb + off);
    memcpy(buf + off, j->src, j->n * j->inb);
    in = buf + off;
  }
  if (sb && !noscratch)
    scr = zalloc(sb);
  pk_task t = {.in = in, .out = j->dst, .in_stride = j->inb,
               .out_stride = j->outb, .in_item = j->in, .out_item = j->out,
               .first = 0, .scratch = scr, .count = task_count};
  if (j->k->prepare)
    assert_int_equal(j->k->prepare(j->k, &j->in, 1), PK_OK);
  assert_int_equal(j->k->run(j->k, &t, lo, hi, &bad), PK_OK);
  free(scr);
  free(buf);
}

static double rnd(void) { return 2.0 * rand() / RAND_MAX - 1.0; }

static void fill(job *j) {
  double *x = (double *)j->src;
  for (size_t i = 0; i < j->n * j->inb / 8; i++)
    x[i] = rnd();
}

/* X[k][l] = sum x[p][q] e^{sign 2 pi i (kp/h + lq/w)}, exact phases. */
static void dft(const double *x, int cplx, size_t h, size_t w, int sign,
                double complex *X) {
  for (size_t k = 0; k < h; k++)
    for (size_t l = 0; l < w; l++) {
      double complex s = 0;
      for (size_t p = 0; p < h; p++)
        for (size_t q = 0; q < w; q++) {
          double ph = (double)(k * p % h) / h + (double)(l * q % w) / w;
          double complex v = cplx ? x[2 * (p * w + q)] +
                                        I * x[2 * (p * w + q) + 1]
                                  : x[p * w + q];
          s += v * cexp(sign * 2 * PI * I * ph);
        }
      X[k * w + l] = s;
    }
}

static double l1(const double *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += fabs(x[i]);
  return s;
}

static const size_t sizes[][2] = {{1, 1}, {1, 7}, {7, 1}, {2, 2}, {3, 3},
                                  {4, 6}, {7, 5}, {5, 7}, {8, 8}, {9, 10},
                                  {16, 3}, {11, 13}};
#define NSIZES (sizeof sizes / sizeof *sizes)

static void check_dft(const pk_kernel *k, pk_dtype t, int sign, int inv) {
  for (size_t s = 0; s < NSIZES; s++) {
    size_t h = sizes[s][0], w = sizes[s][1], hw = h * w;
    double complex *X = malloc(hw * sizeof *X);
    job j;
    job_init(&j, k, t, h, w, 3);
    fill(&j);
    job_run(&j, 0, j.n, 0, 0);
    for (size_t i = 0; i < j.n; i++) {
      const double *x = (const double *)(j.src + i * j.inb);
      const double *y = (const double *)(j.dst + i * j.outb);
      double tol = 1e-13 * (1 + l1(x, j.inb / 8)) / (inv ? hw : 1);
      dft(x, t == PK_C128, h, w, sign, X);
      for (size_t e = 0; e < hw; e++) {
        double complex ref = inv ? X[e] / hw : X[e];
        if (fabs(y[2 * e] - creal(ref)) > tol ||
            fabs(y[2 * e + 1] - cimag(ref)) > tol)
          fail_msg("%s %zux%zu dtype %d item %zu elt %zu: %g%+gi vs %g%+gi",
                   k->name, h, w, (int)t, i, e, y[2 * e], y[2 * e + 1],
                   creal(ref), cimag(ref));
      }
    }
    job_free(&j);
    free(X);
  }
}

static void test_fft2_naive(void **state) {
  (void)state;
  check_dft(pk_kernel_fft2(), PK_F64, -1, 0);
  check_dft(pk_kernel_fft2(), PK_C128, -1, 0);
  check_dft(pk_kernel_ifft2(), PK_F64, 1, 1);
  check_dft(pk_kernel_ifft2(), PK_C128, 1, 1);
}

static void test_closed_forms(void **state) {
  (void)state;
  const size_t h = 6, w = 10, k0 = 2, l0 = 7;
  job j;

  /* delta -> all ones */
  job_init(&j, pk_kernel_fft2(), PK_F64, h, w, 1);
  ((double *)j.src)[0] = 1;
  job_run(&j, 0, 1, 0, 0);
  for (size_t e = 0; e < h * w; e++) {
    assert_true(fabs(((double *)j.dst)[2 * e] - 1) < 1e-15);
    assert_true(fabs(((double *)j.dst)[2 * e + 1]) < 1e-15);
  }
  /* constant c -> c h w at (0, 0), zero elsewhere */
  for (size_t e = 0; e < h * w; e++)
    ((double *)j.src)[e] = 2.5;
  job_run(&j, 0, 1, 0, 0);
  for (size_t e = 0; e < h * w; e++) {
    double want = e == 0 ? 2.5 * h * w : 0;
    assert_true(fabs(((double *)j.dst)[2 * e] - want) < 1e-12);
    assert_true(fabs(((double *)j.dst)[2 * e + 1]) < 1e-12);
  }
  job_free(&j);
  /* e^{2 pi i (k0 p/h + l0 q/w)} -> h w at (k0, l0) */
  job_init(&j, pk_kernel_fft2(), PK_C128, h, w, 1);
  for (size_t p = 0; p < h; p++)
    for (size_t q = 0; q < w; q++) {
      double ph = 2 * PI * ((double)(k0 * p % h) / h +
                            (double)(l0 * q % w) / w);
      ((double *)j.src)[2 * (p * w + q)] = cos(ph);
      ((double *)j.src)[2 * (p * w + q) + 1] = sin(ph);
    }
  job_run(&j, 0, 1, 0, 0);
  for (size_t p = 0; p < h; p++)
    for (size_t q = 0; q < w; q++) {
      double want = p == k0 && q == l0 ? (double)(h * w) : 0;
      const double *y = (const double *)j.dst + 2 * (p * w + q);
      assert_true(fabs(y[0] - want) < 1e-12);
      assert_true(fabs(y[1]) < 1e-12);
    }
  job_free(&j);
}

static double maxabs(const double *x, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmax(m, fabs(x[i]));
  return m;
}

static void test_roundtrip(void **state) {
  (void)state;
  for (size_t s = 0; s < NSIZES; s++) {
    size_t h = sizes[s][0], w = sizes[s][1];
    job f, b;
    /* ifft2(fft2(x)) == x, complex x */
    job_init(&f, pk_kernel_fft2(), PK_C128, h, w, 2);
    fill(&f);
    job_run(&f, 0, 2, 0, 0);
    job_init(&b, pk_kernel_ifft2(), PK_C128, h, w, 2);
    memcpy(b.src, f.dst, 2 * f.outb);
    job_run(&b, 0, 2, 0, 0);
    double m = maxabs((double *)f.src, 2 * f.inb / 8);
    for (size_t e = 0; e < 2 * f.inb / 8; e++)
      assert_true(fabs(((double *)b.dst)[e] - ((double *)f.src)[e]) <=
                  1e-12 * m);
    job_free(&f);
    job_free(&b);
    /* irfft2(rfft2(x)) == x, real x, even w */
    if (w % 2)
      continue;
    job_init(&f, pk_kernel_rfft2(), PK_F64, h, w, 2);
    fill(&f);
    job_run(&f, 0, 2, 0, 0);
    job_init(&b, pk_kernel_irfft2(), PK_C128, h, w / 2 + 1, 2);
    assert_int_equal(b.out.shape[0], h);
    assert_int_equal(b.out.shape[1], w);
    memcpy(b.src, f.dst, 2 * f.outb);
    job_run(&b, 0, 2, 0, 0);
    m = maxabs((double *)f.src, 2 * f.inb / 8);
    for (size_t e = 0; e < 2 * f.inb / 8; e++)
      assert_true(fabs(((double *)b.dst)[e] - ((double *)f.src)[e]) <=
                  1e-12 * m);
    /* irfft2 leaves the caller's input alone */
    assert_memory_equal(b.src, f.dst, 2 * f.outb);
    job_free(&f);
    job_free(&b);
  }
}

static void test_rfft2_columns(void **state) {
  (void)state;
  for (size_t s = 0; s < NSIZES; s++) {
    size_t h = sizes[s][0], w = sizes[s][1], wc = w / 2 + 1;
    job f, r;
    job_init(&f, pk_kernel_fft2(), PK_F64, h, w, 2);
    job_init(&r, pk_kernel_rfft2(), PK_F64, h, w, 2);
    assert_int_equal(r.out.shape[1], wc);
    fill(&f);
    memcpy(r.src, f.src, 2 * f.inb);
    job_run(&f, 0, 2, 0, 0);
    job_run(&r, 0, 2, 0, 0);
    for (size_t i = 0; i < 2; i++)
      for (size_t p = 0; p < h; p++)
        for (size_t q = 0; q < wc; q++)
          for (int c = 0; c < 2; c++) {
            double a = ((double *)(f.dst + i * f.outb))[2 * (p * w + q) + c];
            double b = ((double *)(r.dst + i * r.outb))[2 * (p * wc + q) + c];
            assert_true(fabs(a - b) <= 1e-13 * (1 + h * w));
          }
    job_free(&f);
    job_free(&r);
  }
}

/* The same bits for a range at once, item by item, a misaligned input,
 * and no scratch given. */
static void test_bits(void **state) {
  (void)state;
  const pk_kernel *ks[] = {pk_kernel_fft2(), pk_kernel_ifft2(),
                           pk_kernel_rfft2(), pk_kernel_irfft2()};
  const size_t shp[][2] = {{7, 5}, {8, 8}, {3, 1}, {5, 6}};
  for (size_t s = 0; s < 4; s++)
    for (size_t ki = 0; ki < 4; ki++)
      for (int t = PK_F64; t <= PK_C128; t++) {
        const pk_kernel *k = ks[ki];
        size_t h = shp[s][0], w = shp[s][1];
        pk_item it = {.dtype = (pk_dtype)t, .ndim = 2, .shape = {h, w}}, o;
        char msg[128];
        if (k->shape(k, &it, &o, msg, sizeof msg) != PK_OK)
          continue;
        job j;
        job_init(&j, k, (pk_dtype)t, h, w, 5);
        fill(&j);
        job_run(&j, 0, j.n, 0, 0);
        char *all = malloc(j.n * j.outb);
        memcpy(all, j.dst, j.n * j.outb);
        memset(j.dst, 0, j.n * j.outb);
        for (size_t i = 0; i < j.n; i++)
          job_run(&j, i, i + 1, 0, 0);
        assert_memory_equal(all, j.dst, j.n * j.outb);
        memset(j.dst, 0, j.n * j.outb);
        job_run(&j, 0, j.n, 8, 1);
        assert_memory_equal(all, j.dst, j.n * j.outb);
        free(all);
        job_free(&j);
      }
}

static void expect_refused(const pk_kernel *k, pk_dtype t, int ndim,
                           size_t h, size_t w, pk_status want) {
  pk_item in = {.dtype = t, .ndim = ndim, .shape = {h, w}}, out;
  char msg[256] = "";
  assert_int_equal(k->shape(k, &in, &out, msg, sizeof msg), want);
  assert_true(strlen(msg) > 0);
  assert_non_null(strstr(msg, k->name));
}

static void test_bad_input(void **state) {
  (void)state;
  const pk_kernel *ks[] = {pk_kernel_fft2(), pk_kernel_ifft2(),
                           pk_kernel_rfft2(), pk_kernel_irfft2()};
  for (int i = 0; i < 4; i++) {
    pk_dtype t = i == 3 ? PK_C128 : PK_F64;
    expect_refused(ks[i], t, 2, 0, 4, PK_ESHAPE);
    expect_refused(ks[i], t, 2, 4, 0, PK_ESHAPE);
    expect_refused(ks[i], t, 1, 4, 0, PK_ESHAPE);
    expect_refused(ks[i], t, 3, 4, 4, PK_ESHAPE);
    expect_refused(ks[i], t, 2, (size_t)1 << 20, (size_t)1 << 20, PK_ESHAPE);
  }
  expect_refused(pk_kernel_rfft2(), PK_C128, 2, 4, 4, PK_EDTYPE);
  expect_refused(pk_kernel_irfft2(), PK_F64, 2, 4, 3, PK_EDTYPE);
  expect_refused(pk_kernel_irfft2(), PK_C128, 2, 4, 1, PK_ESHAPE);
  expect_refused(pk_kernel_fft2(), (pk_dtype)7, 2, 4, 4, PK_EDTYPE);
  assert_int_equal(pk_fft_set_planner((pk_fft_planner)-1), PK_EINVAL);
  assert_int_equal(pk_fft_set_planner((pk_fft_planner)9), PK_EINVAL);
  assert_int_equal(pk_fft_set_planner(PK_FFT_AUTO), PK_OK);
}

/* Plans made before fork() serve the child, which can also plan anew. */
static void test_fork(void **state) {
  (void)state;
  job j;
  job_init(&j, pk_kernel_fft2(), PK_C128, 6, 6, 1);
  fill(&j);
  job_run(&j, 0, 1, 0, 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    job c;
    char *want = malloc(j.outb);
    memcpy(want, j.dst, j.outb);
    job_run(&j, 0, 1, 0, 0);
    int bad = memcmp(want, j.dst, j.outb) != 0;
    job_init(&c, pk_kernel_fft2(), PK_C128, 6, 9, 1);
    job_run(&c, 0, 1, 0, 0);
    job_free(&c);
    job_free(&j);
    free(want);
    pk__fft_cache_clear(); /* valgrind follows the child too */
    _exit(bad);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  job_free(&j);
}

/* The planner's lines since the last flush (and the wisdom saved). */
static char said[4096];
static const char *flushed(void) {
  said[0] = '\0';
  pk__fft_flush(said, sizeof said);
  return said;
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  char *s;
  assert_non_null(f);
  s = calloc(1, 1 << 20);
  assert_non_null(s);
  *n = fread(s, 1, (1 << 20) - 1, f);
  fclose(f);
  return s;
}

/* Wisdom goes to PARKIT_FFTW_WISDOM after a prepare step, and comes back
 * after a clear; the state followers get round-trips. */
static void test_wisdom(void **state) {
  (void)state;
  char path[] = "/tmp/pk_wisdomXXXXXX";
  int fd = mkstemp(path);
  size_t n;
  assert_true(fd >= 0);
  close(fd);
  remove(path);
  setenv("PARKIT_FFTW_WISDOM", path, 1);
  pk__fft_cache_clear();
  job j;
  job_init(&j, pk_kernel_rfft2(), PK_F64, 12, 10, 1);
  fill(&j);
  job_run(&j, 0, 1, 0, 0);
  assert_non_null(strstr(flushed(), "wrote"));
  char *w = slurp(path, &n);
  assert_true(n > 8 && memcmp(w, "(fftw-3.", 8) == 0);
  free(w);
  char *s = pk__fft_state_get();
  assert_non_null(s);
  assert_int_equal(pk__fft_state_put(s), PK_OK);
  free(s);
  assert_int_equal(pk__fft_state_put("no wisdom"), PK_EINVAL);
  pk__fft_cache_clear();
  job_run(&j, 0, 1, 0, 0);
  assert_non_null(strstr(flushed(), "read"));
  /* Nothing new learnt: the file is not written again. */
  assert_null(strstr(said, "wrote"));
  unsetenv("PARKIT_FFTW_WISDOM");
  remove(path);
  char lk[64];
  snprintf(lk, sizeof lk, "%s.lock", path);
  remove(lk);
  job_free(&j);
}

/* A file that is not wisdom is refused by pk_init, never read or
 * written; an unknown planner name is refused by pk_init. */
static void test_refusals(void **state) {
  (void)state;
  static const char data[] = "\x93NUMPY\x01\x00 not wisdom, the user's data";
  char path[] = "/tmp/pk_dataXXXXXX", msg[512] = "";
  int fd = mkstemp(path);
  pk_config cfg = {.backend = "serial"};
  pk_context *ctx = NULL;
  size_t n;
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, sizeof data), (int)sizeof data);
  close(fd);

  setenv("PARKIT_FFTW_WISDOM", path, 1);
  assert_int_equal(pk__fft_setup(msg, sizeof msg), PK_EINVAL);
  assert_non_null(strstr(msg, path));
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_EINVAL);
  assert_null(ctx);
  /* The kernels alone (no pk_init): they leave it alone too. */
  pk__fft_cache_clear();
  job j;
  job_init(&j, pk_kernel_fft2(), PK_C128, 6, 7, 1);
  fill(&j);
  job_run(&j, 0, 1, 0, 0);
  assert_non_null(strstr(flushed(), "is not FFTW wisdom"));
  char *s = slurp(path, &n);
  assert_int_equal(n, sizeof data);
  assert_memory_equal(s, data, sizeof data);
  free(s);
  unsetenv("PARKIT_FFTW_WISDOM");
  remove(path);

  setenv("PARKIT_FFTW_PLANNER", "fastest", 1);
  assert_int_equal(pk__fft_setup(msg, sizeof msg), PK_EINVAL);
  assert_non_null(strstr(msg, "estimate, measure, patient, exhaustive or reproducible"));
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_EINVAL);
  assert_null(ctx);
  setenv("PARKIT_FFTW_PLANNER", "Estimate", 1);
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
  assert_int_equal(pk_finalize(&ctx), PK_OK);
  unsetenv("PARKIT_FFTW_PLANNER");
  pk__fft_cache_clear();
  job_free(&j);
}

/*
 * auto: a small map's plan is estimated, a large one's measured, and a
 * plan once made is kept.  A follower plans each shape with the effort its
 * leader chose, whatever its own map would have chosen.
 */
static void test_auto(void **state) {
  (void)state;
  fftw_plan p, q;
  setenv("PARKIT_FFTW_WISDOM", "off", 1);
  assert_int_equal(pk_fft_set_planner(PK_FFT_AUTO), PK_OK);
  pk__fft_cache_clear();
  flushed();
  /* 1 us of work: 0.1 us of planning buys no measurement. */
  assert_int_equal(pk__fft_plan(PK__FFT_R2C, 8, 8, 1e3, &p), PK_OK);
  assert_non_null(strstr(flushed(), "r2c 8 x 8 planned by estimate"));
  /* 10 s of work: up to 1 s of planning, enough to measure 8 x 10. */
  assert_int_equal(pk__fft_plan(PK__FFT_R2C, 8, 10, 1e10, &q), PK_OK);
  assert_non_null(strstr(flushed(), "r2c 8 x 10 planned by measure"));
  /* Kept: a larger map later gets the same plan, and plans nothing. */
  fftw_plan p2;
  assert_int_equal(pk__fft_plan(PK__FFT_R2C, 8, 8, 1e12, &p2), PK_OK);
  assert_ptr_equal(p, p2);
  assert_string_equal(flushed(), "");

  char *s = pk__fft_state_get();
  assert_non_null(s);
  assert_non_null(strstr(s, "\nplan 2 8 10 2 "));
  pk__fft_cache_clear();
  assert_int_equal(pk__fft_state_put(s), PK_OK);
  free(s);
  /* The follower's own map is small, but its leader measured 8 x 10. */
  assert_int_equal(pk__fft_plan(PK__FFT_R2C, 8, 10, 1e3, &q), PK_OK);
  assert_non_null(strstr(
      flushed(), "r2c 8 x 10 planned by measure as the leading process did"));
  /* A shape the leader never planned: the follower's own choice. */
  assert_int_equal(pk__fft_plan(PK__FFT_C2R, 8, 10, 1e3, &q), PK_OK);
  assert_non_null(strstr(flushed(), "c2r 8 x 10 planned by estimate"));
  /* A user's planner wins over auto. */
  pk__fft_cache_clear();
  assert_int_equal(pk_fft_set_planner(PK_FFT_MEASURE), PK_OK);
  assert_int_equal(pk__fft_plan(PK__FFT_R2C, 8, 8, 1e3, &p), PK_OK);
  assert_non_null(strstr(flushed(), "r2c 8 x 8 planned by measure"));
  assert_int_equal(pk_fft_set_planner(PK_FFT_AUTO), PK_OK);
  pk__fft_cache_clear();
  unsetenv("PARKIT_FFTW_WISDOM");
}

/*
 * Runs of a map whose items outgrow the last level of cache make each
 * real item's half spectrum in the scratch and store the whole past
 * cache, its mirror made as it is stored, fetching the next item
 * meanwhile: the same bits as a map of one item (in place, the mirror
 * made there), for even and odd shapes, fft2 and ifft2; and into an
 * output off 16-byte alignment (stored without streaming).
 */
static void test_staged(void **state) {
  (void)state;
  static const size_t shapes[][2] = {{20, 200}, {21, 199}};
  const pk_kernel *ks[] = {pk_kernel_fft2(), pk_kernel_ifft2()};
  for (size_t s = 0; s < 2; s++)
    for (size_t q = 0; q < 2; q++) {
      job j;
      job_init(&j, ks[q], PK_F64, shapes[s][0], shapes[s][1], 40);
      fill(&j);
      /* a run of 40 items of a map of 2^40 */
      task_count = (size_t)1 << 40;
      assert_true((double)task_count * (double)(j.inb + j.outb) >=
                  (double)pk__fft_llc_bytes());
      job_run(&j, 0, j.n, 0, 0);
      task_count = 1;
      char *want = malloc(j.n * j.outb);
      assert_non_null(want);
      memcpy(want, j.dst, j.n * j.outb);
      memset(j.dst, 0, j.n * j.outb);
      assert_true(j.inb + j.outb < pk__fft_llc_bytes());
      for (size_t i = 0; i < j.n; i++)
        job_run(&j, i, i + 1, 0, 0);
      assert_memory_equal(j.dst, want, j.n * j.outb);
      char *odd = zalloc(j.n * j.outb + 8),
           *scr = zalloc(j.k->scratch(j.k, &j.in));
      size_t bad = 0;
      pk_task t = {.in = j.src, .out = odd + 8, .in_stride = j.inb,
                   .out_stride = j.outb, .in_item = j.in,
                   .out_item = j.out, .scratch = scr,
                   .count = (size_t)1 << 40};
      assert_int_equal(j.k->run(j.k, &t, 0, j.n, &bad), PK_OK);
      assert_memory_equal(odd + 8, want, j.n * j.outb);
      task_count = 0;
      free(scr);
      free(odd);
      free(want);
      job_free(&j);
    }
}

/* Plans made by the estimate planner give the same transform. */
static void test_planner(void **state) {
  (void)state;
  job j;
  job_init(&j, pk_kernel_fft2(), PK_F64, 9, 14, 2);
  fill(&j);
  job_run(&j, 0, 2, 0, 0);
  char *want = malloc(2 * j.outb);
  memcpy(want, j.dst, 2 * j.outb);
  pk__fft_cache_clear();
  assert_int_equal(pk_fft_set_planner(PK_FFT_ESTIMATE), PK_OK);
  job_run(&j, 0, 2, 0, 0);
  for (size_t e = 0; e < 2 * j.outb / 8; e++)
    assert_true(fabs(((double *)j.dst)[e] - ((double *)want)[e]) < 1e-12);
  assert_int_equal(pk_fft_set_planner(PK_FFT_AUTO), PK_OK);
  pk__fft_cache_clear();
  free(want);
  job_free(&j);
}

/*
 * A measurement cut off by its time limit still gives a follower the
 * leader's plan: same bits, and no measuring of its own (FFTW's wisdom
 * records the time-out).
 */
static void test_timelimit_follower(void **state) {
  (void)state;
  enum { H = 360, W = 500 };
  size_t n = (size_t)H * W;
  fftw_complex *x = fftw_alloc_complex(n), *a = fftw_alloc_complex(n),
               *b = fftw_alloc_complex(n);
  fftw_plan p;
  assert_true(x && a && b);
  setenv("PARKIT_FFTW_WISDOM", "off", 1);
  pk__fft_cache_clear();
  /* 0.6 s of work: 60 ms of planning, not enough to measure 360 x 500. */
  assert_int_equal(pk__fft_plan(PK__FFT_FWD, H, W, 6e8, &p), PK_OK);
  assert_non_null(strstr(flushed(), "planned by measure"));
  for (size_t i = 0; i < n; i++)
    x[i] = rnd() + I * rnd();
  fftw_execute_dft(p, x, a);
  char *s = pk__fft_state_get();
  assert_non_null(s);
  pk__fft_cache_clear();
  fftw_forget_wisdom();
  assert_int_equal(pk__fft_state_put(s), PK_OK);
  free(s);
  assert_int_equal(pk__fft_plan(PK__FFT_FWD, H, W, 1e3, &p), PK_OK);
  assert_non_null(strstr(flushed(), "as the leading process did"));
  fftw_execute_dft(p, x, b);
  assert_memory_equal(a, b, n * sizeof *a);
  fftw_free(x);
  fftw_free(a);
  fftw_free(b);
  pk__fft_cache_clear();
  unsetenv("PARKIT_FFTW_WISDOM");
}

static int teardown(void **state) {
  (void)state;
  pk__fft_cache_clear();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fft2_naive),  cmocka_unit_test(test_closed_forms),
      cmocka_unit_test(test_roundtrip),   cmocka_unit_test(test_rfft2_columns),
      cmocka_unit_test(test_bits),        cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_fork),        cmocka_unit_test(test_wisdom),
      cmocka_unit_test(test_planner),     cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_staged),
      cmocka_unit_test(test_auto),        cmocka_unit_test(test_timelimit_follower),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}
