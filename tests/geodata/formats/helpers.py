"""Helpers shared by the format tests: run a reader, gather its chunks."""

from __future__ import annotations

import io
from collections.abc import Iterable

import pandas as pd

from geodata.formats import ParsedChunk
from geodata.readings import READING_COLUMNS, Rejection, ValidatedReadings, validate_readings

NOW = pd.Timestamp("2026-03-01T00:00:00Z")


def stream(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def gather(chunks: Iterable[ParsedChunk]) -> tuple[pd.DataFrame, list[Rejection], int]:
    """All readings, parser rejections and ignored rows of a stream of chunks."""
    chunks = list(chunks)
    for chunk in chunks:
        assert list(chunk.readings.columns) == list(READING_COLUMNS)
        assert pd.api.types.is_integer_dtype(chunk.readings.index)
    readings = pd.concat([c.readings for c in chunks]) if chunks else pd.DataFrame()
    rejected = [r for c in chunks for r in c.rejected]
    return readings, rejected, sum(c.ignored for c in chunks)


def validated(chunks: Iterable[ParsedChunk]) -> tuple[ValidatedReadings, list[Rejection]]:
    """Validate every chunk; returns the combined result and the parser's rejections."""
    valid, rejected, parser_rejected = [], [], []
    for chunk in chunks:
        result = validate_readings(chunk.readings, now=NOW)
        valid.append(result.valid)
        rejected.extend(result.rejected)
        parser_rejected.extend(chunk.rejected)
    combined = pd.concat(valid) if valid else pd.DataFrame()
    return ValidatedReadings(combined, rejected), parser_rejected


def as_tuples(rejected: Iterable[Rejection]) -> list[tuple[int, str, str]]:
    return [(r.index, r.field, r.reason) for r in rejected]
