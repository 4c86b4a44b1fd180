#include "stats.h"

#include <math.h>
#include <string.h>

double pkb_rate(double x, double sec) { return sec > 0 ? x / sec : 0; }

double pkb_frac(double part, double whole) {
  return whole > 0 ? part / whole : 0;
}

double pkb_speedup(double base, double t) {
  return base > 0 && t > 0 ? base / t : 0;
}

double pkb_flops_lu(double n) { return 2.0 / 3.0 * n * n * n; }

double pkb_flops_fft(double h, double w) {
  double n = h * w;
  return n > 1 ? 5 * n * log2(n) : 0;
}

double pkb_flops_rfft(double h, double w) { return pkb_flops_fft(h, w) / 2; }

double pkb_flops_autocorr_direct(double h, double w) {
  return w * w * h * (h + 1);
}

double pkb_flops_autocorr_fft(double H, double W) {
  return 2 * pkb_flops_rfft(H, W) + 3 * H * (floor(W / 2) + 1);
}

double pkb_pair_products(double n1, double n2, double lo, double len) {
  double sum = 0;

  /* Result i pairs b[p] with a[p + i - (n2 - 1)] for the p in range. */
  for (double i = lo; i < lo + len; i++) {
    double first = fmax(0, n2 - 1 - i), last = fmin(n2 - 1, n1 + n2 - 2 - i);
    if (last >= first)
      sum += last - first + 1;
  }
  return sum;
}

pkb_derived pkb_derive(const pkb_row *r) {
  pkb_derived d;
  double n = (double)r->count;

  d.items_s = pkb_rate(n, r->med);
  d.speedup = pkb_speedup(r->serial, r->med);
  d.gflops = pkb_rate(n * r->flops, r->med) * 1e-9;
  d.frac_dgemm = pkb_frac(d.gflops, r->dgemm);
  d.gbs = pkb_rate(n * r->bytes, r->med) * 1e-9;
  d.frac_triad = pkb_frac(d.gbs, r->triad);
  d.est_ratio = pkb_frac(r->est, r->serial);
  return d;
}

void pkb_csv_field(FILE *f, const char *s) {
  if (s == NULL)
    return;
  if (strpbrk(s, ",\"\r\n") == NULL) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* A number, or nothing for "not measured" (0): an empty CSV cell is what
 * spreadsheets and pandas read as missing. */
static void num(FILE *f, double x) {
  fputc(',', f);
  if (x != 0 && isfinite(x))
    fprintf(f, "%.6g", x);
}

void pkb_csv_header(FILE *f) {
  fputs("case,kernel,item,method,kind,workers,count,reps,median_s,min_s,"
        "max_s,items_per_s,speedup,flops_per_item,gflops,dgemm_gflops,"
        "frac_dgemm,bytes_per_item,gbs,triad_gbs,frac_triad,inline,est_s,"
        "est_ratio\n",
        f);
}

void pkb_csv_row(FILE *f, const pkb_row *r) {
  pkb_derived d = pkb_derive(r);
  const char *s[] = {r->kcase, r->kernel, r->item, r->method, r->kind};

  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    if (i)
      fputc(',', f);
    pkb_csv_field(f, s[i]);
  }
  fprintf(f, ",%d,%zu,%d", r->workers, r->count, r->reps);
  num(f, r->med);
  num(f, r->min);
  num(f, r->max);
  num(f, d.items_s);
  num(f, d.speedup);
  num(f, r->flops);
  num(f, d.gflops);
  num(f, r->dgemm);
  num(f, d.frac_dgemm);
  num(f, r->bytes);
  num(f, d.gbs);
  num(f, r->triad);
  num(f, d.frac_triad);
  fputc(',', f);
  if (r->ran_inline >= 0)
    fprintf(f, "%d", r->ran_inline);
  num(f, r->est);
  num(f, d.est_ratio);
  fputc('\n', f);
}
