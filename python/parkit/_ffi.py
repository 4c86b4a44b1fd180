"""The C declarations of libparkit, and where the library is found.

ABI mode: nothing is compiled at install time.  The declarations are
copied from include/parkit.h, parkit/kernels.h, parkit/fft.h,
parkit/async.h and parkit/mpi.h; a change there must be made here too.
"""
import os

import cffi

from . import _paths

CDEF = """
typedef enum pk_status {
  PK_OK = 0, PK_EINVAL = -1, PK_ENOMEM = -2, PK_EDTYPE = -3, PK_ESHAPE = -4,
  PK_EOVERFLOW = -5, PK_EBACKEND = -6, PK_EKERNEL = -7, PK_EWORKER = -8,
  PK_EIO = -9, PK_EFORMAT = -10, PK_ESTATE = -11, PK_ETIMEDOUT = -12,
  PK_EMPI = -13, PK_ESYS = -14, PK_ERANK = -15, PK_EINTR = -16,
  PK_ECANCELED = -17
} pk_status;
const char *pk_strerror(pk_status status);

typedef enum pk_dtype { PK_F64 = 1, PK_C128 = 2 } pk_dtype;
size_t pk_dtype_size(pk_dtype dtype);

typedef enum pk_isa {
  PK_ISA_AUTO = 0, PK_ISA_GENERIC, PK_ISA_AVX2, PK_ISA_AVX512
} pk_isa;
pk_isa pk_isa_best(void);
const char *pk_isa_name(pk_isa isa);

typedef struct pk_context pk_context;
typedef struct pk_array pk_array;
typedef struct pk_kernel pk_kernel;

typedef struct pk_config {
  const char *backend;
  int workers;
  int verbose;
  const void *mpi_comm;
  const char *isa;
  const int *mpi_fcomm;
} pk_config;

pk_status pk_init(pk_context **ctx, int *argc, char ***argv);
pk_status pk_init_config(pk_context **ctx, int *argc, char ***argv,
                         const pk_config *config);
pk_status pk_finalize(pk_context **ctx);
const char *pk_errmsg(const pk_context *ctx);
const char *pk_backend(const pk_context *ctx);
int pk_workers(const pk_context *ctx);
pk_isa pk_isa_of(const pk_context *ctx);
const char *const *pk_backends(void);

pk_status pk_array_create(pk_context *ctx, pk_dtype dtype, int ndim,
                          const size_t *shape, pk_array **out);
pk_status pk_array_wrap(pk_context *ctx, pk_dtype dtype, int ndim,
                        const size_t *shape, void *data, pk_array **out);
void pk_array_destroy(pk_array **a);
void *pk_array_data(const pk_array *a);
pk_dtype pk_array_dtype(const pk_array *a);
int pk_array_ndim(const pk_array *a);
size_t pk_array_dim(const pk_array *a, int axis);
size_t pk_array_count(const pk_array *a);
size_t pk_array_nbytes(const pk_array *a);
pk_status pk_array_convert(pk_context *ctx, const char *typestr, int fortran,
                           int ndim, const size_t *shape, const void *data,
                           pk_array **out);
pk_status pk_array_moveaxis(pk_context *ctx, const pk_array *a, int axis,
                            pk_array **out);
pk_status pk_array_view(pk_context *ctx, const pk_array *a, int axis,
                        pk_array **out);

typedef struct pk_item {
  pk_dtype dtype;
  int ndim;
  size_t shape[3];
} pk_item;

typedef struct pk_task {
  const char *in;
  char *out;
  size_t in_stride, out_stride;
  pk_item in_item, out_item;
  size_t first;
  void *scratch;
  pk_isa isa;
  int nin, nout;
  const char *ins[4];
  char *outs[4];
  size_t in_strides[4], out_strides[4];
  pk_item in_items[4], out_items[4];
  size_t count;
} pk_task;

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
  int nin, nout;
};

typedef enum pk_schedule {
  PK_SCHEDULE_AUTO = 0, PK_SCHEDULE_BLOCK, PK_SCHEDULE_CYCLIC,
  PK_SCHEDULE_DYNAMIC
} pk_schedule;
typedef enum pk_inline {
  PK_INLINE_AUTO = 0, PK_INLINE_NEVER, PK_INLINE_ALWAYS
} pk_inline;
typedef struct pk_map_opts {
  pk_schedule schedule;
  size_t chunk;
  pk_inline inlining;
} pk_map_opts;

typedef struct pk_stats {
  int ran_inline;
  int workers;
  pk_schedule schedule;
  size_t items;
  size_t chunk;
  size_t chunks;
  size_t failed;
  size_t bytes_copied;
  double est_seconds;
  double dispatch_seconds;
  double seconds;
} pk_stats;

pk_status pk_map(pk_context *ctx, const pk_kernel *kernel, const pk_array *in,
                 pk_array **out, const pk_map_opts *opts);
pk_status pk_map_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                   const pk_array *const in[], int nout, pk_array *out[],
                   const pk_map_opts *opts);
typedef enum pk_op { PK_SUM = 1, PK_PROD, PK_MIN, PK_MAX } pk_op;
pk_status pk_reduce(pk_context *ctx, const pk_array *a, pk_op op,
                    double *result);
pk_status pk_map_reduce(pk_context *ctx, const pk_kernel *kernel,
                        const pk_array *in, pk_op op, double *result,
                        const pk_map_opts *opts);
pk_status pk_map_reduce_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                          const pk_array *const in[], pk_op op,
                          double *results, const pk_map_opts *opts);
const size_t *pk_failed(const pk_context *ctx, size_t *n);
pk_status pk_interrupt(pk_context *ctx);
const pk_stats *pk_last_stats(const pk_context *ctx);
double pk_time(void);

/* parkit/kernels.h, parkit/fft.h */
const pk_kernel *pk_kernel_det(void);
const pk_kernel *pk_kernel_slogdet(void);
const pk_kernel *pk_kernel_fft2(void);
const pk_kernel *pk_kernel_ifft2(void);
const pk_kernel *pk_kernel_rfft2(void);
const pk_kernel *pk_kernel_irfft2(void);
typedef enum pk_autocorr_method {
  PK_AUTOCORR_AUTO = 0, PK_AUTOCORR_DIRECT, PK_AUTOCORR_FFT
} pk_autocorr_method;
const pk_kernel *pk_kernel_autocorr2d(pk_autocorr_method method);
typedef enum pk_mode { PK_MODE_FULL = 0, PK_MODE_VALID, PK_MODE_SAME } pk_mode;
const pk_kernel *pk_kernel_correlate2d(pk_mode mode,
                                       pk_autocorr_method method);
const pk_kernel *pk_kernel_convolve2d(pk_mode mode,
                                      pk_autocorr_method method);
typedef enum pk_fft_planner {
  PK_FFT_AUTO = 0, PK_FFT_ESTIMATE, PK_FFT_MEASURE, PK_FFT_PATIENT,
  PK_FFT_EXHAUSTIVE, PK_FFT_REPRODUCIBLE
} pk_fft_planner;
pk_status pk_fft_set_planner(pk_fft_planner planner);

/* parkit/async.h */
typedef struct pk_future pk_future;
pk_status pk_map_async(pk_context *ctx, const pk_kernel *kernel,
                       const pk_array *in, pk_array **out,
                       const pk_map_opts *opts, pk_future **future);
pk_status pk_map_async_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                         const pk_array *const in[], int nout,
                         pk_array *out[], const pk_map_opts *opts,
                         pk_future **future);
int pk_future_ready(pk_future *f);
pk_status pk_future_wait(pk_future *f, double timeout);
pk_status pk_future_get(pk_future *f);
pk_status pk_future_cancel(pk_future *f);
int pk_future_successful(pk_future *f);
const size_t *pk_future_failed(const pk_future *f, size_t *n);
const char *pk_future_errmsg(const pk_future *f);
void pk_future_destroy(pk_future **f);
pk_status pk_map_each(pk_context *ctx, const pk_kernel *kernel,
                      const pk_array *in, pk_array **out,
                      const pk_map_opts *opts,
                      void (*fn)(void *arg, size_t lo, size_t hi), void *arg);
pk_status pk_map_each_n(pk_context *ctx, const pk_kernel *kernel, int nin,
                        const pk_array *const in[], int nout,
                        pk_array *out[], const pk_map_opts *opts,
                        void (*fn)(void *arg, size_t lo, size_t hi),
                        void *arg);
pk_status pk_worker_max_tasks(pk_context *ctx, unsigned long n);

/* parkit/mpi.h */
int pk_mpi_rank(const pk_context *ctx);
int pk_mpi_size(const pk_context *ctx);
void pk_mpi_block(size_t count, int size, int rank, size_t *first,
                  size_t *n);
int pk_array_distributed(const pk_array *a);
size_t pk_array_offset(const pk_array *a);
size_t pk_array_global(const pk_array *a);
pk_status pk_mpi_create(pk_context *ctx, pk_dtype dtype, int ndim,
                        const size_t *shape, pk_array **out);
pk_status pk_mpi_scatter(pk_context *ctx, const pk_array *src, int root,
                         pk_array **out);
pk_status pk_mpi_gather(pk_context *ctx, const pk_array *a, int root,
                        pk_array **out);
"""

# The names of PK_STATUS_MAP, by value.
STATUS_NAMES = {
    0: "PK_OK", -1: "PK_EINVAL", -2: "PK_ENOMEM", -3: "PK_EDTYPE",
    -4: "PK_ESHAPE", -5: "PK_EOVERFLOW", -6: "PK_EBACKEND",
    -7: "PK_EKERNEL", -8: "PK_EWORKER", -9: "PK_EIO", -10: "PK_EFORMAT",
    -11: "PK_ESTATE", -12: "PK_ETIMEDOUT", -13: "PK_EMPI", -14: "PK_ESYS",
    -15: "PK_ERANK", -16: "PK_EINTR", -17: "PK_ECANCELED",
}
MAX_DIMS = 4

ffi = cffi.FFI()
ffi.cdef(CDEF)


def _candidates():
    env = os.environ.get("PARKIT_LIB")
    if env:
        return [env]
    if _paths.LIBDIR is not None:
        return [os.path.join(_paths.LIBDIR, "libparkit.so.0")]
    return ["libparkit.so.0"]


def _load():
    where = _candidates()[0]
    # RTLD_GLOBAL, as mpi4py loads MPI: the plugins some MPI builds load in
    # MPI_Init look up libmpi's symbols in the global namespace.
    try:
        return ffi.dlopen(where, ffi.RTLD_NOW | ffi.RTLD_GLOBAL)
    except OSError as e:
        how = ("PARKIT_LIB" if os.environ.get("PARKIT_LIB") else
               "the install path" if _paths.LIBDIR is not None else
               "the dynamic linker's search path")
        raise ImportError(
            "parkit: cannot load the C library %s (from %s): %s; set "
            "PARKIT_LIB to the path of libparkit.so" % (where, how, e)) from e


lib = _load()
