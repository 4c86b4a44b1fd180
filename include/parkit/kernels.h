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
 * - small n (up to about 24): LU on as many matrices at once as a vector
 *   has lanes, interleaved across them, with no library call per matrix;
 * - middle n (up to a few hundred): blocked LU of one matrix in cache, with
 *   panels one vector wide and every update in whole vectors;
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

#ifdef __cplusplus
}
#endif
#endif /* PARKIT_KERNELS_H */
