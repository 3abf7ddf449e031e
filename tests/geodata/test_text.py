"""Vietnamese text: NFC storage, diacritic- and case-insensitive search."""

from __future__ import annotations

import unicodedata

import pandas as pd
import pytest

from geodata.text import encoding_fault, fold, matches, nfc, unencodable_field, unencodable_mask


def test_nfc_composes_decomposed_input() -> None:
    decomposed = unicodedata.normalize("NFD", "Bản Giòng")
    assert decomposed != "Bản Giòng"
    assert nfc(decomposed) == "Bản Giòng"


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("ban giong", "Bản Giòng"),
        ("BAN GIÒNG", "Bản Giòng"),
        ("dong da", "Đống Đa 1"),
        ("thuong nong", "Thượng Nông"),
        ("khoan ha", "Khoan Hạ"),
    ],
)
def test_search_ignores_diacritics_and_case(query: str, name: str) -> None:
    assert matches(query, name)
    assert matches(query, unicodedata.normalize("NFD", name))


def test_fold_does_not_match_different_words() -> None:
    assert not matches("ban hun", "Bản Giòng")
    assert fold("Đ") == "d"


def test_lone_surrogates_are_named_with_the_value_escaped() -> None:
    assert encoding_fault("Bản Giòng") is None
    assert encoding_fault("x" * 50 + "\udfff") == (
        f"'{'x' * 40}\\u2026' is not valid Unicode text (a lone surrogate at character 50)"
    )
    record = {"id": "a", "props": {"tags": ["ok", "b\ud800"]}}
    assert unencodable_field(record) == (
        "tags",
        "'b\\ud800' is not valid Unicode text (a lone surrogate at character 1)",
    )
    assert unencodable_field({"\ud800": 1})[0] == "\ud800"  # type: ignore[index]
    assert unencodable_field([{"n": 10**40, "name": "Nà Tà"}]) is None


def test_unencodable_mask_marks_only_bad_text() -> None:
    values = pd.Series(["Nà Tà", None, "\ud800", 3.5, "ok"], dtype=object)
    assert unencodable_mask(values).tolist() == [False, False, True, False, False]
    assert not unencodable_mask(pd.Series(["a", "b"], dtype="string")).any()
