/*
 * A team of OpenMP threads that runs a job's chunks: the openmp backend's
 * whole map, an mpi rank's block.  Each thread keeps its scratch between
 * maps and its own list of failures, merged into the job's after the
 * parallel region.
 */
#include "internal.h"

#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * A map after a pause can find the threads asleep, and on some hosts they
 * take milliseconds to come: libgomp's threads spin a few milliseconds
 * after a region, then sleep, and on an AMD EPYC family 26 guest (2
 * vCPUs) the second thread came to a region 1.8 ms late after an 18 ms
 * pause and 3.8 ms after 100 ms (medians; 46 us after 10 ms, 1 us after
 * 5 ms; 19 us after any pause with OMP_WAIT_POLICY=passive).  The region
 * ends only when every thread has come, so a map of 256 10x10
 * determinants, 10 us back to back, took 5.8 ms after an 18 ms pause.
 * Such lateness is noted per team and weighed by the inline rule.
 *
 * The notes are kept by the length of the pause before the map, in
 * classes four times apart (under 10 us, 10-40 us, ... 0.66 s and more),
 * the last PK__WAKE_KEEP of each; a pause is expected to be followed by
 * the lower median of its class's notes of the last PK__WAKE_TTL seconds,
 * when there are two or more, counted where it is a late wake (over 4
 * times the warm dispatch cost and over 20 us).  Two notes, and classes,
 * because one late map may be a stall of the host: in parkit-bench a fork
 * pool's worker came 2-5 ms late to a map 8-27 us after the one before,
 * once or twice, and 3.5-3.9 ms late after 0.37 s in two runs of six
 * (80-100 us in the others); with one pause threshold for every length,
 * set by the shortest pause that was followed by a late wake, such notes
 * had kept maps of 100,000 10x10 determinants inline, at twice the time,
 * in two runs of three.  Only
 * dispatched maps are observed: once small maps after a pause run inline,
 * the larger ones, still dispatched, show whether the threads wake faster,
 * and where there are none the notes grow stale: the class then takes
 * two dispatched maps to learn again, once every PK__WAKE_TTL seconds at
 * most.
 */
#define SLOW_S 20e-6

/* The class of a pause of gap seconds. */
static int wake_class(double gap) {
  int b = 0;
  for (double g = 10e-6; gap >= g && b < PK__WAKE_CLASSES - 1; g *= 4)
    b++;
  return b;
}

void pk__wake_note(pk__wake *w, double gap, double late, double now) {
  struct pk__wake_class *c = &w->c[wake_class(gap)];

  if (c->n == PK__WAKE_KEEP) {
    memmove(c->late, c->late + 1, (PK__WAKE_KEEP - 1) * sizeof *c->late);
    memmove(c->at, c->at + 1, (PK__WAKE_KEEP - 1) * sizeof *c->at);
    c->n--;
  }
  c->at[c->n] = now;
  c->late[c->n++] = late;
}

double pk__wake_expect(const pk__wake *w, double gap, double now,
                       double warm) {
  const struct pk__wake_class *c = &w->c[wake_class(gap)];
  double v[PK__WAKE_KEEP];
  int n = 0;

  for (int i = 0; i < c->n; i++)
    if (now - c->at[i] <= PK__WAKE_TTL)
      v[n++] = c->late[i];
  if (n < 2)
    return 0;
  for (int i = 1; i < n; i++)
    for (int k = i; k > 0 && v[k] < v[k - 1]; k--) {
      double x = v[k];
      v[k] = v[k - 1];
      v[k - 1] = x;
    }
  const double late = v[(n - 1) / 2];
  return late > 4 * warm && late > SLOW_S ? late : 0;
}

pk_status pk__team_init(pk__team *t, int n) {
  t->n = n;
  t->scratch = calloc((size_t)n, sizeof *t->scratch);
  t->cap = calloc((size_t)n, sizeof *t->cap);
  t->fails = calloc((size_t)n, sizeof *t->fails);
  t->entry = calloc((size_t)n, sizeof *t->entry);
  t->last_end = pk_time();
  memset(&t->wake, 0, sizeof t->wake);
  return t->scratch && t->cap && t->fails && t->entry ? PK_OK : PK_ENOMEM;
}

void pk__team_free(pk__team *t) {
  for (int i = 0; i < t->n; i++) {
    if (t->scratch && t->cap)
      pk__scratch_release(&t->scratch[i], &t->cap[i]);
    if (t->fails)
      pk__fails_free(&t->fails[i]);
  }
  free(t->scratch);
  free(t->cap);
  free(t->fails);
  free(t->entry);
  t->scratch = NULL;
  t->cap = NULL;
  t->fails = NULL;
  t->entry = NULL;
  t->n = 0;
}

pk_status pk__team_run(pk_context *ctx, pk__team *t, const pk__job *j,
                       int w, pk__fails *f) {
  atomic_size_t next = 0;
  size_t c;
  int i;

  if (j->nchunks == 0)
    return PK_OK;
  if (w > t->n)
    w = t->n;
  if ((size_t)w > j->nchunks)
    w = (int)j->nchunks;
  for (i = 0; i < w; i++)
    if (pk__scratch_reserve(&t->scratch[i], &t->cap[i], j->scratch) != 0)
      return pk__error(ctx, PK_ENOMEM, "%s: cannot allocate %zu bytes of "
                       "scratch", j->kernel->name, j->scratch);
  if (w <= 1) { /* no region to wake */
    for (c = 0; c < j->nchunks; c++)
      pk__run_chunk(ctx, j, c, t->scratch[0], 0, f);
    return PK_OK;
  }
  const double t0 = pk_time(), gap = t0 - t->last_end;
  int nth_run = 1;
#pragma omp parallel num_threads(w) private(c)
  {
    int me = omp_get_thread_num(), nth = omp_get_num_threads();

    t->entry[me] = pk_time();
    if (me == 0)
      nth_run = nth;

    if (j->schedule == PK_SCHEDULE_DYNAMIC) {
      while ((c = atomic_fetch_add(&next, 1)) < j->nchunks)
        pk__run_chunk(ctx, j, c, t->scratch[me], me, &t->fails[me]);
    } else {
      /* Fewer threads than asked for still cover every chunk. */
      for (c = (size_t)me; c < j->nchunks; c += (size_t)nth)
        pk__run_chunk(ctx, j, c, t->scratch[me], me, &t->fails[me]);
    }
  }
  t->last_end = pk_time();
  double late = 0;
  for (i = 1; i < nth_run; i++)
    if (t->entry[i] - t0 > late)
      late = t->entry[i] - t0;
  pk__wake_note(&t->wake, gap, late, t->last_end);
  for (i = 0; i < w; i++) {
    for (size_t k = 0; k < t->fails[i].len; k++)
      pk__fails_add(f, t->fails[i].v[k].item, t->fails[i].v[k].status, i);
    f->n += t->fails[i].n - t->fails[i].len;
    t->fails[i].n = t->fails[i].len = 0;
  }
  return PK_OK;
}
