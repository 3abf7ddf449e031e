"""API keys, managed by admins (the same as ``lomsong keys``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.deps import AdminDep, StoreDep
from app.api.models import KeyCreated, KeyPublic
from app.core.errors import NotFoundError
from app.core.security import Role
from app.services.keys import create_key

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


@router.get("")
def list_keys(store: StoreDep, caller: AdminDep) -> list[KeyPublic]:
    """Every key's public description (id, role, name, created, revoked); never a secret."""
    return [KeyPublic.model_validate(key.as_dict()) for key in store.api_keys()]


@router.post("", status_code=201)
def post_key(
    store: StoreDep,
    caller: AdminDep,
    role: Annotated[Role, Query(description="collector, planner or admin")],
    name: Annotated[str | None, Query(max_length=200)] = None,
) -> KeyCreated:
    """Create a key; the answer's ``key`` is the only time the secret is shown."""
    stored, key = create_key(store, role, name=name)
    return KeyCreated.model_validate({**stored.as_dict(), "key": key})


@router.delete("/{key_id}", status_code=204)
def delete_key(store: StoreDep, caller: AdminDep, key_id: str) -> Response:
    """Revoke a key; it is refused from the next request on."""
    if not store.revoke_api_key(key_id):
        raise NotFoundError(f"no live API key {key_id!r}")
    return Response(status_code=204)
