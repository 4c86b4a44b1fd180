/*
 * The fork backend's table (backend.h): start and stop of the pool, arrays in
 * shared memory, map, apply and the worker initializer.
 */
#include "backend.h"
#include "sync.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

static void note_modules(pool *p);

/*
 * A pool belongs to the process that started it.  A child of fork()
 * inherits its control block (shared memory), its workers' sockets and
 * its segment numbers: a map there drove the parent's workers beside the
 * parent's own maps (results of one in the other's output, PK_OK), and
 * pk_finalize there stopped the parent's workers.  A fork handler counts
 * the forks; a pool made before the last refuses maps, tasks and waits,
 * and its stop frees this process's copy alone.
 */
static atomic_uint forks;
static pthread_once_t forks_once = PTHREAD_ONCE_INIT;

static void count_fork(void) { atomic_fetch_add(&forks, 1); }
static void watch_forks(void) { pthread_atfork(NULL, NULL, count_fork); }

static pk_status foreign(pk_context *ctx, const char *what) {
  const pool *p = ctx->impl;
  if (atomic_load_explicit(&forks, memory_order_relaxed) == p->forks)
    return PK_OK;
  return pk__error(ctx, PK_ESTATE, "%s: this context's workers belong to "
                   "process %d, of which this process is a fork: make a "
                   "context here (pk_init); pk_finalize of this one frees "
                   "only this process's copy", what, (int)p->self);
}

/* Checked by the front ends before a map, task or initializer starts. */
static pk_status fork_usable(pk_context *ctx) {
  return foreign(ctx, "fork");
}

/* A job of this kind begins: its deaths and message its own (the message
   is kept across polls of its future, until the job ends). */
static void begin_job(pool *p, int kind) {
  p->p.busy = 1;
  p->p.kind = kind;
  p->p.deaths = 0;
  p->msg[0] = '\0';
}

/* Also the first step of every map and reduce (map.c, reduce.c). */
static pk_status fork_wait(pk_context *ctx, double timeout) {
  pool *p = ctx->impl;
  if (foreign(ctx, "fork") != PK_OK)
    return PK_ESTATE;
  return p->p.busy ? pk__fork_finish_pending(p, timeout) : PK_OK;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/*
 * The workers' first round is their birth.  One that has not started
 * within BIRTH_S never will (it forked while another thread of ours held a
 * lock, OpenBLAS's for one, that no thread of the child will release):
 * the wait kills it (pool.c), and it is forked again, twice at most; then
 * the start fails, where the parent used to wait on it forever at the
 * first map.  A worker that dies as it starts is treated alike.  Returns
 * PK_OK or PK_EWORKER.
 */
static pk_status born(pool *p) {
  for (int tries = 0;; tries++) {
    int bad = 0;
    memset(p->p.part, 1, (size_t)p->n);
    p->p.deaths = 0;
    pk__fork_dispatch(p, K_NOP, NULL, 0);
    pk__fork_wait_round(p, -1);
    memset(p->p.part, 0, (size_t)p->n);
    for (int w = 0; w < p->n; w++)
      bad += p->w[w].died || p->w[w].pid <= 0;
    if (bad == 0)
      return PK_OK;
    pk__fork_replace_dead(p); /* says why in p->msg */
    if (tries == 2) {
      size_t len = strlen(p->msg);
      snprintf(p->msg + len, sizeof p->msg - len, ", three times");
      return PK_EWORKER;
    }
    if (pk__fork_alive(p) < p->n)
      return PK_EWORKER;
    pk__log(p->ctx, "fork: %s; forked again", p->msg);
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
    pk__fork_dispatch(p, K_NOP, NULL, 0);
    pk__fork_wait_round(p, pk_time() + 1.0);
    if (i >= 0)
      t[i] = (pk_time() - t0) * 1e9;
  }
  memset(p->p.part, 0, (size_t)p->n);
  pk__fork_replace_dead(p);
  p->p.deaths = 0;
  qsort(t, 7, sizeof t[0], cmp_double);
  return t[3];
}

static void fork_stop(pk_context *ctx) {
  pool *p = ctx->impl;
  int w, i;

  if (p == NULL)
    return;
  const int mine =
      atomic_load_explicit(&forks, memory_order_relaxed) == p->forks;
  if (mine && p->p.busy && p->c)
    pk__fork_finish_pending(p, -1);
  if (mine && p->w && p->c) {
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
        pk__fork_reap(p, w);
      }
  }
  if (p->w)
    for (w = 0; w < p->n; w++)
      pk__fork_close_worker(p, w);
  for (i = 0; i < NSTAGE; i++)
    pk__fork_seg_free(p, p->stage[i]);
  while (p->head)
    pk__fork_seg_free(p, p->head); /* arrays are gone: only strays */
  if (p->efd >= 0)
    close(p->efd);
  if (p->ctlfd >= 0)
    close(p->ctlfd);
  if (p->base)
    munmap(p->base, p->mapsize);
  free(p->w);
  free(p->cpu);
  free(p->mods);
  free(p->plans_last);
  free(p->p.part);
  free(p->p.told);
  free(p->init_arg);
  free(p);
  ctx->impl = NULL;
}

/* p->cpu: with bind, the CPU each worker binds itself to, else -1. */
static void worker_cpus(pool *p) {
  cpu_set_t all;
  const int known = p->bind && sched_getaffinity(0, sizeof all, &all) == 0;

  for (int w = 0; w < p->n; w++)
    p->cpu[w] = known ? pk__fork_nth_cpu(&all, w) : -1;
}

/*
 * The first participant of a map that uses fewer than every worker: the
 * one after the worker bound to the CPU this thread runs on, so that the
 * parent, which waits for the round spinning and yielding, does not share
 * a core with the worker it waits for.  A map of one item took 4 us on a
 * warm pool where its worker shared the parent's core and 0.6 where it had
 * the other (medians; AMD EPYC family 26, 2 workers, one a core).
 */
static int first_worker(const pool *p, int workers) {
  int cpu;

  if (workers >= p->n || !p->bind || (cpu = sched_getcpu()) < 0)
    return 0;
  for (int w = 0; w < p->n; w++)
    if (p->cpu[w] == cpu)
      return (w + 1) % p->n;
  return 0;
}

static pk_status fork_start(pk_context *ctx) {
  pool *p = calloc(1, sizeof *p);
  const char *bind, *bad = NULL;
  size_t n;
  int w;
  pk_status st;

  ctx->impl = p;
  if (p == NULL)
    return PK_ENOMEM;
  p->ctx = ctx;
  p->n = ctx->workers;
  p->efd = p->ctlfd = -1;
  if ((p->start = pk__fork_start_method(&bad)) < 0)
    return pk__error(ctx, PK_EINVAL, "PARKIT_START=%s: expected fork, "
                     "forkserver or auto", bad);
  pthread_once(&forks_once, watch_forks);
  p->forks = atomic_load(&forks);
  p->self = getpid();
  p->cores = pk__cores();
  bind = getenv("PARKIT_BIND");
  p->bind = p->n == p->cores && !(bind && strcmp(bind, "0") == 0);
  n = (size_t)p->n;
  p->w = calloc(n, sizeof *p->w);
  p->p.part = calloc(n, 1);
  p->cpu = malloc(n * sizeof *p->cpu);
  if (p->w == NULL || p->p.part == NULL || p->cpu == NULL)
    return PK_ENOMEM;
  for (w = 0; w < p->n; w++)
    p->w[w].sock = p->w[w].pidfd = p->w[w].report = -1;
  worker_cpus(p);
  if (p->start != PK__START_FORK) {
    if (!pk__fork_server_up() && p->start == PK__START_SERVER)
      return pk__error(ctx, PK_ESYS, "fork: PARKIT_START=forkserver, but the "
                       "fork server is not running (it starts when the "
                       "library is loaded, in the process that loads it)");
    /* Its workers get every segment through their socket, later. */
    p->keep_fds = pk__fork_server_up();
  }
  note_modules(p);

  /* One mapping holds everything; untouched pages cost nothing.  A
     memfd, so that the fork server's workers can map it too. */
  pk__fork_layout(p);
  p->ctlfd = memfd_create("parkit-pool", MFD_CLOEXEC);
  if (p->ctlfd < 0 || ftruncate(p->ctlfd, (off_t)p->mapsize) != 0 ||
      (p->base = mmap(NULL, p->mapsize, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_NORESERVE, p->ctlfd, 0)) ==
          MAP_FAILED) {
    p->base = NULL;
    return pk__error(ctx, PK_ENOMEM, "fork: cannot map %zu bytes of control "
                     "block: %s", p->mapsize, strerror(errno));
  }
  pk__fork_layout(p);

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
    if ((st = pk__fork_spawn(p, w)) != PK_OK)
      return pk__error(ctx, st, "fork: cannot start worker %d of %d: %s", w,
                       p->n, strerror(errno));
  if ((st = born(p)) != PK_OK)
    return pk__error(ctx, st, "fork: %s", p->msg);
  ctx->dispatch_ns = measure_dispatch(p);
  p->last_end = pk_time();
  if (pk__fork_alive(p) < p->n)
    return pk__error(ctx, PK_ESYS, "fork: a worker died while starting");
  return PK_OK;
}

static pk_status fork_alloc(pk_context *ctx, size_t nbytes, void **data,
                            void **handle) {
  pool *p = ctx->impl;
  seg *s;
  pk_status st = pk__fork_seg_new(p, nbytes, &s);

  if (st != PK_OK) {
    const int e = errno;
    return pk__error(ctx, st, "pk_array_create: cannot make a shared "
                     "segment of %zu bytes: %s%s", nbytes, strerror(e),
                     e == EMFILE || e == ENFILE
                         ? " (each array of the fork backend holds a file "
                           "descriptor while it lives: destroy those no "
                           "longer needed, or raise the limit, ulimit -n)"
                         : "");
  }
  *data = s->addr;
  *handle = s;
  return PK_OK;
}

static void fork_free(pk_context *ctx, void *data, size_t nbytes,
                      void *handle) {
  (void)data, (void)nbytes;
  pk__fork_seg_free(ctx->impl, handle);
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
  if ((st = pk__fork_stage(p, st_i, a->nbytes, s)) != PK_OK)
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

static int note_base(struct dl_phdr_info *m, size_t size, void *arg) {
  pool *p = arg;
  (void)size;
  if (p->nmods % 64 == 0) {
    uintptr_t *v = realloc(p->mods, (size_t)(p->nmods + 64) * sizeof *v);
    if (v == NULL)
      return 1;
    p->mods = v;
  }
  p->mods[p->nmods++] = m->dlpi_addr;
  return 0;
}

/* The loader's count of modules loaded so far (dlpi_adds), read off the
   first module. */
static int read_adds(struct dl_phdr_info *m, size_t size, void *arg) {
  *(unsigned long long *)arg =
      size >= offsetof(struct dl_phdr_info, dlpi_adds) + sizeof m->dlpi_adds
          ? m->dlpi_adds
          : ~0ULL;
  return 1;
}

static unsigned long long loads(void) {
  unsigned long long n = ~0ULL;
  dl_iterate_phdr(read_adds, &n);
  return n;
}

/* The modules there are now: what the pool's workers will have. */
static void note_modules(pool *p) {
  p->nmods = 0;
  p->mods_adds = loads();
  if (dl_iterate_phdr(note_base, p) != 0)
    p->nmods = -1;
}

/* The path of the module ptr is in, if one opened after the pool started;
   else NULL. */
static const char *late_module(const pool *p, const void *ptr) {
  struct link_map *lm = NULL;
  Dl_info info;

  if (p->nmods < 0 || ptr == NULL ||
      !dladdr1(ptr, &info, (void **)&lm, RTLD_DL_LINKMAP) || lm == NULL ||
      lm->l_name == NULL || lm->l_name[0] == 0)
    return NULL;
  for (int i = 0; i < p->nmods; i++)
    if (p->mods[i] == lm->l_addr)
      return NULL;
  return lm->l_name;
}

/*
 * Where the job's pointers are for workers the fork server made (server.c):
 * moved when in a module loaded after it started; refused when one is
 * nowhere such a worker can find it and the pool has such a worker now
 * (one made later fails the items instead).  Workers forked from the
 * program (PARKIT_START=fork, or auto before the program had threads) see
 * it as it was when they were forked: those forked before a module was
 * opened load it as the server's do, and the others find it where it is;
 * a pointer into such a module that cannot be moved (writable data, a
 * second module) is refused, where they would read whatever they have
 * at its address.
 */
static pk_status place_code(pool *p, jobdesc *jd, const char *what,
                            const void *const ptr[MV_N]) {
  const char *why, *mod;
  int w = p->n, late = p->nmods < 0 || p->mods_adds == ~0ULL ||
                       loads() != p->mods_adds;

  /* Nothing opened since the workers started, nor a server's worker: they
     have what the program has, where it has it (one call to the loader a
     map, where placing the pointers took a search each). */
  if (!p->keep_fds && !late)
    return PK_OK;
  if (p->keep_fds)
    for (w = 0; w < p->n && p->w[w].report < 0; w++)
      ;
  if ((why = pk__fork_server_place(jd, ptr, w < p->n)) != NULL)
    return pk__error(p->ctx, PK_EINVAL, "fork: %s cannot run in worker %d, "
                     "which the fork server made: %s", what, w, why);
  for (int i = 0; late && i < MV_N; i++)
    if ((jd->unmovable >> i & 1) && (mod = late_module(p, ptr[i])) != NULL)
      return pk__error(p->ctx, PK_EINVAL, "fork: %s cannot run in the "
                       "workers: it points into %s, opened after they "
                       "started, where they cannot find it (a kernel's "
                       "functions must be in one such library, its data "
                       "read-only there or given by value: data_size)",
                       what, mod);
  return PK_OK;
}

/* After a map's round: how late the last worker took the dispatch (the
   workers wake on a futex after a short spin; on some hosts, after a
   pause, hundreds of microseconds later). */
static void note_wake(pool *p, double gap) {
  double late = 0;

  for (int w = 0; w < p->n; w++) {
    const double d = p->slots[w].woke - p->go_at;
    if (d > late)
      late = d;
  }
  p->last_end = pk_time();
  pk__wake_note(&p->wake, gap, late, p->last_end);
}

static pk_status fork_map(pk_context *ctx, const pk__job *j, pk__fails *f) {
  pool *p = ctx->impl;
  jobdesc *jd = &p->c->job;
  seg *need[MAXFD] = {0};
  pk_status st = PK_OK;
  size_t chunk = j->chunk;
  int w;

  /* A pending job has ended: the front end waits for it (map.c). */
  pk__fork_heal(p);
  /* need[k]: input k's segment; need[PK_MAX_ARGS + k]: output k's. */
  size_t in_off[PK_MAX_ARGS] = {0}, out_off[PK_MAX_ARGS] = {0};
  for (int c = 0; c < j->nin && st == PK_OK; c++)
    st = place(p, j->ins[c], ST_IN + c, 1, &need[c], &in_off[c]);
  for (int c = 0; c < j->nout && st == PK_OK; c++)
    st = place(p, j->outs[c], ST_OUT + c, 0, &need[PK_MAX_ARGS + c],
               &out_off[c]);
  if (st != PK_OK)
    return st;
  for (int c = 0; c < j->nout; c++) {
    seg *s = need[PK_MAX_ARGS + c];
    p->p.out[c] = s && s == p->stage[ST_OUT + c] ? j->outs[c] : NULL;
    if (p->p.out[c])
      ctx->stats.bytes_copied += j->outs[c]->nbytes; /* copied back */
  }

  memset(jd, 0, sizeof *jd);
  for (int c = 0; c < PK_MAX_ARGS; c++) {
    jd->in_seg[c] = need[c] ? need[c]->id : 0;
    jd->in_off[c] = in_off[c];
    jd->out_seg[c] = need[PK_MAX_ARGS + c] ? need[PK_MAX_ARGS + c]->id : 0;
    jd->out_off[c] = out_off[c];
  }
  jd->kernel = *j->kernel;
  {
    const void *ptr[MV_N] = {(const void *)j->kernel->run,
                             (const void *)j->kernel->prepare,
                             j->kernel->data_size ? NULL : j->kernel->data};
    if ((st = place_code(p, jd, "the kernel", ptr)) != PK_OK)
      return st;
  }
  if (j->kernel->prepare != NULL)
    jd->plans = share_plans(p);
  if (j->kernel->data_size > KDATA) {
    seg **d = &need[2 * PK_MAX_ARGS];
    st = pk__fork_stage(p, ST_DATA, j->kernel->data_size, d);
    if (st != PK_OK)
      return pk__error(ctx, st, "fork: cannot stage the kernel's data");
    memcpy((*d)->addr, j->kernel->data, j->kernel->data_size);
    jd->data_seg = (*d)->id;
  } else if (j->kernel->data_size > 0) {
    memcpy(p->kdata, j->kernel->data, j->kernel->data_size);
  }
  /* Chunks past MAXCHUNKS would overrun the stamps: make them bigger. */
  if (j->nchunks > MAXCHUNKS)
    chunk = (j->n - j->lo + MAXCHUNKS - 1) / MAXCHUNKS;
  jd->task = j->task;
  jd->n = j->n;
  jd->lo = j->lo;
  jd->chunk = chunk;
  jd->nchunks = (j->n - j->lo + chunk - 1) / chunk;
  jd->scratch = j->scratch;
  memcpy(jd->gather, j->gather, sizeof jd->gather);
  jd->piece = j->piece;
  jd->gather_at = j->gather_at;
  jd->schedule = j->schedule;
  jd->workers = j->workers < p->n ? j->workers : p->n;
  jd->first = first_worker(p, jd->workers);
  jd->notify = j->on_chunk != NULL;
  jd->fresh = j->fresh;
  if (++p->stamp == 0)
    p->stamp = 1;
  jd->stamp = p->stamp;
  atomic_store(&p->c->ncomp, 0);
  for (w = 0; w < p->n; w++) {
    p->slots[w].nfail = 0;
    p->w[w].died = 0;
    p->p.part[w] = pk__fork_takes_part(jd, w, p->n);
  }

  begin_job(p, K_MAP);
  p->p.lossy = 0;
  p->p.claimed = SIZE_MAX; /* no round yet */
  p->p.cb = j->on_chunk;
  p->p.cb_arg = j->on_chunk_arg;
  p->p.cursor = 0;
  if (p->p.cb && (p->p.told = calloc(jd->nchunks, 1)) == NULL) {
    p->p.busy = 0;
    return pk__error(ctx, PK_ENOMEM, "fork: out of memory");
  }
  const double gap = pk_time() - p->last_end;
  pk__fork_dispatch(p, K_MAP, need, MAXFD);

  if (j->future != NULL) {
    p->p.future = j->future;
    pk__future_pend(j->future);
    return PK_OK;
  }
  st = pk__fork_complete(p, -1, f);
  note_wake(p, gap);
  if (st != PK_OK)
    pk__error(ctx, st, "%s", p->msg);
  return st;
}

/* How late the workers are likely to come to a map after the pause since
   the last one (see pk__wake). */
static double fork_late(pk_context *ctx) {
  const pool *p = ctx->impl;
  const double now = pk_time();
  return pk__wake_expect(&p->wake, now - p->last_end, now,
                         ctx->dispatch_ns * 1e-9) * 1e9;
}

/* Put size bytes of buf where workers read them; *s the segment or NULL. */
static pk_status put_buf(pool *p, const void *buf, size_t size, seg **s) {
  pk_status st;

  *s = NULL;
  if (size > KDATA) {
    if ((st = pk__fork_stage(p, ST_DATA, size, s)) != PK_OK)
      return st;
    memcpy((*s)->addr, buf, size);
  } else if (size > 0) {
    memcpy(p->kdata, buf, size);
  }
  return PK_OK;
}

static pk_status fork_apply(pk_context *ctx, pk_status (*fn)(void *, size_t),
                            void *buf, size_t size, struct pk_future *fut) {
  pool *p = ctx->impl;
  jobdesc *jd = &p->c->job;
  pk__fails f = {0};
  seg *s;
  pk_status st;
  int w, k;

  if (p->p.busy)
    pk__fork_finish_pending(p, -1);
  atomic_store(&ctx->interrupted, 0); /* as a map's start */
  pk__fork_heal(p);
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
  {
    const void *ptr[MV_N] = {[MV_FN] = (const void *)fn};
    if ((st = place_code(p, jd, "the task", ptr)) != PK_OK)
      return st;
  }
  jd->fn = fn;
  jd->size = size;
  jd->data_seg = s ? s->id : 0;
  memset(p->p.part, 0, (size_t)p->n);
  p->p.part[w] = 1;
  p->w[w].died = 0;
  begin_job(p, K_TASK);
  p->p.task_worker = w;
  p->p.buf = buf;
  p->p.bufseg = s;
  pk__fork_dispatch(p, K_TASK, &s, 1);
  if (fut != NULL) {
    p->p.future = fut;
    pk__future_pend(fut);
    return PK_OK;
  }
  st = pk__fork_complete(p, -1, &f);
  pk__fails_free(&f);
  if (st != PK_OK)
    return pk__error(ctx, st, "%s", p->msg[0] ? p->msg : pk_strerror(st));
  return PK_OK;
}

static pk_status fork_winit(pk_context *ctx,
                            pk_status (*fn)(void *, size_t, int),
                            const void *arg, size_t size) {
  pool *p = ctx->impl;
  jobdesc *jd = &p->c->job;
  pk__fails f = {0};
  void *copy = NULL;
  seg *s;
  pk_status st;
  int w;

  if (p->p.busy)
    pk__fork_finish_pending(p, -1);
  if (fn && size > 0) {
    if ((copy = malloc(size)) == NULL)
      return pk__error(ctx, PK_ENOMEM, "pk_worker_init: out of memory");
    memcpy(copy, arg, size);
  }
  /* Slots whose initializer failed in a replacement: workers again,
     started without one (the new one, if any, runs in all below). */
  p->init_fn = NULL;
  for (w = 0; w < p->n; w++)
    p->w[w].init_failed = 0;
  pk__fork_heal(p);
  /* Replacements forked from now on run it from this copy. */
  free(p->init_arg);
  p->init_fn = fn;
  p->init_arg = copy;
  p->init_size = fn ? size : 0;
  if (p->init_fn == NULL)
    return PK_OK;
  if ((st = put_buf(p, copy, p->init_size, &s)) != PK_OK)
    return pk__error(ctx, st, "pk_worker_init: cannot stage its argument");
  memset(jd, 0, sizeof *jd);
  {
    const void *ptr[MV_N] = {[MV_INIT] = (const void *)p->init_fn};
    if ((st = place_code(p, jd, "the initializer", ptr)) != PK_OK) {
      free(p->init_arg);
      p->init_arg = NULL;
      p->init_fn = NULL;
      return st;
    }
  }
  jd->init = p->init_fn;
  jd->size = p->init_size;
  jd->data_seg = s ? s->id : 0;
  for (w = 0; w < p->n; w++) {
    p->p.part[w] = p->w[w].pid > 0;
    p->w[w].died = 0;
    p->slots[w].status = PK_OK;
  }
  begin_job(p, K_INIT);
  pk__fork_dispatch(p, K_INIT, &s, 1);
  st = pk__fork_complete(p, -1, &f);
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

static pk_status fork_cancel(pk_context *ctx) {
  pool *p = ctx->impl;
  if (foreign(ctx, "fork") != PK_OK)
    return PK_ESTATE;
  if (!p->p.busy)
    return PK_OK;
  pk__fork_cancel(p);
  return pk__fork_finish_pending(p, -1);
}

/* Wake the parent's poll (pk__fork_wait_round), which then sees the flag;
   a write, so safe in a signal handler. */
static void fork_interrupt(pk_context *ctx) {
  const pool *p = ctx->impl;
  const uint64_t one = 1;
  if (p != NULL && p->efd >= 0) {
    ssize_t r = write(p->efd, &one, sizeof one);
    (void)r;
  }
}

static void fork_max_tasks(pk_context *ctx, unsigned long n) {
  ((pool *)ctx->impl)->max_tasks = n;
}

const pk__backend_ops pk__backend_fork = {
    .name = "fork",
    .start = fork_start,
    .stop = fork_stop,
    .alloc = fork_alloc,
    .free = fork_free,
    .map = fork_map,
    .late = fork_late,
    .wait = fork_wait,
    .cancel = fork_cancel,
    .interrupt = fork_interrupt,
    .usable = fork_usable,
    .reports_chunks = 1,
    .max_tasks = fork_max_tasks,
    .apply = fork_apply,
    .winit = fork_winit,
};
