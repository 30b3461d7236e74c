"""Every home seated: today's schools where no catchments are given, the plan on the units, the walks flagged.

Helpers of :mod:`siting.pipeline.stages`: the model seats every unit with demand (issue 13); these put its
answer on the units (``proposed_<level>``, after the contiguity repair), read it against the hard limit
and the cost table, and say so in the run's tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import metrics, network
from siting._log import get_logger
from siting.standards import INDICATORS, LEVELS, Standards

log = get_logger(__name__)

NEAREST = "nearest existing school by walk"
"""How ``summary.json`` says a level's current schools were derived when no catchment file was given."""


def derive_current(
    units: pd.DataFrame,
    facilities: pd.DataFrame,
    costs: pd.DataFrame,
    files: dict[str, Path],
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Give each level without a current-catchment file today's schools: the nearest existing one by walk.

    Parameters
    ----------
    units
        Demand units; the levels with a file already carry ``current_<level>``.
    facilities
        Schools and sites (``level``, ``status``, ``capacity_<level>``), index ``school_id``.
    costs
        The completed cost table (:func:`siting.network.complete_costs`), so every unit with demand has a
        pair to an existing school of each level.
    files
        Level → current-catchment file, as in the scenario.

    Returns
    -------
    tuple
        ``(units, how)``: a copy of the units with ``current_<level>`` for every level, and per level how
        it was obtained (``"file <name>"`` or :data:`NEAREST`).
    """
    units = units.copy()
    how = {}
    for level in LEVELS:
        if level in files:
            how[level] = f"file {Path(files[level]).name}"
            continue
        nearest = network.nearest_existing(units, facilities, costs, level=level)
        units[f"current_{level}"] = nearest.to_numpy(dtype=object)
        demand = pd.to_numeric(units[level], errors="coerce").fillna(0.0)
        log.info(
            "%s: no current catchments given; today's school of each unit is its %s (%d unit(s) with %.0f "
            "seats of demand, %d school(s))",
            level,
            NEAREST,
            int(nearest.notna().sum()),
            float(demand[nearest.notna()].sum()),
            nearest.nunique(),
        )
        how[level] = NEAREST
    return units, how


def flag_walks(assignment: pd.DataFrame, costs: pd.DataFrame, standards: Standards) -> pd.DataFrame:
    """Add ``beyond_limit`` (walk above the level's hard limit) and ``off_network`` (straight line) to rows.

    Parameters
    ----------
    assignment
        ``unit_id, level, school_id, distance_m, ...`` (the final assignment).
    costs
        Cost table with the optional ``off_network`` column.
    standards
        Policy values (``hard_max_distance_m`` per level).

    Returns
    -------
    pandas.DataFrame
        A copy with the two bool columns.
    """
    out = assignment.copy()
    limit = out["level"].map(lambda lv: float(standards.hard_max_distance_m[lv])).to_numpy(dtype=float)
    out["beyond_limit"] = pd.to_numeric(out["distance_m"], errors="coerce").to_numpy(dtype=float) > limit
    if "off_network" in costs.columns and len(out):
        flag = costs.set_index(["unit_id", "school_id"])["off_network"].astype(bool)
        keys = pd.MultiIndex.from_frame(out[["unit_id", "school_id"]])
        out["off_network"] = flag.reindex(keys).fillna(False).to_numpy(dtype=bool)
    else:
        out["off_network"] = False
    return out


def beyond_limit_counts(assignment: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Return per level the units and pupils whose school is beyond the hard limit (for ``summary.json``)."""
    out = {}
    for level in LEVELS:
        rows = assignment[(assignment["level"] == level) & assignment["beyond_limit"].astype(bool)]
        out[level] = {"units": int(rows["unit_id"].nunique()), "pupils": float(rows["pupils"].sum())}
    return out


def unreachable_schools(
    unreachable: pd.DataFrame, assignment: pd.DataFrame, units: pd.DataFrame, costs: pd.DataFrame
) -> pd.DataFrame:
    """Say which school each unit without a school in reach got: its current one or its nearest.

    Parameters
    ----------
    unreachable
        ``unit_id, population, nearest_m, level`` (units that reach no school within the limit).
    assignment
        The final assignment with ``beyond_limit`` and ``off_network`` (:func:`flag_walks`).
    units
        Demand units with ``current_<level>``.
    costs
        Cost table with the optional ``fallback`` column.

    Returns
    -------
    pandas.DataFrame
        ``unreachable`` with ``school_id, distance_m, off_network, beyond_limit`` and ``how``
        ("current school", "nearest existing school", "no demand at this level", ...).
    """
    if len(unreachable) == 0:
        return unreachable.assign(
            school_id=pd.Series(dtype=object),
            distance_m=pd.Series(dtype=float),
            off_network=pd.Series(dtype=bool),
            beyond_limit=pd.Series(dtype=bool),
            how=pd.Series(dtype=object),
        )
    main = assignment.sort_values("pupils", ascending=False).drop_duplicates(["unit_id", "level"])
    cols = ["unit_id", "level", "school_id", "distance_m", "off_network", "beyond_limit"]
    out = unreachable.merge(main[cols], on=["unit_id", "level"], how="left")
    current = _per_level(units, out, "current_{level}")
    fallback = _pair_flag(costs, "fallback", out["unit_id"], out["school_id"])
    demand = pd.to_numeric(pd.Series(_per_level(units, out, "{level}")), errors="coerce").fillna(0.0)
    how = np.where(
        out["school_id"].isna().to_numpy(),
        np.where(demand.to_numpy() > 0, "no school (the model did not seat it)", "no demand at this level"),
        np.where(
            out["school_id"].to_numpy(dtype=object) == current,
            "current school",
            np.where(fallback, "nearest existing school", "other school"),
        ),
    )
    out["how"] = how
    return out


def _per_level(units: pd.DataFrame, rows: pd.DataFrame, template: str) -> np.ndarray:
    """Each row's value of the units' column ``template.format(level=row.level)`` for its unit (or None)."""
    out = np.full(len(rows), None, dtype=object)
    for level in LEVELS:
        column = template.format(level=level)
        mask = (rows["level"] == level).to_numpy()
        if column in units.columns and mask.any():
            out[mask] = units[column].reindex(rows["unit_id"].to_numpy()[mask]).to_numpy(dtype=object)
    return out


def _pair_flag(costs: pd.DataFrame, column: str, unit_ids: pd.Series, school_ids: pd.Series) -> np.ndarray:
    """The bool ``column`` of the cost table for each ``(unit, school)`` pair (False where absent)."""
    if column not in costs.columns:
        return np.zeros(len(unit_ids), dtype=bool)
    flag = costs.set_index(["unit_id", "school_id"])[column].astype(bool)
    keys = pd.MultiIndex.from_arrays([unit_ids.to_numpy(), school_ids.to_numpy(dtype=object)])
    return flag.reindex(keys).fillna(False).to_numpy(dtype=bool)


def check_overflow(solution: object, schools_after: pd.DataFrame, *, tolerance: float = 0.5) -> None:
    """Warn when the model's own overflow table disagrees with its assignment and capacities.

    Parameters
    ----------
    solution
        The model result; its ``overflow`` table (``school_id, level, overflow``) is checked when present.
    schools_after
        Schools with ``capacity_after_<level>`` (seats after the plan at the standard class size).
    tolerance
        Pupils of difference tolerated per school and level.
    """
    table = getattr(solution, "overflow", None)
    assignment = getattr(solution, "assignment", None)
    if not isinstance(table, pd.DataFrame) or not isinstance(assignment, pd.DataFrame) or not len(table):
        return
    pupils = assignment.groupby(["school_id", "level"])["pupils"].sum()
    seats = pd.Series(
        [float(schools_after[f"capacity_after_{lv}"].get(sid, 0.0)) for sid, lv in pupils.index],
        index=pupils.index,
    )
    mine = (pupils - seats).clip(lower=0.0)
    theirs = table.set_index(["school_id", "level"])["overflow"].astype(float)
    both = pd.concat([mine.rename("assignment"), theirs.rename("model")], axis=1).fillna(0.0)
    diff = (both["assignment"] - both["model"]).abs()
    if (diff > tolerance).any():
        worst = diff.idxmax()
        log.warning(
            "the model's overflow table disagrees with its assignment at %d school-level(s), most at %s %s: "
            "%.1f pupils above capacity by the assignment, %.1f by the model",
            int((diff > tolerance).sum()),
            worst[0],
            worst[1],
            float(both.at[worst, "assignment"]),
            float(both.at[worst, "model"]),
        )


def apply_assignment(units: gpd.GeoDataFrame, assignment: pd.DataFrame) -> gpd.GeoDataFrame:
    """Add ``proposed_<level>``: each unit's school (in split mode, the school serving most of its pupils)."""
    units = units.copy()
    for level in LEVELS:
        rows = assignment[assignment["level"] == level]
        # single-sourced: one row per unit; in split mode keep the school serving most pupils
        rows = rows.sort_values(["unit_id", "pupils"], ascending=[True, False]).drop_duplicates("unit_id")
        units[f"proposed_{level}"] = rows.set_index("unit_id")["school_id"].reindex(units.index)
    return units


def add_seated_pupils(units: gpd.GeoDataFrame, assignment: pd.DataFrame) -> gpd.GeoDataFrame:
    """Add ``proposed_<level>_pupils``: the pupils each unit has at its school (all its demand, by level)."""
    units = units.copy()
    for level in LEVELS:
        rows = assignment[assignment["level"] == level]
        seated = rows.groupby("unit_id")["pupils"].sum()
        units[f"proposed_{level}_pupils"] = seated.reindex(units.index).fillna(0.0).to_numpy()
    return units


def final_assignment(units: gpd.GeoDataFrame, solved: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """Return the assignment after contiguity repair: the solver's, with repaired units' schools and walks.

    The solver's own assignment stays in ``solution.assignment`` (and ``solver_assignment.csv``); its
    objective refers to that one. Units moved by the repair keep their pupils and get the new walk.
    """
    out = solved.copy()
    lookup = costs.set_index(["unit_id", "school_id"])["distance_m"]
    for level in LEVELS:
        col = f"proposed_{level}"
        if col not in units.columns:
            continue
        rows = out["level"] == level
        final = units[col].reindex(out.loc[rows, "unit_id"]).to_numpy()
        moved = rows.copy()
        moved.loc[rows] = pd.notna(final) & (final != out.loc[rows, "school_id"].to_numpy())
        if moved.any():
            new_school = units[col].reindex(out.loc[moved, "unit_id"]).to_numpy()
            out.loc[moved, "school_id"] = new_school
            keys = pd.MultiIndex.from_arrays([out.loc[moved, "unit_id"], new_school])
            out.loc[moved, "distance_m"] = lookup.reindex(keys).to_numpy()
    return out


def schools_after(
    facilities: gpd.GeoDataFrame,
    opened: pd.DataFrame,
    standards: Standards,
    indicators: Mapping[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Schools and sites with the plan applied: ``opened``, ``expanded``, ``option``, capacities, resources.

    Each declared resource column ``<column>`` (see :func:`siting.metrics.resource_indicators`) keeps
    today's totals and gains ``<column>_after``: today's plus what the opened option brings, from
    ``standards.new_school_resources`` (per added seat for areas and equipment, per added class for
    teachers and rooms). An expanded school adds it to its recorded total (an unknown total stays
    unknown); a new school gets it unless its row records a value of its own.
    """
    out = facilities.copy()
    out["opened"] = out.index.isin(opened.index) & (out["status"] == "site")
    out["expanded"] = out.index.isin(opened.index) & (out["status"] == "existing")
    out["option"] = opened["option"].reindex(out.index) if len(opened) else pd.NA
    added: dict[str, pd.Series] = {}
    for level in LEVELS:
        for what in ("capacity", "classes"):
            extra = opened[f"{what}_{level}"].reindex(out.index).fillna(0) if len(opened) else 0
            out[f"{what}_after_{level}"] = (out[f"{what}_{level}"] + extra).astype("int64")
            added[f"{what}_{level}"] = out[f"{what}_after_{level}"] - out[f"{what}_{level}"]
    for column, key in metrics.resource_indicators(out, indicators).items():
        per = "classes" if INDICATORS[key].new_per == "class" else "capacity"
        amounts = standards.new_school_resources[key]
        brought = sum(float(amounts[level]) * added[f"{per}_{level}"] for level in LEVELS)
        recorded = metrics.resource_values(out, column)
        value = recorded.where(~out["expanded"], recorded + brought)
        out[f"{column}_after"] = value.where(~out["opened"] | recorded.notna(), brought)
    return out
