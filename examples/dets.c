/*
 * dets: the determinants of a batch of square matrices, and their sum.
 *
 *   dets [--n N] [--count M] [--seed S] [--backend B] [--workers W]
 *        [--input FILE.npy] [--output FILE.npy] [--verify] [--help]
 */
#include <parkit.h>
#include <parkit/kernels.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "  --input FILE   read the batch from a .npy file (float64, shape "
    "(M, N, N))\n"
    "                 instead of making a random one\n"
    "  --output FILE  write the determinants to a .npy file (shape (M,))\n"
    "  --backend B    serial, openmp, fork or mpi (default: openmp, or mpi "
    "under\n"
    "                 mpirun; also PARKIT_BACKEND)\n"
    "  --workers W    workers: threads, or processes (default: all cores; "
    "also\n"
    "                 PARKIT_WORKERS)\n"
    "  --verify       also compute on the serial backend and exit 1 unless "
    "every\n"
    "                 determinant and the sum are the same bits\n"
    "  --help         this text\n";

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Integers in [-5, 5), as the seeds drew them, from a seeded generator. */
static void fill_random(double *x, size_t n, uint64_t seed) {
  size_t i;

  for (i = 0; i < n; i++)
    x[i] = (double)(int)(splitmix(&seed) % 10) - 5.0;
}

static int parse_size(const char *s, size_t *v) {
  char *end;
  unsigned long long x;

  errno = 0;
  x = strtoull(s, &end, 10);
  if (errno || end == s || *end != '\0' || s[0] == '-' || x > SIZE_MAX)
    return -1;
  *v = (size_t)x;
  return 0;
}

typedef struct options {
  size_t n, count, workers;
  uint64_t seed;
  const char *backend, *input, *output;
  int verify;
} options;

static int parse(int argc, char **argv, options *o) {
  int i;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    size_t x;
    if (strncmp(a, "--pk-", 5) == 0)
      continue; /* parkit's own, taken by pk_init */
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      exit(0);
    } else if (strcmp(a, "--verify") == 0) {
      o->verify = 1;
      continue;
    }
    if (v == NULL) {
      fprintf(stderr, "dets: %s: unknown option or missing value\n%s", a,
              usage);
      return -1;
    }
    i++;
    if (strcmp(a, "--backend") == 0)
      o->backend = v;
    else if (strcmp(a, "--input") == 0)
      o->input = v;
    else if (strcmp(a, "--output") == 0)
      o->output = v;
    else if (parse_size(v, &x) != 0) {
      fprintf(stderr, "dets: %s needs a whole number, not '%s'\n", a, v);
      return -1;
    } else if (strcmp(a, "--n") == 0)
      o->n = x;
    else if (strcmp(a, "--count") == 0)
      o->count = x;
    else if (strcmp(a, "--seed") == 0)
      o->seed = x;
    else if (strcmp(a, "--workers") == 0)
      o->workers = x;
    else {
      fprintf(stderr, "dets: unknown option %s\n%s", a, usage);
      return -1;
    }
  }
  if (o->workers > 4096) {
    fprintf(stderr, "dets: --workers must be from 1 to 4096\n");
    return -1;
  }
  return 0;
}

static int fail(pk_context *ctx, const char *what, pk_status st) {
  fprintf(stderr, "dets: %s: %s\n", what,
          ctx && pk_errmsg(ctx)[0] ? pk_errmsg(ctx) : pk_strerror(st));
  return 1;
}

/* The serial backend's determinants and sum, compared bit for bit. */
static int verify(const pk_array *in, const pk_array *dets, double sum) {
  pk_config cfg = {.backend = "serial"};
  pk_context *ctx = NULL;
  pk_array *in2 = NULL, *ref = NULL;
  double rsum = 0;
  size_t shape[PK_MAX_DIMS], i, bad = 0;
  const double *a, *b;
  pk_status st;
  int d;

  for (d = 0; d < pk_array_ndim(in); d++)
    shape[d] = pk_array_dim(in, d);
  if ((st = pk_init_config(&ctx, NULL, NULL, &cfg)) != PK_OK)
    return fail(NULL, "verify: pk_init", st);
  st = pk_array_wrap(ctx, PK_F64, pk_array_ndim(in), shape,
                     pk_array_data(in), &in2);
  if (st == PK_OK)
    st = pk_map(ctx, pk_kernel_det(), in2, &ref, NULL);
  if (st == PK_OK)
    st = pk_reduce(ctx, ref, PK_SUM, &rsum);
  if (st != PK_OK) {
    fail(ctx, "verify", st);
    bad = 1;
  } else {
    a = pk_array_data(dets);
    b = pk_array_data(ref);
    for (i = 0; i < pk_array_count(ref); i++)
      if (memcmp(&a[i], &b[i], sizeof a[i]) != 0 && bad++ < 5)
        fprintf(stderr, "dets: verify: det %zu is %.17g, serial gives "
                "%.17g\n", i, a[i], b[i]);
    if (memcmp(&sum, &rsum, sizeof sum) != 0) {
      fprintf(stderr, "dets: verify: sum %.17g, serial gives %.17g\n", sum,
              rsum);
      bad++;
    }
    printf("verify: %s (%zu determinants against the serial backend)\n",
           bad ? "MISMATCH" : "ok, same bits", pk_array_count(ref));
  }
  pk_array_destroy(&in2);
  pk_array_destroy(&ref);
  pk_finalize(&ctx);
  return bad != 0;
}

int main(int argc, char **argv) {
  options o = {.n = 10, .count = 100000, .seed = 1};
  pk_context *ctx = NULL;
  pk_array *in = NULL, *dets = NULL;
  pk_config cfg = {0};
  double sum = 0, t0, t1, t2;
  pk_status st;
  int rc = 0;

  if (parse(argc, argv, &o) != 0)
    return 2;
  cfg.backend = o.backend;
  cfg.workers = (int)o.workers;
  if ((st = pk_init_config(&ctx, &argc, &argv, &cfg)) != PK_OK)
    return fail(ctx, "pk_init", st);

  if (o.input != NULL) {
    st = pk_array_load_npy(ctx, o.input, &in);
  } else {
    size_t shape[3] = {o.count, o.n, o.n};
    st = pk_array_create(ctx, PK_F64, 3, shape, &in);
    if (st == PK_OK)
      fill_random(pk_array_data(in), pk_array_count(in), o.seed);
  }
  if (st != PK_OK) {
    rc = fail(ctx, o.input ? o.input : "making the input", st);
    goto done;
  }

  t0 = pk_time();
  st = pk_map(ctx, pk_kernel_det(), in, &dets, NULL);
  t1 = pk_time();
  if (st == PK_OK)
    st = pk_reduce(ctx, dets, PK_SUM, &sum);
  t2 = pk_time();
  if (st != PK_OK) {
    rc = fail(ctx, "determinants", st);
    goto done;
  }

  printf("dets: %zu matrices %zux%zu, backend %s, %d workers\n",
         pk_array_dim(in, 0), pk_array_dim(in, 1), pk_array_dim(in, 2),
         pk_backend(ctx), pk_workers(ctx));
  printf("sum of determinants: %.17g\n", sum);
  printf("time: %.6f s (map %.6f s, reduce %.6f s)\n", t2 - t0, t1 - t0,
         t2 - t1);

  if (o.output != NULL && (st = pk_array_save_npy(ctx, dets, o.output)))
    rc = fail(ctx, o.output, st);
  if (rc == 0 && o.verify)
    rc = verify(in, dets, sum);

done:
  pk_array_destroy(&in);
  pk_array_destroy(&dets);
  pk_finalize(&ctx);
  return rc;
}
