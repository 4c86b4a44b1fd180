/*
 * dets: the determinants of a batch of square matrices, and their sum.
 *
 *   dets [--n N] [--count M] [--seed S] [--backend B] [--workers W]
 *        [--input FILE.npy [--batch-axis K]] [--output FILE.npy] [--verify] [--help]
 *
 * Under mpirun (the mpi backend) each rank makes or reads only its block of
 * the batch, and rank 0 prints.
 */
#include "common.h"

#include <parkit.h>
#include <parkit/kernels.h>
#include <parkit/mpi.h>

static const char usage[] =
    "usage: dets [options]\n"
    "The determinant of every matrix of a batch (numpy.linalg.det), and "
    "their sum.\n"
    "\n"
    "  --n N          matrices are N x N (default 10)\n"
    "  --count M      number of matrices (default 100000)\n"
    "  --seed S       seed of the random input: integers in [-5, 5) as "
    "float64\n"
    "                 (default 1)\n"
    "  --input FILE   read the batch from a .npy file of shape (M, N, N), "
    "of any\n"
    "                 number type, instead of making a random one\n"
    "  --batch-axis K the input's batch axis (default 0; -1: the last, as "
    "numpy's\n"
    "                 t[..., i])\n"
    "  --output FILE  write the determinants to a .npy file (shape (M,);\n"
    "                 complex128 for complex input)\n"
    EX_USAGE_COMMON;

/* Integers in [-5, 5), as the seeds drew them. */
static void fill(double *x, size_t n, uint64_t seed, size_t first) {
  ex_fill_ints(x, n, seed, first, -5, 5);
}

int main(int argc, char **argv) {
  const char *prog = "dets";
  ex_opts o = {.count = 100000, .seed = 1};
  size_t n = 10;
  const ex_opt own[] = {{"--n", EX_SIZE, &n}, {NULL, EX_FLAG, NULL}};
  pk_context *ctx = NULL;
  pk_array *in = NULL, *keep = NULL, *dets = NULL;
  double sum[2] = {0, 0}, t[3]; /* complex matrices: a complex sum */
  pk_status st;
  int rc = 0;

  if (ex_parse(prog, usage, argc, argv, &o, own) != 0)
    return 2;
  if (ex_start(prog, &ctx, &argc, &argv, &o) != 0)
    return 1;
  {
    size_t shape[3] = {o.count, n, n};
    if (ex_input(prog, ctx, &o, PK_F64, 3, shape, fill, &in, &keep) != 0) {
      rc = 1;
      goto done;
    }
  }

  st = ex_map_sum(ctx, pk_kernel_det(), 1, (const pk_array *const *)&in,
                  &dets, sum, t);
  if (st != PK_OK) {
    rc = ex_fail(prog, ctx, "determinants", st);
    goto done;
  }

  ex_say(stdout, "dets: %zu matrices %zux%zu%s, backend %s, ",
         pk_array_global(in), pk_array_dim(in, 1), pk_array_dim(in, 2),
         pk_array_dtype(in) == PK_C128 ? " complex128" : "",
         pk_backend(ctx));
  ex_say_workers(ctx);
  if (pk_array_dtype(dets) == PK_C128)
    ex_say(stdout, "sum of determinants: %.17g %+.17gj\n", sum[0], sum[1]);
  else
    ex_say(stdout, "sum of determinants: %.17g\n", sum[0]);
  ex_say_time(t);

  rc = ex_finish(prog, ctx, &o, dets, sum);

done:
  pk_array_destroy(&in);
  pk_array_destroy(&keep);
  pk_array_destroy(&dets);
  pk_finalize(&ctx);
  return rc;
}
