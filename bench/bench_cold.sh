#!/bin/sh
# Cold start, as a user meets it: examples/autocorr --count 30 and
# examples/fft2 --count 30 (items 100 x 100) run as fresh processes, first
# with an empty FFTW wisdom cache (a new XDG_CACHE_HOME each time), then
# with the cache the first run filled; beside them, the same work in a fresh
# Python process with scipy (scipy.signal.correlate(x, x, method="fft") for
# each item; scipy.fft.fft2(a, workers=2)), through bench/py_baselines.py
# --cold.  Each is run REPS times; the medians are printed, whole process
# and in-process compute ("time:" of the examples, py_baselines' own), then
# the ratio first run / warm run and PASS or MISS for the targets:
#   - a first run takes at most twice a warm run (whole process);
#   - first and warm runs both take less than scipy's (whole process).
# It is a benchmark: `make` and `make check` never run it; `make bench-cold`
# does, or:
#
#   top_builddir=. bench/bench_cold.sh        (REPS=5, BACKEND=, WORKERS=)
set -u
b="${top_builddir:-.}"
src="${top_srcdir:-$(dirname "$0")/..}"
# Debian's python3-numpy and -scipy are for /usr/bin/python3.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
py="${PYTHON:-$py}"
REPS="${REPS:-5}"
tmp="${TMPDIR:-/tmp}/parkit-cold-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
unset PARKIT_FFTW_WISDOM PARKIT_FFTW_PLANNER
opts=""
[ -n "${BACKEND:-}" ] && opts="$opts --backend $BACKEND"
[ -n "${WORKERS:-}" ] && opts="$opts --workers $WORKERS"

# The same input for both sides: the examples' (integers in [0, 100) for
# autocorr, uniform reals for fft2), 30 items of 100 x 100.
"$py" - "$tmp" <<'PY' || { echo "bench_cold: numpy is needed" >&2; exit 1; }
import sys, numpy as np
r = np.random.default_rng(1)
np.save(sys.argv[1] + "/autocorr.npy", r.integers(0, 100, (30, 100, 100)).astype(np.float64))
np.save(sys.argv[1] + "/fft2.npy", r.random((30, 100, 100)))
PY

now() { date +%s.%N; }
median() { sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# run CACHE PROGRAM ARGS...: "process compute" seconds of one fresh run
run() {
  cache=$1; shift
  t0=$(now)
  out=$(XDG_CACHE_HOME="$cache" "$@") || { echo "failed: $*" >&2; exit 1; }
  t1=$(now)
  c=$(echo "$out" | sed -n 's/^time: \([0-9.]*\) s.*/\1/p')
  echo "$t0 $t1 $c" | awk '{printf "%.6f %s\n", $2 - $1, $3}'
}

# pyrun METHOD FILE: the same for a fresh Python process
pyrun() {
  t0=$(now)
  out=$("$py" "$src/bench/py_baselines.py" --cold --reps 1 "$1:$2:30") ||
    { echo "failed: py_baselines.py $1" >&2; exit 1; }
  t1=$(now)
  c=$(echo "$out" | awk '$1 == "time" {print $5}')
  echo "$t0 $t1 $c" | awk '{printf "%.6f %s\n", $2 - $1, $3}'
}

# row LABEL FILE: the medians of the lines in FILE, printed; "proc" left
row() {
  p=$(cut -d' ' -f1 "$2" | median)
  c=$(cut -d' ' -f2 "$2" | median)
  printf '  %-34s %10.4f %10.4f\n' "$1" "$p" "$c"
  last=$p
}

verdict() { # what, condition (awk)
  if awk "BEGIN {exit !($2)}"; then echo "  PASS  $1"; else echo "  MISS  $1"; fi
}

echo "cold start: 30 items of 100 x 100, median of $REPS fresh processes"
echo "  (seconds: whole process, and the compute the program reports)"
printf '  %-34s %10s %10s\n' "" process compute
for prog in autocorr fft2; do
  in="$tmp/$prog.npy"
  : >"$tmp/first" && : >"$tmp/warm" && : >"$tmp/py"
  for r in $(seq "$REPS"); do
    run "$tmp/cache-first-$r" "$b/examples/$prog" --input "$in" $opts >>"$tmp/first"
  done
  # The cache the first runs filled serves every warm run.
  run "$tmp/cache-warm" "$b/examples/$prog" --input "$in" $opts >/dev/null
  for r in $(seq "$REPS"); do
    run "$tmp/cache-warm" "$b/examples/$prog" --input "$in" $opts >>"$tmp/warm"
  done
  if [ "$prog" = autocorr ]; then
    m=correlate label="scipy.signal.correlate fft"
  else
    m=scipy_fft2 label="scipy.fft.fft2 workers=2"
  fi
  for r in $(seq "$REPS"); do
    pyrun "$m" "$in" >>"$tmp/py"
  done
  echo "$prog --count 30"
  row "parkit, first run (empty cache)" "$tmp/first"; first=$last
  row "parkit, warm run (cache filled)" "$tmp/warm"; warm=$last
  row "$label" "$tmp/py"; sp=$last
  echo "$first $warm" | awk '{printf "  first / warm: %.2f\n", $1 / $2}'
  verdict "first run <= 2 x warm run" "$first <= 2 * $warm"
  verdict "first run faster than scipy's" "$first < $sp"
  verdict "warm run faster than scipy's" "$warm < $sp"
done
