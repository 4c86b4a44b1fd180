/*
 * The fork server (backend.h): a process forked when the library is loaded,
 * before the program has run any code of its own, that forks workers on
 * request.
 *
 * Why.  A worker forked by the program while another of its threads holds a
 * lock (OpenBLAS's, the C library's, the program's own) inherits that lock
 * held by a thread that does not exist in the child, and waits on it for
 * ever at its first use.  Python answers with its spawn and forkserver start
 * methods.  The server is the second: it is a copy of the process as it was
 * at load, when only the constructors of the libraries before us had run,
 * and it never runs anything but this file; its own children therefore
 * inherit no lock that anyone holds, whatever the program's threads do
 * later.
 *
 * Which.  PARKIT_START=fork makes every worker in the program (and starts
 * no server), =forkserver makes every worker in the server, and the default
 * (auto) forks in the program while it has no more threads than it had at
 * load (OpenBLAS's own pool is there from the start) and asks the server
 * once it has.  Workers made by the server see the program's memory as it
 * was at load: arrays and a kernel's data (data_size) reach them as they
 * reach any worker, through shared memory.  Code in a module loaded after
 * the server started (a Python extension, a plugin) is reached by loading
 * that module in the worker and moving the pointers by where it landed
 * (pk__fork_server_place, worker.c); a kernel's data passed by pointer
 * without a size must be in read-only memory of a module.
 *
 * How.  The server is a grandchild: the process between exits at once, so
 * neither the server nor its workers are the program's children (its
 * waitpid(-1) never meets them).  A request carries the pool's control
 * memfd, the worker's end of its socket, the pool's eventfd and the write
 * end of a pipe; the server forks, the child maps the control block and
 * becomes the worker (worker.c), and the server answers with its pid.  The
 * server reaps its workers and writes each one's wait status to its pipe,
 * which is all the program would have learnt from waitpid.  It exits when
 * the program's end of its socket closes, at the program's exit; its
 * workers follow by their death signal.
 */
#include "backend.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

/* A fork that runs no handler: the server's copy of a library's handler
   state is the program's at load (OpenBLAS's would stop a pool whose
   threads are not here).  fork() where the C library has no _Fork. */
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
#define bare_fork _Fork
#endif
#endif
#ifndef bare_fork
#define bare_fork fork
#endif

#define MAGIC 0x706b7377u
#define INITCAP 32768 /* an initializer's argument carried in a request */
#define REPLY_MS 5000

typedef struct range {
  uintptr_t lo, hi;
  int ro; /* read-only once relocated */
} range;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int sock = -1;   /* our end of the server's socket */
static dev_t sock_dev;  /* and what it is, in case the program closed */
static ino_t sock_ino;  /* the descriptor and another file took it */
static pid_t owner;     /* the process it serves */
static int load_threads; /* threads when we were loaded */
static range *ranges;
static int nranges, capranges; /* nranges -1: no memory to list them */

int pk__fork_start_method(const char **bad) {
  const char *s = getenv("PARKIT_START");

  if (s == NULL || *s == 0 || strcmp(s, "auto") == 0)
    return PK__START_AUTO;
  if (strcmp(s, "fork") == 0)
    return PK__START_FORK;
  if (strcmp(s, "forkserver") == 0)
    return PK__START_SERVER;
  if (bad)
    *bad = s;
  return -1;
}

static int add_range(uintptr_t lo, uintptr_t hi, int ro) {
  if (nranges < 0)
    return 1;
  if (nranges == capranges) {
    int cap = capranges ? 2 * capranges : 256;
    range *v = realloc(ranges, (size_t)cap * sizeof *v);
    if (v == NULL) {
      nranges = -1;
      return 1;
    }
    ranges = v;
    capranges = cap;
  }
  ranges[nranges++] = (range){lo, hi, ro};
  return 0;
}

/* Every loaded module's segments, as the server will have them. */
static int note_module(struct dl_phdr_info *m, size_t size, void *arg) {
  (void)size, (void)arg;
  for (int i = 0; i < m->dlpi_phnum; i++) {
    const ElfW(Phdr) *h = &m->dlpi_phdr[i];
    uintptr_t lo = m->dlpi_addr + h->p_vaddr;
    /* Read-only after relocation first: the checks take the first match. */
    if (h->p_type == PT_GNU_RELRO && add_range(lo, lo + h->p_memsz, 1))
      return 1;
  }
  for (int i = 0; i < m->dlpi_phnum; i++) {
    const ElfW(Phdr) *h = &m->dlpi_phdr[i];
    uintptr_t lo = m->dlpi_addr + h->p_vaddr;
    if (h->p_type == PT_LOAD &&
        add_range(lo, lo + h->p_memsz, !(h->p_flags & PF_W)))
      return 1;
  }
  return 0;
}

static const range *find(const void *p) {
  for (int i = 0; i < nranges; i++)
    if ((uintptr_t)p >= ranges[i].lo && (uintptr_t)p < ranges[i].hi)
      return &ranges[i];
  return NULL;
}

/* The segment of the module loaded at base that holds ptr: read-only? */
typedef struct probe {
  uintptr_t base, ptr;
  int found, ro;
} probe;

static int probe_module(struct dl_phdr_info *m, size_t size, void *arg) {
  probe *q = arg;
  (void)size;
  if (m->dlpi_addr != q->base)
    return 0;
  for (int i = 0; i < m->dlpi_phnum; i++) {
    const ElfW(Phdr) *h = &m->dlpi_phdr[i];
    uintptr_t lo = m->dlpi_addr + h->p_vaddr;
    if ((h->p_type != PT_LOAD && h->p_type != PT_GNU_RELRO) || q->ptr < lo ||
        q->ptr >= lo + h->p_memsz)
      continue;
    q->found = 1;
    q->ro |= h->p_type == PT_GNU_RELRO || !(h->p_flags & PF_W);
  }
  return 1;
}

const char *pk__fork_server_place(jobdesc *jd, const void *const ptr[MV_N],
                                  int must) {
  static const char *const names[MV_N] = {"its run function",
      "its prepare function", "its data", "the task", "the initializer"};
  static _Thread_local char why[768];

  jd->moved = jd->unmovable = 0;
  jd->mod[0] = 0;
  if (nranges < 0)
    return NULL; /* too many modules to know: as in the program */
  for (int i = 0; i < MV_N; i++) {
    const range *r;
    struct link_map *lm = NULL;
    Dl_info info;
    probe q = {0};
    const char *bad = NULL;

    if (ptr[i] == NULL)
      continue;
    if ((r = find(ptr[i])) != NULL) {
      if (i == MV_DATA && !r->ro)
        bad = "is in writable memory, which the fork server's workers see "
              "as it was at load";
    } else if (!dladdr1(ptr[i], &info, (void **)&lm, RTLD_DL_LINKMAP) ||
               lm == NULL || lm->l_name == NULL || lm->l_name[0] == 0) {
      bad = i == MV_DATA ? "is not in any module: the fork server's workers "
                           "do not share it"
                         : "is not in any module the fork server's workers "
                           "could load";
    } else if (strlen(lm->l_name) >= sizeof jd->mod ||
               (jd->mod[0] && strcmp(jd->mod, lm->l_name) != 0)) {
      bad = "is in a second module loaded after libparkit (one is moved)";
    } else {
      q.base = lm->l_addr;
      q.ptr = (uintptr_t)ptr[i];
      dl_iterate_phdr(probe_module, &q);
      if (i == MV_DATA && !(q.found && q.ro)) {
        bad = "is in writable memory, which the fork server's workers do "
              "not share";
      } else {
        strcpy(jd->mod, lm->l_name);
        jd->mod_base = lm->l_addr;
        jd->moved |= 1u << i;
      }
    }
    if (bad) {
      jd->unmovable |= 1u << i;
      if (must) {
        snprintf(why, sizeof why, "%s %s%s", names[i], bad,
                 i == MV_DATA ? ": give the kernel's data_size, so that "
                                "parkit copies the data to every worker"
                              : "");
        return why;
      }
    }
  }
  return NULL;
}

/* ------------------------------------------------------------ the server */

typedef struct kid {
  pid_t pid;
  int report;
} kid;

static kid *kids;
static size_t nkids, capkids;

/* Reap the workers that ended; tell each one's pipe its status. */
static void reap_kids(void) {
  pid_t pid;
  int st;

  while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
    for (size_t i = 0; i < nkids; i++)
      if (kids[i].pid == pid) {
        ssize_t r = write(kids[i].report, &st, sizeof st);
        (void)r;
        close(kids[i].report);
        kids[i] = kids[--nkids];
        break;
      }
}

/* One request: fork worker r->me of a pool, answer with its pid. */
static void spawn_one(int s, int sfd) {
  static struct {
    spawnreq r;
    char init[INITCAP];
  } m;
  union {
    char buf[CMSG_SPACE(4 * sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {&m, sizeof m};
  struct msghdr h = {0};
  struct cmsghdr *cm;
  int fds[4] = {-1, -1, -1, -1}, nfd = 0;
  int32_t reply = -EINVAL;
  ssize_t len;
  pid_t pid;

  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  h.msg_control = u.buf;
  h.msg_controllen = sizeof u.buf;
  do
    len = recvmsg(s, &h, MSG_CMSG_CLOEXEC);
  while (len < 0 && errno == EINTR);
  if (len == 0 || (len < 0 && errno != EAGAIN))
    _exit(0); /* the program is gone */
  for (cm = CMSG_FIRSTHDR(&h); cm; cm = CMSG_NXTHDR(&h, cm))
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
      nfd = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      memcpy(fds, CMSG_DATA(cm), (size_t)(nfd > 4 ? 4 : nfd) * sizeof(int));
    }
  if (len >= (ssize_t)sizeof m.r && m.r.magic == MAGIC && nfd == 4 &&
      (size_t)len == sizeof m.r + m.r.init_size) {
    if (nkids == capkids) {
      size_t cap = capkids ? 2 * capkids : 16;
      kid *v = realloc(kids, cap * sizeof *v);
      if (v) {
        kids = v;
        capkids = cap;
      }
    }
    m.r.self = getpid();
    pid = nkids < capkids ? bare_fork() : (errno = ENOMEM, -1);
    if (pid == 0) {
      close(s);
      close(sfd);
      close(fds[3]);
      for (size_t i = 0; i < nkids; i++)
        close(kids[i].report);
      pk__fork_worker_served(&m.r, fds[0], fds[1], fds[2],
                             m.r.init_size ? m.init : NULL);
    }
    reply = pid > 0 ? (int32_t)pid : -errno;
    if (pid > 0) {
      kids[nkids++] = (kid){pid, fds[3]};
      fds[3] = -1;
    }
  }
  for (int i = 0; i < 4 && i < nfd; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  (void)send(s, &reply, sizeof reply, MSG_NOSIGNAL);
}

static void serve(int s) __attribute__((noreturn));
static void serve(int s) {
  sigset_t chld;
  int sfd;

  /* Only the socket and the standard streams stay open. */
  if (dup2(s, 3) < 0)
    _exit(1);
  s = 3;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 4u, ~0u, 0u) != 0)
#endif
    for (int fd = 4; fd < 4096; fd++)
      close(fd);
  /* Ctrl-C is the program's to handle: the server goes with the program. */
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  if ((sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
    _exit(1);
  prctl(PR_SET_NAME, "parkit-server");
  for (;;) {
    struct pollfd pf[2] = {{s, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      _exit(1);
    }
    if (pf[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0)
        ;
      reap_kids();
    }
    if (pf[0].revents & POLLIN)
      spawn_one(s, sfd);
    else if (pf[0].revents & (POLLHUP | POLLERR))
      _exit(0);
  }
}

/* Drop our end of the socket, if it is still ours. */
static void forget(void) {
  struct stat st;
  if (sock >= 0 && fstat(sock, &st) == 0 && st.st_dev == sock_dev &&
      st.st_ino == sock_ino)
    close(sock);
  sock = -1;
  owner = 0;
}

/* In a child the program forks (our own workers too), the server is not
   its own: its copy of the socket goes, so that the server sees the
   program go.  The lock another thread may have held at the fork must be
   free for the child's one thread. */
static void at_fork_child(void) {
  forget();
  pthread_mutex_init(&lock, NULL);
}

/* The modules loaded now: a pointer outside them is in one loaded later. */
static void note_modules(void) {
  nranges = 0;
  if (dl_iterate_phdr(note_module, NULL) != 0)
    nranges = -1;
}

/* Start the server: its image is this process as it is now. */
static void boot(void) {
  struct stat st;
  int sv[2];
  pid_t mid;

  note_modules();
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return;
  mid = fork();
  if (mid < 0) {
    close(sv[0]);
    close(sv[1]);
    return;
  }
  if (mid == 0) {
    close(sv[0]);
    if (bare_fork() == 0)
      serve(sv[1]);
    _exit(0);
  }
  close(sv[1]);
  while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
    ;
  sock = sv[0];
  owner = getpid();
  if (fstat(sock, &st) == 0) {
    sock_dev = st.st_dev;
    sock_ino = st.st_ino;
  }
}

__attribute__((constructor)) static void at_load(void) {
  /* Not OpenBLAS's pool, which pk_init stops: counted here, the program's
     own threads would not show past it. */
  load_threads = pk__threads() - pk__blas_pool_threads();
  pthread_atfork(NULL, NULL, at_fork_child);
  if (pk__fork_start_method(NULL) != PK__START_FORK)
    boot();
  else
    note_modules(); /* what a module loaded later is (place_code) */
}

/* ------------------------------------------------- the program's side */

/* Our socket to the server, still open, still ours (a program that closes
   every descriptor, as some daemons do, may have given its number to
   another file). */
static int ours(void) {
  struct stat st;
  if (sock < 0 || owner != getpid())
    return 0;
  if (fstat(sock, &st) != 0 || st.st_dev != sock_dev ||
      st.st_ino != sock_ino) {
    sock = -1; /* not ours to close */
    return 0;
  }
  return 1;
}

int pk__fork_server_up(void) {
  int up;

  pthread_mutex_lock(&lock);
  up = ours();
  /* A process forked from ours (a child of the program) gets its own,
     made now, unless it has started threads of its own since. */
  if (!up && pk__threads() <= load_threads) {
    forget();
    boot();
    up = sock >= 0;
  }
  pthread_mutex_unlock(&lock);
  return up;
}

int pk__fork_server_wanted(const pool *p) {
  /* A pool started without a server closed its segments' descriptors
     once its workers had them: a worker of the server could not get them. */
  if (!p->keep_fds || !pk__fork_server_up())
    return 0;
  if (p->init_fn &&
      (p->init_size > INITCAP || (nranges >= 0 && find(p->init_fn) == NULL)))
    return 0; /* its initializer is not there at birth */
  return p->start == PK__START_SERVER || pk__threads() > load_threads;
}

pk_status pk__fork_server_spawn(pool *p, int w, int wsock, pid_t *pid,
                                int *report) {
  spawnreq r = {.magic = MAGIC, .me = w, .n = p->n, .cores = p->cores,
                .bind = p->bind, .mapsize = p->mapsize,
                .init_size = p->init_fn ? p->init_size : 0,
                .init_fn = p->init_fn};
  union {
    char buf[CMSG_SPACE(4 * sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov[2] = {{&r, sizeof r}, {p->init_arg, r.init_size}};
  struct msghdr h = {0};
  struct cmsghdr *cm;
  struct pollfd pf;
  int rp[2], fds[4];
  int32_t reply = 0;
  ssize_t n;

  if (r.init_size > INITCAP)
    return PK_EINVAL;
  if (pipe2(rp, O_CLOEXEC) != 0)
    return PK_ESYS;
  fds[0] = p->ctlfd;
  fds[1] = wsock;
  fds[2] = p->efd;
  fds[3] = rp[1];
  memset(&u, 0, sizeof u);
  h.msg_iov = iov;
  h.msg_iovlen = r.init_size ? 2 : 1;
  h.msg_control = u.buf;
  h.msg_controllen = sizeof u.buf;
  cm = CMSG_FIRSTHDR(&h);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(cm), fds, sizeof fds);

  pthread_mutex_lock(&lock);
  n = -1;
  if (ours()) {
    do
      n = sendmsg(sock, &h, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    pf = (struct pollfd){sock, POLLIN, 0};
    if (n > 0) {
      int k;
      do
        k = poll(&pf, 1, REPLY_MS);
      while (k < 0 && errno == EINTR);
      n = k == 1 ? recv(sock, &reply, sizeof reply, 0) : -1;
    }
    if (n != (ssize_t)sizeof reply) { /* gone, or stuck: not asked again */
      close(sock);
      sock = -1;
    }
  }
  pthread_mutex_unlock(&lock);
  close(rp[1]);
  if (n != (ssize_t)sizeof reply || reply <= 0) {
    close(rp[0]);
    errno = reply < 0 ? -reply : EPIPE;
    return reply == -ENOMEM || reply == -EAGAIN ? PK_ENOMEM : PK_ESYS;
  }
  *pid = (pid_t)reply;
  *report = rp[0];
  return PK_OK;
}

/* The wait status the server reported for a worker that has ended. */
int pk__fork_server_status(int report) {
  struct pollfd pf = {report, POLLIN, 0};
  int st = 0;

  if (poll(&pf, 1, 2000) == 1 && read(report, &st, sizeof st) != sizeof st)
    st = 0;
  return st;
}
