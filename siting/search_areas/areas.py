"""Search areas, steps 1 to 3 of :mod:`siting.search_areas`: pupils behind the overflow, clusters, rows."""

from __future__ import annotations

import math
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist

from siting._crs import same_crs
from siting._log import get_logger
from siting.catchments import assigned_schools, require_columns, walk_distances
from siting.errors import InputError
from siting.search_areas._checks import EPS as _EPS
from siting.search_areas._checks import check_overflow as _check_overflow
from siting.search_areas._checks import check_units as _check_units
from siting.search_areas._modules import module_options as _module_options
from siting.search_areas._modules import school_for as _school_for
from siting.search_areas.parcels import parcel_text as _parcel_text
from siting.search_areas.parcels import search_area_parcels
from siting.standards import LEVELS, Standards

log = get_logger(__name__)


log = get_logger(__name__)

_AREA_DTYPES: dict[str, str] = {
    "area_id": "str",
    "level": "str",
    "pupils": "float64",
    "n_units": "int64",
    "need": "str",
    "suggested_classes": "int64",
    "suggested_seats": "int64",
    "n_schools": "int64",
    "land_needed_m2": "float64",
    "district": "object",
    "centre_x": "float64",
    "centre_y": "float64",
    "from_schools": "str",
    "nearby_parcels": "str",
}
AREA_COLUMNS: tuple[str, ...] = tuple(_AREA_DTYPES)
"""Columns of :func:`search_areas` (plus ``geometry``). ``need``: ``"new school"`` (classes, seats and land
are per new school) or ``"classes"`` (that many classes in all, at or near ``from_schools``)."""

AREA_UNIT_COLUMNS: tuple[str, ...] = ("unit_id", "level", "school_id", "area_id", "pupils", "distance_m")
"""Columns of :func:`search_area_units`: the pupils each unit gives an area and the school they overflow."""

GAP_CLOSE_M = 5.0
"""Half the width (m) of the gaps between units closed when their polygons are dissolved."""


# --------------------------------------------------------------------------------------------- public
def search_areas(
    units: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    overflow: pd.DataFrame,
    *,
    costs: pd.DataFrame,
    standards: Standards,
    sites: gpd.GeoDataFrame | None = None,
    options: pd.DataFrame | None = None,
    central_districts: Iterable[str] = (),
) -> gpd.GeoDataFrame:
    """Return the search areas for new school land behind the overflow left after the plan.

    Parameters
    ----------
    units
        Demand units indexed by ``unit_id``: polygons in a projected CRS (metres), ``primary``, ``junior``
        (seats), ``pop_x``, ``pop_y`` (m), ``proposed_primary``, ``proposed_junior`` (``school_id``),
        optional ``district`` and ``central`` (bool).
    schools
        Schools after the plan, indexed by ``school_id`` (points, same CRS), with ``opened`` (bool) when
        ``sites`` is given.
    overflow
        ``school_id, level, overflow`` (pupils above standard capacity; the model's ``overflow`` table).
    costs
        Walking distances ``unit_id, school_id, distance_m`` (m).
    standards
        Class sizes, class modules, caps, service radii (m) and land per pupil (m²).
    sites
        Reserved parcels (polygons) indexed by ``school_id`` with ``level`` (the school kind the land is
        reserved for), optional ``area_m2`` (default: the polygon's area), ``central`` and
        ``available_from``. ``None``: no parcels are listed.
    options
        Size options of the parcels (:func:`siting.facilities.size_options`); default: from ``sites``.
    central_districts
        Districts where the central land-per-pupil standard applies (units with ``central`` True also
        count). An area is central when most of its pupils live in central units.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`AREA_COLUMNS` and ``geometry`` (CRS of ``units``), one row per area, by level then
        ``area_id``. ``pupils`` is the overflow attributed to the area; ``suggested_classes``,
        ``suggested_seats`` and ``land_needed_m2`` (m²) describe each of the ``n_schools`` new schools;
        ``nearby_parcels`` lists ``school_id: reason`` entries separated by ``" | "``.

    Raises
    ------
    InputError
        For a missing column, a layer without CRS or in degrees, an unknown school or level, a negative
        overflow: the message names the argument, the value and the fix.
    """
    table = search_area_units(units, schools, overflow, costs=costs, standards=standards)
    central = _central_units(units, central_districts)
    modules = {
        (level, flag): _module_options(level, standards, central=flag)
        for level in table["level"].unique()
        for flag in (False, True)
    }
    rows = []
    for area_id, grp in table.groupby("area_id", sort=False):
        rows.append(_area_row(units, grp, str(area_id), modules, central, standards))
    frame = pd.DataFrame(rows, columns=[*AREA_COLUMNS, "geometry"])
    areas = gpd.GeoDataFrame(frame, geometry="geometry", crs=units.crs)
    areas = areas.astype(_AREA_DTYPES)
    if sites is None or len(sites) == 0 or areas.empty:
        areas["nearby_parcels"] = ""
        return areas
    parcels = search_area_parcels(areas, schools, sites, standards=standards, options=options)
    areas["nearby_parcels"] = [_parcel_text(parcels, a, standards) for a in areas.itertuples()]
    return areas


def search_area_units(
    units: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    overflow: pd.DataFrame,
    *,
    costs: pd.DataFrame,
    standards: Standards,
) -> pd.DataFrame:
    """Return the units behind the overflow and the search area each belongs to (steps 1 and 2).

    Parameters
    ----------
    units, schools, overflow, costs, standards
        As for :func:`search_areas`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AREA_UNIT_COLUMNS`: per level, each unit whose pupils are behind a school's
        overflow, the pupils it gives (their sum per school and level is that school's overflow), the
        school and the walk (m) to it, sorted by level, ``area_id`` and ``unit_id``.
    """
    _check_units(units)
    need = _check_overflow(overflow, schools)
    if not need.empty:
        same_crs(schools.crs, units.crs, name_a="schools", name_b="units")
    require_columns(costs, ["unit_id", "school_id", "distance_m"], name="costs", fix="Pass RunResult.costs.")
    frames = []
    for level in LEVELS:
        level_need = need[need["level"] == level].set_index("school_id")["overflow"]
        if level_need.empty:
            continue
        behind = _pupils_behind(units, schools, level_need, costs=costs, level=level)
        cut = math.sqrt(3.0) * float(standards.service_radius_m[level])  # a cluster fits in one radius
        labels = _cluster(behind[["pop_x", "pop_y"]].to_numpy(dtype=float), cut)
        behind["area_id"] = _area_ids(behind["pupils"].to_numpy(dtype=float), labels, level)
        frames.append(behind.sort_values(["area_id", "unit_id"])[list(AREA_UNIT_COLUMNS)])
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in AREA_UNIT_COLUMNS})
    return pd.concat(frames, ignore_index=True)  # levels in LEVELS order


# --------------------------------------------------------------------------------------------- step 1
def _pupils_behind(
    units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, need: pd.Series, *, costs: pd.DataFrame, level: str
) -> pd.DataFrame:
    """Return, per school in ``need``, its farthest assigned units until their pupils cover its overflow."""
    school = assigned_schools(units, level=level).to_numpy(dtype=object)
    pupils = units[level].to_numpy(dtype=float)
    take = pd.Series(school).isin(need.index).to_numpy() & (pupils > 0)
    table = pd.DataFrame(
        {
            "unit_id": units.index.to_numpy()[take],
            "level": level,
            "school_id": school[take],
            "demand": pupils[take],
            "pop_x": units["pop_x"].to_numpy(dtype=float)[take],
            "pop_y": units["pop_y"].to_numpy(dtype=float)[take],
        }
    )
    table["distance_m"] = walk_distances(table["unit_id"], table["school_id"], costs)
    missing = np.isnan(table["distance_m"].to_numpy())
    if missing.any():
        log.info("%d %s unit-school pair(s) not in costs: straight lines used", int(missing.sum()), level)
        points = gpd.GeoSeries.from_xy(table["pop_x"][missing], table["pop_y"][missing], crs=units.crs)
        school_points = schools.geometry.rename(index=str).reindex(table["school_id"][missing])
        table.loc[missing, "distance_m"] = points.distance(school_points.set_axis(points.index)).to_numpy()
    table = table.sort_values(["school_id", "distance_m", "unit_id"], ascending=[True, False, True])
    before = table.groupby("school_id")["demand"].cumsum() - table["demand"]
    wanted = table["school_id"].map(need)
    table["pupils"] = np.minimum(table["demand"], (wanted - before).clip(lower=0.0))
    short = need - table.groupby("school_id")["demand"].sum().reindex(need.index).fillna(0.0)
    for sid in short.index[short > 1e-6]:
        args = (level, sid, need[sid], need[sid] - short[sid])
        log.warning("%s school %s: overflow %.1f is above its %.1f assigned pupils; all are kept", *args)
    table = table[table["pupils"] > _EPS]
    return table.sort_values("unit_id", ignore_index=True)


# --------------------------------------------------------------------------------------------- step 2
def _cluster(xy: np.ndarray, cut: float) -> np.ndarray:
    """Return complete-linkage cluster labels of the points ``xy`` (m), cut at ``cut`` metres."""
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(xy).query_pairs(cut, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, piece = connected_components(graph, directed=False)
    labels = np.empty(n, dtype=np.int64)
    order = np.argsort(piece, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(piece[order]) != 0])
    offset = 0
    for members in np.split(order, starts[1:]):
        if len(members) == 1:
            sub = np.zeros(1, dtype=np.int64)
        else:
            tree = linkage(pdist(xy[members]), method="complete")
            sub = fcluster(tree, t=cut, criterion="distance").astype(np.int64) - 1
        labels[members] = sub + offset
        offset += int(sub.max()) + 1
    return labels


def _area_ids(pupils: np.ndarray, labels: np.ndarray, level: str) -> np.ndarray:
    """Return ``<level>-NN`` per point, numbered by the cluster's pupils (most first, then first unit)."""
    totals = pd.Series(pupils).groupby(labels).sum()
    first = pd.Series(np.arange(len(labels))).groupby(labels).min()
    ranked = pd.DataFrame({"pupils": -totals.round(6), "first": first}).sort_values(["pupils", "first"])
    width = max(2, len(str(len(ranked))))
    names = {label: f"{level}-{k + 1:0{width}d}" for k, label in enumerate(ranked.index)}
    return np.array([names[label] for label in labels], dtype=object)


# --------------------------------------------------------------------------------------------- step 3
def _central_units(units: gpd.GeoDataFrame, central_districts: Iterable[str]) -> pd.Series:
    """Return a bool per unit: the central land standard applies (``central`` or a central district)."""
    names = {str(d) for d in central_districts}
    central = pd.Series(False, index=units.index)
    if "central" in units.columns:
        central |= units["central"].fillna(False).astype(bool)
    if names and "district" not in units.columns:
        raise InputError("central_districts given but units have no 'district' column; add it or drop them.")
    if names:
        central |= units["district"].astype("string").isin(names).fillna(False).astype(bool)
    return central


def _area_row(
    units: gpd.GeoDataFrame,
    grp: pd.DataFrame,
    area_id: str,
    modules: dict[tuple[str, bool], pd.DataFrame],
    central: pd.Series,
    standards: Standards,
) -> dict[str, object]:
    """Return one search area: polygon, pupils, centre, district, what it needs and whose overflow it is."""
    level = str(grp["level"].iloc[0])
    ids = grp["unit_id"].to_numpy()
    weights = grp["pupils"].to_numpy(dtype=float)
    pupils = float(weights.sum())
    is_central = float(weights[central.reindex(ids).to_numpy(dtype=bool)].sum()) > 0.5 * pupils
    need, classes, seats, n_schools, land = _school_for(
        pupils,
        level,
        modules[(level, is_central)],
        class_size=int(standards.class_size[level]),
        floor=float(standards.utilisation_floor),
    )
    behind = grp.groupby("school_id")["pupils"].sum().sort_values(ascending=False, kind="stable")
    from_schools = ", ".join(f"{sid} ({p:,.0f})" for sid, p in behind.items())
    district = pd.NA
    if "district" in units.columns:
        by_district = pd.Series(weights).groupby(units["district"].reindex(ids).to_numpy(), sort=True).sum()
        district = by_district.idxmax() if len(by_district) else pd.NA
    return {
        "area_id": area_id,
        "level": level,
        "pupils": pupils,
        "n_units": len(ids),
        "need": need,
        "suggested_classes": classes,
        "suggested_seats": seats,
        "n_schools": n_schools,
        "land_needed_m2": land,
        "district": district,
        "centre_x": float(np.average(units["pop_x"].reindex(ids), weights=weights)),
        "centre_y": float(np.average(units["pop_y"].reindex(ids), weights=weights)),
        "from_schools": from_schools,
        "nearby_parcels": "",
        "geometry": _dissolve(units.geometry.reindex(ids).to_numpy()),
    }


def _dissolve(geoms: np.ndarray) -> shapely.Geometry:
    """Return the union of unit polygons with gaps up to ``2 × GAP_CLOSE_M`` wide closed."""
    geoms = shapely.make_valid(np.asarray(geoms, dtype=object))
    union = shapely.union_all(geoms)
    closed = shapely.buffer(
        shapely.buffer(union, GAP_CLOSE_M, join_style="mitre"), -GAP_CLOSE_M, join_style="mitre"
    )
    return closed if not closed.is_empty else union
