"""The sparse cost table: bounded walks, requested far pairs, unreachable units, straight-line costs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS
from scipy.spatial import cKDTree

from siting._crs import ensure_projected, require_crs, same_crs
from siting._log import get_logger
from siting.errors import InputError, NetworkError, describe
from siting.network import _arrays
from siting.network.load import Bbox, _fmt_bounds
from siting.network.snap import (
    MIN_COMPONENT_M,
    _check_snap_limit,
    _graph_crs,
    _points_xy,
    examples,
    snap_layers,
)
from siting.standards import LEVELS, LEVELS_SERVED

log = get_logger(__name__)

COST_COLUMNS: tuple[str, ...] = ("unit_id", "school_id", "distance_m", "time_s")
"""Columns of the travel-cost table (see ``docs/architecture.md``)."""


def _school_limits(schools: pd.DataFrame, max_distance_m: float | Mapping[str, float]) -> np.ndarray:
    """Distance limit of each school (m): a number, or the max over the levels its kind serves."""
    if not isinstance(max_distance_m, Mapping):
        value = float(max_distance_m)
        if not (np.isfinite(value) and value >= 0):
            raise InputError(
                f"max_distance_m must be a distance in metres >= 0, got {describe(max_distance_m)}."
            )
        return np.full(len(schools), value)
    unknown = set(max_distance_m) - set(LEVELS)
    if unknown:
        raise InputError(f"max_distance_m: unknown level(s) {sorted(unknown)}; levels are {list(LEVELS)}.")
    if "level" not in schools.columns:
        raise InputError(
            "schools: a per-level max_distance_m needs a 'level' column (primary, junior, nine_year, "
            "twelve_year) to know which limit applies to each school."
        )
    limits = {}
    for kind in pd.unique(schools["level"]):
        if kind not in LEVELS_SERVED:
            sid = schools.index[(schools["level"] == kind).to_numpy()][0]
            raise InputError(
                f"schools: school {sid!r} has level {describe(kind)}; use one of {', '.join(LEVELS_SERVED)}."
            )
        served = [float(max_distance_m[lv]) for lv in LEVELS_SERVED[kind] if lv in max_distance_m]
        if not served:
            raise InputError(
                f"max_distance_m gives limits for {sorted(max_distance_m)} but {kind} schools serve "
                f"{list(LEVELS_SERVED[kind])}; add a limit for those levels."
            )
        limits[kind] = max(served)
    return schools["level"].map(limits).to_numpy(dtype=float)


def _check_inputs(
    units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, crs: CRS
) -> tuple[np.ndarray, np.ndarray]:
    require_crs(units, name="units")
    require_crs(schools, name="schools")
    same_crs(crs, units.crs, name_a="the road network", name_b="units")
    same_crs(crs, schools.crs, name_a="the road network", name_b="schools")
    for label, frame in (("units", units), ("schools", schools)):
        if not frame.index.is_unique:
            dup = frame.index[frame.index.duplicated()][0]
            raise InputError(f"{label}: id {dup!r} appears more than once; the index must be unique.")
    return (
        _points_xy(units, name="units", use_pop=True),
        _points_xy(schools, name="schools", use_pop=False),
    )


def _check_coverage(net: Bbox, xy: np.ndarray, *, max_snap_m: float, what: str, label: str) -> None:
    """Raise when most points lie outside the network's extent (grown by ``max_snap_m``)."""
    left, bottom, right, top = net
    x, y = xy[:, 0], xy[:, 1]
    inside = (x >= left - max_snap_m) & (x <= right + max_snap_m) & (y >= bottom - max_snap_m)
    inside &= y <= top + max_snap_m
    if inside.mean() < 0.5:
        ext = (np.nanmin(x), np.nanmin(y), np.nanmax(x), np.nanmax(y))
        raise NetworkError(
            f"{label}: the road network does not cover the {what}: {int((~inside).sum())} of {len(xy)} "
            f"lie outside it. Network extent {_fmt_bounds(net)}, {what} extent {_fmt_bounds(ext)} "
            "(left, bottom, right, top, same CRS). Load a network for the whole study area."
        )


def travel_costs(
    graph: _arrays.Network,
    units: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    *,
    max_distance_m: float | Mapping[str, float],
    walking_speed_mps: float = 1.0,
    max_snap_m: float = 250.0,
    pairs: pd.DataFrame | None = None,
    min_component_m: float = MIN_COMPONENT_M,
) -> pd.DataFrame:
    """Walking distance and time of every unit–school pair within the distance limit.

    Units walk from their population-weighted point (``pop_x``, ``pop_y``; the representative point when
    missing), schools from their point. Both are snapped to their nearest edge of the network's main part,
    and the straight access legs are added. Walking uses every edge in both directions. One log line each
    names the schools that reach no home and the homes that reach no school within the limits.

    Parameters
    ----------
    graph
        Projected road graph (from :func:`load_network`), or its edge table (:func:`road_table`: the
        same costs from a few arrays), in the same CRS as ``units`` and ``schools``.
    units
        Demand units, index ``unit_id``.
    schools
        Schools and sites (points), index ``school_id``; a ``level`` column when ``max_distance_m`` is
        per level.
    max_distance_m
        Hard walking limit (m, access legs included), or a mapping level → limit; a school's limit is then
        the largest over the levels its kind serves (``siting.standards.LEVELS_SERVED``).
    walking_speed_mps
        Walking speed (m/s) giving ``time_s = distance_m / walking_speed_mps``.
    max_snap_m
        Points farther than this from any road are not snapped (m) and reach no school.
    pairs
        Extra ``unit_id, school_id`` pairs (e.g. current assignments) always returned, at their true
        distance however far (``inf`` when not connected or a point is not snapped).
    min_component_m
        Least road length (m) of a connected component, other than the largest, that points snap to
        (:data:`siting.network.snap.MIN_COMPONENT_M`); never a short fragment that reaches nothing.

    Returns
    -------
    pandas.DataFrame
        ``unit_id, school_id, distance_m, time_s`` (float64), sorted by ``unit_id, school_id``.

    Raises
    ------
    NetworkError
        For an empty network, or one that does not cover the units or schools: more than half of them
        lie outside the network's extent grown by ``max_snap_m`` (both extents shown). Fewer outside are
        only reported, as points that were not snapped.
    CRSError
        For an unprojected network or inputs in another CRS than the network (both named).
    InputError
        For a bad limit, speed, ``level`` or ``pairs`` id.
    """
    start = time.perf_counter()
    crs = _graph_crs(graph)
    _check_speed(walking_speed_mps)
    unit_xy, school_xy = _check_inputs(units, schools, crs)
    limits = _school_limits(schools, max_distance_m)
    table = _arrays.as_table(graph)
    label = table.name
    clock = {"edge_table": time.perf_counter()}
    both = _snap_ends(
        table, (unit_xy, units.index), (school_xy, schools.index), (max_snap_m, min_component_m), label=label
    )
    clock["snapping"] = time.perf_counter()
    matrix, unit_end, school_end = _point_graph(table, both, len(units))
    found = _within_limits(matrix, unit_end, school_end, limits)
    clock["shortest_paths"] = time.perf_counter()
    _report_unreached(found, units, schools)
    if pairs is not None and len(pairs):
        found = _add_pairs(pairs, units.index, schools.index, found, matrix, unit_end, school_end)
    out = _cost_table(units.index, schools.index, found, walking_speed_mps)
    _log_done(out, units, schools, (start, clock))
    return out


def pair_costs(
    graph: _arrays.Network,
    units: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    pairs: pd.DataFrame,
    *,
    walking_speed_mps: float = 1.0,
    max_snap_m: float = 250.0,
    min_component_m: float = MIN_COMPONENT_M,
) -> pd.DataFrame:
    """Walking distance and time of the given unit–school pairs only, however far.

    The same walk as :func:`travel_costs` (snapped points, access legs, every edge both ways) without the
    bounded search around every school: for a few far pairs, such as a unit's nearest schools when none is
    within the limit. Points are snapped without the coverage check, so ``units`` may be a handful of
    outlying units.

    Parameters
    ----------
    graph
        Projected road graph or its edge table, in the CRS of ``units`` and ``schools``.
    units
        Demand units holding at least the units of ``pairs``, index ``unit_id``.
    schools
        Schools holding at least the schools of ``pairs``, index ``school_id``.
    pairs
        ``unit_id, school_id`` pairs to measure.
    walking_speed_mps
        Walking speed (m/s).
    max_snap_m
        Points farther than this from any road are not snapped (m); their pairs are ``inf``.
    min_component_m
        As in :func:`travel_costs`: points snap to the network's main part only.

    Returns
    -------
    pandas.DataFrame
        ``unit_id, school_id, distance_m, time_s`` (``inf`` where not connected), one row per distinct
        pair, sorted by ``unit_id, school_id``.
    """
    _check_speed(walking_speed_mps)
    unit_xy, school_xy = _check_inputs(units, schools, _graph_crs(graph))
    table = _arrays.as_table(graph)
    _check_snap_limit(max_snap_m)
    usable = _arrays.usable_edges(table, min_component_m)  # as travel_costs snaps, without its reports
    both = _arrays.snap(table, np.concatenate([unit_xy, school_xy]), max_snap_m=max_snap_m, usable=usable)
    matrix, unit_end, school_end = _point_graph(table, both, len(units))
    none = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0))
    found = _add_pairs(pairs, units.index, schools.index, none, matrix, unit_end, school_end, why="walked")
    return _cost_table(units.index, schools.index, found, walking_speed_mps)


def _check_speed(walking_speed_mps: float) -> None:
    if not (np.isfinite(walking_speed_mps) and walking_speed_mps > 0):
        raise InputError(f"walking_speed_mps must be > 0 m/s, got {describe(walking_speed_mps)}.")


def _snap_ends(
    table: _arrays.EdgeTable,
    unit_side: tuple[np.ndarray, pd.Index],
    school_side: tuple[np.ndarray, pd.Index],
    limits_m: tuple[float, float],
    *,
    label: str,
) -> _arrays.Snapped:
    """Check that the network covers both sides, then snap units and schools together.

    Parameters
    ----------
    table
        The network's edges.
    unit_side, school_side
        Each side's ``(xy, ids)``: point coordinates (m, network CRS) and their index.
    limits_m
        ``(max_snap_m, min_component_m)``: the snap limit (m; far points are reported and left
        unsnapped) and the least road length of a component to snap to (m).
    label
        How messages name the network.

    Returns
    -------
    siting.network._arrays.Snapped
        The units' rows first, then the schools'.
    """
    (unit_xy, unit_ids), (school_xy, school_ids) = unit_side, school_side
    max_snap_m, min_component_m = limits_m
    net = (
        float(table.node_xy[:, 0].min()),
        float(table.node_xy[:, 1].min()),
        float(table.node_xy[:, 0].max()),
        float(table.node_xy[:, 1].max()),
    )
    _check_coverage(net, unit_xy, max_snap_m=max_snap_m, what="units", label=label)
    _check_coverage(net, school_xy, max_snap_m=max_snap_m, what="schools", label=label)
    layers = [(unit_xy, unit_ids, "units"), (school_xy, school_ids, "schools")]
    return snap_layers(table, layers, max_snap_m=max_snap_m, min_component_m=min_component_m)


def _report_unreached(
    found: tuple[np.ndarray, np.ndarray, np.ndarray], units: pd.DataFrame, schools: pd.DataFrame
) -> None:
    """One warning line for the schools that reach no home, one for the homes that reach no school."""
    uix, six, _ = found
    lonely = np.ones(len(schools), dtype=bool)
    lonely[six] = False
    if lonely.any():
        log.warning(
            "travel costs: %d of %d school(s) reach no home within their walking limit: %s",
            int(lonely.sum()),
            len(schools),
            examples(schools.index, lonely),
        )
    cut_off = np.ones(len(units), dtype=bool)
    cut_off[uix] = False
    if cut_off.any():
        people = (
            f" (population {float(units['population'].to_numpy(dtype=float)[cut_off].sum()):,.0f})"
            if "population" in units.columns
            else ""
        )
        log.warning(
            "travel costs: %d of %d home unit(s)%s reach no school within the walking limit: %s",
            int(cut_off.sum()),
            len(units),
            people,
            examples(units.index, cut_off),
        )


def _point_graph(
    table: _arrays.EdgeTable, both: _arrays.Snapped, n_units: int
) -> tuple[Any, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Insert the snapped points as nodes; return the matrix and each side's ``(node, access_m)`` arrays."""
    matrix, node = _arrays.augmented_matrix(table, both)
    unit_end = (node[:n_units], both.access[:n_units])
    school_end = (node[n_units:], both.access[n_units:])
    return matrix, unit_end, school_end


def _within_limits(
    matrix: Any,
    unit_end: tuple[np.ndarray, np.ndarray],
    school_end: tuple[np.ndarray, np.ndarray],
    limits: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Snapped unit-school pairs within the school's limit (m): ``(unit_pos, school_pos, distance_m)``."""
    unode, u_access = unit_end
    snode, s_access = school_end
    u_ok, s_ok = unode >= 0, snode >= 0
    u_pos, s_pos = np.flatnonzero(u_ok), np.flatnonzero(s_ok)
    si, ti, dist = _arrays.bounded_pairs(
        matrix,
        snode[s_ok],
        s_access[s_ok],
        limits[s_ok],
        unode[u_ok],
        u_access[u_ok],
    )
    return u_pos[ti], s_pos[si], dist


def _cost_table(
    unit_index: pd.Index,
    school_index: pd.Index,
    found: tuple[np.ndarray, np.ndarray, np.ndarray],
    walking_speed_mps: float,
) -> pd.DataFrame:
    """The cost table of the pairs ``found`` (positions and metres), sorted by ``unit_id, school_id``."""
    uix, six, dist = found
    out = pd.DataFrame(
        {
            "unit_id": unit_index.take(uix),
            "school_id": school_index.take(six),
            "distance_m": dist.astype(float),
            "time_s": dist.astype(float) / float(walking_speed_mps),
        }
    )
    return out.sort_values(["unit_id", "school_id"], kind="stable").reset_index(drop=True)


def _log_done(
    out: pd.DataFrame, units: pd.DataFrame, schools: pd.DataFrame, times: tuple[float, dict[str, float]]
) -> None:
    """Log the table's size and the seconds spent in each stage (``times``: start, then stage end times)."""
    start, clock = times
    spent, last = {}, start
    for stage, end in [*clock.items(), ("table", time.perf_counter())]:
        spent[stage], last = end - last, end
    log.info(
        "travel costs: %d pairs for %d units x %d schools in %.1f s",
        len(out),
        len(units),
        len(schools),
        time.perf_counter() - start,
        extra={"timings_s": spent},
    )


def _add_pairs(
    pairs: pd.DataFrame,
    unit_index: pd.Index,
    school_index: pd.Index,
    found: tuple[np.ndarray, np.ndarray, np.ndarray],
    matrix: Any,
    unit_end: tuple[np.ndarray, np.ndarray],
    school_end: tuple[np.ndarray, np.ndarray],
    *,
    why: str = "beyond the limit added",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append the requested pairs missing from ``found`` at their exact, unbounded distance.

    ``why`` says in the log what was done with the pairs (by default: beyond the limit, added).
    """
    uix, six, dist = found
    unode, u_access = unit_end
    snode, s_access = school_end
    missing_cols = {"unit_id", "school_id"} - set(pairs.columns)
    if missing_cols:
        raise InputError(f"pairs: needs columns unit_id and school_id; missing {sorted(missing_cols)}.")
    pu = unit_index.get_indexer(pd.Index(pairs["unit_id"]))
    ps = school_index.get_indexer(pd.Index(pairs["school_id"]))
    for label, idx, col in (("unit", pu, "unit_id"), ("school", ps, "school_id")):
        if (idx < 0).any():
            bad = pairs[col].to_numpy()[idx < 0].tolist()[0]
            raise InputError(f"pairs: {col} {bad!r} is not a known {label}; check the ids in pairs.")
    want = pd.MultiIndex.from_arrays([pu, ps]).unique()
    have = pd.MultiIndex.from_arrays([uix, six])
    extra = want[~want.isin(have)]
    if len(extra) == 0:
        return uix, six, dist
    eu = extra.get_level_values(0).to_numpy()
    es = extra.get_level_values(1).to_numpy()
    far = _arrays.pair_distances(
        matrix,
        unode[eu],
        np.nan_to_num(u_access[eu], nan=0.0),
        snode[es],
        np.nan_to_num(s_access[es], nan=0.0),
    )
    log.info("pairs: %d requested pair(s) %s at their true distance", len(extra), why)
    return np.concatenate([uix, eu]), np.concatenate([six, es]), np.concatenate([dist, far])


def unreachable_units(
    units: gpd.GeoDataFrame | pd.DataFrame,
    costs: pd.DataFrame,
    *,
    level: str | None = None,
    schools: pd.DataFrame | None = None,
    max_distance_m: float | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Units that reach no school (optionally: no school serving ``level`` within its limit).

    Parameters
    ----------
    units
        Demand units, index ``unit_id`` (``population`` is reported when present).
    costs
        Table from :func:`travel_costs` (or :func:`euclidean_costs`).
    level
        ``"primary"`` or ``"junior"``: only schools whose kind serves it count (needs ``schools``).
    schools
        Schools with a ``level`` column (kind), index ``school_id``.
    max_distance_m
        Limit (m), or per-level limits; when given, rows beyond it (e.g. added through ``pairs=``) do not
        count as reachable. Without it every finite row counts.

    Returns
    -------
    pandas.DataFrame
        Index ``unit_id``; columns ``population`` (NaN when units have none) and ``nearest_m`` (nearest
        school in ``costs`` counting for the question, ``inf`` when none), in the units' order.
    """
    rows = costs[np.isfinite(costs["distance_m"].to_numpy(dtype=float))]
    if level is not None:
        if level not in LEVELS:
            raise InputError(f"level {describe(level)} is not known; use one of {list(LEVELS)}.")
        if schools is None or "level" not in schools.columns:
            raise InputError("unreachable_units(level=...) needs schools with a 'level' column.")
        serves = schools["level"].map(lambda k: level in LEVELS_SERVED.get(k, ()))
        rows = rows[rows["school_id"].map(serves).fillna(False).to_numpy(dtype=bool)]
    if max_distance_m is not None:
        if isinstance(max_distance_m, Mapping) and level is not None:
            limit = rows["distance_m"] * 0 + float(max_distance_m[level])
        elif isinstance(max_distance_m, Mapping):
            if schools is None:
                raise InputError("unreachable_units: per-level max_distance_m needs schools.")
            per_school = pd.Series(_school_limits(schools, max_distance_m), index=schools.index)
            limit = rows["school_id"].map(per_school)
        else:
            limit = float(max_distance_m)
        rows = rows[(rows["distance_m"] <= limit).to_numpy(dtype=bool)]
    nearest = rows.groupby("unit_id")["distance_m"].min()
    nearest = nearest.reindex(units.index, fill_value=np.inf)
    lost = nearest.index[~np.isfinite(nearest.to_numpy())]
    population = (
        units["population"].reindex(lost).astype(float)
        if "population" in units.columns
        else pd.Series(np.nan, index=lost)
    )
    all_nearest = costs.groupby("unit_id")["distance_m"].min().reindex(lost, fill_value=np.inf)
    out = pd.DataFrame({"population": population.to_numpy(), "nearest_m": all_nearest.to_numpy()}, index=lost)
    out.index.name = units.index.name or "unit_id"
    if len(out):
        log.warning(
            "%d unit(s) with population %.0f reach no school%s",
            len(out),
            float(np.nansum(out["population"])),
            f" serving {level}" if level else "",
        )
    return out


def euclidean_costs(
    units: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    *,
    max_distance_m: float | Mapping[str, float],
    walking_speed_mps: float = 1.0,
    detour: float = 1.0,
) -> pd.DataFrame:
    """Straight-line costs with the same columns as :func:`travel_costs`.

    Parameters
    ----------
    units
        Demand units, index ``unit_id`` (``pop_x``/``pop_y`` when present).
    schools
        School points, index ``school_id`` (``level`` when ``max_distance_m`` is per level).
    max_distance_m
        Limit (m) on ``detour × straight distance``, or per-level limits as in :func:`travel_costs`.
    walking_speed_mps
        Walking speed (m/s).
    detour
        Factor ≥ 1 applied to straight distances (a typical walk is 1.2–1.4 times the straight line).

    Returns
    -------
    pandas.DataFrame
        ``unit_id, school_id, distance_m, time_s``, sorted by ``unit_id, school_id``.
    """
    if not (np.isfinite(detour) and detour >= 1.0):
        raise InputError(f"detour must be >= 1, got {describe(detour)}.")
    _check_speed(walking_speed_mps)
    crs = ensure_projected(require_crs(units, name="units"), name="units")
    same_crs(crs, require_crs(schools, name="schools"), name_a="units", name_b="schools")
    unit_xy = _points_xy(units, name="units", use_pop=True)
    school_xy = _points_xy(schools, name="schools", use_pop=False)
    limits = _school_limits(schools, max_distance_m)
    radius = float(limits.max()) / detour if len(limits) else 0.0
    found = cKDTree(unit_xy).sparse_distance_matrix(cKDTree(school_xy), radius, output_type="ndarray")
    ui, si = found["i"].astype(np.int64), found["j"].astype(np.int64)
    dist = found["v"].astype(float) * detour
    keep = dist <= limits[si]
    out = pd.DataFrame(
        {
            "unit_id": units.index.take(ui[keep]),
            "school_id": schools.index.take(si[keep]),
            "distance_m": dist[keep],
            "time_s": dist[keep] / float(walking_speed_mps),
        }
    )
    return out.sort_values(["unit_id", "school_id"], kind="stable").reset_index(drop=True)
