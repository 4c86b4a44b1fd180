"""numpy's functions, computed by parkit over a batch.

Each keeps one context per (backend, workers) for the process, so that
repeated calls do not start workers again; they are closed at exit.
"""
import atexit
import collections
import math
import os
import threading

import numpy as np

from ._core import Context
from ._kernels import kernel

_contexts = {}
_lock = threading.Lock()


def default_context(backend=None, workers=None):
    """The context the module's functions use for (backend, workers), made
    on first use and closed at exit."""
    key = (backend, workers)
    with _lock:
        ctx = _contexts.get(key)
        if ctx is None:
            ctx = _contexts[key] = Context(backend=backend, workers=workers)
        return ctx


def close_defaults():
    """Close the contexts default_context made; done at exit.  Collective
    under mpi, as every close."""
    with _lock:
        ctxs = list(_contexts.values())
        _contexts.clear()
    for c in ctxs:
        c.close()


def _forget():
    # A child of os.fork must not stop its parent's workers.
    _contexts.clear()


atexit.register(close_defaults)
os.register_at_fork(after_in_child=_forget)

_KERNELS = {}


def _kernel(name, method=None):
    k = _KERNELS.get((name, method))
    if k is None:
        k = _KERNELS[(name, method)] = kernel(name, method)
    return k


def _apply(name, a, backend, workers, batch_axis, method=None, keep=True):
    """Map kernel name over a as numpy would: the last two axes of the batch
    (after batch_axis is moved to the front) are the items, any before them
    the batch; a 2-D a is one item.  keep: put the batch axis back where it
    was when the output items have the input's dimensions."""
    a = np.asarray(a)
    if a.ndim < 2:
        raise ValueError("%s takes arrays of at least 2 dimensions, not %d"
                         % (name, a.ndim))
    ctx = default_context(backend, workers)
    k = _kernel(name, method)
    if a.ndim == 2:
        return ctx.map(k, a[np.newaxis])[0]
    if a.ndim == 3:
        # One batch axis: the library reads the items where they are.
        out = ctx.map(k, a, batch_axis=batch_axis)
    else:
        b = np.moveaxis(a, batch_axis, 0)
        lead = b.shape[:-2]
        # The count, not -1: numpy cannot infer it when items are empty.
        out = ctx.map(k, b.reshape((math.prod(lead),) + b.shape[-2:]))
        out = out.reshape(lead + out.shape[1:])
    if keep and out.ndim == a.ndim:
        out = np.moveaxis(out, 0, batch_axis)
    return out


_DOC = """
    backend, workers: the context's (see parkit.Context; None: parkit's
    defaults); batch_axis: the axis of a that numbers the items.  The items
    are the last two axes of a once batch_axis is at the front; axes before
    them are batch axes too, as in numpy; a 2-D array is one item.
"""


def det(a, backend=None, workers=None, batch_axis=0):
    return _apply("det", a, backend, workers, batch_axis)


# numpy 2's result type: a tuple whose fields are also named.
SlogdetResult = collections.namedtuple("SlogdetResult", "sign logabsdet")


def slogdet(a, backend=None, workers=None, batch_axis=0):
    r = _apply("slogdet", a, backend, workers, batch_axis, keep=False)
    # Copies, contiguous as numpy's; scalars for one item; log|det| is
    # real for complex matrices too (the kernel gives it + 0j).
    return SlogdetResult(np.array(r[..., 0])[()],
                         np.array(r[..., 1].real)[()])


def fft2(a, backend=None, workers=None, batch_axis=0):
    return _apply("fft2", a, backend, workers, batch_axis)


def ifft2(a, backend=None, workers=None, batch_axis=0):
    return _apply("ifft2", a, backend, workers, batch_axis)


def rfft2(a, backend=None, workers=None, batch_axis=0):
    return _apply("rfft2", a, backend, workers, batch_axis)


def irfft2(a, backend=None, workers=None, batch_axis=0):
    return _apply("irfft2", a, backend, workers, batch_axis)


def autocorr2d(a, method="auto", backend=None, workers=None, batch_axis=0):
    return _apply("autocorr2d", a, backend, workers, batch_axis, method)


def _pair(name, a, b, mode, method, backend, workers):
    """kernel name over the pairs (a[i], b[i]): each of a and b one h x w
    image (2-D) or a batch of them (3-D); one image is paired with every
    image of the other batch."""
    a, b = np.asarray(a), np.asarray(b)
    for x, which in ((a, "a"), (b, "b")):
        if x.ndim not in (2, 3):
            raise ValueError("%s takes images (2-D) or batches of them "
                             "(3-D); %s has %d dimensions"
                             % (name, which, x.ndim))
    k = kernel(name, method=method, mode=mode)
    ctx = default_context(backend, workers)
    one = a.ndim == 2 and b.ndim == 2
    out = ctx.starmap(k, [a[np.newaxis] if a.ndim == 2 else a,
                          b[np.newaxis] if b.ndim == 2 else b])
    return out[0] if one else out


def correlate2d(a, b, mode="full", method="auto", backend=None,
                workers=None):
    return _pair("correlate2d", a, b, mode, method, backend, workers)


def convolve2d(a, b, mode="full", method="auto", backend=None,
               workers=None):
    return _pair("convolve2d", a, b, mode, method, backend, workers)


det.__doc__ = """numpy.linalg.det of each n x n item: float64, or
    complex128 for complex input.  Integer and other real inputs are
    converted as numpy's astype.""" + _DOC
slogdet.__doc__ = """numpy.linalg.slogdet of each n x n item: (sign,
    logabsdet), as numpy 2's SlogdetResult (a tuple with those field
    names), float64 arrays (scalars for one item); for complex input
    the sign is complex128 (a point on the unit circle) and logabsdet
    float64.""" + _DOC
fft2.__doc__ = """numpy.fft.fft2 of each h x w item: complex128.""" + _DOC
ifft2.__doc__ = """numpy.fft.ifft2 of each h x w item: complex128.""" + _DOC
rfft2.__doc__ = """numpy.fft.rfft2 of each h x w real item: h x (w//2 + 1)
    complex128.""" + _DOC
irfft2.__doc__ = """numpy.fft.irfft2 of each h x wc half spectrum: h x
    2 (wc - 1) float64 (numpy's default, even width).""" + _DOC
correlate2d.__doc__ = """scipy.signal.correlate2d(a[i], b[i], mode) of each
    pair of real images: a and b are each one image (h x w) or a batch of
    them (count x h x w, the batch on axis 0); one image pairs with every
    image of the other.  mode: "full", "valid" or "same" (boundary 'fill'
    with zeros, scipy's default); method: "auto", "direct" or "fft"
    (integer-valued pairs give exact integers with "auto").  float64.
    backend, workers: the context's (see parkit.Context).  The starmap of
    the "correlate2d" kernel (Context.starmap)."""
convolve2d.__doc__ = correlate2d.__doc__.replace(
    "correlate2d", "convolve2d")
autocorr2d.__doc__ = """scipy.signal.correlate2d(x, x) of each h x w real
    item x: (2h - 1) x (2w - 1) float64; exact for integers whatever their
    range with method "auto" (see parkit/fft.h).  method: "auto",
    "direct" or "fft".""" + _DOC
