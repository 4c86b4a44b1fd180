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
  const char *backend, *backend_from; /* the value, and where it came from */
  const char *workers, *workers_from;
  const char *isa;
  int verbose, help;
  char bad[160]; /* the first unknown --pk- option, or a value missing */
} settings;

/* --pk-NAME=VALUE or --pk-NAME VALUE at argv[i]: the value, and how many
   arguments it took (0: not this option). */
static int option(int argc, char **argv, int i, const char *name,
                  const char **value) {
  size_t n = strlen(name);
  const char *a = argv[i];

  if (strncmp(a, name, n) != 0)
    return 0;
  if (a[n] == '=') {
    *value = a + n + 1;
    return 1;
  }
  if (a[n] != '\0')
    return 0;
  *value = i + 1 < argc ? argv[i + 1] : NULL;
  return i + 1 < argc ? 2 : 1;
}

static void take_args(int *argc, char ***argv, settings *s) {
  int i, k;

  if (argc == NULL || argv == NULL || *argv == NULL)
    return;
  for (i = 1; i < *argc;) {
    const char *a = (*argv)[i], *v = NULL;
    int needs = 1; /* an option with a value, or none */
    if (strcmp(a, "--") == 0)
      break; /* the rest is the program's, as after getopt's "--" */
    if ((k = option(*argc, *argv, i, "--pk-backend", &v)) != 0)
      s->backend = v, s->backend_from = "--pk-backend";
    else if ((k = option(*argc, *argv, i, "--pk-workers", &v)) != 0)
      s->workers = v, s->workers_from = "--pk-workers";
    else if ((k = option(*argc, *argv, i, "--pk-isa", &v)) != 0)
      s->isa = v;
    else if (strcmp(a, "--pk-verbose") == 0)
      s->verbose = 1, k = 1, needs = 0;
    else if (strcmp(a, "--pk-help") == 0)
      s->help = 1, k = 1, needs = 0;
    else if (strncmp(a, "--pk-", 5) == 0) {
      needs = 0;
      if (!s->bad[0])
        snprintf(s->bad, sizeof s->bad, "unknown option %s (parkit's: "
                 "--pk-backend, --pk-workers, --pk-isa, --pk-verbose, "
                 "--pk-help)", a);
      k = 1;
    } else {
      i++;
      continue;
    }
    if (v == NULL && needs && !s->bad[0])
      snprintf(s->bad, sizeof s->bad, "option %s needs a value", a);
    while (k-- > 0)
      drop_arg(argc, *argv, i);
  }
}

static const char help[] =
    "parkit's options (taken out of argv by pk_init) and environment:\n"
    "  --pk-backend=NAME   PARKIT_BACKEND   serial, openmp, fork or mpi\n"
    "                                       (default: mpi under mpirun, else\n"
    "                                       openmp)\n"
    "  --pk-workers=N      PARKIT_WORKERS   threads, processes, or threads a\n"
    "                                       rank (default: the cores)\n"
    "  --pk-isa=PATH       PARKIT_ISA       auto, generic, avx2 or avx512\n"
    "  --pk-verbose        PARKIT_VERBOSE=1 say what parkit decides, on stderr\n"
    "  --pk-help                            this text\n"
    "  PARKIT_BIND=0        leave fork workers unbound\n"
    "  PARKIT_START=HOW     how fork workers are made: auto (default), fork\n"
    "                       or forkserver\n"
    "  PARKIT_MPI_RANKS_PER_NODE=k  test several nodes on one host\n"
    "  PARKIT_MPI_PLUGIN    the mpi backend's plugin, if not the installed "
    "one\n";

/* This process's rank under a launcher (mpirun), 0 without one. */
static int launcher_rank(void) {
  const char *v = getenv("OMPI_COMM_WORLD_RANK");
  if (v == NULL)
    v = getenv("PMI_RANK");
  return v != NULL ? atoi(v) : 0;
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
    snprintf(msg, len, "%s=%s is not an instruction-set path: one of "
             "auto, generic, avx2, avx512", from, name);
    return PK_EINVAL;
  }
  if (*isa == PK_ISA_AUTO) {
    *isa = best;
  } else if (*isa > best) {
    snprintf(msg, len, "%s=%s: this CPU (or build) has no such path; its "
             "widest is '%s'", from, name, pk_isa_name(best));
    return PK_EINVAL;
  }
  return PK_OK;
}

static pk_status fail_init(pk_context *c, pk_status st, int verbose,
                           const char *fmt, const char *arg) {
  pk__init_say(fmt, arg);
  if (verbose)
    fprintf(stderr, "parkit: %s\n", pk_errmsg(NULL));
  free(c);
  return st;
}

pk_status pk_init_config(pk_context **ctx, int *argc, char ***argv,
                         const pk_config *config) {
  settings s = {0};
  char setup_msg[512], config_workers[24];
  pk_status setup;
  const char *env;
  pk_context *c;
  pk_status st;
  int workers = 0;

  pk__init_say("%s", "");
  if (ctx == NULL) {
    pk__init_say("pk_init: ctx is NULL");
    return PK_EINVAL;
  }
  *ctx = NULL;
  if ((argc == NULL) != (argv == NULL)) {
    pk__init_say("pk_init: argc and argv must be both NULL or both given");
    return PK_EINVAL;
  }
  take_args(argc, argv, &s);
  if (s.help && launcher_rank() == 0) { /* once, under mpirun too */
    fputs(help, stdout);
    pk__plans_help(stdout);
    fputs("An option also takes its value as the next argument "
          "(--pk-workers 4).\n", stdout);
  }

  c = calloc(1, sizeof *c);
  if (c == NULL) {
    pk__init_say("pk_init: out of memory");
    return PK_ENOMEM;
  }

  env = getenv("PARKIT_VERBOSE");
  c->verbose = s.verbose || (config && config->verbose) ||
               (env != NULL && *env != '\0' && strcmp(env, "0") != 0);
  if (s.backend == NULL && config != NULL && config->backend != NULL)
    s.backend = config->backend, s.backend_from = "pk_config.backend";
  if (s.backend == NULL && (env = getenv("PARKIT_BACKEND")) && *env)
    s.backend = env, s.backend_from = "PARKIT_BACKEND";
  if (s.backend == NULL)
    s.backend = default_backend(), s.backend_from = "the default";

  c->ops = pk__backend_find(s.backend, setup_msg, sizeof setup_msg);
  if (c->ops == NULL && setup_msg[0]) {
    char why[sizeof setup_msg];
    memcpy(why, setup_msg, sizeof why);
    snprintf(setup_msg, sizeof setup_msg, "%s=%s: %.400s", s.backend_from,
             s.backend, why);
    return fail_init(c, PK_EBACKEND, c->verbose, "%s", setup_msg);
  }
  if (c->ops == NULL) {
    char names[128] = "";
    for (const char *const *b = pk_backends(); *b; b++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
               names[0] ? ", " : "", *b);
    snprintf(setup_msg, sizeof setup_msg, "%s=%s is not a backend of this "
             "library (%s)", s.backend_from, s.backend, names);
    return fail_init(c, PK_EBACKEND, c->verbose, "%s", setup_msg);
  }

  /* A bad setting fails pk_init at once, except on a backend whose
   * processes agree (mpi): there the environment may differ between ranks
   * (it reaches other hosts only through mpirun -x), and a rank that
   * returned alone would leave the others waiting in their start.  It
   * starts with defaults and the refusal is agreed below, naming it. */
  setup = PK_OK;
  if (s.bad[0]) {
    setup = PK_EINVAL;
    snprintf(setup_msg, sizeof setup_msg, "%s", s.bad);
  } else if (s.workers_from != NULL) {
    workers = s.workers ? parse_workers(s.workers) : -1;
  } else if (config != NULL && config->workers != 0) {
    workers = config->workers >= 1 && config->workers <= PK_MAX_WORKERS
                  ? config->workers
                  : -1;
    if (workers < 0) {
      snprintf(config_workers, sizeof config_workers, "%d", config->workers);
      s.workers = config_workers, s.workers_from = "pk_config.workers";
    }
  } else if ((env = getenv("PARKIT_WORKERS")) && *env) {
    workers = parse_workers(s.workers = env);
    s.workers_from = "PARKIT_WORKERS";
  }
  if (setup != PK_OK) {
    workers = 0;
  } else if (workers < 0) {
    setup = PK_EINVAL;
    snprintf(setup_msg, sizeof setup_msg, "%s=%s: the number of workers "
             "is a whole number from 1 to 4096", s.workers_from,
             s.workers ? s.workers : "");
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
  if (config && config->mpi_fcomm && !c->mpi_comm) {
    c->mpi_fcomm = *config->mpi_fcomm;
    c->has_fcomm = 1;
  }

  /* Workers run BLAS on one thread each: no oversubscription, and no
     idle BLAS threads spinning beside them. */
  pk__blas_hold();
  pk__blas_pool_stop();

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
    pk__init_say("%s", c->msg[0] ? c->msg : pk_strerror(st));
    if (c->verbose)
      fprintf(stderr, "parkit: %s\n", pk_errmsg(NULL));
    c->ops->stop(c);
    pk__blas_release();
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
  pk__blas_release();
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
