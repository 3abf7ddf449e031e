"""Map pages and their pieces: one renderer shared by the service, the CLI and notebooks.

:func:`render_map` draws a :class:`MapPage` (commune, province or village);
:func:`render_index_page` lists provinces, districts, communes and villages
with a search box that ignores diacritics.
"""

from __future__ import annotations

from geodata.constants import Lang
from geodata.maps.hillshade import Hillshade, cached_hillshade, render_hillshade
from geodata.maps.index import render_index_page
from geodata.maps.layers import (
    CENTRE_CLASS,
    DEAD_ZONE_CLASS,
    HEX_CLASS,
    SITE_CLASS,
    STATIC_DIR,
    VILLAGE_CLASS,
)
from geodata.maps.pages import MapPage, Nav, render_commune_map, render_map
from geodata.maps.text import (
    CELL_CLASS_COLOURS,
    VERDICT_COLOURS,
    VERDICT_LABELS,
    words,
)

__all__ = [
    "CELL_CLASS_COLOURS",
    "CENTRE_CLASS",
    "DEAD_ZONE_CLASS",
    "HEX_CLASS",
    "SITE_CLASS",
    "STATIC_DIR",
    "VERDICT_COLOURS",
    "VERDICT_LABELS",
    "VILLAGE_CLASS",
    "Hillshade",
    "Lang",
    "MapPage",
    "Nav",
    "cached_hillshade",
    "render_commune_map",
    "render_hillshade",
    "render_index_page",
    "render_map",
    "words",
]
