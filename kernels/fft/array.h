/*
 * One large 2-D array transformed as a whole (internal): what the front
 * end (kernels/fft/array.c), one node's threads (local.c), FFTW-MPI across
 * ranks (mpi.c) and their helpers (common.c) share.
 */
#ifndef PK_FFT_ARRAY_H
#define PK_FFT_ARRAY_H

#include "fftplan.h"

enum { PK__A_FFT2, PK__A_IFFT2, PK__A_RFFT2, PK__A_AUTOCORR };

/* The whole problem, checked: h x w in (global rows), oh x ow out. */
typedef struct pk__ageo {
  int op;
  pk_dtype in, out;
  size_t h, w, oh, ow;
  size_t wc;     /* w/2 + 1 */
  size_t H, W;   /* autocorr: the FFT grid, as the kernel's */
} pk__ageo;

/* Whether an autocorrelation on an H x W grid may be rounded to integers,
 * given that every input is an integer with sum |a| = l1, sum a^2 = s:
 * the kernel's bound (see fft.h). */
int pk__autocorr_exact(double l1, double s, size_t H, size_t W);

/* Sums over n values: *integers stays 1 only if each is a finite integer. */
void pk__autocorr_sums(const double *a, size_t n, int *integers, double *l1,
                       double *s);

/*
 * Row i (0 .. 2h-2) of the autocorrelation, from row |i - (h-1)| of the
 * inverse transform c (W reals, unscaled), exactly as the kernel arranges
 * it, so that the result is symmetric under a 180 degree rotation.
 */
void pk__autocorr_row(const double *c, double *r, size_t i, size_t h,
                      size_t w, size_t W, double scale, int round);

/* The one-node transform of in (whole) into out (whole), with FFTW's
 * threads; in checked, out of the right shape. */
pk_status pk__fft_local(pk_context *ctx, const char *fn, const pk__ageo *g,
                        const pk_array *in, pk_array *out);

/* The mpi path of every pk_*_array: in checked, *out made or checked with
 * the right layout; agreement left to the caller.  Collective.  It lives
 * with the mpi backend (mpi.c, in its plugin), which sets the hook when it
 * is loaded; NULL until then. */
typedef pk_status (*pk__fft_mpi_fn)(pk_context *ctx, const pk__ageo *g,
                                    const pk_array *in, pk_array *out);
extern pk__fft_mpi_fn pk__fft_mpi_hook;
pk_status pk__fft_mpi(pk_context *ctx, const pk__ageo *g, const pk_array *in,
                      pk_array *out);

#endif /* PK_FFT_ARRAY_H */
