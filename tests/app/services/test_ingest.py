"""Contract of app.services.ingest.read_ahead: order, errors in place, early stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pandas as pd
import pytest

from app.services.ingest import read_ahead
from geodata.errors import InvalidInputError
from geodata.formats import ParsedChunk


def chunk(n: int) -> ParsedChunk:
    return ParsedChunk(readings=pd.DataFrame({"n": [n]}))


def test_chunks_arrive_in_order_and_parsing_runs_on_another_thread() -> None:
    threads: list[str] = []

    def parse() -> Iterator[ParsedChunk]:
        for n in range(5):
            threads.append(threading.current_thread().name)
            yield chunk(n)

    seen = [c.readings["n"].iloc[0] for c in read_ahead(parse())]

    assert seen == [0, 1, 2, 3, 4]
    assert set(threads) == {"lomsong-parse"}


def test_a_parser_error_comes_after_the_chunks_before_it() -> None:
    def parse() -> Iterator[ParsedChunk]:
        yield chunk(0)
        yield chunk(1)
        raise InvalidInputError("readings.csv: not a readable CSV")

    seen = []
    with pytest.raises(InvalidInputError, match="not a readable CSV"):
        for c in read_ahead(parse()):
            seen.append(c.readings["n"].iloc[0])
    assert seen == [0, 1]


def test_a_caller_that_stops_early_stops_and_closes_the_parser() -> None:
    closed = threading.Event()
    made = []

    def parse() -> Iterator[ParsedChunk]:
        try:
            for n in range(1000):
                made.append(n)
                yield chunk(n)
        finally:
            closed.set()

    chunks = read_ahead(parse())
    assert next(chunks).readings["n"].iloc[0] == 0
    chunks.close()  # what a failing ingest does when it leaves the loop

    assert closed.is_set()
    assert len(made) <= 3  # one handed over, one waiting, one being offered
