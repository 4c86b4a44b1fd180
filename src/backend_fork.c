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
#include "internal.h"

#include <errno.h>
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
#define MAXFD 4              /* segments one dispatch can need */
#define PLANCAP (1u << 18)   /* the parent's planning state, for workers */
#define SPIN_NS 40000.0      /* the parent spins this long before sleeping */
#define WSPIN_NS 50000.0     /* and a worker, for its next job */
#define SLICE_NS 1000.0      /* a spin sharing a core yields this often */

enum { K_NOP, K_MAP, K_TASK, K_INIT, K_QUIT };
enum { ST_IN, ST_OUT, ST_DATA, NSTAGE }; /* staging segments */

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
  char pad[128 - 40];
} slot;

/* The job as workers read it. */
typedef struct jobdesc {
  pk_kernel kernel;                /* data redirected when data_size > 0 */
  uint64_t in_seg, out_seg, data_seg; /* 0: none (NULL, or kdata area) */
  size_t in_off, out_off, data_off;
  pk_task task;                    /* in and out unused */
  size_t n, lo, chunk, nchunks, scratch; /* items from lo run here */
  int schedule, workers, retry, notify;
  uint32_t stamp;
  pk_status (*fn)(void *, size_t); /* task */
  pk_status (*init)(void *, size_t, int);
  size_t size;                     /* task buffer or init argument */
  uint32_t plans;                  /* generation of the wisdom in plans */
} jobdesc;

typedef struct ctl {
  _Atomic uint32_t sleeping; /* the parent sleeps in poll: write efd */
  _Atomic double tsc_per_ns; /* TSC ticks a nanosecond; 0: use the clock */
  _Atomic size_t next;       /* dynamic chunk counter */
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
  int status;              /* wait status of the last death */
  int died;                /* in the current job */
} wk;

/* What the parent keeps of the job in flight. */
typedef struct pend {
  int busy, kind, deaths;
  int lossy;               /* chunks may be lost: check each */
  size_t claimed;          /* chunks claimed after the last round */
  pk_array *out;           /* wrapped output to copy back, or NULL */
  size_t out_bytes;
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
  pid_t self;
  int n;
  char *base;
  size_t mapsize;
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
  pend p;
  pk_status (*init_fn)(void *, size_t, int);
  void *init_arg;
  size_t init_size;
  char msg[512];
} pool;

/* The FFT kernels' thread setting, when they are linked in. */

/* ------------------------------------------------------------ primitives */

static long futex(_Atomic uint32_t *w, int op, uint32_t val,
                  const struct timespec *ts) {
  return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

static void wake(_Atomic uint32_t *w) { futex(w, FUTEX_WAKE, INT_MAX, NULL); }

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Nanoseconds for spins: the TSC once calibrated, else the clock. */
static double spin_ns(const ctl *c) {
#if defined(__x86_64__) || defined(__i386__)
  double r = atomic_load_explicit(&c->tsc_per_ns, memory_order_relaxed);
  if (r > 0)
    return (double)__builtin_ia32_rdtsc() / r;
#else
  (void)c;
#endif
  return pk_time() * 1e9;
}

static uint64_t ticks(void) {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_ia32_rdtsc();
#else
  return 0;
#endif
}

/* TSC ticks a nanosecond over [t0, now] and [c0, ticks()]; 0 without an
   invariant TSC, or over too short a time to tell. */
static double tsc_rate(double t0, uint64_t c0) {
  double t = (pk_time() - t0) * 1e9;
  uint64_t n = ticks() - c0;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)) &&
      t >= 10e3 && n > 0)
    return (double)n / t;
#endif
  (void)n;
  return 0;
}

/* Spin while now() - t0 < ns, yielding every SLICE_NS if crowded (the
 * core may be another process's too); 1 as soon as done(arg). */
static int spin_until(const ctl *c, double t0, double ns, int crowded,
                      int (*done)(void *), void *arg) {
  double mark = t0;

  for (;;) {
    double now;
    if (done(arg))
      return 1;
    now = spin_ns(c);
    if (now - t0 >= ns)
      return 0;
    if (crowded && now - mark >= SLICE_NS) {
      sched_yield();
      mark = spin_ns(c);
    } else {
      cpu_relax();
    }
  }
}

static int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

static size_t pages(size_t n) {
  size_t pg = 4096;
  return (n + pg - 1) / pg * pg;
}

/* ----------------------------------------------------- segments (parent) */

static pk_status seg_new(pool *p, size_t size, seg **out) {
  seg *s = calloc(1, sizeof *s);
  int fd = -1;

  if (s == NULL || (s->known = calloc((size_t)p->n, 1)) == NULL)
    goto nomem;
  fd = memfd_create("parkit", MFD_CLOEXEC);
  if (fd < 0)
    goto sys;
  if (ftruncate(fd, (off_t)size) != 0)
    goto sys;
  s->addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (s->addr == MAP_FAILED)
    goto sys;
  s->fd = fd;
  s->size = size;
  s->id = ++p->next_id;
  s->prev = p->tail;
  if (p->tail)
    p->tail->next = s;
  else
    p->head = s;
  p->tail = s;
  p->live_dirty = 1;
  *out = s;
  return PK_OK;
sys:
  if (fd >= 0)
    close(fd);
  if (s)
    free(s->known);
  free(s);
  return errno == ENOMEM || errno == ENOSPC || errno == EMFILE ? PK_ENOMEM
                                                                : PK_ESYS;
nomem:
  if (s)
    free(s->known);
  free(s);
  return PK_ENOMEM;
}

static void seg_free(pool *p, seg *s) {
  if (s == NULL)
    return;
  munmap(s->addr, s->size);
  if (s->fd >= 0)
    close(s->fd);
  if (s->prev)
    s->prev->next = s->next;
  else
    p->head = s->next;
  if (s->next)
    s->next->prev = s->prev;
  else
    p->tail = s->prev;
  p->live_dirty = 1;
  free(s->known);
  free(s);
}

/* A staging segment of at least size bytes, kept for later calls. */
static pk_status stage(pool *p, int i, size_t size, seg **out) {
  seg *s = p->stage[i];

  if (s == NULL || s->size < size) {
    size_t want = pages(size > 2 * (s ? s->size : 0) ? size : 2 * s->size);
    seg_free(p, s);
    p->stage[i] = NULL;
    pk_status st = seg_new(p, want, &p->stage[i]);
    if (st != PK_OK)
      return st;
  }
  *out = p->stage[i];
  return PK_OK;
}

/* ------------------------------------------------------------- the worker */

typedef struct cent {
  uint64_t id;
  char *addr;
  size_t size;
} cent;

typedef struct wstate {
  pool *p;
  int me, sock;
  uint32_t last;
  uint64_t epoch;
  cent *v;
  size_t n, cap;
  void *scratch;
  size_t scap;
  uint32_t plans; /* the generation of wisdom imported */
  uint32_t seen;  /* slot's sent when the socket was last read */
} wstate;

static void cache_add(wstate *s, uint64_t id, char *addr, size_t size) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    cent *v = realloc(s->v, cap * sizeof *v);
    if (v == NULL) {
      munmap(addr, size); /* a later lookup fails the chunks, cleanly */
      return;
    }
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = (cent){id, addr, size};
}

static char *lookup(wstate *s, uint64_t id) {
  size_t i;
  for (i = s->n; i-- > 0;)
    if (s->v[i].id == id)
      return s->v[i].addr;
  return NULL;
}

/* Map the segments the parent sent since the last dispatch. */
static void receive(wstate *s) {
  for (;;) {
    uint64_t meta[2 * MAXFD];
    union {
      char buf[CMSG_SPACE(MAXFD * sizeof(int))];
      struct cmsghdr align;
    } u;
    struct iovec iov = {meta, sizeof meta};
    struct msghdr m = {0};
    struct cmsghdr *cm;
    ssize_t r;

    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.buf;
    m.msg_controllen = sizeof u.buf;
    r = recvmsg(s->sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return;
    for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
      int fds[MAXFD], k, nfd;
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
        continue;
      nfd = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      memcpy(fds, CMSG_DATA(cm), (size_t)nfd * sizeof(int));
      for (k = 0; k < nfd; k++) {
        if ((size_t)k * 16 + 16 <= (size_t)r) {
          void *a = mmap(NULL, meta[2 * k + 1], PROT_READ | PROT_WRITE,
                         MAP_SHARED, fds[k], 0);
          if (a != MAP_FAILED)
            cache_add(s, meta[2 * k], a, meta[2 * k + 1]);
        }
        close(fds[k]);
      }
    }
  }
}

static int has_id(const uint64_t *v, size_t n, uint64_t id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] == id)
      return 1;
    if (v[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

/* Unmap the segments the parent freed. */
static void reconcile(wstate *s) {
  ctl *c = s->p->c;
  size_t i, k = 0;

  if (c->epoch == s->epoch || c->nlive == SIZE_MAX)
    return;
  s->epoch = c->epoch;
  for (i = 0; i < s->n; i++) {
    if (has_id(s->p->live, c->nlive, s->v[i].id))
      s->v[k++] = s->v[i];
    else
      munmap(s->v[i].addr, s->v[i].size);
  }
  s->n = k;
}

static void note_fail(pool *p, int me, size_t item, pk_status st) {
  slot *sl = &p->slots[me];
  if (sl->nfail < FAILCAP)
    p->fails[(size_t)me * FAILCAP + sl->nfail] =
        (frec){item, (int32_t)st, 0};
  sl->nfail++;
}

/* Take chunk c for this map; 0 if someone has it. */
static int claim(pool *p, size_t c, uint32_t stamp, int me) {
  uint32_t old = atomic_load_explicit(&p->claim[c], memory_order_relaxed);
  if (old == stamp ||
      !atomic_compare_exchange_strong(&p->claim[c], &old, stamp))
    return 0;
  atomic_store_explicit(&p->who[c], (uint32_t)me, memory_order_relaxed);
  return 1;
}

static void finish_chunk(pool *p, const jobdesc *jd, size_t c) {
  atomic_store_explicit(&p->done[c], jd->stamp, memory_order_release);
  if (jd->notify) {
    size_t k = atomic_fetch_add(&p->c->ncomp, 1);
    atomic_store_explicit(&p->order[k], (uint64_t)jd->stamp << 32 | c,
                          memory_order_release);
    if (atomic_load(&p->c->sleeping)) {
      uint64_t one = 1;
      ssize_t r = write(p->efd, &one, sizeof one);
      (void)r;
    }
  }
}

static void run_map(wstate *s) {
  pool *p = s->p;
  const jobdesc *jd = &p->c->job;
  slot *sl = &p->slots[s->me];
  pk_kernel k = jd->kernel;
  pk_status bad = PK_OK;
  pk__fails f = {0};
  pk__job j;
  char *in = NULL, *out = NULL;
  size_t c, lo, hi, i, W = (size_t)jd->workers;
  int dyn = jd->schedule == PK_SCHEDULE_DYNAMIC || jd->retry;

  if (jd->in_seg && (in = lookup(s, jd->in_seg)) == NULL)
    bad = PK_ESYS;
  if (jd->out_seg && (out = lookup(s, jd->out_seg)) == NULL)
    bad = PK_ESYS;
  if (jd->kernel.data_size > 0) {
    char *d = jd->data_seg ? lookup(s, jd->data_seg) : p->kdata;
    if (d == NULL)
      bad = PK_ESYS;
    k.data = d ? d + jd->data_off : NULL;
  }
  memset(&j, 0, sizeof j);
  j.kernel = &k;
  j.task = jd->task;
  j.task.in = in ? in + jd->in_off : NULL;
  j.task.out = out ? out + jd->out_off : NULL;
  j.n = jd->n;
  j.lo = jd->lo;
  j.chunk = jd->chunk;
  j.nchunks = jd->nchunks;
  if (bad == PK_OK && k.prepare) {
    /* Plan from the parent's wisdom, so plans (and bits) match its own. */
    if (jd->plans != 0 && jd->plans != s->plans) {
      pk__plans_load(p->plans);
      s->plans = jd->plans;
    }
    bad = k.prepare(&k, &jd->task.in_item, jd->n);
  }
  if (bad == PK_OK && pk__scratch_reserve(&s->scratch, &s->scap, jd->scratch))
    bad = PK_ENOMEM;

  for (i = 0;; i++) {
    if (dyn) {
      c = atomic_fetch_add(&p->c->next, 1);
    } else {
      c = (size_t)s->me + i * W;
    }
    if (c >= jd->nchunks)
      break;
    if (!claim(p, c, jd->stamp, s->me))
      continue;
    pk__chunk(&j, c, &lo, &hi);
    if (bad != PK_OK) {
      for (; lo < hi; lo++)
        note_fail(p, s->me, lo, bad);
    } else {
      size_t q;
      pk__run(&j, lo, hi, s->scratch, s->me, &f);
      for (q = 0; q < f.len; q++)
        note_fail(p, s->me, f.v[q].item, f.v[q].status);
      sl->nfail += f.n - f.len;
      f.n = f.len = 0;
    }
    sl->chunks++;
    finish_chunk(p, jd, c);
  }
  pk__fails_free(&f);
}

static int job_came(void *arg) {
  const wstate *s = arg;
  return atomic_load(&s->p->slots[s->me].go) != s->last;
}

static void worker_loop(wstate *s) __attribute__((noreturn));
static void worker_loop(wstate *s) {
  pool *p = s->p;
  slot *sl = &p->slots[s->me];
  struct timespec second = {1, 0};

  /* A futex wake-up takes tens of microseconds here, more than a small
     job: a worker that has a core to itself watches for the next job a
     while first, as an OpenMP thread does.  When the parent has no core
     of its own, it may need this one: the spin yields it often. */
  const int spin = p->n <= p->cores, crowded = p->n >= p->cores;
  double idle = spin_ns(p->c);

  for (;;) {
    uint32_t go, sent;
    if (!spin || !spin_until(p->c, idle, WSPIN_NS, crowded, job_came, s)) {
      /* Said before the last look, so that the parent, which stores go
         before it looks at this, either is seen or sees it. */
      atomic_store(&sl->sleeping, 1);
      if (atomic_load(&sl->go) == s->last)
        /* The timeout only guards against a parent gone without a
           signal. */
        futex(&sl->go, FUTEX_WAIT, s->last, &second);
      atomic_store(&sl->sleeping, 0);
      if (getppid() != p->self)
        _exit(0);
    }
    go = atomic_load(&sl->go);
    if (go == s->last)
      continue;
    s->last = go;
    if (atomic_load(&sl->quit) || p->c->kind == K_QUIT)
      _exit(0);
    sent = atomic_load(&sl->sent);
    if (sent != s->seen) {
      s->seen = sent;
      receive(s);
    }
    reconcile(s);
    switch (p->c->kind) {
    case K_MAP:
      run_map(s);
      break;
    case K_TASK: {
      const jobdesc *jd = &p->c->job;
      char *b = jd->data_seg ? lookup(s, jd->data_seg) : p->kdata;
      sl->status = b ? jd->fn(jd->size ? b : NULL, jd->size) : PK_ESYS;
      sl->chunks++;
      break;
    }
    case K_INIT: {
      const jobdesc *jd = &p->c->job;
      char *b = jd->data_seg ? lookup(s, jd->data_seg) : p->kdata;
      sl->status =
          b ? jd->init(jd->size ? b : NULL, jd->size, s->me) : PK_ESYS;
      break;
    }
    default:
      break;
    }
    atomic_store(&sl->done, go);
    if (atomic_load(&p->c->sleeping)) {
      uint64_t one = 1;
      ssize_t r = write(p->efd, &one, sizeof one);
      (void)r;
    } else if (crowded) {
      sched_yield(); /* the parent may be waiting on this core */
    }
    idle = spin_ns(p->c);
  }
}

/*
 * Worker me onto the me-th core this process may use.  Woken at once by the
 * parent, unbound workers were seen to stay stacked on one core for whole
 * calls, at half speed, while the other core idled.
 */
static void bind_core(int me) {
  cpu_set_t all, one;
  int k = 0;

  if (sched_getaffinity(0, sizeof all, &all) != 0)
    return;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &all) || k++ != me)
      continue;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    (void)sched_setaffinity(0, sizeof one, &one); /* a hint: may fail */
    return;
  }
}

/* In the child after fork: become worker me, never return. */
static void worker_main(pool *p, int me, int sock, int by_main)
    __attribute__((noreturn));
static void worker_main(pool *p, int me, int sock, int by_main) {
  wstate s = {0};
  sigset_t none;
  seg *g;
  int i;

  /* The parent decides about Ctrl-C; a user's handlers (a test harness's
     SIGSEGV handler, say) must not run here: a fault must kill us. */
  for (i = 1; i < NSIG; i++)
    if (i != SIGKILL && i != SIGSTOP)
      signal(i, i == SIGINT ? SIG_IGN : SIG_DFL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* The death signal comes when the forking *thread* exits: only the main
     thread's exit is the process's.  Forked by another thread, which may
     end while the context lives on, a worker finds its parent gone when
     getppid() changes, which it checks each time it wakes (a second at
     most when idle). */
  if (by_main)
    prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != p->self)
    _exit(0);

  /* Other workers' descriptors and the parent's segment descriptors stay
     with the parent: a worker must not keep another's socket open. */
  for (i = 0; i < p->n; i++) {
    if (i == me)
      continue;
    if (p->w[i].sock >= 0)
      close(p->w[i].sock);
    if (p->w[i].pidfd >= 0)
      close(p->w[i].pidfd);
  }
  for (g = p->head; g; g = g->next)
    if (g->fd >= 0)
      close(g->fd);

  if (p->bind)
    bind_core(me);
  pk__worker_single();
  s.p = p;
  s.me = me;
  s.sock = sock;
  s.epoch = p->c->epoch;
  for (g = p->head; g; g = g->next)
    cache_add(&s, g->id, g->addr, g->size);
  if (p->init_fn && p->init_fn(p->init_arg, p->init_size, me) != PK_OK)
    _exit(4);
  worker_loop(&s);
}

/* ---------------------------------------------------- workers (parent) */

static void close_worker(pool *p, int w) {
  if (p->w[w].sock >= 0)
    close(p->w[w].sock);
  if (p->w[w].pidfd >= 0)
    close(p->w[w].pidfd);
  p->w[w].sock = p->w[w].pidfd = -1;
  p->w[w].pid = 0;
}

static pk_status spawn(pool *p, int w) {
  int sv[2], by_main;
  pid_t pid;
  seg *g;

  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return PK_ESYS;
  atomic_store(&p->slots[w].go, 0);
  atomic_store(&p->slots[w].done, 0);
  atomic_store(&p->slots[w].quit, 0);
  atomic_store(&p->slots[w].sleeping, 0);
  atomic_store(&p->slots[w].sent, 0);
  p->slots[w].chunks = 0;
  /* Else the child's exit() could flush our buffered output a second time. */
  fflush(NULL);
  by_main = syscall(SYS_gettid) == getpid();
  pid = fork();
  if (pid < 0) {
    close(sv[0]);
    close(sv[1]);
    return errno == ENOMEM || errno == EAGAIN ? PK_ENOMEM : PK_ESYS;
  }
  if (pid == 0) {
    close(sv[0]);
    worker_main(p, w, sv[1], by_main);
  }
  close(sv[1]);
  p->w[w].pid = pid;
  p->w[w].sock = sv[0];
  p->w[w].pidfd = pidfd_open(pid);
  for (g = p->head; g; g = g->next)
    g->known[w] = 1; /* inherited */
  return PK_OK;
}

/* Reap worker w, whose pidfd (or socket) said it has exited. */
static void reap(pool *p, int w) {
  int status = 0;
  pid_t r;

  do
    r = waitpid(p->w[w].pid, &status, 0);
  while (r < 0 && errno == EINTR);
  p->w[w].status = r == p->w[w].pid ? status : 0;
  p->w[w].died = 1;
  close_worker(p, w);
}

/* Stop worker w: ask, wait up to a second, then kill. */
static void retire(pool *p, int w) {
  struct pollfd pf;

  if (p->w[w].pid <= 0)
    return;
  atomic_store(&p->slots[w].quit, 1);
  atomic_store(&p->slots[w].go, ++p->seq ? p->seq : ++p->seq);
  wake(&p->slots[w].go);
  pf.fd = p->w[w].pidfd >= 0 ? p->w[w].pidfd : p->w[w].sock;
  pf.events = POLLIN;
  if (poll(&pf, 1, 1000) == 0)
    kill(p->w[w].pid, SIGKILL);
  reap(p, w);
  p->w[w].died = 0;
}

/* Start workers whose slots are empty (a fork that failed before). */
static void heal(pool *p) {
  int w;
  for (w = 0; w < p->n; w++)
    if (p->w[w].pid <= 0)
      spawn(p, w);
}

/* Send worker w the descriptors of the segments it lacks. */
static void send_segs(pool *p, int w, seg *const *need, int nneed) {
  uint64_t meta[2 * MAXFD];
  int fds[MAXFD], k, n = 0;
  seg *sent[MAXFD];
  union {
    char buf[CMSG_SPACE(MAXFD * sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov;
  struct msghdr m = {0};
  struct cmsghdr *cm;
  ssize_t r;

  for (k = 0; k < nneed; k++) {
    seg *g = need[k];
    if (g == NULL || g->known[w] || g->fd < 0)
      continue;
    meta[2 * n] = g->id;
    meta[2 * n + 1] = g->size;
    fds[n] = g->fd;
    sent[n++] = g;
    g->known[w] = 1; /* also stops a duplicate in need[] */
  }
  if (n == 0)
    return;
  memset(&u, 0, sizeof u);
  iov.iov_base = meta;
  iov.iov_len = (size_t)n * 16;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = u.buf;
  m.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
  cm = CMSG_FIRSTHDR(&m);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
  memcpy(CMSG_DATA(cm), fds, (size_t)n * sizeof(int));
  do
    r = sendmsg(p->w[w].sock, &m, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  atomic_fetch_add(&p->slots[w].sent, 1); /* read it: before go */
  /* A failed send means a dead worker: its death is found when we wait. */
  for (k = 0; k < n; k++) {
    int i, all = 1;
    for (i = 0; i < p->n && all; i++)
      all = sent[k]->known[i];
    if (all) {
      close(sent[k]->fd);
      sent[k]->fd = -1;
    }
  }
}

/* Publish the ids of the live segments for the workers' reconcile(). */
static void publish_live(pool *p) {
  size_t n = 0;
  seg *g;

  if (!p->live_dirty)
    return;
  for (g = p->head; g; g = g->next) {
    if (n == LIVECAP) {
      n = SIZE_MAX;
      break;
    }
    p->live[n++] = g->id;
  }
  p->c->nlive = n;
  p->c->epoch++;
  p->live_dirty = 0;
}

/* Wake the participants (p->p.part) of a new dispatch of kind. */
static void dispatch(pool *p, int kind, seg *const *need, int nneed) {
  int w;

  if (++p->seq == 0)
    p->seq = 1;
  p->c->kind = kind;
  publish_live(p);
  for (w = 0; w < p->n; w++)
    if (p->p.part[w] && p->w[w].pid > 0)
      send_segs(p, w, need, nneed);
  atomic_thread_fence(memory_order_seq_cst);
  for (w = 0; w < p->n; w++)
    if (p->p.part[w] && p->w[w].pid > 0) {
      atomic_store(&p->slots[w].go, p->seq);
      if (atomic_load(&p->slots[w].sleeping))
        wake(&p->slots[w].go);
    }
}

static int round_done(pool *p) {
  int w;
  for (w = 0; w < p->n; w++)
    if (p->p.part[w] && p->w[w].pid > 0 &&
        atomic_load(&p->slots[w].done) != p->seq)
      return 0;
  return 1;
}

/* Call the chunk callback for chunks done since the last call. */
static void deliver(pool *p, int sweep) {
  const jobdesc *jd = &p->c->job;
  size_t ncomp = atomic_load(&p->c->ncomp), c, lo, hi;
  pk__job j;

  if (p->p.cb == NULL)
    return;
  memset(&j, 0, sizeof j);
  j.n = jd->n;
  j.lo = jd->lo;
  j.chunk = jd->chunk;
  for (; p->p.cursor < ncomp; p->p.cursor++) {
    uint64_t e = atomic_load_explicit(&p->order[p->p.cursor],
                                      memory_order_acquire);
    if ((uint32_t)(e >> 32) != jd->stamp)
      break; /* reserved, not yet written */
    c = (size_t)(e & 0xffffffffu);
    if (p->p.told[c])
      continue;
    p->p.told[c] = 1;
    pk__chunk(&j, c, &lo, &hi);
    p->p.cb(p->p.cb_arg, lo, hi);
  }
  if (!sweep)
    return;
  /* A worker that died between marking a chunk done and listing it. */
  for (c = 0; c < jd->nchunks; c++)
    if (!p->p.told[c] && atomic_load(&p->done[c]) == jd->stamp) {
      p->p.told[c] = 1;
      pk__chunk(&j, c, &lo, &hi);
      p->p.cb(p->p.cb_arg, lo, hi);
    }
}

static int round_done_cb(void *arg) { return round_done(arg); }

/* Wait for the current round: 1 when every participant is done or dead, 0
   at deadline (< 0: none). */
static int wait_round(pool *p, double deadline) {
  struct pollfd pf[1 + 64];
  double ns = SPIN_NS;
  int w;

  if (deadline >= 0 && (deadline - pk_time()) * 1e9 < ns)
    ns = (deadline - pk_time()) * 1e9;
  /* Spin, yielding every few microseconds when the workers may share this
     core (all of them do, when there are more than cores): a spinning
     parent would keep such a worker off until the spin ends. */
  if (p->p.cb == NULL)
    spin_until(p->c, spin_ns(p->c), ns, p->n >= p->cores, round_done_cb, p);
  for (;;) {
    int np = 1, idx[64], r, ms = -1, w0;
    deliver(p, 0);
    if (round_done(p))
      break;
    atomic_store(&p->c->sleeping, 1);
    if (round_done(p))
      break;
    if (p->p.cb && atomic_load(&p->c->ncomp) > p->p.cursor) {
      atomic_store(&p->c->sleeping, 0);
      continue;
    }
    pf[0].fd = p->efd;
    pf[0].events = POLLIN;
    /* Many workers: watch 64 at a time, in turns, with a short timeout. */
    w0 = p->n > 64 ? (int)(p->rr++ % (unsigned)p->n) : 0;
    for (w = 0; w < p->n && np < 65; w++) {
      int i = (w0 + w) % p->n;
      if (!p->p.part[i] || p->w[i].pid <= 0)
        continue;
      pf[np].fd = p->w[i].pidfd >= 0 ? p->w[i].pidfd : p->w[i].sock;
      pf[np].events = POLLIN;
      idx[np++] = i;
    }
    if (deadline >= 0) {
      double left = deadline - pk_time();
      ms = left > 0 ? (int)(left * 1000) + 1 : 0;
    }
    if (p->n > 64 && (ms < 0 || ms > 10))
      ms = 10;
    r = poll(pf, (nfds_t)np, ms);
    if (r < 0 && errno != EINTR)
      r = 0;
    if (r > 0) {
      uint64_t v;
      if (pf[0].revents) {
        ssize_t rr = read(p->efd, &v, sizeof v);
        (void)rr;
      }
      for (w = 1; w < np; w++) {
        if (!pf[w].revents)
          continue;
        if (p->w[idx[w]].pidfd < 0) {
          /* Without pidfds, data on the socket is no death; EOF is. */
          char b;
          if (recv(pf[w].fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0)
            continue;
        }
        reap(p, idx[w]);
      }
    }
    if (deadline >= 0 && pk_time() >= deadline && !round_done(p)) {
      atomic_store(&p->c->sleeping, 0);
      return 0;
    }
  }
  atomic_store(&p->c->sleeping, 0);
  return 1;
}

static const char *death(int status, char *buf, size_t len) {
  if (WIFSIGNALED(status))
    snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else if (WIFEXITED(status))
    snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
  else
    snprintf(buf, len, "died");
  return buf;
}

/* Fork replacements for the workers that died; note the first death. */
static void replace_dead(pool *p) {
  int w;
  for (w = 0; w < p->n; w++) {
    if (!p->w[w].died)
      continue;
    if (p->p.deaths++ == 0) {
      char why[128];
      snprintf(p->msg, sizeof p->msg, "worker %d %s", w,
               death(p->w[w].status, why, sizeof why));
    }
    p->w[w].died = 0;
    /* On failure the slot stays empty; the others carry on. */
    if (spawn(p, w) == PK_OK)
      pk__log(p->ctx, "fork: worker %d died; replaced by pid %d", w,
              (int)p->w[w].pid);
  }
}

/* A participant whose slot is empty: its replacement could not start. */
static int missing(pool *p) {
  int w;
  for (w = 0; w < p->n; w++)
    if (p->p.part[w] && p->w[w].pid <= 0)
      return 1;
  return 0;
}

static size_t count_claimed(pool *p) {
  const jobdesc *jd = &p->c->job;
  size_t c, k = 0;
  for (c = 0; c < jd->nchunks; c++)
    k += atomic_load(&p->claim[c]) == jd->stamp;
  return k;
}

static int alive(pool *p) {
  int w, k = 0;
  for (w = 0; w < p->n; w++)
    k += p->w[w].pid > 0;
  return k;
}

/*
 * Run rounds of the pending map until every chunk has been claimed, or no
 * round makes progress.  1: finished; 0: deadline.
 */
static int drive_map(pool *p, double deadline) {
  jobdesc *jd = &p->c->job;
  int w;

  for (;;) {
    size_t claimed;
    if (!wait_round(p, deadline))
      return 0;
    replace_dead(p);
    if (p->p.deaths == 0 && !missing(p))
      return 1; /* every participant ran its loop to the end */
    p->p.lossy = 1;
    claimed = count_claimed(p);
    if (claimed == jd->nchunks || claimed == p->p.claimed || !alive(p))
      return 1;
    p->p.claimed = claimed;
    /* Another round: whoever is alive takes the unclaimed chunks. */
    jd->retry = 1;
    atomic_store(&p->c->next, 0);
    for (w = 0; w < p->n; w++)
      p->p.part[w] = w < jd->workers || p->p.part[w];
    dispatch(p, K_MAP, NULL, 0);
  }
}

/* Failures of the finished map into f; copy a staged output back. */
static pk_status collect_map(pool *p, pk__fails *f) {
  const jobdesc *jd = &p->c->job;
  pk__job j;
  size_t c, lo, hi, k;
  int w, lost = 0;

  memset(&j, 0, sizeof j);
  j.n = jd->n;
  j.lo = jd->lo;
  j.chunk = jd->chunk;
  for (w = 0; w < p->n; w++) {
    slot *sl = &p->slots[w];
    size_t stored = sl->nfail < FAILCAP ? sl->nfail : FAILCAP;
    for (k = 0; k < stored; k++) {
      const frec *r = &p->fails[(size_t)w * FAILCAP + k];
      /* A chunk not marked done is reported whole, below. */
      if (p->p.lossy &&
          atomic_load(&p->done[(r->item - jd->lo) / jd->chunk]) !=
              jd->stamp)
        continue;
      pk__fails_add(f, r->item, (pk_status)r->status, w);
    }
    f->n += sl->nfail - stored;
  }
  if (p->p.lossy)
    for (c = 0; c < jd->nchunks; c++) {
      if (atomic_load(&p->done[c]) == jd->stamp)
        continue;
      int who = atomic_load(&p->claim[c]) == jd->stamp
                    ? (int)atomic_load(&p->who[c])
                    : -1;
      pk__chunk(&j, c, &lo, &hi);
      for (; lo < hi; lo++)
        pk__fails_add(f, lo, PK_EWORKER, who);
      lost = 1;
    }
  deliver(p, 1);
  if (p->p.out != NULL) {
    seg *s = p->stage[ST_OUT];
    if (!p->p.lossy) {
      /* Items before lo were written in place by the caller. */
      size_t skip = jd->lo * jd->task.out_stride;
      memcpy((char *)p->p.out->data + skip, s->addr + skip,
             p->p.out_bytes - skip);
    } else {
      /* Only what was computed: the rest keeps the caller's values. */
      for (c = 0; c < jd->nchunks; c++)
        if (atomic_load(&p->done[c]) == jd->stamp) {
          pk__chunk(&j, c, &lo, &hi);
          memcpy((char *)p->p.out->data + lo * jd->task.out_stride,
                 s->addr + lo * jd->task.out_stride,
                 (hi - lo) * jd->task.out_stride);
        }
    }
  }
  if (lost) {
    size_t len;
    if (p->msg[0] == '\0')
      snprintf(p->msg, sizeof p->msg, "fork: no worker could be started");
    len = strlen(p->msg);
    snprintf(p->msg + len, sizeof p->msg - len,
             "; %s: %zu of %zu items did not complete (see pk_failed)",
             jd->kernel.name, f->n, jd->n);
    return PK_EWORKER;
  }
  return PK_OK;
}

/* Replace the workers that have run their share of tasks. */
static void recycle(pool *p) {
  unsigned long max = p->ctx->max_tasks;
  int w;

  if (max == 0)
    return;
  for (w = 0; w < p->n; w++)
    if (p->w[w].pid > 0 && p->slots[w].chunks >= max) {
      retire(p, w);
      spawn(p, w);
    }
}

static void end_job(pool *p) {
  free(p->p.told);
  p->p.told = NULL;
  p->p.busy = 0;
  p->p.future = NULL;
  p->p.out = NULL;
  p->p.cb = NULL;
  memset(p->p.part, 0, (size_t)p->n);
}

/*
 * Drive the pending job to its end, or to deadline.  On the end: failures
 * into f, the status returned, the message in p->msg.
 */
static pk_status complete(pool *p, double deadline, pk__fails *f) {
  pk_status st = PK_OK;

  p->msg[0] = '\0';
  switch (p->p.kind) {
  case K_MAP:
    if (!drive_map(p, deadline))
      return PK_ETIMEDOUT;
    st = collect_map(p, f);
    break;
  case K_TASK: {
    int w = p->p.task_worker;
    if (!wait_round(p, deadline))
      return PK_ETIMEDOUT;
    if (p->w[w].died) {
      replace_dead(p);
      snprintf(p->msg + strlen(p->msg), sizeof p->msg - strlen(p->msg),
               " while running a task");
      st = PK_EWORKER;
    } else {
      st = p->slots[w].status;
      if (p->p.buf)
        memcpy(p->p.buf, p->p.bufseg ? p->p.bufseg->addr : p->kdata,
               p->c->job.size);
    }
    break;
  }
  default: {
    int w;
    if (!wait_round(p, deadline))
      return PK_ETIMEDOUT;
    for (w = 0; w < p->n; w++)
      if (p->p.part[w] && !p->w[w].died && p->slots[w].status != PK_OK &&
          st == PK_OK) {
        st = p->slots[w].status;
        snprintf(p->msg, sizeof p->msg, "the initializer failed in worker "
                 "%d: %s", w, pk_strerror(st));
      }
    replace_dead(p);
    if (st == PK_OK && p->p.deaths) {
      size_t len = strlen(p->msg);
      snprintf(p->msg + len, sizeof p->msg - len, " in the initializer");
      st = PK_EWORKER;
    }
    break;
  }
  }
  recycle(p);
  end_job(p);
  return st;
}

/* Finish the job a future left pending, into its future. */
static pk_status finish_pending(pool *p, double timeout) {
  pk__fails f = {0};
  struct pk_future *fut = p->p.future;
  double deadline = timeout < 0 ? -1 : pk_time() + timeout;
  pk_status st;

  st = complete(p, deadline, &f);
  if (st == PK_ETIMEDOUT) {
    pk__fails_free(&f);
    return st;
  }
  if (fut)
    pk__future_done(fut, st, &f, p->msg[0] ? p->msg : NULL);
  pk__fails_free(&f);
  return PK_OK;
}

/* ---------------------------------------------------------------- the ops */

static pk_status fork_wait(pk_context *ctx, double timeout) {
  pool *p = ctx->impl;
  return p->p.busy ? finish_pending(p, timeout) : PK_OK;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/*
 * The workers' first round is their birth: one that has not answered an
 * empty job within BIRTH_S never will (it forked while another thread of
 * the parent held a lock, OpenBLAS's for one, that no thread of the child
 * will release).  Such a worker is killed and forked again, twice at most;
 * then the start fails, where the parent used to wait on it forever at
 * the first map.  Returns PK_OK or PK_EWORKER.
 */
#define BIRTH_S 5.0
static pk_status born(pool *p) {
  for (int tries = 0;; tries++) {
    int stuck = -1;
    memset(p->p.part, 1, (size_t)p->n);
    dispatch(p, K_NOP, NULL, 0);
    if (wait_round(p, pk_time() + BIRTH_S)) {
      memset(p->p.part, 0, (size_t)p->n);
      return PK_OK;
    }
    for (int w = 0; w < p->n; w++)
      if (p->w[w].pid > 0 && atomic_load(&p->slots[w].done) != p->seq) {
        kill(p->w[w].pid, SIGKILL);
        reap(p, w);
        stuck = w;
      }
    memset(p->p.part, 0, (size_t)p->n);
    if (tries == 2) {
      snprintf(p->msg, sizeof p->msg, "worker %d did not start within %g "
               "s, three times (a lock held by another thread when it was "
               "forked?)", stuck, BIRTH_S);
      return PK_EWORKER;
    }
    pk__log(p->ctx, "fork: worker %d did not start within %g s; forked "
            "again", stuck, BIRTH_S);
    replace_dead(p);
    p->p.deaths = 0;
  }
}

/*
 * The median round trip of an empty dispatch to every worker, once they
 * are born; few rounds, to keep start short.
 */
static double measure_dispatch(pool *p) {
  double t[7];
  int i;

  memset(p->p.part, 1, (size_t)p->n);
  for (i = -1; i < 7; i++) {
    double t0 = pk_time();
    dispatch(p, K_NOP, NULL, 0);
    wait_round(p, pk_time() + 1.0);
    if (i >= 0)
      t[i] = (pk_time() - t0) * 1e9;
  }
  memset(p->p.part, 0, (size_t)p->n);
  replace_dead(p);
  p->p.deaths = 0;
  qsort(t, 7, sizeof t[0], cmp_double);
  return t[3];
}

static void fork_stop(pk_context *ctx) {
  pool *p = ctx->impl;
  int w, i;

  if (p == NULL)
    return;
  if (p->p.busy && p->c)
    finish_pending(p, -1);
  if (p->w && p->c) {
    /* Ask every worker at once, then reap; kill what does not go. */
    if (++p->seq == 0)
      p->seq = 1;
    for (w = 0; w < p->n; w++)
      if (p->w[w].pid > 0) {
        atomic_store(&p->slots[w].quit, 1);
        atomic_store(&p->slots[w].go, p->seq);
        wake(&p->slots[w].go);
      }
    for (w = 0; w < p->n; w++)
      if (p->w[w].pid > 0) {
        struct pollfd pf = {p->w[w].pidfd >= 0 ? p->w[w].pidfd
                                               : p->w[w].sock,
                            POLLIN, 0};
        if (poll(&pf, 1, 1000) == 0)
          kill(p->w[w].pid, SIGKILL);
        reap(p, w);
      }
  }
  if (p->w)
    for (w = 0; w < p->n; w++)
      close_worker(p, w);
  for (i = 0; i < NSTAGE; i++)
    seg_free(p, p->stage[i]);
  while (p->head)
    seg_free(p, p->head); /* arrays are gone: only strays */
  if (p->efd >= 0)
    close(p->efd);
  if (p->base)
    munmap(p->base, p->mapsize);
  free(p->w);
  free(p->plans_last);
  free(p->p.part);
  free(p->p.told);
  free(p->init_arg);
  free(p);
  ctx->impl = NULL;
}

static pk_status fork_start(pk_context *ctx) {
  pool *p = calloc(1, sizeof *p);
  size_t off, n;
  const char *bind;
  int w;
  pk_status st;

  ctx->impl = p;
  if (p == NULL)
    return PK_ENOMEM;
  p->ctx = ctx;
  p->n = ctx->workers;
  p->efd = -1;
  p->self = getpid();
  p->cores = pk__cores();
  bind = getenv("PARKIT_BIND");
  p->bind = p->n == p->cores && !(bind && strcmp(bind, "0") == 0);
  n = (size_t)p->n;
  p->w = calloc(n, sizeof *p->w);
  p->p.part = calloc(n, 1);
  if (p->w == NULL || p->p.part == NULL)
    return PK_ENOMEM;
  for (w = 0; w < p->n; w++)
    p->w[w].sock = p->w[w].pidfd = -1;

  /* One mapping holds everything; untouched pages cost nothing. */
  off = pages(sizeof(ctl));
  size_t o_kdata = off;
  off += KDATA;
  size_t o_plans = off;
  off += PLANCAP;
  size_t o_slots = off;
  off += pages(n * sizeof(slot));
  size_t o_fails = off;
  off += pages(n * FAILCAP * sizeof(frec));
  size_t o_live = off;
  off += pages(LIVECAP * sizeof(uint64_t));
  size_t o_claim = off;
  off += 3 * pages(MAXCHUNKS * sizeof(uint32_t));
  size_t o_order = off;
  off += pages(MAXCHUNKS * sizeof(uint64_t));
  p->mapsize = off;
  p->base = mmap(NULL, off, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p->base == MAP_FAILED) {
    p->base = NULL;
    return pk__error(ctx, PK_ENOMEM, "fork: cannot map %zu bytes of control "
                     "block", off);
  }
  p->c = (ctl *)p->base;
  p->kdata = p->base + o_kdata;
  p->plans = p->base + o_plans;
  p->slots = (slot *)(p->base + o_slots);
  p->fails = (frec *)(p->base + o_fails);
  p->live = (uint64_t *)(p->base + o_live);
  p->claim = (_Atomic uint32_t *)(p->base + o_claim);
  p->done = p->claim + pages(MAXCHUNKS * sizeof(uint32_t)) / 4;
  p->who = p->done + pages(MAXCHUNKS * sizeof(uint32_t)) / 4;
  p->order = (_Atomic uint64_t *)(p->base + o_order);

  p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->efd < 0)
    return pk__error(ctx, PK_ESYS, "fork: eventfd: %s", strerror(errno));
  /* Before any worker reads it: a spin's clock must not change base. */
  double t0 = pk_time();
  uint64_t c0 = ticks();
  while (pk_time() - t0 < 20e-6)
    cpu_relax();
  atomic_store(&p->c->tsc_per_ns, tsc_rate(t0, c0));
  for (w = 0; w < p->n; w++)
    if ((st = spawn(p, w)) != PK_OK)
      return pk__error(ctx, st, "fork: cannot start worker %d of %d: %s", w,
                       p->n, strerror(errno));
  if ((st = born(p)) != PK_OK)
    return pk__error(ctx, st, "fork: %s", p->msg);
  ctx->dispatch_ns = measure_dispatch(p);
  if (alive(p) < p->n)
    return pk__error(ctx, PK_ESYS, "fork: a worker died while starting");
  return PK_OK;
}

static pk_status fork_alloc(pk_context *ctx, size_t nbytes, void **data,
                            void **handle) {
  pool *p = ctx->impl;
  seg *s;
  pk_status st = seg_new(p, nbytes, &s);

  if (st != PK_OK)
    return pk__error(ctx, st, "pk_array_create: cannot make a shared "
                     "segment of %zu bytes: %s", nbytes, strerror(errno));
  *data = s->addr;
  *handle = s;
  return PK_OK;
}

static void fork_free(pk_context *ctx, void *data, size_t nbytes,
                      void *handle) {
  (void)data, (void)nbytes;
  seg_free(ctx->impl, handle);
}

/* Where a's bytes are for the workers: its segment, or a staged copy. */
static pk_status place(pool *p, const pk_array *a, int st_i, int copy_in,
                       seg **s, size_t *off) {
  pk_status st;

  *s = NULL;
  *off = 0;
  if (a->nbytes == 0 || a->data == NULL)
    return PK_OK;
  if (!a->wrapped && a->handle != NULL) {
    *s = a->handle;
    *off = (size_t)((const char *)a->data - (*s)->addr);
    return PK_OK;
  }
  if ((st = stage(p, st_i, a->nbytes, s)) != PK_OK)
    return pk__error(p->ctx, st, "fork: cannot stage %zu bytes in shared "
                     "memory", a->nbytes);
  if (copy_in) {
    memcpy((*s)->addr, a->data, a->nbytes);
    p->ctx->stats.bytes_copied += a->nbytes;
  }
  return PK_OK;
}

/*
 * The parent planned this job's kernel before dispatching it; workers
 * planning on their own (by measuring, or for another batch size) could
 * pick other algorithms and give other last bits.  So the parent's
 * planning state (src/plans.c) goes to the workers, copied only when it
 * has changed.  0: none to share (or too large: workers plan on their
 * own).
 */
static uint32_t share_plans(pool *p) {
  unsigned long planned = pk__plans_version();
  char *w;
  size_t len;

  if (p->plans_last != NULL && planned == p->plans_seen)
    return p->plans_gen; /* nothing planned since the last export */
  p->plans_seen = planned;
  w = pk__plans_save();
  len = w ? strlen(w) + 1 : 0;

  if (len == 0 || len > PLANCAP) {
    free(w);
    return 0;
  }
  if (p->plans_last == NULL || strcmp(p->plans_last, w) != 0) {
    memcpy(p->plans, w, len);
    free(p->plans_last);
    p->plans_last = w;
    if (++p->plans_gen == 0)
      p->plans_gen = 1;
  } else {
    free(w);
  }
  return p->plans_gen;
}

static pk_status fork_map(pk_context *ctx, const pk__job *j, pk__fails *f) {
  pool *p = ctx->impl;
  jobdesc *jd = &p->c->job;
  seg *need[MAXFD] = {0};
  pk_status st;
  size_t chunk = j->chunk;
  int w;

  if (p->p.busy)
    finish_pending(p, -1);
  heal(p);
  st = place(p, j->in, ST_IN, 1, &need[0], &jd->in_off);
  if (st == PK_OK)
    st = place(p, j->out, ST_OUT, 0, &need[1], &jd->out_off);
  if (st != PK_OK)
    return st;
  p->p.out = need[1] && need[1] == p->stage[ST_OUT] ? j->out : NULL;
  p->p.out_bytes = j->out->nbytes;
  if (p->p.out)
    ctx->stats.bytes_copied += j->out->nbytes; /* copied back */

  memset(jd, 0, sizeof *jd);
  jd->kernel = *j->kernel;
  if (j->kernel->prepare != NULL)
    jd->plans = share_plans(p);
  if (j->kernel->data_size > KDATA) {
    if ((st = stage(p, ST_DATA, j->kernel->data_size, &need[2])) != PK_OK)
      return pk__error(ctx, st, "fork: cannot stage the kernel's data");
    memcpy(need[2]->addr, j->kernel->data, j->kernel->data_size);
    jd->data_seg = need[2]->id;
  } else if (j->kernel->data_size > 0) {
    memcpy(p->kdata, j->kernel->data, j->kernel->data_size);
  }
  /* Chunks past MAXCHUNKS would overrun the stamps: make them bigger. */
  if (j->nchunks > MAXCHUNKS)
    chunk = (j->n - j->lo + MAXCHUNKS - 1) / MAXCHUNKS;
  jd->in_seg = need[0] ? need[0]->id : 0;
  jd->out_seg = need[1] ? need[1]->id : 0;
  jd->task = j->task;
  jd->n = j->n;
  jd->lo = j->lo;
  jd->chunk = chunk;
  jd->nchunks = (j->n - j->lo + chunk - 1) / chunk;
  jd->scratch = j->scratch;
  jd->schedule = j->schedule;
  jd->workers = j->workers < p->n ? j->workers : p->n;
  jd->notify = ctx->on_chunk != NULL;
  if (++p->stamp == 0)
    p->stamp = 1;
  jd->stamp = p->stamp;
  atomic_store(&p->c->next, 0);
  atomic_store(&p->c->ncomp, 0);
  for (w = 0; w < p->n; w++) {
    p->slots[w].nfail = 0;
    p->w[w].died = 0;
    p->p.part[w] = w < jd->workers;
  }

  p->p.busy = 1;
  p->p.kind = K_MAP;
  p->p.deaths = 0;
  p->p.lossy = 0;
  p->p.claimed = SIZE_MAX; /* no round yet */
  p->p.cb = ctx->on_chunk;
  p->p.cb_arg = ctx->on_chunk_arg;
  p->p.cursor = 0;
  if (p->p.cb && (p->p.told = calloc(jd->nchunks, 1)) == NULL) {
    p->p.busy = 0;
    return pk__error(ctx, PK_ENOMEM, "fork: out of memory");
  }
  dispatch(p, K_MAP, need, MAXFD);

  if (ctx->future != NULL) {
    p->p.future = ctx->future;
    pk__future_pend(ctx->future);
    return PK_OK;
  }
  st = complete(p, -1, f);
  if (st != PK_OK)
    pk__error(ctx, st, "%s", p->msg);
  return st;
}

/* Put size bytes of buf where workers read them; *s the segment or NULL. */
static pk_status put_buf(pool *p, const void *buf, size_t size, seg **s) {
  pk_status st;

  *s = NULL;
  if (size > KDATA) {
    if ((st = stage(p, ST_DATA, size, s)) != PK_OK)
      return st;
    memcpy((*s)->addr, buf, size);
  } else if (size > 0) {
    memcpy(p->kdata, buf, size);
  }
  return PK_OK;
}

static pk_status fork_apply(pk_context *ctx, pk_status (*fn)(void *, size_t),
                            void *buf, size_t size) {
  pool *p = ctx->impl;
  jobdesc *jd = &p->c->job;
  pk__fails f = {0};
  seg *s;
  pk_status st;
  int w, k;

  if (p->p.busy)
    finish_pending(p, -1);
  heal(p);
  if ((st = put_buf(p, buf, size, &s)) != PK_OK)
    return pk__error(ctx, st, "pk_apply_async: cannot stage %zu bytes", size);
  /* The next live worker in turn. */
  for (k = 0, w = -1; k < p->n && w < 0; k++) {
    int i = (int)(p->rr++ % (unsigned)p->n);
    if (p->w[i].pid > 0)
      w = i;
  }
  if (w < 0)
    return pk__error(ctx, PK_EWORKER, "pk_apply_async: no worker is alive");
  memset(jd, 0, sizeof *jd);
  jd->fn = fn;
  jd->size = size;
  jd->data_seg = s ? s->id : 0;
  memset(p->p.part, 0, (size_t)p->n);
  p->p.part[w] = 1;
  p->w[w].died = 0;
  p->p.busy = 1;
  p->p.kind = K_TASK;
  p->p.deaths = 0;
  p->p.task_worker = w;
  p->p.buf = buf;
  p->p.bufseg = s;
  dispatch(p, K_TASK, &s, 1);
  if (ctx->future != NULL) {
    p->p.future = ctx->future;
    pk__future_pend(ctx->future);
    return PK_OK;
  }
  st = complete(p, -1, &f);
  pk__fails_free(&f);
  if (st != PK_OK)
    return pk__error(ctx, st, "%s", p->msg[0] ? p->msg : pk_strerror(st));
  return PK_OK;
}

static pk_status fork_winit(pk_context *ctx) {
  pool *p = ctx->impl;
  jobdesc *jd = &p->c->job;
  pk__fails f = {0};
  void *copy = NULL;
  seg *s;
  pk_status st;
  int w;

  if (p->p.busy)
    finish_pending(p, -1);
  if (ctx->init_fn && ctx->init_size > 0) {
    if ((copy = malloc(ctx->init_size)) == NULL)
      return pk__error(ctx, PK_ENOMEM, "pk_worker_init: out of memory");
    memcpy(copy, ctx->init_arg, ctx->init_size);
  }
  /* Replacements forked from now on run it from this copy. */
  free(p->init_arg);
  p->init_fn = ctx->init_fn;
  p->init_arg = copy;
  p->init_size = ctx->init_size;
  if (p->init_fn == NULL)
    return PK_OK;
  if ((st = put_buf(p, copy, p->init_size, &s)) != PK_OK)
    return pk__error(ctx, st, "pk_worker_init: cannot stage its argument");
  memset(jd, 0, sizeof *jd);
  jd->init = p->init_fn;
  jd->size = p->init_size;
  jd->data_seg = s ? s->id : 0;
  for (w = 0; w < p->n; w++) {
    p->p.part[w] = p->w[w].pid > 0;
    p->w[w].died = 0;
    p->slots[w].status = PK_OK;
  }
  p->p.busy = 1;
  p->p.kind = K_INIT;
  p->p.deaths = 0;
  dispatch(p, K_INIT, &s, 1);
  st = complete(p, -1, &f);
  pk__fails_free(&f);
  if (st != PK_OK) {
    /* A failing initializer would fail every replacement too. */
    free(p->init_arg);
    p->init_arg = NULL;
    p->init_fn = NULL;
    return pk__error(ctx, st, "pk_worker_init: %s", p->msg);
  }
  return PK_OK;
}

const pk__backend_ops pk__backend_fork = {
    .name = "fork",
    .start = fork_start,
    .stop = fork_stop,
    .alloc = fork_alloc,
    .free = fork_free,
    .map = fork_map,
    .wait = fork_wait,
    .apply = fork_apply,
    .winit = fork_winit,
};
