#!/bin/sh
# parkit-bench on a tiny sweep: the CSV has its header and one row for every
# case x backend x workers x size, and for every C baseline; --help, a bad
# option, --plot without gnuplot, and the python baselines when present.
set -u
pb="${top_builddir:-.}/bench/parkit-bench"
tmp="${TMPDIR:-/tmp}/parkit-bench-smoke-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

header="case,kernel,item,method,kind,workers,count,reps,median_s,min_s,max_s,items_per_s,speedup,flops_per_item,gflops,dgemm_gflops,frac_dgemm,bytes_per_item,gbs,triad_gbs,frac_triad,inline,est_s,est_ratio"
cases="det10 det100 slogdet autocorr fft2 trivial corr9full corr9same corr31full corr31same"
sizes="10 20"
workers="1 2"

"$pb" --quick --sizes 10,20 --reps 1 --workers 1,2 --baselines loop,fftw \
  --csv "$tmp/b.csv" >"$tmp/out" 2>"$tmp/err" ||
  fail "parkit-bench exited $?: $(cat "$tmp/err")"
[ "$(head -n 1 "$tmp/b.csv")" = "$header" ] || fail "CSV header"
# The backends it ran: the ones compiled in, mpi only under mpirun.
backends=$(sed -n 's/^parkit [0-9.]*, backends: \([^;]*\);.*/\1/p' "$tmp/out" |
  tr ' ' '\n' | grep -v '^mpi$')
[ -n "$backends" ] || fail "no backends line in the output"

row() { # case method kind workers count: one such row in the CSV
  n=$(grep -c "^$1,[^,]*,[^,]*,$2,$3,$4,$5,1," "$tmp/b.csv")
  [ "$n" = 1 ] || fail "$n rows for $1 $2 ($3) W=$4 count $5"
}
rows=0
for c in $cases; do
  for s in $sizes; do
    for b in $backends; do
      for w in $workers; do
        [ "$b" = serial ] && [ "$w" != 1 ] && continue
        row "$c" "$b" parkit "$w" "$s"
        rows=$((rows + 1))
      done
    done
    case $c in
    det10 | det100 | slogdet | trivial)
      for w in $workers; do row "$c" "omp loop" baseline "$w" "$s"; done
      rows=$((rows + 2)) ;;
    fft2) row "$c" "fftw plan_many" baseline 1 "$s"; rows=$((rows + 1)) ;;
    esac
  done
done
got=$(grep -vc '^case,\|^machine,' "$tmp/b.csv")
[ "$got" = "$rows" ] || fail "$got measurement rows, expected $rows"
grep -q '^machine,.*,machine,2,' "$tmp/b.csv" || fail "no machine row"
grep -q '^== summary' "$tmp/out" || fail "no summary table"
[ -s "$tmp/err" ] && fail "diagnostics on a clean run: $(cat "$tmp/err")"

"$pb" --help | grep -q -- "--plot DIR" || fail "--help"
"$pb" --kernels nonesuch >/dev/null 2>"$tmp/err"
[ $? = 2 ] || fail "a bad case is not exit 2"
grep -q nonesuch "$tmp/err" || fail "a bad case: the message does not name it"
"$pb" --reps 0 >/dev/null 2>&1 && fail "--reps 0 accepted"

# --plot with no gnuplot on PATH: says so, and leaves the script.
PATH=/nonexistent "$pb" --quick --kernels trivial --sizes 10 --reps 1 \
  --backends serial --baselines none --plot "$tmp/plots" >/dev/null \
  2>"$tmp/err" || fail "--plot without gnuplot: exit $?"
grep -q "gnuplot is not installed" "$tmp/err" || fail "no message without gnuplot"
[ -s "$tmp/plots/plots.gp" ] || fail "no plots.gp"
# --plot into a folder that cannot be made: refused before the sweep.
"$pb" --quick --sizes 10 --reps 1 --kernels trivial --plot "$tmp/no/such/dir" \
  >"$tmp/out" 2>"$tmp/err" && fail "--plot into a missing folder accepted"
grep -q -- "--plot $tmp/no/such/dir" "$tmp/err" || fail "--plot: no message"
grep -q "^trivial" "$tmp/out" && fail "--plot: swept before refusing"

# The python baselines, when Debian's python3 has numpy and scipy.
if /usr/bin/python3 -c 'import numpy, scipy.signal' 2>/dev/null; then
  PARKIT_BENCH_PY="${top_srcdir:-.}/bench/py_baselines.py" "$pb" --quick \
    --kernels det10,fft2,corr9same --sizes 10 --reps 1 --backends serial \
    --baselines python --python /usr/bin/python3 --csv "$tmp/p.csv" \
    >/dev/null 2>"$tmp/err" || fail "python baselines: $(cat "$tmp/err")"
  grep -q '^det10,det,10x10,numpy.linalg.det,baseline,1,10,1,' "$tmp/p.csv" ||
    fail "no numpy.linalg.det row"
  grep -q '^fft2,fft2,100x100,numpy.fft.fft2,baseline,1,10,1,' "$tmp/p.csv" ||
    fail "no numpy.fft.fft2 row"
  for m in "scipy correlate2d" "scipy correlate fft"; do
    grep -q "^corr9same,correlate2d_same,100x100 with 9x9,$m,baseline,1,10,1," \
      "$tmp/p.csv" || fail "no $m row for corr9same"
  done
fi
echo "bench_smoke.sh: all passed ($rows rows)"
