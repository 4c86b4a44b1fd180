/*
 * parkit/async.h: Python Pool's other features, in C.
 *
 *   Python                               parkit
 *   pool.map_async(f, xs)                pk_map_async + pk_future_*
 *   pool.imap_unordered(f, xs)           pk_map_each (a callback per chunk)
 *   pool.apply_async(f, args)            pk_apply_async
 *   Pool(initializer=f, initargs=a)      pk_worker_init
 *   Pool(maxtasksperchild=n)             pk_worker_max_tasks
 *   chunksize                            pk_map_opts.chunk
 *
 * On the fork backend these run in the worker processes, and a future's job
 * runs while the caller goes on.  On the serial, openmp and mpi backends
 * there is no process to hand a job to: pk_map_async and pk_apply_async run
 * the job before they return, and give a future that is already ready.
 *
 * One job at a time per context: starting a map, a reduce or another async
 * job while a future is pending first waits for the pending one (its result
 * goes to its future).  Arrays a pending map reads or writes must stay alive
 * and untouched until its future is ready.
 */
#ifndef PARKIT_ASYNC_H
#define PARKIT_ASYNC_H

#include <parkit.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pk_future pk_future;

/*
 * pk_map_async - start pk_map(ctx, kernel, in, out, opts) and return at once
 * with a future for its result.
 *
 * *out is made (or checked) before it returns, as by pk_map; its contents
 * are final only when the future is ready.  Errors found before the map
 * starts (PK_EINVAL, PK_EDTYPE, PK_ESHAPE, PK_ENOMEM) are returned here and
 * *future is NULL; errors while it runs (PK_EKERNEL, PK_EWORKER, ...) are
 * the future's status.  The caller destroys the future with
 * pk_future_destroy.
 */
pk_status pk_map_async(pk_context *ctx, const pk_kernel *kernel,
                       const pk_array *in, pk_array **out,
                       const pk_map_opts *opts, pk_future **future);

/* pk_map_async of pk_map_n: several inputs and outputs (see pk_map_n). */
pk_status pk_map_async_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                         const pk_array *const in[], int nout,
                         pk_array *out[], const pk_map_opts *opts,
                         pk_future **future);

/*
 * pk_map_each - pk_map, calling fn(arg, lo, hi) in the calling thread each
 * time a chunk of items [lo, hi) completes, in completion order (Python's
 * imap_unordered), e.g. for a progress line; items are counted in the batch
 * as pk_failed counts them (under mpi, in the whole distributed batch).  A
 * map run inline is one chunk on fork, and pieces of about 10 ms elsewhere
 * (see pk_interrupt).  On the openmp backend fn is called from the
 * worker threads, one call at a time.  pk_failed lists the items that
 * failed: on the serial, openmp and mpi backends they are left out of the
 * ranges (a chunk is reported in pieces around them); on fork a dispatched
 * chunk is reported whole once its worker has finished it, and a map run
 * inline only if none of its items failed.  Errors as pk_map.
 */
pk_status pk_map_each(pk_context *ctx, const pk_kernel *kernel,
                      const pk_array *in, pk_array **out,
                      const pk_map_opts *opts,
                      void (*fn)(void *arg, size_t lo, size_t hi), void *arg);

/* pk_map_each of pk_map_n: several inputs and outputs (see pk_map_n). */
pk_status pk_map_each_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                        const pk_array *const in[], int nout,
                        pk_array *out[], const pk_map_opts *opts,
                        void (*fn)(void *arg, size_t lo, size_t hi),
                        void *arg);

/*
 * pk_apply_async - run fn(buf, size) once, in one worker (Python's
 * apply_async).  On the fork backend fn works on a copy of the size bytes at
 * buf (NULL when size is 0) in shared memory, and when the future is ready
 * those bytes, as fn left them, have been copied back to buf: buf is both
 * the arguments and the result, and must stay valid until then.  fn is a
 * function of the program or of a library (loaded before or after pk_init,
 * as a kernel's, see pk_kernel in parkit.h).  The future's status
 * is fn's return value, or PK_EWORKER if the worker died running it.
 * Errors: PK_EINVAL (NULL fn or future, or NULL buf with a size),
 * PK_ENOMEM.
 */
pk_status pk_apply_async(pk_context *ctx, pk_status (*fn)(void *buf,
                                                          size_t size),
                         void *buf, size_t size, pk_future **future);

/* 1 if the future's job has finished (it then never blocks), else 0. */
int pk_future_ready(pk_future *f);

/*
 * pk_future_wait - wait up to timeout seconds (< 0: without limit) for the
 * job to finish.  PK_OK when it has finished, whatever its status;
 * PK_ETIMEDOUT when it has not (it keeps running); PK_EINVAL for NULL.
 */
pk_status pk_future_wait(pk_future *f, double timeout);

/*
 * pk_future_cancel - stop the job if it has not finished, and make the
 * future ready (Python's Pool.terminate, for one job).  On the fork
 * backend no chunk of the map starts after the call, and the workers
 * still running one of its chunks, or the task, are killed (SIGKILL) and
 * replaced before it returns: the pool stays whole and usable.  The
 * future's status is then PK_ECANCELED; pk_future_failed lists the items
 * that did not complete, while the items that completed are written.  A
 * wrapped output (pk_array_wrap) keeps the caller's values in the items
 * listed; an array of the context's, which the workers write in place,
 * holds there what a stopped chunk wrote before it was stopped.  A task's
 * buffer keeps the caller's bytes.  A job that finished before the call
 * keeps its own result.  The other backends finish a job before its
 * future is made: there is nothing to stop.  Use it for a kernel that may
 * not return (a loop that never converges): wait with a timeout, then
 * cancel.
 * Returns PK_OK once the future is ready, PK_EINVAL for NULL, PK_ESTATE
 * in a fork of the process that made it.
 */
pk_status pk_future_cancel(pk_future *f);
/* pk_future_get - wait for the job and return its status (PK_OK, or the
 * error pk_map or fn gave). */
pk_status pk_future_get(pk_future *f);

/* 1 if the job finished with PK_OK; 0 if it failed or is still running. */
int pk_future_successful(pk_future *f);

/* The items of a finished map that did not complete, ascending, and their
 * number in *n; owned by the future.  NULL and 0 before it is ready. */
const size_t *pk_future_failed(const pk_future *f, size_t *n);

/* The message of a failed job, owned by the future; "" otherwise. */
const char *pk_future_errmsg(const pk_future *f);

/*
 * pk_future_destroy - wait for the job if it is still running, free the
 * future, set *f to NULL.  NULL and a pointer to NULL are accepted.  Every
 * future of a context must be destroyed or ready before pk_finalize (which
 * waits for a pending job, so a ready one is fine).
 */
void pk_future_destroy(pk_future **f);

/*
 * pk_worker_init - call fn(arg copy, size, worker) in every worker now, and
 * in every worker started later (replacements), before it runs anything
 * else (Python's initializer).  The fork backend copies size bytes at arg
 * (NULL when size is 0); fn may keep state in the worker process.  A NULL
 * fn removes the initializer.  On serial and openmp, fn runs once, now, in
 * the calling thread, as worker 0.
 * A worker started later in which fn fails exits and leaves its place
 * empty, the others running the maps, until the next pk_worker_init
 * starts one there again (--pk-verbose says so).
 * Errors: fn's status when it fails in a worker (the initializer is then
 * removed), PK_EWORKER if a worker died in it, PK_ENOMEM.
 */
pk_status pk_worker_init(pk_context *ctx,
                         pk_status (*fn)(void *arg, size_t size, int worker),
                         const void *arg, size_t size);

/*
 * pk_worker_max_tasks - replace a fork worker by a fresh process once it has
 * run n chunks (Python's maxtasksperchild; a task is a chunk of a map, or an
 * apply); 0 (the default) keeps workers for the life of the context.  The
 * check runs at the end of each map.  No effect on other backends.
 */
pk_status pk_worker_max_tasks(pk_context *ctx, unsigned long n);

#ifdef __cplusplus
}
#endif
#endif /* PARKIT_ASYNC_H */
