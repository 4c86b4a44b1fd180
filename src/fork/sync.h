/*
 * The fork backend's primitives (backend.h): futex waits, bounded spins read
 * from the TSC, pidfd_open, page rounding.  Inline: they run in the spin
 * loops of the parent and the workers.
 */
#ifndef PK_FORK_SYNC_H
#define PK_FORK_SYNC_H

#include "backend.h"


static inline long futex(_Atomic uint32_t *w, int op, uint32_t val,
                  const struct timespec *ts) {
  return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

static inline void wake(_Atomic uint32_t *w) {
  futex(w, FUTEX_WAKE, INT_MAX, NULL);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

/* Nanoseconds for spins: the TSC once calibrated, else the clock. */
static inline double spin_ns(const ctl *c) {
#if defined(__x86_64__) || defined(__i386__)
  double r = atomic_load_explicit(&c->tsc_per_ns, memory_order_relaxed);
  if (r > 0)
    return (double)__builtin_ia32_rdtsc() / r;
#else
  (void)c;
#endif
  return pk_time() * 1e9;
}

static inline uint64_t ticks(void) {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_ia32_rdtsc();
#else
  return 0;
#endif
}

/* TSC ticks a nanosecond over [t0, now] and [c0, ticks()]; 0 without an
   invariant TSC, or over too short a time to tell. */
static inline double tsc_rate(double t0, uint64_t c0) {
  double t = (pk_time() - t0) * 1e9;
  uint64_t n = ticks() - c0;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)) &&
      t >= 10e3 && n > 0)
    return (double)n / t;
#endif
  (void)n;
  (void)t;
  return 0;
}

/* Spin while now() - t0 < ns, yielding every SLICE_NS if crowded (the
 * core may be another process's too); 1 as soon as done(arg). */
static inline int spin_until(const ctl *c, double t0, double ns, int crowded,
                      int (*done)(void *), void *arg) {
  double mark = t0;

  for (;;) {
    double now;
    if (done(arg))
      return 1;
    now = spin_ns(c);
    if (now - t0 >= ns)
      return 0;
    if (crowded && now - mark >= SLICE_NS) {
      sched_yield();
      mark = spin_ns(c);
    } else {
      cpu_relax();
    }
  }
}

static inline int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

static inline size_t pages(size_t n) {
  size_t pg = 4096;
  return (n + pg - 1) / pg * pg;
}

#endif /* PK_FORK_SYNC_H */
