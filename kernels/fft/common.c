/*
 * What the whole-array transforms share (array.h): the pieces of
 * autocorr2d and of the Hermitian mirror that the local and the MPI paths
 * both use.  (FFTW's threads and the planning lock around plans made
 * outside the cache are the planner's, in fftplan.c.)
 */
#include "internal.h"
#include "array.h"

#include <math.h>
#include <string.h>

int pk__autocorr_exact(double l1, double s, size_t H, size_t W) {
  double lg = log2((double)H * (double)W);
  return 32 * 0x1p-53 * (lg > 1 ? lg : 1) * l1 * sqrt(s) < 0.5;
}

void pk__autocorr_sums(const double *a, size_t n, int *integers, double *l1,
                       double *s) {
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(a[i]) || a[i] != floor(a[i]))
      *integers = 0;
    *l1 += fabs(a[i]);
    *s += a[i] * a[i];
  }
}

void pk__autocorr_row(const double *c, double *r, size_t i, size_t h,
                      size_t w, size_t W, double scale, int round_) {
  size_t R = 2 * w - 1;
  int up = i >= h - 1;

  /* Lag (di, dj) sits at c[di mod H][dj mod W]; the rows below the middle
   * and the left half of the middle row are the mirror images of the
   * others, read from the same values, as the kernel does. */
  for (size_t j = 0; j < R; j++) {
    size_t col;
    if (up && !(i == h - 1 && j < w - 1))
      col = j >= w - 1 ? j - (w - 1) : W - (w - 1 - j);
    else
      col = j <= w - 1 ? w - 1 - j : W - (j - (w - 1));
    double v = c[col] * scale;
    r[j] = round_ ? round(v) + 0.0 : v; /* + 0.0: no -0 */
  }
}
