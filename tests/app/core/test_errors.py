"""The one table from domain error to HTTP status."""

from __future__ import annotations

import pytest

from app.core.errors import BadRequestError, NotFoundError, PayloadTooLargeError, status_for
from coverage.errors import NoVillagesError
from geodata.errors import CRSMismatchError, GeodataError, InvalidInputError, MissingColumnError


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError("x"), 404),
        (BadRequestError("x"), 400),
        (PayloadTooLargeError("x"), 413),
        (MissingColumnError("x"), 422),
        (InvalidInputError("x"), 422),
        (CRSMismatchError("x"), 422),
        (GeodataError("x"), 400),
        (NoVillagesError("x"), 422),
        (RuntimeError("x"), 500),
    ],
)
def test_status_for(error: Exception, status: int) -> None:
    assert status_for(error) == status
