"""Every physical and network bound lomsong uses, the vocabulary and the official rule.

Each constant says what it means and where the number comes from. Library
code imports from here; nothing else hard-codes a bound. The analysis'
model parameters (how readings and predictions are weighed and judged)
live in :mod:`coverage.thresholds`.
"""

from __future__ import annotations

import enum
from typing import Final, Literal

# --- Coordinates -----------------------------------------------------------
# WGS84 (EPSG:4326) ranges; everything entering or leaving lomsong uses it.
CRS_WGS84: Final = "EPSG:4326"
LAT_MIN: Final = -90.0
LAT_MAX: Final = 90.0
LON_MIN: Final = -180.0
LON_MAX: Final = 180.0

# GPS fixes worse than this are useless at H3 res 9 (edge ~ 200 m); ichnaea
# drops cell observations with accuracy above ~ 1 km for the same reason.
ACCURACY_MAX_M: Final = 1000.0

# --- Network identifiers ---------------------------------------------------
# ITU-T E.212: MCC is three decimal digits (001-999); MNC two or three digits.
MCC_MIN: Final = 1
MCC_MAX: Final = 999
MNC_MIN: Final = 0
MNC_MAX: Final = 999
# Vietnam's MCC (ITU-T E.212 list).
MCC_VIETNAM: Final = 452

# Vietnamese carriers by MNC under MCC 452 (ITU-T E.212; ichnaea's
# mnc_operators table lists the same codes).
CARRIERS: Final[dict[int, str]] = {
    1: "MobiFone",
    2: "VinaPhone",
    4: "Viettel",
    5: "Vietnamobile",
    7: "Gmobile",
    8: "I-Telecom",
}

# 3GPP TS 23.003: LAC 0x0000 and 0xFFFE are reserved; TAC likewise.
LAC_MIN: Final = 1
LAC_MAX: Final = 65533
# 28-bit E-UTRAN cell identity (3GPP TS 36.413); GSM/UMTS ids fit under it.
CELL_ID_MIN: Final = 1
CELL_ID_MAX: Final = 2**28 - 1
# Physical cell id: LTE 0-503 (TS 36.211), NR 0-1007 (TS 38.211).
PCI_MAX_LTE: Final = 503
PCI_MAX_NR: Final = 1007
# UMTS primary scrambling code (TS 25.213).
PSC_MAX: Final = 511
# Android reports "unavailable" as Integer.MAX_VALUE / Long.MAX_VALUE
# (android.telephony.CellInfo.UNAVAILABLE and UNAVAILABLE_LONG).
ANDROID_UNAVAILABLE: Final = frozenset({2**31 - 1, 2**63 - 1})

# --- Parser sentinels and units ---------------------------------------------
# G-NetTrack Pro writes these for "not measured" in its signal columns (seen
# in real logs, e.g. NRxRSRQ = 2147483647 in the uccmisl/5Gdataset drives;
# -200/-205 are its placeholders for an absent RSRP/RSRQ), besides "-".
GNETTRACK_SENTINELS: Final = frozenset({-200, -205, 2**31 - 1, 2**63 - 1})

# ASU ("arbitrary strength unit") reporting ranges per radio, from 3GPP
# TS 27.007 (+CSQ 0-31 for GSM; +CESQ RSCP 0-96, RSRP 0-97) and Android's
# CellSignalStrength*.getAsuLevel() (NR uses LTE's 0-97 scale there).
ASU_RANGE: Final[dict[str, tuple[int, int]]] = {
    "gsm": (0, 31),
    "umts": (0, 96),
    "lte": (0, 97),
    "nr": (0, 97),
}
# ASU values that mean "unknown": 99 (TS 27.007 +CSQ/+CESQ, Android
# UNKNOWN_ASU_LEVEL) and 255 (TS 27.007 +CESQ "not known or not detectable").
ASU_UNKNOWN: Final = frozenset({99, 255})
# dBm = scale * ASU + offset: GSM RSSI = 2·ASU − 113 (TS 27.007 +CSQ), UMTS
# RSCP = ASU − 120 (TS 25.133 RSCP_LEV), LTE RSRP = ASU − 140 (TS 36.133
# RSRP_LEV), NR SS-RSRP = ASU − 140 (Android CellSignalStrengthNr.getAsuLevel).
ASU_TO_DBM: Final[dict[str, tuple[float, float]]] = {
    "gsm": (2.0, -113.0),
    "umts": (1.0, -120.0),
    "lte": (1.0, -140.0),
    "nr": (1.0, -140.0),
}
# An epoch number above this is milliseconds, below it seconds: 1e11 s is the
# year 5138, 1e11 ms is 1973, so no real reading is ambiguous.
EPOCH_MS_THRESHOLD: Final = 1e11

# --- Files as field teams have them -----------------------------------------
# A CSV header longer than this, or naming more columns, is refused before
# pandas parses it (a 200,000-column header took pandas 30 s of one core).
# The widest real header seen is G-NetTrack Pro's, ~60 columns and < 1 KiB;
# 1,000 columns in 64 KiB leaves room for any export while keeping the
# header check and the per-column work of the parser to milliseconds.
CSV_HEADER_MAX_BYTES: Final = 1 << 16
CSV_HEADER_MAX_COLUMNS: Final = 1000
# Delimiters a CSV may use: "," (RFC 4180), ";" (Excel in locales whose decimal
# mark is a comma, Vietnamese among them), tab (Excel's "Unicode text").
CSV_DELIMITERS: Final = (",", ";", "\t")
# A spreadsheet is read whole into memory (python-calamine holds every cell,
# ~10-20x the compressed size): 100 MB of .xlsx is Excel's 1,048,576-row limit
# at ~25 columns; a bigger log is sent as CSV, which is streamed.
XLSX_MAX_BYTES: Final = 100_000_000
# ... and its parts may inflate to at most this much XML (a 1 MB zip can
# declare gigabytes: a zip bomb). Excel's full 1,048,576 x 25 sheet is ~400 MB.
XLSX_MAX_INFLATED_BYTES: Final = 500_000_000

# G-NetTrack Pro's ``Operatorname`` (Android's network operator name) to
# (MCC, MNC), for the names that designate one Vietnamese network. Keys are
# folded: lower case, without spaces, dots, dashes and a leading "vn". Codes:
# ITU-T E.212 as listed by ichnaea's mnc_operators table (452-01 MobiFone,
# 02 Vinaphone, 04 Viettel Mobile, 05 Vietnamobile, 07 Gmobile, 08 I-Telecom);
# "wintel" is the brand GTEL Mobile (452-07) has used since 2023, "beeline"
# its brand before 2012 but also other countries' networks, so it is left out.
GNETTRACK_OPERATORS: Final[dict[str, tuple[int, int]]] = {
    "mobifone": (452, 1),
    "vinaphone": (452, 2),
    "vnptvinaphone": (452, 2),
    "viettel": (452, 4),
    "viettelmobile": (452, 4),
    "vietteltelecom": (452, 4),
    "vietnamobile": (452, 5),
    "gmobile": (452, 7),
    "gtel": (452, 7),
    "gtelmobile": (452, 7),
    "wintel": (452, 7),
    "itelecom": (452, 8),
}

# --- Radios and signal ranges ----------------------------------------------
RADIOS: Final = ("gsm", "umts", "lte", "nr")
# A radio in a query string, any case (FastAPI's `Query(pattern=...)`).
RADIO_PATTERN: Final = "^(?i:" + "|".join(RADIOS) + ")$"
# What people call each radio, on pages and in sentences, in Vietnamese as in
# English: the generation, not the standard's name (LTE reads as "4G").
RADIO_GENERATIONS: Final[dict[str, str]] = {"gsm": "2G", "umts": "3G", "lte": "4G", "nr": "5G"}

# Physical reporting range of the measured quantity, in dBm, per radio:
# GSM RSSI (TS 45.008 RXLEV 0-63 -> -110..-48; ichnaea accepts -113..-51),
# UMTS RSCP (TS 25.133: -120..-25), LTE RSRP (TS 36.133: -140..-44),
# NR SS-RSRP (TS 38.133: -156..-31).
SIGNAL_RANGE_DBM: Final[dict[str, tuple[float, float]]] = {
    "gsm": (-113.0, -51.0),
    "umts": (-121.0, -25.0),
    "lte": (-140.0, -43.0),
    "nr": (-156.0, -31.0),
}

# Android signal-level boundaries (android.telephony.CellSignalStrength*
# default thresholds): the dBm at which a phone moves from 0 to 1, 1 to 2,
# 2 to 3 and 3 to 4 bars. Below the first a phone shows no bars.
SIGNAL_LEVELS_DBM: Final[dict[str, tuple[float, float, float, float]]] = {
    "lte": (-115.0, -105.0, -95.0, -85.0),  # CellSignalStrengthLte RSRP
    "nr": (-110.0, -90.0, -80.0, -65.0),  # CellSignalStrengthNr SS-RSRP
    "umts": (-115.0, -105.0, -95.0, -85.0),  # CellSignalStrengthWcdma RSCP
    "gsm": (-107.0, -103.0, -97.0, -89.0),  # CellSignalStrengthGsm RSSI
}

# Where phones lose service ("floor"), used when the readings are too few to
# show it: about the 3GPP reference sensitivity (TS 36.101 §7.3 REFSENS for
# LTE ≈ −124 dBm RSRP-equivalent at 1.4 MHz; TS 25.101 −117 dBm DPCH for UMTS;
# TS 45.005 −102 dBm for GSM; TS 38.101 for NR ≈ −124).
SERVICE_FLOOR_DBM: Final[dict[str, float]] = {
    "gsm": -108.0,
    "umts": -117.0,
    "lte": -124.0,
    "nr": -124.0,
}

# "Usable" signal: at or above the lowest Android boundary (DESIGN.md).
USABLE_DBM: Final[dict[str, float]] = {r: t[0] for r, t in SIGNAL_LEVELS_DBM.items()}

# --- Vocabulary --------------------------------------------------------------
# The one home of the words the analysis answers in: the service, the CLI, the
# maps and the report all take them from here.


class Verdict(enum.StrEnum):
    """A village's verdict; the Vietnamese terms are the official ones."""

    NO_SIGNAL = "no_signal"  # trắng sóng
    PATCHY = "patchy"  # lõm sóng
    COVERED = "covered"  # có sóng
    UNKNOWN = "unknown"  # chưa đủ dữ liệu


# The order people read verdicts in: the problems first, what is not known before
# what is fine (the report's table and the CLI's summary).
VERDICT_ORDER: Final = (Verdict.NO_SIGNAL, Verdict.PATCHY, Verdict.UNKNOWN, Verdict.COVERED)


class CellClass(enum.StrEnum):
    """A map cell's class, from best to worst."""

    GOOD = "good"
    FAIR = "fair"
    WEAK = "weak"
    PATCHY = "patchy"
    NO_SIGNAL = "no_signal"
    UNKNOWN = "unknown"


# Cell classes, from best to worst; the analysis labels each hex with one.
CELL_CLASSES: Final = tuple(CellClass)

# The languages pages are written in: Vietnamese first, English for visitors.
Lang = Literal["vi", "en"]

# --- Time ------------------------------------------------------------------
# Readings older than this are refused: LTE in Vietnam began in 2016, and a
# phone reporting an earlier date has a broken clock.
TIME_FLOOR_ISO: Final = "2016-01-01T00:00:00Z"
# Phones' clocks drift; ichnaea tolerates a little future time for that.
FUTURE_TOLERANCE_S: Final = 300

# --- H3 grids and the official verdict rule ---------------------------------
# H3 resolution for cell statistics (~0.105 km² per cell) and for overviews.
# (The resolution villages are judged on is a model parameter:
# coverage.thresholds.H3_RESOLUTION_VERDICT.)
H3_RESOLUTION: Final = 9
H3_RESOLUTION_OVERVIEW: Final = 8
# The official rule behind the verdicts (trắng sóng, lõm sóng), here beside
# the Verdict vocabulary rather than in coverage.thresholds because geodata
# needs it too (the demo's true verdicts) and geodata never imports coverage;
# coverage.thresholds re-exports it with the model's parameters.
# Probability of usable signal: at or above USABLE_P_HIGH the place is
# served; below USABLE_P_LOW it has no signal; in between, service comes and
# goes (lõm sóng). 0.9 / 0.1 match the 90 % location-reliability target of
# classical coverage planning (Hata/ITU-R P.1546 use 50 % and 90 %).
USABLE_P_HIGH: Final = 0.9
USABLE_P_LOW: Final = 0.1

# A village is patchy when the best carrier leaves at least this share of its
# households without usable signal. One household in ten is the smallest
# group a commune report names as a hamlet ("xóm") without signal.
PATCHY_HOUSEHOLD_SHARE: Final = 0.1

# --- Site defaults -----------------------------------------------------------
# Filled in when a site file (a plain OpenCelliD export, say) lacks them.
# Height: a typical rural lattice tower in Vietnam carries antennas at 30 m.
DEFAULT_SITE_HEIGHT_M: Final = 30.0
# EIRP: 46 dBm transmitter + 18 dBi sector antenna − 2 dB feeder ≈ 62 dBm (LTE);
# UMTS macro cells use 43 dBm + 18 − 2; omni antennas carry ~11 dBi instead.
DEFAULT_EIRP_DBM: Final[dict[str, float]] = {"gsm": 59.0, "umts": 59.0, "lte": 62.0, "nr": 62.0}
# Carrier frequency: Vietnam's LTE is mostly band 3 (1800 MHz), UMTS band 1
# (2100 MHz), GSM 900 MHz, NR n78 (3500 MHz).
DEFAULT_FREQ_MHZ: Final[dict[str, float]] = {
    "gsm": 900.0,
    "umts": 2100.0,
    "lte": 1800.0,
    "nr": 3500.0,
}
# 3GPP TR 36.814 macro sector: 65° half-power beamwidth, 25 dB front-to-back.
DEFAULT_BEAMWIDTH_DEG: Final = 65.0
SECTOR_BACKLOBE_DB: Final = 25.0
# Beyond this distance a cell is not considered at all, whatever its link
# budget (coverage.pathloss.cell_reach_m): the cell radius LTE's default
# random-access preamble supports, format 0 (3GPP TS 36.211 Table 5.7.1-1:
# guard time 2976 Ts = 96.9 µs, c·T/2 ≈ 14.5 km; NR's long format 0 is the
# same, TS 38.211 Table 6.3.3.1-1), rounded up. Longer formats exist for
# sea and desert cells; 2G, whose timing advance allows 35 km (TS 45.010),
# was switched off here in 2024. OpenCelliD's ``range`` is not a reach.
MAX_CELL_RANGE_M: Final = 15000.0
# EIRP -> reference-signal power: LTE RSRP is per resource element, so
# subtract 10·log10(12·N_RB) with N_RB = 100 (20 MHz) -> 30.8 dB. UMTS RSCP is
# the pilot (CPICH), ~10 % of the power -> 10 dB. NR SS-RSRP per RE with 273
# RB at 30 kHz (100 MHz) -> 35.2 dB. GSM RSSI is the whole carrier -> 0.
REFERENCE_SIGNAL_OFFSET_DB: Final[dict[str, float]] = {
    "gsm": 0.0,
    "umts": 10.0,
    "lte": 30.8,
    "nr": 35.2,
}
# Receiver (phone) height above ground, in metres (Hata's reference h_m).
RECEIVER_HEIGHT_M: Final = 1.5

# --- Site (cell) bounds, checked row by row on import ------------------------
# NR cell identity (NCI) is 36 bits (3GPP TS 38.300 §8.2), wider than LTE's
# 28-bit ECI (CELL_ID_MAX above); OpenCelliD lists NR cells with such NCIs.
NR_CELL_ID_MAX: Final = 2**36 - 1
# 5GS tracking area code is 24 bits (TS 23.003 §19.4.2.3); LTE's TAC and the
# GSM/UMTS LAC are 16 bits (LAC_MIN..LAC_MAX above).
NR_TAC_MAX: Final = 2**24 - 1
# The tallest guyed masts stand ~630 m; an antenna reported higher is a unit
# error (feet, centimetres), not a tower.
SITE_HEIGHT_MAX_M: Final = 650.0
# Radiated power: a small cell gives ~30 dBm EIRP, a macro sector 60-65 dBm
# (DEFAULT_EIRP_DBM); 0 dBm is 1 mW and 90 dBm a megawatt, both unit errors.
EIRP_DBM_MIN: Final = 0.0
EIRP_DBM_MAX: Final = 90.0
# Carrier frequency: 3GPP bands run from ~410 MHz (band 31/n31) to 52.6 GHz
# (FR2 upper edge, TS 38.101-2).
FREQ_MHZ_MIN: Final = 400.0
FREQ_MHZ_MAX: Final = 52_600.0
# OpenCelliD's ``created``/``updated`` are epoch seconds; beyond the year 2100
# or before 1970 is no database's clock (and keeps pandas' timestamps in range).
EPOCH_S_MAX: Final = 4.1e9
# Cells one site import holds in memory before it is stored as one change: the
# whole of Vietnam in OpenCelliD is ~10^5 cells; the world file (~4·10^7) is
# not meant for one province's service.
MAX_SITES_PER_IMPORT: Final = 1_000_000

# --- Known networks and countries (uploads that cannot poison a region) --------
# An upload's MNC must be a network its MCC really has: one reading tagged
# 452-99 would otherwise become a phantom carrier on every map. The world's
# table is the derived file ``geodata/data/mnc_operators.json`` (from
# mozilla/ichnaea's mobile_codes/json/mnc_operators.json, MPL-2.0, itself from
# the ITU-T E.212 list and Wikipedia; see ``geodata/data/NOTICE``), loaded
# lazily by :func:`geodata.regions.known_networks`. Vietnam's networks are also
# kept here literally (ITU-T E.212; ichnaea lists 452-01..09), so a check of
# MCC 452 never depends on the file.
VIETNAM_MNCS: Final = frozenset(range(1, 10))
# Countries of the MCCs whose readings are checked to lie in their country
# (ITU-T E.212 Annex to ITU OB; ISO 3166 alpha-2). Only the countries whose
# polygons ship in ``geodata/data/regions_buffer.geojson``; other MCCs are not
# checked for position (the loaded-region check still applies).
MCC_COUNTRIES: Final[dict[int, str]] = {
    452: "VN",
    456: "KH",
    457: "LA",
    460: "CN",
    461: "CN",
    520: "TH",
}
COUNTRY_NAMES: Final[dict[str, str]] = {
    "VN": "Vietnam",
    "KH": "Cambodia",
    "LA": "Laos",
    "CN": "China",
    "TH": "Thailand",
}
# Readings farther than this outside every stored commune's and village's
# extent are not evidence: it is the margin within which the analysis reads
# readings around the villages it judges (``app.services.analysis``, ~2 km),
# so a reading beyond it could never inform a verdict.
REGION_MARGIN_DEG: Final = 0.02
