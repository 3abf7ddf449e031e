"""Challenges to a village's verdict: who disputed it, when, and whether readings settled it.

A challenge follows the FCC's challenge process (crowd evidence disputes a
claimed map): a commune chairman, or anyone with a planner key, says "we
have no signal at the cultural house". It is stored with the key that sent
it (its public id, never shown to the public), when, the verdict it
disputed and, once new readings in the village make a cell measured
(:func:`coverage.survey.challenges_settled`), when it was settled and the
verdict then. Created by migration 9 (:func:`app.store.schema.add_challenges`).

Adding or settling a challenge bumps the results version: the survey plan,
the village page and the public list show challenges, and are cached by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from app.store.db import AnyDatabase
from app.store.keys import utc_now_iso
from app.store.meta import bump_results_version
from app.store.sql import in_list

#: Columns of :meth:`Challenges.challenges`, in order.
CHALLENGE_COLUMNS: Final = (
    "id",
    "village_id",
    "text",
    "author",
    "lon",
    "lat",
    "key_id",
    "created",
    "verdict",
    "status",
    "settled",
    "verdict_settled",
)
OPEN: Final = "open"
SETTLED: Final = "settled"


@dataclass(frozen=True)
class NewChallenge:
    """What a caller disputes: the village, in words, by whom, optionally where."""

    village_id: str
    text: str
    author: str
    key_id: str | None
    verdict: str | None
    lon: float | None = None
    lat: float | None = None


def _frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(CHALLENGE_COLUMNS))
    frame["id"] = frame["id"].astype(int)
    for column in ("lon", "lat"):
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame


class Challenges:
    """The ``challenges`` table."""

    def __init__(self, db: AnyDatabase) -> None:
        self._db = db

    def add_challenge(self, challenge: NewChallenge) -> dict[str, Any]:
        """Store a challenge (open, created now); return it as stored."""
        created = utc_now_iso()
        with self._db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO challenges (village_id, text, author, lon, lat, key_id, created,"
                " verdict, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    challenge.village_id,
                    challenge.text,
                    challenge.author,
                    challenge.lon,
                    challenge.lat,
                    challenge.key_id,
                    created,
                    challenge.verdict,
                    OPEN,
                ),
            )
            new_id = int(cursor.fetchone()[0])
            bump_results_version(conn)
        stored = self.challenges(ids=[new_id])
        return dict(stored.iloc[0])

    def challenges(
        self,
        *,
        village_ids: Iterable[str] | None = None,
        commune_ids: Iterable[str] | None = None,
        ids: Iterable[int] | None = None,
        status: str | None = None,
    ) -> pd.DataFrame:
        """Challenges, oldest first: of some villages, of some communes' villages, or by id."""
        clauses, params = [], []
        for column, values in (
            ("c.village_id", village_ids),
            ("v.commune_id", commune_ids),
            ("c.id", ids),
        ):
            if values is not None:
                chosen = list(values)
                if not chosen:
                    return _frame([])
                clauses.append(in_list(column, len(chosen)))
                params += chosen
        if status is not None:
            clauses.append("c.status = ?")
            params.append(status)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        columns = ", ".join(f"c.{c}" for c in CHALLENGE_COLUMNS)
        rows = (
            self._db.connection()
            .execute(
                f"SELECT {columns} FROM challenges c LEFT JOIN villages v ON v.id = c.village_id"
                f" {where} ORDER BY c.created, c.id",
                params,
            )
            .fetchall()
        )
        return _frame(rows)

    def settle_challenges(self, verdicts: dict[int, str | None]) -> int:
        """Mark open challenges settled now, each with the village's verdict then.

        Returns how many were still open (and are settled now).
        """
        if not verdicts:
            return 0
        now = utc_now_iso()
        with self._db.write() as conn:
            changed = 0
            for challenge_id, verdict in verdicts.items():
                cursor = conn.execute(
                    "UPDATE challenges SET status = ?, settled = ?, verdict_settled = ?"
                    " WHERE id = ? AND status = ?",
                    (SETTLED, now, verdict, int(challenge_id), OPEN),
                )
                changed += cursor.rowcount
            if changed:
                bump_results_version(conn)
        return changed
