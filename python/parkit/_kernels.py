"""Errors, kernels and the passage of numpy arrays to C."""
import os
import re
import threading

import cffi
import numpy as np

from ._ffi import ffi, lib, STATUS_NAMES, MAX_DIMS

_DTYPES = {lib.PK_F64: np.dtype(np.float64),
           lib.PK_C128: np.dtype(np.complex128)}
_CODES = {v: k for k, v in _DTYPES.items()}
_SCHEDULES = {None: 0, "auto": 0, "block": 1, "cyclic": 2, "dynamic": 3}
_SCHEDULE_NAMES = {v: k for k, v in _SCHEDULES.items() if k}
_INLINE = {None: 0, "auto": 0, "never": 1, "always": 2, False: 1, True: 2}
_OPS = {"sum": lib.PK_SUM, "prod": lib.PK_PROD, "min": lib.PK_MIN,
        "max": lib.PK_MAX}
# How often a wait for a running map returns to Python, which then sees
# Ctrl-C and runs signal handlers.
_POLL = 0.1
# A fork map the kernel's cost model puts above this many seconds a worker
# (or of unknown cost) runs through a future, waited on in steps of _POLL.
# Shorter ones go through pk_map, which times them and may run them inline
# (a future does neither).
_LONG = 0.05


def _str(p):
    return ffi.string(p).decode("utf-8", "replace") if p != ffi.NULL else ""


class ParkitError(Exception):
    """A call into the library failed.

    status: the status's name, such as "PK_EKERNEL"; strerror: its text
    ("kernel failed on some items"); code: its value; message: the
    library's sentence (pk_errmsg); failed: the indices of the items that
    did not complete (pk_failed), for PK_EKERNEL and PK_EWORKER; result:
    for those two, the output with every other item computed, else None.
    """

    def __init__(self, code, message="", failed=(), result=None):
        self.code = int(code)
        self.status = STATUS_NAMES.get(self.code, "status %d" % self.code)
        self.strerror = _str(lib.pk_strerror(self.code))
        self.message = message or self.strerror
        self.failed = list(failed)
        self.result = result
        super().__init__("%s [%s: %s]" % (self.message, self.status,
                                          self.strerror))


def _failed(ptr, n):
    return [int(ptr[i]) for i in range(n[0])] if ptr != ffi.NULL else []


# ------------------------------------------------------------------ kernels

_load_lock = threading.Lock()
_loaded = {}  # realpath -> (ffi, lib, names declared)


class Kernel:
    """A kernel table (pk_kernel), and what keeps it valid.

    Made by kernel() for the built-in kernels and by load_kernel() for a
    user's; pass it to Context.map.
    """

    def __init__(self, ptr, keep=None):
        if ptr == ffi.NULL:
            raise ValueError("the kernel function returned NULL")
        self._ptr = ffi.cast("const pk_kernel *", ptr)
        self._keep = keep      # the library the table lives in
        self.name = _str(self._ptr.name)
        self.nin = max(self._ptr.nin, 1)    # inputs an item takes
        self.nout = max(self._ptr.nout, 1)  # outputs it makes

    def __repr__(self):
        return "<parkit.Kernel %r>" % self.name

    def output(self, dtype, shape):
        """The output item (dtype, shape) for an input item of float64 or
        complex128 dtype and the given shape (no batch axis), by the
        kernel's shape function; raises ParkitError if it refuses."""
        code = _CODES.get(np.dtype(dtype))
        if code is None:
            raise TypeError("kernels take float64 or complex128 items")
        if len(shape) > MAX_DIMS - 1:
            raise ValueError("an item has at most %d dimensions"
                             % (MAX_DIMS - 1))
        st, res, msg = self._shape(code, shape)
        if st != lib.PK_OK:
            raise ParkitError(st, "kernel %s: %s" % (self.name, msg))
        return res

    def _shape(self, code, shape):
        st, res, msg = self._shape_n([(code, shape)])
        return st, res[0] if res else None, msg

    def _shape_n(self, items):
        """The kernel's shape check of one item of each input, items a
        list of (dtype code, shape): (status, [(dtype, shape) of each
        output] or None, message)."""
        inp = ffi.new("pk_item[]", max(len(items), 1))
        out = ffi.new("pk_item[]", self.nout)
        msg = ffi.new("char[512]")
        for k, (code, shape) in enumerate(items):
            inp[k].dtype = code
            inp[k].ndim = len(shape)
            for i, d in enumerate(shape):
                inp[k].shape[i] = d
        st = self._ptr.shape(self._ptr, inp, out, msg, 512)
        if st != lib.PK_OK:
            return st, None, _str(msg) or _str(lib.pk_strerror(st))
        res = []
        for o in out:
            if o.dtype not in _DTYPES or not 0 <= o.ndim < MAX_DIMS:
                return lib.PK_ESHAPE, None, "bad output item"
            res.append((_DTYPES[o.dtype],
                        tuple(o.shape[i] for i in range(o.ndim))))
        return st, res, ""


_BUILTIN = {
    "det": lib.pk_kernel_det, "slogdet": lib.pk_kernel_slogdet,
    "fft2": lib.pk_kernel_fft2, "ifft2": lib.pk_kernel_ifft2,
    "rfft2": lib.pk_kernel_rfft2, "irfft2": lib.pk_kernel_irfft2,
}
_METHODS = {"auto": lib.PK_AUTOCORR_AUTO, "direct": lib.PK_AUTOCORR_DIRECT,
            "fft": lib.PK_AUTOCORR_FFT}


_MODES = {"full": lib.PK_MODE_FULL, "valid": lib.PK_MODE_VALID,
          "same": lib.PK_MODE_SAME}
_PAIRS = {"correlate2d": lib.pk_kernel_correlate2d,
          "convolve2d": lib.pk_kernel_convolve2d}


def kernel(name, method=None, mode=None):
    """A built-in kernel: "det", "slogdet", "fft2", "ifft2", "rfft2",
    "irfft2" or "autocorr2d" (method "auto", "direct" or "fft"), or one of
    two inputs for Context.starmap: "correlate2d" or "convolve2d" (mode
    "full", "valid" or "same", as scipy.signal's; method as above)."""
    if name in _PAIRS:
        m = "auto" if method is None else method
        md = "full" if mode is None else mode
        if m not in _METHODS:
            raise ValueError("%s's method is 'auto', 'direct' or 'fft', "
                             "not %r" % (name, method))
        if md not in _MODES:
            raise ValueError("%s's mode is 'full', 'valid' or 'same', "
                             "not %r" % (name, mode))
        return Kernel(_PAIRS[name](_MODES[md], _METHODS[m]))
    if mode is not None:
        raise ValueError("kernel %r takes no mode" % name)
    if name == "autocorr2d":
        m = "auto" if method is None else method
        if m not in _METHODS:
            raise ValueError("autocorr2d's method is 'auto', 'direct' or "
                             "'fft', not %r" % (method,))
        return Kernel(lib.pk_kernel_autocorr2d(_METHODS[m]))
    if name not in _BUILTIN:
        raise ValueError("no built-in kernel %r (there are %s)" % (
            name, ", ".join(sorted(list(_BUILTIN) + ["autocorr2d"] +
                                   list(_PAIRS)))))
    if method is not None:
        raise ValueError("kernel %r takes no method" % name)
    return Kernel(_BUILTIN[name]())


def load_kernel(path, name):
    """The kernel that `const pk_kernel *name(void)`, exported by the shared
    library at path, returns.  The library stays loaded for the process.

    A kernel may be loaded before or after making a Context: the fork
    backend's workers load the library themselves when a map first needs
    it.  Its data, passed by pointer (data_size 0), must then be read-only
    in the library (a const table); writable data is refused, with a
    message, by workers that did not see it when they were made.
    """
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise ValueError("%r is not a C function name" % (name,))
    real = os.path.realpath(path)
    with _load_lock:
        if real not in _loaded:
            f = cffi.FFI()
            l = f.dlopen(real)
            _loaded[real] = (f, l, set())
        f, l, names = _loaded[real]
        if name not in names:
            f.cdef("const void *%s(void);" % name)
            names.add(name)
    try:
        fn = getattr(l, name)
    except AttributeError:
        raise ValueError("%s has no function %s" % (path, name)) from None
    p = fn()
    return Kernel(ffi.cast("const pk_kernel *", int(f.cast("uintptr_t", p))),
                  keep=l)


# ------------------------------------------------------------------- arrays

def _convertible(dt):
    k, n = dt.kind, dt.itemsize
    return ((k == "b" and n == 1) or (k in "iu" and n in (1, 2, 4, 8)) or
            (k == "f" and n in (2, 4, 8)) or (k == "c" and n in (8, 16)))


def _target(dt):
    return np.dtype(np.complex128 if dt.kind == "c" else np.float64)


class _Arrays:
    """pk_arrays of one call and the Python objects their memory needs.

    Destroyed (after any future that uses them) before the context may be
    finalized."""

    def __init__(self):
        self.pp = []    # pk_array ** to destroy
        self.keep = []  # numpy arrays and buffers the arrays wrap

    def new(self):
        pp = ffi.new("pk_array **")
        self.pp.append(pp)
        return pp

    def destroy(self):
        while self.pp:
            lib.pk_array_destroy(self.pp.pop())
        self.keep = []


def _view(arr):
    """A numpy copy of a pk_array the library made."""
    dt = _DTYPES[lib.pk_array_dtype(arr)]
    shape = tuple(lib.pk_array_dim(arr, i)
                  for i in range(lib.pk_array_ndim(arr)))
    n = lib.pk_array_nbytes(arr)
    if n == 0:
        return np.empty(shape, dt)
    buf = ffi.buffer(lib.pk_array_data(arr), n)
    return np.frombuffer(buf, dt).reshape(shape).copy()
