/*
 * correlate: the 2-D cross-correlation (or convolution) of every image of
 * a batch with a kernel image, or with its own partner of a second batch
 * ([scipy.signal.correlate2d(a[i], b[i], mode) for i]), and the sum of
 * the results.
 *
 *   correlate [--h H] [--w W] [--kh H] [--kw W] [--pairs] [--convolve]
 *             [--mode full|valid|same] [--method auto|direct|fft]
 *             [--count M] [--seed S] [--backend B] [--workers W]
 *             [--input FILE.npy [--batch-axis K]] [--kernel FILE.npy]
 *             [--output FILE.npy] [--verify] [--help]
 */
#include "common.h"

#include <parkit.h>
#include <parkit/kernels.h>
#include <parkit/mpi.h>

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: correlate [options]\n"
    "The 2-D cross-correlation (scipy.signal.correlate2d(a, b, mode)) or, "
    "with\n"
    "--convolve, convolution (convolve2d) of every image a of a batch with "
    "a\n"
    "kernel image b, or with its partner in a second batch, and the sum of "
    "the\n"
    "results.\n"
    "\n"
    "  --h H, --w W   images have H rows and W columns (default 100 x 100)\n"
    "  --kh H, --kw W the kernel image's (default 9 x 9)\n"
    "  --pairs        a second batch of as many kernel images, one an "
    "image,\n"
    "                 instead of one for all\n"
    "  --mode M       full, valid or same, as scipy's (default full)\n"
    "  --method M     auto (the cheaper by a cost model), direct or fft "
    "(default auto)\n"
    "  --convolve     convolve2d instead of correlate2d\n"
    "  --count M      number of images (default 1000)\n"
    "  --seed S       seed of the random input: integers in [0, 100) as "
    "float64\n"
    "                 (default 1)\n"
    "  --input FILE   read the images from a .npy file of shape (M, H, W), "
    "of any\n"
    "                 real number type, instead of making random ones\n"
    "  --batch-axis K the input's batch axis (default 0; -1: the last)\n"
    "  --kernel FILE  read the kernel images from a .npy file, of shape "
    "(1, H, W)\n"
    "                 (one for all) or (M, H, W) (one each)\n"
    "  --output FILE  write the results to a .npy file\n"
    EX_USAGE_COMMON;

static void fill(double *x, size_t n, uint64_t seed, size_t first) {
  ex_fill_ints(x, n, seed, first, 0, 100);
}

/* The kernel images, of other values than the images: [-3, 4). */
static void fill_kernel(double *x, size_t n, uint64_t seed, size_t first) {
  ex_fill_ints(x, n, seed + 0x5eed, first, -3, 4);
}

/* Index of s in names (n of them), or -1 after saying what is allowed. */
static int pick(const char *what, const char *s, const char *const *names,
                int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(s, names[i]) == 0)
      return i;
  ex_say(stderr, "correlate: %s must be %s, %s or %s, not '%s'\n", what,
         names[0], names[1], names[2], s);
  return -1;
}

int main(int argc, char **argv) {
  static const char prog[] = "correlate";
  static const char *const methods[] = {"auto", "direct", "fft"};
  static const char *const modes[] = {"full", "valid", "same"};
  ex_opts o = {.count = 1000, .seed = 1}, ko;
  size_t h = 100, w = 100, kh = 9, kw = 9;
  const char *method = "auto", *mode = "full", *kernel = NULL;
  int pairs = 0, convolve = 0, me, mo;
  const ex_opt own[] = {{"--h", EX_SIZE, &h},
                        {"--w", EX_SIZE, &w},
                        {"--kh", EX_SIZE, &kh},
                        {"--kw", EX_SIZE, &kw},
                        {"--pairs", EX_FLAG, &pairs},
                        {"--convolve", EX_FLAG, &convolve},
                        {"--mode", EX_STRING, &mode},
                        {"--method", EX_STRING, &method},
                        {"--kernel", EX_STRING, &kernel},
                        {NULL, EX_FLAG, NULL}};
  pk_context *ctx = NULL;
  pk_array *in[2] = {NULL, NULL}, *keep[2] = {NULL, NULL}, *out = NULL,
           *whole = NULL;
  const pk_kernel *k;
  double sum = 0, t[3];
  pk_status st;
  int rc = 0;

  if (ex_parse(prog, usage, argc, argv, &o, own) != 0)
    return 2;
  if ((me = pick("--method", method, methods, 3)) < 0 ||
      (mo = pick("--mode", mode, modes, 3)) < 0)
    return 2;
  k = convolve ? pk_kernel_convolve2d((pk_mode)mo, (pk_autocorr_method)me)
               : pk_kernel_correlate2d((pk_mode)mo, (pk_autocorr_method)me);
  if (ex_start(prog, &ctx, &argc, &argv, &o) != 0)
    return 1;

  /* The kernel images: another input, of their own count and seed. */
  ko = o;
  ko.input = kernel;
  ko.batch_axis = 0;
  ko.count = pairs ? o.count : 1;
  {
    size_t shape[3] = {o.count, h, w}, kshape[3] = {ko.count, kh, kw};
    if (ex_input(prog, ctx, &o, PK_F64, 3, shape, fill, &in[0], &keep[0]) != 0 ||
        ex_input(prog, ctx, &ko, PK_F64, 3, kshape, fill_kernel, &in[1],
                 &keep[1])) {
      rc = 1;
      goto done;
    }
  }
  /* One kernel image for all is broadcast, so every rank needs it whole. */
  if (pk_array_global(in[1]) == 1 && pk_array_distributed(in[1])) {
    if ((st = pk_mpi_gather(ctx, in[1], -1, &whole)) != PK_OK) {
      rc = ex_fail(prog, ctx, "the kernel image", st);
      goto done;
    }
    pk_array_destroy(&in[1]);
    in[1] = whole;
    whole = NULL;
  }

  st = ex_map_sum(ctx, k, 2, (const pk_array *const *)in, &out, &sum, t);
  if (st != PK_OK) {
    rc = ex_fail(prog, ctx, k->name, st);
    goto done;
  }

  ex_say(stdout, "correlate: %s of %zu images %zux%zu with %zu of %zux%zu, "
         "backend %s, ", k->name, pk_array_global(in[0]),
         pk_array_dim(in[0], 1), pk_array_dim(in[0], 2),
         pk_array_global(in[1]), pk_array_dim(in[1], 1),
         pk_array_dim(in[1], 2), pk_backend(ctx));
  ex_say_workers(ctx);
  ex_say(stdout, "checksum (sum of all results): %.17g\n", sum);
  ex_say_time(t);

  rc = ex_finish(prog, ctx, &o, out, &sum);

done:
  pk_array_destroy(&in[0]);
  pk_array_destroy(&in[1]);
  pk_array_destroy(&keep[0]);
  pk_array_destroy(&keep[1]);
  pk_array_destroy(&out);
  pk_finalize(&ctx);
  return rc;
}
