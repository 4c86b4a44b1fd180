#!/bin/sh
# examples/correlate against scipy.signal.correlate2d and convolve2d on
# held-out shapes (1x1, 1xN, odd and even, a kernel image larger than the
# images, 'valid' with the pair swapped as scipy swaps it), integer and real
# images, one kernel image for all or one per image, every mode, the
# methods in turn, on serial, openmp and fork, and on 3 MPI ranks (every
# 21st run), the instruction-set paths this CPU has in turn (PARKIT_ISA:
# the direct sums are vector code of each): integers must be
# exact (auto and direct always; fft where its bound holds, as here), reals
# within rounding.  A pair that is valid in no direction is refused with a
# message, as scipy refuses it.  Skipped (77) without scipy.
set -u
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
$py -c 'import scipy.signal' 2>/dev/null || { echo "scipy not installed: skipped"; exit 77; }
b="${top_builddir:-.}"
tmp="${TMPDIR:-/tmp}/parkit-corr-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=
if grep -q 'PK_HAVE_MPI 1' "$b/config.h" && command -v "${MPIRUN:-mpirun}" >/dev/null; then
  mpi="${MPIRUN:-mpirun} --oversubscribe --bind-to none -n 3"
fi
backends="serial openmp"
grep -q 'PK_HAVE_FORK_BACKEND 1' "$b/config.h" && backends="$backends fork"
# The paths this build has and this CPU runs: the ones pk_init accepts.
isas=
for isa in generic avx2 avx512; do
  PARKIT_ISA=$isa "$b/examples/dets" --count 1 --n 3 >/dev/null 2>&1 && isas="$isas $isa"
done
$py - "$tmp" "$b/examples/correlate" "$backends" "$mpi" "$isas" <<'PY'
import itertools, os, subprocess, sys
import numpy as np, scipy.signal as ss
tmp, prog, backends, mpi = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4]
rng = np.random.default_rng(11)
isas = sys.argv[5].split()
assert isas, "no instruction-set path runs"
shapes = [((1, 1), (1, 1)), ((1, 9), (1, 3)), ((7, 1), (2, 1)), ((6, 8), (3, 3)),
          ((9, 7), (4, 2)), ((5, 5), (5, 5)), ((4, 6), (7, 9)), ((3, 8), (5, 2)),
          ((16, 15), (9, 9)), ((33, 30), (31, 31)),
          # the FFT's paired rows, a grid of 128 with aliased edges summed
          ((100, 100), (31, 31))]
runs = bad = 0
case = 0
for (s1, s2), conv, ints, pairs in itertools.product(
        shapes, (0, 1), (1, 0), (0, 1)):
    n = 7
    if ints:
        a = rng.integers(-9, 10, (n,) + s1).astype(np.float64)
        k = rng.integers(-4, 5, ((n if pairs else 1),) + s2).astype(np.float64)
    else:
        a = rng.standard_normal((n,) + s1)
        k = rng.standard_normal(((n if pairs else 1),) + s2)
    np.save(tmp + "/a.npy", a)
    np.save(tmp + "/k.npy", k)
    f = ss.convolve2d if conv else ss.correlate2d
    for mode in ("full", "valid", "same"):
        try:
            want = np.array([f(a[i], k[i if pairs else 0], mode) for i in range(n)])
        except ValueError:
            want = None
        # one method a case, in turn: each meets every shape and mode
        for method in (("auto", "direct", "fft")[case % 3],):
            case += 1
            be = backends[(case // 3) % len(backends)]
            cmd = [prog, "--input", tmp + "/a.npy", "--kernel", tmp + "/k.npy",
                   "--mode", mode, "--method", method,
                   "--output", tmp + "/out.npy"] + (["--convolve"] if conv else [])
            if mpi and case % 21 == 0:
                cmd = mpi.split() + cmd
                be = "mpi"
            else:
                cmd += ["--backend", be, "--workers", "2"]
            if os.path.exists(tmp + "/out.npy"):
                os.remove(tmp + "/out.npy")
            isa = isas[(case // 9) % len(isas)]
            env = dict(os.environ, PARKIT_ISA=isa)
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                               env=env)
            runs += 1
            what = "%s %s %s %s ints=%d pairs=%d %s %s" % (
                "conv" if conv else "corr", s1, s2, mode, ints, pairs, method,
                isa)
            if want is None:
                if r.returncode == 0 or "at least as large" not in r.stderr:
                    print("FAIL (%s): scipy refuses; parkit: %s" % (what, r.stderr.strip()))
                    bad += 1
                continue
            if r.returncode != 0:
                print("FAIL (%s on %s): %s" % (what, be, r.stderr.strip()))
                bad += 1
                continue
            got = np.load(tmp + "/out.npy")
            if ints:
                ok = got.shape == want.shape and np.array_equal(got, want)
            else:
                scale = max(1.0, np.abs(want).max()) if want.size else 1.0
                ok = got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=1e-12 * scale)
            if not ok:
                print("FAIL (%s on %s): shape %s vs %s, max diff %s" % (
                    what, be, got.shape, want.shape,
                    np.abs(got - want).max() if got.shape == want.shape else "-"))
                bad += 1
# Integers too large for the FFT's bound: auto still gives them exactly
# (scipy sums them directly), in full and same modes.
a = rng.integers(-2**20, 2**20, (5, 64, 60)).astype(np.float64)
k = rng.integers(-2**10, 2**10, (1, 31, 31)).astype(np.float64)
np.save(tmp + "/a.npy", a)
np.save(tmp + "/k.npy", k)
for mode, conv in (("full", 0), ("same", 1)):
    f = ss.convolve2d if conv else ss.correlate2d
    want = np.array([f(a[i], k[0], mode) for i in range(5)])
    cmd = [prog, "--input", tmp + "/a.npy", "--kernel", tmp + "/k.npy",
           "--mode", mode, "--output", tmp + "/out.npy"] + (["--convolve"] if conv else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    runs += 1
    if r.returncode != 0 or not np.array_equal(np.load(tmp + "/out.npy"), want):
        print("FAIL: large integers, %s, conv=%d: not exact" % (mode, conv))
        bad += 1
# Integers whose sums pass 2^53 (the long double sums): the exact integers
# (scipy's in int64) rounded once to float64.
a = rng.integers(-2**40, 2**40, (2, 40, 40))
k = rng.integers(-2**10, 2**10, (1, 31, 31))
np.save(tmp + "/a.npy", a.astype(np.float64))
np.save(tmp + "/k.npy", k.astype(np.float64))
want = np.array([ss.correlate2d(a[i], k[0], "full") for i in range(2)]).astype(np.float64)
r = subprocess.run([prog, "--input", tmp + "/a.npy", "--kernel", tmp + "/k.npy",
                    "--output", tmp + "/out.npy"], capture_output=True, text=True,
                   timeout=300)
runs += 1
if r.returncode != 0 or not np.array_equal(np.load(tmp + "/out.npy"), want):
    print("FAIL: integers past 2^53: not the exact ones rounded once")
    bad += 1
print("correlate_scipy.sh: %d runs, %d wrong" % (runs, bad))
sys.exit(1 if bad else 0)
PY
