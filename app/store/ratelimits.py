"""Token buckets in PostgreSQL: the rate limits every worker process shares.

One row per bucket (``rate_limits``, unlogged): its tokens and when they
were counted. :meth:`RateLimits.take` refills and spends in one
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``: the row lock makes
concurrent takes of one bucket, from any process, happen one after the
other, so no two requests spend the same token.
"""

from __future__ import annotations

from app.store.db import PostgresDatabase

# The refill, as SQL: the stored tokens plus what the elapsed time brought, capped.
_LEVEL = (
    "LEAST(%(capacity)s, rate_limits.tokens"
    " + GREATEST(0, %(now)s - rate_limits.updated) * %(rate)s)"
)
_TAKE = f"""
INSERT INTO rate_limits AS rate_limits (bucket, tokens, updated, granted)
VALUES (%(bucket)s, %(capacity)s - 1, %(now)s, %(capacity)s >= 1)
ON CONFLICT (bucket) DO UPDATE SET
    tokens = CASE WHEN {_LEVEL} >= 1 THEN {_LEVEL} - 1 ELSE {_LEVEL} END,
    updated = GREATEST(rate_limits.updated, %(now)s),
    granted = {_LEVEL} >= 1
RETURNING granted, tokens
"""


class RateLimits:
    """The ``rate_limits`` table of a PostgreSQL store."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    def take(
        self, bucket: str, *, capacity: float, rate_per_s: float, now: float
    ) -> tuple[bool, float]:
        """Spend one token of ``bucket`` if it has one; ``(granted, tokens left)``.

        A new bucket starts full (``capacity``). ``now`` is in seconds (any
        epoch shared by the callers: wall-clock time across hosts).
        """
        params = {"bucket": bucket, "capacity": capacity, "rate": rate_per_s, "now": now}
        row = self._db.connection().raw.execute(_TAKE, params).fetchone()
        return bool(row[0]), float(row[1])

    def prune(self, *, before: float) -> int:
        """Forget buckets untouched since ``before`` (full again by then); how many."""
        cursor = self._db.connection().raw.execute(
            "DELETE FROM rate_limits WHERE updated < %s", (before,)
        )
        return int(cursor.rowcount)
