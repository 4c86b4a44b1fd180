/*
 * bench_fft: parkit's autocorr2d and fft2 kernels on batches of 100x100
 * matrices on every backend, against one FFTW plan_many_dft complex
 * transform of the whole batch on one thread, measured in the same run.
 *
 *   bench_fft [--reps N] [--quick] [--help]
 */
#include "machine.h"
#include "splitmix.h"

#include <parkit.h>
#include <parkit/fft.h>
#include <parkit/mpi.h>

#include <fftw3.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXREPS 100
#define NB 8

static const char usage[] =
    "usage: bench_fft [options]\n"
    "Times autocorr2d of 30 matrices 100x100 (integers in [0, 100)) and fft2 "
    "of 30,\n"
    "500 and 5000 matrices 100x100 (uniform reals, complex output) with "
    "pk_map on\n"
    "every backend compiled in (mpi only under mpirun), against one FFTW\n"
    "plan_many_dft complex transform of the batch on one thread; prints the "
    "targets.\n"
    "\n"
    "  --reps N   timed runs of each case after a warm-up (default 7, at "
    "least 5)\n"
    "  --quick    500 instead of 5000 matrices at most, a smoke test\n"
    "  --help     this text\n"
    "\n"
    "Exits 0 whether or not the targets are met; 1 if a call fails, 2 on a "
    "bad\n"
    "option.\n";

typedef struct bcase {
  const char *name;
  int autocorr;
  size_t n;
  double base;           /* the one-plan baseline, seconds; 0: none */
  double t[NB];          /* median seconds per backend; < 0: failed */
  int inl[NB];           /* ran inline (the small-job rule) */
} bcase;

static int reps = 7;

/* Median seconds of pk_map of k over n items on ctx, after a warm-up. */
static double time_map(pk_context *ctx, const pk_kernel *k, size_t n,
                       int autocorr, int *inl) {
  size_t shape[3] = {n, 100, 100};
  pk_array *in = NULL, *out = NULL;
  double t[MAXREPS], *x;
  uint64_t seed = 1;
  pkb_stats s;

  if (pk_mpi_create(ctx, PK_F64, 3, shape, &in) != PK_OK)
    return -1;
  x = pk_array_data(in);
  seed += pk_array_offset(in) * 10000 * PK_SPLITMIX_GAMMA;
  for (size_t i = 0; i < pk_array_count(in); i++) {
    uint64_t z = pk__splitmix(&seed);
    x[i] = autocorr ? (double)(z % 100) : (double)(z >> 11) * 0x1p-53;
  }
  if (pk_map(ctx, k, in, &out, NULL) != PK_OK) { /* warm-up, plans */
    pk_array_destroy(&in);
    pk_array_destroy(&out);
    return -1;
  }
  for (int r = 0; r < reps; r++) {
    double t0 = pk_time();
    if (pk_map(ctx, k, in, &out, NULL) != PK_OK)
      return -1;
    t[r] = pk_time() - t0;
  }
  *inl = pk_last_stats(ctx)->ran_inline;
  s = pkb_summary(t, reps);
  pk_array_destroy(&in);
  pk_array_destroy(&out);
  return s.med;
}

/* One FFTW_MEASURE plan_many_dft over the batch, complex in and out, one
 * thread: what a user of FFTW alone would write. */
static double baseline(size_t n) {
  int dims[2] = {100, 100};
  size_t e = n * 10000;
  fftw_complex *a = fftw_alloc_complex(e), *b = fftw_alloc_complex(e);
  double t[MAXREPS];
  uint64_t seed = 1;
  fftw_plan p = NULL;

  if (a && b)
    p = fftw_plan_many_dft(2, dims, (int)n, a, NULL, 1, 10000, b, NULL, 1,
                           10000, FFTW_FORWARD, FFTW_MEASURE);
  if (p == NULL) {
    fftw_free(a);
    fftw_free(b);
    return 0;
  }
  for (size_t i = 0; i < e; i++) {
    a[i][0] = (double)(pk__splitmix(&seed) >> 11) * 0x1p-53;
    a[i][1] = 0;
  }
  fftw_execute(p); /* warm-up */
  for (int r = 0; r < reps; r++) {
    double t0 = pk_time();
    fftw_execute(p);
    t[r] = pk_time() - t0;
  }
  fftw_destroy_plan(p);
  fftw_free(a);
  fftw_free(b);
  return pkb_summary(t, reps).med;
}

int main(int argc, char **argv) {
  const char *const *all = pk_backends(), *names[NB];
  int nb = 0, quick = 0, under_mpi = getenv("OMPI_COMM_WORLD_SIZE") != NULL;
  int me = 0;
  bcase cases[] = {{"autocorr2d 30", 1, 30, 0, {0}, {0}},
                   {"fft2 30", 0, 30, 0, {0}, {0}},
                   {"fft2 500", 0, 500, 0, {0}, {0}},
                   {"fft2 5000", 0, 5000, 0, {0}, {0}}};
  const int nc = sizeof cases / sizeof *cases;
  char machine[256];

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      quick = 1;
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    } else if (strncmp(argv[i], "--pk-", 5) != 0) {
      fprintf(stderr, "bench_fft: unknown option %s\n%s", argv[i], usage);
      return 2;
    }
  }
  if (reps < 5 || reps > MAXREPS) {
    fprintf(stderr, "bench_fft: --reps must be from 5 to %d\n", MAXREPS);
    return 2;
  }
  if (quick)
    cases[3].n = 500;
  /* Under mpirun, only the mpi backend; otherwise every other one. */
  for (int i = 0; all[i] && nb < NB; i++)
    if ((strcmp(all[i], "mpi") == 0) == under_mpi)
      names[nb++] = all[i];

  for (int b = 0; b < nb; b++) {
    pk_config cfg = {.backend = names[b]};
    pk_context *ctx = NULL;
    if (pk_init_config(&ctx, &argc, &argv, &cfg) != PK_OK) {
      for (int c = 0; c < nc; c++)
        cases[c].t[b] = -1;
      continue;
    }
    me = pk_mpi_rank(ctx);
    for (int c = 0; c < nc; c++) {
      const pk_kernel *k = cases[c].autocorr
                               ? pk_kernel_autocorr2d(PK_AUTOCORR_AUTO)
                               : pk_kernel_fft2();
      cases[c].t[b] = time_map(ctx, k, cases[c].n, cases[c].autocorr,
                               &cases[c].inl[b]);
    }
    if (me == 0)
      printf("%s: %d workers%s\n", names[b], pk_workers(ctx),
             pk_mpi_size(ctx) > 1 ? " per rank" : "");
    pk_finalize(&ctx);
  }
  if (me != 0)
    return 0;
  for (int c = 1; c < nc; c++)
    cases[c].base = baseline(cases[c].n);

  printf("%s\n", pkb_machine(machine, sizeof machine));
  printf("median of %d runs after a warm-up, milliseconds (i: ran inline)\n",
         reps);
  printf("%-16s", "case");
  for (int b = 0; b < nb; b++)
    printf(" %10s", names[b]);
  printf(" %12s\n", "1-plan FFTW");
  for (int c = 0; c < nc; c++) {
    char label[32];
    snprintf(label, sizeof label, "%s %zu",
             cases[c].autocorr ? "autocorr2d" : "fft2", cases[c].n);
    printf("%-16s", label);
    for (int b = 0; b < nb; b++)
      if (cases[c].t[b] < 0)
        printf(" %10s", "failed");
      else
        printf(" %9.3f%s", cases[c].t[b] * 1e3, cases[c].inl[b] ? "i" : " ");
    if (cases[c].base > 0)
      printf(" %12.3f\n", cases[c].base * 1e3);
    else
      printf(" %12s\n", "-");
  }

  /* The targets. */
  double best_ac = 1e30, best_big = 1e30;
  int slower = 0;
  int ser = -1;
  for (int b = 0; b < nb; b++)
    if (strcmp(names[b], "serial") == 0)
      ser = b;
  for (int b = 0; b < nb; b++) {
    if (cases[0].t[b] > 0 && cases[0].t[b] < best_ac)
      best_ac = cases[0].t[b];
    if (cases[nc - 1].t[b] > 0 && cases[nc - 1].t[b] < best_big)
      best_big = cases[nc - 1].t[b];
  }
  printf("\ntargets:\n");
  printf("  autocorr2d of 30 x 100x100 under 5 ms: best %.3f ms: %s\n",
         best_ac * 1e3, best_ac < 5e-3 ? "PASS" : "MISS");
  if (cases[nc - 1].base > 0)
    printf("  fft2 of %zu x 100x100 at least 2x faster than one "
           "plan_many_dft: best %.3f ms vs %.3f ms (%.2fx): %s\n",
           cases[nc - 1].n, best_big * 1e3, cases[nc - 1].base * 1e3,
           cases[nc - 1].base / best_big,
           cases[nc - 1].base >= 2 * best_big ? "PASS" : "MISS");
  if (ser >= 0) {
    for (int c = 0; c < nc; c++)
      for (int b = 0; b < nb; b++)
        /* 5% for noise: a tie is not slower. */
        if (b != ser && cases[c].t[b] > 1.05 * cases[c].t[ser]) {
          printf("  %s %zu on %s: %.3f ms, serial %.3f ms: slower\n",
                 cases[c].autocorr ? "autocorr2d" : "fft2", cases[c].n, names[b], cases[c].t[b] * 1e3,
                 cases[c].t[ser] * 1e3);
          slower++;
        }
    printf("  no parallel backend slower than serial (5%% noise allowed): "
           "%s\n", slower ? "MISS" : "PASS");
  } else {
    printf("  no parallel backend slower than serial: not measured (no "
           "serial backend in this run)\n");
  }
  return 0;
}
