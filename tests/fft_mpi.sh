#!/bin/sh
# The large-array FFTs over MPI: tests/test_fft_mpi under mpirun on 1, 2,
# 3 and 4 ranks (oversubscribed: rows the ranks do not divide, fewer rows
# than ranks), and on 2 ranks with 2 FFTW threads each.  Each run has a
# timeout, so a rank that waits forever fails the test instead of hanging.
set -u
b="${top_builddir:-.}"
mpirun="${MPIRUN:-mpirun}"
out="${TMPDIR:-/tmp}/parkit-fftmpi-$$.out"
trap 'rm -f "$out"' EXIT
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Values are compared within tolerances here, not plans: the estimate
# planner keeps the runs short, above all in the sanitizer build.
PARKIT_FFTW_PLANNER=${PARKIT_FFTW_PLANNER:-estimate}
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM PARKIT_FFTW_PLANNER
command -v "$mpirun" >/dev/null 2>&1 || { echo "SKIP: no mpirun"; exit 77; }
fail() { cat "$out"; echo "FAIL: $*"; exit 1; }
run() { # ranks, then arguments
  n=$1; shift
  timeout 300 "$mpirun" --oversubscribe --bind-to none -n "$n" \
    "$b/tests/test_fft_mpi" "$@" >"$out" 2>&1
  rc=$?
  [ $rc -eq 124 ] && fail "timed out (a hang?): -n $n $*"
  [ $rc -eq 0 ] || fail "test_fft_mpi on $n ranks $*"
  grep ' 0 failed' "$out" || fail "test_fft_mpi on $n ranks $*"
}
for n in 1 2 3 4; do
  run "$n" --pk-workers=1
done
run 2 --pk-workers=2
echo "PASS"
