/*
 * The mpi backend: each rank runs its block of the batch on OpenMP threads
 * (hybrid MPI+OpenMP).  Only the calling thread of a rank calls MPI
 * (MPI_THREAD_FUNNELED).
 *
 * Every collective call follows one rule so that no rank waits forever:
 * a rank that fails (bad input, no memory, a kernel error) still makes
 * every collective call the others make, and the outcome is agreed on
 * (agree) before any call whose progress depends on every rank: allocate,
 * agree, then communicate.
 */
#include "internal.h"

#include <parkit/mpi.h>

#include <mpi.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest piece of one MPI-IO or point-to-point transfer, in bytes: MPI
 * counts are ints. */
#define PIECE ((size_t)1 << 30)
/* Failed items exchanged between ranks at most; beyond, only counted. */
#define MAX_SHARED_FAILS ((size_t)1 << 22)
#define TAG_SHARE 7411

typedef struct mpi {
  MPI_Comm comm;        /* parkit's duplicate of the user's communicator */
  MPI_Comm node;        /* the ranks that share memory with this one */
  int rank, size, nrank, nsize;
  int threads;          /* OpenMP threads this rank runs */
  int counted;          /* 1: counted in live */
  int *counts, *displs; /* size each, for v-collectives */
  uint64_t *meta;       /* 3 * size, for allgathered triples */
  void **scratch;       /* one a thread, kept between maps */
  size_t *cap;
  pk__fails *fails;
} mpi;

/* MPI is per process: parkit finalizes it only if it started it, when the
 * last mpi context stops. */
static int live, we_inited;

/* A window holding a node's shared copy; an array's handle. */
typedef struct shared {
  MPI_Win win;
} shared;

static pk_status mpi_fail(pk_context *ctx, int rc, const char *what) {
  char s[MPI_MAX_ERROR_STRING];
  const mpi *m = ctx->impl;
  int len = 0;

  if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
    snprintf(s, sizeof s, "error %d", rc);
  return pk__error(ctx, PK_EMPI, "%s failed on rank %d: %s", what,
                   m ? m->rank : -1, s);
}

/*
 * Every rank learns whether any rank failed; if one did, every rank
 * returns the status of the lowest failing rank, with its message prefixed
 * by "rank R: ".  One MPI_Allreduce when no rank failed.
 */
static pk_status agree(pk_context *ctx, pk_status st) {
  mpi *m = ctx->impl;
  char msg[sizeof ctx->msg];
  int mine = st != PK_OK ? m->rank : m->size, low, nbad, code = st, rc;

  rc = MPI_Allreduce(&mine, &low, 1, MPI_INT, MPI_MIN, m->comm);
  if (rc != MPI_SUCCESS)
    return mpi_fail(ctx, rc, "MPI_Allreduce");
  if (low == m->size)
    return PK_OK;
  mine = st != PK_OK;
  snprintf(msg, sizeof msg, "%s", ctx->msg[0] ? ctx->msg : pk_strerror(st));
  rc = MPI_Allreduce(&mine, &nbad, 1, MPI_INT, MPI_SUM, m->comm);
  if (rc == MPI_SUCCESS)
    rc = MPI_Bcast(&code, 1, MPI_INT, low, m->comm);
  if (rc == MPI_SUCCESS)
    rc = MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, low, m->comm);
  if (rc != MPI_SUCCESS)
    return mpi_fail(ctx, rc, "MPI_Bcast");
  msg[sizeof msg - 1] = '\0';
  if (nbad == m->size && nbad > 1)
    return pk__error(ctx, (pk_status)code, "all %d ranks (rank %d's "
                     "message): %s", nbad, low, msg);
  if (nbad > 1)
    return pk__error(ctx, (pk_status)code, "rank %d (and %d other rank%s): "
                     "%s", low, nbad - 1, nbad > 2 ? "s" : "", msg);
  return pk__error(ctx, (pk_status)code, "rank %d: %s", low, msg);
}

static pk_status mpi_agree(pk_context *ctx, pk_status st) {
  return agree(ctx, st);
}

/* One MPI_Allreduce of the hash and its complement (the least of each:
   the least and the greatest hash) when all agree.  When not, rank 0's
   hash and a bitmap of the ranks that differ from it, in fixed buffers. */
static pk_status mpi_same(pk_context *ctx, uint64_t h, const char *fn,
                          const char *what) {
  mpi *m = ctx->impl;
  uint64_t in[2] = {h, ~h}, out[2], h0 = h, mine[64] = {0}, bits[64];
  char list[256] = "";
  size_t len = 0;
  int rc, n = 0;

  rc = MPI_Allreduce(in, out, 2, MPI_UINT64_T, MPI_MIN, m->comm);
  if (rc != MPI_SUCCESS)
    return mpi_fail(ctx, rc, "MPI_Allreduce");
  if (out[0] == ~out[1])
    return PK_OK;
  rc = MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, m->comm);
  if (h != h0 && m->rank < 64 * 64)
    mine[m->rank / 64] = (uint64_t)1 << (m->rank % 64);
  if (rc == MPI_SUCCESS)
    rc = MPI_Allreduce(mine, bits, 64, MPI_UINT64_T, MPI_BOR, m->comm);
  if (rc != MPI_SUCCESS)
    return mpi_fail(ctx, rc, "MPI_Allreduce");
  for (int r = 1; r < m->size && r < 64 * 64; r++)
    if (bits[r / 64] >> (r % 64) & 1) {
      if (len + 16 < sizeof list)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%d",
                                n ? ", " : "", r);
      n++;
    }
  return pk__error(ctx, PK_EINVAL, "%s: the ranks do not agree on %s: "
                   "rank%s %s differ%s from rank 0", fn, what,
                   n > 1 ? "s" : "", list, n > 1 ? "" : "s");
}

/*
 * Rank 0 plans first and hands its planning state (src/plans.c) to the
 * others, who plan from it: plans measured, or weighed, on each rank could
 * differ, and so could the last bits of their results.  The state travels
 * in fixed pieces so that a rank that cannot allocate still takes part in
 * every broadcast.
 */
#define WPIECE 4096 /* bytes of planning state a broadcast */

/* Rank 0's planning state to every rank; what == NULL: at the start. */
static pk_status share_state(pk_context *ctx, pk_status st, const char *what) {
  mpi *m = ctx->impl;
  char *w = NULL, piece[WPIECE];
  long len = 0;
  int rc;

  if (m->rank == 0 && st == PK_OK && (w = pk__plans_save()) != NULL)
    len = (long)strlen(w) + 1;
  rc = MPI_Bcast(&len, 1, MPI_LONG, 0, m->comm);
  if (rc != MPI_SUCCESS) {
    free(w);
    return mpi_fail(ctx, rc, "MPI_Bcast");
  }
  if (m->rank != 0 && len > 0)
    w = malloc((size_t)len);
  for (long off = 0; off < len; off += WPIECE) {
    int n = len - off < WPIECE ? (int)(len - off) : WPIECE;
    if (m->rank == 0)
      memcpy(piece, w + off, (size_t)n);
    rc = MPI_Bcast(piece, n, MPI_CHAR, 0, m->comm);
    if (rc != MPI_SUCCESS) {
      free(w);
      return mpi_fail(ctx, rc, "MPI_Bcast");
    }
    if (m->rank != 0 && w != NULL)
      memcpy(w + off, piece, (size_t)n);
  }
  if (m->rank != 0 && len > 0 && w == NULL)
    st = pk__error(ctx, PK_ENOMEM, "%s: cannot allocate %ld bytes for "
                   "rank 0's plans", what ? what : "mpi", len);
  else if (m->rank != 0 && len > 0)
    pk__plans_load(w);
  free(w);
  return st;
}

static pk_status mpi_prepare(pk_context *ctx, const pk__job *j) {
  mpi *m = ctx->impl;
  pk_status st = PK_OK;

  if (m->rank == 0)
    st = j->kernel->prepare(j->kernel, &j->task.in_item, j->total);
  st = share_state(ctx, st, j->kernel->name);
  if (m->rank != 0 && st == PK_OK)
    st = j->kernel->prepare(j->kernel, &j->task.in_item, j->total);
  return st;
}

/*
 * m->node: the ranks that share memory with this one.  Those are the
 * host's (MPI_COMM_TYPE_SHARED), unless rank 0's PARKIT_MPI_RANKS_PER_NODE=k
 * asks for every k ranks to make a node (so that one machine runs the
 * several-node paths); a grouping that puts ranks of different hosts in
 * one node is ignored, with a note: they could not share a window.
 */
static pk_status split_nodes(pk_context *ctx) {
  mpi *m = ctx->impl;
  const char *env = m->rank == 0 ? getenv("PARKIT_MPI_RANKS_PER_NODE") : NULL;
  int k = env != NULL && atoi(env) > 0 ? atoi(env) : 0, rc;
  int lead, lo, hi, bad, anybad;
  MPI_Comm host, sim;

  rc = MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, m->rank,
                           MPI_INFO_NULL, &host);
  if (rc == MPI_SUCCESS)
    rc = MPI_Bcast(&k, 1, MPI_INT, 0, m->comm);
  if (rc != MPI_SUCCESS)
    return mpi_fail(ctx, rc, "MPI_Comm_split_type");
  MPI_Comm_set_errhandler(host, MPI_ERRORS_RETURN);
  m->node = host;
  if (k == 0)
    return PK_OK;
  /* Each simulated node's ranks must all lead to one host's first rank. */
  rc = MPI_Comm_split(m->comm, m->rank / k, m->rank, &sim);
  if (rc == MPI_SUCCESS)
    rc = MPI_Allreduce(&m->rank, &lead, 1, MPI_INT, MPI_MIN, host);
  if (rc == MPI_SUCCESS)
    rc = MPI_Allreduce(&lead, &lo, 1, MPI_INT, MPI_MIN, sim);
  if (rc == MPI_SUCCESS)
    rc = MPI_Allreduce(&lead, &hi, 1, MPI_INT, MPI_MAX, sim);
  bad = lo != hi;
  if (rc == MPI_SUCCESS)
    rc = MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, m->comm);
  if (rc != MPI_SUCCESS)
    return mpi_fail(ctx, rc, "MPI_Comm_split");
  if (anybad) {
    pk__log(ctx, "mpi: PARKIT_MPI_RANKS_PER_NODE=%d ignored: it puts ranks "
            "of different hosts in one node, which cannot share memory; "
            "the nodes are the hosts", k);
    MPI_Comm_free(&sim);
    return PK_OK;
  }
  MPI_Comm_set_errhandler(sim, MPI_ERRORS_RETURN);
  MPI_Comm_free(&host);
  m->node = sim;
  return PK_OK;
}

/* ----------------------------------------------------------- start, stop */

/*
 * The cores this rank may use: its affinity mask shared out among the
 * ranks of the node whose masks overlap it.  Ranks bound to their own
 * cores get those; unbound ranks (oversubscribed) split the node's cores,
 * at least one each.  Collective over the node.
 */
static pk_status rank_cores(pk_context *ctx, int *cores) {
  mpi *m = ctx->impl;
  cpu_set_t mine, x, *all = malloc((size_t)m->nsize * sizeof *all);
  int i, sharers = 0, rc;
  pk_status st = agree(ctx, all ? PK_OK : PK_ENOMEM);

  if (st != PK_OK) {
    free(all);
    return st;
  }
  CPU_ZERO(&mine);
  if (sched_getaffinity(0, sizeof mine, &mine) != 0 || !CPU_COUNT(&mine))
    for (i = 0; i < pk__cores() && i < CPU_SETSIZE; i++)
      CPU_SET(i, &mine);
  rc = MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all,
                     (int)sizeof mine, MPI_BYTE, m->node);
  if (rc != MPI_SUCCESS) {
    free(all);
    return agree(ctx, mpi_fail(ctx, rc, "MPI_Allgather"));
  }
  for (i = 0; i < m->nsize; i++) {
    CPU_AND(&x, &mine, &all[i]);
    sharers += CPU_COUNT(&x) > 0;
  }
  free(all);
  *cores = CPU_COUNT(&mine) / (sharers ? sharers : 1);
  if (*cores < 1)
    *cores = 1;
  return PK_OK;
}

static void mpi_stop(pk_context *ctx) {
  mpi *m = ctx->impl;
  int i, fin = 0;

  if (m == NULL)
    return;
  for (i = 0; i < m->threads; i++) {
    if (m->scratch && m->cap)
      pk__scratch_release(&m->scratch[i], &m->cap[i]);
    if (m->fails)
      pk__fails_free(&m->fails[i]);
  }
  free(m->scratch);
  free(m->cap);
  free(m->fails);
  free(m->counts);
  free(m->displs);
  free(m->meta);
  MPI_Finalized(&fin);
  if (!fin && m->node != MPI_COMM_NULL)
    MPI_Comm_free(&m->node);
  if (!fin && m->comm != MPI_COMM_NULL)
    MPI_Comm_free(&m->comm);
  if (m->counted && --live == 0 && we_inited && !fin) {
    MPI_Finalize();
    we_inited = 0;
  }
  free(m);
  ctx->impl = NULL;
}

static pk_status mpi_start(pk_context *ctx) {
  mpi *m = calloc(1, sizeof *m);
  int init = 0, fin = 0, level = MPI_THREAD_SINGLE, cores = 1, rc, i;
  MPI_Comm base;
  pk_status st;
  double t0;

  ctx->impl = m;
  if (m == NULL)
    return PK_ENOMEM;
  m->comm = m->node = MPI_COMM_NULL;
  MPI_Finalized(&fin);
  if (fin)
    return pk__error(ctx, PK_ESTATE, "mpi: MPI is already finalized (by "
                     "the program, or by the pk_finalize of the last mpi "
                     "context parkit started it for); it cannot start "
                     "again");
  MPI_Initialized(&init);
  if (!init) {
    rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &level);
    if (rc != MPI_SUCCESS)
      return pk__error(ctx, PK_EMPI, "mpi: MPI_Init_thread failed (error "
                       "%d)", rc);
    we_inited = 1;
  } else {
    MPI_Query_thread(&level);
  }
  live++;
  m->counted = 1;

  base = ctx->mpi_comm ? *(const MPI_Comm *)ctx->mpi_comm : MPI_COMM_WORLD;
  if ((rc = MPI_Comm_dup(base, &m->comm)) != MPI_SUCCESS)
    return mpi_fail(ctx, rc, "MPI_Comm_dup");
  /* Errors come back as codes, to be agreed on, instead of ending the job. */
  MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(m->comm, &m->rank);
  MPI_Comm_size(m->comm, &m->size);
  if ((st = split_nodes(ctx)) != PK_OK)
    return st;
  MPI_Comm_rank(m->node, &m->nrank);
  MPI_Comm_size(m->node, &m->nsize);

  m->counts = malloc((size_t)m->size * sizeof *m->counts);
  m->displs = malloc((size_t)m->size * sizeof *m->displs);
  m->meta = malloc(3 * (size_t)m->size * sizeof *m->meta);
  st = m->counts && m->displs && m->meta ? PK_OK : PK_ENOMEM;
  if ((st = agree(ctx, st)) != PK_OK)
    return st;
  if ((st = rank_cores(ctx, &cores)) != PK_OK)
    return st;
  /* Threads that call no MPI are allowed only from FUNNELED up. */
  if (level < MPI_THREAD_FUNNELED)
    cores = 1;
  if (ctx->workers > cores)
    pk__log(ctx, "mpi: rank %d may use %d cores: %d workers, not %d",
            m->rank, cores, cores, ctx->workers);
  m->threads = ctx->workers < cores ? ctx->workers : cores;
  ctx->workers = m->threads;
  m->scratch = calloc((size_t)m->threads, sizeof *m->scratch);
  m->cap = calloc((size_t)m->threads, sizeof *m->cap);
  m->fails = calloc((size_t)m->threads, sizeof *m->fails);
  st = m->scratch && m->cap && m->fails ? PK_OK : PK_ENOMEM;
  if ((st = agree(ctx, st)) != PK_OK)
    return st;

  /* One instruction-set path for the job, the narrowest of the ranks'
   * (each chose within its own CPU): every item gets the bits it would
   * get on any rank, and no rank runs a path its CPU lacks. */
  {
    int mine = (int)ctx->isa, low = mine;
    if ((rc = MPI_Allreduce(&mine, &low, 1, MPI_INT, MPI_MIN, m->comm)) !=
        MPI_SUCCESS)
      return mpi_fail(ctx, rc, "MPI_Allreduce");
    if (low != mine)
      pk__log(ctx, "mpi: rank %d runs the %s path, the narrowest of the "
              "ranks' (its own: %s)", m->rank, pk_isa_name((pk_isa)low),
              pk_isa_name((pk_isa)mine));
    ctx->isa = (pk_isa)low;
  }

  /* What a collective call costs: the front end's dispatch estimate. */
  t0 = pk_time();
  for (i = 0; i < 4; i++)
    agree(ctx, PK_OK);
  ctx->dispatch_ns = (pk_time() - t0) / 4 * 1e9;
  pk__log(ctx, "mpi: rank %d of %d, %d of %d on its node, %d threads",
          m->rank, m->size, m->nrank, m->nsize, m->threads);
  /* The planning state is rank 0's from the start (the environment may
   * reach only some ranks): collective plans need the same settings. */
  return agree(ctx, share_state(ctx, PK_OK, NULL));
}

static pk_status mpi_alloc(pk_context *ctx, size_t nbytes, void **data,
                           void **handle) {
  (void)ctx;
  *handle = NULL;
  if (posix_memalign(data, 64, nbytes) != 0)
    return PK_ENOMEM;
  memset(*data, 0, nbytes);
  return PK_OK;
}

/* A shared array's handle is its window: freeing it is collective over the
 * node. */
static void mpi_free(pk_context *ctx, void *data, size_t nbytes,
                     void *handle) {
  shared *s = handle;

  (void)ctx, (void)nbytes;
  if (s == NULL) {
    free(data);
    return;
  }
  MPI_Win_unlock_all(s->win);
  MPI_Win_free(&s->win);
  free(s);
}

/* ------------------------------------------------------------------- map */

/* Run every chunk of j on this rank's threads; failures in f, with indices
 * relative to j. */
static pk_status team_run(pk_context *ctx, const pk__job *j, pk__fails *f) {
  mpi *m = ctx->impl;
  atomic_size_t next = 0;
  int i, w = m->threads;
  size_t c, lo, hi;

  if (j->nchunks == 0)
    return PK_OK;
  if ((size_t)w > j->nchunks)
    w = (int)j->nchunks;
  for (i = 0; i < w; i++)
    if (pk__scratch_reserve(&m->scratch[i], &m->cap[i], j->scratch) != 0)
      return pk__error(ctx, PK_ENOMEM, "%s: cannot allocate %zu bytes of "
                       "scratch", j->kernel->name, j->scratch);
  if (w == 1) {
    for (c = 0; c < j->nchunks; c++) {
      pk__chunk(j, c, &lo, &hi);
      pk__run(j, lo, hi, m->scratch[0], 0, f);
    }
    return PK_OK;
  }
#pragma omp parallel num_threads(w) private(c, lo, hi)
  {
    int me = omp_get_thread_num(), nth = omp_get_num_threads();

    if (j->schedule == PK_SCHEDULE_DYNAMIC) {
      while ((c = atomic_fetch_add(&next, 1)) < j->nchunks) {
        pk__chunk(j, c, &lo, &hi);
        pk__run(j, lo, hi, m->scratch[me], me, &m->fails[me]);
      }
    } else {
      for (c = (size_t)me; c < j->nchunks; c += (size_t)nth) {
        pk__chunk(j, c, &lo, &hi);
        pk__run(j, lo, hi, m->scratch[me], me, &m->fails[me]);
      }
    }
  }
  for (i = 0; i < w; i++) {
    size_t k;
    for (k = 0; k < m->fails[i].len; k++)
      pk__fails_add(f, m->fails[i].v[k].item, m->fails[i].v[k].status, i);
    f->n += m->fails[i].n - m->fails[i].len;
    m->fails[i].n = m->fails[i].len = 0;
  }
  return PK_OK;
}

/* Chunks for this rank's share s of a replicated map planned over all of
 * j's items: as the front end plans them, for the rank's item count. */
static void replan(pk__job *s, const pk__job *j, int w) {
  size_t g = s->kernel->grain > 1 ? s->kernel->grain : 1, n = s->n, chunk;

  chunk = pk__auto_chunk(n, w, g, j->schedule == PK_SCHEDULE_BLOCK);
  if (j->schedule != PK_SCHEDULE_BLOCK && j->chunk < chunk)
    chunk = j->chunk;
  s->chunk = chunk ? chunk : 1;
  s->nchunks = n ? (n - 1) / s->chunk + 1 : 0;
  s->workers = w;
}

/*
 * Agree on a map's outcome.  Every rank gets every rank's failed items in f
 * (global indices: mine's plus shift), and the status and message of the
 * lowest rank that failed.  One MPI_Allreduce when nothing failed.
 */
static pk_status agree_map(pk_context *ctx, const pk__job *j, pk_status st,
                           const pk__fails *mine, size_t shift, size_t total,
                           pk__fails *f) {
  mpi *m = ctx->impl;
  int bad = st != PK_OK || mine->n > 0, any = 0, low = -1, nbad = 0, r, rc;
  size_t listed = 0, k, nfail = 0, first_item = 0;
  uint64_t *send = NULL, *recv = NULL;
  pk_status code = PK_OK, first_st = PK_EKERNEL;
  char msg[sizeof ctx->msg];
  int have_first = 0;

  rc = MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, m->comm);
  if (rc != MPI_SUCCESS)
    return mpi_fail(ctx, rc, "MPI_Allreduce");
  if (!any)
    return PK_OK;

  /* Who failed, how, how many items; then the items, if they fit. */
  m->meta[3 * m->rank] = (uint64_t)(int64_t)st;
  m->meta[3 * m->rank + 1] = mine->n;
  m->meta[3 * m->rank + 2] = mine->len < MAX_SHARED_FAILS / (size_t)m->size
                                 ? mine->len
                                 : MAX_SHARED_FAILS / (size_t)m->size;
  rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, m->meta, 3,
                     MPI_UINT64_T, m->comm);
  if (rc != MPI_SUCCESS)
    return mpi_fail(ctx, rc, "MPI_Allgather");
  for (r = 0; r < m->size; r++) {
    pk_status s = (pk_status)(int64_t)m->meta[3 * r];
    if ((s != PK_OK || m->meta[3 * r + 1] > 0) && low < 0) {
      low = r;
      code = s;
    }
    nbad += s != PK_OK || m->meta[3 * r + 1] > 0;
    nfail += m->meta[3 * r + 1];
    listed += m->meta[3 * r + 2];
  }
  send = malloc((2 * m->meta[3 * m->rank + 2] + 1) * sizeof *send);
  recv = malloc((2 * listed + 1) * sizeof *recv);
  bad = send == NULL || recv == NULL;
  rc = MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, m->comm);
  if (rc == MPI_SUCCESS && !bad) {
    for (k = 0; k < m->meta[3 * m->rank + 2]; k++) {
      send[2 * k] = mine->v[k].item + shift;
      send[2 * k + 1] = (uint64_t)(int64_t)mine->v[k].status;
    }
    for (r = 0, k = 0; r < m->size; r++) {
      m->counts[r] = (int)(2 * m->meta[3 * r + 2]);
      m->displs[r] = (int)k;
      k += 2 * m->meta[3 * r + 2];
    }
    rc = MPI_Allgatherv(send, m->counts[m->rank], MPI_UINT64_T, recv,
                        m->counts, m->displs, MPI_UINT64_T, m->comm);
  }
  if (rc != MPI_SUCCESS) {
    free(send);
    free(recv);
    return mpi_fail(ctx, rc, "MPI_Allgatherv");
  }
  for (r = 0, k = 0; r < m->size; r++) {
    size_t i, n = bad ? 0 : m->meta[3 * r + 2];
    for (i = 0; i < n; i++, k++) {
      /* Threads record out of order: the first is the least. */
      if (r == low && (!have_first || recv[2 * k] < first_item)) {
        have_first = 1;
        first_item = (size_t)recv[2 * k];
        first_st = (pk_status)(int64_t)recv[2 * k + 1];
      }
      pk__fails_add(f, (size_t)recv[2 * k],
                    (pk_status)(int64_t)recv[2 * k + 1], r);
    }
    f->n += m->meta[3 * r + 1] - n;
  }
  free(send);
  free(recv);

  if (code != PK_OK) {
    /* The backend failed on rank low: its own message. */
    snprintf(msg, sizeof msg, "%s", ctx->msg[0] ? ctx->msg
                                                : pk_strerror(code));
    rc = MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, low, m->comm);
    if (rc != MPI_SUCCESS)
      return mpi_fail(ctx, rc, "MPI_Bcast");
    msg[sizeof msg - 1] = '\0';
    return pk__error(ctx, code, "rank %d: %s", low, msg);
  }
  if (have_first)
    return pk__error(ctx, PK_EKERNEL, "%s: %zu of %zu items failed, on "
                     "rank %d%s; the first, item %zu: %s", j->kernel->name,
                     nfail, total, low, nbad > 1 ? " and others" : "",
                     first_item, pk_strerror(first_st));
  return pk__error(ctx, PK_EKERNEL, "%s: %zu of %zu items failed, the first "
                   "on rank %d (out of memory: their indices are not known)",
                   j->kernel->name, nfail, total, low);
}

/* An MPI type of one item of bytes (> 0) bytes. */
static int item_type(size_t bytes, MPI_Datatype *t) {
  int rc;

  if (bytes > INT32_MAX)
    return MPI_ERR_COUNT;
  rc = MPI_Type_contiguous((int)bytes, MPI_BYTE, t);
  if (rc == MPI_SUCCESS)
    rc = MPI_Type_commit(t);
  return rc;
}

/* counts and displs of m for count items in blocks. */
static void block_counts(mpi *m, size_t count) {
  int r;

  for (r = 0; r < m->size; r++) {
    size_t first, n;
    pk_mpi_block(count, m->size, r, &first, &n);
    m->counts[r] = (int)n;
    m->displs[r] = (int)first;
  }
}

/* Every rank's block of a replicated output to every rank. */
static pk_status allgather_out(pk_context *ctx, const pk__job *j) {
  mpi *m = ctx->impl;
  MPI_Datatype t;
  int rc;

  if (j->n == 0 || j->task.out_stride == 0 || m->size == 1)
    return PK_OK;
  if (j->n > INT32_MAX)
    return pk__error(ctx, PK_EOVERFLOW, "pk_map: %zu items of a replicated "
                     "array are more than MPI can gather (%d)", j->n,
                     INT32_MAX);
  block_counts(m, j->n);
  rc = item_type(j->task.out_stride, &t);
  if (rc == MPI_SUCCESS) {
    rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, j->task.out,
                        m->counts, m->displs, t, m->comm);
    MPI_Type_free(&t);
  }
  return rc == MPI_SUCCESS ? PK_OK : mpi_fail(ctx, rc, "MPI_Allgatherv");
}

/*
 * A distributed input: this rank's block, indices offset by the array's
 * offset, no communication but the agreement.  A replicated input: this
 * rank's block of items, then every block to every rank.
 */
static pk_status mpi_map(pk_context *ctx, const pk__job *j, pk__fails *f) {
  mpi *m = ctx->impl;
  pk__job s = *j;
  pk__fails mine = {0};
  pk_status st = PK_OK;
  size_t total = j->n;
  int repl = !j->in->distributed;

  if (repl) {
    size_t lo, n;
    pk_mpi_block(j->n, m->size, m->rank, &lo, &n);
    s.n = n;
    s.task.in += lo * j->task.in_stride;
    s.task.out += lo * j->task.out_stride;
    s.task.first += lo;
    replan(&s, j, m->threads);
    if (j->out->distributed && m->size > 1)
      st = pk__error(ctx, PK_EINVAL, "pk_map: the input is replicated (not "
                     "distributed) but the output is distributed");
  } else {
    s.task.first += j->in->offset;
    total = j->in->global;
    j->out->distributed = 1;
    j->out->offset = j->in->offset;
    j->out->global = j->in->global;
  }
  if (st == PK_OK)
    st = team_run(ctx, &s, &mine);
  st = agree_map(ctx, j, st, &mine, s.task.first - j->task.first, total, f);
  pk__fails_free(&mine);
  if (repl && st != PK_EMPI && st != PK_EINVAL) {
    pk_status g = allgather_out(ctx, j);
    if (st == PK_OK)
      st = g;
  }
  return st;
}

/* ---------------------------------------------------------------- reduce */

/* Elements in one item of a (the product of shape[1..]); 0 on overflow. */
static size_t item_elems(const pk_array *a) {
  size_t n = 1;
  int i, ovf = 0;

  for (i = 1; i < a->ndim; i++)
    n = pk__mul(n, a->shape[i], &ovf);
  return ovf ? 0 : n;
}

/* Is block b of a whole array of G elements wholly inside [s, e)? */
static int whole(size_t b, size_t s, size_t e, size_t G) {
  size_t bs = b * PK_REDUCE_BLOCK;
  size_t be = bs + PK_REDUCE_BLOCK < G ? bs + PK_REDUCE_BLOCK : G;

  return bs >= s && be <= e;
}

/*
 * What a rank holding elements [s, e) of G contributes, in order: for each
 * block of PK_REDUCE_BLOCK it touches, the block's partial result if it
 * holds the whole block, else its raw elements (only the first and last
 * blocks can be partly held).  k doubles an element.  Returns the number of
 * doubles, and fills out if not NULL.
 */
static size_t contribution(pk_op op, pk_dtype dt, const double *x, size_t s,
                           size_t e, size_t G, int threads, double *out) {
  const size_t B = PK_REDUCE_BLOCK, k = dt == PK_C128 ? 2 : 1;
  size_t b0, b1, lo, hi, n = 0;

  if (e <= s)
    return 0;
  b0 = s / B;
  b1 = (e - 1) / B;
  lo = b0;
  hi = b1 + 1; /* whole blocks [lo, hi) */
  if (!whole(b0, s, e, G)) { /* head: raw, up to the first boundary */
    size_t pe = (b0 + 1) * B < e ? (b0 + 1) * B : e;
    if (out)
      memcpy(out, x, (pe - s) * k * sizeof *x);
    n = (pe - s) * k;
    lo = b0 + 1;
  }
  if (b1 >= lo && !whole(b1, s, e, G))
    hi = b1;
  if (hi > lo && out) {
    const double *base = x + (lo * B - s) * k;
    double *o = out + n;
    long nb = (long)(hi - lo), i;
#pragma omp parallel for num_threads(threads) schedule(static) if (nb > 8)
    for (i = 0; i < nb; i++) {
      size_t bs = (lo + (size_t)i) * B, len = bs + B < G ? B : G - bs;
      double acc[2] = {pk__identity(op), 0.0};
      pk__fold_partial(op, dt, base + (size_t)i * B * k, len, acc);
      memcpy(o + (size_t)i * k, acc, k * sizeof *acc);
    }
  }
  if (hi > lo)
    n += (hi - lo) * k;
  if (hi == b1 && b1 >= lo) { /* tail: raw, from the last boundary */
    if (out)
      memcpy(out + n, x + (b1 * B - s) * k, (e - b1 * B) * k * sizeof *x);
    n += (e - b1 * B) * k;
  }
  return n;
}

/*
 * Every rank's contribution to every rank (MPI_Allgatherv), each then
 * folded in rank order, which is index order: the blocks and their order
 * are pk__fold's, so are the bits, on every rank.
 */
static pk_status mpi_reduce(pk_context *ctx, const pk_array *a, pk_op op,
                            double *result) {
  mpi *m = ctx->impl;
  const size_t B = PK_REDUCE_BLOCK, k = a->dtype == PK_C128 ? 2 : 1;
  size_t E = item_elems(a), s, e, G = 0, total = 0, mine, i;
  double acc[2] = {pk__identity(op), 0.0}, cur[2] = {acc[0], 0.0};
  double *send = NULL, *recv = NULL;
  const double *x = a->data;
  pk_status st = PK_OK;
  int r, rc;

  memset(&ctx->stats, 0, sizeof ctx->stats);
  if (a->distributed) {
    s = a->offset * E;
    e = s + a->shape[0] * E;
  } else {
    /* A replica: rank r folds its block of whole blocks. */
    size_t nb = (a->count + B - 1) / B, b0, nbr;
    pk_mpi_block(nb, m->size, m->rank, &b0, &nbr);
    s = b0 * B < a->count ? b0 * B : a->count;
    e = (b0 + nbr) * B < a->count ? (b0 + nbr) * B : a->count;
    x += s * k;
  }
  m->meta[3 * m->rank] = s;
  m->meta[3 * m->rank + 1] = e;
  rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, m->meta, 3,
                     MPI_UINT64_T, m->comm);
  if (rc != MPI_SUCCESS)
    return mpi_fail(ctx, rc, "MPI_Allgather");
  for (r = 0; r < m->size; r++) {
    if (m->meta[3 * r] != G && m->meta[3 * r + 1] > m->meta[3 * r])
      return pk__error(ctx, PK_EINVAL, "pk_reduce: the array's blocks are "
                       "not contiguous in rank order (rank %d starts at "
                       "element %zu, not %zu)", r, (size_t)m->meta[3 * r], G);
    if (m->meta[3 * r + 1] > G)
      G = m->meta[3 * r + 1];
  }
  for (r = 0; r < m->size; r++) {
    size_t n = contribution(op, a->dtype, NULL, m->meta[3 * r],
                            m->meta[3 * r + 1], G, 1, NULL);
    total += n;
    if (n > INT32_MAX || total > INT32_MAX)
      return pk__error(ctx, PK_EOVERFLOW, "pk_reduce: too many elements "
                       "for one MPI_Allgatherv");
    m->counts[r] = (int)n;
    m->displs[r] = (int)(total - n);
  }
  mine = (size_t)m->counts[m->rank];
  send = malloc((mine + 1) * sizeof *send);
  recv = malloc((total + 1) * sizeof *recv);
  st = send && recv ? PK_OK : pk__error(ctx, PK_ENOMEM, "pk_reduce: out of "
                                        "memory for %zu partials", total);
  if ((st = agree(ctx, st)) == PK_OK) {
    contribution(op, a->dtype, x, s, e, G, m->threads, send);
    rc = MPI_Allgatherv(send, (int)mine, MPI_DOUBLE, recv, m->counts,
                        m->displs, MPI_DOUBLE, m->comm);
    if (rc != MPI_SUCCESS)
      st = mpi_fail(ctx, rc, "MPI_Allgatherv");
  }
  free(send);
  if (st != PK_OK) {
    free(recv);
    return st;
  }

  /* Replay each rank's pieces: cur folds a block split between ranks. */
  for (r = 0; r < m->size; r++) {
    size_t rs = m->meta[3 * r], re = m->meta[3 * r + 1], b;
    const double *v = recv + m->displs[r];
    for (b = re > rs ? rs / B : 0; re > rs && b * B < re; b++) {
      size_t bs = b * B, be = bs + B < G ? bs + B : G;
      size_t ps = bs > rs ? bs : rs, pe = be < re ? be : re;
      if (ps == bs && pe == be) {
        pk__fold_partial(op, a->dtype, v, 1, acc);
        v += k;
        continue;
      }
      pk__fold_partial(op, a->dtype, v, pe - ps, cur);
      v += (pe - ps) * k;
      if (pe == be) {
        pk__fold_partial(op, a->dtype, cur, 1, acc);
        cur[0] = pk__identity(op);
        cur[1] = 0.0;
      }
    }
  }
  free(recv);
  for (i = 0; i < k; i++)
    result[i] = acc[i];
  ctx->stats.items = G;
  ctx->stats.workers = m->threads;
  return PK_OK;
}

/* ---------------------------------------------------- distributed arrays */

static int pk__mpi_rank(const pk_context *ctx) {
  return ((const mpi *)ctx->impl)->rank;
}

static int pk__mpi_size(const pk_context *ctx) {
  return ((const mpi *)ctx->impl)->size;
}

static pk_status pk__mpi_comm(pk_context *ctx, void *comm) {
  *(MPI_Comm *)comm = ((mpi *)ctx->impl)->comm;
  return PK_OK;
}

/* Bytes of one item of an array of dtype, ndim and shape; 0 with *ovf on
 * overflow. */
static size_t item_bytes(pk_dtype dt, int ndim, const size_t *shape,
                         int *ovf) {
  size_t n = pk_dtype_size(dt);
  int i;

  for (i = 1; i < ndim; i++)
    n = pk__mul(n, shape[i], ovf);
  return n;
}

/* Check a global shape; this rank's block of it in a new array, not yet
 * agreed on. */
static pk_status dist_new(pk_context *ctx, const char *fn, pk_dtype dt,
                          int ndim, const size_t *gshape, pk_array **out) {
  mpi *m = ctx->impl;
  size_t shape[PK_MAX_DIMS], first, n;
  int ovf = 0;
  pk_status st;

  if (ndim < 1 || ndim > PK_MAX_DIMS || gshape == NULL)
    return pk__error(ctx, PK_EINVAL, "%s: ndim %d (1 to %d) or a NULL shape",
                     fn, ndim, PK_MAX_DIMS);
  pk__mul(item_bytes(dt, ndim, gshape, &ovf), gshape[0], &ovf);
  if (ovf)
    return pk__error(ctx, PK_EOVERFLOW, "%s: the array's size in bytes "
                     "does not fit in size_t", fn);
  pk_mpi_block(gshape[0], m->size, m->rank, &first, &n);
  memcpy(shape, gshape, (size_t)ndim * sizeof *shape);
  shape[0] = n;
  st = pk__array_new(ctx, dt, ndim, shape, out);
  if (st != PK_OK)
    return st;
  (*out)->distributed = 1;
  (*out)->offset = first;
  (*out)->global = gshape[0];
  return PK_OK;
}

/* Agree on st; on a failure, undo *out. */
static pk_status settle(pk_context *ctx, pk_status st, pk_array **out) {
  st = agree(ctx, st);
  if (st != PK_OK)
    pk_array_destroy(out);
  return st;
}

static pk_status pk__mpi_create(pk_context *ctx, pk_dtype dtype, int ndim,
                         const size_t *shape, pk_array **out) {
  return settle(ctx, dist_new(ctx, "pk_mpi_create", dtype, ndim, shape, out),
                out);
}

/* Root sends [lo, hi) items of its src to each node leader but itself. */
static int send_spans(mpi *m, const pk_array *src, size_t ib) {
  int r, rc = MPI_SUCCESS;

  for (r = 0; r < m->size && rc == MPI_SUCCESS; r++) {
    size_t lo = m->meta[3 * r + 1], hi = m->meta[3 * r + 2], off;
    const char *p = (const char *)src->data + lo * ib;
    if (!m->meta[3 * r] || r == m->rank)
      continue;
    for (off = 0; off < (hi - lo) * ib && rc == MPI_SUCCESS; off += PIECE) {
      size_t len = (hi - lo) * ib - off < PIECE ? (hi - lo) * ib - off : PIECE;
      rc = MPI_Send(p + off, (int)len, MPI_BYTE, r, TAG_SHARE, m->comm);
    }
  }
  return rc;
}

/*
 * The shared-window path: the node's leader allocates one window for the
 * node's span of blocks, receives it once from root (or copies it, being
 * root), and every rank of the node points its array at its block there.
 */
static pk_status share(pk_context *ctx, const pk_array *src, int root,
                       pk_dtype dt, int ndim, const size_t *gshape,
                       size_t ib, pk_array **out) {
  mpi *m = ctx->impl;
  size_t first, n, shape[PK_MAX_DIMS], off;
  uint64_t span[2], lo, hi;
  MPI_Aint size = 0;
  MPI_Win win = MPI_WIN_NULL;
  shared *sh = calloc(1, sizeof *sh);
  char *base = NULL, *node_base = NULL;
  int du = 1, rc;
  pk_status st;

  pk_mpi_block(gshape[0], m->size, m->rank, &first, &n);
  span[0] = first;
  span[1] = UINT64_MAX - (first + n);
  rc = MPI_Allreduce(MPI_IN_PLACE, span, 2, MPI_UINT64_T, MPI_MIN, m->node);
  lo = span[0];
  hi = UINT64_MAX - span[1];
  if (rc == MPI_SUCCESS)
    rc = MPI_Win_allocate_shared(m->nrank == 0 ? (MPI_Aint)((hi - lo) * ib)
                                               : 0,
                                 1, MPI_INFO_NULL, m->node, &base, &win);
  st = rc == MPI_SUCCESS ? PK_OK : mpi_fail(ctx, rc, "MPI_Win_allocate_shared");
  if (st == PK_OK && sh == NULL)
    st = pk__error(ctx, PK_ENOMEM, "pk_mpi_share: out of memory");
  if ((st = agree(ctx, st)) != PK_OK) {
    if (win != MPI_WIN_NULL)
      MPI_Win_free(&win);
    free(sh);
    return st;
  }
  sh->win = win;
  MPI_Win_shared_query(sh->win, 0, &size, &du, &node_base);
  MPI_Win_lock_all(MPI_MODE_NOCHECK, sh->win);

  /* Root learns each node leader's span, and sends it. */
  {
    uint64_t me[3] = {m->nrank == 0, lo, hi};
    rc = MPI_Gather(me, 3, MPI_UINT64_T, m->meta, 3, MPI_UINT64_T, root,
                    m->comm);
  }
  if (rc == MPI_SUCCESS && m->rank == root && m->nrank == 0 && hi > lo)
    memcpy(node_base, (const char *)src->data + lo * ib, (hi - lo) * ib);
  if (rc == MPI_SUCCESS && m->rank == root)
    rc = send_spans(m, src, ib);
  if (rc == MPI_SUCCESS && m->rank != root && m->nrank == 0)
    for (off = 0; off < (hi - lo) * ib && rc == MPI_SUCCESS; off += PIECE) {
      size_t len = (hi - lo) * ib - off < PIECE ? (hi - lo) * ib - off : PIECE;
      rc = MPI_Recv(node_base + off, (int)len, MPI_BYTE, root, TAG_SHARE,
                    m->comm, MPI_STATUS_IGNORE);
    }
  /* The leader's stores become visible to the node's ranks. */
  MPI_Win_sync(sh->win);
  if (rc == MPI_SUCCESS)
    rc = MPI_Barrier(m->node);
  MPI_Win_sync(sh->win);
  st = rc == MPI_SUCCESS ? PK_OK : mpi_fail(ctx, rc, "sharing the input");

  memcpy(shape, gshape, (size_t)ndim * sizeof *shape);
  shape[0] = n;
  if (st == PK_OK) {
    /* Never NULL, even when empty: pk_array_destroy must reach mpi_free
     * on every rank of the node, to free the window together. */
    char *data = node_base ? node_base + (first - lo) * ib : (char *)sh;
    st = pk_array_wrap(ctx, dt, ndim, shape, data, out);
  }
  if (st == PK_OK) {
    (*out)->wrapped = 0;
    (*out)->handle = sh;
    (*out)->distributed = 1;
    (*out)->offset = first;
    (*out)->global = gshape[0];
  }
  st = agree(ctx, st);
  if (st != PK_OK) {
    if (*out != NULL) {
      pk_array_destroy(out); /* frees the window */
    } else {
      MPI_Win_unlock_all(sh->win);
      MPI_Win_free(&sh->win);
      free(sh);
    }
  }
  return st;
}

static pk_status pk__mpi_scatter(pk_context *ctx, const pk_array *src, int root,
                          int shared_window, pk_array **out) {
  const char *fn = shared_window ? "pk_mpi_share" : "pk_mpi_scatter";
  mpi *m = ctx->impl;
  uint64_t meta[2 + PK_MAX_DIMS] = {0};
  size_t shape[PK_MAX_DIMS], ib;
  pk_status st = PK_OK;
  MPI_Datatype t;
  int i, ndim, ovf = 0, rc;
  pk_dtype dt;

  if (root < 0 || root >= m->size)
    return agree(ctx, pk__error(ctx, PK_EINVAL, "%s: root %d is not a rank "
                                "(0 to %d)", fn, root, m->size - 1));
  if (m->rank == root) {
    if (src == NULL || src->ctx != ctx)
      st = pk__error(ctx, PK_EINVAL, "%s: the root's array is NULL or "
                     "belongs to another context", fn);
    else if (src->distributed && m->size > 1)
      st = pk__error(ctx, PK_EINVAL, "%s: the root's array is already "
                     "distributed", fn);
    else {
      meta[0] = (uint64_t)src->dtype;
      meta[1] = (uint64_t)src->ndim;
      for (i = 0; i < src->ndim; i++)
        meta[2 + i] = src->shape[i];
    }
  }
  if ((st = agree(ctx, st)) != PK_OK)
    return st;
  rc = MPI_Bcast(meta, 2 + PK_MAX_DIMS, MPI_UINT64_T, root, m->comm);
  if (rc != MPI_SUCCESS)
    return agree(ctx, mpi_fail(ctx, rc, "MPI_Bcast"));
  dt = (pk_dtype)meta[0];
  ndim = (int)meta[1];
  for (i = 0; i < ndim; i++)
    shape[i] = (size_t)meta[2 + i];
  ib = item_bytes(dt, ndim, shape, &ovf);
  if (shape[0] > INT32_MAX || ib > INT32_MAX)
    return agree(ctx, pk__error(ctx, PK_EOVERFLOW, "%s: %zu items of %zu "
                                "bytes are more than MPI counts reach", fn,
                                shape[0], ib));
  if (shared_window)
    return share(ctx, src, root, dt, ndim, shape, ib, out);

  st = settle(ctx, dist_new(ctx, fn, dt, ndim, shape, out), out);
  if (st != PK_OK || ib == 0 || shape[0] == 0)
    return st;
  block_counts(m, shape[0]);
  rc = item_type(ib, &t);
  if (rc == MPI_SUCCESS) {
    rc = MPI_Scatterv(m->rank == root ? src->data : NULL, m->counts,
                      m->displs, t, (*out)->data, m->counts[m->rank], t, root,
                      m->comm);
    MPI_Type_free(&t);
  }
  return settle(ctx, rc == MPI_SUCCESS ? PK_OK
                                       : mpi_fail(ctx, rc, "MPI_Scatterv"),
                out);
}

static pk_status pk__mpi_gather(pk_context *ctx, const pk_array *a, int root,
                         pk_array **out) {
  mpi *m = ctx->impl;
  size_t shape[PK_MAX_DIMS], ib, next = 0;
  int r, rc, ovf = 0, want = root < 0 || root == m->rank;
  pk_status st = PK_OK;
  MPI_Datatype t;

  if (root < -1 || root >= m->size)
    st = pk__error(ctx, PK_EINVAL, "pk_mpi_gather: root %d is neither -1 "
                   "nor a rank (0 to %d)", root, m->size - 1);
  else if (a == NULL || a->ctx != ctx)
    st = pk__error(ctx, PK_EINVAL, "pk_mpi_gather: the array is NULL or "
                   "belongs to another context");
  if ((st = agree(ctx, st)) != PK_OK)
    return st;
  memcpy(shape, a->shape, sizeof shape);
  if (!a->distributed) { /* a replica: copy it where it is wanted */
    if (want)
      st = pk__array_new(ctx, a->dtype, a->ndim, shape, out);
    if (st == PK_OK && want && a->nbytes)
      memcpy((*out)->data, a->data, a->nbytes);
    return settle(ctx, st, out);
  }
  shape[0] = a->global;
  ib = item_bytes(a->dtype, a->ndim, shape, &ovf);
  m->meta[3 * m->rank] = a->offset;
  m->meta[3 * m->rank + 1] = a->shape[0];
  rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, m->meta, 3,
                     MPI_UINT64_T, m->comm);
  if (rc != MPI_SUCCESS)
    return agree(ctx, mpi_fail(ctx, rc, "MPI_Allgather"));
  for (r = 0; r < m->size && st == PK_OK; r++) {
    if (m->meta[3 * r] != next)
      st = pk__error(ctx, PK_EINVAL, "pk_mpi_gather: the blocks are not "
                     "contiguous in rank order");
    next += m->meta[3 * r + 1];
    m->counts[r] = (int)m->meta[3 * r + 1];
    m->displs[r] = (int)m->meta[3 * r];
  }
  if (st == PK_OK && (a->global > INT32_MAX || ib > INT32_MAX))
    st = pk__error(ctx, PK_EOVERFLOW, "pk_mpi_gather: %zu items of %zu "
                   "bytes are more than MPI counts reach", a->global, ib);
  if (st == PK_OK && want)
    st = pk__array_new(ctx, a->dtype, a->ndim, shape, out);
  if ((st = settle(ctx, st, out)) != PK_OK || ib == 0 || a->global == 0)
    return st;
  rc = item_type(ib, &t);
  if (rc == MPI_SUCCESS) {
    if (root < 0)
      rc = MPI_Allgatherv(a->data, (int)a->shape[0], t, (*out)->data,
                          m->counts, m->displs, t, m->comm);
    else
      rc = MPI_Gatherv(a->data, (int)a->shape[0], t,
                       want ? (*out)->data : NULL, m->counts, m->displs, t,
                       root, m->comm);
    MPI_Type_free(&t);
  }
  return settle(ctx, rc == MPI_SUCCESS ? PK_OK
                                       : mpi_fail(ctx, rc, "gathering"),
                out);
}

/* ------------------------------------------------------------ .npy, MPI-IO */

/*
 * Read or write bytes at `at` collectively, in pieces MPI counts can hold:
 * every rank makes as many calls as the rank with the most pieces.
 */
static pk_status io_all(pk_context *ctx, MPI_File fh, MPI_Offset at,
                        char *buf, size_t bytes, int write,
                        const char *path) {
  mpi *m = ctx->impl;
  long pieces = (long)((bytes + PIECE - 1) / PIECE), most = 0, i;
  int rc = MPI_Allreduce(&pieces, &most, 1, MPI_LONG, MPI_MAX, m->comm);
  int first_rc = rc;
  size_t done = 0;

  for (i = 0; rc == MPI_SUCCESS && i < most; i++) {
    size_t off = (size_t)i * PIECE;
    size_t len = off < bytes ? (bytes - off < PIECE ? bytes - off : PIECE) : 0;
    MPI_Status s;
    int got = 0, r;
    r = write ? MPI_File_write_at_all(fh, at + (MPI_Offset)off, buf + off,
                                      (int)len, MPI_BYTE, &s)
              : MPI_File_read_at_all(fh, at + (MPI_Offset)off, buf + off,
                                     (int)len, MPI_BYTE, &s);
    if (r == MPI_SUCCESS)
      MPI_Get_count(&s, MPI_BYTE, &got);
    else if (first_rc == MPI_SUCCESS)
      first_rc = r;
    done += r == MPI_SUCCESS && got > 0 ? (size_t)got : 0;
  }
  if (first_rc != MPI_SUCCESS)
    return mpi_fail(ctx, first_rc, write ? "MPI_File_write_at_all"
                                         : "MPI_File_read_at_all");
  if (done != bytes)
    return pk__error(ctx, PK_EIO, "%s: %s %zu of %zu bytes of rank %d's "
                     "block", path, write ? "wrote" : "read", done, bytes,
                     m->rank);
  return PK_OK;
}

static pk_status open_file(pk_context *ctx, const char *path, int amode,
                           MPI_File *fh) {
  mpi *m = ctx->impl;
  char s[MPI_MAX_ERROR_STRING];
  int rc = MPI_File_open(m->comm, path, amode, MPI_INFO_NULL, fh), len = 0;

  if (rc == MPI_SUCCESS)
    return PK_OK;
  *fh = MPI_FILE_NULL;
  MPI_Error_string(rc, s, &len);
  return pk__error(ctx, PK_EIO, "%s: cannot open with MPI-IO on rank %d: %s",
                   path, m->rank, s);
}

static pk_status pk__mpi_load_npy(pk_context *ctx, const char *path,
                           pk_array **out) {
  mpi *m = ctx->impl;
  uint64_t meta[3 + PK_MAX_DIMS] = {0};
  size_t shape[PK_MAX_DIMS], ib;
  pk_dtype dt = PK_F64;
  int ndim = 0, i, ovf = 0, rc;
  long at = 0;
  MPI_File fh;
  pk_status st = PK_OK;

  /* Rank 0 reads the header; a refusal is its message on every rank. */
  if (m->rank == 0) {
    st = pk__npy_header(ctx, path, &dt, &ndim, shape, &at);
    meta[0] = (uint64_t)dt;
    meta[1] = (uint64_t)ndim;
    meta[2] = (uint64_t)at;
    for (i = 0; i < ndim && st == PK_OK; i++)
      meta[3 + i] = shape[i];
  }
  if ((st = agree(ctx, st)) != PK_OK)
    return st;
  rc = MPI_Bcast(meta, 3 + PK_MAX_DIMS, MPI_UINT64_T, 0, m->comm);
  if (rc != MPI_SUCCESS)
    return agree(ctx, mpi_fail(ctx, rc, "MPI_Bcast"));
  dt = (pk_dtype)meta[0];
  ndim = (int)meta[1];
  at = (long)meta[2];
  for (i = 0; i < ndim; i++)
    shape[i] = (size_t)meta[3 + i];
  ib = item_bytes(dt, ndim, shape, &ovf);

  st = settle(ctx, dist_new(ctx, path, dt, ndim, shape, out), out);
  if (st != PK_OK)
    return st;
  st = open_file(ctx, path, MPI_MODE_RDONLY, &fh);
  if ((st = settle(ctx, st, out)) != PK_OK)
    return st;
  st = io_all(ctx, fh, (MPI_Offset)at + (MPI_Offset)((*out)->offset * ib),
              (*out)->data, (*out)->nbytes, 0, path);
  MPI_File_close(&fh);
  return settle(ctx, st, out);
}

/* A format 1.0 header for a's global shape, as pk_array_save_npy writes
 * it: data aligned to 64 bytes.  Returns its length. */
static size_t npy_header(const pk_array *a, char *buf, size_t cap) {
  char dict[256], shape[160];
  size_t len = 0, hlen, pad, g = a->distributed ? a->global : a->shape[0];
  int i;

  len += (size_t)snprintf(shape, sizeof shape, "(");
  for (i = 0; i < a->ndim; i++)
    len += (size_t)snprintf(shape + len, sizeof shape - len, "%zu%s",
                            i ? a->shape[i] : g,
                            a->ndim == 1 ? "," : i + 1 < a->ndim ? ", " : "");
  snprintf(shape + len, sizeof shape - len, ")");
  hlen = (size_t)snprintf(dict, sizeof dict,
                          "{'descr': '%s', 'fortran_order': False, "
                          "'shape': %s, }",
                          a->dtype == PK_F64 ? "<f8" : "<c16", shape);
  pad = 64 - (10 + hlen + 1) % 64;
  if (pad == 64)
    pad = 0;
  if (10 + hlen + pad + 1 > cap)
    return 0;
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (char)((hlen + pad + 1) & 0xff);
  buf[9] = (char)((hlen + pad + 1) >> 8);
  memcpy(buf + 10, dict, hlen);
  memset(buf + 10 + hlen, ' ', pad);
  buf[10 + hlen + pad] = '\n';
  return 10 + hlen + pad + 1;
}

static pk_status pk__mpi_save_npy(pk_context *ctx, const pk_array *a,
                           const char *path) {
  mpi *m = ctx->impl;
  char hdr[512];
  size_t hlen, ib;
  int ovf = 0, rc = MPI_SUCCESS;
  pk_status st = PK_OK;
  MPI_File fh;

  if (!a->distributed) { /* a replica: rank 0's copy */
    if (m->rank == 0)
      st = pk_array_save_npy(ctx, a, path);
    return agree(ctx, st);
  }
  hlen = npy_header(a, hdr, sizeof hdr);
  ib = item_bytes(a->dtype, a->ndim, a->shape, &ovf);
  st = open_file(ctx, path, MPI_MODE_WRONLY | MPI_MODE_CREATE, &fh);
  if ((st = agree(ctx, st)) != PK_OK)
    return st;
  /* A longer file of the same name loses its end. */
  rc = MPI_File_set_size(fh, (MPI_Offset)(hlen + a->global * ib));
  if (rc == MPI_SUCCESS && m->rank == 0)
    rc = MPI_File_write_at(fh, 0, hdr, (int)hlen, MPI_BYTE,
                           MPI_STATUS_IGNORE);
  st = rc == MPI_SUCCESS ? PK_OK : mpi_fail(ctx, rc, "writing the header");
  {
    pk_status w = io_all(ctx, fh, (MPI_Offset)(hlen + a->offset * ib),
                         a->data, a->nbytes, 1, path);
    if (st == PK_OK)
      st = w;
  }
  rc = MPI_File_close(&fh);
  if (st == PK_OK && rc != MPI_SUCCESS)
    st = mpi_fail(ctx, rc, "MPI_File_close");
  return agree(ctx, st);
}

static const pk__dist_ops mpi_dist = {
    .rank = pk__mpi_rank,
    .size = pk__mpi_size,
    .comm = pk__mpi_comm,
    .create = pk__mpi_create,
    .scatter = pk__mpi_scatter,
    .gather = pk__mpi_gather,
    .load_npy = pk__mpi_load_npy,
    .save_npy = pk__mpi_save_npy,
};

const pk__backend_ops pk__backend_mpi = {
    .name = "mpi",
    .start = mpi_start,
    .stop = mpi_stop,
    .alloc = mpi_alloc,
    .free = mpi_free,
    .map = mpi_map,
    .reduce = mpi_reduce,
    .distributed = 1,
    .agree = mpi_agree,
    .same = mpi_same,
    .prepare = mpi_prepare,
    .dist = &mpi_dist,
};
