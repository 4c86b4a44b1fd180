#!/bin/sh
# san_build.sh OUT MAIN CC [FLAGS...]: MAIN and the library's sources built
# into OUT with one compiler command (a sanitizer's), for fuzz-npy and
# test-threads-tsan (Makefile.am).  From the environment: SRCDIR, the
# source tree; LIB_SOURCES, the library's sources below it (its .c files
# are compiled); SAN_AVX2 and SAN_AVX512, the flags of those instruction
# sets (empty where configure found none); SAN_LIBS, what to link.  det's
# and correlate's vector paths are compiled apart, each at its own width
# with its own flags, as the library builds them.
set -e
out=$1 main=$2
shift 2
objs=
for f in det corr; do
  "$@" -c -DVL=2 -DISA=generic "$SRCDIR/kernels/${f}_simd.c" \
    -o "$out-$f-generic.o"
  objs="$objs $out-$f-generic.o"
  if test -n "$SAN_AVX2"; then
    "$@" -c -DVL=4 -DISA=avx2 $SAN_AVX2 "$SRCDIR/kernels/${f}_simd.c" \
      -o "$out-$f-avx2.o"
    objs="$objs $out-$f-avx2.o"
  fi
  if test -n "$SAN_AVX512"; then
    "$@" -c -DVL=8 -DISA=avx512 $SAN_AVX512 "$SRCDIR/kernels/${f}_simd.c" \
      -o "$out-$f-avx512.o"
    objs="$objs $out-$f-avx512.o"
  fi
done
srcs=
for s in $LIB_SOURCES; do
  case $s in *.c) srcs="$srcs $SRCDIR/$s" ;; esac
done
status=0
"$@" "$main" $srcs $objs -o "$out" $SAN_LIBS || status=$?
rm -f $objs
exit $status
