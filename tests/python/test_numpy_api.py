"""The numpy API against real servers: results follow a float64 Adam
reference to 1e-6 relative, in place and for any shard count."""

import threading

import numpy as np
import pytest

import adamasync
from adam_reference import AdamReference, max_relative_error

STEPS = 10
TOLERANCE = 1e-6


def _train(client, name, size, adam, reference_kwargs, shape=None, pushes=STEPS):
    spec = adamasync.TableSpec(name, size, adam=adam,
                               init=adamasync.Initializer.uniform(-1.0, 1.0, seed=7))
    client.create_table(spec)
    w = np.empty(shape or size, np.float32)
    pulled = client.pull(name, w)
    assert pulled.per_shard == [0] * len(client.options.servers)
    reference = AdamReference(w, **reference_kwargs)
    rng = np.random.default_rng(3)
    worst = 0.0
    for step in range(1, pushes + 1):
        g = rng.standard_normal(w.shape).astype(np.float32)
        pushed = client.push(name, g, pulled)
        assert pushed.per_shard == [step] * len(pushed.per_shard)
        pulled = client.pull(name, w)
        assert pulled.per_shard == [step] * len(pulled.per_shard)
        worst = max(worst, max_relative_error(w, reference.step(g)))
    return worst


CASES = {
    "adam": (dict(lr=1e-2), {}),
    "adam_l2": (dict(lr=1e-2, weight_decay=0.1), {}),
    "adam_amsgrad_maximize": (dict(lr=1e-2, amsgrad=True, maximize=True, beta1=0.8,
                                   beta2=0.99, eps=1e-6), {}),
    "adamw": (dict(algorithm=adamasync.Algorithm.ADAMW, lr=1e-2, weight_decay=0.05),
              dict(decoupled=True)),
    "adamw_amsgrad": (dict(algorithm=adamasync.Algorithm.ADAMW, lr=3e-3, weight_decay=1e-2,
                           amsgrad=True), dict(decoupled=True)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_adam_matches_float64_reference(one_shard, table_name, case):
    config, extra = CASES[case]
    adam = adamasync.AdamConfig(**config)
    kwargs = {k: v for k, v in config.items() if k != "algorithm"}
    kwargs.update(extra)
    with adamasync.Client(one_shard) as client:
        worst = _train(client, table_name, 5000, adam, kwargs)
    assert worst <= TOLERANCE, f"max relative error {worst:.3g} over {STEPS} steps"


def test_two_shards_many_chunks_multidim(two_shards, table_name):
    # 300 000 elements: several 1024-element blocks per shard and, with
    # 65 536-element chunks, several chunks per shard; a 3-D array in place.
    shape = (3, 400, 250)
    size = 3 * 400 * 250
    adam = adamasync.AdamConfig(algorithm=adamasync.Algorithm.ADAMW, lr=1e-2, amsgrad=True,
                                weight_decay=1e-2)
    with adamasync.Client(two_shards, chunk_elements=adamasync.SEGMENT_ELEMENTS,
                          max_chunks_in_flight=3) as client:
        worst = _train(client, table_name, size, adam,
                       dict(lr=1e-2, amsgrad=True, weight_decay=1e-2, decoupled=True),
                       shape=shape, pushes=4)
        stats = client.get_stats()
    assert worst <= TOLERANCE
    parts = [t for shard in stats for t in shard.tables if t.name == table_name]
    assert len(parts) == 2
    assert sorted((t.part_begin, t.part_end) for t in parts)[0][0] == 0
    assert sum(t.part_end - t.part_begin for t in parts) == size
    assert all(t.version == 4 for t in parts)


def test_initial_values_do_not_depend_on_shard_count(one_shard, two_shards, table_name):
    spec = adamasync.TableSpec(table_name, 70000,
                               init=adamasync.Initializer.normal(0.5, 2.0, seed=11))
    values = []
    for servers in (one_shard, two_shards):
        with adamasync.Client(servers) as client:
            client.create_table(spec)
            w = np.empty(spec.num_elements, np.float32)
            client.pull(table_name, w)
            values.append(w)
    np.testing.assert_array_equal(values[0], values[1])
    assert abs(values[0].mean() - 0.5) < 0.05 and abs(values[0].std() - 2.0) < 0.05


def test_constant_and_zeros_initializers(one_shard, table_name):
    with adamasync.Client(one_shard) as client:
        for i, (init, expected) in enumerate([(adamasync.Initializer.zeros(), 0.0),
                                              (adamasync.Initializer.constant(1.5), 1.5)]):
            name = f"{table_name}/{i}"
            client.create_table(adamasync.TableSpec(name, 100, init=init))
            w = np.full(100, np.nan, np.float32)
            client.pull(name, w)
            assert np.all(w == expected)


def test_create_table_is_idempotent_and_table_size(one_shard, table_name):
    spec = adamasync.TableSpec(table_name, 1234, adam=adamasync.AdamConfig(lr=0.5))
    with adamasync.Client(one_shard) as client:
        client.create_table(spec)
        client.create_table(spec)
    with adamasync.Client(one_shard) as other:  # looks the table up on first use
        assert other.table_size(table_name) == 1234
        w = np.empty(1234, np.float32)
        assert other.pull(table_name, w).per_shard == [0]


def test_push_accepts_read_only_gradient(one_shard, table_name):
    with adamasync.Client(one_shard) as client:
        client.create_table(adamasync.TableSpec(table_name, 10))
        g = np.ones(10, np.float32)
        g.flags.writeable = False
        assert client.push(table_name, g).per_shard == [1]


def test_versions_and_specs_are_plain_values(table_name):
    spec = adamasync.TableSpec(table_name, 8, adam=adamasync.AdamConfig(lr=0.1, amsgrad=True),
                               consistency=adamasync.ConsistencyConfig(ssp_bound=2))
    same = adamasync.TableSpec(table_name, 8, adam=adamasync.AdamConfig(lr=0.1, amsgrad=True),
                               consistency=adamasync.ConsistencyConfig(ssp_bound=2))
    assert spec == same and spec != adamasync.TableSpec(table_name, 9)
    assert "amsgrad=True" in repr(spec) and "ssp_bound=2" in repr(spec)
    assert adamasync.Versions([1, 2]) == adamasync.Versions([1, 2])
    options = adamasync.ClientOptions(["a:1"], deadline=2.5, worker_id=3)
    assert options.deadline == 2.5 and options.worker_id == 3
    assert options.attempt_timeout == float("inf")
    options.lease = 10.0
    assert options.lease == 10.0


def test_calls_from_many_threads_run_in_parallel(one_shard, table_name):
    # The GIL is released during network calls: threads pulling the same
    # table all finish, and the results are consistent.
    size = 200_000
    with adamasync.Client(one_shard) as client:
        client.create_table(adamasync.TableSpec(table_name, size,
                                                init=adamasync.Initializer.constant(2.0)))
        outputs = [np.zeros(size, np.float32) for _ in range(8)]
        errors = []

        def pull(out):
            try:
                for _ in range(5):
                    client.pull(table_name, out)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=pull, args=(out,)) for out in outputs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors
        assert all(np.all(out == 2.0) for out in outputs)


def test_worker_id_clock_and_stats(one_shard, table_name):
    with adamasync.Client(one_shard, worker_id=41) as client:
        client.register()
        assert client.clock() >= 0
        client.create_table(adamasync.TableSpec(table_name, 10))
        client.push(table_name, np.ones(10, np.float32))
        [shard] = client.get_stats()
        assert shard.num_shards == 1
        assert any(w.worker_id == 41 and w.live for w in shard.workers)
        [table] = [t for t in shard.tables if t.name == table_name]
        assert table.pushes == 1 and table.version == 1
        counters = client.counters()
        # register, clock, create, push, stats: one chunk RPC each, no retry.
        assert counters.attempts >= 5
        assert counters.retried_unavailable == 0 and counters.failed_calls == 0
