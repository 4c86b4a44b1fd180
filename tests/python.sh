#!/bin/sh
# The Python package (python/parkit) against numpy and scipy on the build
# tree's shared library: pytest on serial, openmp and fork, then, where
# mpirun and the mpi backend are there, python/tests/mpi_script.py on 4
# ranks.  Skipped (77) without Debian's numpy, scipy, cffi and pytest, or
# without a shared library that it can load.
set -u
b="${top_builddir:-.}"
s="${srcdir:-${top_srcdir:-.}}"
# Debian's python3-numpy and friends are for /usr/bin/python3, whatever
# else is first on PATH.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
for m in numpy scipy cffi pytest; do
  $py -c "import $m" 2>/dev/null ||
    { echo "SKIP: $py has no $m (apt-get install python3-$m)"; exit 77; }
done
lib="$b/.libs/libparkit.so"
[ -e "$lib" ] || { echo "SKIP: no $lib (a --disable-shared build)"; exit 77; }
# A cross build's library (its tests run by an emulator) does not load
# into this machine's python.
. "$s/tests/foreign.sh"
if foreign "$lib" "$(command -v $py)"; then
  echo "SKIP: $lib is built for another machine than $py"
  exit 77
fi
# A sanitizer build's library loads only into programs started with its
# runtime first.
if command -v ldd >/dev/null 2>&1 && ldd "$lib" | grep -q 'lib[at]san'; then
  echo "SKIP: $lib is built with sanitizers; python cannot load it"
  exit 77
fi

PARKIT_LIB="$(cd "$b/.libs" && pwd)/libparkit.so"
PYTHONPATH="$(cd "$s/python" && pwd)"
# No bytecode or cache in the source tree (read-only under distcheck).
PYTHONDONTWRITEBYTECODE=1
export PARKIT_LIB PYTHONPATH PYTHONDONTWRITEBYTECODE

$py -m pytest -q -p no:cacheprovider "$s/python/tests" || exit 1

mpirun="${MPIRUN:-mpirun}"
command -v "$mpirun" >/dev/null 2>&1 || { echo "no mpirun: mpi script skipped"; exit 0; }
$py -c 'import sys, parkit; sys.exit("mpi" not in parkit.backends())' ||
  { echo "no mpi backend: mpi script skipped"; exit 0; }
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
timeout 300 "$mpirun" --oversubscribe --bind-to none -n 4 \
  -x PARKIT_LIB -x PYTHONPATH -x PYTHONDONTWRITEBYTECODE \
  $py "$s/python/tests/mpi_script.py"
rc=$?
[ $rc -eq 124 ] && { echo "FAIL: mpi_script.py timed out (a hang?)"; exit 1; }
[ $rc -eq 0 ] || { echo "FAIL: mpi_script.py on 4 ranks (exit $rc)"; exit 1; }
echo "python.sh: all passed"
