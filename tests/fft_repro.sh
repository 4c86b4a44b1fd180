#!/bin/sh
# PARKIT_FFTW_PLANNER=reproducible: the same bits from separate runs of the
# programs, whatever ran before (a run that measured plans into the wisdom
# file), and whatever the backend and worker count.  The default planner
# may measure, and a measured plan may round differently: this mode is the
# one that promises identical output from run to run.
set -u
b="${top_builddir:-.}"
tmp="${TMPDIR:-/tmp}/parkit-repro-$$"
mkdir -p "$tmp/cache"
trap 'rm -rf "$tmp"' EXIT
XDG_CACHE_HOME="$tmp/cache"
export XDG_CACHE_HOME
unset PARKIT_FFTW_WISDOM
fail() { echo "FAIL: $*"; exit 1; }

run() { # planner, backend, workers, output, then the program and its options
  pl=$1 be=$2 wk=$3 out=$4; shift 4
  prog=$1; shift
  PARKIT_FFTW_PLANNER=$pl "$b/examples/$prog" "$@" --backend "$be" \
    --workers "$wk" --output "$out" >/dev/null 2>&1
}
for case in "fft2 --count 40 --h 60 --w 84" \
            "fft2 --count 40 --h 97 --w 100 --real" \
            "autocorr --count 20 --h 50 --w 70 --method fft"; do
  rm -rf "$tmp/cache/parkit"
  # shellcheck disable=SC2086
  run reproducible serial 1 "$tmp/first.npy" $case || fail "$case: first run"
  # Plans measured into the wisdom file, then reproducible runs again.
  # shellcheck disable=SC2086
  run measure serial 1 "$tmp/measured.npy" $case || fail "$case: measure"
  ls "$tmp/cache/parkit/"*.wisdom >/dev/null 2>&1 ||
    fail "$case: the measuring run wrote no wisdom"
  for be in serial openmp fork; do
    # shellcheck disable=SC2086
    if ! run reproducible $be 2 "$tmp/again.npy" $case; then
      [ $be = fork ] && continue # not built: no memfd_create
      fail "$case on $be: failed"
    fi
    cmp -s "$tmp/first.npy" "$tmp/again.npy" ||
      fail "$case on $be with 2 workers: not the first run's bits"
  done
done
echo "fft_repro.sh: all passed"
