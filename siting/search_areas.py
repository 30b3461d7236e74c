"""Search areas for new school land: where the city must reserve land after the plan.

Schools still over their standard capacity (classes × standard class size) after the plan have *overflow*.
The demand behind it is grouped into search areas one new school could serve within the service radius,
with the school and land the standard asks for, and the reserved parcels nearby with the reason, in
numbers, why none of them already answers the need. Per level (``"primary"``, ``"junior"``):

1. **Pupils behind the overflow.** For each school with overflow ``O > 0``, its assigned units are taken
   farthest walk first (``costs.distance_m``, else the straight line to the school), ties by ``unit_id``,
   until their demand (``units[level]``, all of it at its one school) covers ``O``; the last unit gives only
   the part still needed. These are the pupils a new school nearer to them would take first.
2. **Clusters.** Complete linkage (:func:`scipy.cluster.hierarchy.linkage`) on the population points
   (``pop_x``, ``pop_y``), cut at ``√3 × R`` (``R`` = ``standards.service_radius_m[level]``). The cut bounds
   a cluster's diameter, and by Jung's theorem a planar set of diameter ``D`` lies in a circle of radius
   ``D / √3``: every cluster has a point within ``R`` (straight line; walks are longer) of all its units.
   A ``2R`` cut does not guarantee that (its clusters can need ``1.15 R``). Linkage runs on each connected
   piece of the "closer than the cut" graph alone (a complete-linkage cluster never spans two pieces, so
   the answer is the same, with memory for the largest piece rather than all units squared). Units are
   sorted by ``unit_id`` and nothing is random: the answer does not depend on row order.
3. **One row per cluster.** Polygon = union of the units' polygons, gaps up to ``2 × GAP_CLOSE_M`` closed
   (mitred buffer out and in, so grid corners stay square). ``n_schools`` new schools of the largest class
   module within the new-school cap hold the pupils; each gets the smallest module holding its equal share,
   and ``land_needed_m2`` is that module's land (:func:`siting.facilities.land_needed`; the central standard
   when most pupils live in central units). Modules and the cap come from
   :func:`siting.facilities.size_options` for a parcel of unlimited area. ``centre_x/_y``: pupil-weighted
   centre of the population points; ``district``: the district of most of the pupils.
4. **Reserved parcels nearby.** Each parcel in ``sites`` within ``R`` of the area's polygon that the plan
   did not open, with its reasons: not reserved for this level, beyond the service radius from the centre,
   too small for the smallest module of its kind (``size_options`` gives it no option), else "not opened:
   budget/number of new schools" (the plan could have opened it). See :func:`search_area_parcels`.

Areas are numbered ``<level>-01``, ``<level>-02``, … by pupils, most first. Inputs: ``docs/architecture.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist

from siting._crs import same_crs
from siting._log import get_logger
from siting.catchments import assigned_schools, require_columns, walk_distances
from siting.errors import CRSError, InputError, describe
from siting.facilities import land_needed, size_options
from siting.standards import LEVELS, LEVELS_SERVED, SCHOOL_KINDS, Standards

log = get_logger(__name__)

_AREA_DTYPES: dict[str, str] = {
    "area_id": "str",
    "level": "str",
    "pupils": "float64",
    "n_units": "int64",
    "suggested_classes": "int64",
    "suggested_seats": "int64",
    "n_schools": "int64",
    "land_needed_m2": "float64",
    "district": "object",
    "centre_x": "float64",
    "centre_y": "float64",
    "nearby_parcels": "str",
}
AREA_COLUMNS: tuple[str, ...] = tuple(_AREA_DTYPES)
"""Columns of :func:`search_areas` (plus ``geometry``). Classes, seats and land are per new school."""

AREA_UNIT_COLUMNS: tuple[str, ...] = ("unit_id", "level", "school_id", "area_id", "pupils", "distance_m")
"""Columns of :func:`search_area_units`: the pupils each unit gives an area and the school they overflow."""

PARCEL_COLUMNS: tuple[str, ...] = (
    "area_id",
    "school_id",
    "kind",
    "area_m2",
    "distance_m",
    "serves_level",
    "smallest_land_m2",
    "max_seats",
    "reason",
)
"""Columns of :func:`search_area_parcels`: one row per area and reserved parcel near it."""

GAP_CLOSE_M = 5.0
"""Half the width (m) of the gaps between units closed when their polygons are dissolved."""
_EPS = 1e-9


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
        rows.append(_area_row(units, grp, str(area_id), modules, central))
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


def search_area_parcels(
    areas: gpd.GeoDataFrame,
    schools: pd.DataFrame,
    sites: gpd.GeoDataFrame,
    *,
    standards: Standards,
    options: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the reserved parcels near each search area that the plan did not open, with the reasons.

    Parameters
    ----------
    areas
        Output of :func:`search_areas` (``area_id, level, suggested_classes, suggested_seats, centre_x,
        centre_y``, polygons).
    schools
        Schools after the plan (``opened`` says which parcels the plan opened).
    sites
        Reserved parcels, as for :func:`search_areas`.
    standards
        Service radii (m), class modules, caps and land per pupil.
    options
        Size options (:func:`siting.facilities.size_options`); default: computed from ``sites``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PARCEL_COLUMNS`: ``distance_m`` from the area's centre to the parcel (0 inside it),
        ``serves_level`` whether the parcel's kind serves the area's level, ``smallest_land_m2`` the land
        of the smallest module of its kind, ``max_seats`` the most seats at the area's level its options
        give (0: none), and ``reason`` in words and numbers. Sorted by ``area_id`` then distance.
    """
    parcels = _check_sites(sites, areas.crs, schools)
    if options is None:  # the sizes the model was offered for each parcel
        options = size_options(
            pd.DataFrame(parcels.drop(columns="geometry")), standards, allow_expansion=False
        )
    require_columns(
        options, ["school_id", "capacity_primary", "capacity_junior"], name="options", fix=_OPT_FIX
    )
    closed = parcels[~parcels["opened"]]
    smallest = {
        (kind, flag): _module_options(kind, standards, central=flag).iloc[0]
        for kind, flag in zip(closed["level"], closed["central"], strict=True)
    }
    rows = []
    for area in areas.itertuples():
        radius = float(standards.service_radius_m[area.level])
        near = closed.sindex.query(area.geometry, predicate="dwithin", distance=radius)
        centre = shapely.Point(area.centre_x, area.centre_y)
        for pos in near:
            sid = str(closed.index[pos])
            parcel = closed.loc[sid]
            module = smallest[(parcel["level"], bool(parcel["central"]))]
            rows.append(_parcel_row(area, sid, parcel, centre, options, module, standards))
    out = pd.DataFrame(rows, columns=list(PARCEL_COLUMNS))
    return out.sort_values(["area_id", "distance_m", "school_id"], ignore_index=True)


# --------------------------------------------------------------------------------------------- checks
_UNITS_FIX = "Pass the units after the plan (RunResult.units), which carry pop_x/pop_y and proposed_<level>."
_OPT_FIX = "Pass facilities.size_options(...) for the sites, or leave options unset to compute it."


def _check_projected(gdf: gpd.GeoDataFrame, name: str) -> CRS:
    """Return the CRS of ``gdf`` or raise when it is missing or not in metres."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{name}: expected a GeoDataFrame, got {type(gdf).__name__}.")
    if gdf.crs is None:
        raise CRSError(f"{name}: the layer has no CRS; set it with `{name}.set_crs(...)` (the study CRS).")
    crs = CRS.from_user_input(gdf.crs)
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in {"metre", "meter", "m"}:
        raise CRSError(
            f"{name}: CRS {crs.to_string()} is not a projected CRS in metres; search areas measure metres. "
            f"Re-project first, e.g. `{name}.to_crs('EPSG:32649')` (UTM 49N covers Foshan)."
        )
    return crs


def _check_units(units: gpd.GeoDataFrame) -> None:
    _check_projected(units, "units")
    require_columns(units, ["pop_x", "pop_y"], name="units", fix=_UNITS_FIX)
    if not units.index.is_unique:
        dup = units.index[units.index.duplicated()][0]
        raise InputError(f"units: unit_id {describe(dup)} appears more than once; the index must be unique.")
    for col in ["pop_x", "pop_y", *(lv for lv in LEVELS if lv in units.columns)]:
        values = pd.to_numeric(units[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | ((values < 0) & (col in LEVELS))
        if bad.any():
            uid = units.index[bad][0]
            what = "a population-weighted point in metres" if col in ("pop_x", "pop_y") else "seats >= 0"
            raise InputError(
                f"units: unit {describe(uid)} has {col} = {describe(units.at[uid, col])}; give {what}."
            )


def _check_overflow(overflow: pd.DataFrame, schools: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return the rows with overflow > 0 as ``school_id`` (str), ``level``, ``overflow`` (float)."""
    fix = "Pass the model's table (SitingResult.overflow: school_id, level, capacity, pupils, overflow)."
    require_columns(overflow, ["school_id", "level", "overflow"], name="overflow", fix=fix)
    bad_level = ~overflow["level"].isin(LEVELS)
    if bad_level.any():
        value = overflow.loc[bad_level, "level"].iloc[0]
        raise InputError(f"overflow: level {describe(value)} is not one of {list(LEVELS)}.")
    values = pd.to_numeric(overflow["overflow"], errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float)) | (values < 0).to_numpy()
    if bad.any():
        row = overflow[bad].iloc[0]
        raise InputError(
            f"overflow: school {describe(row['school_id'])} ({row['level']}) has overflow = "
            f"{describe(row['overflow'])}; it must be a number of pupils >= 0."
        )
    table = pd.DataFrame(
        {"school_id": overflow["school_id"].astype(str), "level": overflow["level"], "overflow": values}
    )
    table = table[table["overflow"] > _EPS]
    dup = table.duplicated(["school_id", "level"])
    if dup.any():
        row = table[dup].iloc[0]
        raise InputError(f"overflow: school {row['school_id']!r} has more than one {row['level']} row.")
    if not table.empty:
        _check_projected(schools, "schools")
        unknown = ~table["school_id"].isin(schools.index.astype(str))
        if unknown.any():
            raise InputError(
                f"overflow: school_id {table.loc[unknown, 'school_id'].iloc[0]!r} is not in schools; "
                "pass the schools table of the same run (RunResult.schools)."
            )
    return table.reset_index(drop=True)


def _check_sites(sites: gpd.GeoDataFrame, crs: CRS, schools: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return the parcels with ``level``, ``area_m2``, ``central``, ``opened`` and ``available_from``."""
    fix = "Pass the reserved parcels (RunResult.sites) with the school kind in 'level'."
    _check_projected(sites, "sites")
    same_crs(sites.crs, crs, name_a="sites", name_b="units")
    require_columns(sites, ["level"], name="sites", fix=fix)
    bad = ~sites["level"].isin(SCHOOL_KINDS)
    if bad.any():
        sid = sites.index[bad][0]
        value = describe(sites.at[sid, "level"])
        raise InputError(f"sites: parcel {sid!r} has level {value}; use one of {list(SCHOOL_KINDS)}.")
    if not sites.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        sid = sites.index[~sites.geom_type.isin(["Polygon", "MultiPolygon"])][0]
        raise InputError(f"sites: parcel {sid!r} is a {sites.geometry[sid].geom_type}; parcels are polygons.")
    require_columns(
        schools, ["opened"], name="schools", fix="Pass the schools after the plan (RunResult.schools)."
    )
    index = sites.index.astype(str)
    out = gpd.GeoDataFrame(
        {"level": sites["level"].to_numpy()}, geometry=sites.geometry.to_numpy(), index=index
    )
    given = pd.to_numeric(sites.get("area_m2", pd.Series(np.nan, index=sites.index)), errors="coerce")
    out["area_m2"] = np.where(given.isna(), sites.geometry.area, given).astype(float)
    out["central"] = (
        sites.get("central", pd.Series(False, index=sites.index)).fillna(False).astype(bool).to_numpy()
    )
    out["available_from"] = sites.get("available_from", pd.Series(pd.NA, index=sites.index)).to_numpy()
    out["opened"] = schools["opened"].rename(index=str).reindex(index).fillna(False).astype(bool).to_numpy()
    out["status"] = "site"
    return out.set_crs(sites.crs)


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
) -> dict[str, object]:
    """Return one search area: polygon, pupils, centre, district and the school it needs."""
    level = str(grp["level"].iloc[0])
    ids = grp["unit_id"].to_numpy()
    weights = grp["pupils"].to_numpy(dtype=float)
    pupils = float(weights.sum())
    is_central = float(weights[central.reindex(ids).to_numpy(dtype=bool)].sum()) > 0.5 * pupils
    classes, seats, n_schools, land = _school_for(pupils, level, modules[(level, is_central)])
    district = pd.NA
    if "district" in units.columns:
        by_district = pd.Series(weights).groupby(units["district"].reindex(ids).to_numpy(), sort=True).sum()
        district = by_district.idxmax() if len(by_district) else pd.NA
    return {
        "area_id": area_id,
        "level": level,
        "pupils": pupils,
        "n_units": len(ids),
        "suggested_classes": classes,
        "suggested_seats": seats,
        "n_schools": n_schools,
        "land_needed_m2": land,
        "district": district,
        "centre_x": float(np.average(units["pop_x"].reindex(ids), weights=weights)),
        "centre_y": float(np.average(units["pop_y"].reindex(ids), weights=weights)),
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


def _module_options(kind: str, standards: Standards, *, central: bool) -> pd.DataFrame:
    """Return the sizes a new school of ``kind`` can have (a parcel of unlimited area), smallest first."""
    parcel = pd.DataFrame(
        {"level": [kind], "status": ["site"], "area_m2": [math.inf], "central": [central]}, index=["(new)"]
    )
    table = size_options(parcel, standards, allow_expansion=False)
    if table.empty:
        raise InputError(
            f"standards: no {kind} class module fits the new-school cap of {standards.school_cap_for(kind)} "
            "pupils; lower a module in class_modules or raise school_cap."
        )
    table["land_m2"] = [
        land_needed(p, j, standards, central=central)
        for p, j in zip(table["capacity_primary"], table["capacity_junior"], strict=True)
    ]
    return table.sort_values(["land_m2", "capacity_primary"], ignore_index=True)


def _school_for(pupils: float, level: str, table: pd.DataFrame) -> tuple[int, int, int, float]:
    """Return ``(classes, seats, n_schools, land_m2)`` of each new school ``pupils`` need.

    ``table`` lists the modules (:func:`_module_options`). ``n_schools`` schools of the largest module hold
    the pupils; each then gets the smallest module that holds an equal share.
    """
    seats = table[f"capacity_{level}"].to_numpy(dtype=float)
    n_schools = max(1, math.ceil(pupils / seats.max() - _EPS))
    share = pupils / n_schools
    row = table.iloc[int(np.flatnonzero(seats >= share - _EPS)[0])]
    return int(row[f"classes_{level}"]), int(row[f"capacity_{level}"]), n_schools, float(row["land_m2"])


# --------------------------------------------------------------------------------------------- step 4
def _parcel_row(
    area: Any,
    sid: str,
    parcel: pd.Series,
    centre: shapely.Point,
    options: pd.DataFrame,
    smallest: pd.Series,
    standards: Standards,
) -> dict[str, object]:
    """Return one parcel near one area, with the reasons it does not already answer the area's need."""
    level, kind = str(area.level), str(parcel["level"])
    radius = float(standards.service_radius_m[level])
    distance = float(parcel.geometry.distance(centre))
    serves = level in LEVELS_SERVED[kind]
    own = options[options["school_id"].astype(str) == sid]
    max_seats = int(own[f"capacity_{level}"].max()) if len(own) else 0
    area_m2 = float(parcel["area_m2"])
    reasons = []
    if not serves:
        reasons.append(f"not reserved for this level (reserved for a {kind.replace('_', '-')} school)")
    if distance > radius:
        reasons.append(f"beyond the service radius ({distance:,.0f} m from the centre > {radius:,.0f} m)")
    if own.empty and area_m2 + 1e-6 < smallest["land_m2"]:
        cp, cj = int(smallest["classes_primary"]), int(smallest["classes_junior"])
        label = str(smallest["option"]) if cp and cj else f"{cp or cj}-class"  # 24P+12J or 24-class
        need = f"{smallest['land_m2']:,.0f} m² needed for the smallest {label} module"
        reasons.append(f"too small: {area_m2:,.0f} m² < {need}")
    elif own.empty:
        reasons.append("no size option in the options table")
    if not reasons:  # the plan could have opened it
        reasons.append("not opened: budget/number of new schools")
        size, need_seats = standards.class_size[level], int(area.suggested_seats)
        if max_seats < need_seats:
            reasons[0] += (
                f" (hosts at most {max_seats // size} classes, {max_seats:,} seats, "
                f"of the {need_seats // size} classes needed)"
            )
    if pd.notna(parcel["available_from"]):
        reasons.append(f"available from {int(parcel['available_from'])}")
    return {
        "area_id": area.area_id,
        "school_id": sid,
        "kind": kind,
        "area_m2": area_m2,
        "distance_m": distance,
        "serves_level": serves,
        "smallest_land_m2": float(smallest["land_m2"]),
        "max_seats": max_seats,
        "reason": "; ".join(reasons),
    }


def _parcel_text(parcels: pd.DataFrame, area: Any, standards: Standards) -> str:
    """Return the ``nearby_parcels`` text of one area."""
    own = parcels[parcels["area_id"] == area.area_id]
    if own.empty:
        radius = float(standards.service_radius_m[str(area.level)])
        return f"no unopened reserved parcel within {radius:,.0f} m"
    return " | ".join(f"{sid}: {reason}" for sid, reason in zip(own["school_id"], own["reason"], strict=True))
