/* parkit-bench's own arithmetic: summaries, rates, flop models, CSV. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "machine.h"
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ summaries */

static void summary_odd(void **state) {
  double t[] = {5, 1, 4, 2, 3};
  pkb_stats s = pkb_summary(t, 5);
  (void)state;
  assert_true(s.med == 3 && s.min == 1 && s.max == 5 && s.n == 5);
  assert_true(t[0] == 5 && t[1] == 1); /* left as it was */
}

static void summary_even(void **state) {
  double t[] = {4, 1, 10, 2};
  pkb_stats s = pkb_summary(t, 4);
  (void)state;
  assert_true(s.med == 3); /* the mean of the middle two */
  assert_true(s.min == 1 && s.max == 10);
}

static void summary_edges(void **state) {
  double one = 7, same[] = {2, 2, 2, 2, 2, 2};
  pkb_stats s = pkb_summary(&one, 1);
  (void)state;
  assert_true(s.med == 7 && s.min == 7 && s.max == 7);
  s = pkb_summary(same, 6);
  assert_true(s.med == 2 && s.min == 2 && s.max == 2);
  s = pkb_summary(NULL, 0);
  assert_true(s.med == 0 && s.min == 0 && s.max == 0 && s.n == 0);
}

/* ---------------------------------------------------------------- rates */

static void rates(void **state) {
  (void)state;
  assert_true(pkb_rate(1000, 0.5) == 2000);
  assert_true(pkb_rate(1000, 0) == 0);
  assert_true(pkb_rate(1000, -1) == 0);
  assert_true(pkb_frac(25, 100) == 0.25);
  assert_true(pkb_frac(25, 0) == 0); /* a limit not measured */
  assert_true(pkb_speedup(2.0, 0.5) == 4);
  assert_true(pkb_speedup(0, 0.5) == 0); /* no serial row */
  assert_true(pkb_speedup(2.0, 0) == 0);
}

static void flop_models(void **state) {
  (void)state;
  assert_true(fabs(pkb_flops_lu(10) - 2000.0 / 3) < 1e-9);
  assert_true(fabs(pkb_flops_lu(100) - 2e6 / 3) < 1e-6);
  /* 5 N log2 N: 4 x 4 = 16 points, log2 16 = 4 */
  assert_true(pkb_flops_fft(4, 4) == 5 * 16 * 4);
  assert_true(pkb_flops_fft(1, 1) == 0);
  assert_true(pkb_flops_rfft(4, 4) == 2.5 * 16 * 4);
  /* w^2 h (h + 1): 3 x 2 item, 4 * 3 * 4 */
  assert_true(pkb_flops_autocorr_direct(3, 2) == 48);
  /* 8 x 8 grid: 2 x 2.5 x 64 x 6 + 3 x 8 x 5 */
  assert_true(pkb_flops_autocorr_fft(8, 8) == 1920 + 120);
  /* Pair products against a count of every (result, b element) pair that
     meets an element of a, over full and over a window of it. */
  for (int n1 = 1; n1 <= 7; n1++)
    for (int n2 = 1; n2 <= 5; n2++)
      for (int lo = 0; lo < n1 + n2 - 1; lo += 2) {
        int len = n1 + n2 - 1 - lo < n1 ? n1 + n2 - 1 - lo : n1;
        double count = 0;
        for (int i = lo; i < lo + len; i++)
          for (int p = 0; p < n2; p++)
            count += p + i - (n2 - 1) >= 0 && p + i - (n2 - 1) < n1;
        assert_true(pkb_pair_products(n1, n2, lo, len) == count);
      }
  assert_true(pkb_pair_products(3, 2, 0, 4) == 6); /* full: n1 n2 */
}

static pkb_row sample(void) {
  pkb_row r = {.kcase = "det100", .kernel = "det", .item = "100x100",
               .method = "openmp", .kind = "parkit", .workers = 2,
               .count = 1000, .reps = 5, .med = 0.01, .min = 0.009,
               .max = 0.02, .flops = 1e6, .bytes = 80008, .serial = 0.03,
               .dgemm = 200, .triad = 16, .ran_inline = 0, .est = 0.024};
  return r;
}

static void derived(void **state) {
  pkb_row r = sample();
  pkb_derived d = pkb_derive(&r);
  (void)state;
  assert_true(fabs(d.items_s - 1e5) < 1e-6);
  assert_true(fabs(d.speedup - 3) < 1e-12);
  assert_true(fabs(d.gflops - 100) < 1e-9);     /* 1e9 flops in 0.01 s */
  assert_true(fabs(d.frac_dgemm - 0.5) < 1e-12);
  assert_true(fabs(d.gbs - 8.0008) < 1e-9);     /* 80.008 MB in 0.01 s */
  assert_true(fabs(d.frac_triad - 0.50005) < 1e-12);
  assert_true(fabs(d.est_ratio - 0.8) < 1e-12); /* est over serial */
  r.flops = 0; /* the trivial case: no GFLOP/s, no fraction */
  r.dgemm = 0;
  d = pkb_derive(&r);
  assert_true(d.gflops == 0 && d.frac_dgemm == 0);
}

/* ------------------------------------------------------------------ CSV */

/* What f wrote, as a string the caller frees. */
typedef struct sink {
  char *buf;
  size_t len;
  FILE *f;
} sink;

static void sink_open(sink *s) {
  s->buf = NULL;
  s->len = 0;
  s->f = open_memstream(&s->buf, &s->len);
  assert_non_null(s->f);
}

static char *sink_close(sink *s) {
  assert_int_equal(fclose(s->f), 0);
  return s->buf;
}

static char *field(const char *in) {
  sink s;
  sink_open(&s);
  pkb_csv_field(s.f, in);
  return sink_close(&s);
}

static void csv_escaping(void **state) {
  static const char *const cases[][2] = {
      {"openmp", "openmp"},
      {"", ""},
      {"a,b", "\"a,b\""},
      {"say \"hi\"", "\"say \"\"hi\"\"\""},
      {"two\nlines", "\"two\nlines\""},
      {"cr\r", "\"cr\r\""},
      {"\"", "\"\"\"\""},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = field(cases[i][0]);
    assert_string_equal(got, cases[i][1]);
    free(got);
  }
  {
    char *got = field(NULL);
    assert_string_equal(got, "");
    free(got);
  }
}

/* Fields of one CSV record, quotes respected; the record ends at the
 * first newline outside quotes. */
static int count_fields(const char *s, const char **end) {
  int n = 1, q = 0;
  for (; *s; s++) {
    if (*s == '"')
      q = !q;
    else if (*s == ',' && !q)
      n++;
    else if (*s == '\n' && !q)
      break;
  }
  *end = s;
  return n;
}

static void csv_columns(void **state) {
  pkb_row r = sample();
  const char *end;
  char *out;
  sink s;
  (void)state;

  sink_open(&s);
  pkb_csv_header(s.f);
  pkb_csv_row(s.f, &r);
  r.method = "odd, \"name\""; /* must stay one column */
  r.ran_inline = -1;
  r.serial = 0;
  pkb_csv_row(s.f, &r);
  out = sink_close(&s);

  assert_int_equal(count_fields(out, &end), PKB_CSV_COLUMNS);
  assert_true(strncmp(out, "case,kernel,item,method,kind,workers,count,", 43)
              == 0);
  assert_int_equal(count_fields(end + 1, &end), PKB_CSV_COLUMNS);
  assert_int_equal(count_fields(end + 1, &end), PKB_CSV_COLUMNS);
  assert_string_equal(end, "\n");

  /* the values, in the header's order */
  assert_non_null(strstr(out, "\ndet100,det,100x100,openmp,parkit,2,1000,5,"
                              "0.01,0.009,0.02,100000,3,1e+06,100,200,0.5,"
                              "80008,8.0008,16,0.50005,0,0.024,0.8\n"));
  /* unknown values are empty cells: no speedup, no inline flag */
  assert_non_null(strstr(out, "\ndet100,det,100x100,\"odd, \"\"name\"\"\","
                              "parkit,2,1000,5,0.01,0.009,0.02,100000,,"));
  assert_true(strcmp(out + strlen(out) - 9, ",,0.024,\n") == 0);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(summary_odd),   cmocka_unit_test(summary_even),
      cmocka_unit_test(summary_edges), cmocka_unit_test(rates),
      cmocka_unit_test(flop_models),   cmocka_unit_test(derived),
      cmocka_unit_test(csv_escaping),  cmocka_unit_test(csv_columns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
