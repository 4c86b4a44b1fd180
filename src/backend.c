/*
 * The backends compiled into the library, found by name.  The mpi backend
 * lives in a plugin of its own (parkit-mpi.so in the package's library
 * folder), loaded the first time a context asks for it, so that a program
 * that never does never loads MPI; a program linked statically with it
 * (the build tree's programs) has it already.
 */
#define _GNU_SOURCE /* dladdr */
#include "internal.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const pk__backend_ops *const backends[] = {
    &pk__backend_serial,
    &pk__backend_openmp,
#ifdef PK_HAVE_FORK_BACKEND
    &pk__backend_fork,
#endif
};

#define NBACKENDS (sizeof backends / sizeof backends[0])

static const char *names[] = {
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

#ifdef PK_HAVE_MPI
/* Defined where the mpi backend is linked in (src/mpi/backend.c). */
extern const pk__backend_ops pk__backend_mpi __attribute__((weak));

static pthread_mutex_t plugin_lock = PTHREAD_MUTEX_INITIALIZER;
static const pk__backend_ops *plugin_ops;

/* 1 if this code is in the program itself (libparkit linked statically):
   a plugin would bring a second copy of the library. */
static int static_link(void) {
  char exe[PATH_MAX], self[PATH_MAX];
  Dl_info i;
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

  if (n <= 0 || !dladdr((void *)pk__backend_find, &i) || !i.dli_fname)
    return 0;
  exe[n] = '\0';
  return realpath(i.dli_fname, self) && strcmp(self, exe) == 0;
}

static const pk__backend_ops *mpi_backend(char *why, size_t len) {
  const char *path = getenv("PARKIT_MPI_PLUGIN");
  const pk__backend_ops *ops;
  void *h;

  if (&pk__backend_mpi != NULL)
    return &pk__backend_mpi;
  pthread_mutex_lock(&plugin_lock);
  if ((ops = plugin_ops) != NULL)
    goto out;
  if (static_link()) {
    snprintf(why, len, "the mpi backend is not linked into this program, "
             "which links libparkit statically; link the shared library");
    goto out;
  }
  if (path == NULL || *path == '\0')
    path = PK_PLUGINDIR "/parkit-mpi.so";
  /* Global: Open MPI loads components of its own that look for its
     symbols. */
  if ((h = dlopen(path, RTLD_NOW | RTLD_GLOBAL)) == NULL) {
    snprintf(why, len, "the mpi backend's plugin cannot be loaded: %s "
             "(PARKIT_MPI_PLUGIN names another)", dlerror());
    goto out;
  }
  if ((ops = dlsym(h, "pk__backend_mpi")) == NULL)
    snprintf(why, len, "%s is not parkit's mpi plugin", path);
  plugin_ops = ops;
out:
  pthread_mutex_unlock(&plugin_lock);
  return ops;
}
#endif

const pk__backend_ops *pk__backend_find(const char *name, char *why,
                                        size_t len) {
  size_t i;

  if (why && len)
    why[0] = '\0';
  for (i = 0; i < NBACKENDS; i++)
    if (strcmp(backends[i]->name, name) == 0)
      return backends[i];
#ifdef PK_HAVE_MPI
  if (strcmp(name, "mpi") == 0)
    return mpi_backend(why, len);
#endif
  return NULL;
}

const char *const *pk_backends(void) { return names; }
