"""Uploaded readings: lenient parsing, strict validation, storage, accounting.

Every upload path (JSON batch, imported file, geosubmit, ``lomsong ingest``)
ends in :func:`ingest_chunks`: each chunk is validated, its good rows stored
in one transaction, its bad rows counted by reason. A callback learns which
readings were new, so the service can refresh the villages they touch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from app.core.errors import NotFoundError, PermissionDeniedError, UnprocessableError
from app.core.security import Role, grants
from app.services.keys import Caller
from app.services.rejections import RejectionTally
from app.store import Store
from app.store.readings import UNFINISHED
from geodata import constants as C
from geodata.formats import ParsedChunk, parse_geosubmit, read_readings
from geodata.readings import REQUIRED_COLUMNS, Rejection, validate_readings
from geodata.regions import LoadedRegion

logger = logging.getLogger(__name__)

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
    #: Valid readings outside every loaded region: counted, not stored, not rejections.
    outside_region: int = 0
    #: Rows read so far (readings and refused rows), for a job's progress.
    rows_read: int = 0
    upload_id: int | None = None

    @property
    def notes(self) -> list[str]:
        """Sentences about what was not stored for reasons a client may not expect."""
        notes = []
        away = sum(n for r, n in self.rejected_by_reason.items() if r.endswith(OUTSIDE_COUNTRY))
        if away:
            notes.append(
                f"{away} {_readings(away)} lie outside the country of their MCC and"
                " were refused: check the MCC/MNC given for the file"
                " (rejected_by_reason names the country)."
            )
        if self.outside_region:
            n = self.outside_region
            notes.append(
                f"{n} {_readings(n)} lie outside every loaded region (the stored communes"
                f" and villages, with a {C.REGION_MARGIN_DEG:g}° margin) and were not stored:"
                " they cannot be evidence for any village here."
            )
        return notes

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
            "upload_id": self.upload_id,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "outside_region": self.outside_region,
            **self.rejections.as_dict(),
            "notes": self.notes,
        }

    def counts(self) -> dict[str, Any]:
        """Return the counts an upload's row keeps (:meth:`app.store.Store.update_upload`)."""
        return {
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected_total": self.rejected_total,
            "rejected_by_reason": dict(self.rejected_by_reason),
            "outside_region": self.outside_region,
        }


# How a refusal for a position outside the MCC's country ends (geodata.readings).
OUTSIDE_COUNTRY = "the position lies outside it"


def _readings(n: int) -> str:
    return "reading" if n == 1 else "readings"


def parse_readings_payload(payload: Any) -> ParsedChunk:
    """Turn a decoded JSON batch into a raw readings chunk and per-item rejections.

    The body's shape is checked here; its objects go through
    :func:`geodata.formats.native.native_objects`, the parser native JSON
    files use too. The table's index is each reading's position in the list,
    counting from 1 (the first object is 1), which rejections report.

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
    return native_objects(enumerate(payload, start=1))


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
    upload: int | None = None,
    region: LoadedRegion | None = None,
    on_progress: Callable[[IngestReport], None] | None = None,
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
    upload : int, optional, keyword-only
        The upload the stored readings belong to (``store.create_upload``).
    region : LoadedRegion, optional, keyword-only
        Valid readings outside it are counted as ``outside_region`` and not
        stored (default: ``store.loaded_region()``; nothing loaded, nothing outside).
    on_progress : callable, optional, keyword-only
        Called with the report after each chunk (a job's progress).

    Returns
    -------
    IngestReport

    Raises
    ------
    geodata.errors.MissingColumnError
        When a chunk lacks a required column and ``lenient_columns`` is false.
    """
    report = IngestReport(upload_id=upload)
    region = store.loaded_region() if region is None else region
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
        try:
            for chunk in chunks:
                rejections = list(chunk.rejected)
                report.ignored += chunk.ignored
                frame = chunk.readings
                report.rows_read += len(frame) + len(rejections)
                if not frame.empty:
                    if lenient_columns:
                        frame = _with_required_columns(frame)
                    validated = validate_readings(frame)
                    rejections += validated.rejected
                    valid = validated.valid
                    inside = region.contains(valid["lon"].to_numpy(), valid["lat"].to_numpy())
                    if not inside.all():
                        report.outside_region += int((~inside).sum())
                        valid = valid[inside]
                    if waiting is not None:
                        stored(*waiting)
                    pending = storer.submit(
                        store.add_readings, valid, request=request, upload=upload
                    )
                    waiting = (pending, valid)
                report.add_rejections(rejections)
                if on_progress is not None:
                    on_progress(report)
        except BaseException:
            # What was stored stays stored, and is counted in the report.
            if waiting is not None:
                with contextlib.suppress(Exception):
                    stored(*waiting)
            raise
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


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat()


def as_upload(
    store: Store,
    run: Callable[[int, Callable[[IngestReport], None]], IngestReport],
    *,
    owner: str,
    origin: str,
    format: str | None,
    upload: int | None = None,
) -> IngestReport:
    """Run one upload as a batch with an id, recording its counts and outcome.

    ``run`` gets the upload's id and a progress callback. The upload row is
    created here (or, for a job queued earlier, ``upload`` names it); it
    ends ``done`` with the report, or ``failed`` with the error, which is
    raised again. Readings stored before a failure stay stored and listed.
    """
    if upload is None:
        upload = store.create_upload(owner=owner, origin=origin, format=format)
    else:
        store.update_upload(upload, status="running")

    latest: list[IngestReport] = []

    def progress(report: IngestReport) -> None:
        latest[:] = [report]
        store.update_upload(upload, **report.counts())

    try:
        report = run(upload, progress)
    except BaseException as exc:
        counts = latest[0].counts() if latest else {}  # the stored rows, counted
        error = str(exc) or repr(exc)
        store.update_upload(upload, status="failed", error=error, finished=_now(), **counts)
        raise
    store.update_upload(
        upload, status="done", report=report.as_dict(), finished=_now(), **report.counts()
    )
    return report


def ingest_readings(
    store: Store,
    payload: Any,
    *,
    on_stored: OnStored | None = None,
    request: str | None = None,
    owner: str = "local",
) -> IngestReport:
    """Validate and store a decoded JSON batch (a list, or ``{"readings": [...]}``).

    The batch is recorded as an upload of ``owner`` (``GET /api/v1/uploads``).

    Raises
    ------
    UnprocessableError
        For JSON of the wrong shape.
    """
    chunk = parse_readings_payload(payload)
    return as_upload(
        store,
        lambda upload, _: ingest_chunks(
            store,
            [chunk],
            on_stored=on_stored,
            lenient_columns=True,
            request=request,
            upload=upload,
        ),
        owner=owner,
        origin="readings",
        format="json",
    )


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
    owner: str = "local",
    upload: int | None = None,
    stop: threading.Event | None = None,
    region: LoadedRegion | None = None,
) -> IngestReport:
    """Stream a readings file into the store, ``chunk_rows`` rows at a time.

    The import is recorded as an upload of ``owner`` (or, for a queued job,
    as ``upload``), its counts kept after each chunk. When ``stop`` is set
    the import ends after the chunk at hand (:class:`JobStoppedError`); what was
    stored stays stored.

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

    def run(upload_id: int, record: Callable[[IngestReport], None]) -> IngestReport:
        def progress(report: IngestReport) -> None:
            record(report)
            if stop is not None and stop.is_set():
                raise JobStoppedError(
                    f"the server stopped after {report.rows_read:,} rows;"
                    " the readings stored by then stay stored (accepted)"
                )

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
                store,
                ahead,
                on_stored=on_stored,
                lenient_columns=format == "json",
                request=request,
                upload=upload_id,
                region=region,
                on_progress=progress,
            )

    return as_upload(store, run, owner=owner, origin="import", format=format, upload=upload)


def ingest_geosubmit(
    store: Store, payload: Any, *, on_stored: OnStored | None = None, owner: str = "local"
) -> IngestReport:
    """Validate and store a decoded geosubmit v2 body (``{"items": [...]}``).

    An item without a ``timestamp`` takes the time of the submission
    (ichnaea's rule). The body is recorded as an upload of ``owner``, so the
    items refused are listed there (stumbler clients only see ``{}``).

    Raises
    ------
    geodata.errors.BadJSONError
        When the body is not an object with an ``items`` list.
    """
    chunk = parse_geosubmit(payload, received_at=pd.Timestamp.now(tz="UTC"))
    return as_upload(
        store,
        lambda upload, _: ingest_chunks(
            store, [chunk], on_stored=on_stored, lenient_columns=True, upload=upload
        ),
        owner=owner,
        origin="geosubmit",
        format="geosubmit",
    )


class JobStoppedError(Exception):
    """A job ended because the server is stopping."""


#: Why a job that was queued or running when the server stopped failed.
RESTARTED = "the server restarted before the job finished; readings it stored stay stored"


class ImportJobs:
    """File imports run as jobs (``?async=true``), one at a time, off the event loop.

    One worker thread: a job survives nothing, but each chunk it stored is
    committed (and listed under its upload). On start, uploads a killed
    server left queued or running are marked failed (:data:`RESTARTED`).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._stop = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lomsong-import")

    def start(self) -> int:
        """Mark the jobs of an earlier run failed; returns how many."""
        return self._store.fail_unfinished_uploads(RESTARTED)

    def submit(self, job: Callable[[threading.Event], object]) -> Future[object]:
        """Queue ``job`` (called with the stop event); its errors are its own to record."""

        def run() -> object:
            try:
                return job(self._stop)
            except Exception:  # recorded on the upload by as_upload; the worker lives on
                logger.info("import job ended with an error", exc_info=True)
                return None

        return self._executor.submit(run)

    def stop(self, *, fail_unfinished: bool = True) -> None:
        """Stop the running job after its chunk, drop the queued ones, and wait.

        Then every unfinished upload is marked failed, unless ``fail_unfinished``
        is off (other worker processes still run theirs).
        """
        self._stop.set()
        # The running job stops after its chunk (bounded work), the queued never start.
        self._executor.shutdown(wait=True, cancel_futures=True)
        if fail_unfinished:
            self._store.fail_unfinished_uploads(RESTARTED)


def queue_import(
    store: Store,
    jobs: ImportJobs,
    source: IO[bytes],
    *,
    owner: str,
    format: str,
    tz: str | None = None,
    mcc: int | None = None,
    mnc: int | None = None,
    chunk_rows: int = 100_000,
    on_stored: OnStored | None = None,
    on_done: Callable[[], None] | None = None,
) -> int:
    """Record a queued upload of ``source`` and hand it to ``jobs``; returns its id.

    The job runs :func:`ingest_file` on the upload; ``on_done`` (closing
    the spooled file) runs after it, whatever the outcome.
    """
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    upload = store.create_upload(
        owner=owner, origin="import", format=format, status="queued", bytes_total=size
    )

    def job(stop: threading.Event) -> None:
        try:
            ingest_file(
                store,
                source,
                format=format,
                tz=tz,
                mcc=mcc,
                mnc=mnc,
                chunk_rows=chunk_rows,
                on_stored=on_stored,
                owner=owner,
                upload=upload,
                stop=stop,
            )
        finally:
            if on_done is not None:
                on_done()

    jobs.submit(job)
    return upload


# --- uploads: who may see and delete them ------------------------------------


def _is_admin(caller: Caller) -> bool:
    return caller.key is not None and grants(caller.key.role, Role.ADMIN)


def list_uploads(store: Store, caller: Caller) -> list[dict[str, Any]]:
    """List the caller's own uploads, newest first; an admin's list holds everyone's."""
    return store.uploads(owner=None if _is_admin(caller) else caller.scope)


def upload_of(store: Store, caller: Caller, upload_id: int) -> dict[str, Any]:
    """One upload, for its owner or an admin.

    Raises
    ------
    NotFoundError
        When there is no such upload.
    PermissionDeniedError
        When it is someone else's and the caller is no admin.
    """
    record = store.upload(upload_id)
    if record is None:
        raise NotFoundError(f"no upload {upload_id}")
    if record["owner"] != caller.scope and not _is_admin(caller):
        raise PermissionDeniedError(f"upload {upload_id} is not yours; only its owner or an admin")
    return record


def delete_upload(
    store: Store, caller: Caller, upload_id: int, *, on_removed: OnStored | None = None
) -> int:
    """Delete an upload and its readings (owner or admin); returns how many went.

    ``on_removed`` gets the removed readings' positions, so the villages they
    touched are re-judged (the refresh worker, as after an upload). Their
    content keys are freed: the same file sent again is stored again.

    Raises
    ------
    NotFoundError, PermissionDeniedError
        As :func:`upload_of`.
    UnprocessableError
        While the upload is still queued or running (a job).
    """
    record = upload_of(store, caller, upload_id)
    if record["status"] in UNFINISHED:
        raise UnprocessableError(
            f"upload {upload_id} is still {record['status']}; delete it when it is done or failed"
        )
    removed = store.delete_upload(upload_id)
    if not removed.empty and on_removed is not None:
        on_removed(removed)
    return len(removed)
