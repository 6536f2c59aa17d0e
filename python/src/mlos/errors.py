"""Typed errors: every failure the SDK raises is an :class:`MlosError` subclass chosen by the
server's error category (the core's ``StatusCode``), carrying the server's own message.

The categories are the same on every transport: HTTP statuses, gRPC status codes and IPC
status words are translated back to one :class:`StatusCode`. Transport failures (nothing
listening, a connection lost) are :class:`UnavailableError`; a wait longer than the client's
timeout is :class:`DeadlineExceededError`.
"""

from __future__ import annotations

import enum


class StatusCode(enum.IntEnum):
    """The server's error categories (``src/common/status.h``; the IPC status word)."""

    OK = 0
    INVALID_ARGUMENT = 1
    NOT_FOUND = 2
    ALREADY_EXISTS = 3
    FAILED_PRECONDITION = 4
    PERMISSION_DENIED = 5
    UNAUTHENTICATED = 6
    RESOURCE_EXHAUSTED = 7
    DATA_LOSS = 8
    UNAVAILABLE = 9
    DEADLINE_EXCEEDED = 10
    CANCELLED = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13


class MlosError(Exception):
    """An error from mlosd or from reaching it.

    Attributes:
        code: the server's category.
        message: the server's message (or the SDK's, for transport failures).
        retry_after: seconds the server asked to wait before retrying (quota refusals over
            HTTP and gRPC), else None.
    """

    code: StatusCode = StatusCode.INTERNAL

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class InvalidArgumentError(MlosError, ValueError):
    code = StatusCode.INVALID_ARGUMENT


class NotFoundError(MlosError, LookupError):
    code = StatusCode.NOT_FOUND


class AlreadyExistsError(MlosError):
    code = StatusCode.ALREADY_EXISTS


class FailedPreconditionError(MlosError):
    code = StatusCode.FAILED_PRECONDITION


class PermissionDeniedError(MlosError, PermissionError):
    code = StatusCode.PERMISSION_DENIED


class UnauthenticatedError(MlosError):
    code = StatusCode.UNAUTHENTICATED


class ResourceExhaustedError(MlosError):
    code = StatusCode.RESOURCE_EXHAUSTED


class DataLossError(MlosError):
    code = StatusCode.DATA_LOSS


class UnavailableError(MlosError, ConnectionError):
    code = StatusCode.UNAVAILABLE


class DeadlineExceededError(MlosError, TimeoutError):
    code = StatusCode.DEADLINE_EXCEEDED


class CancelledError(MlosError):
    code = StatusCode.CANCELLED


class UnimplementedError(MlosError, NotImplementedError):
    code = StatusCode.UNIMPLEMENTED


class InternalError(MlosError):
    code = StatusCode.INTERNAL


_BY_CODE: dict[StatusCode, type[MlosError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError, NotFoundError, AlreadyExistsError, FailedPreconditionError,
        PermissionDeniedError, UnauthenticatedError, ResourceExhaustedError, DataLossError,
        UnavailableError, DeadlineExceededError, CancelledError, UnimplementedError,
        InternalError,
    )
}


def error_for(code: int | StatusCode, message: str,
              retry_after: float | None = None) -> MlosError:
    """The exception for a server category (an unknown number is INTERNAL)."""
    try:
        status = StatusCode(code)
    except ValueError:
        status = StatusCode.INTERNAL
        message = f"unknown status {code}: {message}"
    cls = _BY_CODE.get(status, InternalError)
    return cls(message, retry_after=retry_after)


def code_for_http(status: int, message: str) -> StatusCode:
    """An HTTP status (and the message, which tells 409's two meanings apart) -> the category
    the server meant; the inverse of the server's HttpStatusFor, as the C++ SDK's."""
    if status == 409:
        return (StatusCode.ALREADY_EXISTS if "already" in message
                else StatusCode.FAILED_PRECONDITION)
    return {
        400: StatusCode.INVALID_ARGUMENT,
        401: StatusCode.UNAUTHENTICATED,
        403: StatusCode.PERMISSION_DENIED,
        404: StatusCode.NOT_FOUND,
        405: StatusCode.UNIMPLEMENTED,
        413: StatusCode.RESOURCE_EXHAUSTED,
        429: StatusCode.RESOURCE_EXHAUSTED,
        501: StatusCode.UNIMPLEMENTED,
        503: StatusCode.UNAVAILABLE,
        504: StatusCode.DEADLINE_EXCEEDED,
    }.get(status, StatusCode.INTERNAL)
