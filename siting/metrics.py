"""Policy metrics: seats, utilization, class sizes, large classes, walks and the difference coefficient.

Every function reads the units and schools tables of ``docs/architecture.md`` and one *state*, named by
``column_prefix``: ``"current"`` (units' ``current_<level>``, schools' ``capacity_<level>`` and
``classes_<level>``) or ``"proposed"`` (units' ``proposed_<level>``, schools' ``capacity_after_<level>``).

Conventions
-----------
- **Pupils** of a school are the seat demand of the units in its catchment (float seats). For class counts
  pupils are rounded to whole children.
- **Class basis.** In the current state, class sizes and large classes come from the schools' actual
  ``enrolled_<level>`` when that column is present and filled for the school (``class_basis = "enrolled"``);
  otherwise, and always in the proposed state, from the catchment pupils (``class_basis = "catchment"``).
  Utilization always uses catchment pupils, so the two states compare like with like.
- **Classes available**: current ``classes_<level>``; proposed ``classes_after_<level>`` when given, else
  ``classes_<level>`` plus the classes added by the opened option, ``round((capacity_after − capacity) /
  class_size)``.
- **Large classes implied by enrolment**: with ``k`` classes and ``n`` pupils, the classes are as even as
  possible: ``n mod k`` classes of ``⌊n/k⌋ + 1`` pupils and the rest of ``⌊n/k⌋``; a class counts as large at
  ``standards.large_class_min`` (56) pupils or more and super-large at ``standards.super_large_min`` (66) or
  more. A school with pupils but no classes is counted with ``⌈n / class_size⌉`` new standard classes.
- **Walk statistics** are pupil-weighted over the units of a catchment: the mean, the 95th percentile (the
  smallest distance at which the cumulative pupil share reaches 95 %, no interpolation) and the share of
  pupils within ``standards.service_radius_m[level]``. Units whose pair is missing from the cost table are
  left out of the walk statistics (and counted in ``n_units_no_walk``).
- **Seats per 1,000 residents** compare the seats of the schools located in a district (the schools'
  ``district``, else the district of the unit holding the school's point) with its residents;
  ``seat_shortfall = max(0, standard × population / 1000 − seats)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting._jsonify import json_ready
from siting._log import get_logger
from siting.catchments import assigned_schools, require_columns, seated_pupils, walk_distances
from siting.errors import InputError, describe
from siting.standards import LEVELS, LEVELS_SERVED, Standards

logger = get_logger(__name__)

ALL = "(all)"
"""District label of the overall row in :func:`district_metrics`."""

UNKNOWN_DISTRICT = "(unknown)"
"""District label for units and schools without a district."""

STATES: tuple[str, ...] = ("current", "proposed")
"""The two states every metric can be computed for."""

_NOT_RESOURCES = frozenset(
    {
        "area_m2",
        "cost_yuan",
        "subsidy_yuan",
        "available_from",
        "public",
        "central",
        "opened",
        "pop_x",
        "pop_y",
    }
)
_NOT_RESOURCE_PREFIXES = (
    "classes_",
    "capacity_",
    "enrolled_",
    "max_extra_classes_",
    "pupils_",
    "current_",
    "proposed_",
)
_PER_100_WORDS = ("teacher", "room")


# ---------------------------------------------------------------------------------------------- formulas
def pupil_weighted_cv(values: Sequence[float] | np.ndarray, weights: Sequence[float] | np.ndarray) -> float:
    """Return the pupil-weighted coefficient of variation (差异系数) of a per-pupil indicator.

    The national 均衡 formula (``shared/standards.md``)::

        x̄ = Σ pᵢ xᵢ / Σ pᵢ          (the pooled value: total resource / total pupils)
        S = sqrt( Σ (pᵢ / P) (xᵢ − x̄)² ),   P = Σ pᵢ
        CV = S / x̄

    Parameters
    ----------
    values
        ``xᵢ``: each school's per-pupil value (resource total / pupils, any unit).
    weights
        ``pᵢ``: each school's pupils (≥ 0).

    Returns
    -------
    float
        The CV (dimensionless); ``nan`` when there are no pupils or ``x̄ = 0``.

    Raises
    ------
    InputError
        For a negative or non-finite weight, a non-finite value with a positive weight, or unequal lengths.

    Examples
    --------
    >>> round(pupil_weighted_cv([10, 20], [100, 100]), 4)
    0.3333
    """
    x = np.asarray(values, dtype=float)
    p = np.asarray(weights, dtype=float)
    if x.shape != p.shape:
        raise InputError(
            f"pupil_weighted_cv: {x.size} values but {p.size} weights; give one weight per value."
        )
    if (~np.isfinite(p)).any() or (p < 0).any():
        raise InputError(f"pupil_weighted_cv: pupils must be finite and >= 0, got {describe(p.tolist())}.")
    use = p > 0
    if (~np.isfinite(x[use])).any():
        raise InputError(
            f"pupil_weighted_cv: per-pupil values must be finite, got {describe(x[use].tolist())}; "
            "drop schools with a missing resource first."
        )
    total = p[use].sum()
    if total <= 0:
        return math.nan
    mean = float((p[use] * x[use]).sum() / total)
    if mean == 0:
        return math.nan
    spread = math.sqrt(float(((p[use] / total) * (x[use] - mean) ** 2).sum()))
    return spread / mean


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Return the smallest value at which the cumulative weight share reaches ``q`` (no interpolation).

    Parameters
    ----------
    values
        Values (e.g. distances in metres); ``nan`` entries are ignored.
    weights
        Non-negative weights (e.g. pupils).
    q
        Quantile in ``[0, 1]``.

    Returns
    -------
    float
        The quantile, or ``nan`` when no positive weight remains.
    """
    x = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    keep = np.isfinite(x) & (w > 0)
    if not keep.any():
        return math.nan
    order = np.argsort(x[keep], kind="stable")
    xs, ws = x[keep][order], w[keep][order]
    share = np.cumsum(ws) / ws.sum()
    return float(xs[np.searchsorted(share, q - 1e-12)])


def walk_stats(distances: np.ndarray, pupils: np.ndarray, radius_m: float) -> dict[str, float]:
    """Return pupil-weighted walk statistics: ``walk_mean_m``, ``walk_p95_m``, ``share_within_radius``.

    Parameters
    ----------
    distances
        Walking distance of each unit to its school, metres (``nan`` = unknown, ignored).
    pupils
        Pupils of each unit.
    radius_m
        The soft service radius, metres.

    Returns
    -------
    dict
        Mean and 95th percentile in metres, and the share (0–1) of pupils within ``radius_m``; ``nan``
        without pupils.
    """
    d = np.asarray(distances, dtype=float)
    w = np.asarray(pupils, dtype=float)
    keep = np.isfinite(d) & (w > 0)
    if not keep.any():
        return {"walk_mean_m": math.nan, "walk_p95_m": math.nan, "share_within_radius": math.nan}
    total = w[keep].sum()
    return {
        "walk_mean_m": float((d[keep] * w[keep]).sum() / total),
        "walk_p95_m": weighted_quantile(d, w, 0.95),
        "share_within_radius": float(w[keep][d[keep] <= radius_m].sum() / total),
    }


def classes_over(pupils: int, classes: int, threshold: int) -> int:
    """Return how many of ``classes`` hold ``threshold`` or more pupils when ``pupils`` are spread evenly.

    Parameters
    ----------
    pupils
        Whole pupils ``n`` (≥ 0).
    classes
        Classes ``k`` (> 0 when ``n > 0``).
    threshold
        Class size that counts (56 for large, 66 for super-large).

    Returns
    -------
    int
        ``k`` when ``⌊n/k⌋ ≥ threshold``; ``n mod k`` when only the ``⌊n/k⌋ + 1`` classes reach it; else 0.

    Examples
    --------
    >>> classes_over(570, 10, 56), classes_over(565, 10, 57), classes_over(450, 10, 56)
    (10, 5, 0)
    """
    if pupils <= 0 or classes <= 0:
        return 0
    base, extra = divmod(int(pupils), int(classes))
    if base >= threshold:
        return int(classes)
    if base + 1 >= threshold:
        return int(extra)
    return 0


# ---------------------------------------------------------------------------------------------- helpers
def _check_prefix(column_prefix: str) -> str:
    if column_prefix not in STATES:
        raise InputError(f"column_prefix must be 'current' or 'proposed', got {describe(column_prefix)}.")
    return column_prefix


def _num(frame: pd.DataFrame, column: str, default: float = 0.0) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(default, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


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


# ---------------------------------------------------------------------------------------------- per school
def school_metrics(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    standards: Standards,
    column_prefix: str = "proposed",
    costs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return per-school, per-level metrics for one state (see the module notes for every rule).

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
        standard size), ``classes_available, avg_class_size, large_classes, super_large_classes, n_units,
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
    ids = pd.Index(schools.index.astype(str), name="school_id")
    demand = seated_pupils(units, level=level, column=f"{state}_{level}")
    served = school.notna().to_numpy()
    sid = school.to_numpy(dtype=object)
    dist = np.full(len(units), np.nan)
    if served.any():
        dist[served] = walk_distances(units.index.to_numpy()[served], sid[served], costs)
    pupils = pd.Series(demand[served]).groupby(sid[served]).sum().reindex(ids, fill_value=0.0)
    n_units = pd.Series(np.ones(int(served.sum()))).groupby(sid[served]).sum().reindex(ids, fill_value=0)

    serves = schools["level"].map(lambda kind: level in LEVELS_SERVED.get(str(kind), ())).to_numpy(dtype=bool)
    is_site = (schools["status"].astype(str) == "site").to_numpy() if "status" in schools.columns else False
    opened = schools["opened"].fillna(False).astype(bool).to_numpy() if "opened" in schools.columns else False
    if state == "current":
        active = serves & ~np.asarray(is_site)
    else:
        active = serves & (~np.asarray(is_site) | np.asarray(opened))
    keep = active | (pupils.to_numpy() > 0)

    capacity = _capacity(schools, level, state).to_numpy()
    classes = _classes_available(schools, level, state, standards).to_numpy()
    enrolled = np.full(len(schools), np.nan)
    if state == "current" and f"enrolled_{level}" in schools.columns:
        enrolled = _num(schools, f"enrolled_{level}").to_numpy()
    use_enrolled = np.isfinite(enrolled)
    class_pupils = np.where(use_enrolled, enrolled, pupils.to_numpy())
    whole = np.rint(class_pupils).astype(np.int64)
    size = standards.class_size[level]
    needed = np.ceil(whole / size).astype(np.int64)
    k = np.where(classes > 0, np.rint(classes), needed).astype(np.int64)
    large = [classes_over(n, c, standards.large_class_min) for n, c in zip(whole, k, strict=True)]
    super_large = [classes_over(n, c, standards.super_large_min) for n, c in zip(whole, k, strict=True)]

    radius = float(standards.service_radius_m[level])
    walk = pd.DataFrame({"school_id": sid[served], "d": dist[served], "w": demand[served]})
    stats = {
        s: walk_stats(g["d"].to_numpy(), g["w"].to_numpy(), radius)
        for s, g in walk.groupby("school_id", sort=False)
    }
    no_walk = walk[~np.isfinite(walk["d"])].groupby("school_id").size().reindex(ids, fill_value=0)
    empty = {"walk_mean_m": math.nan, "walk_p95_m": math.nan, "share_within_radius": math.nan}
    with np.errstate(divide="ignore", invalid="ignore"):
        utilization = np.where(capacity > 0, pupils.to_numpy() / np.where(capacity > 0, capacity, 1), np.nan)
        avg = np.where(k > 0, whole / np.where(k > 0, k, 1), np.nan)
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
            "over_capacity": np.maximum(pupils.to_numpy() - capacity, 0.0),
            "enrolled": enrolled,
            "class_basis": np.where(use_enrolled, "enrolled", "catchment"),
            "class_pupils": class_pupils,
            "classes_needed": needed,
            "classes_available": np.rint(classes).astype(np.int64),
            "avg_class_size": np.where(classes > 0, avg, np.nan),
            "large_classes": np.asarray(large, dtype=np.int64),
            "super_large_classes": np.asarray(super_large, dtype=np.int64),
            "n_units": n_units.to_numpy().astype(np.int64),
        }
    )
    for key in empty:
        out[key] = [stats.get(s, empty)[key] for s in ids]
    out["n_units_no_walk"] = no_walk.to_numpy().astype(np.int64)
    if costs is not None and int(out["n_units_no_walk"].sum()):
        logger.warning(
            "%s %s: %d assigned unit(s) have no travel-cost pair; left out of the walk statistics",
            state,
            level,
            int(out["n_units_no_walk"].sum()),
        )
    return out[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- per district
def district_metrics(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    standards: Standards,
    column_prefix: str = "proposed",
    costs: pd.DataFrame | None = None,
    school_table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return per-district and overall metrics of one state: seats per 1,000 residents, classes, walks.

    Parameters
    ----------
    schools
        Schools indexed by ``school_id``.
    units
        Demand units with ``population``, demand per level, ``district`` and ``<column_prefix>_<level>``.
    standards
        Policy values (``seats_per_1000``, class sizes, radii).
    column_prefix
        ``"current"`` or ``"proposed"``.
    costs
        Travel costs for the walk statistics.
    school_table
        The output of :func:`school_metrics` for the same state, if already computed.

    Returns
    -------
    pandas.DataFrame
        One row per district and level, plus a ``district == "(all)"`` row per level:
        ``state, district, level, population, demand, pupils_served, unserved, seats, seats_per_1000,
        standard_per_1000, standard_seats, seat_shortfall, n_schools, schools_over_capacity,
        over_capacity, classes_needed, classes_available, large_classes, super_large_classes, walk_mean_m,
        walk_p95_m, share_within_radius``. Seats count the schools located in the district; pupils count the
        units living there.
    """
    state = _check_prefix(column_prefix)
    require_columns(units, ["population"], name="units")
    table = (
        school_table
        if school_table is not None
        else school_metrics(schools, units, standards=standards, column_prefix=state, costs=costs)
    )
    if "district" in units.columns:
        unit_district = units["district"].astype(object).where(units["district"].notna(), UNKNOWN_DISTRICT)
    else:
        unit_district = pd.Series(UNKNOWN_DISTRICT, index=units.index, dtype=object)
    unit_district = unit_district.astype(str).to_numpy()
    rows = []
    for level in LEVELS:
        col = f"{state}_{level}"
        if col not in units.columns:
            continue
        school = assigned_schools(units, level=level, column=col).to_numpy(dtype=object)
        served = np.array([s is not None for s in school])
        demand = units[level].to_numpy(dtype=float)
        dist = np.full(len(units), np.nan)
        if served.any():
            dist[served] = walk_distances(units.index.to_numpy()[served], school[served], costs)
        sch = table[table["level"] == level]
        names = sorted(set(unit_district) | set(sch["district"]))
        for name in [*names, ALL]:
            in_u = np.ones(len(units), bool) if name == ALL else unit_district == name
            in_s = sch if name == ALL else sch[sch["district"] == name]
            seated = np.where(served, seated_pupils(units, level=level, column=col), 0.0)
            rows.append(_district_row(state, name, level, units, in_u, demand, seated, dist, in_s, standards))
    return pd.DataFrame(rows)


def _district_row(
    state: str,
    name: str,
    level: str,
    units: pd.DataFrame,
    in_u: np.ndarray,
    demand: np.ndarray,
    seated: np.ndarray,
    dist: np.ndarray,
    sch: pd.DataFrame,
    standards: Standards,
) -> dict[str, Any]:
    population = float(units["population"].to_numpy(dtype=float)[in_u].sum())
    seats = float(sch["capacity"].sum())
    per_1000 = float(standards.seats_per_1000[level])
    standard_seats = per_1000 * population / 1000.0
    row = {
        "state": state,
        "district": name,
        "level": level,
        "population": population,
        "demand": float(demand[in_u].sum()),
        "pupils_served": float(seated[in_u].sum()),
        "unserved": float((demand - seated)[in_u].clip(min=0.0).sum()),
        "seats": seats,
        "seats_per_1000": seats / population * 1000.0 if population > 0 else math.nan,
        "standard_per_1000": per_1000,
        "standard_seats": standard_seats,
        "seat_shortfall": max(standard_seats - seats, 0.0),
        "n_schools": len(sch),
        "schools_over_capacity": int((sch["over_capacity"] > 1e-9).sum()),
        "over_capacity": float(sch["over_capacity"].sum()),
        "classes_needed": int(sch["classes_needed"].sum()),
        "classes_available": int(sch["classes_available"].sum()),
        "large_classes": int(sch["large_classes"].sum()),
        "super_large_classes": int(sch["super_large_classes"].sum()),
    }
    row.update(
        walk_stats(
            dist[in_u & (seated > 0)], seated[in_u & (seated > 0)], float(standards.service_radius_m[level])
        )
    )
    return row


# ------------------------------------------------------------------------------ difference coefficient
def resource_indicators(schools: pd.DataFrame) -> list[str]:
    """Return the resource-total columns of ``schools`` (numeric columns that are not structural fields).

    Parameters
    ----------
    schools
        Schools table; per ``docs/architecture.md`` every other numeric column is a resource total.

    Returns
    -------
    list of str
        Column names in table order (e.g. ``floor_area_m2, sports_area_m2, equipment_value_yuan,
        backbone_teachers``).
    """
    out = []
    for col in schools.columns:
        if col == "geometry" or col in _NOT_RESOURCES or str(col).startswith(_NOT_RESOURCE_PREFIXES):
            continue
        dtype = schools[col].dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            continue
        out.append(str(col))
    return out


def indicator_scale(indicator: str) -> tuple[float, str]:
    """Return ``(scale, unit)`` for reporting an indicator: teachers and rooms per 100 pupils, else per pupil.

    Parameters
    ----------
    indicator
        Resource column name.

    Returns
    -------
    tuple of (float, str)
        Multiplier applied to the per-pupil value and its label. The CV does not depend on it.
    """
    if any(word in indicator for word in _PER_100_WORDS):
        return 100.0, "per 100 pupils"
    return 1.0, "per pupil"


def stage_parts(
    schools: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Sequence[str],
    pupils_column: str = "enrolled",
) -> pd.DataFrame:
    """Split each school into stage parts with the pupils and the share of every resource of each stage.

    A school's resource total ``R`` is shared between the stages it teaches in proportion to weighted
    pupils: the share of stage ``s`` is ``w_s · p_s / Σ_t w_t · p_t`` with the weights
    ``standards.stage_split_weights`` (primary : junior : senior = 1 : 1.1 : 1.32). So a nine-year school's
    junior pupil carries 1.1 times the resource of its primary pupil. The sum runs over the levels of the
    school's kind and, when the table has ``<pupils_column>_senior``, its senior pupils (whose share is
    then left out). A single-level school keeps all of ``R`` for its level.

    Parameters
    ----------
    schools
        Schools indexed by ``school_id`` with ``level`` (kind), ``<pupils_column>_<level>`` and the
        resource columns.
    standards
        Policy values (stage weights).
    indicators
        Resource columns to split.
    pupils_column
        Prefix of the pupil columns (``"enrolled"`` reads ``enrolled_primary`` and ``enrolled_junior``).

    Returns
    -------
    pandas.DataFrame
        One row per school and level it teaches with pupils > 0: ``school_id, level, pupils`` and, per
        indicator, the stage's resource total (``nan`` where the school lacks the value).
    """
    require_columns(schools, ["level"], name="schools")
    pcols = {lv: f"{pupils_column}_{lv}" for lv in LEVELS}
    require_columns(
        schools,
        list(pcols.values()),
        name="schools",
        fix=f"Give the pupils per level in {pupils_column}_primary and {pupils_column}_junior.",
    )
    weights = standards.stage_split_weights
    pupils = {lv: _num(schools, col).fillna(0.0).clip(lower=0) for lv, col in pcols.items()}
    kinds = schools["level"].astype(str)
    teaches = {lv: kinds.map(lambda k, lv=lv: lv in LEVELS_SERVED.get(k, ())).astype(bool) for lv in LEVELS}
    denominator = sum(weights[lv] * pupils[lv].where(teaches[lv], 0.0) for lv in LEVELS)
    senior_col = f"{pupils_column}_senior"
    if senior_col in schools.columns:
        denominator = denominator + weights.get("senior", 1.32) * _num(schools, senior_col).fillna(0.0)
    frames = []
    for lv in LEVELS:
        mask = (teaches[lv] & (pupils[lv] > 0)).to_numpy()
        share = (weights[lv] * pupils[lv] / denominator.where(denominator > 0, np.nan))[mask]
        part = pd.DataFrame(
            {"school_id": schools.index.astype(str)[mask], "level": lv, "pupils": pupils[lv][mask].to_numpy()}
        )
        for ind in indicators:
            part[ind] = (_num(schools, ind)[mask] * share).to_numpy()
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def cv_table(
    schools: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Sequence[str] | None = None,
    pupils_column: str = "enrolled",
) -> pd.DataFrame:
    """Return the pupil-weighted difference coefficient per level and indicator, checked against the limits.

    Each school's resource totals are split into stage parts (:func:`stage_parts`); the per-pupil value of a
    part is its resource / its pupils, and the CV is :func:`pupil_weighted_cv` over the parts of one level.
    Parts whose school lacks the resource value are left out and counted in ``n_missing`` (for instance a new
    site with no recorded floor area).

    Parameters
    ----------
    schools
        Schools with ``level`` (kind), ``<pupils_column>_<level>`` and resource totals.
    standards
        Policy values (``cv_max``, stage weights).
    indicators
        Resource columns; default every resource column (:func:`resource_indicators`).
    pupils_column
        Prefix of the pupil columns.

    Returns
    -------
    pandas.DataFrame
        ``level, indicator, unit, n_schools, n_missing, pupils, mean`` (the pooled x̄, in ``unit``),
        ``std`` (S, same unit), ``cv, cv_max, passes`` (``cv <= cv_max``; missing when the CV is undefined).
    """
    indicators = list(resource_indicators(schools) if indicators is None else indicators)
    require_columns(schools, indicators, name="schools")
    parts = stage_parts(schools, standards=standards, indicators=indicators, pupils_column=pupils_column)
    rows = []
    for level in LEVELS:
        part = parts[parts["level"] == level]
        for ind in indicators:
            scale, unit = indicator_scale(ind)
            ok = part[ind].notna().to_numpy()
            p = part["pupils"].to_numpy()[ok]
            x = part[ind].to_numpy()[ok] / p * scale
            cv = pupil_weighted_cv(x, p) if len(p) else math.nan
            mean = float((p * x).sum() / p.sum()) if p.sum() > 0 else math.nan
            limit = float(standards.cv_max[level])
            rows.append(
                {
                    "level": level,
                    "indicator": ind,
                    "unit": unit,
                    "n_schools": int(ok.sum()),
                    "n_missing": int((~ok).sum()),
                    "pupils": float(p.sum()),
                    "mean": mean,
                    "std": cv * mean if np.isfinite(cv) else math.nan,
                    "cv": cv,
                    "cv_max": limit,
                    "passes": (bool(cv <= limit) if np.isfinite(cv) else None),
                }
            )
    columns = ["level", "indicator", "unit", "n_schools", "n_missing", "pupils", "mean", "std", "cv"]
    return pd.DataFrame(rows, columns=[*columns, "cv_max", "passes"])


def with_state_pupils(schools: pd.DataFrame, units: pd.DataFrame, *, column_prefix: str) -> pd.DataFrame:
    """Return a copy of ``schools`` with ``pupils_<level>``, the catchment pupils of a state (for cv_table).

    Parameters
    ----------
    schools
        Schools indexed by ``school_id``.
    units
        Demand units with ``<column_prefix>_<level>``.
    column_prefix
        ``"current"`` or ``"proposed"``.

    Returns
    -------
    pandas.DataFrame
        ``schools`` plus ``pupils_primary`` and ``pupils_junior`` (0 where a school serves nobody).
    """
    pupils = school_pupils(units, column_prefix=column_prefix)
    out = schools.copy()
    key = schools.index.astype(str)
    for level in LEVELS:
        values = pupils[level] if level in pupils.columns else pd.Series(dtype=float)
        out[f"pupils_{level}"] = values.reindex(key, fill_value=0.0).to_numpy()
    return out


def cv_tables(
    schools: pd.DataFrame,
    units: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return :func:`cv_table` for the current and the proposed state, with a ``state`` column.

    The current state weights schools by ``enrolled_<level>`` when the schools table has both columns
    (actual pupils), else by current catchment pupils; the proposed state by proposed catchment pupils.
    States whose assignment columns the units lack are skipped.

    Parameters
    ----------
    schools
        Schools after the run, with resource totals.
    units
        Demand units with ``current_<level>`` and/or ``proposed_<level>``.
    standards
        Policy values.
    indicators
        Resource columns; default every resource column.

    Returns
    -------
    pandas.DataFrame
        ``state`` followed by the columns of :func:`cv_table`; empty when there is no resource column.
    """
    indicators = list(resource_indicators(schools) if indicators is None else indicators)
    frames = []
    for state in STATES:
        if not indicators or not any(f"{state}_{lv}" in units.columns for lv in LEVELS):
            continue
        if state == "current" and all(f"enrolled_{lv}" in schools.columns for lv in LEVELS):
            basis, prefix = schools, "enrolled"
        else:
            basis, prefix = with_state_pupils(schools, units, column_prefix=state), "pupils"
        table = cv_table(basis, standards=standards, indicators=indicators, pupils_column=prefix)
        frames.append(table.assign(state=state)[["state", *table.columns]])
    if not frames:
        return pd.DataFrame(columns=["state", "level", "indicator", "cv", "cv_max", "passes"])
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------- summary
_AFTER_FIELDS = (
    "demand",
    "unserved",
    "seats",
    "seats_per_1000",
    "seat_shortfall",
    "schools_over_capacity",
    "over_capacity",
    "large_classes",
    "super_large_classes",
    "walk_mean_m",
    "walk_p95_m",
    "share_within_radius",
)
_BEFORE_FIELDS = (
    "unserved",
    "seats",
    "seat_shortfall",
    "schools_over_capacity",
    "over_capacity",
    "large_classes",
    "super_large_classes",
    "walk_mean_m",
    "share_within_radius",
)


def summary(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    standards: Standards,
    costs: pd.DataFrame | None = None,
    changes: pd.DataFrame | None = None,
    solution: Any = None,
    indicators: Sequence[str] | None = None,
    school_table: pd.DataFrame | None = None,
    district_table: pd.DataFrame | None = None,
    cv: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Return a run's headline figures as one flat, JSON-ready dict (one row of a scenario comparison).

    Keys (``<level>`` is ``primary`` or ``junior``; ``None`` stands for a missing value):

    - ``new_schools``, ``expanded_schools``: sites opened and existing schools expanded (schools' ``opened``
      / ``expanded`` columns, else ``solution.opened``); ``cost_yuan``, ``subsidy_yuan``: sums over
      ``solution.opened`` when given.
    - ``<level>_<figure>`` for the proposed state and ``<level>_<figure>_before`` for the current state,
      read from the overall :func:`district_metrics` row: demand, unserved, seats, seats_per_1000,
      seat_shortfall, schools_over_capacity, over_capacity (pupils), large_classes, super_large_classes,
      walk_mean_m, walk_p95_m, share_within_radius (a subset before); and ``<level>_max_utilization``.
    - ``<level>_units_moved``, ``<level>_pupils_moved`` from ``changes``.
    - ``<level>_cv_worst`` (largest CV over the indicators, proposed state) and ``<level>_cv_pass`` (every
      indicator within ``standards.cv_max``), when the schools carry resource columns.

    Parameters
    ----------
    schools
        Schools after the run.
    units
        Demand units with ``current_<level>`` and/or ``proposed_<level>``.
    standards
        Policy values.
    costs
        Travel costs for the walk statistics.
    changes
        The changes table (:func:`siting.catchments.compare_catchments`), if computed.
    solution
        The model result (``opened`` with ``cost_yuan`` and ``subsidy_yuan``), if any.
    indicators
        Resource columns for the difference coefficient; default all.
    school_table, district_table, cv
        Already computed :func:`school_metrics` / :func:`district_metrics` (both states, with their
        ``state`` column) and :func:`cv_tables` for these schools and units, to avoid computing them again.

    Returns
    -------
    dict
        Flat mapping of figure name to a number, bool or ``None``.
    """
    out: dict[str, Any] = {}
    opened = getattr(solution, "opened", None)
    if "opened" in schools.columns:
        out["new_schools"] = int(schools["opened"].fillna(False).astype(bool).sum())
    elif isinstance(opened, pd.DataFrame) and "status" in schools.columns:
        out["new_schools"] = int((schools["status"].reindex(opened.index.astype(str)) == "site").sum())
    if "expanded" in schools.columns:
        out["expanded_schools"] = int(schools["expanded"].fillna(False).astype(bool).sum())
    if isinstance(opened, pd.DataFrame):
        for col in ("cost_yuan", "subsidy_yuan"):
            if col in opened.columns:
                out[col] = float(pd.to_numeric(opened[col], errors="coerce").fillna(0.0).sum())
    for state, suffix, fields in (("proposed", "", _AFTER_FIELDS), ("current", "_before", _BEFORE_FIELDS)):
        if not any(f"{state}_{lv}" in units.columns for lv in LEVELS):
            continue
        if school_table is not None and district_table is not None:
            table = school_table[school_table["state"] == state]
            dist = district_table[district_table["state"] == state]
        else:
            table = school_metrics(schools, units, standards=standards, column_prefix=state, costs=costs)
            dist = district_metrics(
                schools, units, standards=standards, column_prefix=state, costs=costs, school_table=table
            )
        for level, row in dist[dist["district"] == ALL].set_index("level").iterrows():
            for name in fields:
                out[f"{level}_{name}{suffix}"] = row[name]
            util = table.loc[table["level"] == level, "utilization"]
            out[f"{level}_max_utilization{suffix}"] = float(util.max()) if util.notna().any() else None
    if changes is not None:
        for level in LEVELS:
            moved = changes[changes["level"] == level] if len(changes) else changes
            out[f"{level}_units_moved"] = len(moved)
            out[f"{level}_pupils_moved"] = float(moved["pupils"].sum()) if len(moved) else 0.0
    if cv is None:
        cv = cv_tables(schools, units, standards=standards, indicators=indicators)
    proposed = cv[cv["state"] == "proposed"] if len(cv) else cv
    for level, grp in proposed.groupby("level", sort=False) if len(proposed) else []:
        values = pd.to_numeric(grp["cv"], errors="coerce")
        out[f"{level}_cv_worst"] = float(values.max()) if values.notna().any() else None
        known = grp["passes"].dropna()
        out[f"{level}_cv_pass"] = bool(known.astype(bool).all()) if len(known) else None
    return json_ready(out)
