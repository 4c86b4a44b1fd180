#!/bin/sh
# Install what parkit needs (Debian 12), then configure and build it.
#   ./setup.sh            install missing packages, configure, make
#   PARKIT_CONFIGURE_FLAGS="--without-mpi" ./setup.sh   extra configure flags
#   ./setup.sh --install PACKAGE...   only install those of PACKAGE... that
#                         are missing (NAME:ARCH adds that architecture)
set -eu
cd "$(dirname "$0")"

# install_missing LABEL PACKAGE...: apt-get install of the packages not
# installed yet, as root or with sudo; a foreign NAME:ARCH first has dpkg
# take ARCH.
install_missing() {
  label=$1
  shift
  missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
      missing="$missing $p"
  done
  [ -n "$missing" ] || return 0
  echo "$label: installing$missing"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  for p in $missing; do
    case $p in
      *:*)
        arch=${p#*:}
        [ "$arch" = "$(dpkg --print-architecture)" ] ||
          dpkg --print-foreign-architectures | grep -qx "$arch" ||
          $sudo dpkg --add-architecture "$arch"
        ;;
    esac
  done
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
}

if [ "${1:-}" = "--install" ]; then
  shift
  install_missing setup "$@"
  exit 0
fi

packages="build-essential autoconf automake libtool pkg-config
  libopenmpi-dev openmpi-bin libopenblas-dev liblapacke-dev
  libfftw3-dev libfftw3-mpi-dev libcmocka-dev
  python3-numpy python3-scipy gnuplot-nox valgrind clang iproute2 util-linux
  gfortran python3-dev python3-cffi python3-pytest"

# shellcheck disable=SC2086
install_missing setup $packages

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
