"""The map's GeoJSON layers: density, catchments, districts, sites, changes, service radii and schools.

Each layer is a :class:`_Layer` styled in the browser from per-feature properties; texts from data are
escaped before they are put in a property.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import branca.element
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.template import Template
from folium.utilities import JsCode

from siting.maps._format import (
    DENSITY_COLOURS,
    LEVEL_LABELS,
    OKABE_ITO,
    OVERFLOW_RING,
    SEARCH_AREA_STYLE,
    _esc,
    _fmt,
    _num,
    _pct,
    _present,
    _round_list,
    _round_sig,
    _util_colour,
)
from siting.maps.data import _MapData
from siting.maps.popups import _popup, _school_popup, _site_popup, _size_label
from siting.standards import LEVELS, LEVELS_SERVED


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
        {{ this.get_name() }}.addData({{ this.data_json() }});
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

    def data_json(self) -> str:
        """The features as JSON for a ``<script>``: UTF-8 text, only ``</`` and ``<!--`` escaped.

        Jinja's ``tojson`` escapes every ``<``, ``>``, ``&`` and ``'`` and every non-ASCII character as
        six bytes; popups are HTML in Chinese and English, so that made a city's map about a third larger.
        Inside a script only a closing tag or a comment opener can break out, so only those are escaped
        (texts from data are already HTML-escaped in Python, :func:`siting.maps._format._esc`).
        """
        text = json.dumps(self.data, ensure_ascii=False, separators=(", ", ":"))
        text = text.replace("</", "<\\/").replace("<!--", "<\\!--")
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


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


def _search_area_layer(data: _MapData, *, show: bool = True) -> folium.GeoJson | folium.FeatureGroup:
    """Search areas (``result.search_areas``): where pupils are above standard capacity after the plan."""
    name = "Search areas: new school land or more classes"
    gdf = data.frame("search_areas")
    if gdf is None:
        return folium.FeatureGroup(name=f"{name} (none)", show=False)
    popups = [_search_area_popup(row) for row in gdf.itertuples()]
    tips = [
        f"{_esc(r.area_id)}: {_fmt(r.pupils)} {LEVEL_LABELS.get(str(r.level), str(r.level)).lower()} pupils "
        "above standard capacity — "
        + (
            "more classes at or near their schools"
            if getattr(r, "need", "") == "classes"
            else "search area for new school land"
        )
        for r in gdf.itertuples()
    ]
    return _Layer(
        _collection(gdf.geometry, {"tip": tips, "popup": popups}),
        name=name,
        show=show,
        base_style=SEARCH_AREA_STYLE,
        on_each_feature=_HTML_POPUP_JS,
    )


def _search_area_popup(row: Any) -> str:
    """Popup of one search area: pupils, what they need (a new school and its land, or classes), parcels."""
    level = LEVEL_LABELS.get(str(row.level), str(row.level)).lower()
    n = int(row.n_schools) if pd.notna(row.n_schools) else 0
    size = f"{_fmt(row.suggested_classes)} classes, {_fmt(row.suggested_seats)} seats"
    behind = str(getattr(row, "from_schools", "") or "")
    if str(getattr(row, "need", "new school")) == "classes":
        suggested = [
            ("Suggested", f"{size} at or near the schools it overflows (too few pupils for a new school)"),
            ("Overflowing schools", behind or "–"),
        ]
    else:
        schools = f"{n} new {level} school{'s' if n != 1 else ''} of {size}" + (" each" if n > 1 else "")
        land = f"{_fmt(row.land_needed_m2)} m² ({_fmt(row.land_needed_m2 / 1e4, 2)} ha) per school"
        suggested = [("Suggested", schools), ("Land needed", land)]
        suggested += [("Overflowing schools", behind)] if behind else []
    rows = [
        (
            "Pupils above standard capacity",
            f"{_fmt(row.pupils)} {level} pupils, {_fmt(row.n_units)} home zones",
        ),
        *suggested,
        ("District", str(row.district) if _present(row.district) else "–"),
    ]
    parcels = [p.strip() for p in str(row.nearby_parcels or "").split(" | ") if p.strip()]
    rows += [("Reserved parcel nearby", p) for p in parcels] or [("Reserved parcels nearby", "none")]
    return _popup(f"Search area {row.area_id}", rows)


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
    over = sub[f"over_{when}"].fillna(0.0) > 0.5
    props = {
        "name": [_esc(n) for n in sub["name"]],
        "r": [round(4.0 + 10.0 * math.sqrt(max(c, 0.0) / 2500.0), 1) for c in cap],
        "col": [_util_colour(u) for u in util],
        "oc": [OVERFLOW_RING["color"] if o else None for o in over],
        "ow": [OVERFLOW_RING["weight"] if o else None for o in over],
        "tip": [
            _esc(r["name"])
            + (f" — {_size_label(r)}" if new else f" — {_pct(r[f'util_{when}'])} full")
            + (f", {_fmt(r[f'over_{when}'])} above standard capacity" if o else "")
            for (_, r), o in zip(sub.iterrows(), over, strict=True)
        ],
        "popup": [_school_popup(data, sid, after=after) for sid in ids],
    }
    weight = 3.5 if new else 1.2
    return _Layer(
        _collection(pts.geometry, props),
        name=name,
        base_style={"color": "#000000", "weight": weight, "fill": True, "fillOpacity": 0.9},
        props_to_style={"r": "radius", "col": "fillColor", "oc": "color", "ow": "weight"},
        point="circle_marker",
        on_each_feature=_HTML_POPUP_JS,
    )


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
