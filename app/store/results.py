"""What the analysis found: village verdicts, dead zones and the hex cells maps show.

Every write that changes what a map page shows bumps ``results_version`` in
the meta table, inside the same transaction. :meth:`Results.publish` writes
one analysis' verdicts, dead zones and cells together, with one bump, so a
reader sees either all of the old results or all of the new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import geopandas as gpd
import pandas as pd
import shapely

from app.store.db import AnyDatabase, Connection
from app.store.meta import bump_results_version
from app.store.rows import iso_or_none, meeting, to_geoframe, to_rows
from app.store.schema import DEAD_ZONE_COLUMNS, RESULT_COLUMNS
from app.store.sql import (
    Bbox,
    bbox_clause,
    geometry_column,
    in_list,
    upsert_rows,
)
from coverage.map_cells import CELL_COLUMNS
from geodata.constants import CRS_WGS84
from geodata.text import fold

__all__ = ["ALL_LAYERS", "ANY_CARRIER", "CELL_COLUMNS", "Results", "place_clause"]

#: The ``carrier`` of the dead zones where even the best carrier fails
#: (:data:`coverage.dead_zones.ANY_CARRIER`).
ANY_CARRIER: Final = "any"
#: ``Results.dead_zones(carrier=ALL_LAYERS)``: every carrier's and radio's zones.
ALL_LAYERS: Final = ()


def _in_clause(column: str, values: Sequence[str], *, fold_case: bool = True) -> str:
    """``lower(column) IN (?, ...)``: one placeholder per value."""
    target = f"lower({column})" if fold_case else column
    return f"{target} IN ({', '.join('?' * len(values))})"


def place_clause(
    column: str, *, province: str | None, district: str | None
) -> tuple[str | None, list[Any]]:
    """``column IN (communes of the province/district)``, names folded; ``None``: no filter."""
    clauses, params = [], []
    for name, value in (("province_folded", province), ("district_folded", district)):
        if value is not None:
            clauses.append(f"{name} = ?")
            params.append(fold(value))
    if not clauses:
        return None, []
    return f"{column} IN (SELECT id FROM communes WHERE {' AND '.join(clauses)})", params


def _delete_communes(conn: Connection, table: str, commune_ids: Iterable[str] | None) -> None:
    if commune_ids is None:
        conn.execute(f"DELETE FROM {table}")
    else:
        conn.executemany(f"DELETE FROM {table} WHERE commune_id = ?", [(c,) for c in commune_ids])


def _write_verdicts(conn: Connection, villages: pd.DataFrame) -> None:
    frame = pd.DataFrame(villages.drop(columns="geometry", errors="ignore"))
    for column in RESULT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame["last_reading"] = frame["last_reading"].map(iso_or_none)
    columns = ["id", *RESULT_COLUMNS]
    upsert_rows(
        conn,
        "village_results",
        ["village_id", *RESULT_COLUMNS],
        to_rows(frame, columns),
        key=["village_id"],
    )


def _write_dead_zones(
    conn: Connection, dead_zones: gpd.GeoDataFrame, commune_ids: Iterable[str] | None
) -> None:
    zones = dead_zones.to_crs(CRS_WGS84) if len(dead_zones) else dead_zones.copy()
    # Zones made before they had layers are best-carrier zones of their first village.
    if "carrier" not in zones:
        zones["carrier"] = ANY_CARRIER
    if "radio" not in zones:
        zones["radio"] = None
    if "village_id" not in zones:
        zones["village_id"] = [
            v[0] if isinstance(v, list) and len(v) == 1 else None
            for v in zones.get("village_ids", pd.Series([None] * len(zones)))
        ]
    rows = [
        (*row, wkb)
        for row, wkb in zip(
            to_rows(zones, DEAD_ZONE_COLUMNS), shapely.to_wkb(zones.geometry), strict=True
        )
    ]
    _delete_communes(conn, "dead_zones", commune_ids)
    upsert_rows(conn, "dead_zones", [*DEAD_ZONE_COLUMNS, "geometry"], rows, key=["id"])


def _write_cells(conn: Connection, cells: pd.DataFrame, commune_ids: Iterable[str] | None) -> None:
    frame = cells.reindex(columns=list(CELL_COLUMNS))
    _delete_communes(conn, "cells", commune_ids)
    upsert_rows(conn, "cells", CELL_COLUMNS, to_rows(frame, CELL_COLUMNS), key=["h3", "carrier"])


class Results:
    """Verdicts, dead zones and hex cells."""

    def __init__(self, db: AnyDatabase) -> None:
        self._db = db

    def publish(
        self,
        villages: pd.DataFrame,
        dead_zones: gpd.GeoDataFrame,
        cells: pd.DataFrame,
        *,
        commune_ids: Iterable[str] | None = None,
    ) -> None:
        """Store one analysis' results in one transaction, with one version bump.

        Parameters
        ----------
        villages : pandas.DataFrame
            Verdicts (``analyze`` output), inserted or replaced by village id.
        dead_zones : GeoDataFrame
            They replace the dead zones of ``commune_ids``.
        cells : pandas.DataFrame
            :data:`CELL_COLUMNS`; they replace the cells of ``commune_ids``.
        commune_ids : iterable of str, optional, keyword-only
            The communes analysed (all when ``None``).
        """
        communes = None if commune_ids is None else list(commune_ids)
        with self._db.write() as conn:
            _write_verdicts(conn, villages)
            _write_dead_zones(conn, dead_zones, communes)
            _write_cells(conn, cells, communes)
            bump_results_version(conn)

    def save_results(self, villages: pd.DataFrame) -> None:
        """Insert or replace the verdicts of the given villages (``analyze`` output)."""
        with self._db.write() as conn:
            _write_verdicts(conn, villages)
            bump_results_version(conn)

    def replace_dead_zones(
        self, dead_zones: gpd.GeoDataFrame, *, commune_ids: Iterable[str] | None = None
    ) -> None:
        """Replace the dead zones of ``commune_ids`` (all communes when ``None``)."""
        with self._db.write() as conn:
            _write_dead_zones(conn, dead_zones, commune_ids)
            bump_results_version(conn)

    def replace_cells(
        self, cells: pd.DataFrame, *, commune_ids: Iterable[str] | None = None
    ) -> None:
        """Replace the cells of ``commune_ids`` (all when ``None``) with ``cells``.

        ``cells`` has :data:`CELL_COLUMNS` (``h3`` as an H3 string).
        """
        with self._db.write() as conn:
            _write_cells(conn, cells, commune_ids)
            bump_results_version(conn)

    def dead_zones(
        self,
        *,
        commune_id: str | None = None,
        verdict: str | None = None,
        province: str | None = None,
        district: str | None = None,
        with_places: bool = False,
        carrier: str | Sequence[str] = ANY_CARRIER,
        radio: str | Sequence[str] | None = None,
        verdicts: Sequence[str] | None = None,
        bbox: Bbox | None = None,
    ) -> gpd.GeoDataFrame:
        """Return stored dead zones, of one commune, verdict, province, district or ``bbox``.

        ``province`` and ``district`` ignore diacritics and case. With
        ``with_places``, each zone also carries its commune's ``district``
        and ``province``.

        ``carrier`` picks the layer: the best-of-any-carrier zones (``"any"``,
        the default: what a map draws), one or more carriers' own zones (any
        case), or every layer (:data:`ALL_LAYERS`). A carrier's zones are
        those of all its radios unless ``radio`` names one or more; ``radio``
        without ``carrier`` means every carrier's zones of those radios.
        ``verdicts`` keeps any of several verdicts; ``bbox`` (west, south,
        east, north) the zones whose outline meets it (the GiST index picks
        the candidates on PostgreSQL).
        """
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("z.commune_id", commune_id), ("z.verdict", verdict)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if verdicts is not None:
            clauses.append(_in_clause("z.verdict", verdicts, fold_case=False))
            params += list(verdicts)
        carriers = [carrier] if isinstance(carrier, str) else list(carrier)
        radios = [radio] if isinstance(radio, str) else None if radio is None else list(radio)
        if radios is not None:
            clauses.append(_in_clause("z.radio", radios))
            params += [r.lower() for r in radios]
            if carriers and carriers != [ANY_CARRIER]:
                clauses.append(_in_clause("z.carrier", carriers))
                params += [c.lower() for c in carriers]
            else:
                clauses.append("z.carrier <> ?")
                params.append(ANY_CARRIER)
        elif carriers:
            clauses.append(_in_clause("z.carrier", carriers))
            params += [c.lower() for c in carriers]
            clauses.append("z.radio IS NULL")
        place, place_params = place_clause("z.commune_id", province=province, district=district)
        if place is not None:
            clauses.append(place)
            params += place_params
        dialect = self._db.dialect
        if bbox is not None:
            box, box_params = bbox_clause(dialect, bbox, geometry="z.geometry")
            if box is not None:
                clauses.append(box)
                params += box_params
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        columns = [f"z.{c}" for c in DEAD_ZONE_COLUMNS]
        if with_places:
            columns += ["c.district", "c.province"]
        zones = to_geoframe(
            self._db.query(
                f"SELECT {', '.join(columns)}, {geometry_column(dialect, 'z.geometry')}"
                f" FROM dead_zones z LEFT JOIN communes c ON c.id = z.commune_id{where}"
                " ORDER BY z.commune_id, z.id",
                params,
            )
        )
        return zones if bbox is None else meeting(zones, bbox)

    def cells(
        self,
        *,
        commune_ids: Iterable[str] | None = None,
        carrier: str | None = None,
        radio: str | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        province: str | None = None,
        district: str | None = None,
    ) -> pd.DataFrame:
        """Return stored cells, by commune, carrier, radio, ``(west, south, east, north)``, place.

        ``province`` and ``district`` ignore diacritics and case.
        """
        clauses: list[str] = []
        params: list[Any] = []
        if commune_ids is not None:
            listed = list(commune_ids)
            clauses.append(in_list("commune_id", len(listed)))
            params += listed
        if carrier is not None:
            clauses.append("lower(carrier) = lower(?)")
            params.append(carrier)
        if radio is not None:
            clauses.append("lower(radio) = lower(?)")
            params.append(radio)
        if bbox is not None:
            west, south, east, north = bbox
            clauses.append("lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?")
            params += [west, east, south, north]
        place, place_params = place_clause("commune_id", province=province, district=district)
        if place is not None:
            clauses.append(place)
            params += place_params
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        frame = self._db.query(
            f"SELECT {', '.join(CELL_COLUMNS)} FROM cells{where} ORDER BY h3, carrier", params
        )
        for column in ("p_usable", "dbm", "lat", "lon"):
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        frame["count"] = pd.to_numeric(frame["count"]).fillna(0).astype("int64")
        return frame
