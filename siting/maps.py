"""Folium maps of a run: the hearing map of reserved sites, the catchment review, and a general map.

Every map is drawn from a run result (``pipeline.RunResult``; only the attributes listed in
``docs/architecture.md`` "Run result" are read, by name) and converted to EPSG:4326 here and nowhere else.

Layers are toggled in a layer control: population density, current and proposed catchments per level,
units that change school, existing schools (size = capacity, colour = utilization), new schools, reserved
sites chosen and not chosen, soft service-radius rings and district boundaries. A legend, a title block with
the scenario's key figures, full-screen and a search by school name complete the map.

Safety: every text that comes from data (school names, ids, district names) is escaped with
:func:`html.escape` in Python before it reaches the page, so a school called ``<img src=x onerror=...>``
shows as text. Offline: :func:`save_map` with ``offline=True`` inlines Leaflet and the plugins from the
copies vendored in ``siting/_assets`` (see its README), so only basemap tiles need the internet, and the
data layers stay usable on a plain background without them.

Basemaps: OpenStreetMap (default), AMap/Gaode (GCJ-02: data are shifted with :mod:`siting._gcj02` to match
the tiles), Tianditu (CGCS2000, which is WGS-84 to within centimetres; needs a user key) or none.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import branca.element
import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.template import Template
from folium.utilities import JsCode

from siting._gcj02 import shift_geometries
from siting._log import get_logger
from siting.catchments import seated_pupils
from siting.errors import InputError
from siting.standards import LEVELS, LEVELS_SERVED, Standards

log = get_logger(__name__)

ASSETS_DIR = Path(__file__).resolve().parent / "_assets"
"""Directory of the vendored Leaflet / plugin files (each with its licence)."""

BASEMAPS: tuple[str, ...] = ("osm", "amap", "tianditu", "none")
"""Allowed values of ``basemap``."""

OKABE_ITO: tuple[str, ...] = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
"""Okabe–Ito colour-blind-safe palette (without black), used for catchments."""

DENSITY_COLOURS: tuple[str, ...] = ("#FEE391", "#FEC44F", "#FB9A29", "#EC7014", "#CC4C02", "#8C2D04")
"""Paul Tol's YlOrBr sequential scheme (colour-blind safe), light to dark, for population density."""

UTILIZATION_CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.85, "#0072B2", "under 85 %"),
    (1.00, "#009E73", "85–100 %"),
    (1.10, "#E69F00", "100–110 %"),
    (math.inf, "#D55E00", "over 110 %"),
)
"""Upper bound of pupils / seats, colour and label of each utilization class. The first bound is
exclusive (85 % is in "85–100 %"), the others inclusive (a school exactly full is in "85–100 %")."""

LEVEL_LABELS: Mapping[str, str] = {"primary": "Primary", "junior": "Junior middle"}

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
_DECIMALS = 6  # 1e-6 degree is about 0.1 m


# ============================================================================================ public API
def siting_map(
    result: Any,
    m: folium.Map | None = None,
    *,
    level: str = "both",
    basemap: str = "osm",
    offline: bool = False,
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
    offline
        Mark the map to be saved self-contained by :func:`save_map` (Leaflet and plugins inlined).
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
    m._siting_offline = bool(offline)  # read by save_map
    names = _NameTable(data.school_names).add_to(m)
    density = _density_layer(data, names, show=False).add_to(m)
    for lvl in levels:
        _catchment_layer(data, lvl, current=True, show=False).add_to(m)
    for lvl in levels:
        _catchment_layer(data, lvl, current=False, show=lvl == levels[0]).add_to(m)
    _district_layer(data).add_to(m)
    for chosen in (True, False):
        _site_layer(data, chosen=chosen).add_to(m)
    for lvl in levels:
        _changes_layer(data, lvl, names, show=lvl == levels[0]).add_to(m)
    for lvl in levels:
        _radius_layer(data, lvl).add_to(m)
    schools = _school_layer(data, new=False).add_to(m)
    _school_layer(data, new=True).add_to(m)
    _finish(m, data, levels, search_layer=schools, extra=[density])
    return m


def hearing_map(result: Any, path: str | Path | None = None, **kw: Any) -> Path:
    """Write the land-reservation hearing map: reserved sites first, with their case in each popup.

    Parameters
    ----------
    result
        A run result (see :func:`siting_map`).
    path
        Output HTML file; default ``maps/<scenario>-hearing.html`` under the current directory.
    **kw
        Passed to :func:`siting_map` (``basemap``, ``offline``, ``level``, ``tianditu_key``).

    Returns
    -------
    pathlib.Path
        The file written (atomically).
    """
    m = siting_map(result, **kw)
    data_bounds = _sites_bounds(result, shift=kw.get("basemap", "osm") == "amap")
    if data_bounds is not None:
        m.fit_bounds(data_bounds, padding=(30, 30))
    path = _default_path(result, path, "hearing")
    return save_map(m, path, offline=kw.get("offline", False))


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
        ``level``, ``basemap``, ``offline``, ``tianditu_key`` as in :func:`siting_map`.

    Returns
    -------
    pathlib.Path
        The file written (atomically).
    """
    level = kw.get("level", "both")
    basemap = kw.get("basemap", "osm")
    key = kw.get("tianditu_key")
    offline = bool(kw.get("offline", False))
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
    return save_map(dual, out, offline=offline)


def write_maps(result: Any, map_path: str | Path, **kw: Any) -> Path:
    """Write the general map to ``map_path`` and the hearing and review maps beside it.

    Parameters
    ----------
    result
        A run result (see :func:`siting_map`).
    map_path
        The general map's HTML file, e.g. ``maps/sample.html``; the others are ``<stem>-hearing.html``
        and ``<stem>-review.html`` in the same folder.
    **kw
        ``level``, ``basemap``, ``offline``, ``tianditu_key`` as in :func:`siting_map`.

    Returns
    -------
    pathlib.Path
        ``map_path``.
    """
    map_path = Path(map_path)
    save_map(siting_map(result, **kw), map_path, offline=kw.get("offline", False))
    hearing_map(result, map_path.with_name(f"{map_path.stem}-hearing.html"), **kw)
    review_map(result, path=map_path.with_name(f"{map_path.stem}-review.html"), **kw)
    return map_path


def save_map(
    m: folium.Map | folium.plugins.DualMap, path: str | Path, *, offline: bool | None = None
) -> Path:
    """Write a map to one HTML file atomically (temporary file, then rename).

    Parameters
    ----------
    m
        A folium map (or DualMap).
    path
        Output file; parent directories are created.
    offline
        True inlines Leaflet, the plugins and their images from ``siting/_assets`` so the page needs no
        internet except for basemap tiles; False links them from their CDNs; None (default) does what the
        map was built with (``siting_map(..., offline=...)``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        With ``offline=True``, when the map loads a script or style sheet that is not vendored.
    """
    if offline is None:
        offline = bool(getattr(m, "_siting_offline", False))
    root = m.get_root()
    page = root.render()
    if offline:
        page = inline_assets(page)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("map written to %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


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


# =========================================================================================== data prep
class _MapData:
    """Everything a map draws, in EPSG:4326 (shifted to GCJ-02 if asked), with escaped texts."""

    def __init__(self, result: Any, *, shift: bool) -> None:
        self.result = result
        self.shift = shift
        self.standards: Standards = getattr(result, "standards", None) or Standards.foshan()
        units = _require_frame(result, "units", ["geometry", "population"])
        schools = _require_frame(result, "schools", ["geometry", "name", "level", "status"])
        self.units_m = units  # projected, for areas
        self.schools_m = schools
        self.table = _school_table(result, units, schools, self.standards)
        self.school_ids = list(self.table.index)
        self.school_names = [_esc(n) for n in self.table["name"]]
        self.school_pos = {sid: i for i, sid in enumerate(self.school_ids)}
        self.units = self._wgs(units)
        self.schools = self._wgs(schools)
        self.walks = _unit_walks(result, units)
        self.colours: dict[str, dict[str, str]] = {}

    @classmethod
    def from_result(cls, result: Any, *, shift: bool) -> _MapData:
        return cls(result, shift=shift)

    def _wgs(self, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return to_map_crs(gdf, shift=self.shift)

    def frame(self, name: str) -> gpd.GeoDataFrame | None:
        """Return an optional layer of the result in EPSG:4326, or None when absent or empty."""
        gdf = getattr(self.result, name, None)
        if gdf is None or not isinstance(gdf, gpd.GeoDataFrame) or len(gdf) == 0:
            return None
        return self._wgs(gdf)

    def changes(self) -> pd.DataFrame:
        """Return the changes table (possibly empty) with the documented columns."""
        cols = ["unit_id", "level", "old_school", "new_school", "pupils", "walk_before_m", "walk_after_m"]
        changes = getattr(self.result, "changes", None)
        if changes is None or len(changes) == 0:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        missing = [c for c in cols[:5] if c not in changes.columns]
        if missing:
            raise InputError(
                f"result.changes lacks columns {missing}; it needs {cols} "
                "(as made by catchments.compare_catchments)."
            )
        out = pd.DataFrame(changes).copy()
        for c in ("walk_before_m", "walk_after_m"):
            if c not in out.columns:
                out[c] = np.nan
        return out


def to_map_crs(gdf: gpd.GeoDataFrame, *, shift: bool = False) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326 with coordinates rounded to 6 decimals (≈ 0.1 m).

    Parameters
    ----------
    gdf
        A layer with a CRS.
    shift
        Also shift to GCJ-02 (for AMap/Gaode tiles).

    Raises
    ------
    InputError
        If the layer has no CRS.
    """
    if gdf.crs is None:
        raise InputError("a map layer has no CRS; set it with `gdf.set_crs(...)` before drawing.")
    out = gdf.to_crs(4326)
    geoms = out.geometry.to_numpy()
    if shift:
        geoms = shift_geometries(geoms)
    geoms = shapely.transform(geoms, lambda c: np.round(c, _DECIMALS))
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=4326))


def _require_frame(result: Any, name: str, columns: list[str]) -> gpd.GeoDataFrame:
    gdf = getattr(result, name, None)
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(
            f"result.{name} must be a GeoDataFrame (see docs/architecture.md 'Run result'), "
            f"got {type(gdf).__name__}."
        )
    missing = [c for c in columns if c not in gdf.columns and c != "geometry"]
    if missing:
        raise InputError(f"result.{name} lacks columns {missing}; add them (see docs/architecture.md).")
    if gdf.crs is None:
        raise InputError(f"result.{name} has no CRS; set the study CRS with `.set_crs(...)`.")
    return gdf


def _num(frame: pd.DataFrame, col: str, default: float = 0.0) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(default, index=frame.index, dtype=float)
    return pd.to_numeric(frame[col], errors="coerce").astype(float).fillna(default)


def _school_table(
    result: Any, units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, standards: Standards
) -> pd.DataFrame:
    """Per school: seats, pupils and classes before and after, utilization, and the new-school label."""
    t = pd.DataFrame(index=schools.index.astype(str))
    t["name"] = schools["name"].astype(object).where(schools["name"].notna(), schools.index).to_numpy()
    t["kind"] = schools["level"].astype(str).to_numpy()
    t["status"] = schools["status"].astype(str).to_numpy()
    opened = schools["opened"] if "opened" in schools.columns else pd.Series(False, index=schools.index)
    t["opened"] = opened.fillna(False).astype(bool).to_numpy()
    t["option"] = (
        schools["option"].astype(object).where(schools["option"].notna(), "").to_numpy()
        if "option" in schools.columns
        else ""
    )
    schools = schools.set_axis(t.index)
    metrics = getattr(result, "school_metrics", None)
    for lvl in LEVELS:
        cap = _num(schools, f"capacity_{lvl}")
        t[f"cap_before_{lvl}"] = cap
        t[f"cap_after_{lvl}"] = (
            _num(schools, f"capacity_after_{lvl}") if f"capacity_after_{lvl}" in schools.columns else cap
        )
        t[f"classes_before_{lvl}"] = _num(schools, f"classes_{lvl}")
        added = (t[f"cap_after_{lvl}"] - cap).clip(lower=0) / standards.class_size[lvl]
        t[f"classes_after_{lvl}"] = t[f"classes_before_{lvl}"] + added.round()
        for when, col in (("before", f"current_{lvl}"), ("after", f"proposed_{lvl}")):
            if col in units.columns:
                seated = pd.Series(seated_pupils(units, level=lvl, column=col), index=units.index)
                sums = seated.groupby(units[col].astype(object)).sum()
                t[f"pupils_{when}_{lvl}"] = sums.reindex(t.index).fillna(0.0).to_numpy()
            else:
                t[f"pupils_{when}_{lvl}"] = 0.0
        if f"enrolled_{lvl}" in schools.columns:
            t[f"pupils_before_{lvl}"] = _num(schools, f"enrolled_{lvl}")
        for when, state in (("before", "current"), ("after", "proposed")):
            t[f"large_{when}_{lvl}"] = _metric(metrics, "large_classes", state, lvl, t.index)
    for when in ("before", "after"):
        cap = sum(t[f"cap_{when}_{lvl}"] for lvl in LEVELS)
        pupils = sum(t[f"pupils_{when}_{lvl}"] for lvl in LEVELS)
        t[f"cap_{when}"] = cap
        t[f"pupils_{when}"] = pupils
        t[f"util_{when}"] = (pupils / cap.where(cap > 0)).astype(float)
    return t


def _metric(metrics: Any, column: str, state: str, level: str, index: pd.Index) -> pd.Series:
    """Read one column of the long ``school_metrics`` table (state, school_id, level) for one state."""
    empty = pd.Series(np.nan, index=index, dtype=float)
    if not isinstance(metrics, pd.DataFrame) or not {"school_id", "level", column} <= set(metrics.columns):
        return empty
    rows = metrics[metrics["level"] == level]
    if "state" in rows.columns:
        rows = rows[rows["state"] == state]
    values = pd.to_numeric(rows[column], errors="coerce").set_axis(rows["school_id"].astype(str))
    return values[~values.index.duplicated()].reindex(index).astype(float)


def _unit_walks(result: Any, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Walk (m) from each unit to its current and proposed school per level, where the result has it."""
    out = pd.DataFrame(index=units.index)
    costs = getattr(result, "costs", None)
    solution = getattr(result, "solution", None)
    assignment = getattr(solution, "assignment", None)
    pair_dist: pd.Series | None = None
    if isinstance(costs, pd.DataFrame) and {"unit_id", "school_id", "distance_m"} <= set(costs.columns):
        pair_dist = costs.set_index(["unit_id", "school_id"])["distance_m"]
        pair_dist = pair_dist[~pair_dist.index.duplicated()]
    for lvl in LEVELS:
        for when, col in (("before", f"current_{lvl}"), ("after", f"proposed_{lvl}")):
            walk = pd.Series(np.nan, index=units.index)
            if pair_dist is not None and col in units.columns:
                keys = pd.MultiIndex.from_arrays([units.index, units[col].astype(object)])
                walk = pd.Series(pair_dist.reindex(keys).to_numpy(dtype=float), index=units.index)
            out[f"{when}_{lvl}"] = walk
        if isinstance(assignment, pd.DataFrame) and {"unit_id", "level", "distance_m"} <= set(
            assignment.columns
        ):
            rows = assignment[assignment["level"] == lvl]
            rows = rows.sort_values("pupils", ascending=False) if "pupils" in rows.columns else rows
            dist = rows.drop_duplicates("unit_id").set_index("unit_id")["distance_m"]
            out[f"after_{lvl}"] = dist.reindex(units.index).astype(float).fillna(out[f"after_{lvl}"])
    return out


# ============================================================================================== layers
class _Layer(folium.GeoJson):
    """A GeoJSON layer styled in the browser from each feature's properties.

    folium's ``style_function`` writes a ``switch`` with one ``case`` per feature, evaluated for every
    feature (quadratic: many seconds for 20,000 units). Here the style is a base style, optionally one of
    a few class styles picked by the integer property ``k``, and per-feature values copied from named
    properties (``props_to_style``, e.g. ``{"col": "fillColor"}``).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJson(null, {
            style: function(f) {
                var p = f.properties, s = Object.assign({}, {{ this.base_style|tojson }});
                var classes = {{ this.class_styles|tojson }};
                if (classes.length) { Object.assign(s, classes[Math.min(p.k || 0, classes.length - 1)]); }
                var copy = {{ this.props_to_style|tojson }};
                for (var key in copy) {
                    if (p[key] !== undefined && p[key] !== null) { s[copy[key]] = p[key]; }
                }
                return s;
            },
            {%- if this.point %}
            pointToLayer: function(f, latlng) {
                return L.{{ this.point }}(latlng, {{ this.get_name() }}.options.style(f));
            },
            {%- endif %}
            onEachFeature: {{ this.on_each_feature }},
        });
        {{ this.get_name() }}.addData({{ this.data|tojson }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        data: dict[str, Any],
        *,
        name: str,
        show: bool = True,
        base_style: Mapping[str, Any],
        class_styles: list[dict[str, Any]] | None = None,
        props_to_style: Mapping[str, str] | None = None,
        point: str | None = None,
        on_each_feature: JsCode,
    ) -> None:
        super().__init__(data, name=name, show=show)
        self._name = "SitingLayer"
        self.base_style = dict(base_style)
        self.class_styles = list(class_styles or [])
        self.props_to_style = dict(props_to_style or {})
        self.point = {"circle_marker": "circleMarker", "circle": "circle", None: None}[point]
        self.on_each_feature = on_each_feature


class _NameTable(branca.element.MacroElement):
    """A JavaScript array of escaped school names; unit popups refer to schools by position in it."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = {{ this.names|tojson }};
        {% endmacro %}
        """
    )

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self._name = "SitingNames"
        self.names = names


_UNIT_POPUP_JS = """
function(feature, layer) {
  layer.bindPopup(function() {
    var p = feature.properties, N = %(names)s;
    function f(x) { return (x === null || x === undefined) ? "–" : Number(x).toLocaleString("en-US",
      {maximumFractionDigits: 0}); }
    function s(i) { return (i === null || i === undefined) ? "none" : N[i]; }
    var rows = [["Population", f(p.pop)]];
    [["primary", "Primary"], ["junior", "Junior middle"]].forEach(function(l) {
      var k = l[0];
      if (p["d_" + k] === undefined) return;
      rows.push([l[1] + " seats demanded", f(p["d_" + k])]);
      rows.push([l[1] + " school", s(p["c_" + k]) + " → " + s(p["n_" + k])]);
      rows.push([l[1] + " walk", f(p["wb_" + k]) + " m → " + f(p["wa_" + k]) + " m"]);
    });
    return "<div class='siting-popup'><b>Home zone " + p.id + "</b><table>" + rows.map(function(r) {
      return "<tr><th>" + r[0] + "</th><td>" + r[1] + "</td></tr>"; }).join("") + "</table></div>";
  });
  layer.bindTooltip(f_density(feature.properties), {sticky: true});
  function f_density(p) { return Number(p.dens).toLocaleString("en-US", {maximumFractionDigits: 0})
    + " people/km²"; }
}
"""

_CHANGE_POPUP_JS = """
function(feature, layer) {
  var p = feature.properties, N = %(names)s;
  function f(x) { return (x === null || x === undefined) ? "–" : Number(x).toLocaleString("en-US",
    {maximumFractionDigits: 0}); }
  function s(i) { return (i === null || i === undefined) ? "none" : N[i]; }
  layer.bindTooltip(s(p.o) + " → " + s(p.n), {sticky: true});
  layer.bindPopup(function() {
    var rows = [["School", s(p.o) + " → " + s(p.n)], ["Pupils moving", f(p.p)],
                ["Walk", f(p.wb) + " m → " + f(p.wa) + " m"], ["Population", f(p.pop)]];
    return "<div class='siting-popup'><b>Home zone " + p.id + ": %(level)s school changes</b><table>"
      + rows.map(function(r) { return "<tr><th>" + r[0] + "</th><td>" + r[1] + "</td></tr>"; }).join("")
      + "</table></div>";
  });
}
"""

_HTML_POPUP_JS = JsCode(
    """
function(feature, layer) {
  if (feature.properties.popup) { layer.bindPopup(feature.properties.popup, {maxWidth: 360}); }
  if (feature.properties.tip) { layer.bindTooltip(feature.properties.tip, {sticky: true}); }
}
"""
)


def _density_layer(data: _MapData, names: _NameTable, *, show: bool) -> folium.GeoJson:
    units = data.units
    area_km2 = data.units_m.geometry.area.to_numpy() / 1e6
    pop = _num(data.units_m, "population").to_numpy()
    dens = np.divide(pop, area_km2, out=np.zeros_like(pop), where=area_km2 > 0)
    breaks = _density_breaks(dens)
    cls = np.searchsorted(breaks, dens, side="right")
    props: dict[str, Iterable[Any]] = {
        "id": [_esc(u) for u in units.index],
        "k": cls.tolist(),
        "pop": np.round(pop).tolist(),
        "dens": np.round(dens).tolist(),
    }
    for lvl in LEVELS:
        if lvl not in data.units_m.columns:
            continue
        props[f"d_{lvl}"] = np.round(_num(data.units_m, lvl).to_numpy(), 1).tolist()
        for short, col in (("c", f"current_{lvl}"), ("n", f"proposed_{lvl}")):
            ids = data.units_m[col] if col in data.units_m.columns else pd.Series(None, index=units.index)
            props[f"{short}_{lvl}"] = [data.school_pos.get(str(x)) if _present(x) else None for x in ids]
        props[f"wb_{lvl}"] = _round_list(data.walks[f"before_{lvl}"])
        props[f"wa_{lvl}"] = _round_list(data.walks[f"after_{lvl}"])
    layer = _Layer(
        _collection(units.geometry, props),
        name="Population density",
        show=show,
        base_style={"weight": 0, "fillOpacity": 0.55},
        class_styles=[{"fillColor": c} for c in DENSITY_COLOURS],
        on_each_feature=JsCode(_UNIT_POPUP_JS % {"names": names.get_name()}),
    )
    layer._siting_legend = ("density", breaks)
    return layer


def _density_breaks(dens: np.ndarray) -> np.ndarray:
    """Return 5 rounded class breaks (people/km²) at quantiles of the inhabited units' density."""
    inhabited = dens[dens > 0]
    if inhabited.size == 0:
        return np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    qs = np.quantile(inhabited, [0.2, 0.4, 0.6, 0.8, 0.95])
    rounded = np.array([_round_sig(q) for q in qs])
    return np.maximum.accumulate(rounded + np.arange(5) * 1e-9)


def _catchment_layer(data: _MapData, level: str, *, current: bool, show: bool) -> folium.GeoJson:
    attr = "current_catchments" if current else "catchments"
    when = "Current" if current else "Proposed"
    name = f"{when} catchments — {LEVEL_LABELS[level].lower()}"
    gdf = data.frame(attr)
    if gdf is not None:
        gdf = gdf[gdf["level"] == level]
    if gdf is None or len(gdf) == 0:
        return folium.FeatureGroup(name=f"{name} (none)", show=False)
    colours = _school_colours(data, level)
    names = data.table["name"]
    sids = gdf["school_id"].astype(str)
    tips = [f"{_esc(names.get(s, s))} — {LEVEL_LABELS[level].lower()} catchment" for s in sids]
    popups = [
        _popup(
            f"{names.get(s, s)} — {LEVEL_LABELS[level].lower()} catchment ({when.lower()})",
            [
                ("Population", _fmt(pop)),
                ("Pupils", _fmt(pupils)),
                ("Home zones", _fmt(n)),
            ],
        )
        for s, pop, pupils, n in zip(
            sids,
            _num(gdf, "population"),
            _num(gdf, "pupils"),
            _num(gdf, "n_units", math.nan),
            strict=True,
        )
    ]
    props = {"sid": [_esc(s) for s in sids], "col": [colours.get(s, "#999999") for s in sids]}
    props |= {"tip": tips, "popup": popups}
    return _Layer(
        _collection(gdf.geometry, props),
        name=name,
        show=show,
        base_style={
            "color": "#333333",
            "weight": 1.2,
            "fillOpacity": 0.35,
            "dashArray": "6 4" if current else None,
        },
        props_to_style={"col": "fillColor"},
        on_each_feature=_HTML_POPUP_JS,
    )


def _school_colours(data: _MapData, level: str) -> dict[str, str]:
    """Give each school a palette colour, different from its neighbours' (greedy graph colouring).

    The same school gets the same colour in the current and proposed catchments, so a reviewer can
    follow a school across the two views.
    """
    cache = data.colours
    if level in cache:
        return cache[level]
    parts = []
    for attr in ("catchments", "current_catchments"):
        gdf = getattr(data.result, attr, None)
        if isinstance(gdf, gpd.GeoDataFrame) and len(gdf):
            parts.append(gdf.loc[gdf["level"] == level, ["school_id", "geometry"]])
    colours: dict[str, str] = {}
    if parts:
        both = pd.concat(parts, ignore_index=True)
        both["school_id"] = both["school_id"].astype(str)
        geoms = both.geometry.to_numpy()
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        neighbours: dict[str, set[str]] = {}
        ids = both["school_id"].to_numpy()
        for i, j in zip(left, right, strict=True):
            if ids[i] != ids[j]:
                neighbours.setdefault(ids[i], set()).add(ids[j])
        degree = sorted(set(ids), key=lambda s: (-len(neighbours.get(s, ())), s))
        for sid in degree:
            used = {colours.get(n) for n in neighbours.get(sid, ())}
            free = [c for c in OKABE_ITO if c not in used]
            colours[sid] = free[0] if free else OKABE_ITO[len(colours) % len(OKABE_ITO)]
    cache[level] = colours
    return colours


def _district_layer(data: _MapData) -> folium.GeoJson | folium.FeatureGroup:
    gdf = data.frame("districts")
    if gdf is None:
        return folium.FeatureGroup(name="District boundaries (none)", show=False)
    col = next((c for c in ("name", "district", "name_zh") if c in gdf.columns), None)
    labels = gdf[col] if col else pd.Series(gdf.index, index=gdf.index)
    props = {"tip": [f"District: {_esc(x)}" for x in labels]}
    return _Layer(
        _collection(gdf.geometry.boundary, props),
        name="District boundaries",
        base_style={"color": "#333333", "weight": 2.5, "dashArray": "10 5", "opacity": 0.9},
        on_each_feature=_HTML_POPUP_JS,
    )


def _site_layer(data: _MapData, *, chosen: bool) -> folium.GeoJson | folium.FeatureGroup:
    label = "Reserved sites — chosen" if chosen else "Reserved sites — not chosen"
    t = data.table
    site_ids = t.index[(t["status"] == "site") & (t["opened"] == chosen)]
    parcels = data.frame("sites")
    if parcels is not None:
        parcels = parcels.set_axis(parcels.index.astype(str))
        parcels = parcels[parcels.index.isin(site_ids)]
        missing = [s for s in site_ids if s not in parcels.index]
        geoms = list(parcels.geometry)
        ids = list(parcels.index)
    else:
        missing, geoms, ids = list(site_ids), [], []
    if missing:  # a site without a parcel is drawn as its point
        pts = data.schools.set_axis(data.schools.index.astype(str)).loc[missing]
        geoms += list(pts.geometry.buffer(0.0004))
        ids += missing
    if not ids:
        return folium.FeatureGroup(name=f"{label} (none)", show=False)
    popups = [_site_popup(data, sid) for sid in ids]
    tips = [
        _esc(t.at[sid, "name"]) + (f" — {_size_label(t.loc[sid])}" if chosen else " — not chosen")
        for sid in ids
    ]
    style = (
        {"color": "#000000", "weight": 2.5, "fillColor": "#009E73", "fillOpacity": 0.55}
        if chosen
        else {
            "color": "#666666",
            "weight": 2,
            "dashArray": "6 4",
            "fillColor": "#BBBBBB",
            "fillOpacity": 0.25,
        }
    )
    return _Layer(
        _collection(
            gpd.GeoSeries(geoms, crs=4326), {"sid": [_esc(s) for s in ids], "tip": tips, "popup": popups}
        ),
        name=label,
        base_style=style,
        on_each_feature=_HTML_POPUP_JS,
    )


def _changes_layer(
    data: _MapData, level: str, names: _NameTable, *, show: bool
) -> folium.GeoJson | folium.FeatureGroup:
    name = f"Homes changing school — {LEVEL_LABELS[level].lower()}"
    changes = data.changes()
    changes = changes[changes["level"] == level]
    units = data.units
    changes = changes[changes["unit_id"].isin(units.index)]
    if len(changes) == 0:
        return folium.FeatureGroup(name=f"{name} (none)", show=False)
    pos = data.school_pos
    props = {
        "id": [_esc(u) for u in changes["unit_id"]],
        "o": [pos.get(str(x)) if _present(x) else None for x in changes["old_school"]],
        "n": [pos.get(str(x)) if _present(x) else None for x in changes["new_school"]],
        "p": _round_list(changes["pupils"].astype(float)),
        "wb": _round_list(changes["walk_before_m"].astype(float)),
        "wa": _round_list(changes["walk_after_m"].astype(float)),
        "pop": _round_list(units["population"].astype(float).reindex(changes["unit_id"].to_numpy())),
    }
    geoms = units.geometry.loc[changes["unit_id"].to_numpy()]
    return _Layer(
        _collection(geoms, props),
        name=name,
        show=show,
        base_style={"color": "#000000", "weight": 0.8, "fillColor": "#FFFFFF", "fillOpacity": 0.3},
        on_each_feature=JsCode(
            _CHANGE_POPUP_JS % {"names": names.get_name(), "level": LEVEL_LABELS[level].lower()}
        ),
    )


def _radius_layer(data: _MapData, level: str) -> folium.GeoJson | folium.FeatureGroup:
    radius = float(data.standards.service_radius_m[level])
    name = f"Service radius {radius:,.0f} m — {LEVEL_LABELS[level].lower()}"
    t = data.table
    serves = t["kind"].map(lambda k: level in LEVELS_SERVED.get(k, ())).astype(bool)
    keep = serves & ((t["status"] != "site") | t["opened"]) & (t[f"cap_after_{level}"] > 0)
    pts = data.schools.set_axis(data.schools.index.astype(str))
    pts = pts.loc[t.index[keep]]
    if len(pts) == 0:
        return folium.FeatureGroup(name=f"{name} (none)", show=False)
    colour = "#0072B2" if level == "primary" else "#CC79A7"
    return _Layer(
        _collection(pts.geometry, {"tip": [f"{_esc(t.at[s, 'name'])}: {radius:,.0f} m" for s in pts.index]}),
        name=name,
        show=False,
        base_style={"radius": radius, "fill": False, "weight": 1.2, "color": colour, "dashArray": "4 6"},
        point="circle",
        on_each_feature=_HTML_POPUP_JS,
    )


def _school_layer(data: _MapData, *, new: bool, after: bool = True) -> folium.GeoJson | folium.FeatureGroup:
    t = data.table
    is_new = (t["status"] == "site") & t["opened"]
    keep = is_new if new else t["status"] != "site"
    name = "New schools" if new else ("Existing schools" if after else "Existing schools (current)")
    ids = t.index[keep]
    if len(ids) == 0:
        return folium.FeatureGroup(name=f"{name} (none)", show=False)
    when = "after" if after else "before"
    pts = data.schools.set_axis(data.schools.index.astype(str)).loc[ids]
    sub = t.loc[ids]
    util = sub[f"util_{when}"]
    cap = sub[f"cap_{when}"]
    props = {
        "name": [_esc(n) for n in sub["name"]],
        "r": [round(4.0 + 10.0 * math.sqrt(max(c, 0.0) / 2500.0), 1) for c in cap],
        "col": [_util_colour(u) for u in util],
        "tip": [
            _esc(r["name"]) + (f" — {_size_label(r)}" if new else f" — {_pct(r[f'util_{when}'])} full")
            for _, r in sub.iterrows()
        ],
        "popup": [_school_popup(data, sid, after=after) for sid in ids],
    }
    weight = 3.5 if new else 1.2
    return _Layer(
        _collection(pts.geometry, props),
        name=name,
        base_style={"color": "#000000", "weight": weight, "fill": True, "fillOpacity": 0.9},
        props_to_style={"r": "radius", "col": "fillColor"},
        point="circle_marker",
        on_each_feature=_HTML_POPUP_JS,
    )


# ============================================================================================== popups
def _popup(title: str, rows: list[tuple[str, str]]) -> str:
    """Return popup HTML with every text escaped (title and cells may come from data)."""
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<div class='siting-popup'><b>{_esc(title)}</b><table>{body}</table></div>"


def _school_popup(data: _MapData, sid: str, *, after: bool) -> str:
    r = data.table.loc[sid]
    rows: list[tuple[str, str]] = [("Kind", str(r["kind"]).replace("_", "-"))]
    if r["status"] == "site":
        rows.append(("Opens at", f"{r['option']} — {_size_label(r)}"))
    for lvl in LEVELS:
        if r[f"cap_after_{lvl}"] <= 0 and r[f"cap_before_{lvl}"] <= 0:
            continue
        lab = LEVEL_LABELS[lvl]
        cap_b, cap_a = r[f"cap_before_{lvl}"], r[f"cap_after_{lvl}"]
        pup_b, pup_a = r[f"pupils_before_{lvl}"], r[f"pupils_after_{lvl}"]
        classes = r[f"classes_after_{lvl}"] if after else r[f"classes_before_{lvl}"]
        rows.append(
            (f"{lab} seats", _fmt(cap_b) if cap_b == cap_a or not after else f"{_fmt(cap_b)} → {_fmt(cap_a)}")
        )
        rows.append((f"{lab} pupils (now → proposed)", f"{_fmt(pup_b)} → {_fmt(pup_a)}"))
        rows.append((f"{lab} utilization", f"{_pct(_ratio(pup_b, cap_b))} → {_pct(_ratio(pup_a, cap_a))}"))
        mean = _ratio(pup_a if after else pup_b, classes)
        large_min = data.standards.large_class_min
        flag = f" (large-class line {large_min})" if not math.isnan(mean) and mean >= large_min else ""
        rows.append((f"{lab} classes", f"{_fmt(classes)}, mean {_fmt(mean)} pupils per class{flag}"))
        large = r[f"large_{'after' if after else 'before'}_{lvl}"]
        if not pd.isna(large):
            rows.append((f"{lab} large classes (≥{large_min} pupils)", _fmt(large)))
    return _popup(str(r["name"]), rows)


def _site_popup(data: _MapData, sid: str) -> str:
    r = data.table.loc[sid]
    area = _site_area(data, sid)
    rows: list[tuple[str, str]] = [("Parcel", sid), ("Area", f"{_fmt(area)} m² ({area / 1e4:,.2f} ha)")]
    if not r["opened"]:
        rows.append(("Decision", "not chosen in this scenario"))
        return _popup(str(r["name"]), rows)
    seats = r["cap_after"] - r["cap_before"]
    central = (
        bool(data.schools_m["central"].get(sid, False)) if "central" in data.schools_m.columns else False
    )
    per = data.standards.land_per_pupil_central_m2 if central else data.standards.land_per_pupil_m2
    needed = sum((r[f"cap_after_{lvl}"] - r[f"cap_before_{lvl}"]) * per[lvl] for lvl in LEVELS)
    rows.append(("Proposed size", f"{r['option']} — {_size_label(r)}"))
    rows.append(
        (
            "Land per pupil",
            f"{_fmt(_ratio(area, seats), 1)} m² (standard {_fmt(_ratio(needed, seats), 1)} m²"
            f"{', central area' if central else ''})",
        )
    )
    changes = data.changes()
    moved = changes[changes["new_school"].astype(object).astype(str) == sid]
    pupils = float(pd.to_numeric(moved["pupils"]).sum()) if len(moved) else 0.0
    rows.append(("Pupils served", _fmt(r["pupils_after"])))
    rows.append(
        (
            "Their mean walk",
            f"{_fmt(_wmean(moved, 'walk_before_m'))} m before → "
            f"{_fmt(_wmean(moved, 'walk_after_m'))} m after",
        )
    )
    rows.append(
        ("Seat shortfall removed", f"{_fmt(_shortfall_removed(data, moved))} of {_fmt(pupils)} pupils moved")
    )
    return _popup(str(r["name"]), rows)


def _shortfall_removed(data: _MapData, moved: pd.DataFrame) -> float:
    """Pupils moved to a site from over-capacity schools (up to each one's overload) or from no school."""
    if len(moved) == 0:
        return 0.0
    t = data.table
    total = 0.0
    for (old, lvl), grp in moved.groupby([moved["old_school"].astype(object).fillna(""), "level"]):
        pupils = float(pd.to_numeric(grp["pupils"]).sum())
        if old == "" or str(old) not in t.index:
            total += pupils
            continue
        over = t.at[str(old), f"pupils_before_{lvl}"] - t.at[str(old), f"cap_before_{lvl}"]
        total += min(pupils, max(over, 0.0))
    return total


def _site_area(data: _MapData, sid: str) -> float:
    if "area_m2" in data.schools_m.columns:
        value = pd.to_numeric(pd.Series([data.schools_m["area_m2"].get(sid)]), errors="coerce").iloc[0]
        if pd.notna(value) and value > 0:
            return float(value)
    sites = getattr(data.result, "sites", None)
    if isinstance(sites, gpd.GeoDataFrame) and sid in sites.index.astype(str):
        return float(sites.set_axis(sites.index.astype(str)).geometry.loc[sid].area)
    return math.nan


def _size_label(r: pd.Series) -> str:
    """E.g. ``36 classes, 1,620 seats`` or ``48 classes (30 primary + 18 junior), 2,250 seats``."""
    classes = {lvl: r[f"classes_after_{lvl}"] - r[f"classes_before_{lvl}"] for lvl in LEVELS}
    seats = r["cap_after"] - r["cap_before"]
    total = sum(classes.values())
    if all(classes.values()):
        split = " + ".join(f"{_fmt(classes[lvl])} {lvl}" for lvl in LEVELS)
        return f"{_fmt(total)} classes ({split}), {_fmt(seats)} seats"
    return f"{_fmt(total)} classes, {_fmt(seats)} seats"


# ==================================================================================== legend and title
class _Html(branca.element.MacroElement):
    """A fixed box of (already escaped) HTML over the map: legend or title."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .siting-box { position: absolute; z-index: 1000; background: rgba(255,255,255,0.92); padding: 6px 9px;
          border-radius: 5px; box-shadow: 0 1px 5px rgba(0,0,0,0.4); font: 12px/1.35 system-ui, sans-serif; }
        .siting-box h4 { margin: 0 0 3px; font-size: 14px; }
        .siting-box i { display: inline-block; width: 14px; height: 11px; margin-right: 5px;
          vertical-align: middle; border: 1px solid #333; }
        .siting-box i.dot { border-radius: 50%; width: 11px; }
        .siting-box th, .siting-popup th { text-align: left; }
        .siting-popup table { border-collapse: collapse; } .siting-popup th {
          font-weight: 600; padding: 1px 8px 1px 0; } .siting-popup td { padding: 1px 0; }
        .leaflet-container { background: #eef0ea; }
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div id="{{ this.get_name() }}" class="siting-box {{ this.css_class }}" style="{{ this.position }}">
        {{ this.body }}
        </div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function() {
          var box = document.getElementById("{{ this.get_name() }}");
          var map = document.getElementById("{{ this._parent.get_name() }}");
          if (box && map && box.parentNode !== map) { map.appendChild(box); }
          if (box) { L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box); }
        })();
        {% endmacro %}
        """
    )

    def __init__(self, body: str, *, position: str, css_class: str) -> None:
        super().__init__()
        self._name = "SitingBox"
        self.body = body
        self.position = position
        self.css_class = css_class


def _legend_html(data: _MapData, levels: list[str], density_breaks: np.ndarray | None) -> str:
    def swatch(colour: str, label: str, *, dot: bool = False, extra: str = "") -> str:
        cls = " class='dot'" if dot else ""
        return f"<div><i{cls} style='background:{colour};{extra}'></i>{_esc(label)}</div>"

    parts = ["<h4>Legend</h4>", "<b>Schools: utilization (pupils ÷ seats)</b>"]
    parts += [swatch(c, label, dot=True) for _, c, label in UTILIZATION_CLASSES]
    parts.append("<div style='margin-top:2px'>circle size = seats; thick ring = new school</div>")
    parts.append("<b>Reserved sites</b>")
    parts.append(swatch("#009E73", "chosen (parcel)", extra="border:2px solid #000"))
    parts.append(swatch("#DDDDDD", "not chosen", extra="border:2px dashed #666"))
    parts.append("<b>Catchments</b>")
    parts.append(swatch(OKABE_ITO[0], "one colour per school (hover for its name)"))
    parts.append(swatch("#FFFFFF", "home zone changing school", extra="border:2px solid #000"))
    parts.append(swatch("transparent", "district boundary", extra="border:2px dashed #333;height:0"))
    radii = ", ".join(
        f"{LEVEL_LABELS[lvl].lower()} {data.standards.service_radius_m[lvl]:,.0f} m" for lvl in levels
    )
    parts.append(
        swatch("transparent", f"service radius ({radii})", dot=True, extra="border:1px dashed #0072B2")
    )
    if density_breaks is not None:
        parts.append("<b>Population density (people/km²)</b>")
        edges = [0.0, *density_breaks.tolist()]
        for i, colour in enumerate(DENSITY_COLOURS):
            label = (
                f"{_fmt(edges[i])}–{_fmt(edges[i + 1])}" if i + 1 < len(edges) else f"over {_fmt(edges[i])}"
            )
            parts.append(swatch(colour, label))
    return "".join(parts)


def _title_html(data: _MapData, heading: str | None) -> str:
    t = data.table
    new = t[(t["status"] == "site") & t["opened"]]
    changes = data.changes()
    units = data.units_m
    unserved = 0.0
    for lvl in LEVELS:
        col = f"proposed_{lvl}"
        if col in units.columns and lvl in units.columns:
            unserved += float(_num(units, lvl)[units[col].isna()].sum())
    figures = [
        ("New schools", f"{len(new)} ({_fmt((new['cap_after'] - new['cap_before']).sum())} seats)"),
        ("Seats added in all", _fmt((t["cap_after"] - t["cap_before"]).clip(lower=0).sum())),
        ("Pupils changing school", _fmt(pd.to_numeric(changes["pupils"]).sum() if len(changes) else 0)),
        ("Home zones affected", _fmt(changes["unit_id"].nunique() if len(changes) else 0)),
        ("Seats still unserved", _fmt(unserved)),
    ]
    solution = getattr(data.result, "solution", None)
    status = getattr(solution, "status", None)
    if status is not None:
        gap = getattr(solution, "gap", None)
        gap_text = f", gap {100 * float(gap):.2f} %" if gap is not None and not pd.isna(gap) else ""
        figures.append(("Solution", f"{status}{gap_text}"))
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in figures)
    title = heading or _scenario_name(data)
    return f"<h4>{_esc(title)}</h4><table class='siting-figures'>{rows}</table>"


def _finish(
    m: folium.Map,
    data: _MapData,
    levels: list[str],
    *,
    search_layer: folium.GeoJson | folium.FeatureGroup,
    extra: list[Any],
    heading: str | None = None,
    side: str = "single",
) -> None:
    """Add title, legend, search, full-screen and layer control to ``m``."""
    breaks = next((getattr(x, "_siting_legend", (None, None))[1] for x in extra), None)
    title_pos = "top: 10px; left: 60px; max-width: 340px;" if side != "right" else "top: 10px; left: 60px;"
    _Html(_title_html(data, heading), position=title_pos, css_class="siting-title").add_to(m)
    if side != "left":
        _Html(
            _legend_html(data, levels, breaks),
            position="bottom: 24px; right: 10px; max-height: 60%; overflow-y: auto;",
            css_class="siting-legend",
        ).add_to(m)
    if isinstance(search_layer, folium.GeoJson):
        folium.plugins.Search(
            layer=search_layer,
            search_label="name",
            geom_type="Point",
            placeholder="Search school name",
            collapsed=True,
            position="topleft",
            search_zoom=16,
        ).add_to(m)
    folium.plugins.Fullscreen(position="topleft").add_to(m)
    if not any(isinstance(c, folium.LayerControl) for c in m._children.values()):
        folium.LayerControl(collapsed=side != "single").add_to(m)


# ============================================================================================ basemaps
def _new_map(data: _MapData, *, basemap: str, tianditu_key: str | None) -> folium.Map:
    bounds = _bounds(data.units)
    m = folium.Map(
        location=_centre(bounds), tiles=None, zoom_start=13, prefer_canvas=True, control_scale=True
    )
    _strip_defaults(m)
    _add_basemap(m, basemap, tianditu_key)
    m.fit_bounds(bounds)
    return m


def _strip_defaults(m: folium.Map) -> None:
    """Leave out folium's default assets the maps never use (bootstrap, icon fonts, jQuery)."""
    m.default_js = [(k, v) for k, v in m.default_js if k not in _UNUSED_DEFAULTS]
    m.default_css = [(k, v) for k, v in m.default_css if k not in _UNUSED_DEFAULTS]


def _check_basemap(basemap: str, key: str | None) -> str:
    if basemap not in BASEMAPS:
        raise InputError(f"basemap must be one of {list(BASEMAPS)}, got {basemap!r}.")
    if basemap == "tianditu" and (not key or not re.fullmatch(r"[A-Za-z0-9]{8,64}", key)):
        raise InputError(
            "basemap='tianditu' needs your Tianditu API key: pass tianditu_key='…' (a 32-character "
            "key from https://console.tianditu.gov.cn), or use basemap='osm'. "
            f"Got {'no key' if not key else repr(key)}."
        )
    return basemap


def _add_basemap(m: folium.Map, basemap: str, key: str | None) -> None:
    if basemap == "osm":
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", max_zoom=19).add_to(m)
    elif basemap == "amap":
        folium.TileLayer(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            attr="&copy; AMap 高德地图 (GCJ-02; data shifted to match)",
            name="AMap / Gaode",
            subdomains="1234",
            max_zoom=18,
        ).add_to(m)
    elif basemap == "tianditu":
        for layer, label in (("vec", "Tianditu roads"), ("cva", "Tianditu labels")):
            folium.TileLayer(
                f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
                f"&TILECOL={{x}}&tk={key}",
                attr="&copy; 天地图 Tianditu (CGCS2000)",
                name=label,
                subdomains="01234567",
                max_zoom=18,
                overlay=layer == "cva",
            ).add_to(m)


# ============================================================================================= helpers
def _levels(level: str) -> list[str]:
    if level == "both":
        return list(LEVELS)
    if level in LEVELS:
        return [level]
    raise InputError(f"level must be 'primary', 'junior' or 'both', got {level!r}.")


def _collection(geoms: gpd.GeoSeries, props: Mapping[str, Iterable[Any]]) -> dict[str, Any]:
    """Build a GeoJSON FeatureCollection from geometries and per-feature property lists."""
    columns = {k: list(v) for k, v in props.items()}
    texts = shapely.to_geojson(np.asarray(geoms.to_numpy() if hasattr(geoms, "to_numpy") else geoms))
    features = []
    for i, text in enumerate(texts):
        if text is None:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(text),
                "properties": {k: _json_value(v[i]) for k, v in columns.items()},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _json_value(x: Any) -> Any:
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    return x


def _bounds(gdf: gpd.GeoDataFrame) -> list[list[float]]:
    left, bottom, right, top = gdf.total_bounds
    return [[float(bottom), float(left)], [float(top), float(right)]]


def _centre(bounds: list[list[float]]) -> list[float]:
    return [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]


def _sites_bounds(result: Any, *, shift: bool) -> list[list[float]] | None:
    sites = getattr(result, "sites", None)
    if not isinstance(sites, gpd.GeoDataFrame) or len(sites) == 0 or sites.crs is None:
        return None
    left, bottom, right, top = to_map_crs(sites, shift=shift).total_bounds
    pad_lat, pad_lon = max(top - bottom, 0.01) * 0.3, max(right - left, 0.01) * 0.3
    return [[bottom - pad_lat, left - pad_lon], [top + pad_lat, right + pad_lon]]


def result_slug(result: Any) -> str:
    """Return the scenario's name made safe for a file name (the stem of its map files)."""
    return _slug(_result_name(result))


def _scenario_name(data: _MapData) -> str:
    return _result_name(data.result)


def _result_name(result: Any) -> str:
    scenario = getattr(result, "scenario", None)
    summary = getattr(result, "summary", None)
    from_summary = summary.get("scenario") if isinstance(summary, Mapping) else None
    return str(getattr(scenario, "name", None) or from_summary or "siting run")


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "map"


def _default_path(result: Any, path: str | Path | None, kind: str) -> Path:
    if path is not None:
        return Path(path)
    return Path("maps") / f"{result_slug(result)}-{kind}.html"


def _need_asset(url: str) -> Path:
    if url.startswith("data:"):
        raise InputError("inline data URLs are not expected as script or style sheet sources.")
    file = local_asset(url)
    if file is None:
        raise InputError(
            f"offline map: {url} has no vendored copy in {ASSETS_DIR}. Remove the element that loads it, "
            "vendor the file there (with its licence), or save with offline=False."
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


def _esc(x: Any) -> str:
    """Escape any value from data for HTML (None/NaN → empty)."""
    return "" if not _present(x) else html.escape(str(x), quote=True)


def _present(x: Any) -> bool:
    if x is None:
        return False
    try:
        return not bool(pd.isna(x))
    except (TypeError, ValueError):
        return True


def _fmt(x: Any, decimals: int = 0) -> str:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(value) else f"{value:,.{decimals}f}"


def _pct(x: Any) -> str:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(value) else f"{100 * value:.0f} %"


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b and math.isfinite(float(b)) and float(b) != 0 else math.nan


def _wmean(frame: pd.DataFrame, col: str) -> float:
    if len(frame) == 0 or col not in frame.columns:
        return math.nan
    w = pd.to_numeric(frame["pupils"], errors="coerce").to_numpy(dtype=float)
    v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(w) & np.isfinite(v) & (w > 0)
    return float(np.average(v[ok], weights=w[ok])) if ok.any() else math.nan


def _util_colour(u: float) -> str:
    if u is None or not math.isfinite(float(u)):
        return "#999999"
    u = float(u)
    first, *rest = UTILIZATION_CLASSES
    if u < first[0]:
        return first[1]
    # inclusive upper bounds, with room for float noise in pupils / seats (e.g. 0.9999999 or 1.0000001)
    return next(colour for bound, colour, _ in rest if u <= bound + 1e-6)


def _round_list(series: pd.Series) -> list[float | None]:
    return [None if not math.isfinite(v) else round(v) for v in series.to_numpy(dtype=float)]


def _round_sig(x: float, digits: int = 2) -> float:
    if x <= 0 or not math.isfinite(x):
        return 0.0
    return float(round(x, digits - 1 - math.floor(math.log10(x))))
