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
# A matrix with a NaN gets numpy's result by dgetrf, as numpy gets it, and
# what dgetrf makes of a NaN depends on OpenBLAS's kernels (x86's never
# pivot on one, aarch64's do).  A cross build's program (run here by an
# emulator) links another machine's OpenBLAS than this numpy: there the
# items with a NaN are left out of the comparison.
. "${top_srcdir:-.}/tests/foreign.sh"
cross=0
foreign "$dets" /bin/sh && cross=1
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
  $py - "$tmp/in.npy" "$tmp/out.npy" "$n" "$cross" <<'PY' || exit 1
import sys, numpy as np
a, d, n = np.load(sys.argv[1]), np.load(sys.argv[2]), int(sys.argv[3])
with np.errstate(invalid="ignore", over="ignore"):
    ref = np.linalg.det(a)
if sys.argv[4] == "1":
    nan = np.isnan(a).any(axis=(1, 2))
    ref[nan] = d[nan]
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

# Complex matrices: numpy's det of complex128 (a zero column, a NaN, an
# infinity as numpy computes them), through the program and its --verify.
for n in 1 3 10 33 100; do
  $py - "$tmp/in.npy" "$n" <<'PY' || exit 1
import sys, numpy as np
path, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(n)
a = rng.standard_normal((40, n, n)) + 1j * rng.standard_normal((40, n, n))
a[3, :, 0] = 0                   # singular: exact zero pivot
a[5, n // 2, n - 1] = np.nan     # NaN propagates
a[8, 0, 0] = np.inf              # one infinite entry
a[6] = np.eye(n) * (1 + 1j)
np.save(path, a)
PY
  "$dets" --input "$tmp/in.npy" --output "$tmp/out.npy" --backend fork --workers 2 --verify >/dev/null || exit 1
  $py - "$tmp/in.npy" "$tmp/out.npy" "$n" "$cross" <<'PY' || exit 1
import sys, numpy as np
a, d, n = np.load(sys.argv[1]), np.load(sys.argv[2]), int(sys.argv[3])
with np.errstate(invalid="ignore", over="ignore"):
    ref = np.linalg.det(a)
if sys.argv[4] == "1":
    bad = ~np.isfinite(a).all(axis=(1, 2))
    ref[bad] = d[bad]
assert d.dtype == np.complex128 and d.shape == ref.shape
assert d[3] == 0 and ref[3] == 0, (d[3], ref[3])
assert d[6] == (1 + 1j) ** n, (d[6], (1 + 1j) ** n)
ok = np.isclose(d, ref, rtol=1e-10, atol=0, equal_nan=True)
bad = np.flatnonzero(~ok)
assert bad.size == 0, f"n={n}: items {bad[:5]}: {d[bad[:5]]} vs numpy {ref[bad[:5]]}"
print(f"n={n}: {d.size} complex determinants match numpy.linalg.det")
PY
done

# The seeds' own data as numpy makes it: int64, the batch on the last axis
# (items t[:, :, i]), in C and in Fortran order, float32 and big-endian too;
# --batch-axis -1 on every backend against numpy.linalg.det of each item.
$py - "$tmp" <<'PY' || exit 1
import sys, numpy as np
tmp = sys.argv[1]
rng = np.random.default_rng(3)
t = rng.integers(-5, 5, (12, 12, 500))
np.save(tmp + "/last_i8.npy", t)
np.save(tmp + "/last_f.npy", np.asfortranarray(t))
np.save(tmp + "/last_f4.npy", t.astype(">f4"))
np.save(tmp + "/mid.npy", np.moveaxis(t, 2, 1).astype(np.int16))  # (12, 500, 12)
np.save(tmp + "/ref.npy", np.array([np.linalg.det(t[:, :, i]) for i in range(t.shape[2])]))
PY
backends="serial openmp"
[ -x "${top_builddir:-.}/tests/test_fork" ] && backends="$backends fork"
for f in last_i8:-1 last_f:-1 last_f4:2 mid:1; do
  for b in $backends; do
    "$dets" --input "$tmp/${f%%:*}.npy" --batch-axis "${f#*:}" --backend $b \
      --workers 2 --output "$tmp/out_$b.npy" --verify >/dev/null || exit 1
  done
  $py - "$tmp" "$f" $backends <<'PY' || exit 1
import sys, numpy as np
tmp, f, backends = sys.argv[1], sys.argv[2], sys.argv[3:]
ref = np.load(tmp + "/ref.npy")
for b in backends:
    d = np.load(tmp + "/out_%s.npy" % b)
    assert d.shape == ref.shape, (b, d.shape)
    assert np.allclose(d, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max()), (f, b)
print("%s: %d determinants of the batch-last input match numpy on %s"
      % (f, ref.size, ", ".join(backends)))
PY
done
# A batch axis the file does not have is refused before any work.
"$dets" --input "$tmp/last_i8.npy" --batch-axis 3 2>"$tmp/err" && exit 1
grep -q "axis 3 is not one of this 3-d array's" "$tmp/err" || { cat "$tmp/err"; exit 1; }
# A refused shape says what would work.
$py -c 'import sys, numpy as np; np.save(sys.argv[1], np.eye(4)); np.save(sys.argv[2], np.zeros((4, 4, 3)))' "$tmp/one.npy" "$tmp/last.npy"
"$dets" --input "$tmp/one.npy" 2>"$tmp/err" && exit 1
grep -q "shape (1, N, N)" "$tmp/err" || { cat "$tmp/err"; exit 1; }
"$dets" --input "$tmp/last.npy" 2>"$tmp/err" && exit 1
grep -q "batch-axis" "$tmp/err" || { cat "$tmp/err"; exit 1; }
exit 0
