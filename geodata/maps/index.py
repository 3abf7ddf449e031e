"""The index page: provinces, districts and communes, and a search that ignores diacritics.

The page is the autoescaped template ``geodata/maps/templates/index.html``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pandas as pd
from markupsafe import Markup

from geodata.constants import Lang
from geodata.maps.layers import OWN_CSS, OWN_JS, STATIC_DIR, versioned
from geodata.maps.templating import render
from geodata.maps.text import VERDICT_LABELS, words
from geodata.text import fold

#: Search results shown at most (the list stays readable on a phone).
SEARCH_LIMIT = 50


def slug(name: str) -> str:
    """Return a URL id from a place name: folded, words joined by hyphens.

    >>> slug("Tuyên Quang"), slug("Chiêm Hóa")
    ('tuyen-quang', 'chiem-hoa')
    """
    return re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")


def path_segment(value: object) -> str:
    """Return ``value`` percent-encoded as one URL path segment (ids in links).

    Every character but letters, digits and ``-._~`` is encoded, ``/`` and
    ``?`` included, so an id can neither leave its segment nor start a query or
    a fragment. (An id that is only dots cannot be a segment at all: browsers
    resolve ``..`` and ``%2E%2E`` alike.)

    >>> path_segment("a b/../c?d#e"), path_segment("Bản 1")
    ('a%20b%2F..%2Fc%3Fd%23e', 'B%E1%BA%A3n%201')
    """
    return quote(str(value), safe="")


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
    """Render an HTML page listing provinces → districts → communes, with a village search.

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
    names = dict(zip(communes["id"].astype(str), communes["name"].astype(str), strict=True))
    entries = []
    for c in communes.itertuples():
        # The unit type the data gives (xã, phường, thị trấn); districts may be absent.
        unit = getattr(c, "unit_type", None)
        label = (
            str(unit).capitalize() if lang == "vi" and isinstance(unit, str) else text["commune"]
        )
        where = " · ".join(str(p) for p in (c.district, c.province) if isinstance(p, str) and p)
        url = f"{base_url}/communes/{path_segment(c.id)}{suffix}"
        entries.append([str(c.name), fold(str(c.name)), url, f"{label} · {where}"])
        # Former names (communes merged in 2025) find the commune they are part of.
        for alias in getattr(c, "aliases", None) or []:
            entries.append([str(alias), fold(str(alias)), url, f"{label} {c.name} · {where}"])
    entries += [
        [
            str(v.name),
            fold(str(v.name)),
            f"{base_url}/villages/{path_segment(v.id)}{suffix}",
            f"{text['village']} · {names.get(str(v.commune_id), '')}",
        ]
        for v in villages.itertuples()
    ]
    summaries = _verdict_counts(villages, lang)
    provinces = [
        {
            "name": str(province),
            "url": f"{base_url}/provinces/{slug(str(province))}{suffix}",
            "districts": [
                {
                    "name": str(district),
                    "communes": [
                        {
                            "name": str(c.name),
                            "url": f"{base_url}/communes/{path_segment(c.id)}{suffix}",
                            "note": summaries.get(str(c.id), ""),
                        }
                        for c in by_district.sort_values("name").itertuples()
                    ],
                }
                for district, by_district in by_province.assign(
                    district=by_province["district"].fillna("")
                ).groupby("district", sort=True)
            ],
        }
        for province, by_province in communes.groupby("province", sort=True)
    ]
    # Our own files, inlined for a single offline page: trusted, not escaped.
    inline = {
        "inline_css": Markup((STATIC_DIR / OWN_CSS).read_text(encoding="utf-8")),
        "inline_js": Markup((STATIC_DIR / OWN_JS).read_text(encoding="utf-8")),
    }
    return render(
        "index.html",
        lang=lang,
        text=text,
        provinces=provinces,
        entries=entries,
        search_limit=SEARCH_LIMIT,
        switch_url=f"{base_url}{lang_query(other)}",
        switch_label="English" if lang == "vi" else "Tiếng Việt",
        assets=own_assets_url.rstrip("/"),
        own_css=versioned(OWN_CSS),
        own_js=versioned(OWN_JS),
        **(inline if inline_assets else {"inline_css": None, "inline_js": None}),
    )
