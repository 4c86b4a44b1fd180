#define _GNU_SOURCE
#include "machine.h"
#include "splitmix.h"

#include <parkit.h>

#include <cblas.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

pkb_stats pkb_summary(const double *t, int n) {
  pkb_stats s = {0, 0, 0, n};
  double *c;

  if (n <= 0 || (c = malloc((size_t)n * sizeof *c)) == NULL)
    return s;
  memcpy(c, t, (size_t)n * sizeof *c);
  qsort(c, (size_t)n, sizeof *c, cmp);
  s.min = c[0];
  s.max = c[n - 1];
  s.med = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
  free(c);
  return s;
}

double pkb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double pkb_dgemm_gflops(int threads, int n, int reps) {
  size_t nn;
  double *a, *b, *c, *t, r = -1;
  int old = openblas_get_num_threads(), i;

  if (n <= 0)
    n = 2000;
  if (reps < 1)
    reps = 1;
  nn = (size_t)n * (size_t)n;
  a = malloc(nn * sizeof *a);
  b = malloc(nn * sizeof *b);
  c = malloc(nn * sizeof *c);
  t = malloc((size_t)reps * sizeof *t);
  if (a && b && c && t) {
    for (size_t e = 0; e < nn; e++) {
      a[e] = (double)(e % 7) - 3;
      b[e] = (double)(e % 5) - 2;
    }
    openblas_set_num_threads(threads);
    for (i = -1; i < reps; i++) {
      double t0 = pkb_now();
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a,
                  n, b, n, 0.0, c, n);
      if (i >= 0)
        t[i] = pkb_now() - t0;
    }
    openblas_set_num_threads(old);
    r = 2.0 * n * n * (double)n / pkb_summary(t, reps).med * 1e-9;
  }
  free(a);
  free(b);
  free(c);
  free(t);
  return r;
}

size_t pkb_triad_bytes(void) {
  long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  size_t min = (size_t)80 << 20;
  return l3 > 0 && (size_t)l3 > min ? (size_t)l3 : min;
}

double pkb_triad_gbs(int threads, size_t bytes, int reps) {
  size_t n = (bytes ? bytes : pkb_triad_bytes()) / sizeof(double);
  double *a, *b, *c, *t, s = 3.0, r = -1;
  long m = (long)n;

  if (reps < 1)
    reps = 1;
  a = malloc(n * sizeof *a);
  b = malloc(n * sizeof *b);
  c = malloc(n * sizeof *c);
  t = malloc((size_t)reps * sizeof *t);
  if (a && b && c && t) {
    /* Same static schedule as the timed loop: each page is touched first,
     * and so placed, by the thread that will stream it. */
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < m; i++) {
      a[i] = 0;
      b[i] = 1;
      c[i] = 2;
    }
    for (int k = -1; k < reps; k++) {
      double t0 = pkb_now();
#pragma omp parallel for schedule(static) num_threads(threads)
      for (long i = 0; i < m; i++)
        a[i] = b[i] + s * c[i];
      if (k >= 0)
        t[k] = pkb_now() - t0;
    }
    /* Read a result so the stores cannot be dropped. */
    if (a[m / 2] != 7.0)
      fprintf(stderr, "pkb_triad_gbs: unexpected result %g\n", a[m / 2]);
    r = 3.0 * sizeof(double) * (double)n / pkb_summary(t, reps).med * 1e-9;
  }
  free(a);
  free(b);
  free(c);
  free(t);
  return r;
}

int pkb_cores(void) {
  cpu_set_t set;
  int n;

  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return 1;
  n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

/* The model name, and what tells two CPUs that share it apart: vendor,
   family, model, and the widest instruction-set path parkit runs there. */
static void cpu_model(char *buf, size_t len) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512], name[256] = "unknown CPU", vendor[64] = "", fam[16] = "",
       mod[16] = "";
  struct { const char *key; char *to; size_t len; } keys[] = {
      {"model name", name, sizeof name}, {"vendor_id", vendor, sizeof vendor},
      {"cpu family", fam, sizeof fam}, {"model\t", mod, sizeof mod}};

  while (f && fgets(line, sizeof line, f) && strcmp(line, "\n") != 0) {
    char *v = strchr(line, ':');
    if (v == NULL)
      continue;
    v += 1 + strspn(v + 1, " \t");
    v[strcspn(v, "\n")] = '\0';
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
      if (strncmp(line, keys[i].key, strlen(keys[i].key)) == 0)
        snprintf(keys[i].to, keys[i].len, "%s", v);
  }
  if (f)
    fclose(f);
  if (*vendor)
    snprintf(buf, len, "%s (%s family %s model %s; parkit path %s)", name,
             vendor, fam, mod, pk_isa_name(pk_isa_best()));
  else
    snprintf(buf, len, "%s (parkit path %s)", name,
             pk_isa_name(pk_isa_best()));
}

char *pkb_machine(char *buf, size_t len) {
  char cpu[256], date[64];
  time_t now = time(NULL);
  struct tm tm;
  double load[1] = {-1};

  cpu_model(cpu, sizeof cpu);
  localtime_r(&now, &tm);
  strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", &tm);
  /* On a shared machine the load says how far to trust the numbers. */
  getloadavg(load, 1);
  snprintf(buf, len, "%s, %d cores, %s, load %.2f", cpu, pkb_cores(), date,
           load[0]);
  return buf;
}

const char *pkb_blas_config(void) {
  const char *s = openblas_get_config();
  return s ? s : "unknown";
}

void pkb_fill_ints(double *x, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++)
    x[i] = (double)(int)(pk__splitmix(&seed) % 10) - 5.0;
}

void *pkb_batch_alloc(size_t bytes, int huge) {
  const size_t al = (size_t)2 << 20, pg = (size_t)sysconf(_SC_PAGESIZE);
  const size_t len = ((bytes ? bytes : 1) + pg - 1) / pg * pg;
  const size_t extra = huge ? al : 0;
  char *m, *a;

  m = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  a = m + (huge ? -(uintptr_t)m & (al - 1) : 0);
  if (a > m)
    munmap(m, (size_t)(a - m));
  if (m + extra > a) /* the tail past the aligned len bytes */
    munmap(a + len, (size_t)(m + extra - a));
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
  (void)madvise(a, len, huge && bytes >= 2 * al ? MADV_HUGEPAGE
                                                : MADV_NOHUGEPAGE);
#endif
  return a;
}

void pkb_batch_free(void *p, size_t bytes) {
  if (p != NULL)
    munmap(p, bytes ? bytes : 1);
}

char *pkb_thp_mode(char *buf, size_t len) {
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  char line[128] = "", *a, *b;

  snprintf(buf, len, "unknown");
  if (f == NULL)
    return buf;
  if (fgets(line, sizeof line, f) != NULL && (a = strchr(line, '[')) &&
      (b = strchr(a, ']')))
    snprintf(buf, len, "%.*s", (int)(b - a - 1), a + 1);
  fclose(f);
  return buf;
}

