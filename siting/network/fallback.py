"""Costs that seat every home: a fallback pair where no school is in reach, and a finite walk on every pair.

Nearby enrolment guarantees every child a place, so every unit with demand must keep at least one pair the
model may use in every plan. The bounded cost table (:func:`~siting.network.travel_costs`) plus the
current-school pairs give that to most units; :func:`complete_costs` adds the rest:

- a unit with demand at a level, no *existing* school of that level within the hard limit and no current
  school gets **one** pair to its nearest existing school of that level by walk (``fallback = True``). The
  candidates are its few nearest by straight line (:data:`FALLBACK_CANDIDATES`), walked with
  :func:`~siting.network.pair_costs`; where none is connected, the nearest by straight line at its straight
  distance (``off_network = True``). Reserved sites do not count as in reach: a site may stay closed.
- a pair whose walk is ``inf`` (a current school across a gap in the network, or a point too far from any
  road to snap) gets the straight-line distance and ``off_network = True``.

A level with demand and no existing school at all is an error before any of this
(:func:`require_schools_per_level`).
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from siting._log import get_logger
from siting.errors import InputError
from siting.network._arrays import Network
from siting.network.costs import pair_costs
from siting.network.snap import _points_xy
from siting.standards import LEVELS, LEVELS_SERVED

log = get_logger(__name__)

FALLBACK_CANDIDATES = 5
"""Nearest existing schools by straight line whose walks are compared for a unit's fallback pair."""

FLAG_COLUMNS: tuple[str, ...] = ("fallback", "off_network")
"""Bool columns :func:`complete_costs` adds to the cost table (missing means False)."""


def seat_schools(schools: pd.DataFrame, level: str) -> pd.Index:
    """Return the existing schools that have seats at ``level``: kind serves it and ``capacity_<level> > 0``.

    Parameters
    ----------
    schools
        Schools and sites, index ``school_id``, with ``level`` (kind), ``status`` and ``capacity_<level>``.
    level
        ``"primary"`` or ``"junior"``.

    Returns
    -------
    pandas.Index
        Their ``school_id`` values, in table order.
    """
    serves = schools["level"].map(lambda kind: level in LEVELS_SERVED.get(str(kind), ())).astype(bool)
    existing = schools["status"].astype(str).eq("existing") if "status" in schools.columns else True
    column = f"capacity_{level}"
    seats = pd.to_numeric(schools[column], errors="coerce").fillna(0.0) if column in schools.columns else 0.0
    return schools.index[(serves & existing & (seats > 0)).to_numpy(dtype=bool)]


def require_schools_per_level(units: pd.DataFrame, schools: pd.DataFrame, *, name: str = "schools") -> None:
    """Raise when a level has demand but no existing school in the study area teaches it.

    Parameters
    ----------
    units
        Demand units with a seat-demand column per level.
    schools
        Schools and sites (see :func:`seat_schools`).
    name
        How the message names the schools file.

    Raises
    ------
    InputError
        With the level, the number of schools read and the seats of demand that would have no school.
    """
    existing = (
        int(schools["status"].astype(str).eq("existing").sum()) if "status" in schools else len(schools)
    )
    for level in LEVELS:
        demand = (
            float(pd.to_numeric(units[level], errors="coerce").fillna(0.0).sum()) if level in units else 0
        )
        if demand > 0 and len(seat_schools(schools, level)) == 0:
            kinds = ", ".join(kind for kind, levels in LEVELS_SERVED.items() if level in levels)
            raise InputError(
                f"{name}: no school serves {level} among the {existing} existing schools; {demand:,.0f} "
                f"{level} seats of demand would have no school. Add the schools that teach {level} "
                f"(level {kinds}, with capacity_{level} > 0) to the schools file."
            )


def fallback_needs(
    units: pd.DataFrame,
    schools: pd.DataFrame,
    costs: pd.DataFrame,
    *,
    hard_max_distance_m: Mapping[str, float],
) -> pd.DataFrame:
    """Return the unit-levels that need a fallback pair: demand, no existing school in reach, no current one.

    A fallback pair already in ``costs`` counts as in reach, so completing a table twice adds nothing.

    Parameters
    ----------
    units
        Demand units (index ``unit_id``) with demand per level and, where known, ``current_<level>``.
    schools
        Schools and sites (see :func:`seat_schools`).
    costs
        Cost table ``unit_id, school_id, distance_m``.
    hard_max_distance_m
        Hard walking limit per level (m).

    Returns
    -------
    pandas.DataFrame
        ``unit_id, level, demand`` (seats), by level then unit order.
    """
    frames = []
    dist = pd.to_numeric(costs["distance_m"], errors="coerce").to_numpy(dtype=float)
    given = (
        costs["fallback"].to_numpy(dtype=bool) if "fallback" in costs.columns else np.zeros(len(costs), bool)
    )
    for level in LEVELS:
        if level not in units.columns:
            continue
        eligible = seat_schools(schools, level)
        near = costs["school_id"].isin(eligible).to_numpy() & (
            (dist <= float(hard_max_distance_m[level])) | given
        )
        in_reach = units.index.isin(pd.unique(costs["unit_id"].to_numpy()[near]))
        column = f"current_{level}"
        current = units[column] if column in units.columns else pd.Series(None, index=units.index)
        has_current = current.isin(eligible).to_numpy()
        demand = pd.to_numeric(units[level], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        need = (demand > 0) & ~in_reach & ~has_current
        frames.append(pd.DataFrame({"unit_id": units.index[need], "level": level, "demand": demand[need]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["unit_id", "level"])


def complete_costs(
    graph: Network,
    units: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    costs: pd.DataFrame,
    *,
    hard_max_distance_m: Mapping[str, float],
    walking_speed_mps: float = 1.0,
    max_snap_m: float = 250.0,
    candidates: int = FALLBACK_CANDIDATES,
    name: str = "schools",
) -> pd.DataFrame:
    """Add the fallback pairs and finite distances that let the model seat every unit with demand.

    See the module docstring for the rules.

    Parameters
    ----------
    graph
        The road graph the cost table was built on (study CRS), or its edge table (:func:`road_table`).
    units
        Demand units, index ``unit_id``, with demand per level and ``current_<level>`` where known.
    schools
        Schools and sites, index ``school_id`` (``level``, ``status``, ``capacity_<level>``).
    costs
        Cost table from :func:`~siting.network.travel_costs` (with the current-school pairs).
    hard_max_distance_m
        Hard walking limit per level (m).
    walking_speed_mps
        Walking speed (m/s) for ``time_s``.
    max_snap_m
        Snap limit (m), as for the cost table.
    candidates
        How many nearest existing schools by straight line are walked for each fallback.
    name
        How messages name the schools file.

    Returns
    -------
    pandas.DataFrame
        ``costs`` with finite ``distance_m`` / ``time_s`` on every row, the fallback pairs added, and the
        bool columns ``fallback`` and ``off_network``; sorted by ``unit_id, school_id``.

    Raises
    ------
    InputError
        When a level with demand has no existing school (:func:`require_schools_per_level`).
    """
    out = costs.copy()
    for column in FLAG_COLUMNS:
        out[column] = out[column].astype(bool) if column in out.columns else False
    out = _straight_where_disconnected(out, units, schools, walking_speed_mps)
    need = fallback_needs(units, schools, out, hard_max_distance_m=hard_max_distance_m)
    if len(need) == 0:
        return out
    require_schools_per_level(units, schools, name=name)
    chosen = _nearest_by_walk(graph, units, schools, need, candidates, walking_speed_mps, max_snap_m)
    _log_fallbacks(need, chosen, hard_max_distance_m)
    return _merge_fallbacks(out, chosen.drop_duplicates(["unit_id", "school_id"]))


def nearest_existing(
    units: pd.DataFrame, schools: pd.DataFrame, costs: pd.DataFrame, *, level: str
) -> pd.Series:
    """Return each unit's nearest existing school of ``level`` by walk, from the cost table.

    Parameters
    ----------
    units
        Demand units, index ``unit_id``.
    schools
        Schools and sites (see :func:`seat_schools`).
    costs
        Cost table (after :func:`complete_costs`, every unit with demand has a pair to such a school).
    level
        ``"primary"`` or ``"junior"``.

    Returns
    -------
    pandas.Series
        ``school_id`` indexed like ``units``; missing for units without any pair to such a school. Ties go
        to the smallest ``school_id``.
    """
    rows = costs[costs["school_id"].isin(seat_schools(schools, level))]
    rows = rows.sort_values(["unit_id", "distance_m", "school_id"], kind="stable")
    nearest = rows.drop_duplicates("unit_id").set_index("unit_id")["school_id"]
    return nearest.reindex(units.index).astype(object).rename(f"current_{level}")


def _straight_where_disconnected(
    costs: pd.DataFrame, units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, walking_speed_mps: float
) -> pd.DataFrame:
    """Give every pair with an infinite walk its straight-line distance and ``off_network = True``."""
    dist = costs["distance_m"].to_numpy(dtype=float)
    bad = ~np.isfinite(dist)
    if not bad.any():
        return costs
    straight = _straight_m(
        units, schools, costs["unit_id"].to_numpy()[bad], costs["school_id"].to_numpy()[bad]
    )
    costs.loc[bad, "distance_m"] = straight
    costs.loc[bad, "time_s"] = straight / float(walking_speed_mps)
    costs.loc[bad, "off_network"] = True
    log.warning(
        "%d pair(s) in the cost table have no walk on the network (e.g. unit %s to school %s); they get "
        "their straight-line distance and are marked off_network",
        int(bad.sum()),
        costs["unit_id"].to_numpy()[bad][0],
        costs["school_id"].to_numpy()[bad][0],
    )
    return costs


def _straight_m(
    units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, unit_ids: np.ndarray, school_ids: np.ndarray
) -> np.ndarray:
    """Straight-line distance (m) from each unit's population point to its paired school's point."""
    u = units.loc[pd.unique(unit_ids)]
    s = schools.loc[pd.unique(school_ids)]
    uxy = _points_xy(u, name="units", use_pop=True)[u.index.get_indexer(unit_ids)]
    sxy = _points_xy(s, name="schools", use_pop=False)[s.index.get_indexer(school_ids)]
    return np.hypot(uxy[:, 0] - sxy[:, 0], uxy[:, 1] - sxy[:, 1])


def _nearest_by_walk(
    graph: Network,
    units: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    need: pd.DataFrame,
    candidates: int,
    walking_speed_mps: float,
    max_snap_m: float,
) -> pd.DataFrame:
    """Pick each needy unit-level's nearest existing school by walk among its nearest by straight line.

    Parameters
    ----------
    graph, units, schools
        As for :func:`complete_costs`.
    need
        :func:`fallback_needs` rows.
    candidates
        Straight-line candidates per unit-level.
    walking_speed_mps, max_snap_m
        Walking speed (m/s) and snap limit (m).

    Returns
    -------
    pandas.DataFrame
        ``unit_id, level, school_id, distance_m, time_s, off_network``, one row per row of ``need``.
    """
    pairs = pd.concat(
        [
            _straight_candidates(units, schools, rows, level, candidates)
            for level, rows in need.groupby("level")
        ],
        ignore_index=True,
    )
    ids = pairs[["unit_id", "school_id"]].drop_duplicates()
    walks = pair_costs(
        graph,
        units.loc[ids["unit_id"].unique()],
        schools.loc[ids["school_id"].unique()],
        ids,
        walking_speed_mps=walking_speed_mps,
        max_snap_m=max_snap_m,
    )
    pairs = pairs.merge(
        walks[["unit_id", "school_id", "distance_m"]], on=["unit_id", "school_id"], how="left"
    )
    walked = np.isfinite(pairs["distance_m"].to_numpy(dtype=float))
    connected = pd.Series(walked).groupby([pairs["unit_id"], pairs["level"]]).transform("any").to_numpy()
    pairs["off_network"] = ~connected
    # a connected unit-level ranks its candidates by walk; one with none by straight line
    pairs["rank_m"] = np.where(connected, pairs["distance_m"].to_numpy(dtype=float), pairs["straight_m"])
    pairs["distance_m"] = pairs["rank_m"]
    pairs = pairs[np.isfinite(pairs["rank_m"].to_numpy(dtype=float))]
    best = pairs.sort_values(["level", "unit_id", "rank_m", "school_id"], kind="stable")
    best = best.drop_duplicates(["unit_id", "level"]).reset_index(drop=True)
    best["time_s"] = best["distance_m"] / float(walking_speed_mps)
    return best[["unit_id", "level", "school_id", "distance_m", "time_s", "off_network"]]


def _straight_candidates(
    units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, need: pd.DataFrame, level: str, k: int
) -> pd.DataFrame:
    """The ``k`` nearest existing schools of ``level`` by straight line of each unit in ``need``."""
    eligible = schools.loc[seat_schools(schools, level)]
    k = max(1, min(int(k), len(eligible)))
    unit_xy = _points_xy(units.loc[need["unit_id"]], name="units", use_pop=True)
    dist, pos = cKDTree(_points_xy(eligible, name="schools", use_pop=False)).query(unit_xy, k=k)
    dist, pos = np.asarray(dist).reshape(len(need), k), np.asarray(pos).reshape(len(need), k)
    return pd.DataFrame(
        {
            "unit_id": np.repeat(need["unit_id"].to_numpy(), k),
            "level": level,
            "school_id": eligible.index.to_numpy()[pos.ravel()],
            "straight_m": dist.ravel(),
        }
    )


def _merge_fallbacks(costs: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """Mark the chosen pairs already in ``costs`` as fallback and append the others."""
    key = pd.MultiIndex.from_frame(costs[["unit_id", "school_id"]])
    pick = pd.MultiIndex.from_frame(chosen[["unit_id", "school_id"]])
    costs.loc[key.isin(pick), "fallback"] = True
    new = chosen[~pick.isin(key)].assign(fallback=True)
    new = new[[c for c in costs.columns if c in new.columns]]
    out = pd.concat([costs, new], ignore_index=True) if len(new) else costs
    for column in FLAG_COLUMNS:
        out[column] = out[column].astype(bool)
    return out.sort_values(["unit_id", "school_id"], kind="stable").reset_index(drop=True)


def _log_fallbacks(need: pd.DataFrame, chosen: pd.DataFrame, limits: Mapping[str, float]) -> None:
    """Say per level how many units get a fallback school, with their seats, and how many off the network."""
    for level, rows in need.groupby("level", sort=False):
        got = chosen[chosen["level"] == level]
        log.warning(
            "%s: %d unit(s) with %.0f seats have no existing %s school within the %.0f m limit and no "
            "current school; each goes to its nearest existing %s school (%d by walk, %d by straight line "
            "off the network) and is flagged beyond_limit when that is farther than the limit",
            level,
            len(rows),
            float(rows["demand"].sum()),
            level,
            float(limits[level]),
            level,
            int((~got["off_network"]).sum()),
            int(got["off_network"].sum()),
        )
