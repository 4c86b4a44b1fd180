/*
 * The fork backend: a pool of worker processes forked once by start and
 * reused by every map until stop, over shared memory.
 *
 * Memory.  Arrays live in anonymous memfd segments mapped MAP_SHARED: nothing
 * has a name, so nothing can be left in /dev/shm.  A worker inherits every
 * segment that existed when it was forked, at the same address.  A segment
 * made later reaches a worker by SCM_RIGHTS over the worker's socket, sent
 * just before the first dispatch that needs it; the parent closes its
 * descriptor once every worker has it.  When the parent frees a segment the
 * workers learn it lazily: at their next dispatch they compare their cache
 * with a table of live segment ids the parent publishes, and unmap the rest.
 *
 * Dispatch.  One control block per pool, MAP_SHARED and anonymous, made before
 * the first fork: the job, an atomic chunk counter, per-chunk claim and done
 * stamps, a completion order for callbacks, and one slot per worker.  Workers
 * spin briefly for the next job (when there is a core for each), then sleep
 * on a futex in their slot; the parent spins briefly, then sleeps in
 * poll() on an eventfd the workers write when it is asleep, together with one
 * pidfd per worker, so a worker's death wakes it at once.
 *
 * Spins are bounded by time, never by a count of iterations: a `pause`
 * takes ~140 cycles on Skylake-X and a quarter of that on Zen 3 or later
 * Xeons, and a system call from ~0.2 us to several where the kernel
 * flushes branch predictors on each entry.  They read the TSC once the
 * pool has calibrated it (clock_gettime is itself a system call on hosts
 * whose clock source is not the TSC).  A warm round trip makes no system
 * call: the parent wakes a worker's futex only if the worker said it
 * sleeps, and a worker reads its socket only if the parent sent it
 * descriptors.
 *
 * Faults.  A chunk is claimed (stamp) before it runs and marked done (stamp)
 * after; when a worker dies, its claimed-but-not-done chunk fails with
 * PK_EWORKER, a replacement is forked, and the chunks nobody claimed run in
 * a further round.  Items reported complete were written by a worker that
 * got to the end of their chunk.
 */
#ifndef PK_FORK_BACKEND_H
#define PK_FORK_BACKEND_H

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#define MAXCHUNKS (1u << 20) /* per map; more are merged into fewer */
#define FAILCAP 1024         /* failures a worker stores per map */
#define KDATA 65536          /* kernel data or task buffer kept inline */
#define LIVECAP (1u << 18)   /* live segment ids published to workers */
#define MAXFD (2 * PK_MAX_ARGS + 1) /* segments a dispatch can need */
#define PLANCAP (1u << 18)   /* the parent's planning state, for workers */
#define SPIN_NS 40000.0      /* the parent spins this long before sleeping */
#define WSPIN_NS 50000.0     /* and a worker, for its next job */
#define SLICE_NS 1000.0      /* a spin sharing a core yields this often */
#define BIRTH_S 5.0          /* a worker not started by then never will */
#define EXIT_INIT 4          /* a worker's exit status: its initializer
                                failed (the status in its slot) */

/*
 * Between the two sides' store of their own flag and load of the other's
 * (parent: sleeping, then the workers' done; worker: done, then sleeping;
 * and go against a worker's sleeping), so that at least one side sees the
 * other.  The seq_cst atomics alone order them on the hardware; under
 * qemu-user 7.2 on x86-64 (make check-aarch64) test_soak once ended with
 * the parent and both workers asleep after a round, each having missed
 * the other's store: most likely the emulated store-release and
 * load-acquire let the load pass the store, which a full fence (dmb)
 * does not.  A program of 100,000 maps of 64 2x2 determinants on 2
 * workers under qemu-aarch64: without the fences 2 runs of 3 hung, with
 * them none of 6, the slowest map 18 ms.  The parent also looks at the
 * round every second.
 */
#define PK__STORE_LOAD() atomic_thread_fence(memory_order_seq_cst)

enum { K_NOP, K_MAP, K_TASK, K_INIT, K_QUIT };
/* Staging segments: one per input, one per output, the kernel's data. */
enum { ST_IN = 0, ST_OUT = PK_MAX_ARGS, ST_DATA = 2 * PK_MAX_ARGS, NSTAGE };

typedef struct frec {
  uint64_t item;
  int32_t status, pad;
} frec;

/* One worker's slot; a line pair of its own so workers do not share one. */
typedef struct slot {
  _Atomic uint32_t go;   /* futex: the dispatch to run next */
  _Atomic uint32_t done; /* the last dispatch finished */
  _Atomic uint32_t quit;
  int32_t status;        /* of a task, an initializer, a prepare */
  uint64_t chunks;       /* chunks run since the worker started */
  uint64_t nfail;        /* failures in this map, counted */
  _Atomic uint32_t sleeping; /* in FUTEX_WAIT, or about to be */
  _Atomic uint32_t sent; /* messages with descriptors sent to it */
  _Atomic uint32_t up;   /* 1: started, in its loop */
  uint32_t pad0;
  double woke;           /* pk_time() when it took the last dispatch */
  char pad[128 - 56];
} slot;

/* The job as workers read it. */
typedef struct jobdesc {
  pk_kernel kernel;                /* data redirected when data_size > 0 */
  /* 0: none (NULL, or the kdata area) */
  uint64_t in_seg[PK_MAX_ARGS], out_seg[PK_MAX_ARGS], data_seg;
  size_t in_off[PK_MAX_ARGS], out_off[PK_MAX_ARGS], data_off;
  pk_task task;                    /* its pointers unused */
  size_t n, lo, chunk, nchunks, scratch; /* items from lo run here */
  pk__gather gather[PK_MAX_ARGS];  /* views among the inputs (pk__job) */
  size_t piece, gather_at;
  int schedule, workers, retry, notify;
  int first;                       /* the participants: workers first ..
                                      first + workers - 1, modulo n */
  unsigned fresh;                  /* pk__job's */
  uint32_t stamp;
  pk_status (*fn)(void *, size_t); /* task */
  pk_status (*init)(void *, size_t, int);
  size_t size;                     /* task buffer or init argument */
  uint32_t plans;                  /* generation of the wisdom in plans */
  /* Pointers above in a module loaded after the fork server started: its
     path and load address here; a worker that lacks it loads it and moves
     them (server.c).  unmovable: one is nowhere a server's worker can
     find; such a worker fails the items. */
  unsigned moved, unmovable;
  uintptr_t mod_base;
  char mod[512];
} jobdesc;

/* The job's pointers a worker may have to move (jobdesc.moved's bits). */
enum { MV_RUN, MV_PREPARE, MV_DATA, MV_FN, MV_INIT, MV_N };

typedef struct ctl {
  _Atomic uint32_t sleeping; /* the parent sleeps in poll: write efd */
  _Atomic double tsc_per_ns; /* TSC ticks a nanosecond; 0: use the clock */
  _Atomic size_t ncomp;      /* entries in order[] */
  int kind;
  jobdesc job;
  uint64_t epoch;            /* of the live table */
  size_t nlive;              /* SIZE_MAX: too many to publish */
} ctl;

/* A shared segment, as the parent knows it. */
typedef struct seg {
  uint64_t id;
  char *addr;
  size_t size;
  int fd;                  /* -1 once every worker has it */
  unsigned char *known;    /* known[w]: worker w has it mapped */
  struct seg *prev, *next;
} seg;

typedef struct wk {
  pid_t pid;               /* 0: none */
  int sock, pidfd;         /* parent's ends */
  int report;              /* made by the server: its wait status comes
                              here; -1: forked by us, waitpid it */
  int status;              /* wait status of the last death */
  int unknown;             /* 1: reaped by the program, status not seen */
  int died;                /* in the current job */
  int stuck;               /* killed for not starting in time */
  int stopped;             /* killed by pk_future_cancel, in this job */
  int init_failed;         /* its initializer failed in a replacement: the
                              slot stays empty until pk_worker_init */
  double up_by;            /* when it must have started */
} wk;

/* What the parent keeps of the job in flight. */
typedef struct pend {
  int busy, kind, deaths;
  int lossy;               /* chunks may be lost: check each */
  int cancelled;           /* pk_future_cancel: no further round */
  int interrupted;         /* the cancel was pk_interrupt's */
  size_t claimed;          /* chunks claimed after the last round */
  pk_array *out[PK_MAX_ARGS]; /* wrapped outputs to copy back, or NULL */
  void *buf;               /* task buffer to copy back */
  seg *bufseg;
  int task_worker;
  struct pk_future *future;
  void (*cb)(void *, size_t, size_t);
  void *cb_arg;
  size_t cursor;           /* order[] entries delivered */
  unsigned char *told;     /* chunks delivered to cb */
  char *part;              /* participants of the current round */
} pend;

typedef struct pool {
  pk_context *ctx;
  pid_t self;              /* the workers' parent: us, or the server */
  unsigned forks;          /* forks of the process before the pool began */
  int n;
  char *base;
  size_t mapsize;
  int ctlfd;               /* the memfd of base, for the server's workers */
  int start;               /* PK__START_* */
  int keep_fds;            /* segments' descriptors kept for the server */
  ctl *c;
  char *kdata;
  char *plans;             /* PLANCAP bytes: the parent's planning state */
  uint32_t plans_gen;      /* bumped when plans changes */
  char *plans_last;        /* what plans holds, in the parent */
  unsigned long plans_seen; /* pk__plans_version() at that export */
  slot *slots;
  frec *fails;
  uint64_t *live;
  _Atomic uint32_t *claim, *done, *who;
  _Atomic uint64_t *order;
  wk *w;
  int efd;
  seg *head, *tail;
  uint64_t next_id;
  int live_dirty;
  seg *stage[NSTAGE];
  uint32_t seq, stamp;
  unsigned rr;
  int cores;               /* cores we may use */
  int bind;                /* 1: worker w runs on the w-th allowed core */
  int single_at_fork;      /* 1: the fork left BLAS and OpenMP on one
                              thread in the child (pk__fork_spawn) */
  int *cpu;                /* with bind, worker w's CPU, else -1 */
  pend p;
  pk_status (*init_fn)(void *, size_t, int);
  void *init_arg;
  size_t init_size;
  unsigned long max_tasks; /* chunks before a worker is replaced; 0: never */
  double go_at;            /* pk_time() of the last dispatch */
  double last_end;         /* when the last map's round ended */
  pk__wake wake;           /* how late the workers came to maps */
  /* The load addresses of the modules there were when the pool started
     (nmods -1: not known): a pointer into one opened later may be where
     no worker of ours has anything (place_code). */
  uintptr_t *mods;
  int nmods;
  unsigned long long mods_adds; /* the loader's count of loads then */
  char msg[512];
} pool;

/* How workers are made (PARKIT_START). */
enum { PK__START_AUTO, PK__START_FORK, PK__START_SERVER };

/* What the fork server needs to make worker me of a pool (server.c). */
typedef struct spawnreq {
  uint32_t magic;
  int me, n, cores, bind;
  pid_t self;              /* the server, set by it */
  size_t mapsize, init_size;
  pk_status (*init_fn)(void *, size_t, int);
} spawnreq;

/* --------------------------------------------- between this folder's files */


/* segment.c: the control block's layout (the pointers from base, or, with
   base NULL, only mapsize); shared segments, made and freed by the parent. */
void pk__fork_layout(pool *p);
pk_status pk__fork_seg_new(pool *p, size_t size, seg **out);
void pk__fork_seg_free(pool *p, seg *s);
pk_status pk__fork_stage(pool *p, int i, size_t size, seg **out);

/* worker.c: a worker process, from its fork to its exit. */
void pk__fork_worker_main(pool *p, int me, int sock, int by_main)
    __attribute__((noreturn));
void pk__fork_worker_served(const spawnreq *r, int ctlfd, int sock, int efd,
                            void *init) __attribute__((noreturn));

/* server.c: the fork server, and what its workers can run. */
int pk__fork_start_method(const char **bad);
int pk__fork_server_up(void);
int pk__fork_server_wanted(const pool *p);
pk_status pk__fork_server_spawn(pool *p, int w, int sock, pid_t *pid,
                                int *report);
int pk__fork_server_status(int report);
const char *pk__fork_server_place(jobdesc *jd, const void *const ptr[MV_N],
                                  int must);

/* Whether worker w of a pool of n takes part in the job jd, and its rank
   among those that do. */
static inline int pk__fork_rank(const jobdesc *jd, int w, int n) {
  return (w - jd->first + n) % n;
}

/* The k-th CPU of set (from 0), or -1: with bind, worker k's core, as the
   worker binds itself (worker.c) and the parent expects it (backend.c). */
static inline int pk__fork_nth_cpu(const cpu_set_t *set, int k) {
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, set) && k-- == 0)
      return cpu;
  return -1;
}
static inline int pk__fork_takes_part(const jobdesc *jd, int w, int n) {
  return pk__fork_rank(jd, w, n) < jd->workers;
}

/* pool.c: the workers as the parent drives them. */
void pk__fork_close_worker(pool *p, int w);
pk_status pk__fork_spawn(pool *p, int w);
void pk__fork_reap(pool *p, int w);
void pk__fork_heal(pool *p);
void pk__fork_dispatch(pool *p, int kind, seg *const *need, int nneed);
int pk__fork_wait_round(pool *p, double deadline);
void pk__fork_replace_dead(pool *p);
int pk__fork_alive(pool *p);
pk_status pk__fork_complete(pool *p, double deadline, pk__fails *f);
pk_status pk__fork_finish_pending(pool *p, double timeout);
void pk__fork_cancel(pool *p);

#endif /* PK_FORK_BACKEND_H */
