#!/bin/sh
# The fork backend's tests under valgrind memcheck: no invalid access and no
# definite leak in the parent (the workers are separate processes, forked
# from it, and end with _exit).  Skipped (77) without valgrind, or in a
# cross build.
set -u
command -v valgrind >/dev/null 2>&1 || { echo "no valgrind: skipped"; exit 77; }
t="${top_builddir:-.}/tests/test_fork"
[ -x "$t" ] || { echo "no fork backend: skipped"; exit 77; }
# A cross build's program (run here by an emulator) is not valgrind's to run.
. "${top_srcdir:-.}/tests/foreign.sh"
if foreign "$t" /bin/sh; then
  echo "$t is built for another machine: skipped"
  exit 77
fi
exec valgrind --quiet --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --trace-children=no --child-silent-after-fork=yes "$t"
