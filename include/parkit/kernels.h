/*
 * parkit's built-in kernels.  Each function returns a static table that
 * lives as long as the program; pass it to pk_map, pk_map_reduce.
 */
#ifndef PARKIT_KERNELS_H
#define PARKIT_KERNELS_H

#include <parkit.h>
#include <parkit/fft.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * det: n x n float64 item -> float64 scalar, as numpy.linalg.det.
 * n = 0 gives 1; an exactly singular matrix (a zero pivot in LU with partial
 * pivoting) gives 0.  A matrix with a NaN or an infinity gives what numpy
 * gives (it is computed as numpy computes it): NaN, +-inf, or 0 where the
 * LU meets an exact zero pivot.  Where a pivot is subnormal, parkit divides
 * by it and gets the right value where numpy gets NaN, inf or the wrong
 * sign; otherwise results differ from numpy's in rounding only.  Three
 * paths, by n:
 * - small n (up to 36, 40 on the generic path): LU of 8 to 32 matrices at
 *   once, interleaved across a vector's lanes, with no library call per
 *   matrix;
 * - middle n (up to 512 on AVX2 and AVX-512, 80 on the generic path; up to
 *   1024, or 160, where OpenBLAS's own kernels are narrower than the path):
 *   blocked LU of one matrix (two at once up to 128) in cache, with panels
 *   one vector wide and every update in whole vectors;
 * - larger n: LAPACK dgetrf.
 * The vector paths run at the width of the context's instruction-set path
 * (pk_isa), each with its own crossovers, measured on that path.
 */
const pk_kernel *pk_kernel_det(void);

/*
 * slogdet: n x n float64 item -> 2 float64 {sign, log|det|}, as
 * numpy.linalg.slogdet: singular gives {0, -inf}; with a NaN, as numpy,
 * the sign of the permutation and of the non-NaN pivots (never NaN) and a
 * NaN log; an infinity gives a log of inf.
 */
const pk_kernel *pk_kernel_slogdet(void);

/* What part of the full result a pair kernel keeps, as scipy.signal's
   mode: full; valid, where one item lies wholly inside the other (one
   must be at least as large as the other in every dimension); same, the
   first item's size, centred on the full result as scipy centres it. */
typedef enum pk_mode { PK_MODE_FULL = 0, PK_MODE_VALID, PK_MODE_SAME } pk_mode;

/*
 * Kernels of two inputs (pk_map_n with nin 2, nout 1): pairs of float64
 * items a (h1 x w1) and b (h2 x w2), of any sizes.
 * correlate2d: scipy.signal.correlate2d(a, b, mode), boundary 'fill' with
 *   zeros: in full mode r[i][j] = sum_{p,q} b[p][q] a[p+i-(h2-1)][q+j-(w2-1)],
 *   (h1+h2-1) x (w1+w2-1); with a b larger than a in 'valid' mode, as
 *   scipy, the result of the swapped pair turned by 180 degrees.
 * convolve2d: scipy.signal.convolve2d(a, b, mode): the same with b turned
 *   by 180 degrees (and same mode centred as scipy centres convolutions).
 * method: as autocorr2d's (parkit/fft.h): direct sums, zero-padded real
 * FFTs (the plan cache and planner rules of the other FFT kernels; where
 * a shorter grid is cheaper, the few first and last rows and columns it
 * would alias are summed directly instead; on CPUs with AVX2, rows of up
 * to 128 go two at a time through complex transforms), or
 * auto by a cost model; integer-valued pairs give the exact integers with
 * auto whatever the method chosen.  An input of one item (a fixed kernel
 * image) is broadcast to every item of the other.  NULL for an unknown
 * mode or method.
 */
const pk_kernel *pk_kernel_correlate2d(pk_mode mode,
                                       pk_autocorr_method method);
const pk_kernel *pk_kernel_convolve2d(pk_mode mode,
                                      pk_autocorr_method method);

#ifdef __cplusplus
}
#endif
#endif /* PARKIT_KERNELS_H */
