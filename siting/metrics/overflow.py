"""Overflow: the pupils above each school's standard capacity, before and after the plan, and why it grew.

Every home keeps a school in every plan, so where seats run short the pupils are still there, in classes
above the standard size until seats are built. The overflow table says, per school and level, how many
(``overflow = max(0, pupils − capacity)``, capacity = seats at the standard class size), the classes that
would be above the standard size, the large (56+) and super-large (66+) classes that remain, and, for every
school with more overflow after the plan than before (or than today's enrolment shows), a ``why``.

It is read from the per-school metrics of both states (:func:`~siting.metrics.school_metrics`), so its
totals are the key figures' (``<level>_overflow``). ``before`` is today's catchments with the design-year
demand (what happens if nothing is built); ``today`` is the schools' actual enrolment where given.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from siting.catchments import assigned_schools, seated_pupils
from siting.metrics.schools import school_metrics
from siting.standards import LEVELS, Standards

OVERFLOW_COLUMNS: tuple[str, ...] = (
    "school_id",
    "level",
    "name",
    "district",
    "status",
    "capacity_before",
    "capacity_after",
    "enrolled",
    "pupils_before",
    "pupils_after",
    "overflow_today",
    "overflow_before",
    "overflow_after",
    "classes_before",
    "classes_after",
    "classes_needed_after",
    "classes_above_standard_after",
    "large_classes_before",
    "large_classes_after",
    "super_large_classes_before",
    "super_large_classes_after",
    "pupils_in",
    "pupils_in_no_school",
    "pupils_out",
    "why",
)
"""Columns of :func:`overflow_table` (one row per school and level)."""

_TOLERANCE = 0.5  # pupils: smaller differences are rounding of fractional seat demand

_FROM_STATE = {  # overflow column stem -> school_metrics column
    "capacity": "capacity",
    "pupils": "pupils",
    "overflow": "over_capacity",
    "classes": "classes_available",
    "large_classes": "large_classes",
    "super_large_classes": "super_large_classes",
}


def overflow_table(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    standards: Standards,
    costs: pd.DataFrame | None = None,
    school_table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the pupils above standard capacity per school and level, before and after, with a ``why``.

    Parameters
    ----------
    schools
        Schools after the run (``capacity_after_<level>``, ``classes_after_<level>``, ``opened``).
    units
        Demand units with ``current_<level>`` and ``proposed_<level>``.
    standards
        Policy values (class sizes, large-class thresholds, the hard walking limit).
    costs
        Travel costs; used to say whether other schools within the limit had free seats. ``None`` leaves
        that out of ``why``.
    school_table
        :func:`school_metrics` of both states (with ``state``), if already computed.

    Returns
    -------
    pandas.DataFrame
        :data:`OVERFLOW_COLUMNS`; one row per school and level with capacity or pupils in either state, in
        level then school order. Pupils and overflow are seats of design-year demand (floats);
        ``overflow_today`` is ``max(0, enrolled − capacity_before)`` where enrolment is given (else NaN);
        ``pupils_in`` / ``pupils_out`` are the pupils the plan moves to / away from the school
        (``pupils_in_no_school``: of those in, the ones without a school today); ``why`` is empty unless
        ``overflow_after`` is above ``overflow_before`` or ``overflow_today``.
    """
    if school_table is None:
        school_table = pd.concat(
            [
                school_metrics(schools, units, standards=standards, column_prefix=p, costs=costs)
                for p in ("current", "proposed")
                if any(f"{p}_{lv}" in units.columns for lv in LEVELS)
            ],
            ignore_index=True,
        )
    table = _both_states(school_table)
    if not len(table):
        return pd.DataFrame(columns=list(OVERFLOW_COLUMNS))
    enrolled = pd.to_numeric(table["enrolled"], errors="coerce")
    table["overflow_today"] = (enrolled - table["capacity_before"]).clip(lower=0.0).where(enrolled.notna())
    moves = _moves(units)
    table = table.merge(moves, on=["school_id", "level"], how="left")
    for column in ("pupils_in", "pupils_in_no_school", "pupils_out"):
        table[column] = table[column].fillna(0.0)
    table["why"] = _why(table, units, costs, standards)
    return table[list(OVERFLOW_COLUMNS)].reset_index(drop=True)


def _both_states(school_table: pd.DataFrame) -> pd.DataFrame:
    """One row per school and level with the figures of both states side by side (missing state = 0)."""
    keys = ["school_id", "level"]
    info = ["name", "district", "status"]
    states = {}
    for state, suffix in (("current", "before"), ("proposed", "after")):
        rows = school_table[school_table["state"] == state]
        frame = rows[keys].copy()
        for stem, column in _FROM_STATE.items():
            frame[f"{stem}_{suffix}"] = pd.to_numeric(rows[column], errors="coerce").to_numpy()
        if state == "proposed":
            frame["classes_needed_after"] = rows["classes_needed"].to_numpy()
            frame["classes_above_standard_after"] = rows["classes_above_standard"].to_numpy()
        else:
            frame["enrolled"] = pd.to_numeric(rows["enrolled"], errors="coerce").to_numpy()
        states[state] = frame.set_index(keys)
    both = states["current"].join(states["proposed"], how="outer")
    labels = school_table.drop_duplicates(keys, keep="last").set_index(keys)[info]
    both = both.join(labels, how="left").reset_index()
    numbers = [c for c in both.columns if c not in (*keys, *info, "enrolled")]
    both[numbers] = both[numbers].fillna(0.0)
    keep = (both[["capacity_before", "capacity_after", "pupils_before", "pupils_after"]] > 0).any(axis=1)
    order = both["level"].map({lv: i for i, lv in enumerate(LEVELS)})
    return both[keep].assign(_order=order).sort_values(["_order", "school_id"]).drop(columns="_order")


def _moves(units: pd.DataFrame) -> pd.DataFrame:
    """Per school and level: pupils moved in by the plan (and of those, without a school today) and out."""
    frames = []
    for level in LEVELS:
        before, after = f"current_{level}", f"proposed_{level}"
        if before not in units.columns or after not in units.columns:
            continue
        old = assigned_schools(units, level=level, column=before)
        new = assigned_schools(units, level=level, column=after)
        pupils_after = seated_pupils(units, level=level, column=after)
        pupils_before = units[level].to_numpy(dtype=float)
        moved = (old.fillna("") != new.fillna("")).to_numpy()
        into = pd.DataFrame({"school_id": new[moved], "p": pupils_after[moved], "none": old[moved].isna()})
        into = into.dropna(subset=["school_id"])
        out = pd.DataFrame({"school_id": old[moved], "p": pupils_before[moved]}).dropna(subset=["school_id"])
        frame = pd.DataFrame(
            {
                "pupils_in": into.groupby("school_id")["p"].sum(),
                "pupils_in_no_school": into[into["none"]].groupby("school_id")["p"].sum(),
                "pupils_out": out.groupby("school_id")["p"].sum(),
            }
        ).fillna(0.0)
        frames.append(frame.rename_axis("school_id").reset_index().assign(level=level))
    if not frames:
        return pd.DataFrame(columns=["school_id", "level", "pupils_in", "pupils_in_no_school", "pupils_out"])
    return pd.concat(frames, ignore_index=True)


def _why(
    table: pd.DataFrame, units: pd.DataFrame, costs: pd.DataFrame | None, standards: Standards
) -> list[str]:
    """Return the ``why`` text of each row: empty unless its overflow after is above before or today."""
    free = (table["capacity_after"] - table["pupils_after"]).clip(lower=0.0)
    free_seats = dict(zip(zip(table["school_id"], table["level"], strict=True), free, strict=True))
    texts = []
    for row in table.itertuples(index=False):
        after, before, today = row.overflow_after, row.overflow_before, row.overflow_today
        grew = after > before + _TOLERANCE
        above_today = pd.notna(today) and after > today + _TOLERANCE
        if not (grew or above_today):
            texts.append("")
            continue
        clauses = _growth_clause(row) + _moves_clause(row)
        limit = float(standards.hard_max_distance_m[row.level])
        clauses += _reach_clauses(row, units, costs, limit, free_seats)
        if after < before - _TOLERANCE:
            clauses.append(f"the plan lowers it from the {before:,.0f} it would be if nothing changed")
        elif not grew:
            clauses.append(f"the same {after:,.0f} as if nothing changed")
        texts.append("; ".join(clauses) or "no change in its catchment")
    return texts


def _growth_clause(row: tuple) -> list[str]:
    """Say how far design-year demand in today's catchment is above today's enrolment (where given)."""
    if pd.notna(row.enrolled) and row.pupils_before > row.enrolled + _TOLERANCE:
        return [
            f"design-year demand in its reach grew by {row.pupils_before - row.enrolled:,.0f} "
            f"(today {row.enrolled:,.0f} pupils, design year {row.pupils_before:,.0f})"
        ]
    return []


def _moves_clause(row: tuple) -> list[str]:
    """Say how many pupils the plan brings (and how many of them have no school today) and takes away."""
    if row.pupils_in <= _TOLERANCE:
        return []
    text = f"the plan brings {row.pupils_in:,.0f} pupils here"
    if row.pupils_in_no_school > _TOLERANCE:
        text += f" ({row.pupils_in_no_school:,.0f} of them have no school today)"
    if row.pupils_out > _TOLERANCE:
        text += f" and moves {row.pupils_out:,.0f} away"
    return [text]


def _reach_clauses(
    row: tuple,
    units: pd.DataFrame,
    costs: pd.DataFrame | None,
    limit_m: float,
    free_seats: dict[tuple[str, str], float],
) -> list[str]:
    """Say which of its pupils are beyond the limit and whether any other school in reach has seats left.

    Parameters
    ----------
    row
        The school's row of the overflow table.
    units
        Demand units with ``proposed_<level>``.
    costs
        Travel costs (m), or ``None`` (then nothing is said).
    limit_m
        The level's hard walking limit, metres.
    free_seats
        Seats left after the plan per ``(school_id, level)``.

    Returns
    -------
    list of str
        Zero to two clauses.
    """
    column = f"proposed_{row.level}"
    if costs is None or column not in units.columns:
        return []
    mine = assigned_schools(units, level=row.level, column=column) == row.school_id
    ids = units.index[mine.fillna(False).to_numpy(dtype=bool)]
    pupils = pd.Series(seated_pupils(units, level=row.level, column=column), index=units.index)[ids]
    pairs = costs[costs["unit_id"].isin(ids)]
    own = pairs[pairs["school_id"].astype(str) == row.school_id].set_index("unit_id")["distance_m"]
    far = own.reindex(ids).to_numpy(dtype=float) > limit_m
    clauses = []
    if far.any():
        clauses.append(
            f"{pupils[far].sum():,.0f} of its pupils have no school within the {limit_m:,.0f} m limit "
            "and come here as their current or nearest school"
        )
    near = pairs[(pairs["distance_m"] <= limit_m) & (pairs["school_id"].astype(str) != row.school_id)]
    others = {str(s): free_seats.get((str(s), row.level), 0.0) for s in pd.unique(near["school_id"])}
    others = {s: f for s, f in others.items() if f > _TOLERANCE}
    if not others:
        clauses.append(f"no other school within the {limit_m:,.0f} m limit of its home zones has a seat left")
    else:
        shown = ", ".join(f"{s} ({f:,.0f})" for s, f in sorted(others.items(), key=lambda kv: -kv[1])[:3])
        clauses.append(
            f"other schools within the limit of some of its home zones have {sum(others.values()):,.0f} "
            f"seats left ({shown}); a home zone goes whole to one school"
        )
    return clauses
