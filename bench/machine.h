/*
 * Measurements of the machine's own limits, for benchmarks to compare
 * against: the BLAS dgemm rate, a STREAM-like triad bandwidth, and a line
 * naming the machine.  Independent of parkit; needs OpenMP and OpenBLAS.
 */
#ifndef PKB_MACHINE_H
#define PKB_MACHINE_H

#include <stddef.h>
#include <stdint.h>

/* The median, min and max of a set of run times (or any values). */
typedef struct pkb_stats {
  double med, min, max;
  int n;
} pkb_stats;

/* Summarise t[0 .. n); t is left as it was.  n = 0 gives all zeros. */
pkb_stats pkb_summary(const double *t, int n);

/* Seconds on a monotonic clock. */
double pkb_now(void);

/*
 * The cblas_dgemm rate in GFLOP/s (2 n^3 flops) on threads OpenBLAS
 * threads, C = A B with n x n row-major matrices: the median of reps runs
 * after one warm-up.  OpenBLAS's thread count is restored afterwards.
 * n <= 0 picks 2000.  Returns a negative value if memory runs out.
 */
double pkb_dgemm_gflops(int threads, int n, int reps);

/*
 * Bytes per array the triad uses by default: 80 MB, or the last-level
 * cache size if that is larger, so three arrays are at least 3x the cache.
 */
size_t pkb_triad_bytes(void);

/*
 * A STREAM-like triad a[i] = b[i] + s * c[i] on threads OpenMP threads over
 * three arrays of bytes each (0: pkb_triad_bytes()), first touched by the
 * threads that use them.  GB/s (1e9) counting 3 x 8 bytes per element:
 * two reads and one write, no write-allocate traffic.  The median of reps
 * runs after one warm-up.  Returns a negative value if memory runs out.
 */
double pkb_triad_gbs(int threads, size_t bytes, int reps);

/*
 * A line naming the machine into buf: the CPU model (/proc/cpuinfo), the
 * cores this process may run on (sched_getaffinity), the local date and
 * time, and the 1-minute load average.  Returns buf.
 */
char *pkb_machine(char *buf, size_t len);

/* The cores this process may run on (at least 1). */
int pkb_cores(void);

/* OpenBLAS's build configuration (openblas_get_config), or "unknown". */
const char *pkb_blas_config(void);

/* n integers in [-5, 5) as float64 from a seeded splitmix64 generator, as
 * the benchmarks' inputs: exact determinants and autocorrelations. */
void pkb_fill_ints(double *x, size_t n, uint64_t seed);

/*
 * A benchmark's batch of bytes, uninitialised, or NULL: an anonymous
 * mapping in the pages of the given kind.  huge: on a 2 MiB boundary with
 * MADV_HUGEPAGE from 4 MiB on, as numpy and parkit's pk_array_create make
 * large arrays; else MADV_NOHUGEPAGE, 4 KiB pages whatever the system's
 * mode, as a C program's malloc gives where the mode is "madvise".
 * pkb_batch_free(p, bytes) releases it.  The benchmarks' own, as the
 * rest of this file: the library's allocator has no small-page choice.
 */
void *pkb_batch_alloc(size_t bytes, int huge);
void pkb_batch_free(void *p, size_t bytes);

/* The system's transparent huge page mode ("always", "madvise", "never")
 * into buf, or "unknown".  Returns buf. */
char *pkb_thp_mode(char *buf, size_t len);

#endif /* PKB_MACHINE_H */
