"""Exceptions of the adamasync package: one per gRPC status code.

Every error the servers or the client SDK report is raised as an
:class:`AdamAsyncError` (or the subclass for its code) that keeps the gRPC
status ``code`` (a :class:`StatusCode`) and the ``message``.
"""

import enum


class StatusCode(enum.IntEnum):
    """gRPC status codes (the same numbers as grpc.StatusCode and absl)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class AdamAsyncError(Exception):
    """An error status from the servers or the client SDK.

    Attributes:
      code: the gRPC status code, a :class:`StatusCode`.
      message: what went wrong, as the server or SDK said it.
    """

    def __init__(self, code, message):
        try:
            code = StatusCode(code)
        except ValueError:
            code = StatusCode.UNKNOWN
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self):  # picklable across processes, subclasses included
        return (type(self), (int(self.code), self.message))


class CancelledError(AdamAsyncError):
    """CANCELLED."""


class InvalidArgumentError(AdamAsyncError, ValueError):
    """INVALID_ARGUMENT: a bad spec, a wrong size, a NaN or Inf gradient, ..."""


class DeadlineExceededError(AdamAsyncError):
    """DEADLINE_EXCEEDED: the operation ran out of ClientOptions.deadline."""


class NotFoundError(AdamAsyncError, LookupError):
    """NOT_FOUND: no table of that name."""


class AlreadyExistsError(AdamAsyncError):
    """ALREADY_EXISTS: a different table has that name."""


class ResourceExhaustedError(AdamAsyncError):
    """RESOURCE_EXHAUSTED: over a shard's memory quota or message limit."""


class FailedPreconditionError(AdamAsyncError):
    """FAILED_PRECONDITION: e.g. a closed client, a shard-count mismatch."""


class AbortedError(AdamAsyncError):
    """ABORTED: e.g. a push refused as too stale (StalenessPolicy.REJECT)."""


class UnavailableError(AdamAsyncError):
    """UNAVAILABLE: a shard could not be reached before the deadline."""


class InternalError(AdamAsyncError):
    """INTERNAL."""


_CLASSES = {
    StatusCode.CANCELLED: CancelledError,
    StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    StatusCode.NOT_FOUND: NotFoundError,
    StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    StatusCode.ABORTED: AbortedError,
    StatusCode.UNAVAILABLE: UnavailableError,
    StatusCode.INTERNAL: InternalError,
}


def error_from_status(code, message):
    """The exception for a non-OK status (called by the C++ binding too)."""
    try:
        cls = _CLASSES.get(StatusCode(code), AdamAsyncError)
    except ValueError:
        cls = AdamAsyncError
    return cls(code, message)


# Shown and pickled as adamasync.NotFoundError etc., where users import them.
for _cls in [StatusCode, AdamAsyncError, *_CLASSES.values()]:
    _cls.__module__ = "adamasync"
del _cls
