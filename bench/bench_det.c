/*
 * bench_det: parkit's det kernel on batches of small and medium matrices,
 * against the plain OpenMP loop over LAPACKE_dgetrf a user would write, and
 * against the machine's own limits (dgemm rate, triad bandwidth).
 *
 *   bench_det [--reps N] [--quick] [--csv FILE] [--help]
 */
#include "baselines.h"
#include "machine.h"

#include <parkit.h>
#include <parkit/kernels.h>

#include <cblas.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXREPS 1000
#define TOL 1e-9

static const char usage[] =
    "usage: bench_det [options]\n"
    "Times parkit's det kernel (pk_map) on every instruction-set path this\n"
    "CPU runs (generic, avx2, avx512), against the plain OpenMP loop over\n"
    "LAPACKE_dgetrf a user would write, the OpenBLAS dgemm rate and a triad\n"
    "memory bandwidth, all measured in this run:\n"
    "  - 100000 matrices 10x10 and 10000 100x100 (integers in [-5, 5) as\n"
    "    float64) on the serial backend and the openmp backend with 1 and 2\n"
    "    workers, against the plain loop on 1 and 2 threads;\n"
    "  - small batches (64 and 256 of 10x10, 8 of 100x100) with the default\n"
    "    small-job rule against forced inline and forced dispatch;\n"
    "  - a sweep of n from 2 to 600 against the plain loop on 2 threads.\n"
    "Checks the results and prints PASS or MISS for each target and path.\n"
    "\n"
    "  --reps N     timed runs of each case after a warm-up (default 7)\n"
    "  --quick      10x fewer matrices and a shorter sweep, a smoke test\n"
    "  --no-sweep   leave out the sweep of n\n"
    "  --csv FILE   also write one CSV row per measurement to FILE\n"
    "  --small-pages  the inputs in 4 KiB pages (MADV_NOHUGEPAGE), as a C\n"
    "               program's malloc gives them where the system's huge page\n"
    "               mode is madvise; by default they are in huge pages where\n"
    "               the system gives them, as numpy and pk_array_create make\n"
    "               large arrays\n"
    "  --help       this text\n"
    "\n"
    "Each path's 100x100 target is a fraction of dgemm at that path's own\n"
    "vector width: OpenBLAS's Prescott (SSE3), Haswell (AVX2) and SkylakeX\n"
    "(AVX-512) kernels, each measured in a child process started with\n"
    "OPENBLAS_CORETYPE; where that fails, the rate of the kernel OpenBLAS\n"
    "picks by itself, which is also printed.\n"
    "\n"
    "Exits 0 whether or not the targets are met; 1 if results disagree or a\n"
    "call fails, 2 on a bad option.\n";

typedef struct options {
  int reps, quick, sweep, dgemm_only, small_pages;
  const char *csv;
} options;

/* One timed method on one case. */
typedef struct result {
  const char *name;
  int workers;
  pkb_stats t;
} result;

/* The limits the table compares with. */
typedef struct limits {
  double gflops[2], gbs[2]; /* on 1 and 2 threads */
} limits;

static FILE *csv;
static int huge_pages = 1; /* the inputs' pages: see --small-pages */

/* A batch of count n x n matrices (pkb_batch_alloc), and its release. */
static double *batch(size_t count, int n) {
  return pkb_batch_alloc(count * (size_t)n * n * sizeof(double), huge_pages);
}

static void unbatch(double *x, size_t count, int n) {
  pkb_batch_free(x, count * (size_t)n * n * sizeof(double));
}

static int parse(int argc, char **argv, options *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      exit(0);
    } else if (strcmp(a, "--quick") == 0) {
      o->quick = 1;
    } else if (strcmp(a, "--small-pages") == 0) {
      o->small_pages = 1;
    } else if (strcmp(a, "--no-sweep") == 0) {
      o->sweep = 0;
    } else if (strcmp(a, "--dgemm-only") == 0) { /* the child, see usage */
      o->dgemm_only = 1;
    } else if (strcmp(a, "--reps") == 0 && i + 1 < argc) {
      char *end;
      long v;
      errno = 0;
      v = strtol(argv[++i], &end, 10);
      if (errno || *end || end == argv[i] || v < 1 || v > MAXREPS) {
        fprintf(stderr, "bench_det: --reps needs 1 .. %d\n", MAXREPS);
        return -1;
      }
      o->reps = (int)v;
    } else if (strcmp(a, "--csv") == 0 && i + 1 < argc) {
      o->csv = argv[++i];
    } else {
      fprintf(stderr, "bench_det: %s: unknown option or missing value\n%s",
              a, usage);
      return -1;
    }
  }
  return 0;
}

/* The plain loop is pkb_lu_loop (baselines.c), shared with parkit-bench. */

/* ---------------------------------------------------------------- parkit */

static int pk_fail(pk_context *ctx, const char *what, pk_status st) {
  fprintf(stderr, "bench_det: %s: %s\n", what,
          ctx && pk_errmsg(ctx)[0] ? pk_errmsg(ctx) : pk_strerror(st));
  return -1;
}

/*
 * One method of a case: a plain loop on threads threads (ctx NULL), or a
 * parkit context with its arrays over the case's input and out.
 */
typedef struct method {
  const char *backend; /* NULL: the plain loop */
  int threads;
  const char *isa;     /* the instruction-set path (parkit) */
  pk_map_opts opts;
  pk_context *ctx;
  pk_array *in, *out;
  double *res;         /* its determinants */
  double t[MAXREPS];
} method;

static int open_method(method *m, double *x, size_t count, int n) {
  pk_config cfg = {.backend = m->backend, .workers = m->threads,
                   .isa = m->isa};
  size_t shape[3] = {count, (size_t)n, (size_t)n};
  pk_status st;

  if (m->backend == NULL)
    return 0;
  if ((st = pk_init_config(&m->ctx, NULL, NULL, &cfg)) != PK_OK)
    return pk_fail(m->ctx, "pk_init", st);
  st = pk_array_wrap(m->ctx, PK_F64, 3, shape, x, &m->in);
  if (st == PK_OK)
    st = pk_array_wrap(m->ctx, PK_F64, 1, shape, m->res, &m->out);
  return st == PK_OK ? 0 : pk_fail(m->ctx, "pk_array_wrap", st);
}

/* The last context finalized restores the OpenBLAS thread count the
 * first found. */
static void close_method(method *m) {
  pk_array_destroy(&m->in);
  pk_array_destroy(&m->out);
  pk_finalize(&m->ctx);
}

/* One run of m; its time in seconds, or a negative value on failure. */
static double run_method(method *m, const double *x, size_t count, int n) {
  int old = openblas_get_num_threads(), rc;
  double t;
  pk_status st;

  if (m->backend != NULL) {
    t = pkb_now();
    st = pk_map(m->ctx, pk_kernel_det(), m->in, &m->out, &m->opts);
    t = pkb_now() - t;
    return st == PK_OK ? t : pk_fail(m->ctx, "pk_map", st);
  }
  /* What a careful user does: no OpenBLAS threads inside OpenMP threads. */
  openblas_set_num_threads(1);
  t = pkb_now();
  rc = pkb_lu_loop(x, count, n, m->threads, 0, m->res);
  t = pkb_now() - t;
  openblas_set_num_threads(old);
  if (rc == 0)
    return t;
  fprintf(stderr, "bench_det: plain loop failed (memory or dgetrf)\n");
  return -1;
}

/* Items where a and b differ by more than TOL relative; dets of integer
 * matrices are integers, so below 1 in size a difference is rounding. */
static size_t compare(const double *a, const double *b, size_t count,
                      const char *what) {
  size_t bad = 0;

  for (size_t i = 0; i < count; i++) {
    double s = fmax(1, fmax(fabs(a[i]), fabs(b[i])));
    if (a[i] == b[i] || fabs(a[i] - b[i]) <= TOL * s)
      continue; /* equal infinities (large n overflow) agree */
    if (bad++ < 3)
      printf("WARNING: %s: det %zu is %.17g, the plain loop gives %.17g\n",
             what, i, a[i], b[i]);
  }
  return bad;
}

/* ----------------------------------------------------------------- table */

static void header(void) {
  printf("%-8s %-22s %3s %10s %10s %10s %11s %8s %7s %10s %7s\n", "case",
         "method", "W", "median s", "min s", "max s", "matrices/s",
         "GFLOP/s", "dgemm%", "bw-time s", "t/bw");
}

static void row(const char *cs, int n, size_t count, const result *r,
                const limits *lim) {
  double flops = 2.0 / 3.0 * n * n * (double)n * (double)count;
  double med = r->t.med, gf = flops / med * 1e-9;
  double frac = gf / lim->gflops[1];
  /* Only the small case is meant to be bound by memory. */
  double bw = n <= 16 ? count * (double)n * n * 8 / (lim->gbs[1] * 1e9) : 0;

  printf("%-8s %-22s %3d %10.6f %10.6f %10.6f %11.4g %8.2f %6.1f%%", cs,
         r->name, r->workers, med, r->t.min, r->t.max, count / med, gf,
         100 * frac);
  if (bw > 0)
    printf(" %10.6f %7.2f", bw, med / bw);
  printf("\n");
  if (csv == NULL)
    return;
  fprintf(csv, "%s,%d,%zu,%s,%d,%d,%.9g,%.9g,%.9g,%.9g,%.6g,%.6g,,", cs, n,
          count, r->name, r->workers, r->t.n, med, r->t.min, r->t.max,
          count / med, gf, frac);
  if (bw > 0)
    fprintf(csv, "%.9g,%.6g", bw, med / bw);
  fputc('\n', csv);
}

static void limits_csv(const limits *lim, int reps_dgemm, int reps_triad) {
  if (csv == NULL)
    return;
  for (int t = 0; t < 2; t++) {
    fprintf(csv, "machine,2000,1,dgemm,%d,%d,,,,,%.6g,,,,\n", t + 1,
            reps_dgemm, lim->gflops[t]);
    fprintf(csv, "machine,%zu,1,triad,%d,%d,,,,,,,%.6g,,\n",
            pkb_triad_bytes() / sizeof(double), t + 1, reps_triad,
            lim->gbs[t]);
  }
}

static const char *pass(int ok) { return ok ? "PASS" : "MISS"; }

#define MAXM 16
#define MAXISA 3

/*
 * Methods run together on one input: in rounds of one run of each, so that
 * all of them see the same noise of a shared machine; round -1 is the
 * warm-up.  Each checked against m[0], which must be the plain loop.
 * Returns 0, 1 if results disagree, -1 on a failure.
 */
static int run_methods(method *m, int nm, int n, size_t count, int reps,
                       double *x, result *r, pk_stats *st) {
  size_t bad = 0;
  int rc = 0, i, k;
  char cs[32];

  snprintf(cs, sizeof cs, "%dx%d", n, n);
  for (i = 0; i < nm; i++)
    if ((m[i].res = calloc(count ? count : 1, sizeof *m[i].res)) == NULL)
      rc = -1;
  for (i = 0; i < nm && rc == 0; i++)
    rc = open_method(&m[i], x, count, n);
  for (k = -1; k < reps && rc == 0; k++)
    for (i = 0; i < nm && rc == 0; i++) {
      double t = run_method(&m[i], x, count, n);
      if (t < 0)
        rc = -1;
      else if (k >= 0)
        m[i].t[k] = t;
    }
  for (i = 0; i < nm && rc == 0; i++) {
    r[i].t = pkb_summary(m[i].t, reps);
    r[i].workers = m[i].ctx ? pk_workers(m[i].ctx) : m[i].threads;
    if (m[i].ctx)
      st[i] = *pk_last_stats(m[i].ctx);
    if (i > 0) {
      char what[64];
      snprintf(what, sizeof what, "%s %s/%d", cs, r[i].name, r[i].workers);
      bad += compare(m[i].res, m[0].res, count, what);
    }
  }
  if (rc == 0 && bad) {
    printf("WARNING: %s: %zu determinants differ from the plain loop by "
           "more than %g relative\n", cs, bad, TOL);
    rc = 1;
  }
  for (i = nm - 1; i >= 0; i--) {
    close_method(&m[i]);
    free(m[i].res);
    m[i].res = NULL;
  }
  return rc;
}

/*
 * One case of the main table: the plain loop on 1 and 2 threads, then for
 * each path parkit's serial backend and openmp on 1 and 2 workers.  best[p]
 * gets path p's openmp/2 figure, *loop2 the 2-thread plain loop's.
 */
static int run_case(int n, size_t count, int reps, const limits *lim,
                    const char *const *isas, int nisa, result *best,
                    result *loop2) {
  method m[MAXM] = {{.threads = 1}, {.threads = 2}};
  result r[MAXM] = {{.name = "plain dgetrf loop"}, {.name = "plain dgetrf loop"}};
  pk_stats st[MAXM];
  static char names[MAXM][32];
  double *x = batch(count, n);
  int nm = 2, rc, i;
  char cs[32];

  snprintf(cs, sizeof cs, "%dx%d", n, n);
  if (x == NULL) {
    fprintf(stderr, "bench_det: out of memory for the %s case\n", cs);
    return -1;
  }
  pkb_fill_ints(x, count * (size_t)n * n, 1);
  for (int p = 0; p < nisa; p++) {
    static const char *const be[3] = {"serial", "openmp", "openmp"};
    for (int b = 0; b < 3; b++, nm++) {
      m[nm] = (method){.backend = be[b], .threads = b == 2 ? 2 : 1,
                       .isa = isas[p]};
      snprintf(names[nm], sizeof names[nm], "%s %s", be[b], isas[p]);
      r[nm].name = names[nm];
    }
  }
  rc = run_methods(m, nm, n, count, reps, x, r, st);
  unbatch(x, count, n);
  if (rc < 0)
    return rc;
  for (i = 0; i < nm; i++)
    row(cs, n, count, &r[i], lim);
  for (i = 2; i < nm; i++)
    if (r[i].workers > 1 && (st[i].ran_inline || st[i].workers < r[i].workers))
      printf("         (%s/%d ran %s on %d worker%s)\n", r[i].name,
             r[i].workers, st[i].ran_inline ? "inline" : "dispatched",
             st[i].workers, st[i].workers == 1 ? "" : "s");
  *loop2 = r[1];
  for (int p = 0; p < nisa; p++)
    best[p] = r[4 + 3 * p];
  return rc;
}

/*
 * Small batches on the openmp backend with 2 workers and the widest path:
 * the default rule against forced inline and forced dispatch.  PASS when
 * the default is within 25% (and 5 us) of the faster of the two forced
 * ones, and dispatches to every worker where that is the faster.
 */
static int run_small(int n, size_t count, int reps, int *pass_all) {
  static const char *const names[3] = {"default rule", "forced inline",
                                       "forced dispatch"};
  method m[4] = {{.threads = 2}};
  result r[4] = {{.name = "plain dgetrf loop"}};
  pk_stats st[4];
  double *x = batch(count, n);
  int rc, ok;

  if (x == NULL)
    return -1;
  pkb_fill_ints(x, count * (size_t)n * n, 7);
  for (int i = 0; i < 3; i++) {
    m[i + 1] = (method){.backend = "openmp", .threads = 2,
                        .opts.inlining = i == 0   ? PK_INLINE_AUTO
                                         : i == 1 ? PK_INLINE_ALWAYS
                                                  : PK_INLINE_NEVER};
    r[i + 1].name = names[i];
  }
  rc = run_methods(m, 4, n, count, reps, x, r, st);
  unbatch(x, count, n);
  if (rc < 0)
    return rc;
  double fast = fmin(r[2].t.med, r[3].t.med);
  int want_all = r[3].t.med < r[2].t.med;
  ok = r[1].t.med <= 1.25 * fast + 5e-6 &&
       (!want_all || (!st[1].ran_inline && st[1].workers == 2));
  *pass_all &= ok;
  printf("%4zu x %3dx%-3d  %9.1f %9.1f %9.1f %9.1f   %-10s %d  %8.1f  %s\n",
         count, n, n, r[0].t.med * 1e6, r[2].t.med * 1e6, r[3].t.med * 1e6,
         r[1].t.med * 1e6, st[1].ran_inline ? "inline" : "dispatched",
         st[1].workers, st[1].est_seconds * 1e6, pass(ok));
  if (csv)
    for (int i = 0; i < 4; i++)
      fprintf(csv, "small %zux%d,%d,%zu,%s,%d,%d,%.9g,%.9g,%.9g,,,,,,\n",
              count, n, n, count, r[i].name, r[i].workers, r[i].t.n,
              r[i].t.med, r[i].t.min, r[i].t.max);
  return rc;
}

/*
 * The sweep: parkit's openmp backend on 2 workers, every path, against the
 * plain loop on 2 threads, with about the same work at every n.  Returns
 * the number of (n, path) points where parkit was slower (beyond 5% of
 * noise), or -1 on a failure.
 */
static int run_sweep(int reps, int quick, const char *const *isas,
                     int nisa) {
  static const int ns[] = {2,   3,   4,   5,   6,   7,   8,   9,   10,  11,
                           12,  13,  14,  15,  16,  17,  18,  20,  22,  24,
                           25,  26,  28,  30,  32,  33,  36,  40,  48,  56,
                           64,  72,  80,  81,  96,  100, 112, 128, 160, 192,
                           200, 256, 300, 384, 400, 500, 511, 512, 513, 600};
  int slow = 0;

  printf("\nsweep: seconds per matrix (median of %d), openmp 2 workers "
         "against the plain loop on 2 threads\n%5s %8s %12s", reps, "n",
         "count", "plain");
  for (int p = 0; p < nisa; p++)
    printf(" %12s %7s", isas[p], "speedup");
  printf("\n");
  for (size_t s = 0; s < sizeof ns / sizeof *ns; s++) {
    int n = ns[s];
    double flop = 2.0 / 3.0 * n * n * (double)n;
    size_t count = (size_t)((quick ? 2e7 : 1e8) / flop);
    method m[1 + MAXISA] = {{.threads = 2}};
    result r[1 + MAXISA] = {{.name = "plain dgetrf loop"}};
    pk_stats st[1 + MAXISA];
    double *x;
    int rc;

    count = count < 16 ? 16 : count > 200000 ? 200000 : count;
    if ((x = batch(count, n)) == NULL)
      return -1;
    pkb_fill_ints(x, count * (size_t)n * n, 3);
    for (int p = 0; p < nisa; p++) {
      m[p + 1] = (method){.backend = "openmp", .threads = 2, .isa = isas[p]};
      r[p + 1].name = isas[p];
    }
    rc = run_methods(m, 1 + nisa, n, count, reps, x, r, st);
    unbatch(x, count, n);
    if (rc < 0)
      return -1;
    printf("%5d %8zu %12.4g", n, count, r[0].t.med / count);
    for (int p = 0; p < nisa; p++) {
      double sp = r[0].t.med / r[p + 1].t.med;
      slow += sp < 0.95;
      printf(" %12.4g %6.2fx%s", r[p + 1].t.med / count, sp,
             sp < 0.95 ? "!" : " ");
    }
    printf("\n");
    if (csv)
      for (int p = 0; p <= nisa; p++)
        fprintf(csv, "sweep,%d,%zu,%s,2,%d,%.9g,%.9g,%.9g,,,,,,\n", n, count,
                r[p].name, r[p].t.n, r[p].t.med, r[p].t.min, r[p].t.max);
  }
  return slow;
}

/*
 * dgemm on 1 and 2 threads (rate[0..1]) with OpenBLAS's kernel core, in a
 * child process: OpenBLAS reads OPENBLAS_CORETYPE only when it loads.
 * Returns 0, or -1 if the child could not run that kernel.
 */
static int dgemm_with(const char *self, const char *core, double *rate) {
  char cmd[4200], line[512];
  FILE *f;
  int ok = 0;

  if (strlen(self) > 4000 || strchr(self, '\'') != NULL)
    return -1;
  snprintf(cmd, sizeof cmd, "OPENBLAS_CORETYPE=%s '%s' --dgemm-only", core,
           self);
  if ((f = popen(cmd, "r")) == NULL)
    return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "dgemm %lf %lf", &rate[0], &rate[1]) == 2)
      ok = ok == 0 ? 1 : ok; /* the kernel's line comes first */
    else if (strncmp(line, "openblas: ", 10) == 0 && !strstr(line, core))
      ok = -1; /* OpenBLAS ran another kernel */
  if (pclose(f) != 0)
    ok = 0;
  return ok == 1 ? 0 : -1;
}

int main(int argc, char **argv) {
  static const char *const all[MAXISA] = {"generic", "avx2", "avx512"};
  options o = {.reps = 7, .sweep = 1};
  char mach[512];
  limits lim;
  result p10[MAXISA], p100[MAXISA], l10, l100;
  double ref[MAXISA][2];
  size_t c10 = 100000, c100 = 10000;
  int rc, dreps = 5, treps = 7, nisa = 0, small_ok = 1, slow = 0;

  if (parse(argc, argv, &o) != 0)
    return 2;
  if (o.dgemm_only) {
    printf("openblas: %s\n", pkb_blas_config());
    printf("dgemm %.6g %.6g\n", pkb_dgemm_gflops(1, 2000, dreps),
           pkb_dgemm_gflops(2, 2000, dreps));
    return 0;
  }
  huge_pages = !o.small_pages;
  if (o.quick) {
    c10 /= 10;
    c100 /= 10;
  }
  for (int p = 0; p < MAXISA; p++)
    if (PK_ISA_GENERIC + p <= (int)pk_isa_best())
      nisa = p + 1;
  if (o.csv && (csv = fopen(o.csv, "w")) == NULL) {
    fprintf(stderr, "bench_det: %s: %s\n", o.csv, strerror(errno));
    return 1;
  }
  if (csv)
    fputs("case,n,count,method,workers,reps,median_s,min_s,max_s,"
          "matrices_per_s,gflops,frac_dgemm2,gbs,bw_time_s,time_over_bw\n",
          csv);

  printf("machine: %s\n", pkb_machine(mach, sizeof mach));
  printf("openblas: %s\n", pkb_blas_config());
  printf("parkit %d.%d.%d, backends:", PK_VERSION_MAJOR, PK_VERSION_MINOR,
         PK_VERSION_PATCH);
  for (const char *const *b = pk_backends(); *b; b++)
    printf(" %s", *b);
  printf("; paths:");
  for (int p = 0; p < nisa; p++)
    printf(" %s", all[p]);
  printf("; %d timed runs per case after a warm-up%s\n", o.reps,
         o.quick ? "; --quick: 10x fewer matrices" : "");
  printf("inputs: %s (the system's huge page mode: %s)\n",
         huge_pages ? "huge pages asked for, as numpy's and pk_array_create's"
                      " large arrays"
                    : "4 KiB pages, as a C program's malloc (--small-pages)",
         pkb_thp_mode(mach, sizeof mach));

  for (int t = 0; t < 2; t++) {
    lim.gflops[t] = pkb_dgemm_gflops(t + 1, 2000, dreps);
    lim.gbs[t] = pkb_triad_gbs(t + 1, 0, treps);
    if (lim.gflops[t] <= 0 || lim.gbs[t] <= 0) {
      fprintf(stderr, "bench_det: out of memory measuring the machine\n");
      return 1;
    }
  }
  printf("dgemm 2000x2000 (median of %d): %.1f GFLOP/s on 1 thread, %.1f on "
         "2\n", dreps, lim.gflops[0], lim.gflops[1]);
  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  snprintf(self + (sl > 0 ? sl : 0), sizeof self - (sl > 0 ? sl : 0), "%s",
           sl > 0 ? "" : argv[0]);
  for (int p = 0; p < nisa; p++) {
    static const char *const core[MAXISA] = {"Prescott", "Haswell",
                                             "SkylakeX"};
    if (dgemm_with(self, core[p], ref[p]) == 0) {
      printf("dgemm at the %s path's width (OpenBLAS %s kernel): %.1f "
             "GFLOP/s on 1 thread, %.1f on 2\n", all[p], core[p], ref[p][0],
             ref[p][1]);
    } else {
      ref[p][0] = lim.gflops[0];
      ref[p][1] = lim.gflops[1];
      printf("dgemm at the %s path's width: OpenBLAS's %s kernel did not "
             "run; the rate above stands in\n", all[p], core[p]);
    }
  }
  printf("triad a=b+s*c, 3 x %zu MB, 24 bytes/element (median of %d): "
         "%.1f GB/s on 1 thread, %.1f on 2\n", pkb_triad_bytes() >> 20, treps,
         lim.gbs[0], lim.gbs[1]);
  printf("GFLOP/s counts 2/3 n^3 per matrix; dgemm%% is of the 2-thread "
         "dgemm rate;\nbw-time is count*n*n*8 bytes at the 2-thread triad "
         "rate; plain loop: OpenBLAS held to 1 thread\n\n");
  limits_csv(&lim, dreps, treps);

  header();
  rc = run_case(10, c10, o.reps, &lim, all, nisa, p10, &l10);
  if (rc >= 0) {
    int rc2 = run_case(100, c100, o.reps, &lim, all, nisa, p100, &l100);
    rc = rc2 < 0 ? rc2 : rc | rc2;
  }
  if (rc >= 0) {
    printf("\nsmall batches, openmp 2 workers, path %s: median microseconds"
           "\n%-15s %9s %9s %9s %9s   %-10s %s  %8s\n",
           pk_isa_name(pk_isa_best()), "batch", "plain/2", "inline",
           "dispatch", "default", "default:", "W", "est us");
    const struct { size_t count; int n; } sb[] = {{8, 10}, {64, 10},
                                                  {256, 10}, {2, 100},
                                                  {8, 100}};
    for (size_t i = 0; i < sizeof sb / sizeof *sb && rc >= 0; i++) {
      int rc2 = run_small(sb[i].n, sb[i].count, o.reps * 3, &small_ok);
      rc = rc2 < 0 ? rc2 : rc | rc2;
    }
  }
  if (rc >= 0 && o.sweep) {
    slow = run_sweep(o.quick ? 3 : 5, o.quick, all, nisa);
    if (slow < 0)
      rc = -1;
  }
  if (rc < 0) {
    if (csv)
      fclose(csv);
    return 1;
  }

  printf("\ntargets (parkit = openmp backend, 2 workers), per path:\n");
  for (int p = 0; p < nisa; p++) {
    double sp = l10.t.med / p10[p].t.med;
    double bw = c10 * 100.0 * 8 / (lim.gbs[1] * 1e9), rb = p10[p].t.med / bw;
    double gf = 2.0 / 3.0 * 1e6 * (double)c100 / p100[p].t.med * 1e-9;
    double fr = gf / ref[p][1];
    printf("%-7s (a) 10x10: plain loop 2 threads / parkit = %5.2fx   "
           "target >= 5x     %s\n", all[p], sp, pass(sp >= 5));
    printf("%-7s (b) 10x10: parkit / bandwidth time     = %5.2fx   "
           "target <= 3x     %s\n", all[p], rb, pass(rb <= 3));
    printf("%-7s (c) 100x100: %5.1f GFLOP/s = %5.1f%% of its 2-thread dgemm "
           " target >= 40%%    %s\n", all[p], gf, 100 * fr,
           pass(fr >= 0.40));
  }
  printf("small batches: the default rule as fast as the faster forced one"
         "      %s\n", pass(small_ok));
  if (o.sweep)
    printf("sweep: points where parkit is slower than the plain loop: %d"
           "          %s\n", slow, pass(slow == 0));
  if (csv && fclose(csv) != 0) {
    fprintf(stderr, "bench_det: %s: write failed\n", o.csv);
    return 1;
  }
  return rc;
}
