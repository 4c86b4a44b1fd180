/* The FFTW plan cache: see fftplan.h. */
#define _POSIX_C_SOURCE 200809L
#include "fftplan.h"

#include <parkit/fft.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct entry {
  pk__fft_kind kind;
  int n0, n1;
  fftw_plan plan;
  struct entry *next;
} entry;

/*
 * Entries are immutable once published, and only prepended, so readers walk
 * the list without the lock; the release store makes a new entry's plan
 * visible before the entry.
 */
static _Atomic(entry *) head;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int rigor; /* a pk_fft_planner; 0: not chosen yet */
static int wisdom_read;  /* under lock */
/* Bumped whenever FFTW may have learnt wisdom: a process that ships its
 * wisdom to others need not export it again until this changes. */
static atomic_ulong planned;

static void fork_lock(void) { pthread_mutex_lock(&lock); }
static void fork_unlock(void) { pthread_mutex_unlock(&lock); }

/* Holding the lock across fork() means no planning is half done in the
 * child (FFTW's planner state included) and the child's lock is free. */
static void init(void) { pthread_atfork(fork_lock, fork_unlock, fork_unlock); }

static void enter(void) {
  pthread_once(&once, init);
  pthread_mutex_lock(&lock);
}

static void leave(void) { pthread_mutex_unlock(&lock); }

pk_status pk_fft_set_planner(pk_fft_planner planner) {
  if (planner < PK_FFT_ESTIMATE || planner > PK_FFT_EXHAUSTIVE)
    return PK_EINVAL;
  atomic_store(&rigor, (int)planner);
  return PK_OK;
}

static unsigned rigor_flag(void) {
  static const struct { const char *name; pk_fft_planner p; } names[] = {
      {"estimate", PK_FFT_ESTIMATE}, {"measure", PK_FFT_MEASURE},
      {"patient", PK_FFT_PATIENT}, {"exhaustive", PK_FFT_EXHAUSTIVE}};
  static const unsigned flags[] = {0, FFTW_ESTIMATE, FFTW_MEASURE,
                                   FFTW_PATIENT, FFTW_EXHAUSTIVE};
  int r = atomic_load(&rigor);

  if (r == 0) {
    const char *s = getenv("PARKIT_FFTW_PLANNER");
    r = PK_FFT_MEASURE; /* also for an unknown name: we may not print */
    for (size_t i = 0; s && i < sizeof names / sizeof *names; i++)
      if (strcasecmp(s, names[i].name) == 0)
        r = names[i].p;
    atomic_store(&rigor, r);
  }
  return flags[r];
}

static void wisdom_load(void) {
  const char *path = getenv("PARKIT_FFTW_WISDOM");

  if (!wisdom_read && path && *path)
    fftw_import_wisdom_from_filename(path);
  wisdom_read = 1;
}

/* Write to a private name, then rename: a reader (another worker) never
 * sees half a file. */
static void wisdom_save(void) {
  const char *path = getenv("PARKIT_FFTW_WISDOM");
  char *tmp;
  size_t n;

  if (!path || !*path)
    return;
  n = strlen(path) + 32;
  tmp = malloc(n);
  if (!tmp)
    return;
  snprintf(tmp, n, "%s.%ld.tmp", path, (long)getpid());
  if (fftw_export_wisdom_to_filename(tmp))
    rename(tmp, path);
  else
    remove(tmp);
  free(tmp);
}

static entry *find(pk__fft_kind kind, int n0, int n1) {
  for (entry *e = atomic_load_explicit(&head, memory_order_acquire); e;
       e = e->next)
    if (e->kind == kind && e->n0 == n0 && e->n1 == n1)
      return e;
  return NULL;
}

/* Plan on buffers of our own: measuring overwrites them. */
static fftw_plan make(pk__fft_kind kind, int n0, int n1) {
  size_t full = (size_t)n0 * (size_t)n1;
  unsigned f = rigor_flag();
  int n[2] = {n0, n1};
  fftw_complex *c = fftw_alloc_complex(full > 0 ? full : 1);
  fftw_complex *d = fftw_alloc_complex(full > 0 ? full : 1);
  double *r = (double *)d;
  fftw_plan p = NULL;

  if (c && d) {
    switch (kind) {
    case PK__FFT_FWD:
      p = fftw_plan_dft_2d(n0, n1, c, d, FFTW_FORWARD, f | FFTW_PRESERVE_INPUT);
      break;
    case PK__FFT_BWD:
      p = fftw_plan_dft_2d(n0, n1, c, d, FFTW_BACKWARD,
                           f | FFTW_PRESERVE_INPUT);
      break;
    case PK__FFT_R2C:
      p = fftw_plan_dft_r2c_2d(n0, n1, r, c, f | FFTW_PRESERVE_INPUT);
      break;
    case PK__FFT_R2C_FULL:
      p = fftw_plan_many_dft_r2c(2, n, 1, r, NULL, 1, (int)full, c, n, 1,
                                 (int)full, f | FFTW_PRESERVE_INPUT);
      break;
    case PK__FFT_C2R:
      p = fftw_plan_dft_c2r_2d(n0, n1, c, r, f | FFTW_DESTROY_INPUT);
      break;
    }
  }
  fftw_free(c);
  fftw_free(d);
  return p;
}

pk_status pk__fft_plan(pk__fft_kind kind, int n0, int n1, fftw_plan *plan) {
  entry *e = find(kind, n0, n1);
  pk_status st = PK_OK;

  if (e) {
    *plan = e->plan;
    return PK_OK;
  }
  enter();
  e = find(kind, n0, n1);
  if (!e) {
    wisdom_load();
    e = malloc(sizeof *e);
    if (!e) {
      st = PK_ENOMEM;
    } else if (!(e->plan = make(kind, n0, n1))) {
      free(e);
      e = NULL;
      st = PK_EKERNEL;
    } else {
      e->kind = kind;
      e->n0 = n0;
      e->n1 = n1;
      e->next = atomic_load_explicit(&head, memory_order_relaxed);
      atomic_store_explicit(&head, e, memory_order_release);
      atomic_fetch_add(&planned, 1);
      wisdom_save();
    }
  }
  leave();
  if (e)
    *plan = e->plan;
  return st;
}

int pk__fft_aligned(const void *p) {
  return fftw_alignment_of((double *)(uintptr_t)p) == 0;
}

void pk__fft_cache_clear(void) {
  entry *e;

  enter();
  e = atomic_exchange(&head, NULL);
  while (e) {
    entry *next = e->next;
    fftw_destroy_plan(e->plan);
    free(e);
    e = next;
  }
  fftw_cleanup();
  wisdom_read = 0;
  leave();
}

char *pk__fft_wisdom_get(void) {
  char *s;

  enter();
  s = fftw_export_wisdom_to_string();
  leave();
  return s;
}

pk_status pk__fft_wisdom_put(const char *s) {
  int ok;

  if (!s)
    return PK_EINVAL;
  enter();
  ok = fftw_import_wisdom_from_string(s);
  leave();
  return ok ? PK_OK : PK_EINVAL;
}

void pk__fft_lock(void) {
  enter();
  wisdom_load();
}

void pk__fft_unlock(void) {
  atomic_fetch_add(&planned, 1); /* the caller may have planned */
  leave();
}

unsigned long pk__fft_planned(void) { return atomic_load(&planned); }

unsigned pk__fft_flags(void) { return rigor_flag(); }

pk_status pk__fft_refuse(char *msg, size_t len, pk_status st,
                         const char *fmt, ...) {
  va_list ap;

  if (msg && len) {
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
  }
  return st;
}

pk_status pk__fft_item2d(const pk_kernel *k, const pk_item *in, char *msg,
                         size_t len, size_t *h, size_t *w) {
  if (in->ndim != 2)
    return pk__fft_refuse(msg, len, PK_ESHAPE,
                          "%s: items must be 2-D (h x w), not %d-D", k->name,
                          in->ndim);
  *h = in->shape[0];
  *w = in->shape[1];
  if (*h == 0 || *w == 0)
    return pk__fft_refuse(msg, len, PK_ESHAPE, "%s: empty item (%zu x %zu)",
                          k->name, *h, *w);
  return PK_OK;
}
