/*
 * fft2: the 2-D FFT of every matrix of a batch, and the sum of the results.
 *
 *   fft2 [--h H] [--w W] [--inverse] [--real] [--count M] [--seed S]
 *        [--backend B] [--workers W] [--input FILE.npy [--batch-axis K]] [--output FILE.npy]
 *        [--verify] [--help]
 */
#include "common.h"

#include <parkit.h>
#include <parkit/fft.h>
#include <parkit/mpi.h>

#include <stdio.h>

static const char usage[] =
    "usage: fft2 [options]\n"
    "The 2-D FFT of every matrix of a batch (numpy.fft.fft2), and the sum of "
    "the\n"
    "results.\n"
    "\n"
    "  --h H          matrices have H rows (default 100)\n"
    "  --w W          and W columns (default 100)\n"
    "  --inverse      the inverse, scaled by 1/(H W) (numpy.fft.ifft2)\n"
    "  --real         half the spectrum of real input, H x (W/2+1) "
    "(numpy.fft.rfft2);\n"
    "                 with --inverse, numpy.fft.irfft2 of H x (W/2+1) "
    "complex input\n"
    "                 (W even) to H x W reals\n"
    "  --count M      number of matrices (default 1000)\n"
    "  --seed S       seed of the random input: uniform reals in [0, 1) "
    "(default 1)\n"
    "  --input FILE   read the batch from a .npy file of shape (M, H, W), "
    "of any\n"
    "                 number type, instead of making a random one\n"
    "  --batch-axis K the input's batch axis (default 0; -1: the last, as "
    "numpy's\n"
    "                 t[..., i])\n"
    "  --output FILE  write the results to a .npy file\n"
    EX_USAGE_COMMON;

static void fill(double *x, size_t n, uint64_t seed, size_t first) {
  ex_fill_uniform(x, n, seed, first);
}

int main(int argc, char **argv) {
  static const char prog[] = "fft2";
  ex_opts o = {.count = 1000, .seed = 1};
  size_t h = 100, w = 100;
  int inverse = 0, real = 0;
  const ex_opt own[] = {{"--h", EX_SIZE, &h},
                        {"--w", EX_SIZE, &w},
                        {"--inverse", EX_FLAG, &inverse},
                        {"--real", EX_FLAG, &real},
                        {NULL, EX_FLAG, NULL}};
  pk_context *ctx = NULL;
  pk_array *in = NULL, *keep = NULL, *out = NULL;
  const pk_kernel *k;
  const char *what;
  double sum[2] = {0, 0}, t[3];
  pk_status st;
  int rc = 0;

  if (ex_parse(prog, usage, argc, argv, &o, own) != 0)
    return 2;
  if (real && inverse && w % 2 != 0) {
    ex_say(stderr, "fft2: --real --inverse makes W = 2 (W/2 + 1 - 1) "
           "columns: W must be even\n");
    return 2;
  }
  if (real)
    k = inverse ? pk_kernel_irfft2() : pk_kernel_rfft2();
  else
    k = inverse ? pk_kernel_ifft2() : pk_kernel_fft2();
  what = real ? (inverse ? "irfft2" : "rfft2") : (inverse ? "ifft2" : "fft2");
  if (ex_start(prog, &ctx, &argc, &argv, &o) != 0)
    return 1;

  {
    /* irfft2 takes the half spectrum: random complex H x (W/2+1). */
    int half = real && inverse;
    size_t shape[3] = {o.count, h, half ? w / 2 + 1 : w};
    if (ex_input(prog, ctx, &o, half ? PK_C128 : PK_F64, 3, shape, fill,
                 &in, &keep) != 0) {
      rc = 1;
      goto done;
    }
  }

  st = ex_map_sum(ctx, k, 1, (const pk_array *const *)&in, &out, sum, t);
  if (st != PK_OK) {
    rc = ex_fail(prog, ctx, what, st);
    goto done;
  }

  ex_say(stdout, "fft2: %s of %zu matrices %zux%zu (%s), backend %s, ",
         what, pk_array_global(in), pk_array_dim(in, 1), pk_array_dim(in, 2),
         pk_array_dtype(in) == PK_C128 ? "complex128" : "float64",
         pk_backend(ctx));
  ex_say_workers(ctx);
  if (pk_array_dtype(out) == PK_C128)
    ex_say(stdout, "checksum (sum of all results): %.17g %+.17gj\n", sum[0],
           sum[1]);
  else
    ex_say(stdout, "checksum (sum of all results): %.17g\n", sum[0]);
  ex_say_time(t);

  rc = ex_finish(prog, ctx, &o, out, sum);

done:
  pk_array_destroy(&in);
  pk_array_destroy(&keep);
  pk_array_destroy(&out);
  pk_finalize(&ctx);
  return rc;
}
