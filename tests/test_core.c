/* The core API: statuses, contexts, arrays, .npy, map, reduce, failures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "in_child.h"

#include <parkit.h>
#include <parkit/fft.h>
#include <parkit/kernels.h>

#include <cblas.h>
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ test kernels */

/* out = 2 * in, item shape kept; 1 ns an element. */
static pk_status twice_shape(const pk_kernel *k, const pk_item *in,
                             pk_item *out, char *msg, size_t len) {
  (void)k;
  if (in->dtype != PK_F64) {
    snprintf(msg, len, "twice takes float64 items");
    return PK_EDTYPE;
  }
  *out = *in;
  return PK_OK;
}

static size_t item_count(const pk_item *it) {
  size_t n = 1;
  for (int i = 0; i < it->ndim; i++)
    n *= it->shape[i];
  return n;
}

static pk_status twice_run(const pk_kernel *k, const pk_task *t, size_t lo,
                           size_t hi, size_t *bad) {
  size_t m = item_count(&t->in_item);
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++) {
    const double *x = (const double *)(t->in + i * t->in_stride);
    double *y = (double *)(t->out + i * t->out_stride);
    for (size_t e = 0; e < m; e++)
      y[e] = 2 * x[e];
  }
  return PK_OK;
}

static double twice_cost(const pk_kernel *k, const pk_item *in) {
  (void)k;
  return (double)item_count(in);
}

static const pk_kernel twice = {
    .name = "twice", .shape = twice_shape, .run = twice_run,
    .cost = twice_cost};

/* Sum of each item; fails (PK_EKERNEL) on items whose first value < 0. */
static pk_status picky_shape(const pk_kernel *k, const pk_item *in,
                             pk_item *out, char *msg, size_t len) {
  (void)k, (void)msg, (void)len;
  out->dtype = PK_F64;
  out->ndim = 0;
  return in->dtype == PK_F64 ? PK_OK : PK_EDTYPE;
}

static pk_status picky_run(const pk_kernel *k, const pk_task *t, size_t lo,
                           size_t hi, size_t *bad) {
  size_t m = item_count(&t->in_item);
  (void)k;
  for (size_t i = lo; i < hi; i++) {
    const double *x = (const double *)(t->in + i * t->in_stride);
    double s = 0;
    if (x[0] < 0) {
      *bad = i;
      return PK_EKERNEL;
    }
    for (size_t e = 0; e < m; e++)
      s += x[e];
    *(double *)(t->out + i * t->out_stride) = s;
  }
  return PK_OK;
}

static const pk_kernel picky = {
    .name = "picky", .shape = picky_shape, .run = picky_run};

/* A kernel whose shape check always refuses, with a message. */
static pk_status refuse_shape(const pk_kernel *k, const pk_item *in,
                              pk_item *out, char *msg, size_t len) {
  (void)k, (void)in, (void)out;
  snprintf(msg, len, "items must be purple");
  return PK_ESHAPE;
}

static const pk_kernel refuse = {
    .name = "refuse", .shape = refuse_shape, .run = twice_run};

/* --------------------------------------------------------------- helpers */

/* The backends of one process, the fork backend where it is built. */
static const char *const backends[] = {"serial", "openmp", "fork"};
#ifdef PK_HAVE_FORK_BACKEND
static const int nbackends = 3;
#else
static const int nbackends = 2;
#endif

static pk_context *open_ctx(const char *backend, int workers) {
  pk_config cfg = {.backend = backend, .workers = workers};
  pk_context *ctx = NULL;
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
  assert_non_null(ctx);
  return ctx;
}

static void close_ctx(pk_context **ctx) {
  assert_int_equal(pk_finalize(ctx), PK_OK);
  assert_null(*ctx);
}

static pk_array *make(pk_context *ctx, pk_dtype dt, int ndim,
                      const size_t *shape) {
  pk_array *a = NULL;
  assert_int_equal(pk_array_create(ctx, dt, ndim, shape, &a), PK_OK);
  return a;
}

/* ---------------------------------------------------------------- status */

static void test_strerror(void **state) {
  (void)state;
  assert_string_equal(pk_strerror(PK_OK), "success");
  assert_string_equal(pk_strerror(PK_ENOMEM), "out of memory");
  for (int s = 0; s >= PK_ECANCELED; s--) {
    assert_non_null(pk_strerror((pk_status)s));
    assert_string_not_equal(pk_strerror((pk_status)s), "unknown status");
  }
  assert_string_equal(pk_strerror((pk_status)-999), "unknown status");
  assert_string_equal(pk_strerror((pk_status)5), "unknown status");
  assert_int_equal(pk_dtype_size(PK_F64), 8);
  assert_int_equal(pk_dtype_size(PK_C128), 16);
  assert_int_equal(pk_dtype_size((pk_dtype)7), 0);
}

static void test_time(void **state) {
  (void)state;
  double a = pk_time();
  usleep(2000);
  double b = pk_time();
  assert_true(b - a >= 0.0015 && b - a < 1.0);
}

/* --------------------------------------------------------------- context */

static void test_init_args(void **state) {
  (void)state;
  char a0[] = "prog", a1[] = "--pk-backend=serial", a2[] = "x",
       a3[] = "--pk-workers=3", a4[] = "--pk-verbose", a5[] = "y";
  char *args[] = {a0, a1, a2, a3, a4, a5, NULL};
  char **argv = args;
  int argc = 6;
  pk_context *ctx = NULL;

  unsetenv("PARKIT_VERBOSE");
  assert_int_equal(pk_init(&ctx, &argc, &argv), PK_OK);
  assert_int_equal(argc, 3);
  assert_string_equal(argv[0], "prog");
  assert_string_equal(argv[1], "x");
  assert_string_equal(argv[2], "y");
  assert_null(argv[3]);
  assert_string_equal(pk_backend(ctx), "serial");
  assert_int_equal(pk_workers(ctx), 1); /* serial has one worker */
  assert_string_equal(pk_errmsg(ctx), "");
  close_ctx(&ctx);

  /* "--" ends the options, as getopt's: what follows is the program's,
     --pk- or not, and "--" stays for the program to see. */
  char b0[] = "prog", b1[] = "--pk-backend=serial", b2[] = "--",
       b3[] = "--pk-not-ours", b4[] = "--pk-workers=2";
  char *brgs[] = {b0, b1, b2, b3, b4, NULL};
  argv = brgs;
  argc = 5;
  assert_int_equal(pk_init(&ctx, &argc, &argv), PK_OK);
  assert_int_equal(argc, 4);
  assert_string_equal(argv[1], "--");
  assert_string_equal(argv[2], "--pk-not-ours");
  assert_string_equal(argv[3], "--pk-workers=2");
  assert_int_equal(pk_workers(ctx), 1);
  close_ctx(&ctx);
}

static void test_init_precedence(void **state) {
  (void)state;
  pk_context *ctx = NULL;
  pk_config cfg = {.backend = "serial", .workers = 2};
  char a0[] = "p", a1[] = "--pk-backend=openmp";
  char *args[] = {a0, a1, NULL};
  char **argv = args;
  int argc = 2;

  setenv("PARKIT_BACKEND", "openmp", 1);
  setenv("PARKIT_WORKERS", "3", 1);
  /* environment over defaults */
  assert_int_equal(pk_init(&ctx, NULL, NULL), PK_OK);
  assert_string_equal(pk_backend(ctx), "openmp");
  assert_int_equal(pk_workers(ctx), 3);
  close_ctx(&ctx);
  /* config over environment */
  cfg.backend = "openmp";
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
  assert_int_equal(pk_workers(ctx), 2);
  close_ctx(&ctx);
  /* arguments over config */
  cfg.backend = "serial";
  assert_int_equal(pk_init_config(&ctx, &argc, &argv, &cfg), PK_OK);
  assert_string_equal(pk_backend(ctx), "openmp");
  close_ctx(&ctx);
  unsetenv("PARKIT_BACKEND");
  unsetenv("PARKIT_WORKERS");
}

static void test_init_bad(void **state) {
  (void)state;
  pk_context *ctx = (pk_context *)&ctx;
  pk_config cfg = {.backend = "cuda"};
  int argc = 1;

  assert_int_equal(pk_init(NULL, NULL, NULL), PK_EINVAL);
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_EBACKEND);
  assert_null(ctx);
  cfg.backend = "serial";
  cfg.workers = -4;
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_EINVAL);
  assert_null(ctx);
  setenv("PARKIT_WORKERS", "two", 1);
  assert_int_equal(pk_init(&ctx, NULL, NULL), PK_EINVAL);
  setenv("PARKIT_WORKERS", "0", 1);
  assert_int_equal(pk_init(&ctx, NULL, NULL), PK_EINVAL);
  unsetenv("PARKIT_WORKERS");
  /* argc without argv */
  assert_int_equal(pk_init(&ctx, &argc, NULL), PK_EINVAL);
  assert_null(ctx);
  assert_non_null(pk_errmsg(NULL));
  assert_int_equal(pk_finalize(NULL), PK_OK);
  assert_int_equal(pk_finalize(&ctx), PK_OK);
}

/* pk_errmsg(NULL) after a failed pk_init names what was wrong and its
   value; options take their value as the next argument too; unknown
   --pk- options are refused; --pk-help prints the options. */
static void test_init_messages(void **state) {
  (void)state;
  pk_context *ctx = NULL;
  pk_config cfg = {.backend = "cuda"};
  char a0[] = "p", a1[] = "--pk-backnd=fork", a2[] = "--pk-backend",
       a3[] = "serial", a4[] = "x", a5[] = "--pk-workers", a6[] = "--pk-help";
  char *args[8];
  char **argv = args;
  int argc;
  char out[4096] = "";

  unsetenv("PARKIT_WORKERS");
  unsetenv("PARKIT_BACKEND");
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_EBACKEND);
  assert_non_null(strstr(pk_errmsg(NULL), "pk_config.backend=cuda"));
  assert_non_null(strstr(pk_errmsg(NULL), "serial"));
  setenv("PARKIT_WORKERS", "abc", 1);
  assert_int_equal(pk_init(&ctx, NULL, NULL), PK_EINVAL);
  assert_non_null(strstr(pk_errmsg(NULL), "PARKIT_WORKERS=abc"));
  unsetenv("PARKIT_WORKERS");
  setenv("PARKIT_ISA", "avx1024", 1);
  assert_int_equal(pk_init(&ctx, NULL, NULL), PK_EINVAL);
  assert_non_null(strstr(pk_errmsg(NULL), "PARKIT_ISA=avx1024"));
  unsetenv("PARKIT_ISA");

  /* A misspelt option: refused, not ignored. */
  args[0] = a0, args[1] = a1, args[2] = NULL, argc = 2;
  assert_int_equal(pk_init(&ctx, &argc, &argv), PK_EINVAL);
  assert_null(ctx);
  assert_non_null(strstr(pk_errmsg(NULL), "--pk-backnd=fork"));
  /* --pk-backend serial, with a space; the program's own x is kept. */
  args[0] = a0, args[1] = a2, args[2] = a3, args[3] = a4, args[4] = NULL;
  argv = args, argc = 4;
  assert_int_equal(pk_init(&ctx, &argc, &argv), PK_OK);
  assert_string_equal(pk_backend(ctx), "serial");
  assert_int_equal(argc, 2);
  assert_string_equal(argv[1], "x");
  close_ctx(&ctx);
  /* A value missing at the end. */
  args[0] = a0, args[1] = a5, args[2] = NULL, argv = args, argc = 2;
  assert_int_equal(pk_init(&ctx, &argc, &argv), PK_EINVAL);
  assert_non_null(strstr(pk_errmsg(NULL), "--pk-workers needs a value"));
  /* A success clears the message. */
  cfg.backend = "serial";
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
  close_ctx(&ctx);
  assert_null(strstr(pk_errmsg(NULL), "--pk-workers"));

  /* --pk-help on stdout, and pk_init goes on. */
  {
    FILE *tmp = tmpfile();
    int saved = dup(1);
    assert_non_null(tmp);
    fflush(stdout);
    dup2(fileno(tmp), 1);
    args[0] = a0, args[1] = a6, args[2] = NULL, argv = args, argc = 2;
    assert_int_equal(pk_init_config(&ctx, &argc, &argv, &cfg), PK_OK);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    rewind(tmp);
    out[fread(out, 1, sizeof out - 1, tmp)] = '\0';
    fclose(tmp);
    assert_int_equal(argc, 1);
    close_ctx(&ctx);
    assert_non_null(strstr(out, "--pk-workers"));
    assert_non_null(strstr(out, "PARKIT_WORKERS"));
    /* Each kernel family linked in lists its own settings: this program
       uses the FFT kernels (below), so theirs are there. */
    assert_non_null(pk_kernel_fft2());
    assert_non_null(strstr(out, "PARKIT_FFTW_PLANNER"));
  }
}

/* 1 if /proc/cpuinfo lists every flag in flags (space-separated). */
static int cpu_has(const char *flags) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[8192], want[256], *save = NULL;
  int ok = 0;

  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "flags", 5) == 0) {
      ok = 1;
      snprintf(want, sizeof want, "%s", flags);
      for (char *w = strtok_r(want, " ", &save); w && ok;
           w = strtok_r(NULL, " ", &save)) {
        char pat[64];
        snprintf(pat, sizeof pat, " %s", w);
        char *at = strstr(line, pat);
        ok = at && (at[strlen(pat)] == ' ' || at[strlen(pat)] == '\n');
      }
      break;
    }
  if (f)
    fclose(f);
  return ok;
}

static void test_init_isa(void **state) {
  (void)state;
  static const char *const names[] = {"generic", "avx2", "avx512"};
  pk_context *ctx = NULL;
  pk_config cfg = {.backend = "serial"};
  pk_isa best = PK_ISA_GENERIC;
  char a0[] = "p", a1[] = "--pk-isa=generic";
  char *args[] = {a0, a1, NULL};
  char **argv = args;
  int argc = 2;

  /* What the CPU has, read apart from the library, on a build that has
     both x86 paths (configure says which: "det paths"). */
#if defined(__x86_64__) && defined(PK_HAVE_AVX512) && defined(PK_HAVE_AVX2)
  if (cpu_has("avx512f avx512cd avx512bw avx512dq avx512vl fma"))
    best = PK_ISA_AVX512;
  else if (cpu_has("avx2 fma"))
    best = PK_ISA_AVX2;
  assert_int_equal(pk_isa_best(), best);
#else
  (void)cpu_has;
  best = pk_isa_best();
#endif
  unsetenv("PARKIT_ISA");
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
  assert_int_equal(pk_isa_of(ctx), best); /* the default: the widest */
  close_ctx(&ctx);
  for (int i = 0; i < 3; i++) {
    pk_isa isa = (pk_isa)(PK_ISA_GENERIC + i);
    cfg.isa = names[i];
    assert_string_equal(pk_isa_name(isa), names[i]);
    if (isa <= best) {
      assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
      assert_int_equal(pk_isa_of(ctx), isa);
      close_ctx(&ctx);
    } else { /* wider than the CPU: refused */
      assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_EINVAL);
      assert_null(ctx);
    }
  }
  cfg.isa = "avx1024";
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_EINVAL);
  assert_null(ctx);
  cfg.isa = NULL;
  setenv("PARKIT_ISA", "sse9", 1);
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_EINVAL);
  /* the argument comes first and is taken out of argv */
  assert_int_equal(pk_init_config(&ctx, &argc, &argv, &cfg), PK_OK);
  assert_int_equal(pk_isa_of(ctx), PK_ISA_GENERIC);
  assert_int_equal(argc, 1);
  close_ctx(&ctx);
  setenv("PARKIT_ISA", "auto", 1);
  assert_int_equal(pk_init_config(&ctx, NULL, NULL, &cfg), PK_OK);
  assert_int_equal(pk_isa_of(ctx), best);
  close_ctx(&ctx);
  unsetenv("PARKIT_ISA");
  assert_null(pk_isa_name((pk_isa)99));
}

static void test_backends_list(void **state) {
  (void)state;
  const char *const *b = pk_backends();
  int serial = 0, openmp = 0;
  for (; *b; b++) {
    serial |= strcmp(*b, "serial") == 0;
    openmp |= strcmp(*b, "openmp") == 0;
  }
  assert_true(serial && openmp);
}

static void test_finalize_live_array(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 0);
  size_t shape[1] = {3};
  pk_array *a = make(ctx, PK_F64, 1, shape);

  assert_int_equal(pk_finalize(&ctx), PK_ESTATE);
  assert_non_null(ctx);
  assert_non_null(strstr(pk_errmsg(ctx), "alive"));
  pk_array_destroy(&a);
  close_ctx(&ctx);
}

/* ---------------------------------------------------------------- arrays */

static void test_array_create(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("openmp", 2);
  size_t shape[4] = {2, 3, 4, 5};
  pk_array *a = make(ctx, PK_C128, 4, shape);
  const double *d = pk_array_data(a);

  assert_int_equal(pk_array_dtype(a), PK_C128);
  assert_int_equal(pk_array_ndim(a), 4);
  for (int i = 0; i < 4; i++)
    assert_int_equal(pk_array_dim(a, i), shape[i]);
  assert_int_equal(pk_array_dim(a, 4), 0);
  assert_int_equal(pk_array_dim(a, -1), 0);
  assert_int_equal(pk_array_count(a), 120);
  assert_int_equal(pk_array_nbytes(a), 120 * 16);
  for (int i = 0; i < 240; i++)
    assert_true(d[i] == 0.0);
  assert_int_equal((uintptr_t)d % 64, 0);
  pk_array_destroy(&a);
  assert_null(a);
  pk_array_destroy(&a);
  pk_array_destroy(NULL);

  shape[0] = 0;
  a = make(ctx, PK_F64, 2, shape);
  assert_int_equal(pk_array_count(a), 0);
  pk_array_destroy(&a);
  close_ctx(&ctx);
}

/* This process's address space, in KiB (VmSize). */
static long vm_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;

  assert_non_null(f);
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmSize: %ld", &kib) == 1)
      break;
  fclose(f);
  return kib;
}

/* 1 if the mapping that holds address p says "THPeligible: 1" in
   /proc/self/smaps, 0 if it says 0, -1 if there is no such line. */
static int thp_eligible(const void *p) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  int in = 0, v = -1;
  unsigned long lo, hi;

  assert_non_null(f);
  while (fgets(line, sizeof line, f) != NULL) {
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) /* a mapping's first line */
      in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
    else if (in && sscanf(line, "THPeligible: %d", &v) == 1)
      break;
  }
  fclose(f);
  return v;
}

/* 1 if a mapping of this process's own that asks for huge pages is
   eligible for them here: not where the system's mode is "never", nor
   under an emulator that takes the advice and drops it. */
static int thp_honoured(void) {
  const size_t len = (size_t)4 << 20;
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int ok;

  if (m == MAP_FAILED)
    return 0;
  ok = madvise(m, len, MADV_HUGEPAGE) == 0 &&
       thp_eligible((char *)m + len / 2) == 1;
  munmap(m, len);
  return ok;
}

/*
 * Large arrays of the threads backends: zero, on a 2 MiB boundary from 4
 * MiB on, in a mapping the kernel may back with huge pages, and released
 * whole (a mapping made 2 MiB larger to align it and not trimmed would
 * leave 2 MiB behind at every destroy).
 */
static void test_array_large(void **state) {
  (void)state;
  static const char *const be[] = {"serial", "openmp"};
  for (int b = 0; b < 2; b++) {
    pk_context *ctx = open_ctx(be[b], 2);
    size_t shape[1] = {((size_t)8 << 20) / sizeof(double) + 3}; /* not pages */
    pk_array *a = make(ctx, PK_F64, 1, shape);
    double *d = pk_array_data(a);
    size_t n = shape[0];

    assert_int_equal((uintptr_t)d % ((size_t)2 << 20), 0);
    assert_true(d[0] == 0.0 && d[n / 2] == 0.0 && d[n - 1] == 0.0);
    for (size_t i = 0; i < n; i++)
      d[i] = (double)i;
    assert_true(d[n - 1] == (double)(n - 1));
    if (thp_honoured())
      assert_int_equal(thp_eligible(d + n / 2), 1);
    pk_array_destroy(&a);

    long before = vm_kib();
    for (int k = 0; k < 64; k++) {
      shape[0] = ((size_t)(4 + k % 5) << 20) / sizeof(double) + (size_t)k;
      a = make(ctx, PK_F64, 1, shape);
      d = pk_array_data(a);
      assert_int_equal((uintptr_t)d % ((size_t)2 << 20), 0);
      d[shape[0] - 1] = 1.0; /* the last element is the array's */
      pk_array_destroy(&a);
    }
    long after = vm_kib();
    assert_true(before > 0 && after > 0);
    if (after - before >= 2048) /* 64 leaks of up to 2 MiB: at least 2 */
      fail_msg("%s: the address space grew by %ld KiB over 64 arrays",
               be[b], after - before);
    close_ctx(&ctx);
  }
}

static void test_array_bad(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 0);
  size_t shape[5] = {4, 4, 4, 4, 4}, huge[2] = {SIZE_MAX / 4, 3};
  pk_array *a = (pk_array *)&a;
  double x[4];

  assert_int_equal(pk_array_create(NULL, PK_F64, 1, shape, &a), PK_EINVAL);
  assert_int_equal(pk_array_create(ctx, PK_F64, 1, shape, NULL), PK_EINVAL);
  assert_int_equal(pk_array_create(ctx, PK_F64, 0, shape, &a), PK_EINVAL);
  assert_null(a);
  assert_true(strlen(pk_errmsg(ctx)) > 0);
  assert_int_equal(pk_array_create(ctx, PK_F64, 5, shape, &a), PK_EINVAL);
  assert_int_equal(pk_array_create(ctx, PK_F64, 1, NULL, &a), PK_EINVAL);
  assert_int_equal(pk_array_create(ctx, (pk_dtype)3, 1, shape, &a),
                   PK_EDTYPE);
  assert_non_null(strstr(pk_errmsg(ctx), "dtype"));
  /* elements fit in size_t, bytes do not */
  assert_int_equal(pk_array_create(ctx, PK_F64, 2, huge, &a), PK_EOVERFLOW);
  huge[1] = 8;
  assert_int_equal(pk_array_create(ctx, PK_F64, 2, huge, &a), PK_EOVERFLOW);
  assert_null(a);
  assert_int_equal(pk_array_wrap(ctx, PK_F64, 1, shape, NULL, &a), PK_EINVAL);
  assert_int_equal(pk_array_wrap(ctx, PK_F64, 2, huge, x, &a), PK_EOVERFLOW);
  close_ctx(&ctx);

  /* Each refusal writes its own message, not the last call's. */
  const char *const *names = backends;
  const int nb = nbackends;
  for (int b = 0; b < nb; b++) {
    ctx = open_ctx(names[b], 2);
    assert_int_equal(pk_array_create(ctx, (pk_dtype)3, 1, shape, &a),
                     PK_EDTYPE);
    assert_int_equal(pk_array_create(ctx, PK_F64, 1, shape, NULL), PK_EINVAL);
    assert_non_null(strstr(pk_errmsg(ctx), "out is NULL"));
    assert_int_equal(pk_array_create(ctx, (pk_dtype)3, 1, shape, &a),
                     PK_EDTYPE);
    assert_int_equal(pk_array_wrap(ctx, PK_F64, 1, shape, x, NULL),
                     PK_EINVAL);
    assert_non_null(strstr(pk_errmsg(ctx), "out is NULL"));
    assert_int_equal(pk_array_create(ctx, (pk_dtype)3, 1, shape, &a),
                     PK_EDTYPE);
    assert_int_equal(pk_array_load_npy(ctx, "x.npy", NULL), PK_EINVAL);
    assert_non_null(strstr(pk_errmsg(ctx), "out is NULL"));
    /* More than the machine has (32 TiB, more than 24 GiB and swap by
       far): refused alike, where the fork backend's segment would only
       have been reserved. */
    size_t big[2] = {(size_t)1 << 40, 4};
    assert_int_equal(pk_array_create(ctx, PK_F64, 2, big, &a), PK_ENOMEM);
    assert_null(a);
    assert_non_null(strstr(pk_errmsg(ctx), "memory"));
    /* The message names the call the user made, and *out is NULL on
       every refusal. */
    a = (pk_array *)x;
    assert_int_equal(pk_array_convert(ctx, "<f8", 0, 2, big, x, &a),
                     PK_ENOMEM);
    assert_null(a);
    assert_non_null(strstr(pk_errmsg(ctx), "pk_array_convert: "));
    a = (pk_array *)x;
    assert_int_equal(pk_array_convert(ctx, NULL, 0, 2, big, x, &a),
                     PK_EINVAL);
    assert_null(a);
    a = (pk_array *)x;
    assert_int_equal(pk_array_moveaxis(ctx, NULL, 0, &a), PK_EINVAL);
    assert_null(a);
    close_ctx(&ctx);
  }
}

static void test_array_wrap(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 0);
  double x[6] = {1, 2, 3, 4, 5, 6};
  size_t shape[2] = {3, 2};
  pk_array *a = NULL;

  assert_int_equal(pk_array_wrap(ctx, PK_F64, 2, shape, x, &a), PK_OK);
  assert_ptr_equal(pk_array_data(a), x);
  pk_array_destroy(&a);
  assert_true(x[5] == 6); /* caller's memory untouched and not freed */
  close_ctx(&ctx);
}

/* ------------------------------------------------------------------- npy */

static char tmpl[64];

static const char *tmpfile_path(void) {
  snprintf(tmpl, sizeof tmpl, "/tmp/parkit-test-%d.npy", (int)getpid());
  return tmpl;
}

/* Write a .npy file by hand: version, header text, data bytes. */
static void write_npy(const char *path, int major, const char *dict,
                      const void *data, size_t nbytes) {
  FILE *f = fopen(path, "wb");
  size_t hlen = strlen(dict);
  unsigned char pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y',
                           (unsigned char)major, 0};
  size_t lenbytes = major == 1 ? 2 : 4;

  assert_non_null(f);
  pre[8] = (unsigned char)(hlen & 0xff);
  pre[9] = (unsigned char)(hlen >> 8);
  fwrite(pre, 1, 8 + lenbytes, f);
  fwrite(dict, 1, hlen, f);
  if (nbytes)
    fwrite(data, 1, nbytes, f);
  fclose(f);
}

/* pk_array_convert against values written out by hand: int64 in Fortran
   order, big-endian int16, bool, float16, complex64; refusals name what
   to do. */
static void test_array_convert(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 1);
  pk_array *a = NULL;
  size_t s23[2] = {2, 3}, s4[1] = {4}, s2[1] = {2};
  /* [[1, 2, 3], [4, 5, 6]] in Fortran order: columns first */
  const int64_t f[6] = {1, 4, 2, 5, 3, 6};
  assert_int_equal(pk_array_convert(ctx, "<i8", 1, 2, s23, f, &a), PK_OK);
  assert_int_equal(pk_array_dtype(a), PK_F64);
  for (int i = 0; i < 6; i++)
    assert_true(((double *)pk_array_data(a))[i] == i + 1);
  pk_array_destroy(&a);
  /* big-endian int16: -2, 258, 32767, -32768 */
  const unsigned char be[8] = {0xff, 0xfe, 0x01, 0x02, 0x7f, 0xff, 0x80, 0};
  const double bev[4] = {-2, 258, 32767, -32768};
  assert_int_equal(pk_array_convert(ctx, ">i2", 0, 1, s4, be, &a), PK_OK);
  assert_memory_equal(pk_array_data(a), bev, sizeof bev);
  pk_array_destroy(&a);
  /* bool: any nonzero byte is 1 */
  const unsigned char bo[4] = {0, 1, 2, 255};
  const double bov[4] = {0, 1, 1, 1};
  assert_int_equal(pk_array_convert(ctx, "|b1", 0, 1, s4, bo, &a), PK_OK);
  assert_memory_equal(pk_array_data(a), bov, sizeof bov);
  pk_array_destroy(&a);
  /* float16 (little-endian): 1.0, -2.5, 2^-24 (the least subnormal), inf */
  const uint16_t h[4] = {0x3c00, 0xc100, 0x0001, 0x7c00};
  assert_int_equal(pk_array_convert(ctx, "<f2", 0, 1, s4, h, &a), PK_OK);
  const double *hv = pk_array_data(a);
  assert_true(hv[0] == 1.0 && hv[1] == -2.5 && hv[2] == ldexp(1, -24) &&
              isinf(hv[3]) && hv[3] > 0);
  pk_array_destroy(&a);
  /* complex64: (1.5, -2), (0.25, 3) */
  const float c[4] = {1.5f, -2.0f, 0.25f, 3.0f};
  const double cv[4] = {1.5, -2.0, 0.25, 3.0};
  assert_int_equal(pk_array_convert(ctx, "<c8", 0, 1, s2, c, &a), PK_OK);
  assert_int_equal(pk_array_dtype(a), PK_C128);
  assert_memory_equal(pk_array_data(a), cv, sizeof cv);
  pk_array_destroy(&a);
  /* refused */
  assert_int_equal(pk_array_convert(ctx, "<U4", 0, 1, s2, c, &a), PK_EDTYPE);
  assert_null(a);
  assert_non_null(strstr(pk_errmsg(ctx), "astype"));
  assert_int_equal(pk_array_convert(ctx, "<f16", 0, 1, s2, c, &a),
                   PK_EDTYPE);
  assert_int_equal(pk_array_convert(ctx, "<i3", 0, 1, s2, c, &a), PK_EDTYPE);
  assert_int_equal(pk_array_convert(ctx, "", 0, 1, s2, c, &a), PK_EDTYPE);
  assert_int_equal(pk_array_convert(ctx, "<f8", 0, 1, s2, NULL, &a),
                   PK_EINVAL);
  assert_null(a);
  assert_int_equal(pk_array_convert(ctx, NULL, 0, 1, s2, c, &a), PK_EINVAL);
  close_ctx(&ctx);
}

/* pk_array_moveaxis against an index-by-index copy: every axis of a 4-d
   array, float64 and complex128, shapes across the 16-wide tiles. */
static void test_array_moveaxis(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 1);
  const size_t shape[4] = {3, 17, 2, 19};
  for (int cplx = 0; cplx < 2; cplx++) {
    pk_array *a = make(ctx, cplx ? PK_C128 : PK_F64, 4, shape);
    size_t per = cplx ? 2 : 1, n = pk_array_count(a) * per;
    double *x = pk_array_data(a);
    for (size_t i = 0; i < n; i++)
      x[i] = (double)i;
    for (int axis = -4; axis < 4; axis++) {
      int ax = axis < 0 ? axis + 4 : axis, k = 1;
      size_t want[4], idx[4];
      pk_array *m = NULL;
      assert_int_equal(pk_array_moveaxis(ctx, a, axis, &m), PK_OK);
      want[0] = shape[ax];
      for (int d = 0; d < 4; d++)
        if (d != ax)
          want[k++] = shape[d];
      for (int d = 0; d < 4; d++)
        assert_int_equal(pk_array_dim(m, d), want[d]);
      const double *y = pk_array_data(m);
      /* element idx of a is at its C offset; in m at the moved one */
      for (idx[0] = 0; idx[0] < shape[0]; idx[0]++)
        for (idx[1] = 0; idx[1] < shape[1]; idx[1]++)
          for (idx[2] = 0; idx[2] < shape[2]; idx[2]++)
            for (idx[3] = 0; idx[3] < shape[3]; idx[3]++) {
              size_t src = 0, dst = idx[ax];
              for (int d = 0; d < 4; d++)
                src = src * shape[d] + idx[d];
              for (int d = 0; d < 4; d++)
                if (d != ax)
                  dst = dst * shape[d] + idx[d];
              for (size_t c = 0; c < per; c++)
                assert_true(y[dst * per + c] == x[src * per + c]);
            }
      pk_array_destroy(&m);
    }
    pk_array *m = (pk_array *)1;
    assert_int_equal(pk_array_moveaxis(ctx, a, 4, &m), PK_EINVAL);
    assert_null(m);
    assert_non_null(strstr(pk_errmsg(ctx), "axis 4"));
    assert_int_equal(pk_array_moveaxis(ctx, a, -5, &m), PK_EINVAL);
    assert_int_equal(pk_array_moveaxis(ctx, NULL, 0, &m), PK_EINVAL);
    pk_array_destroy(&a);
  }
  close_ctx(&ctx);
}

/* The element of a C-ordered array of this shape at index idx, with axis
   ax of idx first (the moved array's order): its offset in the original. */
static size_t moved_to_src(const size_t *shape, int nd, int ax,
                           const size_t *idx) {
  size_t src = 0, o[PK_MAX_DIMS];
  int k = 1;
  o[ax] = idx[0];
  for (int d = 0; d < nd; d++)
    if (d != ax)
      o[d] = idx[k++];
  for (int d = 0; d < nd; d++)
    src = src * shape[d] + o[d];
  return src;
}

/*
 * pk_array_view through maps, on every backend, of created and of wrapped
 * memory: twice over each axis's view against 2 x the element at the
 * moved index (computed here), items large enough to be gathered in
 * several pieces a chunk; picky's failures named by the view's indices;
 * pk_map_reduce's bits those of the same map over pk_array_moveaxis's
 * copy; and the calls that do not take a view refuse it.
 */
static void test_array_view(void **state) {
  (void)state;
  const char *const *names = backends;
  const int nb = nbackends;
  const size_t shapes[2][3] = {{3, 17, 19}, {40, 36, 50}};
  const pk_map_opts opts = {.schedule = PK_SCHEDULE_DYNAMIC, .chunk = 7,
                            .inlining = PK_INLINE_NEVER};
  for (int b = 0; b < nb; b++)
    for (int wrapped = 0; wrapped < 2; wrapped++)
      for (int sh = 0; sh < 2; sh++) {
        pk_context *ctx = open_ctx(names[b], 2);
        const size_t *shape = shapes[sh];
        size_t n = shape[0] * shape[1] * shape[2];
        double *mine = malloc(n * sizeof *mine), *x;
        pk_array *a = NULL;
        assert_non_null(mine);
        if (wrapped)
          assert_int_equal(pk_array_wrap(ctx, PK_F64, 3, shape, mine, &a),
                           PK_OK);
        else
          a = make(ctx, PK_F64, 3, shape);
        x = pk_array_data(a);
        for (size_t i = 0; i < n; i++)
          x[i] = (double)(i % 1013) - 500;
        for (int axis = -3; axis < 3; axis++) {
          int ax = axis < 0 ? axis + 3 : axis;
          pk_array *v = NULL, *y = NULL, *m = NULL, *ym = NULL;
          assert_int_equal(pk_array_view(ctx, a, axis, &v), PK_OK);
          assert_ptr_equal(pk_array_data(v), x);
          assert_int_equal(pk_map(ctx, &twice, v, &y, &opts), PK_OK);
          size_t B = pk_array_dim(v, 0), per = n / B, idx[3];
          const double *out = pk_array_data(y);
          for (size_t i = 0; i < n; i++) { /* i: the moved C offset */
            idx[0] = i / per;
            idx[1] = i % per / pk_array_dim(v, 2);
            idx[2] = i % pk_array_dim(v, 2);
            assert_true(out[i] == 2 * x[moved_to_src(shape, 3, ax, idx)]);
          }
          /* map_reduce: the bits of the copy's */
          double r1 = 0, r2 = 1;
          assert_int_equal(pk_array_moveaxis(ctx, a, axis, &m), PK_OK);
          assert_int_equal(pk_map(ctx, &twice, m, &ym, &opts), PK_OK);
          assert_memory_equal(pk_array_data(y), pk_array_data(ym),
                              n * sizeof(double));
          assert_int_equal(pk_map_reduce(ctx, &twice, v, PK_SUM, &r1, &opts),
                           PK_OK);
          assert_int_equal(pk_map_reduce(ctx, &twice, m, PK_SUM, &r2, &opts),
                           PK_OK);
          assert_memory_equal(&r1, &r2, sizeof r1);
          pk_array_destroy(&y);
          pk_array_destroy(&ym);
          pk_array_destroy(&m);
          pk_array_destroy(&v);
        }
        /* The batch last: item j's first element is x[j]; picky fails
           there where it is negative, and names j. */
        size_t B = shape[2], want = 0, nf = 0;
        for (size_t j = 0; j < B; j++)
          x[j] = j % 5 == 2 ? -1.0 : 1.0;
        pk_array *v = NULL, *y = NULL;
        assert_int_equal(pk_array_view(ctx, a, -1, &v), PK_OK);
        assert_int_equal(pk_map(ctx, &picky, v, &y, &opts), PK_EKERNEL);
        const size_t *failed = pk_failed(ctx, &nf);
        for (size_t j = 0; j < B; j++) {
          if (j % 5 != 2) {
            double s = 0;
            for (size_t e = 0; e < n / B; e++)
              s += x[e * B + j];
            assert_true(((double *)pk_array_data(y))[j] == s);
            continue;
          }
          assert_true(want < nf);
          assert_int_equal(failed[want++], j);
        }
        assert_int_equal(nf, want);
        pk_array_destroy(&y);

        /* Only a map reads a view. */
        pk_array *w = NULL, *o = v;
        double r;
        assert_int_equal(pk_map(ctx, &twice, a, &o, NULL), PK_EINVAL);
        assert_non_null(strstr(pk_errmsg(ctx), "view"));
        assert_int_equal(pk_reduce(ctx, v, PK_SUM, &r), PK_EINVAL);
        assert_non_null(strstr(pk_errmsg(ctx), "pk_array_moveaxis"));
        assert_int_equal(pk_array_save_npy(ctx, v, "never.npy"), PK_EINVAL);
        assert_int_equal(pk_array_view(ctx, v, 1, &w), PK_EINVAL);
        assert_null(w);
        assert_int_equal(pk_array_moveaxis(ctx, v, 1, &w), PK_EINVAL);
        assert_int_equal(pk_array_view(ctx, a, 3, &w), PK_EINVAL);
        assert_non_null(strstr(pk_errmsg(ctx), "axis 3"));
        /* a destroyed first: its memory stays while the view lives, and
           the view maps as before; pk_finalize waits for the view only. */
        pk_array_destroy(&a);
        assert_null(a);
        assert_int_equal(pk_map(ctx, &picky, v, &y, &opts), PK_EKERNEL);
        pk_failed(ctx, &nf);
        assert_int_equal(nf, want);
        for (size_t j = 0; j < B; j++) {
          double s = 0;
          for (size_t e = 0; j % 5 != 2 && e < n / B; e++)
            s += x[e * B + j];
          assert_true(j % 5 == 2 || ((double *)pk_array_data(y))[j] == s);
        }
        pk_array_destroy(&y);
        assert_int_equal(pk_finalize(&ctx), PK_ESTATE);
        pk_array_destroy(&v);
        free(mine);
        close_ctx(&ctx);
      }
}

static void test_npy_roundtrip(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 0);
  size_t shape[3] = {2, 3, 4};
  const char *path = tmpfile_path();
  pk_array *a = make(ctx, PK_C128, 3, shape), *b = NULL;
  double *d = pk_array_data(a);
  unsigned char head[16];
  FILE *f;

  for (size_t i = 0; i < 48; i++)
    d[i] = (double)i - 7.25;
  assert_int_equal(pk_array_save_npy(ctx, a, path), PK_OK);
  /* NumPy's layout: magic, version 1.0, data at a multiple of 64 bytes */
  f = fopen(path, "rb");
  assert_int_equal(fread(head, 1, 10, f), 10);
  fseek(f, 0, SEEK_END);
  assert_int_equal(ftell(f), 10 + (head[8] | head[9] << 8) + 48 * 8);
  fclose(f);
  assert_memory_equal(head, "\x93NUMPY\x01\x00", 8);
  assert_int_equal((10 + (head[8] | head[9] << 8)) % 64, 0);

  assert_int_equal(pk_array_load_npy(ctx, path, &b), PK_OK);
  assert_int_equal(pk_array_dtype(b), PK_C128);
  assert_int_equal(pk_array_ndim(b), 3);
  assert_int_equal(pk_array_dim(b, 2), 4);
  assert_memory_equal(pk_array_data(b), d, 48 * 8);
  pk_array_destroy(&a);
  pk_array_destroy(&b);
  unlink(path);
  close_ctx(&ctx);
}

/* The bytes of a file, or NULL; *n its length. */
static unsigned char *slurp_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  unsigned char *b;
  long len;

  if (f == NULL)
    return NULL;
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  rewind(f);
  b = malloc((size_t)len + 1);
  *n = b ? fread(b, 1, (size_t)len, f) : 0;
  fclose(f);
  return b;
}

/* Entries of dir other than . and .. */
static int entries(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int k = 0;

  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    k += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return k;
}

/* An array of shape (count, 8) whose every element is v. */
static pk_array *filled(pk_context *ctx, size_t count, double v) {
  size_t shape[2] = {count, 8};
  pk_array *a = make(ctx, PK_F64, 2, shape);
  double *d = pk_array_data(a);

  for (size_t i = 0; i < count * 8; i++)
    d[i] = v;
  return a;
}

/* A save of args {ctx, array, path} beyond a file size limit of 4 KiB:
   PK_EIO, and the message says the file is as it was. */
static int save_over_limit(void *arg) {
  void **a = arg;
  struct rlimit rl = {4096, 4096};

  signal(SIGXFSZ, SIG_IGN);
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
    return 1;
  if (pk_array_save_npy(a[0], a[1], a[2]) != PK_EIO)
    return 2;
  return strstr(pk_errmsg(a[0]), "as it was") ? 0 : 3;
}

/*
 * pk_array_save_npy over a file that exists: a save that fails leaves it
 * as it was (no partial file, no temporary left), a save that succeeds
 * keeps its permissions and a symbolic link to it; saves from several
 * processes at once leave a whole file at every moment; a device is
 * written in place.
 */
static void test_npy_save_replaces(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 0);
  char dir[] = "/tmp/parkit-save-XXXXXX", path[64], sym[64], hard[64];
  pk_array *old = filled(ctx, 4, 1.5), *big = filled(ctx, 2048, -2),
           *back = NULL;
  unsigned char *before, *after;
  size_t nb, na;
  struct stat sb;
  int status;

  assert_non_null(mkdtemp(dir)); /* the Xs: mkdtemp's template */
  snprintf(path, sizeof path, "%s/x.npy", dir);
  snprintf(sym, sizeof sym, "%s/link.npy", dir);
  snprintf(hard, sizeof hard, "%s/hard.npy", dir);
  assert_int_equal(pk_array_save_npy(ctx, old, path), PK_OK);
  assert_int_equal(chmod(path, 0640), 0);
  before = slurp_file(path, &nb);
  assert_non_null(before);

  /* 1. A write that fails (the file size limit, 4 KiB, below the 128 KiB
     array): the old bytes stay, nothing else is left in the folder. */
  in_child(save_over_limit, (void *[]){ctx, big, path}, NULL);
  after = slurp_file(path, &na);
  assert_int_equal(na, nb);
  assert_memory_equal(after, before, nb);
  free(after);
  assert_int_equal(entries(dir), 1);

  /* 2. A save that succeeds: the new data, the old file's mode; through a
     symbolic link, the link stays one and its target gets the data. */
  assert_int_equal(pk_array_save_npy(ctx, big, path), PK_OK);
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0640);
  assert_int_equal(pk_array_load_npy(ctx, path, &back), PK_OK);
  assert_int_equal(pk_array_dim(back, 0), 2048);
  assert_true(((double *)pk_array_data(back))[2048 * 8 - 1] == -2);
  pk_array_destroy(&back);
  assert_int_equal(symlink("x.npy", sym), 0);
  assert_int_equal(pk_array_save_npy(ctx, old, sym), PK_OK);
  assert_int_equal(lstat(sym, &sb), 0);
  assert_true(S_ISLNK(sb.st_mode));
  after = slurp_file(path, &na);
  assert_int_equal(na, nb);
  assert_memory_equal(after, before, nb);
  free(after);
  unlink(sym);

  /* 3. A file with another hard link is written in place, so both names
     see the new data; so is a device. */
  assert_int_equal(link(path, hard), 0);
  assert_int_equal(pk_array_save_npy(ctx, big, hard), PK_OK);
  assert_int_equal(pk_array_load_npy(ctx, path, &back), PK_OK);
  assert_int_equal(pk_array_dim(back, 0), 2048);
  pk_array_destroy(&back);
  unlink(hard);
  assert_int_equal(pk_array_save_npy(ctx, old, "/dev/null"), PK_OK);

  /* 4. Four processes save arrays of their own over the same path, 30
     times each, while this one reads it: every read is a whole file of
     one writer's values (written in place, reads found files cut short). */
  pid_t kids[4];
  for (int k = 0; k < 4; k++) {
    kids[k] = fork();
    assert_true(kids[k] >= 0);
    if (kids[k] == 0) {
      pk_array *mine = filled(ctx, 2048, k);
      int bad = 0;
      for (int r = 0; r < 30; r++)
        bad |= pk_array_save_npy(ctx, mine, path) != PK_OK;
      _exit(bad);
    }
  }
  int reads = 0, running = 4;
  while (running > 0) {
    pk_status st = pk_array_load_npy(ctx, path, &back);
    if (st != PK_OK)
      fail_msg("a read while others saved: %s", pk_errmsg(ctx));
    const double *d = pk_array_data(back);
    assert_int_equal(pk_array_dim(back, 0), 2048);
    for (size_t i = 1; i < 2048 * 8; i++)
      if (d[i] != d[0])
        fail_msg("a read while others saved mixed %g and %g", d[0], d[i]);
    pk_array_destroy(&back);
    reads++;
    running = 0;
    for (int k = 0; k < 4; k++)
      if (kids[k] > 0) {
        pid_t w = waitpid(kids[k], &status, WNOHANG);
        if (w == kids[k]) {
          assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
          kids[k] = 0;
        } else {
          running++;
        }
      }
  }
  assert_true(reads > 0);
  assert_int_equal(entries(dir), 1);

  unlink(path);
  assert_int_equal(rmdir(dir), 0);
  free(before);
  pk_array_destroy(&old);
  pk_array_destroy(&big);
  close_ctx(&ctx);
}

static void test_npy_versions_and_refusals(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 0);
  const char *path = tmpfile_path();
  double v[5] = {1.5, -2, 3, 4, 5};
  pk_array *a = NULL;

  write_npy(path, 2, "{'descr': '<f8', 'fortran_order': False, "
            "'shape': (5,), }\n", v, sizeof v);
  assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_OK);
  assert_int_equal(pk_array_ndim(a), 1);
  assert_int_equal(pk_array_dim(a, 0), 5);
  assert_memory_equal(pk_array_data(a), v, sizeof v);
  pk_array_destroy(&a);

  /* Other types and orders are converted (tests/npy_types.sh compares
     with numpy): the same bytes as big-endian doubles, as int64, and a
     1-d array in Fortran order (the same as in C order). */
  {
    unsigned char *p = (unsigned char *)v, sw[sizeof v];
    double want[5];
    int64_t iv[5];
    for (size_t i = 0; i < sizeof v; i++)
      sw[i] = p[i / 8 * 8 + 7 - i % 8];
    memcpy(want, sw, sizeof want);
    write_npy(path, 1, "{'descr': '>f8', 'fortran_order': False, "
              "'shape': (5,), }\n", v, sizeof v);
    assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_OK);
    assert_memory_equal(pk_array_data(a), want, sizeof want);
    pk_array_destroy(&a);
    memcpy(iv, v, sizeof iv);
    for (int i = 0; i < 5; i++)
      want[i] = (double)iv[i];
    write_npy(path, 1, "{'descr': '<i8', 'fortran_order': False, "
              "'shape': (5,), }\n", v, sizeof v);
    assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_OK);
    assert_memory_equal(pk_array_data(a), want, sizeof want);
    pk_array_destroy(&a);
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': True, "
              "'shape': (5,), }\n", v, sizeof v);
    assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_OK);
    assert_memory_equal(pk_array_data(a), v, sizeof v);
    pk_array_destroy(&a);
  }
  write_npy(path, 1, "{'descr': '|O', 'fortran_order': False, "
            "'shape': (5,), }\n", v, sizeof v);
  assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_EDTYPE);
  assert_non_null(strstr(pk_errmsg(ctx), "|O"));
  write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, "
            "'shape': (6,), }\n", v, sizeof v); /* one value short */
  assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_EFORMAT);
  write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, "
            "'shape': (1, 1, 1, 1, 5), }\n", v, sizeof v);
  assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_ESHAPE);
  write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, "
            "'shape': (), }\n", v, 8);
  assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_ESHAPE);
  /* a huge announced shape in a short file: refused before allocating */
  write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, "
            "'shape': (1000000000000, 1000), }\n", v, sizeof v);
  assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_EFORMAT);
  write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, "
            "'shape': (4611686018427387904, 8), }\n", v, sizeof v);
  assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_EOVERFLOW);
  write_npy(path, 7, "{}", v, 0);
  assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_EFORMAT);

  /* The header is a Python dict literal, read as numpy reads it: keys in
     any order, either quotes, a 1-tuple's comma; nothing else. */
  const struct { const char *dict; int ndim; size_t d0; } ok[] = {
      {"{'shape': (5,), 'fortran_order': False, 'descr': '<f8'}", 1, 5},
      {"{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (1, 5)}",
       2, 1},
      {"  {'descr':'<f8','fortran_order':False,'shape':( 5 , )}  \n", 1, 5},
      /* a key twice: the last, as Python's dict literal */
      {"{'descr': '<f8', 'shape': (1,), 'fortran_order': False, "
       "'shape': (1, 5)}", 2, 1},
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    write_npy(path, 1, ok[i].dict, v, sizeof v);
    assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_OK);
    assert_int_equal(pk_array_ndim(a), ok[i].ndim);
    assert_int_equal(pk_array_dim(a, 0), ok[i].d0);
    assert_memory_equal(pk_array_data(a), v, sizeof v);
    pk_array_destroy(&a);
  }
  const char *bad[] = {
      /* 'shape' inside another value once loaded shape (1,) */
      "{'descr': '<f8', 'note': \"'shape': (1,)\", 'fortran_order': False, "
      "'shape': (5,), }",
      "{'descr': '<f8', 'fortran_order': Falsey, 'shape': (5,), }",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (5), }",
      "{'descr': '<f8', 'fortran_order': False}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (5,)} x",
      "{'descr': '<f8' 'fortran_order': False, 'shape': (5,)}",
      "{'descr': '<f8', 'fortran_order': 0, 'shape': (5,)}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': [5]}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (-5,)}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (5,)",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    write_npy(path, 1, bad[i], v, sizeof v);
    if (pk_array_load_npy(ctx, path, &a) != PK_EFORMAT)
      fail_msg("accepted: %s", bad[i]);
    assert_null(a);
  }
  assert_null(a);
  FILE *f = fopen(path, "wb");
  fputs("not numpy at all", f);
  fclose(f);
  assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_EFORMAT);
  unlink(path);
  assert_int_equal(pk_array_load_npy(ctx, path, &a), PK_EIO);
  assert_int_equal(pk_array_load_npy(ctx, NULL, &a), PK_EINVAL);
  assert_int_equal(pk_array_save_npy(ctx, NULL, path), PK_EINVAL);
  close_ctx(&ctx);
}

/* ------------------------------------------------------------------- map */

static const pk_schedule schedules[] = {PK_SCHEDULE_AUTO, PK_SCHEDULE_BLOCK,
                                        PK_SCHEDULE_CYCLIC,
                                        PK_SCHEDULE_DYNAMIC};

static void test_map_values(void **state) {
  (void)state;
  const char *backends[] = {"serial", "openmp"};
  for (int b = 0; b < 2; b++)
    for (int s = 0; s < 4; s++)
      for (size_t chunk = 0; chunk < 4; chunk += 3) {
        pk_context *ctx = open_ctx(backends[b], 3);
        size_t shape[3] = {101, 2, 3}, i;
        pk_array *a = make(ctx, PK_F64, 3, shape), *out = NULL;
        double *x = pk_array_data(a);
        pk_map_opts o = {.schedule = schedules[s], .chunk = chunk,
                         .inlining = PK_INLINE_NEVER};
        for (i = 0; i < 606; i++)
          x[i] = (double)i * 0.5 - 3;
        assert_int_equal(pk_map(ctx, &twice, a, &out, &o), PK_OK);
        assert_int_equal(pk_array_ndim(out), 3);
        assert_int_equal(pk_array_dim(out, 0), 101);
        for (i = 0; i < 606; i++)
          assert_true(((double *)pk_array_data(out))[i] == (double)i - 6);
        const pk_stats *st = pk_last_stats(ctx);
        assert_int_equal(st->items, 101);
        assert_int_equal(st->failed, 0);
        assert_int_equal(st->ran_inline, 0);
        if (chunk && schedules[s] != PK_SCHEDULE_BLOCK)
          assert_int_equal(st->chunks, (101 + chunk - 1) / chunk);
        if (schedules[s] == PK_SCHEDULE_BLOCK)
          assert_true(st->chunks <= (size_t)st->workers);
        pk_array_destroy(&a);
        pk_array_destroy(&out);
        close_ctx(&ctx);
      }
}

static void test_map_into_existing(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("openmp", 2);
  size_t shape[2] = {10, 4}, bad[2] = {10, 5};
  pk_array *a = make(ctx, PK_F64, 2, shape), *out = make(ctx, PK_F64, 2, shape);
  pk_array *wrong = make(ctx, PK_F64, 2, bad), *keep = out;

  for (size_t i = 0; i < 40; i++)
    ((double *)pk_array_data(a))[i] = (double)i;
  assert_int_equal(pk_map(ctx, &twice, a, &out, NULL), PK_OK);
  assert_ptr_equal(out, keep);
  assert_true(((double *)pk_array_data(out))[39] == 78);
  assert_int_equal(pk_map(ctx, &twice, a, &wrong, NULL), PK_ESHAPE);
  assert_true(strlen(pk_errmsg(ctx)) > 0);
  assert_int_equal(pk_map(ctx, &twice, a, &a, NULL), PK_EINVAL); /* overlap */
  pk_array_destroy(&a);
  pk_array_destroy(&out);
  pk_array_destroy(&wrong);
  close_ctx(&ctx);
}

static void test_map_bad(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("openmp", 2), *other = open_ctx("serial", 0);
  size_t shape[2] = {3, 2};
  pk_array *a = make(ctx, PK_F64, 2, shape), *c = make(ctx, PK_C128, 2, shape);
  pk_array *o = make(other, PK_F64, 2, shape), *out = NULL;
  pk_kernel broken = twice;
  pk_map_opts opts = {.schedule = (pk_schedule)9};

  broken.run = NULL;
  assert_int_equal(pk_map(NULL, &twice, a, &out, NULL), PK_EINVAL);
  assert_int_equal(pk_map(ctx, NULL, a, &out, NULL), PK_EINVAL);
  assert_int_equal(pk_map(ctx, &twice, NULL, &out, NULL), PK_EINVAL);
  assert_int_equal(pk_map(ctx, &twice, a, NULL, NULL), PK_EINVAL);
  assert_int_equal(pk_map(ctx, &broken, a, &out, NULL), PK_EINVAL);
  assert_int_equal(pk_map(ctx, &twice, a, &out, &opts), PK_EINVAL);
  assert_int_equal(pk_map(ctx, &twice, o, &out, NULL), PK_EINVAL);
  assert_int_equal(pk_map(ctx, &twice, c, &out, NULL), PK_EDTYPE);
  assert_non_null(strstr(pk_errmsg(ctx), "twice takes float64"));
  assert_int_equal(pk_map(ctx, &refuse, a, &out, NULL), PK_ESHAPE);
  assert_non_null(strstr(pk_errmsg(ctx), "purple"));
  assert_null(out);
  pk_array_destroy(&a);
  pk_array_destroy(&c);
  pk_array_destroy(&o);
  close_ctx(&ctx);
  close_ctx(&other);
}

static void test_map_empty(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("openmp", 2);
  size_t shape[2] = {0, 7};
  pk_array *a = make(ctx, PK_F64, 2, shape), *out = NULL;
  double r = -1;

  assert_int_equal(pk_map(ctx, &twice, a, &out, NULL), PK_OK);
  assert_int_equal(pk_array_dim(out, 0), 0);
  assert_int_equal(pk_array_dim(out, 1), 7);
  assert_int_equal(pk_map_reduce(ctx, &picky, a, PK_SUM, &r, NULL), PK_OK);
  assert_true(r == 0.0);
  pk_array_destroy(&a);
  pk_array_destroy(&out);
  close_ctx(&ctx);
}

/* Items 3, 50, 51 and the last fail; every other one is computed. */
static void test_map_failures(void **state) {
  (void)state;
  const char *backends[] = {"serial", "openmp"};
  const size_t failing[] = {3, 50, 51, 99};
  for (int b = 0; b < 2; b++)
    for (int s = 0; s < 4; s++) {
      pk_context *ctx = open_ctx(backends[b], 2);
      size_t shape[2] = {100, 3}, n, i;
      pk_array *a = make(ctx, PK_F64, 2, shape), *out = NULL;
      double *x = pk_array_data(a);
      pk_map_opts o = {.schedule = schedules[s], .chunk = 7};
      for (i = 0; i < 300; i++)
        x[i] = 1.0;
      for (i = 0; i < 4; i++)
        x[failing[i] * 3] = -1.0;
      assert_int_equal(pk_map(ctx, &picky, a, &out, &o), PK_EKERNEL);
      assert_non_null(strstr(pk_errmsg(ctx), "item 3"));
      assert_non_null(strstr(pk_errmsg(ctx), "4 of 100"));
      const size_t *f = pk_failed(ctx, &n);
      assert_int_equal(n, 4);
      assert_memory_equal(f, failing, sizeof failing);
      assert_int_equal(pk_last_stats(ctx)->failed, 4);
      assert_non_null(out); /* completed items are kept */
      for (i = 0; i < 100; i++)
        if (i != 3 && i != 50 && i != 51 && i != 99)
          assert_true(((double *)pk_array_data(out))[i] == 3.0);
      /* the context works again, and the failure list is cleared */
      for (i = 0; i < 4; i++)
        x[failing[i] * 3] = 1.0;
      assert_int_equal(pk_map(ctx, &picky, a, &out, &o), PK_OK);
      pk_failed(ctx, &n);
      assert_int_equal(n, 0);
      assert_string_equal(pk_errmsg(ctx), "");
      pk_array_destroy(&a);
      pk_array_destroy(&out);
      close_ctx(&ctx);
    }
}

static void test_inline_rule(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("openmp", 2);
  size_t shape[2] = {2, 1}, big[2] = {4000, 2000};
  pk_array *a = make(ctx, PK_F64, 2, shape), *out = NULL;
  pk_array *b = make(ctx, PK_F64, 2, big), *out2 = NULL;
  pk_map_opts never = {.inlining = PK_INLINE_NEVER};
  pk_map_opts always = {.inlining = PK_INLINE_ALWAYS};

  /* 2 items of 1 ns each: far below the cost of waking a thread */
  assert_int_equal(pk_map(ctx, &twice, a, &out, NULL), PK_OK);
  assert_int_equal(pk_last_stats(ctx)->ran_inline, 1);
  assert_true(pk_last_stats(ctx)->dispatch_seconds > 0);
  assert_int_equal(pk_map(ctx, &twice, a, &out, &never), PK_OK);
  assert_int_equal(pk_last_stats(ctx)->ran_inline, 0);
  /* 8 ms of estimated work: parallel */
  assert_int_equal(pk_map(ctx, &twice, b, &out2, NULL), PK_OK);
  assert_int_equal(pk_last_stats(ctx)->ran_inline, 0);
  assert_int_equal(pk_last_stats(ctx)->workers, 2);
  assert_int_equal(pk_map(ctx, &twice, b, &out2, &always), PK_OK);
  assert_int_equal(pk_last_stats(ctx)->ran_inline, 1);
  assert_int_equal(pk_last_stats(ctx)->workers, 1);
  pk_array_destroy(&a);
  pk_array_destroy(&b);
  pk_array_destroy(&out);
  pk_array_destroy(&out2);
  close_ctx(&ctx);
}

/* ---------------------------------------------------------------- reduce */

static void test_reduce_exact(void **state) {
  (void)state;
  /* integers: every order of summation gives the same exact answer */
  const size_t n = 3 * 4096 + 123;
  pk_context *ctx = open_ctx("openmp", 2);
  size_t shape[1] = {n};
  pk_array *a = make(ctx, PK_F64, 1, shape);
  double *x = pk_array_data(a), r, sum = 0, mn = 1e300, mx = -1e300;

  for (size_t i = 0; i < n; i++) {
    x[i] = (double)((int)(i * 7919 % 1001) - 500);
    sum += x[i];
    mn = x[i] < mn ? x[i] : mn;
    mx = x[i] > mx ? x[i] : mx;
  }
  assert_int_equal(pk_reduce(ctx, a, PK_SUM, &r), PK_OK);
  assert_true(r == sum);
  assert_int_equal(pk_reduce(ctx, a, PK_MIN, &r), PK_OK);
  assert_true(r == mn);
  assert_int_equal(pk_reduce(ctx, a, PK_MAX, &r), PK_OK);
  assert_true(r == mx);
  for (size_t i = 0; i < n; i++)
    x[i] = (i % 5 == 0) ? 2.0 : (i % 5 == 1 ? 0.5 : 1.0);
  assert_int_equal(pk_reduce(ctx, a, PK_PROD, &r), PK_OK);
  assert_true(r == ((n % 5) >= 1 ? 2.0 : 1.0)); /* pairs cancel */
  x[n - 1] = NAN;
  for (int op = PK_SUM; op <= PK_MAX; op++) {
    assert_int_equal(pk_reduce(ctx, a, (pk_op)op, &r), PK_OK);
    assert_true(isnan(r));
  }
  x[n - 1] = 1.0;
  x[5] = NAN; /* a NaN in a full block, not the tail */
  assert_int_equal(pk_reduce(ctx, a, PK_MIN, &r), PK_OK);
  assert_true(isnan(r));
  pk_array_destroy(&a);
  close_ctx(&ctx);
}

static void test_reduce_identity_and_complex(void **state) {
  (void)state;
  pk_context *ctx = open_ctx("serial", 0);
  size_t zero[1] = {0}, three[1] = {3};
  pk_array *e = make(ctx, PK_F64, 1, zero), *c = make(ctx, PK_C128, 1, three);
  double r[2], *z = pk_array_data(c);

  assert_int_equal(pk_reduce(ctx, e, PK_SUM, r), PK_OK);
  assert_true(r[0] == 0.0);
  assert_int_equal(pk_reduce(ctx, e, PK_PROD, r), PK_OK);
  assert_true(r[0] == 1.0);
  assert_int_equal(pk_reduce(ctx, e, PK_MIN, r), PK_OK);
  assert_true(isinf(r[0]) && r[0] > 0);
  assert_int_equal(pk_reduce(ctx, e, PK_MAX, r), PK_OK);
  assert_true(isinf(r[0]) && r[0] < 0);
  /* (1+2i) + (3-1i) + (0+1i) = 4+2i; product (1+2i)(3-i)(i) = -5+5i */
  z[0] = 1, z[1] = 2, z[2] = 3, z[3] = -1, z[4] = 0, z[5] = 1;
  assert_int_equal(pk_reduce(ctx, c, PK_SUM, r), PK_OK);
  assert_true(r[0] == 4 && r[1] == 2);
  assert_int_equal(pk_reduce(ctx, c, PK_PROD, r), PK_OK);
  assert_true(r[0] == -5 && r[1] == 5);
  assert_int_equal(pk_reduce(ctx, c, PK_MAX, r), PK_EDTYPE);
  assert_int_equal(pk_reduce(ctx, c, (pk_op)0, r), PK_EINVAL);
  assert_int_equal(pk_reduce(ctx, c, PK_SUM, NULL), PK_EINVAL);
  assert_int_equal(pk_reduce(ctx, NULL, PK_SUM, r), PK_EINVAL);
  assert_int_equal(pk_reduce(NULL, c, PK_SUM, r), PK_EINVAL);
  pk_array_destroy(&e);
  pk_array_destroy(&c);
  close_ctx(&ctx);
}

/* Random values: the same bits on every backend and worker count. */
static void test_reduce_same_bits(void **state) {
  (void)state;
  const size_t n = 50000;
  double ref[4];
  uint64_t s = 42;
  double *x = malloc(n * sizeof *x);

  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005u + 1442695040888963407u;
    x[i] = (double)(s >> 11) / 9007199254740992.0 * 2e3 - 1e3;
  }
  for (int run = 0; run < 5; run++) {
    const char *b = run == 0 ? "serial" : "openmp";
    pk_context *ctx = open_ctx(b, run == 0 ? 1 : run);
    size_t shape[1] = {n};
    pk_array *a = NULL;
    pk_map_opts never = {.inlining = PK_INLINE_NEVER};
    double r, mr;
    assert_int_equal(pk_array_wrap(ctx, PK_F64, 1, shape, x, &a), PK_OK);
    for (int op = PK_SUM; op <= PK_MAX; op++) {
      assert_int_equal(pk_reduce(ctx, a, (pk_op)op, &r), PK_OK);
      if (run == 0)
        ref[op - 1] = r;
      else
        assert_memory_equal(&r, &ref[op - 1], sizeof r);
    }
    /* pk_map_reduce equals map then reduce */
    pk_array *b2 = NULL, *out = NULL;
    size_t shape2[2] = {n / 10, 10};
    double sum = 0;
    assert_int_equal(pk_array_wrap(ctx, PK_F64, 2, shape2, x, &b2), PK_OK);
    assert_int_equal(pk_map_reduce(ctx, &picky, b2, PK_MAX, &mr, &never),
                     PK_EKERNEL); /* some items start with a negative */
    for (size_t i = 0; i < n; i++)
      x[i] = fabs(x[i]);
    assert_int_equal(pk_map_reduce(ctx, &picky, b2, PK_SUM, &mr, &never),
                     PK_OK);
    assert_int_equal(pk_map(ctx, &picky, b2, &out, &never), PK_OK);
    assert_int_equal(pk_reduce(ctx, out, PK_SUM, &r), PK_OK);
    assert_memory_equal(&r, &mr, sizeof r);
    for (size_t i = 0; i < n; i++)
      sum += x[i];
    assert_true(fabs(mr - sum) <= 1e-9 * sum);
    s = 42; /* restore the signed values for the next run */
    for (size_t i = 0; i < n; i++) {
      s = s * 6364136223846793005u + 1442695040888963407u;
      x[i] = (double)(s >> 11) / 9007199254740992.0 * 2e3 - 1e3;
    }
    pk_array_destroy(&out);
    pk_array_destroy(&b2);
    pk_array_destroy(&a);
    close_ctx(&ctx);
  }
  free(x);
}

/* pk_map_reduce's stats: the map's items and chunks, and a time that holds
   the reduce as well as the map.  Each item spreads its value over a long
   output, so the reduce of the output is long against the map's dispatch:
   the time must cover the kernel's own span (stamped by the kernel) plus
   at least half the shortest of three pk_reduce calls of that output. */
enum { SPREAD = 1 << 20 };
static pthread_mutex_t spread_lock = PTHREAD_MUTEX_INITIALIZER;
static double spread_first, spread_last;

static pk_status spread_shape(const pk_kernel *k, const pk_item *in,
                              pk_item *out, char *msg, size_t len) {
  (void)k, (void)msg, (void)len;
  out->dtype = PK_F64;
  out->ndim = 1;
  out->shape[0] = SPREAD;
  return in->dtype == PK_F64 && in->ndim == 0 ? PK_OK : PK_EDTYPE;
}

static pk_status spread_run(const pk_kernel *k, const pk_task *t, size_t lo,
                            size_t hi, size_t *bad) {
  double t0 = pk_time();
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++) {
    double v = *(const double *)(t->in + i * t->in_stride);
    double *y = (double *)(t->out + i * t->out_stride);
    for (size_t e = 0; e < SPREAD; e++)
      y[e] = v;
  }
  double t1 = pk_time();
  pthread_mutex_lock(&spread_lock);
  if (spread_first == 0 || t0 < spread_first)
    spread_first = t0;
  if (t1 > spread_last)
    spread_last = t1;
  pthread_mutex_unlock(&spread_lock);
  return PK_OK;
}

static const pk_kernel spread = {
    .name = "spread", .shape = spread_shape, .run = spread_run};

static void test_map_reduce_stats(void **state) {
  (void)state;
  for (int run = 0; run < 2; run++) {
    pk_context *ctx = open_ctx(run == 0 ? "serial" : "openmp", 2);
    size_t shape[1] = {8};
    double x[8], r, best = HUGE_VAL;
    pk_array *a = NULL, *out = NULL;
    pk_map_opts never = {.inlining = PK_INLINE_NEVER};
    for (int i = 0; i < 8; i++)
      x[i] = i + 1;
    assert_int_equal(pk_array_wrap(ctx, PK_F64, 1, shape, x, &a), PK_OK);
    assert_int_equal(pk_map(ctx, &spread, a, &out, &never), PK_OK);
    pk_stats map = *pk_last_stats(ctx);
    for (int k = 0; k < 3; k++) {
      assert_int_equal(pk_reduce(ctx, out, PK_SUM, &r), PK_OK);
      if (pk_last_stats(ctx)->seconds < best)
        best = pk_last_stats(ctx)->seconds;
    }
    assert_true(r == 36.0 * SPREAD);
    spread_first = spread_last = 0;
    double t0 = pk_time();
    assert_int_equal(pk_map_reduce(ctx, &spread, a, PK_SUM, &r, &never),
                     PK_OK);
    double wall = pk_time() - t0;
    const pk_stats *st = pk_last_stats(ctx);
    assert_true(r == 36.0 * SPREAD);
    assert_int_equal(st->items, 8);
    assert_int_equal(st->chunks, map.chunks);
    assert_int_equal(st->workers, map.workers);
    assert_int_equal(st->failed, 0);
    assert_true(st->seconds <= wall);
    assert_true(st->seconds >= (spread_last - spread_first) + 0.5 * best);
    pk_array_destroy(&out);
    pk_array_destroy(&a);
    close_ctx(&ctx);
  }
}

/* The library's serial fold (used by distributed backends) gives the bits
 * of pk_reduce on a parallel backend. */
void pk__fold(pk_op op, pk_dtype dt, const void *x, size_t count,
              double *result);

static void test_fold_matches_reduce(void **state) {
  (void)state;
  const size_t n = 3 * 4096 + 5;
  pk_context *ctx = open_ctx("openmp", 2);
  size_t shape[1] = {n / 2};
  pk_array *a = make(ctx, PK_F64, 1, shape), *c = make(ctx, PK_C128, 1, shape);
  double *x = pk_array_data(a), *z = pk_array_data(c), r[2], f[2];
  uint64_t s = 9;

  for (size_t i = 0; i < n / 2; i++) {
    s = s * 6364136223846793005u + 1442695040888963407u;
    x[i] = (double)(s >> 11) / 9007199254740992.0 + 0.5;
    z[2 * i] = x[i];
    z[2 * i + 1] = 1.0 - x[i];
  }
  for (int op = PK_SUM; op <= PK_MAX; op++) {
    assert_int_equal(pk_reduce(ctx, a, (pk_op)op, r), PK_OK);
    pk__fold((pk_op)op, PK_F64, x, n / 2, f);
    assert_memory_equal(r, f, sizeof r[0]);
  }
  for (int op = PK_SUM; op <= PK_PROD; op++) {
    assert_int_equal(pk_reduce(ctx, c, (pk_op)op, r), PK_OK);
    pk__fold((pk_op)op, PK_C128, z, n / 2, f);
    assert_memory_equal(r, f, sizeof r);
  }
  pk_array_destroy(&a);
  pk_array_destroy(&c);
  close_ctx(&ctx);
}

/* ------------------------------------------------------------ BLAS pool */

/*
 * OpenBLAS's thread pool, if the BLAS linked in has one, in a process of
 * its own (forked: one thread, as a program starts): stopped by pk_init
 * while nothing but the pool runs beside the caller (its idle threads
 * would spin beside the workers), left running when another thread of the
 * program could be inside BLAS; BLAS on one thread while the context
 * lives, the caller's thread count back after pk_finalize (a stopped pool
 * left stopped), and a BLAS call on more threads after it right (against
 * a naive product), the pool running again.
 */
extern int blas_server_avail __attribute__((weak));
extern int blas_num_threads __attribute__((weak));
extern void openblas_set_num_threads(int) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));

enum { BN = 192 };
static double ba[BN * BN], bb[BN * BN], bc[BN * BN], bwant[BN * BN];

static void *blas_bystander(void *arg) {
  char c;
  return (void *)(intptr_t)read(*(int *)arg, &c, 1);
}

/* The threads of this process (/proc/self/status), -1 if unknown. */
static int threads_now(void) {
  char line[256];
  int n = -1;
  FILE *f = fopen("/proc/self/status", "r");

  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "Threads: %d", &n) == 1)
      break;
  fclose(f);
  return n;
}

extern char *openblas_get_config(void) __attribute__((weak));

/* Whether OpenBLAS was built to bind its threads to cores (Debian's is
   not: NO_AFFINITY in its configuration). */
static int affinity_build(void) {
  const char *c = openblas_get_config ? openblas_get_config() : NULL;
  return c == NULL || strstr(c, "NO_AFFINITY") == NULL;
}

/* 0, or which check failed. */
static int blas_pool_child(int other) {
  pk_context *ctx = NULL;
  pk_config cf = {.backend = "serial"};
  pthread_t t;
  int fd[2];

  openblas_set_num_threads(2);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, BN, BN, BN, 1.0,
              ba, BN, bb, BN, 0.0, bc, BN);
  /* whether the pool has threads (OpenBLAS on one core has none) */
  int pool = blas_server_avail && blas_num_threads > 1;
  if (other && (pipe(fd) != 0 || pthread_create(&t, NULL, blas_bystander,
                                                &fd[0]) != 0))
    return 1;
  if (pk_init_config(&ctx, NULL, NULL, &cf) != PK_OK)
    return 2;
  if (pool && blas_server_avail != (other ? 1 : 0))
    return 3;
  if (openblas_get_num_threads() != 1)
    return 4;
  if (pk_finalize(&ctx) != PK_OK || openblas_get_num_threads() != 2)
    return 5;
  /* The count is back, the pool not yet: no thread spins beside a
     program that may make no BLAS call again (the next call starts it).
     Where the build sets thread affinity, setting the count starts it. */
  if (pool && !other && !affinity_build() &&
      (blas_server_avail || threads_now() != 1))
    return 9;
  memset(bc, 0, sizeof bc);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, BN, BN, BN, 1.0,
              ba, BN, bb, BN, 0.0, bc, BN);
  if (memcmp(bc, bwant, sizeof bc) != 0) /* small integers: exact */
    return 6;
  if ((blas_server_avail && blas_num_threads > 1) != pool)
    return 7;
  if (other && (write(fd[1], "x", 1) != 1 || pthread_join(t, NULL) != 0))
    return 8;
  return 0;
}

static void test_blas_pool(void **state) {
  (void)state;
  if (&blas_server_avail == NULL || &blas_num_threads == NULL ||
      openblas_set_num_threads == NULL || openblas_get_num_threads == NULL) {
    print_message("not OpenBLAS's pthread build: nothing to check\n");
    return;
  }
  for (int i = 0; i < BN * BN; i++) {
    ba[i] = (double)(i % 7) - 3;
    bb[i] = (double)(i % 5) - 2;
  }
  for (int i = 0; i < BN; i++)
    for (int j = 0; j < BN; j++) {
      double t = 0;
      for (int k = 0; k < BN; k++)
        t += ba[i * BN + k] * bb[k * BN + j];
      bwant[i * BN + j] = t;
    }
  for (int other = 0; other < 2; other++) {
    int status = 0;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
      _exit(blas_pool_child(other));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
      fail_msg("another thread %s: check %d failed",
               other ? "running" : "none", WEXITSTATUS(status));
  }
}

/*
 * Contexts whose lives overlap without nesting (the first made ends
 * first, as two threads with a context each may): BLAS stays on one
 * thread while any of them lives, and the program's count comes back when
 * the last ends, whatever the order; a failed pk_init leaves it as it was.
 * 0, or which check failed.
 */
static int blas_overlap_child(void *unused) {
  (void)unused;
  pk_context *a = NULL, *b = NULL, *c = NULL;
  pk_config cf = {.backend = "serial"}, bad = {.backend = "serial",
                                              .isa = "no-such-path"};

  openblas_set_num_threads(2);
  if (openblas_get_num_threads() != 2)
    return IN_CHILD_SKIP; /* one core: nothing to tell apart */
  if (pk_init_config(&c, NULL, NULL, &bad) == PK_OK ||
      openblas_get_num_threads() != 2)
    return 1;
  if (pk_init_config(&a, NULL, NULL, &cf) != PK_OK ||
      pk_init_config(&b, NULL, NULL, &cf) != PK_OK)
    return 2;
  if (openblas_get_num_threads() != 1)
    return 3;
  if (pk_finalize(&a) != PK_OK || openblas_get_num_threads() != 1)
    return 4; /* b still lives */
  if (pk_init_config(&c, NULL, NULL, &bad) == PK_OK ||
      openblas_get_num_threads() != 1)
    return 5;
  if (pk_finalize(&b) != PK_OK || openblas_get_num_threads() != 2)
    return 6;
  /* and again, ended in the reverse order */
  if (pk_init_config(&a, NULL, NULL, &cf) != PK_OK ||
      pk_init_config(&b, NULL, NULL, &cf) != PK_OK ||
      pk_finalize(&b) != PK_OK || openblas_get_num_threads() != 1 ||
      pk_finalize(&a) != PK_OK || openblas_get_num_threads() != 2)
    return 7;
  return 0;
}

static void test_blas_overlap(void **state) {
  (void)state;

  if (openblas_set_num_threads == NULL || openblas_get_num_threads == NULL) {
    print_message("not OpenBLAS: nothing to check\n");
    return;
  }
  in_child(blas_overlap_child, NULL, "OpenBLAS keeps one thread here");
}

/*
 * A process forked after an openmp team ran (Python's multiprocessing Pool
 * after parkit.det): under GCC's libgomp its next team of more than one
 * thread waits for ever.  There a new openmp context has one worker and
 * the inherited one maps on the caller's thread; results as in the parent.
 * A child that hangs is ended by its alarm, and the test fails.
 */
static int det3(pk_context *ctx, double *sum) {
  size_t shape[3] = {64, 3, 3};
  double x[64 * 9];
  pk_array *a = NULL, *o = NULL;
  int ok;

  for (size_t i = 0; i < 64; i++) /* diag(i + 1, 2, 1) */
    for (size_t e = 0; e < 9; e++)
      x[i * 9 + e] = e == 0 ? (double)i + 1 : e == 4 ? 2 : e == 8 ? 1 : 0;
  pk_map_opts op = {.inlining = PK_INLINE_NEVER};
  ok = pk_array_wrap(ctx, PK_F64, 3, shape, x, &a) == PK_OK &&
       pk_map(ctx, pk_kernel_det(), a, &o, &op) == PK_OK;
  *sum = 0;
  for (size_t i = 0; ok && i < 64; i++) {
    ok = ((double *)pk_array_data(o))[i] == 2.0 * (double)(i + 1);
    *sum += ((double *)pk_array_data(o))[i];
  }
  pk_array_destroy(&a);
  pk_array_destroy(&o);
  return ok;
}

static int openmp_child(void *arg) {
  pk_context *inherited = arg;
  pk_config cfg = {.backend = "openmp", .workers = 2};
  pk_context *ctx = NULL;
  double sum;
  const int gomp = dlsym(RTLD_DEFAULT, "__kmpc_fork_call") == NULL;

  alarm(20);
  if (!det3(inherited, &sum))
    return 2;
  if (pk_init_config(&ctx, NULL, NULL, &cfg) != PK_OK)
    return 3;
  if (pk_workers(ctx) != (gomp ? 1 : 2))
    return 4;
  if (!det3(ctx, &sum) || sum != 64 * 65)
    return 5;
  if (pk_finalize(&ctx) != PK_OK || pk_finalize(&inherited) != PK_OK)
    return 6;
  return 0;
}

static void test_openmp_after_fork(void **state) {
  pk_context *ctx = open_ctx("openmp", 2);
  double sum;
  (void)state;

  assert_true(det3(ctx, &sum)); /* the team has run */
  in_child(openmp_child, ctx, NULL); /* SIGALRM: it hung in OpenMP */
  assert_true(det3(ctx, &sum)); /* the parent's team still works */
  assert_int_equal(pk_workers(ctx), 2);
  close_ctx(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strerror),
      cmocka_unit_test(test_time),
      cmocka_unit_test(test_init_args),
      cmocka_unit_test(test_init_precedence),
      cmocka_unit_test(test_init_bad),
      cmocka_unit_test(test_init_messages),
      cmocka_unit_test(test_init_isa),
      cmocka_unit_test(test_backends_list),
      cmocka_unit_test(test_finalize_live_array),
      cmocka_unit_test(test_array_create),
      cmocka_unit_test(test_array_large),
      cmocka_unit_test(test_array_bad),
      cmocka_unit_test(test_array_wrap),
      cmocka_unit_test(test_array_convert),
      cmocka_unit_test(test_array_moveaxis),
      cmocka_unit_test(test_array_view),
      cmocka_unit_test(test_npy_roundtrip),
      cmocka_unit_test(test_npy_save_replaces),
      cmocka_unit_test(test_npy_versions_and_refusals),
      cmocka_unit_test(test_map_values),
      cmocka_unit_test(test_map_into_existing),
      cmocka_unit_test(test_map_bad),
      cmocka_unit_test(test_map_empty),
      cmocka_unit_test(test_map_failures),
      cmocka_unit_test(test_inline_rule),
      cmocka_unit_test(test_reduce_exact),
      cmocka_unit_test(test_reduce_identity_and_complex),
      cmocka_unit_test(test_reduce_same_bits),
      cmocka_unit_test(test_map_reduce_stats),
      cmocka_unit_test(test_fold_matches_reduce),
      cmocka_unit_test(test_blas_pool),
      cmocka_unit_test(test_blas_overlap),
      cmocka_unit_test(test_openmp_after_fork),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
