#!/bin/sh
# The mpi backend under mpirun: tests/test_mpi on 1, 2, 3 and 4 ranks
# (oversubscribed: uneven blocks, fewer items than ranks), and
# examples/dets under mpirun against --backend serial.  Each run has a
# timeout, so a rank that waits forever fails the test instead of hanging.
set -u
b="${top_builddir:-.}"
mpirun="${MPIRUN:-mpirun}"
tmp="${TMPDIR:-/tmp}/parkit-mpi-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
fail() { echo "FAIL: $*"; exit 1; }
run() { # ranks, program and arguments: output in $tmp/out
  n=$1; shift
  timeout 300 "$mpirun" --oversubscribe --bind-to none -n "$n" "$@" \
    >"$tmp/out" 2>&1
  rc=$?
  [ $rc -eq 124 ] && { cat "$tmp/out"; fail "timed out (a hang?): -n $n $*"; }
  return $rc
}

command -v "$mpirun" >/dev/null 2>&1 || { echo "SKIP: no mpirun"; exit 77; }
for n in 1 2 3 4; do
  run "$n" "$b/tests/test_mpi" || { cat "$tmp/out"; fail "test_mpi on $n ranks"; }
  grep ' 0 failed' "$tmp/out" || { cat "$tmp/out"; fail "test_mpi on $n ranks"; }
done

# Two ranks a node: the shared window's several-node path on one machine.
run 4 -x PARKIT_MPI_RANKS_PER_NODE=2 "$b/tests/test_mpi" ||
  { cat "$tmp/out"; fail "test_mpi on 4 ranks, 2 a node"; }
PARKIT_MPI_RANKS_PER_NODE=1 run 3 -x PARKIT_MPI_RANKS_PER_NODE "$b/tests/test_mpi" ||
  { cat "$tmp/out"; fail "test_mpi on 3 ranks, 1 a node"; }

dets="$b/examples/dets"
ref=$("$dets" --backend serial --count 3001 --n 6 --output "$tmp/s.npy" |
      grep '^sum') || fail "dets --backend serial"
for n in 1 3 8; do
  run "$n" "$dets" --count 3001 --n 6 --verify --output "$tmp/m.npy" ||
    { cat "$tmp/out"; fail "dets on $n ranks"; }
  grep -q '^verify: ok' "$tmp/out" || { cat "$tmp/out"; fail "dets $n: verify"; }
  [ "$(grep '^sum' "$tmp/out")" = "$ref" ] ||
    { cat "$tmp/out"; fail "dets on $n ranks: sum is not serial's ($ref)"; }
  [ "$(grep -c '^sum' "$tmp/out")" = 1 ] || fail "dets $n: more than rank 0 printed"
  cmp -s "$tmp/s.npy" "$tmp/m.npy" || fail "dets $n: MPI-IO output differs"
done
run 3 "$dets" --pk-help || { cat "$tmp/out"; fail "dets --pk-help on 3 ranks"; }
[ "$(grep -c "^parkit's options" "$tmp/out")" = 1 ] &&
  ! grep -q '^sum' "$tmp/out" || { cat "$tmp/out"; fail "--pk-help: not once"; }
run 3 "$dets" --input "$tmp/s.npy" --output "$tmp/d2.npy" &&
  fail "dets on 3 ranks accepted a 1-D input"
grep -q 'det' "$tmp/out" || { cat "$tmp/out"; fail "1-D input: no message"; }
run 2 "$dets" --input "$tmp/nonesuch.npy" && fail "a missing input accepted"
grep -q 'rank 0' "$tmp/out" || { cat "$tmp/out"; fail "missing input: no rank"; }
# The batch on the last axis of an int64 file (the seeds' layout), read by
# rank 0 and scattered: the same bits as one process, and a refused axis
# on every rank without a hang.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
if $py -c 'import numpy' 2>/dev/null; then
  $py -c 'import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng(5).integers(-5, 5, (6, 6, 701)))' "$tmp/last.npy"
  "$dets" --backend serial --input "$tmp/last.npy" --batch-axis -1 --output "$tmp/l1.npy" >/dev/null ||
    fail "dets --batch-axis -1 on one process"
  for n in 2 3; do
    run "$n" "$dets" --input "$tmp/last.npy" --batch-axis -1 --verify --output "$tmp/l$n.npy" ||
      { cat "$tmp/out"; fail "dets --batch-axis -1 on $n ranks"; }
    cmp -s "$tmp/l1.npy" "$tmp/l$n.npy" || fail "dets --batch-axis -1 on $n ranks differs"
  done
  run 3 "$dets" --input "$tmp/last.npy" --batch-axis -4 && fail "axis -4 accepted"
  grep -q 'axis -4' "$tmp/out" || { cat "$tmp/out"; fail "axis -4: no message"; }
fi
echo "mpi.sh: all passed"
