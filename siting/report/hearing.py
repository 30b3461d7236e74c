"""Hearing tables: what each new site gives (seats, land, walks, relief) and what each expansion adds.

``overflow_removed`` credits a site with the pupils it serves who had no current school plus its share of
the overflow (pupils above standard capacity) removed at the schools its pupils come from (see
:func:`hearing_tables`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from siting.catchments import assigned_schools, compare_catchments, seated_pupils, walk_distances
from siting.metrics import school_districts, school_metrics, school_pupils, walk_stats
from siting.report._result import _attr
from siting.standards import LEVELS, Standards


def hearing_tables(result: Any) -> dict[str, pd.DataFrame]:
    """Return the tables a public hearing on new sites needs.

    ``overflow_removed`` (pupils) credits a new site with the pupils it serves who had no current school,
    plus its share of the overflow removed at the schools its pupils come from: for each source school
    ``s``, ``removed_s = max(0, over_before_s − over_after_s)`` (pupils above standard capacity, current vs
    proposed),
    shared among the schools that take pupils from ``s`` in proportion to the pupils each takes. Summed over
    all sites and schools it never exceeds the overflow actually removed.

    Parameters
    ----------
    result
        A run result with ``units``, ``schools`` (after the run: ``opened``, ``option``,
        ``capacity_after_<level>``), ``costs`` and ``standards``.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``sites``: one row per opened site: ``school_id, name, district, kind, option, area_m2, central,
        capacity_primary, capacity_junior, land_per_pupil_m2`` (parcel area / seats), ``land_standard_m2``
        (seat-weighted standard, central or not), ``meets_land_standard``, and per level ``pupils_<level>``,
        ``walk_before_m_<level>`` (pupil-weighted mean walk of the pupils it will serve to their current
        school), ``walk_after_m_<level>``, then ``newly_served`` and ``overflow_removed`` (pupils, both
        levels) and ``from_schools`` (where its pupils come from).
        ``expansions``: one row per expanded existing school and level: ``school_id, name, level, option,
        seats_added, pupils_before, pupils_after, utilization_before, utilization_after``.
    """
    units, schools = _attr(result, "units"), _attr(result, "schools")
    costs, standards = _attr(result, "costs"), _attr(result, "standards")
    opened = _flag(schools, "opened") & (_text(schools, "status") == "site")
    expanded = _flag(schools, "expanded") & (_text(schools, "status") != "site")
    before = school_metrics(schools, units, standards=standards, column_prefix="current", costs=costs)
    after = school_metrics(schools, units, standards=standards, column_prefix="proposed", costs=costs)
    changes = compare_catchments(units, level=[lv for lv in LEVELS if f"current_{lv}" in units.columns])
    over = _overload_removed(before, after, changes)
    served = school_pupils(units, column_prefix="proposed")
    districts = school_districts(schools, units)
    rows = [
        _site_row(str(sid), row, units, costs, standards, served, districts.get(str(sid)), over)
        for sid, row in schools[opened.to_numpy()].iterrows()
    ]
    return {
        "sites": pd.DataFrame(rows),
        "expansions": _expansions(schools[expanded.to_numpy()], before, after),
    }


def _site_row(
    sid: str,
    row: pd.Series,
    units: pd.DataFrame,
    costs: pd.DataFrame | None,
    standards: Standards,
    served: pd.DataFrame,
    district: str | None,
    over: dict[tuple[str, str], tuple[float, float]],
) -> dict[str, Any]:
    """Return the ``sites`` row of one opened site (see :func:`hearing_tables` for the columns).

    Parameters
    ----------
    sid
        The site's ``school_id``.
    row
        Its row of the schools table after the run.
    units
        Demand units with ``current_<level>`` and ``proposed_<level>``.
    costs
        Travel costs for the walks (m), or ``None``.
    standards
        Policy values (land per pupil, service radii).
    served
        Proposed catchment pupils per school and level (:func:`siting.metrics.school_pupils`).
    district
        The site's district.
    over
        (school, level) -> (overflow removed, pupils moved out), from :func:`_overload_removed`.

    Returns
    -------
    dict
        The row, in column order.
    """
    entry: dict[str, Any] = {
        "school_id": sid,
        "name": str(row.get("name", sid)),
        "district": district,
        "kind": str(row.get("level")),
        "option": row.get("option"),
        **_land_figures(row, standards),
    }
    newly = removed = 0.0
    sources: dict[str, float] = {}
    for lv in LEVELS:
        moved = _arrivals(units, lv, sid, costs)
        entry[f"pupils_{lv}"] = float(served[lv].get(sid, 0.0)) if lv in served.columns else 0.0
        radius = float(standards.service_radius_m[lv])
        for when in ("before", "after"):
            walk = walk_stats(moved[f"walk_{when}"], moved["pupils"], radius)
            entry[f"walk_{when}_m_{lv}"] = walk["walk_mean_m"]
        newly += float(moved.loc[moved["old"].isna(), "pupils"].sum())
        for old, pupils in moved[moved["old"].notna()].groupby("old")["pupils"].sum().items():
            sources[str(old)] = sources.get(str(old), 0.0) + float(pupils)
            share = over.get((str(old), lv))
            if share is not None and share[1] > 0:
                removed += share[0] * float(pupils) / share[1]
    entry["newly_served"] = newly
    entry["overflow_removed"] = newly + removed
    entry["from_schools"] = ", ".join(
        f"{s} ({p:,.0f})" for s, p in sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return entry


def _land_figures(row: pd.Series, standards: Standards) -> dict[str, Any]:
    """Return a site's parcel and seats against the land standard, in ``sites`` column order.

    Parameters
    ----------
    row
        The site's row of the schools table after the run (``area_m2``, ``central``,
        ``capacity_after_<level>``).
    standards
        Policy values (land per pupil, central or not, m² per seat).

    Returns
    -------
    dict
        ``area_m2, central, capacity_primary, capacity_junior, land_per_pupil_m2`` (m² per seat),
        ``land_standard_m2`` (seat-weighted standard, m² per seat) and ``meets_land_standard``.
    """
    caps = {lv: _value(row, f"capacity_after_{lv}", 0.0) for lv in LEVELS}
    seats = sum(caps.values())
    central = bool(row.get("central", False)) if pd.notna(row.get("central", False)) else False
    per_pupil = standards.land_per_pupil_central_m2 if central else standards.land_per_pupil_m2
    standard = sum(caps[lv] * per_pupil[lv] for lv in LEVELS) / seats if seats > 0 else math.nan
    area = _value(row, "area_m2", math.nan)
    land = area / seats if seats > 0 else math.nan
    return {
        "area_m2": area,
        "central": central,
        "capacity_primary": caps["primary"],
        "capacity_junior": caps["junior"],
        "land_per_pupil_m2": land,
        "land_standard_m2": standard,
        "meets_land_standard": bool(land >= standard - 1e-9) if np.isfinite(land) else None,
    }


def _expansions(expanded: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Return the ``expansions`` table: one row per expanded school and level that gained seats.

    Parameters
    ----------
    expanded
        The rows of the expanded existing schools (schools table after the run).
    before, after
        :func:`siting.metrics.school_metrics` of the current and the proposed state.

    Returns
    -------
    pandas.DataFrame
        ``school_id, name, level, option, seats_added, pupils_before, pupils_after, utilization_before,
        utilization_after``.
    """
    exp_rows = []
    b = before.set_index(["school_id", "level"])
    a = after.set_index(["school_id", "level"])
    for sid, row in expanded.iterrows():
        for lv in LEVELS:
            added = _value(row, f"capacity_after_{lv}", 0.0) - _value(row, f"capacity_{lv}", 0.0)
            if added <= 0:
                continue
            key = (str(sid), lv)
            exp_rows.append(
                {
                    "school_id": str(sid),
                    "name": str(row.get("name", sid)),
                    "level": lv,
                    "option": row.get("option"),
                    "seats_added": added,
                    "pupils_before": b["pupils"].get(key, math.nan),
                    "pupils_after": a["pupils"].get(key, math.nan),
                    "utilization_before": b["utilization"].get(key, math.nan),
                    "utilization_after": a["utilization"].get(key, math.nan),
                }
            )
    columns = ["school_id", "name", "level", "option", "seats_added", "pupils_before", "pupils_after"]
    return pd.DataFrame(exp_rows, columns=[*columns, "utilization_before", "utilization_after"])


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].map(lambda v: bool(v) if pd.notna(v) else False).astype(bool)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[column].astype(object).where(frame[column].notna(), "").astype(str)


def _value(row: pd.Series, column: str, default: float) -> float:
    value = pd.to_numeric(row.get(column, default), errors="coerce")
    return float(value) if pd.notna(value) else default


def _arrivals(units: pd.DataFrame, level: str, school_id: str, costs: pd.DataFrame | None) -> pd.DataFrame:
    """Units that ``school_id`` serves after the run at ``level``, with their current school and walks."""
    if f"proposed_{level}" not in units.columns:
        return pd.DataFrame(columns=["old", "pupils", "walk_before", "walk_after"])
    new = assigned_schools(units, level=level, column=f"proposed_{level}")
    mask = (new == school_id).fillna(False).to_numpy(dtype=bool)
    ids = units.index.to_numpy()[mask]
    if f"current_{level}" in units.columns:
        old = assigned_schools(units, level=level, column=f"current_{level}").to_numpy(dtype=object)[mask]
    else:
        old = np.full(len(ids), None, dtype=object)
    return pd.DataFrame(
        {
            "old": old,
            "pupils": seated_pupils(units, level=level, column=f"proposed_{level}")[mask],
            "walk_before": walk_distances(ids, old, costs),
            "walk_after": walk_distances(ids, np.full(len(ids), school_id, dtype=object), costs),
        }
    )


def _overload_removed(
    before: pd.DataFrame, after: pd.DataFrame, changes: pd.DataFrame
) -> dict[tuple[str, str], tuple[float, float]]:
    """Return (school, level) -> (overflow removed, pupils moved out to any school)."""
    a = after.set_index(["school_id", "level"])["over_capacity"]
    gone = changes.dropna(subset=["old_school"]).groupby(["old_school", "level"])["pupils"].sum()
    out = {}
    for sid, lv, over in before[["school_id", "level", "over_capacity"]].itertuples(index=False):
        removed = max(float(over) - float(a.get((sid, lv), 0.0)), 0.0)
        out[(str(sid), str(lv))] = (removed, float(gone.get((sid, lv), 0.0)))
    return out
