"""API keys in query strings are redacted from uvicorn's access log records."""

from __future__ import annotations

import logging

import pytest

from app.core.logging import ACCESS_LOGGER, RedactKeys, redact_access_log, redact_keys


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/geosubmit?key=lsk_ab12_s3cr3t", "/v2/geosubmit?key=[redacted]"),
        ("/v2/geosubmit?x=1&KEY=abc&y=2", "/v2/geosubmit?x=1&KEY=[redacted]&y=2"),
        ("/x?api_key=abc", "/x?api_key=[redacted]"),
        ("/api/v1/villages?monkey=1", "/api/v1/villages?monkey=1"),
    ],
)
def test_redact_keys(path: str, expected: str) -> None:
    assert redact_keys(path) == expected


def test_an_access_record_is_written_without_the_key() -> None:
    # uvicorn's access record: the path is an argument, formatted late.
    record = logging.LogRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/v2/geosubmit?key=lsk_ab12_s3cr3t", "1.1", 200),
        None,
    )

    assert RedactKeys().filter(record)
    assert (
        record.getMessage() == '127.0.0.1:5000 - "POST /v2/geosubmit?key=[redacted] HTTP/1.1" 200'
    )


def test_the_filter_is_installed_once() -> None:
    redact_access_log()
    redact_access_log()
    logger = logging.getLogger(ACCESS_LOGGER)
    assert sum(isinstance(f, RedactKeys) for f in logger.filters) == 1
