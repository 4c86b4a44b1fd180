/*
 * The FFTW plan cache shared by the FFT kernels (internal).
 *
 * A plan is made once per (kind, n0, n1) and kept for the life of the
 * process.  Every plan is out of place, for contiguous C-order arrays that
 * fftw_alignment_of reports as aligned (0): a caller whose array is not
 * aligned copies it into aligned scratch first, so that an item gives the
 * same bits wherever it lies in memory.  Plans are executed with the
 * new-array functions (fftw_execute_dft, _r2c, _c2r), which are thread-safe;
 * planning is serialised by one mutex, held across fork() so that a child
 * never inherits it locked.
 */
#ifndef PK_FFTPLAN_H
#define PK_FFTPLAN_H

#include <fftw3.h>
#include <parkit.h>

typedef enum pk__fft_kind {
  PK__FFT_FWD,     /* complex n0 x n1 -> complex n0 x n1, e^{-i} */
  PK__FFT_BWD,     /* complex n0 x n1 -> complex n0 x n1, e^{+i}, unscaled */
  PK__FFT_R2C,     /* real n0 x n1 -> complex n0 x (n1/2+1) */
  PK__FFT_R2C_FULL,/* as R2C, written into rows of n1 complex (fft2 layout) */
  PK__FFT_C2R,     /* complex n0 x (n1/2+1) -> real n0 x n1; destroys input */
  /* One dimension at a time, for transforms that skip rows of zeros and
     rows not wanted (autocorr2d, correlate2d): */
  PK__FFT_ROWS_R2C, /* n0 real rows of n1 -> complex rows of n1/2+1; may
                       destroy its input */
  PK__FFT_ROWS_C2R, /* n0 complex rows of n1/2+1 -> real rows of n1;
                       destroys its input */
  PK__FFT_COLS_FWD, /* in place: the n1 columns (stride n1) of n0 complex
                       points each, e^{-i} */
  PK__FFT_COLS_BWD, /* the same, e^{+i}, unscaled */
  PK__FFT_ROWS_FWD, /* out of place: n0 contiguous rows of n1 complex
                       points, e^{-i} (two real rows in one, correlate2d) */
  PK__FFT_ROWS_BWD  /* the same, e^{+i}, unscaled */
} pk__fft_kind;
#define PK__FFT_KINDS (PK__FFT_ROWS_BWD + 1)

/*
 * The plan for kind and shape n0 x n1 (each >= 1, n0 * n1 <= INT_MAX), made
 * now if it is not cached yet.  work_ns is what the caller expects to spend
 * executing it (items x nanoseconds per transform, on one core): in the
 * automatic mode it sets the planner's effort for a plan not made yet (see
 * parkit/fft.h), unless the process that leads this one decided that shape
 * already (pk__fft_state_put).  A cached plan is kept whatever work_ns says.
 * Thread-safe.  Errors: PK_ENOMEM (planning buffers), PK_EKERNEL (FFTW made
 * no plan).
 */
pk_status pk__fft_plan(pk__fft_kind kind, int n0, int n1, double work_ns,
                       fftw_plan *plan);

/* 1 if p may be passed to a cached plan. */
int pk__fft_aligned(const void *p);

/*
 * Destroy every cached plan and FFTW's own memory (fftw_cleanup), and forget
 * the wisdom file and what a leading process sent, for tests and valgrind.
 * No plan may be executing or being made meanwhile.
 */
void pk__fft_cache_clear(void);

/*
 * The planning state other processes need to plan as this one does (free
 * with free(); NULL on failure): the planner mode, the effort chosen for
 * each plan made, and FFTW's wisdom.  pk__fft_state_put imports one
 * (PK_EINVAL if it is not one, or FFTW refuses its wisdom) and makes this
 * process a follower: it takes its mode and efforts from the state and
 * never reads or writes the wisdom file.
 */
char *pk__fft_state_get(void);
pk_status pk__fft_state_put(const char *s);
/* Changes whenever the state may have changed: export it only then. */
unsigned long pk__fft_planned(void);

/*
 * pk_init's check of the environment: PARKIT_FFTW_PLANNER must name a
 * planner, and PARKIT_FFTW_WISDOM must not name a file that exists and is
 * not FFTW wisdom.  PK_EINVAL with a sentence in msg otherwise.
 */
pk_status pk__fft_setup(char *msg, size_t len);

/*
 * After a map's prepare step in the process that leads (not a fork worker,
 * not an mpi rank other than 0): write newly learnt wisdom to the wisdom
 * file, and hand over what the planner has to say (its choices, the wisdom
 * file's reading, writing and refusals) as lines in msg.  Returns 1 if it
 * wrote anything into msg.
 */
int pk__fft_flush(char *msg, size_t len);

/*
 * For planners outside the cache (kernels/fft/array.c and mpi.c): hold
 * the cache's planning lock around any other FFTW call that is not an
 * execute (planning, fftw_plan_with_nthreads, destroying a plan), so that
 * it never runs at the same time as the cache's planning and never leaks
 * into it (a thread count left above 1 would make the cache's plans
 * threaded).
 * pk__fft_flags is the planner rigor (FFTW_ESTIMATE, ...) for such a plan
 * (made for one transform, so FFTW_ESTIMATE in the automatic mode: its
 * planning budget would be a fraction of one transform); call it with the
 * lock held.
 */
void pk__fft_lock(void);
void pk__fft_unlock(void);
unsigned pk__fft_flags(void);

/* A shape check's refusal: the sentence into msg (len bytes), st back. */
pk_status pk__fft_refuse(char *msg, size_t len, pk_status st,
                         const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A 2-D item with no zero extent: its extents in *h, *w; else a refusal. */
pk_status pk__fft_item2d(const pk_kernel *k, const pk_item *in, char *msg,
                         size_t len, size_t *h, size_t *w);

/* The smallest 2^a times at most two of 3, 3, 5, 5, 7 that is >= n, 0
   above INT_MAX: a size FFTW transforms fast whichever planner made the
   plan (fftplan.c, for the batched and the array kernels). */
size_t pk__fft_fast_size(size_t n);
/* The smallest even one: the rows of a real transform (r2c halves them;
   an odd row of 135 cost FFTW 1.8 times one of 140 by estimate). */
size_t pk__fft_fast_even(size_t n);
/* The length >= n for columns transformed side by side by one plan (the
   padded kernels' grids): up to 128, a length one of FFTW's vector
   codelets transforms whole; else pk__fft_fast_size's. */
size_t pk__fft_fast_cols(size_t n);
/* The length >= n for the rows of a padded grid of H rows (real
   transforms, contiguous): pk__fft_fast_even's, or one at most a tenth
   longer that FFTW's estimate plans do faster, if the grid's cost is
   less. */
size_t pk__fft_fast_rows(size_t n, int H);
/* H W log2(H W) for a padded H x W grid of rows of W and columns of H
   (pk__fft_fast_cols, _rows), each part weighted by its lengths' rate:
   the kernels' cost models. */
double pk__fft_grid_nlogn(int H, int W);
/* x[0], x[2], ... *= re and x[1], x[3], ... *= im, n doubles. */
void pk__fft_scale(double *x, size_t n, double re, double im);
/* The bytes of one core's last level of cache (L3 where there is one),
   from Linux's sysfs, else the C library's sysconf, else 8 MB. */
size_t pk__fft_llc_bytes(void);
/* Columns wc .. w-1 of a row k of fft2 of real data, from the half row
 * m = (h - k) % h of the spectrum: X[k][j] = conj X[m][w - j]. */
void pk__fft_hermitian_row(double *row, const double *mirror, size_t w,
                           size_t wc);
/* The h x w spectrum of fft2 of real data (ifft2 if inverse) made whole
 * in x, whose rows of w complex hold the transform's columns 0 .. wc-1:
 * each row's other numbers its mirror (pk__fft_hermitian_row); for ifft2
 * every number then conjugated and scaled by 1 / (h w). */
void pk__fft_mirror_full(double *x, size_t h, size_t w, size_t wc,
                         int inverse);
/*
 * pk__fft_mirror_full's spectrum made into dst from y, which is left as
 * it was.  Where dst is 16-byte aligned
 * (and the processor has SSE2), stored past cache (pk__fft_fence after
 * the last), the `ahead` bytes at next (the next item's input; NULL:
 * none) fetched into L2 meanwhile.
 */
void pk__fft_put_full(double *dst, const double *y, size_t h, size_t w,
                      size_t wc, int inverse, const void *next, size_t ahead);
void pk__fft_fence(void);
/*
 * x rounded to an integer (ties to even), for |x| < 2^51: adding 1.5 * 2^52
 * leaves no fraction bits.  Inline and vectorisable, where round() is a
 * library call on plain x86-64.  Never -0: -0.3 gives +0.
 */
#define PK__RINT_MAGIC 0x1.8p52
static inline double pk__rint51(double x) {
  return (x + PK__RINT_MAGIC) - PK__RINT_MAGIC;
}
/* The scans for integers and norms in front of the sums are per path:
   det.h, pk__det_isa's integers and norms. */

/*
 * Between the planner (fftplan.c) and the wisdom file (wisdom.c), all under
 * the planning lock: pk__fft_note keeps a line for the verbose;
 * pk__fft_bump counts a change of the planning state and returns the new
 * count.  pk__wisdom_load reads the file once, before the first plan;
 * pk__wisdom_flush merges what was learnt since into it; pk__wisdom_follow
 * makes this process a follower (no file); pk__wisdom_reset forgets the
 * file; pk__wisdom_check is pk_init's refusal of a file that is not wisdom.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void pk__fft_note(const char *fmt, ...);
/* The lines noted so far into msg (1 if any, msg and len not 0), then
   forgotten. */
int pk__fft_notes_take(char *msg, size_t len);
unsigned long pk__fft_bump(void);
void pk__wisdom_load(void);
void pk__wisdom_flush(void);
void pk__wisdom_follow(void);
void pk__wisdom_reset(void);
pk_status pk__wisdom_check(char *msg, size_t len);

/* With the planning lock held: plans made from now on using n threads,
 * FFTW's threads started (once) if n > 1.  Returns 0 if they could not
 * start (the plans are then single-threaded, still correct). */
int pk__fft_threads(int n);

/* Planning outside the cache: begin takes the planning lock and sets n
 * threads, end sets 1 thread again and unlocks; free destroys a plan
 * (NULL is ignored) under the lock. */
void pk__fft_plan_begin(int nt);
void pk__fft_plan_end(void);
void pk__fft_plan_free(fftw_plan p);

#endif /* PK_FFTPLAN_H */
