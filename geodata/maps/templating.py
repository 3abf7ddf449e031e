"""HTML from Jinja templates (``geodata/maps/templates/``), escaped by default.

Every page for people that is not drawn by Folium (the index, the printable
report) and the HTML pieces Folium pages carry (title, navigation, legend)
come from here. Autoescape is on for ``.html`` templates, so a village named
``<script>`` is text, never markup; the only unescaped values are those marked
safe on purpose (:func:`js` output, which :func:`js_literal` makes safe inside a
``<script>`` element).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Final

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

#: Characters that could end or re-open markup inside ``<script>``, or end a JS line.
_SCRIPT_UNSAFE: Final = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def js_literal(value: Any) -> str:
    r"""``value`` as JSON safe inside a ``<script>`` element.

    ``<``, ``>``, ``&``, U+2028 and U+2029 become ``\u`` escapes, so no text
    can close the element, open a comment (``<!--``) or a nested ``<script>``
    (either stops every script after it). Other text stays UTF-8.

    >>> js_literal({"name": "Bản <!--<script>"})
    '{"name":"Bản \\u003c!--\\u003cscript\\u003e"}'
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_UNSAFE)


def js(value: Any) -> Markup:
    """``value`` as a JavaScript literal safe inside ``<script>`` (a Jinja filter)."""
    return Markup(js_literal(value))


def count(value: object) -> str:
    """Format a whole number with Vietnamese thousands dots (``1.234``); ``—`` when missing."""
    number = pd.to_numeric(value, errors="coerce")
    return "—" if pd.isna(number) else f"{number:,.0f}".replace(",", ".")


@functools.cache
def environment() -> Environment:
    """Return the templates' environment: package loader, autoescape, the filters above."""
    env = Environment(
        loader=PackageLoader("geodata.maps", "templates"),
        autoescape=select_autoescape(),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["js"] = js
    env.filters["count"] = count
    return env


def render(name: str, **context: Any) -> str:
    """Render the template ``name`` with ``context``."""
    return environment().get_template(name).render(**context)


# Folium names each element ``<kind>_<32 random hex digits>`` (``map_3f…``).
_FOLIUM_ID = re.compile(r"\b([a-z][a-z_]*?)_([0-9a-f]{32})(?![0-9a-zA-Z])")


def stable_element_ids(html: str) -> str:
    """Replace Folium's random element ids by their order of first use in ``html``.

    Two renders of the same data then give the same bytes (and the same ETag).

    >>> stable_element_ids("map_" + "a1" * 16 + " on map_" + "a1" * 16)
    'map_00000000000000000000000000000001 on map_00000000000000000000000000000001'
    """
    numbers: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        random_id = match.group(2)
        if random_id not in numbers:
            numbers[random_id] = f"{len(numbers) + 1:032d}"
        return f"{match.group(1)}_{numbers[random_id]}"

    return _FOLIUM_ID.sub(number, html)
