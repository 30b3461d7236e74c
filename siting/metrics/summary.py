"""A run's headline figures as one flat, JSON-ready dict: plan, both states per level, moves and the CV."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting._jsonify import json_ready
from siting.metrics.balance import worsened_indicators
from siting.metrics.cv import WITHOUT_PLAN, cv_tables
from siting.metrics.districts import district_metrics
from siting.metrics.schools import school_metrics
from siting.metrics.states import ALL
from siting.standards import LEVELS, Standards

_AFTER_FIELDS = (
    "demand",
    "overflow",
    "seats",
    "seats_per_1000",
    "seat_shortfall",
    "seats_below_demand",
    "schools_over_capacity",
    "large_classes",
    "super_large_classes",
    "walk_mean_m",
    "walk_p95_m",
    "share_within_radius",
)
_BEFORE_FIELDS = (
    "overflow",
    "seats",
    "seats_per_1000",
    "seat_shortfall",
    "seats_below_demand",
    "schools_over_capacity",
    "large_classes",
    "super_large_classes",
    "walk_mean_m",
    "share_within_radius",
)


_DISTRICT_COLUMN = {"overflow": "over_capacity"}  # key figure -> district_metrics column


def summary(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    standards: Standards,
    costs: pd.DataFrame | None = None,
    changes: pd.DataFrame | None = None,
    solution: Any = None,
    indicators: Mapping[str, str] | None = None,
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
      read from the overall :func:`district_metrics` row: demand, overflow (pupils above standard capacity,
      the district table's ``over_capacity``), seats, seats_per_1000, seat_shortfall (seats below the
      per-1,000 standard), seats_below_demand, schools_over_capacity, large_classes, super_large_classes
      (classes of 56+ and 66+ pupils), walk_mean_m, walk_p95_m, share_within_radius (a subset before); and
      ``<level>_max_utilization``.
    - ``<level>_units_moved``, ``<level>_pupils_moved`` from ``changes``.
    - The difference coefficient, per level: ``<level>_cv_worst`` (largest CV over the indicators,
      proposed state), ``<level>_cv_pass`` and ``<level>_cv_pass_before`` (every indicator with data within
      ``standards.cv_max``, after / before), ``<level>_cv_failing`` (indicators failing in the plan) and
      ``<level>_cv_pass_without_plan`` (the same, in the plan year with today's schools and catchments),
      ``<level>_cv_worsened`` (passing in the plan year without the plan, failing with it), as
      comma-separated indicator keys
      ("" for none); ``cv_indicators_missing``: the national indicators without data (no column declared
      or the declared column absent).

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
        ``{column: indicator key}`` for the difference coefficient; default
        :data:`~siting.standards.DEFAULT_INDICATOR_COLUMNS`.
    school_table, district_table, cv
        Already computed :func:`school_metrics` / :func:`district_metrics` (both states, with their
        ``state`` column) and :func:`cv_tables` for these schools and units, to avoid computing them again.

    Returns
    -------
    dict
        Flat mapping of figure name to a number, bool or ``None``.
    """
    out: dict[str, Any] = _plan_figures(schools, solution)
    out.update(_state_figures(schools, units, standards, costs, school_table, district_table))
    if changes is not None:
        out.update(_move_figures(changes))
    if cv is None:
        cv = cv_tables(schools, units, standards=standards, indicators=indicators)
    out.update(_cv_figures(cv))
    return json_ready(out)


def _plan_figures(schools: gpd.GeoDataFrame, solution: Any) -> dict[str, Any]:
    """Return ``new_schools``, ``expanded_schools``, ``cost_yuan`` and ``subsidy_yuan`` where known."""
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
    return out


def _state_figures(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    standards: Standards,
    costs: pd.DataFrame | None,
    school_table: pd.DataFrame | None,
    district_table: pd.DataFrame | None,
) -> dict[str, Any]:
    """Return the overall district figures and the largest utilization per level of both states.

    Parameters
    ----------
    schools, units, standards, costs
        As for :func:`summary`.
    school_table, district_table
        Both states' :func:`school_metrics` / :func:`district_metrics`, or ``None`` to compute them.

    Returns
    -------
    dict
        ``<level>_<figure>`` (proposed) and ``<level>_<figure>_before`` (current), for the states whose
        assignment columns the units have.
    """
    out: dict[str, Any] = {}
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
                out[f"{level}_{name}{suffix}"] = row[_DISTRICT_COLUMN.get(name, name)]
            util = table.loc[table["level"] == level, "utilization"]
            out[f"{level}_max_utilization{suffix}"] = float(util.max()) if util.notna().any() else None
    return out


def _move_figures(changes: pd.DataFrame) -> dict[str, Any]:
    """Return ``<level>_units_moved`` and ``<level>_pupils_moved`` from a changes table."""
    out: dict[str, Any] = {}
    for level in LEVELS:
        moved = changes[changes["level"] == level] if len(changes) else changes
        out[f"{level}_units_moved"] = len(moved)
        out[f"{level}_pupils_moved"] = float(moved["pupils"].sum()) if len(moved) else 0.0
    return out


def _cv_figures(cv: pd.DataFrame) -> dict[str, Any]:
    """Return the difference-coefficient figures per level from :func:`cv_tables` (see :func:`summary`)."""
    out: dict[str, Any] = {}
    if not len(cv):
        return out
    for level in LEVELS:
        rows = cv[cv["level"] == level]
        states = {
            state: rows[rows["state"] == state].set_index("indicator") for state in ("current", "proposed")
        }
        after, before = states["proposed"], states["current"]
        if len(after):
            values = pd.to_numeric(after["cv"], errors="coerce")
            out[f"{level}_cv_worst"] = float(values.max()) if values.notna().any() else None
            known = after["passes"].dropna()
            out[f"{level}_cv_pass"] = bool(known.astype(bool).all()) if len(known) else None
            out[f"{level}_cv_failing"] = _names(after.index[_flag(after["passes"], False)])
        if len(before):
            known = before["passes"].dropna()
            out[f"{level}_cv_pass_before"] = bool(known.astype(bool).all()) if len(known) else None
        without = rows[rows["state"] == WITHOUT_PLAN]
        if len(without):
            known = without["passes"].dropna()
            out[f"{level}_cv_pass_without_plan"] = bool(known.astype(bool).all()) if len(known) else None
        if len(after) and len(before):
            worse = [w["indicator"] for w in worsened_indicators(cv) if w["level"] == level]
            out[f"{level}_cv_worsened"] = _names(worse)
    status = cv.drop_duplicates("indicator").set_index("indicator")["status"] if "status" in cv else None
    if status is not None:
        out["cv_indicators_missing"] = _names(status.index[status != "ok"])
    return out


def _flag(passes: pd.Series, value: bool) -> np.ndarray:
    """Where ``passes`` is known and equal to ``value`` (missing counts as neither)."""
    return passes.map(lambda v: v is not None and not pd.isna(v) and bool(v) is value).to_numpy(dtype=bool)


def _names(keys: Any) -> str:
    """Indicator keys as one comma-separated text ("" for none), so the figures stay flat."""
    return ", ".join(str(k) for k in keys)
