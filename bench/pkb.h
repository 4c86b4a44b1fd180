/*
 * parkit-bench's parts (bench/parkit_bench.c): the cases, the methods and
 * the rows of the tables that its files share.
 */
#ifndef PKB_H
#define PKB_H

#define _GNU_SOURCE
#include "baselines.h"
#include "machine.h"
#include "stats.h"

#include <parkit.h>
#include <parkit/fft.h>
#include <parkit/kernels.h>

#include <cblas.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PKB_DATADIR /* where make install puts py_baselines.py */
#define PKB_DATADIR "/usr/local/share/parkit"
#endif

#define MAXREPS 1000
#define MAXW 64     /* worker counts measured at most */
#define NREF 64     /* items compared between methods */
#define TOL 1e-8
#define NCASES 10  /* pkb_cases[] */

typedef enum { K_DET, K_SLOGDET, K_AUTOCORR, K_FFT2, K_INC, K_PAIR } kid;

typedef struct kcase {
  const char *id;
  kid k;
  int n;          /* items are n x n; 0: scalars */
  size_t cap;     /* largest batch of the default sweep */
  const char *py; /* py_baselines.py methods */
  int kn;         /* K_PAIR: one kn x kn kernel image for every item */
  pk_mode mode;   /* K_PAIR: scipy's mode */
} kcase;

/* What a case's items are and how its flops and bytes are counted. */
typedef struct shape {
  const pk_kernel *kernel;
  pk_dtype dtype;
  size_t ind, outd;    /* doubles per input, output item */
  double flops, bytes; /* per item */
  char item[32];
  char model[512];     /* the counts, said in words */
} shape;

typedef enum { M_PARKIT, M_LOOP, M_FFTW } mkind;

typedef struct method {
  mkind kind;
  char name[32];
  int workers;
  pk_context *ctx;
  int copy; /* 1: the input goes into an array the backend made */
} method;

/* One row of the tables, owning its method's name. */
typedef struct rec {
  pkb_row r;
  char method[40], item[32];
  size_t kc; /* index into cases */
} rec;

typedef struct point {
  const kcase *c;
  const shape *s;
  const double *x; /* the case's inputs; a prefix of count items */
  const double *y; /* K_PAIR: the kernel image, broadcast to every item */
  size_t count;
  int reps;
  double *ref;     /* NREF items of output from the first method */
  int have_ref;
} point;

typedef struct options {
  int kase[NCASES];            /* 1: run it */
  const char *backends[16];    /* NULL-terminated; [0] NULL: all */
  int loop, fftw, python;
  int workers[MAXW], nworkers; /* 0: 1 .. cores */
  size_t sizes[32];
  int nsizes;                  /* 0: each case's sweep */
  size_t maxcount;
  int reps, quick;
  double budget;
  const char *csv, *plot, *pyexe;
} options;

/* The cases (pkb_rows.c). */
extern const kcase pkb_cases[];

/* The limits of the machine on w threads the rows are set against; a
   call failed or results disagreed; progress is shown, at step of steps
   (pkb_rows.c). */
extern double pkb_lim_dgemm[MAXW + 1], pkb_lim_triad[MAXW + 1];
extern int pkb_failed, pkb_progress_on;
extern size_t pkb_step, pkb_steps;

/* Every row measured, in order (pkb_rows.c). */
extern struct pkb_rowlist {
  rec *v;
  size_t n, cap;
} pkb_rows;

/* The python found (pkb_python.c): interpreter, script, scratch folder. */
extern char pkb_pyexe[PATH_MAX], pkb_pyscript[PATH_MAX], pkb_tmpdir[PATH_MAX];

/* pkb_rows.c: rows, progress, failures. */
rec *pkb_add_row(void);
void pkb_fill_row(rec *e, size_t kc, const shape *s, const char *method,
                  const char *kind, int workers, int lw, size_t count,
                  const double *t, int reps);
int pkb_pk_fail(pk_context *ctx, const char *what, pk_status st);
void pkb_progress(const char *fmt, ...);
void pkb_progress_end(void);
int pkb_runs_ok(const char *cmd);
/* w clamped to 1 .. MAXW, an index of the limits. */
int pkb_limit_w(int w);

/* pkb_options.c: the command line. */
int pkb_bad(const char *fmt, ...);
int pkb_mpi_rank(void);
int pkb_mpi_size(void);
int pkb_parse(int argc, char **argv, options *o);
int pkb_sweep(const options *o, const kcase *c, size_t *s);
int pkb_under_mpirun(void);

/* pkb_python.c: numpy and scipy beside parkit. */
int pkb_find_python(const options *o);
void pkb_run_python(const options *o, pk_context *ctx, size_t kc,
                    const shape *s, const double *x, const double *y,
                    const size_t *sz, int nsz);

/* Whether a row's method is one of the python baselines. */
int pkb_is_python(const char *method);

/* pkb_report.c: tables and plots. */
int pkb_plots(const options *o, const char *machine);
void pkb_print_row(const rec *e);
void pkb_speedups(size_t kc);
void pkb_table_header(void);

#endif /* PKB_H */
