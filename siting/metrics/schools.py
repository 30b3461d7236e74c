"""Per-school metrics of one state: catchment pupils, capacity, utilization, classes, large classes, walks.

See :mod:`siting.metrics` for the rules (class basis, classes available, large classes, walk statistics).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting._log import get_logger
from siting.catchments import assigned_schools, require_columns, seated_pupils, walk_distances
from siting.errors import InputError, describe
from siting.metrics.states import UNKNOWN_DISTRICT, _check_prefix, _num
from siting.metrics.stats import classes_over, walk_stats
from siting.standards import LEVELS, LEVELS_SERVED, Standards

logger = get_logger(__name__)


def school_pupils(units: pd.DataFrame, *, column_prefix: str = "proposed") -> pd.DataFrame:
    """Return the catchment pupils of each school per level (sum of its units' demand).

    Parameters
    ----------
    units
        Demand units with the demand columns and ``<column_prefix>_<level>``.
    column_prefix
        ``"current"`` or ``"proposed"``.

    Returns
    -------
    pandas.DataFrame
        Index ``school_id`` (str), one float column per level (0 where the school serves nobody).
    """
    _check_prefix(column_prefix)
    out = {}
    for level in LEVELS:
        if f"{column_prefix}_{level}" not in units.columns:
            continue
        school = assigned_schools(units, level=level, column=f"{column_prefix}_{level}")
        seated = pd.Series(seated_pupils(units, level=level, column=f"{column_prefix}_{level}"))
        out[level] = seated.groupby(school.to_numpy()).sum()
    frame = pd.DataFrame(out).fillna(0.0)
    frame.index = frame.index.astype(str)
    frame.index.name = "school_id"
    return frame


def school_districts(schools: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None = None) -> pd.Series:
    """Return each school's district: its ``district`` column, else that of the unit holding its point.

    Parameters
    ----------
    schools
        Schools indexed by ``school_id`` (point geometry, optional ``district``).
    units
        Demand units with ``district`` and polygons, used where a school has none.

    Returns
    -------
    pandas.Series
        District names indexed by ``school_id`` (str); :data:`UNKNOWN_DISTRICT` where none is known.
    """
    if "district" in schools.columns:
        values = schools["district"].astype(object).where(schools["district"].notna(), None)
    else:
        values = pd.Series(None, index=schools.index, dtype=object)
    values.index = schools.index.astype(str)
    missing = values.isna().to_numpy()
    if missing.any() and units is not None and "district" in units.columns and "geometry" in schools.columns:
        pts = schools.geometry.to_numpy()[missing]
        tree = shapely.STRtree(units.geometry.to_numpy())
        spos, upos = tree.query(pts, predicate="intersects")
        found: dict[int, object] = {}
        for s, u in sorted(zip(spos.tolist(), upos.tolist(), strict=True)):
            found.setdefault(s, units["district"].iloc[u])
        fill = values.to_numpy(dtype=object).copy()
        idx = np.flatnonzero(missing)
        for s, d in found.items():
            fill[idx[s]] = None if pd.isna(d) else d
        values = pd.Series(fill, index=values.index, dtype=object)
    return values.fillna(UNKNOWN_DISTRICT).astype(str)


def _classes_available(schools: pd.DataFrame, level: str, state: str, standards: Standards) -> pd.Series:
    classes = _num(schools, f"classes_{level}").fillna(0.0)
    if state == "current":
        return classes
    if f"classes_after_{level}" in schools.columns:
        return _num(schools, f"classes_after_{level}").fillna(classes)
    if f"capacity_after_{level}" in schools.columns:
        added = (_num(schools, f"capacity_after_{level}") - _num(schools, f"capacity_{level}")).fillna(0.0)
        return classes + (added / standards.class_size[level]).round().clip(lower=0)
    return classes


def _capacity(schools: pd.DataFrame, level: str, state: str) -> pd.Series:
    column = f"capacity_{level}"
    if state == "proposed" and f"capacity_after_{level}" in schools.columns:
        column = f"capacity_after_{level}"
    return _num(schools, column).fillna(0.0)


def school_metrics(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    standards: Standards,
    column_prefix: str = "proposed",
    costs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return per-school, per-level metrics for one state (see :mod:`siting.metrics` for every rule).

    Parameters
    ----------
    schools
        Schools indexed by ``school_id``: ``name``, ``level`` (kind), ``status``, ``capacity_<level>``,
        ``classes_<level>``, ``enrolled_<level>``, and after a run ``opened``, ``capacity_after_<level>``.
    units
        Demand units with the demand columns and ``<column_prefix>_<level>``.
    standards
        Policy values (class sizes, large-class thresholds, service radii).
    column_prefix
        ``"current"`` or ``"proposed"``.
    costs
        Travel costs ``unit_id, school_id, distance_m``; ``None`` leaves the walk columns empty.

    Returns
    -------
    pandas.DataFrame
        One row per school and level it serves (existing schools; sites only once opened or given pupils):
        ``state`` (= ``column_prefix``), ``school_id, level, name, district, status, pupils`` (catchment
        seats), ``capacity`` (seats),
        ``utilization`` (pupils / capacity; ``nan`` without capacity), ``over_capacity`` (pupils above
        capacity), ``enrolled`` (current state), ``class_basis, class_pupils, classes_needed`` (at the
        standard size), ``classes_available, avg_class_size, classes_above_standard`` (classes above the
        standard size when the pupils are spread evenly), ``large_classes, super_large_classes, n_units,
        walk_mean_m, walk_p95_m, share_within_radius, n_units_no_walk``.

    Raises
    ------
    InputError
        When units are assigned to a ``school_id`` the schools table does not have.
    """
    state = _check_prefix(column_prefix)
    require_columns(schools, ["level"], name="schools")
    district = school_districts(schools, units)
    ids = schools.index.astype(str)
    frames = []
    for level in LEVELS:
        col = f"{state}_{level}"
        if col not in units.columns:
            continue
        school = assigned_schools(units, level=level, column=col)
        unknown = sorted(set(school.dropna()) - set(ids))
        if unknown:
            raise InputError(
                f"units.{col}: {len(unknown)} school id(s) not in the schools table, e.g. "
                f"{describe(unknown[:5])}. Check the assignment and the schools file use the same school_id."
            )
        frames.append(_level_metrics(schools, units, school, level, state, standards, costs, district))
    if not frames:
        raise InputError(
            f"units: no column {state}_primary or {state}_junior; "
            + ("solve the model first." if state == "proposed" else "give units their current schools.")
        )
    return pd.concat(frames, ignore_index=True)


def _level_metrics(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    school: pd.Series,
    level: str,
    state: str,
    standards: Standards,
    costs: pd.DataFrame | None,
    district: pd.Series,
) -> pd.DataFrame:
    """Return the :func:`school_metrics` rows of one level (see there for the columns).

    Parameters
    ----------
    schools
        The schools table :func:`school_metrics` was given.
    units
        Demand units with ``<state>_<level>``.
    school
        Each unit's school at ``level`` (:func:`siting.catchments.assigned_schools`), missing = none (a
        unit without demand, or outside today's catchments).
    level
        ``"primary"`` or ``"junior"``.
    state
        ``"current"`` or ``"proposed"``.
    standards
        Policy values (class sizes, large-class thresholds, service radius).
    costs
        Travel costs for the walks, or ``None``.
    district
        Each school's district, indexed by ``school_id``.

    Returns
    -------
    pandas.DataFrame
        One row per school the state shows at ``level``, in schools order.
    """
    ids = pd.Index(schools.index.astype(str), name="school_id")
    demand = seated_pupils(units, level=level, column=f"{state}_{level}")
    served = school.notna().to_numpy()
    sid = school.to_numpy(dtype=object)
    dist = np.full(len(units), np.nan)
    if served.any():
        dist[served] = walk_distances(units.index.to_numpy()[served], sid[served], costs)
    pupils = pd.Series(demand[served]).groupby(sid[served]).sum().reindex(ids, fill_value=0.0)
    n_units = pd.Series(np.ones(int(served.sum()))).groupby(sid[served]).sum().reindex(ids, fill_value=0)
    keep = _active(schools, level, state) | (pupils.to_numpy() > 0)

    capacity = _capacity(schools, level, state).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        utilization = np.where(capacity > 0, pupils.to_numpy() / np.where(capacity > 0, capacity, 1), np.nan)
    out = pd.DataFrame(
        {
            "state": state,
            "school_id": ids,
            "level": level,
            "name": schools["name"].astype(str).to_numpy() if "name" in schools.columns else ids,
            "district": district.reindex(ids).to_numpy(),
            "status": schools["status"].astype(str).to_numpy() if "status" in schools.columns else "existing",
            "pupils": pupils.to_numpy(),
            "capacity": capacity,
            "utilization": utilization,
            "over_capacity": _above(pupils.to_numpy(), capacity),
            **_class_columns(schools, level, state, standards, pupils.to_numpy()),
            "n_units": n_units.to_numpy().astype(np.int64),
        }
    )
    radius = float(standards.service_radius_m[level])
    for key, values in _walk_columns(ids, sid[served], dist[served], demand[served], radius).items():
        out[key] = values
    if costs is not None and int(out["n_units_no_walk"].sum()):
        logger.warning(
            "%s %s: %d assigned unit(s) have no travel-cost pair; left out of the walk statistics",
            state,
            level,
            int(out["n_units_no_walk"].sum()),
        )
    return out[keep].reset_index(drop=True)


def _above(pupils: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Pupils above capacity (≥ 0); sums of fractional seats a hair above capacity (< 1e-6) count as 0."""
    over = pupils - capacity
    return np.where(over > 1e-6, over, 0.0)


def _active(schools: gpd.GeoDataFrame, level: str, state: str) -> np.ndarray:
    """Return which schools a state shows at ``level`` even without pupils (bool, in schools order).

    A school of a kind that teaches ``level`` is shown when it exists, or in the proposed state when it
    is a site that was opened.
    """
    serves = schools["level"].map(lambda kind: level in LEVELS_SERVED.get(str(kind), ())).to_numpy(dtype=bool)
    is_site = (schools["status"].astype(str) == "site").to_numpy() if "status" in schools.columns else False
    opened = schools["opened"].fillna(False).astype(bool).to_numpy() if "opened" in schools.columns else False
    if state == "current":
        return serves & ~np.asarray(is_site)
    return serves & (~np.asarray(is_site) | np.asarray(opened))


def _class_columns(
    schools: gpd.GeoDataFrame, level: str, state: str, standards: Standards, pupils: np.ndarray
) -> dict[str, np.ndarray]:
    """Return the class columns of :func:`school_metrics` for one level, in table order.

    Parameters
    ----------
    schools
        Schools with ``classes_<level>``, capacities and, in the current state, ``enrolled_<level>``.
    level
        The level, ``"primary"`` or ``"junior"``.
    state
        ``"current"`` (enrolled pupils are the class basis where known) or ``"proposed"``.
    standards
        Policy values (class size, large and super-large thresholds).
    pupils
        Catchment pupils per school, in schools order.

    Returns
    -------
    dict of str to numpy.ndarray
        ``enrolled, class_basis, class_pupils, classes_needed, classes_available, avg_class_size,
        classes_above_standard, large_classes, super_large_classes``.
    """
    classes = _classes_available(schools, level, state, standards).to_numpy()
    enrolled = np.full(len(schools), np.nan)
    if state == "current" and f"enrolled_{level}" in schools.columns:
        enrolled = _num(schools, f"enrolled_{level}").to_numpy()
    use_enrolled = np.isfinite(enrolled)
    class_pupils = np.where(use_enrolled, enrolled, pupils)
    whole = np.rint(class_pupils).astype(np.int64)
    size = standards.class_size[level]
    needed = np.ceil(whole / size).astype(np.int64)
    k = np.where(classes > 0, np.rint(classes), needed).astype(np.int64)
    above = [classes_over(n, c, size + 1) for n, c in zip(whole, k, strict=True)]
    large = [classes_over(n, c, standards.large_class_min) for n, c in zip(whole, k, strict=True)]
    super_large = [classes_over(n, c, standards.super_large_min) for n, c in zip(whole, k, strict=True)]
    with np.errstate(divide="ignore", invalid="ignore"):
        avg = np.where(k > 0, whole / np.where(k > 0, k, 1), np.nan)
    return {
        "enrolled": enrolled,
        "class_basis": np.where(use_enrolled, "enrolled", "catchment"),
        "class_pupils": class_pupils,
        "classes_needed": needed,
        "classes_available": np.rint(classes).astype(np.int64),
        "avg_class_size": np.where(classes > 0, avg, np.nan),
        "classes_above_standard": np.asarray(above, dtype=np.int64),
        "large_classes": np.asarray(large, dtype=np.int64),
        "super_large_classes": np.asarray(super_large, dtype=np.int64),
    }


def _walk_columns(
    ids: pd.Index, sid: np.ndarray, dist: np.ndarray, pupils: np.ndarray, radius_m: float
) -> dict[str, list[float] | np.ndarray]:
    """Return the walk columns of :func:`school_metrics`, one value per school in ``ids``.

    Parameters
    ----------
    ids
        The schools, in table order.
    sid, dist, pupils
        School, walking distance (m; ``nan`` = no travel-cost pair) and seated pupils of each served unit.
    radius_m
        The service radius, metres.

    Returns
    -------
    dict
        ``walk_mean_m, walk_p95_m, share_within_radius`` (:func:`~siting.metrics.stats.walk_stats`) and
        ``n_units_no_walk``.
    """
    walk = pd.DataFrame({"school_id": sid, "d": dist, "w": pupils})
    stats = {
        s: walk_stats(g["d"].to_numpy(), g["w"].to_numpy(), radius_m)
        for s, g in walk.groupby("school_id", sort=False)
    }
    no_walk = walk[~np.isfinite(walk["d"])].groupby("school_id").size().reindex(ids, fill_value=0)
    empty = {"walk_mean_m": math.nan, "walk_p95_m": math.nan, "share_within_radius": math.nan}
    out: dict[str, list[float] | np.ndarray] = {key: [stats.get(s, empty)[key] for s in ids] for key in empty}
    out["n_units_no_walk"] = no_walk.to_numpy().astype(np.int64)
    return out
