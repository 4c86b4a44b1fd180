/* The openmp backend: one parallel region per map over a team of threads. */
#include "internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * GCC's OpenMP runtime (libgomp) keeps its pool of threads across fork()
 * without the threads: in a process forked after a team of more than one
 * thread ran in its parent, the next region of more than one thread waits
 * for ever (a Python multiprocessing Pool forked after parkit.det did).
 * LLVM's and Intel's runtimes (which define __kmpc_fork_call) start a new
 * pool in the child.  Under libgomp, a process forked after a team of
 * this library's ran (or a descendant of it) runs its contexts on one
 * thread, the caller's.
 */
static atomic_int team_ran, forked_after;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;

static void child_after_fork(void) {
  if (atomic_load(&team_ran))
    atomic_store(&forked_after, 1);
}

static void watch_forks(void) {
  if (dlsym(RTLD_DEFAULT, "__kmpc_fork_call") == NULL) /* libgomp */
    pthread_atfork(NULL, NULL, child_after_fork);
}

static int gomp_child(void) {
  return atomic_load_explicit(&forked_after, memory_order_relaxed);
}

/*
 * The cost of waking the team for an empty parallel region, each sample
 * after a pause: a map usually finds the threads asleep, and that is the
 * cost the inline rule weighs.  The minimum, not the median: another
 * process on the core only ever adds time, and one disturbed start must not
 * make this context run every map inline for its whole life.  Capped for
 * the same reason.
 */
#define DISPATCH_CAP_NS 50e3

static double measure_dispatch(int workers) {
  atomic_int woke = 0; /* a body the compiler cannot drop */
  double best = DISPATCH_CAP_NS;
  int i;

  for (i = 0; i < 9; i++) {
    double t0, t;
    usleep(200);
    t0 = pk_time();
#pragma omp parallel num_threads(workers)
    atomic_fetch_add(&woke, 1);
    t = (pk_time() - t0) * 1e9;
    if (i >= 2 && t < best)
      best = t;
  }
  return best;
}

static void omp_stop(pk_context *ctx) {
  pk__team *t = ctx->impl;

  if (t == NULL)
    return;
  pk__team_free(t);
  free(t);
  ctx->impl = NULL;
}

static pk_status omp_start(pk_context *ctx) {
  pk__team *t = calloc(1, sizeof *t);

  pthread_once(&watch_once, watch_forks);
  if (ctx->workers > 1 && gomp_child()) {
    pk__log(ctx, "openmp: this process was forked after OpenMP (libgomp) "
            "ran threads in its parent, and libgomp cannot start threads "
            "here: 1 worker, not %d (start the process with exec, as "
            "Python's spawn and forkserver do, or use the fork backend)",
            ctx->workers);
    ctx->workers = 1;
  }
  ctx->impl = t;
  if (t == NULL || pk__team_init(t, ctx->workers) != PK_OK)
    return PK_ENOMEM;
  ctx->dispatch_ns = measure_dispatch(t->n);
  if (t->n > 1)
    atomic_store(&team_ran, 1);
  t->last_end = pk_time();
  pk__log(ctx, "openmp: waking %d threads takes %.1f us", t->n,
          ctx->dispatch_ns * 1e-3);
  return PK_OK;
}

/* How late the threads are likely to come after the pause since the last
   map (team.c). */
static double omp_late(pk_context *ctx) {
  const pk__team *t = ctx->impl;
  const double now = pk_time();
  return pk__wake_expect(&t->wake, now - t->last_end, now,
                         ctx->dispatch_ns * 1e-9) * 1e9;
}

/* A context made before a fork, used in the child: on the caller's thread
   alone there (see forked_after). */
static pk_status omp_map(pk_context *ctx, const pk__job *j, pk__fails *f) {
  return pk__team_run(ctx, ctx->impl, j, gomp_child() ? 1 : j->workers, f);
}

const pk__backend_ops pk__backend_openmp = {
    .name = "openmp",
    .start = omp_start,
    .stop = omp_stop,
    .map = omp_map,
    .late = omp_late,
    .caller_runs = 1,
};
