"""The front door and the API's documentation pages, served from this service's own files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app


def _served_file(client: TestClient, url: str) -> Path:
    """The installed package file that ``url`` serves."""
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    folders = {"swagger-ui": settings.swagger_ui_dir, "redoc": settings.redoc_dir}
    package, name = url.removeprefix("/static/").split("/", 1)
    return folders[package] / name


def test_the_front_door_sends_people_to_the_maps(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)

    assert response.status_code == 307
    assert response.headers["location"] == "/maps"
    assert client.get("/").url.path == "/maps"


@pytest.mark.parametrize(
    ("page", "scripts"),
    [
        ("/docs", ["/static/swagger-ui/swagger-ui-bundle.js"]),
        ("/redoc", ["/static/redoc/redoc.standalone.js"]),
    ],
)
def test_docs_pages_load_only_this_services_files(
    client: TestClient, page: str, scripts: list[str]
) -> None:
    response = client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert re.findall(r'<script src="([^"]+)"', html) == scripts
    # Every URL the page names is this service's: no CDN, no Google Fonts, no badge.
    assert re.findall(r"https?://", html) == []
    assert "fonts.googleapis.com" not in html
    assert "/openapi.json" in html
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'self'; ")
    assert "img-src 'self' data:" in policy
    assert "http" not in policy
    for url in re.findall(r'(?:src|href)="(/[^"]+)"', html):
        fetched = client.get(url)
        assert fetched.status_code == 200, url
        assert fetched.content == _served_file(client, url).read_bytes(), url


def test_docs_assets_have_their_types(client: TestClient) -> None:
    js = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    css = client.get("/static/swagger-ui/swagger-ui.css")
    redoc = client.get("/static/redoc/redoc.standalone.js")

    assert (js.status_code, css.status_code, redoc.status_code) == (200, 200, 200)
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert css.headers["content-type"].startswith("text/css")
    assert redoc.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert client.get("/static/redoc/nothing.js").status_code == 404


def test_the_docs_pages_are_not_in_the_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert not {"/", "/docs", "/redoc"} & set(paths)
    assert "/api/v1/villages" in paths


@pytest.mark.parametrize(
    ("package", "folder", "file"),
    [
        ("swagger-ui-dist", "swagger-ui-dist", "swagger-ui-bundle.js"),
        ("redoc", "redoc/bundles", "redoc.standalone.js"),
    ],
)
def test_a_missing_docs_package_stops_the_start_with_the_fix(
    settings: Settings, tmp_path: Path, package: str, folder: str, file: str
) -> None:
    # A node_modules holding everything but one of the docs' files.
    assets = tmp_path / "node_modules"
    for name in ("leaflet", "swagger-ui-dist", "redoc"):
        shutil.copytree(settings.assets_dir / name, assets / name, symlinks=True)
    (assets / folder / file).unlink()

    with pytest.raises(RuntimeError) as refused:
        create_app(settings.model_copy(update={"assets_dir": assets}))

    message = str(refused.value)
    assert message.startswith(f"{package} not found at {assets / folder} (missing {file}); ")
    assert "make assets" in message
    assert "LOMSONG_ASSETS_DIR" in message
