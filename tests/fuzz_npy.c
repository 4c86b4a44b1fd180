/*
 * libFuzzer target for the .npy reader: any bytes give a status, never a
 * crash, a hang or a leak.  Build and run (not part of make check):
 *   make fuzz-npy && ./fuzz-npy -max_total_time=60
 */
#define _GNU_SOURCE
#include <parkit.h>

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pk_context *ctx;
  pk_config cfg = {.backend = "serial"};
  pk_array *a = NULL;
  char path[64];
  int fd;

  if (ctx == NULL && pk_init_config(&ctx, NULL, NULL, &cfg) != PK_OK)
    return 0;
  fd = memfd_create("npy", MFD_CLOEXEC);
  if (fd < 0)
    return 0;
  if (write(fd, data, size) == (ssize_t)size) {
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (pk_array_load_npy(ctx, path, &a) == PK_OK && pk_array_nbytes(a) > 0)
      ((volatile char *)pk_array_data(a))[pk_array_nbytes(a) - 1] += 0;
    pk_array_destroy(&a);
  }
  close(fd);
  return 0;
}
