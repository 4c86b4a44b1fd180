/*
 * autocorr: the full 2-D autocorrelation of every matrix of a batch
 * (scipy.signal.correlate2d(a, a)), and the sum of the results.
 *
 *   autocorr [--h H] [--w W] [--method auto|direct|fft] [--count M]
 *            [--seed S] [--backend B] [--workers W] [--input FILE.npy [--batch-axis K]]
 *            [--output FILE.npy] [--verify] [--help]
 */
#include "common.h"

#include <parkit.h>
#include <parkit/fft.h>
#include <parkit/mpi.h>

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: autocorr [options]\n"
    "The full 2-D autocorrelation of every matrix of a batch\n"
    "(scipy.signal.correlate2d(a, a), (2H-1) x (2W-1)), and the sum of the "
    "results.\n"
    "\n"
    "  --h H          matrices have H rows (default 100)\n"
    "  --w W          and W columns (default 100)\n"
    "  --method M     auto (the cheaper by a cost model), direct or fft "
    "(default auto)\n"
    "  --count M      number of matrices (default 30)\n"
    "  --seed S       seed of the random input: integers in [0, 100) as "
    "float64\n"
    "                 (default 1)\n"
    "  --input FILE   read the batch from a .npy file of shape (M, H, W), "
    "of any\n"
    "                 real number type, instead of making a random one\n"
    "  --batch-axis K the input's batch axis (default 0; -1: the last, as "
    "numpy's\n"
    "                 t[..., i])\n"
    "  --output FILE  write the results to a .npy file\n"
    EX_USAGE_COMMON;

static void fill(double *x, size_t n, uint64_t seed, size_t first) {
  ex_fill_ints(x, n, seed, first, 0, 100);
}

int main(int argc, char **argv) {
  static const char prog[] = "autocorr";
  static const char *const names[] = {"auto", "direct", "fft"};
  ex_opts o = {.count = 30, .seed = 1};
  size_t h = 100, w = 100;
  const char *method = "auto";
  const ex_opt own[] = {{"--h", EX_SIZE, &h},
                        {"--w", EX_SIZE, &w},
                        {"--method", EX_STRING, &method},
                        {NULL, EX_FLAG, NULL}};
  pk_context *ctx = NULL;
  pk_array *in = NULL, *keep = NULL, *out = NULL;
  const pk_kernel *k = NULL;
  double sum = 0, t[3];
  pk_status st;
  int rc = 0, m;

  if (ex_parse(prog, usage, argc, argv, &o, own) != 0)
    return 2;
  for (m = 0; m < 3 && strcmp(method, names[m]) != 0; m++)
    ;
  if (m == 3) {
    ex_say(stderr, "autocorr: --method must be auto, direct or fft, not "
           "'%s'\n", method);
    return 2;
  }
  k = pk_kernel_autocorr2d((pk_autocorr_method)m);
  if (ex_start(prog, &ctx, &argc, &argv, &o) != 0)
    return 1;

  {
    size_t shape[3] = {o.count, h, w};
    if (ex_input(prog, ctx, &o, PK_F64, 3, shape, fill, &in, &keep) != 0) {
      rc = 1;
      goto done;
    }
  }

  st = ex_map_sum(ctx, k, 1, (const pk_array *const *)&in, &out, &sum, t);
  if (st != PK_OK) {
    rc = ex_fail(prog, ctx, k->name, st);
    goto done;
  }

  ex_say(stdout, "autocorr: %s of %zu matrices %zux%zu, method %s, "
         "backend %s, ", k->name, pk_array_global(in), pk_array_dim(in, 1),
         pk_array_dim(in, 2), method, pk_backend(ctx));
  ex_say_workers(ctx);
  ex_say(stdout, "checksum (sum of all results): %.17g\n", sum);
  ex_say_time(t);

  rc = ex_finish(prog, ctx, &o, out, &sum);

done:
  pk_array_destroy(&in);
  pk_array_destroy(&keep);
  pk_array_destroy(&out);
  pk_finalize(&ctx);
  return rc;
}
