"""The vendored Leaflet and plugin files: map a CDN URL to its copy and inline them into a page.

The files live in ``siting/_assets`` (package data, each with its licence; see its README). Maps are saved
with them inlined by default (:data:`MAP_ASSETS` ``"inline"``), so a map opens with no network at all (the
hearing room, a government intranet) and draws every layer on a plain background; only the basemap tiles
need the internet. ``"cdn"`` keeps folium's links to the public CDNs instead (smaller files).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import folium

from siting.errors import InputError

MAP_ASSETS: tuple[str, ...] = ("inline", "cdn")
"""How a saved map gets Leaflet and its plugins: ``"inline"`` (default, self-contained) or ``"cdn"``."""

ASSETS_DIR = Path(__file__).resolve().parent.parent / "_assets"
"""Directory of the vendored Leaflet / plugin files (each with its licence)."""

# CDN URL prefixes folium and its plugins load, mapped to the vendored copies under ASSETS_DIR.
_CDN_PREFIXES: tuple[tuple[str, str], ...] = (
    ("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/", "leaflet@1.9.3/"),
    ("https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/", "leaflet.fullscreen@3.0.0/"),
    ("https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/", "leaflet-search@2.9.7/"),
    ("https://cdn.jsdelivr.net/gh/jieter/Leaflet.Sync/", "leaflet.sync@0.2.4/"),
)
# Assets folium loads by default that these maps never use (bootstrap widgets, icon fonts, awesome
# markers, jQuery for folium.Popup); they are left out so the page needs nothing we do not ship.
_UNUSED_DEFAULTS = frozenset(
    {
        "jquery",
        "bootstrap",
        "awesome_markers",
        "bootstrap_css",
        "glyphicons_css",
        "awesome_markers_font_css",
        "awesome_markers_css",
        "awesome_rotate_css",
    }
)
_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def assets_choice(assets: str | None, offline: bool | None = None, *, default: str = "inline") -> str:
    """The asset mode of a map: ``assets`` when given, else the older ``offline`` flag, else ``default``.

    Parameters
    ----------
    assets
        ``"inline"`` or ``"cdn"`` (:data:`MAP_ASSETS`), or None.
    offline
        The earlier spelling: True means ``"inline"``, False ``"cdn"``.
    default
        Used when neither is given.

    Returns
    -------
    str
        ``"inline"`` or ``"cdn"``.

    Raises
    ------
    InputError
        For another value of ``assets``.
    """
    if assets is None:
        return default if offline is None else ("inline" if offline else "cdn")
    if assets not in MAP_ASSETS:
        raise InputError(
            f"map assets {assets!r} is not known; use 'inline' (the map needs no network) or 'cdn'."
        )
    return assets


def local_asset(url: str) -> Path | None:
    """Return the vendored copy of a CDN asset URL folium loads, or None if it is not vendored.

    Parameters
    ----------
    url
        A URL such as ``https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js`` (images referenced
        by the style sheets resolve too).

    Returns
    -------
    pathlib.Path or None
        A file under :data:`ASSETS_DIR`.
    """
    for prefix, folder in _CDN_PREFIXES:
        if url.startswith(prefix):
            rest = url[len(prefix) :].split("?")[0].split("#")[0]
            candidates = [rest, rest.replace(".min.js", ".js"), rest.replace(".min.css", ".css")]
            for cand in candidates:
                file = (ASSETS_DIR / folder / cand).resolve()
                if file.is_file() and ASSETS_DIR in file.parents:
                    return file
    return None


def inline_assets(page: str) -> str:
    """Replace every ``<script src>`` and style-sheet ``<link>`` in ``page`` by the vendored file's text.

    Images referenced by the style sheets become ``data:`` URIs.

    Raises
    ------
    InputError
        When an external script or style sheet has no vendored copy.
    """

    def script(match: re.Match[str]) -> str:
        file = _need_asset(match.group(1))
        text = file.read_text(encoding="utf-8").replace("</script", "<\\/script")
        return f"<script>/* {file.parent.name}/{file.name} (inlined) */\n{text}\n</script>"

    def sheet(match: re.Match[str]) -> str:
        file = _need_asset(match.group(1))
        css = _css_with_data_uris(file)
        return f"<style>/* {file.parent.name}/{file.name} (inlined) */\n{css}\n</style>"

    page = re.sub(r'<script src="([^"]+)"></script>', script, page)
    return re.sub(r'<link rel="stylesheet" href="([^"]+)"\s*/?>', sheet, page)


def _need_asset(url: str) -> Path:
    if url.startswith("data:"):
        raise InputError("inline data URLs are not expected as script or style sheet sources.")
    file = local_asset(url)
    if file is None:
        raise InputError(
            f"self-contained map: {url} has no vendored copy in {ASSETS_DIR}. Remove the element that loads "
            "it, vendor the file there (with its licence), or save with assets='cdn'."
        )
    return file


def _css_with_data_uris(file: Path) -> str:
    css = file.read_text(encoding="utf-8")

    def repl(match: re.Match[str]) -> str:
        ref = match.group(1).strip("'\"")
        if ref.startswith(("data:", "#", "http")):
            return match.group(0)
        image = (file.parent / ref).resolve()
        if not image.is_file() or image.suffix not in _MIME:
            return match.group(0)
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:{_MIME[image.suffix]};base64,{encoded})"

    return re.sub(r"url\(([^)]+)\)", repl, css)


def _strip_defaults(m: folium.Map) -> None:
    """Leave out folium's default assets the maps never use (bootstrap, icon fonts, jQuery)."""
    m.default_js = [(k, v) for k, v in m.default_js if k not in _UNUSED_DEFAULTS]
    m.default_css = [(k, v) for k, v in m.default_css if k not in _UNUSED_DEFAULTS]
