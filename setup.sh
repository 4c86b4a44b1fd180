#!/bin/sh
# Install what parkit needs (Debian 12), then configure and build it.
#   ./setup.sh            install missing packages, configure, make
#   PARKIT_CONFIGURE_FLAGS="--without-mpi" ./setup.sh   extra configure flags
set -eu
cd "$(dirname "$0")"

packages="build-essential autoconf automake libtool pkg-config
  libopenmpi-dev openmpi-bin libopenblas-dev liblapacke-dev
  libfftw3-dev libfftw3-mpi-dev libcmocka-dev
  python3-numpy python3-scipy gnuplot-nox valgrind clang iproute2 util-linux
  gfortran python3-dev python3-cffi python3-pytest"

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
  echo "setup: autoreconf"
  autoreconf -fi >/dev/null
fi
if [ ! -f Makefile ] || [ configure -nt config.status ]; then
  echo "setup: configure"
  # shellcheck disable=SC2086
  ./configure --quiet ${PARKIT_CONFIGURE_FLAGS:-}
fi
echo "setup: make"
make -j"$(nproc)" >/dev/null
echo "setup: done"
