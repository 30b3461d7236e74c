"""The maps a planner opens: the general map, the hearing map, the review map, and writing them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import folium
import folium.plugins
import pandas as pd

from siting._atomic import write_text_atomic
from siting._log import get_logger, progress
from siting.errors import InputError
from siting.maps.assets import _strip_defaults, assets_choice, inline_assets
from siting.maps.basemap import _add_basemap, _bounds, _centre, _check_basemap, _new_map
from siting.maps.data import _MapData, _scenario_name, _sites_bounds, _slug, result_slug
from siting.maps.layers import (
    _catchment_layer,
    _changes_layer,
    _density_layer,
    _district_layer,
    _NameTable,
    _radius_layer,
    _school_layer,
    _search_area_layer,
    _site_layer,
)
from siting.maps.page import _finish
from siting.maps.split import city_view
from siting.maps.years import add_year_layers
from siting.standards import LEVELS

log = get_logger(__name__)


def siting_map(
    result: Any,
    m: folium.Map | None = None,
    *,
    level: str = "both",
    basemap: str = "osm",
    assets: str | None = None,
    offline: bool | None = None,
    tianditu_key: str | None = None,
) -> folium.Map:
    """Draw a run on a folium map with toggleable layers, legend, title, search and full-screen.

    Parameters
    ----------
    result
        A ``pipeline.RunResult`` (or any object with its attributes: ``units``, ``schools``, ``sites``,
        ``districts``, ``catchments``, ``current_catchments``, ``changes``, ``scenario``, ``standards``;
        ``solution`` and ``costs`` are used for walking distances when present).
    m
        A map to draw on; a new one is made when None. On a given map no basemap is added and a layer
        control only if it has none.
    level
        ``"primary"``, ``"junior"`` or ``"both"``: which levels' catchments, changes and rings to draw.
    basemap
        ``"osm"`` (OpenStreetMap), ``"amap"`` (Gaode; data are shifted to GCJ-02), ``"tianditu"``
        (needs ``tianditu_key``) or ``"none"`` (plain background).
    assets
        How :func:`save_map` gives the page Leaflet and its plugins: ``"inline"`` (default: the file needs
        no network; without tiles every layer still shows on a plain background) or ``"cdn"``.
    offline
        Earlier spelling of ``assets``: True is ``"inline"``, False ``"cdn"``.
    tianditu_key
        Your Tianditu API key (``tk``), required with ``basemap="tianditu"``.

    Returns
    -------
    folium.Map
        The map; save it with :func:`save_map`.

    Raises
    ------
    InputError
        For an unknown ``level`` or ``basemap``, a missing Tianditu key, or a result without the needed
        attributes or columns.
    """
    levels = _levels(level)
    data = _MapData.from_result(result, shift=_check_basemap(basemap, tianditu_key) == "amap")
    m = _new_map(data, basemap=basemap, tianditu_key=tianditu_key) if m is None else m
    m._siting_assets = assets_choice(assets, offline)  # read by save_map
    names = _NameTable(data.school_names).add_to(m)
    density = _density_layer(data, names, show=False).add_to(m)
    for lvl in levels:
        _catchment_layer(data, lvl, current=True, show=False).add_to(m)
    for lvl in levels:
        _catchment_layer(data, lvl, current=False, show=lvl == levels[0]).add_to(m)
    _district_layer(data).add_to(m)
    for chosen in (True, False):
        _site_layer(data, chosen=chosen).add_to(m)
    _search_area_layer(data).add_to(m)
    for lvl in levels:
        _changes_layer(data, lvl, names, show=lvl == levels[0]).add_to(m)
    for lvl in levels:
        _radius_layer(data, lvl).add_to(m)
    schools = _school_layer(data, new=False).add_to(m)
    _school_layer(data, new=True).add_to(m)
    add_year_layers(m, data)  # a year-by-year plan: one layer per year (siting/maps/years.py)
    _finish(m, data, levels, search_layer=schools, extra=[density])
    return m


def hearing_map(
    result: Any,
    path: str | Path | None = None,
    *,
    brief: Mapping[str, pd.DataFrame] | None = None,
    **kw: Any,
) -> Path:
    """Write the land-reservation hearing map: reserved sites first, with their case in each popup.

    Each parcel's popup holds its hearing brief (:func:`siting.report.evidence_rows`): location, land and
    the sizes it allows; for a chosen parcel its size, catchment, relief, walks and cost; for one not chosen
    why; and the re-solves with it forced open / closed when ``brief`` has them.

    Parameters
    ----------
    result
        A run result (see :func:`siting_map`).
    path
        Output HTML file; default ``maps/<scenario>-hearing.html`` under the current directory.
    brief
        :func:`siting.report.hearing_brief` tables to show (e.g. made with ``resolve=True``); default
        made from ``result`` without re-solving.
    **kw
        Passed to :func:`siting_map` (``basemap``, ``assets``, ``level``, ``tianditu_key``).

    Returns
    -------
    pathlib.Path
        The file written (atomically).
    """
    m = siting_map(result if brief is None else _WithBrief(result, brief), **kw)
    data_bounds = _sites_bounds(result, shift=kw.get("basemap", "osm") == "amap")
    if data_bounds is not None:
        m.fit_bounds(data_bounds, padding=(30, 30))
    path = _default_path(result, path, "hearing")
    return save_map(m, path)


class _WithBrief:
    """A result seen with a ready hearing brief (read by the site popups); all else is the result's."""

    def __init__(self, result: Any, brief: Mapping[str, pd.DataFrame]) -> None:
        self._result = result
        self.hearing_brief = brief

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)


def review_map(result: Any, other: Any | None = None, path: str | Path | None = None, **kw: Any) -> Path:
    """Write the catchment review: two synchronised maps side by side, before (left) and after (right).

    Parameters
    ----------
    result
        A run result (see :func:`siting_map`).
    other
        Another scenario's run result to compare with; then the left map shows ``result``'s proposal and
        the right one ``other``'s. When None, left is the current situation and right the proposal.
    path
        Output HTML file; default ``maps/<scenario>-review.html`` (``<a>-vs-<b>-review.html`` with
        ``other``).
    **kw
        ``level``, ``basemap``, ``assets``, ``tianditu_key`` as in :func:`siting_map`.

    Returns
    -------
    pathlib.Path
        The file written (atomically).
    """
    level = kw.get("level", "both")
    basemap = kw.get("basemap", "osm")
    key = kw.get("tianditu_key")
    assets = assets_choice(kw.get("assets"), kw.get("offline"))
    levels = _levels(level)
    shift = _check_basemap(basemap, key) == "amap"
    left = _MapData.from_result(result, shift=shift)
    right = _MapData.from_result(other, shift=shift) if other is not None else left
    bounds = _bounds(left.units)
    dual = folium.plugins.DualMap(location=_centre(bounds), tiles=None, prefer_canvas=True, zoom_start=13)
    _strip_defaults(dual.m1)
    _strip_defaults(dual.m2)
    for sub in (dual.m1, dual.m2):
        _add_basemap(sub, basemap, key)
        sub.fit_bounds(bounds)
    panels = [
        (dual.m1, left, other is not None, "left"),
        (dual.m2, right, True, "right"),
    ]
    for sub, data, proposed, side in panels:
        names = _NameTable(data.school_names).add_to(sub)
        extra = [_density_layer(data, names, show=False).add_to(sub)]
        for lvl in levels:
            _catchment_layer(data, lvl, current=not proposed, show=lvl == levels[0]).add_to(sub)
        _district_layer(data).add_to(sub)
        if proposed:
            for lvl in levels:
                _changes_layer(data, lvl, names, show=lvl == levels[0]).add_to(sub)
        if proposed:
            for chosen in (True, False):
                _site_layer(data, chosen=chosen).add_to(sub)
        schools = _school_layer(data, new=False, after=proposed).add_to(sub)
        if proposed:
            _school_layer(data, new=True).add_to(sub)
        heading = _scenario_name(data) + (" — proposed" if proposed else " — current")
        _finish(sub, data, levels, search_layer=schools, extra=extra, heading=heading, side=side)
    if other is None:
        default = f"{_slug(_scenario_name(left))}-review.html"
    else:
        default = f"{_slug(_scenario_name(left))}-vs-{_slug(_scenario_name(right))}-review.html"
    out = Path(path) if path is not None else Path("maps") / default
    return save_map(dual, out, assets=assets)


def map_files(map_path: str | Path) -> list[Path]:
    """The files :func:`write_maps` writes: ``map_path``, ``<stem>-hearing.html``, ``<stem>-review.html``."""
    map_path = Path(map_path)
    return [map_path, *(map_path.with_name(f"{map_path.stem}-{kind}.html") for kind in ("hearing", "review"))]


def write_maps(result: Any, map_path: str | Path, **kw: Any) -> Path:
    """Write the general map to ``map_path`` and the hearing and review maps beside it (:func:`map_files`).

    Parameters
    ----------
    result
        A run result (see :func:`siting_map`).
    map_path
        The general map's HTML file, e.g. ``maps/sample.html``; the others are ``<stem>-hearing.html``
        and ``<stem>-review.html`` in the same folder.
    **kw
        ``level``, ``basemap``, ``assets``, ``tianditu_key`` as in :func:`siting_map`.

    Returns
    -------
    pathlib.Path
        ``map_path``.
    """
    main, hearing, review = map_files(map_path)
    result = city_view(result)  # above 15,000 home zones: blocks and simplified catchments (maps/split.py)
    draw = {
        main: lambda: save_map(siting_map(result, **kw), main),
        hearing: lambda: hearing_map(result, hearing, **kw),
        review: lambda: review_map(result, path=review, **kw),
    }
    for path in progress(list(draw), desc="maps", unit="map"):
        draw[path]()
    return main


def save_map(
    m: folium.Map | folium.plugins.DualMap,
    path: str | Path,
    *,
    assets: str | None = None,
    offline: bool | None = None,
) -> Path:
    """Write a map to one HTML file atomically (temporary file, then rename), with the umask's permissions.

    Parameters
    ----------
    m
        A folium map (or DualMap).
    path
        Output file; parent directories are created.
    assets
        ``"inline"`` puts Leaflet, the plugins and their images from ``siting/_assets`` into the page, so
        it needs no network except for basemap tiles; ``"cdn"`` links them from their CDNs; None (default)
        does what the map was built with (``siting_map(..., assets=...)``), else ``"inline"``.
    offline
        Earlier spelling of ``assets`` (True: ``"inline"``, False: ``"cdn"``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        With ``"inline"``, when the map loads a script or style sheet that is not vendored.
    OutputWriteError
        When the file cannot be written (an earlier file stays as it was).
    """
    choice = assets_choice(assets, offline, default=getattr(m, "_siting_assets", "inline"))
    page = m.get_root().render()
    if choice == "inline":
        page = inline_assets(page)
    path = write_text_atomic(Path(path), page)
    log.debug("map written to %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def _levels(level: str) -> list[str]:
    if level == "both":
        return list(LEVELS)
    if level in LEVELS:
        return [level]
    raise InputError(f"level must be 'primary', 'junior' or 'both', got {level!r}.")


def _default_path(result: Any, path: str | Path | None, kind: str) -> Path:
    if path is not None:
        return Path(path)
    return Path("maps") / f"{result_slug(result)}-{kind}.html"
