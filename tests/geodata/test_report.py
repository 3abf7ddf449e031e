"""The printable commune report, rendered directly: escaping, order, dates, the map PNG."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
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
from matplotlib.colors import to_rgb
from matplotlib.text import Text

from geodata.constants import VERDICT_ORDER
from geodata.errors import InvalidInputError
from geodata.report import (
    criterion_lines,
    map_figure,
    render_commune_report,
    static_map_png,
    summary_line,
)

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
            "reasons_vi": [
                ["Viettel 4G dùng được 99% thời gian.", "0/1234 hộ."],
                ["Không trạm nào phủ tới."],
                None,
            ],
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
        printed=dt.date(2026, 12, 1),
    )

    assert "<script>alert" not in page and "<b>" not in page
    rows = re.findall(
        r'<tr><td>([^<]+)</td><td><span class="swatch (\w+)"></span>([^<]+)</td>'
        r"<td class=n>([\d.]+)</td><td class=n>([\d.]+)</td><td class=why>([^<]+)</td>",
        page,
    )
    assert rows == [
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "no_signal", "Trắng sóng (không có sóng)",
         "60", "60", "Không trạm nào phủ tới."),
        ("Bản $\\foo$", "patchy", "Lõm sóng (sóng chập chờn)", "98", "30", "—"),
        ("Nà Tà", "covered", "Có sóng", "1.234", "0", "Viettel 4G dùng được 99% thời gian."),
    ]  # fmt: skip
    assert "<h1>Báo cáo sóng di động: Xã Thượng &lt;b&gt;Nông&lt;/b&gt;</h1>" in page
    assert (
        '<p class="meta">Na Hang, Tuyên Quang · Dữ liệu đo đến ngày: <strong>05/01/2026</strong>'
        " · In ngày: <strong>01/12/2026</strong></p>"
    ) in page
    assert '<p class="summary">1 thôn trắng sóng, 1 lõm sóng; 90/1.392 hộ không có sóng</p>' in page
    assert '<a href="/maps/communes/x?a=&#34;1&#34;">' in page
    # The total row once, in the body: a <tfoot> is repeated on every printed page.
    assert "<tfoot" not in page
    assert page.count("<tr class=total><td colspan=2>Tổng</td>") == 1
    assert "<td colspan=2>Tổng</td><td class=n>1.392</td><td class=n>90</td>" in page
    assert "tr.total td { font-weight: bold; }" in page  # the stylesheet is not escaped
    (png,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(png).startswith(b"\x89PNG")


def test_the_criterion_in_words_with_the_model_numbers_when_given() -> None:
    assert criterion_lines(served_p=0.5, min_confidence=0.6) == [
        "Trắng sóng: tại trung tâm thôn (nhà văn hóa), nhà mạng tốt nhất cũng chỉ có sóng dùng"
        " được dưới 10% thời gian.",
        "Lõm sóng: trung tâm thôn có sóng nhưng lúc có lúc mất (nhà mạng tốt nhất dùng được dưới"
        " 90% thời gian), hoặc từ 10% số hộ trở lên ở nơi không nhà mạng nào có sóng dùng được.",
        "Hộ không có sóng: hộ ở nơi không nhà mạng nào có sóng dùng được ít nhất 50% thời gian.",
        "Chưa đủ dữ liệu: chưa có số đo và chưa biết trạm nào trong tầm phủ, hoặc dữ liệu chưa"
        " đủ để kết luận (độ tin cậy dưới 60%).",
    ]
    english = criterion_lines(lang="en")
    assert english[2] == "A household is without signal where no carrier gives usable signal."
    assert english[3].endswith("evidence that cannot decide.")


def test_summary_counts_unknown_villages_and_speaks_english(villages: gpd.GeoDataFrame) -> None:
    more = villages.assign(verdict=["unknown", "no_signal", "no_signal"])
    more.loc[0, "households_without_signal"] = None
    assert summary_line(more) == (
        "2 thôn trắng sóng, 0 lõm sóng, 1 chưa đủ dữ liệu; 90/1.392 hộ không có sóng"
    )
    assert summary_line(villages, lang="en") == (
        "1 village with no signal, 1 patchy; 90/1.392 households without signal"
    )


def test_the_carrier_table_says_whom_to_call(villages: gpd.GeoDataFrame) -> None:
    carriers = [
        {"Viettel": {"households_without_signal": 0, "nearest_site_m": 420}},
        {
            "Viettel": {"households_without_signal": 60, "nearest_site_m": 2630},
            "MobiFone": {"households_without_signal": 60},
        },
        {"Viettel": {"households_without_signal": 98, "nearest_site_m": 1000.0}},
    ]
    page = render_commune_report({"name": "X"}, villages.assign(carriers=carriers))
    (table,) = re.findall(r'<table class="carriers">(.*?)</table>', page, flags=re.S)
    cells = [
        [re.sub(r"</?small>", "|", cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)
    ]
    assert cells == [
        ["Thôn/bản", "MobiFone", "Viettel"],
        ["&lt;script&gt;alert(1)&lt;/script&gt;", "60 hộ|trạm: —|", "60 hộ|trạm: 2,6 km|"],
        ["Bản $\\foo$", "—|trạm: —|", "98 hộ|trạm: 1,0 km|"],
        ["Nà Tà", "—|trạm: —|", "0 hộ|trạm: 420 m|"],
        ["Tổng", "60 hộ", "158 hộ"],
    ]
    english = render_commune_report({"name": "X"}, villages.assign(carriers=carriers), lang="en")
    assert "60 hh<small>site: 2.6 km</small>" in english
    no_summaries = render_commune_report({"name": "X"}, villages)
    assert 'class="carriers"' not in no_summaries


def test_page_numbers_footer_and_qr_code_on_a4(villages: gpd.GeoDataFrame) -> None:
    url = "https://lomsong.example/maps/communes/thuong-nong"
    page = render_commune_report(
        {"name": 'Thượng "Nông"</style><script>'},
        villages,
        map_url=url,
        printed=dt.date(2026, 3, 9),
    )

    assert "@page { size: A4; margin: 12mm 12mm 16mm;" in page
    assert 'counter(page) "/" counter(pages)' in page
    # The commune's name is escaped in the CSS footer: it cannot close the stylesheet.
    assert page.count("</style>") == 1 and "<script" not in page
    (footer,) = re.findall(r'@bottom-left \{ content: "([^"]*)"', page)
    unescaped = re.sub(r"\\([0-9a-f]+) ", lambda m: chr(int(m.group(1), 16)), footer)
    assert (
        unescaped == 'Báo cáo sóng di động: Xã Thượng "Nông"</style><script> · In ngày 09/03/2026'
    )
    (svg,) = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert 'class="segno"' in svg and "<path" in svg
    assert f'Bản đồ tương tác: <a href="{url}">{url}</a>' in page


def test_english_without_readings_or_map_link(villages: gpd.GeoDataFrame) -> None:
    commune = pd.Series({"name": "Linh Phú", "district": None, "province": float("nan")})
    page = render_commune_report(commune, villages.assign(last_reading=None), lang="en")

    assert "<title>Mobile signal report — Commune Linh Phú</title>" in page
    assert "Readings up to: <strong>none yet</strong>" in page
    assert 'class="back"' not in page and "<svg" not in page
    assert (
        '<p class="meta"> · Readings up to: <strong>none yet</strong> · Printed: <strong>' in page
    )


def test_no_villages_no_map_and_no_crs_refused(villages: gpd.GeoDataFrame) -> None:
    page = render_commune_report({"name": "Trống"}, villages.iloc[:0])
    assert "data:image/png" not in page and "<tbody></tbody>" in page
    assert '<p class="summary">0 thôn trắng sóng, 0 lõm sóng; 0/0 hộ không có sóng</p>' in page
    with pytest.raises(InvalidInputError, match="villages have no CRS"):
        render_commune_report({"name": "x"}, villages.set_crs(None, allow_override=True))


def _lightness(colour: object) -> float:
    """CIE L* of an sRGB colour: what a greyscale print keeps."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    y = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 116 * y ** (1 / 3) - 16 if y > 216 / 24389 else y * 24389 / 27


def test_verdicts_keep_apart_in_greyscale_with_hatching_in_the_legend(
    villages: gpd.GeoDataFrame,
) -> None:
    four = pd.concat([villages, villages.iloc[:1].assign(id="d", name="Khuổi")])
    four["verdict"] = ["covered", "no_signal", "patchy", "unknown"]
    zones = gpd.GeoDataFrame(geometry=[shapely.box(105.505, 22.562, 105.515, 22.568)], crs=4326)
    fig = map_figure(four, zones)
    (ax,) = fig.axes

    drawn = {c.get_label(): c for c in ax.collections}
    assert set(drawn) == {"no_signal", "patchy", "covered", "unknown", "dead_zones"}
    grey = {v: _lightness(drawn[v].get_facecolor()[0]) for v in VERDICT_ORDER}
    assert drawn["covered"].get_facecolor()[0][3] == 1.0  # opaque: the page decides no grey
    for a, b in itertools.combinations(VERDICT_ORDER, 2):
        assert abs(grey[a] - grey[b]) >= 12, (a, b, grey)
    hatches = {v: drawn[v].get_hatch() or "" for v in VERDICT_ORDER}
    assert len(set(hatches.values())) == 4 and drawn["dead_zones"].get_hatch() == "|||"
    legend = ax.get_legend()
    assert [h.get_hatch() or "" for h in legend.legend_handles] == [
        *(hatches[v] for v in VERDICT_ORDER),
        "|||",
    ]
    assert [t.get_text() for t in legend.get_texts()] == [
        "Trắng sóng (không có sóng)",
        "Lõm sóng (sóng chập chờn)",
        "Chưa đủ dữ liệu",
        "Có sóng",
        "Vùng không có sóng ổn định",
    ]
    # Below the axes: the legend covers no village.
    fig.draw_without_rendering()
    assert not legend.get_window_extent().overlaps(ax.get_window_extent())


def test_the_figure_draws_names_and_legend_only_and_no_mathtext(
    villages: gpd.GeoDataFrame,
) -> None:
    names = ["Bản $\\foo$", "$x^{2}$ \\$ 5", "Nà $\\frac{1}{0}"]
    fig = map_figure(villages.assign(name=names), lang="en")

    texts = [t for t in fig.findobj(Text) if t.get_text()]
    assert {t.get_text() for t in texts} == {
        *names,
        "No signal",
        "Patchy signal",
        "Not enough data",
        "Covered",
        "Area without reliable signal",
    }  # no axis label ("Geodetic latitude [degree]"), no tick
    assert not any(t.get_parse_math() for t in texts)
    assert static_map_png(villages.assign(name=names)).startswith(b"\x89PNG")


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
