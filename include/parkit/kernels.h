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
 * pivoting) gives 0; a NaN anywhere gives NaN.  Three paths, by n:
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
 * numpy.linalg.slogdet: singular gives {0, -inf}; NaN gives {NaN, NaN}.
 */
const pk_kernel *pk_kernel_slogdet(void);

#ifdef __cplusplus
}
#endif
#endif /* PARKIT_KERNELS_H */
