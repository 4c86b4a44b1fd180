/*
 * parkit: run numerical kernels over batches of arrays in parallel.
 *
 * One map/reduce API over four backends chosen at run time: serial, openmp,
 * fork and mpi.  Every function returns a pk_status; pk_errmsg(ctx) says why
 * the last call on a context failed.  Axis 0 of an array is the batch axis:
 * a kernel maps each item a[i] to one output item out[i].
 *
 * Thread safety: a context and its arrays are used by one thread at a time
 * (pk_interrupt excepted).
 */
#ifndef PARKIT_H
#define PARKIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PK_VERSION_MAJOR 0
#define PK_VERSION_MINOR 1
#define PK_VERSION_PATCH 0

/* Largest number of dimensions of an array, batch axis included. */
#define PK_MAX_DIMS 4
/* Inputs, and outputs, one map can take (pk_map_n). */
#define PK_MAX_ARGS 4

/* ---------------------------------------------------------------- status */

/* X(name, value, message): one table makes the enum and pk_strerror.
   PK_ERANK is reserved: under mpi a collective call's failure gives every
   rank the failing rank's own status, its message naming the rank (see
   parkit/mpi.h). */
#define PK_STATUS_MAP(X)                                                     \
  X(OK, 0, "success")                                                        \
  X(EINVAL, -1, "invalid argument")                                          \
  X(ENOMEM, -2, "out of memory")                                             \
  X(EDTYPE, -3, "unsupported dtype")                                         \
  X(ESHAPE, -4, "unsupported shape")                                         \
  X(EOVERFLOW, -5, "size does not fit in memory addresses")                  \
  X(EBACKEND, -6, "backend not available")                                   \
  X(EKERNEL, -7, "kernel failed on some items")                              \
  X(EWORKER, -8, "a worker died before finishing its items")                 \
  X(EIO, -9, "input/output error")                                           \
  X(EFORMAT, -10, "unsupported file format")                                 \
  X(ESTATE, -11, "call not valid in this state")                             \
  X(ETIMEDOUT, -12, "timed out")                                             \
  X(EMPI, -13, "MPI error")                                                  \
  X(ESYS, -14, "system call failed")                                         \
  X(ERANK, -15, "failed on another rank")                                    \
  X(EINTR, -16, "interrupted")                                              \
  X(ECANCELED, -17, "cancelled")

typedef enum pk_status {
#define PK_STATUS_ENUM_(name, value, msg) PK_##name = value,
  PK_STATUS_MAP(PK_STATUS_ENUM_)
#undef PK_STATUS_ENUM_
} pk_status;

/* A static message for a status; "unknown status" for anything else. */
const char *pk_strerror(pk_status status);

/* ----------------------------------------------------------------- dtype */

typedef enum pk_dtype {
  PK_F64 = 1,  /* double */
  PK_C128 = 2  /* double _Complex: real and imaginary parts interleaved */
} pk_dtype;

/* Bytes of one element of dtype; 0 for an unknown dtype. */
size_t pk_dtype_size(pk_dtype dtype);

/* ------------------------------------------------------ instruction sets */

/*
 * The instruction-set paths of the built-in kernels, narrowest first.  Each
 * path runs code written for its own vector width (never a wider one).
 * Results agree bit for bit within one path, whatever the backend and the
 * number of workers; two paths may differ in the last bits.
 */
typedef enum pk_isa {
  PK_ISA_AUTO = 0, /* the widest path this CPU and this build support */
  PK_ISA_GENERIC,  /* portable vectors of 2 doubles (SSE2, NEON) */
  PK_ISA_AVX2,     /* AVX2 and FMA: 4 doubles */
  PK_ISA_AVX512    /* AVX-512 F, CD, BW, DQ and VL: 8 doubles */
} pk_isa;

/* The widest path this CPU and build support (never PK_ISA_AUTO). */
pk_isa pk_isa_best(void);

/* "auto", "generic", "avx2", "avx512"; NULL for a value not listed. */
const char *pk_isa_name(pk_isa isa);

/* --------------------------------------------------------------- context */

typedef struct pk_context pk_context;
typedef struct pk_array pk_array;
typedef struct pk_kernel pk_kernel;

/*
 * Settings a program passes to pk_init_config.  A zero field means "not set".
 */
typedef struct pk_config {
  const char *backend; /* "serial", "openmp", "fork", "mpi" */
  int workers;         /* workers (threads, processes; per rank for mpi) */
  int verbose;         /* 1: the library prints what it decides on stderr */
  const void *mpi_comm;/* MPI_Comm *: the communicator to work on (mpi) */
  const char *isa;     /* "generic", "avx2", "avx512", "auto" (pk_isa) */
  const int *mpi_fcomm;/* a Fortran MPI communicator handle (mpi_f08:
                          comm%MPI_VAL) to work on, if mpi_comm is not set;
                          for Fortran programs (the parkit module) */
} pk_config;

/*
 * pk_init - create a context and start its backend.
 *
 * The backend, worker count and instruction-set path come, first found
 * first used, from
 *   1. the arguments --pk-backend=NAME, --pk-workers=N and --pk-isa=NAME
 *      (or the value as the next argument: --pk-workers 4) in *argv, which
 *      are removed from argv (argc and argv may be NULL); --pk-verbose;
 *      --pk-help prints the options and environment variables on stdout
 *      (rank 0 alone under mpirun; pk_init then goes on);
 *      any other --pk- argument is an error; the arguments after "--"
 *      (which stays in argv) are the program's;
 *   2. the config given to pk_init_config (pk_init gives none);
 *   3. the environment: PARKIT_BACKEND, PARKIT_WORKERS, PARKIT_ISA,
 *      PARKIT_VERBOSE;
 *   4. defaults: the mpi backend under mpirun with more than one rank,
 *      otherwise openmp, with as many workers as cores this process may use;
 *      the widest instruction-set path the CPU supports.
 * A path wider than the CPU supports is refused (PK_EINVAL), with a message
 * that names what it has; --pk-verbose says which path runs.
 *
 * Not collective, except for the mpi backend (collective over its
 * communicator).  On success *ctx is a new context, freed by pk_finalize.
 * On failure *ctx is NULL; pk_errmsg(NULL) says why, naming the option,
 * variable or config field and its value (and stderr, if verbose).
 * Errors: PK_EINVAL (bad argument or setting), PK_EBACKEND (unknown backend,
 * or one not compiled in), PK_ENOMEM, PK_ESYS; for mpi also PK_EMPI, and
 * PK_ESTATE once MPI has been finalized.
 */
pk_status pk_init(pk_context **ctx, int *argc, char ***argv);
pk_status pk_init_config(pk_context **ctx, int *argc, char ***argv,
                         const pk_config *config);

/*
 * pk_finalize - stop the backend and free the context; *ctx becomes NULL.
 * Every array made on the context must have been destroyed before: if one
 * is alive, it returns PK_ESTATE and leaves the context as it was.
 * NULL and a pointer to NULL are accepted.  Collective for mpi.
 */
pk_status pk_finalize(pk_context **ctx);

/*
 * The last error message on ctx: owned by ctx, valid until the next call on
 * it; "" after a success.  For a NULL ctx, the message of this thread's
 * last pk_init that failed (which names the option, variable or config
 * field and its value), valid until its next pk_init; else a static text.
 */
const char *pk_errmsg(const pk_context *ctx);

/* The backend's name ("serial", ...), and the number of its workers. */
const char *pk_backend(const pk_context *ctx);
int pk_workers(const pk_context *ctx);

/* The instruction-set path ctx's maps run (never PK_ISA_AUTO). */
pk_isa pk_isa_of(const pk_context *ctx);

/* The backends compiled into this library, NULL-terminated. */
const char *const *pk_backends(void);

/* ----------------------------------------------------------------- arrays */

/*
 * pk_array_create - a new zero-filled array of dtype with ndim dimensions
 * (1 .. PK_MAX_DIMS) and the given shape, in memory the backend chooses (for
 * fork: shared memory the workers see).  A zero extent is allowed.
 * The caller frees it with pk_array_destroy before pk_finalize.
 * Errors: PK_EINVAL (NULL pointers, ndim out of range), PK_EDTYPE,
 * PK_EOVERFLOW (the byte size does not fit in size_t), PK_ENOMEM (also for
 * an array of 1 GiB or more that is larger than the machine's memory and
 * swap), PK_ESYS (fork: the shared memory could not be made).
 */
pk_status pk_array_create(pk_context *ctx, pk_dtype dtype, int ndim,
                          const size_t *shape, pk_array **out);

/*
 * pk_array_wrap - an array over the caller's memory, C order, which must
 * stay valid until the array is destroyed.  parkit never frees it; it
 * writes it only when the array is a map's output.  data may be NULL only
 * when the shape has zero elements.  Errors as pk_array_create.
 */
pk_status pk_array_wrap(pk_context *ctx, pk_dtype dtype, int ndim,
                        const size_t *shape, void *data, pk_array **out);

/* Free an array (and its memory, unless wrapped); *a becomes NULL.
 * NULL and a pointer to NULL are accepted. */
void pk_array_destroy(pk_array **a);

/* Accessors; all accept only a valid array. */
void *pk_array_data(const pk_array *a);
pk_dtype pk_array_dtype(const pk_array *a);
int pk_array_ndim(const pk_array *a);
size_t pk_array_dim(const pk_array *a, int axis); /* 0 if axis out of range */
size_t pk_array_count(const pk_array *a);         /* elements */
size_t pk_array_nbytes(const pk_array *a);

/*
 * pk_array_convert - a new array holding data, ndim dimensions of the given
 * shape, whose elements are of numpy's type typestr (its array-interface
 * string, as numpy's dtype.str gives it: a byte order '<', '>', '|' or
 * '=' (this host's, also when left out), a kind and a size in bytes):
 * bool '|b1'; integers 'i1' .. 'i8', 'u1' .. 'u8'; reals 'f2', 'f4', 'f8';
 * complex 'c8', 'c16'.  fortran: 1 if data is in Fortran (column-major)
 * order, 0 for C order.  The new array is C-ordered, float64 for all but
 * the complex types, complex128 for those, each value what numpy's
 * astype(np.float64 or np.complex128) gives (bool 0 or 1; integers beyond
 * 2^53 rounded to nearest).  Use it rather than wrapping memory of another
 * type.  Errors: PK_EDTYPE (any other type, with what to do), as
 * pk_array_create.
 */
pk_status pk_array_convert(pk_context *ctx, const char *typestr, int fortran,
                           int ndim, const size_t *shape, const void *data,
                           pk_array **out);

/*
 * pk_array_moveaxis - a new C-ordered array holding a with its axis `axis`
 * (negative: from the end, -1 the last) moved to the front as the batch
 * axis, the others in their order: numpy's np.moveaxis(a, axis, 0) as a
 * copy.  So the seeds' (n, n, N) tensor, whose items are t[:, :, i], maps
 * as (N, n, n) with axis -1.  Not for a distributed array unless axis is 0
 * (move it before pk_mpi_scatter).  Errors: PK_EINVAL, as pk_array_create.
 */
pk_status pk_array_moveaxis(pk_context *ctx, const pk_array *a, int axis,
                            pk_array **out);

/*
 * pk_array_view - the array pk_array_moveaxis would make, without the
 * copy: a view of a's memory whose axis 0 is a's axis `axis`.  A map (every
 * form: pk_map, pk_map_n, pk_map_reduce, pk_map_async, pk_map_each) takes
 * it as an input and reads each chunk's items into contiguous scratch a
 * few hundred KiB at a time, so kernels see contiguous items as always and
 * the results are the bits the copy gives.  On the fork backend, a view of
 * an array made by pk_array_create costs no copy at all; a view of wrapped
 * memory is copied to shared memory once a map, as the wrapped array is.
 * Only maps read a view: it is never an output, and every other call that
 * takes an array (reduce, save, scatter...) refuses it with PK_EINVAL; make
 * the copy for those.  pk_array_data of a view is a's data.  a may be
 * destroyed first: its memory (a's own, not memory a wraps) stays until
 * its last view is destroyed.  Errors as pk_array_moveaxis.
 */
pk_status pk_array_view(pk_context *ctx, const pk_array *a, int axis,
                        pk_array **out);

/*
 * .npy files (NumPy format 1.0, 2.0 and 3.0).  pk_array_load_npy reads
 * every type pk_array_convert does, in either order, and makes a new
 * C-ordered float64 or complex128 array as pk_array_convert would (under
 * verbose it says when it converted); other types (objects, strings,
 * records) are refused with PK_EDTYPE and what to do, a malformed file
 * with PK_EFORMAT and what was found.  Errors also PK_EIO, PK_ENOMEM,
 * PK_EOVERFLOW, PK_ESHAPE (a 0-d array, or more than PK_MAX_DIMS
 * dimensions).  pk_array_save_npy writes '<f8'
 * or '<c16' in C order ('>f8', '>c16' on a big-endian host); a regular file
 * is written under a new name beside path and renamed over it, so a failed
 * save leaves the old file as it was and readers see one whole file (a
 * device, a FIFO or a file with other hard links is written in place); of
 * a distributed array (see parkit/mpi.h) it writes the whole array to one
 * file and is collective; to read one distributed, use pk_mpi_load_npy.
 */
pk_status pk_array_load_npy(pk_context *ctx, const char *path, pk_array **out);
pk_status pk_array_save_npy(pk_context *ctx, const pk_array *a,
                            const char *path);

/* ---------------------------------------------------------------- kernels */

/* The layout of one item: an array without its batch axis. */
typedef struct pk_item {
  pk_dtype dtype;
  int ndim;                       /* 0 (a scalar) .. PK_MAX_DIMS - 1 */
  size_t shape[PK_MAX_DIMS - 1];
} pk_item;

/*
 * What a kernel's run function works on.  Item i of the input starts at
 * in + i * in_stride bytes, its output at out + i * out_stride; items are
 * contiguous in C order.  first is the index in the whole batch of item 0
 * (so a kernel can seed or report by global index).  scratch holds the
 * bytes the kernel's scratch function asked for, private to this call.
 * isa is the instruction-set path of the context (see pk_isa); PK_ISA_AUTO
 * in a task made by hand means the widest the CPU has.
 *
 * A kernel of several inputs or outputs (pk_map_n) finds input k's item i
 * at ins[k] + i * in_strides[k] and output k's at outs[k] + i *
 * out_strides[k]; in, out and their strides and items are input 0's and
 * output 0's.  An input of one item broadcast over the batch has stride 0.
 * For pk_map, nin and nout are 1.  count is the number of items the map
 * has in this process (its block, under mpi), of which [lo, hi) is one
 * run: what a kernel needs to tell a batch that fits in cache from one
 * that does not; 0 (a task made by hand) if not known.
 */
typedef struct pk_task {
  const char *in;
  char *out;
  size_t in_stride, out_stride;
  pk_item in_item, out_item;
  size_t first;
  void *scratch;
  pk_isa isa;
  int nin, nout;
  const char *ins[PK_MAX_ARGS];
  char *outs[PK_MAX_ARGS];
  size_t in_strides[PK_MAX_ARGS], out_strides[PK_MAX_ARGS];
  pk_item in_items[PK_MAX_ARGS], out_items[PK_MAX_ARGS];
  size_t count;
} pk_task;

/*
 * A kernel is a table; built-in kernels are static and const, a user's may
 * be too.  Only name, shape and run are required.
 *
 * shape: check one input item, fill the output item; on an error return a
 *   status and write a sentence into msg (msglen bytes, NUL-terminated).
 * run: compute items [lo, hi) of t.  Called concurrently on disjoint ranges,
 *   from threads or processes.  Return PK_OK, or an error status with *bad
 *   set to the item that failed: items [lo, *bad) are done, and parkit calls
 *   run again from *bad + 1.  Never exits, aborts or prints.
 * cost: estimated nanoseconds for one item on one core, as a model of how
 *   the cost grows with the item's shape (NULL: unknown).  parkit runs a
 *   map inline when it is cheaper than dispatching it, judged by what it
 *   measures on this CPU: the first map of a shape times a few of its items
 *   in the calling thread before deciding, later maps refine the figure,
 *   and cost, scaled by what was measured of the kernel, stands in for
 *   shapes not run yet.  A kernel without cost is dispatched until maps
 *   have measured it.  Measurements are per process and per kernel table
 *   (its address and name) and item shape.
 * scratch: bytes of scratch one run call needs for up to grain items
 *   (NULL: none).
 * prepare: called once per map in each process that will run items, before
 *   any run call, from one thread (NULL: none); for planning, tables.
 *   items is the number of items of the whole map (for mpi: of every rank
 *   together, the same on each), so that with cost it can weigh what
 *   planning may spend; the FFT kernels plan harder for larger maps.
 * grain: items run best in multiples of this (0 or 1: any); chunks parkit
 *   chooses are multiples of it, unless that would leave a worker without
 *   items.
 * data, data_size: the kernel's own parameters.  The fork backend copies
 *   data_size bytes at data to its workers; with data_size 0 it passes the
 *   pointer itself.  (Under mpi each rank runs its own kernel table.)
 * The fork backend's workers are made by pk_init; a kernel in a library
 * opened later with dlopen runs there too: each worker that did not have
 * the library loads it when a map first needs it.  Its data, with
 * data_size 0, must then be read-only memory of that library (a const
 * table): a pointer into other memory of a library opened after the
 * workers started is refused, PK_EINVAL, and a pool with workers of the
 * fork server (PARKIT_START) refuses any data pointer into writable
 * memory.
 */
struct pk_kernel {
  const char *name;
  pk_status (*shape)(const pk_kernel *k, const pk_item *in, pk_item *out,
                     char *msg, size_t msglen);
  pk_status (*run)(const pk_kernel *k, const pk_task *t, size_t lo,
                   size_t hi, size_t *bad);
  double (*cost)(const pk_kernel *k, const pk_item *in);
  size_t (*scratch)(const pk_kernel *k, const pk_item *in);
  pk_status (*prepare)(const pk_kernel *k, const pk_item *in, size_t items);
  unsigned grain;
  const void *data;
  size_t data_size;
  /* Inputs and outputs of each item (0: 1), for pk_map_n: shape, cost,
     scratch and prepare then get the array of nin input items, and shape
     fills nout output items. */
  int nin, nout;
};

/* ------------------------------------------------------------- map/reduce */

typedef enum pk_schedule {
  PK_SCHEDULE_AUTO = 0, /* parkit chooses */
  PK_SCHEDULE_BLOCK,    /* one contiguous block per worker */
  PK_SCHEDULE_CYCLIC,   /* chunks dealt to workers in turn: chunk c to c % W */
  PK_SCHEDULE_DYNAMIC   /* chunks taken by whichever worker is free (fork:
                           each its own block first) */
} pk_schedule;

typedef enum pk_inline {
  PK_INLINE_AUTO = 0,   /* inline when the estimated cost is below dispatch's */
  PK_INLINE_NEVER,      /* always dispatch to the workers */
  PK_INLINE_ALWAYS      /* always run in the calling thread */
} pk_inline;

/* Options of a map; NULL or a zeroed struct means all defaults. */
typedef struct pk_map_opts {
  pk_schedule schedule;
  size_t chunk;         /* items per chunk (cyclic, dynamic); 0: parkit
                           chooses; block ignores it */
  pk_inline inlining;
} pk_map_opts;

/* What the last map or reduce on a context did. */
typedef struct pk_stats {
  int ran_inline;       /* 1: ran in the calling thread (small-job rule) */
  int workers;          /* workers that took part */
  pk_schedule schedule; /* the schedule used */
  size_t items;         /* items in the call */
  size_t chunk;         /* items per chunk */
  size_t chunks;        /* chunks run */
  size_t failed;        /* items that did not complete (see pk_failed) */
  size_t bytes_copied;  /* input bytes copied to reach the workers */
  double est_seconds;   /* the cost model's estimate of the items on one
                           core (measured on this CPU; inf: unknown) */
  double dispatch_seconds; /* the backend's measured dispatch cost, and
                              how late its workers were seen to come after
                              a pause as long as the one before this map */
  double seconds;       /* wall time of the call */
} pk_stats;

/*
 * pk_map - out[i] = kernel(in[i]) for every item i along axis 0.
 *
 * If *out is NULL, a new array of the kernel's output shape is made (the
 * caller destroys it); otherwise *out must already have that dtype and shape
 * and is written in place.  in and *out must not overlap.
 * Collective for mpi.  Errors: PK_EINVAL (NULL pointers, bad options),
 * PK_EDTYPE and PK_ESHAPE (from the kernel's shape check, with its message),
 * PK_ENOMEM, PK_EKERNEL (some items failed: pk_failed lists them; the
 * others are computed), PK_EWORKER (a worker died: pk_failed lists the
 * items it did not finish; the pool is usable again).  On an error, a new
 * *out is still returned if the shapes were valid, so that the completed
 * items are kept.
 */
pk_status pk_map(pk_context *ctx, const pk_kernel *kernel, const pk_array *in,
                 pk_array **out, const pk_map_opts *opts);

/*
 * pk_map_n - pk_map over several batches at once (Python's starmap):
 * item i of every input goes to the kernel together, and each output gets
 * its item i.  nin and nout (1 .. PK_MAX_ARGS) must be the kernel's.
 * Every input has the same batch length along axis 0, except that an
 * input of one item is broadcast to every item (a fixed kernel image:
 * never copied per item).  out[k] NULL: made, as pk_map makes *out;
 * otherwise checked.  No output may overlap an input or another output.
 * Under mpi every input that is not broadcast is distributed with the same
 * blocks, or every one is a replica.  The guarantees and errors are
 * pk_map's; a message about an array names it ("input 1").
 */
pk_status pk_map_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                   const pk_array *const in[], int nout, pk_array *out[],
                   const pk_map_opts *opts);

typedef enum pk_op { PK_SUM = 1, PK_PROD, PK_MIN, PK_MAX } pk_op;

/*
 * pk_reduce - combine every element of a with op.  result holds one double
 * (PK_F64) or two, real and imaginary (PK_C128; PK_MIN and PK_MAX refuse
 * complex input with PK_EDTYPE).  An empty array gives the identity (0, 1,
 * +inf, -inf).  A NaN gives NaN for every op.  The bits of the result do not
 * depend on the backend or on the number of workers: elements are combined
 * in fixed blocks of PK_REDUCE_BLOCK, in index order.  Collective for mpi.
 */
#define PK_REDUCE_BLOCK 4096
pk_status pk_reduce(pk_context *ctx, const pk_array *a, pk_op op,
                    double *result);

/* pk_map_reduce - pk_reduce of the output of pk_map, without keeping it. */
pk_status pk_map_reduce(pk_context *ctx, const pk_kernel *kernel,
                        const pk_array *in, pk_op op, double *result,
                        const pk_map_opts *opts);

/*
 * pk_map_reduce_n - pk_reduce of each output of pk_map_n, without keeping
 * them: output k's in results[2k] (and its imaginary part in results[2k +
 * 1]; 0 for a real output), so results holds 2 * the kernel's nout
 * doubles.  Errors as pk_map_n and pk_reduce.
 */
pk_status pk_map_reduce_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                          const pk_array *const in[], pk_op op,
                          double *results, const pk_map_opts *opts);

/*
 * The items of the last failed map that did not complete, ascending, owned
 * by ctx and valid until its next call; *n gets their number (0 after a
 * success).
 */
const size_t *pk_failed(const pk_context *ctx, size_t *n);

/*
 * pk_interrupt - stop the map running on ctx: for Ctrl-C, or a deadline
 * kept by another thread.  The one call that may be made while another
 * thread uses ctx, and from a signal handler (it stores a flag and writes
 * to a descriptor).  The map's items not yet started are not run; on fork
 * the workers running its items are killed and replaced, as by
 * pk_future_cancel; elsewhere the items being computed finish first (a
 * thread cannot be stopped), and a map run in the calling thread looks at
 * the flag between pieces of about 10 ms.  The map then returns PK_EINTR:
 * pk_failed lists the items not done (of very many, the first 1,048,576
 * of each list kept, one a thread; pk_last_stats counts them all), whose
 * outputs are as after a failed item (see pk_map(3)), and ctx maps again.
 * A fork future still pending is stopped by the wait that follows the
 * call (a pk_future_wait, or the next call on ctx).  A map started after the call is not stopped.  Under
 * mpi it stops only this process's share, and every rank's call returns
 * PK_EINTR, naming the rank, with the items not run listed on every rank
 * (a kernel's failure on a lower rank is reported first, as PK_EKERNEL).
 * Errors: PK_EINVAL (ctx NULL).
 */
pk_status pk_interrupt(pk_context *ctx);

/* Statistics of the last map or reduce; owned by ctx. */
const pk_stats *pk_last_stats(const pk_context *ctx);

/* Seconds on a monotonic clock, for timing. */
double pk_time(void);

#ifdef __cplusplus
}
#endif
#endif /* PARKIT_H */
