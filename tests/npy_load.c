/*
 * npy_load [--mpi] [--save DIR] FILE...: for each file, "ok D0xD1x..." if
 * pk_array_load_npy reads it (on the serial backend), else "refused
 * STATUS: MESSAGE".  --save DIR writes what was read to DIR/N.npy (N the
 * file's position from 0), for a comparison with numpy's own conversion.
 * --mpi reads and writes with pk_mpi_load_npy and pk_mpi_save_npy on the
 * mpi backend (each rank its block; run it under mpirun).  For
 * tests/npy_numpy.sh and tests/npy_types.sh.
 */
#include <parkit.h>
#include <parkit/mpi.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  pk_config cfg = {.backend = "serial"};
  pk_context *ctx = NULL;
  const char *save = NULL;
  int i = 1, mpi = 0, rank = 0, bad = 0;

  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--mpi") == 0)
      mpi = 1;
    else if (strcmp(argv[i], "--save") == 0 && i + 1 < argc)
      save = argv[++i];
    else
      return 2;
  }
  if (mpi)
    cfg.backend = "mpi";
  if (pk_init_config(&ctx, NULL, NULL, &cfg) != PK_OK) {
    fprintf(stderr, "npy_load: %s\n", pk_errmsg(NULL));
    return 2;
  }
  if (mpi)
    rank = pk_mpi_rank(ctx);
  for (int n = 0; i < argc; i++, n++) {
    pk_array *a = NULL;
    pk_status st = mpi ? pk_mpi_load_npy(ctx, argv[i], &a)
                       : pk_array_load_npy(ctx, argv[i], &a);
    char path[4096];
    if (st != PK_OK) {
      if (rank == 0) { /* one line: a message may quote a header's \n */
        printf("refused %s: ", pk_strerror(st));
        for (const char *m = pk_errmsg(ctx); *m; m++)
          putchar(*m == '\n' ? ' ' : *m);
        putchar('\n');
      }
      continue;
    }
    if (rank == 0) {
      printf("ok ");
      for (int d = 0; d < pk_array_ndim(a); d++)
        printf("%s%zu", d ? "x" : "",
               d == 0 && mpi ? pk_array_global(a) : pk_array_dim(a, d));
      printf("\n");
    }
    if (save) {
      snprintf(path, sizeof path, "%s/%d.npy", save, n);
      st = mpi ? pk_mpi_save_npy(ctx, a, path)
               : pk_array_save_npy(ctx, a, path);
      if (st != PK_OK) {
        fprintf(stderr, "npy_load: %s\n", pk_errmsg(ctx));
        bad = 1;
      }
    }
    pk_array_destroy(&a);
  }
  fflush(stdout);
  pk_finalize(&ctx);
  return bad;
}
