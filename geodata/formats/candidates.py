"""Candidate sites a planner uploads: a CSV ``lon,lat,height,carrier,radio,cost``, row by row.

The planner's own proposals (a mast the province already owns, a site a
carrier has priced) beside the ones lomsong generates
(:mod:`coverage.candidates`). Header-matched, order free; optional ``id``
(or ``candidate_id``) and ``name``. ``height`` (metres above ground) and
``radio`` may be left blank: the default mast height
(:data:`geodata.constants.DEFAULT_SITE_HEIGHT_M`) and the carrier's main
radio. ``cost`` is in VND. Fields may be separated by ``,`` or ``;``
(with decimal commas), UTF-8 with or without a BOM, as
:func:`geodata.formats.read_sites` reads. A bad row is refused with its line
(header = line 1), field, value and reason; the others are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from geodata import constants as C
from geodata.errors import InvalidInputError
from geodata.formats._common import Source, csv_chunks
from geodata.readings import Rejection, count_by_reason
from geodata.sites import CANDIDATE_COLUMNS, carrier_codes, carrier_name
from geodata.text import nfc

#: Columns a candidate file must name in its header.
CANDIDATE_REQUIRED: Final = ("lon", "lat", "height", "carrier", "radio", "cost")
#: Most candidates one file may hold (each is evaluated: a plan, not a network).
MAX_CANDIDATES: Final = 10_000
# Radios as planners write them: the analysis' names, or the generation.
_RADIO_WORDS: Final = {
    **{r: r for r in C.RADIOS},
    **{g.lower(): r for r, g in C.RADIO_GENERATIONS.items()},
    "wcdma": "umts",
}
# Every cell is read as text: numbers are parsed here, decimal commas too.
_DTYPES: Final = {c: "string" for c in (*CANDIDATE_REQUIRED, "id", "candidate_id", "name")}
_DECIMAL_COMMA: Final = r"^([+-]?\d+),(\d+)$"


@dataclass
class ValidatedCandidates:
    """The candidates of a file, and the rows refused.

    ``valid`` has :data:`~geodata.sites.CANDIDATE_COLUMNS` plus ``name``
    (kind ``uploaded``), indexed by line number.
    """

    valid: pd.DataFrame
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        """Count of rejections per ``field: reason``."""
        return count_by_reason(self.rejected)


def empty_candidates() -> pd.DataFrame:
    """Return a candidate table without rows, in :data:`~geodata.sites.CANDIDATE_COLUMNS`."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in (*CANDIDATE_COLUMNS, "name")})
    for column in ("lon", "lat", "height_m", "cost"):
        frame[column] = frame[column].astype(float)
    return frame


class _Faults:
    """The first fault of each row: field and reason (with the value), later checks skip it."""

    def __init__(self, index: pd.Index) -> None:
        self.index = index
        self.field = np.full(len(index), "", dtype=object)
        self.reason = np.full(len(index), "", dtype=object)

    def reject(self, mask: np.ndarray, name: str, why: str, values: pd.Series | None) -> None:
        hit = np.asarray(mask, dtype=bool) & (self.field == "")
        if not hit.any():
            return
        self.field[hit] = name
        if values is None:
            self.reason[hit] = why
        else:
            shown = values.astype(object).to_numpy()[hit]
            self.reason[hit] = [f"{why} ({str(v)[:40]!r})" for v in shown]

    @property
    def good(self) -> np.ndarray:
        return np.asarray(self.field == "", dtype=bool)

    def rejections(self) -> list[Rejection]:
        bad = ~self.good
        return [
            Rejection(int(i), str(f), str(r))
            for i, f, r in zip(self.index[bad], self.field[bad], self.reason[bad], strict=True)
        ]


def _text(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.where(text != "").map(nfc, na_action="ignore").astype("string")


def _number(
    raw: pd.DataFrame, column: str, faults: _Faults, *, required: bool, low: float, high: float
) -> pd.Series:
    given = _text(raw[column])
    # Read as text (a refusal shows the value as written); ``22,5712`` is 22.5712.
    values = pd.to_numeric(given.str.replace(_DECIMAL_COMMA, r"\1.\2", regex=True), errors="coerce")
    values = values.astype("float64")
    present = given.notna().to_numpy()
    if required:
        faults.reject(~present, column, "required field is missing", None)
    faults.reject(present & values.isna().to_numpy(), column, "not a number", given)
    finite = np.isfinite(values.to_numpy())
    faults.reject(present & values.notna().to_numpy() & ~finite, column, "not finite", given)
    outside = (values.notna() & ~values.between(low, high)).to_numpy()
    faults.reject(outside, column, f"outside {low:g}..{high:g}", given)
    return values


def _carriers(raw: pd.DataFrame, faults: _Faults) -> pd.Series:
    given = _text(raw["carrier"])
    faults.reject(given.isna().to_numpy(), "carrier", "required field is missing", None)
    names: dict[str, str | None] = {}
    for value in given.dropna().unique():  # a handful of distinct carriers, not rows
        try:
            names[str(value)] = carrier_name(*carrier_codes(str(value)))
        except ValueError:
            names[str(value)] = None
    carrier = given.map(names, na_action="ignore")
    known = ", ".join(C.CARRIERS.values())
    faults.reject(
        (given.notna() & carrier.isna()).to_numpy(),
        "carrier",
        f"unknown carrier; expected one of {known} or MCC-MNC",
        given,
    )
    return carrier.astype(object)


def validate_candidates(frame: pd.DataFrame) -> ValidatedCandidates:
    """Split a table of uploaded candidates into valid candidates and refused rows.

    Parameters
    ----------
    frame : DataFrame
        Raw text cells with :data:`CANDIDATE_REQUIRED` columns (and ``id``
        or ``candidate_id``, ``name``); its integer index (line numbers)
        names the rows in rejections.

    Returns
    -------
    ValidatedCandidates
        Carriers are spelled as :func:`geodata.sites.carrier_name` spells
        them (``viettel`` becomes ``Viettel``), radios as the analysis does
        (``4G`` becomes ``lte``); a row without an id gets ``up-<line>``; a
        row repeating an earlier id is refused.

    Examples
    --------
    >>> rows = pd.DataFrame({"lon": ["105.49", "105.5"], "lat": ["22.57", "95"],
    ...     "height": ["30", ""], "carrier": ["viettel", "Viettel"], "radio": ["4G", ""],
    ...     "cost": ["900000000", "1"]}, index=[2, 3])
    >>> result = validate_candidates(rows)
    >>> result.valid[["candidate_id", "carrier", "radio", "kind"]].values.tolist()
    [['up-2', 'Viettel', 'lte', 'uploaded']]
    >>> [(r.index, r.field, r.reason) for r in result.rejected]
    [(3, 'lat', "outside -90..90 ('95')")]
    """
    index = frame.index if pd.api.types.is_integer_dtype(frame.index) else pd.RangeIndex(len(frame))
    raw = frame.reindex(columns=[*CANDIDATE_REQUIRED, "id", "candidate_id", "name"])
    raw.index = index
    faults = _Faults(index)
    lon = _number(raw, "lon", faults, required=True, low=C.LON_MIN, high=C.LON_MAX)
    lat = _number(raw, "lat", faults, required=True, low=C.LAT_MIN, high=C.LAT_MAX)
    height = _number(raw, "height", faults, required=False, low=0.0, high=C.SITE_HEIGHT_MAX_M)
    faults.reject((height == 0).to_numpy(), "height", "must be above 0 m", _text(raw["height"]))
    carrier = _carriers(raw, faults)
    radio_text = _text(raw["radio"])
    radio = radio_text.str.lower().map(_RADIO_WORDS, na_action="ignore").astype(object)
    faults.reject(
        (radio_text.notna() & radio.isna()).to_numpy(),
        "radio",
        "unknown radio; expected gsm, umts, lte or nr (2G, 3G, 4G, 5G)",
        radio_text,
    )
    cost = _number(raw, "cost", faults, required=True, low=0.0, high=np.inf)
    given_id = _text(raw["id"]).fillna(_text(raw["candidate_id"]))
    ids = given_id.fillna(pd.Series([f"up-{i}" for i in index], index=index, dtype="string"))
    repeated = ids.where(faults.good).duplicated(keep="first") & ids.where(faults.good).notna()
    faults.reject(repeated.to_numpy(), "id", "the same id as an earlier row", ids)
    good = faults.good
    valid = pd.DataFrame(
        {
            "candidate_id": ids.astype(object),
            "kind": "uploaded",
            "lon": lon,
            "lat": lat,
            "height_m": height.fillna(C.DEFAULT_SITE_HEIGHT_M),
            "carrier": carrier,
            "radio": radio.where(radio.notna(), None),
            "cost": cost,
            "host_site_id": None,
            "name": _text(raw["name"]).fillna(ids).astype(object),
        },
        index=index,
    ).loc[good]
    return ValidatedCandidates(valid=valid, rejected=faults.rejections())


def read_candidates(source: Source, *, max_candidates: int = MAX_CANDIDATES) -> ValidatedCandidates:
    r"""Read and validate a planner's candidate CSV; every row is a candidate or a rejection.

    Parameters
    ----------
    source : str, Path or binary file object
        A CSV with :data:`CANDIDATE_REQUIRED` columns (see the module docstring).
    max_candidates : int, keyword-only
        Most valid candidates one file may hold.

    Returns
    -------
    ValidatedCandidates
        Rows indexed by line number (header = line 1), kind ``uploaded``.

    Raises
    ------
    InvalidInputError
        An empty or unreadable file, a header without a required column
        (:class:`~geodata.errors.MissingColumnError`), bytes that are not
        UTF-8 (:class:`~geodata.errors.BadEncodingError`), more than
        ``max_candidates`` candidates.

    Examples
    --------
    >>> import io
    >>> text = ("\ufefflon;lat;height;carrier;radio;cost;name\n"
    ...         "105,4931;22,5712;35;Viettel;lte;1200000000;Đồi Bản Giòng\n"
    ...         "105,49;22,57;30;Beeline;lte;1;x\n").encode()
    >>> result = read_candidates(io.BytesIO(text))
    >>> result.valid[["candidate_id", "lon", "name"]].values.tolist()
    [['up-2', 105.4931, 'Đồi Bản Giòng']]
    >>> print(result.rejected[0].as_dict()["reason"])  # doctest: +ELLIPSIS
    carrier: unknown carrier; expected one of MobiFone, ... or MCC-MNC ('Beeline')
    """
    valid: list[pd.DataFrame] = []
    rejected: list[Rejection] = []
    for frame, bad_lines, _blank in csv_chunks(
        source,
        what="candidates",
        required=CANDIDATE_REQUIRED,
        chunk_rows=max_candidates + 1,
        dtype=dict(_DTYPES),
    ):
        result = validate_candidates(frame)
        valid.append(result.valid)
        rejected += bad_lines + result.rejected
        if sum(map(len, valid)) > max_candidates:
            raise InvalidInputError(
                f"candidates: more than {max_candidates:,} in one file; a plan weighs"
                " each one, so keep the file to the sites worth weighing"
            )
    # One chunk holds every row a file may have: ids are unique across the file.
    table = pd.concat(valid) if valid else empty_candidates()
    return ValidatedCandidates(valid=table, rejected=sorted(rejected, key=lambda r: r.index))
