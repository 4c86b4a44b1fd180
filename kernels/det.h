/*
 * The vector parts of det and slogdet, and of correlate2d's direct sums
 * (internal).
 *
 * kernels/det_simd.c and corr_simd.c hold each algorithm once; the build
 * compiles them once per instruction set, at that set's native vector
 * width, into one table pk__det_<isa> each.  kernels/det.c picks the table
 * of the path a map runs on (pk_task.isa, by pk__simd_paths) and does the
 * rest: the LAPACK path, the division fallback, the result from the
 * pivots; kernels/correlate2d.c pads the image for corr.
 */
#ifndef PK_DET_H
#define PK_DET_H

#include <stddef.h>
#include <stdint.h>

#include "fetch.h"

#define PK__DET_ALIGN 64     /* scratch alignment, bytes: the widest vector */
#define PK__DET_SMALL_CAP 40 /* no path's small_max exceeds it */
#define PK__DET_GROUP 8      /* matrices a call of group factors together */
#define PK__DET_WIDE 32      /* ... or up to this many, n <= wide_max */
#define PK__DET_WIDE_N 12    /* no path's wide_max exceeds it */
#define PK__CORR_BLOCK 16    /* no path's corr block is wider, in doubles */

typedef struct pk__det_isa {
  int lanes;        /* doubles a vector */
  size_t small_max; /* n <= small_max: the batched small path */
  size_t wide_max;  /* n <= wide_max: group takes PK__DET_WIDE at once */
  size_t mid_max;   /* n <= mid_max: the blocked middle path; then dgetrf */

  /*
   * group: matrices x[0 .. cnt) (each n x n, stride s bytes; cnt <=
   * PK__DET_GROUP, or <= PK__DET_WIDE if n <= wide_max) factored by LU
   * with partial pivoting in the lanes of a, interleaved (identity in the
   * lanes past cnt; with two lanes and every lane a matrix, a gets them
   * eliminated by the first step, not copied).  Lane l stands for matrix l.
   * u[k * PK__DET_WIDE + l] gets pivot k of lane l, sg[l] the sign of its
   * row permutation, prod[l] the product of sg[l] and its pivots in order,
   * unless odd[l] is nonzero: a factor or partial product left [2^-500,
   * 2^500] (the caller then takes the product from u, with care).  nan[l]
   * is nonzero if lane l has a NaN or an infinity, tiny[l] if it met a
   * subnormal pivot (whose reciprocal overflows).  a and u are
   * PK__DET_ALIGN-aligned, a of n * n doubles for each of cnt matrices
   * rounded up to PK__DET_GROUP (PK__DET_WIDE where cnt is more), u of
   * PK__DET_WIDE * n.  The `lines` cache lines from next (NULL: none) are
   * fetched meanwhile, a few at each step.
   */
  void (*group)(const char *x, size_t s, int cnt, int n, double *a,
                double *u, double *sg, double *prod, int64_t *odd,
                int64_t *nan, int64_t *tiny, const char *next,
                size_t lines);

  /*
   * mid: x (n x n, row-major) copied into a with rows of pk__det_ld(n, lanes)
   * doubles and factored there; p is the panel's scratch, lanes * ld
   * doubles.  Returns 0 with *sign and the pivots on a's diagonal; 1 on a
   * subnormal pivot; 2 if x has a NaN or an infinity.  next, if not NULL,
   * is the next
   * matrix, fetched into cache meanwhile.  a and p are PK__DET_ALIGN-aligned.
   */
  int (*mid)(const double *x, size_t n, double *a, double *p, double *sign,
             const char *next);
  /*
   * mid2: mid on two matrices x0 and x1 at once (a0, p0 and a1, p1 as a
   * and p; their signs in sign[0], sign[1]), their panels' chains of pivot
   * steps interleaved.  Returns 0 with both; 1 if either has a NaN, an
   * infinity or a subnormal pivot (each then goes through mid alone).
   * next0 and next1, if not NULL, are fetched meanwhile.
   */
  int (*mid2)(const double *x0, const double *x1, size_t n, double *a0,
              double *a1, double *p0, double *p1, double *sign,
              const char *next0, const char *next1);

  /*
   * corr: r (ho x wo, row-major) gets r[i][j] = sum over p < h2, q < w2 of
   * c[p][q] P[i + p][j + q], taps summed in that order; P has rows of pw
   * doubles, at least ho + h2 - 1 of them, and pw is at least wo rounded
   * up to PK__CORR_BLOCK plus w2 - 1 (read past wo, never used).  next,
   * if not NULL, is lines cache lines of the next item, fetched into cache
   * meanwhile.
   */
  void (*corr)(const double *P, size_t pw, const double *c, size_t h2,
               size_t w2, double *r, size_t ho, size_t wo, const char *next,
               size_t lines);
  /*
   * cmulc: a[k] *= conj(b[k]) for n complex numbers, each stored real part
   * then imaginary: re = ar br + ai bi, im = ai br - ar bi (the pair FFT's
   * product).
   */
  void (*cmulc)(double *a, const double *b, size_t n);
  /*
   * integers: 1 if every one of the n doubles x is an integer below 2^51
   * in magnitude (so not NaN or infinite), with their 1-norm, 2-norm and
   * largest magnitude in *l1, *l2, *mx: what an FFT's rounding bound needs
   * to know whether its result rounds to the exact integer sums.  0 if not
   * (the norms then unset).  norms: the largest magnitude and the 1-norm
   * of the n doubles x, whatever they are, in *mx and *l1 (*l1 NaN or
   * infinite if an x is).  The norms only bound errors and sums (and sum
   * integers exactly while they can): their order of summation is free.
   */
  int (*integers)(const double *x, size_t n, double *l1, double *l2,
                  double *mx);
  void (*norms)(const double *x, size_t n, double *mx, double *l1);
  /*
   * Two real rows transformed as one complex row z of W points (W even),
   * the first the real part: split parts z's spectrum into theirs, k <=
   * W/2: x1[k] = (z[k] + conj z[W-k]) / 2, x2[k] = (z[k] - conj z[W-k]) / 2i
   * (z[W] is z[0]; x2 NULL: x1 only).  merge puts two such halves back
   * into one row y of W, y[k] = x1[k] + i x2[k] and y[W-k] = conj x1[k] +
   * i conj x2[k], the imaginary parts of x[0] and x[W/2] dropped (x2 NULL:
   * zeros), whose inverse transform holds both rows.
   */
  void (*split)(const double *z, size_t W, double *x1, double *x2);
  void (*merge)(const double *x1, const double *x2, size_t W, double *y);
  /*
   * put_row: o[j] for j < n, a row of correlate2d's result: lead[j] for j
   * < l, trail[j - m] for j >= m, and between them the real (part 0) or
   * imaginary (part 1) part of complex y[j] times s, rounded as
   * pk__rint51 if rnd (fftplan.h).  Past cache (non-temporal stores) if
   * stream, on x86.
   */
  void (*put_row)(double *o, size_t n, const double *y, int part, size_t l,
                  size_t m, const double *lead, const double *trail,
                  double s, int rnd, int stream);
  /*
   * correlate2d's sums at the edges of its FFT's grid and for kernel
   * images larger than the image: axpy r[k] += c y[k], axpy4 r[k] += c[0]
   * y[k] + c[1] y[k+1] + c[2] y[k+2] + c[3] y[k+3], k < n (r and y apart).
   */
  void (*axpy)(double *r, double c, const double *y, size_t n);
  void (*axpy4)(double *r, const double *c, const double *y, size_t n);
} pk__det_isa;

extern const pk__det_isa pk__det_generic;
extern const pk__det_isa pk__det_avx2;
extern const pk__det_isa pk__det_avx512;

/* The table of path isa (a pk_isa; PK_ISA_AUTO: the CPU's best): the
   widest this build has at or below it. */
const pk__det_isa *pk__simd_paths(int isa);

/*
 * The middle path's row length in doubles: n rounded up to whole vectors,
 * and a cache line more where that would make the row a multiple of 1 KiB.
 * Rows 2 or 4 KiB apart fall into the same cache sets and alias in the
 * store buffer: at n = 509 .. 512 that cost two thirds of the speed.
 */
static inline size_t pk__det_ld(size_t n, int lanes) {
  size_t ld = (n + (size_t)lanes - 1) / (size_t)lanes * (size_t)lanes;
  return ld % 128 == 0 ? ld + 8 : ld;
}

#endif /* PK_DET_H */
