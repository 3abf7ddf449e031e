"""``/docs`` and ``/redoc`` in headless Chromium: they render the API with no request elsewhere."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_render_the_api_from_this_server_alone(
    demo_server: str, browser: Any, path: str
) -> None:
    from playwright.sync_api import expect

    sent: list[str] = []  # what reaches the network (a route sees every request that leaves)
    asked: list[str] = []  # what the page asked for, sent or not
    blocked: dict[str, str | None] = {}
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def send(route: Any) -> None:
        sent.append(route.request.url)
        route.continue_()

    page.route("**/*", send)
    page.on("request", lambda request: asked.append(request.url))
    page.on("requestfailed", lambda request: blocked.update({request.url: request.failure}))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        response = page.goto(f"{demo_server}{path}")
        assert response is not None and response.status == 200
        # Both draw each operation's path as text once they have read the schema.
        expect(page.get_by_text("/api/v1/villages", exact=True).first).to_be_attached(
            timeout=60_000
        )
        expect(page.get_by_text("/api/v1/villages/{village_id}", exact=True).first).to_be_attached()
        page.wait_for_load_state("networkidle")
    finally:
        page.close()

    server = urlsplit(demo_server).netloc
    assert f"{demo_server}/openapi.json" in sent
    assert [url for url in sent if urlsplit(url).netloc != server] == []
    # ReDoc asks for its vendor's logo (cdn.redoc.ly) whatever its options say;
    # the page's Content-Security-Policy stops it in the browser, unsent.
    elsewhere = {url for url in asked if urlsplit(url).netloc != server}
    assert {url: blocked.get(url) for url in elsewhere} == {url: "csp" for url in elsewhere}
    assert elsewhere <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
    assert errors == []
