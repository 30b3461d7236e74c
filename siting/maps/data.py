"""What a map draws, read from a run result: layers in EPSG:4326, the per-school table and walks.

Only the attributes of ``pipeline.RunResult`` listed in ``docs/architecture.md`` "Run result" are read, by
name; this module is where they are converted to EPSG:4326 (shifted to GCJ-02 for AMap tiles).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.catchments import seated_pupils
from siting.errors import InputError
from siting.maps._format import _esc, _num
from siting.maps._gcj02 import shift_geometries
from siting.standards import LEVELS, Standards

_DECIMALS = 6  # 1e-6 degree is about 0.1 m


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
        """The map data of ``result``; a city-scale view (:mod:`siting.maps.split`) coarsens it."""
        data = cls(result, shift=shift)
        coarsen = getattr(result, "map_coarsen", None)
        return coarsen(data) if callable(coarsen) else data

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
        _add_overflow(t, getattr(result, "overflow", None), lvl)
    for when in ("before", "after"):
        cap = sum(t[f"cap_{when}_{lvl}"] for lvl in LEVELS)
        pupils = sum(t[f"pupils_{when}_{lvl}"] for lvl in LEVELS)
        t[f"cap_{when}"] = cap
        t[f"pupils_{when}"] = pupils
        t[f"util_{when}"] = (pupils / cap.where(cap > 0)).astype(float)
        t[f"over_{when}"] = sum(t[f"over_{when}_{lvl}"].fillna(0.0) for lvl in LEVELS)
    return t


_OVERFLOW_READ = {  # map table column stem -> overflow table column (result.overflow, overflow.csv)
    "over_before": "overflow_before",
    "over_after": "overflow_after",
    "above_after": "classes_above_standard_after",
    "super_after": "super_large_classes_after",
}


def _add_overflow(t: pd.DataFrame, overflow: Any, level: str) -> None:
    """Add one level's pupils above standard capacity before and after, classes above standard, ``why``.

    Read from the run's overflow table; a result without one (an older run) gets NaN and no ``why``.
    """
    columns = {"school_id", "level", *_OVERFLOW_READ.values(), "why"}
    if isinstance(overflow, pd.DataFrame) and columns <= set(overflow.columns):
        rows = overflow[overflow["level"] == level]
        rows = rows.set_axis(rows["school_id"].astype(str))
        rows = rows[~rows.index.duplicated()]
    else:
        rows = pd.DataFrame(columns=sorted(columns))
    for stem, column in _OVERFLOW_READ.items():
        t[f"{stem}_{level}"] = pd.to_numeric(rows[column], errors="coerce").reindex(t.index).astype(float)
    why = rows["why"].astype(object).where(rows["why"].notna(), "").reindex(t.index)
    t[f"why_{level}"] = why.fillna("").astype(str)


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
