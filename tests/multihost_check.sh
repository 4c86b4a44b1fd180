#!/bin/sh
# The mpi backend across hosts (tests/multihost.sh: network namespaces of
# this machine, TCP between them, shared memory within each), on 2 hosts x
# 2 ranks and 3 hosts x 1 rank (uneven blocks):
#   - tests/test_mpi and tests/test_fft_mpi (distributed arrays and FFTs);
#   - examples/dets, autocorr and fft2 with --verify, their MPI-IO .npy
#     output compared byte for byte with one process's output;
#   - the node-shared windows group ranks per host, and a
#     PARKIT_MPI_RANKS_PER_NODE that groups ranks of different hosts is
#     ignored instead of failing;
#   - settings that reach only the first host's ranks (the environment
#     without -x): the FFT planner is rank 0's on every host; a bad setting
#     on a rank of the second host fails every rank, naming it, and hangs
#     none.
# Skipped (77) where namespaces cannot be made (not root, no iproute2).
set -u
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
mh="$s/tests/multihost.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/parkit-mhcheck-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
unset PARKIT_FFTW_PLANNER PARKIT_FFTW_WISDOM PARKIT_MPI_RANKS_PER_NODE \
  PARKIT_ISA PARKIT_WORKERS PARKIT_BACKEND PARKIT_VERBOSE
XDG_CACHE_HOME="$tmp/cache"
export XDG_CACHE_HOME
PARKIT_MULTIHOST_TIMEOUT=${PARKIT_MULTIHOST_TIMEOUT:-120}
export PARKIT_MULTIHOST_TIMEOUT

sh "$mh" 1 1 -- true >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 77 ] && { cat "$tmp/out"; exit 77; }
[ $rc -eq 0 ] || { cat "$tmp/out"; echo "FAIL: multihost.sh cannot run 'true'"; exit 1; }

fail() { cat "$tmp/out"; echo "FAIL: $*"; exit 1; }
# run HOSTS RANKS [mpirun options] -- PROGRAM...: output in $tmp/out
# (The sanitizer build's settings go to every host, as a cluster's would.)
san=""
for v in LSAN_OPTIONS ASAN_OPTIONS UBSAN_OPTIONS; do
  eval "[ -n \"\${$v:-}\" ]" && san="$san -x $v"
done
run() {
  hr="$1 $2"
  shift 2
  sh "$mh" $hr $san "$@" >"$tmp/out" 2>&1
  rc=$?
  [ $rc -eq 124 ] && fail "timed out (a hang?): $*"
  return $rc
}
# count PATTERN: how often $tmp/out holds it (ranks' lines can interleave)
count() { grep -o -- "$1" "$tmp/out" | wc -l; }

# One process's outputs: the references of the byte-for-byte comparisons.
dets="$b/examples/dets" autocorr="$b/examples/autocorr" fft2="$b/examples/fft2"
"$dets" --backend serial --count 2001 --n 7 --output "$tmp/dets.npy" \
  >/dev/null || fail "dets, one process"
PARKIT_FFTW_PLANNER=reproducible "$autocorr" --backend serial --count 7 \
  --h 12 --w 9 --method fft --output "$tmp/ac.npy" >/dev/null ||
  fail "autocorr, one process"
PARKIT_FFTW_PLANNER=reproducible "$fft2" --backend serial --count 7 --h 24 --w 10 \
  --output "$tmp/f.npy" >/dev/null || fail "fft2, one process"

for layout in "2 2" "3 1"; do
  set -- $layout
  h=$1 r=$2
  n=$((h * r))
  at="on $h hosts x $r ranks"

  run $h $r -- "$b/tests/test_mpi" || fail "test_mpi $at"
  grep -q ' 0 failed' "$tmp/out" || fail "test_mpi $at"
  run $h $r -x PARKIT_FFTW_PLANNER=estimate -- "$b/tests/test_fft_mpi" \
    --pk-workers=1 || fail "test_fft_mpi $at"
  grep -q ' 0 failed' "$tmp/out" || fail "test_fft_mpi $at"

  # Each host one node: every rank says it shares it with $r.
  run $h $r -- "$dets" --count 2001 --n 7 --verify --pk-verbose \
    --output "$tmp/m.npy" || fail "dets $at"
  grep -q "verify: ok" "$tmp/out" || fail "dets --verify $at"
  cmp "$tmp/m.npy" "$tmp/dets.npy" || fail "dets' .npy $at differs"
  [ "$(count "of $r on its node")" -eq "$n" ] ||
    fail "the nodes $at are not the hosts"

  # The planner reaches the first host only; rank 0's is everyone's.
  PARKIT_FFTW_PLANNER=reproducible run $h $r -- "$autocorr" --count 7 \
    --h 12 --w 9 --method fft --verify --output "$tmp/m.npy" ||
    fail "autocorr $at"
  cmp "$tmp/m.npy" "$tmp/ac.npy" || fail "autocorr's .npy $at differs"
  PARKIT_FFTW_PLANNER=reproducible run $h $r -- "$fft2" --count 7 --h 24 --w 10 \
    --verify --output "$tmp/m.npy" || fail "fft2 $at"
  cmp "$tmp/m.npy" "$tmp/f.npy" || fail "fft2's .npy $at differs"
done

# A grouping of ranks that crosses hosts: ignored, and the shared windows
# work (before, MPI_Win_allocate_shared failed: "Memory cannot be shared").
PARKIT_MPI_RANKS_PER_NODE=2 run 2 1 -x PARKIT_MPI_RANKS_PER_NODE -- \
  "$dets" --count 2001 --n 7 --pk-verbose --verify ||
  fail "PARKIT_MPI_RANKS_PER_NODE=2 across hosts"
grep -q "PARKIT_MPI_RANKS_PER_NODE=2 ignored" "$tmp/out" ||
  fail "no note that PARKIT_MPI_RANKS_PER_NODE was ignored"
PARKIT_MPI_RANKS_PER_NODE=2 run 2 1 -x PARKIT_MPI_RANKS_PER_NODE -- \
  "$b/tests/test_mpi" || fail "test_mpi, RANKS_PER_NODE=2 across hosts"
# One that holds (2 a node on 2 hosts x 2): kept.
PARKIT_MPI_RANKS_PER_NODE=2 run 2 2 -- "$dets" --count 2001 --n 7 \
  --pk-verbose --verify || fail "PARKIT_MPI_RANKS_PER_NODE=2, 2 x 2"
grep -q "ignored" "$tmp/out" && fail "a grouping within hosts was ignored"

# A bad setting on the second host's rank only: all fail, naming it.
# (An app context's -x replaces the global ones: $san in each.)
run 2 1 -- -n 1 $san "$dets" --count 100 --pk-verbose : \
  -n 1 $san -x PARKIT_WORKERS=abc "$dets" --count 100 --pk-verbose &&
  fail "PARKIT_WORKERS=abc on rank 1 was accepted"
[ "$(count "rank 1: PARKIT_WORKERS=abc")" -ge 2 ] ||
  fail "the refusal does not reach both ranks naming rank 1"
# Paths the ranks chose differently: the narrowest runs everywhere.
run 2 1 -- -n 1 $san "$dets" --count 2001 --n 40 --verify --pk-verbose : \
  -n 1 $san -x PARKIT_ISA=generic "$dets" --count 2001 --n 40 --verify \
  --pk-verbose || fail "PARKIT_ISA=generic on rank 1"
[ "$(count "instruction set generic")" -eq 2 ] ||
  fail "the ranks do not run one path"
echo "multihost_check.sh: all passed"
