#!/bin/sh
# FFT planning over MPI ranks whose environments differ (mpirun's MPMD form
# gives each rank its own): every rank plans as rank 0 does, only rank 0
# reads and writes the wisdom file, and a bad setting on one rank fails
# pk_init on every rank instead of hanging the others.
set -u
b="${top_builddir:-.}"
autocorr="$b/examples/autocorr"
mpirun="${MPIRUN:-mpirun}"
tmp="${TMPDIR:-/tmp}/parkit-planmpi-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
unset PARKIT_FFTW_WISDOM PARKIT_FFTW_PLANNER
command -v "$mpirun" >/dev/null 2>&1 || { echo "SKIP: no mpirun"; exit 77; }
fail() { cat "$tmp/out" 2>/dev/null; echo "FAIL: $*"; exit 1; }
args="--count 6 --h 20 --w 20 --method fft --pk-verbose"
# two ENV0 ENV1 [extra arguments]: rank 0 with ENV0, rank 1 with ENV1
two() {
  e0=$1 e1=$2; shift 2
  timeout 120 "$mpirun" --oversubscribe --bind-to none \
    -x XDG_CACHE_HOME="$tmp/cache" \
    -n 1 -x "$e0" "$autocorr" $args "$@" : \
    -n 1 -x "$e1" "$autocorr" $args "$@" >"$tmp/out" 2>&1
}

# Rank 0 measures, rank 1 would estimate: rank 1 measures as rank 0 did,
# and the results have the serial backend's bits.
two PARKIT_FFTW_PLANNER=measure PARKIT_FFTW_PLANNER=estimate --verify ||
  fail "measure / estimate run"
grep -q "verify: ok" "$tmp/out" || fail "no verify line"
[ "$(grep -c "r2c rows 20 x 40 planned by measure as the leading process did" \
  "$tmp/out")" -eq 1 ] || fail "rank 1 did not plan as rank 0"
grep -q "planned by estimate" "$tmp/out" && fail "a rank planned by its own setting"
# One rank wrote the wisdom file, none read it (it was empty).
[ "$(grep -c "FFTW wisdom: wrote" "$tmp/out")" -eq 1 ] || fail "not one writer"
# Second run: rank 0 reads it; rank 1 takes rank 0's wisdom, reads nothing.
two PARKIT_FFTW_PLANNER=measure PARKIT_FFTW_PLANNER=measure ||
  fail "second run"
[ "$(grep -c "FFTW wisdom: read" "$tmp/out")" -eq 1 ] || fail "not one reader"
grep -q "FFTW wisdom: wrote" "$tmp/out" && fail "second run wrote again"

# A bad setting on rank 1 only: every rank fails, none hangs.
two PARKIT_FFTW_PLANNER=estimate PARKIT_FFTW_PLANNER=fastest &&
  fail "a bad planner on rank 1 was accepted"
[ $? -eq 124 ] && fail "a bad planner on rank 1 hung the run"
grep -q "rank 1" "$tmp/out" && grep -q "estimate, measure, patient, exhaustive or reproducible" \
  "$tmp/out" || fail "the refusal does not name rank 1 and the planners"
printf 'a data file' >"$tmp/data"
two PARKIT_FFTW_PLANNER=estimate PARKIT_FFTW_WISDOM="$tmp/data" &&
  fail "a data file named as wisdom on rank 1 was accepted"
[ "$(cat "$tmp/data")" = "a data file" ] || fail "the data file changed"
echo "fft_plan_mpi.sh: all passed"
