/*
 * parkit-bench: parkit's kernels on every backend and worker count, over a
 * sweep of batch sizes, beside the code a user would otherwise write and
 * the machine's own limits.  Its usage is in pkb_options.c.
 */
#include "pkb.h"

#include "fftplan.h" /* pk__fft_fast_cols, _rows: the grids parkit pads to */

/* ------------------------------------------------------------- cases */

/* The FFT grid parkit pads an n x n span to: the library's own rule
 * (fftplan.c; correlate2d may take fewer rows and columns and sum those
 * they alias directly, and pair real rows in complex transforms, which
 * this credit leaves out). */
static void grid_of(int n, int *H, int *W) {
  *H = (int)pk__fft_fast_cols((size_t)n);
  *W = (int)pk__fft_fast_rows((size_t)n, *H);
}

static void shape_of(const kcase *c, shape *s) {
  double n = c->n, nn = n * n;
  pk_item it = {.dtype = PK_F64, .ndim = 2, .shape = {c->n, c->n}};

  s->dtype = PK_F64;
  s->ind = c->n ? (size_t)nn : 1;
  snprintf(s->item, sizeof s->item, "%dx%d", c->n, c->n);
  switch (c->k) {
  case K_DET:
  case K_SLOGDET:
    s->kernel = c->k == K_DET ? pk_kernel_det() : pk_kernel_slogdet();
    s->outd = c->k == K_DET ? 1 : 2;
    s->flops = pkb_flops_lu(n);
    s->bytes = 8 * (nn + s->outd);
    snprintf(s->model, sizeof s->model,
             "flops 2/3 n^3 = %.0f per matrix (LU); bytes %.0f per matrix "
             "(read it, write the result)", s->flops, s->bytes);
    break;
  case K_AUTOCORR: {
    /* parkit picks direct or FFT by its cost model: count the flops of
     * the method it picks, found by comparing the costs of the tables. */
    const pk_kernel *a = pk_kernel_autocorr2d(PK_AUTOCORR_AUTO);
    const pk_kernel *f = pk_kernel_autocorr2d(PK_AUTOCORR_FFT);
    int H, W;
    grid_of(2 * c->n - 1, &H, &W);
    int byfft = a->cost(a, &it) == f->cost(f, &it);
    s->kernel = a;
    s->outd = (size_t)(2 * c->n - 1) * (size_t)(2 * c->n - 1);
    s->bytes = 8 * (nn + (double)s->outd);
    if (byfft) {
      s->flops = pkb_flops_autocorr_fft(H, W);
      snprintf(s->model, sizeof s->model,
               "parkit picks the FFT method: flops 2 x 2.5 N log2 N + 3 "
               "H(W/2+1), N = HW, %dx%d padded grid = %.3g per item, "
               "credited to every method (scipy correlate2d does ~%.2gx "
               "that directly); bytes %.0f per item",
               H, W, s->flops,
               2 * nn * nn / s->flops, s->bytes);
    } else {
      s->flops = pkb_flops_autocorr_direct(n, n);
      snprintf(s->model, sizeof s->model,
               "parkit picks the direct method: flops w^2 h(h+1) = %.3g "
               "per item (half the lags), credited to every method; bytes "
               "%.0f per item", s->flops, s->bytes);
    }
    break;
  }
  case K_FFT2:
    s->kernel = pk_kernel_fft2();
    s->dtype = PK_C128;
    s->ind = s->outd = 2 * (size_t)nn;
    s->flops = pkb_flops_fft(n, n);
    s->bytes = 32 * nn;
    snprintf(s->model, sizeof s->model,
             "complex input; flops 5 N log2 N, N = hw = %.0f: %.3g per "
             "item; bytes %.0f per item (16 in, 16 out per point)", nn,
             s->flops, s->bytes);
    break;
  case K_PAIR: {
    /* As autocorr: the flops of the method parkit picks.  scipy keeps
     * 'same' from full result kn / 2 on; parkit's grid holds that window
     * unaliased (kernels/correlate2d.c, grid). */
    pk_item its[2] = {it, {.dtype = PK_F64, .ndim = 2,
                           .shape = {c->kn, c->kn}}};
    const pk_kernel *a = pk_kernel_correlate2d(c->mode, PK_AUTOCORR_AUTO);
    const pk_kernel *f = pk_kernel_correlate2d(c->mode, PK_AUTOCORR_FFT);
    int full = c->n + c->kn - 1, len = c->mode == PK_MODE_FULL ? full : c->n;
    int lo = c->mode == PK_MODE_FULL ? 0 : c->kn / 2;
    int span = full - lo > lo + len ? full - lo : lo + len;
    span = span > c->n ? span : c->n; /* kn <= n in every case */
    int H, W;
    grid_of(span, &H, &W);
    double prod = pkb_pair_products(n, c->kn, lo, len);
    const char *mode = c->mode == PK_MODE_FULL ? "full" : "same";
    s->kernel = a;
    s->outd = (size_t)len * (size_t)len;
    s->bytes = 8 * (nn + (double)s->outd);
    snprintf(s->item, sizeof s->item, "%dx%d with %dx%d", c->n, c->n,
             c->kn, c->kn);
    if (a->cost(a, its) == f->cost(f, its)) {
      s->flops = 2 * pkb_flops_rfft(H, W) + 6.0 * H * (W / 2 + 1);
      snprintf(s->model, sizeof s->model,
               "correlate2d(a, b, '%s'), b one %dx%d kernel image broadcast "
               "(pk_map_n); parkit picks the FFT method: flops 2 x 2.5 N "
               "log2 N + 6 H(W/2+1), N = HW, %dx%d padded grid = %.3g per "
               "item (b's transform once), credited to every method (a "
               "direct sum does ~%.2gx that); bytes %.0f per item", mode,
               c->kn, c->kn, H, W, s->flops, 2 * prod * prod / s->flops,
               s->bytes);
    } else {
      s->flops = 2 * prod * prod;
      snprintf(s->model, sizeof s->model,
               "correlate2d(a, b, '%s'), b one %dx%d kernel image broadcast "
               "(pk_map_n); parkit picks the direct method: flops 2 x the "
               "products of the sums kept = %.3g per item, credited to "
               "every method; bytes %.0f per item", mode, c->kn, c->kn,
               s->flops, s->bytes);
    }
    break;
  }
  case K_INC:
    s->kernel = pkb_kernel_inc();
    s->outd = 1;
    s->flops = 0;
    s->bytes = 16;
    snprintf(s->item, sizeof s->item, "scalar");
    snprintf(s->model, sizeof s->model,
             "out[i] = in[i] + 1, parkit with PK_INLINE_NEVER: the time is "
             "the dispatch; no flops; bytes 16 per item");
    break;
  }
}

/* ------------------------------------------------------------ running */

static int quiet; /* an MPI rank other than 0 */

/* n doubles on a 64-byte boundary, as FFTW and numpy allocate: the SIMD
 * paths FFTW plans for depend on it. */
static double *aligned(size_t n) {
  void *p;
  return posix_memalign(&p, 64, n * sizeof(double) + 64) ? NULL : p;
}

/* Compare the first items of out with the reference, or make it. */
static void check(const char *what, const double *out, size_t n,
                  double *ref, int *have) {
  size_t bad = 0;

  if (!*have) {
    memcpy(ref, out, n * sizeof *ref);
    *have = 1;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    double s = fmax(1, fmax(fabs(out[i]), fabs(ref[i])));
    if (!(fabs(out[i] - ref[i]) <= TOL * s) &&
        !(isinf(out[i]) && out[i] == ref[i]) && bad++ < 2) {
      pkb_progress_end();
      fprintf(stderr, "parkit-bench: WARNING: %s: element %zu is %.17g, "
              "the first method gave %.17g\n", what, i, out[i], ref[i]);
    }
  }
  if (bad)
    pkb_failed = 1;
}

/* The data x as an input of m: copied into an array the backend made, or
 * wrapped where it is. */
static pk_status input(method *m, pk_dtype dt, int ndim, const size_t *shp,
                       const double *x, pk_array **a) {
  pk_status st;

  if (!m->copy)
    return pk_array_wrap(m->ctx, dt, ndim, shp, (void *)x, a);
  st = pk_array_create(m->ctx, dt, ndim, shp, a);
  if (st == PK_OK)
    memcpy(pk_array_data(*a), x, pk_array_nbytes(*a));
  return st;
}

/* Times of one parkit method at one point into t[0 .. reps); *inl and
 * *est from the statistics of the last run. */
static int run_parkit(method *m, point *p, double *t, int *inl,
                      double *est) {
  size_t shp[3] = {p->count, (size_t)p->c->n, (size_t)p->c->n};
  int ndim = p->c->n ? 3 : 1;
  /* The trivial case measures the dispatch: never let the cost model run
   * it inline.  The others run as a program would, with the defaults. */
  pk_map_opts mo = {.inlining = p->c->k == K_INC ? PK_INLINE_NEVER
                                                 : PK_INLINE_AUTO};
  size_t kshp[3] = {1, (size_t)p->c->kn, (size_t)p->c->kn};
  pk_array *in = NULL, *kimg = NULL, *out = NULL;
  pk_status st;
  int rc = -1;
  char what[96];

  snprintf(what, sizeof what, "%s %s/%d count %zu", p->c->id, m->name,
           m->workers, p->count);
  st = input(m, p->s->dtype, ndim, shp, p->x, &in);
  if (st == PK_OK && p->c->k == K_PAIR)
    st = input(m, PK_F64, 3, kshp, p->y, &kimg);
  if (st != PK_OK) {
    pkb_pk_fail(m->ctx, "pk_array_create", st);
    goto done;
  }
  for (int k = -1; k < p->reps; k++) {
    double t0 = pkb_now();
    if (kimg != NULL) {
      const pk_array *const ins[2] = {in, kimg};
      st = pk_map_n(m->ctx, p->s->kernel, 2, ins, 1, &out, &mo);
    } else {
      st = pk_map(m->ctx, p->s->kernel, in, &out, &mo);
    }
    if (st != PK_OK) {
      pkb_pk_fail(m->ctx, what, st);
      goto done;
    }
    if (k >= 0)
      t[k] = pkb_now() - t0;
  }
  *inl = pk_last_stats(m->ctx)->ran_inline;
  *est = pk_last_stats(m->ctx)->est_seconds;
  check(what, pk_array_data(out),
        (p->count < NREF ? p->count : NREF) * p->s->outd, p->ref,
        &p->have_ref);
  rc = 0;
done:
  pk_array_destroy(&out);
  pk_array_destroy(&kimg);
  pk_array_destroy(&in);
  return rc;
}

/* Times of one baseline written in C. */
static int run_c(method *m, point *p, double *t) {
  size_t nout = p->count * p->s->outd;
  double *out = aligned(nout);
  pkb_fftw *plan = NULL;
  int rc = 0, blas = openblas_get_num_threads();
  char what[96];

  snprintf(what, sizeof what, "%s %s/%d count %zu", p->c->id, m->name,
           m->workers, p->count);
  if (out == NULL || (m->kind == M_FFTW &&
                      (plan = pkb_fftw_plan(p->c->n, p->c->n, p->count, p->x,
                                            out)) == NULL)) {
    pkb_progress_end();
    fprintf(stderr, "parkit-bench: %s: out of memory or no FFTW plan\n",
            what);
    pkb_failed = 1;
    free(out);
    return -1;
  }
  /* What a careful user does: no OpenBLAS threads inside OpenMP threads;
   * set outside the timed runs, as a program sets it once. */
  openblas_set_num_threads(1);
  for (int k = -1; k < p->reps && rc == 0; k++) {
    double t0 = pkb_now();
    if (m->kind == M_FFTW)
      pkb_fftw_run(plan);
    else if (p->c->k == K_INC)
      pkb_inc_loop(p->x, out, p->count, m->workers);
    else
      rc = pkb_lu_loop(p->x, p->count, p->c->n, m->workers,
                       p->c->k == K_SLOGDET, out);
    if (k >= 0)
      t[k] = pkb_now() - t0;
  }
  openblas_set_num_threads(blas);
  if (rc == 0)
    check(what, out, (p->count < NREF ? p->count : NREF) * p->s->outd,
          p->ref, &p->have_ref);
  else {
    pkb_progress_end();
    fprintf(stderr, "parkit-bench: %s: out of memory or dgetrf pkb_failed\n",
            what);
    pkb_failed = 1;
  }
  pkb_fftw_destroy(&plan);
  free(out);
  return rc;
}

/* lw: the threads the machine's limits are taken on (all the ranks'). */

/* --------------------------------------------------------------- main */

/* Every (backend, workers) context, made once and kept for the whole
 * sweep: pools start once, as a program that maps many times has them. */
static int make_contexts(const options *o, const int *wl, int nw,
                         method *m, int max) {
  /* Under mpirun the other ranks wait, polling, while rank 0 times a
   * backend of its own: by default only serial (for the pkb_speedups) runs
   * beside mpi there. */
  static const char *const under[] = {"serial", "mpi", NULL};
  const char *const *bl = o->backends[0]   ? o->backends
                          : pkb_under_mpirun() ? under
                                           : pk_backends();
  int n = 0;

  if (o->backends[0] && strcmp(o->backends[0], "none") == 0)
    return 0;
  for (; *bl; bl++) {
    int serial = strcmp(*bl, "serial") == 0, mpi = strcmp(*bl, "mpi") == 0;
    if (mpi && !pkb_under_mpirun())
      continue;
    if (quiet && !mpi)
      continue;
    for (int i = 0; i < nw && n < max; i++) {
      pk_config cfg = {.backend = *bl, .workers = wl[i]};
      method *x = &m[n];
      pk_status st;
      if (serial && wl[i] != 1)
        continue;
      memset(x, 0, sizeof *x);
      x->kind = M_PARKIT;
      x->workers = wl[i];
      /* serial and openmp read the user's memory where it is; the others
       * get the inputs in memory they made (shared, for fork), as a
       * program that loads its data into parkit's arrays does. */
      x->copy = !serial && strcmp(*bl, "openmp") != 0;
      snprintf(x->name, sizeof x->name, "%s", *bl);
      if (mpi) /* W is then threads per rank */
        snprintf(x->name, sizeof x->name, "mpi(%d ranks)", pkb_mpi_size());
      if ((st = pk_init_config(&x->ctx, NULL, NULL, &cfg)) != PK_OK) {
        fprintf(stderr, "parkit-bench: pk_init %s/%d: %s: skipped\n", *bl,
                wl[i], pk_strerror(st));
        continue;
      }
      x->workers = pk_workers(x->ctx);
      if (mpi) {
        /* The backend caps threads per rank at the rank's cores: keep one
         * context per count it gives (every rank decides alike). */
        int dup = 0;
        for (int j = 0; j < n; j++)
          dup |= m[j].ctx && strcmp(m[j].name, x->name) == 0 &&
                 m[j].workers == x->workers;
        if (dup) {
          pk_finalize(&x->ctx);
          continue;
        }
      }
      n++;
    }
  }
  return n;
}

static void print_case_header(const kcase *c, const shape *s) {
  printf("\n== %s: %s on %s items (%s)\n   %s\n", c->id, s->kernel->name,
         s->item, s->dtype == PK_C128 ? "complex128" : "float64", s->model);
  pkb_table_header();
}

/* The fastest parkit method beside python's fastest, at the largest batch
 * both measured among rows first .. of case kc. */
static void versus_python(size_t kc, size_t first) {
  const rec *pk = NULL, *py = NULL;
  size_t top = 0;

  for (size_t i = first; i < pkb_rows.n; i++)
    if (pkb_is_python(pkb_rows.v[i].method) && pkb_rows.v[i].r.count > top)
      for (size_t j = first; j < pkb_rows.n; j++)
        if (strcmp(pkb_rows.v[j].r.kind, "parkit") == 0 &&
            pkb_rows.v[j].r.count == pkb_rows.v[i].r.count)
          top = pkb_rows.v[i].r.count;
  for (size_t i = first; i < pkb_rows.n; i++) {
    const rec *e = &pkb_rows.v[i];
    if (e->kc != kc || e->r.count != top)
      continue;
    if (strcmp(e->r.kind, "parkit") == 0 && (!pk || e->r.med < pk->r.med))
      pk = e;
    else if (pkb_is_python(e->method) && (!py || e->r.med < py->r.med))
      py = e;
  }
  if (pk && py)
    printf("   at %zu items: parkit's fastest (%s, W %d) %.4g s, python's "
           "fastest (%s) %.4g s: %.1fx\n", top, pk->method, pk->r.workers,
           pk->r.med, py->method, py->r.med, py->r.med / pk->r.med);
}

/* Whether method m runs in cases of kernel k: the C baselines only where
 * they compute the same thing. */
static int applies(const method *m, kid k) {
  switch (m->kind) {
  case M_LOOP:
    return k == K_DET || k == K_SLOGDET || k == K_INC;
  case M_FFTW:
    return k == K_FFT2;
  default:
    return 1;
  }
}

/* Every point of case kc: the parkit contexts, then the C baselines, then
 * python; rows printed when the case is done (pkb_speedups need serial). */
static int run_case(const options *o, size_t kc, method *ms, int nm,
                    pk_context *any) {
  const kcase *c = &pkb_cases[kc];
  size_t sz[40], first = pkb_rows.n;
  int nsz = pkb_sweep(o, c, sz), rc = 0;
  shape s;
  double *x, *y = NULL, *t = malloc(MAXREPS * sizeof *t);
  size_t maxc = 0;

  shape_of(c, &s);
  for (int i = 0; i < nsz; i++)
    maxc = sz[i] > maxc ? sz[i] : maxc;
  x = aligned(maxc * s.ind);
  if (c->k == K_PAIR)
    y = aligned((size_t)c->kn * (size_t)c->kn);
  if (x == NULL || t == NULL || (c->k == K_PAIR && y == NULL)) {
    fprintf(stderr, "parkit-bench: %s: out of memory for %zu items\n",
            c->id, maxc);
    free(x);
    free(y);
    free(t);
    pkb_failed = 1;
    return -1;
  }
  pkb_fill_ints(x, maxc * s.ind, 1 + kc);
  if (y != NULL)
    pkb_fill_ints(y, (size_t)c->kn * (size_t)c->kn, 100 + kc);
  for (int i = 0; i < nsz && rc == 0; i++) {
    point p = {.c = c, .s = &s, .x = x, .y = y, .count = sz[i],
               .reps = o->reps};
    p.ref = malloc(NREF * s.outd * sizeof *p.ref);
    for (int j = 0; j < nm && p.ref; j++) {
      method *m = &ms[j];
      int inl = -1, r;
      double est = 0;
      rec *e;
      if (!applies(m, c->k))
        continue;
      pkb_step++;
      pkb_progress("%s count %zu: %s/%d", c->id, sz[i], m->name, m->workers);
      r = m->kind == M_PARKIT ? run_parkit(m, &p, t, &inl, &est)
                              : run_c(m, &p, t);
      if (r != 0)
        continue; /* said why; the other methods still run */
      if (quiet || (e = pkb_add_row()) == NULL)
        continue;
      pkb_fill_row(e, kc, &s, m->name,
               m->kind == M_PARKIT ? "parkit" : "baseline", m->workers,
               m->workers * (strncmp(m->name, "mpi(", 4) ? 1 : pkb_mpi_size()),
               sz[i], t, o->reps);
      e->r.ran_inline = inl;
      e->r.est = est;
    }
    if (p.ref == NULL)
      rc = -1;
    free(p.ref);
  }
  if (!quiet && o->python && pkb_pyexe[0] && c->py) {
    pkb_step++;
    pkb_run_python(o, any, kc, &s, x, y, sz, nsz);
  }
  free(x);
  free(y);
  free(t);
  if (quiet)
    return rc;
  pkb_speedups(kc);
  pkb_progress_end();
  print_case_header(c, &s);
  for (size_t i = first; i < pkb_rows.n; i++)
    pkb_print_row(&pkb_rows.v[i]);
  versus_python(kc, first);
  fflush(stdout);
  return rc;
}

/* Each method at its largest batch of each case (python's may stop short
 * on its time budget): the table to read first. */
static void summary(void) {
  printf("\n== summary: each method at its largest batch (W: workers; "
         "speedup over the serial backend)\n");
  printf("%-9s ", "case");
  pkb_table_header();
  for (size_t i = 0; i < pkb_rows.n; i++) {
    const rec *e = &pkb_rows.v[i];
    int top = 1;
    for (size_t j = 0; j < pkb_rows.n; j++)
      if (pkb_rows.v[j].kc == e->kc &&
          pkb_rows.v[j].r.workers == e->r.workers &&
          strcmp(pkb_rows.v[j].method, e->method) == 0 &&
          pkb_rows.v[j].r.count > e->r.count)
        top = 0;
    if (top) {
      printf("%-9s ", pkb_cases[e->kc].id);
      pkb_print_row(e);
    }
  }
}

int main(int argc, char **argv) {
  options o = {.loop = 1, .fftw = 1, .python = 1, .reps = 5, .budget = 40};

  if (pkb_under_mpirun()) /* baselines too would time with the ranks polling */
    o.loop = o.fftw = o.python = 0;
  method ms[2 * MAXW + 8];
  int wl[MAXW], nw, nm, nctx, cores = pkb_cores(), dn = 2000, dreps = 5,
                                      treps = 7;
  char mach[512];
  FILE *csv = NULL;
  pk_context *any;

  for (size_t k = 0; k < NCASES; k++)
    o.kase[k] = 1;
  if (pkb_parse(argc, argv, &o) != 0)
    return 2;
  if (o.quick) {
    dn = 1000, dreps = 3, treps = 3;
    if (o.budget == 40)
      o.budget = 5;
  }
  quiet = pkb_under_mpirun() && pkb_mpi_rank() > 0;
  pkb_progress_on = !quiet && isatty(STDERR_FILENO);
  nw = o.nworkers;
  if (nw == 0)
    for (nw = 0; nw < cores && nw < MAXW; nw++)
      wl[nw] = nw + 1;
  else
    memcpy(wl, o.workers, (size_t)nw * sizeof *wl);
  if (o.csv && !quiet && (csv = fopen(o.csv, "w")) == NULL) {
    fprintf(stderr, "parkit-bench: %s: %s\n", o.csv, strerror(errno));
    return 1;
  }

  pkb_machine(mach, sizeof mach);
  if (!quiet) {
    printf("machine: %s\n", mach);
    printf("openblas: %s\n", pkb_blas_config());
    printf("parkit %d.%d.%d, backends:", PK_VERSION_MAJOR, PK_VERSION_MINOR,
           PK_VERSION_PATCH);
    for (const char *const *b = pk_backends(); *b; b++)
      printf(" %s", *b);
    printf("; workers:");
    for (int i = 0; i < nw; i++)
      printf("%s%d", i ? "," : " ", wl[i]);
    printf("; %d timed runs per point after a warm-up%s\n", o.reps,
           o.quick ? " (--quick)" : "");
    /* The limits for each worker count the rows use, from this run. */
    for (int i = 0; i <= 2 * nw; i++) {
      int w = pkb_limit_w(i == 2 * nw ? 1
                          : i < nw   ? wl[i]
                                     : wl[i - nw] * pkb_mpi_size());
      if (pkb_lim_dgemm[w] > 0)
        continue;
      pkb_progress("measuring the machine: dgemm and triad on %d thread%s", w,
               w > 1 ? "s" : "");
      pkb_lim_dgemm[w] = pkb_dgemm_gflops(w, dn, dreps);
      pkb_lim_triad[w] = pkb_triad_gbs(w, 0, treps);
      pkb_progress_end();
      printf("limits on %2d thread%s: dgemm %dx%d %.1f GFLOP/s (median of "
             "%d), triad a=b+s*c 3 x %zu MB %.1f GB/s (median of %d)\n", w,
             w > 1 ? "s" : " ", dn, dn, pkb_lim_dgemm[w], dreps,
             pkb_triad_bytes() >> 20, pkb_lim_triad[w], treps);
    }
    printf("dgemm%%, triad%%: of the limit on as many threads as the row "
           "has workers; GB/s: the bytes the case's model says an item "
           "moves, per second; python: 1 BLAS thread\n");
  }

  nm = nctx = make_contexts(&o, wl, nw, ms, MAXW + 4);
  for (int i = 0; i < nw && o.loop && !quiet; i++) {
    ms[nm] = (method){.kind = M_LOOP, .workers = wl[i]};
    snprintf(ms[nm++].name, sizeof ms[0].name, "omp loop");
  }
  if (o.fftw && !quiet) {
    ms[nm] = (method){.kind = M_FFTW, .workers = 1};
    snprintf(ms[nm++].name, sizeof ms[0].name, "fftw plan_many");
  }
  /* Any context can write the .npy files for python. */
  any = nctx ? ms[0].ctx : NULL;
  if (o.python && !quiet && pkb_find_python(&o) == 0) {
    const char *td = getenv("TMPDIR");
    pk_config cfg = {.backend = "serial", .workers = 1};
    snprintf(pkb_tmpdir, sizeof pkb_tmpdir, "%s/parkit-bench-XXXXXX",
             td && *td ? td : "/tmp");
    if (any == NULL && pk_init_config(&any, NULL, NULL, &cfg) != PK_OK)
      any = NULL;
    if (any == NULL || mkdtemp(pkb_tmpdir) == NULL) {
      fprintf(stderr, "parkit-bench: no directory for the .npy files "
              "(%s): no python baselines\n", pkb_tmpdir);
      pkb_pyexe[0] = pkb_tmpdir[0] = '\0';
    } else {
      printf("python baselines: %s %s\n", pkb_pyexe, pkb_pyscript);
    }
  }

  /* Progress pkb_steps: a point per method and size, one per python run. */
  for (size_t kc = 0; kc < NCASES; kc++) {
    size_t sz[40];
    int nsz;
    if (!o.kase[kc])
      continue;
    nsz = pkb_sweep(&o, &pkb_cases[kc], sz);
    for (int j = 0; j < nm; j++)
      if (applies(&ms[j], pkb_cases[kc].k))
        pkb_steps += (size_t)nsz;
    pkb_steps += pkb_pyexe[0] && pkb_cases[kc].py;
  }

  for (size_t kc = 0; kc < NCASES; kc++)
    if (o.kase[kc])
      run_case(&o, kc, ms, nm, any);
  pkb_progress_end();

  if (!quiet) {
    summary();
    if (csv) {
      pkb_csv_header(csv);
      for (int i = 1; i <= MAXW; i++)
        if (pkb_lim_dgemm[i] > 0) {
          pkb_row r = {.kcase = "machine", .method = "dgemm+triad",
                       .kind = "machine", .workers = i, .reps = dreps,
                       .dgemm = pkb_lim_dgemm[i], .triad = pkb_lim_triad[i],
                       .ran_inline = -1};
          pkb_csv_row(csv, &r);
        }
      for (size_t i = 0; i < pkb_rows.n; i++) {
        pkb_rows.v[i].r.method = pkb_rows.v[i].method;
        pkb_csv_row(csv, &pkb_rows.v[i].r);
      }
      if (fclose(csv) != 0) {
        fprintf(stderr, "parkit-bench: %s: write pkb_failed\n", o.csv);
        pkb_failed = 1;
      }
    }
    if (o.plot && pkb_plots(&o, mach) != 0)
      pkb_failed = 1;
  }
  if (pkb_tmpdir[0])
    rmdir(pkb_tmpdir);
  if (any && (nctx == 0 || any != ms[0].ctx))
    pk_finalize(&any);
  for (int i = nctx - 1; i >= 0; i--)
    pk_finalize(&ms[i].ctx);
  free(pkb_rows.v);
  return pkb_failed ? 1 : 0;
}
