/*
 * parkit-bench's python baselines (bench/pkb.h): numpy and scipy timed by
 * py_baselines.py on the same inputs, written as .npy.
 */
#include "pkb.h"

static const char *const py_names[][2] = {
    {"det", "numpy.linalg.det"},
    {"slogdet", "numpy.linalg.slogdet"},
    {"fft2", "numpy.fft.fft2"},
    {"correlate2d", "scipy correlate2d"},
    {"correlate", "scipy correlate fft"},
    {"pair_direct", "scipy correlate2d"},
    {"pair_fft", "scipy correlate fft"},
};

/* --------------------------------------------------------------- python */

char pkb_pyexe[PATH_MAX], pkb_pyscript[PATH_MAX];
char pkb_tmpdir[PATH_MAX];

/* The interpreter with numpy and scipy, and the script; 0 if found. */
int pkb_find_python(const options *o) {
  static const char *const tries[] = {"/usr/bin/python3", "python3"};
  char cmd[PATH_MAX + 96], exe[PATH_MAX];
  const char *env = getenv("PARKIT_BENCH_PY");
  ssize_t len;

  for (size_t i = 0; i < 2 && !pkb_pyexe[0]; i++) {
    const char *p = o->pyexe ? o->pyexe : tries[i];
    snprintf(cmd, sizeof cmd,
             "'%s' -c 'import numpy, scipy.signal' >/dev/null 2>&1", p);
    if (pkb_runs_ok(cmd))
      snprintf(pkb_pyexe, sizeof pkb_pyexe, "%s", p);
    if (o->pyexe)
      break;
  }
  if (!pkb_pyexe[0]) {
    fprintf(stderr, "parkit-bench: no python3 with numpy and scipy (%s): "
            "no python baselines\n", o->pyexe ? o->pyexe
                                               : "tried /usr/bin/python3, "
                                                 "python3");
    return -1;
  }
  if (env && access(env, R_OK) == 0) {
    snprintf(pkb_pyscript, sizeof pkb_pyscript, "%s", env);
    return 0;
  }
  /* Next to the program: the build tree, or a copy installed beside it. */
  if ((len = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
    char *slash;
    exe[len] = '\0';
    if ((slash = strrchr(exe, '/')) != NULL) {
      *slash = '\0';
      size_t n = strlen(exe);
      if (n + sizeof "/py_baselines.py" <= sizeof pkb_pyscript) {
        memcpy(pkb_pyscript, exe, n);
        memcpy(pkb_pyscript + n, "/py_baselines.py", sizeof "/py_baselines.py");
        if (access(pkb_pyscript, R_OK) == 0)
          return 0;
      }
    }
  }
  snprintf(pkb_pyscript, sizeof pkb_pyscript, "%s/py_baselines.py",
           PKB_DATADIR);
  if (access(pkb_pyscript, R_OK) == 0)
    return 0;
  fprintf(stderr, "parkit-bench: py_baselines.py not found (set "
          "PARKIT_BENCH_PY): no python baselines\n");
  pkb_pyexe[0] = '\0';
  return -1;
}

int pkb_is_python(const char *method) {
  for (size_t i = 0; i < sizeof py_names / sizeof py_names[0]; i++)
    if (strcmp(py_names[i][1], method) == 0)
      return 1;
  return 0;
}

static const char *py_label(const char *m) {
  for (size_t i = 0; i < sizeof py_names / sizeof py_names[0]; i++)
    if (strcmp(py_names[i][0], m) == 0)
      return py_names[i][1];
  return m;
}

/* x, count items of n x n, saved as .npy at path through ctx; 0 if
 * written, else said why. */
static int save(pk_context *ctx, const char *path, pk_dtype dt, size_t count,
                size_t n, const double *x) {
  size_t shp[3] = {count, n, n};
  pk_array *a = NULL;
  pk_status st = pk_array_wrap(ctx, dt, 3, shp, (void *)x, &a);

  if (st == PK_OK)
    st = pk_array_save_npy(ctx, a, path);
  pk_array_destroy(&a);
  if (st != PK_OK)
    pkb_pk_fail(ctx, path, st);
  return st == PK_OK ? 0 : -1;
}

/*
 * The python baselines of case kc on the inputs x (the largest batch; for
 * a pair case, with the kernel image y), written as .npy through parkit
 * (ctx), one interpreter for the whole sweep.  One BLAS thread: numpy
 * stands beside the serial backend.
 */
void pkb_run_python(const options *o, pk_context *ctx, size_t kc,
                    const shape *s, const double *x, const double *y,
                    const size_t *sz, int nsz) {
  const kcase *c = &pkb_cases[kc];
  char path[PATH_MAX], ypath[PATH_MAX], cmd[4 * PATH_MAX], list[512] = "",
                                                       line[512];
  char py[64];
  FILE *f;
  size_t len = 0;

  for (int i = 0; i < nsz; i++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%zu",
                            i ? "," : "", sz[i]);
  if (snprintf(path, sizeof path, "%s/%s.npy", pkb_tmpdir, c->id) >=
          (int)sizeof path ||
      snprintf(ypath, sizeof ypath, "%s/%s-b.npy", pkb_tmpdir, c->id) >=
          (int)sizeof ypath) {
    fprintf(stderr, "parkit-bench: %s: path too long\n", pkb_tmpdir);
    return;
  }
  if (save(ctx, path, s->dtype, sz[nsz - 1], (size_t)c->n, x) != 0)
    return;
  if (y != NULL && save(ctx, ypath, PK_F64, 1, (size_t)c->kn, y) != 0) {
    remove(path);
    return;
  }
  len = (size_t)snprintf(cmd, sizeof cmd,
                         "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "
                         "MKL_NUM_THREADS=1 '%s' '%s' --reps %d --budget %g",
                         pkb_pyexe, pkb_pyscript, o->reps, o->budget);
  if (y != NULL)
    len += (size_t)snprintf(cmd + len, sizeof cmd - len,
                            " --second '%s' --mode %s", ypath,
                            c->mode == PK_MODE_FULL    ? "full"
                            : c->mode == PK_MODE_SAME ? "same"
                                                      : "valid");
  snprintf(py, sizeof py, "%s", c->py);
  for (char *m = strtok(py, ","); m; m = strtok(NULL, ","))
    len += (size_t)snprintf(cmd + len, sizeof cmd - len, " %s:'%s':%s", m,
                            path, list);
  pkb_progress("%s: python baselines (%s)", c->id, c->py);
  if ((f = popen(cmd, "r")) == NULL)
    fprintf(stderr, "parkit-bench: cannot run %s\n", pkb_pyexe);
  while (f != NULL && fgets(line, sizeof line, f)) {
    char m[32];
    size_t n;
    int reps;
    double t[3];
    rec *e;
    if (sscanf(line, "time %31s %zu %d %lf %lf %lf", m, &n, &reps, &t[0],
               &t[1], &t[2]) == 6) {
      if ((e = pkb_add_row()) == NULL)
        break;
      pkb_fill_row(e, kc, s, py_label(m), "baseline", 1, 1, n, t, 1);
      e->r.reps = reps;
      e->r.med = t[0], e->r.min = t[1], e->r.max = t[2];
    } else if (strncmp(line, "skip ", 5) == 0) {
      pkb_progress_end();
      fprintf(stderr, "parkit-bench: python: %s", line);
    }
  }
  if (f != NULL && pclose(f) != 0) {
    pkb_progress_end();
    fprintf(stderr, "parkit-bench: %s %s failed\n", pkb_pyexe, pkb_pyscript);
  }
  remove(path);
  if (y != NULL)
    remove(ypath);
}
