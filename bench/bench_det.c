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

#define MAXREPS 1000
#define TOL 1e-9

static const char usage[] =
    "usage: bench_det [options]\n"
    "Times parkit's det kernel (pk_map) on 100000 matrices 10x10 and 10000\n"
    "matrices 100x100 (integers in [-5, 5) as float64), on the serial backend\n"
    "and the openmp backend with 1 and 2 workers, against a plain OpenMP loop\n"
    "over LAPACKE_dgetrf on 1 and 2 threads, the OpenBLAS dgemm rate and a\n"
    "triad memory bandwidth; checks the results and prints the targets.\n"
    "\n"
    "  --reps N     timed runs of each case after a warm-up (default 7)\n"
    "  --quick      10x fewer matrices, a smoke test\n"
    "  --csv FILE   also write one CSV row per measurement to FILE\n"
    "  --help       this text\n"
    "\n"
    "Exits 0 whether or not the targets are met; 1 if results disagree or a\n"
    "call fails, 2 on a bad option.\n";

typedef struct options {
  int reps, quick;
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

static int parse(int argc, char **argv, options *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      exit(0);
    } else if (strcmp(a, "--quick") == 0) {
      o->quick = 1;
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
  pk_context *ctx;
  pk_array *in, *out;
  double *res;         /* its determinants */
  double t[MAXREPS];
} method;

static int open_method(method *m, double *x, size_t count, int n) {
  pk_config cfg = {.backend = m->backend, .workers = m->threads};
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

/* Contexts are finalized in reverse order of creation: each restores the
 * OpenBLAS thread count it found. */
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
    st = pk_map(m->ctx, pk_kernel_det(), m->in, &m->out, NULL);
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
    if (fabs(a[i] - b[i]) <= TOL * s)
      continue;
    if (bad++ < 3)
      printf("WARNING: %s: det %zu is %.17g, the plain loop gives %.17g\n",
             what, i, a[i], b[i]);
  }
  return bad;
}

/* ----------------------------------------------------------------- table */

static void header(void) {
  printf("%-8s %-18s %3s %10s %10s %10s %11s %8s %7s %10s %7s\n", "case",
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

  printf("%-8s %-18s %3d %10.6f %10.6f %10.6f %11.4g %8.2f %6.1f%%", cs,
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

#define NM 5

/*
 * One case: the plain loops and parkit's backends, in rounds of one run of
 * each, so that all of them see the same noise of a shared machine; round
 * -1 is the warm-up.  Then the check and the table rows.  parkit's
 * openmp/2 result goes to *best, the 2-thread plain loop to *loop2 (if
 * not NULL).
 */
static int run_case(int n, size_t count, int reps, const limits *lim,
                    result *best, result *loop2) {
  method m[NM] = {{.threads = 1}, {.threads = 2},
                  {.backend = "serial", .threads = 1},
                  {.backend = "openmp", .threads = 1},
                  {.backend = "openmp", .threads = 2}};
  size_t nn = (size_t)n * (size_t)n, bad = 0;
  double *x = malloc(count * nn * sizeof *x);
  pk_stats st[NM];
  result r[NM];
  char cs[32];
  int rc = 0, i, k;

  snprintf(cs, sizeof cs, "%dx%d", n, n);
  for (i = 0; i < NM; i++)
    if ((m[i].res = calloc(count, sizeof *m[i].res)) == NULL)
      x = (free(x), NULL);
  if (x == NULL) {
    fprintf(stderr, "bench_det: out of memory for the %s case\n", cs);
    rc = -1;
    goto done;
  }
  pkb_fill_ints(x, count * nn, 1);
  for (i = 0; i < NM && rc == 0; i++)
    rc = open_method(&m[i], x, count, n);
  for (k = -1; k < reps && rc == 0; k++)
    for (i = 0; i < NM && rc == 0; i++) {
      double t = run_method(&m[i], x, count, n);
      if (t < 0)
        rc = -1;
      else if (k >= 0)
        m[i].t[k] = t;
    }
  if (rc != 0)
    goto done;

  for (i = 0; i < NM; i++) {
    r[i].name = m[i].backend ? m[i].backend : "plain dgetrf loop";
    r[i].workers = m[i].ctx ? pk_workers(m[i].ctx) : m[i].threads;
    r[i].t = pkb_summary(m[i].t, reps);
    if (m[i].ctx)
      st[i] = *pk_last_stats(m[i].ctx);
  }
  for (i = 1; i < NM; i++) {
    char what[64];
    snprintf(what, sizeof what, "%s %s/%d", cs, r[i].name, r[i].workers);
    bad += compare(m[i].res, m[0].res, count, what);
    if (i > 2 && memcmp(m[i].res, m[2].res, count * sizeof *m[i].res) != 0)
      printf("note: %s: not the same bits as the serial backend\n", what);
  }
  for (i = 0; i < NM; i++)
    row(cs, n, count, &r[i], lim);
  for (i = 2; i < NM; i++)
    printf("         (%s/%d, last run: %s on %d worker%s, %zu chunks of "
           "%zu; estimate %.2g s, dispatch %.2g s)\n", r[i].name,
           r[i].workers, st[i].ran_inline ? "inline" : "dispatched",
           st[i].workers, st[i].workers == 1 ? "" : "s", st[i].chunks,
           st[i].chunk, st[i].est_seconds, st[i].dispatch_seconds);
  if (bad) {
    printf("WARNING: %s: %zu determinants differ from the plain loop by "
           "more than %g relative\n", cs, bad, TOL);
    rc = 1;
  }
  if (loop2)
    *loop2 = r[1];
  *best = r[4];
done:
  for (i = NM - 1; i >= 0; i--) {
    close_method(&m[i]);
    free(m[i].res);
  }
  free(x);
  return rc;
}

int main(int argc, char **argv) {
  options o = {.reps = 7};
  char mach[512];
  limits lim;
  result p10, l10, p100;
  size_t c10 = 100000, c100 = 10000;
  int rc, dreps = 5, treps = 7;

  if (parse(argc, argv, &o) != 0)
    return 2;
  if (o.quick) {
    c10 /= 10;
    c100 /= 10;
  }
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
  printf("; %d timed runs per case after a warm-up%s\n", o.reps,
         o.quick ? "; --quick: 10x fewer matrices" : "");

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
  printf("triad a=b+s*c, 3 x %zu MB, 24 bytes/element (median of %d): "
         "%.1f GB/s on 1 thread, %.1f on 2\n", pkb_triad_bytes() >> 20, treps,
         lim.gbs[0], lim.gbs[1]);
  printf("GFLOP/s counts 2/3 n^3 per matrix; dgemm%% is of the 2-thread "
         "dgemm rate;\nbw-time is count*n*n*8 bytes at the 2-thread triad "
         "rate; plain loop: OpenBLAS held to 1 thread\n\n");
  limits_csv(&lim, dreps, treps);

  header();
  rc = run_case(10, c10, o.reps, &lim, &p10, &l10);
  if (rc >= 0) {
    int rc2 = run_case(100, c100, o.reps, &lim, &p100, NULL);
    rc = rc2 < 0 ? rc2 : rc | rc2;
  }
  if (rc < 0) {
    if (csv)
      fclose(csv);
    return 1;
  }

  {
    double sp = l10.t.med / p10.t.med;
    double bw = c10 * 100.0 * 8 / (lim.gbs[1] * 1e9), rb = p10.t.med / bw;
    double gf = 2.0 / 3.0 * 1e6 * (double)c100 / p100.t.med * 1e-9;
    double fr = gf / lim.gflops[1];
    printf("\ntargets (parkit = openmp backend, 2 workers):\n");
    printf("(a) 10x10: plain loop 2 threads / parkit = %.2fx   "
           "target >= 5x      %s\n", sp, pass(sp >= 5));
    printf("(b) 10x10: parkit / bandwidth time   = %.2fx   "
           "target <= 4x      %s\n", rb, pass(rb <= 4));
    printf("(c) 100x100: parkit %.1f GFLOP/s     = %.1f%% of dgemm   "
           "target >= 25%%    %s\n", gf, 100 * fr, pass(fr >= 0.25));
  }
  if (csv && fclose(csv) != 0) {
    fprintf(stderr, "bench_det: %s: write failed\n", o.csv);
    return 1;
  }
  return rc;
}
