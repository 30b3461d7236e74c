"""Review tables: the units that move, and every school and district before and after.

Before / after
--------------
- ``review_tables(result)``: before = the current catchments and capacities (``current_<level>``,
  ``capacity_<level>``), after = the proposed ones.
- ``review_tables(result, against=other)``: before = ``other``'s proposal, after = ``result``'s proposal
  (scenario ``other`` → scenario ``result``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from siting.catchments import compare_catchments, levels_from
from siting.errors import InputError, describe
from siting.metrics import ALL, UNKNOWN_DISTRICT, cv_tables, district_metrics, school_metrics
from siting.report._result import _attr, indicator_mapping
from siting.standards import LEVELS

TERMINAL_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "schools": (
        "school_id",
        "level",
        "name",
        "pupils_before",
        "pupils_after",
        "capacity_before",
        "capacity_after",
        "utilization_before",
        "utilization_after",
        "classes_needed_before",
        "classes_needed_after",
        "large_classes_before",
        "large_classes_after",
    ),
    "districts": (
        "district",
        "level",
        "seats_per_1000_before",
        "seats_per_1000_after",
        "seat_shortfall_before",
        "seat_shortfall_after",
        "schools_over_capacity_before",
        "schools_over_capacity_after",
        "over_capacity_before",
        "over_capacity_after",
        "large_classes_before",
        "large_classes_after",
        "walk_mean_m_before",
        "walk_mean_m_after",
        "pupils_moved",
    ),
}
"""The columns ``siting review`` prints per table (the files written with ``--out`` keep them all)."""

_SCHOOL_FIELDS = (
    "pupils",
    "capacity",
    "utilization",
    "over_capacity",
    "classes_needed",
    "classes_available",
    "large_classes",
    "super_large_classes",
    "walk_mean_m",
)
_DISTRICT_FIELDS = (
    "seats",
    "seats_per_1000",
    "seat_shortfall",
    "schools_over_capacity",
    "over_capacity",
    "large_classes",
    "super_large_classes",
    "walk_mean_m",
    "share_within_radius",
)


def review_tables(
    result: Any, *, against: Any = None, level: str | Iterable[str] = "both"
) -> dict[str, pd.DataFrame]:
    """Return the tables a catchment review needs: moves, schools and districts before and after.

    Parameters
    ----------
    result
        A run result (``pipeline.RunResult`` or an object with ``units``, ``schools``, ``costs``,
        ``standards``).
    against
        Another result to compare with (its proposal is "before"); ``None`` compares the result's current
        catchments with its proposal.
    level
        ``"primary"``, ``"junior"`` or ``"both"``.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``changes``: :func:`siting.catchments.compare_catchments` (one row per unit whose school changes).
        ``schools``: per school and level, ``<figure>_before`` / ``<figure>_after`` for pupils, capacity,
        utilization, over_capacity, classes_needed, classes_available, large_classes, super_large_classes
        and walk_mean_m, most crowded (before) first.
        ``districts``: per district and level (plus ``(all)``), seats, seats per 1,000, seat shortfall
        (seats below the per-1,000 standard), schools over capacity and their overflow (``over_capacity``,
        pupils above standard capacity), large classes and walks before and after, with ``units_moved``
        and ``pupils_moved``.
        ``cv``: difference coefficient per level and indicator before and after (when the schools carry
        resource columns: those the scenario's ``indicators`` section names, else the default names).
    """
    levels = levels_from(level)
    units, schools = _attr(result, "units"), _attr(result, "schools")
    costs, standards = _attr(result, "costs"), _attr(result, "standards")
    if against is None:
        b_units, b_schools, b_costs, b_state = units, schools, costs, "current"
    else:
        b_units, b_schools = _attr(against, "units"), _attr(against, "schools")
        b_costs, b_state = _attr(against, "costs"), "proposed"
    levels = tuple(lv for lv in levels if f"{b_state}_{lv}" in b_units and f"proposed_{lv}" in units)
    if not levels:
        raise InputError(
            f"review: the units have no {b_state}_<level> and proposed_<level> columns for "
            f"{describe(level)}; review a solved result (with current catchments, or use --against)."
        )
    if against is None:
        changes = compare_catchments(units, level=levels, costs=costs)
    else:
        changes = compare_catchments(b_units, units, level=levels, costs=b_costs, costs_after=costs)

    before = school_metrics(b_schools, b_units, standards=standards, column_prefix=b_state, costs=b_costs)
    after = school_metrics(schools, units, standards=standards, column_prefix="proposed", costs=costs)
    school_table = _school_table(before, after, levels)
    d_before = district_metrics(
        b_schools, b_units, standards=standards, column_prefix=b_state, costs=b_costs, school_table=before
    )
    d_after = district_metrics(
        schools, units, standards=standards, column_prefix="proposed", costs=costs, school_table=after
    )
    tables = {
        "changes": changes,
        "schools": school_table,
        "districts": _district_table(d_before, d_after, changes, levels),
    }
    indicators = indicator_mapping(result)
    cv = _cv_before_after(b_schools, b_units, b_state, schools, units, standards, indicators)
    if len(cv):
        tables["cv"] = cv[cv["level"].isin(levels)].reset_index(drop=True)
    return tables


def _school_table(before: pd.DataFrame, after: pd.DataFrame, levels: tuple[str, ...]) -> pd.DataFrame:
    """Return the review's ``schools`` table: two :func:`school_metrics` tables side by side.

    Parameters
    ----------
    before, after
        :func:`siting.metrics.school_metrics` of the two states.
    levels
        The levels reviewed.

    Returns
    -------
    pandas.DataFrame
        One row per school and level, by level, then utilization before (most crowded first), then id.
    """
    keep = ("name", "district", "status")
    table = _before_after(before, after, ["school_id", "level"], _SCHOOL_FIELDS, keep)
    table = table[table["level"].isin(levels)]
    table = table.assign(_lv=_level_order(table)).sort_values(
        ["_lv", "utilization_before", "school_id"], ascending=[True, False, True], na_position="last"
    )
    return table.drop(columns="_lv").reset_index(drop=True)


def _district_table(
    d_before: pd.DataFrame, d_after: pd.DataFrame, changes: pd.DataFrame, levels: tuple[str, ...]
) -> pd.DataFrame:
    """Return the review's ``districts`` table: two :func:`district_metrics` tables and the moves.

    Parameters
    ----------
    d_before, d_after
        :func:`siting.metrics.district_metrics` of the two states.
    changes
        The changes table between them (:func:`siting.catchments.compare_catchments`).
    levels
        The levels reviewed.

    Returns
    -------
    pandas.DataFrame
        One row per district and level with ``units_moved`` and ``pupils_moved``, by level, the ``(all)``
        row of each level last.
    """
    districts = _before_after(
        d_before, d_after, ["district", "level"], _DISTRICT_FIELDS, ("population", "standard_per_1000")
    )
    districts = districts[districts["level"].isin(levels)]
    moved = _moves_by_district(changes)
    districts = districts.merge(moved, on=["district", "level"], how="left")
    districts[["units_moved", "pupils_moved"]] = districts[["units_moved", "pupils_moved"]].fillna(0)
    districts["units_moved"] = districts["units_moved"].astype(np.int64)
    districts = districts.assign(_lv=_level_order(districts), _all=districts["district"] == ALL)
    districts = districts.sort_values(["_lv", "_all", "district"]).drop(columns=["_lv", "_all"])
    return districts.reset_index(drop=True)


def _before_after(
    before: pd.DataFrame, after: pd.DataFrame, keys: list[str], fields: Iterable[str], keep: Iterable[str]
) -> pd.DataFrame:
    """Outer-join two metric tables on ``keys`` into ``<field>_before`` / ``<field>_after`` columns."""
    fields = list(fields)
    keep = [c for c in keep if c in before.columns or c in after.columns]
    left = before[keys + keep + fields].rename(columns={f: f"{f}_before" for f in fields})
    right = after[keys + keep + fields].rename(columns={f: f"{f}_after" for f in fields})
    merged = left.merge(right, on=keys, how="outer", suffixes=("", "_other"))
    for col in keep:
        merged[col] = merged[col].fillna(merged.pop(f"{col}_other"))
    ordered = keys + keep + [f"{f}_{when}" for f in fields for when in ("before", "after")]
    return merged[ordered]


def _level_order(frame: pd.DataFrame) -> pd.Series:
    return frame["level"].map({lv: i for i, lv in enumerate(LEVELS)})


def _moves_by_district(changes: pd.DataFrame) -> pd.DataFrame:
    if not len(changes):
        return pd.DataFrame(columns=["district", "level", "units_moved", "pupils_moved"])
    frame = changes.assign(district=changes["district"].fillna(UNKNOWN_DISTRICT).astype(str))
    parts = [frame, frame.assign(district=ALL)]
    out = (
        pd.concat(parts, ignore_index=True)
        .groupby(["district", "level"], sort=False)
        .agg(units_moved=("unit_id", "size"), pupils_moved=("pupils", "sum"))
        .reset_index()
    )
    return out


def _cv_before_after(
    b_schools: pd.DataFrame,
    b_units: pd.DataFrame,
    b_state: str,
    schools: pd.DataFrame,
    units: pd.DataFrame,
    standards: Any,
    indicators: dict[str, str] | None,
) -> pd.DataFrame:
    """The CV per level and indicator before and after, with the scenario's indicator columns."""
    before = cv_tables(b_schools, b_units, standards=standards, indicators=indicators)
    after = cv_tables(schools, units, standards=standards, indicators=indicators)
    if not len(before) or not len(after):
        return pd.DataFrame()
    before = before[before["state"] == b_state]
    after = after[after["state"] == "proposed"]
    return _before_after(
        before, after, ["level", "indicator"], ("mean", "cv", "passes"), ("unit", "cv_max")
    ).reset_index(drop=True)
