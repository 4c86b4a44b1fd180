/*
 * parkit's FFT kernels: fft2, ifft2, rfft2, irfft2 and autocorr2d.
 *
 * Each pk_kernel_* function returns a static table that lives as long as the
 * program; pass it to pk_map, pk_map_reduce.  Items are 2-D (the input
 * array is batch x h x w); a 1-D or empty item (h or w = 0) is refused with
 * PK_ESHAPE, as is one FFTW cannot index (h * w > INT_MAX).
 *
 * Plans: the kernels share one cache of FFTW plans, made once per transform
 * kind and shape and kept for the process (made in the kernel's prepare
 * step, or on first use).  The planner comes from pk_fft_set_planner, else
 * from the environment variable
 * PARKIT_FFTW_PLANNER=auto|estimate|measure|patient|exhaustive|reproducible
 * (any other value makes pk_init fail with PK_EINVAL), else auto:
 * - auto weighs planning against the work a map expects of a plan (its
 *   items times the kernel's cost per item, on one core): planning may take
 *   a tenth of it.  Below 50 ms of planning it plans with FFTW_ESTIMATE,
 *   about a millisecond; above, with FFTW_MEASURE cut off at that time
 *   (fftw_set_timelimit; a timed-out measurement keeps the best plan found).
 *   Any wisdom held, at least as rigorous, is used in either case.
 * - the others plan every transform with that FFTW rigor, whatever the map.
 * A plan, once made, is kept for the process: a shape first planned for a
 * small map keeps its estimated plan in later large maps, so the same
 * input gives the same bits for the life of the process.  Every process
 * of a map plans as the one that leads it (the fork backend's parent, mpi
 * rank 0): it sends its planner, the effort of each plan and its wisdom,
 * so every worker and rank makes the same plans, and gives the same bits.
 *
 * Wisdom persists: it is read, before the first plan, from
 * $XDG_CACHE_HOME/parkit/ (else ~/.cache/parkit/), in a file named after
 * the FFTW version and the CPU model, and what a map learnt is merged
 * into it after its prepare step: only by the process that leads (the
 * parent, rank 0), under a lock (a ".lock" file beside it), written to a
 * temporary file and renamed over the old one, so concurrent programs
 * never corrupt it.  A second run of a program plans from it in well under
 * a millisecond a transform.  PARKIT_FFTW_WISDOM=FILE names another file,
 * PARKIT_FFTW_WISDOM=off keeps wisdom in the process.  A file that exists
 * and does not begin as FFTW wisdom ("(fftw-3.") is never overwritten:
 * pk_init refuses it (PK_EINVAL); a file unreadable or unwritable is
 * skipped, and said under --pk-verbose, with the planner's choices.
 * From one run to the next, a plan may come from wisdom an earlier, larger
 * run measured, and its last bits may differ from the estimated plan's.
 * For bits that never depend on what ran before, nor on the CPU's vector
 * units, PARKIT_FFTW_PLANNER=reproducible (as MKL's CNR mode): plans by
 * FFTW's estimate with its scalar codelets only, which no wisdom from
 * other modes changes; the same bits on every run, backend and worker
 * count, and on every machine with the same FFTW build, at some speed.
 *
 * FFTW's planner is not thread-safe: a program that plans with FFTW itself
 * must not do so while a map of these kernels runs.
 */
#ifndef PARKIT_FFT_H
#define PARKIT_FFT_H

#include <parkit.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * fft2: h x w float64 or complex128 item -> h x w complex128, as
 * numpy.fft.fft2 (unnormalised, e^{-2 pi i (jk/h + lm/w)}).  Real items take
 * FFTW's real-to-complex transform; the other half of the spectrum is filled
 * by Hermitian symmetry.
 */
const pk_kernel *pk_kernel_fft2(void);

/* ifft2: the inverse, scaled by 1 / (h w), as numpy.fft.ifft2; items as
 * fft2. */
const pk_kernel *pk_kernel_ifft2(void);

/*
 * rfft2: h x w float64 item -> h x (w/2 + 1) complex128, as
 * numpy.fft.rfft2.  Complex items are refused with PK_EDTYPE.
 */
const pk_kernel *pk_kernel_rfft2(void);

/*
 * irfft2: h x wc complex128 item -> h x w float64 with w = 2 (wc - 1), as
 * numpy.fft.irfft2 with its default (even) output width; scaled by
 * 1 / (h w).  The input is taken as the half spectrum of a real array: the
 * imaginary parts that Hermitian symmetry makes zero are ignored.
 * wc < 2 is refused with PK_ESHAPE, real items with PK_EDTYPE.
 */
const pk_kernel *pk_kernel_irfft2(void);

typedef enum pk_autocorr_method {
  PK_AUTOCORR_AUTO = 0, /* the cheaper of the two by a cost model */
  PK_AUTOCORR_DIRECT,   /* sums of products, half the lags, then mirrored */
  PK_AUTOCORR_FFT       /* zero-padded real FFT, |X|^2, inverse FFT */
} pk_autocorr_method;

/*
 * autocorr2d: h x w float64 item a -> (2h - 1) x (2w - 1) float64 r, as
 * scipy.signal.correlate2d(a, a) (mode 'full', boundary 'fill'):
 *   r[i][j] = sum_{p,q} a[p][q] a[p + i - (h-1)][q + j - (w-1)],
 * terms outside a being zero.  r is exactly symmetric under a 180 degree
 * rotation.  Returns NULL for an unknown method.  Complex items are refused
 * with PK_EDTYPE.
 *
 * Accuracy, with u = 2^-53, S = sum a^2 (= r[h-1][w-1]), N1 = sum |a|:
 * - direct: |error| <= h w u S per entry (a dot product of <= h w terms);
 *   exact when every a is an integer and S <= 2^53.
 * - fft, on an H x W grid (sizes 2^a 3^b 5^c 7^d >= 2h - 1 and 2w - 1
 *   that FFTW transforms fast, at most twice those; see README,
 *   Performance): |error| <= about E = 32 u max(1, log2(H W)) N1 sqrt(S) per
 *   entry, usually far less.  When every a is an integer and E < 1/2, the
 *   result is rounded to integers and so is exact, like the direct one.
 * - auto takes the cheaper of the two, and for an item of integers gives
 *   the exact integers whatever its size and range: where E >= 1/2 it
 *   sums directly, in long double where the sums pass 2^53 (results
 *   beyond 2^53 are then the exact integers, rounded once to double).
 *   fft asked for explicitly rounds only where E < 1/2.
 */
const pk_kernel *pk_kernel_autocorr2d(pk_autocorr_method method);

typedef enum pk_fft_planner {
  PK_FFT_AUTO = 0,      /* by the work a map expects (the default) */
  PK_FFT_ESTIMATE,      /* FFTW_ESTIMATE: fast planning, same plan anywhere */
  PK_FFT_MEASURE,       /* FFTW_MEASURE: times candidates */
  PK_FFT_PATIENT,       /* FFTW_PATIENT */
  PK_FFT_EXHAUSTIVE,    /* FFTW_EXHAUSTIVE */
  PK_FFT_REPRODUCIBLE   /* FFTW_ESTIMATE | FFTW_NO_SIMD: the same bits on
                           every run and every machine with this FFTW build,
                           whatever was measured before; slower transforms */
} pk_fft_planner;

/*
 * pk_fft_set_planner - the planner of plans made from now on in this
 * process (plans already made are kept).  Overrides PARKIT_FFTW_PLANNER.
 * The fork backend's workers take the parent's with each map; mpi ranks
 * take rank 0's, so calling it on rank 0 is enough.  Not collective.
 * Errors: PK_EINVAL (unknown planner).
 */
pk_status pk_fft_set_planner(pk_fft_planner planner);

/* ------------------------------------------------------ one large array */

/*
 * One 2-D array (ndim 2, h x w, not a batch) transformed as a whole, for an
 * array too large to be worth splitting into items.  The batch kernels
 * above parallelise over items; these parallelise inside the one
 * transform:
 * - on the serial, openmp and fork backends, with FFTW's threads in the
 *   calling process, pk_workers(ctx) of them;
 * - on the mpi backend, with FFTW-MPI over the context's communicator,
 *   slab-decomposed along rows, with pk_workers(ctx) FFTW threads per rank.
 *   A distributed input (pk_mpi_create, pk_mpi_load_npy, pk_mpi_scatter)
 *   has rows split in parkit's balanced blocks (pk_mpi_block), and gives a
 *   distributed output in the same kind of blocks of its own rows, ready
 *   for pk_mpi_save_npy (each rank writes its rows with MPI-IO), pk_reduce
 *   or pk_mpi_gather.  Internally the rows move to FFTW's slabs
 *   (fftw_mpi_local_size_2d) and back with one all-to-all each way, which
 *   moves nothing when both splits agree (h divisible by the rank count).
 *   A non-distributed input is a replica on every rank: the transform is
 *   still shared out, and every rank receives the whole output.
 *
 * If *out is NULL a new array is made (distributed like in; the caller
 * destroys it; on a failure none is left and *out stays NULL); otherwise
 * *out must already have the output's dtype, shape
 * and distribution, and must not overlap in.  in is never written.
 *
 * Plans are made per call with the rigor of pk_fft_set_planner; auto
 * plans them with FFTW_ESTIMATE, as one transform cannot repay a
 * measurement, unless wisdom held (the wisdom file's included) has better.
 * FFTW's in-process wisdom makes a repeated size cheap to plan, and what
 * they learnt is saved with the batch kernels' (at the next map, or
 * pk_finalize); planning never touches in.  Results agree with the batch kernels to rounding (FFTW may
 * choose other algorithms for threads or ranks); integer autocorrelations
 * are exact, as the kernel's.
 *
 * Collective for mpi (every rank passes its part of the same array).
 * Errors: PK_EINVAL (NULL pointers, arrays of another context), PK_ESHAPE
 * (ndim not 2, h or w zero, h or w or the FFT grid beyond FFTW's int
 * extents, *out of the wrong shape), PK_EOVERFLOW (a result larger than
 * memory addresses), PK_EDTYPE (complex input to rfft2 or autocorr2d, *out
 * of the wrong dtype), PK_ENOMEM, PK_EKERNEL (FFTW made no plan),
 * PK_EBACKEND (the mpi backend without its transforms), PK_EMPI; for mpi,
 * agreed on every rank.
 */

/* pk_fft2_array - fft2 (inverse 0) or ifft2 (inverse 1, scaled by
 * 1 / (h w)) of a float64 or complex128 h x w array -> complex128 h x w, as
 * numpy.fft.fft2 / ifft2.  Real input takes the real-to-complex transform;
 * the other half of the spectrum is filled by Hermitian symmetry. */
pk_status pk_fft2_array(pk_context *ctx, const pk_array *in, pk_array **out,
                        int inverse);

/* pk_rfft2_array - float64 h x w -> complex128 h x (w/2 + 1), as
 * numpy.fft.rfft2. */
pk_status pk_rfft2_array(pk_context *ctx, const pk_array *in,
                         pk_array **out);

/*
 * pk_autocorr2d_array - float64 h x w -> float64 (2h - 1) x (2w - 1), as
 * scipy.signal.correlate2d(a, a); always by FFT (the direct method costs
 * h^2 w^2), on a zero-padded H x W grid of the same kind (sizes FFTW
 * transforms fast, not always the kernel's own), with the same error bound
 * and the same rounding of integer input as pk_kernel_autocorr2d's fft
 * method.  The result is exactly symmetric under a 180 degree rotation.
 */
pk_status pk_autocorr2d_array(pk_context *ctx, const pk_array *in,
                              pk_array **out);

#ifdef __cplusplus
}
#endif
#endif /* PARKIT_FFT_H */
