#!/usr/bin/env python3
"""Time what a Python user writes instead of parkit, for parkit-bench.

    py_baselines.py [--reps N] [--budget S] [--cold] [--second FILE.npy]
                    [--mode M] METHOD:FILE.npy:COUNT[,COUNT...] ...

For each COUNT, METHOD runs on the first COUNT items of the stacked array in
FILE (axis 0 is the batch axis): one warm-up, then the median of N timed
runs.  --cold leaves out the warm-up: the first call in a fresh process, as
a user's script makes it once (bench/bench_cold.sh).  Methods:

  det          numpy.linalg.det(a)                 (the stacked array at once)
  slogdet      numpy.linalg.slogdet(a)
  fft2         numpy.fft.fft2(a)                   (over the last two axes)
  scipy_fft2   scipy.fft.fft2(a, workers=2)
  correlate2d  scipy.signal.correlate2d(x, x)      for each item x
  correlate    scipy.signal.correlate(x, x, method='fft')   for each item x
  pair_direct  scipy.signal.correlate2d(x, b, mode)          for each item x
  pair_fft     scipy.signal.correlate(x, b, mode, method='fft')
               where b is the one item of --second, mode --mode (full)

Prints one line per point on stdout, space-separated, for the C program:

  version numpy V scipy V
  time METHOD COUNT REPS MEDIAN MIN MAX      (seconds)
  skip METHOD COUNT REASON...

A point whose estimated time (from the previous COUNT, scaled by the count)
for the warm-up and the N runs exceeds the budget is skipped, and so are the
larger counts after it.
"""
import argparse
import statistics
import sys
import time

import numpy as np
import scipy
import scipy.fft
import scipy.signal


def per_item(f):
    def run(a):
        return [f(x) for x in a]
    return run


METHODS = {
    "det": np.linalg.det,
    "slogdet": np.linalg.slogdet,
    "fft2": np.fft.fft2,
    "scipy_fft2": lambda a: scipy.fft.fft2(a, workers=2),
    "correlate2d": per_item(lambda x: scipy.signal.correlate2d(x, x)),
    "correlate": per_item(lambda x: scipy.signal.correlate(x, x,
                                                           method="fft")),
}


def pair_methods(b, mode):
    return {
        "pair_direct": per_item(lambda x: scipy.signal.correlate2d(x, b,
                                                                   mode)),
        "pair_fft": per_item(lambda x: scipy.signal.correlate(
            x, b, mode, method="fft")),
    }


def timed(f, a, reps, cold=False):
    if not cold:
        f(a)  # warm-up: first-call costs, caches, pocketfft plans
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f(a)
        t.append(time.perf_counter() - t0)
    return t


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--budget", type=float, default=30.0,
                   help="seconds one point may take (default 30)")
    p.add_argument("--cold", action="store_true",
                   help="no warm-up: time the process's first calls")
    p.add_argument("--second", metavar="FILE.npy",
                   help="the kernel image of the pair methods (one item)")
    p.add_argument("--mode", default="full", choices=("full", "same",
                                                      "valid"))
    p.add_argument("points", nargs="+", metavar="METHOD:FILE:COUNTS")
    o = p.parse_args()
    methods = dict(METHODS)
    if o.second:
        methods.update(pair_methods(np.load(o.second)[0], o.mode))
    print("version numpy %s scipy %s" % (np.__version__, scipy.__version__),
          flush=True)
    for spec in o.points:
        name, path, counts = spec.rsplit(":", 2)
        if name not in methods:
            p.error("unknown method %s (pair methods need --second)" % name)
        f = methods[name]
        a = np.load(path, mmap_mode=None)
        last = None  # (count, median) of the previous point
        for c in (int(x) for x in counts.split(",")):
            if c > a.shape[0]:
                print("skip %s %d only %d items in the file"
                      % (name, c, a.shape[0]), flush=True)
                continue
            if last and last[1] * c / last[0] * (o.reps + 1) > o.budget:
                print("skip %s %d over the budget of %g s"
                      % (name, c, o.budget), flush=True)
                last = (1, float("inf"))
                continue
            t = timed(f, np.ascontiguousarray(a[:c]), o.reps, o.cold)
            med = statistics.median(t)
            print("time %s %d %d %.9g %.9g %.9g"
                  % (name, c, o.reps, med, min(t), max(t)), flush=True)
            last = (c, med)
    return 0


if __name__ == "__main__":
    sys.exit(main())
