"""A printable commune report: one HTML page with a static map and a table of villages.

What a commune chairman brings to a meeting: the map is a PNG drawn with
matplotlib (no script, prints the same everywhere) embedded in the page.
"""

from __future__ import annotations

import base64
import html
import io
import math

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")  # no display: the report is drawn to a buffer

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.patches import Patch

from geodata.constants import CRS_WGS84, VERDICT_ORDER, Lang
from geodata.errors import InvalidInputError
from geodata.maps.text import VERDICT_COLOURS, VERDICT_LABELS, words

#: Villages are listed worst first.

_REPORT_TEXT = {
    "vi": {
        "title": "Báo cáo sóng di động",
        "generated": "Tình trạng theo thôn/bản",
        "no_readings": "chưa có",
        "totals": "Tổng",
    },
    "en": {
        "title": "Mobile signal report",
        "generated": "Signal by village",
        "no_readings": "none yet",
        "totals": "Total",
    },
}

_CSS = """
body { font: 12pt/1.4 system-ui, "Segoe UI", Roboto, Arial, sans-serif; margin: 16px; color: #111; }
h1 { font-size: 18pt; margin: 0 0 4px; } .meta { color: #444; margin: 0 0 8px; }
img.map { width: 100%; max-width: 900px; border: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin-top: 10px; }
th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; }
td.n { text-align: right; } tfoot td { font-weight: bold; }
.swatch { display: inline-block; width: 11px; height: 11px; margin-right: 5px;
  border: 1px solid #555; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
@page { size: A4; margin: 12mm; }
@media print { body { margin: 0; } a { color: inherit; text-decoration: none; }
  tr { page-break-inside: avoid; } .noprint { display: none; } }
"""


def static_map_png(
    villages: gpd.GeoDataFrame, dead_zones: gpd.GeoDataFrame | None = None, *, lang: Lang = "vi"
) -> bytes:
    """The villages coloured by verdict, dead zones hatched, names at the centres, as PNG."""
    villages = villages.to_crs(CRS_WGS84)
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    try:
        verdict = villages["verdict"].fillna("unknown").astype(str)
        colours = verdict.map(VERDICT_COLOURS).fillna(VERDICT_COLOURS["unknown"])
        villages.plot(ax=ax, color=colours.tolist(), edgecolor="#333333", linewidth=0.8, alpha=0.8)
        if dead_zones is not None and len(dead_zones):
            dead_zones.to_crs(CRS_WGS84).plot(
                ax=ax, facecolor="none", edgecolor="#7f0000", hatch="///", linewidth=0.6
            )
        points = villages.geometry.representative_point()
        for point, name in zip(points, villages["name"].astype(str), strict=True):
            ax.annotate(
                name,
                (point.x, point.y),
                ha="center",
                fontsize=7,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0},
            )
        if len(villages):
            mid_lat = float(villages.total_bounds[[1, 3]].mean())
            ax.set_aspect(1 / math.cos(math.radians(mid_lat)))
        ax.set_xticks([])
        ax.set_yticks([])
        labels = VERDICT_LABELS[lang]
        ax.legend(
            handles=[
                Patch(facecolor=VERDICT_COLOURS[v], edgecolor="#333", label=labels[v])
                for v in VERDICT_ORDER
            ],
            loc="lower left",
            fontsize=7,
            framealpha=0.9,
        )
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def render_commune_report(
    villages: gpd.GeoDataFrame,
    *,
    commune_name: str,
    district: str = "",
    province: str = "",
    dead_zones: gpd.GeoDataFrame | None = None,
    lang: Lang = "vi",
    map_url: str | None = None,
) -> str:
    """One printable HTML page: title, evidence date, static map, table of villages.

    Parameters
    ----------
    villages : GeoDataFrame
        With ``name``, ``verdict``, ``households``, ``households_without_signal``,
        ``best_carrier`` and ``last_reading`` (the evidence date is their latest).
    commune_name, district, province : str
        Shown in the heading.
    dead_zones : GeoDataFrame, optional
        Hatched on the map.
    lang : {"vi", "en"}
    map_url : str, optional
        A link back to the interactive map (hidden when printed).

    Raises
    ------
    InvalidInputError
        When ``villages`` has no CRS or ``lang`` is unknown.
    """
    text = words(lang)
    extra = _REPORT_TEXT[lang]
    if villages.crs is None:
        raise InvalidInputError("villages have no CRS")
    esc = html.escape
    last = pd.to_datetime(villages.get("last_reading"), utc=True, errors="coerce", format="ISO8601")
    evidence = (
        extra["no_readings"] if last is None or last.isna().all() else f"{last.max():%Y-%m-%d}"
    )
    png = static_map_png(villages, dead_zones, lang=lang) if len(villages) else b""
    table = pd.DataFrame(villages.drop(columns=villages.geometry.name))
    table["verdict"] = table.get("verdict", pd.Series(dtype=object)).fillna("unknown")
    table["order"] = table["verdict"].map({v: i for i, v in enumerate(VERDICT_ORDER)})
    without = pd.to_numeric(table.get("households_without_signal"), errors="coerce")
    table = table.assign(without=without).sort_values(
        ["order", "without", "name"], ascending=[True, False, True]
    )
    rows = []
    for row in table.itertuples():
        verdict = str(row.verdict)
        best = getattr(row, "best_carrier", None)
        rows.append(
            f'<tr><td>{esc(str(row.name))}</td><td><span class=swatch style="background:'
            f'{VERDICT_COLOURS.get(verdict, "#9e9e9e")}"></span>'
            f"{esc(VERDICT_LABELS[lang].get(verdict, verdict))}</td>"
            f"<td class=n>{_n(getattr(row, 'households', None))}</td>"
            f"<td class=n>{_n(row.without)}</td>"
            f"<td>{esc(text['none'] if best is None or pd.isna(best) else str(best))}</td></tr>"
        )
    total_households = pd.to_numeric(table.get("households"), errors="coerce").sum()
    place = ", ".join(p for p in (district, province) if p)
    image = f'<img class="map" alt="" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
    back = f'<p class="noprint"><a href="{esc(map_url or "")}">← {esc(text["title"])}</a></p>'
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(extra["title"])} — {esc(text["commune"])} {esc(commune_name)}</title>
<style>{_CSS}</style></head><body>
{back if map_url else ""}
<h1>{esc(extra["title"])}: {esc(text["commune"])} {esc(commune_name)}</h1>
<p class="meta">{esc(place)} · {esc(text["evidence_date"])}: <strong>{esc(evidence)}</strong></p>
{image if png else ""}
<h2>{esc(extra["generated"])}</h2>
<table><thead><tr><th>{esc(text["village"])}</th><th>{esc(text["verdict"])}</th>
<th>{esc(text["households"])}</th><th>{esc(text["without"])}</th>
<th>{esc(text["best_carrier"])}</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
<tfoot><tr><td colspan=2>{esc(extra["totals"])}</td><td class=n>{_n(total_households)}</td>
<td class=n>{_n(without.sum())}</td><td></td></tr></tfoot></table>
</body></html>
"""


def _n(value: object) -> str:
    number = pd.to_numeric(value, errors="coerce")
    return "—" if pd.isna(number) else f"{number:,.0f}".replace(",", ".")
