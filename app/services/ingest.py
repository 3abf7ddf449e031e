"""Uploaded readings: lenient parsing, strict validation, storage, accounting.

Every upload path (JSON batch, imported file, geosubmit, ``lomsong ingest``)
ends in :func:`ingest_chunks`: each chunk is validated, its good rows stored
in one transaction, its bad rows counted by reason. A callback learns which
readings were new, so the service can refresh the villages they touch.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from app.core.errors import UnprocessableError
from app.services.rejections import RejectionTally
from app.store import Store
from geodata.formats import ParsedChunk, parse_geosubmit, read_readings
from geodata.readings import REQUIRED_COLUMNS, Rejection, validate_readings

READINGS_SHAPE = "expected a JSON list of reading objects or an object with a 'readings' list"

#: Called with the validated readings of each chunk that stored something new.
OnStored = Callable[[pd.DataFrame], None]


@dataclass
class IngestReport:
    """What happened to an upload (the body of the API's answer).

    ``rejected`` lists the first :data:`~app.services.rejections.MAX_LISTED_REJECTIONS`;
    ``rejected_total`` and ``rejected_by_reason`` count all of them.
    """

    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    rejections: RejectionTally = field(default_factory=RejectionTally)

    @property
    def rejected(self) -> list[Rejection]:
        """The listed rejections."""
        return self.rejections.listed

    @property
    def rejected_total(self) -> int:
        """How many rows were refused."""
        return self.rejections.total

    @property
    def rejected_by_reason(self) -> Counter[str]:
        """Refused rows per ``field: reason``."""
        return self.rejections.by_reason

    def add_rejections(self, rejections: Iterable[Rejection]) -> None:
        """Count rejections, listing them while there is room."""
        self.rejections.add(rejections)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON answer: counts, each listed rejection, and rejections by reason."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            **self.rejections.as_dict(),
        }


def parse_readings_payload(payload: Any) -> ParsedChunk:
    """Turn a decoded JSON batch into a raw readings chunk and per-item rejections.

    The body's shape is checked here; its objects go through
    :func:`geodata.formats.native.native_objects`, the parser native JSON
    files use too. The table's index is each reading's position in the list.

    Raises
    ------
    UnprocessableError
        For JSON of the wrong shape.
    """
    from geodata.formats.native import native_objects

    if isinstance(payload, dict) and "readings" in payload:
        payload = payload["readings"]
    if not isinstance(payload, list):
        raise UnprocessableError(READINGS_SHAPE)
    return native_objects(enumerate(payload))


def _with_required_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Add required columns absent from every row, so each row is rejected, not the batch."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if not missing:
        return frame
    frame = frame.copy()
    for column in missing:
        frame[column] = pd.Series(pd.NA, index=frame.index, dtype=object)
    return frame


def ingest_chunks(
    store: Store,
    chunks: Iterable[ParsedChunk],
    *,
    on_stored: OnStored | None = None,
    lenient_columns: bool = False,
    request: str | None = None,
) -> IngestReport:
    """Validate and store parsed chunks one at a time, and account for every row.

    Parameters
    ----------
    store : Store
    chunks : iterable of ParsedChunk
        Raw readings (index = row number in the upload) and parser rejections.
    on_stored : callable, optional, keyword-only
        Called with a chunk's validated readings when it stored new ones.
    lenient_columns : bool, keyword-only
        Reject each row for a required field absent from all rows (JSON
        objects), instead of refusing the upload (a CSV header without it).
    request : str, optional, keyword-only
        The idempotent request this is (:class:`app.services.idempotency.Idempotency`).
        Readings an earlier, unanswered attempt of it stored count as
        accepted again, so a retry after a crash gets the first answer.

    Returns
    -------
    IngestReport

    Raises
    ------
    geodata.errors.MissingColumnError
        When a chunk lacks a required column and ``lenient_columns`` is false.
    """
    report = IngestReport()
    earlier_attempts = store.last_batch_id() if request is not None else 0

    def stored(pending: Future[tuple[int, int]], valid: pd.DataFrame) -> None:
        new, duplicates = pending.result()
        if duplicates and request is not None:
            keys = valid["content_key"]
            mine = store.stored_by_request(request, keys, up_to_batch=earlier_attempts)
            new, duplicates = new + mine, duplicates - mine
        report.accepted += new
        report.duplicates += duplicates
        if new and on_stored is not None:
            on_stored(valid)

    # One chunk is stored on a thread while the next is parsed and validated:
    # SQLite and Parquet release the GIL, so the two cores both work. At most
    # one chunk waits, which keeps memory bounded.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lomsong-store") as storer:
        waiting: tuple[Future[tuple[int, int]], pd.DataFrame] | None = None
        for chunk in chunks:
            rejections = list(chunk.rejected)
            report.ignored += chunk.ignored
            frame = chunk.readings
            if not frame.empty:
                if lenient_columns:
                    frame = _with_required_columns(frame)
                validated = validate_readings(frame)
                rejections += validated.rejected
                if waiting is not None:
                    stored(*waiting)
                pending = storer.submit(store.add_readings, validated.valid, request=request)
                waiting = (pending, validated.valid)
            report.add_rejections(rejections)
        if waiting is not None:
            stored(*waiting)
    return report


_DONE = object()


def read_ahead(chunks: Iterable[ParsedChunk]) -> Generator[ParsedChunk, None, None]:
    """Parse the next chunk on a thread while the caller works on this one.

    pandas' CSV tokenizer, like SQLite and Parquet, runs without the GIL, so
    parsing, validating and storing overlap on the machine's two cores. One
    chunk waits at most (bounded memory). A parser error is raised in order,
    after the chunks before it; a caller that stops early stops the parser.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(chunks)
        try:
            for chunk in source:
                if not offer(chunk):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the caller, raised there
            offer(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="lomsong-parse", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def ingest_readings(
    store: Store, payload: Any, *, on_stored: OnStored | None = None, request: str | None = None
) -> IngestReport:
    """Validate and store a decoded JSON batch (a list, or ``{"readings": [...]}``).

    Raises
    ------
    UnprocessableError
        For JSON of the wrong shape.
    """
    chunk = parse_readings_payload(payload)
    return ingest_chunks(store, [chunk], on_stored=on_stored, lenient_columns=True, request=request)


def ingest_file(
    store: Store,
    source: str | Path | IO[bytes],
    *,
    format: str,
    tz: str | None = None,
    mcc: int | None = None,
    mnc: int | None = None,
    chunk_rows: int = 100_000,
    on_stored: OnStored | None = None,
    request: str | None = None,
) -> IngestReport:
    """Stream a readings file into the store, ``chunk_rows`` rows at a time.

    Parameters
    ----------
    store : Store
    source : path or binary file object
    format : str
        One of :data:`geodata.formats.FORMATS`.
    tz : str, optional
        Time zone of a G-NetTrack log's local timestamps.
    mcc, mnc : int, optional
        The operator of a G-NetTrack log that names it only by brand.
    chunk_rows : int
        Rows parsed, validated and stored at once (bounds memory).
    on_stored : callable, optional

    Raises
    ------
    geodata.errors.InvalidInputError
        When the file cannot be read as ``format`` at all. Chunks stored
        before the fault stay stored; a retry stores nothing twice.
    """
    chunks = read_readings(
        source,  # type: ignore[arg-type]  # any binary file object will do
        format=format,
        tz=tz,
        mcc=mcc,
        mnc=mnc,
        chunk_rows=chunk_rows,
    )
    # Closed on the way out, error or not: the parser thread ends with the call.
    with contextlib.closing(read_ahead(chunks)) as ahead:
        return ingest_chunks(
            store, ahead, on_stored=on_stored, lenient_columns=format == "json", request=request
        )


def ingest_geosubmit(
    store: Store, payload: Any, *, on_stored: OnStored | None = None
) -> IngestReport:
    """Validate and store a decoded geosubmit v2 body (``{"items": [...]}``).

    An item without a ``timestamp`` takes the time of the submission
    (ichnaea's rule).

    Raises
    ------
    geodata.errors.BadJSONError
        When the body is not an object with an ``items`` list.
    """
    chunk = parse_geosubmit(payload, received_at=pd.Timestamp.now(tz="UTC"))
    return ingest_chunks(store, [chunk], on_stored=on_stored, lenient_columns=True)
