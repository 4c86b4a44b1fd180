#!/bin/sh
# Across hosts: bench/bench_hosts on 3 hosts x 2 ranks (network namespaces
# of this machine, tests/multihost.sh; root only), then a model of dets and
# of a distributed fft2 on 10, 100 and 1000 nodes built from the figures it
# measured here.
#
#   bench/bench_hosts.sh            (COUNT, N for bench_hosts from env)
#
# The model (a model, not a measurement; its inputs are printed):
#   dets of M matrices 10x10 on P nodes of C cores:
#     compute  = M * t_item / (P * C)        t_item: one core's time an item
#     input    = M * 800 B / link            scattered from rank 0 (its link
#                                            carries every block once)
#              or M * 800 B / (P * link)     read by each node (MPI-IO) from
#                                            a file system that keeps up
#     reduce   = 2 * log2(P * C) * latency
#   fft2 of one S x S complex128 array, slabs of rows, on P nodes:
#     compute  = 5 S^2 log2(S^2) / (P * C * fft_rate)
#     transpose (FFTW-MPI, twice for the natural layout):
#              = 2 * (16 S^2 / (P * link) + R * latency)
#                R = messages a rank sends: P*C - 1 with a rank a core,
#                P - 1 with one rank a node and C threads (hybrid)
#     and no more than S ranks (or nodes, hybrid) hold rows.
set -u
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
COUNT=${COUNT:-40000} N=${N:-10}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

sh "$s/tests/multihost.sh" 3 2 -- "$b/bench/bench_hosts" --count "$COUNT" \
  --n "$N" >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 0 ] || exit $rc

# One core's fft2 rate here (GFLOP/s counted as 5 N log2 N), median of 3.
fft_rate=$(for i in 1 2 3; do
  "$b/examples/fft2" --backend serial --count 4 --h 1024 --w 1024 |
    sed -n 's/.*(map \([0-9.e-]*\) s.*/\1/p'
done | sort -g | sed -n 2p | awk '{print 4 * 5 * 1048576 * 20 / $1 / 1e9}')

# One core's time an item: the hosts share this machine's cores, all busy.
t_item=$(sed -n 's/^det map of \([0-9]*\) .*: \([0-9.]*\) s$/\2 \1/p' "$out" |
  awk -v c="$(nproc)" '{print $1 * c / $2}')
lat=$(sed -n 's/.*latency \([0-9.]*\) us.*/\1/p' "$out")
bw=$(sed -n 's/.*bandwidth \([0-9.]*\) GB\/s.*/\1/p' "$out")
[ -n "$t_item" ] && [ -n "$lat" ] && [ -n "$bw" ] && [ -n "$fft_rate" ] ||
  { echo "bench_hosts.sh: a figure is missing" >&2; exit 1; }

awk -v t_item="$t_item" -v lat_here="$lat" -v bw_here="$bw" \
  -v fft="$fft_rate" 'BEGIN {
  C = 32; link = 12.5e9; lat = 2e-6; M = 1e8; S = 32768
  printf "\nMODEL (not measured): nodes of %d cores, 100 Gb/s links (%.1f GB/s), %.0f us latency\n", C, link / 1e9, lat * 1e6
  printf "inputs measured here: det 10x10 %.3g s an item on one core; fft2 %.2f GFLOP/s on one core;\n", t_item, fft
  printf "  between the namespace hosts %.1f us latency, %.2f GB/s (TCP within one machine;\n", lat_here, bw_here
  printf "  the model takes the network of its first line instead)\n\n"
  printf "dets, %.0e matrices 10x10 (%.0f GB of input)\n", M, M * 800 / 1e9
  printf "%6s %12s %14s %14s %12s\n", "nodes", "compute s", "scatter in s", "MPI-IO in s", "reduce s"
  for (P = 10; P <= 1000; P *= 10)
    printf "%6d %12.4g %14.4g %14.4g %12.3g\n", P, M * t_item / (P * C), M * 800 / link, M * 800 / (P * link), 2 * log(P * C) / log(2) * lat
  flops = 5 * S * S * log(S * S) / log(2)
  printf "\nfft2 of one %dx%d complex128 array (%.1f GB), %.3g flop\n", S, S, 16 * S * S / 1e9, flops
  printf "%6s %12s %14s %16s %16s\n", "nodes", "compute s", "bytes s", "latency s/rank", "latency s/node"
  for (P = 10; P <= 1000; P *= 10)
    printf "%6d %12.4g %14.4g %16.4g %16.4g\n", P, flops / (P * C * fft * 1e9), 2 * 16 * S * S / (P * link), 2 * (P * C - 1) * lat, 2 * (P - 1) * lat
}'
