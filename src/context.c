/* The context: settings, backend start and stop, BLAS threads. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PK_MAX_WORKERS 4096

int pk__cores(void) {
  cpu_set_t set;
  long n;

  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 && n < INT_MAX ? (int)n : 1;
}

/* Parse a worker count; -1 if s is not one. */
static int parse_workers(const char *s) {
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < 1 || v > PK_MAX_WORKERS)
    return -1;
  return (int)v;
}

/* Remove argv[i] from the argument vector. */
static void drop_arg(int *argc, char **argv, int i) {
  for (; i < *argc; i++)
    argv[i] = argv[i + 1];
  (*argc)--;
}

typedef struct settings {
  const char *backend;
  const char *workers;
  const char *isa;
  int verbose;
} settings;

static void take_args(int *argc, char ***argv, settings *s) {
  int i;

  if (argc == NULL || argv == NULL || *argv == NULL)
    return;
  for (i = 1; i < *argc;) {
    const char *a = (*argv)[i];
    if (strncmp(a, "--pk-backend=", 13) == 0)
      s->backend = a + 13;
    else if (strncmp(a, "--pk-workers=", 13) == 0)
      s->workers = a + 13;
    else if (strncmp(a, "--pk-isa=", 9) == 0)
      s->isa = a + 9;
    else if (strcmp(a, "--pk-verbose") == 0)
      s->verbose = 1;
    else {
      i++;
      continue;
    }
    drop_arg(argc, *argv, i);
  }
}

static int under_mpirun(void) {
  const char *v = getenv("OMPI_COMM_WORLD_SIZE");
  if (v == NULL)
    v = getenv("PMI_SIZE");
  return v != NULL && atoi(v) > 1;
}

static const char *default_backend(void) {
#ifdef PK_HAVE_MPI
  if (under_mpirun())
    return "mpi";
#else
  (void)under_mpirun;
#endif
  return "openmp";
}

/*
 * The path named by the first of s->isa, the config and PARKIT_ISA that is
 * set (else auto) into *isa; a sentence into msg if it names none or one
 * wider than this CPU has.
 */
static pk_status choose_isa(const settings *s, const pk_config *config,
                            pk_isa *isa, char *msg, size_t len) {
  const char *name = s->isa, *from = "--pk-isa";
  pk_isa best = pk_isa_best();

  if (name == NULL && config != NULL && config->isa != NULL)
    name = config->isa, from = "pk_config.isa";
  if (name == NULL && (name = getenv("PARKIT_ISA")) != NULL && *name)
    from = "PARKIT_ISA";
  if (name == NULL || *name == '\0')
    name = "auto";
  if (pk__isa_parse(name, isa) != 0) {
    snprintf(msg, len, "%s '%s' is not an instruction-set path: one of "
             "auto, generic, avx2, avx512", from, name);
    return PK_EINVAL;
  }
  if (*isa == PK_ISA_AUTO) {
    *isa = best;
  } else if (*isa > best) {
    snprintf(msg, len, "%s '%s': this CPU (or build) has no such path; its "
             "widest is '%s'", from, name, pk_isa_name(best));
    return PK_EINVAL;
  }
  return PK_OK;
}

static pk_status fail_init(pk_context *c, pk_status st, int verbose,
                           const char *fmt, const char *arg) {
  if (verbose) {
    fputs("parkit: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
  }
  free(c);
  return st;
}

pk_status pk_init_config(pk_context **ctx, int *argc, char ***argv,
                         const pk_config *config) {
  settings s = {0};
  char setup_msg[512];
  pk_status setup;
  const char *env;
  pk_context *c;
  pk_status st;
  int workers = 0;

  if (ctx == NULL)
    return PK_EINVAL;
  *ctx = NULL;
  if ((argc == NULL) != (argv == NULL))
    return PK_EINVAL;
  take_args(argc, argv, &s);

  c = calloc(1, sizeof *c);
  if (c == NULL)
    return PK_ENOMEM;

  env = getenv("PARKIT_VERBOSE");
  c->verbose = s.verbose || (config && config->verbose) ||
               (env != NULL && *env != '\0' && strcmp(env, "0") != 0);
  if (s.backend == NULL && config != NULL && config->backend != NULL)
    s.backend = config->backend;
  if (s.backend == NULL && (env = getenv("PARKIT_BACKEND")) && *env)
    s.backend = env;
  if (s.backend == NULL)
    s.backend = default_backend();

  c->ops = pk__backend_find(s.backend);
  if (c->ops == NULL)
    return fail_init(c, PK_EBACKEND, c->verbose,
                     "backend '%s' is not one of this library's (see "
                     "pk_backends)",
                     s.backend);

  /* A bad setting fails pk_init at once, except on a backend whose
   * processes agree (mpi): there the environment may differ between ranks
   * (it reaches other hosts only through mpirun -x), and a rank that
   * returned alone would leave the others waiting in their start.  It
   * starts with defaults and the refusal is agreed below, naming it. */
  setup = PK_OK;
  if (s.workers != NULL)
    workers = parse_workers(s.workers);
  else if (config != NULL && config->workers != 0)
    workers = config->workers >= 1 && config->workers <= PK_MAX_WORKERS
                  ? config->workers
                  : -1;
  else if ((env = getenv("PARKIT_WORKERS")) && *env)
    workers = parse_workers(s.workers = env);
  if (workers < 0) {
    setup = PK_EINVAL;
    snprintf(setup_msg, sizeof setup_msg, "worker count '%s' is not a "
             "whole number from 1 to 4096",
             s.workers ? s.workers : "(config)");
    workers = 0;
  } else if (choose_isa(&s, config, &c->isa, setup_msg, sizeof setup_msg) !=
             PK_OK) {
    setup = PK_EINVAL;
    c->isa = pk_isa_best();
  }
  if (setup != PK_OK && c->ops->agree == NULL)
    return fail_init(c, setup, c->verbose, "%s", setup_msg);
  c->workers = workers ? workers : pk__cores();
  c->mpi_comm = config ? config->mpi_comm : NULL;

  /* Workers run BLAS on one thread each: no oversubscription. */
  c->blas_threads = pk__blas_get();
  pk__blas_single();

  /* Checked before the start, which forks the fork backend's workers; the
   * refusal waits for it, so that every mpi rank fails together. */
  if (setup == PK_OK)
    setup = pk__plans_setup(setup_msg, sizeof setup_msg);
  st = c->ops->start(c);
  if (st == PK_OK && (setup != PK_OK || c->ops->agree != NULL)) {
    if (setup != PK_OK) { /* printed below, once */
      c->status = setup;
      snprintf(c->msg, sizeof c->msg, "%s", setup_msg);
    }
    st = c->ops->agree ? c->ops->agree(c, setup) : setup;
  }
  if (st != PK_OK) {
    if (c->verbose)
      fprintf(stderr, "parkit: %s\n", c->msg[0] ? c->msg : pk_strerror(st));
    c->ops->stop(c);
    pk__blas_set(c->blas_threads);
    free(c);
    return st;
  }
  pk__log(c, "backend %s, %d workers, instruction set %s", c->ops->name,
          c->workers, pk_isa_name(c->isa));
  *ctx = c;
  return PK_OK;
}

pk_status pk_init(pk_context **ctx, int *argc, char ***argv) {
  return pk_init_config(ctx, argc, argv, NULL);
}

pk_status pk_finalize(pk_context **ctx) {
  pk_status st = PK_OK;
  pk_context *c;

  if (ctx == NULL || *ctx == NULL)
    return PK_OK;
  c = *ctx;
  pk__begin(c);
  /* As sqlite3_close with open statements: refuse, keep everything; on
     every rank, if an array is alive on any. */
  if (c->narrays != 0)
    st = pk__error(c, PK_ESTATE,
                   "pk_finalize: %ld arrays are still alive; destroy them "
                   "first",
                   c->narrays);
  if ((st = pk__agree(c, st)) != PK_OK)
    return st;
  /* Wisdom learnt since the last map (the one-array transforms'). */
  pk__plans_flush(NULL, 0);
  c->ops->stop(c);
  pk__blas_set(c->blas_threads);
  pk__scratch_release(&c->scratch, &c->scratch_cap);
  free(c->failed);
  free(c);
  *ctx = NULL;
  return PK_OK;
}

const char *pk_backend(const pk_context *ctx) {
  return ctx ? ctx->ops->name : NULL;
}

int pk_workers(const pk_context *ctx) { return ctx ? ctx->workers : 0; }

const size_t *pk_failed(const pk_context *ctx, size_t *n) {
  if (n)
    *n = ctx ? ctx->nfailed : 0;
  return ctx ? ctx->failed : NULL;
}

const pk_stats *pk_last_stats(const pk_context *ctx) {
  return ctx ? &ctx->stats : NULL;
}
