"""Words and colours of the map pages, in Vietnamese (default) and English."""

from __future__ import annotations

from typing import Final

from geodata.errors import InvalidInputError

#: Fill colour per village verdict (ColorBrewer RdYlGn, diverging; grey = unknown).
VERDICT_COLOURS: Final[dict[str, str]] = {
    "no_signal": "#d7191c",
    "patchy": "#fdae61",
    "covered": "#1a9641",
    "unknown": "#9e9e9e",
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
#: good = 3–4 bars, fair = 2, weak = 1; patchy and no_signal from P(usable)).
CELL_CLASS_COLOURS: Final[dict[str, str]] = {
    "good": "#1a9641",
    "fair": "#a6d96a",
    "weak": "#ffffbf",
    "patchy": "#fdae61",
    "no_signal": "#d7191c",
    "unknown": "#bdbdbd",
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
        "legend_title": "Sóng di động theo thôn/bản",
        "legend_cells": "Cường độ sóng (ô lục giác)",
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
        "legend_title": "Mobile signal by village",
        "legend_cells": "Signal strength (hexagons)",
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
