"""Vietnamese text: NFC storage, diacritic- and case-insensitive search."""

from __future__ import annotations

import unicodedata

import pytest

from geodata.text import fold, matches, nfc


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
