/*
 * The mpi backend's table (backend.h): errors agreed between the ranks, values
 * compared across them, rank 0's planning state for all, the split into
 * nodes, start and stop.
 */
#include "backend.h"

/* MPI is per process: parkit finalizes it only if it started it, when the
 * last mpi context stops. */
static int live, we_inited;

pk_status pk__mpi_fail(pk_context *ctx, int rc, const char *what) {
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
pk_status pk__mpi_agree(pk_context *ctx, pk_status st) {
  mpi *m = ctx->impl;
  char msg[sizeof ctx->msg];
  int mine = st != PK_OK ? m->rank : m->size, low, nbad, code = st, rc;

  rc = MPI_Allreduce(&mine, &low, 1, MPI_INT, MPI_MIN, m->comm);
  if (rc != MPI_SUCCESS)
    return pk__mpi_fail(ctx, rc, "MPI_Allreduce");
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
    return pk__mpi_fail(ctx, rc, "MPI_Bcast");
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
  return pk__mpi_agree(ctx, st);
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
    return pk__mpi_fail(ctx, rc, "MPI_Allreduce");
  if (out[0] == ~out[1])
    return PK_OK;
  rc = MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, m->comm);
  if (h != h0 && m->rank < 64 * 64)
    mine[m->rank / 64] = (uint64_t)1 << (m->rank % 64);
  if (rc == MPI_SUCCESS)
    rc = MPI_Allreduce(mine, bits, 64, MPI_UINT64_T, MPI_BOR, m->comm);
  if (rc != MPI_SUCCESS)
    return pk__mpi_fail(ctx, rc, "MPI_Allreduce");
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
    return pk__mpi_fail(ctx, rc, "MPI_Bcast");
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
      return pk__mpi_fail(ctx, rc, "MPI_Bcast");
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
    st = j->kernel->prepare(j->kernel, j->task.in_items, j->total);
  st = share_state(ctx, st, j->kernel->name);
  if (m->rank != 0 && st == PK_OK)
    st = j->kernel->prepare(j->kernel, j->task.in_items, j->total);
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
    return pk__mpi_fail(ctx, rc, "MPI_Comm_split_type");
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
    return pk__mpi_fail(ctx, rc, "MPI_Comm_split");
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
  pk_status st = pk__mpi_agree(ctx, all ? PK_OK : PK_ENOMEM);

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
    return pk__mpi_agree(ctx, pk__mpi_fail(ctx, rc, "MPI_Allgather"));
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
  int fin = 0;

  if (m == NULL)
    return;
  pk__team_free(&m->team);
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

  base = ctx->mpi_comm    ? *(const MPI_Comm *)ctx->mpi_comm
         : ctx->has_fcomm ? MPI_Comm_f2c((MPI_Fint)ctx->mpi_fcomm)
                          : MPI_COMM_WORLD;
  if ((rc = MPI_Comm_dup(base, &m->comm)) != MPI_SUCCESS)
    return pk__mpi_fail(ctx, rc, "MPI_Comm_dup");
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
  if ((st = pk__mpi_agree(ctx, st)) != PK_OK)
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
  st = pk__team_init(&m->team, m->threads);
  if ((st = pk__mpi_agree(ctx, st)) != PK_OK)
    return st;

  /* One instruction-set path for the job, the narrowest of the ranks'
   * (each chose within its own CPU): every item gets the bits it would
   * get on any rank, and no rank runs a path its CPU lacks. */
  {
    int mine = (int)ctx->isa, low = mine;
    if ((rc = MPI_Allreduce(&mine, &low, 1, MPI_INT, MPI_MIN, m->comm)) !=
        MPI_SUCCESS)
      return pk__mpi_fail(ctx, rc, "MPI_Allreduce");
    if (low != mine)
      pk__log(ctx, "mpi: rank %d runs the %s path, the narrowest of the "
              "ranks' (its own: %s)", m->rank, pk_isa_name((pk_isa)low),
              pk_isa_name((pk_isa)mine));
    ctx->isa = (pk_isa)low;
  }

  /* What a collective call costs: the front end's dispatch estimate. */
  t0 = pk_time();
  for (i = 0; i < 4; i++)
    pk__mpi_agree(ctx, PK_OK);
  ctx->dispatch_ns = (pk_time() - t0) / 4 * 1e9;
  pk__log(ctx, "mpi: rank %d of %d, %d of %d on its node, %d threads",
          m->rank, m->size, m->nrank, m->nsize, m->threads);
  /* The planning state is rank 0's from the start (the environment may
   * reach only some ranks): collective plans need the same settings. */
  return pk__mpi_agree(ctx, share_state(ctx, PK_OK, NULL));
}

/* A shared array's handle is its window: freeing it is collective over the
 * node.  A rank's own arrays are the library's memory (array.c), as the
 * threads backends'. */
static void mpi_free(pk_context *ctx, void *data, size_t nbytes,
                     void *handle) {
  shared *s = handle;

  (void)ctx, (void)data, (void)nbytes;
  MPI_Win_unlock_all(s->win);
  MPI_Win_free(&s->win);
  free(s);
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
    .free = mpi_free,
    .map = pk__mpi_map,
    .reduce = pk__mpi_reduce,
    .distributed = 1,
    .agree = mpi_agree,
    .same = mpi_same,
    .prepare = mpi_prepare,
    .dist = &mpi_dist,
};
