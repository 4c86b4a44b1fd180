/* The FFTW plan cache: see fftplan.h. */
#define _POSIX_C_SOURCE 200809L
#include "fftplan.h"
#include "fetch.h"
#include "internal.h"

#include <limits.h>
#include <time.h>

#include <parkit/fft.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/*
 * The automatic mode: a plan may take BUDGET of the work expected of it;
 * below FLOOR seconds a measurement could not finish, and FFTW_ESTIMATE
 * (which still uses any wisdom held) plans in a millisecond or two.
 */
#define BUDGET 0.1
#define FLOOR 0.05

typedef struct entry {
  pk__fft_kind kind;
  int n0, n1;
  int rigor;    /* the pk_fft_planner it was made with, never auto */
  double limit; /* FFTW's time limit then, seconds; < 0: none */
  fftw_plan plan;
  struct entry *next;
} entry;

/* An effort a leading process chose for a plan this one has not made. */
typedef struct told {
  pk__fft_kind kind;
  int n0, n1, rigor;
  double limit;
} told;

/*
 * Entries are immutable once published, and only prepended, so readers walk
 * the list without the lock; the release store makes a new entry's plan
 * visible before the entry.
 */
static _Atomic(entry *) head;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int mode = -1; /* a pk_fft_planner; -1: not read yet */
/* Bumped whenever FFTW may have learnt wisdom: a process that ships its
 * wisdom to others need not export it again until this changes. */

/* Under lock. */
static told *tolds;
static size_t ntold, told_cap;

static const char *const rigor_names[] = {"auto", "estimate", "measure",
                                          "patient", "exhaustive",
                                          "reproducible"};
static const unsigned rigor_flags[] = {FFTW_ESTIMATE, FFTW_ESTIMATE,
                                       FFTW_MEASURE, FFTW_PATIENT,
                                       FFTW_EXHAUSTIVE,
                                       FFTW_ESTIMATE | FFTW_NO_SIMD};

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

static int parse_planner(const char *s) {
  for (int i = 0; i < (int)(sizeof rigor_names / sizeof *rigor_names); i++)
    if (strcasecmp(s, rigor_names[i]) == 0)
      return i;
  return -1;
}

pk_status pk_fft_set_planner(pk_fft_planner planner) {
  if ((int)planner < PK_FFT_AUTO || planner > PK_FFT_REPRODUCIBLE)
    return PK_EINVAL;
  atomic_store(&mode, (int)planner);
  pk__fft_bump(); /* workers must hear of it */
  return PK_OK;
}

/* pk_init refused an unknown name; a program without pk_init gets auto. */
static int mode_get(void) {
  int m = atomic_load(&mode);

  if (m < 0) {
    const char *s = getenv("PARKIT_FFTW_PLANNER");
    m = s && *s ? parse_planner(s) : PK_FFT_AUTO;
    if (m < 0)
      m = PK_FFT_AUTO;
    atomic_store(&mode, m);
  }
  return m;
}

int pk__fft_flush(char *msg, size_t len) {
  int said;

  enter();
  pk__wisdom_flush();
  said = pk__fft_notes_take(msg, len);
  leave();
  return said;
}

pk_status pk__fft_setup(char *msg, size_t len) {
  const char *s = getenv("PARKIT_FFTW_PLANNER");

  if (s && *s && parse_planner(s) < 0)
    return pk__fft_refuse(msg, len, PK_EINVAL,
                          "PARKIT_FFTW_PLANNER=%s is not a planner: auto, "
                          "estimate, measure, patient, exhaustive or "
                          "reproducible", s);
  return pk__wisdom_check(msg, len);
}

/* ------------------------------------------------------------ planning */

static entry *find(pk__fft_kind kind, int n0, int n1) {
  for (entry *e = atomic_load_explicit(&head, memory_order_acquire); e;
       e = e->next)
    if (e->kind == kind && e->n0 == n0 && e->n1 == n1)
      return e;
  return NULL;
}

static const told *told_find(pk__fft_kind kind, int n0, int n1) {
  for (size_t i = 0; i < ntold; i++)
    if (tolds[i].kind == kind && tolds[i].n0 == n0 && tolds[i].n1 == n1)
      return &tolds[i];
  return NULL;
}

/* The effort for a new plan: what the leader chose, the user's planner,
 * or (auto) what the expected work pays for. */
static int decide(entry *e, double work_ns) {
  const told *t = told_find(e->kind, e->n0, e->n1);
  double budget = BUDGET * work_ns * 1e-9;
  int m = mode_get();

  e->limit = -1;
  if (t) {
    e->rigor = t->rigor;
    e->limit = t->limit;
    return 1;
  }
  if (m != PK_FFT_AUTO)
    e->rigor = m;
  else if (!(budget >= FLOOR))
    e->rigor = PK_FFT_ESTIMATE;
  else {
    e->rigor = PK_FFT_MEASURE;
    e->limit = budget < 1e6 ? budget : -1;
  }
  return 0;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Plan on buffers of our own: measuring overwrites them. */
static fftw_plan make(const entry *e) {
  int n0 = e->n0, n1 = e->n1;
  size_t full = (size_t)n0 * (size_t)n1;
  unsigned f = rigor_flags[e->rigor];
  int n[2] = {n0, n1};
  fftw_complex *c = fftw_alloc_complex(full > 0 ? full : 1);
  fftw_complex *d = fftw_alloc_complex(full > 0 ? full : 1);
  double *r = (double *)d;
  fftw_plan p = NULL;

  fftw_set_timelimit(e->limit >= 0 ? e->limit : FFTW_NO_TIMELIMIT);
  if (c && d) {
    switch (e->kind) {
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
    case PK__FFT_ROWS_R2C:
      p = fftw_plan_many_dft_r2c(1, &n1, n0, r, NULL, 1, n1, c, NULL, 1,
                                 n1 / 2 + 1, f | FFTW_DESTROY_INPUT);
      break;
    case PK__FFT_ROWS_C2R:
      p = fftw_plan_many_dft_c2r(1, &n1, n0, c, NULL, 1, n1 / 2 + 1, r, NULL,
                                 1, n1, f | FFTW_DESTROY_INPUT);
      break;
    case PK__FFT_COLS_FWD:
    case PK__FFT_COLS_BWD:
      p = fftw_plan_many_dft(1, &n0, n1, c, NULL, n1, 1, c, NULL, n1, 1,
                             e->kind == PK__FFT_COLS_FWD ? FFTW_FORWARD
                                                         : FFTW_BACKWARD,
                             f);
      break;
    case PK__FFT_ROWS_FWD:
    case PK__FFT_ROWS_BWD:
      /* Out of place: in place, FFTW's measured plan for 4 rows of 128
         copied them through a buffer it allocated at every execute (0.415
         us, against 0.317 out of place; AMD EPYC family 26). */
      p = fftw_plan_many_dft(1, &n1, n0, c, NULL, 1, n1, d, NULL, 1, n1,
                             e->kind == PK__FFT_ROWS_FWD ? FFTW_FORWARD
                                                         : FFTW_BACKWARD,
                             f);
      break;
    }
  }
  /* Other planners (one large array) take no limit. */
  fftw_set_timelimit(FFTW_NO_TIMELIMIT);
  fftw_free(c);
  fftw_free(d);
  return p;
}

static const char *const kind_names[] = {
    "c2c forward", "c2c backward", "r2c", "r2c (full)", "c2r",
    "r2c rows", "c2r rows", "c2c columns forward", "c2c columns backward",
    "c2c rows forward", "c2c rows backward"};

pk_status pk__fft_plan(pk__fft_kind kind, int n0, int n1, double work_ns,
                       fftw_plan *plan) {
  entry *e = find(kind, n0, n1);
  pk_status st = PK_OK;

  if (e) {
    *plan = e->plan;
    return PK_OK;
  }
  enter();
  e = find(kind, n0, n1);
  if (!e) {
    pk__wisdom_load();
    e = malloc(sizeof *e);
    if (!e) {
      st = PK_ENOMEM;
    } else {
      e->kind = kind;
      e->n0 = n0;
      e->n1 = n1;
      int was_told = decide(e, work_ns);
      double t0 = now();
      if (!(e->plan = make(e))) {
        free(e);
        e = NULL;
        st = PK_EKERNEL;
      } else {
        pk__fft_note("fft: %s %d x %d planned by %s%s in %.3g ms "
                     "(expected work %.3g ms)", kind_names[kind], n0, n1,
                     rigor_names[e->rigor],
                     was_told ? " as the leading process did" : "",
                     (now() - t0) * 1e3, work_ns * 1e-6);
        e->next = atomic_load_explicit(&head, memory_order_relaxed);
        atomic_store_explicit(&head, e, memory_order_release);
        pk__fft_bump();
      }
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
  free(tolds);
  tolds = NULL;
  ntold = told_cap = 0;
  pk__wisdom_reset();
  pk__fft_notes_take(NULL, 0);
  leave();
}

/* ------------------------------------------------- state for followers */

#define STATE_HEAD "parkit-fft-state 1 mode "

char *pk__fft_state_get(void) {
  size_t n = 0, cap, off;
  char *w, *s;
  entry *e;

  enter();
  w = fftw_export_wisdom_to_string();
  for (e = atomic_load(&head); e; e = e->next)
    n++;
  cap = (w ? strlen(w) : 0) + 64 + 128 * n; /* a plan line: < 90 */
  s = w ? malloc(cap) : NULL;
  if (s) {
    off = (size_t)snprintf(s, cap, STATE_HEAD "%d\n", mode_get());
    for (e = atomic_load(&head); e; e = e->next)
      off += (size_t)snprintf(s + off, cap - off, "plan %d %d %d %d %a\n",
                              (int)e->kind, e->n0, e->n1, e->rigor, e->limit);
    snprintf(s + off, cap - off, "%s", w);
  }
  leave();
  free(w); /* FFTW's export is freed with free() */
  return s;
}

static pk_status tell(const told *t) {
  told *x = (told *)told_find(t->kind, t->n0, t->n1);

  if (!x) {
    if (ntold == told_cap) {
      size_t c = told_cap ? 2 * told_cap : 16;
      told *v = realloc(tolds, c * sizeof *v);
      if (!v)
        return PK_ENOMEM;
      tolds = v;
      told_cap = c;
    }
    x = &tolds[ntold++];
  }
  *x = *t;
  return PK_OK;
}

pk_status pk__fft_state_put(const char *s) {
  pk_status st = PK_OK;
  const char *p;
  int m, k, used;
  told t;

  if (!s || strncmp(s, STATE_HEAD, strlen(STATE_HEAD)) != 0)
    return PK_EINVAL;
  p = s + strlen(STATE_HEAD);
  if (sscanf(p, "%d", &m) != 1 || m < PK_FFT_AUTO || m > PK_FFT_REPRODUCIBLE)
    return PK_EINVAL;
  p = strchr(p, '\n');
  enter();
  pk__wisdom_follow();
  atomic_store(&mode, m);
  while (st == PK_OK && p && strncmp(p + 1, "plan ", 5) == 0) {
    if (sscanf(p + 1, "plan %d %d %d %d %la%n", &k, &t.n0, &t.n1, &t.rigor,
               &t.limit, &used) != 5 || k < 0 || k >= PK__FFT_KINDS ||
        t.rigor < PK_FFT_ESTIMATE || t.rigor > PK_FFT_REPRODUCIBLE)
      st = PK_EINVAL;
    t.kind = (pk__fft_kind)k;
    if (st == PK_OK)
      st = tell(&t);
    p = strchr(p + 1, '\n');
  }
  if (st == PK_OK && p && p[1] && !fftw_import_wisdom_from_string(p + 1))
    st = PK_EINVAL;
  leave();
  return st;
}

void pk__fft_lock(void) {
  enter();
  pk__wisdom_load();
}

void pk__fft_unlock(void) {
  pk__fft_bump(); /* the caller may have planned */
  leave();
}


unsigned pk__fft_flags(void) { return rigor_flags[mode_get()]; }


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

/* ----------------------------------------------------- shared arithmetic */

/*
 * A size FFTW transforms fast with either planner: 2^a times at most two
 * of 3, 3, 5, 5, 7.  The estimate planner, which a batch too small to
 * repay measuring gets, made slow plans for the other 2^a 3^b 5^c 7^d:
 * 2-D real pairs of transforms on this Xeon (model 207), ns per N log2 N,
 * estimate: 108 (3^3) 0.70, 125 x 126 1.02, 147 x 150 0.63, 162 0.64, 210
 * 0.66, 216 0.55, against 112 0.44, 120 0.50, 128 0.35, 140 0.44, 160
 * 0.42, 200 0.42; measured plans for 125 x 126 and 126 were slow too
 * (0.96, 0.88, against 0.22-0.34 for 112, 120, 128).
 */
static int smooth(size_t n) {
  int odd = 0, sevens = 0;

  while (n % 2 == 0)
    n /= 2;
  for (; n % 3 == 0; n /= 3)
    odd++;
  for (; n % 5 == 0; n /= 5)
    odd++;
  for (; n % 7 == 0; n /= 7)
    odd++, sevens++;
  return n == 1 && odd <= 2 && sevens <= 1;
}

size_t pk__fft_fast_size(size_t n) {
  for (; n <= INT_MAX; n++)
    if (smooth(n))
      return n;
  return 0;
}

size_t pk__fft_fast_even(size_t n) {
  for (n += n & 1; n <= INT_MAX; n += 2)
    if (smooth(n))
      return n;
  return 0;
}

/*
 * Columns side by side (a plan over many columns, stride the row): FFTW's
 * vector codelets transform a whole column of 2 .. 16, 20, 25, 32, 64 or
 * 128 at once, lanes across columns; other lengths take passes of smaller
 * codelets and twiddles.  Estimate plans of 17 to 101 columns on the Xeon
 * (model 207), ns per n log2 n: 0.13-0.21 at 10, 12, 16, 20, 32, 64 and
 * 128, against 0.33-0.45 for the fast sizes between (18 0.8, 24 0.55, 30
 * 1.7, 40 0.49, 120 0.37, 140 0.38).  A length at most twice as long
 * costs at most 2.15 times the n log2 n, so up to 128 the codelet's
 * length is the cheaper (25's took longer than 32's).
 */
static const size_t whole_cols[] = {20, 32, 64, 128};

size_t pk__fft_fast_cols(size_t n) {
  if (n <= 16)
    return pk__fft_fast_size(n);
  for (size_t i = 0; i < sizeof whole_cols / sizeof *whole_cols; i++)
    if (n <= whole_cols[i])
      return whole_cols[i];
  return pk__fft_fast_size(n);
}

/*
 * Rows (real transforms of contiguous rows, forward and back): estimate
 * plans of 100 rows on the Xeon, ns per n log2 n, 0.14-0.165 at 144, 180,
 * 192, 200, 240, 300, 320, 384, 400, 448, 480, 504 and 512, against
 * 0.18-0.29 at every other even fast size from 64 on (128 0.23, 140 0.20,
 * 160 0.20, 288 0.21).  No factor sets the list apart: it is how FFTW's
 * estimate planner splits these lengths (its own cost estimate, about the
 * flops, did not tell them apart either).  Longer rows mean more columns
 * too: one of them is taken only if at most a tenth longer than the fast
 * size (100x100 with 31x31, full: 144 for 140, 0.91 of the pair's time;
 * same: 144 for 120 took 1.08).
 */
static const size_t fast_rows[] = {144, 180, 192, 200, 240, 300, 320,
                                   384, 400, 448, 480, 504, 512};

/* Per n log2 n against other lengths: columns a codelet takes whole 0.45,
   the rows above 0.72. */
double pk__fft_grid_nlogn(int H, int W) {
  double cols = H > 1 ? log2((double)H) : 0, rows = W > 1 ? log2((double)W) : 0;
  int whole = H <= 16;

  for (size_t i = 0; i < sizeof whole_cols / sizeof *whole_cols; i++)
    whole |= (size_t)H == whole_cols[i];
  for (size_t i = 0; i < sizeof fast_rows / sizeof *fast_rows; i++)
    if ((size_t)W == fast_rows[i])
      rows *= 0.72;
  double n = (double)H * W, t = n * ((whole ? 0.45 : 1) * cols + rows);
  return t > n ? t : n;
}

size_t pk__fft_fast_rows(size_t n, int H) {
  size_t e = pk__fft_fast_even(n), best = e;
  double c;

  if (e == 0 || e > INT_MAX / (size_t)(H > 0 ? H : 1))
    return e;
  c = pk__fft_grid_nlogn(H, (int)e);
  for (size_t i = 0; i < sizeof fast_rows / sizeof *fast_rows; i++) {
    size_t w = fast_rows[i];
    if (w >= n && w != e && 10 * w <= 11 * e &&
        pk__fft_grid_nlogn(H, (int)w) < c)
      best = w, c = pk__fft_grid_nlogn(H, (int)w);
  }
  return best;
}

void pk__fft_scale(double *x, size_t n, double re, double im) {
  for (size_t i = 0; i < n; i += 2) {
    x[i] *= re;
    x[i + 1] *= im;
  }
}

#define SYSFS_CACHE "/sys/devices/system/cpu/cpu0/cache"

/* The size of the cache of the highest level cpu0 has, from Linux's
   sysfs; 0 if not known. */
static size_t sysfs_llc(void) {
  size_t best = 0;
  int top = 0;
  for (int i = 0; i < 16; i++) {
    char path[80], buf[32];
    int level = 0;
    unsigned long v = 0;
    char unit = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/index%d/level", SYSFS_CACHE, i);
    if ((f = fopen(path, "r")) == NULL)
      break;
    if (fscanf(f, "%d", &level) != 1)
      level = 0;
    fclose(f);
    snprintf(path, sizeof path, "%s/index%d/size", SYSFS_CACHE, i);
    if ((f = fopen(path, "r")) == NULL)
      continue;
    if (fgets(buf, sizeof buf, f) && sscanf(buf, "%lu%c", &v, &unit) >= 1) {
      size_t b = v * (unit == 'K' ? 1024ul : unit == 'M' ? 1048576ul : 1ul);
      if (level > top || (level == top && b > best))
        top = level, best = b;
    }
    fclose(f);
  }
  return best;
}

/*
 * sysfs says what one core's last level is (on an AMD EPYC family 26
 * guest, 32 MB; the C library's sysconf said 384 MB, every complex of the
 * socket); sysconf where there is no sysfs.
 */
size_t pk__fft_llc_bytes(void) {
  static atomic_size_t llc;
  size_t b = atomic_load_explicit(&llc, memory_order_relaxed);
  if (b == 0) {
    long v = -1;
    b = sysfs_llc();
#ifdef _SC_LEVEL3_CACHE_SIZE
    if (b == 0) {
      v = sysconf(_SC_LEVEL3_CACHE_SIZE);
      if (v <= 0)
        v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    }
#endif
    if (b == 0)
      b = v > 0 ? (size_t)v : (size_t)8 << 20;
    atomic_store_explicit(&llc, b, memory_order_relaxed);
  }
  return b;
}

/* A complex number as a vector of two, its sign bits. */
typedef double pk__c2 __attribute__((vector_size(16)));
typedef int64_t pk__i2 __attribute__((vector_size(16)));

/*
 * Whole numbers, not their halves: GCC made the loop of scalars two
 * loads, two stores and a sign change a number.  fft2 of 30 real items
 * 100 x 100 (in place, in cache) took 0.955 of that time on one core
 * (median of 8 alternations, AMD EPYC family 25), same bits.  The sign
 * changed by xor, as the negation did, NaNs included.
 */
void pk__fft_hermitian_row(double *row, const double *mirror, size_t w,
                           size_t wc) {
  const pk__i2 conj = {0, INT64_MIN};
  for (size_t j = wc; j < w; j++) {
    pk__c2 v;
    memcpy(&v, mirror + 2 * (w - j), sizeof v);
    v = (pk__c2)((pk__i2)v ^ conj);
    memcpy(row + 2 * j, &v, sizeof v);
  }
}

void pk__fft_mirror_full(double *x, size_t h, size_t w, size_t wc,
                         int inverse) {
  for (size_t i = 0; i < h; i++)
    pk__fft_hermitian_row(x + 2 * i * w, x + 2 * ((h - i) % h) * w, w, wc);
  /* ifft2 of real x is conj(fft2(x)) / hw. */
  if (inverse) {
    double s = 1.0 / ((double)h * (double)w);
    pk__fft_scale(x, 2 * h * w, s, -s);
  }
}

/*
 * The mirror made as the spectrum is stored, not into the scratch first,
 * where its half rows were written and read again.  The stores leave the
 * load ports idle, and the next item's input (which FFTW's first pass
 * reads a few lines a row at a time, too slowly for the hardware
 * prefetcher) comes in meanwhile, a share of its lines fetched before each
 * half row: 5,000 real items 100 x 100 on one core of an AMD EPYC family
 * 26 took 0.72 of the time of the same stores without the fetch.
 */
void pk__fft_put_full(double *dst, const double *y, size_t h, size_t w,
                      size_t wc, int inverse, const void *next,
                      size_t ahead) {
#ifdef __SSE2__
  if (((uintptr_t)dst & 15) == 0 && h > 0) {
    const double s = 1.0 / ((double)h * (double)w);
    const __m128d conj = _mm_castsi128_pd(_mm_set_epi64x(INT64_MIN, 0)),
                  scale = _mm_set_pd(-s, s);
    pk__fetch f = {next, next ? (ahead + 63) / 64 : 0, 1};
    f.per = (f.left + 2 * h - 1) / (2 * h);
    for (size_t i = 0; i < h; i++) {
      const double *v = y + 2 * i * w;
      const double *m = y + 2 * ((h - i) % h) * w;
      double *o = dst + 2 * i * w;
      PK__FETCH_STEP(&f, 2);
      for (size_t j = 0; j < wc; j++, o += 2) {
        __m128d c = _mm_loadu_pd(v + 2 * j);
        if (inverse)
          c = _mm_mul_pd(c, scale);
        _mm_stream_pd(o, c);
      }
      PK__FETCH_STEP(&f, 2);
      for (size_t j = wc; j < w; j++, o += 2) {
        __m128d c = _mm_xor_pd(_mm_loadu_pd(m + 2 * (w - j)), conj);
        if (inverse)
          c = _mm_mul_pd(c, scale);
        _mm_stream_pd(o, c);
      }
    }
    return;
  }
#endif
  (void)next, (void)ahead;
  for (size_t i = 0; i < h; i++)
    memcpy(dst + 2 * i * w, y + 2 * i * w, wc * 2 * sizeof *dst);
  pk__fft_mirror_full(dst, h, w, wc, inverse);
}

void pk__fft_fence(void) {
#ifdef __SSE2__
  _mm_sfence();
#endif
}

/* ----------------------------------------------------------- threads */

static int threads_state; /* under the planning lock: 0, 1 ok, -1 failed */

int pk__fft_threads(int n) {
  /* One thread is how FFTW plans until its threads start: they are
     started for more only.  Each new fork worker asks for one, and the
     start (the threads' solvers registered with the planner) took 3.7 of
     its 7 ms to come up (AMD EPYC family 26 guest). */
  if (threads_state == 0 && n <= 1)
    return 1;
  if (threads_state == 0)
    threads_state = fftw_init_threads() ? 1 : -1;
  if (threads_state < 0)
    return 0;
  fftw_plan_with_nthreads(n > 0 ? n : 1);
  return 1;
}

void pk__fft_plan_begin(int nt) {
  pk__fft_lock();
  pk__fft_threads(nt);
}

/* Back to one thread before anyone else plans: the cache's plans must
 * stay single-threaded, they run inside workers already. */
void pk__fft_plan_end(void) {
  if (threads_state > 0)
    fftw_plan_with_nthreads(1);
  pk__fft_unlock();
}

void pk__fft_plan_free(fftw_plan p) {
  if (p == NULL)
    return;
  pk__fft_lock();
  fftw_destroy_plan(p);
  pk__fft_unlock();
}

/* ------------------------------------------------------------ the seam */

static void single(void) { pk__fft_threads(1); }

/* The FFT kernels' planning state, for the core and the backends to move
 * between processes without naming FFTW (src/plans.c). */
static const pk__plan_hooks hooks = {
    .name = "fftw",
    .setup = pk__fft_setup,
    .save = pk__fft_state_get,
    .load = pk__fft_state_put,
    .version = pk__fft_planned,
    .flush = pk__fft_flush,
    .single = single,
    .help = "  PARKIT_FFTW_PLANNER  auto, estimate, measure, patient, exhaustive "
            "or\n"
            "                       reproducible\n"
            "  PARKIT_FFTW_WISDOM   the wisdom file (default: the user's "
            "cache), or off\n",
};

__attribute__((constructor)) static void register_hooks(void) {
  pk__plans_register(&hooks);
}
