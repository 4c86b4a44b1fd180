/*
 * What an item of a kernel costs on this CPU, as maps measure it.
 *
 * A kernel's cost function gives nanoseconds per item with constants fitted
 * on one CPU; on another they were seen 8-24 times too low, and the inline
 * rule kept batches on one core that two would have halved.  So the front
 * end measures instead, and keeps per process:
 *   - per (kernel, item layout): nanoseconds of one item on one core (the
 *     layout of every input: a pair kernel's cost is the second item's as
 *     much as the first's);
 *   - per kernel: the ratio of those measurements to its cost function,
 *     which scales the cost function for layouts not run yet.
 * An exact sample comes from items run on the calling thread; a bound from
 * a dispatched map (wall time times workers over items: sharing a core and
 * imbalance only make it larger) or from fewer items than the kernel's
 * grain (a vectorised kernel pays for whole vectors), or from a run too
 * short for the clock.  The estimate is a median of the last exact samples
 * (a run another process disturbed does not move it), or the lowest bound
 * if that is lower.
 *
 * One fixed table, open addressing, no lock: several threads may map on
 * different contexts.  An entry is claimed by a compare-and-swap of its
 * state, and its key written before the state says it is ready; the
 * estimate is one atomic word that racing updates overwrite (an estimate:
 * the last writer wins).  When the table is full, new layouts are not
 * measured and get the cost function's figure.
 */
#include "internal.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define SLOTS 1024 /* a power of two */
#define PROBES 32  /* slots looked at for one key */
#define RING 4     /* exact samples kept */

enum { EMPTY, BUSY, READY };

typedef struct entry {
  _Atomic int state;
  const pk_kernel *kernel;
  const char *name;         /* a wrapper on the stack reuses its address */
  pk_isa isa;               /* the path it ran on: det's differ by 2-3x */
  int nin;                  /* items in item */
  pk_item item[PK_MAX_ARGS]; /* item[0].ndim -1: the kernel's ratio entry */
  _Atomic uint64_t value;   /* a double's bits: the estimate; 0: none */
  _Atomic uint64_t last[RING]; /* the last exact samples, as bits */
  _Atomic uint64_t bound;   /* the lowest bound, as bits; 0: none */
  _Atomic uint32_t exact;   /* exact samples taken */
  _Atomic uint32_t maps;    /* estimates given */
} entry;

static entry table[SLOTS];

static uint64_t bits(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

static double dbl(uint64_t u) {
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* The inputs of k an item has (a kernel table's nin 0 means 1). */
static int inputs(const pk_kernel *k) {
  return k->nin > 1 && k->nin <= PK_MAX_ARGS ? k->nin : 1;
}

static uint64_t hash(const pk_kernel *k, pk_isa isa, const pk_item *it,
                     int nin) {
  uint64_t h = ((uint64_t)(uintptr_t)k + (uint64_t)isa) * 0x9E3779B97F4A7C15u;

  for (int c = 0; c < nin; c++) {
    h ^= (uint64_t)(it[c].ndim + 2) << 8 | (uint64_t)it[c].dtype;
    for (int i = 0; i < it[c].ndim; i++)
      h = (h ^ it[c].shape[i]) * 0x100000001B3u;
  }
  return h ^ h >> 29;
}

static int same(const entry *e, const pk_kernel *k, pk_isa isa,
                const pk_item *it, int nin) {
  if (e->kernel != k || e->name != k->name || e->isa != isa || e->nin != nin)
    return 0;
  for (int c = 0; c < nin; c++) {
    if (e->item[c].ndim != it[c].ndim || e->item[c].dtype != it[c].dtype)
      return 0;
    for (int i = 0; i < it[c].ndim; i++)
      if (e->item[c].shape[i] != it[c].shape[i])
        return 0;
  }
  return 1;
}

/* The entry of (k, isa, it[0 .. nin)); made if make and there is room;
   NULL if none. */
static entry *find(const pk_kernel *k, pk_isa isa, const pk_item *it,
                   int nin, int make) {
  uint64_t h = hash(k, isa, it, nin);
  int i;

  for (i = 0; i < PROBES; i++) {
    entry *e = &table[(h + (uint64_t)i) & (SLOTS - 1)];
    int s = atomic_load_explicit(&e->state, memory_order_acquire);
    if (s == READY && same(e, k, isa, it, nin))
      return e;
    if (s != EMPTY)
      continue; /* another key, or one being written: look further */
    if (!make)
      return NULL;
    if (!atomic_compare_exchange_strong(&e->state, &s, BUSY))
      continue;
    e->kernel = k;
    e->name = k->name;
    e->isa = isa;
    e->nin = nin;
    memset(e->item, 0, sizeof e->item);
    for (int c = 0; c < nin; c++) {
      e->item[c].dtype = it[c].dtype;
      e->item[c].ndim = it[c].ndim;
      for (int d = 0; d < it[c].ndim; d++)
        e->item[c].shape[d] = it[c].shape[d];
    }
    atomic_store_explicit(&e->state, READY, memory_order_release);
    return e;
  }
  return NULL;
}

static double value(const entry *e) {
  return e ? dbl(atomic_load_explicit(&e->value, memory_order_relaxed)) : 0;
}

static double lower_median(entry *e, uint32_t n) {
  double s[RING];
  uint32_t m = n < RING ? n : RING, i, j;

  for (i = 0; i < m; i++) {
    double y = dbl(atomic_load_explicit(&e->last[i], memory_order_relaxed));
    for (j = i; j > 0 && s[j - 1] > y; j--) /* insertion sort of <= 4 */
      s[j] = s[j - 1];
    s[j] = y;
  }
  /* A slot a racing writer has not filled yet reads 0: skip it. */
  for (i = 0; i < m && !(s[i] > 0); i++)
    ;
  return i < m ? s[i + (m - i - 1) / 2] : 0;
}

/*
 * Fold sample x (> 0) into e.  Exact samples: the lower median of the last
 * RING (of 2: the lower), so one or two runs that another process slowed
 * down, or that touched new pages, are ignored; noise only adds time.
 * Bounds: the lowest.  The estimate is the lower of the two.
 */
static double fold(entry *e, double x, int exact) {
  double b = dbl(atomic_load_explicit(&e->bound, memory_order_relaxed)), v;
  uint32_t n = atomic_load_explicit(&e->exact, memory_order_relaxed);

  if (exact) {
    n = atomic_fetch_add_explicit(&e->exact, 1, memory_order_relaxed);
    atomic_store_explicit(&e->last[n % RING], bits(x), memory_order_relaxed);
    n++;
  } else if (b > 0 && x >= b) {
    return value(e); /* a bound above the lowest says nothing */
  } else {
    atomic_store_explicit(&e->bound, bits(x), memory_order_relaxed);
    b = x;
  }
  v = lower_median(e, n);
  if (!(v > 0) || (b > 0 && b < v))
    v = b;
  atomic_store_explicit(&e->value, bits(v), memory_order_relaxed);
  return v;
}

static pk_item ratio_key(void) {
  pk_item r;
  memset(&r, 0, sizeof r);
  r.ndim = -1;
  return r;
}

double pk__cost_get(const pk_kernel *k, pk_isa isa, const pk_item *in,
                    int *retime) {
  pk_item rk = ratio_key();
  entry *e = find(k, isa, in, inputs(k), 0);
  double v = value(e), c, r;

  *retime = 2;
  if (v > 0) {
    uint32_t m = atomic_fetch_add_explicit(&e->maps, 1, memory_order_relaxed);
    *retime = m < 2 || m % 16 == 15;
    return v;
  }
  if (k->cost == NULL)
    return HUGE_VAL;
  c = k->cost(k, in);
  r = value(find(k, isa, &rk, 1, 0));
  return r > 0 ? c * r : c;
}

void pk__cost_put(const pk_kernel *k, pk_isa isa, const pk_item *in,
                  double ns, int exact) {
  pk_item rk = ratio_key();
  entry *e;
  double c;

  if (!(ns > 0) || !isfinite(ns) ||
      (e = find(k, isa, in, inputs(k), 1)) == NULL)
    return;
  ns = fold(e, ns, exact);
  if (!exact || k->cost == NULL)
    return;
  c = k->cost(k, in);
  if (c > 0 && isfinite(c) && (e = find(k, isa, &rk, 1, 1)) != NULL)
    fold(e, ns / c, 1); /* the layout's estimate, not the raw sample */
}
