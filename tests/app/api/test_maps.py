"""GET /maps...: index, province, commune and village pages; offline, cached with ETags."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.api.responses import PageCache
from app.store import Store

FORBIDDEN = ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "fonts.googleapis")
HTML = "text/html; charset=utf-8"


def feature_layers(page: str) -> list[dict]:  # type: ignore[type-arg]
    decoder = json.JSONDecoder()
    return [decoder.raw_decode(page, m.end())[0] for m in re.finditer(r"featureLayer\(", page)]


@pytest.fixture
def with_cells(loaded_store: Store) -> Store:
    loaded_store.replace_cells(
        pd.DataFrame(
            {
                "h3": ["89415846573ffff", "89415846573ffff", "89415846547ffff"],
                "carrier": ["Viettel", "VinaPhone", "Viettel"],
                "radio": ["lte", "lte", "lte"],
                "p_usable": [0.95, 0.2, 0.02],
                "dbm": [-90.0, -112.0, -125.0],
                "cell_class": ["good", "patchy", "no_signal"],
                "evidence": ["measured", "measured", "predicted"],
                "count": [9, 4, 0],
                "commune_id": ["thuong-nong"] * 3,
                "lat": [22.565] * 3,
                "lon": [105.495] * 3,
            }
        )
    )
    return loaded_store


def test_commune_map_in_vietnamese(client: TestClient, with_cells: Store) -> None:
    response = client.get("/maps/communes/thuong-nong")

    assert response.status_code == 200
    assert response.headers["content-type"] == HTML
    page = response.text
    assert "Trắng sóng (không có sóng)" in page and "Lõm sóng (sóng chập chờn)" in page
    villages, zones, _sites, centres = feature_layers(page)
    assert [f["properties"]["name"] for f in villages["features"]] == ["Bản Giòng", "Nà Tà"]
    giong = villages["features"][0]["properties"]
    assert giong["households"] == "98" and giong["without"] == "40"
    assert giong["url"] == "/maps/villages/ban-giong"
    assert giong["signal"] == [
        "Viettel 4G: dùng được 5% thời gian tại trung tâm thôn (dự báo)",
        "VinaPhone 4G: dùng được 60% thời gian tại trung tâm thôn (đo thực tế)",
    ]
    assert [f["properties"]["verdict"] for f in zones["features"]] == ["patchy"]
    assert len(centres["features"]) == 2
    assert page.count("lomsong.hexLayer(") == 2  # Viettel LTE, VinaPhone LTE
    # Links up (index, province), down (villages), the report and English.
    for href in (
        "/maps",
        "/maps/provinces/tuyen-quang",
        "/maps/villages/na-ta",
        "/reports/communes/thuong-nong",
        "/maps/communes/thuong-nong?lang=en",
    ):
        assert f'href="{href}"' in page


def test_commune_map_in_english(client: TestClient, loaded_store: Store) -> None:
    page = client.get("/maps/communes/thuong-nong?lang=en").text

    assert "Patchy signal" in page
    assert "Trắng sóng" not in page
    assert 'href="/maps/villages/na-ta?lang=en"' in page


def test_pages_load_assets_from_the_service_only(client: TestClient, with_cells: Store) -> None:
    for url in (
        "/maps",
        "/maps/provinces/tuyen-quang",
        "/maps/communes/thuong-nong",
        "/maps/villages/ban-giong",
        "/reports/communes/thuong-nong",
    ):
        page = client.get(url).text
        assets = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page)
        assert all(a.startswith("/static/") for a in assets), (url, assets)
        # Only the report links (and QR-codes) its own host, for a phone reading the paper.
        assert not re.search(r"https?://(?!testserver/maps/)", page), url
        assert not any(host in page for host in FORBIDDEN), url
        for asset in assets:
            assert client.get(asset).status_code == 200


def test_index_lists_provinces_districts_communes(client: TestClient, loaded_store: Store) -> None:
    page = client.get("/maps").text

    assert '<a href="/maps/provinces/tuyen-quang">Tỉnh Tuyên Quang</a>' in page
    assert "Huyện Na Hang" in page and "Huyện Chiêm Hóa" in page
    assert '<a href="/maps/communes/linh-phu">Linh Phú</a>' in page
    assert '"ban giong","/maps/villages/ban-giong"' in page


def test_province_overview(client: TestClient, with_cells: Store) -> None:
    response = client.get("/maps/provinces/tuyen-quang")

    assert response.status_code == 200
    page = response.text
    villages = feature_layers(page)[0]
    assert sorted(f["properties"]["id"] for f in villages["features"]) == [
        "ban-giong",
        "dong-da-1",
        "na-ta",
    ]
    assert "signal" not in villages["features"][0]["properties"]  # short popups
    assert '"canvas":true' in page  # res-8 hexagons on a canvas
    assert 'href="/maps/communes/linh-phu"' in page and 'href="/maps"' in page
    assert client.get("/maps/provinces/nowhere").status_code == 404


def test_village_map_links_up(client: TestClient, with_cells: Store) -> None:
    page = client.get("/maps/villages/ban-giong").text

    villages = feature_layers(page)[0]
    assert [f["properties"]["name"] for f in villages["features"]] == ["Bản Giòng"]
    for href in ("/maps", "/maps/provinces/tuyen-quang", "/maps/communes/thuong-nong"):
        assert f'href="{href}"' in page
    assert client.get("/maps/villages/nowhere").status_code == 404


def test_etag_and_304(client: TestClient, loaded_store: Store) -> None:
    first = client.get("/maps/communes/thuong-nong")
    etag = first.headers["etag"]

    again = client.get("/maps/communes/thuong-nong", headers={"If-None-Match": etag})
    english = client.get("/maps/communes/thuong-nong?lang=en")

    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert english.headers["etag"] != etag


def test_new_results_invalidate_the_cached_page(
    client: TestClient, loaded_store: Store, results: pd.DataFrame
) -> None:
    before = client.get("/maps/communes/thuong-nong")
    version = loaded_store.results_version()

    loaded_store.save_results(results.assign(verdict="no_signal"))
    after = client.get(
        "/maps/communes/thuong-nong", headers={"If-None-Match": before.headers["etag"]}
    )

    assert loaded_store.results_version() == version + 1
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    verdicts = {f["properties"]["verdict"] for f in feature_layers(after.text)[0]["features"]}
    assert verdicts == {"no_signal"}


def test_hillshade_from_the_dem(
    client: TestClient, loaded_store: Store, results: pd.DataFrame, tmp_path: Path
) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    dem = tmp_path / "dem.tif"
    hills = np.add.outer(np.sin(np.arange(200) / 9), np.cos(np.arange(200) / 7)) * 300 + 500
    profile = {"driver": "GTiff", "width": 200, "height": 200, "count": 1, "dtype": "float32"}
    origin = from_origin(105.44, 22.60, 0.0005, 0.0005)
    with rasterio.open(dem, "w", crs="EPSG:4326", transform=origin, **profile) as out:
        out.write(hills.astype("float32"), 1)
    loaded_store.set_meta({"dem_path": str(dem)})
    loaded_store.save_results(results)  # new results: the cached page is stale

    page = client.get("/maps/communes/thuong-nong").text
    (url,) = re.findall(r'"(/maps/hillshade/[0-9a-f]{16}\.webp)"', page)
    image = client.get(url)
    png = client.get(url.replace(".webp", ".png"))

    assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
    assert image.content.startswith(b"RIFF") and image.content[8:12] == b"WEBP"
    assert image.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-encoding" not in image.headers
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert len(image.content) < len(png.content)
    assert client.get("/maps/hillshade/0123456789abcdef.webp").status_code == 404
    assert client.get("/maps/hillshade/0123456789abcdef.gif").status_code == 422


def test_unknown_commune_is_404(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/maps/communes/nowhere")

    assert response.status_code == 404
    assert response.json() == {"detail": "commune 'nowhere' not found"}


def test_unknown_language_is_422(client: TestClient, loaded_store: Store) -> None:
    assert client.get("/maps/communes/thuong-nong?lang=fr").status_code == 422


def test_hillshade_cache_survives_concurrent_first_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads asking at once for an uncached hillshade each get the whole image, never a
    half-written bounds file (today's ``JSONDecodeError``), and leave no temporary file."""
    import threading

    from geodata.maps import hillshade

    dem = tmp_path / "dem.tif"
    dem.write_bytes(b"not read: the render is replaced")
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("LA", (300, 200), (128, 255)).save(buffer, "PNG")
    shade = hillshade.Hillshade(buffer.getvalue(), (22.5, 105.4, 22.6, 105.5))
    monkeypatch.setattr(hillshade, "render_hillshade", lambda *a, **k: shade)
    cache = tmp_path / "cache"
    errors: list[BaseException] = []
    got: list[tuple[str, hillshade.Hillshade]] = []
    threads_n, rounds = 8, 40
    barrier = threading.Barrier(threads_n)

    def ask() -> None:
        for round_ in range(rounds):
            barrier.wait()
            try:
                got.append(hillshade.cached_hillshade(dem, cache_dir=cache))
            except BaseException as exc:  # every failure is reported below
                errors.append(exc)
            # One thread empties the cache for the next round.
            if barrier.wait() == 0 and round_ < rounds - 1:
                for path in cache.glob("*"):
                    path.unlink()

    threads = [threading.Thread(target=ask) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(got) == threads_n * rounds
    assert {key for key, _ in got} == {got[0][0]}
    assert all(h == shade for _, h in got)
    assert sorted(p.name for p in cache.iterdir()) == [
        f"hillshade-{got[0][0]}.json",
        f"hillshade-{got[0][0]}.png",
        f"hillshade-{got[0][0]}.webp",
    ]


@pytest.mark.parametrize(
    "url", ["/maps/communes/thuong-nong", "/maps/villages/ban-giong", "/maps/provinces/tuyen-quang"]
)
def test_the_same_data_renders_to_the_same_bytes(
    client: TestClient, with_cells: Store, url: str
) -> None:
    first = client.get(url)
    client.app.state.page_cache = PageCache()  # type: ignore[attr-defined]  # render again
    second = client.get(url)

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
    ids = re.findall(r"_([0-9a-f]{32})(?![0-9a-zA-Z])", first.text)
    assert f"{1:032d}" in ids and all(i.isdigit() for i in ids)  # Folium's ids, numbered
