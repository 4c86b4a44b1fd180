"""parkit's Python package on the mpi backend, every rank running this:

    mpirun -n 4 /usr/bin/python3 python/tests/mpi_script.py

A replica batch (the same array on every rank) gives every rank the whole
output, equal to numpy's; each rank's block (ctx.block) of a distributed
map, scatter and gather agree with it.  Exits non-zero on a mismatch.
"""
import sys

import numpy as np
import scipy.signal

import parkit


def main():
    bad = []

    def check(ok, what):
        if not ok:
            bad.append(what)

    ctx = parkit.Context(backend="mpi", workers=1)
    rank, size = ctx.rank, ctx.size
    check(ctx.backend == "mpi", "backend %s" % ctx.backend)

    # Every rank makes the same batch: a replica.  301 items: blocks of
    # unequal sizes.
    rng = np.random.default_rng(7)
    a = rng.integers(-5, 5, (301, 6, 6))
    ref = np.linalg.det(a)
    d = ctx.map(parkit.kernel("det"), a)
    check(d.shape == ref.shape and np.allclose(d, ref, rtol=1e-9, atol=1e-9),
          "det of a replica")
    # The module's functions: their default context is mpi under mpirun.
    d2 = parkit.det(np.moveaxis(a, 0, -1), batch_axis=-1)
    check(np.array_equal(d, d2), "parkit.det(batch_axis=-1)")

    # This rank's block, mapped alone (distributed), is its part of ref.
    first, count = ctx.block(len(a))
    mine = a[first:first + count]
    db = ctx.map(parkit.kernel("det"), mine, distributed=True)
    check(np.array_equal(db, d[first:first + count]),
          "rank %d: the block [%d, %d)" % (rank, first, first + count))
    # Into the caller's array, as without distributed=True.
    o = np.zeros(count)
    r = ctx.map(parkit.kernel("det"), mine, out=o, distributed=True)
    check(r is o and np.array_equal(o, db), "distributed map into out")
    try:
        ctx.map(parkit.kernel("det"), mine, out=np.zeros(count + 1),
                distributed=True)
        check(size == 1, "a distributed out of the wrong shape accepted")
    except ValueError:
        pass
    check(sum(ctx.gather(np.array([count]), root=-1)) == len(a)
          if size > 1 else True, "block counts")

    # scatter from rank 0 (the others pass None), gather back.
    blk = ctx.scatter(a if rank == 0 else None, root=0)
    check(np.array_equal(blk, mine.astype(np.float64)), "scatter")
    whole = ctx.gather(db, root=0)
    if rank == 0:
        check(np.array_equal(whole, d), "gather on rank 0")
    else:
        check(whole is None, "gather off root")
    check(np.array_equal(ctx.gather(db, root=-1), d), "gather on every rank")

    # Blocks that are not parkit's: refused on every rank alike.
    try:
        ctx.map(parkit.kernel("det"), a[:rank + 1], distributed=True)
        check(size == 1, "uneven blocks accepted")
    except ValueError:
        pass

    # An error is agreed on by every rank, and says which.
    try:
        ctx.map(parkit.kernel("det"), np.zeros((size, 2, 3)))
        check(False, "a non-square batch accepted")
    except parkit.ParkitError as e:
        check(e.status == "PK_ESHAPE", "status %s" % e.status)

    # fft2 and the sum over ranks of a distributed map.
    x = rng.standard_normal((10, 8, 8))
    check(np.allclose(ctx.map(parkit.kernel("fft2"), x), np.fft.fft2(x)),
          "fft2 of a replica")
    s = ctx.reduce(d)
    check(abs(s - ref.sum()) <= 1e-9 * np.abs(ref).sum(), "reduce")

    # starmap of a replica pair, and one image broadcast to every item.
    im = rng.integers(-9, 9, (23, 7, 8))
    kk = rng.integers(-3, 3, (23, 3, 3))
    c = ctx.starmap(parkit.kernel("convolve2d", mode="same"), [im, kk])
    ref = np.array([scipy.signal.convolve2d(p, q, "same")
                    for p, q in zip(im, kk)])
    check(np.array_equal(c, ref), "starmap of convolve2d over the ranks")
    c = parkit.correlate2d(im, kk[0], mode="valid")
    ref = np.array([scipy.signal.correlate2d(p, kk[0], "valid") for p in im])
    check(np.array_equal(c, ref), "correlate2d of a broadcast image")

    parkit.close_defaults()
    ctx.close()
    for b in bad:
        print("rank %d of %d: FAIL: %s" % (rank, size, b), file=sys.stderr)
    if not bad:
        print("rank %d of %d: ok" % (rank, size))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
