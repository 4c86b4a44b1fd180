/*
 * A worker process of the fork backend (backend.h): from its fork to its
 * exit, the loop that waits for a dispatch, maps the segments it names and
 * runs its chunks, tasks and initializers.
 */
#include "backend.h"
#include "sync.h"

#include <dlfcn.h>
#include <link.h>

typedef struct cent {
  uint64_t id;
  char *addr;
  size_t size;
  int whole; /* every page is in this process's page table (map_whole) */
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
  int orphanable; /* no death signal: looks for its parent itself */
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
  s->v[s->n++] = (cent){id, addr, size, 0};
}

static cent *find(wstate *s, uint64_t id) {
  size_t i;
  for (i = s->n; i-- > 0;)
    if (s->v[i].id == id)
      return &s->v[i];
  return NULL;
}

static char *lookup(wstate *s, uint64_t id) {
  cent *e = find(s, id);
  return e ? e->addr : NULL;
}

/*
 * Segment id for a map's input or output, its pages put in this process's
 * page table in one call the first time.  A worker otherwise faults on
 * each page of an array the first time it touches it, and later maps can
 * hand it pages another worker had (another schedule or chunk size, the
 * end of a slower worker's share): with one counter handing out dynamic
 * chunks, fft2 of 500 100x100 on two workers, the same arrays each time,
 * took 20-58 ms in its second to sixth maps and 10 ms from the seventh,
 * faulting all along, on an AMD EPYC family 26 guest where a fault cost
 * about 8 us.  A new output is left to the chunks that write it, which
 * fill their own pages in parallel (pk__run); the next map that uses it
 * maps it whole.  Where the kernel refuses (before Linux 5.14), pages
 * fault in as before.
 */
static char *map_whole(wstate *s, uint64_t id, int write, int fresh) {
  cent *e = find(s, id);

  if (e == NULL)
    return NULL;
#if defined(MADV_POPULATE_WRITE)
  if (!e->whole && !fresh) {
    (void)madvise(e->addr, e->size,
                  write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
    e->whole = 1;
  }
#else
  (void)write, (void)fresh;
#endif
  return e->addr;
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

/*
 * The job's pointers into a module loaded after the fork server started
 * (jobdesc.moved): load it here (a no-op where it is loaded already, as in
 * a worker forked from the program after it was) and move them by where it
 * landed.  A pointer no worker of the server's could find fails the job in
 * such a worker (p->w is NULL in one), never runs.
 */
static pk_status move(const pool *p, const jobdesc *jd, void *ptr[MV_N]) {
  struct link_map *lm = NULL;
  void *h;

  if (p->w == NULL && jd->unmovable)
    return PK_EINVAL;
  if (jd->moved == 0)
    return PK_OK;
  if ((h = dlopen(jd->mod, RTLD_NOW | RTLD_GLOBAL)) == NULL ||
      dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL)
    return PK_ESYS;
  for (int i = 0; i < MV_N; i++)
    if (jd->moved >> i & 1)
      ptr[i] = (char *)ptr[i] + (lm->l_addr - jd->mod_base);
  return PK_OK; /* the module stays loaded for the next job */
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
    PK__STORE_LOAD();
    if (atomic_load(&p->c->sleeping)) {
      uint64_t one = 1;
      ssize_t r = write(p->efd, &one, sizeof one);
      (void)r;
    }
  }
}

/*
 * The i-th chunk that the worker of this rank (of W) tries in a dynamic
 * map, nchunks once none is left: its own share first, the rank's block
 * of the chunks, front to back; then the others', each from its end,
 * where its owner comes last; claim() gives each chunk to one worker.  So
 * a worker runs the same items map after map, their pages already in its
 * page table (and the host's, in a virtual machine) and their data in its
 * cache, and takes over the end of a slower worker's share.  With one
 * counter for all, the first to come taking the next chunk, each map gave
 * a worker other items: fft2 of 5000 100x100 on two workers, the arrays
 * reused, took 0.88-0.95 s in its second map and 0.38-0.44 in its third
 * where this takes 0.27-0.43 and 0.08-0.09; of 500, 72-84 ms and 14-42
 * in its second and third against 25-31 and 10 (the steady state, 78 and
 * 10 ms, is the same; AMD EPYC family 26 guest).
 */
static size_t nth_chunk(size_t i, size_t rank, size_t W, size_t nchunks) {
  const size_t lo = rank < W ? rank * nchunks / W : 0,
               hi = rank < W ? (rank + 1) * nchunks / W : 0;

  if (i < hi - lo)
    return lo + i;
  i -= hi - lo;
  if (i < nchunks - hi)
    return nchunks - 1 - i;
  i -= nchunks - hi;
  return i < lo ? lo - 1 - i : nchunks;
}

static void run_map(wstate *s) {
  pool *p = s->p;
  const jobdesc *jd = &p->c->job;
  slot *sl = &p->slots[s->me];
  pk_kernel k = jd->kernel;
  pk_status bad = PK_OK;
  pk__fails f = {0};
  pk__job j;
  size_t c, lo, hi, i, W = (size_t)jd->workers;
  const size_t rank = (size_t)pk__fork_rank(jd, s->me, p->n);
  int dyn = jd->schedule == PK_SCHEDULE_DYNAMIC || jd->retry;

  memset(&j, 0, sizeof j);
  j.task = jd->task;
  j.fresh = jd->fresh;
  for (int a = 0; a < jd->task.nin; a++) {
    char *m = jd->in_seg[a] ? map_whole(s, jd->in_seg[a], 0, 0) : NULL;
    if (jd->in_seg[a] && m == NULL)
      bad = PK_ESYS;
    j.task.ins[a] = m ? m + jd->in_off[a] : NULL;
  }
  for (int a = 0; a < jd->task.nout; a++) {
    char *m = jd->out_seg[a] ? map_whole(s, jd->out_seg[a], 1,
                                         jd->fresh >> a & 1)
                             : NULL;
    if (jd->out_seg[a] && m == NULL)
      bad = PK_ESYS;
    j.task.outs[a] = m ? m + jd->out_off[a] : NULL;
  }
  pk__task_mirror(&j.task);
  if (jd->moved || jd->unmovable) {
    void *ptr[MV_N] = {(void *)k.run, (void *)k.prepare, (void *)k.data};
    pk_status st = move(p, jd, ptr);
    if (st != PK_OK)
      bad = st;
    k.run = (pk_status(*)(const pk_kernel *, const pk_task *, size_t, size_t,
                          size_t *))ptr[MV_RUN];
    k.prepare = (pk_status(*)(const pk_kernel *, const pk_item *,
                              size_t))ptr[MV_PREPARE];
    k.data = ptr[MV_DATA];
  }
  if (jd->kernel.data_size > 0) {
    char *d = jd->data_seg ? lookup(s, jd->data_seg) : p->kdata;
    if (d == NULL)
      bad = PK_ESYS;
    k.data = d ? d + jd->data_off : NULL;
  }
  j.kernel = &k;
  j.n = jd->n;
  j.lo = jd->lo;
  j.chunk = jd->chunk;
  j.nchunks = jd->nchunks;
  memcpy(j.gather, jd->gather, sizeof j.gather);
  j.piece = jd->piece;
  j.gather_at = jd->gather_at;
  if (bad == PK_OK && k.prepare) {
    /* Plan from the parent's wisdom, so plans (and bits) match its own. */
    if (jd->plans != 0 && jd->plans != s->plans) {
      pk__plans_load(p->plans);
      s->plans = jd->plans;
    }
    bad = k.prepare(&k, jd->task.in_items, jd->n);
  }
  if (bad == PK_OK && pk__scratch_reserve(&s->scratch, &s->scap, jd->scratch))
    bad = PK_ENOMEM;

  for (i = 0;; i++) {
    /* Without a death signal, a parent gone mid-map leaves nobody to use
       the rest: stop at the next chunk, not after the whole map. */
    if (s->orphanable && getppid() != p->self)
      _exit(0);
    c = dyn ? nth_chunk(i, rank, W, jd->nchunks) : rank + i * W;
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
      PK__STORE_LOAD();
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
    sl->woke = pk_time();
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
      void *ptr[MV_N] = {[MV_FN] = (void *)jd->fn};
      pk_status (*fn)(void *, size_t);
      sl->status = move(p, jd, ptr);
      fn = (pk_status(*)(void *, size_t))ptr[MV_FN];
      if (sl->status == PK_OK)
        sl->status = b ? fn(jd->size ? b : NULL, jd->size) : PK_ESYS;
      sl->chunks++;
      break;
    }
    case K_INIT: {
      const jobdesc *jd = &p->c->job;
      char *b = jd->data_seg ? lookup(s, jd->data_seg) : p->kdata;
      void *ptr[MV_N] = {[MV_INIT] = (void *)jd->init};
      pk_status (*init)(void *, size_t, int);
      sl->status = move(p, jd, ptr);
      init = (pk_status(*)(void *, size_t, int))ptr[MV_INIT];
      if (sl->status == PK_OK)
        sl->status = b ? init(jd->size ? b : NULL, jd->size, s->me) : PK_ESYS;
      break;
    }
    default:
      break;
    }
    atomic_store(&sl->done, go);
    PK__STORE_LOAD();
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
  int cpu;

  if (sched_getaffinity(0, sizeof all, &all) != 0 ||
      (cpu = pk__fork_nth_cpu(&all, me)) < 0)
    return;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  (void)sched_setaffinity(0, sizeof one, &one); /* a hint: may fail */
}

#ifdef __GLIBC__
/* exit() in a kernel or an initializer: the worker's own output is
   written, then it ends as every worker does, by _exit.  The program's
   exit handlers, inherited by a worker forked from it (a lock file
   removed, a log closed), are the program's alone. */
static void worker_exit(int status, void *arg) {
  (void)arg;
  fflush(NULL); /* the parent flushed before fork: ours alone */
  _exit(status);
}
#endif

/* Worker me of p from here on: never returns. */
static void become(pool *p, int me, int sock, int by_main)
    __attribute__((noreturn));
static void become(pool *p, int me, int sock, int by_main) {
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
     most when idle) and before each chunk of a map. */
  if (by_main)
    prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != p->self)
    _exit(0);
#ifdef __GLIBC__
  on_exit(worker_exit, NULL); /* last registered, first run */
#endif

  if (p->bind)
    bind_core(me);
  pk__worker_single(p->single_at_fork);
  /* Started: what may wait on a lock held at the fork is behind us.  The
     initializer's time is the program's, bounded by nothing, as a
     kernel's is. */
  atomic_store(&p->slots[me].up, 1);
  s.p = p;
  s.me = me;
  s.sock = sock;
  s.orphanable = !by_main;
  s.epoch = p->c->epoch;
  for (g = p->head; g; g = g->next)
    cache_add(&s, g->id, g->addr, g->size);
  if (p->init_fn) {
    pk_status st = p->init_fn(p->init_arg, p->init_size, me);
    if (st != PK_OK) {
      p->slots[me].status = st;
      _exit(EXIT_INIT);
    }
  }
  worker_loop(&s);
}

/* In the child after fork: become worker me, never return. */
void pk__fork_worker_main(pool *p, int me, int sock, int by_main) {
  seg *g;

  /* Other workers' descriptors and the parent's segment descriptors stay
     with the parent: a worker must not keep another's socket open. */
  for (int i = 0; i < p->n; i++) {
    if (i == me)
      continue;
    if (p->w[i].sock >= 0)
      close(p->w[i].sock);
    if (p->w[i].pidfd >= 0)
      close(p->w[i].pidfd);
    if (p->w[i].report >= 0)
      close(p->w[i].report);
  }
  for (g = p->head; g; g = g->next)
    if (g->fd >= 0)
      close(g->fd);
  if (p->ctlfd >= 0)
    close(p->ctlfd);
  become(p, me, sock, by_main);
}

/*
 * In a child of the fork server (server.c): the pool as the request
 * describes it, the control block mapped from its memfd; no segment yet
 * (each comes over the socket before the first dispatch that needs it).
 */
void pk__fork_worker_served(const spawnreq *r, int ctlfd, int sock, int efd,
                            void *init) {
  static pool q;

  q.n = r->n;
  q.cores = r->cores;
  q.bind = r->bind;
  q.self = r->self;
  q.efd = efd;
  q.ctlfd = -1;
  q.mapsize = r->mapsize;
  q.base = mmap(NULL, r->mapsize, PROT_READ | PROT_WRITE, MAP_SHARED, ctlfd,
                0);
  close(ctlfd);
  if (q.base == MAP_FAILED)
    _exit(3);
  pk__fork_layout(&q);
  q.init_fn = r->init_fn;
  q.init_arg = init;
  q.init_size = r->init_size;
  pk__blas_single_nopool();
  prctl(PR_SET_NAME, "parkit-worker");
  /* The server forks from its only thread: its exit is the process's. */
  become(&q, r->me, sock, 1);
}
