"""The year-by-year plan on the map: one layer per plan year, and each new school's opening year.

:func:`add_year_layers` adds, for a run with a plan (``result.plan_tables``), one overlay per plan year in
the layer control ("Plan 2027: schools open, overflow"; only the design year's is shown at first): the
schools opened or expanded by that year (green: opening that year, blue: earlier), each popup with its
size, opening year, building start and cost; the existing schools with pupils above standard
capacity that year (red, area by pupils); and the home zones whose school that year differs from the
design year's (dashed outline, the tooltip names both schools): the catchments of that year where they
differ from the ones under review. :func:`opening_year_text` gives the popup line of a school.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import branca.element
import folium
import geopandas as gpd
import pandas as pd
from folium.template import Template

from siting.maps._format import LEVEL_LABELS, _esc, _fmt
from siting.maps.data import _MapData
from siting.standards import LEVELS

_OPENS_NOW = "#1a9850"
_OPEN_BEFORE = "#2c7bb6"
_OVERFLOW = "#d7301f"
_DIFFERS = "#762a83"


def _plan_table(data: _MapData, name: str) -> pd.DataFrame | None:
    tables = getattr(data.result, "plan_tables", None) or {}
    table = tables.get(name)
    return table if table is not None and len(table) else None


def opening_year_text(data: _MapData, sid: str) -> str | None:
    """Return ``"opens 2027 (building from 2026)"`` for a school in the plan's schedule, else None."""
    schedule = _plan_table(data, "schedule")
    if schedule is None:
        return None
    rows = schedule[schedule["school_id"].astype(str) == str(sid)]
    if not len(rows):
        return None
    r = rows.iloc[0]
    start = int(r["build_start_year"])
    opens = int(r["opening_year"])
    return f"opens {opens}" + (f" (building from {start})" if start != opens else "")


def plan_legend(data: _MapData, swatch: Callable[..., str]) -> list[str]:
    """The legend's lines for the plan-year layers (none without a plan); ``swatch`` draws one line."""
    if _plan_table(data, "schedule") is None:
        return []
    return [
        "<b>Plan year layers</b>",
        swatch(_OPENS_NOW, "opens that year", dot=True),
        swatch(_OPEN_BEFORE, "opened in an earlier year", dot=True),
        swatch(_OVERFLOW, "pupils above standard capacity that year", dot=True),
        swatch(
            "transparent", "home zone at another school that year", extra=f"border:1.5px dashed {_DIFFERS}"
        ),
    ]


def add_year_layers(m: folium.Map, data: _MapData) -> list[folium.FeatureGroup]:
    """Add one overlay per plan year to ``m`` (none without a plan); return them.

    Parameters
    ----------
    m
        The map.
    data
        The map's data (its ``result`` carries ``plan_tables`` and the scenario).

    Returns
    -------
    list of folium.FeatureGroup
        The layers added, in year order.
    """
    schedule = _plan_table(data, "schedule")
    if schedule is None:
        return []
    overflow = _plan_table(data, "overflow_by_year")
    scenario = getattr(data.result, "scenario", None)
    years = sorted(
        set(scenario.plan_years()) if scenario is not None and scenario.plan is not None else set()
    ) or sorted(set(overflow["year"]) if overflow is not None else set(schedule["opening_year"]))
    design = scenario.plan_design_year() if scenario is not None else years[-1]
    differ = _schools_by_year(_plan_table(data, "assignment_by_year"), design)
    layers = []
    for year in years:
        group = folium.FeatureGroup(name=f"Plan {year}: schools open, overflow", show=year == design)
        zones = _differing_zones(data, differ, year, design)
        if zones is not None:
            zones.add_to(group)
        for _, row in schedule[schedule["opening_year"] <= year].iterrows():
            _opened_marker(data, row, year).add_to(group)
        if overflow is not None:
            for marker in _overflow_markers(data, overflow[overflow["year"] == year], year):
                marker.add_to(group)
        group.add_to(m)
        layers.append(group)
    return layers


def _schools_by_year(assignment: pd.DataFrame | None, design: int) -> pd.DataFrame | None:
    """Each unit-level's school per plan year (columns: years) beside the design year's, or None."""
    if assignment is None or design not in set(assignment["year"]):
        return None
    a = assignment.assign(
        unit_id=assignment["unit_id"].astype(str), school_id=assignment["school_id"].astype(str)
    )
    a = a.sort_values("pupils", ascending=False)  # split units (split mode): the school of most pupils
    return a.drop_duplicates(["unit_id", "level", "year"]).pivot(
        index=["unit_id", "level"], columns="year", values="school_id"
    )


def _differing_zones(
    data: _MapData, schools: pd.DataFrame | None, year: int, design: int
) -> folium.GeoJson | None:
    """Home zones whose school in ``year`` is not their design-year school (any level), or None."""
    if schools is None or year == design or year not in schools.columns:
        return None
    now, then = schools[year], schools[design]
    moved = now.notna() & then.notna() & (now != then)
    if not moved.any():
        return None
    names = data.schools["name"] if "name" in data.schools.columns else pd.Series(dtype=object)
    label = {str(k): str(v) for k, v in names.items()}
    lines: dict[str, list[str]] = {}
    for (uid, level), a, b in zip(moved[moved].index, now[moved], then[moved], strict=True):
        lines.setdefault(uid, []).append(
            f"{LEVEL_LABELS[level]}: {label.get(a, a)} in {year} ({label.get(b, b)} in {design})"
        )
    units = data.units
    units = units[units.index.astype(str).isin(list(lines))]
    if not len(units):
        return None
    tips = [_esc("; ".join(lines[str(u)])) for u in units.index]
    return folium.GeoJson(
        gpd.GeoDataFrame({"t": tips}, geometry=units.geometry.to_numpy(), crs=units.crs),
        name=f"home zones at another school in {year} than in {design}",
        style_function=lambda _: {"color": _DIFFERS, "weight": 1.2, "dashArray": "4 3", "fillOpacity": 0.05},
        tooltip=folium.GeoJsonTooltip(fields=["t"], labels=False),
        control=False,
    )


def _point(data: _MapData, sid: Any) -> tuple[float, float] | None:
    if sid not in data.schools.index:
        return None
    geom = data.schools.geometry.loc[sid]
    pt = geom if geom.geom_type == "Point" else geom.representative_point()
    return float(pt.y), float(pt.x)


class _Popup(branca.element.MacroElement):
    """A popup bound to its parent layer from an HTML string.

    ``folium.Popup`` needs jQuery, which the maps do not ship: with it, the page stopped at the first
    marker with "$ is not defined" and drew no layer control.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.bindPopup({{ this.html|tojson }}, {"maxWidth": {{ this.width }}});
        {% endmacro %}
        """
    )

    def __init__(self, html: str, width: int = 320) -> None:
        super().__init__()
        self._name = "SitingPopup"
        self.html = html
        self.width = width


def _opened_marker(data: _MapData, row: pd.Series, year: int) -> folium.CircleMarker:
    """A school opened or expanded by ``year``: its size, opening year, building start and cost."""
    sid = row["school_id"]
    where = _point(data, sid) or (math.nan, math.nan)
    now = int(row["opening_year"]) == year
    seats = ", ".join(
        f"{LEVEL_LABELS[lv]} +{_fmt(row[f'capacity_{lv}'])} seats"
        for lv in LEVELS
        if float(row.get(f"capacity_{lv}", 0) or 0) > 0
    )
    kind = "expansion" if row.get("status") == "existing" else "new school"
    lines = [
        ("Plan", f"{kind} {row['option']}: {seats}"),
        ("Opening year", opening_year_text(data, sid) or ""),
        ("Cost", f"{_fmt(float(row['cost_yuan']) / 1e4)} 万元"),
    ]
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in lines)
    name = row.get("name", sid)
    html = f"<div class='siting-popup'><b>{_esc(name)}</b><table>{body}</table></div>"
    colour = _OPENS_NOW if now else _OPEN_BEFORE
    marker = folium.CircleMarker(
        where,
        radius=9 if row.get("status") != "existing" else 6,
        color=colour,
        fill=True,
        fill_opacity=0.8,
        weight=2,
        tooltip=f"{_esc(name)} — {opening_year_text(data, sid) or ''}",
    )
    _Popup(html).add_to(marker)
    return marker


def _overflow_markers(data: _MapData, rows: pd.DataFrame, year: int) -> list[folium.CircleMarker]:
    """Existing schools with pupils above their standard capacity in ``year`` (area by pupils)."""
    out = []
    over = rows[rows["overflow"] > 0.5].groupby("school_id")["overflow"].sum()
    for sid, pupils in over.items():
        where = _point(data, sid)
        if where is None:
            continue
        name = data.schools["name"].get(sid, sid) if "name" in data.schools.columns else sid
        text = f"{_esc(name)}: {_fmt(pupils)} pupils above standard capacity in {year}"
        out.append(
            folium.CircleMarker(
                where,
                radius=max(3.0, min(18.0, math.sqrt(float(pupils)) / 2)),
                color=_OVERFLOW,
                fill=True,
                fill_opacity=0.4,
                weight=1,
                tooltip=text,
            )
        )
    return out
