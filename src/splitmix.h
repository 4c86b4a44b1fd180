/*
 * splitmix64: the seeded generator the programs, benchmarks and tests use
 * for their inputs, so that one seed gives the same numbers in each (a
 * test can then make the inputs a program made).  Not part of the
 * library.
 */
#ifndef PK_SPLITMIX_H
#define PK_SPLITMIX_H

#include <stdint.h>

/* The generator's step: add to a seed to start a stream further on. */
#define PK_SPLITMIX_GAMMA 0x9e3779b97f4a7c15u

/* The next number of the generator whose state is *s. */
static inline uint64_t pk__splitmix(uint64_t *s) {
  uint64_t z = (*s += PK_SPLITMIX_GAMMA);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

#endif /* PK_SPLITMIX_H */
