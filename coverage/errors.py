"""Domain errors raised by the analysis; the service maps them to HTTP statuses."""

from __future__ import annotations


class CoverageError(Exception):
    """Base class of every error the analysis raises on purpose."""


class NoVillagesError(CoverageError, ValueError):
    """The analysis was asked to judge an empty set of villages."""
