#!/bin/sh
# make check-aarch64: the distribution in $1 (make distdir) built for
# aarch64 with Debian's cross compiler and its test suite run under
# qemu-user, on an x86-64 Debian machine.  There det's portable path is
# NEON code and the fork backend runs without x86's pause and time stamp
# counter.  Not part of check-all: it installs a foreign architecture.
#
# What it installs (as root, or with sudo): gcc-aarch64-linux-gnu,
# qemu-user and Debian's arm64 builds of OpenBLAS, LAPACKE, FFTW and
# cmocka (dpkg --add-architecture arm64).  It registers qemu-aarch64 with
# binfmt_misc for the run when nothing has, and takes it away after.  The
# build has no mpi backend (no mpirun to run arm64 ranks here) and no
# Fortran module; the python and valgrind tests skip themselves (this
# machine's python and valgrind are x86-64's).  Left out, as what they
# check does not hold under qemu-user 7.2: test_core (its BLAS-pool test
# forks a threaded process, on which qemu asserts; its inline-rule test
# times a first call, which qemu spends translating code) and
# fork_server.sh (a child's server starts only where the process has no
# threads of its own, and qemu adds one).
set -eu
dist=$1
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

sh "$dist/setup.sh" --install gcc-aarch64-linux-gnu qemu-user \
  libopenblas-dev:arm64 liblapacke-dev:arm64 libfftw3-dev:arm64 \
  libcmocka-dev:arm64

fmt=/proc/sys/fs/binfmt_misc
registered=""
if [ ! -e $fmt/qemu-aarch64 ]; then
  [ -e $fmt/register ] || $sudo mount -t binfmt_misc binfmt_misc $fmt
  # An ELF executable or shared object for machine 0xb7 (aarch64), run by
  # qemu-aarch64; its libraries come from Debian's multiarch /lib.
  printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64:' |
    $sudo tee $fmt/register >/dev/null
  registered=yes
fi
unregister() {
  [ -z "$registered" ] || echo -1 | $sudo tee $fmt/qemu-aarch64 >/dev/null
}
trap unregister EXIT

cd "$dist"
PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
  ./configure --quiet --host=aarch64-linux-gnu --without-mpi \
  --disable-fortran PYTHON=:
make -j"$(nproc)" >/dev/null
tests=""
for t in $(make -s list-tests); do
  case $t in
    tests/test_core | tests/fork_server.sh) ;;
    *) tests="$tests $t" ;;
  esac
done
make check VERBOSE=yes TESTS="$tests"
