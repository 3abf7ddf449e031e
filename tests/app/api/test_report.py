"""GET /reports/communes/{id}: one printable A4 page: summary, static map, villages, carriers."""

from __future__ import annotations

import base64
import re

import geopandas as gpd
import pandas as pd
from fastapi.testclient import TestClient

from app.services.pages import print_date
from app.store import Store


def test_commune_report_in_vietnamese(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/reports/communes/thuong-nong")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<h1>Báo cáo sóng di động: Xã Thượng Nông</h1>" in page
    today = f"{print_date():%d/%m/%Y}"
    assert (
        "Dữ liệu đo đến ngày: <strong>05/01/2026</strong>"
        f" · In ngày: <strong>{today}</strong>" in page
    )
    assert '<p class="summary">0 thôn trắng sóng, 1 lõm sóng; 40/138 hộ không có sóng</p>' in page
    # The model's thresholds (coverage.thresholds) are stated in the criterion.
    assert "ít nhất 50% thời gian." in page and "(độ tin cậy dưới 60%)" in page
    assert "@page { size: A4;" in page
    (png,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(png).startswith(b"\x89PNG")
    rows = re.findall(r"<tr><td>([^<]+)</td>.*?</span>([^<]+)</td><td class=n>(\d+)</td>", page)
    # Worst first: Bản Giòng (patchy) before Nà Tà (covered).
    assert rows == [("Bản Giòng", "Lõm sóng (sóng chập chờn)", "98"), ("Nà Tà", "Có sóng", "40")]
    # Whom to call: households each carrier leaves without signal (no nearest site stored yet).
    (carriers,) = re.findall(r'<table class="carriers">(.*?)</table>', page, flags=re.S)
    assert "<th>Viettel</th><th>VinaPhone</th>" in carriers
    assert "<td>Bản Giòng</td><td class=c>98 hộ<small>trạm: —</small></td>" in carriers
    assert "<td class=c>40 hộ<small>trạm: —</small></td>" in carriers
    # An absolute link back to the map, and its QR code.
    url = "http://testserver/maps/communes/thuong-nong"
    assert f'Bản đồ tương tác: <a href="{url}">{url}</a>' in page
    assert page.count('<svg width="') == 1
    assert not re.search(r"<(script|link)\b", page)  # nothing to fetch


def test_commune_report_in_english_and_cached(client: TestClient, loaded_store: Store) -> None:
    first = client.get("/reports/communes/thuong-nong?lang=en")
    again = client.get(
        "/reports/communes/thuong-nong?lang=en", headers={"If-None-Match": first.headers["etag"]}
    )

    assert "Mobile signal report: Commune Thượng Nông" in first.text
    assert "Readings up to: <strong>05/01/2026</strong>" in first.text
    assert "0 villages with no signal, 1 patchy; 40/138 households without signal" in first.text
    assert 'href="http://testserver/maps/communes/thuong-nong?lang=en"' in first.text
    assert again.status_code == 304


def test_a_village_named_like_tex_is_text(
    client: TestClient,
    loaded_store: Store,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
) -> None:
    loaded_store.replace_region(
        communes, villages.assign(name=["Bản $\\foo$", "Nà $x^2", "Đ"]), sites
    )

    response = client.get("/reports/communes/thuong-nong")

    assert response.status_code == 200
    assert "<td>Bản $\\foo$</td>" in response.text and "<td>Nà $x^2</td>" in response.text


def test_unknown_commune_report_is_404(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/reports/communes/nowhere")
    assert response.status_code == 404
    assert response.json() == {"detail": "commune 'nowhere' not found"}
