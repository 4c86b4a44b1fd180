#!/bin/sh
# test_det (every path, sizes across every switch point, against LAPACK
# and closed forms) once more under each kind of OpenBLAS kernel this CPU
# runs, forced with OPENBLAS_CORETYPE: where the middle path hands over to
# dgetrf depends on how wide OpenBLAS's vectors are against the path's.
set -u
t="${top_builddir:-.}/tests/test_det"
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
if [ -z "$flags" ]; then
  echo "det_blas.sh: not an x86 CPU: OpenBLAS's kernel kinds are x86 ones"
  exit 77
fi
ran=""
for core in Prescott Haswell SkylakeX; do
  case $core in
    Prescott) need=pni ;; # SSE3, as Linux names it
    Haswell) need=avx2 ;;
    SkylakeX) need=avx512f ;;
  esac
  case " $flags " in
    *" $need "*) ;;
    *) continue ;;
  esac
  OPENBLAS_CORETYPE=$core "$t" >/dev/null 2>&1 ||
    { echo "FAIL: test_det with OPENBLAS_CORETYPE=$core"; exit 1; }
  ran="$ran $core"
done
echo "det_blas.sh: test_det passed with OpenBLAS kernels:$ran"
