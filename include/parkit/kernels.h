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
 * - n <= PK_DET_SMALL_MAX: LU on PK_DET_LANES matrices at once, interleaved
 *   across SIMD lanes, with no library call per matrix;
 * - n <= PK_DET_MID_MAX: blocked LU of one matrix in cache, with panels
 *   one SIMD vector wide and every update in whole vectors;
 * - larger n: LAPACK dgetrf.
 * The crossovers were measured on an AVX-512 Xeon.
 */
const pk_kernel *pk_kernel_det(void);

/*
 * slogdet: n x n float64 item -> 2 float64 {sign, log|det|}, as
 * numpy.linalg.slogdet: singular gives {0, -inf}; NaN gives {NaN, NaN}.
 */
const pk_kernel *pk_kernel_slogdet(void);

#define PK_DET_SMALL_MAX 24
#define PK_DET_MID_MAX 512
#define PK_DET_LANES 8

#ifdef __cplusplus
}
#endif
#endif /* PARKIT_KERNELS_H */
