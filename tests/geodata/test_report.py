"""The printable commune report, rendered directly: escaping, order, dates, the map PNG."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geodata.errors import InvalidInputError
from geodata.report import render_commune_report, static_map_png

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def villages() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "name": ["Nà Tà", "<script>alert(1)</script>", "Bản $\\foo$"],
            "verdict": ["covered", "no_signal", "patchy"],
            "households": [1234, 60, 98],
            "households_without_signal": [0, 60, 30],
            "best_carrier": ["Viettel", None, "VinaPhone"],
            "last_reading": ["2026-01-04T03:00:00Z", None, "2026-01-05T23:30:00Z"],
        },
        geometry=[
            shapely.box(105.49, 22.56, 105.50, 22.57),
            shapely.box(105.50, 22.56, 105.51, 22.57),
            shapely.MultiPolygon(
                [
                    shapely.box(105.51, 22.56, 105.52, 22.57),
                    shapely.box(105.53, 22.56, 105.54, 22.57),
                ]
            ),
        ],
        crs="EPSG:4326",
    )


def test_names_are_escaped_and_villages_listed_worst_first(villages: gpd.GeoDataFrame) -> None:
    page = render_commune_report(
        {"name": "Thượng <b>Nông</b>", "district": "Na Hang", "province": "Tuyên Quang"},
        villages,
        map_url='/maps/communes/x?a="1"',
    )

    assert "<script>alert" not in page and "<b>" not in page
    rows = re.findall(r"<tr><td>([^<]+)</td>.*?</span>([^<]+)</td><td class=n>([\d.]+)</td>", page)
    assert rows == [
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "Trắng sóng (không có sóng)", "60"),
        ("Bản $\\foo$", "Lõm sóng (sóng chập chờn)", "98"),
        ("Nà Tà", "Có sóng", "1.234"),
    ]
    assert "<h1>Báo cáo sóng di động: Xã Thượng &lt;b&gt;Nông&lt;/b&gt;</h1>" in page
    assert '<p class="meta">Na Hang, Tuyên Quang · Dữ liệu đo đến ngày: <strong>05/01/2026' in page
    assert '<a href="/maps/communes/x?a=&#34;1&#34;">' in page
    assert "<td>—</td>" in page  # no best carrier
    assert "<td class=n>1.392</td>" in page and "<td class=n>90</td>" in page  # totals
    assert "tfoot td { font-weight: bold; }" in page  # the stylesheet is not escaped
    (png,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(png).startswith(b"\x89PNG")


def test_english_without_readings_or_map_link(villages: gpd.GeoDataFrame) -> None:
    commune = pd.Series({"name": "Linh Phú", "district": None, "province": float("nan")})
    page = render_commune_report(commune, villages.assign(last_reading=None), lang="en")

    assert "<title>Mobile signal report — Commune Linh Phú</title>" in page
    assert "Readings up to: <strong>none yet</strong>" in page
    assert 'class="noprint"' not in page
    assert '<p class="meta"> · Readings up to: <strong>none yet</strong></p>' in page


def test_no_villages_no_map_and_no_crs_refused(villages: gpd.GeoDataFrame) -> None:
    page = render_commune_report({"name": "Trống"}, villages.iloc[:0])
    assert "data:image/png" not in page and "<tbody></tbody>" in page
    with pytest.raises(InvalidInputError, match="villages have no CRS"):
        render_commune_report({"name": "x"}, villages.set_crs(None, allow_override=True))


def test_the_map_draws_the_same_png_on_worker_threads(villages: gpd.GeoDataFrame) -> None:
    zones = gpd.GeoDataFrame(geometry=[shapely.box(105.505, 22.562, 105.515, 22.568)], crs=4326)
    alone = static_map_png(villages, zones)
    with ThreadPoolExecutor(max_workers=4) as pool:
        drawn = list(pool.map(lambda _: static_map_png(villages, zones), range(4)))
    assert alone.startswith(b"\x89PNG") and drawn == [alone] * 4


def test_importing_and_drawing_leave_the_backend_and_pyplot_alone() -> None:
    script = (
        "import sys, matplotlib\n"
        "import geopandas as gpd, shapely\n"
        "import geodata.report as report\n"
        "v = gpd.GeoDataFrame({'name': ['a'], 'verdict': ['patchy']},"
        " geometry=[shapely.box(0, 0, 1, 1)], crs=4326)\n"
        "report.static_map_png(v)\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    env = {**os.environ, "MPLBACKEND": "pdf", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["pdf", "False"]
