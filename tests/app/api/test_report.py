"""GET /reports/communes/{id}: one printable page with a static map and the villages."""

from __future__ import annotations

import base64
import re

from fastapi.testclient import TestClient

from app.store import Store


def test_commune_report_in_vietnamese(client: TestClient, loaded_store: Store) -> None:
    response = client.get("/reports/communes/thuong-nong")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "Báo cáo sóng di động: Xã Thượng Nông" in page
    assert "Dữ liệu đo đến ngày: <strong>05/01/2026</strong>" in page
    assert "@media print" in page and "@page" in page
    (png,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(png).startswith(b"\x89PNG")
    rows = re.findall(r"<tr><td>([^<]+)</td>.*?</span>([^<]+)</td><td class=n>(\d+)</td>", page)
    # Worst first: Bản Giòng (patchy) before Nà Tà (covered).
    assert rows == [("Bản Giòng", "Lõm sóng (sóng chập chờn)", "98"), ("Nà Tà", "Có sóng", "40")]
    assert not re.search(r"<(script|link)\b", page)  # nothing to fetch


def test_commune_report_in_english_and_cached(client: TestClient, loaded_store: Store) -> None:
    first = client.get("/reports/communes/thuong-nong?lang=en")
    again = client.get(
        "/reports/communes/thuong-nong?lang=en", headers={"If-None-Match": first.headers["etag"]}
    )

    assert "Mobile signal report: Commune Thượng Nông" in first.text
    assert "Readings up to: <strong>05/01/2026</strong>" in first.text
    assert again.status_code == 304


def test_unknown_commune_report_is_404(client: TestClient, loaded_store: Store) -> None:
    assert client.get("/reports/communes/nowhere").json() == {
        "detail": "commune 'nowhere' not found"
    }
