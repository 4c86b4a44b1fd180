/*
 * What the MPI test programs share: checks that count instead of stopping
 * (every rank must reach every collective call, so a failed check must not
 * end one rank early) and a seeded generator that is the same on every
 * rank.  The including file defines npass, nfail and rank.
 */
#ifndef PK_TESTS_MPI_CHECK_H
#define PK_TESTS_MPI_CHECK_H

#include <parkit.h>

#include "splitmix.h"

#include <stdint.h>
#include <stdio.h>

#define CHECK(c)                                                           \
  do {                                                                     \
    if (c)                                                                 \
      npass++;                                                             \
    else {                                                                 \
      nfail++;                                                             \
      fprintf(stderr, "rank %d: %s:%d: CHECK(%s) failed\n", rank,          \
              __FILE__, __LINE__, #c);                                     \
    }                                                                      \
  } while (0)

#define CHECK_OK(c, call)                                                  \
  do {                                                                     \
    pk_status s_ = (call);                                                 \
    if (s_ == PK_OK)                                                       \
      npass++;                                                             \
    else {                                                                 \
      nfail++;                                                             \
      fprintf(stderr, "rank %d: %s:%d: %s: %s\n", rank, __FILE__,          \
              __LINE__, #call, pk_errmsg(c));                              \
    }                                                                      \
  } while (0)

#endif /* PK_TESTS_MPI_CHECK_H */
