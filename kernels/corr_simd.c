/*
 * correlate2d's direct sums, written once over a vector of VL doubles and
 * compiled per instruction set beside det_simd.c (the same -DVL -DISA and
 * flags; see det.h).  The image comes zero-padded, so every output is the
 * whole sum over the taps with no test at the edges, and a block of R rows
 * by NV vectors of outputs stays in registers across all the taps: each
 * product is one load and one multiply-add.  Each output sums its taps in
 * row order, p then q, so its bits depend on its own inputs and the path
 * alone (with FMA one rounding a tap; without, two).
 */
#include "det.h"

#include <string.h>

#if !defined(VL) || !defined(ISA)
#error "corr_simd.c is compiled with -DVL=<doubles a vector> -DISA=<name>"
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

typedef double vd __attribute__((vector_size(VL * sizeof(double))));
typedef double vdu __attribute__((vector_size(VL * sizeof(double)),
                                  aligned(sizeof(double))));

/* Rows and vectors of outputs a block keeps in registers: 8 sums of 32
   zmm; 6 of 16 ymm or xmm. */
#if VL == 8
#define R 4
#else
#define R 3
#endif
#define NV 2
_Static_assert(NV * VL <= PK__CORR_BLOCK, "det.h: PK__CORR_BLOCK");

/* x in every lane, one broadcast from memory (0 + x would cost an add
   and a shuffle a tap, and a loop over the lanes a broadcast each). */
#if VL == 8
#define SPLAT(x) ((vd){x, x, x, x, x, x, x, x})
#elif VL == 4
#define SPLAT(x) ((vd){x, x, x, x})
#elif VL == 2
#define SPLAT(x) ((vd){x, x})
#endif

/*
 * Outputs of rows i0 .. i0 + rows - 1 (rows <= R), columns j0 .. j0 + NV VL
 * - 1, into t (rows x NV vectors): sum_{p, q} c[p][q] P[i + p][j + q].
 */
static inline void block(const double *restrict P, size_t pw,
                         const double *restrict c, size_t h2, size_t w2,
                         size_t i0, size_t j0, int rows, vd t[R][NV]) {
  const vd zero = {0};

  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++)
      t[r][v] = zero;
  for (size_t p = 0; p < h2; p++)
    for (size_t q = 0; q < w2; q++) {
      const vd cq = SPLAT(c[p * w2 + q]);
      const double *x = P + (i0 + p) * pw + j0 + q;
      for (int r = 0; r < R; r++) {
        if (r >= rows)
          break;
        for (int v = 0; v < NV; v++)
          t[r][v] += cq * *(const vdu *)(x + r * pw + v * VL);
      }
    }
}

/*
 * r (ho x wo) = the correlation of the padded image P (rows of pw doubles,
 * at least ho + h2 - 1 of them, and pw at least wo rounded up to
 * PK__CORR_BLOCK, plus w2 - 1) with the taps c (h2 x w2).
 */
static void direct(const double *P, size_t pw, const double *c, size_t h2,
                   size_t w2, double *r, size_t ho, size_t wo) {
  vd t[R][NV];

  for (size_t i0 = 0; i0 < ho; i0 += R) {
    int rows = ho - i0 < R ? (int)(ho - i0) : R;
    for (size_t j0 = 0; j0 < wo; j0 += NV * VL) {
      if (rows == R)
        block(P, pw, c, h2, w2, i0, j0, R, t);
      else
        block(P, pw, c, h2, w2, i0, j0, rows, t);
      double *o = r + i0 * wo + j0;
      if (wo - j0 >= NV * VL) {
        for (int k = 0; k < rows; k++)
          for (int v = 0; v < NV; v++)
            *(vdu *)(o + (size_t)k * wo + v * VL) = t[k][v];
      } else {
        for (int k = 0; k < rows; k++)
          for (size_t l = 0; l < wo - j0; l++)
            o[(size_t)k * wo + l] = t[k][l / VL][l % VL];
      }
    }
  }
}

void CAT(pk__corr_direct_, ISA)(const double *P, size_t pw, const double *c,
                                size_t h2, size_t w2, double *r, size_t ho,
                                size_t wo) {
  direct(P, pw, c, h2, w2, r, ho, wo);
}
