/*
 * bench_hosts - what crosses the network between hosts, under mpirun
 * across several hosts (bench/bench_hosts.sh runs it across network
 * namespaces of one machine):
 *   - the bytes each host received during pk_mpi_scatter and pk_mpi_share
 *     of an array held by rank 0, against the bytes of its ranks' blocks
 *     (from the host's own interface counter, /sys/class/net/IF);
 *   - the time of a dets map per item on this rank;
 *   - point-to-point latency (8 bytes) and bandwidth (8 MiB) between rank
 *     0 and the first rank of the last host, medians.
 *
 *   bench_hosts [--count M] [--n N] [--if IFACE]
 */
#include <parkit.h>
#include <parkit/kernels.h>
#include <parkit/mpi.h>

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long long rx_bytes(const char *ifname) {
  char path[256];
  long long v = -1;
  FILE *f;

  snprintf(path, sizeof path, "/sys/class/net/%s/statistics/rx_bytes",
           ifname);
  if ((f = fopen(path, "r")) != NULL) {
    if (fscanf(f, "%lld", &v) != 1)
      v = -1;
    fclose(f);
  }
  return v;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct {
  MPI_Comm world, host; /* all ranks; the ranks of this host */
  int rank, size, hrank, hsize, hosts, myhost;
  const char *ifname;
} layout;

/* Bytes received by each host's interface during op, against its ranks'
   block bytes; printed by rank 0. */
static int delivery(pk_context *ctx, const layout *L, const char *what,
                    pk_status (*op)(pk_context *, const pk_array *, int,
                                    pk_array **),
                    const pk_array *whole) {
  long long before = 0, after = 0, mine[2], *all = NULL;
  unsigned long long block, hostblock = 0;
  pk_array *part = NULL;
  pk_status st;

  MPI_Barrier(L->world);
  if (L->hrank == 0)
    before = rx_bytes(L->ifname);
  MPI_Barrier(L->world);
  st = op(ctx, L->rank == 0 ? whole : NULL, 0, &part);
  MPI_Barrier(L->world);
  if (L->hrank == 0)
    after = rx_bytes(L->ifname);
  if (st != PK_OK) {
    if (L->rank == 0)
      fprintf(stderr, "bench_hosts: %s: %s\n", what, pk_errmsg(ctx));
    return 1;
  }
  block = pk_array_nbytes(part);
  MPI_Reduce(&block, &hostblock, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0,
             L->host);
  mine[0] = L->hrank == 0 ? after - before : -1;
  mine[1] = (long long)hostblock;
  if (L->rank == 0)
    all = malloc(2 * sizeof *all * (size_t)L->size);
  MPI_Gather(mine, 2, MPI_LONG_LONG, all, 2, MPI_LONG_LONG, 0, L->world);
  if (L->rank == 0) {
    printf("%s of %.1f MB from rank 0:\n", what,
           (double)pk_array_nbytes(whole) / 1e6);
    for (int r = 0, h = 0; r < L->size; r++)
      if (all[2 * r] >= 0)
        printf("  host %d: received %12lld bytes; its ranks' blocks hold "
               "%12lld (%.3fx)\n", ++h, all[2 * r], all[2 * r + 1],
               all[2 * r + 1] ? (double)all[2 * r] / (double)all[2 * r + 1]
                              : 0.0);
  }
  free(all);
  pk_array_destroy(&part);
  return 0;
}

/* Median one-way time of `reps` ping-pongs of `bytes` between rank 0 and
   rank `peer`. */
static double pingpong(const layout *L, int peer, size_t bytes, int reps) {
  char *buf = calloc(bytes ? bytes : 1, 1);
  double *t = calloc((size_t)reps, sizeof *t), med;

  for (int i = 0; i < reps; i++) {
    MPI_Barrier(L->world);
    double t0 = MPI_Wtime();
    if (L->rank == 0) {
      MPI_Send(buf, (int)bytes, MPI_CHAR, peer, 0, L->world);
      MPI_Recv(buf, (int)bytes, MPI_CHAR, peer, 0, L->world,
               MPI_STATUS_IGNORE);
    } else if (L->rank == peer) {
      MPI_Recv(buf, (int)bytes, MPI_CHAR, 0, 0, L->world, MPI_STATUS_IGNORE);
      MPI_Send(buf, (int)bytes, MPI_CHAR, 0, 0, L->world);
    }
    t[i] = (MPI_Wtime() - t0) / 2;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp_d);
  med = t[reps / 2];
  free(buf);
  free(t);
  return med;
}

int main(int argc, char **argv) {
  size_t count = 40000, n = 10;
  const char *ifname = "eth0";
  pk_context *ctx = NULL;
  layout L = {0};
  int rc = 0;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
      count = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
      n = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--if") == 0 && i + 1 < argc)
      ifname = argv[++i];
    else {
      fprintf(stderr, "usage: bench_hosts [--count M] [--n N] [--if IFACE]\n");
      return 2;
    }
  }
  pk_config cfg = {.backend = "mpi"};
  if (pk_init_config(&ctx, &argc, &argv, &cfg) != PK_OK) {
    fprintf(stderr, "bench_hosts: pk_init failed\n");
    return 1;
  }
  L.world = MPI_COMM_WORLD;
  L.ifname = ifname;
  MPI_Comm_rank(L.world, &L.rank);
  MPI_Comm_size(L.world, &L.size);
  MPI_Comm_split_type(L.world, MPI_COMM_TYPE_SHARED, L.rank, MPI_INFO_NULL,
                      &L.host);
  MPI_Comm_rank(L.host, &L.hrank);
  MPI_Comm_size(L.host, &L.hsize);
  {
    int lead = L.hrank == 0;
    MPI_Allreduce(&lead, &L.hosts, 1, MPI_INT, MPI_SUM, L.world);
  }

  /* The array to hand out: count matrices n x n of small integers (made
     on every rank for simplicity; only rank 0's is read). */
  size_t shape[3] = {count, n, n};
  pk_array *whole = NULL, *local = NULL, *d = NULL;
  if (pk_array_create(ctx, PK_F64, 3, shape, &whole) != PK_OK) {
    fprintf(stderr, "bench_hosts: %s\n", pk_errmsg(ctx));
    return 1;
  }
  double *x = pk_array_data(whole);
  for (size_t e = 0; e < count * n * n; e++)
    x[e] = (double)((e * 2654435761u >> 7) % 10) - 5;

  if (L.rank == 0)
    printf("%d ranks on %d hosts; interface %s\n", L.size, L.hosts, ifname);
  rc |= delivery(ctx, &L, "pk_mpi_scatter", pk_mpi_scatter, whole);
  rc |= delivery(ctx, &L, "pk_mpi_share", pk_mpi_share, whole);

  /* The map's time per item on one rank's block, median of 5. */
  if (pk_mpi_scatter(ctx, L.rank == 0 ? whole : NULL, 0, &local) == PK_OK) {
    double t[5];
    for (int i = 0; i < 5; i++) {
      MPI_Barrier(L.world);
      double t0 = MPI_Wtime();
      pk_map(ctx, pk_kernel_det(), local, &d, NULL);
      t[i] = MPI_Wtime() - t0;
      pk_array_destroy(&d);
    }
    qsort(t, 5, sizeof *t, cmp_d);
    if (L.rank == 0)
      printf("det map of %zu matrices %zux%zu on %d ranks x %d workers: "
             "%.6f s\n", count, n, n, L.size, pk_workers(ctx), t[2]);
  }
  pk_array_destroy(&local);

  /* Between hosts: rank 0 and the first rank of the last host. */
  int peer = L.size - L.hsize; /* hosts of equal rank counts, in order */
  if (L.hosts > 1) {
    double lat = pingpong(&L, peer, 8, 201);
    double big = pingpong(&L, peer, 8u << 20, 21);
    if (L.rank == 0)
      printf("between hosts (rank 0 - rank %d): latency %.1f us (8 bytes, "
             "one way, median); bandwidth %.2f GB/s (8 MiB)\n", peer,
             lat * 1e6, (double)(8u << 20) / big / 1e9);
  }
  pk_array_destroy(&whole);
  MPI_Comm_free(&L.host);
  pk_finalize(&ctx);
  return rc;
}
