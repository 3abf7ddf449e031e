"""Folium elements of the map pages: data layers drawn by ``lomsong-map.js``, legend, nav.

Data layers are :class:`folium.map.Layer` subclasses, so the layer control
lists them; their features are built in the browser by ``lomsong.featureLayer``
and ``lomsong.hexLayer``, which write popups as text, never as markup.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any, Final

import branca.element
import folium
import folium.template
from folium.map import Layer
from markupsafe import Markup

from geodata.errors import InvalidInputError
from geodata.maps.templating import js_literal, render

#: CSS classes on drawn features, so a browser test can count them.
VILLAGE_CLASS: Final = "lomsong-village"
DEAD_ZONE_CLASS: Final = "lomsong-dead-zone"
CENTRE_CLASS: Final = "lomsong-village-centre"
HEX_CLASS: Final = "lomsong-hex"
SITE_CLASS: Final = "lomsong-site"

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
#: Files of ours every map page loads (after Leaflet's).
OWN_JS: Final = "lomsong-map.js"
OWN_CSS: Final = "lomsong-map.css"


@functools.cache
def versioned(name: str) -> str:
    """``name`` of a file of :data:`STATIC_DIR` with ``?v=`` and a digest of its bytes.

    The service sends such URLs as immutable (a year in the browser's cache),
    so a phone on 3G fetches lomsong's JS and CSS once per release, not a
    revalidation round trip per page.

    >>> versioned(OWN_JS).startswith("lomsong-map.js?v=")
    True
    """
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"{name}?v={digest}"


class PageFigure(branca.element.Figure):
    """Folium's HTML document, with the page's language on ``<html lang>``."""

    _template = branca.element.Template(
        "<!DOCTYPE html>\n"
        '<html lang="{{ this.lang }}">\n'
        "<head>\n"
        "    {{ this.header.render(**kwargs) }}\n"
        "</head>\n"
        "<body>\n"
        "    {{ this.html.render(**kwargs) }}\n"
        "</body>\n"
        "<script>\n"
        "    {{ this.script.render(**kwargs) }}\n"
        "</script>\n"
        "</html>\n"
    )

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang


class PageMap(folium.Map):
    """folium's map, with pinch-zoom allowed and a metric scale bar.

    folium's own header sets ``maximum-scale=1, user-scalable=no`` (no
    pinch-zoom on a phone) and its scale bar shows miles; this template is
    folium's with those two changed. The map sits in a :class:`PageFigure`.
    """

    _template = folium.template.Template(
        """
        {% macro header(this, kwargs) %}
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>
                #{{ this.get_name() }} {
                    position: {{ this.position }};
                    width: {{ this.width[0] }}{{ this.width[1] }};
                    height: {{ this.height[0] }}{{ this.height[1] }};
                    left: {{ this.left[0] }}{{ this.left[1] }};
                    top: {{ this.top[0] }}{{ this.top[1] }};
                }
                .leaflet-container { font-size: {{ this.font_size }}; }
                html, body { width: 100%; height: 100%; margin: 0; padding: 0; }
            </style>
        {% endmacro %}

        {% macro html(this, kwargs) %}
            <div class="folium-map" id={{ this.get_name()|tojson }}></div>
        {% endmacro %}

        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.map(
                {{ this.get_name()|tojson }},
                {
                    center: {{ this.location|tojson }},
                    crs: L.CRS.{{ this.crs }},
                    ...{{ this.options|tojavascript }}
                }
            );
            L.control.scale({ imperial: false }).addTo({{ this.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, *, lang: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        PageFigure(lang).add_child(self)


class PhonePanels(branca.element.MacroElement):
    """Buttons that open the layer list and the legend, which start closed on a phone.

    ``lomsong.panels`` (``lomsong-map.js``) makes them; the CSS shows them
    below 600 px only.
    """

    _template = branca.element.Template(
        """
        {% macro script(this, kwargs) %}
        lomsong.panels({{ this._parent.get_name() }}, {{ this.control.get_name() }},
            {{ this.labels }});
        {% endmacro %}
        """
    )

    def __init__(self, control: folium.LayerControl, *, layers: str, legend: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # see Legend
        self._name = "LomsongPanels"
        self.control = control
        self.labels = js_literal({"layers": layers, "legend": legend})


class ScriptLayer(Layer):
    """A layer whose Leaflet object is the JavaScript expression ``expression``."""

    _template = branca.element.Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = {{ this.expression }};
        {% endmacro %}
        """
    )

    def __init__(self, expression: str, *, name: str, overlay: bool = True, show: bool = True):
        super().__init__(name=name, overlay=overlay, show=show)
        self._name = "LomsongLayer"
        self.expression = expression


def feature_layer(
    collection: dict[str, Any], options: dict[str, Any], *, name: str, show: bool = True
) -> ScriptLayer:
    """Draw a GeoJSON FeatureCollection with ``lomsong.featureLayer`` (see the JS for options)."""
    return ScriptLayer(
        f"lomsong.featureLayer({js_literal(collection)}, {js_literal(options)})",
        name=name,
        show=show,
    )


def hex_layer(
    data: dict[str, Any], options: dict[str, Any], *, name: str, show: bool = True
) -> ScriptLayer:
    """Delta-encoded hexagons drawn by ``lomsong.hexLayer``."""
    return ScriptLayer(
        f"lomsong.hexLayer({js_literal(data)}, {js_literal(options)})", name=name, show=show
    )


class Legend(branca.element.MacroElement):
    """A fixed legend box: titled sections of (symbol, colour, label) entries.

    The box is ``templates/legend.html``, escaped there; branca only places it.
    """

    _template = branca.element.Template(
        "{% macro html(this, kwargs) %}{{ this.markup }}{% endmacro %}"
    )

    def __init__(self, sections: list[tuple[str, list[tuple[str, str, str]]]]) -> None:
        # branca leaves MacroElement.__init__ unannotated, and mypy's untyped_calls_exclude
        # does not reach calls through super() (python/mypy#16653).
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "LomsongLegend"
        self.markup = render("legend.html", sections=sections)


def nav_html(
    title: str,
    up: list[tuple[str, str]],
    down: tuple[str, list[tuple[str, str]]] | None,
    extra: list[tuple[str, str]],
    *,
    printed_on: str = "",
    after: str = "",
) -> str:
    """Render the page header: breadcrumb links up the hierarchy, a list of links down it.

    ``printed_on`` labels a line only print shows, which ``lomsong-map.js``
    completes with the day's date (dd/mm/yyyy); ``after`` is markup (already
    escaped: a rendered template) closing the box, such as a village's challenges.
    """
    down_title, down_links = down if down is not None else ("", [])
    return render(
        "nav.html",
        title=title,
        up=up,
        extra=extra,
        down_title=down_title,
        down_links=down_links,
        printed_on=printed_on,
        after=Markup(after),
    ).strip()


def offline_assets(
    fmap: folium.Map, *, assets_url: str, own_assets_url: str, inline_assets_dir: Path | None
) -> None:
    """Make the page load only Leaflet and our two files, from the service or inlined."""
    # Instance attributes: folium's class-level lists must stay untouched.
    if inline_assets_dir is None:
        base, own = assets_url.rstrip("/"), own_assets_url.rstrip("/")
        fmap.default_js = [
            ("leaflet", f"{base}/leaflet.js"),
            ("lomsong", f"{own}/{versioned(OWN_JS)}"),
        ]
        fmap.default_css = [
            ("leaflet_css", f"{base}/leaflet.css"),
            ("lomsong_css", f"{own}/{versioned(OWN_CSS)}"),
        ]
        return
    js_path, css_path = inline_assets_dir / "leaflet.js", inline_assets_dir / "leaflet.css"
    if not (js_path.is_file() and css_path.is_file()):
        raise InvalidInputError(f"Leaflet assets not found in {inline_assets_dir}")
    fmap.default_js = []
    fmap.default_css = []
    header = fmap.get_root().header  # type: ignore[attr-defined]
    inline = [
        ("style", css_path),
        ("style", STATIC_DIR / OWN_CSS),
        ("script", js_path),
        ("script", STATIC_DIR / OWN_JS),
    ]
    for index, (tag, path) in enumerate(inline):
        element = branca.element.Element(f"<{tag}>{path.read_text(encoding='utf-8')}</{tag}>")
        header.add_child(element, name=f"lomsong_inline_{index}", index=index)


#: Where a page's map starts before it fits its features (Tuyên Quang).
FALLBACK_CENTRE: Final = (22.15, 105.2)


def titled_page_map(
    *,
    lang: str,
    title: str,
    assets_url: str,
    own_assets_url: str,
    inline_assets_dir: Path | None,
) -> PageMap:
    """Start a map page: the map, the offline assets (:func:`offline_assets`) and its title.

    Every map page (commune, village, plan, scenario) starts so, then adds
    its own layers and panels.
    """
    fmap = PageMap(
        lang=lang,
        location=list(FALLBACK_CENTRE),
        zoom_start=9,
        tiles=None,
        attributionControl=False,
    )
    offline_assets(
        fmap,
        assets_url=assets_url,
        own_assets_url=own_assets_url,
        inline_assets_dir=inline_assets_dir,
    )
    root: Any = fmap.get_root()
    root.header.add_child(
        branca.element.Element(render("title.html", title=title).strip()), name="title"
    )
    return fmap
