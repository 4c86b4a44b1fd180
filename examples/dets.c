/*
 * dets: the determinants of a batch of square matrices, and their sum.
 *
 *   dets [--n N] [--count M] [--seed S] [--backend B] [--workers W]
 *        [--input FILE.npy] [--output FILE.npy] [--verify] [--help]
 */
#include <parkit.h>
#include <parkit/kernels.h>
#include <parkit/mpi.h>

#include <errno.h>
#include <stdarg.h>
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

/* Integers in [-5, 5), as the seeds drew them, from a seeded generator;
 * x holds elements [first, first + n) of the whole batch (a rank's block):
 * the generator jumps there, so every block is the one serial makes. */
static void fill_random(double *x, size_t n, uint64_t seed, size_t first) {
  size_t i;

  seed += (uint64_t)first * 0x9e3779b97f4a7c15u;
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

/* Under mpirun every rank runs this program: rank 0 speaks for all (every
 * parkit error is agreed on, so every rank holds the same message). */
static int quiet;

static void say(FILE *f, const char *fmt, ...) {
  va_list ap;

  if (quiet)
    return;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
}

/* Before pk_init: the rank from the launcher's environment. */
static int launcher_rank(void) {
  const char *v = getenv("OMPI_COMM_WORLD_RANK");
  if (v == NULL)
    v = getenv("PMI_RANK");
  return v ? atoi(v) : 0;
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
      say(stdout, "%s", usage);
      exit(0);
    } else if (strcmp(a, "--verify") == 0) {
      o->verify = 1;
      continue;
    }
    if (v == NULL) {
      say(stderr, "dets: %s: unknown option or missing value\n%s", a,
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
      say(stderr, "dets: %s needs a whole number, not '%s'\n", a, v);
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
      say(stderr, "dets: unknown option %s\n%s", a, usage);
      return -1;
    }
  }
  if (o->workers > 4096) {
    say(stderr, "dets: --workers must be from 1 to 4096\n");
    return -1;
  }
  return 0;
}

static int fail(pk_context *ctx, const char *what, pk_status st) {
  say(stderr, "dets: %s: %s\n", what,
      ctx && pk_errmsg(ctx)[0] ? pk_errmsg(ctx) : pk_strerror(st));
  return 1;
}

/*
 * The serial backend's determinants and sum, compared bit for bit.  Each
 * rank (one, unless under mpirun) checks its own block of determinants;
 * the mismatches are counted over all ranks with pk_reduce, and every rank
 * checks the sum against serial's sum of all the determinants, so every
 * rank comes to the same verdict.
 */
static int verify(pk_context *ctx, const pk_array *in, const pk_array *dets,
                  double sum) {
  pk_config cfg = {.backend = "serial"};
  pk_context *sctx = NULL;
  pk_array *in2 = NULL, *ref = NULL, *all = NULL, *all2 = NULL, *miss = NULL;
  size_t shape[PK_MAX_DIMS], i, global = pk_array_global(dets), off;
  double rsum = 0, nbad = 0;
  const double *a, *b;
  pk_status st;
  int d;

  for (d = 0; d < pk_array_ndim(in); d++)
    shape[d] = pk_array_dim(in, d);
  if ((st = pk_init_config(&sctx, NULL, NULL, &cfg)) != PK_OK)
    return fail(NULL, "verify: pk_init", st);
  st = pk_array_wrap(sctx, PK_F64, pk_array_ndim(in), shape,
                     pk_array_data(in), &in2);
  if (st == PK_OK)
    st = pk_map(sctx, pk_kernel_det(), in2, &ref, NULL);
  /* Every rank takes part in the collective calls, whatever happened. */
  if (pk_mpi_create(ctx, PK_F64, 1, &global, &miss) != PK_OK ||
      pk_mpi_gather(ctx, dets, -1, &all) != PK_OK) {
    fail(ctx, "verify", PK_ENOMEM);
    nbad = 1;
  } else {
    double *m = pk_array_data(miss);
    a = pk_array_data(dets);
    b = st == PK_OK ? pk_array_data(ref) : NULL;
    off = pk_array_offset(dets);
    for (i = 0; i < pk_array_dim(dets, 0); i++)
      if (b == NULL || memcmp(&a[i], &b[i], sizeof a[i]) != 0) {
        if (m[i]++ == 0 && b != NULL && i < 5)
          fprintf(stderr, "dets: verify: det %zu is %.17g, serial gives "
                  "%.17g\n", off + i, a[i], b[i]);
      }
    if (pk_reduce(ctx, miss, PK_SUM, &nbad) != PK_OK)
      nbad = 1;
    st = pk_array_wrap(sctx, PK_F64, 1, &global, pk_array_data(all), &all2);
    if (st == PK_OK)
      st = pk_reduce(sctx, all2, PK_SUM, &rsum);
    if (st != PK_OK || memcmp(&sum, &rsum, sizeof sum) != 0) {
      say(stderr, "dets: verify: sum %.17g, serial gives %.17g\n", sum, rsum);
      nbad++;
    }
    say(stdout, "verify: %s (%zu determinants against the serial backend)\n",
        nbad ? "MISMATCH" : "ok, same bits", global);
  }
  pk_array_destroy(&in2);
  pk_array_destroy(&ref);
  pk_array_destroy(&all2);
  pk_array_destroy(&all);
  pk_array_destroy(&miss);
  pk_finalize(&sctx);
  return nbad != 0;
}

int main(int argc, char **argv) {
  options o = {.n = 10, .count = 100000, .seed = 1};
  pk_context *ctx = NULL;
  pk_array *in = NULL, *dets = NULL;
  pk_config cfg = {0};
  double sum = 0, t0, t1, t2;
  pk_status st;
  int rc = 0;

  quiet = launcher_rank() != 0;
  if (parse(argc, argv, &o) != 0)
    return 2;
  cfg.backend = o.backend;
  cfg.workers = (int)o.workers;
  if ((st = pk_init_config(&ctx, &argc, &argv, &cfg)) != PK_OK) {
    /* No context, so no message from parkit: name what was asked for. */
    say(stderr, "dets: pk_init (backend %s): %s\n",
        o.backend ? o.backend : "default", pk_strerror(st));
    return 1;
  }
  quiet = pk_mpi_rank(ctx) != 0;

  /* Under mpi each rank reads or makes only its own block of the batch. */
  if (o.input != NULL) {
    st = pk_mpi_load_npy(ctx, o.input, &in);
  } else {
    size_t shape[3] = {o.count, o.n, o.n};
    st = pk_mpi_create(ctx, PK_F64, 3, shape, &in);
    if (st == PK_OK)
      fill_random(pk_array_data(in), pk_array_count(in), o.seed,
                  pk_array_offset(in) * o.n * o.n);
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

  if (pk_mpi_size(ctx) > 1)
    say(stdout, "dets: %zu matrices %zux%zu, backend %s, %d ranks x %d "
        "workers\n", pk_array_global(in), pk_array_dim(in, 1),
        pk_array_dim(in, 2), pk_backend(ctx), pk_mpi_size(ctx),
        pk_workers(ctx));
  else
    say(stdout, "dets: %zu matrices %zux%zu, backend %s, %d workers\n",
        pk_array_global(in), pk_array_dim(in, 1), pk_array_dim(in, 2),
        pk_backend(ctx), pk_workers(ctx));
  say(stdout, "sum of determinants: %.17g\n", sum);
  say(stdout, "time: %.6f s (map %.6f s, reduce %.6f s)\n", t2 - t0, t1 - t0,
      t2 - t1);

  if (o.output != NULL && (st = pk_mpi_save_npy(ctx, dets, o.output)))
    rc = fail(ctx, o.output, st);
  if (rc == 0 && o.verify)
    rc = verify(ctx, in, dets, sum);

done:
  pk_array_destroy(&in);
  pk_array_destroy(&dets);
  pk_finalize(&ctx);
  return rc;
}
