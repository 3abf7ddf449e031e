"""API-key roles and hashing: pure functions, no store.

A key is ``lsk_<id>_<secret>``: ``id`` is a short public name for the key
(listed, revoked by), ``secret`` 32 random bytes. Only the key's SHA-256 is
stored, so a copy of the database gives no one a working key. Roles:

``collector``
    uploads readings (JSON batches, files, geosubmit).
``planner``
    reads everything, raw-reading exports included.
``admin``
    manages keys, sites and villages, and may do everything the others may.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

#: The one answer to a missing, unknown or revoked key: it never says which.
INVALID_KEY_DETAIL = "invalid or missing API key"
KEY_PREFIX = "lsk"


class Role(StrEnum):
    """What a key may do (see the module docstring)."""

    COLLECTOR = "collector"
    PLANNER = "planner"
    ADMIN = "admin"


# The roles each role holds; admin implies the others.
GRANTS: dict[Role, frozenset[Role]] = {
    Role.COLLECTOR: frozenset({Role.COLLECTOR}),
    Role.PLANNER: frozenset({Role.PLANNER}),
    Role.ADMIN: frozenset(Role),
}


def grants(held: Role | str, needed: Role) -> bool:
    """Whether a key of role ``held`` may do what ``needed`` may.

    >>> grants("admin", Role.COLLECTOR), grants("planner", Role.COLLECTOR)
    (True, False)
    """
    return needed in GRANTS[Role(held)]


def hash_key(key: str) -> str:
    """Return the SHA-256 hex digest under which ``key`` is stored.

    >>> hash_key("lsk_x_y")[:12]
    '012889105419'
    """
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key() -> tuple[str, str]:
    """Return a fresh ``(key_id, key)``; the key is ``lsk_<key_id>_<secret>``."""
    key_id = secrets.token_hex(4)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
