/*
 * The mpi backend under mpirun (tests/mpi.sh runs it on 1 to 4 ranks):
 * equality with serial, scatter/gather, the shared window, MPI-IO .npy,
 * collective errors, reduce bits.  Rank 0 prints the failures of every
 * rank's checks and "N passed, N failed"; every rank exits 1 if any check
 * failed anywhere.
 */
#include <parkit.h>

#include "mpi_check.h"
#include <parkit/async.h>
#include <parkit/kernels.h>
#include <parkit/mpi.h>

#include <mpi.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif

static int npass, nfail, rank, size;
static pk_context *ctx, *ser; /* the mpi context; a serial one */

/* Doubles in [-1, 1) from a seed: the same on every rank. */
static void fill(double *x, size_t n, uint64_t seed) {
  size_t i;
  for (i = 0; i < n; i++)
    x[i] = (double)(pk__splitmix(&seed) >> 11) * 0x1p-52 - 1.0;
}

/* A whole array, made the same on every rank, on context c. */
static pk_array *whole(pk_context *c, pk_dtype dt, int ndim,
                       const size_t *shape, uint64_t seed) {
  pk_array *a = NULL;
  CHECK_OK(c, pk_array_create(c, dt, ndim, shape, &a));
  if (a)
    fill(pk_array_data(a), pk_array_nbytes(a) / 8, seed);
  return a;
}

/* Does local array l hold items [offset, offset + n) of whole array w? */
static int same_block(const pk_array *l, const pk_array *w) {
  size_t ib = pk_array_dim(w, 0) ? pk_array_nbytes(w) / pk_array_dim(w, 0)
                                 : 0;
  if (pk_array_global(l) != pk_array_dim(w, 0))
    return 0;
  return pk_array_nbytes(l) == 0 ||
         memcmp(pk_array_data(l),
                (const char *)pk_array_data(w) + pk_array_offset(l) * ib,
                pk_array_nbytes(l)) == 0;
}

static int same_bits(const pk_array *a, const pk_array *b) {
  return a && b && pk_array_nbytes(a) == pk_array_nbytes(b) &&
         (pk_array_nbytes(a) == 0 ||
          memcmp(pk_array_data(a), pk_array_data(b), pk_array_nbytes(a)) ==
              0);
}

/* ------------------------------------------------------------- kernels */

typedef struct kdata {
  size_t bad;          /* global item that fails */
  int prepare_fails_on; /* rank whose prepare fails; -1: none */
  size_t items;        /* the map's items prepare must be told; 0: any */
} kdata;

static pk_status k_shape(const pk_kernel *k, const pk_item *in, pk_item *out,
                         char *msg, size_t msglen) {
  (void)k, (void)msg, (void)msglen;
  out->dtype = PK_F64;
  out->ndim = 0;
  return in->dtype == PK_F64 ? PK_OK : PK_EDTYPE;
}

static pk_status k_run(const pk_kernel *k, const pk_task *t, size_t lo,
                       size_t hi, size_t *bad) {
  const kdata *d = k->data;
  size_t i, j, m = t->in_stride / 8;
  for (i = lo; i < hi; i++) {
    const double *x = (const double *)(t->in + i * t->in_stride);
    double s = (double)(t->first + i);
    if (t->first + i == d->bad) {
      *bad = i;
      return PK_EKERNEL;
    }
    for (j = 0; j < m; j++)
      s += sin(x[j] * (double)(j + 1));
    memcpy(t->out + i * t->out_stride, &s, sizeof s);
  }
  return PK_OK;
}

static pk_status k_prepare(const pk_kernel *k, const pk_item *in,
                           size_t items) {
  const kdata *d = k->data;
  (void)in;
  /* Every rank hears of the whole map, not of its own block. */
  if (d->items && items != d->items)
    return PK_EINVAL;
  return d->prepare_fails_on == rank ? PK_ESYS : PK_OK;
}

static kdata kd = {SIZE_MAX, -1, 0};
static const pk_kernel wave = {.name = "wave", .shape = k_shape,
                               .run = k_run, .prepare = k_prepare,
                               .data = &kd};

#include "count_kernel.h"
#include "pair_kernel.h"

/* out = 2 * (global index), 2 ms an item. */
static pk_status nap_run(const pk_kernel *k, const pk_task *t, size_t lo,
                         size_t hi, size_t *bad) {
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++) {
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    *(double *)(t->out + i * t->out_stride) = 2.0 * (double)(t->first + i);
  }
  return PK_OK;
}

static const pk_kernel nap = {.name = "nap", .shape = k_shape,
                              .run = nap_run};

/* --------------------------------------------------------------- tests */

static void test_init(void) {
  int r = -1, s = -1, init = 0;
  MPI_Comm comm;
  MPI_Initialized(&init);
  CHECK(init);
  CHECK(strcmp(pk_backend(ctx), "mpi") == 0);
  CHECK_OK(ctx, pk_mpi_comm(ctx, &comm));
  MPI_Comm_rank(comm, &r);
  MPI_Comm_size(comm, &s);
  CHECK(r == rank && s == size);
  CHECK(pk_workers(ctx) >= 1);
  CHECK(pk_mpi_rank(ser) == 0 && pk_mpi_size(ser) == 1);
}

static void test_block(void) {
  size_t f, n, next = 0, count, most = 0, least = SIZE_MAX;
  int r;
  for (count = 0; count < 20; count++) {
    next = 0, most = 0, least = SIZE_MAX;
    for (r = 0; r < size; r++) {
      pk_mpi_block(count, size, r, &f, &n);
      if (f != next)
        break;
      next += n;
      most = n > most ? n : most;
      least = n < least ? n : least;
    }
    CHECK(r == size && next == count && most - least <= 1);
  }
}

/* det on matrices scattered over the ranks, against serial, bit for bit. */
static void test_det(size_t count, size_t n) {
  size_t shape[3] = {count, n, n};
  pk_array *w = whole(ctx, PK_F64, 3, shape, 7 + count);
  pk_array *ws = NULL, *ref = NULL, *d = NULL, *l = NULL, *all = NULL;
  pk_array *rep = NULL;
  double sum = -1, rsum = -2, msum = -3;

  if (w == NULL)
    return;
  CHECK_OK(ser, pk_array_wrap(ser, PK_F64, 3, shape, pk_array_data(w), &ws));
  CHECK_OK(ser, pk_map(ser, pk_kernel_det(), ws, &ref, NULL));
  CHECK_OK(ser, pk_reduce(ser, ref, PK_SUM, &rsum));

  CHECK_OK(ctx, pk_mpi_scatter(ctx, rank == 0 ? w : NULL, 0, &l));
  CHECK(l && pk_array_distributed(l) && same_block(l, w));
  CHECK_OK(ctx, pk_map(ctx, pk_kernel_det(), l, &d, NULL));
  CHECK(d && pk_array_distributed(d) && pk_array_global(d) == count);
  if (d && ref)
    CHECK(same_block(d, ref));
  CHECK_OK(ctx, pk_reduce(ctx, d, PK_SUM, &sum));
  CHECK(memcmp(&sum, &rsum, sizeof sum) == 0);
  CHECK_OK(ctx, pk_map_reduce(ctx, pk_kernel_det(), l, PK_SUM, &msum, NULL));
  CHECK(memcmp(&msum, &rsum, sizeof sum) == 0);
  CHECK_OK(ctx, pk_mpi_gather(ctx, d, -1, &all));
  CHECK(same_bits(all, ref));

  /* A replica: every rank computes a block, every rank gets all. */
  CHECK_OK(ctx, pk_map(ctx, pk_kernel_det(), w, &rep, NULL));
  CHECK(rep && !pk_array_distributed(rep) && same_bits(rep, ref));
  sum = -1;
  CHECK_OK(ctx, pk_reduce(ctx, rep, PK_SUM, &sum));
  CHECK(memcmp(&sum, &rsum, sizeof sum) == 0);

  pk_array_destroy(&ws);
  pk_array_destroy(&ref);
  pk_array_destroy(&w);
  pk_array_destroy(&l);
  pk_array_destroy(&d);
  pk_array_destroy(&all);
  pk_array_destroy(&rep);
}

/* Each item pk_map_each reports once, in [0, n). */
typedef struct hits {
  unsigned char *hit;
  size_t n;
  int bad;
} hits;

static void on_range(void *arg, size_t lo, size_t hi) {
  hits *h = arg;
  for (size_t i = lo; i < hi; i++)
    h->bad += i >= h->n || h->hit[i]++ != 0;
}

/* pk_task.count under mpi: a rank's block of a distributed batch, and its
 * share of a replica's (whose results every rank then gathers); the ranges
 * pk_map_each reports on each rank: its block's items, counted in the
 * whole batch as pk_failed counts them. */
static void test_count(size_t count) {
  size_t shape[2] = {count, 2}, first, n;
  pk_array *w = whole(ctx, PK_F64, 2, shape, 5), *l = NULL, *d = NULL,
           *rep = NULL;
  if (w == NULL)
    return;
  CHECK_OK(ctx, pk_mpi_scatter(ctx, rank == 0 ? w : NULL, 0, &l));
  CHECK_OK(ctx, pk_map(ctx, &count_kernel, l, &d, NULL));
  pk_mpi_block(count, size, rank, &first, &n);
  for (size_t i = 0; d && i < n; i++)
    CHECK(((const double *)pk_array_data(d))[i] == (double)n);
  CHECK_OK(ctx, pk_map(ctx, &count_kernel, w, &rep, NULL));
  for (int r = 0; rep && r < size; r++) {
    pk_mpi_block(count, size, r, &first, &n);
    for (size_t i = first; i < first + n; i++)
      CHECK(((const double *)pk_array_data(rep))[i] == (double)n);
  }
  pk_mpi_block(count, size, rank, &first, &n);
  for (int r = 0; r < 2; r++) {
    hits h = {calloc(count, 1), count, 0};
    pk_array *e = NULL;
    CHECK(h.hit != NULL);
    CHECK_OK(ctx, pk_map_each(ctx, &count_kernel, r ? w : l, &e, NULL,
                              on_range, &h));
    for (size_t i = 0; h.hit && i < count; i++)
      CHECK(h.hit[i] == (i >= first && i < first + n));
    CHECK(h.bad == 0);
    free(h.hit);
    pk_array_destroy(&e);
  }
  pk_array_destroy(&w);
  pk_array_destroy(&l);
  pk_array_destroy(&d);
  pk_array_destroy(&rep);
}

/*
 * A view (pk_array_view) of a replica over the ranks against serial's map
 * of the same axis moved by a copy: the items every rank gathers, their
 * global numbers (wave adds them); a distributed array's view of another
 * axis is refused on every rank.
 */
static void test_view(size_t count) {
  size_t shape[3] = {count, 6, 5};
  pk_array *w = whole(ctx, PK_F64, 3, shape, 11 + count);
  pk_array *ws = NULL, *m = NULL, *ref = NULL, *v = NULL, *rep = NULL;
  pk_array *l = NULL, *lv = NULL;

  if (w == NULL)
    return;
  CHECK_OK(ser, pk_array_wrap(ser, PK_F64, 3, shape, pk_array_data(w), &ws));
  CHECK_OK(ser, pk_array_moveaxis(ser, ws, -1, &m));
  CHECK_OK(ser, pk_map(ser, &wave, m, &ref, NULL));
  CHECK_OK(ctx, pk_array_view(ctx, w, -1, &v));
  CHECK_OK(ctx, pk_map(ctx, &wave, v, &rep, NULL));
  CHECK(rep && !pk_array_distributed(rep) && same_bits(rep, ref));

  CHECK_OK(ctx, pk_mpi_scatter(ctx, rank == 0 ? w : NULL, 0, &l));
  CHECK(pk_array_view(ctx, l, 1, &lv) == PK_EINVAL && lv == NULL);
  CHECK(strstr(pk_errmsg(ctx), "distributed") != NULL);
  CHECK(pk_mpi_gather(ctx, v, 0, &lv) == PK_EINVAL);
  CHECK(strstr(pk_errmsg(ctx), "view") != NULL);

  pk_array_destroy(&v);
  pk_array_destroy(&rep);
  pk_array_destroy(&ref);
  pk_array_destroy(&m);
  pk_array_destroy(&ws);
  pk_array_destroy(&l);
  pk_array_destroy(&w);
}

/* Both outputs and the failed items of a pk_map_n against serial's. */
static void same_map_n(pk_array *const got[2], pk_array *const ref[2],
                       pk_status st, pk_status rst, size_t nref,
                       const size_t *fref) {
  size_t n = 0;
  const size_t *f = pk_failed(ctx, &n);
  pk_array *all[2] = {NULL, NULL};

  CHECK(st == rst && n == nref);
  for (size_t i = 0; i < n && i < nref; i++)
    CHECK(f[i] == fref[i]);
  for (int k = 0; k < 2; k++) {
    CHECK_OK(ctx, pk_mpi_gather(ctx, got[k], -1, &all[k]));
    CHECK(same_bits(all[k], ref[k]));
    pk_array_destroy(&all[k]);
  }
}

/* pk_map_n over the ranks: inputs distributed alike, one broadcast, or
   replicas; a distributed input beside a replica is refused everywhere. */
static void test_map_n(size_t count) {
  size_t m = 5, sa[2] = {count, m}, s1[2] = {1, m}, nref = 0;
  pk_array *a = whole(ctx, PK_F64, 2, sa, 31 + count);
  pk_array *b = whole(ctx, PK_F64, 2, sa, 37 + count);
  pk_array *b1 = whole(ctx, PK_F64, 2, s1, 41);
  pk_array *sa_ = NULL, *sb_ = NULL, *sb1 = NULL, *la = NULL, *lb = NULL;
  pk_array *ref[2] = {0}, *ref1[2] = {0}, *got[2] = {0};
  size_t *fref = NULL, nref1 = 0, *fref1 = NULL;
  pk_status rst, rst1, st;

  if (!a || !b || !b1)
    goto out;
  /* serial's results, and its failed items */
  CHECK_OK(ser, pk_array_wrap(ser, PK_F64, 2, sa, pk_array_data(a), &sa_));
  CHECK_OK(ser, pk_array_wrap(ser, PK_F64, 2, sa, pk_array_data(b), &sb_));
  CHECK_OK(ser, pk_array_wrap(ser, PK_F64, 2, s1, pk_array_data(b1), &sb1));
  const pk_array *sin[2] = {sa_, sb_}, *sin1[2] = {sa_, sb1};
  rst = pk_map_n(ser, &pair, 2, sin, 2, ref, NULL);
  const size_t *f = pk_failed(ser, &nref);
  fref = malloc((nref + 1) * sizeof *fref);
  if (nref) /* f is NULL when none failed */
    memcpy(fref, f, nref * sizeof *f);
  rst1 = pk_map_n(ser, &pair, 2, sin1, 2, ref1, NULL);
  f = pk_failed(ser, &nref1);
  fref1 = malloc((nref1 + 1) * sizeof *fref1);
  if (nref1)
    memcpy(fref1, f, nref1 * sizeof *f);

  CHECK_OK(ctx, pk_mpi_scatter(ctx, rank == 0 ? a : NULL, 0, &la));
  CHECK_OK(ctx, pk_mpi_scatter(ctx, rank == 0 ? b : NULL, 0, &lb));
  const pk_array *dist[2] = {la, lb}, *bc[2] = {la, b1}, *rep[2] = {a, b};
  const pk_array *mixed[2] = {la, b};
  st = pk_map_n(ctx, &pair, 2, dist, 2, got, NULL);
  CHECK(got[0] && pk_array_distributed(got[0]) && got[1] &&
        pk_array_distributed(got[1]));
  same_map_n(got, ref, st, rst, nref, fref);
  pk_array_destroy(&got[0]);
  pk_array_destroy(&got[1]);
  st = pk_map_n(ctx, &pair, 2, bc, 2, got, NULL);
  same_map_n(got, ref1, st, rst1, nref1, fref1);
  pk_array_destroy(&got[0]);
  pk_array_destroy(&got[1]);
  st = pk_map_n(ctx, &pair, 2, rep, 2, got, NULL);
  CHECK(got[0] && !pk_array_distributed(got[0]));
  same_map_n(got, ref, st, rst, nref, fref);
  pk_array_destroy(&got[0]);
  pk_array_destroy(&got[1]);
  if (size > 1 && count > 1) {
    CHECK(pk_map_n(ctx, &pair, 2, mixed, 2, got, NULL) == PK_EINVAL);
    CHECK(got[0] == NULL && strstr(pk_errmsg(ctx), "input 1"));
  }
out:
  free(fref);
  free(fref1);
  for (int k = 0; k < 2; k++) {
    pk_array_destroy(&ref[k]);
    pk_array_destroy(&ref1[k]);
  }
  pk_array_destroy(&sa_);
  pk_array_destroy(&sb_);
  pk_array_destroy(&sb1);
  pk_array_destroy(&la);
  pk_array_destroy(&lb);
  pk_array_destroy(&a);
  pk_array_destroy(&b);
  pk_array_destroy(&b1);
}

static void test_scatter_gather(pk_dtype dt, size_t count, int root) {
  size_t shape[3] = {count, 3, 2};
  pk_array *w = whole(ctx, dt, 3, shape, 99 + count), *l = NULL, *g = NULL;

  CHECK_OK(ctx, pk_mpi_scatter(ctx, rank == root ? w : NULL, root, &l));
  CHECK(l && same_block(l, w) && pk_array_dtype(l) == dt);
  CHECK_OK(ctx, pk_mpi_gather(ctx, l, size - 1 - root, &g));
  if (rank == size - 1 - root)
    CHECK(same_bits(g, w));
  else
    CHECK(g == NULL);
  pk_array_destroy(&g);
  CHECK_OK(ctx, pk_mpi_gather(ctx, l, -1, &g));
  CHECK(same_bits(g, w));
  pk_array_destroy(&g);
  pk_array_destroy(&l);
  pk_array_destroy(&w);
}

static void test_share(size_t count) {
  size_t shape[3] = {count, 4, 4};
  pk_array *w = whole(ctx, PK_F64, 3, shape, 5 + count), *l = NULL;
  pk_array *d = NULL, *ref = NULL, *ws = NULL;
  int root = size > 1 ? 1 : 0;

  CHECK_OK(ctx, pk_mpi_share(ctx, rank == root ? w : NULL, root, &l));
  CHECK(l && pk_array_distributed(l) && same_block(l, w));
  CHECK_OK(ctx, pk_map(ctx, pk_kernel_det(), l, &d, NULL));
  CHECK_OK(ser, pk_array_wrap(ser, PK_F64, 3, shape, pk_array_data(w), &ws));
  CHECK_OK(ser, pk_map(ser, pk_kernel_det(), ws, &ref, NULL));
  CHECK(d && ref && same_block(d, ref));
  pk_array_destroy(&l); /* collective over the node */
  pk_array_destroy(&d);
  pk_array_destroy(&ref);
  pk_array_destroy(&ws);
  pk_array_destroy(&w);
}

static void test_npy(pk_dtype dt, size_t count) {
  char path[256], path2[256];
  size_t shape[2] = {count, 5};
  pk_array *w = whole(ctx, dt, 2, shape, 1234 + count), *l = NULL;
  pk_array *back = NULL, *plain = NULL;

  /* Every rank must name the same file: rank 0's pid. */
  int pid = (int)getpid();
  MPI_Comm comm;
  pk_mpi_comm(ctx, &comm);
  MPI_Bcast(&pid, 1, MPI_INT, 0, comm);
  snprintf(path, sizeof path, "/tmp/pk-test-mpi-%d-a.npy", pid);
  snprintf(path2, sizeof path2, "/tmp/pk-test-mpi-%d-b.npy", pid);

  CHECK_OK(ctx, pk_mpi_scatter(ctx, w, 0, &l));
  CHECK_OK(ctx, pk_mpi_save_npy(ctx, l, path));
  CHECK_OK(ctx, pk_mpi_load_npy(ctx, path, &back));
  CHECK(back && pk_array_distributed(back) && same_block(back, w));
  if (rank == 0) { /* MPI-IO's file, read by the plain reader */
    CHECK_OK(ser, pk_array_load_npy(ser, path, &plain));
    CHECK(same_bits(plain, w));
    pk_array_destroy(&plain);
    CHECK_OK(ser, pk_array_save_npy(ser, w, path2));
  }
  pk_array_destroy(&back);
  /* pk_array_save_npy's file, read distributed */
  CHECK_OK(ctx, pk_mpi_load_npy(ctx, path2, &back));
  CHECK(back && same_block(back, w));
  pk_array_destroy(&back);
  /* The plain writer on a distributed array: one file, by MPI-IO. */
  CHECK_OK(ctx, pk_array_save_npy(ctx, l, path));
  if (rank == 0) {
    CHECK_OK(ser, pk_array_load_npy(ser, path, &plain));
    CHECK(same_bits(plain, w));
    pk_array_destroy(&plain);
  }
  MPI_Barrier(comm);
  if (rank == 0) {
    unlink(path);
    unlink(path2);
  }
  pk_array_destroy(&l);
  pk_array_destroy(&w);
}

static void test_npy_refused(void) {
  static const char hdr[] = "{'descr': '<U2', 'fortran_order': False, "
                            "'shape': (3,), }";
  char path[256], buf[128];
  pk_array *a = (pk_array *)1;
  int pid = (int)getpid(), len = (int)sizeof hdr - 1;
  MPI_Comm comm;
  pk_status st;

  pk_mpi_comm(ctx, &comm);
  MPI_Bcast(&pid, 1, MPI_INT, 0, comm);
  snprintf(path, sizeof path, "/tmp/pk-test-mpi-%d-u2.npy", pid);
  if (rank == 0) {
    FILE *f = fopen(path, "wb");
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(len + 1);
    buf[9] = 0;
    fwrite(buf, 1, 10, f);
    fwrite(hdr, 1, (size_t)len, f);
    fputc('\n', f);
    fwrite("\0\0\0\0\0\0\0\0\0\0\0\0", 1, 12, f);
    fclose(f);
  }
  MPI_Barrier(comm);
  st = pk_mpi_load_npy(ctx, path, &a);
  CHECK(st == PK_EDTYPE && a == NULL);
  CHECK(strstr(pk_errmsg(ctx), "rank 0") && strstr(pk_errmsg(ctx), "<U2"));
  st = pk_mpi_load_npy(ctx, "/nonexistent/x.npy", &a);
  CHECK(st == PK_EIO && a == NULL);
  MPI_Barrier(comm);
  if (rank == 0)
    unlink(path);
}

/* A kernel that fails only on an item of the last rank: every rank gets
 * the error, names that rank, and lists the item; nobody hangs. */
/*
 * The caller's output array for a distributed input: one distributed alike
 * (pk_mpi_create of the global shape) is filled in place; a plain one is
 * refused on every rank and left as it was, never redistributed.
 */
static void test_given_output(void) {
  size_t count = 23, shape[3] = {count, 4, 4}, gshape[1] = {count};
  pk_array *w = whole(ctx, PK_F64, 3, shape, 41), *l = NULL, *o = NULL;
  pk_array *mine = NULL, *ref = NULL, *ws = NULL;
  size_t first, n;
  pk_status st;

  if (w == NULL)
    return;
  CHECK_OK(ser, pk_array_wrap(ser, PK_F64, 3, shape, pk_array_data(w), &ws));
  CHECK_OK(ser, pk_map(ser, pk_kernel_det(), ws, &ref, NULL));
  CHECK_OK(ctx, pk_mpi_scatter(ctx, rank == 0 ? w : NULL, 0, &l));
  CHECK_OK(ctx, pk_mpi_create(ctx, PK_F64, 1, gshape, &o));
  pk_array *given = o;
  CHECK_OK(ctx, pk_map(ctx, pk_kernel_det(), l, &o, NULL));
  CHECK(o == given && pk_array_distributed(o) && ref && same_block(o, ref));

  pk_mpi_block(count, size, rank, &first, &n);
  CHECK_OK(ctx, pk_array_create(ctx, PK_F64, 1, &n, &mine));
  given = mine;
  st = pk_map(ctx, pk_kernel_det(), l, &mine, NULL);
  CHECK(st == PK_EINVAL && mine == given);
  CHECK(strstr(pk_errmsg(ctx), "distributed alike") != NULL);
  CHECK(mine && !pk_array_distributed(mine) && pk_array_offset(mine) == 0 &&
        pk_array_global(mine) == n);
  pk_array_destroy(&mine);
  pk_array_destroy(&o);
  pk_array_destroy(&l);
  pk_array_destroy(&ref);
  pk_array_destroy(&ws);
  pk_array_destroy(&w);
}

static void test_errors(void) {
  size_t shape[2] = {10, 3}, first, n, nf = 0;
  int victim = size > 1 ? 1 : 0;
  pk_array *w = whole(ctx, PK_F64, 2, shape, 3), *l = NULL, *o = NULL;
  const size_t *failed;
  char want[32];
  pk_status st;
  double r;

  pk_mpi_block(10, size, victim, &first, &n);
  kd.bad = first;
  kd.items = 10;
  snprintf(want, sizeof want, "rank %d", victim);
  CHECK_OK(ctx, pk_mpi_scatter(ctx, w, 0, &l));
  st = pk_map(ctx, &wave, l, &o, NULL);
  CHECK(st == PK_EKERNEL);
  CHECK(strstr(pk_errmsg(ctx), want) != NULL);
  failed = pk_failed(ctx, &nf);
  CHECK(nf == 1 && failed && failed[0] == first);
  pk_array_destroy(&o);
  /* The replicated path too. */
  st = pk_map(ctx, &wave, w, &o, NULL);
  CHECK(st == PK_EKERNEL && strstr(pk_errmsg(ctx), want) != NULL);
  pk_array_destroy(&o);
  st = pk_map_reduce(ctx, &wave, l, PK_SUM, &r, NULL);
  CHECK(st == PK_EKERNEL);

  /* prepare fails on one rank only: the same status everywhere. */
  kd.bad = SIZE_MAX;
  kd.prepare_fails_on = size - 1;
  snprintf(want, sizeof want, "rank %d", size - 1);
  st = pk_map(ctx, &wave, l, &o, NULL);
  CHECK(st == PK_ESYS && strstr(pk_errmsg(ctx), want) != NULL);
  pk_array_destroy(&o);
  kd.prepare_fails_on = -1;

  /* And all is well after. */
  CHECK_OK(ctx, pk_map(ctx, &wave, l, &o, NULL));
  CHECK(pk_failed(ctx, &nf) == NULL || nf == 0);
  pk_array_destroy(&o);
  kd.items = 0;

  /* Bad arguments on one rank only. */
  st = pk_mpi_gather(ctx, rank == size - 1 ? NULL : l, 0, &o);
  CHECK(st == PK_EINVAL && o == NULL && strstr(pk_errmsg(ctx), want));
  pk_array_destroy(&l);
  pk_array_destroy(&w);
}

static atomic_int nap_done;

/* Stops ctx's map every 5 ms until it has returned: one interrupt could
   come before the map starts (each map clears the flag as it starts). */
static void *interrupter(void *arg) {
  (void)arg;
  while (!atomic_load(&nap_done)) {
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
    pk_interrupt(ctx);
  }
  return NULL;
}

/*
 * pk_interrupt on the last rank during a map of 200 items a rank of 2 ms:
 * that rank's share stops, the others run to their end, and every rank
 * returns PK_EINTR naming the rank, with the items not run, all of that
 * rank's block, listed on every rank; every other item is computed.  The
 * next map runs whole.
 */
static void test_interrupt(void) {
  const size_t count = 200 * (size_t)size;
  size_t shape[2] = {count, 1}, first, n, nf = 0, i, k;
  const int victim = size - 1;
  pk_array *w = whole(ctx, PK_F64, 2, shape, 9), *o = NULL;
  pthread_t th;
  char want[32];
  int started = 0;

  pk_mpi_block(count, size, victim, &first, &n);
  snprintf(want, sizeof want, "rank %d", victim);
  atomic_store(&nap_done, 0);
  if (rank == victim)
    started = pthread_create(&th, NULL, interrupter, NULL) == 0;
  CHECK(rank != victim || started);
  pk_status st = pk_map(ctx, &nap, w, &o, NULL);
  atomic_store(&nap_done, 1);
  if (started)
    pthread_join(th, NULL);
  CHECK(st == PK_EINTR);
  CHECK(strstr(pk_errmsg(ctx), want) != NULL &&
        strstr(pk_errmsg(ctx), "interrupted") != NULL);
  const size_t *failed = pk_failed(ctx, &nf);
  CHECK(nf > 0 && nf <= n && failed != NULL);
  for (i = 0; failed && i < nf; i++)
    CHECK(failed[i] >= first && failed[i] < first + n);
  const double *y = o ? pk_array_data(o) : NULL;
  CHECK(y != NULL);
  for (i = 0, k = 0; y && i < count; i++) {
    while (k < nf && failed[k] < i)
      k++;
    if (k == nf || failed[k] != i)
      CHECK(y[i] == 2.0 * (double)i);
  }
  pk_array_destroy(&o);

  CHECK_OK(ctx, pk_map(ctx, &nap, w, &o, NULL));
  y = o ? pk_array_data(o) : NULL;
  for (i = 0; y && i < count; i++)
    CHECK(y[i] == 2.0 * (double)i);
  pk_array_destroy(&o);
  pk_array_destroy(&w);
}

/*
 * A bad argument on the last rank only, for each collective call: every
 * rank returns the same status, with that rank named, and nobody waits
 * (mpi.sh's timeout catches a rank that would).  All is well after.
 */
static void test_one_rank_bad(void) {
  size_t shape[2] = {10, 3};
  int last = rank == size - 1;
  pk_array *w = whole(ctx, PK_F64, 2, shape, 5), *l = NULL, *o = NULL;
  pk_map_opts bad = {.inlining = (pk_inline)42};
  pk_context *c2 = NULL;
  pk_config cfg = {.backend = "mpi"};
  char want[32], path[256];
  pk_status st;
  double r;

  snprintf(want, sizeof want, "rank %d", size - 1);
  snprintf(path, sizeof path, "/tmp/pk-test-mpi-never-%d.npy", size);
#define SAME(call, status)                                                  \
  do {                                                                      \
    st = (call);                                                            \
    CHECK(st == (status) && strstr(pk_errmsg(ctx), want) != NULL);         \
  } while (0)
  CHECK_OK(ctx, pk_mpi_scatter(ctx, w, 0, &l));
  SAME(pk_map(ctx, &wave, l, &o, last ? &bad : NULL), PK_EINVAL);
  pk_array_destroy(&o);
  SAME(pk_map(ctx, last ? NULL : &wave, l, &o, NULL), PK_EINVAL);
  pk_array_destroy(&o);
  SAME(pk_map_reduce(ctx, &wave, l, PK_SUM, last ? NULL : &r,
                     last ? &bad : NULL), PK_EINVAL);
  SAME(pk_map_reduce(ctx, &wave, l, PK_SUM, last ? NULL : &r, NULL),
       PK_EINVAL);
  SAME(pk_reduce(ctx, l, PK_SUM, last ? NULL : &r), PK_EINVAL);
  SAME(pk_reduce(ctx, last ? NULL : l, PK_SUM, &r), PK_EINVAL);
  SAME(pk_mpi_scatter(ctx, w, 0, last ? NULL : &o), PK_EINVAL);
  CHECK(o == NULL);
  SAME(pk_mpi_share(ctx, w, 0, last ? NULL : &o), PK_EINVAL);
  CHECK(o == NULL);
  SAME(pk_mpi_gather(ctx, l, 0, last ? NULL : &o), PK_EINVAL);
  CHECK(o == NULL);
  SAME(pk_mpi_create(ctx, PK_F64, 2, shape, last ? NULL : &o), PK_EINVAL);
  CHECK(o == NULL);
  SAME(pk_mpi_load_npy(ctx, last ? NULL : path, &o), PK_EINVAL);
  CHECK(o == NULL);
  SAME(pk_mpi_save_npy(ctx, l, last ? NULL : path), PK_EINVAL);
  CHECK(access(path, F_OK) != 0); /* no rank wrote */
#undef SAME
  /* pk_finalize with an array alive on one rank: kept on every rank. */
  CHECK_OK(ctx, pk_init_config(&c2, NULL, NULL, &cfg));
  if (c2 != NULL) {
    pk_array *a = NULL;
    if (last)
      CHECK_OK(c2, pk_array_create(c2, PK_F64, 1, shape, &a));
    st = pk_finalize(&c2);
    CHECK(st == PK_ESTATE && c2 != NULL &&
          strstr(pk_errmsg(c2), want) != NULL);
    pk_array_destroy(&a);
    CHECK_OK(c2, pk_finalize(&c2));
    CHECK(c2 == NULL);
  }
  /* And all is well after. */
  CHECK_OK(ctx, pk_map_reduce(ctx, &wave, l, PK_SUM, &r, NULL));
  pk_array_destroy(&l);
  pk_array_destroy(&w);
}

/*
 * Valid arguments that differ between ranks where they must match (a root,
 * a global shape, an op, a kernel, a path): on the last rank only, every
 * rank returns PK_EINVAL naming it, where scatter with two roots hung and
 * create with two shapes returned PK_OK.
 */
static void test_values_differ(void) {
  size_t shape[2] = {10, 3}, other[2] = {11, 3};
  int last = rank == size - 1;
  pk_array *w = whole(ctx, PK_F64, 2, shape, 9), *l = NULL, *o = NULL;
  pk_kernel wave2 = wave;
  char want[64], path[256];
  pk_status st;
  double r;

  if (size == 1) { /* one rank cannot disagree with itself */
    pk_array_destroy(&w);
    return;
  }
  wave2.name = "wave2";
  snprintf(want, sizeof want, "rank %d differs from rank 0", size - 1);
  snprintf(path, sizeof path, "/tmp/pk-test-mpi-differ-%d-%d.npy", size,
           last);
#define DIFFER(call)                                                        \
  do {                                                                      \
    st = (call);                                                            \
    CHECK(st == PK_EINVAL && strstr(pk_errmsg(ctx), want) != NULL);        \
  } while (0)
  CHECK_OK(ctx, pk_mpi_scatter(ctx, w, 0, &l));
  DIFFER(pk_mpi_scatter(ctx, w, last, &o));
  CHECK(o == NULL);
  DIFFER(pk_mpi_share(ctx, w, last, &o));
  DIFFER(pk_mpi_gather(ctx, l, last, &o));
  DIFFER(pk_mpi_create(ctx, PK_F64, 2, last ? other : shape, &o));
  CHECK(o == NULL);
  DIFFER(pk_mpi_create(ctx, last ? PK_C128 : PK_F64, 2, shape, &o));
  DIFFER(pk_reduce(ctx, l, last ? PK_MAX : PK_SUM, &r));
  DIFFER(pk_map(ctx, last ? &wave2 : &wave, l, &o, NULL));
  pk_array_destroy(&o);
  /* A replica of another length or item shape on one rank (its own data):
     refused on every rank, where results had mixed ranks' blocks. */
  size_t wide[2] = {10, 4};
  pk_array *r11 = whole(ctx, PK_F64, 2, other, 9),
           *r4 = whole(ctx, PK_F64, 2, wide, 9);
  DIFFER(pk_map(ctx, &wave, last ? r11 : w, &o, NULL));
  pk_array_destroy(&o);
  DIFFER(pk_map(ctx, &wave, last ? r4 : w, &o, NULL));
  pk_array_destroy(&o);
  pk_array_destroy(&r11);
  pk_array_destroy(&r4);
  DIFFER(pk_map_reduce(ctx, &wave, l, last ? PK_MIN : PK_SUM, &r, NULL));
  DIFFER(pk_mpi_save_npy(ctx, l, path));
  CHECK(access(path, F_OK) != 0);
  DIFFER(pk_mpi_load_npy(ctx, path, &o));
#undef DIFFER
  CHECK_OK(ctx, pk_reduce(ctx, l, PK_SUM, &r)); /* and all is well after */
  pk_array_destroy(&l);
  pk_array_destroy(&w);
}

/* pk_reduce on distributed arrays: the serial bits, every op, both dtypes. */
static void test_reduce(pk_dtype dt, int ndim, size_t count, size_t inner) {
  size_t shape[2] = {count, inner};
  pk_array *w = whole(ctx, dt, ndim, shape, 77 + count + inner), *ws = NULL;
  pk_array *l = NULL;
  pk_op op;

  CHECK_OK(ser, pk_array_wrap(ser, dt, ndim, shape, pk_array_data(w), &ws));
  CHECK_OK(ctx, pk_mpi_scatter(ctx, w, 0, &l));
  for (op = PK_SUM; op <= PK_MAX; op++) {
    double r[2] = {1, 2}, ref[2] = {3, 4}, rr[2] = {5, 6};
    if (dt == PK_C128 && op >= PK_MIN)
      break;
    CHECK_OK(ser, pk_reduce(ser, ws, op, ref));
    CHECK_OK(ctx, pk_reduce(ctx, l, op, r));
    CHECK_OK(ctx, pk_reduce(ctx, w, op, rr)); /* a replica */
    CHECK(memcmp(r, ref, (dt == PK_C128 ? 2 : 1) * sizeof *r) == 0);
    CHECK(memcmp(rr, ref, (dt == PK_C128 ? 2 : 1) * sizeof *r) == 0);
    if (memcmp(r, ref, sizeof *r) != 0)
      fprintf(stderr, "rank %d: reduce op %d count %zu x %zu: %.17g vs "
              "%.17g\n", rank, (int)op, count, inner, r[0], ref[0]);
  }
  pk_array_destroy(&l);
  pk_array_destroy(&ws);
  pk_array_destroy(&w);
}

static void test_create(void) {
  size_t shape[2] = {7, 3}, f, n;
  pk_array *a = NULL;
  CHECK_OK(ctx, pk_mpi_create(ctx, PK_C128, 2, shape, &a));
  pk_mpi_block(7, size, rank, &f, &n);
  CHECK(a && pk_array_dim(a, 0) == n && pk_array_offset(a) == f &&
        pk_array_global(a) == 7);
  pk_array_destroy(&a);
  CHECK(pk_mpi_create(ctx, PK_F64, 9, shape, &a) == PK_EINVAL && !a);
}

/* This process's address space in bytes, from /proc; 0 if unknown. */
static size_t vm_size(void) {
  char line[256];
  size_t kb = 0;
  FILE *f = fopen("/proc/self/status", "r");
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
      break;
  if (f)
    fclose(f);
  return kb * 1024;
}

/* A rank's large arrays (its block of a split one, a replica): zero, on a
 * 2 MiB boundary (the huge page rule of pk_array_create), and released
 * whole: 16 of them leave the address space as it was. */
static void test_create_large(void) {
  size_t before = vm_size(), after;
  for (int k = 0; k < 16; k++) {
    size_t shape[2] = {(size_t)size * (4 + k % 3) * 1024 + 5, 128}, f, n;
    pk_array *a = NULL;
    if (k % 2)
      CHECK_OK(ctx, pk_mpi_create(ctx, PK_F64, 2, shape, &a));
    else
      CHECK_OK(ctx, pk_array_create(ctx, PK_F64, 2, shape, &a));
    if (a == NULL)
      return;
    double *d = pk_array_data(a);
    pk_mpi_block(shape[0], size, rank, &f, &n);
    n = k % 2 ? n : shape[0];
    CHECK(pk_array_dim(a, 0) == n && (uintptr_t)d % ((size_t)2 << 20) == 0);
    CHECK(d[0] == 0.0 && d[n * 128 - 1] == 0.0);
    for (size_t i = 0; i < n * 128; i++)
      d[i] = (double)i;
    CHECK(d[n * 128 - 1] == (double)(n * 128 - 1));
    pk_array_destroy(&a);
  }
  after = vm_size();
  CHECK(before > 0 && after < before + ((size_t)2 << 20));
}

/* An allocation that fails on the last rank only (its address space is
 * capped): every rank gets PK_ENOMEM naming that rank, nothing leaks. */
static void test_oom_one_rank(void) {
  size_t block = (size_t)64 << 20, shape[2] = {(size_t)size, block / 8};
  struct rlimit old, cap;
  pk_array *a = (pk_array *)1;
  char want[32];
  int capped = 0;
  pk_status st;

  snprintf(want, sizeof want, "rank %d", size - 1);
#ifdef ASAN
  return; /* ASan ends the process when an allocation fails */
#endif
  if (rank == size - 1 && vm_size() && getrlimit(RLIMIT_AS, &old) == 0) {
    cap = old;
    cap.rlim_cur = vm_size() + block / 4;
    capped = setrlimit(RLIMIT_AS, &cap) == 0;
  }
  st = pk_mpi_create(ctx, PK_F64, 2, shape, &a);
  if (capped)
    setrlimit(RLIMIT_AS, &old);
  CHECK(st == PK_ENOMEM && a == NULL);
  CHECK(strstr(pk_errmsg(ctx), want) != NULL);
}

/* A second context on a sub-communicator (even and odd ranks), while MPI
 * is already running: its own ranks, its own reductions, and its
 * pk_finalize leaves MPI running. */
static void test_subcomm(void) {
  MPI_Comm comm, sub;
  pk_config cfg = {.backend = "mpi", .mpi_comm = &sub};
  pk_context *c2 = NULL;
  pk_array *a = NULL;
  size_t shape[1] = {9001};
  double r = 0, ref = 1;
  int init = 0, want = (size + 1 - rank % 2) / 2;
  pk_status st;

  pk_mpi_comm(ctx, &comm);
  MPI_Comm_split(comm, rank % 2, rank, &sub);
  st = pk_init_config(&c2, NULL, NULL, &cfg);
  CHECK(st == PK_OK);
  if (st == PK_OK) {
    pk_array *w = whole(c2, PK_F64, 1, shape, 42), *ws = NULL;
    CHECK(pk_mpi_size(c2) == want && pk_mpi_rank(c2) == rank / 2);
    CHECK_OK(c2, pk_mpi_scatter(c2, w, 0, &a));
    CHECK_OK(c2, pk_reduce(c2, a, PK_SUM, &r));
    CHECK_OK(ser, pk_array_wrap(ser, PK_F64, 1, shape, pk_array_data(w),
                                &ws));
    CHECK_OK(ser, pk_reduce(ser, ws, PK_SUM, &ref));
    CHECK(memcmp(&r, &ref, sizeof r) == 0);
    pk_array_destroy(&ws);
    pk_array_destroy(&a);
    pk_array_destroy(&w);
    CHECK_OK(c2, pk_finalize(&c2));
  }
  MPI_Initialized(&init);
  CHECK(init);
  MPI_Comm_free(&sub);
}

int main(int argc, char **argv) {
  pk_config cfg = {.backend = "mpi"}, scfg = {.backend = "serial"};
  static const size_t counts[] = {0, 1, 2, 3, 5, 7, 17, 100, 1001};
  int total[2], sums[2], i;
  MPI_Comm comm;

  if (pk_init_config(&ctx, &argc, &argv, &cfg) != PK_OK) {
    fprintf(stderr, "test_mpi: pk_init: %s\n", pk_errmsg(ctx));
    return 1;
  }
  if (pk_init_config(&ser, NULL, NULL, &scfg) != PK_OK)
    return 1;
  rank = pk_mpi_rank(ctx);
  size = pk_mpi_size(ctx);

  test_init();
  test_block();
  test_create();
  test_create_large();
  for (i = 0; i < (int)(sizeof counts / sizeof *counts); i++)
    test_det(counts[i], i % 2 ? 3 : 6);
  test_det(40, 20); /* LAPACK's path */
  test_count(1);
  test_count(1001);
  test_view(7);
  test_view(2000);
  for (i = 0; i < (int)(sizeof counts / sizeof *counts); i++)
    test_map_n(counts[i]);
  for (i = 0; i < 5; i++) {
    test_scatter_gather(PK_F64, counts[i], i % size);
    test_scatter_gather(PK_C128, counts[i + 2], size - 1);
  }
  test_share(0);
  test_share(3);
  test_share(101);
  test_npy(PK_F64, 11);
  test_npy(PK_C128, 2);
  test_npy(PK_F64, 0);
  test_npy_refused();
  test_given_output();
  test_errors();
  test_interrupt();
  test_one_rank_bad();
  test_values_differ();
  test_oom_one_rank();
  test_subcomm();
  test_reduce(PK_F64, 1, 0, 1);
  test_reduce(PK_F64, 1, 1, 1);
  test_reduce(PK_F64, 1, 4095, 1);
  test_reduce(PK_F64, 1, 4097, 1);
  test_reduce(PK_F64, 1, 3 * 4096 + 5, 1);
  test_reduce(PK_F64, 2, 5, 3001);  /* ranks split mid-block */
  test_reduce(PK_F64, 2, 7, 4096);
  test_reduce(PK_F64, 2, 40, 1000);
  test_reduce(PK_C128, 2, 9, 1500);
  test_reduce(PK_C128, 1, 3, 1);

  /* Every rank's verdict, on every rank. */
  pk_mpi_comm(ctx, &comm);
  total[0] = npass;
  total[1] = nfail;
  MPI_Allreduce(total, sums, 2, MPI_INT, MPI_SUM, comm);
  if (rank == 0)
    printf("test_mpi on %d rank%s x %d workers: %d passed, %d failed\n",
           size, size > 1 ? "s" : "", pk_workers(ctx), npass, sums[1]);
  pk_finalize(&ser);
  if (pk_finalize(&ctx) != PK_OK)
    return 1;
  return sums[1] != 0;
}
