/*
 * pk_fft2_array, pk_rfft2_array and pk_autocorr2d_array on the mpi backend
 * (tests/fft_mpi.sh runs it on 1 to 4 ranks): the distributed transform,
 * gathered to rank 0, against the single-node one on a serial context, on
 * shapes whose rows the ranks do not divide (and fewer rows than ranks);
 * replicated input; the round trip; .npy slabs read and written with
 * MPI-IO; bad input agreed on every rank.  Rank 0 prints "N passed, N
 * failed"; every rank exits 1 if a check failed anywhere.
 */
#include <parkit.h>

#include "mpi_check.h"
#include <parkit/fft.h>
#include <parkit/mpi.h>

#include <mpi.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int npass, nfail, rank, size;
static pk_context *ctx, *ser; /* the mpi context; a serial one */

/* The same on every rank: reals in [-1, 1) or integers in [0, 100). */
static void fill(double *x, size_t n, uint64_t seed, int ints) {
  for (size_t i = 0; i < n; i++) {
    uint64_t z = pk__splitmix(&seed);
    x[i] = ints ? (double)(z % 100) : (double)(z >> 11) * 0x1p-52 - 1.0;
  }
}

enum { FFT2, IFFT2, RFFT2, AUTOCORR };
static const char *const names[] = {"fft2", "ifft2", "rfft2", "autocorr2d"};

static pk_status apply(pk_context *c, int op, const pk_array *in,
                       pk_array **out) {
  switch (op) {
  case FFT2:
    return pk_fft2_array(c, in, out, 0);
  case IFFT2:
    return pk_fft2_array(c, in, out, 1);
  case RFFT2:
    return pk_rfft2_array(c, in, out);
  default:
    return pk_autocorr2d_array(c, in, out);
  }
}

/* max |x - y| <= tol max(1, max |y|); exact: the same bits. */
static int near(const pk_array *x, const pk_array *y, double tol,
                 int exact) {
  size_t n = pk_array_nbytes(y) / sizeof(double);
  const double *a = pk_array_data(x), *b = pk_array_data(y);
  double err = 0, scale = 1;

  if (pk_array_nbytes(x) != pk_array_nbytes(y))
    return 0;
  if (exact)
    return memcmp(a, b, pk_array_nbytes(x)) == 0;
  for (size_t i = 0; i < n; i++) {
    err = fmax(err, fabs(a[i] - b[i]));
    scale = fmax(scale, fabs(b[i]));
  }
  return err <= tol * scale;
}

/* A global h x w array of dtype, made on the serial context. */
static pk_array *global(pk_dtype dt, size_t h, size_t w, uint64_t seed,
                        int ints) {
  size_t shape[2] = {h, w};
  pk_array *a = NULL;
  if (pk_array_create(ser, dt, 2, shape, &a) != PK_OK)
    return NULL;
  fill(pk_array_data(a), pk_array_nbytes(a) / sizeof(double), seed, ints);
  return a;
}

/* The same bytes on every rank. */
static int same_everywhere(const void *p, size_t n) {
  MPI_Comm comm;
  unsigned char *r = malloc(n + 1);
  int ok = 1, all = 0;
  pk_mpi_comm(ctx, &comm);
  if (rank == 0)
    memcpy(r, p, n);
  MPI_Bcast(r, (int)n, MPI_BYTE, 0, comm);
  ok = memcmp(r, p, n) == 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
  free(r);
  return all;
}

/* One op and shape: distributed and replicated against single-node. */
static void against_one_node(int op, pk_dtype dt, size_t h, size_t w,
                             int ints) {
  pk_array *g = global(dt, h, w, 1000 * h + w + (uint64_t)op, ints);
  pk_array *ref = NULL, *d = NULL, *o = NULL, *all = NULL, *rep = NULL;
  pk_array *ro = NULL, *gw = NULL;
  int exact = ints && op == AUTOCORR;
  size_t shape[2] = {h, w};

  CHECK(g != NULL);
  CHECK_OK(ser, apply(ser, op, g, &ref));
  /* Distributed: rank 0's array scattered in balanced blocks. */
  if (g != NULL)
    CHECK_OK(ctx, pk_array_wrap(ctx, dt, 2, shape, pk_array_data(g), &gw));
  CHECK_OK(ctx, pk_mpi_scatter(ctx, gw, 0, &d));
  CHECK_OK(ctx, apply(ctx, op, d, &o));
  if (o != NULL) {
    CHECK(pk_array_distributed(o) || size == 1);
    CHECK_OK(ctx, pk_mpi_gather(ctx, o, 0, &all));
  }
  if (rank == 0 && all != NULL && ref != NULL) {
    int ok = near(all, ref, 1e-12, exact);
    if (!ok)
      fprintf(stderr, "%s %zux%zu %s on %d ranks differs\n", names[op], h,
              w, dt == PK_C128 ? "complex" : "real", size);
    CHECK(ok);
  }
  /* A replica in, a replica out, the same on every rank. */
  CHECK_OK(ctx, pk_array_create(ctx, dt, 2, shape, &rep));
  if (rep != NULL && g != NULL)
    memcpy(pk_array_data(rep), pk_array_data(g), pk_array_nbytes(g));
  CHECK_OK(ctx, apply(ctx, op, rep, &ro));
  if (ro != NULL && ref != NULL) {
    CHECK(!pk_array_distributed(ro));
    CHECK(near(ro, ref, 1e-12, exact));
    CHECK(same_everywhere(pk_array_data(ro), pk_array_nbytes(ro)));
  }
  pk_array_destroy(&gw);
  pk_array_destroy(&g);
  pk_array_destroy(&ref);
  pk_array_destroy(&d);
  pk_array_destroy(&o);
  pk_array_destroy(&all);
  pk_array_destroy(&rep);
  pk_array_destroy(&ro);
}

static const size_t shapes[][2] = {{1, 1}, {3, 9}, {7, 5}, {10, 8},
                                   {13, 16}, {64, 48}, {101, 33}};

static void test_against_one_node(void) {
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
    size_t h = shapes[s][0], w = shapes[s][1];
    against_one_node(FFT2, PK_F64, h, w, 0);
    against_one_node(FFT2, PK_C128, h, w, 0);
    against_one_node(IFFT2, PK_F64, h, w, 0);
    against_one_node(IFFT2, PK_C128, h, w, 0);
    against_one_node(RFFT2, PK_F64, h, w, 0);
    against_one_node(AUTOCORR, PK_F64, h, w, 0);
    against_one_node(AUTOCORR, PK_F64, h, w, 1);
  }
}

/* ifft2(fft2(x)) == x, distributed all the way. */
static void test_roundtrip(void) {
  size_t shape[2] = {37, 20};
  pk_array *x = NULL, *f = NULL, *b = NULL;
  CHECK_OK(ctx, pk_mpi_create(ctx, PK_C128, 2, shape, &x));
  if (x == NULL)
    return;
  fill(pk_array_data(x), 2 * pk_array_count(x), 77 + pk_array_offset(x), 0);
  CHECK_OK(ctx, pk_fft2_array(ctx, x, &f, 0));
  CHECK_OK(ctx, pk_fft2_array(ctx, f, &b, 1));
  if (b != NULL) {
    CHECK(pk_array_offset(b) == pk_array_offset(x));
    CHECK(near(b, x, 1e-12, 0));
  }
  /* A given output, written in place. */
  pk_array *keep = f;
  CHECK_OK(ctx, pk_fft2_array(ctx, x, &f, 0));
  CHECK(f == keep);
  pk_array_destroy(&x);
  pk_array_destroy(&f);
  pk_array_destroy(&b);
}

/* A .npy file in, each rank its slab by MPI-IO, transformed, each rank
 * its slab of the result out; rank 0 reads the file whole. */
static void test_npy_slabs(void) {
  char in_path[64], out_path[64];
  pk_array *g = global(PK_F64, 23, 17, 5, 1), *ref = NULL, *d = NULL;
  pk_array *o = NULL, *back = NULL;
  pk_status st = PK_OK;
  MPI_Comm comm;
  long pid = (long)getpid();

  pk_mpi_comm(ctx, &comm);
  MPI_Bcast(&pid, 1, MPI_LONG, 0, comm);
  snprintf(in_path, sizeof in_path, "/tmp/pk-fftmpi-%ld-in.npy", pid);
  snprintf(out_path, sizeof out_path, "/tmp/pk-fftmpi-%ld-out.npy", pid);
  if (rank == 0)
    st = pk_array_save_npy(ser, g, in_path);
  CHECK(st == PK_OK);
  MPI_Barrier(comm);
  CHECK_OK(ctx, pk_mpi_load_npy(ctx, in_path, &d));
  if (d != NULL)
    CHECK(pk_array_global(d) == 23 && pk_array_dim(d, 1) == 17);
  CHECK_OK(ctx, pk_autocorr2d_array(ctx, d, &o));
  CHECK_OK(ctx, pk_mpi_save_npy(ctx, o, out_path));
  if (rank == 0) {
    CHECK_OK(ser, pk_autocorr2d_array(ser, g, &ref));
    CHECK_OK(ser, pk_array_load_npy(ser, out_path, &back));
    if (back != NULL && ref != NULL)
      CHECK(near(back, ref, 0, 1));
  }
  /* And fft2 of the file, written back and read back whole. */
  pk_array_destroy(&o);
  pk_array_destroy(&back);
  pk_array_destroy(&ref);
  CHECK_OK(ctx, pk_fft2_array(ctx, d, &o, 0));
  CHECK_OK(ctx, pk_mpi_save_npy(ctx, o, out_path));
  if (rank == 0) {
    CHECK_OK(ser, pk_fft2_array(ser, g, &ref, 0));
    CHECK_OK(ser, pk_array_load_npy(ser, out_path, &back));
    if (back != NULL && ref != NULL)
      CHECK(near(back, ref, 1e-12, 0));
  }
  MPI_Barrier(comm);
  if (rank == 0) {
    remove(in_path);
    remove(out_path);
  }
  pk_array_destroy(&g);
  pk_array_destroy(&ref);
  pk_array_destroy(&d);
  pk_array_destroy(&o);
  pk_array_destroy(&back);
}

/* Bad input: the same status on every rank, no output. */
static void test_bad_input(void) {
  size_t s1[1] = {9}, s3[3] = {2, 4, 4}, s0[2] = {0, 4}, s2[2] = {6, 4};
  pk_array *a = NULL, *o = NULL;

  CHECK_OK(ctx, pk_mpi_create(ctx, PK_F64, 1, s1, &a));
  CHECK(pk_fft2_array(ctx, a, &o, 0) == PK_ESHAPE && o == NULL);
  pk_array_destroy(&a);
  CHECK_OK(ctx, pk_mpi_create(ctx, PK_F64, 3, s3, &a));
  CHECK(pk_autocorr2d_array(ctx, a, &o) == PK_ESHAPE && o == NULL);
  pk_array_destroy(&a);
  CHECK_OK(ctx, pk_mpi_create(ctx, PK_F64, 2, s0, &a));
  CHECK(pk_rfft2_array(ctx, a, &o) == PK_ESHAPE && o == NULL);
  CHECK(strstr(pk_errmsg(ctx), "empty") != NULL);
  pk_array_destroy(&a);
  CHECK_OK(ctx, pk_mpi_create(ctx, PK_C128, 2, s2, &a));
  CHECK(pk_autocorr2d_array(ctx, a, &o) == PK_EDTYPE && o == NULL);
  pk_array_destroy(&a);
}

int main(int argc, char **argv) {
  pk_config mc = {.backend = "mpi"}, sc = {.backend = "serial"};
  int bad = 0, anybad = 0;
  MPI_Comm comm;

  if (pk_init_config(&ctx, &argc, &argv, &mc) != PK_OK) {
    fprintf(stderr, "test_fft_mpi: pk_init: %s\n", pk_errmsg(ctx));
    return 1;
  }
  if (pk_init_config(&ser, NULL, NULL, &sc) != PK_OK)
    return 1;
  rank = pk_mpi_rank(ctx);
  size = pk_mpi_size(ctx);
  pk_mpi_comm(ctx, &comm);

  test_against_one_node();
  test_roundtrip();
  test_npy_slabs();
  test_bad_input();

  bad = nfail > 0;
  MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, comm);
  {
    int counts[2] = {npass, nfail}, sums[2];
    MPI_Reduce(counts, sums, 2, MPI_INT, MPI_SUM, 0, comm);
    if (rank == 0)
      printf("test_fft_mpi on %d rank%s x %d workers: %d passed, %d "
             "failed\n", size, size > 1 ? "s" : "", pk_workers(ctx),
             sums[0], sums[1]);
  }
  pk_finalize(&ser);
  pk_finalize(&ctx);
  return anybad;
}
