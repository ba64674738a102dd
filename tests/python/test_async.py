"""The asynchronous forms: futures (also awaitable), errors through them,
buffers kept alive until completion and released after, close() waiting."""

import asyncio
import concurrent.futures
import gc
import threading
import weakref

import numpy as np
import pytest

import adamasync
from adam_reference import AdamReference, max_relative_error


@pytest.fixture
def client(two_shards):
    with adamasync.Client(two_shards) as c:
        yield c


def test_push_and_pull_futures(client, table_name):
    client.create_table(adamasync.TableSpec(table_name, 3000, adam=adamasync.AdamConfig(lr=0.01),
                                            init=adamasync.Initializer.uniform(-1, 1, seed=2)))
    w = np.empty(3000, np.float32)
    pull = client.pull_async(table_name, w)
    assert isinstance(pull, concurrent.futures.Future)
    pulled = pull.result(timeout=30)
    assert pulled.per_shard == [0, 0]
    reference = AdamReference(w, lr=0.01)
    g = np.linspace(-1, 1, 3000, dtype=np.float32)
    push = client.push_async(table_name, g, pulled)
    assert not push.cancel()  # already on the wire
    assert push.result(timeout=30).per_shard == [1, 1]
    assert client.pull_async(table_name, w).result(timeout=30).per_shard == [1, 1]
    assert max_relative_error(w, reference.step(g)) <= 1e-6


def test_many_in_flight(client, table_name):
    # 4096 elements: both shards hold part of each table (1024-element blocks).
    names = [f"{table_name}/{i}" for i in range(16)]
    for name in names:
        client.create_table(adamasync.TableSpec(name, 4096))
    gradients = [np.full(4096, i + 1, np.float32) for i in range(16)]
    pushes = [client.push_async(n, g) for n, g in zip(names, gradients)]
    assert all(f.result(timeout=30).per_shard == [1, 1] for f in pushes)
    outs = [np.empty(4096, np.float32) for _ in names]
    pulls = [client.pull_async(n, o) for n, o in zip(names, outs)]
    concurrent.futures.wait(pulls, timeout=30)
    # One Adam step from zeros with a constant positive gradient: -lr.
    assert all(np.allclose(o, -1e-3, rtol=1e-6) for o in outs)


def test_errors_come_back_through_the_future(client, table_name):
    client.create_table(adamasync.TableSpec(table_name, 10))
    missing = client.pull_async("no/such/table", np.empty(10, np.float32))
    assert isinstance(missing.exception(timeout=30), adamasync.NotFoundError)
    wrong_size = client.push_async(table_name, np.zeros(11, np.float32))
    with pytest.raises(adamasync.InvalidArgumentError):
        wrong_size.result(timeout=30)
    g = np.zeros(10, np.float32)
    g[3] = np.nan
    assert client.push_async(table_name, g).exception(timeout=30).code == \
        adamasync.StatusCode.INVALID_ARGUMENT


def _run_in_completion_callback(client, table, size, fn):
    """Run fn() in a done callback on the client's completion thread.

    A callback added after the future is done runs at once on the caller's
    thread instead; pulls of a large table make that rare, and a few tries
    make the test deterministic. Returns what fn returned."""
    for _ in range(20):
        results = []
        done = threading.Event()

        def callback(_future):
            if threading.current_thread() is not threading.main_thread():
                results.append(fn())
            done.set()

        client.pull_async(table, np.empty(size, np.float32)).add_done_callback(callback)
        assert done.wait(30)
        if results:
            return results[0]
    pytest.fail("no done callback ran on the completion thread")


def test_done_callbacks_run_on_the_completion_thread(client, table_name):
    client.create_table(adamasync.TableSpec(table_name, 1_000_000))
    name = _run_in_completion_callback(client, table_name, 1_000_000,
                                       lambda: threading.current_thread().name)
    assert name != threading.main_thread().name


def test_awaitable(client, table_name):
    client.create_table(adamasync.TableSpec(table_name, 4096))

    async def main():
        w = np.empty(4096, np.float32)
        pushed = await client.push_async(table_name, np.ones(4096, np.float32))
        pulled = await client.pull_async(table_name, w)
        return pushed, pulled, w

    pushed, pulled, w = asyncio.run(main())
    assert pushed.per_shard == [1, 1] and pulled.per_shard == [1, 1]
    assert np.allclose(w, -1e-3)


def test_buffer_kept_alive_then_released(client, table_name):
    client.create_table(adamasync.TableSpec(table_name, 100_000,
                                            init=adamasync.Initializer.constant(3.0)))
    out = np.zeros(100_000, np.float32)
    view = out[:10]  # a view keeps `out`'s memory observable after `del out`
    alive = weakref.ref(out)
    future = client.pull_async(table_name, out)
    del out
    gc.collect()
    future.result(timeout=30)
    assert np.all(view == 3.0)  # written, not into a freed or copied buffer
    del view
    gc.collect()
    assert alive() is None  # the client let go of it


def test_close_waits_for_calls_in_flight(two_shards, table_name):
    client = adamasync.Client(two_shards)
    client.create_table(adamasync.TableSpec(table_name, 500_000))
    outs = [np.full(500_000, np.nan, np.float32) for _ in range(4)]
    futures = [client.pull_async(table_name, o) for o in outs]
    client.close()
    assert all(f.done() for f in futures)
    assert all(np.all(o == 0) for o in outs)


def test_close_from_a_done_callback_is_refused(client, table_name):
    client.create_table(adamasync.TableSpec(table_name, 1_000_000))

    def close():
        try:
            client.close()
        except RuntimeError as e:
            return e

    error = _run_in_completion_callback(client, table_name, 1_000_000, close)
    assert isinstance(error, RuntimeError) and "completion callback" in str(error)
    assert not client.closed


def test_client_dropped_in_a_done_callback(two_shards, table_name):
    # The last reference to a client dies on its own completion thread.
    client = adamasync.Client(two_shards)
    client.create_table(adamasync.TableSpec(table_name, 10))
    done = threading.Event()
    holder = [client]
    del client
    # A large pull, so that the callback is usually added before it ends.
    holder[0].create_table(adamasync.TableSpec(table_name + "/big", 2_000_000))
    future = holder[0].pull_async(table_name + "/big", np.empty(2_000_000, np.float32))
    future.add_done_callback(lambda _f: (holder.clear(), gc.collect(), done.set()))
    assert done.wait(30)
    assert future.result().per_shard == [0, 0]
