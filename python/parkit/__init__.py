"""parkit: numerical kernels over batches of numpy arrays, in parallel.

    import parkit
    d = parkit.det(batch)                      # numpy.linalg.det, in parallel
    with parkit.Context(backend="fork", workers=4) as ctx:
        r = ctx.map(parkit.kernel("autocorr2d", "fft"), images)

The library (libparkit) does the work on one of four backends: serial,
openmp (threads), fork (a pool of processes over shared memory) and mpi.
It is found through PARKIT_LIB (a path), else where it was installed,
else by the dynamic linker.  Every call releases the GIL while the
library works.

Arrays go in without a copy when they are float64 or complex128, native
and C-ordered; other number types (bool, integers, float16/32, complex64,
either byte order, C or Fortran order) are converted as numpy's astype
would.  Outputs are numpy arrays the library writes into directly.  The
fork backend copies wrapped memory into its shared memory and back
(Context.last_stats["bytes_copied"] counts it).
"""
from ._core import Context
from ._future import Future
from ._kernels import Kernel, ParkitError, kernel, load_kernel
from ._ffi import ffi as _ffi, lib as _lib
from ._numpy import (autocorr2d, close_defaults, convolve2d, correlate2d,
                     default_context, det, fft2, ifft2, irfft2, rfft2,
                     slogdet)

__all__ = ["Context", "Future", "Kernel", "ParkitError", "kernel",
           "load_kernel", "backends", "det", "slogdet", "fft2", "ifft2",
           "rfft2", "irfft2", "autocorr2d", "correlate2d", "convolve2d",
           "default_context",
           "close_defaults"]

__version__ = "0.1.0"


def backends():
    """The backends compiled into the library, such as ["serial",
    "openmp", "fork", "mpi"]."""
    p = _lib.pk_backends()
    out, i = [], 0
    while p[i] != _ffi.NULL:
        out.append(_ffi.string(p[i]).decode())
        i += 1
    return out
