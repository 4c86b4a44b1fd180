/*
 * The arithmetic of parkit-bench, apart from the timing so that it can be
 * unit-tested: rates, flop and byte models, fractions of the machine's
 * limits, and CSV output.  Medians, min and max are pkb_summary in
 * machine.h.
 */
#ifndef PKB_STATS_H
#define PKB_STATS_H

#include <stddef.h>
#include <stdio.h>

/* x per second over sec seconds; 0 when sec is not positive. */
double pkb_rate(double x, double sec);

/* part / whole; 0 when whole is not positive (a limit not measured). */
double pkb_frac(double part, double whole);

/* Speedup of t over base (base / t); 0 when either is not positive. */
double pkb_speedup(double base, double t);

/* Flops of LU on an n x n matrix, as LAPACK counts dgetrf: 2/3 n^3. */
double pkb_flops_lu(double n);

/* Flops of a complex FFT of N = h w points by the usual convention,
 * 5 N log2 N (0 for N <= 1). */
double pkb_flops_fft(double h, double w);

/* Flops of a real FFT of N points: half a complex one, 2.5 N log2 N. */
double pkb_flops_rfft(double h, double w);

/* Flops of the direct 2-D autocorrelation of an h x w item, as parkit's
 * direct method does it (half the lags, then mirrored): w^2 h (h+1)
 * (multiply-adds of w^2 h (h+1) / 2). */
double pkb_flops_autocorr_direct(double h, double w);

/* Flops of the FFT autocorrelation on an H x W padded grid: a real forward
 * and a real inverse FFT, and |X|^2 (3 flops) on the H (W/2+1) bins. */
double pkb_flops_autocorr_fft(double H, double W);

/* Products of a direct 2-D correlation along one dimension: an item of n1
 * against one of n2 (full result of n1 + n2 - 1), summed over the len
 * results kept from index lo on (full: 0 and n1 + n2 - 1, giving n1 n2).
 * The flops of an h1 x w1 item against h2 x w2 are 2 times the product of
 * the two dimensions' sums. */
double pkb_pair_products(double n1, double n2, double lo, double len);

/* One measured point: a method on a batch of count items of one case. */
typedef struct pkb_row {
  const char *kcase;   /* the case: "det10", "fft2", ... */
  const char *kernel;  /* parkit's kernel name */
  const char *item;    /* the item's shape, "100x100" */
  const char *method;  /* backend or baseline name */
  const char *kind;    /* "parkit", "baseline" or "machine" */
  int workers;
  size_t count;
  int reps;
  double med, min, max;  /* seconds */
  double flops, bytes;   /* per item, by the case's model */
  double serial;         /* the serial backend's median, 0 if unknown */
  double dgemm, triad;   /* the machine's limits for workers: GFLOP/s, GB/s */
  int ran_inline;        /* -1 unknown or not parkit */
  double est;            /* parkit's estimate of the map on one core
                            (pk_stats est_seconds), seconds; 0 unknown */
} pkb_row;

/* The derived columns of a row. */
typedef struct pkb_derived {
  double items_s, speedup, gflops, frac_dgemm, gbs, frac_triad;
  double est_ratio; /* est over the serial median (one core); 0 unknown */
} pkb_derived;

pkb_derived pkb_derive(const pkb_row *r);

/* Write s as one CSV field (RFC 4180): quoted, with quotes doubled, when
 * it holds a comma, a quote, CR or LF; NULL is written as empty. */
void pkb_csv_field(FILE *f, const char *s);

/* The CSV header line, and one row with the derived columns; the number of
 * columns is PKB_CSV_COLUMNS. */
#define PKB_CSV_COLUMNS 24
void pkb_csv_header(FILE *f);
void pkb_csv_row(FILE *f, const pkb_row *r);

#endif /* PKB_STATS_H */
