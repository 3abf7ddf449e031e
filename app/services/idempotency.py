"""``Idempotency-Key``: a retried upload gets the first answer again, not a second count.

Content keys already make a re-upload store nothing twice; this makes the
*answer* stable too, so an offline client that retries a batch it never saw
answered learns what the first attempt accepted. Keys are per caller (API
key, or client address when anonymous) and per endpoint.

One concept, five places:

- here, :class:`Idempotency`: a lock per ``(scope, key)`` (in the process,
  and on PostgreSQL an advisory lock every worker process sees), the replay
  and the digest check;
- the ``idempotency`` table (:mod:`app.store.keys`): the first answers, kept
  for a month;
- ``reading_batches.request`` (:mod:`app.store.schema`): each stored batch
  names the request that stored it;
- :meth:`app.store.readings.Readings.stored_by_request`: the readings an
  earlier, unanswered attempt of this request stored;
- :func:`app.services.ingest.ingest_chunks` (``request=``): counts those as
  accepted again, so a retry after a crash between storing and answering
  gets the answer the first attempt would have given.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

from app.core.errors import BadRequestError, IdempotencyMismatchError
from app.store import Store
from app.store.locks import AdvisoryLocks

# Stripe and the IETF draft (draft-ietf-httpapi-idempotency-key-header) use
# opaque strings; 255 characters is ample for a UUID or a client's own scheme.
MAX_KEY_LENGTH = 255


def request_digest(*parts: str | bytes | None) -> str:
    """Return a SHA-256 over the parts that make two requests "the same"."""
    digest = hashlib.sha256()
    for part in parts:
        data = b"" if part is None else part if isinstance(part, bytes) else part.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class Idempotency:
    """Runs a request once per ``(scope, key)`` and replays its first answer.

    Parameters
    ----------
    store : Store
        Where first answers are kept (they survive restarts). On PostgreSQL
        a request also holds an advisory lock on ``(scope, key)``: two worker
        processes given one key at once run it once, and the second replays
        the first's answer.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._shared = AdvisoryLocks(store.db)

    def close(self) -> None:
        """Close the connections the advisory locks were held on."""
        self._shared.close()

    def run(
        self,
        compute: Callable[[str | None], dict[str, Any]],
        *,
        scope: str,
        key: str | None,
        digest: str,
    ) -> dict[str, Any]:
        """``compute(request)``'s answer, or the one stored for ``(scope, key)``.

        ``compute`` is given the request's name (``None`` without a key) to
        tag what it stores: if the process dies after storing and before the
        answer is saved, the retry finds its own readings and answers as the
        first attempt would have. Without a key, ``compute`` simply runs. Two
        requests with one key run one after the other, so the second sees the
        first's answer.

        Raises
        ------
        IdempotencyMismatchError
            When ``key`` was first used for a request with another digest.
        BadRequestError
            When ``key`` is empty or longer than :data:`MAX_KEY_LENGTH`.
        """
        if key is None:
            return compute(None)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise BadRequestError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
        # The thread lock first: one connection per key waits on the server, not one per thread.
        with self._lock_for(scope, key), self._shared.hold("idempotency", scope, key):
            stored = self._store.idempotent_response(scope, key)
            if stored is not None:
                first_digest, response = stored
                if first_digest != digest:
                    raise IdempotencyMismatchError(
                        f"Idempotency-Key {key!r} was already used for a different request;"
                        " send a new key with a new body"
                    )
                answer: dict[str, Any] = json.loads(response)
                return answer
            answer = compute(f"{scope} {key}")
            self._store.save_idempotent_response(
                scope, key, request_hash=digest, response=json.dumps(answer)
            )
            return answer

    def _lock_for(self, scope: str, key: str) -> threading.Lock:
        with self._locks_lock:
            if len(self._locks) > 10_000:  # only held ones matter; forget the rest
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            return self._locks.setdefault((scope, key), threading.Lock())
