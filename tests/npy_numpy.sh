#!/bin/sh
# The .npy header reader against numpy's own loader on the same bytes:
# headers numpy writes, and hand-made ones (decoy keys inside strings,
# duplicated and missing keys, Falsey, trailing garbage, bad tuples, huge
# counts).  Where numpy refuses, parkit must refuse; where numpy reads an
# array of numbers of 1 to 4 dimensions, parkit must
# read the same shape (any number type, either order: tests/npy_types.sh
# checks the values); other arrays numpy reads (0-d) parkit refuses with a
# reason.  Skipped (77) without numpy.
set -u
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
$py -c 'import numpy' 2>/dev/null || { echo "numpy not installed: skipped"; exit 77; }
tmp="${TMPDIR:-/tmp}/parkit-npynp-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
$py - "$tmp" "${top_builddir:-.}/tests/npy_load" <<'PY'
import os, struct, subprocess, sys
import numpy as np
tmp, loader = sys.argv[1], sys.argv[2]

def raw(name, header, payload=b"\0" * 80, version=1):
    h = header.encode("latin1")
    pad = 64 - (10 + len(h) + 1) % 64 if version == 1 else 64 - (12 + len(h) + 1) % 64
    h = h + b" " * (pad % 64) + b"\n"
    pre = b"\x93NUMPY" + bytes([version, 0])
    pre += struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    with open(os.path.join(tmp, name), "wb") as f:
        f.write(pre + h + payload)

files = []
def add(name):
    files.append(name)

# What numpy writes.
for i, a in enumerate([np.zeros((5,)), np.zeros((3, 4, 4)), np.zeros((2, 1, 1, 3)),
                       np.zeros((0, 3)), np.zeros((2, 2), np.complex128),
                       np.zeros((2, 2), np.float32), np.zeros((2, 2), np.int64),
                       np.asfortranarray(np.zeros((2, 3))), np.zeros(()),
                       np.zeros((1, 1, 1, 1, 2))]):
    np.save(os.path.join(tmp, "np%d.npy" % i), a)
    add("np%d.npy" % i)
ok = "'descr': '<f8', 'fortran_order': False, 'shape': (2, 5), "
hand = {
    "order": "{'shape': (2, 5), 'fortran_order': False, 'descr': '<f8'}",
    "dquote": '{"descr": "<f8", "fortran_order": False, "shape": (2, 5)}',
    "spaces": "  {  'descr' : '<f8' ,'fortran_order':False,'shape':( 2 ,5 ),}",
    "one": "{'descr': '<f8', 'fortran_order': False, 'shape': (10,)}",
    "decoy": "{'descr': '<f8', 'x': \"'shape': (1,)\", 'fortran_order': False, 'shape': (2, 5)}",
    "decoy2": "{'descr': \"<f8', 'shape': (1,), '\", 'fortran_order': False, 'shape': (2, 5)}",
    "dup": "{" + ok + "'shape': (2, 5)}",
    "dup2": "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 5)}",
    "missing": "{'descr': '<f8', 'fortran_order': False}",
    "missing2": "{'descr': '<f8', 'shape': (2, 5)}",
    "extra": "{" + ok + "'extra': 1}",
    "falsey": "{'descr': '<f8', 'fortran_order': Falsey, 'shape': (2, 5)}",
    "false_lc": "{'descr': '<f8', 'fortran_order': false, 'shape': (2, 5)}",
    "zero": "{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 5)}",
    "true_str": "{'descr': '<f8', 'fortran_order': 'False', 'shape': (2, 5)}",
    "garbage": "{" + ok + "} x",
    "garbage2": "{" + ok + "}}",
    "nobrace": ok,
    "noclose": "{" + ok,
    "nocomma": "{'descr': '<f8' 'fortran_order': False, 'shape': (2, 5)}",
    "int": "{'descr': '<f8', 'fortran_order': False, 'shape': (10)}",
    "list": "{'descr': '<f8', 'fortran_order': False, 'shape': [2, 5]}",
    "neg": "{'descr': '<f8', 'fortran_order': False, 'shape': (-2, -5)}",
    "float": "{'descr': '<f8', 'fortran_order': False, 'shape': (2.0, 5)}",
    "emptyel": "{'descr': '<f8', 'fortran_order': False, 'shape': (2,, 5)}",
    "huge": "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999, 5)}",
    "huge2": "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000000000)}",
    "descr_int": "{'descr': 8, 'fortran_order': False, 'shape': (2, 5)}",
    "descr_bad": "{'descr': '<f9', 'fortran_order': False, 'shape': (2, 5)}",
    "key_nostr": "{descr: '<f8', 'fortran_order': False, 'shape': (2, 5)}",
    "colon": "{'descr' '<f8', 'fortran_order': False, 'shape': (2, 5)}",
    "empty": "{}",
    "nothing": "",
    "short": "{'descr': '<f8', 'fortran_order': False, 'shape': (200, 5)}",
    "v2": None,
}
for name, h in hand.items():
    if name == "v2":
        raw("v2.npy", "{" + ok + "}", version=2)
    else:
        raw(name + ".npy", h)
    add(name + ".npy")

out = subprocess.run([loader] + [os.path.join(tmp, f) for f in files],
                     capture_output=True, text=True, check=True).stdout.split("\n")
bad = 0
for f, got in zip(files, out):
    try:
        a = np.load(os.path.join(tmp, f), allow_pickle=False)
        want = "x".join(str(d) for d in a.shape)
        fits = (a.dtype.kind in "biu" or (a.dtype.kind in "fc" and a.dtype.itemsize <= 16
                and a.dtype != np.longdouble)) and 1 <= a.ndim <= 4
        expect = "ok " + want if fits else "refused"
    except Exception as e:
        expect = "refused"
    if not got.startswith(expect):
        print("FAIL: %s: numpy says %s, parkit %s" % (f, expect, got))
        bad += 1
print("npy_numpy.sh: %d files, %d disagree with numpy" % (len(files), bad))
sys.exit(1 if bad else 0)
PY
