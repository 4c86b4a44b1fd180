"""Futures: a map left running, as multiprocessing's AsyncResult."""
from ._ffi import ffi, lib
from ._kernels import _POLL, _str, ParkitError, _failed, _view

class _Job:
    """One map's arrays, its outputs and, once started, its future.

    ins: the pk_array inputs; outs: a pk_array *[nout] the map fills or
    checks; res: the numpy outputs the library writes (None where it
    makes one)."""

    def __init__(self, ctx, kernel, arrays, ins, outs, res):
        self.ctx = ctx
        self.kernel = kernel
        self.arrays = arrays
        self.nin = len(ins)
        self.nout = len(res)
        self.ins = ffi.new("const pk_array *[]", ins)
        self.inp = ins[0]
        self.outs = outs
        self.outpp = ffi.cast("pk_array **", outs)
        self.res = res
        self.fp = ffi.new("pk_future **")

    def start(self, opts):
        ctx = self.ctx
        try:
            st = lib.pk_map_async_n(ctx._ptr, self.kernel._ptr, self.nin,
                                    self.ins, self.nout, self.outs, opts,
                                    self.fp)
            if st != lib.PK_OK:
                raise ctx._error(st)
        except BaseException:
            self.release()
            raise
        f = Future(self)
        ctx._futures.add(f)
        return f

    def result(self):
        """The output, or the tuple of outputs of a kernel of several."""
        got = []
        for k in range(self.nout):
            if self.res[k] is not None:
                got.append(self.res[k])
            elif self.outs[k] != ffi.NULL:
                got.append(_view(self.outs[k]))
            else:
                got.append(None)
        return got[0] if self.nout == 1 else tuple(got)

    def finish(self, st, error):
        res = self.result()
        if st != lib.PK_OK:
            raise error(st, res if st in (lib.PK_EKERNEL, lib.PK_EWORKER)
                        else None)
        return res

    def release(self):
        """Wait for the future, if any, then free the arrays.  Each step is
        reached even if Ctrl-C interrupts the one before."""
        try:
            if self.fp[0] != ffi.NULL:
                lib.pk_future_destroy(self.fp)
        finally:
            self.arrays.destroy()


class Future:
    """The result of Context.map_async, as multiprocessing's AsyncResult:
    ready(), wait(timeout), successful() and get(timeout); and cancel()."""

    def __init__(self, job):
        self._job = job
        self._ctx = job.ctx
        self._done = False
        self._value = None
        self._error = None

    def _locked(self, timeout):
        """The context's lock, within timeout seconds (None: no limit).
        Another thread's call on the context holds it: a look at the map
        waits for that call no longer than the caller asked."""
        lock = self._ctx._lock
        if timeout is None:
            return lock.acquire()
        if timeout <= 0:
            return lock.acquire(blocking=False)
        return lock.acquire(timeout=timeout)

    def ready(self):
        """True if the map has finished (False while another thread's
        call on the context keeps it from looking)."""
        if self._done:
            return True
        if not self._locked(0):
            return False
        try:
            if self._job is None:
                return True
            return bool(lib.pk_future_ready(self._job.fp[0]))
        finally:
            self._ctx._lock.release()

    def wait(self, timeout=None):
        """Wait up to timeout seconds (None: until it finishes); True if
        it has finished."""
        if self._done:
            return True
        deadline = None if timeout is None else _now() + timeout
        while True:
            step = _POLL if deadline is None else max(
                0.0, min(_POLL, deadline - _now()))
            st = None
            if self._locked(step):
                try:
                    if self._job is None:
                        return True
                    if deadline is not None:  # less what the lock took
                        step = max(0.0, min(step, deadline - _now()))
                    st = lib.pk_future_wait(self._job.fp[0], step)
                finally:
                    self._ctx._lock.release()
            if st == lib.PK_OK:
                return True
            if deadline is not None and _now() >= deadline:
                return False

    def successful(self):
        """True if the map finished without error; ValueError if it has
        not finished."""
        if not self.ready():
            raise ValueError("the map has not finished")
        self._collect()
        return self._error is None

    def get(self, timeout=None):
        """The map's output; ParkitError if it failed; TimeoutError if it
        has not finished within timeout seconds."""
        return self._get(timeout)

    def cancel(self):
        """Stop the map if it has not finished (Pool.terminate, for one
        map): on the fork backend no further item starts, and the workers
        running its items are killed and replaced, so the context stays
        whole and usable.  get() then raises ParkitError (PK_ECANCELED):
        .failed lists the items that did not complete, .result holds the
        others.  True if the map was stopped, False if it had finished
        (serial, openmp and mpi finish a map before its future is made)."""
        with self._ctx._lock:
            if self._done or self._job is None:
                return False
            f = self._job.fp[0]
            if lib.pk_future_ready(f):
                return False
            lib.pk_future_cancel(f)
            return lib.pk_future_get(f) == lib.PK_ECANCELED

    def _get(self, timeout, release_on_interrupt=False):
        deadline = None if timeout is None else _now() + timeout
        try:
            if not self.wait(timeout):
                raise TimeoutError("the map has not finished in %g s"
                                   % timeout)
        except KeyboardInterrupt:
            if release_on_interrupt:
                self.cancel()  # stops the map: its workers are replaced
                self._release()  # then frees its arrays
            raise
        if self._done:
            self._collect()
        else:
            # Finished; its result is taken under the lock, which another
            # thread's call may hold longer than the caller waits.
            if not self._locked(None if deadline is None
                                else deadline - _now()):
                raise TimeoutError("the map has finished, but another "
                                   "thread's call on the context kept its "
                                   "result for more than %g s" % timeout)
            try:
                self._collect()  # the lock is re-entrant
            finally:
                self._ctx._lock.release()
        if self._error is not None:
            raise self._error
        return self._value

    def _collect(self):
        with self._ctx._lock:
            job = self._job
            if self._done or job is None:
                return
            try:
                f = job.fp[0]
                st = lib.pk_future_get(f)
                if st == lib.PK_OK:
                    self._value = job.result()
                else:
                    n = ffi.new("size_t *")
                    failed = _failed(lib.pk_future_failed(f, n), n)
                    part = (job.result() if st in (
                        lib.PK_EKERNEL, lib.PK_EWORKER, lib.PK_ECANCELED)
                            else None)
                    self._error = ParkitError(
                        st, _str(lib.pk_future_errmsg(f)), failed, part)
                self._done = True
            finally:
                self._release()

    def _release(self):
        with self._ctx._lock:
            job, self._job = self._job, None
            if job is not None:
                self._ctx._futures.discard(self)
                job.release()
                if not self._done:
                    self._done = True
                    self._error = ParkitError(
                        lib.PK_EINTR, "the map was interrupted; its result "
                        "was not kept")

    def __del__(self):
        # Any thread may collect a future: one that cannot take the
        # context's lock now (map_each's helper thread, while the caller
        # holds it) must not wait for it; the context's next call releases
        # the job instead.
        try:
            lock = self._ctx._lock
            if lock.acquire(blocking=False):
                try:
                    self._release()
                finally:
                    lock.release()
            elif self._job is not None:
                job, self._job = self._job, None
                self._ctx._orphans.append(job)
        except Exception:
            pass


def _now():
    return lib.pk_time()
