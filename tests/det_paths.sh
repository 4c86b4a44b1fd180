#!/bin/sh
# The dets program's checks (the same bits on every backend and worker
# count, numpy's values) on each instruction-set path this CPU runs that is
# narrower than its widest, which the other tests use: PARKIT_ISA forces it.
set -u
srcdir="${top_srcdir:-.}"
dets="${top_builddir:-.}/examples/dets"
ran=""
for isa in generic avx2 avx512; do
  if ! PARKIT_ISA=$isa "$dets" --count 1 --n 3 >/dev/null 2>&1; then
    echo "$isa: not on this CPU; checked that it is refused with a reason"
    PARKIT_ISA=$isa "$dets" --count 1 --n 3 --pk-verbose 2>&1 | grep -q "widest is" ||
      { echo "FAIL: PARKIT_ISA=$isa refused without naming what the CPU has"; exit 1; }
    continue
  fi
  [ "$isa" = "$(PARKIT_ISA=auto "$dets" --count 1 --n 3 --pk-verbose 2>&1 |
    sed -n 's/.*instruction set \([a-z0-9]*\).*/\1/p')" ] && continue
  echo "path $isa:"
  PARKIT_ISA=$isa sh "$srcdir/tests/dets.sh" || exit 1
  PARKIT_ISA=$isa sh "$srcdir/tests/numpy_det.sh"
  rc=$?
  [ $rc -eq 0 ] || [ $rc -eq 77 ] || exit 1
  ran="$ran $isa"
done
PARKIT_ISA=nonesuch "$dets" --count 1 --n 3 --pk-verbose 2>&1 | grep -q "auto, generic, avx2, avx512" ||
  { echo "FAIL: an unknown PARKIT_ISA is not refused with the list of paths"; exit 1; }
echo "det_paths.sh: all passed (narrower paths:${ran:- none})"
