/* Arrays: shape checks, memory from the backend or the caller. */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sysinfo.h>
#endif

/* Bytes of memory and swap this machine has; SIZE_MAX if unknown. */
static size_t machine_bytes(void) {
#ifdef __linux__
  struct sysinfo si;
  int ovf = 0;
  size_t n;

  if (sysinfo(&si) == 0) {
    n = pk__mul((size_t)si.totalram + (size_t)si.totalswap,
                si.mem_unit ? si.mem_unit : 1, &ovf);
    return ovf ? SIZE_MAX : n;
  }
#endif
  return SIZE_MAX;
}

/* Check dtype, ndim and shape; fill count and nbytes. */
static pk_status check_shape(pk_context *ctx, const char *fn, pk_dtype dtype,
                             int ndim, const size_t *shape, size_t *count,
                             size_t *nbytes) {
  int i, ovf = 0;
  size_t n = 1;

  if (pk_dtype_size(dtype) == 0)
    return pk__error(ctx, PK_EDTYPE, "%s: dtype %d is neither PK_F64 nor "
                     "PK_C128", fn, (int)dtype);
  if (ndim < 1 || ndim > PK_MAX_DIMS)
    return pk__error(ctx, PK_EINVAL, "%s: ndim is %d; it must be 1 to %d",
                     fn, ndim, PK_MAX_DIMS);
  if (shape == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: shape is NULL", fn);
  for (i = 0; i < ndim; i++)
    n = pk__mul(n, shape[i], &ovf);
  *count = n;
  *nbytes = pk__mul(n, pk_dtype_size(dtype), &ovf);
  if (ovf)
    return pk__error(ctx, PK_EOVERFLOW, "%s: the array's size in bytes "
                     "does not fit in size_t", fn);
  return PK_OK;
}

pk_array *pk__array_header(pk_context *ctx, pk_dtype dtype, int ndim,
                           const size_t *shape, size_t count,
                           size_t nbytes) {
  pk_array *a = calloc(1, sizeof *a);

  if (a == NULL)
    return NULL;
  a->ctx = ctx;
  a->dtype = dtype;
  a->ndim = ndim;
  memcpy(a->shape, shape, (size_t)ndim * sizeof *shape);
  a->count = count;
  a->nbytes = nbytes;
  return a;
}

/*
 * A private anonymous mapping of nbytes, or NULL.  From PK__HUGE_BYTES on
 * (numpy's threshold) it starts on a 2 MiB boundary and asks for
 * transparent huge pages (given where the system's mode is "madvise" or
 * "always", not where it is "never"): each page first touched
 * costs a fault, and on a virtual machine a fault is dear.  On an AMD EPYC
 * family 26 guest (2026-12-03), filling 800 MB took 2.1-2.5 s in 4 KiB
 * pages against 0.29-0.69 s, pk_array_load_npy of an 800 MB file 2.0-2.7
 * s against 0.62-0.67, the first det map over it 0.53-0.63 s against 0.10
 * (0.09-0.10 once warm; doc/performance-notes.md).  The tail past nbytes
 * is unmapped, so that munmap(p, nbytes) releases the whole.
 */
static void *map_zeroed(size_t nbytes) {
  size_t len = nbytes, extra = 0;
  char *m, *a;

#if defined(MADV_HUGEPAGE)
  const long ps = sysconf(_SC_PAGESIZE);
  const size_t pg = ps > 0 ? (size_t)ps : 4096;
  if (nbytes >= PK__HUGE_BYTES && nbytes <= SIZE_MAX / 2) {
    len = (nbytes + pg - 1) / pg * pg;
    extra = PK__HUGE_ALIGN;
  }
#endif
  m = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  if (extra == 0)
    return m;
  /* [m, m + len + extra): keep the len bytes from the first boundary */
  a = m + (-(uintptr_t)m & (extra - 1));
  if (a > m)
    (void)munmap(m, (size_t)(a - m));
  if (m + extra > a)
    (void)munmap(a + len, (size_t)(m + extra - a));
#if defined(MADV_HUGEPAGE)
  (void)madvise(a, len, MADV_HUGEPAGE); /* a hint: refused, no matter */
#endif
  return a;
}

/*
 * Zeroed memory of nbytes, 64-byte aligned.  A large array is mapped
 * anonymously (map_zeroed): its pages are zero as they come, so no one
 * writes the zeros, and they are faulted in by whoever touches them first,
 * the workers of a map in parallel, not the calling thread (a map's new
 * output was written twice: the zeros, then the results).  *mapped says
 * which (pk_array_destroy unmaps).
 */
static pk_status alloc_zeroed(void **p, size_t nbytes, int *mapped) {
  *mapped = 0;
#if defined(MAP_ANONYMOUS)
  if (nbytes >= PK__MAPPED_BYTES) {
    if ((*p = map_zeroed(nbytes)) == NULL)
      return PK_ENOMEM;
    *mapped = 1;
    return PK_OK;
  }
#endif
  if (posix_memalign(p, 64, nbytes) != 0)
    return PK_ENOMEM;
  memset(*p, 0, nbytes);
  return PK_OK;
}

static void free_zeroed(void *p, size_t nbytes, int mapped) {
#if defined(MAP_ANONYMOUS)
  if (mapped) {
    (void)munmap(p, nbytes);
    return;
  }
#endif
  (void)nbytes, (void)mapped;
  free(p);
}

pk_status pk__array_new(pk_context *ctx, const char *fn, pk_dtype dtype,
                        int ndim, const size_t *shape, pk_array **out) {
  size_t count, nbytes;
  pk_status st;
  pk_array *a;

  st = check_shape(ctx, fn, dtype, ndim, shape, &count, &nbytes);
  if (st != PK_OK)
    return st;
  /* The same answer on every backend: shared memory is reserved, not
     touched, so a backend could hand out more than the machine has.  Asked
     only of large arrays: a map makes its output with this, and a system
     call a map would be felt. */
  size_t have = nbytes >= ((size_t)1 << 30) ? machine_bytes() : SIZE_MAX;
  if (nbytes > have)
    return pk__error(ctx, PK_ENOMEM, "%s: %zu bytes are more than this "
                     "machine's memory and swap (%zu bytes)", fn, nbytes,
                     have);
  a = pk__array_header(ctx, dtype, ndim, shape, count, nbytes);
  if (a == NULL)
    return pk__error(ctx, PK_ENOMEM, "%s: out of memory", fn);
  if (nbytes > 0) {
    if (ctx->ops->alloc != NULL) {
      st = ctx->ops->alloc(ctx, nbytes, &a->data, &a->handle);
    } else {
      st = alloc_zeroed(&a->data, nbytes, &a->mapped);
    }
    if (st != PK_OK) {
      free(a);
      if (ctx->status == PK_OK)
        pk__error(ctx, st, "%s: cannot allocate %zu bytes", fn,
                  nbytes);
      return st;
    }
  }
  ctx->narrays++;
  *out = a;
  return PK_OK;
}

/* A public call that makes *out: its error, or 0 to go on. */
static pk_status begin(pk_context *ctx, const char *fn, pk_array **out) {
  if (ctx == NULL)
    return PK_EINVAL;
  pk__begin(ctx);
  if (out == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: out is NULL", fn);
  *out = NULL;
  return PK_OK;
}

pk_status pk_array_create(pk_context *ctx, pk_dtype dtype, int ndim,
                          const size_t *shape, pk_array **out) {
  pk_status st = begin(ctx, "pk_array_create", out);

  return st != PK_OK ? st
                     : pk__array_new(ctx, "pk_array_create", dtype, ndim,
                                     shape, out);
}

pk_status pk_array_wrap(pk_context *ctx, pk_dtype dtype, int ndim,
                        const size_t *shape, void *data, pk_array **out) {
  size_t count, nbytes;
  pk_status st;
  pk_array *a;

  if ((st = begin(ctx, "pk_array_wrap", out)) != PK_OK)
    return st;
  st = check_shape(ctx, "pk_array_wrap", dtype, ndim, shape, &count, &nbytes);
  if (st != PK_OK)
    return st;
  if (data == NULL && nbytes != 0)
    return pk__error(ctx, PK_EINVAL, "pk_array_wrap: data is NULL for %zu "
                     "elements", count);
  a = pk__array_header(ctx, dtype, ndim, shape, count, nbytes);
  if (a == NULL)
    return pk__error(ctx, PK_ENOMEM, "pk_array_wrap: out of memory");
  a->data = data;
  a->wrapped = 1;
  ctx->narrays++;
  *out = a;
  return PK_OK;
}

/* x's memory (unless the caller's or another array's) and x. */
static void release(pk_array *x) {
  pk_context *ctx = x->ctx;

  if (!x->wrapped && x->view == NULL && x->data != NULL) {
    if (x->handle != NULL)
      ctx->ops->free(ctx, x->data, x->nbytes, x->handle);
    else
      free_zeroed(x->data, x->nbytes, x->mapped);
  }
  free(x);
}

/*
 * An array destroyed while views of it live is gone for its owner (it no
 * longer counts for pk_finalize) and its memory stays for the views: the
 * last view to go releases it.
 */
void pk_array_destroy(pk_array **a) {
  pk_array *x, *base;

  if (a == NULL || *a == NULL)
    return;
  x = *a;
  *a = NULL;
  x->ctx->narrays--;
  if (x->views > 0) {
    x->gone = 1;
    return;
  }
  base = (pk_array *)x->view;
  release(x);
  if (base != NULL && --base->views == 0 && base->gone)
    release(base);
}

pk_status pk__no_view(pk_context *ctx, const char *fn, const pk_array *a) {
  if (a == NULL || a->view == NULL)
    return PK_OK;
  return pk__error(ctx, PK_EINVAL, "%s: this array is a view "
                   "(pk_array_view), which only a map reads; "
                   "pk_array_moveaxis makes the same array as a copy that "
                   "every call takes", fn);
}

void *pk_array_data(const pk_array *a) { return a->data; }
pk_dtype pk_array_dtype(const pk_array *a) { return a->dtype; }
int pk_array_ndim(const pk_array *a) { return a->ndim; }
size_t pk_array_count(const pk_array *a) { return a->count; }
size_t pk_array_nbytes(const pk_array *a) { return a->nbytes; }

size_t pk_array_dim(const pk_array *a, int axis) {
  return axis >= 0 && axis < a->ndim ? a->shape[axis] : 0;
}

/* ------------------------------------------------- distributed arrays */

/* The block of the items a rank owns: the pure arithmetic every backend
   and parkit/mpi.h share. */
void pk_mpi_block(size_t count, int size, int rank, size_t *first,
                  size_t *n) {
  size_t p = size > 0 ? (size_t)size : 1, r = rank > 0 ? (size_t)rank : 0;
  size_t q = count / p, extra = count % p;

  if (r >= p)
    r = p; /* past the last rank: an empty block at the end */
  *first = r * q + (r < extra ? r : extra);
  *n = r == p ? 0 : q + (r < extra);
}

int pk_array_distributed(const pk_array *a) { return a->distributed; }

size_t pk_array_offset(const pk_array *a) {
  return a->distributed ? a->offset : 0;
}

size_t pk_array_global(const pk_array *a) {
  return a->distributed ? a->global : a->shape[0];
}
