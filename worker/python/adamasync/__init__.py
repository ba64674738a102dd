"""AdamAsync: Python client for the asynchronous-Adam parameter server.

    import numpy as np
    import adamasync

    with adamasync.Client(["127.0.0.1:7000", "127.0.0.1:7001"]) as client:
        spec = adamasync.TableSpec(
            "w", 1000,
            adam=adamasync.AdamConfig(algorithm=adamasync.Algorithm.ADAMW, lr=1e-3),
            init=adamasync.Initializer.uniform(-0.1, 0.1, seed=1))
        client.create_table(spec)                   # idempotent
        w = np.empty(1000, np.float32)
        pulled = client.pull("w", w)                # into w, in place
        g = compute_gradient(w)                     # float32, C-contiguous
        client.push("w", g, pulled)                 # one Adam step on the servers
        future = client.push_async("w", g, pulled)  # concurrent.futures.Future (awaitable)

PyTorch: ``adamasync.torch.RemoteAdam`` (import adamasync.torch). See
docs/python.md.
"""

from ._core import (
    AdamConfig,
    Algorithm,
    ClientCounters,
    ClientOptions,
    ConsistencyConfig,
    Credentials,
    Initializer,
    ShardStats,
    StalenessPolicy,
    TableSpec,
    TableStats,
    TlsOptions,
    Versions,
    WorkerStats,
)
from ._client import Client, Future
from ._errors import (
    AbortedError,
    AdamAsyncError,
    AlreadyExistsError,
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    StatusCode,
    UnavailableError,
)

__version__ = "0.1.0"

# Elements per server-side segment (the unit of locking and versioning);
# ClientOptions.chunk_elements must be a multiple of it.
SEGMENT_ELEMENTS = 65536

__all__ = [
    "AbortedError", "AdamAsyncError", "AdamConfig", "Algorithm", "AlreadyExistsError",
    "CancelledError", "Client", "ClientCounters", "ClientOptions", "ConsistencyConfig", "Credentials",
    "DeadlineExceededError", "FailedPreconditionError", "Future", "Initializer",
    "InternalError", "InvalidArgumentError", "NotFoundError", "ResourceExhaustedError",
    "SEGMENT_ELEMENTS", "ShardStats", "StalenessPolicy", "StatusCode", "TableSpec",
    "TableStats", "TlsOptions", "UnavailableError", "Versions", "WorkerStats",
]
