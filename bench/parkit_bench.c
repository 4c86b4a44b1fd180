/*
 * parkit-bench: parkit's kernels on every backend and worker count, over a
 * sweep of batch sizes, beside the code a user would otherwise write and
 * the machine's own limits.  See usage[] below.
 */
#define _GNU_SOURCE
#include "baselines.h"
#include "machine.h"
#include "stats.h"

#include <parkit.h>
#include <parkit/fft.h>
#include <parkit/kernels.h>

#include <cblas.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PKB_DATADIR /* where make install puts py_baselines.py */
#define PKB_DATADIR "/usr/local/share/parkit"
#endif

#define MAXREPS 1000
#define MAXW 64     /* worker counts measured at most */
#define NREF 64     /* items compared between methods */
#define TOL 1e-8

static const char usage[] =
    "usage: parkit-bench [options]\n"
    "Times parkit's kernels (pk_map) on every backend with 1 .. cores\n"
    "workers over a sweep of batch sizes, beside the code a user would\n"
    "write instead and the machine's limits (OpenBLAS dgemm, a triad loop),\n"
    "all measured in this run.  Each point: one warm-up, then the median,\n"
    "min and max of --reps runs.  The table goes to stdout, progress and\n"
    "diagnostics to stderr.\n"
    "\n"
    "cases (default: all; items are integers in [-5, 5) as float64):\n"
    "  det10     det of 10x10 matrices          counts 10 .. 100000\n"
    "  det100    det of 100x100 matrices        counts 10 .. 10000\n"
    "  slogdet   slogdet of 100x100 matrices    counts 10 .. 1000\n"
    "  autocorr  autocorr2d of 100x100 items    counts 10 .. 2000\n"
    "  fft2      fft2 of 100x100 complex items  counts 10 .. 5000\n"
    "  trivial   out = in + 1 on scalars (the cost of dispatch)\n"
    "                                           counts 10 .. 100000\n"
    "baselines (default: all that are available):\n"
    "  loop      a plain OpenMP loop: LAPACKE_dgetrf per matrix (det,\n"
    "            slogdet), out[i] = in[i] + 1 (trivial)\n"
    "  fftw      one FFTW plan over the batch, fftw_plan_many_dft, 1 thread\n"
    "  python    numpy.linalg.det/slogdet, numpy.fft.fft2,\n"
    "            scipy.signal.correlate2d, scipy.signal.correlate(method=\n"
    "            'fft'), 1 BLAS thread, timed by py_baselines.py on the same\n"
    "            inputs written as .npy\n"
    "\n"
    "options (LIST is comma-separated):\n"
    "  --kernels LIST    cases to run\n"
    "  --backends LIST   parkit backends (default: all compiled in but mpi;\n"
    "                    under mpirun: serial and mpi, and no baselines;\n"
    "                    mpi's W is threads per rank; start it with\n"
    "                    mpirun --bind-to none -np R parkit-bench ...)\n"
    "  --baselines LIST  loop, fftw, python, or none\n"
    "  --workers LIST    worker counts (default 1 .. cores; serial: 1)\n"
    "  --sizes LIST      batch sizes for every case, replacing the sweeps\n"
    "  --max-count N     cap every sweep at N items\n"
    "  --reps N          timed runs per point (default 5)\n"
    "  --quick           sweeps of 10 .. 1000 items, 10x smaller caps, a\n"
    "                    shorter machine measurement and python budget\n"
    "  --csv FILE        write every row to FILE as CSV\n"
    "  --plot DIR        write PNG plots with gnuplot into DIR: time.png\n"
    "                    (time against batch size, log-log) and speedup.png\n"
    "                    (speedup over serial against workers)\n"
    "  --python PATH     the python3 to use (default /usr/bin/python3 if it\n"
    "                    has numpy and scipy, else python3)\n"
    "  --budget S        seconds a python point may take (default 40)\n"
    "  --help            this text\n"
    "\n"
    "py_baselines.py is looked for in $PARKIT_BENCH_PY, next to this\n"
    "program, then in " PKB_DATADIR ".\n"
    "Exits 0; 1 if a call fails or results disagree; 2 on a bad option.\n";

/* ------------------------------------------------------------- cases */

typedef enum { K_DET, K_SLOGDET, K_AUTOCORR, K_FFT2, K_INC } kid;

typedef struct kcase {
  const char *id;
  kid k;
  int n;          /* items are n x n; 0: scalars */
  size_t cap;     /* largest batch of the default sweep */
  const char *py; /* py_baselines.py methods */
} kcase;

static const kcase cases[] = {
    {"det10", K_DET, 10, 100000, "det"},
    {"det100", K_DET, 100, 10000, "det"},
    {"slogdet", K_SLOGDET, 100, 1000, "slogdet"},
    {"autocorr", K_AUTOCORR, 100, 2000, "correlate2d,correlate"},
    {"fft2", K_FFT2, 100, 5000, "fft2"},
    {"trivial", K_INC, 0, 100000, NULL},
};
#define NCASES (sizeof cases / sizeof cases[0])

static const char *const py_names[][2] = {
    {"det", "numpy.linalg.det"},
    {"slogdet", "numpy.linalg.slogdet"},
    {"fft2", "numpy.fft.fft2"},
    {"correlate2d", "scipy correlate2d"},
    {"correlate", "scipy correlate fft"},
};

/* What a case's items are and how its flops and bytes are counted. */
typedef struct shape {
  const pk_kernel *kernel;
  pk_dtype dtype;
  size_t ind, outd;    /* doubles per input, output item */
  double flops, bytes; /* per item */
  char item[32];
  char model[256];     /* the counts, said in words */
} shape;

/* The smallest 2^a 3^b 5^c 7^d >= n: the FFT grid autocorr2d pads to. */
static int fast_size(int n) {
  for (;; n++) {
    int m = n;
    for (int p = 2; p <= 7; p++)
      while (m % p == 0)
        m /= p;
    if (m == 1)
      return n;
  }
}

static void shape_of(const kcase *c, shape *s) {
  double n = c->n, nn = n * n;
  pk_item it = {.dtype = PK_F64, .ndim = 2, .shape = {c->n, c->n}};

  s->dtype = PK_F64;
  s->ind = c->n ? (size_t)nn : 1;
  snprintf(s->item, sizeof s->item, "%dx%d", c->n, c->n);
  switch (c->k) {
  case K_DET:
  case K_SLOGDET:
    s->kernel = c->k == K_DET ? pk_kernel_det() : pk_kernel_slogdet();
    s->outd = c->k == K_DET ? 1 : 2;
    s->flops = pkb_flops_lu(n);
    s->bytes = 8 * (nn + s->outd);
    snprintf(s->model, sizeof s->model,
             "flops 2/3 n^3 = %.0f per matrix (LU); bytes %.0f per matrix "
             "(read it, write the result)", s->flops, s->bytes);
    break;
  case K_AUTOCORR: {
    /* parkit picks direct or FFT by its cost model: count the flops of
     * the method it picks, found by comparing the costs of the tables. */
    const pk_kernel *a = pk_kernel_autocorr2d(PK_AUTOCORR_AUTO);
    const pk_kernel *f = pk_kernel_autocorr2d(PK_AUTOCORR_FFT);
    int H = fast_size(2 * c->n - 1);
    int byfft = a->cost(a, &it) == f->cost(f, &it);
    s->kernel = a;
    s->outd = (size_t)(2 * c->n - 1) * (size_t)(2 * c->n - 1);
    s->bytes = 8 * (nn + (double)s->outd);
    if (byfft) {
      s->flops = pkb_flops_autocorr_fft(H, H);
      snprintf(s->model, sizeof s->model,
               "parkit picks the FFT method: flops 2 x 2.5 N log2 N + 3 "
               "H(W/2+1), N = HW, %dx%d padded grid = %.3g per item, "
               "credited to every method (scipy correlate2d does ~%.2gx "
               "that directly); bytes %.0f per item",
               H, H, s->flops,
               2 * nn * nn / s->flops, s->bytes);
    } else {
      s->flops = pkb_flops_autocorr_direct(n, n);
      snprintf(s->model, sizeof s->model,
               "parkit picks the direct method: flops w^2 h(h+1) = %.3g "
               "per item (half the lags), credited to every method; bytes "
               "%.0f per item", s->flops, s->bytes);
    }
    break;
  }
  case K_FFT2:
    s->kernel = pk_kernel_fft2();
    s->dtype = PK_C128;
    s->ind = s->outd = 2 * (size_t)nn;
    s->flops = pkb_flops_fft(n, n);
    s->bytes = 32 * nn;
    snprintf(s->model, sizeof s->model,
             "complex input; flops 5 N log2 N, N = hw = %.0f: %.3g per "
             "item; bytes %.0f per item (16 in, 16 out per point)", nn,
             s->flops, s->bytes);
    break;
  case K_INC:
    s->kernel = pkb_kernel_inc();
    s->outd = 1;
    s->flops = 0;
    s->bytes = 16;
    snprintf(s->item, sizeof s->item, "scalar");
    snprintf(s->model, sizeof s->model,
             "out[i] = in[i] + 1, parkit with PK_INLINE_NEVER: the time is "
             "the dispatch; no flops; bytes 16 per item");
    break;
  }
}

/* ------------------------------------------------------------ options */

typedef struct options {
  int kase[NCASES];            /* 1: run it */
  const char *backends[16];    /* NULL-terminated; [0] NULL: all */
  int loop, fftw, python;
  int workers[MAXW], nworkers; /* 0: 1 .. cores */
  size_t sizes[32];
  int nsizes;                  /* 0: each case's sweep */
  size_t maxcount;
  int reps, quick;
  double budget;
  const char *csv, *plot, *pyexe;
} options;

static int bad(const char *fmt, ...) {
  va_list ap;
  fputs("parkit-bench: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (--help lists the options)\n", stderr);
  return -1;
}

static int to_long(const char *s, long lo, long hi, long *v) {
  char *end;
  errno = 0;
  *v = strtol(s, &end, 10);
  return errno || end == s || *end || *v < lo || *v > hi ? -1 : 0;
}

/* Split a comma-separated list in place into at most max words. */
static int words(char *s, char **w, int max) {
  int n = 0;
  for (char *t = strtok(s, ","); t; t = strtok(NULL, ","))
    if (n < max)
      w[n++] = t;
    else
      return -1;
  return n;
}

static int under_mpirun(void) {
  const char *v = getenv("OMPI_COMM_WORLD_SIZE");
  if (v == NULL)
    v = getenv("PMI_SIZE");
  return v != NULL && atoi(v) > 1;
}

static int mpi_size(void) {
  const char *v = getenv("OMPI_COMM_WORLD_SIZE");
  if (v == NULL)
    v = getenv("PMI_SIZE");
  return v ? atoi(v) : 1;
}

static int mpi_rank(void) {
  const char *v = getenv("OMPI_COMM_WORLD_RANK");
  if (v == NULL)
    v = getenv("PMI_RANK");
  return v ? atoi(v) : 0;
}

static int compiled(const char *b) {
  for (const char *const *p = pk_backends(); *p; p++)
    if (strcmp(*p, b) == 0)
      return 1;
  return 0;
}

static int opt_list(const char *opt, char *val, options *o) {
  char *w[64];
  int n = words(val, w, 64);
  long v;

  if (n <= 0)
    return bad("%s needs a list", opt);
  if (strcmp(opt, "--kernels") == 0) {
    memset(o->kase, 0, sizeof o->kase);
    for (int i = 0; i < n; i++) {
      size_t k = 0;
      while (k < NCASES && strcmp(cases[k].id, w[i]) != 0)
        k++;
      if (k == NCASES)
        return bad("--kernels: unknown case '%s' (det10, det100, slogdet, "
                   "autocorr, fft2, trivial)", w[i]);
      o->kase[k] = 1;
    }
  } else if (strcmp(opt, "--backends") == 0) {
    if (n > 15)
      return bad("--backends: too many");
    for (int i = 0; i < n; i++) {
      if (strcmp(w[i], "none") == 0) {
        o->backends[0] = "none";
        o->backends[1] = NULL;
        return 0;
      }
      if (!compiled(w[i]))
        return bad("--backends: '%s' is not compiled into this parkit",
                   w[i]);
      if (strcmp(w[i], "mpi") == 0 && !under_mpirun())
        return bad("--backends: mpi needs parkit-bench started by mpirun");
      o->backends[i] = w[i];
    }
    o->backends[n] = NULL;
  } else if (strcmp(opt, "--baselines") == 0) {
    o->loop = o->fftw = o->python = 0;
    for (int i = 0; i < n; i++) {
      if (strcmp(w[i], "loop") == 0)
        o->loop = 1;
      else if (strcmp(w[i], "fftw") == 0)
        o->fftw = 1;
      else if (strcmp(w[i], "python") == 0)
        o->python = 1;
      else if (strcmp(w[i], "none") != 0)
        return bad("--baselines: unknown '%s' (loop, fftw, python, none)",
                   w[i]);
    }
  } else if (strcmp(opt, "--workers") == 0) {
    if (n > MAXW)
      return bad("--workers: at most %d counts", MAXW);
    for (int i = 0; i < n; i++) {
      if (to_long(w[i], 1, 4096, &v))
        return bad("--workers: '%s' is not a count 1 .. 4096", w[i]);
      o->workers[i] = (int)v;
    }
    o->nworkers = n;
  } else { /* --sizes */
    if (n > 32)
      return bad("--sizes: at most 32 sizes");
    for (int i = 0; i < n; i++) {
      if (to_long(w[i], 1, 100000000, &v))
        return bad("--sizes: '%s' is not a count 1 .. 1e8", w[i]);
      o->sizes[i] = (size_t)v;
    }
    o->nsizes = n;
  }
  return 0;
}

static int parse(int argc, char **argv, options *o) {
  for (int i = 1; i < argc; i++) {
    char *a = argv[i], *val = NULL, *eq = strchr(a, '=');
    static const char *const lists[] = {"--kernels", "--backends",
                                        "--baselines", "--workers",
                                        "--sizes"};
    static const char *const valued[] = {"--max-count", "--reps", "--csv",
                                         "--plot", "--python", "--budget"};
    int takes = 0;
    long v;

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      exit(0);
    }
    if (strcmp(a, "--quick") == 0) {
      o->quick = 1;
      continue;
    }
    if (eq && strncmp(a, "--", 2) == 0) {
      *eq = '\0';
      val = eq + 1;
    }
    for (size_t k = 0; k < 5; k++)
      takes |= strcmp(a, lists[k]) == 0;
    for (size_t k = 0; k < 6; k++)
      takes |= 2 * (strcmp(a, valued[k]) == 0);
    if (!takes)
      return bad("%s: unknown option", a);
    if (val == NULL && (val = i + 1 < argc ? argv[++i] : NULL) == NULL)
      return bad("%s needs a value", a);
    if (takes == 1) {
      if (opt_list(a, val, o))
        return -1;
    } else if (strcmp(a, "--max-count") == 0) {
      if (to_long(val, 1, 100000000, &v))
        return bad("--max-count: '%s' is not a count 1 .. 1e8", val);
      o->maxcount = (size_t)v;
    } else if (strcmp(a, "--reps") == 0) {
      if (to_long(val, 1, MAXREPS, &v))
        return bad("--reps: '%s' is not 1 .. %d", val, MAXREPS);
      o->reps = (int)v;
    } else if (strcmp(a, "--budget") == 0) {
      char *end;
      o->budget = strtod(val, &end);
      if (*end || end == val || !(o->budget > 0))
        return bad("--budget: '%s' is not a positive number", val);
    } else if (strcmp(a, "--csv") == 0) {
      o->csv = val;
    } else if (strcmp(a, "--plot") == 0) {
      o->plot = val;
    } else {
      o->pyexe = val;
    }
  }
  return 0;
}

/* The batch sizes of case c: --sizes, or 10, 100, ... up to its cap (and
 * the cap itself), a tenth of it with --quick, never above --max-count. */
static int sweep(const options *o, const kcase *c, size_t *s) {
  size_t cap = c->cap / (o->quick ? 10 : 1);
  int n = 0;

  if (o->quick && cap > 1000)
    cap = 1000;
  if (o->maxcount && cap > o->maxcount)
    cap = o->maxcount;
  if (o->nsizes) {
    for (int i = 0; i < o->nsizes; i++)
      if (!o->maxcount || o->sizes[i] <= o->maxcount)
        s[n++] = o->sizes[i];
    return n;
  }
  for (size_t x = 10; x <= cap; x *= 10)
    s[n++] = x;
  if (n == 0 || s[n - 1] != cap)
    s[n++] = cap;
  return n;
}

/* ------------------------------------------------------------ methods */

typedef enum { M_PARKIT, M_LOOP, M_FFTW } mkind;

typedef struct method {
  mkind kind;
  char name[32];
  int workers;
  pk_context *ctx;
  int copy; /* 1: the input goes into an array the backend made */
} method;

/* One row of the tables, owning its method's name. */
typedef struct rec {
  pkb_row r;
  char method[40], item[32];
  size_t kc; /* index into cases */
} rec;

static struct {
  rec *v;
  size_t n, cap;
} rows;

static rec *add_row(void) {
  if (rows.n == rows.cap) {
    size_t c = rows.cap ? 2 * rows.cap : 256;
    rec *v = realloc(rows.v, c * sizeof *v);
    if (v == NULL)
      return NULL;
    rows.v = v;
    rows.cap = c;
  }
  memset(&rows.v[rows.n], 0, sizeof rows.v[0]);
  rows.v[rows.n].r.ran_inline = -1;
  return &rows.v[rows.n++];
}

static double lim_dgemm[MAXW + 1], lim_triad[MAXW + 1];
static int quiet;    /* an MPI rank other than 0 */
static int failed;   /* a call failed or results disagreed */

static int limit_w(int w) { return w < 1 ? 1 : w > MAXW ? MAXW : w; }

/* ----------------------------------------------------------- progress */

static int progress_on;
static size_t step, steps;

static void progress(const char *fmt, ...) {
  static double t0;
  va_list ap;

  if (!progress_on)
    return;
  if (t0 == 0)
    t0 = pkb_now();
  fprintf(stderr, "\r\033[K[%4.0f s", pkb_now() - t0);
  if (steps)
    fprintf(stderr, ", %zu/%zu", step, steps);
  fputs("] ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

static void progress_end(void) {
  fflush(stdout); /* the table first, when both go to one terminal */
  if (progress_on)
    fputs("\r\033[K", stderr);
}

/* ------------------------------------------------------------- inputs */

/* ------------------------------------------------------------ running */

/* n doubles on a 64-byte boundary, as FFTW and numpy allocate: the SIMD
 * paths FFTW plans for depend on it. */
static double *aligned(size_t n) {
  void *p;
  return posix_memalign(&p, 64, n * sizeof(double) + 64) ? NULL : p;
}

static int pk_fail(pk_context *ctx, const char *what, pk_status st) {
  progress_end();
  fprintf(stderr, "parkit-bench: %s: %s\n", what,
          ctx && pk_errmsg(ctx)[0] ? pk_errmsg(ctx) : pk_strerror(st));
  failed = 1;
  return -1;
}

/* Compare the first items of out with the reference, or make it. */
static void check(const char *what, const double *out, size_t n,
                  double *ref, int *have) {
  size_t bad = 0;

  if (!*have) {
    memcpy(ref, out, n * sizeof *ref);
    *have = 1;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    double s = fmax(1, fmax(fabs(out[i]), fabs(ref[i])));
    if (!(fabs(out[i] - ref[i]) <= TOL * s) &&
        !(isinf(out[i]) && out[i] == ref[i]) && bad++ < 2) {
      progress_end();
      fprintf(stderr, "parkit-bench: WARNING: %s: element %zu is %.17g, "
              "the first method gave %.17g\n", what, i, out[i], ref[i]);
    }
  }
  if (bad)
    failed = 1;
}

typedef struct point {
  const kcase *c;
  const shape *s;
  const double *x; /* the case's inputs; a prefix of count items */
  size_t count;
  int reps;
  double *ref;     /* NREF items of output from the first method */
  int have_ref;
} point;

/* Times of one parkit method at one point into t[0 .. reps); *inl and
 * *est from the statistics of the last run. */
static int run_parkit(method *m, point *p, double *t, int *inl,
                      double *est) {
  size_t shp[3] = {p->count, (size_t)p->c->n, (size_t)p->c->n};
  int ndim = p->c->n ? 3 : 1;
  /* The trivial case measures the dispatch: never let the cost model run
   * it inline.  The others run as a program would, with the defaults. */
  pk_map_opts mo = {.inlining = p->c->k == K_INC ? PK_INLINE_NEVER
                                                 : PK_INLINE_AUTO};
  pk_array *in = NULL, *out = NULL;
  pk_status st;
  int rc = -1;
  char what[96];

  snprintf(what, sizeof what, "%s %s/%d count %zu", p->c->id, m->name,
           m->workers, p->count);
  if (m->copy) {
    st = pk_array_create(m->ctx, p->s->dtype, ndim, shp, &in);
    if (st == PK_OK)
      memcpy(pk_array_data(in), p->x, pk_array_nbytes(in));
  } else {
    st = pk_array_wrap(m->ctx, p->s->dtype, ndim, shp, (void *)p->x, &in);
  }
  if (st != PK_OK) {
    pk_fail(m->ctx, "pk_array_create", st);
    goto done;
  }
  for (int k = -1; k < p->reps; k++) {
    double t0 = pkb_now();
    st = pk_map(m->ctx, p->s->kernel, in, &out, &mo);
    if (st != PK_OK) {
      pk_fail(m->ctx, what, st);
      goto done;
    }
    if (k >= 0)
      t[k] = pkb_now() - t0;
  }
  *inl = pk_last_stats(m->ctx)->ran_inline;
  *est = pk_last_stats(m->ctx)->est_seconds;
  check(what, pk_array_data(out),
        (p->count < NREF ? p->count : NREF) * p->s->outd, p->ref,
        &p->have_ref);
  rc = 0;
done:
  pk_array_destroy(&out);
  pk_array_destroy(&in);
  return rc;
}

/* Times of one baseline written in C. */
static int run_c(method *m, point *p, double *t) {
  size_t nout = p->count * p->s->outd;
  double *out = aligned(nout);
  pkb_fftw *plan = NULL;
  int rc = 0, blas = openblas_get_num_threads();
  char what[96];

  snprintf(what, sizeof what, "%s %s/%d count %zu", p->c->id, m->name,
           m->workers, p->count);
  if (out == NULL || (m->kind == M_FFTW &&
                      (plan = pkb_fftw_plan(p->c->n, p->c->n, p->count, p->x,
                                            out)) == NULL)) {
    progress_end();
    fprintf(stderr, "parkit-bench: %s: out of memory or no FFTW plan\n",
            what);
    failed = 1;
    free(out);
    return -1;
  }
  /* What a careful user does: no OpenBLAS threads inside OpenMP threads;
   * set outside the timed runs, as a program sets it once. */
  openblas_set_num_threads(1);
  for (int k = -1; k < p->reps && rc == 0; k++) {
    double t0 = pkb_now();
    if (m->kind == M_FFTW)
      pkb_fftw_run(plan);
    else if (p->c->k == K_INC)
      pkb_inc_loop(p->x, out, p->count, m->workers);
    else
      rc = pkb_lu_loop(p->x, p->count, p->c->n, m->workers,
                       p->c->k == K_SLOGDET, out);
    if (k >= 0)
      t[k] = pkb_now() - t0;
  }
  openblas_set_num_threads(blas);
  if (rc == 0)
    check(what, out, (p->count < NREF ? p->count : NREF) * p->s->outd,
          p->ref, &p->have_ref);
  else {
    progress_end();
    fprintf(stderr, "parkit-bench: %s: out of memory or dgetrf failed\n",
            what);
    failed = 1;
  }
  pkb_fftw_destroy(&plan);
  free(out);
  return rc;
}

/* lw: the threads the machine's limits are taken on (all the ranks'). */
static void fill_row(rec *e, size_t kc, const shape *s, const char *method,
                     const char *kind, int workers, int lw, size_t count,
                     const double *t, int reps) {
  pkb_stats st = pkb_summary(t, reps);

  e->kc = kc;
  snprintf(e->method, sizeof e->method, "%s", method);
  e->r.kcase = cases[kc].id;
  e->r.kernel = s->kernel->name;
  snprintf(e->item, sizeof e->item, "%s", s->item);
  e->r.item = e->item;
  e->r.kind = kind;
  e->r.workers = workers;
  e->r.count = count;
  e->r.reps = reps;
  e->r.med = st.med;
  e->r.min = st.min;
  e->r.max = st.max;
  e->r.flops = s->flops;
  e->r.bytes = s->bytes;
  e->r.dgemm = lim_dgemm[limit_w(lw)];
  e->r.triad = lim_triad[limit_w(lw)];
}

/* --------------------------------------------------------------- python */

static char pyexe[PATH_MAX], pyscript[PATH_MAX];
static char tmpdir[PATH_MAX];

static int runs_ok(const char *cmd) { return system(cmd) == 0; }

/* The interpreter with numpy and scipy, and the script; 0 if found. */
static int find_python(const options *o) {
  static const char *const tries[] = {"/usr/bin/python3", "python3"};
  char cmd[PATH_MAX + 96], exe[PATH_MAX];
  const char *env = getenv("PARKIT_BENCH_PY");
  ssize_t len;

  for (size_t i = 0; i < 2 && !pyexe[0]; i++) {
    const char *p = o->pyexe ? o->pyexe : tries[i];
    snprintf(cmd, sizeof cmd,
             "'%s' -c 'import numpy, scipy.signal' >/dev/null 2>&1", p);
    if (runs_ok(cmd))
      snprintf(pyexe, sizeof pyexe, "%s", p);
    if (o->pyexe)
      break;
  }
  if (!pyexe[0]) {
    fprintf(stderr, "parkit-bench: no python3 with numpy and scipy (%s): "
            "no python baselines\n", o->pyexe ? o->pyexe
                                               : "tried /usr/bin/python3, "
                                                 "python3");
    return -1;
  }
  if (env && access(env, R_OK) == 0) {
    snprintf(pyscript, sizeof pyscript, "%s", env);
    return 0;
  }
  /* Next to the program: the build tree, or a copy installed beside it. */
  if ((len = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
    char *slash;
    exe[len] = '\0';
    if ((slash = strrchr(exe, '/')) != NULL) {
      *slash = '\0';
      size_t n = strlen(exe);
      if (n + sizeof "/py_baselines.py" <= sizeof pyscript) {
        memcpy(pyscript, exe, n);
        memcpy(pyscript + n, "/py_baselines.py", sizeof "/py_baselines.py");
        if (access(pyscript, R_OK) == 0)
          return 0;
      }
    }
  }
  snprintf(pyscript, sizeof pyscript, "%s/py_baselines.py", PKB_DATADIR);
  if (access(pyscript, R_OK) == 0)
    return 0;
  fprintf(stderr, "parkit-bench: py_baselines.py not found (set "
          "PARKIT_BENCH_PY): no python baselines\n");
  pyexe[0] = '\0';
  return -1;
}

static const char *py_label(const char *m) {
  for (size_t i = 0; i < sizeof py_names / sizeof py_names[0]; i++)
    if (strcmp(py_names[i][0], m) == 0)
      return py_names[i][1];
  return m;
}

/*
 * The python baselines of case kc on the inputs x (the largest batch),
 * written as .npy through parkit (ctx), one interpreter for the whole
 * sweep.  One BLAS thread: numpy stands beside the serial backend.
 */
static void run_python(const options *o, pk_context *ctx, size_t kc,
                       const shape *s, const double *x, const size_t *sz,
                       int nsz) {
  const kcase *c = &cases[kc];
  size_t shp[3] = {sz[nsz - 1], (size_t)c->n, (size_t)c->n};
  char path[PATH_MAX], cmd[4 * PATH_MAX], list[512] = "", line[512];
  char py[64];
  pk_array *a = NULL;
  pk_status st;
  FILE *f;
  size_t len = 0;

  for (int i = 0; i < nsz; i++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%zu",
                            i ? "," : "", sz[i]);
  snprintf(path, sizeof path, "%s/%s.npy", tmpdir, c->id);
  st = pk_array_wrap(ctx, s->dtype, 3, shp, (void *)x, &a);
  if (st == PK_OK)
    st = pk_array_save_npy(ctx, a, path);
  pk_array_destroy(&a);
  if (st != PK_OK) {
    pk_fail(ctx, path, st);
    return;
  }
  len = (size_t)snprintf(cmd, sizeof cmd,
                         "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "
                         "MKL_NUM_THREADS=1 '%s' '%s' --reps %d --budget %g",
                         pyexe, pyscript, o->reps, o->budget);
  snprintf(py, sizeof py, "%s", c->py);
  for (char *m = strtok(py, ","); m; m = strtok(NULL, ","))
    len += (size_t)snprintf(cmd + len, sizeof cmd - len, " %s:'%s':%s", m,
                            path, list);
  progress("%s: python baselines (%s)", c->id, c->py);
  if ((f = popen(cmd, "r")) == NULL) {
    fprintf(stderr, "parkit-bench: cannot run %s\n", pyexe);
    return;
  }
  while (fgets(line, sizeof line, f)) {
    char m[32];
    size_t n;
    int reps;
    double t[3];
    rec *e;
    if (sscanf(line, "time %31s %zu %d %lf %lf %lf", m, &n, &reps, &t[0],
               &t[1], &t[2]) == 6) {
      if ((e = add_row()) == NULL)
        break;
      fill_row(e, kc, s, py_label(m), "baseline", 1, 1, n, t, 1);
      e->r.reps = reps;
      e->r.med = t[0], e->r.min = t[1], e->r.max = t[2];
    } else if (strncmp(line, "skip ", 5) == 0) {
      progress_end();
      fprintf(stderr, "parkit-bench: python: %s", line);
    }
  }
  if (pclose(f) != 0) {
    progress_end();
    fprintf(stderr, "parkit-bench: %s %s failed\n", pyexe, pyscript);
  }
  remove(path);
}

/* ---------------------------------------------------------------- table */

/* est s: parkit's estimate of the map on one core; est/1c: that over the
 * serial backend's median at this count, the measured single-core time. */
static void table_header(void) {
  printf("%8s %-22s %3s %10s %10s %10s %10s %7s %8s %6s %7s %6s %10s %6s "
         "%s\n", "count", "method", "W", "median s", "min s", "max s",
         "items/s", "speedup", "GFLOP/s", "dgemm%", "GB/s", "triad%",
         "est s", "est/1c", "");
}

static void print_row(const rec *e) {
  pkb_derived d = pkb_derive(&e->r);
  char sp[16] = "", gf[16] = "", fd[16] = "", es[16] = "", er[16] = "";

  if (d.speedup > 0)
    snprintf(sp, sizeof sp, "%.3g", d.speedup);
  if (e->r.flops > 0) {
    snprintf(gf, sizeof gf, "%.2f", d.gflops);
    snprintf(fd, sizeof fd, "%.1f", 100 * d.frac_dgemm);
  }
  if (e->r.est > 0 && isfinite(e->r.est))
    snprintf(es, sizeof es, "%.3g", e->r.est);
  if (d.est_ratio > 0 && isfinite(d.est_ratio))
    snprintf(er, sizeof er, "%.2f", d.est_ratio);
  printf("%8zu %-22s %3d %10.3g %10.3g %10.3g %10.3g %7s %8s %6s %7.2f "
         "%6.1f %10s %6s %s\n", e->r.count, e->method, e->r.workers,
         e->r.med, e->r.min, e->r.max, d.items_s, sp, gf, fd, d.gbs,
         100 * d.frac_triad, es, er, e->r.ran_inline == 1 ? "inline" : "");
}

/* Fill in the speedups over serial of the rows of case kc. */
static void speedups(size_t kc) {
  for (size_t i = 0; i < rows.n; i++) {
    rec *e = &rows.v[i];
    if (e->kc != kc)
      continue;
    e->r.method = e->method;
    for (size_t j = 0; j < rows.n; j++)
      if (rows.v[j].kc == kc && rows.v[j].r.count == e->r.count &&
          strcmp(rows.v[j].method, "serial") == 0)
        e->r.serial = rows.v[j].r.med;
  }
}

/* -------------------------------------------------------------- plots */

/* The series of the time plot: each backend at its most workers, and
 * each baseline at its most threads. */
static int top_series(size_t kc, const rec *e) {
  if (e->kc != kc)
    return 0;
  for (size_t j = 0; j < rows.n; j++)
    if (rows.v[j].kc == kc && strcmp(rows.v[j].method, e->method) == 0 &&
        rows.v[j].r.workers > e->r.workers)
      return 0;
  return 1;
}

static int plots(const options *o, const char *machine) {
  char path[PATH_MAX], cmd[PATH_MAX + 64];
  FILE *gp, *d;
  size_t nk = 0;
  int have;

  if (mkdir(o->plot, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "parkit-bench: %s: %s\n", o->plot, strerror(errno));
    return -1;
  }
  for (size_t kc = 0; kc < NCASES; kc++)
    for (size_t i = 0; i < rows.n; i++)
      if (rows.v[i].kc == kc) {
        nk++;
        break;
      }
  snprintf(path, sizeof path, "%s/plots.gp", o->plot);
  if ((gp = fopen(path, "w")) == NULL) {
    fprintf(stderr, "parkit-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  fprintf(gp, "# made by parkit-bench; run: gnuplot %s\n", path);
  fprintf(gp, "set terminal pngcairo size 1800,%d font ',11' noenhanced\n",
          nk > 3 ? 1100 : 600);
  fprintf(gp, "set key top left font ',9' samplen 2\nset grid\n");

  /* time against the batch size */
  fprintf(gp, "set output '%s/time.png'\n", o->plot);
  fprintf(gp, "set multiplot layout %d,3 title 'parkit-bench: median time "
          "(bars: min..max) against batch size -- %s'\n",
          nk > 3 ? 2 : 1, machine);
  fprintf(gp, "set logscale xy\nset format x '%%.0e'\nset format y "
          "'%%.0e'\nset xlabel 'items'\nset ylabel 'seconds'\n");
  for (size_t kc = 0; kc < NCASES; kc++) {
    const char *sep = "plot ";
    have = 0;
    snprintf(path, sizeof path, "%s/time-%s.dat", o->plot, cases[kc].id);
    if ((d = fopen(path, "w")) == NULL)
      continue;
    for (size_t i = 0, idx = 0; i < rows.n; i++) {
      const rec *e = &rows.v[i];
      int first = 1;
      if (!top_series(kc, e))
        continue;
      /* each method once, as one data block */
      for (size_t j = 0; j < i; j++)
        if (rows.v[j].kc == kc && strcmp(rows.v[j].method, e->method) == 0 &&
            rows.v[j].r.workers == e->r.workers)
          first = 0;
      if (!first)
        continue;
      fprintf(d, "# %s/%d\n", e->method, e->r.workers);
      for (size_t j = 0; j < rows.n; j++) {
        const rec *f = &rows.v[j];
        if (f->kc == kc && strcmp(f->method, e->method) == 0 &&
            f->r.workers == e->r.workers)
          fprintf(d, "%zu %.6g %.6g %.6g\n", f->r.count, f->r.med, f->r.min,
                  f->r.max);
      }
      fprintf(d, "\n\n");
      if (!have)
        fprintf(gp, "set title '%s (%s)'\n", cases[kc].id,
                e->r.kernel);
      fprintf(gp, "%s'%s' index %zu using 1:2:3:4 with yerrorlines lw 2 "
              "title '%s/%d'", sep, path, idx++, e->method, e->r.workers);
      sep = ", \\\n  ";
      have = 1;
    }
    fclose(d);
    if (have)
      fprintf(gp, "\n");
  }
  fprintf(gp, "unset multiplot\n");

  /* speedup against workers, at each case's largest batch */
  fprintf(gp, "set output '%s/speedup.png'\n", o->plot);
  fprintf(gp, "set multiplot layout %d,3 title 'parkit-bench: speedup over "
          "the serial backend against workers, largest batch -- %s'\n",
          nk > 3 ? 2 : 1, machine);
  fprintf(gp, "unset logscale\nset format x '%%g'\nset format y '%%g'\n"
          "set xlabel 'workers'\nset ylabel 'speedup'\nset xtics 1\n"
          "set yrange [0:*]\nset xrange [0.5:*]\n");
  for (size_t kc = 0; kc < NCASES; kc++) {
    size_t top = 0;
    const char *sep = "plot x title 'ideal' dt 2 lc 'gray', ";
    have = 0;
    for (size_t i = 0; i < rows.n; i++)
      if (rows.v[i].kc == kc && rows.v[i].r.count > top &&
          rows.v[i].r.serial > 0)
        top = rows.v[i].r.count;
    snprintf(path, sizeof path, "%s/speedup-%s.dat", o->plot, cases[kc].id);
    if (top == 0 || (d = fopen(path, "w")) == NULL)
      continue;
    for (size_t i = 0, idx = 0; i < rows.n; i++) {
      const rec *e = &rows.v[i];
      int first = 1;
      if (e->kc != kc || e->r.count != top || e->r.serial <= 0)
        continue;
      for (size_t j = 0; j < i; j++)
        if (rows.v[j].kc == kc && rows.v[j].r.count == top &&
            strcmp(rows.v[j].method, e->method) == 0)
          first = 0;
      if (!first)
        continue;
      fprintf(d, "# %s\n", e->method);
      for (size_t j = 0; j < rows.n; j++) {
        const rec *f = &rows.v[j];
        if (f->kc == kc && f->r.count == top &&
            strcmp(f->method, e->method) == 0)
          fprintf(d, "%d %.6g\n", f->r.workers, pkb_derive(&f->r).speedup);
      }
      fprintf(d, "\n\n");
      if (!have)
        fprintf(gp, "set title '%s, %zu items'\n", cases[kc].id, top);
      fprintf(gp, "%s'%s' index %zu using 1:2 with linespoints lw 2 pt 7 "
              "title '%s'", sep, path, idx++, e->method);
      sep = ", \\\n  ";
      have = 1;
    }
    fclose(d);
    if (have)
      fprintf(gp, "\n");
  }
  fprintf(gp, "unset multiplot\n");
  fclose(gp);

  if (!runs_ok("command -v gnuplot >/dev/null 2>&1")) {
    fprintf(stderr, "parkit-bench: gnuplot is not installed (command -v "
            "gnuplot found nothing): no PNG made.  The data and the script "
            "are in %s; install gnuplot (e.g. apt-get install gnuplot-nox) "
            "and run: gnuplot %s/plots.gp\n", o->plot, o->plot);
    return 0;
  }
  snprintf(cmd, sizeof cmd, "gnuplot '%s/plots.gp'", o->plot);
  if (!runs_ok(cmd)) {
    fprintf(stderr, "parkit-bench: gnuplot %s/plots.gp failed\n", o->plot);
    return -1;
  }
  fprintf(stderr, "parkit-bench: plots: %s/time.png %s/speedup.png\n",
          o->plot, o->plot);
  return 0;
}

/* --------------------------------------------------------------- main */

/* Every (backend, workers) context, made once and kept for the whole
 * sweep: pools start once, as a program that maps many times has them. */
static int make_contexts(const options *o, const int *wl, int nw,
                         method *m, int max) {
  /* Under mpirun the other ranks wait, polling, while rank 0 times a
   * backend of its own: by default only serial (for the speedups) runs
   * beside mpi there. */
  static const char *const under[] = {"serial", "mpi", NULL};
  const char *const *bl = o->backends[0]   ? o->backends
                          : under_mpirun() ? under
                                           : pk_backends();
  int n = 0;

  if (o->backends[0] && strcmp(o->backends[0], "none") == 0)
    return 0;
  for (; *bl; bl++) {
    int serial = strcmp(*bl, "serial") == 0, mpi = strcmp(*bl, "mpi") == 0;
    if (mpi && !under_mpirun())
      continue;
    if (quiet && !mpi)
      continue;
    for (int i = 0; i < nw && n < max; i++) {
      pk_config cfg = {.backend = *bl, .workers = wl[i]};
      method *x = &m[n];
      pk_status st;
      if (serial && wl[i] != 1)
        continue;
      memset(x, 0, sizeof *x);
      x->kind = M_PARKIT;
      x->workers = wl[i];
      /* serial and openmp read the user's memory where it is; the others
       * get the inputs in memory they made (shared, for fork), as a
       * program that loads its data into parkit's arrays does. */
      x->copy = !serial && strcmp(*bl, "openmp") != 0;
      snprintf(x->name, sizeof x->name, "%s", *bl);
      if (mpi) /* W is then threads per rank */
        snprintf(x->name, sizeof x->name, "mpi(%d ranks)", mpi_size());
      if ((st = pk_init_config(&x->ctx, NULL, NULL, &cfg)) != PK_OK) {
        fprintf(stderr, "parkit-bench: pk_init %s/%d: %s: skipped\n", *bl,
                wl[i], pk_strerror(st));
        continue;
      }
      x->workers = pk_workers(x->ctx);
      if (mpi) {
        /* The backend caps threads per rank at the rank's cores: keep one
         * context per count it gives (every rank decides alike). */
        int dup = 0;
        for (int j = 0; j < n; j++)
          dup |= m[j].ctx && strcmp(m[j].name, x->name) == 0 &&
                 m[j].workers == x->workers;
        if (dup) {
          pk_finalize(&x->ctx);
          continue;
        }
      }
      n++;
    }
  }
  return n;
}

static void print_case_header(const kcase *c, const shape *s) {
  printf("\n== %s: %s on %s items (%s)\n   %s\n", c->id, s->kernel->name,
         s->item, s->dtype == PK_C128 ? "complex128" : "float64", s->model);
  table_header();
}

/* Every point of case kc: the parkit contexts, then the C baselines, then
 * python; rows printed when the case is done (speedups need serial). */
static int run_case(const options *o, size_t kc, method *ms, int nm,
                    pk_context *any) {
  const kcase *c = &cases[kc];
  size_t sz[40], first = rows.n;
  int nsz = sweep(o, c, sz), rc = 0;
  shape s;
  double *x, *t = malloc(MAXREPS * sizeof *t);
  size_t maxc = 0;

  shape_of(c, &s);
  for (int i = 0; i < nsz; i++)
    maxc = sz[i] > maxc ? sz[i] : maxc;
  x = aligned(maxc * s.ind);
  if (x == NULL || t == NULL) {
    fprintf(stderr, "parkit-bench: %s: out of memory for %zu items\n",
            c->id, maxc);
    free(x);
    free(t);
    failed = 1;
    return -1;
  }
  pkb_fill_ints(x, maxc * s.ind, 1 + kc);
  for (int i = 0; i < nsz && rc == 0; i++) {
    point p = {.c = c, .s = &s, .x = x, .count = sz[i], .reps = o->reps};
    p.ref = malloc(NREF * s.outd * sizeof *p.ref);
    for (int j = 0; j < nm && p.ref; j++) {
      method *m = &ms[j];
      int inl = -1, r;
      double est = 0;
      rec *e;
      if (m->kind == M_LOOP && c->k != K_DET && c->k != K_SLOGDET &&
          c->k != K_INC)
        continue;
      if (m->kind == M_FFTW && c->k != K_FFT2)
        continue;
      step++;
      progress("%s count %zu: %s/%d", c->id, sz[i], m->name, m->workers);
      r = m->kind == M_PARKIT ? run_parkit(m, &p, t, &inl, &est)
                              : run_c(m, &p, t);
      if (r != 0)
        continue; /* said why; the other methods still run */
      if (quiet || (e = add_row()) == NULL)
        continue;
      fill_row(e, kc, &s, m->name,
               m->kind == M_PARKIT ? "parkit" : "baseline", m->workers,
               m->workers * (strncmp(m->name, "mpi(", 4) ? 1 : mpi_size()),
               sz[i], t, o->reps);
      e->r.ran_inline = inl;
      e->r.est = est;
    }
    if (p.ref == NULL)
      rc = -1;
    free(p.ref);
  }
  if (!quiet && o->python && pyexe[0] && c->py) {
    step++;
    run_python(o, any, kc, &s, x, sz, nsz);
  }
  free(x);
  free(t);
  if (quiet)
    return rc;
  speedups(kc);
  progress_end();
  print_case_header(c, &s);
  for (size_t i = first; i < rows.n; i++)
    print_row(&rows.v[i]);
  fflush(stdout);
  return rc;
}

/* Each method at its largest batch of each case (python's may stop short
 * on its time budget): the table to read first. */
static void summary(void) {
  printf("\n== summary: each method at its largest batch (W: workers; "
         "speedup over the serial backend)\n");
  printf("%-9s ", "case");
  table_header();
  for (size_t i = 0; i < rows.n; i++) {
    const rec *e = &rows.v[i];
    int top = 1;
    for (size_t j = 0; j < rows.n; j++)
      if (rows.v[j].kc == e->kc && rows.v[j].r.workers == e->r.workers &&
          strcmp(rows.v[j].method, e->method) == 0 &&
          rows.v[j].r.count > e->r.count)
        top = 0;
    if (top) {
      printf("%-9s ", cases[e->kc].id);
      print_row(e);
    }
  }
}

int main(int argc, char **argv) {
  options o = {.loop = 1, .fftw = 1, .python = 1, .reps = 5, .budget = 40};

  if (under_mpirun()) /* baselines too would time with the ranks polling */
    o.loop = o.fftw = o.python = 0;
  method ms[2 * MAXW + 8];
  int wl[MAXW], nw, nm, nctx, cores = pkb_cores(), dn = 2000, dreps = 5,
                                      treps = 7;
  char mach[512];
  FILE *csv = NULL;
  pk_context *any;

  for (size_t k = 0; k < NCASES; k++)
    o.kase[k] = 1;
  if (parse(argc, argv, &o) != 0)
    return 2;
  if (o.quick) {
    dn = 1000, dreps = 3, treps = 3;
    if (o.budget == 40)
      o.budget = 5;
  }
  quiet = under_mpirun() && mpi_rank() > 0;
  progress_on = !quiet && isatty(STDERR_FILENO);
  nw = o.nworkers;
  if (nw == 0)
    for (nw = 0; nw < cores && nw < MAXW; nw++)
      wl[nw] = nw + 1;
  else
    memcpy(wl, o.workers, (size_t)nw * sizeof *wl);
  if (o.csv && !quiet && (csv = fopen(o.csv, "w")) == NULL) {
    fprintf(stderr, "parkit-bench: %s: %s\n", o.csv, strerror(errno));
    return 1;
  }

  pkb_machine(mach, sizeof mach);
  if (!quiet) {
    printf("machine: %s\n", mach);
    printf("openblas: %s\n", pkb_blas_config());
    printf("parkit %d.%d.%d, backends:", PK_VERSION_MAJOR, PK_VERSION_MINOR,
           PK_VERSION_PATCH);
    for (const char *const *b = pk_backends(); *b; b++)
      printf(" %s", *b);
    printf("; workers:");
    for (int i = 0; i < nw; i++)
      printf("%s%d", i ? "," : " ", wl[i]);
    printf("; %d timed runs per point after a warm-up%s\n", o.reps,
           o.quick ? " (--quick)" : "");
    /* The limits for each worker count the rows use, from this run. */
    for (int i = 0; i <= 2 * nw; i++) {
      int w = limit_w(i == 2 * nw ? 1 : i < nw ? wl[i]
                                   : wl[i - nw] * mpi_size());
      if (lim_dgemm[w] > 0)
        continue;
      progress("measuring the machine: dgemm and triad on %d thread%s", w,
               w > 1 ? "s" : "");
      lim_dgemm[w] = pkb_dgemm_gflops(w, dn, dreps);
      lim_triad[w] = pkb_triad_gbs(w, 0, treps);
      progress_end();
      printf("limits on %2d thread%s: dgemm %dx%d %.1f GFLOP/s (median of "
             "%d), triad a=b+s*c 3 x %zu MB %.1f GB/s (median of %d)\n", w,
             w > 1 ? "s" : " ", dn, dn, lim_dgemm[w], dreps,
             pkb_triad_bytes() >> 20, lim_triad[w], treps);
    }
    printf("dgemm%%, triad%%: of the limit on as many threads as the row "
           "has workers; GB/s: the bytes the case's model says an item "
           "moves, per second; python: 1 BLAS thread\n");
  }

  nm = nctx = make_contexts(&o, wl, nw, ms, MAXW + 4);
  for (int i = 0; i < nw && o.loop && !quiet; i++) {
    ms[nm] = (method){.kind = M_LOOP, .workers = wl[i]};
    snprintf(ms[nm++].name, sizeof ms[0].name, "omp loop");
  }
  if (o.fftw && !quiet) {
    ms[nm] = (method){.kind = M_FFTW, .workers = 1};
    snprintf(ms[nm++].name, sizeof ms[0].name, "fftw plan_many");
  }
  /* Any context can write the .npy files for python. */
  any = nctx ? ms[0].ctx : NULL;
  if (o.python && !quiet && find_python(&o) == 0) {
    const char *td = getenv("TMPDIR");
    pk_config cfg = {.backend = "serial", .workers = 1};
    snprintf(tmpdir, sizeof tmpdir, "%s/parkit-bench-XXXXXX",
             td && *td ? td : "/tmp");
    if (any == NULL && pk_init_config(&any, NULL, NULL, &cfg) != PK_OK)
      any = NULL;
    if (any == NULL || mkdtemp(tmpdir) == NULL) {
      fprintf(stderr, "parkit-bench: no directory for the .npy files "
              "(%s): no python baselines\n", tmpdir);
      pyexe[0] = tmpdir[0] = '\0';
    } else {
      printf("python baselines: %s %s\n", pyexe, pyscript);
    }
  }

  /* Progress steps: a point per method and size, one per python run. */
  for (size_t kc = 0; kc < NCASES; kc++) {
    size_t sz[40];
    int nsz;
    if (!o.kase[kc])
      continue;
    nsz = sweep(&o, &cases[kc], sz);
    for (int j = 0; j < nm; j++)
      if (ms[j].kind == M_PARKIT ||
          (ms[j].kind == M_LOOP && cases[kc].k != K_AUTOCORR &&
           cases[kc].k != K_FFT2) ||
          (ms[j].kind == M_FFTW && cases[kc].k == K_FFT2))
        steps += (size_t)nsz;
    steps += pyexe[0] && cases[kc].py;
  }

  for (size_t kc = 0; kc < NCASES; kc++)
    if (o.kase[kc])
      run_case(&o, kc, ms, nm, any);
  progress_end();

  if (!quiet) {
    summary();
    if (csv) {
      pkb_csv_header(csv);
      for (int i = 1; i <= MAXW; i++)
        if (lim_dgemm[i] > 0) {
          pkb_row r = {.kcase = "machine", .method = "dgemm+triad",
                       .kind = "machine", .workers = i, .reps = dreps,
                       .dgemm = lim_dgemm[i], .triad = lim_triad[i],
                       .ran_inline = -1};
          pkb_csv_row(csv, &r);
        }
      for (size_t i = 0; i < rows.n; i++) {
        rows.v[i].r.method = rows.v[i].method;
        pkb_csv_row(csv, &rows.v[i].r);
      }
      if (fclose(csv) != 0) {
        fprintf(stderr, "parkit-bench: %s: write failed\n", o.csv);
        failed = 1;
      }
    }
    if (o.plot && plots(&o, mach) != 0)
      failed = 1;
  }
  if (tmpdir[0])
    rmdir(tmpdir);
  if (any && (nctx == 0 || any != ms[0].ctx))
    pk_finalize(&any);
  for (int i = nctx - 1; i >= 0; i--)
    pk_finalize(&ms[i].ctx);
  free(rows.v);
  return failed ? 1 : 0;
}
