#!/bin/sh
# dets against numpy.linalg.det on the same .npy input: random, singular,
# pivoting and NaN cases, small and LAPACK paths.  Skipped (77) without numpy.
set -u
# Debian's python3-numpy is for /usr/bin/python3, whatever else is on PATH.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
$py -c 'import numpy' 2>/dev/null || { echo "numpy not installed: skipped"; exit 77; }
dets="${top_builddir:-.}/examples/dets"
tmp="${TMPDIR:-/tmp}/parkit-npdet-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

for n in 1 2 3 7 10 16 17 24 25 32 33 80 81 100 257 512 513; do
  $py - "$tmp/in.npy" "$n" <<'PY' || exit 1
import sys, numpy as np
path, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(n)
a = rng.integers(-5, 5, size=(301 if n < 200 else 12, n, n)).astype(np.float64)
a[1] = rng.standard_normal((n, n)) * 1e3
if n > 1:
    a[2, 1] = a[2, 0]            # singular: repeated row
    a[3, :, 0] = 0               # singular: zero column
    a[4, 0, 0] = 0               # needs pivoting
a[5, n // 2, n - 1] = np.nan     # NaN propagates
# numpy's conventions where an entry is not finite
a[7, n // 2, 0] = np.nan         # NaN beside a zero column
if n > 1:
    a[7, :, n - 1] = 0
a[8, 0, 0] = np.inf              # one infinite entry
a[9, n - 1, n // 2] = -np.inf
a[10, 0, n - 1] = np.inf         # an infinity and a NaN
a[10, n - 1, 0] = np.nan
if n >= 100:                     # exact; keeps the determinants finite
    a *= 0.25 if n < 400 else 0.03125
a[6] = np.eye(n) * 2.0
np.save(path, a)
PY
  "$dets" --input "$tmp/in.npy" --output "$tmp/out.npy" --backend openmp --workers 2 >/dev/null || exit 1
  $py - "$tmp/in.npy" "$tmp/out.npy" "$n" <<'PY' || exit 1
import sys, numpy as np
a, d, n = np.load(sys.argv[1]), np.load(sys.argv[2]), int(sys.argv[3])
with np.errstate(invalid="ignore", over="ignore"):
    ref = np.linalg.det(a)
assert d.shape == ref.shape, (d.shape, ref.shape)
assert np.isnan(d[5]) and np.isnan(ref[5])
scale = np.nanmax(np.abs(ref))
if n > 1:
    # a zero column gives an exact zero pivot: exactly 0, as numpy;
    # equal rows cancel only to rounding, in numpy as here
    assert d[3] == 0 and ref[3] == 0, (d[3], ref[3])
    assert abs(d[2]) <= 1e-9 * scale, (d[2], ref[2], scale)
assert d[6] == 2.0 ** n
ok = np.isclose(d, ref, rtol=1e-9, atol=1e-9 * scale, equal_nan=True)
bad = np.flatnonzero(~ok)
assert bad.size == 0, f"n={n}: items {bad[:5]}: {d[bad[:5]]} vs numpy {ref[bad[:5]]}"
print(f"n={n}: {d.size} determinants match numpy.linalg.det")
PY
done
