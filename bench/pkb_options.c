/*
 * parkit-bench's command line (bench/pkb.h): usage, options, the sweep of
 * batch sizes, and how many ranks run it.
 */
#include "pkb.h"

static const char usage[] =
    "usage: parkit-bench [options]\n"
    "Times parkit's kernels (pk_map; pk_map_n for the pairs) on every\n"
    "backend with 1 .. cores workers over a sweep of batch sizes, beside\n"
    "the code a user would write instead and the machine's limits\n"
    "(OpenBLAS dgemm, a triad loop), all measured in this run.  Each point:\n"
    "one warm-up, then the median, min and max of --reps runs; after each\n"
    "case, parkit's fastest beside python's.  The table goes to stdout,\n"
    "progress and diagnostics to stderr.\n"
    "\n"
    "cases (default: all; items are integers in [-5, 5) as float64):\n"
    "  det10     det of 10x10 matrices          counts 10 .. 100000\n"
    "  det100    det of 100x100 matrices        counts 10 .. 10000\n"
    "  slogdet   slogdet of 100x100 matrices    counts 10 .. 1000\n"
    "  autocorr  autocorr2d of 100x100 items    counts 10 .. 2000\n"
    "  fft2      fft2 of 100x100 complex items  counts 10 .. 5000\n"
    "  trivial   out = in + 1 on scalars (the cost of dispatch)\n"
    "                                           counts 10 .. 100000\n"
    "  corr9full, corr9same, corr31full, corr31same\n"
    "            correlate2d of 100x100 items with one 9x9 or 31x31\n"
    "            kernel image (pk_map_n, broadcast), full or same mode\n"
    "                                           counts 10 .. 1000\n"
    "baselines (default: all that are available):\n"
    "  loop      a plain OpenMP loop: LAPACKE_dgetrf per matrix (det,\n"
    "            slogdet), out[i] = in[i] + 1 (trivial)\n"
    "  fftw      one FFTW plan over the batch, fftw_plan_many_dft, 1 thread\n"
    "  python    numpy.linalg.det/slogdet, numpy.fft.fft2,\n"
    "            scipy.signal.correlate2d, scipy.signal.correlate(method=\n"
    "            'fft') (with the kernel image and mode in the corr cases),\n"
    "            1 BLAS thread, timed by py_baselines.py on the same inputs\n"
    "            written as .npy\n"
    "\n"
    "options (LIST is comma-separated):\n"
    "  --kernels LIST    cases to run\n"
    "  --backends LIST   parkit backends (default: all compiled in but mpi;\n"
    "                    under mpirun: serial and mpi, and no baselines;\n"
    "                    mpi's W is threads per rank; start it with\n"
    "                    mpirun --bind-to none -np R parkit-bench ...)\n"
    "  --baselines LIST  loop, fftw, python, or none\n"
    "  --workers LIST    worker counts (default 1 .. cores; serial: 1)\n"
    "  --sizes LIST      batch sizes for every case, replacing the sweeps\n"
    "  --max-count N     cap every sweep at N items\n"
    "  --reps N          timed runs per point (default 5)\n"
    "  --quick           sweeps of 10 .. 1000 items, 10x smaller caps, a\n"
    "                    shorter machine measurement and python budget\n"
    "  --csv FILE        write every row to FILE as CSV\n"
    "  --plot DIR        write PNG plots with gnuplot into DIR: time.png\n"
    "                    (time against batch size, log-log) and speedup.png\n"
    "                    (speedup over serial against workers)\n"
    "  --python PATH     the python3 to use (default /usr/bin/python3 if it\n"
    "                    has numpy and scipy, else python3)\n"
    "  --budget S        seconds a python point may take (default 40)\n"
    "  --help            this text\n"
    "\n"
    "py_baselines.py is looked for in $PARKIT_BENCH_PY, next to this\n"
    "program, then in " PKB_DATADIR ".\n"
    "Exits 0; 1 if a call fails or results disagree; 2 on a bad option.\n";

/* ------------------------------------------------------------ options */

int pkb_bad(const char *fmt, ...) {
  va_list ap;
  fputs("parkit-bench: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (--help lists the options)\n", stderr);
  return -1;
}

static int to_long(const char *s, long lo, long hi, long *v) {
  char *end;
  errno = 0;
  *v = strtol(s, &end, 10);
  return errno || end == s || *end || *v < lo || *v > hi ? -1 : 0;
}

/* Split a comma-separated list in place into at most max words. */
static int words(char *s, char **w, int max) {
  int n = 0;
  for (char *t = strtok(s, ","); t; t = strtok(NULL, ","))
    if (n < max)
      w[n++] = t;
    else
      return -1;
  return n;
}

int pkb_under_mpirun(void) {
  const char *v = getenv("OMPI_COMM_WORLD_SIZE");
  if (v == NULL)
    v = getenv("PMI_SIZE");
  return v != NULL && atoi(v) > 1;
}

int pkb_mpi_size(void) {
  const char *v = getenv("OMPI_COMM_WORLD_SIZE");
  if (v == NULL)
    v = getenv("PMI_SIZE");
  return v ? atoi(v) : 1;
}

int pkb_mpi_rank(void) {
  const char *v = getenv("OMPI_COMM_WORLD_RANK");
  if (v == NULL)
    v = getenv("PMI_RANK");
  return v ? atoi(v) : 0;
}

static int compiled(const char *b) {
  for (const char *const *p = pk_backends(); *p; p++)
    if (strcmp(*p, b) == 0)
      return 1;
  return 0;
}

static int opt_list(const char *opt, char *val, options *o) {
  char *w[64];
  int n = words(val, w, 64);
  long v;

  if (n <= 0)
    return pkb_bad("%s needs a list", opt);
  if (strcmp(opt, "--kernels") == 0) {
    memset(o->kase, 0, sizeof o->kase);
    for (int i = 0; i < n; i++) {
      size_t k = 0;
      while (k < NCASES && strcmp(pkb_cases[k].id, w[i]) != 0)
        k++;
      if (k == NCASES)
        return pkb_bad("--kernels: unknown case '%s' (det10, det100, slogdet, "
                   "autocorr, fft2, trivial, corr9full, corr9same, "
                   "corr31full, corr31same)", w[i]);
      o->kase[k] = 1;
    }
  } else if (strcmp(opt, "--backends") == 0) {
    if (n > 15)
      return pkb_bad("--backends: too many");
    for (int i = 0; i < n; i++) {
      if (strcmp(w[i], "none") == 0) {
        o->backends[0] = "none";
        o->backends[1] = NULL;
        return 0;
      }
      if (!compiled(w[i]))
        return pkb_bad("--backends: '%s' is not compiled into this parkit",
                   w[i]);
      if (strcmp(w[i], "mpi") == 0 && !pkb_under_mpirun())
        return pkb_bad("--backends: mpi needs parkit-bench started by mpirun");
      o->backends[i] = w[i];
    }
    o->backends[n] = NULL;
  } else if (strcmp(opt, "--baselines") == 0) {
    o->loop = o->fftw = o->python = 0;
    for (int i = 0; i < n; i++) {
      if (strcmp(w[i], "loop") == 0)
        o->loop = 1;
      else if (strcmp(w[i], "fftw") == 0)
        o->fftw = 1;
      else if (strcmp(w[i], "python") == 0)
        o->python = 1;
      else if (strcmp(w[i], "none") != 0)
        return pkb_bad("--baselines: unknown '%s' (loop, fftw, python, none)",
                   w[i]);
    }
  } else if (strcmp(opt, "--workers") == 0) {
    if (n > MAXW)
      return pkb_bad("--workers: at most %d counts", MAXW);
    for (int i = 0; i < n; i++) {
      if (to_long(w[i], 1, 4096, &v))
        return pkb_bad("--workers: '%s' is not a count 1 .. 4096", w[i]);
      o->workers[i] = (int)v;
    }
    o->nworkers = n;
  } else { /* --sizes */
    if (n > 32)
      return pkb_bad("--sizes: at most 32 sizes");
    for (int i = 0; i < n; i++) {
      if (to_long(w[i], 1, 100000000, &v))
        return pkb_bad("--sizes: '%s' is not a count 1 .. 1e8", w[i]);
      o->sizes[i] = (size_t)v;
    }
    o->nsizes = n;
  }
  return 0;
}

int pkb_parse(int argc, char **argv, options *o) {
  for (int i = 1; i < argc; i++) {
    char *a = argv[i], *val = NULL, *eq = strchr(a, '=');
    static const char *const lists[] = {"--kernels", "--backends",
                                        "--baselines", "--workers",
                                        "--sizes"};
    static const char *const valued[] = {"--max-count", "--reps", "--csv",
                                         "--plot", "--python", "--budget"};
    int takes = 0;
    long v;

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      exit(0);
    }
    if (strcmp(a, "--quick") == 0) {
      o->quick = 1;
      continue;
    }
    if (eq && strncmp(a, "--", 2) == 0) {
      *eq = '\0';
      val = eq + 1;
    }
    for (size_t k = 0; k < 5; k++)
      takes |= strcmp(a, lists[k]) == 0;
    for (size_t k = 0; k < 6; k++)
      takes |= 2 * (strcmp(a, valued[k]) == 0);
    if (!takes)
      return pkb_bad("%s: unknown option", a);
    if (val == NULL && (val = i + 1 < argc ? argv[++i] : NULL) == NULL)
      return pkb_bad("%s needs a value", a);
    if (takes == 1) {
      if (opt_list(a, val, o))
        return -1;
    } else if (strcmp(a, "--max-count") == 0) {
      if (to_long(val, 1, 100000000, &v))
        return pkb_bad("--max-count: '%s' is not a count 1 .. 1e8", val);
      o->maxcount = (size_t)v;
    } else if (strcmp(a, "--reps") == 0) {
      if (to_long(val, 1, MAXREPS, &v))
        return pkb_bad("--reps: '%s' is not 1 .. %d", val, MAXREPS);
      o->reps = (int)v;
    } else if (strcmp(a, "--budget") == 0) {
      char *end;
      o->budget = strtod(val, &end);
      if (*end || end == val || !(o->budget > 0))
        return pkb_bad("--budget: '%s' is not a positive number", val);
    } else if (strcmp(a, "--csv") == 0) {
      o->csv = val;
    } else if (strcmp(a, "--plot") == 0) {
      o->plot = val;
    } else {
      o->pyexe = val;
    }
  }
  /* The plots' folder made (or found writable) now, not after the sweep. */
  if (o->plot != NULL &&
      ((mkdir(o->plot, 0777) != 0 && errno != EEXIST) ||
       access(o->plot, W_OK | X_OK) != 0))
    return pkb_bad("--plot %s: %s", o->plot, strerror(errno));
  return 0;
}

/* The batch sizes of case c: --sizes, or 10, 100, ... up to its cap (and
 * the cap itself), a tenth of it with --quick, never above --max-count. */
int pkb_sweep(const options *o, const kcase *c, size_t *s) {
  size_t cap = c->cap / (o->quick ? 10 : 1);
  int n = 0;

  if (o->quick && cap > 1000)
    cap = 1000;
  if (o->maxcount && cap > o->maxcount)
    cap = o->maxcount;
  if (o->nsizes) {
    for (int i = 0; i < o->nsizes; i++)
      if (!o->maxcount || o->sizes[i] <= o->maxcount)
        s[n++] = o->sizes[i];
    return n;
  }
  for (size_t x = 10; x <= cap; x *= 10)
    s[n++] = x;
  if (n == 0 || s[n - 1] != cap)
    s[n++] = cap;
  return n;
}
