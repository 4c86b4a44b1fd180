/* The backends compiled into the library, found by name. */
#include "internal.h"

#include <string.h>

static const pk__backend_ops *const backends[] = {
    &pk__backend_serial,
    &pk__backend_openmp,
#ifdef PK_HAVE_FORK_BACKEND
    &pk__backend_fork,
#endif
#ifdef PK_HAVE_MPI
    &pk__backend_mpi,
#endif
};

#define NBACKENDS (sizeof backends / sizeof backends[0])

static const char *names[NBACKENDS + 1] = {
    "serial",
    "openmp",
#ifdef PK_HAVE_FORK_BACKEND
    "fork",
#endif
#ifdef PK_HAVE_MPI
    "mpi",
#endif
    NULL,
};

const pk__backend_ops *pk__backend_find(const char *name) {
  size_t i;

  for (i = 0; i < NBACKENDS; i++)
    if (strcmp(backends[i]->name, name) == 0)
      return backends[i];
  return NULL;
}

const char *const *pk_backends(void) { return names; }
