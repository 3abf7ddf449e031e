"""Readings in the store: columnar batches, deduplicated by content key.

Why batches and not one row per reading: binding a reading's 18 values one
row at a time through Python's ``sqlite3`` tops out near 85,000 rows/s on
the 2-core target machine, and issue 3 asks for 200,000 readings/s end to
end (``benchmarks/bench_ingest.py`` prints both). So each stored chunk of
new readings is one Parquet blob (pyarrow, snappy) in ``reading_batches``,
with its bounding box, and only the 64-bit content keys go in a b-tree of
their own, ``reading_keys``. SQLite inserts the keys from one JSON array
(``json_each``) and ``RETURNING`` names the new ones, so deduplication stays
exact and the blob and its keys commit in one transaction: a reading is
stored whole or not at all.

Readers decode only the batches whose box meets the area asked for.

On PostgreSQL the readings are rows of their own in ``readings``,
partitioned by month of ``time`` (:mod:`app.store.tables`): a chunk's content
keys are ``COPY``-ed into a temporary staging table and the new ones inserted
into ``reading_keys``, then only the new readings are
``COPY``-ed into ``readings`` (CSV made by pyarrow), in the batch's one
transaction (:func:`insert_rows`).
``reading_batches`` keeps each chunk's origin, request, upload, count and box
(``data`` is empty). Frames come back out through ``COPY ... TO STDOUT``,
parsed by pyarrow, with the same dtypes as SQLite's (:data:`STORED_DTYPES`).
"""

from __future__ import annotations

import io
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import shapely

from app.store.db import (
    AnyDatabase,
    Connection,
    PostgresConnection,
    PostgresDatabase,
)
from geodata.readings import READING_COLUMNS, hash_devices
from geodata.regions import LoadedRegion

#: Columns of a stored batch, in order.
STORED_COLUMNS = (*READING_COLUMNS, "content_key")

# Snappy: the fastest codec pyarrow writes (about 3x zstd's speed here) for
# 10% more bytes than zstd on readings.
_CODEC = "snappy"
# Dictionary encoding pays for columns with few distinct values; on the
# nearly unique ones it is tried, abandoned, and makes the file bigger.
# Leaving them plain, and writing no column statistics (readers select
# batches by the box stored beside them), halves the time to encode.
_PLAIN = frozenset({"time", "lat", "lon", "content_key"})
_DICTIONARY = [c for c in STORED_COLUMNS if c not in _PLAIN]


def encode_batch(frame: pd.DataFrame) -> bytes:
    """Return a readings frame (:data:`STORED_COLUMNS`) as Parquet bytes."""
    # Column by column: a third of ``Table.from_pandas``' time on a 1,000-reading
    # batch. Without pandas' metadata, :func:`decode_batch` restores the dtypes.
    table = pa.table({c: pa.array(frame[c], from_pandas=True) for c in STORED_COLUMNS})
    sink = io.BytesIO()
    pq.write_table(
        table, sink, compression=_CODEC, use_dictionary=_DICTIONARY, write_statistics=False
    )
    return sink.getvalue()


def _json_keys(keys: np.ndarray) -> str:
    """Content keys as a JSON array for ``json_each`` (orjson: 10x ``json.dumps``)."""
    contiguous = np.ascontiguousarray(keys, dtype=np.int64)
    return orjson.dumps(contiguous, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def decode_batch(blob: bytes, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Parquet bytes back to a readings frame, with canonical dtypes."""
    table = pq.read_table(pa.BufferReader(blob), columns=None if columns is None else list(columns))
    return canonical(table.to_pandas())


#: dtypes of stored readings, as :func:`geodata.readings.validate_readings` makes them.
STORED_DTYPES: dict[str, str] = {
    "time": "datetime64[us, UTC]",
    "lat": "float64",
    "lon": "float64",
    "accuracy_m": "float64",
    "mcc": "int64",
    "mnc": "int64",
    "radio": "str",
    "signal_dbm": "float64",
    "no_service": "bool",
    "cell_id": "Int64",
    "area_code": "Int64",
    "pci": "Int64",
    "rsrq_db": "float64",
    "sinr_db": "float64",
    "device": "string",
    "source": "string",
    "content_key": "int64",
}


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast columns to :data:`STORED_DTYPES` (in place; returns ``frame``)."""
    for column in frame.columns:
        dtype = STORED_DTYPES.get(str(column))
        if dtype is not None and str(frame[column].dtype) != dtype:
            frame[column] = frame[column].astype(dtype)
    return frame


def empty_stored(columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Return an empty frame of stored readings (all of :data:`STORED_COLUMNS`, or ``columns``)."""
    names = list(STORED_COLUMNS if columns is None else columns)
    return pd.DataFrame({c: pd.Series(dtype=STORED_DTYPES[c]) for c in names})


def insert_batch(
    conn: Connection,
    frame: pd.DataFrame,
    *,
    origin: str,
    request: str | None,
    upload: int | None = None,
) -> int:
    """Insert ``frame``'s keys (unique, devices hashed) and a batch of its new readings.

    ``upload`` names the upload the batch belongs to (``uploads.id``, migration 5).
    On PostgreSQL the months ``frame`` holds need their partitions
    (:func:`ensure_partitions`, in a transaction of its own beforehand).
    """
    stored = pd.Timestamp.now(tz="UTC").isoformat()
    if isinstance(conn, PostgresConnection):
        return insert_rows(
            conn, frame, origin=origin, request=request, upload=upload, stored=stored
        )
    if upload is None:  # also the path of migration 3, before ``upload_id`` existed
        batch_id = conn.execute(
            "INSERT INTO reading_batches (origin, stored, request, count, data)"
            " VALUES (?, ?, ?, 0, x'')",
            (origin, stored, request),
        ).lastrowid
    else:
        batch_id = conn.execute(
            "INSERT INTO reading_batches (origin, stored, request, count, data, upload_id)"
            " VALUES (?, ?, ?, 0, x'', ?)",
            (origin, stored, request, upload),
        ).lastrowid
    # Sorted keys fill the b-tree's pages in order: ~20% faster than random.
    keys = _json_keys(np.sort(frame["content_key"].to_numpy(dtype="int64")))
    # Counting the inserted keys, rather than returning them, is ~40% faster
    # (``RETURNING`` hands every key back to Python); only a batch with
    # duplicates asks which of its keys are now its own.
    before = conn.total_changes
    conn.execute(
        "INSERT OR IGNORE INTO reading_keys (content_key, batch_id)"
        " SELECT value, ? FROM json_each(?)",
        (batch_id, keys),
    )
    inserted = conn.total_changes - before
    if not inserted:
        conn.execute("DELETE FROM reading_batches WHERE id = ?", (batch_id,))
        return 0
    if inserted < len(frame):
        mine = conn.execute(
            "SELECT k.content_key FROM json_each(?) j"
            " JOIN reading_keys k ON k.content_key = j.value WHERE k.batch_id = ?",
            (keys, batch_id),
        ).fetchall()
        new_keys = np.fromiter((k for (k,) in mine), dtype="int64", count=len(mine))
        frame = frame[frame["content_key"].isin(new_keys)]
    conn.execute(
        "UPDATE reading_batches SET count = ?, min_lon = ?, min_lat = ?, max_lon = ?,"
        " max_lat = ?, data = ? WHERE id = ?",
        (
            len(frame),
            float(frame["lon"].min()),
            float(frame["lat"].min()),
            float(frame["lon"].max()),
            float(frame["lat"].max()),
            encode_batch(frame),
            batch_id,
        ),
    )
    return len(frame)


# --- PostgreSQL: one row per reading, partitioned by month -------------------

#: The staging table a chunk's content keys are ``COPY``-ed into (temporary,
#: dropped at commit), to find which of them are new.
_STAGE = "reading_stage"
#: Columns of ``readings``, as a chunk's rows are ``COPY``-ed into it.
_ROW_COLUMNS = (*STORED_COLUMNS, "ordinal", "batch_id")
# What each stored column is read back as: time in microseconds (exact, and fast to parse).
_OUT_SQL = {c: c for c in STORED_COLUMNS} | {
    "time": "(extract(epoch FROM time) * 1000000)::bigint AS time"
}
_ARROW_TYPES: dict[str, pa.DataType] = {
    c: {"float64": pa.float64(), "bool": pa.bool_(), "str": pa.string()}.get(t, pa.int64())
    for c, t in STORED_DTYPES.items()
} | {"time": pa.int64(), "device": pa.string(), "source": pa.string()}


def partition_name(month: pd.Timestamp) -> str:
    """Return the partition of ``readings`` that holds ``month``'s readings.

    >>> partition_name(pd.Timestamp("2026-01-01", tz="UTC"))
    'readings_2026_01'
    """
    return f"readings_{month.year:04d}_{month.month:02d}"


def months_of(times: pd.Series) -> list[pd.Timestamp]:
    """Return the first instants (UTC) of the months ``times`` fall in, in order.

    >>> times = pd.Series(pd.to_datetime(["2026-02-03", "2026-01-31"], utc=True))
    >>> [str(m.date()) for m in months_of(times)]
    ['2026-01-01', '2026-02-01']
    """
    utc = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None)
    periods = utc.to_period("M").unique().sort_values()
    return [p.to_timestamp().tz_localize("UTC") for p in periods]


# Partitions this process knows exist, per database (created once, never dropped).
_PARTITIONS: weakref.WeakKeyDictionary[PostgresDatabase, set[str]] = weakref.WeakKeyDictionary()
# Creating a partition locks ``readings`` briefly; behind a long export it waits this long.
PARTITION_LOCK_TIMEOUT = "30s"


def ensure_partitions(db: PostgresDatabase, times: pd.Series) -> list[str]:
    """Create the monthly partitions of ``readings`` that ``times`` (and this month) need.

    Runs in a write transaction of its own, before a batch's: partitions are
    structure, not data, so a batch that fails leaves at most empty ones. The
    current and next month are created with the first ones, so live uploads
    seldom need DDL. Returns the partitions created.
    """
    now = pd.Timestamp.now(tz="UTC")
    months = months_of(pd.concat([times, pd.Series([now, now + pd.DateOffset(months=1)])]))
    known = _PARTITIONS.setdefault(db, set())
    wanted = {partition_name(m): m for m in months if partition_name(m) not in known}
    if not wanted:
        return []
    created: list[str] = []
    with db.write() as conn:
        conn.execute(f"SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT}'")
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'readings'::regclass"
        ).fetchall()
        existing = {str(name) for (name,) in rows}
        for name, month in wanted.items():
            if name not in existing:
                end = month + pd.DateOffset(months=1)
                conn.execute(
                    f"CREATE TABLE {name} PARTITION OF readings"
                    f" FOR VALUES FROM ('{month.isoformat()}') TO ('{end.isoformat()}')"
                )
                created.append(name)
    known.update(wanted)
    return created


def _csv(columns: dict[str, pa.Array]) -> bytes:
    sink = io.BytesIO()
    pa_csv.write_csv(pa.table(columns), sink, pa_csv.WriteOptions(include_header=False))
    return sink.getvalue()


def rows_csv(frame: pd.DataFrame, batch: int) -> bytes:
    """Return a chunk of stored readings as CSV rows of :data:`_ROW_COLUMNS` (pyarrow).

    Times are written as UTC without a zone (the write transaction's
    ``TimeZone`` is UTC): pyarrow formats those 20x faster than with one.
    """
    times = pa.array(frame["time"], from_pandas=True).cast(pa.timestamp("us", tz="UTC"))
    columns = {"time": times.cast(pa.timestamp("us")).cast(pa.string())}
    columns |= {c: pa.array(frame[c], from_pandas=True) for c in STORED_COLUMNS[1:]}
    columns["ordinal"] = pa.array(np.arange(len(frame), dtype="int32"))
    columns["batch_id"] = pa.array(np.full(len(frame), batch, dtype="int64"))
    return _csv(columns)


def insert_rows(
    conn: PostgresConnection,
    frame: pd.DataFrame,
    *,
    origin: str,
    request: str | None,
    upload: int | None,
    stored: str,
    batch_id: int | None = None,
) -> int:
    """PostgreSQL's :func:`insert_batch`: keep the chunk's new keys, ``COPY`` their readings.

    The chunk's keys (unique) are ``COPY``-ed into a staging table and those
    not yet in ``reading_keys`` inserted there; when some were stored
    already, the keys now this batch's name the readings to keep. Those are
    ``COPY``-ed straight into ``readings`` (each row parsed and written once by
    the server, not staged and copied again). ``batch_id`` keeps a batch's id
    (``lomsong db copy``); by default a new one. Returns how many readings
    were new.
    """
    columns = "origin, stored, request, count, data, upload_id"
    values: tuple[Any, ...] = (origin, stored, request, 0, b"", upload)
    if batch_id is not None:
        columns, values = "id, " + columns, (batch_id, *values)
    batch = conn.execute(
        f"INSERT INTO reading_batches ({columns}) VALUES ({', '.join('?' * len(values))})"
        " RETURNING id",
        values,
    ).fetchone()[0]
    # No JIT: compiling these plans took longer (0.5 s a chunk) than running them.
    conn.execute("SET LOCAL jit = off")
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    conn.execute(f"DROP TABLE IF EXISTS pg_temp.{_STAGE}")
    conn.execute(f"CREATE TEMP TABLE {_STAGE} (content_key bigint NOT NULL) ON COMMIT DROP")
    keys = np.sort(frame["content_key"].to_numpy(dtype="int64"))  # fills the b-tree in order
    with conn.raw.cursor().copy(f"COPY {_STAGE} FROM STDIN (FORMAT csv)") as copy:
        copy.write(_csv({"content_key": pa.array(keys)}))
    # Writers are serialised (db.write's advisory lock), so an anti-join finds the
    # new keys exactly; it inserts 1.4x faster than ON CONFLICT DO NOTHING's
    # speculative insertion. The primary key still refuses a duplicate outright.
    inserted = conn.raw.execute(
        f"INSERT INTO reading_keys (content_key, batch_id) SELECT content_key, %s FROM {_STAGE} s"
        " WHERE NOT EXISTS (SELECT 1 FROM reading_keys k WHERE k.content_key = s.content_key)"
        " ORDER BY content_key",
        (batch,),
    ).rowcount
    if not inserted:
        conn.execute("DELETE FROM reading_batches WHERE id = ?", (batch,))
        return 0
    if inserted < len(frame):
        mine = conn.raw.execute(
            f"SELECT k.content_key FROM {_STAGE} s JOIN reading_keys k USING (content_key)"
            " WHERE k.batch_id = %s",
            (batch,),
        ).fetchall()
        new_keys = np.fromiter((k for (k,) in mine), dtype="int64", count=len(mine))
        frame = frame[frame["content_key"].isin(new_keys)]
    with conn.raw.cursor().copy(
        f"COPY readings ({', '.join(_ROW_COLUMNS)}) FROM STDIN (FORMAT csv)"
    ) as copy:
        copy.write(rows_csv(frame, batch))
    conn.execute(
        "UPDATE reading_batches SET count = ?, min_lon = ?, min_lat = ?, max_lon = ?,"
        " max_lat = ? WHERE id = ?",
        (
            len(frame),
            float(frame["lon"].min()),
            float(frame["lat"].min()),
            float(frame["lon"].max()),
            float(frame["lat"].max()),
            batch,
        ),
    )
    return len(frame)


def _from_csv(data: bytes, columns: Sequence[str]) -> pd.DataFrame:
    """Parse stored readings from ``COPY ... TO STDOUT (FORMAT csv)`` of :data:`_OUT_SQL`."""
    if not data:
        return empty_stored(columns)
    table = pa_csv.read_csv(
        pa.BufferReader(data),
        read_options=pa_csv.ReadOptions(column_names=list(columns)),
        convert_options=pa_csv.ConvertOptions(
            column_types={c: _ARROW_TYPES[c] for c in columns},
            true_values=["t"],
            false_values=["f"],
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # "" is an empty text, not NULL
        ),
    )
    return _typed(table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Microseconds back to times, and :data:`STORED_DTYPES` (returns ``frame``)."""
    if "time" in frame.columns:
        micros = frame["time"].to_numpy(dtype="int64")
        frame["time"] = pd.to_datetime(micros, unit="us", utc=True)
    return canonical(frame)


#: Memory a read's sort into upload order may take before it spills to disk.
READ_WORK_MEM = "64MB"


def copy_out(
    conn: PostgresConnection,
    columns: Sequence[str],
    where: str = "",
    params: Sequence[Any] = (),
) -> pd.DataFrame:
    """Return stored readings (``columns``) matching ``where`` (``%s``), in upload order."""
    select = ", ".join(_OUT_SQL[c] for c in columns)
    sql = f"SELECT {select} FROM readings{where} ORDER BY batch_id, ordinal"
    with conn.raw.transaction():
        # The sort in memory, and no JIT (compiling cost more than the scan saved).
        conn.raw.execute(f"SET LOCAL work_mem = '{READ_WORK_MEM}'")
        conn.raw.execute("SET LOCAL jit = off")
        with conn.raw.cursor().copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", list(params)) as copy:
            data = b"".join(copy)
    return _from_csv(data, columns)


class Readings:
    """Stored readings: batches and their content keys.

    Parameters
    ----------
    db : Database
    device_salt : str
        Salt for :func:`geodata.readings.hash_devices`; raw device ids never
        reach the database.
    """

    def __init__(self, db: AnyDatabase, *, device_salt: str) -> None:
        self._db = db
        self._salt = device_salt

    def add_readings(
        self,
        valid: pd.DataFrame,
        *,
        origin: str = "upload",
        request: str | None = None,
        upload: int | None = None,
    ) -> tuple[int, int]:
        """Store validated readings; returns ``(new, duplicates)``.

        Parameters
        ----------
        valid : pandas.DataFrame
            :attr:`geodata.readings.ValidatedReadings.valid`. Devices are
            hashed here, so no caller can store a raw identifier.
        origin : str, keyword-only
            ``"upload"`` or ``"demo"``.
        request : str, optional, keyword-only
            The idempotent request storing them (see :meth:`stored_by_request`).
        upload : int, optional, keyword-only
            The upload they belong to (:class:`Uploads`): deleting it deletes them.

        Returns
        -------
        tuple of int
            Readings newly stored, and readings whose ``content_key`` was
            already stored (or repeated within ``valid``).
        """
        if valid.empty:
            return 0, 0
        frame = valid.drop_duplicates("content_key")
        frame = frame.assign(device=hash_devices(frame["device"], salt=self._salt))
        if isinstance(self._db, PostgresDatabase):
            ensure_partitions(self._db, frame["time"])
        with self._db.write() as conn:
            new = insert_batch(conn, frame, origin=origin, request=request, upload=upload)
        return new, len(valid) - new

    def last_batch_id(self) -> int:
        """Return the id of the newest stored batch (0 when there is none)."""
        row = self._db.connection().execute("SELECT max(id) FROM reading_batches").fetchone()
        return int(row[0] or 0)

    def reading_positions(self, *, after_batch: int) -> pd.DataFrame:
        """``lat``/``lon`` of the readings in batches newer than ``after_batch``."""
        conn = self._db.connection()
        if isinstance(conn, PostgresConnection):
            return copy_out(conn, ["lat", "lon"], " WHERE batch_id > %s", [after_batch])
        cursor = conn.execute(
            "SELECT data FROM reading_batches WHERE id > ? ORDER BY id", (after_batch,)
        )
        frames = [decode_batch(blob, ["lat", "lon"]) for (blob,) in cursor]
        return pd.concat(frames, ignore_index=True) if frames else empty_stored(["lat", "lon"])

    def stored_by_request(self, request: str, keys: pd.Series, *, up_to_batch: int) -> int:
        """How many of ``keys`` batches up to ``up_to_batch`` stored for ``request``.

        A retry after a crash between storing and answering finds the
        readings of its first attempt already stored: they count as
        accepted, not as duplicates.
        """
        if keys.empty:
            return 0
        conn = self._db.connection()
        sql = (
            "SELECT count(*) FROM reading_keys k JOIN reading_batches b ON b.id = k.batch_id"
            " WHERE b.request = ? AND b.id <= ? AND k.content_key IN "
        )
        values = keys.to_numpy(dtype="int64")
        if isinstance(conn, PostgresConnection):
            row = conn.execute(
                sql + "(SELECT unnest(?::bigint[]))", (request, up_to_batch, values.tolist())
            ).fetchone()
        else:
            row = conn.execute(
                sql + "(SELECT value FROM json_each(?))", (request, up_to_batch, _json_keys(values))
            ).fetchone()
        return int(row[0])

    def clear_readings(self, *, origin: str) -> None:
        """Delete the stored readings of one origin (``"demo"``); uploads stay."""
        with self._db.write() as conn:
            _delete_readings(conn, "origin = ?", origin)
            conn.execute("DELETE FROM reading_batches WHERE origin = ?", (origin,))

    def readings_count(self) -> int:
        """How many readings are stored."""
        return int(self._db.connection().execute("SELECT count(*) FROM reading_keys").fetchone()[0])

    def readings(self, *, bounds: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
        """Return stored readings (:data:`STORED_COLUMNS`) in upload order.

        Parameters
        ----------
        bounds : tuple of float, optional, keyword-only
            ``(minx, miny, maxx, maxy)`` in degrees: only readings inside.
        """
        conn = self._db.connection()
        if isinstance(conn, PostgresConnection):
            if bounds is None:
                return copy_out(conn, STORED_COLUMNS)
            minx, miny, maxx, maxy = (float(b) for b in bounds)
            where = " WHERE lon BETWEEN %s AND %s AND lat BETWEEN %s AND %s"
            return copy_out(conn, STORED_COLUMNS, where, [minx, maxx, miny, maxy])
        sql, params = "SELECT data FROM reading_batches", []
        if bounds is not None:
            minx, miny, maxx, maxy = bounds
            sql += " WHERE max_lon >= ? AND min_lon <= ? AND max_lat >= ? AND min_lat <= ?"
            params = [minx, maxx, miny, maxy]
        cursor = conn.execute(sql + " ORDER BY id", params)
        frames = [decode_batch(blob) for (blob,) in cursor]
        if not frames:
            return empty_stored()
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if bounds is not None:
            inside = frame["lon"].between(minx, maxx) & frame["lat"].between(miny, maxy)
            frame = frame[inside].reset_index(drop=True)
        return frame

    def iter_readings(
        self, columns: Sequence[str], *, batch_rows: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        """Return stored readings in frames of at most ``batch_rows``, in upload order.

        Reads on a connection of its own within one read transaction, so the
        frames may be consumed from any thread (a streamed HTTP answer) and
        all come from one snapshot.
        """
        conn = self._db.snapshot()
        if isinstance(conn, PostgresConnection):
            return _iter_rows(conn, columns, batch_rows)
        return self._iter_batches(conn, columns, batch_rows)

    @staticmethod
    def _iter_batches(
        conn: sqlite3.Connection, columns: Sequence[str], batch_rows: int
    ) -> Iterator[pd.DataFrame]:
        try:
            conn.execute("BEGIN")
            for (blob,) in conn.execute("SELECT data FROM reading_batches ORDER BY id"):
                frame = decode_batch(blob, columns)
                for start in range(0, len(frame), batch_rows):
                    yield frame.iloc[start : start + batch_rows]
            conn.execute("COMMIT")
        finally:
            conn.close()


def _iter_rows(
    conn: PostgresConnection, columns: Sequence[str], batch_rows: int
) -> Iterator[pd.DataFrame]:
    """PostgreSQL's :meth:`Readings.iter_readings`: a server-side cursor, in one snapshot."""
    try:
        conn.raw.execute("SET LOCAL jit = off")  # opens the snapshot's transaction
        cursor = conn.raw.cursor(name="lomsong_readings")
        select = ", ".join(_OUT_SQL[c] for c in columns)
        cursor.execute(f"SELECT {select} FROM readings ORDER BY batch_id, ordinal")
        while rows := cursor.fetchmany(batch_rows):
            yield _typed(pd.DataFrame.from_records(rows, columns=list(columns)))
        cursor.close()
        conn.raw.commit()
    finally:
        conn.close()


def _delete_readings(conn: Connection, batches: str, value: object) -> None:
    """Delete the readings and content keys of the batches matching ``batches`` (``?`` = value)."""
    chosen = f"(SELECT id FROM reading_batches WHERE {batches})"
    if isinstance(conn, PostgresConnection):
        conn.execute(f"DELETE FROM readings WHERE batch_id IN {chosen}", (value,))
    conn.execute(f"DELETE FROM reading_keys WHERE batch_id IN {chosen}", (value,))


#: Columns of ``uploads`` a caller may set, and the counts an upload's list shows.
UPLOAD_FIELDS = (
    "status",
    "rows_read",
    "bytes_total",
    "accepted",
    "duplicates",
    "rejected_total",
    "rejected_by_reason",
    "outside_region",
    "report",
    "error",
    "finished",
)
_UPLOAD_JSON = frozenset({"rejected_by_reason", "report"})
#: Statuses of an upload still at work.
UNFINISHED = ("queued", "running")


def _upload_row(row: sqlite3.Row | tuple[Any, ...], names: Sequence[str]) -> dict[str, Any]:
    record = dict(zip(names, row, strict=True))
    for name in _UPLOAD_JSON:
        if record.get(name) is not None:
            record[name] = orjson.loads(record[name])
    return record


class Uploads:
    """Every upload is a batch with an id (``uploads``, migration 5).

    Its readings' chunks (``reading_batches``) carry its id: deleting the
    upload deletes them and frees their content keys, so the same file sent
    again later is stored again.
    """

    def __init__(self, db: AnyDatabase) -> None:
        self._db = db
        self._region_lock = threading.Lock()
        self._region: tuple[tuple[Any, ...], LoadedRegion] | None = None

    def create_upload(
        self,
        *,
        owner: str,
        origin: str,
        format: str | None,
        status: str = "running",
        bytes_total: int | None = None,
    ) -> int:
        """Add an upload row and return its id."""
        with self._db.write() as conn:
            row = conn.execute(
                "INSERT INTO uploads (owner, created, origin, format, status, bytes_total)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    owner,
                    pd.Timestamp.now(tz="UTC").isoformat(),
                    origin,
                    format,
                    status,
                    bytes_total,
                ),
            ).fetchone()
        return int(row[0])

    def update_upload(self, upload_id: int, **fields: Any) -> None:
        """Set some of :data:`UPLOAD_FIELDS` (JSON ones given as Python values)."""
        unknown = set(fields) - set(UPLOAD_FIELDS)
        if unknown:
            raise ValueError(f"not upload fields: {sorted(unknown)}")
        if not fields:
            return
        values = [
            orjson.dumps(v).decode() if k in _UPLOAD_JSON and v is not None else v
            for k, v in fields.items()
        ]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._db.write() as conn:
            conn.execute(f"UPDATE uploads SET {assignments} WHERE id = ?", (*values, upload_id))

    def upload(self, upload_id: int) -> dict[str, Any] | None:
        """One upload as a dict (``None`` when there is none)."""
        cursor = self._db.connection().execute("SELECT * FROM uploads WHERE id = ?", (upload_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        return _upload_row(row, [d[0] for d in cursor.description])

    def uploads(self, *, owner: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """List uploads, newest first: ``owner``'s only, or everyone's (``None``); no ``report``."""
        columns = ", ".join(("id", "owner", "created", "origin", "format", *UPLOAD_FIELDS[:-3]))
        sql, params = f"SELECT {columns}, error, finished FROM uploads", []
        if owner is not None:
            sql, params = sql + " WHERE owner = ?", [owner]
        cursor = self._db.connection().execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        names = [d[0] for d in cursor.description]
        return [_upload_row(row, names) for row in cursor]

    def delete_upload(self, upload_id: int) -> pd.DataFrame:
        """Delete an upload, its readings and their content keys, in one transaction.

        Returns the positions (``lat``, ``lon``) of the readings removed, so
        the villages they touched can be re-judged.
        """
        with self._db.write() as conn:
            if isinstance(conn, PostgresConnection):
                where = " WHERE batch_id IN (SELECT id FROM reading_batches WHERE upload_id = %s)"
                removed = copy_out(conn, ["lat", "lon"], where, [upload_id])
            else:
                blobs = conn.execute(
                    "SELECT data FROM reading_batches WHERE upload_id = ? AND count > 0",
                    (upload_id,),
                ).fetchall()
                frames = [decode_batch(blob, ["lat", "lon"]) for (blob,) in blobs]
                removed = (
                    pd.concat(frames, ignore_index=True) if frames else empty_stored(["lat", "lon"])
                )
            _delete_readings(conn, "upload_id = ?", upload_id)
            conn.execute("DELETE FROM reading_batches WHERE upload_id = ?", (upload_id,))
            conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
        return removed

    def fail_unfinished_uploads(self, reason: str) -> int:
        """Mark every queued or running upload failed with ``reason`` (a restart)."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE uploads SET status = 'failed', error = ?, finished = ?"
                " WHERE status IN (?, ?)",
                (reason, pd.Timestamp.now(tz="UTC").isoformat(), *UNFINISHED),
            )
        return int(cursor.rowcount)

    def loaded_region(self) -> LoadedRegion:
        """Return the stored communes' and villages' extents, grown by the margin.

        Cached until communes or villages change (a cheap fingerprint query).
        """
        conn = self._db.connection()
        postgres = isinstance(conn, PostgresConnection)
        size = "sum(ST_NPoints(geometry))" if postgres else "total(length(geometry))"
        fingerprint = tuple(
            conn.execute(
                f"SELECT (SELECT count(*) FROM communes), (SELECT {size}"
                " FROM communes), (SELECT count(*) FROM villages), (SELECT sum(min_lon)"
                " + sum(max_lat) FROM villages)"
            ).fetchone()
        )
        with self._region_lock:
            if self._region is not None and self._region[0] == fingerprint:
                return self._region[1]
        if postgres:  # the boxes, from PostGIS
            rows = conn.execute(
                "SELECT ST_XMin(geometry), ST_YMin(geometry), ST_XMax(geometry),"
                " ST_YMax(geometry) FROM communes WHERE geometry IS NOT NULL"
            ).fetchall()
            communes = np.array(rows, dtype="float64").reshape(-1, 4)
        else:
            blobs = [g for (g,) in conn.execute("SELECT geometry FROM communes") if g]
            communes = (
                shapely.bounds(shapely.from_wkb(blobs)).reshape(-1, 4)
                if blobs
                else np.empty((0, 4))
            )
        boxes = [
            communes,
            np.array(
                conn.execute("SELECT min_lon, min_lat, max_lon, max_lat FROM villages").fetchall(),
                dtype="float64",
            ).reshape(-1, 4),
        ]
        region = LoadedRegion.from_boxes(np.concatenate(boxes))
        with self._region_lock:
            self._region = (fingerprint, region)
        return region
