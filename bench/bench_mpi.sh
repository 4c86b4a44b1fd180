#!/bin/sh
# Strong scaling of dets on the mpi backend against openmp, in one run:
# the same batch (--n, --count below) on 1 and 2 ranks, 2 ranks x 1 thread
# against 1 rank x 2 threads, and the openmp and serial backends.  Prints
# the best map time of REPEAT runs and the speedup over serial.
#
#   bench/bench_mpi.sh [extra dets options]     (N, COUNT, REPEAT from env)
set -u
b="${top_builddir:-.}"
dets="$b/examples/dets"
mpirun="${MPIRUN:-mpirun}"
N="${N:-32}" COUNT="${COUNT:-20000}" REPEAT="${REPEAT:-7}"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
# mpirun binding decides the cores a rank gets; parkit runs as many threads
# as its affinity mask allows (unbound ranks split the node's cores).
mpi() { timeout 300 "$mpirun" "$@"; }

best() { # command...: the least map time of REPEAT runs, and the sum
  t=""
  for i in $(seq "$REPEAT"); do
    out=$("$@" --n "$N" --count "$COUNT") || { echo "failed: $*" >&2; exit 1; }
    m=$(echo "$out" | sed -n 's/.*(map \([0-9.]*\) s.*/\1/p')
    sum=$(echo "$out" | sed -n 's/^sum of determinants: //p')
    t=$(echo "$t $m" | awk '{b=$1; for(i=2;i<=NF;i++) if($i<b) b=$i; print b}')
  done
  echo "$t $sum"
}

echo "dets --n $N --count $COUNT: best map time of $REPEAT runs on $(nproc) cores"
printf '%-34s %5s %7s %10s %8s  %s\n' config ranks threads "map (s)" speedup sum
ser=""
row() { # label ranks threads command...
  label=$1 r=$2 w=$3; shift 3
  set -- $(best "$@")
  [ -z "$ser" ] && ser=$1
  printf '%-34s %5s %7s %10.4f %8.2f  %s\n' "$label" "$r" "$w" "$1" \
    "$(echo "$ser $1" | awk '{print $1/$2}')" "$2"
}
row "serial"                     1 1 "$dets" --backend serial
row "openmp, 1 thread"           1 1 "$dets" --backend openmp --workers 1
row "openmp, 2 threads"          1 2 "$dets" --backend openmp --workers 2
row "mpi, 1 rank x 1 thread"     1 1 mpi -n 1 --bind-to core "$dets" --backend mpi
row "mpi, 1 rank x 2 threads"    1 2 mpi -n 1 --map-by slot:PE=2 --bind-to core "$dets" --backend mpi
row "mpi, 2 ranks x 1 thread"    2 1 mpi -n 2 --bind-to core "$dets" --backend mpi
row "mpi, 2 ranks unbound"       2 1 mpi -n 2 --bind-to none "$dets" --backend mpi
row "mpi, 4 ranks oversubscribed" 4 1 mpi -n 4 --oversubscribe "$dets" --backend mpi
