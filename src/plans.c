/*
 * Planning state shared between processes, without naming whose it is.
 *
 * A kernel family whose results depend on what it keeps in the process
 * (the FFT kernels: the planner mode, the effort of each plan, what the
 * planner learnt) registers hooks when the library is loaded.  The front
 * end, the fork backend (the parent's state to its workers) and the mpi
 * backend (rank 0's to the others) call the functions here.  Saved state
 * is each family's string framed as "name=length:" and the bytes, one
 * after the other, so that several families can travel in one string.
 * And the threads of the libraries underneath: BLAS's, OpenMP's and each
 * family's, made single in a worker process in one place.
 */
#include "internal.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define MAX_FAMILIES 4

static const pk__plan_hooks *families[MAX_FAMILIES];
static int nfamilies;

/* At load time, before any thread of the library runs. */
void pk__plans_register(const pk__plan_hooks *h) {
  for (int i = 0; i < nfamilies; i++)
    if (families[i] == h)
      return;
  if (nfamilies < MAX_FAMILIES)
    families[nfamilies++] = h;
}

pk_status pk__plans_setup(char *msg, size_t len) {
  for (int i = 0; i < nfamilies; i++) {
    pk_status st = families[i]->setup ? families[i]->setup(msg, len) : PK_OK;
    if (st != PK_OK)
      return st;
  }
  return PK_OK;
}

void pk__plans_help(FILE *out) {
  for (int i = 0; i < nfamilies; i++)
    if (families[i]->help)
      fputs(families[i]->help, out);
}

char *pk__plans_save(void) {
  char *all = NULL;
  size_t n = 0;

  for (int i = 0; i < nfamilies; i++) {
    char *s = families[i]->save ? families[i]->save() : NULL, head[64], *t;
    size_t len, hl;
    if (s == NULL)
      continue;
    len = strlen(s);
    hl = (size_t)snprintf(head, sizeof head, "%s=%zu:", families[i]->name,
                          len);
    t = realloc(all, n + hl + len + 1);
    if (t == NULL) {
      free(s);
      free(all);
      return NULL;
    }
    all = t;
    memcpy(all + n, head, hl);
    memcpy(all + n + hl, s, len + 1);
    n += hl + len;
    free(s);
  }
  return all;
}

pk_status pk__plans_load(const char *s) {
  pk_status st = PK_OK;

  while (s != NULL && *s != '\0') {
    const char *eq = strchr(s, '='), *colon;
    char *end, *copy;
    size_t len;
    if (eq == NULL || (colon = strchr(eq, ':')) == NULL)
      return PK_EINVAL;
    len = strtoul(eq + 1, &end, 10);
    if (end != colon || strlen(colon + 1) < len)
      return PK_EINVAL;
    for (int i = 0; i < nfamilies; i++) {
      const pk__plan_hooks *h = families[i];
      if (h->load == NULL || strlen(h->name) != (size_t)(eq - s) ||
          memcmp(h->name, s, (size_t)(eq - s)) != 0)
        continue;
      if ((copy = malloc(len + 1)) == NULL)
        return PK_ENOMEM;
      memcpy(copy, colon + 1, len);
      copy[len] = '\0';
      if (st == PK_OK)
        st = h->load(copy);
      free(copy);
    }
    s = colon + 1 + len;
  }
  return st;
}

unsigned long pk__plans_version(void) {
  unsigned long v = 0;
  for (int i = 0; i < nfamilies; i++)
    v += families[i]->version ? families[i]->version() : 0;
  return v;
}

int pk__plans_flush(char *msg, size_t len) {
  int said = 0;
  size_t used = 0;

  for (int i = 0; i < nfamilies; i++) {
    if (families[i]->flush == NULL)
      continue;
    if (msg != NULL && used < len) {
      if (families[i]->flush(msg + used, len - used)) {
        said = 1;
        used += strlen(msg + used);
        if (used + 1 < len)
          msg[used++] = '\n', msg[used] = '\0';
      }
    } else {
      said |= families[i]->flush(NULL, 0);
    }
  }
  if (said && msg != NULL && used > 0 && msg[used - 1] == '\n')
    msg[used - 1] = '\0';
  return said;
}

/* OpenBLAS's controls, if the BLAS linked in has them. */
extern void openblas_set_num_threads(int) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));
extern int openblas_get_parallel(void) __attribute__((weak));
extern char *openblas_get_config(void) __attribute__((weak));
extern int blas_thread_shutdown_(void) __attribute__((weak));
extern int blas_server_avail __attribute__((weak));
extern int blas_num_threads __attribute__((weak));
extern int blas_cpu_number __attribute__((weak));

int pk__blas_get(void) {
  return openblas_get_num_threads ? openblas_get_num_threads() : 1;
}

/*
 * Whether n threads can be set in OpenBLAS's count alone: its pthreads
 * pool is stopped (by pk__blas_pool_stop or its own fork handler) and
 * already has room for n, and the build sets no thread affinity (which
 * openblas_set_num_threads would also move).  openblas_set_num_threads
 * first starts a stopped pool: a thread made at each pk_init, to be
 * joined again at once (pk__blas_pool_stop) or at the fork backend's
 * forks, and one made at pk_finalize, to spin beside the program for a
 * tenth of a second.  A BLAS call on more threads starts the pool itself,
 * as after a fork.
 */
static int count_only(int n) {
  static int affinity = -1; /* the build's, read once */

  if (openblas_get_parallel == NULL || &blas_server_avail == NULL ||
      &blas_num_threads == NULL || &blas_cpu_number == NULL ||
      openblas_get_parallel() != 1 || blas_server_avail ||
      n > blas_num_threads)
    return 0;
  if (affinity < 0) {
    const char *c = openblas_get_config ? openblas_get_config() : NULL;
    affinity = c == NULL || strstr(c, "NO_AFFINITY") == NULL;
  }
  return !affinity;
}

void pk__blas_set(int n) {
  if (n <= 0)
    return;
  if (count_only(n))
    blas_cpu_number = n;
  else if (openblas_set_num_threads)
    openblas_set_num_threads(n);
}

void pk__blas_single(void) { pk__blas_set(1); }

#ifdef _OPENMP
/* Whether a forked child keeps its forking thread's OpenMP count: under
   libgomp it does; LLVM's and Intel's runtimes (which define
   __kmpc_fork_call) start again in the child, from the environment. */
static int omp_kept;
static pthread_once_t omp_kept_once = PTHREAD_ONCE_INIT;
static void omp_kept_init(void) {
  omp_kept = dlsym(RTLD_DEFAULT, "__kmpc_fork_call") == NULL;
}
#endif

/*
 * Around the fork backend's fork: the forking thread's OpenMP thread count
 * made one for the fork, so that the child has it from the start, and the
 * count it had, for pk__omp_restore; *kept: whether the child keeps it
 * (else it must set its own).  Per thread (an ICV of the calling task):
 * the program's other threads never see it.
 */
int pk__omp_single_for_fork(int *kept) {
#ifdef _OPENMP
  pthread_once(&omp_kept_once, omp_kept_init);
  *kept = omp_kept;
  const int n = omp_kept ? omp_get_max_threads() : 1;
  if (n != 1)
    omp_set_num_threads(1);
  return n;
#else
  *kept = 1;
  return 1;
#endif
}

void pk__omp_restore(int n) {
#ifdef _OPENMP
  if (n != 1)
    omp_set_num_threads(n);
#else
  (void)n;
#endif
}

/*
 * BLAS on one thread while any context of the process is alive: the first
 * to come saves the program's thread count, the last to go restores it.
 * Each context restoring the count it found had left BLAS on the
 * program's threads under a context still alive, and on one thread after
 * every context was gone, whenever contexts did not end in the reverse
 * order of their start (two threads with a context each, say).
 */
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static int blas_holders, blas_saved;

/* Held across fork(), as the planner's lock: a child forked while another
   thread counted gets the lock free. */
static void blas_lock_take(void) { pthread_mutex_lock(&blas_lock); }
static void blas_lock_give(void) { pthread_mutex_unlock(&blas_lock); }
static void blas_lock_init(void) {
  pthread_atfork(blas_lock_take, blas_lock_give, blas_lock_give);
}

void pk__blas_hold(void) {
  pthread_once(&blas_once, blas_lock_init);
  pthread_mutex_lock(&blas_lock);
  if (blas_holders++ == 0)
    blas_saved = pk__blas_get();
  pk__blas_single();
  pthread_mutex_unlock(&blas_lock);
}

void pk__blas_release(void) {
  pthread_mutex_lock(&blas_lock);
  if (blas_holders > 0 && --blas_holders == 0)
    pk__blas_set(blas_saved);
  pthread_mutex_unlock(&blas_lock);
}

/*
 * OpenBLAS's thread pool stopped, while a context keeps BLAS on one thread
 * and no other thread of the program runs: its threads, which the library
 * starts as it loads, wait for work by spinning on sched_yield for about
 * 2^28 cycles of the time stamp counter (a tenth of a second) after they
 * start or finish a call, beside the workers on their cores.  A program
 * started once ran in their window: examples/dets took 0.13-0.14 s in most
 * runs against 0.06-0.07 with OPENBLAS_NUM_THREADS=1, examples/autocorr
 * --count 30 0.09-0.10 against 0.01-0.02 (AMD EPYC family 26, 2 cores).  A
 * later BLAS call on more threads starts the pool again: OpenBLAS's own
 * lazy start, which it also relies on after a fork (its fork handler stops
 * the pool the same way).
 */
void pk__blas_pool_stop(void) {
  int pool = pk__blas_pool_threads(), n = pk__threads();

  /* Only where no other thread of the program could be inside a BLAS call
     that the pool is serving: stopping it then would wait for ever. */
  if (blas_thread_shutdown_ && pool > 0 && n - pool == 1)
    blas_thread_shutdown_();
}

/* The threads of OpenBLAS's pool, if it is running (its caller's not
   counted). */
int pk__blas_pool_threads(void) {
  if (&blas_server_avail == NULL || &blas_num_threads == NULL ||
      !blas_server_avail || blas_num_threads < 1)
    return 0;
  return blas_num_threads - 1;
}

/* The threads of this process now (0: unknown). */
int pk__threads(void) {
  char buf[1024], *rp;
  ssize_t r;
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), n = 0;

  if (fd < 0)
    return 0;
  r = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (r <= 0)
    return 0;
  buf[r] = 0;
  /* After the command's ")": state, 5 ints, 7 counters, 4 ints, threads. */
  if ((rp = strrchr(buf, ')')) == NULL ||
      sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
             "%*d %*d %*d %*d %d", &n) != 1)
    return 0;
  return n;
}

/*
 * OpenBLAS's thread count set without openblas_set_num_threads, for a
 * process forked from one whose pool was never started here (a fork
 * server's child): the call would first start a pool (its lazy re-init
 * after a fork) whose thread then spins for a tenth of a second beside the
 * worker on its core, to be used never.  One thread needs no pool.
 */
void pk__blas_single_nopool(void) {
  if (&blas_cpu_number != NULL)
    blas_cpu_number = 1;
}

void pk__worker_single(int inherited) {
  /* The parent made BLAS single-threaded before forking: entering
     OpenBLAS again here could wait on a lock another thread of the parent
     held at the fork, which nobody in this process will release. */
  if (!inherited) {
    if (pk__blas_get() != 1)
      pk__blas_single();
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
  }
  for (int i = 0; i < nfamilies; i++)
    if (families[i]->single)
      families[i]->single();
}
