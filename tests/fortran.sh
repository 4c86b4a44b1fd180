#!/bin/sh
# The Fortran module: tests/fortran_check on every instruction-set path
# this CPU runs (serial), on serial, openmp and fork, and,
# where it was built with MPI's Fortran compiler, on 4 ranks split into two
# communicators passed by their Fortran handles.  Skipped (77) where the
# check program was not built (no gfortran, a sanitizer build).
set -u
b="${top_builddir:-.}"
prog="$b/tests/fortran_check"
[ -x "$prog" ] || { echo "no tests/fortran_check: skipped"; exit 77; }
backends="serial openmp"
grep -q 'PK_HAVE_FORK_BACKEND 1' "$b/config.h" && backends="$backends fork"
"$prog" isa $backends || exit 1
# The example program runs and says what it did.
for be in $backends; do
  "$b/examples/dets_f" "$be" 500 | grep -q "backend $be" ||
    { echo "FAIL: examples/dets_f $be"; exit 1; }
done
if [ -f "$prog.mpi" ] && command -v "${MPIRUN:-mpirun}" >/dev/null; then
  timeout 300 "${MPIRUN:-mpirun}" --oversubscribe --bind-to none -n 4 "$prog" mpi ||
    exit 1
fi
exit 0
