/*
 * Software prefetch of the next item, spread over a loop (internal): the
 * kernels' vector parts (det_simd.c, corr_simd.c) and fftplan.c's stores
 * past cache use it.
 */
#ifndef PK_FETCH_H
#define PK_FETCH_H

#include <stddef.h>

/*
 * The next item's cache lines, fetched while this one is computed: `per`
 * at each step of a loop whose steps leave load ports idle, `left` still
 * to fetch from `next` (NULL: none).  PK__FETCH_STEP(f, locality) takes
 * one step; locality as __builtin_prefetch's (a constant).
 */
typedef struct pk__fetch {
  const char *next;
  size_t left, per;
} pk__fetch;

#define PK__FETCH_STEP(f, locality)                                          \
  do {                                                                       \
    size_t k_ = (f)->left < (f)->per ? (f)->left : (f)->per;                 \
    for (size_t i_ = 0; i_ < k_; i_++, (f)->next += 64)                      \
      __builtin_prefetch((f)->next, 0, locality);                            \
    (f)->left -= k_;                                                         \
  } while (0)

#endif /* PK_FETCH_H */
