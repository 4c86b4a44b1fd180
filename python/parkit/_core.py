"""Contexts: the library's calls over numpy arrays."""
import os
import queue
import threading
import weakref
import numpy as np
from ._ffi import ffi, lib, MAX_DIMS
from ._kernels import (_CODES, _SCHEDULES, _SCHEDULE_NAMES, _INLINE, _OPS,
                       _LONG, _str, ParkitError, _failed, Kernel,
                       _convertible, _target, _Arrays, _view)
from ._future import _Job, _now


def _out_problem(out, shape, dt, contiguous=False):
    """What is wrong with out as an output of this shape and dtype ("" if
    nothing)."""
    if not isinstance(out, np.ndarray):
        return "it is a %s, not a numpy array" % type(out).__name__
    if out.shape != tuple(shape):
        return "its shape is %s" % (out.shape,)
    if out.dtype != dt or not out.dtype.isnative:
        return "its dtype is %s" % out.dtype.str
    if contiguous and not out.flags.c_contiguous:
        return "it is not C-contiguous"
    if not out.flags.writeable:
        return "it is read-only"
    return ""


def _in_thread(fn, name, stop):
    """fn()'s result, fn run in a helper thread while this one waits: an
    exception raised here meanwhile (Ctrl-C's KeyboardInterrupt) calls
    stop() once and is raised when fn has returned; a second one is
    dropped (fn is already stopping, and the caller frees its arrays
    once it returns).  The wait is on an event fn's thread sets, never on
    Thread.join: Python 3.11's join, interrupted, can take a thread still
    running for one that has ended."""
    got, err = [], []
    done = threading.Event()

    def run():
        try:
            got.append(fn())
        except BaseException as e:
            err.append(e)
        finally:
            done.set()

    threading.Thread(target=run, name=name).start()
    raised = None
    while not done.is_set():
        try:
            done.wait()
        except BaseException as e:
            if raised is None:
                raised = e
                stop()
    if raised is not None:
        raise raised
    if err:
        raise err[0]
    return got[0]


class Context:
    """A parkit context: a backend and its workers (pk_init_config).

        with parkit.Context(backend="fork", workers=2) as ctx:
            dets = ctx.map(parkit.kernel("det"), batch)

    backend: "serial", "openmp", "fork" or "mpi"; workers: threads or
    processes (per rank for mpi); isa: "generic", "avx2", "avx512" or
    "auto".  None leaves the choice to PARKIT_BACKEND, PARKIT_WORKERS,
    PARKIT_ISA, then the defaults (mpi under mpirun with several ranks,
    else openmp on every core).

    The GIL is released while the library works, so other Python threads
    run meanwhile.  A context is used by one thread at a time: calls from
    several threads take turns.

    Ctrl-C: a map that the kernel's cost model puts above 50 ms a worker
    (or of unknown cost) is waited for so that Ctrl-C and other signal
    handlers run while it does: the map is stopped, its result dropped,
    the context stays usable and the KeyboardInterrupt goes on.  On the
    fork backend the workers running it are killed and replaced
    (Future.cancel); on serial and openmp (the map runs in a helper thread
    then) the items being computed finish first, and no other item
    starts.  map_each's map is stopped the same way, on every backend.
    Shorter maps, maps on mpi (collective), futures on the other backends
    (which finish before they are returned) and maps from a thread other
    than the main one see Ctrl-C when they return.

    For mpi the calls are collective: every rank makes the same calls, so
    close contexts explicitly (or use with) rather than leave it to the
    garbage collector.  MPI is finalized when the last mpi context parkit
    started it for is closed, and cannot start again in that process.
    """

    def __init__(self, backend=None, workers=None, isa=None, verbose=False):
        self._ptr = ffi.NULL
        self._patch = None
        self._lock = threading.RLock()
        self._futures = weakref.WeakSet()
        self._orphans = []  # jobs of futures collected by another thread
        self._pid = os.getpid()
        cfg = ffi.new("pk_config *")
        keep = []
        if backend is not None:
            keep.append(ffi.new("char[]", str(backend).encode()))
            cfg.backend = keep[-1]
        if isa is not None:
            keep.append(ffi.new("char[]", str(isa).encode()))
            cfg.isa = keep[-1]
        if workers is not None:
            if (isinstance(workers, bool) or int(workers) != workers
                    or workers < 1):
                raise ValueError("workers is a whole number from 1, not %r"
                                 % (workers,))
            cfg.workers = int(workers)
        cfg.verbose = 1 if verbose else 0
        pp = ffi.new("pk_context **")
        st = lib.pk_init_config(pp, ffi.NULL, ffi.NULL, cfg)
        if st != lib.PK_OK:
            raise ParkitError(st, _str(lib.pk_errmsg(ffi.NULL)))
        self._ptr = pp[0]
        self._backend = _str(lib.pk_backend(self._ptr))
        self._patch = None

    # -- life
    def close(self):
        """Wait for pending futures, stop the backend and free the context.
        Collective for mpi.  Closing twice is harmless."""
        with self._lock:
            if self._ptr == ffi.NULL:
                return
            if os.getpid() != self._pid:
                self._ptr = ffi.NULL  # the parent's: not ours to stop
                return
            self._reap()
            for f in list(self._futures):
                f._collect()  # its result outlives the context
            pp = ffi.new("pk_context **", self._ptr)
            st = lib.pk_finalize(pp)
            if st != lib.PK_OK:
                raise ParkitError(st, _str(lib.pk_errmsg(self._ptr)))
            self._ptr = ffi.NULL

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        if self._ptr == ffi.NULL:
            return "<parkit.Context closed>"
        return "<parkit.Context %s, %d workers, isa %s>" % (
            self.backend, self.workers, self.isa)

    def _c(self):
        if self._ptr == ffi.NULL:
            raise ValueError("the context is closed")
        if os.getpid() != self._pid:
            raise RuntimeError("this context belongs to process %d; make a "
                               "new one after fork" % self._pid)
        return self._ptr

    def _error(self, st, result=None):
        n = ffi.new("size_t *")
        failed = _failed(lib.pk_failed(self._ptr, n), n)
        return ParkitError(st, _str(lib.pk_errmsg(self._ptr)), failed, result)

    # -- properties
    @property
    def backend(self):
        return _str(lib.pk_backend(self._c()))

    @property
    def workers(self):
        return lib.pk_workers(self._c())

    @property
    def isa(self):
        return _str(lib.pk_isa_name(lib.pk_isa_of(self._c())))

    @property
    def rank(self):
        return lib.pk_mpi_rank(self._c())

    @property
    def size(self):
        return lib.pk_mpi_size(self._c())

    @property
    def last_stats(self):
        """What the last map or reduce did (pk_last_stats), as a dict."""
        with self._lock:
            s = lib.pk_last_stats(self._c())
            d = {
                "ran_inline": bool(s.ran_inline), "workers": s.workers,
                "schedule": _SCHEDULE_NAMES.get(s.schedule, s.schedule),
                "items": s.items, "chunk": s.chunk, "chunks": s.chunks,
                "failed": s.failed, "bytes_copied": s.bytes_copied,
                "est_seconds": s.est_seconds,
                "dispatch_seconds": s.dispatch_seconds,
                "seconds": s.seconds,
            }
            if self._patch:
                d.update(self._patch)
            return d

    def block(self, n):
        """(first, count): the items [first, first + count) of n that this
        rank owns in parkit's balanced blocks (pk_mpi_block); (0, n) off
        mpi."""
        first = ffi.new("size_t *")
        count = ffi.new("size_t *")
        lib.pk_mpi_block(int(n), self.size, self.rank, first, count)
        return int(first[0]), int(count[0])

    # -- arrays in
    def _input(self, arrays, a, axis=0):
        """A pk_array over a with its axis `axis` as the batch, without
        copying when a is float64 or complex128, native and C-ordered (for
        another axis than 0, a view the library's maps read through)."""
        dt = a.dtype
        if not _convertible(dt):
            raise TypeError(
                "parkit takes arrays of bool, integers, float16/32/64 or "
                "complex64/128, not %s; convert it first, e.g. "
                "a.astype(np.float64)" % dt)
        if not 1 <= a.ndim <= MAX_DIMS:
            raise ValueError("parkit takes arrays of 1 to %d dimensions "
                             "(batch axis included), not %d"
                             % (MAX_DIMS, a.ndim))
        ctx = self._c()
        target = _target(dt)
        if axis != 0:
            ax = axis + a.ndim if axis < 0 else axis
            if (0 <= ax < a.ndim and dt == target and dt.isnative
                    and a.flags.c_contiguous):
                base = self._input(arrays, a)
                pp = arrays.new()
                st = lib.pk_array_view(ctx, base, ax, pp)
                if st != lib.PK_OK:
                    raise self._error(st)
                return pp[0]
            a = np.moveaxis(a, axis, 0)
        shape = ffi.new("size_t[]", a.shape)
        pp = arrays.new()
        if dt == target and dt.isnative and a.flags.c_contiguous:
            buf = ffi.from_buffer(a)
            arrays.keep += [a, buf]
            st = lib.pk_array_wrap(ctx, _CODES[target], a.ndim, shape, buf,
                                   pp)
        elif a.flags.c_contiguous or a.flags.f_contiguous:
            # The library converts type, byte order and memory order in
            # one pass, into memory its workers see.
            fortran = not a.flags.c_contiguous
            buf = ffi.from_buffer(a.T if fortran else a)
            st = lib.pk_array_convert(ctx, dt.str.encode(), int(fortran),
                                      a.ndim, shape, buf, pp)
        else:
            b = np.ascontiguousarray(a, dtype=target)
            buf = ffi.from_buffer(b)
            arrays.keep += [b, buf]
            st = lib.pk_array_wrap(ctx, _CODES[target], b.ndim, shape, buf,
                                   pp)
        if st != lib.PK_OK:
            raise self._error(st)
        return pp[0]

    def _outputs(self, arrays, kernel, ins, outs):
        """numpy arrays for kernel's outputs on the pk_arrays ins, and a
        pk_array *[nout] over them, so that the library writes numpy's
        memory; ([None...], NULLs) when the kernel refuses the inputs
        (the map then says why).  outs: the caller's arrays or None."""
        items = []
        n = 1
        for inp in ins:
            ndim = lib.pk_array_ndim(inp)
            items.append((lib.pk_array_dtype(inp),
                          [lib.pk_array_dim(inp, i) for i in range(1, ndim)]))
            b = lib.pk_array_dim(inp, 0)
            if n == 1 and b != 1:
                n = b  # the batch; inputs of one item are broadcast
        nout = max(kernel._ptr.nout, 1)
        pps = ffi.new("pk_array *[]", nout)
        st, res, _ = kernel._shape_n(items)
        if st != lib.PK_OK:
            return [None] * nout, pps
        got = []
        for k, ((dt, oshape), out) in enumerate(zip(res, outs)):
            shape = (n,) + oshape
            if out is None:
                out = np.empty(shape, dt)
            elif not isinstance(out, np.ndarray):
                raise TypeError("out must be a numpy array")
            elif _out_problem(out, shape, dt, contiguous=True):
                raise ValueError(
                    "out%s must be a writable C-ordered %s array of shape "
                    "%s for kernel %s on this input: %s" % (
                        "" if nout == 1 else "[%d]" % k, dt, shape,
                        kernel.name, _out_problem(out, shape, dt, True)))
            buf = ffi.from_buffer(out, require_writable=True)
            arrays.keep += [out, buf]
            pp = arrays.new()
            cs = ffi.new("size_t[]", shape)
            st = lib.pk_array_wrap(self._ptr, _CODES[dt], len(shape), cs,
                                   buf, pp)
            if st != lib.PK_OK:
                raise self._error(st)
            pps[k] = pp[0]
            got.append(out)
        return got, pps

    def _check_kernel(self, k):
        if not isinstance(k, Kernel):
            raise TypeError("kernel must be a parkit.Kernel (parkit.kernel() "
                            "or parkit.load_kernel()), not %s"
                            % type(k).__name__)

    def _prepare(self, kernel, a, batch_axis, out):
        if max(kernel._ptr.nin, 1) != 1 or max(kernel._ptr.nout, 1) != 1:
            raise ValueError("kernel %s takes %d inputs and makes %d "
                             "outputs: use starmap" % (
                                 kernel.name, max(kernel._ptr.nin, 1),
                                 max(kernel._ptr.nout, 1)))
        return self._prepare_n(kernel, [a], batch_axis, [out])

    def _reap(self):
        """Release the jobs of futures that the garbage collector freed in
        a thread that could not take the lock (under the lock)."""
        while self._orphans:
            self._orphans.pop().release()

    def _prepare_n(self, kernel, inputs, batch_axis, outs):
        self._reap()
        self._check_kernel(kernel)
        nin, nout = max(kernel._ptr.nin, 1), max(kernel._ptr.nout, 1)
        inputs = list(inputs)
        if len(inputs) != nin:
            raise ValueError("kernel %s takes %d input%s, not %d" % (
                kernel.name, nin, "" if nin == 1 else "s", len(inputs)))
        if outs is None:
            outs = [None] * nout
        elif nout == 1 and not isinstance(outs, (list, tuple)):
            outs = [outs]
        if len(outs) != nout:
            raise ValueError("kernel %s makes %d output%s; out has %d" % (
                kernel.name, nout, "" if nout == 1 else "s", len(outs)))
        inputs = [np.asarray(a) for a in inputs]
        if any(a.ndim == 0 for a in inputs):
            raise ValueError("a 0-d array has no batch axis")
        arrays = _Arrays()
        try:
            ins = [self._input(arrays, a, batch_axis) for a in inputs]
            res, pps = self._outputs(arrays, kernel, ins, outs)
        except BaseException:
            arrays.destroy()
            raise
        return _Job(self, kernel, arrays, ins, pps, res)

    @staticmethod
    def _opts(schedule, chunk, inline):
        if schedule not in _SCHEDULES:
            raise ValueError("schedule is 'auto', 'block', 'cyclic' or "
                             "'dynamic', not %r" % (schedule,))
        if inline not in _INLINE:
            raise ValueError("inline is 'auto', 'never' or 'always', not %r"
                             % (inline,))
        if int(chunk) < 0:
            raise ValueError("chunk must be 0 (parkit chooses) or more")
        o = ffi.new("pk_map_opts *")
        o.schedule = _SCHEDULES[schedule]
        o.chunk = int(chunk)
        o.inlining = _INLINE[inline]
        return o

    # -- maps
    def map(self, kernel, a, batch_axis=0, out=None, schedule=None, chunk=0,
            inline=None, distributed=False):
        """out[i] = kernel(a[i]) for every item along batch_axis: a numpy
        array with the batch on axis 0 (pk_map).

        a: any array numpy can make of bool, integers, floats or complex
        numbers; float64 and complex128 in C order are read in place,
        others converted.  out: a C-ordered array of the output's dtype
        and shape to write into (the result is out itself).  schedule:
        "block", "cyclic", "dynamic" (default: parkit chooses); chunk:
        items per chunk; inline: "never" or "always" to override the
        small-map rule.  On the mpi backend a is the same array on every
        rank and every rank gets the whole output; distributed=True takes
        a as this rank's block (see block()) and returns its block of the
        output.

        A kernel that fails on some items raises ParkitError (PK_EKERNEL)
        with .failed listing them and .result holding the rest.
        """
        if distributed and self.size > 1:
            return self._map_distributed(kernel, a, batch_axis, schedule,
                                         chunk, inline, out)
        opts = self._opts(schedule, chunk, inline)
        with self._lock:
            return self._run(kernel,
                             self._prepare(kernel, a, batch_axis, out), opts)

    def _run(self, kernel, job, opts):
        """Run a prepared map to its end (pk_map, or pk_map_n for a kernel
        of several inputs or outputs); under self._lock.  A long fork map
        is waited for in steps, so that Ctrl-C is seen (see Context)."""
        self._patch = None
        if self._backend == "fork" and self._long(kernel, job.ins):
            t0 = _now()
            f = job.start(opts)
            try:
                return f._get(None, release_on_interrupt=True)
            finally:
                # pk_last_stats saw the dispatch, not the completion.
                self._patch = {"seconds": _now() - t0, "failed": len(
                    f._error.failed) if f._error is not None else 0}
        def call():
            if job.nin == 1 and job.nout == 1:
                return lib.pk_map(self._ptr, kernel._ptr, job.inp,
                                  job.outpp, opts)
            return lib.pk_map_n(self._ptr, kernel._ptr, job.nin, job.ins,
                                job.nout, job.outs, opts)

        try:
            if (self._backend in ("serial", "openmp") and
                    threading.current_thread() is threading.main_thread() and
                    self._long(kernel, job.ins)):
                st = _in_thread(call, "parkit-map",
                                lambda: lib.pk_interrupt(self._ptr))
            else:
                st = call()
            return job.finish(st, self._error)
        finally:
            job.release()

    def _long(self, kernel, ins):
        k = kernel._ptr
        if k.cost == ffi.NULL:
            return True
        items = ffi.new("pk_item[]", len(ins))
        n = 1
        for item, inp in zip(items, ins):
            item.dtype = lib.pk_array_dtype(inp)
            item.ndim = lib.pk_array_ndim(inp) - 1
            for i in range(item.ndim):
                item.shape[i] = lib.pk_array_dim(inp, i + 1)
            n = max(n, lib.pk_array_dim(inp, 0))
        ns = k.cost(k, items) * n
        return not ns * 1e-9 / max(self.workers, 1) < _LONG  # NaN: long

    def starmap(self, kernel, arrays, out=None, schedule=None, chunk=0,
                inline=None):
        """out[i] = kernel(arrays[0][i], arrays[1][i], ...) for every
        item i (multiprocessing's starmap over the zipped batches;
        pk_map_n): arrays holds one array per input of the kernel, each
        with its batch on axis 0; an array of one item is broadcast to
        every item (a fixed kernel image, never copied per item).  Returns
        the output, or a tuple of them for a kernel of several; out: the
        arrays to write into, likewise.  The other arguments and the
        errors are map's.

            ctx.starmap(parkit.kernel("correlate2d", mode="same"), [a, b])
        """
        opts = self._opts(schedule, chunk, inline)
        with self._lock:
            return self._run(kernel,
                             self._prepare_n(kernel, arrays, 0, out), opts)

    def starmap_async(self, kernel, arrays, out=None, schedule=None, chunk=0,
                      inline=None):
        """starmap, started at once with a Future for its result, as
        map_async (pk_map_async_n)."""
        opts = self._opts(schedule, chunk, inline)
        with self._lock:
            self._patch = None
            job = self._prepare_n(kernel, arrays, 0, out)
            return job.start(opts)

    def map_each(self, kernel, a, callback, batch_axis=0, out=None,
                 schedule=None, chunk=0, inline=None):
        """As map, calling callback(lo, hi) each time the items [lo, hi)
        are done, in the order they finish (multiprocessing's
        imap_unordered, for progress).  A map run inline is one range on
        fork, ranges of about 10 ms elsewhere.  The calls come in the
        calling thread, one at a time, while the map runs, so callback may
        use this context (last_stats, say) as the caller may.  An exception
        in callback, or Ctrl-C, stops the calls and the map (pk_interrupt:
        no item starts after it; on fork the workers running it are
        replaced) and is raised when the map has returned."""
        opts = self._opts(schedule, chunk, inline)
        raised = []
        ranges = queue.SimpleQueue()  # (lo, hi) as they finish; None: end

        # The library calls back from its worker threads (openmp): they
        # hand the range over to the calling thread, which holds the lock.
        cb = ffi.callback("void(void *, size_t, size_t)",
                          lambda arg, lo, hi: ranges.put((lo, hi)))
        with self._lock:
            self._patch = None
            job = self._prepare(kernel, a, batch_axis, out)
            got = []
            ended = threading.Event()

            def call():
                return lib.pk_map_each(self._ptr, kernel._ptr, job.inp,
                                       job.outpp, opts, cb, ffi.NULL)

            def run():
                try:
                    got.append(call())
                finally:
                    ended.set()
                    ranges.put(None)

            try:
                threading.Thread(target=run, name="parkit-map_each").start()
                while True:
                    try:
                        # The end is the event (a None taken from the queue
                        # as Ctrl-C strikes is lost); not Thread.join (see
                        # _in_thread).
                        if ended.is_set() and ranges.empty():
                            break
                        r = ranges.get()
                        if r is None:
                            break
                        if not raised:
                            callback(*r)
                    except BaseException as e:  # Ctrl-C too: the map stops
                        if not raised:          # (pk_interrupt), then it is
                            lib.pk_interrupt(self._ptr)  # raised
                        raised.append(e)
                res = (job.finish(got[0], self._error)
                       if got and not raised else None)
            finally:
                job.release()
        if raised:
            raise raised[0]
        return res

    def max_tasks(self, n):
        """Replace each worker once it has run n chunks (0: never), as
        Pool(maxtasksperchild=n); for a kernel that leaks.  Only the fork
        backend has workers to replace."""
        with self._lock:
            st = lib.pk_worker_max_tasks(self._c(), int(n))
        if st != lib.PK_OK:
            raise self._error(st)

    def map_async(self, kernel, a, batch_axis=0, out=None, schedule=None,
                  chunk=0, inline=None):
        """Start a map and return a Future for its result at once
        (pk_map_async).  On the fork backend the workers run it while
        Python goes on; on serial, openmp and mpi it runs before this
        returns.  a and out must not be changed until the future is
        ready."""
        opts = self._opts(schedule, chunk, inline)
        with self._lock:
            self._patch = None
            job = self._prepare(kernel, a, batch_axis, out)
            return job.start(opts)

    def reduce(self, a, op="sum"):
        """Every element of a combined by op ("sum", "prod", "min", "max"):
        a float, or a complex for complex input (pk_reduce).  The bits do
        not depend on the backend or the workers."""
        if op not in _OPS:
            raise ValueError("op is 'sum', 'prod', 'min' or 'max', not %r"
                             % (op,))
        a = np.asarray(a)
        if a.ndim == 0:
            a = a.reshape(1)
        with self._lock:
            self._patch = None
            arrays = _Arrays()
            try:
                inp = self._input(arrays, a.reshape(-1) if a.ndim > MAX_DIMS
                                  else a)
                r = ffi.new("double[2]")
                st = lib.pk_reduce(self._ptr, inp, _OPS[op], r)
                if st != lib.PK_OK:
                    raise self._error(st)
                if lib.pk_array_dtype(inp) == lib.PK_C128:
                    return complex(r[0], r[1])
                return float(r[0])
            finally:
                arrays.destroy()

    def map_reduce(self, kernel, a, op="sum", batch_axis=0):
        """reduce() of map()'s output, without keeping it (pk_map_reduce)."""
        if op not in _OPS:
            raise ValueError("op is 'sum', 'prod', 'min' or 'max', not %r"
                             % (op,))
        self._check_kernel(kernel)
        a = np.asarray(a)
        with self._lock:
            self._patch = None
            arrays = _Arrays()
            try:
                inp = self._input(arrays, a, batch_axis)
                r = ffi.new("double[2]")
                st = lib.pk_map_reduce(self._ptr, kernel._ptr, inp, _OPS[op],
                                       r, ffi.NULL)
                if st != lib.PK_OK:
                    raise self._error(st)
                st, res, _ = kernel._shape(lib.pk_array_dtype(inp), [
                    lib.pk_array_dim(inp, i)
                    for i in range(1, lib.pk_array_ndim(inp))])
                if res is not None and res[0] == np.complex128:
                    return complex(r[0], r[1])
                return float(r[0])
            finally:
                arrays.destroy()

    # -- mpi
    def _agree_count(self, count):
        """The global number of items of blocks of count items on every
        rank, and whether each rank's block is its pk_mpi_block."""
        arrays = _Arrays()
        try:
            size, rank = self.size, self.rank
            pp = arrays.new()
            shape = ffi.new("size_t[]", [size])
            st = lib.pk_mpi_create(self._ptr, lib.PK_F64, 1, shape, pp)
            if st != lib.PK_OK:
                raise self._error(st)
            r = ffi.new("double[2]")
            data = ffi.cast("double *", lib.pk_array_data(pp[0]))
            data[0] = float(count)
            st = lib.pk_reduce(self._ptr, pp[0], lib.PK_SUM, r)
            if st != lib.PK_OK:
                raise self._error(st)
            total = int(r[0])
            first, mine = self.block(total)
            data[0] = 0.0 if mine == count else 1.0
            st = lib.pk_reduce(self._ptr, pp[0], lib.PK_MAX, r)
            if st != lib.PK_OK:
                raise self._error(st)
            if r[0] != 0:
                raise ValueError(
                    "the ranks' blocks are not parkit's blocks of %d items "
                    "(rank %d has %d, block(%d) gives %d): take each "
                    "rank's with ctx.block(n)" % (total, rank, count, total,
                                                  mine))
            return total
        finally:
            arrays.destroy()

    def _distributed(self, arrays, block):
        """A distributed pk_array holding each rank's block (a copy).
        Collective."""
        dt = block.dtype
        if not _convertible(dt):
            raise TypeError("parkit takes arrays of bool, integers, floats "
                            "or complex numbers, not %s" % dt)
        if not 1 <= block.ndim <= MAX_DIMS:
            raise ValueError("parkit takes arrays of 1 to %d dimensions"
                             % MAX_DIMS)
        total = self._agree_count(block.shape[0])
        target = _target(dt)
        pp = arrays.new()
        shape = ffi.new("size_t[]", (total,) + block.shape[1:])
        st = lib.pk_mpi_create(self._ptr, _CODES[target], block.ndim, shape,
                               pp)
        if st != lib.PK_OK:
            raise self._error(st)
        n = lib.pk_array_nbytes(pp[0])
        if n:
            mem = np.frombuffer(ffi.buffer(lib.pk_array_data(pp[0]), n),
                                target).reshape(block.shape)
            mem[...] = block
        return pp[0]

    def _map_distributed(self, kernel, block, batch_axis, schedule, chunk,
                         inline, out=None):
        self._check_kernel(kernel)
        opts = self._opts(schedule, chunk, inline)
        block = np.asarray(block)
        if batch_axis != 0:
            block = np.moveaxis(block, batch_axis, 0)
        with self._lock:
            self._patch = None
            self._c()
            arrays = _Arrays()
            try:
                inp = self._distributed(arrays, block)
                outpp = arrays.new()
                st = lib.pk_map(self._ptr, kernel._ptr, inp, outpp, opts)
                res = _view(outpp[0]) if outpp[0] != ffi.NULL else None
                if st != lib.PK_OK:
                    raise self._error(st, res)
            finally:
                arrays.destroy()
        if out is None:
            return res
        # Checked after the collective call: a rank that refused before it
        # would leave the others waiting.
        why = _out_problem(out, res.shape, res.dtype)
        if why:
            raise ValueError("out must be this rank's block of the output, "
                             "a writable %s array of shape %s: %s"
                             % (res.dtype, res.shape, why))
        out[...] = res
        return out

    def scatter(self, a, root=0):
        """Rank root's array a, split in parkit's blocks: each rank gets its
        block as float64 or complex128 (pk_mpi_scatter).  a is ignored on
        the other ranks.  Collective."""
        with self._lock:
            self._patch = None
            self._c()
            arrays = _Arrays()
            try:
                src = ffi.NULL
                if self.rank == root:
                    src = self._input(arrays, np.asarray(a))
                pp = arrays.new()
                st = lib.pk_mpi_scatter(self._ptr, src, int(root), pp)
                if st != lib.PK_OK:
                    raise self._error(st)
                return _view(pp[0])
            finally:
                arrays.destroy()

    def gather(self, block, root=0):
        """Every rank's block (of parkit's layout, see block()) joined in
        rank order: the whole array on rank root, None on the others; on
        every rank with root=-1 (pk_mpi_gather).  Collective."""
        with self._lock:
            self._patch = None
            self._c()
            arrays = _Arrays()
            try:
                src = self._distributed(arrays, np.asarray(block))
                pp = arrays.new()
                st = lib.pk_mpi_gather(self._ptr, src, int(root), pp)
                if st != lib.PK_OK:
                    raise self._error(st)
                return _view(pp[0]) if pp[0] != ffi.NULL else None
            finally:
                arrays.destroy()
