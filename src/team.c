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

pk_status pk__team_init(pk__team *t, int n) {
  t->n = n;
  t->scratch = calloc((size_t)n, sizeof *t->scratch);
  t->cap = calloc((size_t)n, sizeof *t->cap);
  t->fails = calloc((size_t)n, sizeof *t->fails);
  return t->scratch && t->cap && t->fails ? PK_OK : PK_ENOMEM;
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
  t->scratch = NULL;
  t->cap = NULL;
  t->fails = NULL;
  t->n = 0;
}

pk_status pk__team_run(pk_context *ctx, pk__team *t, const pk__job *j,
                       int w, pk__fails *f) {
  atomic_size_t next = 0;
  size_t c, lo, hi;
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
    for (c = 0; c < j->nchunks; c++) {
      pk__chunk(j, c, &lo, &hi);
      pk__run(j, lo, hi, t->scratch[0], 0, f);
    }
    return PK_OK;
  }
#pragma omp parallel num_threads(w) private(c, lo, hi)
  {
    int me = omp_get_thread_num(), nth = omp_get_num_threads();

    if (j->schedule == PK_SCHEDULE_DYNAMIC) {
      while ((c = atomic_fetch_add(&next, 1)) < j->nchunks) {
        pk__chunk(j, c, &lo, &hi);
        pk__run(j, lo, hi, t->scratch[me], me, &t->fails[me]);
      }
    } else {
      /* Fewer threads than asked for still cover every chunk. */
      for (c = (size_t)me; c < j->nchunks; c += (size_t)nth) {
        pk__chunk(j, c, &lo, &hi);
        pk__run(j, lo, hi, t->scratch[me], me, &t->fails[me]);
      }
    }
  }
  for (i = 0; i < w; i++) {
    for (size_t k = 0; k < t->fails[i].len; k++)
      pk__fails_add(f, t->fails[i].v[k].item, t->fails[i].v[k].status, i);
    f->n += t->fails[i].n - t->fails[i].len;
    t->fails[i].n = t->fails[i].len = 0;
  }
  return PK_OK;
}
