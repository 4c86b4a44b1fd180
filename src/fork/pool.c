/*
 * The fork backend's workers as the parent drives them (backend.h): spawning,
 * reaping and replacing them, sending segments, dispatching a round,
 * waiting for it, collecting results and failures.
 */
#include "backend.h"
#include "sync.h"

void pk__fork_close_worker(pool *p, int w) {
  if (p->w[w].sock >= 0)
    close(p->w[w].sock);
  if (p->w[w].pidfd >= 0)
    close(p->w[w].pidfd);
  if (p->w[w].report >= 0)
    close(p->w[w].report);
  p->w[w].sock = p->w[w].pidfd = p->w[w].report = -1;
  p->w[w].pid = 0;
}

pk_status pk__fork_spawn(pool *p, int w) {
  int sv[2], by_main;
  pid_t pid;
  seg *g;
  pk_status st;

  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return PK_ESYS;
  atomic_store(&p->slots[w].go, 0);
  atomic_store(&p->slots[w].done, 0);
  atomic_store(&p->slots[w].quit, 0);
  atomic_store(&p->slots[w].sleeping, 0);
  atomic_store(&p->slots[w].sent, 0);
  atomic_store(&p->slots[w].up, 0);
  p->slots[w].chunks = 0;
  p->slots[w].status = PK_OK;
  p->w[w].stuck = 0;
  p->w[w].up_by = pk_time() + BIRTH_S;
  if (pk__fork_server_wanted(p)) {
    /* The program has threads: fork in the server, which has none. */
    int report;
    st = pk__fork_server_spawn(p, w, sv[1], &pid, &report);
    if (st == PK_OK) {
      close(sv[1]);
      p->w[w].pid = pid;
      p->w[w].sock = sv[0];
      p->w[w].pidfd = pidfd_open(pid);
      p->w[w].report = report;
      for (g = p->head; g; g = g->next)
        g->known[w] = 0; /* sent before its first dispatch */
      pk__log(p->ctx, "fork: worker %d (pid %d) made by the fork server", w,
              (int)pid);
      return PK_OK;
    }
    if (p->start == PK__START_SERVER) {
      close(sv[0]);
      close(sv[1]);
      return st;
    }
    pk__log(p->ctx, "fork: the fork server did not make worker %d (%s); "
            "forked here", w, strerror(errno));
  }
  /* Else the child's exit() could flush our buffered output a second time. */
  fflush(NULL);
  by_main = syscall(SYS_gettid) == getpid();
  /* The child inherits this thread's OpenMP count and BLAS's: made one
     for the fork, they spare it its first calls into both libraries, whose
     pages a new process faults in one by one (0.4-0.9 ms of a worker's
     start where page tables are virtualised: pk_init of 2 workers 3.4-3.6
     ms against 4.2-4.4, AMD EPYC family 26). */
  int kept;
  const int omp = pk__omp_single_for_fork(&kept);
  p->single_at_fork = kept && pk__blas_get() == 1;
  pid = fork();
  if (pid != 0)
    pk__omp_restore(omp);
  if (pid < 0) {
    close(sv[0]);
    close(sv[1]);
    return errno == ENOMEM || errno == EAGAIN ? PK_ENOMEM : PK_ESYS;
  }
  if (pid == 0) {
    close(sv[0]);
    pk__fork_worker_main(p, w, sv[1], by_main);
  }
  close(sv[1]);
  p->w[w].pid = pid;
  p->w[w].sock = sv[0];
  p->w[w].pidfd = pidfd_open(pid);
  for (g = p->head; g; g = g->next)
    g->known[w] = 1; /* inherited */
  return PK_OK;
}

/*
 * LLVM's and Intel's OpenMP runtimes (libomp, libiomp5: what clang's and
 * icx's -fopenmp link) register each process that starts them as a file
 * /dev/shm/__KMP_REGISTERED_LIB_<pid>_<uid>, removed by their exit
 * handler.  A worker ends by _exit or a signal, which runs no handler, and
 * starts the program's OpenMP runtime (its thread count is set to one):
 * under such a runtime every worker would leave its file.  The parent
 * removes a reaped worker's.
 */
static void omp_registration_gone(pid_t pid) {
  char name[64];
  snprintf(name, sizeof name, "/__KMP_REGISTERED_LIB_%ld_%ld", (long)pid,
           (long)getuid());
  (void)shm_unlink(name);
}

/* Reap worker w, whose pidfd (or socket) said it has exited. */
void pk__fork_reap(pool *p, int w) {
  int status = 0;
  pid_t r;

  if (p->w[w].report >= 0) { /* the server's child: it reaps, we hear */
    status = pk__fork_server_status(p->w[w].report);
    r = p->w[w].pid;
  } else {
    do
      r = waitpid(p->w[w].pid, &status, 0);
    while (r < 0 && errno == EINTR);
  }
  p->w[w].status = r == p->w[w].pid ? status : 0;
  p->w[w].unknown = r != p->w[w].pid; /* ECHILD: SIGCHLD ignored, or the
                                          program's wait for any child */
  p->w[w].died = 1;
  /* Stopped by pk__fork_cancel, but its status is not our SIGKILL's: it
     had crashed or exited by itself first, its exit not yet complete
     (a process of several threads, such as one run by qemu-user, is
     reapable only once its last thread is gone).  A death of the job's,
     reported as one. */
  if (p->w[w].stopped && r == p->w[w].pid &&
      ((WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL) ||
       (WIFEXITED(status) && WEXITSTATUS(status) != 0)))
    p->w[w].stopped = 0;
  if (r == p->w[w].pid)
    omp_registration_gone(r);
  pk__fork_close_worker(p, w);
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
  pk__fork_reap(p, w);
  p->w[w].died = 0;
}

/* Start workers whose slots are empty (a fork that failed before); not
   where the initializer failed: it would again, at every map. */
void pk__fork_heal(pool *p) {
  int w;
  for (w = 0; w < p->n; w++)
    if (p->w[w].pid <= 0 && !p->w[w].init_failed)
      pk__fork_spawn(p, w);
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
    int i, all = !p->keep_fds;
    for (i = 0; i < p->n && all; i++)
      all = sent[k]->known[i];
    if (all) {
      close(sent[k]->fd);
      sent[k]->fd = -1;
    }
  }
}

/* Send a worker the fork server made every live segment it lacks: it
   inherited none, and a further round names none. */
static void send_all(pool *p, int w) {
  seg *batch[MAXFD], *g = p->head;

  while (g) {
    int k = 0;
    for (; g && k < MAXFD; g = g->next)
      if (!g->known[w] && g->fd >= 0)
        batch[k++] = g;
    if (k > 0)
      send_segs(p, w, batch, k);
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
void pk__fork_dispatch(pool *p, int kind, seg *const *need, int nneed) {
  int w;

  if (++p->seq == 0)
    p->seq = 1;
  p->c->kind = kind;
  publish_live(p);
  for (w = 0; w < p->n; w++)
    if (p->p.part[w] && p->w[w].pid > 0) {
      if (p->w[w].report >= 0)
        send_all(p, w);
      else
        send_segs(p, w, need, nneed);
    }
  atomic_thread_fence(memory_order_seq_cst);
  p->go_at = pk_time();
  for (w = 0; w < p->n; w++)
    if (p->p.part[w] && p->w[w].pid > 0) {
      atomic_store(&p->slots[w].go, p->seq);
      PK__STORE_LOAD();
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

/* Worker w's descriptor polled readable: it has exited.  A pidfd says so;
   without pidfds, data on the socket is no death, end of file is. */
static int ended(const pool *p, int w) {
  char b;
  return p->w[w].pidfd >= 0 ||
         recv(p->w[w].sock, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Wait for the current round: 1 when every participant is done or dead, 0
   at deadline (< 0: none). */
int pk__fork_wait_round(pool *p, double deadline) {
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
    if (pk__interrupted(p->ctx) && !p->p.cancelled &&
        (p->p.kind == K_MAP || p->p.kind == K_TASK)) {
      p->p.interrupted = 1;
      pk__fork_cancel(p);
    }
    deliver(p, 0);
    if (round_done(p))
      break;
    atomic_store(&p->c->sleeping, 1);
    PK__STORE_LOAD();
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
    /* A participant that has not started may never: forked while another
       thread of ours held a lock it needs.  Killed when its time is up,
       it is then reaped as any dead worker. */
    for (w = 0; w < p->n; w++) {
      double left;
      if (!p->p.part[w] || p->w[w].pid <= 0 || atomic_load(&p->slots[w].up))
        continue;
      left = p->w[w].up_by - pk_time();
      if (left <= 0 && !p->w[w].stuck) {
        kill(p->w[w].pid, SIGKILL);
        p->w[w].stuck = 1;
      } else if (left > 0 && (ms < 0 || left * 1000 + 1 < ms)) {
        ms = (int)(left * 1000) + 1;
      }
    }
    if (p->n > 64 && (ms < 0 || ms > 10))
      ms = 10;
    /* And a look at the round every second, as a sleeping worker looks
       for its job: a lost notice costs a second, not the map. */
    if (ms < 0 || ms > 1000)
      ms = 1000;
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
        if (ended(p, idx[w]))
          pk__fork_reap(p, idx[w]);
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

/* Whether worker w, reaped, ended because its initializer failed. */
static int init_failed(const pool *p, int w) {
  const int s = p->w[w].status;
  return p->init_fn && !p->w[w].unknown && WIFEXITED(s) &&
         WEXITSTATUS(s) == EXIT_INIT && p->slots[w].status != PK_OK;
}

/* Fork replacements for the workers that died; note the first death. */
void pk__fork_replace_dead(pool *p) {
  int w;
  for (w = 0; w < p->n; w++) {
    if (!p->w[w].died)
      continue;
    if (init_failed(p, w)) {
      /* A replacement whose initializer failed: another would too (the
         program's state that it reads has changed).  The slot stays
         empty, the others carry on, until pk_worker_init is called. */
      p->w[w].died = 0;
      p->w[w].init_failed = 1;
      pk__log(p->ctx, "fork: worker %d's initializer returned %s in a "
              "replacement; the pool runs without it until pk_worker_init "
              "is called again", w, pk_strerror(p->slots[w].status));
      continue;
    }
    if (p->w[w].stopped) {
      /* Killed by pk_future_cancel: no death of the job's. */
    } else if (p->p.deaths++ == 0) {
      char why[128];
      if (p->w[w].stuck)
        snprintf(why, sizeof why, "did not start within %g s (forked "
                 "while another thread held a lock?)", BIRTH_S);
      else if (p->w[w].unknown)
        snprintf(why, sizeof why, "died (how is not known: the program "
                 "reaped it, or ignores SIGCHLD)");
      else
        death(p->w[w].status, why, sizeof why);
      snprintf(p->msg, sizeof p->msg, "worker %d %s", w, why);
    }
    p->w[w].died = 0;
    /* On failure the slot stays empty; the others carry on. */
    if (pk__fork_spawn(p, w) == PK_OK)
      pk__log(p->ctx, "fork: worker %d %s; replaced by pid %d", w,
              p->w[w].stopped ? "stopped (cancelled)" : "died",
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

int pk__fork_alive(pool *p) {
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
    if (!pk__fork_wait_round(p, deadline))
      return 0;
    pk__fork_replace_dead(p);
    if (p->p.cancelled)
      return 1; /* nothing more runs: the rest fails */
    if (p->p.deaths == 0 && !missing(p))
      return 1; /* every participant ran its loop to the end */
    p->p.lossy = 1;
    claimed = count_claimed(p);
    if (claimed == jd->nchunks || claimed == p->p.claimed || !pk__fork_alive(p))
      return 1;
    p->p.claimed = claimed;
    /* Another round: whoever is alive takes the unclaimed chunks. */
    jd->retry = 1;
    for (w = 0; w < p->n; w++)
      p->p.part[w] = pk__fork_takes_part(jd, w, p->n) || p->p.part[w];
    pk__fork_dispatch(p, K_MAP, NULL, 0);
  }
}

/*
 * Where a staged output's items failed, the caller's values into the stage
 * before it is copied back: the stage holds what an earlier map left
 * there, and the caller's array keeps its own values, as where the kernel
 * writes the caller's memory itself.  A worker's failures past the FAILCAP
 * it lists are not known by item: its chunks keep the caller's values
 * whole.
 */
static void keep_failed(pool *p, const pk__job *j, const pk__fails *f,
                        const char *mine, char *stage, size_t ib) {
  const jobdesc *jd = &p->c->job;
  size_t c, lo, hi;

  for (size_t k = 0; k < f->len; k++)
    memcpy(stage + f->v[k].item * ib, mine + f->v[k].item * ib, ib);
  if (f->len == f->n)
    return;
  for (c = 0; c < jd->nchunks; c++) {
    if (atomic_load(&p->claim[c]) != jd->stamp)
      continue;
    uint32_t w = atomic_load(&p->who[c]);
    if (w < (uint32_t)p->n && p->slots[w].nfail > FAILCAP) {
      pk__chunk(j, c, &lo, &hi);
      memcpy(stage + lo * ib, mine + lo * ib, (hi - lo) * ib);
    }
  }
}

/* Failures of the finished map into f; copy a staged output back. */
static pk_status collect_map(pool *p, pk__fails *f) {
  const jobdesc *jd = &p->c->job;
  pk__job j;
  size_t c, lo, hi, k;
  int w, lost = 0, cancelled = 0;
  const pk_status stop = p->p.interrupted ? PK_EINTR : PK_ECANCELED;

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
      uint32_t u = atomic_load(&p->claim[c]) == jd->stamp
                       ? atomic_load(&p->who[c])
                       : UINT32_MAX;
      int who = u < (uint32_t)p->n ? (int)u : -1;
      /* Cancelled: taken by the parent (u == UINT32_MAX) or running in a
         worker it stopped; else its worker died. */
      pk_status why = p->p.cancelled && (who < 0 || p->w[who].stopped)
                          ? stop
                          : PK_EWORKER;
      pk__chunk(&j, c, &lo, &hi);
      pk__fails_range(f, lo, hi, why, who);
      lost = 1;
      cancelled |= why == stop;
    }
  deliver(p, 1);
  for (int o = 0; o < PK_MAX_ARGS; o++) {
    pk_array *out = p->p.out[o];
    seg *s = p->stage[ST_OUT + o];
    size_t ib = jd->task.out_strides[o];
    if (out == NULL)
      continue;
    keep_failed(p, &j, f, out->data, s->addr, ib);
    if (!p->p.lossy) {
      /* Items before lo were written in place by the caller. */
      size_t skip = jd->lo * ib;
      memcpy((char *)out->data + skip, s->addr + skip, out->nbytes - skip);
    } else {
      /* Only what was computed: the rest keeps the caller's values. */
      for (c = 0; c < jd->nchunks; c++)
        if (atomic_load(&p->done[c]) == jd->stamp) {
          pk__chunk(&j, c, &lo, &hi);
          memcpy((char *)out->data + lo * ib, s->addr + lo * ib,
                 (hi - lo) * ib);
        }
    }
  }
  if (lost) {
    size_t len;
    if (p->msg[0] == '\0' && !cancelled)
      snprintf(p->msg, sizeof p->msg, "fork: no worker could be started");
    len = strlen(p->msg);
    snprintf(p->msg + len, sizeof p->msg - len,
             "%s%s: %s%zu of %zu items did not complete (see pk_failed)",
             len ? "; " : "", jd->kernel.name,
             !cancelled ? "" : p->p.interrupted ? "interrupted; "
                                                : "cancelled; ",
             f->n, jd->n);
    return cancelled ? stop : PK_EWORKER;
  }
  return PK_OK;
}

/* Replace the workers that have run their share of tasks. */
static void recycle(pool *p) {
  unsigned long max = p->max_tasks;
  int w;

  if (max == 0)
    return;
  for (w = 0; w < p->n; w++)
    if (p->w[w].pid > 0 && p->slots[w].chunks >= max) {
      retire(p, w);
      pk__fork_spawn(p, w);
    }
}

static void end_job(pool *p) {
  free(p->p.told);
  p->p.told = NULL;
  p->p.busy = 0;
  p->p.future = NULL;
  memset(p->p.out, 0, sizeof p->p.out);
  p->p.cb = NULL;
  for (int w = 0; p->p.cancelled && w < p->n; w++)
    p->w[w].stopped = 0;
  p->p.cancelled = p->p.interrupted = 0;
  memset(p->p.part, 0, (size_t)p->n);
}

/*
 * Drive the pending job to its end, or to deadline.  On the end: failures
 * into f, the status returned, the message in p->msg (cleared when the job
 * started: a death seen by an earlier call that timed out is kept).
 */
pk_status pk__fork_complete(pool *p, double deadline, pk__fails *f) {
  pk_status st = PK_OK;

  switch (p->p.kind) {
  case K_MAP:
    if (!drive_map(p, deadline))
      return PK_ETIMEDOUT;
    st = collect_map(p, f);
    break;
  case K_TASK: {
    int w = p->p.task_worker;
    if (!pk__fork_wait_round(p, deadline))
      return PK_ETIMEDOUT;
    if (p->w[w].died && p->w[w].stopped) {
      pk__fork_replace_dead(p);
      snprintf(p->msg, sizeof p->msg, "the task was %s: its worker was "
               "stopped and replaced; the buffer keeps its values",
               p->p.interrupted ? "interrupted" : "cancelled");
      st = p->p.interrupted ? PK_EINTR : PK_ECANCELED;
    } else if (p->w[w].died) {
      pk__fork_replace_dead(p);
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
    if (!pk__fork_wait_round(p, deadline))
      return PK_ETIMEDOUT;
    for (w = 0; w < p->n; w++)
      if (p->p.part[w] && !p->w[w].died && p->slots[w].status != PK_OK &&
          st == PK_OK) {
        st = p->slots[w].status;
        snprintf(p->msg, sizeof p->msg, "the initializer failed in worker "
                 "%d: %s", w, pk_strerror(st));
      }
    pk__fork_replace_dead(p);
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

/*
 * Stop the pending map or task (pk_future_cancel): the parent claims every
 * chunk no worker has, so none starts from now; a participant still in its
 * round a millisecond later is running one of the map's chunks (or the
 * task) and is killed.  pk__fork_complete then ends the job: the chunks
 * that did not complete fail with PK_ECANCELED, the stopped workers are
 * replaced, and a job that finished before keeps its result.
 */
void pk__fork_cancel(pool *p) {
  const jobdesc *jd = &p->c->job;
  double until;
  int w;

  if (p->p.kind == K_MAP) {
    for (size_t c = 0; c < jd->nchunks; c++) {
      uint32_t old = atomic_load(&p->claim[c]);
      if (old != jd->stamp &&
          atomic_compare_exchange_strong(&p->claim[c], &old, jd->stamp))
        atomic_store(&p->who[c], UINT32_MAX);
    }
    p->p.lossy = 1;
  } else if (p->p.kind != K_TASK) {
    return; /* an initializer: pk_worker_init waits for it */
  }
  p->p.cancelled = 1;
  /* A worker between chunks finds none left and ends its round at once. */
  until = pk_time() + 1e-3;
  while (!round_done(p) && pk_time() < until)
    sched_yield();
  for (w = 0; w < p->n; w++) {
    if (!p->p.part[w] || p->w[w].pid <= 0 ||
        atomic_load(&p->slots[w].done) == p->seq)
      continue;
    /* One that died by itself is reaped as such (its items PK_EWORKER). */
    struct pollfd pf = {p->w[w].pidfd >= 0 ? p->w[w].pidfd : p->w[w].sock,
                        POLLIN, 0};
    if (poll(&pf, 1, 0) > 0 && ended(p, w))
      continue;
    kill(p->w[w].pid, SIGKILL);
    p->w[w].stopped = 1;
  }
}

/* Finish the job a future left pending, into its future. */
pk_status pk__fork_finish_pending(pool *p, double timeout) {
  pk__fails f = {0};
  struct pk_future *fut = p->p.future;
  double deadline = timeout < 0 ? -1 : pk_time() + timeout;
  pk_status st;

  st = pk__fork_complete(p, deadline, &f);
  if (st == PK_ETIMEDOUT) {
    pk__fails_free(&f);
    return st;
  }
  if (fut)
    pk__future_done(fut, st, &f, p->msg[0] ? p->msg : NULL);
  pk__fails_free(&f);
  return PK_OK;
}
