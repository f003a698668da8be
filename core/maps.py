"""Serve folium maps from vendored assets and embed them in our own pages.

folium renders ``<script src>``/``<link href>`` tags pointing at public CDNs.
Production has no CDN access and a strict Content-Security-Policy, so every
asset folium (0.20.x) and the plugins we use reference is vendored under
``static/vendor/`` (see ``static/vendor/README.md``) and this module points
folium at those copies, adds CSP nonces and splits the rendered map into parts
a Jinja layout can place. It deliberately does not import Flask: callers pass
the static URL prefix (e.g. ``url_for("static", filename="")``) and the nonce.

It is also the one way user text (a customer's name, a station's) gets into a
map. folium's own Tooltip, Popup and DivIcon paste their text into the map's
script inside a JavaScript template literal and then into the page as HTML, so
a backtick or ``${`` in the text runs as code. TextTooltip, TextPopup and
TextIcon instead put the text into the script as a JSON string literal and
into the page through ``textContent``; render_map_parts refuses a map that
still carries one of folium's originals (UnsafeMapTextError).
"""

from __future__ import annotations

import html as _html
import json
import re
from collections.abc import Iterator
from typing import TypedDict

import folium
from branca.element import Element, Figure, Link
from folium.features import GeoJsonDetail
from folium.template import Template
from markupsafe import Markup

__all__ = [
    "VENDOR_CSS",
    "VENDOR_JS",
    "MapParts",
    "TextIcon",
    "TextPopup",
    "TextTooltip",
    "UnsafeMapTextError",
    "UnvendoredAssetError",
    "add_csp_nonce",
    "check_map_text",
    "js_string",
    "localize",
    "render_map_parts",
    "text_element_js",
]

# folium asset name -> path relative to the static folder. Names are the keys
# folium uses in ``default_js``/``default_css`` (folium.folium._default_js/_css
# and the plugins' class attributes), so renaming one here breaks the mapping.
VENDOR_JS: dict[str, str] = {
    # folium.Map
    "leaflet": "vendor/leaflet/leaflet.js",
    "jquery": "vendor/jquery/jquery.min.js",
    "bootstrap": "vendor/bootstrap/js/bootstrap.bundle.min.js",
    # Not the .min.js: the 2.0.2 minified build predates `extraClasses`, which
    # folium.Icon uses (e.g. for angle=...).
    "awesome_markers": "vendor/leaflet-awesome-markers/leaflet.awesome-markers.js",
    # folium.plugins
    "markerclusterjs": "vendor/leaflet-markercluster/leaflet.markercluster.js",
    "leaflet-heat.js": "vendor/leaflet-heat/leaflet_heat.min.js",
    "leaflet_draw_js": "vendor/leaflet-draw/leaflet.draw.js",
    "Leaflet_Realtime_js": "vendor/leaflet-realtime/leaflet-realtime.min.js",
}

VENDOR_CSS: dict[str, str] = {
    # folium.Map
    "leaflet_css": "vendor/leaflet/leaflet.css",
    "bootstrap_css": "vendor/bootstrap/css/bootstrap.min.css",
    "glyphicons_css": "vendor/bootstrap3-glyphicons/css/bootstrap-glyphicons.css",
    "awesome_markers_font_css": "vendor/fontawesome/css/all.min.css",
    "awesome_markers_css": "vendor/leaflet-awesome-markers/leaflet.awesome-markers.css",
    "awesome_rotate_css": "vendor/leaflet-awesome-markers/leaflet.awesome.rotate.min.css",
    # folium.plugins
    "markerclustercss": "vendor/leaflet-markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "vendor/leaflet-markercluster/MarkerCluster.Default.css",
    "leaflet_draw_css": "vendor/leaflet-draw/leaflet.draw.css",
}


class UnvendoredAssetError(ValueError):
    """A map element wants an off-site asset we have not vendored.

    Raised instead of silently emitting a CDN URL the CSP would block; the fix
    is to vendor the library and add it to VENDOR_JS/VENDOR_CSS.
    """


class UnsafeMapTextError(TypeError):
    """A map element would put its text into the page unencoded.

    folium's Tooltip, Popup, DivIcon and GeoJson tooltips/popups interpolate
    text into JavaScript template literals and HTML; use TextTooltip,
    TextPopup or TextIcon instead.
    """


def js_string(value: object) -> str:
    """``str(value)`` as a JavaScript string literal that is safe in an inline <script>.

    JSON gives a double-quoted literal, in which backticks and ``${`` are plain
    characters; ``<``, ``>``, ``&`` and ``'`` are escaped as well so the text
    can never close the <script> element (or start an HTML comment), and
    ensure_ascii escapes U+2028/U+2029.
    """
    return (
        json.dumps(str(value))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


# Attributes a text element may carry: none of them can run script.
_SAFE_ATTR_RE = re.compile(r"(?:class|title|style|role|aria-label|data-[a-z0-9-]+)\Z")
_TAG_RE = re.compile(r"[a-z][a-z0-9]*\Z")


def text_element_js(text: object, tag: str = "div", attrs: dict[str, object] | None = None) -> str:
    """A JavaScript expression for a new <tag> element showing ``text`` as plain text.

    The text is set with ``textContent`` and attributes with ``setAttribute``,
    both from JSON string literals (js_string), so nothing the text contains is
    parsed as HTML or JavaScript. Only attributes that cannot run script
    (class, title, style, role, aria-label, data-*) are accepted.
    """
    if not _TAG_RE.match(tag) or tag in ("script", "style", "iframe", "object", "embed"):
        raise ValueError(f"not a text element: {tag!r}")
    attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
    for name in attrs:
        if not _SAFE_ATTR_RE.match(name):
            raise ValueError(f"attribute {name!r} is not allowed on a map text element")
    pairs = ", ".join(f"{js_string(k)}: {js_string(v)}" for k, v in attrs.items())
    return (
        "(function (e, a) { e.textContent = " + js_string(text) + "; "
        "Object.keys(a).forEach(function (k) { e.setAttribute(k, a[k]); }); return e; })"
        f"(document.createElement({js_string(tag)}), {{{pairs}}})"
    )


class TextTooltip(folium.Tooltip):
    """A tooltip that shows ``text`` as plain text (never as HTML or script).

    Pass it wherever folium takes ``tooltip=`` (Marker, Circle, GeoJson ...).
    ``style`` is a developer's inline style for the tooltip's <div>.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.bindTooltip(
                {{ this.content_js }},
                {{ this.options|tojavascript }}
            );
        {% endmacro %}
        """
    )

    def __init__(self, text: object, style: str | None = None, sticky: bool = True, **kwargs):
        super().__init__(str(text), style=style, sticky=sticky, **kwargs)
        self.content_js = text_element_js(self.text, "div", {"style": style})


class TextPopup(folium.Popup):
    """A popup that shows ``text`` as plain text (line breaks kept); for ``popup=``."""

    _template = Template(
        """
        var {{ this.get_name() }} = L.popup({{ this.options|tojavascript }});
        {{ this.get_name() }}.setContent({{ this.content_js }});
        {{ this._parent.get_name() }}.bindPopup({{ this.get_name() }}){% if this.show %}.openPopup(){% endif %};
        """
    )

    def __init__(self, text: object, max_width: str | int = "100%", show: bool = False, sticky: bool = False,
                 **kwargs):
        super().__init__(None, max_width=max_width, show=show, sticky=sticky, **kwargs)
        self.content_js = text_element_js(text, "div", {"style": "white-space: pre-line"})


class TextIcon(folium.DivIcon):
    """A div icon holding one <tag> element with ``text`` as plain text and safe ``attrs``.

    Leaflet puts a DivIcon's ``html`` string into the page with innerHTML; this
    icon hands Leaflet a ready element instead (Leaflet >= 1.8 accepts one).
    One icon per marker: the element moves if the icon is reused.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.divIcon(Object.assign(
                {{ this.options|tojavascript }},
                {html: {{ this.content_js }}}
            ));
        {% endmacro %}
        """
    )

    def __init__(self, text: object, *, tag: str = "span", attrs: dict[str, object] | None = None,
                 icon_size: tuple[int, int] | None = None, icon_anchor: tuple[int, int] | None = None,
                 popup_anchor: tuple[int, int] | None = None, class_name: str = "empty"):
        super().__init__(html=None, icon_size=icon_size, icon_anchor=icon_anchor, popup_anchor=popup_anchor,
                         class_name=class_name)
        self.content_js = text_element_js(text, tag, attrs)


# folium elements that interpolate text into the script or the page as HTML.
_RAW_TEXT_ELEMENTS = (folium.Tooltip, folium.Popup, folium.DivIcon, GeoJsonDetail, folium.Html, folium.IFrame)
_TEXT_ELEMENTS = (TextTooltip, TextPopup, TextIcon)


class MapParts(TypedDict):
    """Pieces of a rendered map for a Jinja layout, already marked safe.

    Place ``header`` in <head> (or before ``html``), ``html`` where the map
    goes and ``script`` after ``html``: it runs immediately and needs both the
    libraries and the map's <div>.
    """

    header: Markup
    html: Markup
    script: Markup


# CSP nonces are base64/base64url values (CSP3 "base64-value").
_NONCE_RE = re.compile(r"[A-Za-z0-9+/_=-]+")
_OPEN_TAG_RE = re.compile(r"<(script|style)\b([^>]*)>", re.IGNORECASE)
_HAS_NONCE_RE = re.compile(r"\snonce\s*=", re.IGNORECASE)
# Page-level bits of folium's header that assume the map owns the whole page:
# the Figure's charset <meta>, Map's viewport <meta> (with user-scalable=no),
# and the `html, body {...}` / `#map {...}` rules.
_PAGE_LEVEL_RE = re.compile(
    r"<meta\b[^>]*>"
    r"|<style>\s*html,\s*body\s*\{[^}]*\}\s*</style>"
    r"|<style>\s*#map\s*\{[^}]*\}\s*</style>",
    re.IGNORECASE,
)


def _is_offsite(url: str) -> bool:
    """True for absolute or protocol-relative URLs (anything not on our host)."""
    return "://" in url or url.startswith("//")


def _walk(element: Element) -> Iterator[Element]:
    """Yield element and all descendants, including a Figure's header/html/script."""
    yield element
    if isinstance(element, Figure):
        for part in (element.header, element.html, element.script):
            yield from _walk(part)
    for child in element._children.values():
        yield from _walk(child)


def _localized(
    assets: list[tuple[str, str]],
    vendor: dict[str, str],
    static_url: str,
    strict: bool,
) -> list[tuple[str, str]]:
    """Return a new (name, url) list with every known name pointed at static_url."""
    out: list[tuple[str, str]] = []
    for name, url in assets:
        if name in vendor:
            url = static_url + vendor[name]
        elif strict and _is_offsite(url):
            raise UnvendoredAssetError(
                f"folium asset {name!r} ({url}) is not vendored; "
                "add it to static/vendor/ and core.maps"
            )
        out.append((name, url))
    return out


def localize(fig_or_map: Element, static_url: str, *, strict: bool = True) -> None:
    """Point the map's and every attached plugin's JS/CSS at our vendored copies.

    Call after all plugins are added. Walks the whole element tree because each
    plugin carries its own default_js/default_css. New lists are set on the
    instances, so folium's class-level defaults stay untouched for other maps.
    With ``strict`` an unknown off-site asset raises UnvendoredAssetError
    rather than leaking a CDN URL into the page.
    """
    prefix = static_url.rstrip("/") + "/"
    for element in _walk(fig_or_map.get_root()):
        for attr, vendor in (("default_js", VENDOR_JS), ("default_css", VENDOR_CSS)):
            assets = getattr(element, attr, None)
            if isinstance(assets, list):
                setattr(element, attr, _localized(assets, vendor, prefix, strict))


def add_csp_nonce(html: str, nonce: str) -> str:
    """Add ``nonce="..."`` to every <script> and <style> tag that lacks one.

    folium emits inline <script>/<style> blocks and <script src> tags; a
    nonce-based CSP blocks all of them otherwise. <style> tags get it too so a
    policy may use style nonces; without one in the policy it is inert.
    """
    if not _NONCE_RE.fullmatch(nonce):
        raise ValueError("CSP nonce must be a non-empty base64 value")
    attr = f' nonce="{_html.escape(nonce, quote=True)}"'

    def _add(match: re.Match[str]) -> str:
        tag, attrs = match.group(1), match.group(2)
        if _HAS_NONCE_RE.search(attrs):
            return match.group(0)
        return f"<{tag}{attr}{attrs}>"

    return _OPEN_TAG_RE.sub(_add, html)


def check_map_text(fig_or_map: Element) -> None:
    """Raise UnsafeMapTextError if the map holds a folium element that pastes text raw.

    render_map_parts calls this, so every map we serve shows text only through
    TextTooltip, TextPopup and TextIcon.
    """
    for element in _walk(fig_or_map.get_root()):
        if isinstance(element, _RAW_TEXT_ELEMENTS) and not isinstance(element, _TEXT_ELEMENTS):
            raise UnsafeMapTextError(
                f"{type(element).__name__} puts its text into the page unencoded; "
                "use core.maps.TextTooltip, TextPopup or TextIcon"
            )


def _offsite_links(figure: Figure) -> list[str]:
    """URLs of <script src>/<link> elements in the figure that leave our host."""
    return [e.url for e in _walk(figure) if isinstance(e, Link) and _is_offsite(e.url)]


_BOOTSTRAP_CSS_RE = re.compile(r'<link[^>]+href="[^"]*vendor/bootstrap/[^"]*\.css"[^>]*>\s*')


def render_map_parts(
    m: Element,
    nonce: str,
    *,
    static_url: str | None = None,
    page_level: bool = False,
    strict: bool = True,
) -> MapParts:
    """Render a folium map as header/html/script parts for our own Jinja layout.

    folium normally renders a whole standalone page; we want the map inside
    the site layout under a nonce CSP. If ``static_url`` is given the map is
    localized first. Unless ``page_level`` is set, folium's page-wide meta tags
    and ``html, body``/``#map`` styles are dropped so they cannot restyle the
    host page (give the map's container an explicit height instead). With
    ``strict`` an off-site <script src>/<link> that slipped past localize (an
    element adding links outside default_js/default_css) raises
    UnvendoredAssetError. A map showing text through anything but TextTooltip,
    TextPopup or TextIcon raises UnsafeMapTextError.
    """
    check_map_text(m)
    if static_url is not None:
        localize(m, static_url, strict=strict)
    root = m.get_root()
    if not isinstance(root, Figure):
        raise TypeError("map must be attached to a branca Figure (folium.Map is)")
    # Figure.render() makes every element add its header/html/script pieces
    # to the figure; rendering again replaces them by name, so repeat calls
    # are safe.
    root.render()
    if strict and (offsite := _offsite_links(root)):
        raise UnvendoredAssetError(f"map references off-site assets: {offsite}")
    header = root.header.render()
    if not page_level:
        header = _PAGE_LEVEL_RE.sub("", header)
        # Bootstrap's stylesheet would restyle the whole host page (headings, forms);
        # the map's own pieces (popups, awesome-marker icons) do not need it.
        header = _BOOTSTRAP_CSS_RE.sub("", header)
    return MapParts(
        header=Markup(add_csp_nonce(header, nonce)),
        html=Markup(add_csp_nonce(root.html.render(), nonce)),
        script=Markup(add_csp_nonce(f"<script>\n{root.script.render()}\n</script>", nonce)),
    )


def leaflet_draw_strings() -> dict:
    """Leaflet.draw's toolbar and tooltip texts (its `L.drawLocal`) in the reader's language, for the
    tools the area editor offers (polygon, rectangle, edit, delete); static/js/draw_local.js puts
    them in before the map script builds the toolbar."""
    from flask_babel import gettext as _
    return {
        "draw": {
            "toolbar": {
                "actions": {"title": _("Cancel drawing"), "text": _("Cancel")},
                "finish": {"title": _("Finish drawing"), "text": _("Finish")},
                "undo": {"title": _("Delete the last point drawn"), "text": _("Delete last point")},
                "buttons": {"polygon": _("Draw a polygon"), "rectangle": _("Draw a rectangle")},
            },
            "handlers": {
                "polygon": {"tooltip": {"start": _("Click to start drawing the area."),
                                        "cont": _("Click to continue drawing the area."),
                                        "end": _("Click the first point to close the area.")}},
                # our own markup, as Leaflet.draw's (it puts the text in with innerHTML)
                "polyline": {"error": "<strong>%s</strong> %s" % (_("Error:"), _("the edges may not cross!"))},
                "rectangle": {"tooltip": {"start": _("Click and drag to draw a rectangle.")}},
                "simpleshape": {"tooltip": {"end": _("Release the mouse to finish drawing.")}},
            },
        },
        "edit": {
            "toolbar": {
                "actions": {"save": {"title": _("Save changes"), "text": _("Save")},
                            "cancel": {"title": _("Cancel editing, discarding every change"), "text": _("Cancel")},
                            "clearAll": {"title": _("Clear all areas"), "text": _("Clear all")}},
                "buttons": {"edit": _("Edit areas"), "editDisabled": _("No areas to edit"),
                            "remove": _("Delete areas"), "removeDisabled": _("No areas to delete")},
            },
            "handlers": {
                "edit": {"tooltip": {"text": _("Drag the handles to change the area."),
                                     "subtext": _("Click Cancel to undo the changes.")}},
                "remove": {"tooltip": {"text": _("Click an area to delete it.")}},
            },
        },
    }
