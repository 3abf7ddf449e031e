"""Domain errors raised by geodata; the service maps them to HTTP statuses once."""

from __future__ import annotations


class GeodataError(Exception):
    """Base class of every error geodata raises on purpose."""


class InvalidInputError(GeodataError, ValueError):
    """Input data is malformed as a whole (not one bad row: those are rejected)."""


class MissingColumnError(InvalidInputError):
    """A required column is absent from a table."""


class CRSMismatchError(GeodataError, ValueError):
    """Two spatial inputs disagree on their coordinate reference system."""


class UnsupportedFormatError(InvalidInputError):
    """A readings format lomsong does not know was asked for."""


class BadEncodingError(InvalidInputError):
    """A file's bytes are not valid UTF-8 text."""


class BadJSONError(InvalidInputError):
    """A body or file is not well-formed JSON, or not of the expected shape."""
