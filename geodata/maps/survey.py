"""Where to measure next, drawn: the map layer "Nơi cần đo tiếp" and the team's printable page.

Both take a survey plan (the rows of ``coverage.survey.survey_plan``: rank,
village, lon, lat, kind, households, score, reason, reason_vi) as a plain
frame; geodata never imports coverage. The page is for the community digital
technology team (*Tổ công nghệ số cộng đồng*) that goes: an ordered list with
coordinates in decimal degrees, a small map with the places numbered, the
reason and households of each, "In ngày dd/mm/yyyy"; A4 on paper and
readable on a phone (the Jinja template ``templates/survey_plan.html``).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any, Final

import geopandas as gpd
import pandas as pd
from markupsafe import Markup

from geodata.constants import CRS_WGS84, Lang
from geodata.errors import InvalidInputError
from geodata.maps.templating import render
from geodata.maps.text import words

#: CSS class on the layer's markers, so a browser test can count them.
SURVEY_CLASS: Final = "lomsong-survey"
#: Marker fill per kind of place: a challenge in vermillion (Okabe–Ito), the
#: others in ColorBrewer PuOr's purples and oranges, none a verdict's colour.
SURVEY_COLOURS: Final[dict[str, str]] = {
    "challenge": "#d55e00",
    "uncertain_verdict": "#542788",
    "predicted_only": "#998ec3",
    "network_change": "#f1a340",
}
SURVEY_TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "layer": "Nơi cần đo tiếp",
        "title": "Nơi cần đo tiếp",
        "page_link": "Nơi cần đo tiếp (bản in)",
        "for_team": "Cho Tổ công nghệ số cộng đồng: mỗi nơi dưới đây, một lần đến đo sẽ làm "
        "rõ nhất tình trạng sóng. Xếp theo số hộ mà lần đo có thể thay đổi kết luận; "
        "nơi có phản ánh xếp trước.",
        "rank": "Thứ tự",
        "place": "Tọa độ (vĩ độ, kinh độ)",
        "households": "Số hộ",
        "kind": "Loại",
        "reason": "Lý do",
        "score": "Điểm ưu tiên",
        "score_rule": "Điểm ưu tiên = số hộ × mức chưa chắc chắn (1 khi khả năng hai phía ngang "
        "nhau, 0 khi đã chắc chắn).",
        "printed": "In ngày",
        "none": "Chưa có nơi nào cần đo thêm: mọi kết luận đã đủ chắc chắn.",
        "map_link": "Bản đồ tương tác",
        "page": "Trang",
        "how": "Cách đo: mở ứng dụng ghi sóng, đứng ở tọa độ trên và đi quanh khoảng 100 m, "
        "ghi ít nhất vài phút cho mỗi nhà mạng; gửi số đo khi có sóng trở lại.",
    },
    "en": {
        "layer": "Where to measure next",
        "title": "Where to measure next",
        "page_link": "Where to measure next (printable)",
        "for_team": "For the community digital technology team: at each place below, one "
        "visit would firm up a verdict the most. Ordered by the households a visit could "
        "turn; challenged villages first.",
        "rank": "Rank",
        "place": "Coordinates (lat, lon)",
        "households": "Households",
        "kind": "Kind",
        "reason": "Reason",
        "score": "Priority",
        "score_rule": "Priority = households × doubt (1 when both sides are as likely, 0 when "
        "sure).",
        "printed": "Printed",
        "none": "Nowhere needs measuring now: every verdict is firm.",
        "map_link": "Interactive map",
        "page": "Page",
        "how": "How: open the signal-logging app, stand at the coordinates and walk about "
        "100 m around, a few minutes per carrier; upload when back in coverage.",
    },
}
SURVEY_KIND_LABELS: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "challenge": "Có phản ánh",
        "uncertain_verdict": "Kết luận chưa chắc",
        "predicted_only": "Chỉ có dự báo",
        "network_change": "Trạm mới, chưa đo",
    },
    "en": {
        "challenge": "Challenged",
        "uncertain_verdict": "Verdict not firm",
        "predicted_only": "Predicted only",
        "network_change": "New site, not measured",
    },
}
# Page margin boxes do not inherit the body's font.
_MARGIN_FONT = "font: 8pt system-ui, Arial, sans-serif; color: #333;"


def _words(lang: Lang) -> dict[str, str]:
    if lang not in SURVEY_TEXT:
        raise InvalidInputError(f"unknown language {lang!r}, expected 'vi' or 'en'")
    return SURVEY_TEXT[lang]


def coordinates(lat: float, lon: float) -> str:
    """Write a place as people type it into a phone: latitude, longitude, decimal degrees.

    >>> coordinates(22.5650004, 105.475)
    '22.565000, 105.475000'
    """
    return f"{lat:.6f}, {lon:.6f}"


def survey_collection(plan: pd.DataFrame, *, lang: Lang = "vi") -> dict[str, Any]:
    """Return the plan as GeoJSON points for the map layer, with the words its popups show.

    Examples
    --------
    >>> plan = pd.DataFrame({"rank": [1], "village": ["Bản Giòng"], "lon": [105.495],
    ...     "lat": [22.565], "kind": ["challenge"], "households": [98.0], "score": [98.0],
    ...     "reason": ["Challenged"], "reason_vi": ["Có phản ánh"]})
    >>> survey_collection(plan)["features"][0]["properties"]["label"]
    '1. Bản Giòng'
    """
    _words(lang)  # refuses an unknown language
    kinds = SURVEY_KIND_LABELS[lang]
    reason = plan["reason_vi" if lang == "vi" else "reason"].astype(str)
    frame = gpd.GeoDataFrame(
        {
            "rank": plan["rank"].astype(int).astype(str),
            "label": plan["rank"].astype(int).astype(str) + ". " + plan["village"].astype(str),
            "kind": plan["kind"].astype(str),
            "kind_label": plan["kind"].map(kinds).fillna(plan["kind"]).astype(str),
            "reason": reason,
            "households": plan["households"].round().astype(int).astype(str),
            "place": [
                coordinates(float(a), float(o))
                for a, o in zip(plan["lat"], plan["lon"], strict=True)
            ],
        },
        geometry=gpd.points_from_xy(plan["lon"].astype(float), plan["lat"].astype(float)),
        crs=CRS_WGS84,
    )
    collection: dict[str, Any] = frame.to_geo_dict(drop_id=True)
    return collection


def survey_layer_options(lang: Lang = "vi") -> dict[str, Any]:
    """``lomsong.featureLayer`` options of the survey layer: numbered markers, popups in words."""
    text = _words(lang)
    return {
        "colourBy": "kind",
        "colours": SURVEY_COLOURS,
        "className": SURVEY_CLASS,
        "radius": 9,
        "title": "label",
        "tooltip": "label",
        "label": "rank",
        "labelOn": "centre",
        "style": {"color": "#111111", "weight": 2, "fillOpacity": 0.9},
        "fields": [
            [text["kind"], "kind_label"],
            [text["reason"], "reason"],
            [text["households"], "households"],
            [text["place"], "place"],
        ],
    }


def _map_png(villages: gpd.GeoDataFrame, plan: pd.DataFrame, lang: Lang) -> bytes:
    """Draw the villages by verdict (the report's figure) with the places numbered on top."""
    from geodata.report import map_figure

    fig = map_figure(villages, None, lang=lang)
    fig.set_size_inches(6.0, 4.4)
    ax = fig.axes[0]
    if len(plan):
        colours = plan["kind"].map(SURVEY_COLOURS).fillna("#000000").tolist()
        ax.scatter(
            plan["lon"],
            plan["lat"],
            s=150,
            c=colours,
            edgecolors="#000000",
            linewidths=1.2,
            zorder=5,
        )
        for rank, lon, lat in zip(plan["rank"], plan["lon"], plan["lat"], strict=True):
            label = ax.annotate(
                str(int(rank)),
                (float(lon), float(lat)),
                ha="center",
                va="center",
                fontsize=7,
                fontweight="bold",
                color="#ffffff",
                zorder=6,
            )
            label.set_parse_math(False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=110)
    return buffer.getvalue()


def _page_css(footer: str, page_word: str) -> str:
    from geodata.report import _css_string

    return (
        "@page { size: A4; margin: 12mm 12mm 16mm;"
        f' @bottom-left {{ content: "{_css_string(footer)}"; {_MARGIN_FONT} }}'
        f' @bottom-right {{ content: "{_css_string(page_word)} " counter(page) "/" counter(pages);'
        f" {_MARGIN_FONT} }} }}\n"
        + "".join(f".kind.{k} {{ background: {c}; }}\n" for k, c in SURVEY_COLOURS.items())
    )


def render_survey_page(
    commune: Mapping[str, Any],
    villages: gpd.GeoDataFrame,
    plan: pd.DataFrame,
    *,
    lang: Lang = "vi",
    printed: dt.date | None = None,
    map_url: str | None = None,
) -> str:
    """Render the printable survey plan of a commune (A4, phone-readable).

    Parameters
    ----------
    commune : mapping
        ``name`` and optionally ``province``, ``unit_type``.
    villages : GeoDataFrame
        The commune's villages with ``name`` and ``verdict`` (the small map).
    plan : DataFrame
        ``coverage.survey.survey_plan``'s rows, ranked.
    lang : {"vi", "en"}
    printed : datetime.date, optional
        The print date shown (dd/mm/yyyy); today when not given.
    map_url : str, optional
        The interactive commune map, linked.

    Raises
    ------
    InvalidInputError
        When ``villages`` has no CRS or ``lang`` is unknown.

    Examples
    --------
    >>> import shapely
    >>> villages = gpd.GeoDataFrame({"name": ["Bản Giòng"], "verdict": ["patchy"]},
    ...     geometry=[shapely.box(105.49, 22.56, 105.5, 22.57)], crs=4326)
    >>> plan = pd.DataFrame({"rank": [1], "village": ["Bản Giòng"], "lon": [105.495],
    ...     "lat": [22.565], "kind": ["challenge"], "households": [98.0], "score": [98.0],
    ...     "reason": ["Challenged"], "reason_vi": ["Có phản ánh"]})
    >>> page = render_survey_page({"name": "Thượng Nông"}, villages, plan,
    ...     printed=dt.date(2026, 3, 2))
    >>> "In ngày 02/03/2026" in page and "22.565000, 105.495000" in page
    True
    """
    text = _words(lang)
    if villages.crs is None:
        raise InvalidInputError("villages have no CRS")
    if printed is None:
        from geodata.report import print_date

        printed = print_date()
    printed_on = f"{printed:%d/%m/%Y}"
    unit = commune.get("unit_type")
    unit_word = (
        str(unit).capitalize() if isinstance(unit, str) and lang == "vi" else words(lang)["commune"]
    )
    title = f"{text['title']}: {unit_word} {commune['name']}"
    kinds = SURVEY_KIND_LABELS[lang]
    reasons = plan["reason_vi" if lang == "vi" else "reason"] if len(plan) else pd.Series()
    rows = [
        {
            "rank": int(row.rank),
            "village": str(row.village),
            "kind": str(row.kind),
            "kind_label": kinds.get(str(row.kind), str(row.kind)),
            "place": coordinates(float(row.lat), float(row.lon)),
            "households": f"{float(row.households):.0f}",
            "score": f"{float(row.score):.1f}",
            "reason": str(reasons.loc[row.Index]),
        }
        for row in plan.itertuples()
    ]
    png = _map_png(villages.to_crs(CRS_WGS84), plan, lang) if len(villages) else b""
    province = commune.get("province")
    return render(
        "survey_plan.html",
        lang=lang,
        text=text,
        title=title,
        place=str(province) if isinstance(province, str) else "",
        printed=printed_on,
        rows=rows,
        png=base64.b64encode(png).decode() if png else "",
        map_url=map_url,
        css=Markup(_page_css(f"{title} · {text['printed']} {printed_on}", text["page"])),
    )


CHALLENGE_TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "title": "Phản ánh về kết luận ({n})",
        "open": "đang chờ số đo mới",
        "settled": "đã có số đo mới ngày {date}, kết luận: {verdict}",
        "disputed": "kết luận khi đó: {verdict}",
    },
    "en": {
        "title": "Challenges to the verdict ({n})",
        "open": "waiting for new readings",
        "settled": "settled by new readings on {date}, verdict: {verdict}",
        "disputed": "verdict then: {verdict}",
    },
}


def _day(value: object) -> str:
    stamp = pd.to_datetime(value, utc=True, errors="coerce")
    return "—" if pd.isna(stamp) else f"{stamp:%d/%m/%Y}"


def challenges_html(challenges: Sequence[Mapping[str, Any]], *, lang: Lang = "vi") -> str:
    """Render a village's challenges for its page: date, author, text, status (escaped).

    Examples
    --------
    >>> html = challenges_html([{"created": "2026-02-20T08:00:00+00:00", "author": "Trưởng thôn",
    ...     "text": "<b>Mất sóng</b>", "verdict": "covered", "status": "open"}])
    >>> "20/02/2026" in html and "&lt;b&gt;Mất sóng&lt;/b&gt;" in html
    True
    """
    from geodata.maps.text import VERDICT_LABELS

    _words(lang)
    text, labels = CHALLENGE_TEXT[lang], VERDICT_LABELS[lang]
    rows = []
    for challenge in challenges:
        disputed = challenge.get("verdict")
        settled = challenge.get("status") == "settled"
        after = challenge.get("verdict_settled")
        rows.append(
            {
                "date": _day(challenge.get("created")),
                "author": str(challenge.get("author") or ""),
                "text": str(challenge.get("text") or ""),
                "disputed": text["disputed"].format(
                    verdict=labels.get(str(disputed), str(disputed))
                )
                if disputed
                else "",
                "status": text["settled"].format(
                    date=_day(challenge.get("settled")),
                    verdict=labels.get(str(after), str(after)),
                )
                if settled
                else text["open"],
                "settled": settled,
            }
        )
    return render("challenges.html", title=text["title"].format(n=len(rows)), rows=rows).strip()
