/*
 * npy_load FILE...: for each file, "ok D0xD1x..." if pk_array_load_npy
 * reads it (on the serial backend), else "refused STATUS".  For
 * tests/npy_numpy.sh, which compares with numpy's own loader.
 */
#include <parkit.h>

#include <stdio.h>

int main(int argc, char **argv) {
  pk_config cfg = {.backend = "serial"};
  pk_context *ctx = NULL;

  if (pk_init_config(&ctx, NULL, NULL, &cfg) != PK_OK)
    return 2;
  for (int i = 1; i < argc; i++) {
    pk_array *a = NULL;
    pk_status st = pk_array_load_npy(ctx, argv[i], &a);
    if (st != PK_OK) {
      printf("refused %s\n", pk_strerror(st));
      continue;
    }
    printf("ok ");
    for (int d = 0; d < pk_array_ndim(a); d++)
      printf("%s%zu", d ? "x" : "", pk_array_dim(a, d));
    printf("\n");
    pk_array_destroy(&a);
  }
  pk_finalize(&ctx);
  return 0;
}
