"""Places: communes, villages and the carriers' sites, loaded whole or changed by admins.

Each change is one write transaction, and bumps the results version when it
changes anything, since maps show sites and villages. Geometries are stored
as WKB (SQLite, with each village's bounding box) or in PostGIS columns
(PostgreSQL, GiST-indexed; each site's point kept in step with its lon/lat);
names are also stored folded (:func:`geodata.text.fold`), so searches and
filters that ignore diacritics run in SQL on both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.core.errors import NotFoundError
from app.store.db import AnyDatabase, Connection
from app.store.meta import bump_results_version
from app.store.rows import (
    iso_or_none,
    meeting,
    parse_json_columns,
    qualify,
    to_geoframe,
    to_rows,
    where_clause,
)
from app.store.schema import (
    COMMUNE_COLUMNS,
    RESULT_COLUMNS,
    VILLAGE_COLUMNS,
    fold_or_none,
    folded_aliases,
)
from app.store.sql import (
    Bbox,
    bbox_clause,
    contains,
    dialect_of,
    geometry_column,
    geometry_value,
    in_list,
    point_bbox_clause,
    sync_site_points,
)
from geodata.constants import CRS_WGS84
from geodata.sites import SITE_COLUMNS, cell_keys
from geodata.text import fold


@dataclass(frozen=True)
class SiteChanges:
    """What a site import did to the stored cells."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    @property
    def changed(self) -> bool:
        """Whether the network the analysis sees is different now."""
        return bool(self.added or self.updated or self.removed)

    def as_dict(self) -> dict[str, int]:
        """Return the counts, for the API's answer."""
        return asdict(self)


@dataclass(frozen=True)
class VillageChanges:
    """What a village import did, and the communes whose verdicts it affects."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    communes_added: int = 0
    #: Communes holding an added or changed village, before or after the change.
    commune_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, int]:
        """Return the counts, for the API's answer."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "communes_added": self.communes_added,
        }


def _forget_if_empty(conn: Connection, commune_id: str) -> None:
    """Drop a commune's dead zones and hex cells once it has no village left."""
    # No analysis of a commune without villages will ever replace them.
    left = conn.execute("SELECT count(*) FROM villages WHERE commune_id = ?", (commune_id,))
    if not left.fetchone()[0]:
        for table in ("dead_zones", "cells"):
            conn.execute(f"DELETE FROM {table} WHERE commune_id = ?", (commune_id,))


#: Columns written beside a village's :data:`VILLAGE_COLUMNS`, in order.
VILLAGE_EXTRA_COLUMNS = (
    "name_folded",
    "geometry",
    "min_lon",
    "min_lat",
    "max_lon",
    "max_lat",
    "district_folded",
    "province_folded",
)


def _village_rows(villages: gpd.GeoDataFrame) -> list[tuple[Any, ...]]:
    """Rows of :data:`VILLAGE_COLUMNS` then :data:`VILLAGE_EXTRA_COLUMNS` (WGS84 frame).

    A frame without ``district`` or ``boundary`` stores NULL and ``"polygon"``.
    """
    if "district" not in villages.columns or "boundary" not in villages.columns:
        villages = villages.copy()
        if "district" not in villages.columns:
            villages["district"] = None
        if "boundary" not in villages.columns:
            villages["boundary"] = "polygon"
    return [
        (*row, fold(str(row[1])), wkb, *box, fold_or_none(row[4]), fold_or_none(row[5]))
        for row, wkb, box in zip(
            to_rows(villages, VILLAGE_COLUMNS),
            shapely.to_wkb(villages.geometry.values),
            villages.geometry.bounds.itertuples(index=False, name=None),
            strict=True,
        )
    ]


def _insert_commune(dialect: str) -> str:
    """``INSERT`` of one :func:`_commune_rows` row."""
    return (
        "INSERT INTO communes (id, name, district, province, unit_type, aliases, name_folded,"
        " geometry, district_folded, province_folded, aliases_folded)"
        f" VALUES (?, ?, ?, ?, ?, ?, ?, {geometry_value(dialect)}, ?, ?, ?)"
    )


def _village_values(dialect: str) -> str:
    """Return the ``VALUES`` list of a :func:`_village_rows` row, geometry as stored."""
    values = ["?"] * (len(VILLAGE_COLUMNS) + len(VILLAGE_EXTRA_COLUMNS))
    values[len(VILLAGE_COLUMNS) + VILLAGE_EXTRA_COLUMNS.index("geometry")] = geometry_value(dialect)
    return ", ".join(values)


def _insert_sites(conn: Connection, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert site rows of ``columns`` (the caller then runs :func:`sync_site_points`)."""
    conn.executemany(
        f"INSERT INTO sites ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        rows,
    )


def _commune_rows(communes: gpd.GeoDataFrame) -> list[tuple[Any, ...]]:
    """Rows of :data:`COMMUNE_COLUMNS`, then the folded names and the WKB (WGS84 frame).

    ``district``, ``unit_type`` and ``aliases`` may be absent (stored as NULL).
    """
    frame = communes.copy()
    for column in ("district", "unit_type", "aliases"):
        if column not in frame.columns:
            frame[column] = None
    frame["aliases"] = [
        list(a) if isinstance(a, list | tuple) and a else None for a in frame["aliases"]
    ]
    return [
        (*row, fold(str(row[1])), wkb, fold_or_none(row[2]), fold_or_none(row[3]), folded)
        for row, wkb, folded in zip(
            to_rows(frame, COMMUNE_COLUMNS),
            shapely.to_wkb(frame.geometry.values),
            [folded_aliases(a) for a in frame["aliases"]],
            strict=True,
        )
    ]


class Places:
    """Communes, villages and sites."""

    def __init__(self, db: AnyDatabase) -> None:
        self._db = db

    # --- the region, whole ------------------------------------------------
    def replace_region(
        self, communes: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, sites: pd.DataFrame
    ) -> None:
        """Replace communes, villages and sites (and drop results that depended on them).

        Communes may carry ``unit_type`` and ``aliases`` (former names); a
        village frame without ``boundary`` holds drawn polygons.
        """
        commune_rows = _commune_rows(communes.to_crs(CRS_WGS84))
        villages = villages.to_crs(CRS_WGS84)
        village_rows = _village_rows(villages)
        village_columns = [*VILLAGE_COLUMNS, *VILLAGE_EXTRA_COLUMNS]
        with self._db.write() as conn:
            for table in (
                "village_results",
                "dead_zones",
                "cells",
                "villages",
                "communes",
                "sites",
            ):
                conn.execute(f"DELETE FROM {table}")
            dialect = dialect_of(conn)
            conn.executemany(_insert_commune(dialect), commune_rows)
            conn.executemany(
                f"INSERT INTO villages ({', '.join(village_columns)})"
                f" VALUES ({_village_values(dialect)})",
                village_rows,
            )
            present = [c for c in SITE_COLUMNS if c in sites.columns]
            sites = sites.copy()
            if "created" in sites.columns:
                sites["created"] = sites["created"].map(iso_or_none)
            if present and len(sites):  # a region without sites yet has none to insert
                _insert_sites(conn, present, to_rows(sites, present))
                sync_site_points(conn)
            bump_results_version(conn)

    def communes(self) -> gpd.GeoDataFrame:
        """All communes (id, name, district, province, unit_type, aliases, geometry)."""
        geometry = geometry_column(self._db.dialect)
        return to_geoframe(
            self._db.query(
                f"SELECT {', '.join(COMMUNE_COLUMNS)}, {geometry} FROM communes ORDER BY id"
            )
        )

    def commune(self, commune_id: str) -> dict[str, Any]:
        """One commune's properties; raises :class:`NotFoundError` when unknown."""
        frame = self._db.query(
            f"SELECT {', '.join(COMMUNE_COLUMNS)} FROM communes WHERE id = ?", (commune_id,)
        )
        if frame.empty:
            raise NotFoundError(f"commune {commune_id!r} not found")
        return dict(parse_json_columns(frame).iloc[0])

    def find_communes(self, q: str) -> gpd.GeoDataFrame:
        """Communes whose name or a former name contains ``q`` (diacritics and case ignored).

        A search for "Thượng Giáp" finds the commune it was merged into.
        """
        folded = fold(q)
        dialect = self._db.dialect
        aliases = "COALESCE(aliases_folded, '')"
        return to_geoframe(
            self._db.query(
                f"SELECT {', '.join(COMMUNE_COLUMNS)}, {geometry_column(dialect)} FROM communes"
                f" WHERE {contains(dialect, 'name_folded')} OR {contains(dialect, aliases)}"
                " ORDER BY name_folded, id",
                (folded, folded),
            )
        )

    def sites(self) -> pd.DataFrame:
        """All sites, in ``read_sites`` columns."""
        return self._sites()

    def _sites(self, where: str = "", params: Sequence[Any] = ()) -> pd.DataFrame:
        """Sites matching the SQL ``where`` (``" WHERE ..."``), in stored order."""
        frame = self._db.query(
            f"SELECT {', '.join(SITE_COLUMNS)} FROM sites{where} ORDER BY rowid", params
        )
        frame["created"] = pd.to_datetime(frame["created"], utc=True, format="ISO8601")
        for column in ("cell_id", "area_code"):
            frame[column] = frame[column].astype("Int64")
        for column in ("mcc", "mnc"):
            frame[column] = frame[column].astype("int64")
        for column in (
            "lon",
            "lat",
            "height_m",
            "azimuth_deg",
            "beamwidth_deg",
            "eirp_dbm",
            "freq_mhz",
            "range_m",
        ):
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        for column in ("site_id", "name", "carrier", "radio"):
            frame[column] = frame[column].astype("string")
        return frame

    def villages(
        self,
        *,
        ids: Iterable[str] | None = None,
        commune_ids: Iterable[str] | None = None,
        with_results: bool = True,
        commune_id: str | None = None,
        verdict: str | None = None,
        province: str | None = None,
        district: str | None = None,
        name_contains: str | None = None,
        bbox: Bbox | None = None,
    ) -> gpd.GeoDataFrame:
        """Villages, optionally with their stored results, filtered in SQL.

        Filters that are ``None`` are ignored. ``province``, ``district`` and
        ``name_contains`` ignore diacritics and case; the others are exact.
        ``bbox`` (west, south, east, north) keeps the villages whose outline
        meets it: their bounding boxes are matched in SQL (the GiST index on
        PostgreSQL), the outlines then tested exactly.
        Villages without a stored result get verdict ``unknown``.
        """
        filters = {"commune_id": commune_id, "verdict": verdict}
        columns = [f"v.{c}" for c in VILLAGE_COLUMNS]
        if with_results:
            columns += [f"r.{c}" for c in RESULT_COLUMNS]
        where, params = where_clause({qualify(k): v for k, v in filters.items()})
        clauses = [where.removeprefix(" WHERE ")] if where else []
        dialect = self._db.dialect
        for column, value in (
            ("v.province_folded = ?", province),
            ("v.district_folded = ?", district),
            (contains(dialect, "v.name_folded"), name_contains),
        ):
            if value is not None:
                clauses.append(column)
                params.append(fold(value))
        for column, values in (("v.id", ids), ("v.commune_id", commune_ids)):
            if values is not None:
                listed = list(values)
                clauses.append(in_list(column, len(listed)))
                params += listed
        if bbox is not None:
            bounds = ("v.min_lon", "v.min_lat", "v.max_lon", "v.max_lat")
            box, box_params = bbox_clause(dialect, bbox, geometry="v.geometry", bounds=bounds)
            clauses.append(str(box))
            params += box_params
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        frame = self._db.query(
            f"SELECT {', '.join(columns)}, {geometry_column(dialect, 'v.geometry')} FROM villages v"
            " LEFT JOIN village_results r ON r.village_id = v.id"
            f"{where} ORDER BY v.commune_id, v.name_folded, v.id",
            params,
        )
        for column in ("population", "poverty_rate", "centre_lon", "centre_lat"):
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        frame["households"] = frame["households"].astype("int64")
        if with_results:
            frame["verdict"] = frame["verdict"].fillna("unknown")
            frame["households_without_signal"] = frame["households_without_signal"].astype("Int64")
            frame["readings_count"] = frame["readings_count"].fillna(0).astype("int64")
        return to_geoframe(frame) if bbox is None else meeting(to_geoframe(frame), bbox)

    def village(self, village_id: str) -> gpd.GeoDataFrame:
        """One village with its result; raises :class:`NotFoundError` when unknown."""
        frame = self.villages(ids=[village_id])
        if frame.empty:
            raise NotFoundError(f"village {village_id!r} not found")
        return frame

    # --- sites ------------------------------------------------------------
    def upsert_sites(self, sites: pd.DataFrame, *, replace: bool = False) -> SiteChanges:
        """Add or update cells by their identity; with ``replace``, drop the others.

        Parameters
        ----------
        sites : pandas.DataFrame
            :attr:`geodata.sites.ValidatedSites.valid`: site columns and
            ``cell_key`` (:func:`geodata.sites.cell_keys`), one row per key.
        replace : bool, keyword-only
            Delete stored cells whose key is not among ``sites``.

        Returns
        -------
        SiteChanges
            A cell whose stored values already equal the import's is
            ``unchanged``, so re-importing a file changes nothing.
        """
        frame = sites.copy()
        frame["created"] = frame["created"].map(iso_or_none)
        incoming = dict(zip(frame["cell_key"], to_rows(frame, SITE_COLUMNS), strict=True))
        with self._db.write() as conn:
            stored = conn.execute(f"SELECT rowid, {', '.join(SITE_COLUMNS)} FROM sites").fetchall()
            rowids = [row[0] for row in stored]
            values = [tuple(row[1:]) for row in stored]
            table = pd.DataFrame(values, columns=list(SITE_COLUMNS))
            keys = cell_keys(table).tolist() if stored else []
            first: dict[str, int] = {}
            for position, key in enumerate(keys):
                first.setdefault(key, position)
            inserts = [row for key, row in incoming.items() if key not in first]
            updates = [
                (*row, rowids[first[key]])
                for key, row in incoming.items()
                if key in first and row != values[first[key]]
            ]
            # Stored copies of one cell beyond the first, and with ``replace`` the cells
            # the import does not list, are gone.
            removed = [
                rowid
                for position, (rowid, key) in enumerate(zip(rowids, keys, strict=True))
                if first[key] != position or (replace and key not in incoming)
            ]
            _insert_sites(conn, SITE_COLUMNS, inserts)
            conn.executemany(
                f"UPDATE sites SET {', '.join(f'{c} = ?' for c in SITE_COLUMNS)} WHERE rowid = ?",
                updates,
            )
            conn.executemany("DELETE FROM sites WHERE rowid = ?", [(r,) for r in removed])
            sync_site_points(conn)
            changes = SiteChanges(
                added=len(inserts),
                updated=len(updates),
                unchanged=len(incoming) - len(inserts) - len(updates),
                removed=len(removed),
            )
            if changes.changed:
                bump_results_version(conn)
        return changes

    def delete_sites(
        self, site_id: str, *, radio: str | None = None, cell_id: int | None = None
    ) -> int:
        """Delete a site's cells (only those of ``radio`` / ``cell_id`` when given).

        Returns
        -------
        int
            How many cells were deleted (0: no such site or cell).
        """
        clauses: list[str] = ["site_id = ?"]
        params: list[Any] = [site_id]
        if radio is not None:
            clauses.append("radio = ?")
            params.append(radio)
        if cell_id is not None:
            clauses.append("cell_id = ?")
            params.append(cell_id)
        with self._db.write() as conn:
            deleted = conn.execute(
                f"DELETE FROM sites WHERE {' AND '.join(clauses)}", params
            ).rowcount
            if deleted:
                bump_results_version(conn)
        return int(deleted)

    def find_sites(
        self,
        *,
        carrier: str | None = None,
        radio: str | None = None,
        site_id: str | None = None,
        bbox: tuple[float, float, float, float] | None = None,
    ) -> gpd.GeoDataFrame:
        """Return stored cells as points by carrier, radio, site and ``(west, south, east, north)``.

        ``carrier`` matches the carrier's name ignoring diacritics and case
        ("viettel"), or its ``MCC-MNC`` code ("452-04"); the other filters run
        in SQL (``bbox`` on PostgreSQL through the sites' GiST-indexed points).
        """
        clauses: list[str] = []
        params: list[Any] = []
        if radio is not None:
            clauses.append("radio = ?")
            params.append(radio.lower())
        if site_id is not None:
            clauses.append("site_id = ?")
            params.append(site_id)
        if bbox is not None:
            box, box_params = point_bbox_clause(self._db.dialect, bbox)
            clauses.append(box)
            params += box_params
        frame = self._sites(f" WHERE {' AND '.join(clauses)}" if clauses else "", params)
        keep = np.ones(len(frame), dtype=bool)
        if carrier is not None:
            wanted = fold(carrier)
            codes = [
                f"{mcc:03d}-{mnc:02d}" for mcc, mnc in zip(frame["mcc"], frame["mnc"], strict=True)
            ]
            names = [fold(str(name)) for name in frame["carrier"]]
            keep &= np.array(
                [wanted in (n, c) for n, c in zip(names, codes, strict=True)], dtype=bool
            )
        frame = frame.loc[keep]
        return gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=CRS_WGS84
        )

    # --- villages -----------------------------------------------------------
    def upsert_villages(self, villages: gpd.GeoDataFrame) -> VillageChanges:
        """Add or update villages by id; add the communes none of them had yet.

        A commune the store does not know is created from its villages: the
        name, district and province they give, and the union of their
        polygons as its outline. Stored verdicts stay until the analysis
        replaces them.

        Parameters
        ----------
        villages : GeoDataFrame
            :func:`geodata.villages.normalise_villages` output, unique ids.

        Returns
        -------
        VillageChanges
        """
        frame = villages.to_crs(CRS_WGS84)
        incoming = {str(row[0]): row for row in _village_rows(frame)}
        compared = len(VILLAGE_COLUMNS)  # + name_folded and geometry below
        columns = [*VILLAGE_COLUMNS, *VILLAGE_EXTRA_COLUMNS]
        with self._db.write() as conn:
            dialect = dialect_of(conn)
            stored = {
                str(row[0]): tuple(row)
                for row in conn.execute(
                    f"SELECT {', '.join(VILLAGE_COLUMNS)}, name_folded,"
                    f" {geometry_column(dialect)} FROM villages"
                )
            }
            added = [row for key, row in incoming.items() if key not in stored]
            updated = [
                row
                for key, row in incoming.items()
                if key in stored and tuple(row[: compared + 2]) != stored[key]
            ]
            conn.executemany(
                f"INSERT INTO villages ({', '.join(columns)}) VALUES ({_village_values(dialect)})"
                f" ON CONFLICT (id) DO UPDATE SET"
                f" {', '.join(f'{c} = excluded.{c}' for c in columns if c != 'id')}",
                added + updated,
            )
            commune_at = VILLAGE_COLUMNS.index("commune_id")
            touched = {str(row[commune_at]) for row in added + updated}
            touched |= {str(stored[str(row[0])][commune_at]) for row in updated}
            communes_added = self._add_missing_communes(conn, frame)
            for commune in touched:  # a village moved out of it may have been its last
                _forget_if_empty(conn, commune)
            if added or updated or communes_added:
                bump_results_version(conn)
        return VillageChanges(
            added=len(added),
            updated=len(updated),
            unchanged=len(incoming) - len(added) - len(updated),
            communes_added=communes_added,
            commune_ids=tuple(sorted(touched)),
        )

    @staticmethod
    def _add_missing_communes(conn: Connection, villages: gpd.GeoDataFrame) -> int:
        known = {str(row[0]) for row in conn.execute("SELECT id FROM communes")}
        new = villages.loc[~villages["commune_id"].isin(known)]
        rows: list[tuple[Any, ...]] = []
        for commune_id, group in new.groupby("commune_id", sort=True):
            first = group.iloc[0]
            outline = shapely.union_all(group.geometry.values)
            name = str(first["commune"])
            district, province = first["district"], first["province"]
            rows.append(
                (
                    str(commune_id),
                    name,
                    district,
                    province,
                    None,  # unit type: villages do not say
                    None,  # aliases
                    fold(name),
                    shapely.to_wkb(outline),
                    fold_or_none(district),
                    fold_or_none(province),
                    None,
                )
            )
        conn.executemany(_insert_commune(dialect_of(conn)), rows)
        return len(rows)

    def delete_village(self, village_id: str) -> str | None:
        """Delete a village and its verdict; ``None`` when there is no such village.

        When it was its commune's last village, the commune's dead zones and
        hex cells go too: no analysis will replace them.

        Returns
        -------
        str or None
            The commune the village was in.
        """
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT commune_id FROM villages WHERE id = ?", (village_id,)
            ).fetchone()
            if row is None:
                return None
            commune = str(row[0])
            conn.execute("DELETE FROM village_results WHERE village_id = ?", (village_id,))
            conn.execute("DELETE FROM villages WHERE id = ?", (village_id,))
            _forget_if_empty(conn, commune)
            bump_results_version(conn)
        return commune

    def village_points(self, commune_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """One point inside each village (of ``commune_ids``; all when ``None``), as lat/lon."""
        geometry = geometry_column(self._db.dialect)
        rows: Sequence[tuple[Any, ...]] = (
            self._db.connection()
            .execute(f"SELECT commune_id, {geometry} FROM villages ORDER BY id")
            .fetchall()
        )
        if commune_ids is not None:
            wanted = set(commune_ids)
            rows = [row for row in rows if row[0] in wanted]
        points = shapely.point_on_surface(shapely.from_wkb([row[1] for row in rows]))
        return pd.DataFrame(
            {"lat": shapely.get_y(points), "lon": shapely.get_x(points)}, dtype="float64"
        )
