"""Errors: gRPC status codes kept as AdamAsyncError.code, and argument
checks (TypeError/ValueError) before anything reaches C++."""

import pickle
import socket

import numpy as np
import pytest

import adamasync
from adamasync import StatusCode


@pytest.fixture
def client(one_shard):
    with adamasync.Client(one_shard, deadline=10.0) as c:
        yield c


@pytest.fixture
def table(client, table_name):
    client.create_table(adamasync.TableSpec(table_name, 100))
    return table_name


def _raises(code, cls, fn, *args):
    with pytest.raises(cls) as info:
        fn(*args)
    assert isinstance(info.value, adamasync.AdamAsyncError)
    assert info.value.code == code and isinstance(info.value.code, StatusCode)
    assert info.value.message and str(info.value).startswith(code.name)
    return info.value


def test_unknown_table_is_not_found(client):
    w = np.empty(100, np.float32)
    e = _raises(StatusCode.NOT_FOUND, adamasync.NotFoundError, client.pull, "no/such/table", w)
    assert "no/such/table" in e.message
    _raises(StatusCode.NOT_FOUND, adamasync.NotFoundError, client.push, "no/such/table", w)
    _raises(StatusCode.NOT_FOUND, adamasync.NotFoundError, client.table_size, "no/such/table")
    assert isinstance(e, LookupError)


def test_wrong_size_is_invalid_argument(client, table):
    e = _raises(StatusCode.INVALID_ARGUMENT, adamasync.InvalidArgumentError, client.pull, table,
                np.empty(99, np.float32))
    assert isinstance(e, ValueError)
    _raises(StatusCode.INVALID_ARGUMENT, adamasync.InvalidArgumentError, client.push, table,
            np.zeros(101, np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_gradient_is_rejected_and_not_applied(client, table, bad):
    g = np.ones(100, np.float32)
    g[57] = bad
    e = _raises(StatusCode.INVALID_ARGUMENT, adamasync.InvalidArgumentError, client.push, table,
                g)
    assert "57" in e.message
    w = np.empty(100, np.float32)
    assert client.pull(table, w).per_shard == [0]  # nothing was applied
    assert np.all(w == 0)


def test_bad_spec_and_conflicting_spec(client, table):
    _raises(StatusCode.INVALID_ARGUMENT, adamasync.InvalidArgumentError, client.create_table,
            adamasync.TableSpec("spaces are not allowed", 10))
    _raises(StatusCode.INVALID_ARGUMENT, adamasync.InvalidArgumentError, client.create_table,
            adamasync.TableSpec(table + "x", 10, adam=adamasync.AdamConfig(lr=-1.0)))
    _raises(StatusCode.ALREADY_EXISTS, adamasync.AlreadyExistsError, client.create_table,
            adamasync.TableSpec(table, 100, adam=adamasync.AdamConfig(lr=0.5)))


def test_wrong_dtype_is_type_error(client, table):
    with pytest.raises(TypeError, match="float32.*float64"):
        client.pull(table, np.empty(100, np.float64))
    with pytest.raises(TypeError, match="float32.*int32"):
        client.push(table, np.zeros(100, np.int32))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        client.push(table, [0.0] * 100)
    with pytest.raises(TypeError, match="float32"):
        client.pull(table, np.empty(100, ">f4"))  # big-endian
    with pytest.raises(TypeError, match="table"):
        client.pull(7, np.empty(100, np.float32))
    with pytest.raises(TypeError, match="Versions"):
        client.push(table, np.zeros(100, np.float32), pulled=[0])
    with pytest.raises(TypeError, match="TableSpec"):
        client.create_table("t")


def test_layout_problems_are_value_errors(client, table):
    with pytest.raises(ValueError, match="C-contiguous"):
        client.pull(table, np.empty(200, np.float32)[::2])
    with pytest.raises(ValueError, match="C-contiguous"):
        client.push(table, np.zeros((10, 10), np.float32).T)
    read_only = np.empty(100, np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        client.pull(table, read_only)
    with pytest.raises(ValueError, match="C-contiguous"):
        client.pull_async(table, np.empty(200, np.float32)[1::2])


def test_the_binding_never_copies_silently(client, table):
    # The C++ layer refuses (rather than converts) what the Python checks
    # would let through only by mistake.
    with pytest.raises(TypeError):
        client._impl.pull(table, np.empty(100, np.float64))


def test_closed_client_is_failed_precondition(one_shard, table_name):
    c = adamasync.Client(one_shard)
    c.close()
    c.close()  # idempotent
    assert c.closed
    _raises(StatusCode.FAILED_PRECONDITION, adamasync.FailedPreconditionError, c.pull,
            table_name, np.empty(1, np.float32))
    _raises(StatusCode.FAILED_PRECONDITION, adamasync.FailedPreconditionError, c.pull_async,
            table_name, np.empty(1, np.float32))


def test_bad_options_are_invalid_argument():
    _raises(StatusCode.INVALID_ARGUMENT, adamasync.InvalidArgumentError, adamasync.Client, [])
    e = _raises(StatusCode.INVALID_ARGUMENT, adamasync.InvalidArgumentError,
                lambda: adamasync.Client(["127.0.0.1:1"], chunk_elements=1000))
    assert "chunk_elements" in e.message
    with pytest.raises(ValueError, match="NaN"):
        adamasync.ClientOptions(["127.0.0.1:1"], deadline=float("nan"))


def test_unreachable_server_times_out():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with adamasync.Client([f"127.0.0.1:{port}"], deadline=0.5) as c:
        with pytest.raises(adamasync.AdamAsyncError) as info:
            c.table_size("t")
    assert info.value.code in (StatusCode.DEADLINE_EXCEEDED, StatusCode.UNAVAILABLE)


def test_errors_pickle_with_their_code():
    e = adamasync._errors.error_from_status(5, "gone")
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is adamasync.NotFoundError
    assert again.code == StatusCode.NOT_FOUND and again.message == "gone"
    unknown = adamasync._errors.error_from_status(99, "odd")
    assert type(unknown) is adamasync.AdamAsyncError and unknown.code == StatusCode.UNKNOWN


def test_unreadable_tls_or_token_file_fails_client_creation(tmp_path):
    tls = adamasync.TlsOptions(ca_file=str(tmp_path / "missing-ca.pem"))
    with pytest.raises(adamasync.AdamAsyncError) as info:
        adamasync.Client(["127.0.0.1:1"], tls=tls)
    assert info.value.code in (StatusCode.NOT_FOUND, StatusCode.INVALID_ARGUMENT)
    token = adamasync.Credentials(token_file=str(tmp_path / "missing-token"))
    with pytest.raises(adamasync.AdamAsyncError) as info:
        adamasync.Client(["127.0.0.1:1"], credentials=token)
    assert info.value.code in (StatusCode.NOT_FOUND, StatusCode.INVALID_ARGUMENT)


def test_secrets_stay_out_of_reprs():
    options = adamasync.ClientOptions(
        ["127.0.0.1:1"], tls=adamasync.TlsOptions(ca_pem="-----BEGIN CERTIFICATE-----",
                                                  key_pem="SECRET KEY"),
        credentials=adamasync.Credentials(token="hunter2"))
    assert options.tls.enabled and options.credentials.enabled
    text = repr(options) + repr(options.tls) + repr(options.credentials)
    assert "SECRET" not in text and "hunter2" not in text
