"""Admins' changes to the network and the villages: import, delete, then re-judge.

Like :mod:`app.services.ingest` for readings: a file is parsed and validated row by
row, the good rows are stored as one change and the bad ones listed with
their row, field and reason. A change that alters what the analysis sees
calls ``on_changed`` with the communes whose verdicts it affects (``None``:
all of them, since a cell reaches villages up to ~15 km away), so the
service can re-analyse them in the background.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from app.core.errors import NotFoundError, UnprocessableError
from app.services.rejections import RejectionTally
from app.store import Store
from geodata.formats import read_sites, read_villages
from geodata.readings import Rejection

#: Called after a change with the communes to re-judge (``None``: every commune).
OnChanged = Callable[[list[str] | None], None]

# Rejections quoted in the refusal of a ``replace`` import.
_QUOTED_REJECTIONS = 3


@dataclass
class AdminReport:
    """What an import did (the body of the API's answer).

    ``rejected`` lists the first :data:`~app.services.rejections.MAX_LISTED_REJECTIONS`;
    ``rejected_total`` and ``rejected_by_reason`` count them all.
    """

    counts: dict[str, int]
    rejected: list[Rejection] = field(default_factory=list)
    refreshing: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON answer: counts, listed rejections, rejections by reason, refresh."""
        return {
            **self.counts,
            **RejectionTally.of(self.rejected).as_dict(),
            "refreshing": self.refreshing,
        }


def import_sites(
    store: Store,
    source: str | Path | IO[bytes],
    *,
    format: str = "native",
    replace: bool = False,
    on_changed: OnChanged | None = None,
) -> AdminReport:
    """Add or update the cells of a site file; with ``replace``, they become the whole network.

    Cells are matched by :func:`geodata.sites.cell_keys` (3GPP's global cell
    identity), so importing the same file twice changes nothing the second
    time. A ``replace`` import is all or nothing: a file with any refused row,
    or with no cells, is refused whole, so a broken file can never delete
    the network.

    Parameters
    ----------
    store : Store
    source : path or binary file object
        A site CSV (:mod:`geodata.formats.cell_towers`).
    format : str, keyword-only
        ``"native"`` or ``"opencellid"``.
    replace : bool, keyword-only
        Delete the stored cells the file does not list.
    on_changed : callable, optional, keyword-only
        Called with ``None`` (every commune) when the stored network changed.

    Returns
    -------
    AdminReport
        ``added``, ``updated``, ``unchanged``, ``removed`` and the refused rows
        (numbered by line; the header is line 1).

    Raises
    ------
    UnprocessableError
        A ``replace`` import of a file with refused rows or no cells.
    geodata.errors.InvalidInputError
        A file unreadable as a site CSV (no header, bad encoding, ...).
    """
    validated = read_sites(source, format=format)  # type: ignore[arg-type]  # any binary file
    if replace and validated.rejected:
        quoted = "; ".join(
            f"row {r.index}: {r.field}: {r.reason}" for r in validated.rejected[:_QUOTED_REJECTIONS]
        )
        more = len(validated.rejected) - _QUOTED_REJECTIONS
        raise UnprocessableError(
            f"replace=true needs a file without refused rows; {len(validated.rejected)} refused"
            f" ({quoted}{f'; and {more} more' if more > 0 else ''}). Nothing was changed."
        )
    if replace and validated.valid.empty:
        raise UnprocessableError(
            "replace=true with a file of no cells would delete every site. Nothing was changed."
        )
    changes = store.upsert_sites(validated.valid, replace=replace)
    if changes.changed and on_changed is not None:
        on_changed(None)
    return AdminReport(changes.as_dict(), validated.rejected, refreshing=changes.changed)


def import_villages(
    store: Store, source: str | Path | IO[bytes], *, on_changed: OnChanged | None = None
) -> AdminReport:
    """Add or update the villages of a GeoJSON FeatureCollection, by id.

    Parameters
    ----------
    store : Store
    source : path or binary file object
        GeoJSON (:mod:`geodata.formats.village_features`). Villages given as
        points become Voronoi cells clipped to their stored commune
        (``boundary: "voronoi"``); ``district`` is optional; a village naming
        no commune is placed in the stored commune it lies in, and one naming
        a new commune adds it.
    on_changed : callable, optional, keyword-only
        Called with the communes of the added and changed villages.

    Returns
    -------
    AdminReport
        ``added``, ``updated``, ``unchanged``, ``communes_added`` and the
        refused features (numbered by position in ``features``).

    Raises
    ------
    geodata.errors.InvalidInputError
        Malformed JSON, no ``features`` list, bad encoding.
    """
    communes = store.communes()
    validated = read_villages(
        source,  # type: ignore[arg-type]  # any binary file
        communes=communes if len(communes) else None,
        new_communes=True,
    )
    changes = store.upsert_villages(validated.valid)
    changed = bool(changes.commune_ids)
    if changed and on_changed is not None:
        on_changed(list(changes.commune_ids))
    return AdminReport(changes.as_dict(), validated.rejected, refreshing=changed)


def delete_site(
    store: Store,
    site_id: str,
    *,
    radio: str | None = None,
    cell_id: int | None = None,
    on_changed: OnChanged | None = None,
) -> int:
    """Delete a site's cells (of one ``radio`` / ``cell_id`` when given); returns how many.

    Raises
    ------
    NotFoundError
        When no stored cell matches.
    """
    deleted = store.delete_sites(site_id, radio=radio, cell_id=cell_id)
    if not deleted:
        which = "".join(
            f", {name} {value!r}"
            for name, value in (("radio", radio), ("cell_id", cell_id))
            if value is not None
        )
        raise NotFoundError(f"no site {site_id!r}{which}")
    if on_changed is not None:
        on_changed(None)
    return deleted


def delete_village(store: Store, village_id: str, *, on_changed: OnChanged | None = None) -> None:
    """Delete a village; its commune is re-judged without it.

    Raises
    ------
    NotFoundError
        When there is no such village.
    """
    commune = store.delete_village(village_id)
    if commune is None:
        raise NotFoundError(f"village {village_id!r} not found")
    if on_changed is not None:
        on_changed([commune])
