/*
 * parkit-bench's rows (bench/pkb.h): the cases, every row measured and the
 * machine limits it is set against, progress on the terminal, failures.
 */
#include "pkb.h"

const kcase pkb_cases[NCASES] = {
    {"det10", K_DET, 10, 100000, "det", 0, PK_MODE_FULL},
    {"det100", K_DET, 100, 10000, "det", 0, PK_MODE_FULL},
    {"slogdet", K_SLOGDET, 100, 1000, "slogdet", 0, PK_MODE_FULL},
    {"autocorr", K_AUTOCORR, 100, 2000, "correlate2d,correlate", 0, PK_MODE_FULL},
    {"fft2", K_FFT2, 100, 5000, "fft2", 0, PK_MODE_FULL},
    {"trivial", K_INC, 0, 100000, NULL, 0, PK_MODE_FULL},
    {"corr9full", K_PAIR, 100, 1000, "pair_direct,pair_fft", 9, PK_MODE_FULL},
    {"corr9same", K_PAIR, 100, 1000, "pair_direct,pair_fft", 9, PK_MODE_SAME},
    {"corr31full", K_PAIR, 100, 1000, "pair_direct,pair_fft", 31,
     PK_MODE_FULL},
    {"corr31same", K_PAIR, 100, 1000, "pair_direct,pair_fft", 31,
     PK_MODE_SAME},
};

struct pkb_rowlist pkb_rows;

rec *pkb_add_row(void) {
  if (pkb_rows.n == pkb_rows.cap) {
    size_t c = pkb_rows.cap ? 2 * pkb_rows.cap : 256;
    rec *v = realloc(pkb_rows.v, c * sizeof *v);
    if (v == NULL)
      return NULL;
    pkb_rows.v = v;
    pkb_rows.cap = c;
  }
  memset(&pkb_rows.v[pkb_rows.n], 0, sizeof pkb_rows.v[0]);
  pkb_rows.v[pkb_rows.n].r.ran_inline = -1;
  return &pkb_rows.v[pkb_rows.n++];
}

double pkb_lim_dgemm[MAXW + 1], pkb_lim_triad[MAXW + 1];

int pkb_failed;   /* a call pkb_failed or results disagreed */

int pkb_limit_w(int w) { return w < 1 ? 1 : w > MAXW ? MAXW : w; }

int pkb_progress_on;
size_t pkb_step, pkb_steps;

void pkb_progress(const char *fmt, ...) {
  static double t0;
  va_list ap;

  if (!pkb_progress_on)
    return;
  if (t0 == 0)
    t0 = pkb_now();
  fprintf(stderr, "\r\033[K[%4.0f s", pkb_now() - t0);
  if (pkb_steps)
    fprintf(stderr, ", %zu/%zu", pkb_step, pkb_steps);
  fputs("] ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

void pkb_progress_end(void) {
  fflush(stdout); /* the table first, when both go to one terminal */
  if (pkb_progress_on)
    fputs("\r\033[K", stderr);
}

int pkb_pk_fail(pk_context *ctx, const char *what, pk_status st) {
  pkb_progress_end();
  fprintf(stderr, "parkit-bench: %s: %s\n", what,
          ctx && pk_errmsg(ctx)[0] ? pk_errmsg(ctx) : pk_strerror(st));
  pkb_failed = 1;
  return -1;
}

void pkb_fill_row(rec *e, size_t kc, const shape *s, const char *method,
                  const char *kind, int workers, int lw, size_t count,
                  const double *t, int reps) {
  pkb_stats st = pkb_summary(t, reps);

  e->kc = kc;
  snprintf(e->method, sizeof e->method, "%s", method);
  e->r.kcase = pkb_cases[kc].id;
  e->r.kernel = s->kernel->name;
  snprintf(e->item, sizeof e->item, "%s", s->item);
  e->r.item = e->item;
  e->r.kind = kind;
  e->r.workers = workers;
  e->r.count = count;
  e->r.reps = reps;
  e->r.med = st.med;
  e->r.min = st.min;
  e->r.max = st.max;
  e->r.flops = s->flops;
  e->r.bytes = s->bytes;
  e->r.dgemm = pkb_lim_dgemm[pkb_limit_w(lw)];
  e->r.triad = pkb_lim_triad[pkb_limit_w(lw)];
}

int pkb_runs_ok(const char *cmd) { return system(cmd) == 0; }
