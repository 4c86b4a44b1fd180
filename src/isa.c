/* The instruction-set paths: what this CPU and build support, by name. */
#include "internal.h"

#include <string.h>

static const char *const names[] = {"auto", "generic", "avx2", "avx512"};

/*
 * __builtin_cpu_supports also checks that the kernel saves the wider
 * registers (XCR0), so a path it accepts is one this process may run.
 * Only paths the build compiled count (config.h: PK_HAVE_AVX2, ...).
 */
pk_isa pk_isa_best(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
#ifdef PK_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512cd") &&
      __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
    return PK_ISA_AVX512;
#endif
#ifdef PK_HAVE_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return PK_ISA_AVX2;
#endif
#endif
  return PK_ISA_GENERIC;
}

const char *pk_isa_name(pk_isa isa) {
  return (unsigned)isa < sizeof names / sizeof *names ? names[isa] : NULL;
}

int pk__isa_parse(const char *s, pk_isa *isa) {
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(s, names[i]) == 0) {
      *isa = (pk_isa)i;
      return 0;
    }
  return -1;
}

pk_isa pk_isa_of(const pk_context *ctx) {
  return ctx ? ctx->isa : pk_isa_best();
}
