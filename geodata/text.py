"""Vietnamese text: stored in NFC, searched without diacritics or case, refused when not UTF-8."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

import numpy as np
import orjson
import pandas as pd

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


# Values longer than this are shown cut short in a rejection's reason.
_SHOWN_CHARS = 40


def encoding_fault(text: str) -> str | None:
    r"""Why ``text`` cannot be stored as UTF-8, or ``None`` when it can.

    JSON's ``\ud800`` escape decodes to a lone surrogate: a Python string that
    no UTF-8 encoder (SQLite, Arrow, every file lomsong writes) accepts. Such
    text is refused where it enters, with the value shown escaped.

    Examples
    --------
    >>> encoding_fault("Bản Giòng") is None
    True
    >>> print(encoding_fault("ab" + chr(0xD800)))
    'ab\ud800' is not valid Unicode text (a lone surrogate at character 2)
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        shown = ascii(text[:_SHOWN_CHARS] + ("…" if len(text) > _SHOWN_CHARS else ""))
        return f"{shown} is not valid Unicode text (a lone surrogate at character {exc.start})"
    return None


def unencodable_field(record: object) -> tuple[str, str] | None:
    r"""Return the first ``(field, reason)`` of ``record`` whose text UTF-8 cannot hold.

    ``None`` when every text in it can be encoded.

    ``record`` is a decoded JSON value: an object, or a list of them.

    Keys and string values are checked, inside nested objects and lists too; a
    nested value is named by its innermost key. One call of orjson's encoder
    (which refuses surrogates) clears a sound record at C speed; only a record
    it refuses is searched value by value.

    Examples
    --------
    >>> unencodable_field({"name": "Nà Tà", "props": {"device": chr(0xD800)}})[0]
    'device'
    >>> unencodable_field({"name": "Nà Tà", "n": 10**40}) is None
    True
    """
    try:
        orjson.dumps(record)
        return None
    except TypeError:
        pass  # a surrogate, or something else orjson refuses (an integer past 64 bits)
    # An explicit stack, not recursion: the depth was bounded when the JSON was read.
    stack: list[tuple[str, object]] = [("", record)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            fault = encoding_fault(value)
            if fault is not None:
                return name, fault
        elif isinstance(value, Mapping):
            for key, item in reversed(list(value.items())):
                fault = encoding_fault(str(key))
                if fault is not None:
                    return str(key), fault
                stack.append((str(key), item))
        elif isinstance(value, list | tuple):
            stack.extend((name, item) for item in reversed(value))
    return None


def unencodable_mask(values: pd.Series) -> np.ndarray:
    """Which entries of ``values`` are text UTF-8 cannot hold (see :func:`encoding_fault`).

    Examples
    --------
    >>> unencodable_mask(pd.Series(["Nà Tà", None, chr(0xDFFF), 4], dtype=object)).tolist()
    [False, False, True, False]
    """
    if values.dtype != object:  # Arrow-backed strings are valid UTF-8 by construction
        return np.zeros(len(values), dtype=bool)
    return np.fromiter(
        (isinstance(v, str) and encoding_fault(v) is not None for v in values),
        dtype=bool,
        count=len(values),
    )
