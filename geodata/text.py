"""Vietnamese text: store in NFC, search without diacritics or case."""

from __future__ import annotations

import unicodedata

# đ/Đ is a letter of its own in Unicode, not d plus a combining mark, so NFD
# does not strip it; fold it by hand.
_EXTRA_FOLDS = str.maketrans({"đ": "d", "Đ": "d"})


def nfc(text: str) -> str:
    """Return ``text`` in Unicode normal form C, the form lomsong stores.

    Examples
    --------
    >>> nfc("Ba\u0309n Gio\u0300ng") == "Bản Giòng"
    True
    """
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Return a search key for ``text``: no diacritics, lower case, single spaces.

    Examples
    --------
    >>> fold("Bản Giòng") == fold("ban  GIONG")
    True
    >>> fold("Đống Đa 1")
    'dong da 1'
    """
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA_FOLDS))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def matches(query: str, text: str) -> bool:
    """Whether ``query`` occurs in ``text``, ignoring diacritics and case."""
    return fold(query) in fold(text)
