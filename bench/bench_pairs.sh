#!/bin/sh
# The pair kernels beside scipy, in the same run: 1,000 images of 100 x 100
# (integers in [0, 100)) against one kernel image of 9 x 9 and of 31 x 31
# (integers in [-3, 4)), correlate2d in full and same modes.  parkit:
# examples/correlate on the given backend and workers (default: openmp, 2),
# its in-process map time; scipy: the faster of scipy.signal.correlate2d
# (direct) and scipy.signal.correlate(method="fft") over the images in one
# Python process (the same inputs, checked equal).  Medians of REPS runs
# (default 3; scipy's once where once takes over 5 s) and the ratio
# scipy / parkit, PASS at 10x or more.
# A benchmark: `make` and `make check` never run it.
#
#   top_builddir=. bench/bench_pairs.sh     (REPS=3, BACKEND=openmp, WORKERS=2)
set -u
b="${top_builddir:-.}"
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
REPS="${REPS:-3}"
BACKEND="${BACKEND:-openmp}"
WORKERS="${WORKERS:-2}"
tmp="${TMPDIR:-/tmp}/parkit-pairs-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

"$py" - "$tmp" <<'PY' || { echo "bench_pairs: numpy and scipy are needed" >&2; exit 1; }
import sys, numpy as np
r = np.random.default_rng(3)
np.save(sys.argv[1] + "/a.npy", r.integers(0, 100, (1000, 100, 100)).astype(np.float64))
for k in (9, 31):
    np.save(sys.argv[1] + "/k%d.npy" % k, r.integers(-3, 4, (1, k, k)).astype(np.float64))
PY

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "bench_pairs: $model, $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "1000 images 100x100, one kernel image; parkit $BACKEND x $WORKERS; seconds, medians of $REPS"
printf '%-22s %10s %10s %-8s %9s\n' case parkit scipy "(best)" ratio
for k in 9 31; do
  for mode in full same; do
    ts=""
    for r in $(seq "$REPS"); do
      t=$("$b/examples/correlate" --input "$tmp/a.npy" --kernel "$tmp/k$k.npy" \
            --mode $mode --backend "$BACKEND" --workers "$WORKERS" \
            --output "$tmp/out.npy" | sed -n 's/^time: .*(map \([0-9.]*\) s.*/\1/p')
      ts="$ts $t"
    done
    pk=$(for t in $ts; do echo "$t"; done | median)
    sc=$("$py" - "$tmp" "$k" "$mode" "$REPS" <<'PY'
import sys, time, numpy as np, scipy.signal as ss
tmp, k, mode, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
a, b = np.load(tmp + "/a.npy"), np.load(tmp + "/k%s.npy" % k)[0]
got = np.load(tmp + "/out.npy")
best = None
for name, f in (("direct", lambda x: ss.correlate2d(x, b, mode)),
                ("fft", lambda x: ss.correlate(x, b, mode, method="fft"))):
    ts = []
    for _ in range(reps):  # once only where once takes seconds
        t0 = time.perf_counter()
        out = [f(x) for x in a]
        ts.append(time.perf_counter() - t0)
        if ts[-1] > 5:
            break
    ts.sort()
    t = ts[len(ts) // 2]
    if name == "direct":  # the reference the results must equal
        assert np.array_equal(np.array(out), got), "results differ from scipy"
    if best is None or t < best[0]:
        best = (t, name)
print("%.6f %s" % best)
PY
) || { echo "bench_pairs: scipy run failed" >&2; exit 1; }
    set -- $sc
    awk -v c="corr ${k}x${k} $mode" -v p="$pk" -v s="$1" -v m="$2" 'BEGIN {
      r = s / p; v = (r >= 10) ? "PASS" : "MISS"
      printf "%-22s %10.4f %10.4f %-8s %8.1fx  %s\n", c, p, s, "(" m ")", r, v }'
  done
done
