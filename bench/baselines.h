/*
 * The code a user writes instead of calling parkit, for the benchmarks to
 * stand beside: a plain OpenMP loop over LAPACKE_dgetrf, one FFTW plan over
 * a whole batch, and a trivial kernel (with its plain loop) whose cost is
 * the dispatch itself.
 */
#ifndef PKB_BASELINES_H
#define PKB_BASELINES_H

#include <parkit.h>

#include <stddef.h>

/*
 * det (logdet 0) or slogdet (logdet 1) of count n x n row-major matrices
 * at x, on threads OpenMP threads: a private copy of each matrix through
 * LAPACKE_dgetrf, the result from U's diagonal and the pivots.  out gets
 * count dets, or count {sign, log|det|} pairs.  Call it with OpenBLAS
 * held to one thread (openblas_set_num_threads(1)), as a careful user
 * does, so that OpenBLAS does not oversubscribe the OpenMP threads.
 * Returns 0, or -1 if memory ran out or dgetrf refused its arguments.
 */
int pkb_lu_loop(const double *x, size_t count, int n, int threads,
                int logdet, double *out);

/*
 * One FFTW plan over a batch: fftw_plan_many_dft of count h x w complex
 * items, in to out (out of place, 1 thread).  Planned with FFTW_MEASURE on
 * scratch copies, so in is not touched; planning is given at most
 * 2 seconds (fftw_set_timelimit) and is not part of the timed run.
 */
typedef struct pkb_fftw pkb_fftw;
pkb_fftw *pkb_fftw_plan(int h, int w, size_t count, const void *in,
                        void *out);
void pkb_fftw_run(pkb_fftw *p);
void pkb_fftw_destroy(pkb_fftw **p);

/* The trivial kernel out[i] = in[i] + 1 on float64 scalars ("inc"): a map
 * of it costs what dispatching costs. */
const pk_kernel *pkb_kernel_inc(void);

/* The same as a plain OpenMP loop on threads threads. */
void pkb_inc_loop(const double *in, double *out, size_t count, int threads);

#endif /* PKB_BASELINES_H */
