/*
 * The mpi backend as a plugin, in a program linked with the shared
 * library: MPI is not loaded by a program that uses other backends; a
 * missing plugin is a clear PK_EBACKEND; the plugin, once loaded, runs
 * maps and the whole-array transforms (a singleton run, one rank).
 * Plain C: prints each failure, exits 1 if any.
 */
#include <parkit.h>
#include <parkit/kernels.h>
#include <parkit/mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nfail;
#define CHECK(c)                                                            \
  do {                                                                      \
    if (!(c)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
      nfail++;                                                              \
    }                                                                       \
  } while (0)

/* 1 if a library whose name holds s is mapped into this process. */
static int mapped(const char *s) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[4096];
  int found = 0;

  while (f && fgets(line, sizeof line, f))
    if (strstr(line, s))
      found = 1;
  if (f)
    fclose(f);
  return found;
}

/* The determinants of 3 diagonal matrices diag(k + 1, 2): 2k + 2. */
static void dets(pk_context *ctx) {
  size_t shape[3] = {3, 2, 2};
  double x[12] = {1, 0, 0, 2, 2, 0, 0, 2, 3, 0, 0, 2};
  pk_array *in = NULL, *out = NULL;

  CHECK(pk_array_wrap(ctx, PK_F64, 3, shape, x, &in) == PK_OK);
  CHECK(pk_map(ctx, pk_kernel_det(), in, &out, NULL) == PK_OK);
  for (int k = 0; out && k < 3; k++)
    CHECK(((double *)pk_array_data(out))[k] == 2.0 * k + 2);
  pk_array_destroy(&out);
  pk_array_destroy(&in);
}

int main(void) {
  const char *plugin = getenv("PARKIT_MPI_PLUGIN");
  pk_config cfg = {.backend = "openmp", .workers = 2};
  pk_context *ctx = NULL;
  pk_status st;

  CHECK(!mapped("libmpi"));
  CHECK(pk_init_config(&ctx, NULL, NULL, &cfg) == PK_OK);
  dets(ctx);
  CHECK(pk_finalize(&ctx) == PK_OK);
  CHECK(!mapped("libmpi")); /* openmp never loads MPI */

  setenv("PARKIT_MPI_PLUGIN", "/nonexistent/parkit-mpi.so", 1);
  cfg.backend = "mpi";
  cfg.workers = 1;
  st = pk_init_config(&ctx, NULL, NULL, &cfg);
  CHECK(st == PK_EBACKEND && ctx == NULL);
  CHECK(strstr(pk_errmsg(NULL), "/nonexistent/parkit-mpi.so") != NULL);
  CHECK(strstr(pk_errmsg(NULL), "PARKIT_MPI_PLUGIN") != NULL);

  if (plugin == NULL) {
    fprintf(stderr, "test_plugin: PARKIT_MPI_PLUGIN unset: the installed "
            "plugin is tried\n");
    unsetenv("PARKIT_MPI_PLUGIN");
  } else {
    setenv("PARKIT_MPI_PLUGIN", plugin, 1);
  }
  st = pk_init_config(&ctx, NULL, NULL, &cfg);
  CHECK(st == PK_OK);
  if (st != PK_OK) {
    fprintf(stderr, "test_plugin: %s\n", pk_errmsg(NULL));
  } else {
    CHECK(strcmp(pk_backend(ctx), "mpi") == 0);
    CHECK(mapped("libmpi"));
    dets(ctx);
    /* The whole-array transforms the plugin registers: a 4x4 array of
       ones has its sum at [0, 0] and zero elsewhere. */
    size_t shape[2] = {4, 4};
    pk_array *a = NULL, *f = NULL;
    CHECK(pk_mpi_create(ctx, PK_F64, 2, shape, &a) == PK_OK);
    for (size_t i = 0; a && i < pk_array_count(a); i++)
      ((double *)pk_array_data(a))[i] = 1;
    CHECK(pk_fft2_array(ctx, a, &f, 0) == PK_OK);
    if (f) {
      const double *z = pk_array_data(f);
      CHECK(z[0] == 16 && z[1] == 0);
      for (size_t i = 1; i < pk_array_count(f); i++)
        CHECK(z[2 * i] == 0 && z[2 * i + 1] == 0);
    }
    pk_array_destroy(&f);
    pk_array_destroy(&a);
    CHECK(pk_finalize(&ctx) == PK_OK);
  }
  printf("test_plugin: %d failed\n", nfail);
  return nfail != 0;
}
