/* Internal declarations shared by the core and the backends. */
#ifndef PK_INTERNAL_H
#define PK_INTERNAL_H

#include "config.h"

#include <parkit.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* One item that did not complete, and why. */
typedef struct pk__fail {
  size_t item;
  pk_status status;
  int worker;
} pk__fail;

/* A growable list of failures.  If it cannot grow, n still counts. */
typedef struct pk__fails {
  pk__fail *v;
  size_t n, len, cap; /* n counted, len stored */
} pk__fails;

void pk__fails_add(pk__fails *f, size_t item, pk_status st, int worker);
void pk__fails_free(pk__fails *f);

/*
 * A map as the front end hands it to a backend: validated, with chunks
 * decided.  Items before lo ran already, on the calling thread (the front
 * end timed them to decide); chunk c holds items [lo + c * chunk,
 * min(lo + (c + 1) * chunk, n)).  For
 * the block and cyclic schedules worker w runs chunks w, w + W, ...; for the
 * dynamic schedule workers take the next chunk free.
 */
/*
 * How a map reads an input that is a view (pk_array_view): item i is runs
 * runs of run bytes each, runstride apart, from the task's ins[c] + i *
 * in_strides[c].  runs 0: the input's items are contiguous.
 */
typedef struct pk__gather {
  size_t runs, run, runstride;
} pk__gather;

/* Arrays this large are anonymous mappings (array.c), their pages left
   untouched until used; smaller ones are zeroed by hand. */
#define PK__MAPPED_BYTES ((size_t)1 << 20)
/* ... and from this size on it asks for huge pages, 2 MiB aligned. */
#define PK__HUGE_BYTES ((size_t)4 << 20)
#define PK__HUGE_ALIGN ((size_t)2 << 20)

typedef struct pk__job {
  const pk_kernel *kernel;
  const pk_array *in;   /* the input whose layout the map follows */
  pk_array *out;        /* outs[0] */
  int nin, nout;        /* the arrays of the call (pk_map_n) */
  const pk_array *ins[PK_MAX_ARGS];
  pk_array *outs[PK_MAX_ARGS];
  pk_task task;       /* scratch is NULL: each worker brings its own */
  size_t n;           /* items (for mpi: this rank's) */
  size_t total;       /* items of the whole map, on every rank */
  size_t lo;          /* the first item the backend runs */
  size_t scratch;     /* bytes of scratch per worker */
  pk_schedule schedule;
  size_t chunk, nchunks;
  size_t asked;       /* the caller's chunk size; 0: parkit's choice */
  int workers;        /* workers to use */
  /* Views among the inputs: pk__run gathers up to piece items of each at
     a time into contiguous scratch at byte gather_at of a worker's scratch
     (piece 0: no view). */
  pk__gather gather[PK_MAX_ARGS];
  size_t piece, gather_at;
  /* Outputs this map made (bit k: output k), whose pages nobody has
     touched yet: pk__run has them filled for its items before it runs. */
  unsigned fresh;
  /* What the call asks of a backend beyond running it (src/async.c):
     future, to leave the job running and complete it later (the table's
     wait); on_chunk, to be told of each chunk as a worker finishes it
     (reports_chunks).  NULL for a plain map. */
  struct pk_future *future;
  void (*on_chunk)(void *arg, size_t lo, size_t hi);
  void *on_chunk_arg;
} pk__job;

void pk__chunk(const pk__job *j, size_t c, size_t *lo, size_t *hi);

/* j's chunks of its items from j->lo for w workers: j->asked items each,
   or parkit's choice; one planner for the front end and an mpi rank's
   share. */
void pk__plan_chunks(pk__job *j, pk_schedule schedule, int w);

/*
 * The chunk parkit chooses for n items on w workers when the user gives
 * none: about four a worker (block: one), in multiples of the kernel's
 * grain unless that would leave a worker without a chunk.
 */
size_t pk__auto_chunk(size_t n, int w, size_t grain, int block);

/*
 * pk_map_n, as public function fn, with a future or a callback per chunk
 * in j's fields of that name (NULL: none).
 */
pk_status pk__map(pk_context *ctx, const char *fn, const pk_kernel *kernel,
                  int nin, const pk_array *const in[], int nout,
                  pk_array *out[], const pk_map_opts *opts,
                  struct pk_future *future,
                  void (*on_chunk)(void *, size_t, size_t), void *arg);

/*
 * The map front end's steps, for the reductions (src/reduce.c):
 * check_opts checks opts (NULL: the defaults); setup_n fills j from the
 * kernel and the inputs and makes or checks each out[k] (fn names the call
 * in messages); execute runs j inline or on the backend and fills
 * ctx->stats.
 */
pk_status pk__map_check_opts(pk_context *ctx, const pk_map_opts *o);
pk_status pk__map_setup_n(pk_context *ctx, const char *fn,
                          const pk_kernel *k, int nin,
                          const pk_array *const in[], int nout,
                          pk_array *out[], pk__job *j);

/*
 * A task's two views: the arrays (ins, outs, ...) are the truth; in, out
 * and their strides and items mirror element 0 (pk__task_mirror).
 * pk__task_one makes the arrays from the single fields of a task built by
 * hand; pk__task_shift moves every pointer forward by lo items (broadcast
 * inputs, of stride 0, stay) and first with them.
 */
void pk__task_mirror(pk_task *t);
void pk__task_one(pk_task *t);
void pk__task_shift(pk_task *t, size_t lo);
pk_status pk__map_execute(pk_context *ctx, pk__job *j,
                          const pk_map_opts *o);

/*
 * Measured costs (src/cost.c), per process, thread-safe, per kernel,
 * instruction-set path and item layout (in: the kernel's nin items, every
 * one part of the key).  pk__cost_get: nanoseconds of one
 * item of k on one core: measured, else k's cost
 * function scaled by what was measured of k on other layouts, else
 * HUGE_VAL.  *retime: 2 when nothing was measured of this layout yet, 1
 * when it could be timed again (the next two maps, then every 16th), else
 * 0.
 * pk__cost_put: a measurement of ns per item; exact 0 when it only bounds
 * the cost from above (a dispatched map, a part of a vector).
 */
double pk__cost_get(const pk_kernel *k, pk_isa isa, const pk_item *in,
                    int *retime);
void pk__cost_put(const pk_kernel *k, pk_isa isa, const pk_item *in,
                  double ns, int exact);

/*
 * Run items [lo, hi) of j on this thread, recording every item the kernel
 * reports as failed and going on after it.
 */
void pk__run(const pk__job *j, size_t lo, size_t hi, void *scratch,
             int worker, pk__fails *f);

/*
 * A backend: one table, in src/backend_<name>.c or src/<name>/backend.c.
 * The front end checks every argument before it calls map; a backend does
 * not check again.
 *
 * start: make ctx->impl for ctx->workers workers; measure ctx->dispatch_ns.
 * stop: undo start; must cope with a start that failed halfway.
 * alloc/free: memory for arrays the library makes, zero-filled (NULL: the
 *   heap).  *handle is the backend's own (a segment, ...).
 * map: run every chunk of job; append failures to f.  Returns PK_OK or
 *   the status of a failure of the backend itself (PK_EWORKER, ...).
 * reduce: combine a whole array (NULL: the front end shares out blocks with
 *   map and folds them); a backend whose arrays are distributed gives the
 *   same bits as pk__fold on the whole array.
 * distributed: 1 if each process runs only its share of the items.
 */
typedef struct pk__dist_ops pk__dist_ops;
typedef struct pk__backend_ops {
  const char *name;
  pk_status (*start)(pk_context *ctx);
  void (*stop)(pk_context *ctx);
  /* An array's memory from the backend (NULL: the library's own, see
     array.c), with a non-NULL *handle; free is called for every array
     with a handle (also one a backend made by other means, such as the
     mpi backend's shared windows), never for one without. */
  pk_status (*alloc)(pk_context *ctx, size_t nbytes, void **data,
                     void **handle);
  void (*free)(pk_context *ctx, void *data, size_t nbytes, void *handle);
  pk_status (*map)(pk_context *ctx, const pk__job *job, pk__fails *f);
  pk_status (*reduce)(pk_context *ctx, const pk_array *a, pk_op op,
                      double *result);
  int distributed;
  /* Processes that agree.  agree: called by the front end of a collective
     call at each point where one process may fail alone (setup, prepare);
     returns the status every process agreed on (the lowest failing
     rank's), with its message on every process.  NULL: not needed (one
     process). */
  pk_status (*agree)(pk_context *ctx, pk_status st);
  /* same: every process passes a hash of the values that must be the same
     everywhere (a root, a global shape); PK_OK on every process if they
     are, else PK_EINVAL on every process, with the message naming what
     and which ranks differ from the first.  NULL: one process. */
  pk_status (*same)(pk_context *ctx, uint64_t hash, const char *fn,
                    const char *what);
  /* Jobs left running.  wait: finish the job left pending by a map with
     a future or by apply, within timeout seconds (< 0: no limit);
     PK_ETIMEDOUT leaves it pending.  apply: run fn(buf, size) in one
     worker, completing future later if not NULL.  winit: run fn(arg,
     size, worker) in every worker now and in every replacement (a copy of
     arg: the caller's is valid during the call only; fn NULL: none).
     NULL: the backend never leaves a job pending, runs everything here. */
  pk_status (*wait)(pk_context *ctx, double timeout);
  /* cancel: stop the pending job, as pk_future_cancel says, and complete
     its future.  NULL: never a job pending. */
  pk_status (*cancel)(pk_context *ctx);
  /* interrupt: wake the caller if it sleeps waiting for its workers, so
     that it sees ctx->interrupted (pk_interrupt); async-signal-safe.
     NULL: it never sleeps in a map. */
  void (*interrupt)(pk_context *ctx);
  /* PK_OK, or why this process may not use the context (a fork backend's
     context that this process's parent made; the message set).  NULL:
     always usable. */
  pk_status (*usable)(pk_context *ctx);
  pk_status (*apply)(pk_context *ctx, pk_status (*fn)(void *, size_t),
                     void *buf, size_t size, struct pk_future *future);
  pk_status (*winit)(pk_context *ctx,
                     pk_status (*fn)(void *arg, size_t size, int worker),
                     const void *arg, size_t size);
  /* reports_chunks: 1 if the backend calls the job's on_chunk itself as its
     workers finish chunks (pk_map_each); else the front end wraps the
     kernel to report them. */
  int reports_chunks;
  /* max_tasks: replace a worker once it has run n chunks (0: never);
     NULL: the backend keeps no workers to replace. */
  void (*max_tasks)(pk_context *ctx, unsigned long n);
  /* prepare: run the kernel's prepare for j in every process that will run
     its items, so that they plan alike (NULL: the front end calls it here;
     the fork backend's workers take the parent's plans with each job). */
  pk_status (*prepare)(pk_context *ctx, const pk__job *j);
  /* late: how late its workers are expected to come to a map starting
     now, in ns, beyond dispatch_ns (asleep after a pause; see pk__wake).
     NULL: never late.  caller_runs: 1 if the calling thread runs chunks
     beside the workers (openmp), so that it is not kept waiting for late
     workers but for their arrival at the end. */
  double (*late)(pk_context *ctx);
  int caller_runs;
  /* Distributed arrays (parkit/mpi.h), NULL on a backend of one process. */
  const pk__dist_ops *dist;
} pk__backend_ops;

/*
 * A backend's distributed arrays, behind parkit/mpi.h (src/mpi_api.c),
 * whose front end checks and agrees on the arguments first.  comm: the
 * backend's communicator into *comm (an MPI_Comm).  scatter: share = 1 for
 * pk_mpi_share.  The rest as their public counterparts.
 */
struct pk__dist_ops {
  int (*rank)(const pk_context *ctx);
  int (*size)(const pk_context *ctx);
  pk_status (*comm)(pk_context *ctx, void *comm);
  pk_status (*create)(pk_context *ctx, pk_dtype dtype, int ndim,
                      const size_t *shape, pk_array **out);
  pk_status (*scatter)(pk_context *ctx, const pk_array *src, int root,
                       int share, pk_array **out);
  pk_status (*gather)(pk_context *ctx, const pk_array *a, int root,
                      pk_array **out);
  pk_status (*load_npy)(pk_context *ctx, const char *path, pk_array **out);
  pk_status (*save_npy)(pk_context *ctx, const pk_array *a,
                        const char *path);
};

/*
 * Planning state that other processes must share to get the same bits,
 * kept by a kernel family (the FFT kernels: the planner mode, the effort of
 * each plan, what the planner learnt), which registers these hooks when
 * the library is loaded (src/plans.c).  The core and the backends move the
 * state and call the hooks through pk__plans_*, never naming the family.
 */
typedef struct pk__plan_hooks {
  const char *name; /* frames its state in a saved string; no '=' */
  /* pk_init's check of the family's settings: PK_EINVAL and a sentence. */
  pk_status (*setup)(char *msg, size_t len);
  /* The state as a string (free it), or NULL; its import, after which this
     process plans as the one that saved it. */
  char *(*save)(void);
  pk_status (*load)(const char *s);
  /* Changes whenever the state may have changed: save only then. */
  unsigned long (*version)(void);
  /* After a map's prepare step in the process that leads: persist what
     was learnt; 1 and lines in msg if it has something for the verbose. */
  int (*flush)(char *msg, size_t len);
  /* In a new worker process: plan for one thread. */
  void (*single)(void);
  /* The family's settings, as lines of --pk-help (NULL: none). */
  const char *help;
} pk__plan_hooks;

void pk__plans_register(const pk__plan_hooks *h);
pk_status pk__plans_setup(char *msg, size_t len);
char *pk__plans_save(void); /* NULL: no state (or no memory) */
pk_status pk__plans_load(const char *s);
unsigned long pk__plans_version(void);
/* Every family's lines of --pk-help, to out. */
void pk__plans_help(FILE *out);
int pk__plans_flush(char *msg, size_t len);
/* In a new worker process: BLAS, OpenMP and every family on one thread,
   in one place; BLAS and OpenMP left alone where the fork already left
   them on one (inherited). */
void pk__worker_single(int inherited);
/* The calling thread's OpenMP count made one for a fork; its count before,
   which the parent restores after; *kept: whether the child keeps it. */
int pk__omp_single_for_fork(int *kept);
void pk__omp_restore(int n);

/*
 * pk_reduce's result for count elements at x, on this thread: blocks of
 * PK_REDUCE_BLOCK folded in order, then their partials in order.  Every
 * backend's reduce gives these bits.  pk__fold_partial folds n values into
 * acc (one double, or two for complex), the step both levels use.
 */
void pk__fold(pk_op op, pk_dtype dt, const void *x, size_t count,
              double *result);
void pk__fold_partial(pk_op op, pk_dtype dt, const void *x, size_t n,
                      double *acc);
double pk__identity(pk_op op);

extern const pk__backend_ops pk__backend_serial;
extern const pk__backend_ops pk__backend_openmp;
#ifdef PK_HAVE_FORK_BACKEND
extern const pk__backend_ops pk__backend_fork;
#endif
/* The backend called name, or NULL with a sentence in why if there is a
   reason beyond its not being one (the mpi plugin cannot be loaded). */
const pk__backend_ops *pk__backend_find(const char *name, char *why,
                                        size_t len);

struct pk_context {
  const pk__backend_ops *ops;
  void *impl;           /* the backend's state */
  int workers;
  int verbose;
  pk_isa isa;           /* the path its maps run, never PK_ISA_AUTO */
  const void *mpi_comm;
  int mpi_fcomm, has_fcomm; /* a Fortran handle, if has_fcomm */
  double dispatch_ns;   /* measured cost of dispatching one map */
  void *scratch;        /* for items run on the calling thread */
  size_t scratch_cap;
  long narrays;         /* live arrays, checked by pk_finalize */
  pk_status status;
  char msg[1024];
  pk_stats stats;
  size_t *failed;
  size_t nfailed;
  /* pk_interrupt: stop the running map; cleared as each map starts. */
  atomic_int interrupted;
};

/* Whether pk_interrupt asked the running map of ctx to stop. */
static inline int pk__interrupted(pk_context *ctx) {
  return atomic_load_explicit(&ctx->interrupted, memory_order_relaxed);
}

/* Items [lo, hi) not done, with status st: into f, listed while f holds
   fewer than 1,048,576, counted past that (status.c). */
void pk__fails_range(pk__fails *f, size_t lo, size_t hi, pk_status st,
                     int worker);
/* Items [lo, hi) not run: pk__fails_range with PK_EINTR. */
void pk__fails_skip(pk__fails *f, size_t lo, size_t hi, int worker);

/* pk__run of chunk c, or after pk_interrupt its items into f as not run. */
void pk__run_chunk(pk_context *ctx, const pk__job *j, size_t c,
                   void *scratch, int worker, pk__fails *f);

struct pk_array {
  pk_context *ctx;
  pk_dtype dtype;
  int ndim;
  size_t shape[PK_MAX_DIMS];
  size_t count, nbytes;
  void *data;
  void *handle;         /* the backend's, for memory it allocated */
  int wrapped;          /* 1: the caller owns data */
  int mapped;           /* 1: data is an anonymous mapping (array.c) */
  /* A distributed array (mpi): this process holds items [offset, offset +
     shape[0]) of global items along axis 0. */
  int distributed;
  size_t offset, global;
  /* A view (pk_array_view): the array whose memory it reads, NULL for
     none; data, handle, wrapped and nbytes are that memory's.  Item i is
     gather.runs runs of gather.run bytes, gather.runstride apart, from
     data + i * vstride. */
  const pk_array *view;
  size_t vstride;
  pk__gather gather;
  /* Of an array with views: how many are alive; gone, 1 once its owner
     destroyed it, its memory kept for them until the last goes. */
  int views, gone;
};

/* A new array header of ctx (no memory; narrays not counted), or NULL. */
pk_array *pk__array_header(pk_context *ctx, pk_dtype dtype, int ndim,
                           const size_t *shape, size_t count, size_t nbytes);

/* PK_EINVAL with "fn: a view ..." if a is a view (pk_array_view), which
   only a map's input may be; PK_OK otherwise. */
pk_status pk__no_view(pk_context *ctx, const char *fn, const pk_array *a);

/* Set ctx's last error and message; returns status.  Prints if verbose. */
pk_status pk__error(pk_context *ctx, pk_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Set the message of this thread's failed pk_init ("" clears it), which
   pk_errmsg(NULL) gives: there is no context to hold it. */
void pk__init_say(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Start a public call: clear the last error. */
void pk__begin(pk_context *ctx);
/* The start of a collective call that makes *out: pk__begin, *out set to
   NULL (or PK_EINVAL if out is NULL), PK_EINVAL with "fn: why" unless ok,
   agreed on by every process. */
pk_status pk__begin_out(pk_context *ctx, const char *fn, pk_array **out,
                        int ok, const char *why);
/*
 * A collective call's verdict on its arguments: every process passes the
 * status of its own checks (with the message written), and all return the
 * one they agree on (the lowest failing rank's, its message on each), so
 * no rank returns while another waits in the call.  Every collective
 * public function calls it once, after all its checks and before any
 * communication.  The identity on backends of one process.
 */
pk_status pk__agree(pk_context *ctx, pk_status st);
/*
 * A collective call's check that the values that must match do (len bytes
 * at v, which fn names as what): through the backend's same, after
 * pk__agree.  The identity on backends of one process.
 */
pk_status pk__same(pk_context *ctx, const char *fn, const char *what,
                   const void *v, size_t len);
/* Print a line on stderr if ctx is verbose. */
void pk__log(const pk_context *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* a * b, or 0 with *overflow set. */
size_t pk__mul(size_t a, size_t b, int *overflow);

/* Make an array's memory through the backend; messages name fn, the
   public call that makes it. */
pk_status pk__array_new(pk_context *ctx, const char *fn, pk_dtype dtype,
                        int ndim, const size_t *shape, pk_array **out);

/* Scratch kept between calls, whole pages: grow *p (capacity *cap) to need. */
int pk__scratch_reserve(void **p, size_t *cap, size_t need);

/*
 * How late a pool's workers come to a map after a pause (team.c): on some
 * hosts threads that slept through a pause take milliseconds to wake.
 * Notes by class of pause (see team.c): how late the last worker came
 * (s) and when (pk_time), the newest last.  note takes a map's pause (s),
 * that lateness and the time; expect gives how late they are likely to be
 * after a pause (s) at a time, given the warm dispatch cost (s): 0 where
 * nothing says they sleep.
 */
#define PK__WAKE_CLASSES 10
#define PK__WAKE_KEEP 3
#define PK__WAKE_TTL 2.0
typedef struct pk__wake {
  struct pk__wake_class {
    double late[PK__WAKE_KEEP], at[PK__WAKE_KEEP];
    int n;
  } c[PK__WAKE_CLASSES];
} pk__wake;
void pk__wake_note(pk__wake *w, double gap, double late, double now);
double pk__wake_expect(const pk__wake *w, double gap, double now,
                       double warm);

/*
 * A team of OpenMP threads running a job's chunks (src/team.c): the openmp
 * backend's map and an mpi rank's block.  init makes room for n threads;
 * run runs every chunk of j on at most w of them (one: on the caller),
 * appending failures to f.
 */
typedef struct pk__team {
  int n;
  void **scratch; /* one buffer a thread, kept between maps */
  size_t *cap;
  pk__fails *fails;
  double *entry;    /* when each thread entered the last region */
  double last_end;  /* when the last region ended (pk_time) */
  pk__wake wake;
} pk__team;
pk_status pk__team_init(pk__team *t, int n);
void pk__team_free(pk__team *t);
pk_status pk__team_run(pk_context *ctx, pk__team *t, const pk__job *j,
                       int w, pk__fails *f);
void pk__scratch_release(void **p, size_t *cap);

/* Make BLAS single-threaded in this process (workers call it). */
void pk__blas_single(void);
void pk__blas_pool_stop(void);
int pk__blas_pool_threads(void);
int pk__threads(void);
void pk__blas_single_nopool(void);
int pk__blas_get(void);
void pk__blas_set(int n);
/* BLAS on one thread from a context's start to the last context's end. */
void pk__blas_hold(void);
void pk__blas_release(void);

/* The path named s ("auto", ...) into *isa; -1 if s names none. */
int pk__isa_parse(const char *s, pk_isa *isa);

/* Cores this process may run on. */
int pk__cores(void);

/*
 * numpy's element types (src/convert.c).  pk__elem_parse: typestr ("<i8",
 * see pk_array_convert) into *e, or PK_EDTYPE and a sentence in why.
 * pk__elem_dtype: the dtype it converts to; pk__elem_native: 1 if its
 * bytes are already that dtype's; pk__elem_name: numpy's name of it.
 * pk__elem_convert: the elements of an array of ndim dimensions and shape
 * at src, in C or (fortran) Fortran order, into dst in C order.
 */
typedef struct pk__elem {
  char kind;           /* 'b', 'i', 'u', 'f' or 'c' */
  unsigned char size;  /* bytes of one element */
  unsigned char swap;  /* 1: the other byte order than this host's */
} pk__elem;
pk_status pk__elem_parse(const char *typestr, pk__elem *e, char *why,
                         size_t len);
pk_dtype pk__elem_dtype(const pk__elem *e);
int pk__elem_native(const pk__elem *e);
const char *pk__elem_name(const pk__elem *e);
void pk__elem_convert(const pk__elem *e, int fortran, int ndim,
                      const size_t *shape, const void *src, void *dst);

/* Parse the header of the .npy file at path (as pk_array_load_npy does,
 * size checked): its element type, order and shape; *data_at gets the
 * byte offset of its data.  And write a's header (its global shape, if
 * distributed) into buf: its length, 0 if cap is too small.  For the
 * MPI-IO reader and writer. */
pk_status pk__npy_header(pk_context *ctx, const char *path, pk__elem *e,
                         int *fortran, int *ndim, size_t *shape,
                         long *data_at);
size_t pk__npy_write_header(const pk_array *a, char *buf, size_t cap);

/* Jobs left running (src/async.c). */
/* Complete the pending future f (made by pk_map_async or pk_apply_async)
 * with status st, the failures in fails (taken: sorted, kept in f) and the
 * message msg (NULL: made from fails); the backend calls it once. */
struct pk_future;
void pk__future_done(struct pk_future *f, pk_status st, pk__fails *fails,
                     const char *msg);
/* The backend took the job of ctx->future and completes it later. */
void pk__future_pend(struct pk_future *f);

#endif /* PK_INTERNAL_H */
