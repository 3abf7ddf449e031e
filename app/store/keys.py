"""API keys (only their hashes) and idempotency records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.store.db import AnyDatabase
from app.store.sql import insert_ignore

# Retries of one upload come within minutes or, from a phone that lost signal,
# days; a month of records is cheap and covers both.
IDEMPOTENCY_RETENTION = timedelta(days=30)


def utc_now_iso() -> str:
    """Return the current UTC time as ISO 8601 (seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


#: Remember an idempotent answer unless one is stored already (both backends).
_SAVE_FIRST = insert_ignore(
    "idempotency", ("scope", "key", "request_hash", "response", "created"), ("scope", "key")
)


@dataclass(frozen=True)
class StoredKey:
    """One API key as stored: its public id, role and state, never the key itself."""

    id: str
    role: str
    name: str | None
    created: str
    revoked: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return the key's public description (id, role, name, created, revoked)."""
        return {
            "id": self.id,
            "role": self.role,
            "name": self.name,
            "created": self.created,
            "revoked": self.revoked,
        }


class Keys:
    """API keys and idempotency records."""

    def __init__(self, db: AnyDatabase) -> None:
        self._db = db

    # --- API keys ---------------------------------------------------------
    def add_api_key(self, key_id: str, key_hash: str, *, role: str, name: str | None) -> StoredKey:
        """Store a new key's hash under its public id."""
        created = utc_now_iso()
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, key_hash, role, name, created) VALUES (?, ?, ?, ?, ?)",
                (key_id, key_hash, role, name, created),
            )
        return StoredKey(key_id, role, name, created, None)

    def api_key_by_hash(self, key_hash: str) -> StoredKey | None:
        """Return the key whose hash is ``key_hash`` (revoked or not), or ``None``."""
        row = (
            self._db.connection()
            .execute(
                "SELECT id, role, name, created, revoked FROM api_keys WHERE key_hash = ?",
                (key_hash,),
            )
            .fetchone()
        )
        return None if row is None else StoredKey(*row)

    def api_keys(self) -> list[StoredKey]:
        """Every key ever created, oldest first."""
        rows = self._db.connection().execute(
            "SELECT id, role, name, created, revoked FROM api_keys ORDER BY created, id"
        )
        return [StoredKey(*row) for row in rows]

    def revoke_api_key(self, key_id: str) -> bool:
        """Mark a key revoked; ``False`` when no live key has that id."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL",
                (utc_now_iso(), key_id),
            )
            return cursor.rowcount > 0

    # --- idempotency ------------------------------------------------------
    def idempotent_response(self, scope: str, key: str) -> tuple[str, str] | None:
        """``(request_hash, response_json)`` first stored for ``(scope, key)``, or ``None``."""
        row = (
            self._db.connection()
            .execute(
                "SELECT request_hash, response FROM idempotency WHERE scope = ? AND key = ?",
                (scope, key),
            )
            .fetchone()
        )
        return None if row is None else (str(row[0]), str(row[1]))

    def save_idempotent_response(
        self, scope: str, key: str, *, request_hash: str, response: str
    ) -> None:
        """Remember the first answer to ``(scope, key)``; later saves keep the first."""
        now = datetime.now(UTC)
        with self._db.write() as conn:
            conn.execute(
                _SAVE_FIRST,
                (scope, key, request_hash, response, now.isoformat(timespec="seconds")),
            )
            conn.execute(
                "DELETE FROM idempotency WHERE created < ?",
                ((now - IDEMPOTENCY_RETENTION).isoformat(timespec="seconds"),),
            )
