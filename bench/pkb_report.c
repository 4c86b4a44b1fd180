/*
 * parkit-bench's tables and plots (bench/pkb.h): the rows as a table, the
 * speedups, and gnuplot's PNGs.
 */
#include "pkb.h"

/* ---------------------------------------------------------------- table */

/* est s: parkit's estimate of the map on one core; est/1c: that over the
 * serial backend's median at this count, the measured single-core time. */
void pkb_table_header(void) {
  printf("%8s %-22s %3s %10s %10s %10s %10s %7s %8s %6s %7s %6s %10s %6s "
         "%s\n", "count", "method", "W", "median s", "min s", "max s",
         "items/s", "speedup", "GFLOP/s", "dgemm%", "GB/s", "triad%",
         "est s", "est/1c", "");
}

void pkb_print_row(const rec *e) {
  pkb_derived d = pkb_derive(&e->r);
  char sp[16] = "", gf[16] = "", fd[16] = "", es[16] = "", er[16] = "";

  if (d.speedup > 0)
    snprintf(sp, sizeof sp, "%.3g", d.speedup);
  if (e->r.flops > 0) {
    snprintf(gf, sizeof gf, "%.2f", d.gflops);
    snprintf(fd, sizeof fd, "%.1f", 100 * d.frac_dgemm);
  }
  if (e->r.est > 0 && isfinite(e->r.est))
    snprintf(es, sizeof es, "%.3g", e->r.est);
  if (d.est_ratio > 0 && isfinite(d.est_ratio))
    snprintf(er, sizeof er, "%.2f", d.est_ratio);
  printf("%8zu %-22s %3d %10.3g %10.3g %10.3g %10.3g %7s %8s %6s %7.2f "
         "%6.1f %10s %6s %s\n", e->r.count, e->method, e->r.workers,
         e->r.med, e->r.min, e->r.max, d.items_s, sp, gf, fd, d.gbs,
         100 * d.frac_triad, es, er, e->r.ran_inline == 1 ? "inline" : "");
}

/* Fill in the pkb_speedups over serial of the rows of case kc. */
void pkb_speedups(size_t kc) {
  for (size_t i = 0; i < pkb_rows.n; i++) {
    rec *e = &pkb_rows.v[i];
    if (e->kc != kc)
      continue;
    e->r.method = e->method;
    for (size_t j = 0; j < pkb_rows.n; j++)
      if (pkb_rows.v[j].kc == kc && pkb_rows.v[j].r.count == e->r.count &&
          strcmp(pkb_rows.v[j].method, "serial") == 0)
        e->r.serial = pkb_rows.v[j].r.med;
  }
}

/* -------------------------------------------------------------- plots */

/* The series of the time plot: each backend at its most workers, and
 * each baseline at its most threads. */
static int top_series(size_t kc, const rec *e) {
  if (e->kc != kc)
    return 0;
  for (size_t j = 0; j < pkb_rows.n; j++)
    if (pkb_rows.v[j].kc == kc &&
        strcmp(pkb_rows.v[j].method, e->method) == 0 &&
        pkb_rows.v[j].r.workers > e->r.workers)
      return 0;
  return 1;
}

int pkb_plots(const options *o, const char *machine) {
  char path[PATH_MAX], cmd[PATH_MAX + 64];
  FILE *gp, *d;
  size_t nk = 0;
  int have;

  if (mkdir(o->plot, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "parkit-bench: %s: %s\n", o->plot, strerror(errno));
    return -1;
  }
  for (size_t kc = 0; kc < NCASES; kc++)
    for (size_t i = 0; i < pkb_rows.n; i++)
      if (pkb_rows.v[i].kc == kc) {
        nk++;
        break;
      }
  snprintf(path, sizeof path, "%s/plots.gp", o->plot);
  if ((gp = fopen(path, "w")) == NULL) {
    fprintf(stderr, "parkit-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  fprintf(gp, "# made by parkit-bench; run: gnuplot %s\n", path);
  fprintf(gp, "set terminal pngcairo size 1800,%d font ',11' noenhanced\n",
          nk > 3 ? 1100 : 600);
  fprintf(gp, "set key top left font ',9' samplen 2\nset grid\n");

  /* time against the batch size */
  fprintf(gp, "set output '%s/time.png'\n", o->plot);
  fprintf(gp, "set multiplot layout %d,3 title 'parkit-bench: median time "
          "(bars: min..max) against batch size -- %s'\n",
          nk > 3 ? 2 : 1, machine);
  fprintf(gp, "set logscale xy\nset format x '%%.0e'\nset format y "
          "'%%.0e'\nset xlabel 'items'\nset ylabel 'seconds'\n");
  for (size_t kc = 0; kc < NCASES; kc++) {
    const char *sep = "plot ";
    have = 0;
    snprintf(path, sizeof path, "%s/time-%s.dat", o->plot, pkb_cases[kc].id);
    if ((d = fopen(path, "w")) == NULL)
      continue;
    for (size_t i = 0, idx = 0; i < pkb_rows.n; i++) {
      const rec *e = &pkb_rows.v[i];
      int first = 1;
      if (!top_series(kc, e))
        continue;
      /* each method once, as one data block */
      for (size_t j = 0; j < i; j++)
        if (pkb_rows.v[j].kc == kc &&
            strcmp(pkb_rows.v[j].method, e->method) == 0 &&
            pkb_rows.v[j].r.workers == e->r.workers)
          first = 0;
      if (!first)
        continue;
      fprintf(d, "# %s/%d\n", e->method, e->r.workers);
      for (size_t j = 0; j < pkb_rows.n; j++) {
        const rec *f = &pkb_rows.v[j];
        if (f->kc == kc && strcmp(f->method, e->method) == 0 &&
            f->r.workers == e->r.workers)
          fprintf(d, "%zu %.6g %.6g %.6g\n", f->r.count, f->r.med, f->r.min,
                  f->r.max);
      }
      fprintf(d, "\n\n");
      if (!have)
        fprintf(gp, "set title '%s (%s)'\n", pkb_cases[kc].id,
                e->r.kernel);
      fprintf(gp, "%s'%s' index %zu using 1:2:3:4 with yerrorlines lw 2 "
              "title '%s/%d'", sep, path, idx++, e->method, e->r.workers);
      sep = ", \\\n  ";
      have = 1;
    }
    fclose(d);
    if (have)
      fprintf(gp, "\n");
  }
  fprintf(gp, "unset multiplot\n");

  /* speedup against workers, at each case's largest batch */
  fprintf(gp, "set output '%s/speedup.png'\n", o->plot);
  fprintf(gp, "set multiplot layout %d,3 title 'parkit-bench: speedup over "
          "the serial backend against workers, largest batch -- %s'\n",
          nk > 3 ? 2 : 1, machine);
  fprintf(gp, "unset logscale\nset format x '%%g'\nset format y '%%g'\n"
          "set xlabel 'workers'\nset ylabel 'speedup'\nset xtics 1\n"
          "set yrange [0:*]\nset xrange [0.5:*]\n");
  for (size_t kc = 0; kc < NCASES; kc++) {
    size_t top = 0;
    const char *sep = "plot x title 'ideal' dt 2 lc 'gray', ";
    have = 0;
    for (size_t i = 0; i < pkb_rows.n; i++)
      if (pkb_rows.v[i].kc == kc && pkb_rows.v[i].r.count > top &&
          pkb_rows.v[i].r.serial > 0)
        top = pkb_rows.v[i].r.count;
    snprintf(path, sizeof path, "%s/speedup-%s.dat", o->plot, pkb_cases[kc].id);
    if (top == 0 || (d = fopen(path, "w")) == NULL)
      continue;
    for (size_t i = 0, idx = 0; i < pkb_rows.n; i++) {
      const rec *e = &pkb_rows.v[i];
      int first = 1;
      if (e->kc != kc || e->r.count != top || e->r.serial <= 0)
        continue;
      for (size_t j = 0; j < i; j++)
        if (pkb_rows.v[j].kc == kc && pkb_rows.v[j].r.count == top &&
            strcmp(pkb_rows.v[j].method, e->method) == 0)
          first = 0;
      if (!first)
        continue;
      fprintf(d, "# %s\n", e->method);
      for (size_t j = 0; j < pkb_rows.n; j++) {
        const rec *f = &pkb_rows.v[j];
        if (f->kc == kc && f->r.count == top &&
            strcmp(f->method, e->method) == 0)
          fprintf(d, "%d %.6g\n", f->r.workers, pkb_derive(&f->r).speedup);
      }
      fprintf(d, "\n\n");
      if (!have)
        fprintf(gp, "set title '%s, %zu items'\n", pkb_cases[kc].id, top);
      fprintf(gp, "%s'%s' index %zu using 1:2 with linespoints lw 2 pt 7 "
              "title '%s'", sep, path, idx++, e->method);
      sep = ", \\\n  ";
      have = 1;
    }
    fclose(d);
    if (have)
      fprintf(gp, "\n");
  }
  fprintf(gp, "unset multiplot\n");
  fclose(gp);

  if (!pkb_runs_ok("command -v gnuplot >/dev/null 2>&1")) {
    fprintf(stderr, "parkit-bench: gnuplot is not installed (command -v "
            "gnuplot found nothing): no PNG made.  The data and the script "
            "are in %s; install gnuplot (e.g. apt-get install gnuplot-nox) "
            "and run: gnuplot %s/plots.gp\n", o->plot, o->plot);
    return 0;
  }
  snprintf(cmd, sizeof cmd, "gnuplot '%s/plots.gp'", o->plot);
  if (!pkb_runs_ok(cmd)) {
    fprintf(stderr, "parkit-bench: gnuplot %s/plots.gp failed\n", o->plot);
    return -1;
  }
  fprintf(stderr, "parkit-bench: plots: %s/time.png %s/speedup.png\n",
          o->plot, o->plot);
  return 0;
}
