#!/bin/sh
# The fork backend's tests and the core tests again with every worker made
# by the fork server (PARKIT_START=forkserver), as a threaded program gets
# them by default: workers that inherit nothing from the program but what
# the library hands them.
set -u
b="${top_builddir:-.}/tests"
[ -x "$b/test_fork" ] || { echo "no fork backend: skipped"; exit 77; }
PARKIT_START=forkserver "$b/test_fork" || exit 1
PARKIT_START=forkserver "$b/test_core" || exit 1
PARKIT_START=forkserver "$b/test_map_n" || exit 1
exit 0
