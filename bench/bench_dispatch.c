/*
 * bench_dispatch: what it costs to hand work to a backend.
 *
 * For the fork and openmp backends, with 2 workers (or --workers=N):
 *   - a warm pk_map of a trivial kernel over 1 item and over 1,000 items,
 *     with inlining forced off (the dispatch itself) and with the default
 *     inline rule (what a program gets);
 *   - pk_init + pk_finalize of a pool (start and stop);
 *   - a map of 256 10x10 determinants after a pause of 20 ms, as a program
 *     that maps now and then meets the workers: forced inline, forced
 *     dispatch and the default rule, which is to be within 25% (and 5 us)
 *     of the faster of the two.
 * Each figure is the median of many runs (and the fastest, which shows
 * what a quiet machine does when other programs share the cores).  Targets
 * (fork): a dispatched 1-item map on a warm pool <= 5 us, 1,000 items
 * < 200 us, start + stop < 2 ms, or twice the host's own cost of the
 * processes where that is more.  That cost is printed beside: this process
 * forks as many children as the pool has workers, each exits at once, and
 * it reaps them, which no pool of processes can beat (on a host whose
 * page tables are virtualised a fork and its exit take a millisecond and
 * more; on a workstation a tenth of that).
 * Prints a table and PASS/MISS; exits 0 either way (a benchmark, not a test).
 *
 * Usage: bench_dispatch [--workers=N] [--reps=N]
 */
#include <parkit.h>
#include <parkit/kernels.h>

#include "baselines.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The fastest run of the last median() call: how a quiet machine does. */
static double last_min;

static double median(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp);
  last_min = t[0];
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/*
 * Median seconds of pk_map with each of the nh inlining modes how[], in
 * turn on one context, into med[] (-1: failed), the fastest runs into
 * fast[]: over n items of the trivial kernel, warm (dets 0), or over dets
 * 10x10 determinants (integers in [-5, 5)), each map after a pause of
 * pause_us; ran_inline[] from stats.
 */
static void time_map(const char *backend, int workers, size_t n, size_t dets,
                     int pause_us, const pk_inline *how, int nh, int reps,
                     double *med, double *fast, int *ran_inline) {
  pk_config cfg = {.backend = backend, .workers = workers};
  const pk_kernel *k = dets ? pk_kernel_det() : pkb_kernel_inc();
  size_t shape[3] = {dets, 10, 10};
  pk_context *ctx = NULL;
  pk_array *a = NULL, *out = NULL;
  double *t = malloc((size_t)(reps * nh) * sizeof *t);
  int h;

  for (h = 0; h < nh; h++)
    med[h] = -1;
  if (t == NULL || pk_init_config(&ctx, NULL, NULL, &cfg) != PK_OK)
    goto done;
  if ((dets ? pk_array_create(ctx, PK_F64, 3, shape, &a)
            : pk_array_create(ctx, PK_F64, 1, &n, &a)) != PK_OK)
    goto done;
  double *x = pk_array_data(a);
  uint64_t q = 5;
  for (size_t i = 0; i < dets * 100; i++) {
    q = q * 6364136223846793005u + 1442695040888963407u;
    x[i] = (double)((int)((q >> 33) % 10) - 5);
  }
  /* Warm-up: 50 maps, or two after pauses to learn from. */
  for (int r = dets ? -2 : -50; r < reps; r++)
    for (h = 0; h < nh; h++) {
      pk_map_opts o = {.inlining = how[h]};
      if (pause_us)
        usleep((useconds_t)pause_us);
      double t0 = pk_time();
      if (pk_map(ctx, k, a, &out, &o) != PK_OK)
        goto done;
      if (r >= 0)
        t[h * reps + r] = pk_time() - t0;
      ran_inline[h] = pk_last_stats(ctx)->ran_inline;
    }
  for (h = 0; h < nh; h++) {
    med[h] = median(t + h * reps, reps);
    fast[h] = last_min;
  }
done:
  pk_array_destroy(&a);
  pk_array_destroy(&out);
  pk_finalize(&ctx);
  free(t);
}

static double time_start(const char *backend, int workers, int reps) {
  pk_config cfg = {.backend = backend, .workers = workers};
  double *t = malloc((size_t)reps * sizeof *t), med = -1;
  int r;

  if (t == NULL)
    return -1;
  for (r = 0; r < reps; r++) {
    pk_context *ctx = NULL;
    double t0 = pk_time();
    if (pk_init_config(&ctx, NULL, NULL, &cfg) != PK_OK)
      break;
    pk_finalize(&ctx);
    t[r] = pk_time() - t0;
  }
  if (r == reps)
    med = median(t, reps);
  free(t);
  return med;
}

/* The host's own cost of the processes a pool starts: this one forks
   `workers` children, each exiting at once, and reaps them, as a pool
   starts all its workers and then waits for them.  Whatever a pool does,
   its start and stop cost at least this. */
static double time_bare_forks(int workers, int reps) {
  double *t = malloc((size_t)reps * sizeof *t), med = -1;
  pid_t *pid = malloc((size_t)workers * sizeof *pid);
  int r, w = 0;

  if (t == NULL || pid == NULL)
    goto done;
  for (r = 0; r < reps; r++) {
    double t0 = pk_time();
    for (w = 0; w < workers; w++) {
      if ((pid[w] = fork()) == 0)
        _exit(0);
      if (pid[w] < 0)
        break;
    }
    int ok = w == workers;
    while (w-- > 0)
      if (waitpid(pid[w], NULL, 0) != pid[w])
        ok = 0;
    if (!ok)
      break;
    t[r] = pk_time() - t0;
  }
  if (r == reps)
    med = median(t, reps);
done:
  free(pid);
  free(t);
  return med;
}

static void row(const char *what, const char *backend, double s,
                double target, const char *path) {
  if (s < 0) {
    printf("%-34s %-7s %12s\n", what, backend, "failed");
    return;
  }
  printf("%-34s %-7s %12.1f %9.1f ", what, backend, s * 1e6, last_min * 1e6);
  if (target > 0)
    printf("%10.0f  %-5s", target * 1e6, s <= target ? "PASS" : "MISS");
  else
    printf("%10s  %-5s", "", "");
  printf(" %s\n", path);
}

int main(int argc, char **argv) {
  static const char *const backends[] = {"fork", "openmp"};
  int workers = 2, reps = 2001, i;

  for (i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--workers=", 10) == 0)
      workers = atoi(argv[i] + 10);
    else if (strncmp(argv[i], "--reps=", 7) == 0)
      reps = atoi(argv[i] + 7);
    else {
      fprintf(stderr, "usage: bench_dispatch [--workers=N] [--reps=N]\n");
      return 2;
    }
  }
  if (workers < 1 || reps < 1) {
    fprintf(stderr, "bench_dispatch: workers and reps must be positive\n");
    return 2;
  }
  printf("bench_dispatch: %d workers, medians of %d runs (start: %d)\n",
         workers, reps, reps / 10 + 1);
  printf("%-34s %-7s %12s %9s %10s  %-5s %s\n", "case", "backend",
         "median us", "min us", "target us", "", "path");
  for (size_t b = 0; b < 2; b++) {
    const char *be = backends[b];
    int fork = strcmp(be, "fork") == 0, inl[3];
    double s[3], fast[3];
    char what[64];
    for (int ni = 0; ni < 2; ni++) {
      static const pk_inline how[2] = {PK_INLINE_NEVER, PK_INLINE_AUTO};
      static const char *const hows[2] = {"dispatched", "default rule"};
      size_t n = ni ? 1000 : 1;
      for (int h = 0; h < 2; h++) {
        time_map(be, workers, n, 0, 0, &how[h], 1, reps, s, fast, inl);
        last_min = fast[0];
        snprintf(what, sizeof what, "map %zu item%s, %s", n,
                 n > 1 ? "s" : "", hows[h]);
        row(what, be, s[0], fork && h == 0 ? (n == 1 ? 5e-6 : 200e-6) : 0,
            inl[0] ? "inline" : "workers");
      }
    }
    snprintf(what, sizeof what, "start + stop, %d workers", workers);
    s[0] = time_start(be, workers, reps / 10 + 1);
    if (fork) {
      /* The floor first, so that the target is known; printed after. */
      double smin = last_min, f = time_bare_forks(workers, reps / 10 + 1),
             fmin = last_min;
      last_min = smin;
      row(what, be, s[0], f > 1e-3 ? 2 * f : 2e-3, "");
      last_min = fmin;
      snprintf(what, sizeof what, "%d bare forks, exits, waits", workers);
      row(what, "-", f, 0, "");
    } else {
      row(what, be, s[0], 0, "");
    }

    /* After a pause, the three in turn on one context: the default rule
       against the faster forced one. */
    static const pk_inline how[3] = {PK_INLINE_ALWAYS, PK_INLINE_NEVER,
                                     PK_INLINE_AUTO};
    static const char *const hows[3] = {"inline", "dispatched",
                                        "default rule"};
    time_map(be, workers, 0, 256, 20000, how, 3, reps / 50 + 1, s, fast,
             inl);
    for (int h = 0; h < 3; h++) {
      double best = s[0] < s[1] ? s[0] : s[1];
      snprintf(what, sizeof what, "256 dets after 20 ms, %s", hows[h]);
      last_min = fast[h];
      row(what, be, s[h],
          h < 2 || s[0] < 0 || s[1] < 0 ? 0 : 1.25 * best + 5e-6,
          inl[h] ? "inline" : "workers");
    }
  }
  return 0;
}
