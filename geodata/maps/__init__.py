"""Map pages and their pieces: one renderer shared by the service, the CLI and notebooks.

:func:`render_map` draws a :class:`MapPage` (commune, province or village);
:func:`commune_page` composes and draws the commune page the service, the
CLI's ``map.html`` and notebooks share; :func:`render_index_page` lists
provinces, districts, communes and villages with a search box that ignores
diacritics.
"""

from __future__ import annotations

from geodata.constants import Lang
from geodata.maps.commune import (
    CommuneUrls,
    commune_page,
    language_links,
    padded_bounds,
    sites_near,
)
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
from geodata.maps.pages import MapPage, Nav, render_map
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
    "CommuneUrls",
    "Hillshade",
    "Lang",
    "MapPage",
    "Nav",
    "cached_hillshade",
    "commune_page",
    "language_links",
    "padded_bounds",
    "render_hillshade",
    "render_index_page",
    "render_map",
    "sites_near",
    "words",
]
