/*
 * What the example programs share: the options every one of them takes
 * (--backend, --workers, --count, --seed, --input, --output, --verify,
 * --help) plus a table of each program's own, the seeded random input,
 * messages that only rank 0 prints, and the --verify check against the
 * serial backend.  Not part of the library.
 */
#ifndef EXAMPLES_COMMON_H
#define EXAMPLES_COMMON_H

#include <parkit.h>

#include <stdint.h>
#include <stdio.h>

/* The options every program takes. */
typedef struct ex_opts {
  size_t count, workers;
  uint64_t seed;
  const char *backend, *input, *output;
  int verify;
  int pk_help;     /* --pk-help: pk_init prints, the program stops */
  long batch_axis; /* --input's batch axis (negative: from the end) */
  int argc;        /* the command line, as given (--verify reruns it) */
  char **argv;
} ex_opts;

/* The end of every program's usage text: the options ex_parse and
   ex_start take alike. */
#define EX_USAGE_COMMON                                                     \
  "  --backend B    serial, openmp, fork or mpi (default: openmp, or mpi "  \
  "under\n"                                                                 \
  "                 mpirun; also PARKIT_BACKEND)\n"                          \
  "  --workers W    workers: threads, or processes (default: all cores; "  \
  "also\n"                                                                  \
  "                 PARKIT_WORKERS; per rank under mpi)\n"                   \
  "  --verify       run again as a separate process on the serial backend " \
  "and exit\n"                                                              \
  "                 1 unless every result and the sum are the same bits\n" \
  "  --help         this text; --pk-help: the library's own options "     \
  "(--pk-isa,\n"                                                            \
  "                 --pk-verbose...), which the program also takes\n"

/* One option of a program's own: --name and where its value goes. */
typedef enum ex_kind {
  EX_SIZE,   /* a whole number into a size_t */
  EX_LONG,   /* a whole number, maybe negative, into a long */
  EX_FLAG,   /* no value: the int becomes 1 */
  EX_STRING  /* the word into a const char * */
} ex_kind;

typedef struct ex_opt {
  const char *name; /* with its dashes: "--h" */
  ex_kind kind;
  void *value;      /* size_t *, int * or const char ** */
} ex_opt;

/*
 * Parse argv into o (keep its defaults for what is not given) and the
 * program's own options (own: a table ended by a NULL name; may be NULL).
 * Skips --pk-* (pk_init's).  --help prints usage and exits 0.  Returns 0,
 * or -1 after printing what was wrong (the caller exits 2).
 */
int ex_parse(const char *prog, const char *usage, int argc, char **argv,
             ex_opts *o, const ex_opt *own);

/* printf to f, but only on rank 0: under mpirun every rank runs the
 * program, and every parkit error is agreed on, so rank 0 speaks for all.
 * Until ex_start, the rank is the launcher's (OMPI_COMM_WORLD_RANK). */
void ex_say(FILE *f, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* pk_init_config with o's backend and workers; then only rank 0 speaks.
 * Returns 0, or 1 after printing why. */
int ex_start(const char *prog, pk_context **ctx, int *argc, char ***argv,
             const ex_opts *o);

/* Print "prog: what: message" (the context's message if it has one) and
 * return 1, for `return ex_fail(...)`. */
int ex_fail(const char *prog, pk_context *ctx, const char *what,
            pk_status st);

/*
 * The seeded input.  x holds elements [first, first + n) of the whole
 * input (a rank's block): the generator jumps there, so every block is the
 * one the serial backend makes, whatever the number of ranks.
 * ex_fill_ints: integers in [lo, hi) as float64 (dets: -5, 5).
 * ex_fill_uniform: reals in [0, 1), 53 random bits each.
 */
void ex_fill_ints(double *x, size_t n, uint64_t seed, size_t first, int lo,
                  int hi);
void ex_fill_uniform(double *x, size_t n, uint64_t seed, size_t first);

/*
 * The input batch: --input read with pk_mpi_load_npy (with --batch-axis
 * K other than 0: read whole, and in one process mapped through a view of
 * its axis K, no copy made; under mpirun the axis moved on rank 0 and the
 * result scattered), or a new distributed array of dtype and shape filled
 * by fill(x, n, seed, first) (n and first in doubles).  *keep gets the
 * array *in is a view of, or NULL: destroy it after *in.  Collective.
 * Returns 0, or 1 after printing.
 */
int ex_input(const char *prog, pk_context *ctx, const ex_opts *o,
             pk_dtype dtype, int ndim, const size_t *shape,
             void (*fill)(double *, size_t, uint64_t, size_t),
             pk_array **in, pk_array **keep);

/*
 * The end of the first line of a program's report, "R ranks x W workers"
 * or "W workers"; its time line (t as ex_map_sum gives it); and its last
 * steps: out to --output, then --verify against
 * sum.  ex_finish returns 0, or 1 after printing what failed.
 */
void ex_say_workers(const pk_context *ctx);
void ex_say_time(const double *t);

/* The program's work: *out from kernel k over the nin inputs (pk_map_n),
   then sum = pk_reduce PK_SUM of it; t[0], t[1], t[2] the times before,
   after the map and after the reduce.  PK_OK, or what failed. */
pk_status ex_map_sum(pk_context *ctx, const pk_kernel *k, int nin,
                     const pk_array *const *in, pk_array **out, double *sum,
                     double *t);
int ex_finish(const char *prog, pk_context *ctx, const ex_opts *o,
              const pk_array *out, const double *sum);

/*
 * --verify: run this program again, as a separate process on the serial
 * backend with the same input and instruction-set path, and compare every
 * output item of out and the reduction sum (one double, two for complex
 * output: pk_reduce PK_SUM of out) with its results bit for bit, so that
 * a difference between processes (a plan measured differently) shows.
 * Prints the verdict; returns 0 if all agree, else 1.  Collective (rank 0
 * runs and compares; every rank returns its verdict).
 */
int ex_verify(const char *prog, pk_context *ctx, const ex_opts *o,
              const pk_array *out, const double *sum);

#endif /* EXAMPLES_COMMON_H */
