"""Hearing tables: what each new site gives (seats, land, walks, relief) and what each expansion adds.

``overflow_removed`` credits a site with the pupils it serves who had no current school plus its share of
the overflow (pupils above standard capacity) removed at the schools its pupils come from (see
:func:`hearing_tables`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
    ``s``, ``removed_s = max(0, over_before_s − over_after_s)`` (pupils above standard capacity, current
    vs proposed), shared among the schools that take pupils from ``s`` in proportion to the pupils each
    takes. Summed over all sites and schools it never exceeds the overflow actually removed.

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
    plan = _plan(result)
    schools = plan.schools
    opened = _flag(schools, "opened") & (_text(schools, "status") == "site")
    expanded = _flag(schools, "expanded") & (_text(schools, "status") != "site")
    rows = [_site_row(str(sid), row, plan) for sid, row in schools[opened.to_numpy()].iterrows()]
    return {
        "sites": pd.DataFrame(rows),
        "expansions": _expansions(schools[expanded.to_numpy()], plan.before, plan.after),
    }


@dataclass(frozen=True)
class _Plan:
    """What the hearing tables and the brief read of a result, computed once.

    Attributes
    ----------
    units, schools, costs, standards
        The result's tables and policy values.
    before, after
        :func:`siting.metrics.school_metrics` of the current and the proposed state.
    over
        (school, level) -> (overflow removed, pupils moved out), from :func:`_overload_removed`.
    served
        Proposed catchment pupils per school and level (:func:`siting.metrics.school_pupils`).
    districts
        School id -> district (:func:`siting.metrics.school_districts`).
    """

    units: pd.DataFrame
    schools: pd.DataFrame
    costs: pd.DataFrame | None
    standards: Standards
    before: pd.DataFrame
    after: pd.DataFrame
    over: dict[tuple[str, str], tuple[float, float]]
    served: pd.DataFrame
    districts: pd.Series


def _plan(result: Any) -> _Plan:
    """Read a result once for the hearing tables and the brief (see :class:`_Plan`)."""
    units, schools = _attr(result, "units"), _attr(result, "schools")
    costs, standards = _attr(result, "costs"), _attr(result, "standards")
    before = school_metrics(schools, units, standards=standards, column_prefix="current", costs=costs)
    after = school_metrics(schools, units, standards=standards, column_prefix="proposed", costs=costs)
    changes = compare_catchments(units, level=[lv for lv in LEVELS if f"current_{lv}" in units.columns])
    return _Plan(
        units=units,
        schools=schools,
        costs=costs,
        standards=standards,
        before=before,
        after=after,
        over=_overload_removed(before, after, changes),
        served=school_pupils(units, column_prefix="proposed"),
        districts=school_districts(schools, units),
    )


def _site_row(sid: str, row: pd.Series, plan: _Plan) -> dict[str, Any]:
    """Return the ``sites`` row of one opened site (see :func:`hearing_tables` for the columns).

    Parameters
    ----------
    sid
        The site's ``school_id``.
    row
        Its row of the schools table after the run.
    plan
        The result as read by :func:`_plan`.

    Returns
    -------
    dict
        The row, in column order.
    """
    entry: dict[str, Any] = {
        "school_id": sid,
        "name": str(row.get("name", sid)),
        "district": plan.districts.get(sid),
        "kind": str(row.get("level")),
        "option": row.get("option"),
        **_land_figures(row, plan.standards),
    }
    newly = removed = 0.0
    sources: dict[str, float] = {}
    for lv in LEVELS:
        moved = _arrivals(plan.units, lv, sid, plan.costs)
        entry[f"pupils_{lv}"] = float(plan.served[lv].get(sid, 0.0)) if lv in plan.served.columns else 0.0
        radius = float(plan.standards.service_radius_m[lv])
        for when in ("before", "after"):
            walk = walk_stats(moved[f"walk_{when}"], moved["pupils"], radius)
            entry[f"walk_{when}_m_{lv}"] = walk["walk_mean_m"]
        newly += float(moved.loc[moved["old"].isna(), "pupils"].sum())
        for source in _relief(moved, plan.over, lv):
            sources[source["from_school"]] = sources.get(source["from_school"], 0.0) + source["pupils"]
            removed += source["relieved"]
    entry["newly_served"] = newly
    entry["overflow_removed"] = newly + removed
    entry["from_schools"] = ", ".join(
        f"{s} ({p:,.0f})" for s, p in sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return entry


def _relief(
    moved: pd.DataFrame, over: dict[tuple[str, str], tuple[float, float]], level: str
) -> list[dict[str, Any]]:
    """Return, per school a site's pupils come from, the pupils taken and the overflow relieved there.

    Parameters
    ----------
    moved
        :func:`_arrivals` of the site at ``level``.
    over
        (school, level) -> (overflow removed, pupils moved out), from :func:`_overload_removed`.
    level
        The level.

    Returns
    -------
    list of dict
        ``from_school, level, pupils`` (taken from it) and ``relieved``: the site's share of the
        overflow removed at that school, ``removed × pupils / pupils moved out`` (pupils), largest first.
    """
    out = []
    for old, pupils in moved[moved["old"].notna()].groupby("old")["pupils"].sum().items():
        share = over.get((str(old), level))
        relieved = share[0] * float(pupils) / share[1] if share is not None and share[1] > 0 else 0.0
        out.append({"from_school": str(old), "level": level, "pupils": float(pupils), "relieved": relieved})
    return sorted(out, key=lambda r: (-r["pupils"], r["from_school"]))


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
