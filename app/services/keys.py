"""API keys in use: create one, authenticate a request's key, authorise its role.

Roles and hashing are pure and live in :mod:`app.core.security`; this module
adds the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import AuthenticationError, PermissionDeniedError
from app.core.security import INVALID_KEY_DETAIL, Role, grants, hash_key, new_key
from app.store import Store
from app.store.keys import StoredKey

__all__ = ["INVALID_KEY_DETAIL", "Caller", "Role", "authenticate", "authorize", "create_key"]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a stored key, or an anonymous client address."""

    key: StoredKey | None
    identity: str

    @property
    def scope(self) -> str:
        """A name for the caller's own records (idempotency keys are per caller)."""
        return self.identity


def create_key(store: Store, role: Role | str, *, name: str | None = None) -> tuple[StoredKey, str]:
    """Make a new key, store its hash, and return it with the key itself.

    The key is shown once, here; it cannot be recovered from the store.

    Parameters
    ----------
    store : Store
    role : Role or str
        ``collector``, ``planner`` or ``admin``.
    name : str, optional
        Who holds the key (a team, a person), for ``lomsong keys list``.

    Returns
    -------
    (StoredKey, str)
        The stored description and the secret key.

    Raises
    ------
    ValueError
        For an unknown role.
    """
    role = Role(role)
    key_id, key = new_key()
    stored = store.add_api_key(key_id, hash_key(key), role=role.value, name=name)
    return stored, key


def authenticate(store: Store, key: str | None) -> StoredKey:
    """Return the live stored key for ``key``.

    Raises
    ------
    AuthenticationError
        When ``key`` is missing, unknown or revoked (one message for all three).
    """
    stored = store.api_key_by_hash(hash_key(key)) if key else None
    if stored is None or stored.revoked is not None:
        raise AuthenticationError(INVALID_KEY_DETAIL)
    return stored


def authorize(key: StoredKey, role: Role, *, action: str) -> None:
    """Refuse a key whose role does not grant ``role``.

    Raises
    ------
    PermissionDeniedError
        ``"this key may not <action>"``.
    """
    if not grants(key.role, role):
        raise PermissionDeniedError(f"this key may not {action}")
