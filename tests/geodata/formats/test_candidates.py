"""The planner's candidate CSV: every row a candidate or a rejection naming line, field, value."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from geodata.errors import BadEncodingError, InvalidInputError, MissingColumnError
from geodata.formats.candidates import read_candidates
from geodata.readings import nothing_valid_error
from geodata.sites import CANDIDATE_COLUMNS, hypothetical_cells, normalise_sites
from tests.geodata.formats.helpers import as_tuples

HEADER = "lon,lat,height,carrier,radio,cost"


def test_good_rows_become_uploaded_candidates_in_the_candidate_columns() -> None:
    text = (
        "id,name,lon,lat,height,carrier,radio,cost\n"
        "doi-ban-giong,Đồi Bản Giòng,105.4931,22.5712,35,viettel,4G,1200000000\n"
        ",,105.50,22.58,,VinaPhone,,900000000\n"
        "x3,,105.51,22.59,40,452-01,UMTS,0\n"
    )
    result = read_candidates(io.BytesIO(text.encode()))
    assert result.rejected == []
    valid = result.valid
    assert list(valid.columns) == [*CANDIDATE_COLUMNS, "name"]
    assert valid.index.tolist() == [2, 3, 4]
    assert valid["candidate_id"].tolist() == ["doi-ban-giong", "up-3", "x3"]
    assert valid["kind"].tolist() == ["uploaded"] * 3
    assert valid["carrier"].tolist() == ["Viettel", "VinaPhone", "MobiFone"]
    assert valid["radio"].tolist() == ["lte", None, "umts"]
    assert valid["height_m"].tolist() == [35.0, 30.0, 40.0]  # blank: the default mast height
    assert valid["cost"].tolist() == [1.2e9, 9e8, 0.0]
    assert valid["name"].tolist() == ["Đồi Bản Giòng", "up-3", "x3"]
    assert valid["host_site_id"].isna().all()


def test_each_bad_row_is_refused_with_its_line_field_value_and_reason() -> None:
    text = (
        f"{HEADER}\n"
        "105.49,22.57,30,Viettel,lte,1000\n"  # 2: good
        "abc,22.57,30,Viettel,lte,1000\n"  # 3
        "105.49,95,30,Viettel,lte,1000\n"  # 4
        "105.49,22.57,30,Beeline,lte,1000\n"  # 5
        "105.49,22.57,30,Viettel,6G,1000\n"  # 6
        "105.49,22.57,30,Viettel,lte,-5\n"  # 7
        "105.49,22.57,30,Viettel,lte,\n"  # 8
        "105.49,22.57,0,Viettel,lte,1000\n"  # 9
        "105.49,22.57,900,Viettel,lte,1000\n"  # 10
        ",22.57,30,Viettel,lte,1000\n"  # 11
        "105.49,22.57,30,,lte,1000\n"  # 12
    )
    result = read_candidates(io.BytesIO(text.encode()))
    assert result.valid.index.tolist() == [2]
    assert as_tuples(result.rejected) == [
        (3, "lon", "not a number ('abc')"),
        (4, "lat", "outside -90..90 ('95')"),
        (
            5,
            "carrier",
            "unknown carrier; expected one of MobiFone, VinaPhone, Viettel, Vietnamobile,"
            " Gmobile, I-Telecom or MCC-MNC ('Beeline')",
        ),
        (6, "radio", "unknown radio; expected gsm, umts, lte or nr (2G, 3G, 4G, 5G) ('6G')"),
        (7, "cost", "outside 0..inf ('-5')"),
        (8, "cost", "required field is missing"),
        (9, "height", "must be above 0 m ('0')"),
        (10, "height", "outside 0..650 ('900')"),
        (11, "lon", "required field is missing"),
        (12, "carrier", "required field is missing"),
    ]
    assert result.rejected_by_reason["cost: required field is missing"] == 1


def test_a_repeated_id_is_refused_and_the_first_kept() -> None:
    text = f"id,{HEADER}\na,105.49,22.57,30,Viettel,lte,1\na,105.5,22.58,30,Viettel,lte,2\n"
    result = read_candidates(io.BytesIO(text.encode()))
    assert result.valid["cost"].tolist() == [1.0]
    assert as_tuples(result.rejected) == [(3, "id", "the same id as an earlier row ('a')")]


def test_semicolons_decimal_commas_and_a_bom_are_read(tmp_path: Path) -> None:
    path = tmp_path / "candidates.csv"
    path.write_bytes(
        "\ufeffcandidate_id;lon;lat;height;carrier;radio;cost\n"
        "c1;105,4931;22,5712;35,5;MobiFone;lte;750000000\n".encode()
    )
    result = read_candidates(path)
    row = result.valid.iloc[0]
    assert (row["candidate_id"], row["lon"], row["lat"], row["height_m"]) == (
        "c1",
        105.4931,
        22.5712,
        35.5,
    )


def test_names_are_stored_in_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Đồi Bản Giòng")
    text = f"name,{HEADER}\n{decomposed},105.49,22.57,30,Viettel,lte,1\n"
    result = read_candidates(io.BytesIO(text.encode()))
    assert result.valid["name"].iloc[0] == "Đồi Bản Giòng" != decomposed


def test_a_file_the_reader_cannot_take_is_one_clear_error() -> None:
    with pytest.raises(MissingColumnError, match=r"lacks required column.*cost"):
        read_candidates(io.BytesIO(b"lon,lat,height,carrier,radio\n105,22,30,Viettel,lte\n"))
    with pytest.raises(InvalidInputError, match="empty"):
        read_candidates(io.BytesIO(b""))
    with pytest.raises(BadEncodingError, match="line 2"):
        read_candidates(io.BytesIO(f"{HEADER}\n105,22,30,B\xe1n,lte,1\n".encode("latin-1")))
    with pytest.raises(InvalidInputError, match="more than 2"):
        rows = "".join("105.49,22.57,30,Viettel,lte,1\n" for _ in range(3))
        read_candidates(io.BytesIO(f"{HEADER}\n{rows}".encode()), max_candidates=2)


def test_nothing_valid_is_named_as_for_the_other_files() -> None:
    result = read_candidates(io.BytesIO(f"{HEADER}\nx,22,30,Viettel,lte,1\n".encode()))
    assert result.valid.empty and list(result.valid.columns) == [*CANDIDATE_COLUMNS, "name"]
    error = nothing_valid_error("candidates", "c.csv", result.rejected)
    assert str(error) == "c.csv: no valid candidates (1 refused: lon: not a number ('x') ×1)"


def test_uploaded_candidates_turn_into_cells_for_the_analysis() -> None:
    text = f"{HEADER}\n105.49,22.57,35,Viettel,,1\n"
    candidates = read_candidates(io.BytesIO(text.encode())).valid
    sites = normalise_sites(
        pd.DataFrame(
            {
                "radio": ["UMTS"] * 3,
                "mcc": [452] * 3,
                "net": [4] * 3,
                "lon": [105.4] * 3,
                "lat": [22.5] * 3,
                "azimuth_deg": [0, 120, 240],
                "site_id": ["s1"] * 3,
            }
        )
    )
    cells = hypothetical_cells(candidates, sites, created=pd.Timestamp("2026-03-01", tz="UTC"))
    # A blank radio is the carrier's main one; its sectors as its own sites have.
    assert cells["site_id"].tolist() == ["up-2"] * 3
    assert set(cells["radio"]) == {"umts"} and set(cells["height_m"]) == {35.0}
