"""adamasync.Client: pull parameters into numpy arrays, push gradients.

A thin layer over the C++ SDK (adamasync._core.Client) that checks
arguments with clear TypeError/ValueError messages before anything reaches
C++, and returns futures for the asynchronous forms. The arrays are used in
place: no copy is made on either side of the binding.
"""

import asyncio
import atexit
import concurrent.futures
import weakref

import numpy as np

from . import _core
from ._errors import error_from_status

__all__ = ["Client", "Future"]


class Future(concurrent.futures.Future):
    """A concurrent.futures.Future that asyncio code can also ``await``.

    It cannot be cancelled (the call is already on the wire). Done-callbacks
    run on the client's completion thread: keep them short, and do not wait
    there for another future of the same client.
    """

    def __await__(self):
        return asyncio.wrap_future(self).__await__()


def _check_table(table):
    if not isinstance(table, str):
        raise TypeError(f"table must be a str, got {type(table).__name__}")


def _check_array(array, what, writable):
    """Raise TypeError/ValueError unless `array` can be used in place."""
    if not isinstance(array, np.ndarray):
        hint = ""
        if type(array).__module__.startswith("torch"):
            hint = " (for a CPU tensor pass tensor.numpy(), which shares its memory)"
        raise TypeError(f"{what} must be a numpy.ndarray of float32, got "
                        f"{type(array).__module__}.{type(array).__name__}{hint}")
    if array.dtype != np.float32:
        raise TypeError(f"{what} must have dtype float32 (native byte order), got {array.dtype}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{what} must be C-contiguous (np.ascontiguousarray() makes a "
                         f"contiguous copy); got strides {array.strides}")
    if not array.flags.aligned:
        raise ValueError(f"{what} is not aligned to 4 bytes")
    if writable and not array.flags.writeable:
        raise ValueError(f"{what} is read-only; pull needs a writable array")


def _check_versions(pulled):
    if pulled is None:
        return _core.Versions()
    if not isinstance(pulled, _core.Versions):
        raise TypeError(f"pulled must be an adamasync.Versions (what pull returned) or None, "
                        f"got {type(pulled).__name__}")
    return pulled


def _new_future():
    """A running Future and the `done(versions, code, message)` that ends it."""
    future = Future()
    future.set_running_or_notify_cancel()

    def done(versions, code, message):
        if code == 0:
            future.set_result(versions)
        else:
            future.set_exception(error_from_status(code, message))

    return future, done


class Client:
    """A connection to every shard of one AdamAsync cluster.

    ``Client(servers, **option_fields)`` with ``servers`` a list of
    "host:port" in shard order (or one comma-separated string) and any field
    of :class:`ClientOptions` as a keyword (``deadline=10.0``,
    ``worker_id=1``, ...); or ``Client(ClientOptions(...))``.

    Every method may be called from any thread; network calls release the
    GIL. Errors are raised as :class:`AdamAsyncError` subclasses with the
    gRPC status code. Use it as a context manager, or call :meth:`close`
    (clients still open at interpreter exit are closed then).
    """

    def __init__(self, servers, **option_fields):
        if isinstance(servers, _core.ClientOptions):
            if option_fields:
                raise TypeError("pass either a ClientOptions or servers and option keywords")
            options = servers
        else:
            if isinstance(servers, str):
                servers = [s.strip() for s in servers.split(",") if s.strip()]
            options = _core.ClientOptions(list(servers), **option_fields)
        self._impl = _core.Client(options)
        _open_clients.add(self)

    # -- tables -------------------------------------------------------------

    def create_table(self, spec):
        """Create `spec` (a :class:`TableSpec`) on every shard.

        Idempotent: succeeds when every shard already holds exactly this
        spec. Raises AlreadyExistsError when a different table has the name,
        InvalidArgumentError for a bad spec.
        """
        if not isinstance(spec, _core.TableSpec):
            raise TypeError(f"spec must be an adamasync.TableSpec, got {type(spec).__name__}")
        self._impl.create_table(spec)

    def table_size(self, table):
        """Number of elements of `table` (NotFoundError if there is none)."""
        _check_table(table)
        return self._impl.table_size(table)

    # -- pull and push ------------------------------------------------------

    def pull(self, table, out):
        """Copy the whole table into `out` and return the :class:`Versions` seen.

        `out`: a writable, C-contiguous float32 numpy array of any shape with
        exactly the table's number of elements (else InvalidArgumentError).
        It is written in place.
        """
        _check_table(table)
        _check_array(out, "out", writable=True)
        return self._impl.pull(table, out)

    def push(self, table, gradient, pulled=None):
        """Apply one Adam step with `gradient` to the whole table.

        `gradient`: a C-contiguous float32 numpy array with the table's
        number of elements, all finite (a NaN or Inf is InvalidArgumentError
        and nothing is sent). `pulled`: the Versions of the pull the
        gradient was computed from (staleness accounting), or None.
        Returns the Versions the push produced.
        """
        _check_table(table)
        _check_array(gradient, "gradient", writable=False)
        return self._impl.push(table, gradient, _check_versions(pulled))

    def pull_async(self, table, out):
        """Start :meth:`pull`; returns a :class:`Future` of the Versions.

        `out` is kept alive by the client and must not be read or written
        until the future is done.
        """
        _check_table(table)
        _check_array(out, "out", writable=True)
        future, done = _new_future()
        self._impl.pull_async(table, out, done)
        return future

    def push_async(self, table, gradient, pulled=None):
        """Start :meth:`push`; returns a :class:`Future` of the Versions.

        `gradient` is kept alive by the client and must not change until the
        future is done.
        """
        _check_table(table)
        _check_array(gradient, "gradient", writable=False)
        versions = _check_versions(pulled)
        future, done = _new_future()
        self._impl.push_async(table, gradient, versions, done)
        return future

    # -- workers and monitoring ---------------------------------------------

    def get_stats(self):
        """Counters of every shard, in shard order (a list of ShardStats)."""
        return self._impl.get_stats()

    def counters(self):
        """What this client's RPCs met since it was created (ClientCounters):
        attempts, retries after UNAVAILABLE or an attempt timeout, and calls
        that failed for good. Local: nothing is sent."""
        return self._impl.counters()

    def register(self):
        """Register this worker (ClientOptions.worker_id) or renew its lease.

        Done automatically on first use; FailedPreconditionError for an
        anonymous client (worker_id 0).
        """
        self._impl.register()

    def clock(self):
        """Advance this worker's SSP clock; returns the slowest live worker's clock."""
        return self._impl.clock()

    # -- lifetime -------------------------------------------------------------

    @property
    def options(self):
        """The :class:`ClientOptions` this client was made with (a copy)."""
        return self._impl.options

    @property
    def closed(self):
        return self._impl.closed

    def close(self):
        """Refuse new calls, wait for the ones in flight, disconnect. Idempotent."""
        self._impl.close()
        _open_clients.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return f"<adamasync.Client {state} servers={list(self.options.servers)}>"


# Clients still open when the interpreter exits are closed before it
# finalizes: their completion thread needs the interpreter to finish.
_open_clients = weakref.WeakSet()


@atexit.register
def _close_open_clients():
    for client in list(_open_clients):
        try:
            client.close()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
