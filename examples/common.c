/* What the example programs share: see common.h. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "common.h"
#include "splitmix.h"

#include <parkit/mpi.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Before ex_start: the rank from the launcher's environment. */
static int launcher_rank(void) {
  const char *v = getenv("OMPI_COMM_WORLD_RANK");
  if (v == NULL)
    v = getenv("PMI_RANK");
  return v ? atoi(v) : 0;
}

static int quiet = -1; /* -1: not known yet */

void ex_say(FILE *f, const char *fmt, ...) {
  va_list ap;

  if (quiet < 0)
    quiet = launcher_rank() != 0;
  if (quiet)
    return;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
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

int ex_parse(const char *prog, const char *usage, int argc, char **argv,
             ex_opts *o, const ex_opt *own) {
  size_t seed = (size_t)o->seed, workers = SIZE_MAX;
  /* The shared options are a table too: one loop for both. */
  const ex_opt common[] = {
      {"--backend", EX_STRING, &o->backend},
      {"--input", EX_STRING, &o->input},
      {"--output", EX_STRING, &o->output},
      {"--count", EX_SIZE, &o->count},
      {"--seed", EX_SIZE, &seed},
      {"--workers", EX_SIZE, &workers},
      {"--verify", EX_FLAG, &o->verify},
      {"--batch-axis", EX_LONG, &o->batch_axis},
      {NULL, EX_FLAG, NULL}};
  const ex_opt *tables[2] = {common, own};

  /* A copy, kept to the end: pk_init takes its own options out of argv. */
  static char **args;
  free(args);
  o->argc = argc;
  o->argv = args = argv ? calloc((size_t)argc + 1, sizeof *argv) : NULL;
  for (int i = 0; o->argv && i < argc; i++)
    o->argv[i] = argv[i];

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    const ex_opt *opt = NULL;
    if (strncmp(a, "--pk-", 5) == 0) { /* parkit's own, taken by pk_init */
      if (strcmp(a, "--pk-help") == 0)
        o->pk_help = 1;
      if (strchr(a, '=') == NULL && v != NULL &&
          (strcmp(a, "--pk-backend") == 0 || strcmp(a, "--pk-workers") == 0 ||
           strcmp(a, "--pk-isa") == 0))
        i++; /* and its value */
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      ex_say(stdout, "%s", usage);
      exit(0);
    }
    for (int t = 0; t < 2 && opt == NULL; t++)
      for (const ex_opt *p = tables[t]; p && p->name && !opt; p++)
        if (strcmp(a, p->name) == 0)
          opt = p;
    if (opt == NULL) {
      ex_say(stderr, "%s: unknown option %s\n%s", prog, a, usage);
      return -1;
    }
    if (opt->kind == EX_FLAG) {
      *(int *)opt->value = 1;
      continue;
    }
    if (v == NULL) {
      ex_say(stderr, "%s: %s needs a value\n%s", prog, a, usage);
      return -1;
    }
    i++;
    if (opt->kind == EX_STRING) {
      *(const char **)opt->value = v;
    } else if (opt->kind == EX_LONG) {
      char *end;
      errno = 0;
      *(long *)opt->value = strtol(v, &end, 10);
      if (errno || end == v || *end != '\0') {
        ex_say(stderr, "%s: %s needs a whole number, not '%s'\n", prog, a,
               v);
        return -1;
      }
    } else if (parse_size(v, opt->value) != 0) {
      ex_say(stderr, "%s: %s needs a whole number, not '%s'\n", prog, a, v);
      return -1;
    }
  }
  o->seed = seed;
  /* As the library's --pk-workers and PARKIT_WORKERS: 1 to 4096. */
  if (workers != SIZE_MAX && (workers < 1 || workers > 4096)) {
    ex_say(stderr, "%s: --workers %zu: the number of workers is a whole "
           "number from 1 to 4096\n", prog, workers);
    return -1;
  }
  if (workers != SIZE_MAX)
    o->workers = workers;
  /* The output's folder before any work, not after it. */
  if (o->output != NULL) {
    char copy[4096];
    const char *dir;
    struct stat sb;
    snprintf(copy, sizeof copy, "%s", o->output);
    dir = dirname(copy);
    if (access(dir, W_OK | X_OK) != 0) {
      ex_say(stderr, "%s: --output %s: cannot write in %s: %s\n", prog,
             o->output, dir, strerror(errno));
      return -1;
    }
    if (stat(o->output, &sb) == 0 && S_ISDIR(sb.st_mode)) {
      ex_say(stderr, "%s: --output %s is a folder, not a file\n", prog,
             o->output);
      return -1;
    }
  }
  return 0;
}

int ex_fail(const char *prog, pk_context *ctx, const char *what,
            pk_status st) {
  ex_say(stderr, "%s: %s: %s\n", prog, what,
         ctx && pk_errmsg(ctx)[0] ? pk_errmsg(ctx) : pk_strerror(st));
  return 1;
}

int ex_start(const char *prog, pk_context **ctx, int *argc, char ***argv,
             const ex_opts *o) {
  pk_config cfg = {0};
  pk_status st;

  cfg.backend = o->backend;
  cfg.workers = (int)o->workers;
  if ((st = pk_init_config(ctx, argc, argv, &cfg)) != PK_OK) {
    /* No context: parkit keeps the reason for pk_errmsg(NULL). */
    ex_say(stderr, "%s: pk_init: %s\n", prog, pk_errmsg(NULL));
    return 1;
  }
  quiet = pk_mpi_rank(*ctx) != 0;
  if (o->pk_help) { /* pk_init printed them: a request for help, not work */
    pk_finalize(ctx);
    exit(0);
  }
  {
    /* More workers than cores works, but should not pass unnoticed. */
    cpu_set_t set;
    int cores = sched_getaffinity(0, sizeof set, &set) == 0
                    ? CPU_COUNT(&set)
                    : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 0 && pk_workers(*ctx) > cores && pk_mpi_size(*ctx) == 1)
      ex_say(stderr, "%s: %d workers on %d cores: they take turns\n", prog,
             pk_workers(*ctx), cores);
  }
  return 0;
}

void ex_fill_ints(double *x, size_t n, uint64_t seed, size_t first, int lo,
                  int hi) {
  uint64_t span = (uint64_t)(hi - lo);

  seed += (uint64_t)first * PK_SPLITMIX_GAMMA;
  for (size_t i = 0; i < n; i++)
    x[i] = (double)(int)(pk__splitmix(&seed) % span) + lo;
}

void ex_fill_uniform(double *x, size_t n, uint64_t seed, size_t first) {
  seed += (uint64_t)first * PK_SPLITMIX_GAMMA;
  for (size_t i = 0; i < n; i++)
    x[i] = (double)(pk__splitmix(&seed) >> 11) * 0x1p-53;
}

int ex_input(const char *prog, pk_context *ctx, const ex_opts *o,
             pk_dtype dtype, int ndim, const size_t *shape,
             void (*fill)(double *, size_t, uint64_t, size_t),
             pk_array **in, pk_array **keep) {
  pk_status st;

  *keep = NULL;
  if (o->input != NULL && o->batch_axis != 0) {
    /* One process maps a view of the file's array; under mpirun rank 0
       moves the axis and the ranks take their blocks of the batch (a file
       is split along its first axis). */
    pk_array *whole = NULL, *moved = NULL;
    char what[4200];
    int said = 0, one = pk_mpi_size(ctx) == 1;
    if (pk_mpi_rank(ctx) == 0) {
      st = pk_array_load_npy(ctx, o->input, &whole);
      snprintf(what, sizeof what, "%s", o->input);
      if (st == PK_OK) {
        st = one ? pk_array_view(ctx, whole, (int)o->batch_axis, &moved)
                 : pk_array_moveaxis(ctx, whole, (int)o->batch_axis, &moved);
        snprintf(what, sizeof what, "%s: --batch-axis %ld", o->input,
                 o->batch_axis);
      }
      if (one && st == PK_OK)
        *keep = whole;
      else
        pk_array_destroy(&whole);
      if (st != PK_OK)
        said = ex_fail(prog, ctx, what, st);
    }
    if (one) {
      *in = moved;
      return said;
    }
    /* A refusal on rank 0 is every rank's: moved is NULL there. */
    st = pk_mpi_scatter(ctx, moved, 0, in);
    pk_array_destroy(&moved);
    if (st != PK_OK)
      return said ? 1 : ex_fail(prog, ctx, o->input, st);
    return 0;
  }
  if (o->input != NULL) {
    if ((st = pk_mpi_load_npy(ctx, o->input, in)) != PK_OK)
      return ex_fail(prog, ctx, o->input, st);
    return 0;
  }
  if ((st = pk_mpi_create(ctx, dtype, ndim, shape, in)) != PK_OK)
    return ex_fail(prog, ctx, "making the input", st);
  /* Doubles per item: complex elements are two. */
  size_t per = dtype == PK_C128 ? 2 : 1;
  for (int d = 1; d < ndim; d++)
    per *= shape[d];
  fill(pk_array_data(*in), pk_array_count(*in) * (dtype == PK_C128 ? 2 : 1),
       o->seed, pk_array_offset(*in) * per);
  return 0;
}

void ex_say_workers(const pk_context *ctx) {
  if (pk_mpi_size(ctx) > 1)
    ex_say(stdout, "%d ranks x %d workers\n", pk_mpi_size(ctx),
           pk_workers(ctx));
  else
    ex_say(stdout, "%d workers\n", pk_workers(ctx));
}

void ex_say_time(const double *t) {
  ex_say(stdout, "time: %.6f s (map %.6f s, reduce %.6f s)\n", t[2] - t[0],
         t[1] - t[0], t[2] - t[1]);
}

pk_status ex_map_sum(pk_context *ctx, const pk_kernel *k, int nin,
                     const pk_array *const *in, pk_array **out, double *sum,
                     double *t) {
  pk_status st;

  t[0] = pk_time();
  st = pk_map_n(ctx, k, nin, in, 1, out, NULL);
  t[1] = pk_time();
  if (st == PK_OK)
    st = pk_reduce(ctx, *out, PK_SUM, sum);
  t[2] = pk_time();
  return st;
}

int ex_finish(const char *prog, pk_context *ctx, const ex_opts *o,
              const pk_array *out, const double *sum) {
  pk_status st;

  if (o->output != NULL && (st = pk_mpi_save_npy(ctx, out, o->output)))
    return ex_fail(prog, ctx, o->output, st);
  return o->verify ? ex_verify(prog, ctx, o, out, sum) : 0;
}

/* Print a mismatched item: its index and first differing double. */
static void report_item(const char *prog, size_t item, const double *a,
                        const double *b, size_t n) {
  for (size_t k = 0; k < n; k++)
    if (memcmp(&a[k], &b[k], sizeof *a) != 0) {
      fprintf(stderr, "%s: verify: item %zu, double %zu is %.17g, serial "
              "gives %.17g\n", prog, item, k, a[k], b[k]);
      return;
    }
}

/* 1 if argument a is one --verify must not pass on to the reference run;
   *skip: how many words it takes. */
static int dropped(const char *a, int *skip) {
  static const char *const with_value[] = {"--output", "--backend",
                                           "--workers", "--pk-backend",
                                           "--pk-workers", "--pk-isa"};
  *skip = 1;
  if (strcmp(a, "--verify") == 0 || strcmp(a, "--pk-verbose") == 0)
    return 1;
  for (size_t i = 0; i < sizeof with_value / sizeof *with_value; i++) {
    size_t n = strlen(with_value[i]);
    if (strncmp(a, with_value[i], n) == 0 && a[n] == '=')
      return 1;
    if (strcmp(a, with_value[i]) == 0) {
      *skip = 2;
      return 1;
    }
  }
  return 0;
}

/*
 * This program again with o's arguments, on the serial backend with isa,
 * writing its results to path, its own output to /dev/null.  Returns 0 if
 * it ran and succeeded.
 */
static int rerun(const char *prog, const ex_opts *o, const char *isa,
                 const char *path) {
  char isaopt[64], **args = calloc((size_t)o->argc + 8, sizeof *args);
  posix_spawn_file_actions_t fa;
  extern char **environ;
  int n = 0, status = 0, rc;
  pid_t pid;

  if (args == NULL || o->argv == NULL) {
    free(args);
    return -1;
  }
  snprintf(isaopt, sizeof isaopt, "--pk-isa=%s", isa);
  args[n++] = o->argv[0];
  for (int i = 1, skip; i < o->argc; i += skip)
    if (!dropped(o->argv[i], &skip))
      args[n++] = o->argv[i];
  args[n++] = "--backend";
  args[n++] = "serial";
  args[n++] = isaopt;
  args[n++] = "--output";
  args[n++] = (char *)path;
  args[n] = NULL;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  free(args);
  if (rc != 0) {
    fprintf(stderr, "%s: verify: cannot run the reference: %s\n", prog,
            strerror(rc));
    return -1;
  }
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "%s: verify: the reference run on the serial backend "
            "failed\n", prog);
    return -1;
  }
  return 0;
}

int ex_verify(const char *prog, pk_context *ctx, const ex_opts *o,
              const pk_array *out, const double *sum) {
  /* The path the job ran (under mpi, the narrowest of the ranks'). */
  pk_config cfg = {.backend = "serial"};
  pk_context *sctx = NULL;
  pk_array *ref = NULL, *all = NULL, *all2 = NULL, *verdict = NULL;
  size_t shape[PK_MAX_DIMS], global = pk_array_global(out), ranks;
  int d, cplx = pk_array_dtype(out) == PK_C128, nd = pk_array_ndim(out);
  double rsum[2] = {0, 0}, nbad = 0;
  char dir[] = "/tmp/parkit-verify-XXXXXX", path[64] = "";
  pk_status st;

  /* Every rank takes part in the collective calls, whatever happened. */
  ranks = (size_t)pk_mpi_size(ctx);
  st = pk_mpi_create(ctx, PK_F64, 1, &ranks, &verdict);
  if (st == PK_OK)
    st = pk_mpi_gather(ctx, out, 0, &all);
  if (st != PK_OK) {
    ex_fail(prog, ctx, "verify", st);
    pk_array_destroy(&verdict);
    return 1;
  }
  if (all != NULL) { /* rank 0: every item */
    nbad = 1;
    if (mkdtemp(dir) == NULL) {
      fprintf(stderr, "%s: verify: mkdtemp: %s\n", prog, strerror(errno));
    } else {
      snprintf(path, sizeof path, "%s/ref.npy", dir);
      if (rerun(prog, o, pk_isa_name(pk_isa_of(ctx)), path) == 0 &&
          pk_init_config(&sctx, NULL, NULL, &cfg) == PK_OK &&
          pk_array_load_npy(sctx, path, &ref) == PK_OK)
        nbad = 0;
      unlink(path);
      rmdir(dir);
    }
    if (nbad == 0 && (pk_array_nbytes(ref) != pk_array_nbytes(all) ||
                      pk_array_ndim(ref) != nd)) {
      fprintf(stderr, "%s: verify: the reference's results have another "
              "shape\n", prog);
      nbad = 1;
    }
    if (nbad == 0) {
      const char *a = pk_array_data(all), *b = pk_array_data(ref);
      size_t ib = global ? pk_array_nbytes(all) / global : 0;
      for (size_t i = 0; i < global; i++)
        if (memcmp(a + i * ib, b + i * ib, ib) != 0 && nbad++ < 5)
          report_item(prog, i, (const double *)(a + i * ib),
                      (const double *)(b + i * ib), ib / sizeof(double));
      /* The sum the serial backend gives of the reference's items. */
      for (d = 0; d < nd; d++)
        shape[d] = pk_array_dim(ref, d);
      st = pk_array_wrap(sctx, pk_array_dtype(ref), nd, shape,
                         pk_array_data(ref), &all2);
      if (st == PK_OK)
        st = pk_reduce(sctx, all2, PK_SUM, rsum);
      if (st != PK_OK || memcmp(sum, rsum, (cplx ? 2 : 1) * sizeof *sum)) {
        if (cplx)
          fprintf(stderr, "%s: verify: sum %.17g%+.17gj, serial gives "
                  "%.17g%+.17gj\n", prog, sum[0], sum[1], rsum[0], rsum[1]);
        else
          fprintf(stderr, "%s: verify: sum %.17g, serial gives %.17g\n",
                  prog, sum[0], rsum[0]);
        nbad += 1;
      }
    }
    ((double *)pk_array_data(verdict))[0] = nbad;
  }
  if (pk_reduce(ctx, verdict, PK_SUM, &nbad) != PK_OK)
    nbad = 1;
  ex_say(stdout, "verify: %s (%zu items and the sum against the serial "
         "backend, run as a separate process)\n",
         nbad ? "MISMATCH" : "ok, same bits", global);
  pk_array_destroy(&all2);
  pk_array_destroy(&ref);
  pk_array_destroy(&all);
  pk_array_destroy(&verdict);
  pk_finalize(&sctx);
  return nbad != 0;
}
