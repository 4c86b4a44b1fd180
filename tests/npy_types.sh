#!/bin/sh
# Every number type numpy saves, in either byte order and either memory
# order, read by pk_array_load_npy and by pk_mpi_load_npy on 1 to 3 ranks:
# the values must be numpy's own astype(float64) or astype(complex128), bit
# for bit, in C order; other types (strings, objects, records, datetimes,
# extended precision) are refused with a message that says what to do.
# Skipped (77) without numpy.
set -u
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
$py -c 'import numpy' 2>/dev/null || { echo "numpy not installed: skipped"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="${TMPDIR:-/tmp}/parkit-npytypes-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
mpirun=
if [ -x "${top_builddir:-.}/tests/test_mpi" ] && command -v mpirun >/dev/null; then
  mpirun="mpirun --oversubscribe"
fi
$py - "$tmp" "${top_builddir:-.}/tests/npy_load" "$mpirun" <<'PY'
import os, subprocess, sys
import numpy as np
tmp, loader, mpirun = sys.argv[1], sys.argv[2], sys.argv[3]
rng = np.random.default_rng(7)

types = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8",
         "f2", "f4", "f8", "c8", "c16"]
shapes = [(7,), (3, 4), (5, 2, 3), (2, 3, 1, 4), (0, 3), (1, 1)]
cases = []
for t in types:
    for order in "<>":
        for shape in shapes:
            dt = np.dtype(t).newbyteorder(order) if np.dtype(t).itemsize > 1 else np.dtype(t)
            if dt.kind == "b":
                a = rng.integers(0, 2, shape).astype(dt)
            elif dt.kind in "iu":
                info = np.iinfo(dt)
                a = rng.integers(info.min, info.max, shape, dtype=np.int64 if dt.kind == "i" else np.uint64, endpoint=True).astype(dt)
                if a.size >= 3:  # the extremes: 2^63 - 1 rounds, as astype does
                    a.flat[0], a.flat[1] = info.min, info.max
            else:
                a = (rng.standard_normal(shape) * 1e3).astype(dt)
                if dt.kind == "c":
                    a = a + 1j * (rng.standard_normal(shape) * 10).astype(dt)
                if a.size >= 4:
                    a.flat[0], a.flat[1], a.flat[2] = np.nan, np.inf, -0.0
                    a.flat[3] = np.finfo(dt if dt.kind == "f" else np.dtype("f%d" % (dt.itemsize // 2))).tiny
            for fortran in (False, True):
                b = np.asfortranarray(a) if fortran else np.ascontiguousarray(a)
                name = "%d.npy" % len(cases)
                np.save(os.path.join(tmp, name), b)
                cases.append((name, b))
bad = 0
def compare(out, label):
    global bad
    for i, (name, a) in enumerate(cases):
        want = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
        path = os.path.join(out, "%d.npy" % i)
        if not os.path.exists(path):
            print("FAIL %s: %s %s %s not read" % (label, a.dtype.str, a.shape, "F" if np.isfortran(a) else "C"))
            bad += 1
            continue
        got = np.load(path)
        if (got.dtype != want.dtype or got.shape != want.shape or not got.flags.c_contiguous
                or np.ascontiguousarray(want).tobytes() != got.tobytes()):
            print("FAIL %s: %s %s %s differs from numpy's astype" % (label, a.dtype.str, a.shape, "F" if np.isfortran(a) else "C"))
            bad += 1

names = [os.path.join(tmp, n) for n, _ in cases]
out = os.path.join(tmp, "serial")
os.mkdir(out)
r = subprocess.run([loader, "--save", out] + names, capture_output=True, text=True)
if r.returncode != 0:
    print(r.stdout, r.stderr); sys.exit(1)
compare(out, "pk_array_load_npy")
if mpirun:
    for ranks in (1, 2, 3):
        out = os.path.join(tmp, "mpi%d" % ranks)
        os.mkdir(out)
        r = subprocess.run(mpirun.split() + ["-n", str(ranks), loader, "--mpi", "--save", out] + names,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            print(r.stdout, r.stderr); sys.exit(1)
        compare(out, "pk_mpi_load_npy on %d ranks" % ranks)

# Refused, each with a hint of what to do.
refused = {"U": np.array(["ab", "cd"]), "M8": np.array(["2020-01-01"], "M8[D]"),
           "rec": np.zeros(3, [("x", "f8"), ("y", "i4")]), "g": np.zeros(3, np.longdouble),
           "G": np.zeros(3, np.clongdouble), "0d": np.zeros(())}
paths = []
for k, a in refused.items():
    p = os.path.join(tmp, "r_%s.npy" % k)
    np.save(p, a)
    paths.append((k, p))
r = subprocess.run([loader] + [p for _, p in paths], capture_output=True, text=True)
for (k, _), line in zip(paths, r.stdout.split("\n")):
    hint = "batch axis" if k == "0d" else ("a['name']" if k == "rec" else "astype")
    if not line.startswith("refused") or hint not in line:
        print("FAIL: %s: %s" % (k, line))
        bad += 1
print("npy_types.sh: %d arrays of %d types%s, %d wrong" % (len(cases), len(types), ", also on 1-3 ranks" if mpirun else "", bad))
sys.exit(1 if bad else 0)
PY
