"""Logging the service sets up for itself: API keys never reach the access log.

Stumbler clients send their key as ``POST /v2/geosubmit?key=...`` (ichnaea's
convention), and uvicorn's access log writes each request's path with its
query string. :class:`RedactKeys` rewrites that path before any handler
formats it; :func:`redact_access_log` installs it once on uvicorn's logger.
"""

from __future__ import annotations

import logging
import re

#: uvicorn's access logger (its records carry the path as an argument).
ACCESS_LOGGER = "uvicorn.access"
REDACTED = "[redacted]"
# ``key=`` (ichnaea's) and ``api_key=`` as query parameters, up to the next ``&``/space/quote.
_KEY_PARAMETER = re.compile(r"(?i)([?&](?:api_)?key=)[^&\s\"']*")


def redact_keys(text: str) -> str:
    """``text`` with the value of every ``key=`` query parameter replaced.

    >>> redact_keys("/v2/geosubmit?key=lsk_ab_secret&x=1")
    '/v2/geosubmit?key=[redacted]&x=1'
    """
    return _KEY_PARAMETER.sub(rf"\g<1>{REDACTED}", text)


class RedactKeys(logging.Filter):
    """Rewrite a record's message and string arguments so that no ``key=`` value is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place and keep it (always ``True``)."""
        if isinstance(record.msg, str):
            record.msg = redact_keys(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_keys(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log() -> None:
    """Install :class:`RedactKeys` on uvicorn's access logger (once; safe to call again).

    A filter on the logger survives uvicorn's own ``dictConfig``, which
    replaces the logger's handlers but keeps its filters.
    """
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactKeys) for f in logger.filters):
        logger.addFilter(RedactKeys())
