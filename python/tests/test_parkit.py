"""parkit's Python package against numpy and scipy, on every backend this
library has but mpi (python/tests/mpi_script.py runs that under mpirun).

    PARKIT_LIB=.libs/libparkit.so PYTHONPATH=python \\
        /usr/bin/python3 -m pytest -q python/tests
"""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import scipy.signal

# Wisdom stays in the process unless the caller chose a file or cache.
os.environ.setdefault("PARKIT_FFTW_WISDOM", "off")

import parkit  # noqa: E402

BACKENDS = [b for b in ("serial", "openmp", "fork") if b in parkit.backends()]
W = 2
INCLUDE = os.path.join(os.path.dirname(__file__), "..", "..", "include")

KERNELS_C = r"""
#include <parkit.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

/* A float64 vector -> its sum. */
static pk_status vec_shape(const pk_kernel *k, const pk_item *in,
                           pk_item *out, char *msg, size_t len) {
  if (in->dtype != PK_F64 || in->ndim != 1) {
    snprintf(msg, len, "%s takes float64 vectors", k->name);
    return PK_ESHAPE;
  }
  out->dtype = PK_F64;
  out->ndim = 0;
  return PK_OK;
}

static double sum(const pk_task *t, size_t i) {
  const double *x = (const double *)(t->in + i * t->in_stride);
  double s = 0;
  for (size_t j = 0; j < t->in_item.shape[0]; j++)
    s += x[j];
  return s;
}

/* Refuses the vectors whose first element is negative. */
static pk_status pick_run(const pk_kernel *k, const pk_task *t, size_t lo,
                          size_t hi, size_t *bad) {
  (void)k;
  for (size_t i = lo; i < hi; i++) {
    if (((const double *)(t->in + i * t->in_stride))[0] < 0) {
      *bad = i;
      return PK_EKERNEL;
    }
    *(double *)(t->out + i * t->out_stride) = sum(t, i);
  }
  return PK_OK;
}

/* 10 ms an item. */
static pk_status slow_run(const pk_kernel *k, const pk_task *t, size_t lo,
                          size_t hi, size_t *bad) {
  struct timespec ts = {0, 10000000};
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++) {
    nanosleep(&ts, NULL);
    *(double *)(t->out + i * t->out_stride) = sum(t, i);
  }
  return PK_OK;
}

/* Kills its process on a vector whose first element is 666. */
static pk_status crash_run(const pk_kernel *k, const pk_task *t, size_t lo,
                           size_t hi, size_t *bad) {
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++) {
    if (((const double *)(t->in + i * t->in_stride))[0] == 666)
      raise(SIGSEGV);
    *(double *)(t->out + i * t->out_stride) = sum(t, i);
  }
  return PK_OK;
}

/* Never returns on a vector whose first element is -1. */
static pk_status hang_run(const pk_kernel *k, const pk_task *t, size_t lo,
                          size_t hi, size_t *bad) {
  struct timespec ts = {1, 0};
  (void)k, (void)bad;
  for (size_t i = lo; i < hi; i++) {
    while (((const double *)(t->in + i * t->in_stride))[0] == -1)
      nanosleep(&ts, NULL);
    *(double *)(t->out + i * t->out_stride) = sum(t, i);
  }
  return PK_OK;
}

static const pk_kernel hang = {
    .name = "hang", .shape = vec_shape, .run = hang_run};
const pk_kernel *hang_kernel(void) { return &hang; }
static const pk_kernel pick = {
    .name = "pick", .shape = vec_shape, .run = pick_run};
static const pk_kernel slow = {
    .name = "slow", .shape = vec_shape, .run = slow_run};
const pk_kernel *pick_kernel(void) { return &pick; }
static const pk_kernel crash = {
    .name = "crash", .shape = vec_shape, .run = crash_run};
const pk_kernel *slow_kernel(void) { return &slow; }
const pk_kernel *crash_kernel(void) { return &crash; }
"""


def build(tmp, name):
    src = tmp / (name + ".c")
    src.write_text(KERNELS_C)
    so = tmp / (name + ".so")
    subprocess.run(["gcc", "-std=gnu11", "-shared", "-fPIC", "-O1",
                    "-I", INCLUDE, str(src), "-o", str(so)], check=True)
    return str(so)


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """The test kernels, loaded before the fork contexts below start."""
    so = build(tmp_path_factory.mktemp("kernels"), "userk")
    return {"pick": parkit.load_kernel(so, "pick_kernel"),
            "slow": parkit.load_kernel(so, "slow_kernel"),
            "crash": parkit.load_kernel(so, "crash_kernel"),
            "hang": parkit.load_kernel(so, "hang_kernel")}


@pytest.fixture(scope="module", params=BACKENDS)
def ctx(request, user):
    with parkit.Context(backend=request.param, workers=W) as c:
        yield c


def rng(seed=0):
    return np.random.default_rng(seed)


def close(x, ref, rtol=1e-9):
    scale = max(np.abs(ref).max(), 1.0) if np.size(ref) else 1.0
    return x.shape == np.shape(ref) and np.allclose(
        x, ref, rtol=rtol, atol=rtol * scale, equal_nan=True)


# ------------------------------------------------------------ det, slogdet

@pytest.mark.parametrize("backend", BACKENDS)
def test_det(backend):
    kw = dict(backend=backend, workers=W)
    r = rng(1)
    ints = r.integers(-5, 5, (300, 7, 7))
    ref = np.linalg.det(ints)
    assert close(parkit.det(ints, **kw), ref)
    floats = r.standard_normal((100, 12, 12))
    assert close(parkit.det(floats, **kw), np.linalg.det(floats))
    # int64 with the batch last, items t[:, :, i]: C and Fortran order.
    t = np.ascontiguousarray(np.moveaxis(ints, 0, -1))
    assert close(parkit.det(t, batch_axis=-1, **kw), ref)
    assert close(parkit.det(np.asfortranarray(t), batch_axis=-1, **kw), ref)
    # float64 with the batch last or in the middle: read through a view,
    # the same bits as the moved copy's.
    tf = t.astype(np.float64)
    moved = parkit.det(np.ascontiguousarray(np.moveaxis(tf, -1, 0)), **kw)
    assert np.array_equal(parkit.det(tf, batch_axis=-1, **kw), moved)
    tm = np.ascontiguousarray(np.moveaxis(tf, -1, 1))
    assert np.array_equal(parkit.det(tm, batch_axis=1, **kw), moved)
    # Other types and layouts, converted as numpy's astype.
    assert close(parkit.det(ints.astype(np.float32), **kw), ref)
    assert close(parkit.det(np.asfortranarray(floats), **kw),
                 np.linalg.det(floats))
    assert close(parkit.det(ints.astype(">i2"), **kw), ref)
    assert close(parkit.det((ints + 5).astype(np.uint8), **kw),
                 np.linalg.det(ints + 5))
    b = ints % 3 == 1
    assert close(parkit.det(b, **kw), np.linalg.det(b.astype(float)))
    assert close(parkit.det(floats[:, ::2, ::2], **kw),
                 np.linalg.det(floats[:, ::2, ::2]))
    # Stacks of stacks, as numpy, and one matrix: a scalar.
    s = floats[:24].reshape(2, 3, 4, 12, 12)[:, :, 0]
    assert close(parkit.det(s, **kw), np.linalg.det(s))
    one = parkit.det(ints[0], **kw)
    assert np.ndim(one) == 0 and one == pytest.approx(ref[0], rel=1e-12)
    assert parkit.det(np.eye(4) * 2, **kw) == 16.0
    assert parkit.det(np.zeros((0, 3, 3)), **kw).shape == (0,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_slogdet(backend):
    a = rng(2).integers(-4, 5, (80, 6, 6)).astype(float)
    a[3, 1] = a[3, 0]  # singular
    a[4, :, 0] = 0
    sign, logdet = parkit.slogdet(a, backend=backend, workers=W)
    rs, rl = np.linalg.slogdet(a)
    ok = np.isfinite(rl)
    assert np.array_equal(sign[ok], rs[ok])
    assert np.allclose(logdet[ok], rl[ok], rtol=1e-10)
    assert sign[4] == 0 and logdet[4] == -np.inf
    s1, l1 = parkit.slogdet(a[0], backend=backend, workers=W)
    assert np.ndim(s1) == 0 and s1 == rs[0]
    res = parkit.slogdet(a[:2], backend=backend, workers=W)
    assert np.array_equal(res.sign, rs[:2])  # numpy 2's field names
    assert np.array_equal(res.logabsdet, res[1])
    assert l1 == pytest.approx(rl[0], rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_det_complex(backend):
    """Complex matrices: numpy's det and slogdet, complex sign and real
    log|det|, the same bits on every backend."""
    kw = dict(backend=backend, workers=W)
    r = rng(3)
    z = r.standard_normal((60, 9, 9)) + 1j * r.standard_normal((60, 9, 9))
    z[5, :, 3] = 0  # singular
    d = parkit.det(z, **kw)
    assert d.dtype == np.complex128
    assert close(d, np.linalg.det(z), rtol=1e-11)
    assert d[5] == 0
    sign, logdet = parkit.slogdet(z, **kw)
    rs, rl = np.linalg.slogdet(z)
    assert sign.dtype == np.complex128 and logdet.dtype == np.float64
    ok = np.isfinite(rl)
    assert np.allclose(sign[ok], rs[ok], rtol=1e-12)
    assert np.allclose(logdet[ok], rl[ok], rtol=1e-12)
    assert sign[5] == 0 and logdet[5] == -np.inf
    assert np.array_equal(d, parkit.det(z, backend="serial"))
    assert parkit.det(np.eye(8) * (1 + 1j), **kw) == 16
    s1, l1 = parkit.slogdet(z[0].astype(np.complex64), **kw)
    assert np.ndim(s1) == 0 and np.ndim(l1) == 0 and np.isrealobj(l1)


def test_det_errors_and_nan():
    with pytest.raises(parkit.ParkitError) as e:
        parkit.det(np.zeros((5, 3, 4)))
    assert e.value.status == "PK_ESHAPE" and e.value.code == -4
    assert "square" in e.value.message and e.value.message in str(e.value)
    assert e.value.failed == []
    # A NaN gives NaN, as numpy; it is not a failure.
    a = np.tile(np.eye(3), (4, 1, 1))
    a[2, 1, 1] = np.nan
    d = parkit.det(a)
    assert np.isnan(d[2]) and np.array_equal(d[[0, 1, 3]], [1, 1, 1])
    with pytest.raises(ValueError):
        parkit.det(np.ones(3))
    with pytest.raises(TypeError, match="astype"):
        parkit.det(np.array([[["a"]]]))
    with pytest.raises(TypeError, match="astype"):
        parkit.det(np.empty((2, 2, 2), dtype=object))
    if hasattr(np, "float128"):
        with pytest.raises(TypeError):
            parkit.det(np.ones((2, 2, 2), dtype=np.float128))


# --------------------------------------------------------------------- FFT

@pytest.mark.parametrize("backend", BACKENDS)
def test_fft(backend):
    kw = dict(backend=backend, workers=W)
    r = rng(3)
    x = r.standard_normal((20, 12, 10))
    z = x + 1j * r.standard_normal(x.shape)
    assert close(parkit.fft2(x, **kw), np.fft.fft2(x))
    assert close(parkit.fft2(z, **kw), np.fft.fft2(z))
    assert close(parkit.ifft2(z, **kw), np.fft.ifft2(z))
    assert close(parkit.rfft2(x, **kw), np.fft.rfft2(x))
    h = np.fft.rfft2(x)
    assert close(parkit.irfft2(h, **kw), np.fft.irfft2(h))
    assert close(parkit.fft2(z.astype(np.complex64), **kw),
                 np.fft.fft2(z.astype(np.complex64)), rtol=1e-6)
    assert close(parkit.fft2(x[0], **kw), np.fft.fft2(x[0]))
    # The batch last, and back there in the output.
    t = np.moveaxis(x, 0, -1)
    assert close(parkit.fft2(t, batch_axis=-1, **kw),
                 np.fft.fft2(t, axes=(0, 1)))
    with pytest.raises(parkit.ParkitError) as e:
        parkit.rfft2(z, **kw)
    assert e.value.status == "PK_EDTYPE"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
def test_autocorr2d(backend, method):
    kw = dict(backend=backend, workers=W, method=method)
    a = rng(4).integers(0, 100, (6, 9, 7))
    r = parkit.autocorr2d(a, **kw)
    ref = np.array([scipy.signal.correlate2d(x, x) for x in a])
    assert r.dtype == np.float64 and np.array_equal(r, ref)  # exact
    f = rng(5).standard_normal((3, 8, 11))
    ref = np.array([scipy.signal.correlate2d(x, x) for x in f])
    assert close(parkit.autocorr2d(f, **kw), ref)
    assert np.array_equal(parkit.autocorr2d(a[0], **kw),
                          scipy.signal.correlate2d(a[0], a[0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_correlate2d_convolve2d(backend):
    kw = dict(backend=backend, workers=W)
    r = rng(6)
    a = r.integers(-50, 50, (12, 9, 11))
    b = r.integers(-9, 9, (12, 4, 3))
    f = r.standard_normal((5, 7, 6))
    g = r.standard_normal((5, 8, 7))  # larger than f's: valid swaps them
    for name, ref in (("correlate2d", scipy.signal.correlate2d),
                      ("convolve2d", scipy.signal.convolve2d)):
        fn = getattr(parkit, name)
        for mode in ("full", "valid", "same"):
            want = np.array([ref(x, y, mode) for x, y in zip(a, b)])
            got = fn(a, b, mode=mode, **kw)
            assert got.dtype == np.float64 and np.array_equal(got, want)
            # one image against every image of the batch (broadcast)
            want = np.array([ref(x, b[3], mode) for x in a])
            assert np.array_equal(fn(a, b[3], mode=mode, **kw), want)
            assert np.array_equal(fn(a[2], b[3], mode=mode, **kw),
                                  ref(a[2], b[3], mode))
            for method in ("direct", "fft"):
                want = np.array([ref(x, y, mode) for x, y in zip(f, g)])
                assert close(fn(f, g, mode=mode, method=method, **kw), want)
    with pytest.raises(ValueError):
        parkit.correlate2d(a, b, mode="bogus")
    with pytest.raises(ValueError):
        parkit.correlate2d(a[0, 0], b)


def test_starmap(ctx):
    k = parkit.kernel("correlate2d", mode="same", method="direct")
    assert (k.nin, k.nout) == (2, 1)
    r = rng(7)
    a = r.standard_normal((40, 10, 10))
    b = r.standard_normal((40, 3, 3))
    want = np.array([scipy.signal.correlate2d(x, y, "same")
                     for x, y in zip(a, b)])
    assert close(ctx.starmap(k, [a, b]), want)
    out = np.empty_like(want)
    assert ctx.starmap(k, (a, b), out=out) is out and close(out, want)
    f = ctx.starmap_async(k, [a, b])
    assert close(f.get(), want)
    # non-float64 inputs converted, a bad pair refused with the kernel's
    # message, and the context still maps
    assert close(ctx.starmap(k, [a.astype(np.float32), b]),
                 np.array([scipy.signal.correlate2d(x, y, "same") for x, y
                           in zip(a.astype(np.float32), b)]), rtol=1e-6)
    with pytest.raises(parkit.ParkitError):
        ctx.starmap(k, [a, b[:7]])
    with pytest.raises(ValueError):
        ctx.starmap(k, [a])
    with pytest.raises(ValueError):
        ctx.map(k, a)
    assert close(ctx.starmap(k, [a, b]), want)


def test_kernels():
    assert parkit.kernel("det").name == "det"
    assert parkit.kernel("autocorr2d", "direct").name.startswith("autocorr")
    with pytest.raises(ValueError):
        parkit.kernel("nonesuch")
    with pytest.raises(ValueError):
        parkit.kernel("autocorr2d", "bogus")
    with pytest.raises(ValueError):
        parkit.kernel("det", mode="same")
    assert parkit.kernel("convolve2d", mode="valid").nin == 2
    assert parkit.kernel("rfft2").output(np.float64, (4, 6)) == \
        (np.dtype(np.complex128), (4, 4))
    with pytest.raises(parkit.ParkitError):
        parkit.kernel("det").output(np.float64, (4, 6))


# ---------------------------------------------------------------- contexts

def test_context():
    with parkit.Context(backend="serial") as c:
        assert (c.backend, c.workers, c.rank, c.size) == ("serial", 1, 0, 1)
        assert c.isa in ("generic", "avx2", "avx512")
        c.map(parkit.kernel("det"), np.ones((3, 2, 2)))
        s = c.last_stats
        assert s["items"] == 3 and s["failed"] == 0 and "seconds" in s
        assert c.block(10) == (0, 10)
        assert c.reduce(np.arange(10.0)) == 45.0
        assert c.reduce(np.array([1 + 2j, 3j])) == 1 + 5j
        assert c.reduce(np.arange(1, 5), "prod") == 24.0
        eyes = np.tile(np.eye(2), (5, 1, 1))
        assert c.map_reduce(parkit.kernel("det"), eyes) == 5.0
    with pytest.raises(ValueError):
        c.map(parkit.kernel("det"), np.ones((3, 2, 2)))
    c.close()
    with parkit.Context(backend="serial", isa="generic") as c:
        assert c.isa == "generic"
    with pytest.raises(parkit.ParkitError) as e:
        parkit.Context(backend="nonesuch")
    assert e.value.status == "PK_EBACKEND" and "nonesuch" in e.value.message
    with pytest.raises(ValueError):
        parkit.Context(workers=0)


def test_default_contexts_are_reused():
    a = parkit.default_context("fork" if "fork" in BACKENDS else None, W)
    parkit.det(np.ones((2, 2, 2)), backend=a.backend, workers=W)
    assert parkit.default_context(a.backend, W) is a


# ----------------------------------------------------------- zero copy

def test_zero_copy(ctx):
    x = rng(6).standard_normal((50, 5, 5))
    out = np.empty(50)
    r = ctx.map(parkit.kernel("det"), x, out=out, inline="never")
    assert r is out and np.shares_memory(r, out)
    assert close(out, np.linalg.det(x))
    # float64 in C order is read where it is, and the output written where
    # numpy has it; the fork backend copies both through its shared memory.
    copied = x.nbytes + out.nbytes if ctx.backend == "fork" else 0
    assert ctx.last_stats["bytes_copied"] == copied
    z = np.empty((50, 5, 5), np.complex128)
    r = ctx.map(parkit.kernel("fft2"), x, out=z)
    assert np.shares_memory(r, z) and close(z, np.fft.fft2(x))
    # Converted input (in the library's memory), written in place the same.
    r = ctx.map(parkit.kernel("det"), x.astype(np.float32), out=out,
                inline="never")
    assert r is out
    assert ctx.last_stats["bytes_copied"] == copied - x.nbytes * (copied > 0)
    ro = np.empty(50)
    ro.flags.writeable = False
    for bad, why in ((np.empty(49), "shape is"), (np.empty(50, np.float32),
                     "dtype is <f4"), (np.empty((50, 2))[:, 0],
                     "not C-contiguous"), (ro, "read-only")):
        with pytest.raises(ValueError, match="out must be.*" + why):
            ctx.map(parkit.kernel("det"), x, out=bad)


def test_stacked_empty_items():
    # Batches of 0 x 0 matrices on several batch axes, as numpy.linalg:
    # det 1, slogdet (1, 0).
    for shape in ((3, 0, 0), (2, 5, 0, 0), (2, 0, 0, 0)):
        a = np.zeros(shape)
        assert np.array_equal(parkit.det(a), np.linalg.det(a))
        s, l = parkit.slogdet(a)
        ws, wl = np.linalg.slogdet(a)
        assert np.array_equal(s, ws) and np.array_equal(l, wl)


# ------------------------------------------------- failures, user kernels

def test_failed_items(ctx, user):
    x = np.ones((40, 3))
    refused = [0, 7, 8, 31, 39]
    x[refused, 0] = -1
    with pytest.raises(parkit.ParkitError) as e:
        ctx.map(user["pick"], x)
    err = e.value
    assert err.status == "PK_EKERNEL" and err.failed == refused
    assert ctx.last_stats["failed"] == len(refused)
    assert "pick" in err.message
    done = np.setdiff1d(np.arange(40), refused)
    assert np.array_equal(err.result[done], x[done].sum(axis=1))
    # The same through a future.
    f = ctx.map_async(user["pick"], x)
    with pytest.raises(parkit.ParkitError) as e:
        f.get()
    assert e.value.failed == refused and not f.successful()
    # The context goes on.
    assert np.array_equal(ctx.map(user["pick"], np.ones((5, 2))), [2.0] * 5)
    with pytest.raises(parkit.ParkitError) as e:
        ctx.map(user["pick"], np.ones((5, 2, 2)))
    assert e.value.status == "PK_ESHAPE" and "float64 vectors" in str(e.value)


def test_worker_death(ctx, user):
    if ctx.backend != "fork":
        pytest.skip("only a fork worker can die alone")
    x = np.ones((40, 2))
    x[13, 0] = 666
    with pytest.raises(parkit.ParkitError) as e:
        ctx.map(user["crash"], x)
    err = e.value
    assert err.status == "PK_EWORKER" and 13 in err.failed
    assert "signal 11" in err.message
    done = np.setdiff1d(np.arange(40), err.failed)
    assert np.array_equal(err.result[done], x[done].sum(axis=1))
    # A replacement worker is there for the next map.
    assert np.array_equal(ctx.map(user["crash"], np.ones((40, 2))),
                          [2.0] * 40)


def test_map_async(ctx, user):
    x = rng(7).standard_normal((30, 6, 6))
    f = ctx.map_async(parkit.kernel("det"), x)
    assert f.wait(30) and f.ready()
    assert close(f.get(), np.linalg.det(x)) and f.successful()
    f = ctx.map_async(user["slow"], np.ones((8, 2)))
    r = f.get(timeout=30)
    assert np.array_equal(r, [2.0] * 8)
    if ctx.backend == "fork":
        # The map runs in the workers while Python goes on.
        f = ctx.map_async(user["slow"], np.ones((20, 2)))
        assert not f.ready() and not f.wait(0.01)
        with pytest.raises(TimeoutError):
            f.get(timeout=0.01)
        assert np.array_equal(f.get(), [2.0] * 20)


def test_future_cancel(ctx, user):
    """A map whose kernel never returns on some items: cancel() stops it,
    get() lists the items that did not complete, and the context maps on
    every worker again."""
    if ctx.backend != "fork":
        f = ctx.map_async(user["slow"], np.ones((4, 2)))
        assert not f.cancel()  # finished before map_async returned
        assert np.array_equal(f.get(), [2.0] * 4)
        return
    x = np.ones((40, 2))
    x[[3, 4], 0] = -1
    f = ctx.map_async(user["hang"], x, schedule="dynamic", chunk=1)
    assert not f.wait(0.2)
    assert f.cancel() and f.ready() and not f.successful()
    assert not f.cancel()
    with pytest.raises(parkit.ParkitError) as e:
        f.get()
    assert e.value.status == "PK_ECANCELED"
    assert "cancelled" in str(e.value)
    # Each worker runs its own half first, the second then the first's
    # from its end, until both hang (on 3 and 4): those are listed, with
    # whatever the second had not reached; the rest are computed.
    failed = list(e.value.failed)
    assert {3, 4} <= set(failed) <= set(range(3, 40))
    done = np.setdiff1d(np.arange(40), failed)
    assert np.array_equal(e.value.result[done], [2.0] * len(done))
    g = ctx.map_async(user["slow"], np.ones((4, 2)))
    assert np.array_equal(g.get(), [2.0] * 4) and not g.cancel()
    x = rng(9).standard_normal((W * 16, 5, 5))
    assert close(ctx.map(parkit.kernel("det"), x, inline="never"),
                 np.linalg.det(x))


def test_map_each(ctx):
    """imap_unordered's progress: the ranges reported cover every item
    once, and the result is map's."""
    x = rng(8).standard_normal((500, 5, 5))
    seen = np.zeros(500, int)

    def done(lo, hi):
        seen[lo:hi] += 1

    d = ctx.map_each(parkit.kernel("det"), x, done, chunk=37,
                     inline="never")
    assert close(d, np.linalg.det(x))
    assert (seen == 1).all()

    # The calls come in the calling thread, which may use the context
    # there (on openmp they had come from worker threads, and one that
    # read last_stats waited for the lock the caller held: a hang).
    me, threads = threading.get_ident(), set()

    def progress(lo, hi):
        threads.add(threading.get_ident())
        assert ctx.last_stats is not None

    d = ctx.map_each(parkit.kernel("det"), x, progress, chunk=37,
                     inline="never")
    assert close(d, np.linalg.det(x)) and threads == {me}

    def boom(lo, hi):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        ctx.map_each(parkit.kernel("det"), x, boom)
    assert close(ctx.map(parkit.kernel("det"), x), np.linalg.det(x))


def test_future_while_another_thread_maps(user):
    # A future's ready() and get(timeout) keep to their time while another
    # thread runs a long map on the same context (they had waited for it:
    # 1.5 s for ready(), 3 s for get(timeout=0.1)).
    with parkit.Context(backend="fork", workers=2) as c:
        f = c.map_async(user["slow"], np.ones((4, 2)))
        assert np.array_equal(f.get(timeout=30), [2.0] * 4)
        g = c.map_async(user["slow"], np.ones((200, 2)))
        t = threading.Thread(target=c.map,
                             args=(user["slow"], np.ones((200, 2))))
        t.start()
        time.sleep(0.1)
        t0 = time.monotonic()
        g.ready()
        try:
            g.get(timeout=0.1)
        except TimeoutError:
            pass
        took = time.monotonic() - t0
        t.join()
        assert took < 1.0, took  # a bound on waiting, not a speed
        assert np.array_equal(g.get(), [2.0] * 200)


def test_future_collected_by_another_thread(ctx):
    # The collector may free a future in any thread, map_each's helper
    # among them while the caller holds the context's lock: it must not
    # wait for the lock (that thread had waited for ever, the caller for
    # it); the context's next call releases the job.
    x = rng(3).standard_normal((20, 4, 4))
    box = [ctx.map_async(parkit.kernel("det"), x)]
    box[0].wait(30)
    with ctx._lock:
        t = threading.Thread(target=box.clear)  # drops the last reference
        t.start()
        t.join(10)
        assert not t.is_alive()
    assert close(ctx.map(parkit.kernel("det"), x), np.linalg.det(x))
    assert ctx._orphans == []


def test_max_tasks(ctx):
    """maxtasksperchild: fork workers are replaced after n chunks, and the
    maps go on giving the same values."""
    x = rng(9).standard_normal((64, 4, 4))
    ctx.max_tasks(2)
    try:
        for _ in range(3):
            assert close(ctx.map(parkit.kernel("det"), x, chunk=8,
                                 inline="never"), np.linalg.det(x))
    finally:
        ctx.max_tasks(0)


@pytest.mark.parametrize("start", ["fork", "forkserver", "auto"])
def test_kernel_loaded_after_fork_context(tmp_path, monkeypatch, start):
    """A kernel whose library is loaded after the Context started its
    workers runs in them, whichever way they were made: they load the
    library when a map first needs it."""
    if "fork" not in BACKENDS:
        pytest.skip("no fork backend")
    monkeypatch.setenv("PARKIT_START", start)
    x = np.abs(rng(5).standard_normal((6, 3)))
    with parkit.Context(backend="fork", workers=W) as c:
        assert close(c.map(parkit.kernel("det"), np.eye(2) * np.ones((4, 1, 1)),
                           inline="never"), [1.0] * 4)  # the workers are up
        k = parkit.load_kernel(build(tmp_path, "late"), "pick_kernel")
        assert close(c.map(k, x, chunk=1, inline="never"), x.sum(axis=1))
    with pytest.raises(ValueError):
        parkit.load_kernel(str(tmp_path / "late.so"), "no_such_function")


def test_gil_released(user):
    """Another thread runs while a map does."""
    ticks, stop = [], threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    th = threading.Thread(target=tick)
    with parkit.Context(backend="serial") as c:
        th.start()
        t0 = time.monotonic()
        c.map(user["slow"], np.ones((20, 2)))  # 200 ms
        t1 = time.monotonic()
        stop.set()
        th.join()
    assert sum(t0 < t < t1 for t in ticks) >= 20


def test_threads():
    """Threads at once, each with a context of its own on every backend,
    and all of them on one shared context (whose calls take turns): every
    result is numpy's."""
    x = rng(11).standard_normal((200, 12, 12))
    img = rng(12).standard_normal((6, 40, 36))
    want, want_f = np.linalg.det(x), np.fft.fft2(img)
    errors = []
    shared = parkit.Context(backend=BACKENDS[-1], workers=W)

    def work(i):
        try:
            with parkit.Context(backend=BACKENDS[i % len(BACKENDS)],
                                workers=W) as own:
                for r in range(8):
                    c = own if r % 2 else shared
                    if not close(c.map(parkit.kernel("det"), x), want):
                        errors.append("det, thread %d round %d" % (i, r))
                    if not close(c.map(parkit.kernel("fft2"), img), want_f):
                        errors.append("fft2, thread %d round %d" % (i, r))
        except Exception as e:  # reported below, not lost in the thread
            errors.append("thread %d: %r" % (i, e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    assert errors == []


def _running(*names):
    """The frames of other threads in one of the named functions of
    parkit's _core.py (call: the library's map)."""
    found = []
    for ident, f in sys._current_frames().items():
        while f is not None and ident != threading.get_ident():
            c = f.f_code
            if c.co_name in names and c.co_filename.endswith("_core.py"):
                found.append(f)
            f = f.f_back
    return found


@pytest.mark.parametrize("backend", ["fork", "openmp", "serial"])
def test_keyboard_interrupt(user, backend):
    """Ctrl-C during a long map (or map_each): the map is stopped, the
    context stays usable, and KeyboardInterrupt goes on."""
    if backend not in BACKENDS:
        pytest.skip("no %s backend" % backend)
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals go to the main thread")
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with parkit.Context(backend=backend, workers=W) as c:
            for each in (False, True):
                # 1000 items of 10 ms: 5 s on 2 workers; map_each's calls
                # stop at the Ctrl-C (a callback that raises, likewise).
                seen = []
                timer = threading.Timer(0.1, os.kill,
                                        (os.getpid(), signal.SIGINT))
                t0 = time.monotonic()
                timer.start()
                with pytest.raises(KeyboardInterrupt):
                    if each:
                        c.map_each(user["slow"], np.ones((1000, 2)),
                                   lambda lo, hi: seen.append(hi - lo),
                                   chunk=1)
                    else:
                        c.map(user["slow"], np.ones((1000, 2)))
                # Stopped, rather than waited for or left running: no
                # thread is still in the library's call (the job's arrays
                # are freed by now).
                assert time.monotonic() - t0 < 2.5
                assert not _running("call")
                assert sum(seen) < 1000
                timer.join()
                x = rng(8).standard_normal((40, 4, 4))
                assert close(c.map(parkit.kernel("det"), x), np.linalg.det(x))
                assert np.array_equal(c.map(user["slow"], np.ones((4, 3))),
                                      [3.0] * 4)
            if backend != "fork":
                return  # futures there are done when they are returned
            # Ctrl-C in Future.get leaves the future to be got again.
            f = c.map_async(user["slow"], np.ones((40, 2)))
            timer = threading.Timer(0.05, os.kill,
                                    (os.getpid(), signal.SIGINT))
            timer.start()
            with pytest.raises(KeyboardInterrupt):
                f.get()
            timer.join()
            assert np.array_equal(f.get(), [2.0] * 40)
    finally:
        signal.signal(signal.SIGINT, old)


def test_declarations_match_the_headers(tmp_path):
    """The cdef copies the headers by hand: every struct's size and every
    field's offset must be what the C compiler makes of the headers."""
    from parkit._ffi import ffi
    fields = {"pk_config": ["backend", "workers", "verbose", "mpi_comm",
                            "isa", "mpi_fcomm"],
              "pk_item": ["dtype", "ndim", "shape"],
              "pk_task": ["in", "out", "in_stride", "out_stride", "in_item",
                          "out_item", "first", "scratch", "isa", "nin", "nout",
                          "ins", "outs", "in_strides", "out_strides",
                          "in_items", "out_items"],
              "pk_kernel": None, "pk_map_opts": None, "pk_stats": None}
    for name in list(fields):
        if fields[name] is None:
            fields[name] = [f for f, _ in ffi.typeof(name if name != "pk_kernel"
                                                      else "struct pk_kernel").fields]
    lines = ["#include <parkit.h>", "#include <stddef.h>", "#include <stdio.h>",
             "int main(void) {"]
    for name, fs in fields.items():
        t = "struct pk_kernel" if name == "pk_kernel" else name
        lines.append('  printf("%s %%zu\\n", sizeof(%s));' % (name, t))
        for f in fs:
            lines.append('  printf("%s.%s %%zu\\n", offsetof(%s, %s));' % (name, f, t, f))
    lines.append("  return 0;\n}")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run(["gcc", "-std=gnu11", "-I", INCLUDE, str(src), "-o", str(exe)],
                   check=True)
    want = dict(l.split() for l in subprocess.run([str(exe)], capture_output=True,
                                                   text=True, check=True).stdout.splitlines())
    for name, fs in fields.items():
        t = "struct pk_kernel" if name == "pk_kernel" else name
        assert ffi.sizeof(t) == int(want[name]), name
        for f in fs:
            assert ffi.offsetof(t, f) == int(want[name + "." + f]), name + "." + f


def _pool_dets(x):
    return float(parkit.det(x).sum())


def test_fork_pool_after_det():
    # multiprocessing's fork Pool (Linux's default) after the module's
    # openmp context ran a team: GCC's OpenMP runtime cannot start threads
    # in the children, which had hung; their contexts run on one thread.
    import multiprocessing as mp

    x = np.random.default_rng(7).standard_normal((500, 6, 6))
    want = float(np.linalg.det(x).sum())
    assert abs(_pool_dets(x) - want) <= 1e-9 * abs(want) + 1e-9
    with mp.get_context("fork").Pool(2) as pool:
        got = pool.map_async(_pool_dets, [x, x]).get(timeout=120)
    for g in got:
        assert abs(g - want) <= 1e-9 * abs(want) + 1e-9
