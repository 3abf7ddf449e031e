"""Words and colours of the map pages, in Vietnamese (default) and English."""

from __future__ import annotations

from typing import Final

from geodata.constants import RADIO_GENERATIONS
from geodata.errors import InvalidInputError

#: Fill colour per village verdict: red, amber, green from colour-blind-safe
#: sets (ColorBrewer RdBu #b2182b, PuOr #fdb863; Okabe-Ito bluish green), grey
#: = unknown; their lightness differs too, so they stay apart in greyscale.
#: Chosen with the hexagons' scale below so that no two colours of different
#: meaning are closer than ΔE' 13 (CAM02-UCS) for normal vision or under
#: simulated full protan-, deuteran- or tritanomaly (tests/geodata/test_map_features.py).
VERDICT_COLOURS: Final[dict[str, str]] = {
    "no_signal": "#b2182b",
    "patchy": "#fdb863",
    "covered": "#009e73",
    "unknown": "#aaaaaa",
}

#: Legend and popup label per verdict, per language.
VERDICT_LABELS: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "no_signal": "Trắng sóng (không có sóng)",
        "patchy": "Lõm sóng (sóng chập chờn)",
        "covered": "Có sóng",
        "unknown": "Chưa đủ dữ liệu",
    },
    "en": {
        "no_signal": "No signal",
        "patchy": "Patchy signal",
        "covered": "Covered",
        "unknown": "Not enough data",
    },
}

#: Hex colour per cell class (the analysis' classes, from Android signal levels:
#: good = 3–4 bars, fair = 2, weak = 1; patchy and no_signal from P(usable)): a
#: sequential blue-purple scale, ColorBrewer BuPu (5 classes, colour-blind
#: safe), dark where the signal is strong; no hue of the verdicts' above.
CELL_CLASS_COLOURS: Final[dict[str, str]] = {
    "good": "#810f7c",
    "fair": "#8856a7",
    "weak": "#8c96c6",
    "patchy": "#b3cde3",
    "no_signal": "#edf8fb",
    "unknown": "#aaaaaa",
}

CELL_CLASS_LABELS: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "good": "Sóng tốt (3–4 vạch)",
        "fair": "Sóng khá (2 vạch)",
        "weak": "Sóng yếu (1 vạch)",
        "patchy": "Sóng chập chờn",
        "no_signal": "Không có sóng",
        "unknown": "Chưa rõ",
    },
    "en": {
        "good": "Good (3–4 bars)",
        "fair": "Fair (2 bars)",
        "weak": "Weak (1 bar)",
        "patchy": "Comes and goes",
        "no_signal": "No signal",
        "unknown": "Unknown",
    },
}

EVIDENCE_LABELS: Final[dict[str, dict[str, str]]] = {
    "vi": {"measured": "đo thực tế", "predicted": "dự báo", "none": "không có dữ liệu"},
    "en": {"measured": "measured", "predicted": "predicted", "none": "no evidence"},
}

#: Site marker colour per carrier (each carrier's brand hue, darkened for contrast).
CARRIER_COLOURS: Final[dict[str, str]] = {
    "Viettel": "#c2185b",
    "VinaPhone": "#1565c0",
    "MobiFone": "#00838f",
    "Vietnamobile": "#ef6c00",
    "Gmobile": "#6a1b9a",
    "I-Telecom": "#2e7d32",
}
OTHER_CARRIER_COLOUR: Final = "#424242"
#: Village centre dots and the legend's sector wedge (drawn in each carrier's colour).
CENTRE_COLOUR: Final = "#222222"
SECTOR_LEGEND_COLOUR: Final = "#616161"


def radio_word(radio: object) -> str:
    """Name a radio as people do: 4G for LTE, 3G for UMTS, 2G for GSM, 5G for NR.

    The same in Vietnamese and English; an unknown radio is shown as given.

    >>> radio_word("lte"), radio_word("UMTS"), radio_word("nr"), radio_word("gsm")
    ('4G', '3G', '5G', '2G')
    """
    text = "" if radio is None else str(radio)
    return RADIO_GENERATIONS.get(text.lower(), text.upper())


TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "village": "Thôn/bản",
        "commune": "Xã",
        "district": "Huyện",
        "province": "Tỉnh",
        "verdict": "Tình trạng sóng",
        "households": "Số hộ",
        "boundary": "Ranh giới",
        "boundary_voronoi": "ước tính (ô Voronoi quanh điểm thôn)",
        "without": "Hộ không có sóng dùng được",
        "best_carrier": "Nhà mạng tốt nhất",
        "none_serves": "Không nhà mạng nào phục vụ ở đây",
        "signal_line": "{carrier} {radio}: dùng được {p} thời gian tại trung tâm thôn ({evidence})",
        "signal_no_centre": "{carrier} {radio}: chưa có dữ liệu tại trung tâm thôn",
        "signal_site": "trạm gần nhất cách {km} km",
        "behind_ridge": "bị núi che khuất",
        "in_sight": "không bị núi che",
        "legend_symbols": "Ký hiệu khác",
        "legend_zone_no_signal": "Vùng trắng sóng (viền nét đứt)",
        "legend_zone_patchy": "Vùng lõm sóng (viền nét đứt)",
        "legend_centre": "Trung tâm thôn/bản (nhà văn hóa)",
        "legend_sector": "Hướng phát của trạm (màu theo nhà mạng)",
        "confidence": "Độ tin cậy",
        "why": "Vì sao",
        "signal": "Sóng theo nhà mạng",
        "readings": "Số lần đo",
        "last_reading": "Lần đo gần nhất",
        "open_village": "Bản đồ thôn/bản",
        "villages_layer": "Thôn/bản",
        "dead_zones_layer": "Vùng lõm sóng, trắng sóng",
        "centres_layer": "Trung tâm thôn/bản (nhà văn hóa)",
        "sites_layer": "Trạm phát sóng",
        "hex_layer": "Sóng",
        "hillshade": "Địa hình (bóng núi)",
        "online_tiles": "Bản đồ nền trực tuyến",
        "legend_title": "Tình trạng sóng của thôn/bản (màu nền)",
        "legend_cells": "Cường độ sóng theo nhà mạng (ô lục giác)",
        "legend_sites": "Trạm theo nhà mạng",
        "dead_zone": "Vùng không có sóng ổn định",
        "area": "Diện tích (km²)",
        "nearest_site": "Trạm gần nhất (m)",
        "carriers_absent": "Nhà mạng không phủ sóng",
        "site": "Trạm",
        "carrier": "Nhà mạng",
        "radio": "Công nghệ",
        "azimuth": "Hướng phát (độ)",
        "none": "—",
        "title": "Bản đồ sóng di động",
        "index_title": "Bản đồ sóng di động theo tỉnh, huyện, xã",
        "search": "Tìm thôn/bản hoặc xã (gõ không dấu cũng được)",
        "all_maps": "Tất cả bản đồ",
        "communes": "Các xã",
        "villages": "Các thôn/bản",
        "report": "Báo cáo in",
        "evidence_date": "Dữ liệu đo đến ngày",
        # The phone and print mechanics of the map pages (geodata.maps.pages).
        "layers_button": "Lớp bản đồ",
        "legend_button": "Chú giải",
        "printed_on": "In ngày",
    },
    "en": {
        "village": "Village",
        "commune": "Commune",
        "district": "District",
        "province": "Province",
        "verdict": "Mobile signal",
        "households": "Households",
        "boundary": "Boundary",
        "boundary_voronoi": "approximate (Voronoi cell around the village point)",
        "without": "Households without usable signal",
        "best_carrier": "Best carrier",
        "none_serves": "None serves here",
        "signal_line": (
            "{carrier} {radio}: usable {p} of the time at the village centre ({evidence})"
        ),
        "signal_no_centre": "{carrier} {radio}: no evidence at the village centre",
        "signal_site": "nearest site {km} km",
        "behind_ridge": "behind a ridge",
        "in_sight": "in line of sight",
        "legend_symbols": "Other symbols",
        "legend_zone_no_signal": "Area with no signal (dashed outline)",
        "legend_zone_patchy": "Area with patchy signal (dashed outline)",
        "legend_centre": "Village centre (cultural house)",
        "legend_sector": "Direction of a site's antenna (carrier's colour)",
        "confidence": "Confidence",
        "why": "Why",
        "signal": "Signal by carrier",
        "readings": "Readings",
        "last_reading": "Last reading",
        "open_village": "Village map",
        "villages_layer": "Villages",
        "dead_zones_layer": "Dead zones (no or patchy signal)",
        "centres_layer": "Village centres (cultural house)",
        "sites_layer": "Carrier sites",
        "hex_layer": "Signal",
        "hillshade": "Terrain (hillshade)",
        "online_tiles": "Online base map",
        "legend_title": "Signal in each village (fill)",
        "legend_cells": "Signal strength per carrier (hexagons)",
        "legend_sites": "Sites by carrier",
        "dead_zone": "Area without reliable signal",
        "area": "Area (km²)",
        "nearest_site": "Nearest site (m)",
        "carriers_absent": "Carriers absent",
        "site": "Site",
        "carrier": "Carrier",
        "radio": "Radio",
        "azimuth": "Azimuth (°)",
        "none": "—",
        "title": "Mobile signal map",
        "index_title": "Mobile signal maps by province, district and commune",
        "search": "Search a village or commune (diacritics optional)",
        "all_maps": "All maps",
        "communes": "Communes",
        "villages": "Villages",
        "report": "Printable report",
        "evidence_date": "Readings up to",
        # The phone and print mechanics of the map pages (geodata.maps.pages).
        "layers_button": "Map layers",
        "legend_button": "Legend",
        "printed_on": "Printed on",
    },
}


def words(lang: str) -> dict[str, str]:
    """Return the page words of ``lang``.

    Raises
    ------
    InvalidInputError
        When ``lang`` is neither ``"vi"`` nor ``"en"``.

    Examples
    --------
    >>> words("en")["households"]
    'Households'
    """
    if lang not in TEXT:
        raise InvalidInputError(f"unknown language {lang!r}, expected 'vi' or 'en'")
    return TEXT[lang]
