"""What-if scenarios: hypothetical sites and the verdicts they would give, with who and when.

One row per scenario (``scenarios``, migration 8). The columns a list shows
(id, name, when, who, communes, totals) are columns of their own; the
scenario's sites, villages before and after, and footprint are one JSON
document beside them, written once: a scenario is never edited, only
deleted. Nothing here touches the real sites, readings or results.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.store.db import AnyDatabase
from app.store.sql import insertion_order

#: Columns of a scenario's summary, in order (``commune_ids`` and ``totals`` are JSON).
SUMMARY_COLUMNS = ("id", "name", "created", "owner", "commune_ids", "sites_count", "totals")


def _summary(row: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(SUMMARY_COLUMNS, row, strict=True))
    record["commune_ids"] = orjson.loads(record["commune_ids"])
    record["totals"] = orjson.loads(record["totals"])
    return record


class Scenarios:
    """Saved what-if scenarios, newest first."""

    def __init__(self, db: AnyDatabase) -> None:
        self._db = db

    def add_scenario(self, scenario: dict[str, Any]) -> None:
        """Store a scenario: :data:`SUMMARY_COLUMNS` keys (``sites`` gives the count) and the rest.

        The whole dict is kept as the scenario's document (:meth:`scenario`
        returns it as given).
        """
        document = orjson.dumps(scenario, option=orjson.OPT_SERIALIZE_NUMPY)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO scenarios (id, name, created, owner, commune_ids, sites_count,"
                " totals, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    scenario["id"],
                    scenario.get("name"),
                    scenario["created"],
                    scenario["owner"],
                    orjson.dumps(scenario["commune_ids"]).decode(),
                    len(scenario["sites"]),
                    orjson.dumps(scenario["totals"]).decode(),
                    document.decode(),
                ),
            )

    def scenario(self, scenario_id: str) -> dict[str, Any] | None:
        """Return one scenario's document, or ``None`` when there is none."""
        row = (
            self._db.connection()
            .execute("SELECT document FROM scenarios WHERE id = ?", (scenario_id,))
            .fetchone()
        )
        if row is None:
            return None
        document: dict[str, Any] = orjson.loads(row[0])
        return document

    def scenarios(self, *, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Return a page of scenario summaries, newest first, and how many there are in all.

        Scenarios of one second come last-saved first on SQLite, by id on
        PostgreSQL (:func:`app.store.sql.insertion_order`).
        """
        conn = self._db.connection()
        total = int(conn.execute("SELECT count(*) FROM scenarios").fetchone()[0])
        rows = conn.execute(
            f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM scenarios"
            f" ORDER BY created DESC, {insertion_order(self._db.dialect)} DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [_summary(row) for row in rows], total

    def delete_scenario(self, scenario_id: str) -> bool:
        """Delete a scenario; ``False`` when there was none."""
        with self._db.write() as conn:
            cursor = conn.execute("DELETE FROM scenarios WHERE id = ?", (scenario_id,))
            return cursor.rowcount > 0
