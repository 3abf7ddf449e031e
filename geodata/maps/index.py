"""The index page: provinces, districts and communes, and a search that ignores diacritics."""

from __future__ import annotations

import html
import re

import pandas as pd

from geodata.constants import Lang
from geodata.maps.layers import OWN_CSS, OWN_JS, STATIC_DIR, js_literal
from geodata.maps.text import VERDICT_LABELS, words
from geodata.text import fold

#: Search results shown at most (the list stays readable on a phone).
SEARCH_LIMIT = 50


def slug(name: str) -> str:
    """A URL id from a place name: folded, words joined by hyphens.

    >>> slug("Tuyên Quang"), slug("Chiêm Hóa")
    ('tuyen-quang', 'chiem-hoa')
    """
    return re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")


def lang_query(lang: Lang, default: Lang = "vi") -> str:
    """``?lang=en`` when ``lang`` is not the default, else ``""``."""
    return "" if lang == default else f"?lang={lang}"


def _verdict_counts(villages: pd.DataFrame, lang: Lang) -> dict[str, str]:
    """Per commune id: "12 villages: 1 no signal, 3 patchy"."""
    text = words(lang)
    out: dict[str, str] = {}
    if villages.empty:
        return out
    verdicts = villages.get("verdict", pd.Series("unknown", index=villages.index)).fillna("unknown")
    for commune_id, group in villages.assign(verdict=verdicts).groupby("commune_id"):
        counts = group["verdict"].value_counts()
        bad = [
            f"{counts[v]} {VERDICT_LABELS[lang][v].split(' (')[0].lower()}"
            for v in ("no_signal", "patchy")
            if v in counts
        ]
        summary = f"{len(group)} {text['village'].lower()}"
        out[str(commune_id)] = summary + (": " + ", ".join(bad) if bad else "")
    return out


def render_index_page(
    communes: pd.DataFrame,
    villages: pd.DataFrame,
    *,
    lang: Lang = "vi",
    base_url: str = "/maps",
    own_assets_url: str = "/static/lomsong",
    inline_assets: bool = False,
) -> str:
    """An HTML page listing provinces → districts → communes, with a village search.

    Parameters
    ----------
    communes : DataFrame
        ``id, name, district, province``.
    villages : DataFrame
        ``id, name, commune_id`` (and ``verdict`` for the commune summaries).
    lang : {"vi", "en"}
    base_url : str
        Prefix of the map pages (``{base}/provinces/{slug}``, ``{base}/communes/{id}``,
        ``{base}/villages/{id}``).
    own_assets_url : str
        Where ``lomsong-map.js/.css`` are served.
    inline_assets : bool
        Inline them instead (a single offline file).

    Examples
    --------
    >>> communes = pd.DataFrame({"id": ["tn"], "name": ["Thượng Nông"],
    ...     "district": ["Na Hang"], "province": ["Tuyên Quang"]})
    >>> villages = pd.DataFrame({"id": ["bg"], "name": ["Bản Giòng"], "commune_id": ["tn"]})
    >>> "ban giong" in render_index_page(communes, villages)
    True
    """
    text = words(lang)
    suffix = lang_query(lang)
    other: Lang = "en" if lang == "vi" else "vi"
    esc = html.escape
    names = dict(zip(communes["id"].astype(str), communes["name"].astype(str), strict=True))
    entries = [
        [
            str(c.name),
            fold(str(c.name)),
            f"{base_url}/communes/{c.id}{suffix}",
            f"{text['commune']} · {c.district} · {c.province}",
        ]
        for c in communes.itertuples()
    ]
    entries += [
        [
            str(v.name),
            fold(str(v.name)),
            f"{base_url}/villages/{v.id}{suffix}",
            f"{text['village']} · {names.get(str(v.commune_id), '')}",
        ]
        for v in villages.itertuples()
    ]
    summaries = _verdict_counts(villages, lang)
    body = []
    for province, by_province in communes.groupby("province", sort=True):
        url = f"{base_url}/provinces/{slug(str(province))}{suffix}"
        body.append(
            f'<h2><a href="{esc(url)}">{esc(text["province"])} {esc(str(province))}</a></h2>'
        )
        for district, by_district in by_province.groupby("district", sort=True):
            body.append(f"<h3>{esc(text['district'])} {esc(str(district))}</h3><ul>")
            for c in by_district.sort_values("name").itertuples():
                link = f"{base_url}/communes/{c.id}{suffix}"
                note = summaries.get(str(c.id), "")
                body.append(
                    f'<li><a href="{esc(link)}">{esc(str(c.name))}</a> '
                    f'<span class="lomsong-context">{esc(note)}</span></li>'
                )
            body.append("</ul>")
    if inline_assets:
        css = (STATIC_DIR / OWN_CSS).read_text(encoding="utf-8")
        script = (STATIC_DIR / OWN_JS).read_text(encoding="utf-8")
        head = f"<style>{css}</style><script>{script}</script>"
    else:
        base = own_assets_url.rstrip("/")
        head = (
            f'<link rel="stylesheet" href="{base}/{OWN_CSS}">'
            f'<script src="{base}/{OWN_JS}"></script>'
        )
    switch = f"{base_url}{lang_query(other)}"
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(text["index_title"])}</title>{head}</head>
<body><main class="lomsong-index">
<p><a href="{esc(switch)}">{"English" if lang == "vi" else "Tiếng Việt"}</a></p>
<h1>{esc(text["index_title"])}</h1>
<input id="lomsong-search" type="search" placeholder="{esc(text["search"])}"
 aria-label="{esc(text["search"])}" autocomplete="off">
<ul id="lomsong-results"></ul>
{"".join(body)}
</main>
<script>lomsong.search(document.getElementById("lomsong-search"),
document.getElementById("lomsong-results"), {js_literal(entries)}, {SEARCH_LIMIT});</script>
</body></html>
"""
