"""Errors the service raises, and the one table from domain error to HTTP status.

Library code (``geodata``, ``coverage``) raises small named exceptions; only
this module knows HTTP. Handlers answer ``{"detail": str(exc)}``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from coverage.errors import CoverageError
from geodata import errors as geodata_errors

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base class of the errors the service itself raises."""


class NotFoundError(ServiceError, LookupError):
    """A requested village, commune or dead zone does not exist."""


class BadRequestError(ServiceError, ValueError):
    """A request body cannot be read at all (empty, not JSON)."""


class UnprocessableError(ServiceError, ValueError):
    """A request body is JSON but not in a shape the endpoint accepts."""


class PayloadTooLargeError(ServiceError, ValueError):
    """A request body is larger than ``LOMSONG_MAX_BODY_BYTES``."""


class AuthenticationError(ServiceError):
    """No API key, or one that is unknown or revoked (the answer never says which)."""


class PermissionDeniedError(ServiceError):
    """A valid API key whose role does not allow the request."""


class RateLimitedError(ServiceError):
    """A key (or an anonymous client) sent more requests than its rate allows."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after_s)}


class IdempotencyMismatchError(UnprocessableError):
    """An ``Idempotency-Key`` was reused with a different request."""


# Most specific first: the first class an exception is an instance of wins.
_STATUS_BY_ERROR: list[tuple[type[Exception], int]] = [
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (RateLimitedError, 429),
    (PayloadTooLargeError, 413),
    (BadRequestError, 400),
    (UnprocessableError, 422),
    # Bytes that are not UTF-8 or not JSON cannot be read at all: the client's request is bad.
    (geodata_errors.BadEncodingError, 400),
    (geodata_errors.BadJSONError, 400),
    (geodata_errors.MissingColumnError, 422),
    (geodata_errors.InvalidInputError, 422),
    (geodata_errors.CRSMismatchError, 422),
    (geodata_errors.GeodataError, 400),
    # The analysis refuses input it cannot judge (e.g. no villages): the client's to fix.
    (CoverageError, 422),
]


def status_for(exc: Exception) -> int:
    """Return the HTTP status for a domain exception (500 when it is not a domain error)."""
    for cls, status in _STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


async def _domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    if status >= 500:
        logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=status)
    # Some errors carry headers of their own (``Retry-After`` on a 429).
    headers: dict[str, str] | None = getattr(exc, "headers", None)
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the domain-error handler for every class in the table."""
    for cls, _ in _STATUS_BY_ERROR:
        app.add_exception_handler(cls, _domain_error_handler)
