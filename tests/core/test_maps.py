"""Folium maps must render with vendored assets only and carry CSP nonces."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import folium
import folium.folium
import pytest
from branca.element import JavascriptLink
from folium import plugins
from markupsafe import Markup

from core.maps import (
    VENDOR_CSS,
    VENDOR_JS,
    TextIcon,
    TextPopup,
    TextTooltip,
    UnsafeMapTextError,
    UnvendoredAssetError,
    add_csp_nonce,
    js_string,
    localize,
    render_map_parts,
    text_element_js,
)

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "static"

STATIC_URL = "/static/"
NONCE = "rAnd0m+N0nce/abc=="

# What folium 0.20 references upstream; static/vendor/ holds these versions.
# A folium upgrade that changes any of them must re-vendor (see README there).
UPSTREAM_JS = {
    folium.Map: [
        ("leaflet", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"),
        ("jquery", "https://code.jquery.com/jquery-3.7.1.min.js"),
        ("bootstrap", "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js"),
        ("awesome_markers", "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js"),
    ],
    plugins.MarkerCluster: [
        ("markerclusterjs", "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js"),
    ],
    plugins.HeatMap: [
        ("leaflet-heat.js", "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js"),
    ],
    plugins.Draw: [
        ("leaflet_draw_js", "https://cdnjs.cloudflare.com/ajax/libs/leaflet.draw/1.0.2/leaflet.draw.js"),
    ],
    plugins.Realtime: [
        ("Leaflet_Realtime_js", "https://cdnjs.cloudflare.com/ajax/libs/leaflet-realtime/2.2.0/leaflet-realtime.js"),
    ],
}
UPSTREAM_CSS = {
    folium.Map: [
        ("leaflet_css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"),
        ("bootstrap_css", "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css"),
        ("glyphicons_css", "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css"),
        ("awesome_markers_font_css", "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css"),
        ("awesome_markers_css", "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css"),
        ("awesome_rotate_css", "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css"),
    ],
    plugins.MarkerCluster: [
        ("markerclustercss", "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css"),
        ("markerclusterdefaultcss", "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css"),
    ],
    plugins.HeatMap: [],
    plugins.Draw: [
        ("leaflet_draw_css", "https://cdnjs.cloudflare.com/ajax/libs/leaflet.draw/1.0.2/leaflet.draw.css"),
    ],
    plugins.Realtime: [],
}


class _Tags(HTMLParser):
    """Collect (tag, attrs) of every <script>, <link> and <style> start tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "link", "style"):
            self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def _asset_urls(html: str) -> list[str]:
    return [
        url
        for tag, attrs in _tags(html)
        if (url := attrs.get("src") if tag == "script" else attrs.get("href") if tag == "link" else None)
    ]


def _build_map() -> folium.Map:
    m = folium.Map(location=[52.52, 13.40], zoom_start=12, tiles=None)
    folium.TileLayer(tiles="/tiles/{z}/{x}/{y}.png", attr="local").add_to(m)
    plugins.MarkerCluster(locations=[[52.52, 13.40], [52.53, 13.41]]).add_to(m)
    plugins.HeatMap([[52.52, 13.40, 1.0], [52.50, 13.38, 0.5]]).add_to(m)
    plugins.Draw(export=True).add_to(m)
    plugins.Realtime("/api/v1/orders.geojson", interval=10_000).add_to(m)
    folium.Marker(
        [52.52, 13.40], icon=folium.Icon(icon="truck", prefix="fa", angle=45), popup=TextPopup("Depot")
    ).add_to(m)
    return m


def _assert_local_and_present(urls: list[str]) -> None:
    assert urls, "expected asset tags in the rendered map"
    for url in urls:
        assert not re.match(r"(?i)(https?:)?//", url), f"off-site asset: {url}"
        assert url.startswith(STATIC_URL), url
        assert (STATIC / url[len(STATIC_URL):]).is_file(), f"missing vendored file for {url}"


def test_folium_defaults_are_the_versions_we_vendored() -> None:
    for cls, expected in UPSTREAM_JS.items():
        assert list(cls.default_js) == expected, f"{cls.__name__}.default_js changed: re-vendor"
    for cls, expected in UPSTREAM_CSS.items():
        assert list(cls.default_css) == expected, f"{cls.__name__}.default_css changed: re-vendor"
    assert folium.folium._default_js == UPSTREAM_JS[folium.Map]
    assert folium.folium._default_css == UPSTREAM_CSS[folium.Map]
    assert set(VENDOR_JS) == {n for assets in UPSTREAM_JS.values() for n, _ in assets}
    assert set(VENDOR_CSS) == {n for assets in UPSTREAM_CSS.values() for n, _ in assets}


def test_vendored_files_exist_with_licences() -> None:
    for rel in [*VENDOR_JS.values(), *VENDOR_CSS.values(), "vendor/chartjs/chart.umd.min.js"]:
        assert (STATIC / rel).is_file(), rel
    vendor = STATIC / "vendor"
    for lib in (p for p in vendor.iterdir() if p.is_dir()):
        assert any(f.name.upper().startswith(("LICENSE", "LICENCE", "MIT-LICENCE")) for f in lib.iterdir()), lib
    assert (vendor / "README.md").is_file()


def test_vendored_css_relative_urls_resolve() -> None:
    for rel in VENDOR_CSS.values():
        css_path = STATIC / rel
        for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)", css_path.read_text(encoding="utf-8")):
            if ref.startswith(("data:", "#")):
                continue
            assert not re.match(r"(?i)(https?:)?//", ref), f"{rel} loads {ref}"
            target = (css_path.parent / re.split(r"[?#]", ref)[0]).resolve()
            assert target.is_file(), f"{rel}: url({ref}) -> {target} missing"


def test_localized_full_page_uses_only_local_assets_with_nonces() -> None:
    m = _build_map()
    localize(m, STATIC_URL)
    html = add_csp_nonce(m.get_root().render(), NONCE)

    urls = _asset_urls(html)
    _assert_local_and_present(urls)
    # Every vendored asset the plugins need is actually referenced.
    assert {STATIC_URL + p for p in [*VENDOR_JS.values(), *VENDOR_CSS.values()]} <= set(urls)
    scripts = [attrs for tag, attrs in _tags(html) if tag == "script"]
    assert scripts and all(attrs.get("nonce") == NONCE for attrs in scripts)
    assert "/api/v1/orders.geojson" in html


def test_localize_leaves_folium_class_defaults_untouched() -> None:
    localize(_build_map(), STATIC_URL)
    for cls, expected in UPSTREAM_JS.items():
        assert list(cls.default_js) == expected
    for cls, expected in UPSTREAM_CSS.items():
        assert list(cls.default_css) == expected
    # A fresh, un-localized map still renders folium's own URLs.
    assert "cdn.jsdelivr.net/npm/leaflet@1.9.3" in folium.Map(tiles=None).get_root().render()


def test_render_map_parts_for_embedding() -> None:
    parts = render_map_parts(_build_map(), NONCE, static_url=STATIC_URL)

    assert set(parts) == {"header", "html", "script"}
    assert all(isinstance(v, Markup) for v in parts.values())
    _assert_local_and_present(_asset_urls(parts["header"]))
    for part in parts.values():
        scripts = [attrs for tag, attrs in _tags(part) if tag == "script"]
        assert all(attrs.get("nonce") == NONCE for attrs in scripts)
    assert parts["script"].startswith(f'<script nonce="{NONCE}">')
    assert "L.map(" in parts["script"] and "L.realtime(" in parts["script"]
    assert 'class="folium-map"' in parts["html"]
    # Page-wide rules folium writes for a standalone page are dropped.
    assert "html, body" not in parts["header"] and "<meta" not in parts["header"]
    assert "#map {" not in parts["header"]
    # Rendering twice (e.g. a cached map object) is stable.
    assert render_map_parts(_build_map(), NONCE, static_url=STATIC_URL)["header"].count("<script") == parts[
        "header"
    ].count("<script")


def test_render_map_parts_page_level_keeps_folium_styles() -> None:
    parts = render_map_parts(_build_map(), NONCE, static_url=STATIC_URL, page_level=True)
    assert "html, body" in parts["header"]


def test_render_map_parts_without_localize_refuses_cdn_links() -> None:
    with pytest.raises(UnvendoredAssetError):
        render_map_parts(_build_map(), NONCE)


def test_links_added_outside_default_js_are_caught() -> None:
    m = _build_map()
    m.get_root().header.add_child(JavascriptLink("https://example.invalid/x.js"), name="x")
    with pytest.raises(UnvendoredAssetError):
        render_map_parts(m, NONCE, static_url=STATIC_URL)


def test_unvendored_plugin_is_rejected_unless_not_strict() -> None:
    m = _build_map()
    plugins.Fullscreen().add_to(m)
    with pytest.raises(UnvendoredAssetError, match="not vendored"):
        localize(m, STATIC_URL)
    localize(m, STATIC_URL, strict=False)
    assert any("fullscreen" in u.lower() for u in _asset_urls(m.get_root().render()))


def test_add_csp_nonce() -> None:
    html = (
        '<script src="/static/a.js"></script><SCRIPT>var x = "<scripts>";</SCRIPT>'
        '<script nonce="keep">1</script><style>.a{}</style><link rel="stylesheet" href="/s.css"/>'
    )
    out = add_csp_nonce(html, "abc")
    assert out == (
        '<script nonce="abc" src="/static/a.js"></script><SCRIPT nonce="abc">var x = "<scripts>";</SCRIPT>'
        '<script nonce="keep">1</script><style nonce="abc">.a{}</style><link rel="stylesheet" href="/s.css"/>'
    )
    assert add_csp_nonce(out, "abc") == out
    for bad in ("", 'x" onload="y', "a b"):
        with pytest.raises(ValueError):
            add_csp_nonce(html, bad)


# --- user text in maps: only as JSON string literals, into the page by textContent -------------

PAYLOAD = '</script><img src=x onerror="window.__xss=1">${window.__xss=1}`+(window.__xss=1)+`\'&\u2028'
_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _outside_strings(script: str) -> str:
    return _STRING_RE.sub('""', script)


def test_js_string_is_a_json_literal_safe_in_a_script() -> None:
    out = js_string(PAYLOAD)
    assert out.startswith('"') and out.endswith('"')
    import json
    assert json.loads(out) == PAYLOAD
    for raw in ("<", ">", "&", "'", "\u2028"):
        assert raw not in out


def test_text_element_js_accepts_only_harmless_attributes_and_tags() -> None:
    assert 'document.createElement("span")' in text_element_js("x", "span", {"class": "a", "data-tech": "t1"})
    for name in ("onclick", "href", "src", "srcdoc", "formaction", "data-X", "on"):
        with pytest.raises(ValueError):
            text_element_js("x", "span", {name: "javascript:alert(1)"})
    for tag in ("script", "iframe", "img onerror=x", ""):
        with pytest.raises(ValueError):
            text_element_js("x", tag)


def test_text_elements_keep_user_text_out_of_the_script_source() -> None:
    m = folium.Map(location=[22.5, 114.0], tiles=None)
    folium.Marker([22.5, 114.0], tooltip=TextTooltip(PAYLOAD), popup=TextPopup(PAYLOAD),
                  icon=TextIcon(PAYLOAD, attrs={"class": "map-station", "title": PAYLOAD})).add_to(m)
    folium.GeoJson({"type": "Point", "coordinates": [114.0, 22.5]}, tooltip=TextTooltip(PAYLOAD)).add_to(m)
    folium.Circle([22.5, 114.0], radius=10, tooltip=TextTooltip(PAYLOAD)).add_to(m)
    script = render_map_parts(m, NONCE, static_url=STATIC_URL)["script"]
    rest = _outside_strings(script)
    assert "`" not in rest and "xss" not in rest and "${" not in rest
    assert script.count("</script>") == 1  # only the real end tag
    assert script.count(".textContent = " + js_string(PAYLOAD)) == 5
    assert "setAttribute" in script and "innerHTML" not in script


@pytest.mark.parametrize("add", [
    lambda m: folium.Marker([22.5, 114.0], tooltip="plain string").add_to(m),
    lambda m: folium.Marker([22.5, 114.0], popup="<b>html</b>").add_to(m),
    lambda m: folium.Marker([22.5, 114.0], icon=folium.DivIcon(html="<span>x</span>")).add_to(m),
    lambda m: folium.CircleMarker([22.5, 114.0], tooltip=folium.Tooltip("x")).add_to(m),
    lambda m: folium.GeoJson({"type": "Feature", "properties": {"n": "x"},
                              "geometry": {"type": "Point", "coordinates": [114.0, 22.5]}},
                             tooltip=folium.GeoJsonTooltip(fields=["n"])).add_to(m),
    lambda m: folium.Marker([22.5, 114.0], popup=folium.Popup(folium.IFrame("<b>x</b>"))).add_to(m),
], ids=["tooltip-str", "popup-str", "div-icon", "tooltip", "geojson-tooltip", "iframe-popup"])
def test_render_map_parts_refuses_folium_elements_that_paste_text(add) -> None:
    m = folium.Map(location=[22.5, 114.0], tiles=None)
    add(m)
    with pytest.raises(UnsafeMapTextError):
        render_map_parts(m, NONCE, static_url=STATIC_URL)
