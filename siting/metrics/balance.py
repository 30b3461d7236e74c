"""Which schools make an indicator fail its difference coefficient: the "one school, one plan" list, 一校一策.

For every state, level and indicator whose CV is above ``standards.cv_max``, each school's share of the
pupil-weighted variance is ``(pᵢ / P)(xᵢ − x̄)² / S²`` (the terms of :func:`~siting.metrics.pupil_weighted_cv`
sum to 1). A school below the pooled value ``x̄`` needs resources (``action = "invest"``: investment, not
pupils moved); a school above it is lightly used or richly endowed: ``"fill"`` (more pupils) where enough
pupils live within its reach to bring it to the mean, else ``"share"`` (its resources exceed what its area
can use: share rooms, teachers or equipment with neighbouring schools; moving pupils cannot fix it, the
model's utilisation floor already tries). Each row's ``why`` says so in words. Schools are ranked by
their share, and the list marks the shortest run of them that, brought to ``x̄`` (a school below or a
"share" school by changing its resources, a "fill" school by adding pupils), brings the CV within the
limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from siting.metrics.cv import WITHOUT_PLAN, cv_tables, per_pupil_values, state_basis
from siting.metrics.states import STATES
from siting.metrics.stats import pupil_weighted_cv
from siting.standards import INDICATORS, LEVELS, Standards

BALANCE_COLUMNS: tuple[str, ...] = (
    "state",
    "level",
    "indicator",
    "unit",
    "cv",
    "cv_max",
    "school_id",
    "name",
    "district",
    "pupils",
    "value",
    "mean",
    "minimum",
    "below_minimum",
    "side",
    "action",
    "share_of_variance",
    "rank",
    "resource_to_mean",
    "pupils_to_mean",
    "cv_if_fixed",
    "needed",
    "pupils_within_reach",
    "why",
)
"""Columns of :func:`balance_schools`."""


def balance_schools(
    schools: pd.DataFrame,
    units: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Mapping[str, str] | None = None,
    cv: pd.DataFrame | None = None,
    reach: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return, for every failing indicator, the schools whose per-pupil resources cause the failure.

    Parameters
    ----------
    schools
        Schools after the run, with resource totals (and ``name``, ``district`` when known).
    units
        Demand units with ``current_<level>`` and/or ``proposed_<level>``.
    standards
        Policy values (``cv_max``, stage weights).
    indicators
        ``{column: indicator key}``; default :data:`~siting.standards.DEFAULT_INDICATOR_COLUMNS`.
    cv
        :func:`~siting.metrics.cv_tables` of the same schools and units, if already computed.
    reach
        :func:`pupils_within_reach` (index ``school_id``, one column per level); without it a school
        above the mean is always ``"fill"`` and ``pupils_within_reach`` is missing.

    Returns
    -------
    pandas.DataFrame
        One row per school part of each failing ``(state, level, indicator)`` (:data:`BALANCE_COLUMNS`):
        ``value`` (per pupil, in ``unit``), the pooled ``mean``, the national ``minimum`` and
        ``below_minimum``; ``side`` (``"below"`` / ``"above"`` the mean) and ``action`` (``"invest"``,
        ``"fill"`` or ``"share"``, see the module), ``pupils_within_reach`` and ``why`` (a sentence);
        ``share_of_variance`` and ``rank`` (1 = largest share); ``resource_to_mean`` (for a
        school below: resource to add to reach the mean, in the resource's own unit: m², yuan, teachers or
        rooms) and ``pupils_to_mean`` (for a school above: pupils to add); ``cv_if_fixed`` (the CV once this
        school and every higher-ranked one are brought to the mean) and ``needed`` (in the shortest run
        that passes). Sorted by state, level, indicator and rank.
    """
    if cv is None:
        cv = cv_tables(schools, units, standards=standards, indicators=indicators)
    failing = cv[cv["passes"].map(_fails).astype(bool) & cv["state"].isin(STATES)] if len(cv) else cv
    frames = []
    for state, group in failing.groupby("state", sort=False) if len(failing) else []:
        basis, prefix = state_basis(schools, units, str(state))
        values = per_pupil_values(basis, standards=standards, indicators=indicators, pupils_column=prefix)
        for row in group.itertuples(index=False):
            part = values[(values["level"] == row.level) & (values["indicator"] == row.indicator)]
            part = part[part["value"].notna()]
            frames.append(_ranked(part, row._asdict(), schools, reach))
    if not frames:
        return pd.DataFrame(columns=list(BALANCE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(BALANCE_COLUMNS)]


def _ranked(
    part: pd.DataFrame, cv_row: dict[str, Any], schools: pd.DataFrame, reach: pd.DataFrame | None
) -> pd.DataFrame:
    """Rank one failing indicator's school parts by their share of the variance (see the module)."""
    p, x = part["pupils"].to_numpy(dtype=float), part["value"].to_numpy(dtype=float)
    mean = float((p * x).sum() / p.sum())
    terms = p / p.sum() * (x - mean) ** 2
    share = terms / terms.sum() if terms.sum() > 0 else np.zeros_like(terms)
    below = x < mean
    key, level = str(cv_row["indicator"]), str(cv_row["level"])
    sid = part["school_id"].astype(str).to_numpy()
    to_mean = np.where(below, 0.0, p * (x / mean - 1.0))
    within = _reach_of(reach, sid, level)
    fillable = below | ~(p + to_mean > within + 0.5)  # NaN reach (unknown): assume it can be filled
    order = np.argsort(-share, kind="stable")
    fixed_p, fixed_x, cv_if = p.copy(), x.copy(), np.full(len(x), np.nan)
    for i in order:
        # above and fillable: fill it with pupils; below (invest) or unfillable (share): change resources
        fixed_p[i] = p[i] * x[i] / mean if fillable[i] and not below[i] else p[i]
        fixed_x[i] = mean
        cv_if[i] = pupil_weighted_cv(fixed_x, fixed_p)
    passing = np.flatnonzero(cv_if[order] <= cv_row["cv_max"])
    cut = passing[0] + 1 if len(passing) else len(order)
    ind = INDICATORS[key]
    lookup = schools.set_axis(schools.index.astype(str))
    rank = np.empty(len(x), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    out = pd.DataFrame(
        {
            "state": cv_row["state"],
            "level": level,
            "indicator": key,
            "unit": ind.unit,
            "cv": cv_row["cv"],
            "cv_max": cv_row["cv_max"],
            "school_id": sid,
            "name": _column(lookup, "name", sid),
            "district": _column(lookup, "district", sid),
            "pupils": p,
            "value": x,
            "mean": mean,
            "minimum": float(ind.minimum[level]),
            "below_minimum": x < float(ind.minimum[level]),
            "side": np.where(below, "below", "above"),
            "action": np.where(below, "invest", np.where(fillable, "fill", "share")),
            "share_of_variance": share,
            "rank": rank,
            "resource_to_mean": np.where(below, (mean - x) * p / ind.scale, 0.0),
            "pupils_to_mean": to_mean,
            "cv_if_fixed": cv_if,
            "needed": np.isin(np.arange(len(x)), order[:cut]),
            "pupils_within_reach": within,
        }
    )
    out["why"] = [_why(r, ind.label_en) for r in out.itertuples(index=False)]
    return out.sort_values("rank")


def _reach_of(reach: pd.DataFrame | None, sid: np.ndarray, level: str) -> np.ndarray:
    """Return the pupils within reach of each school id for ``level`` (NaN where unknown)."""
    if reach is None or level not in reach.columns:
        return np.full(len(sid), np.nan)
    return reach[level].set_axis(reach.index.astype(str)).reindex(sid).to_numpy(dtype=float)


def _why(row: Any, label: str) -> str:
    """One sentence on why a school part weighs on an indicator's CV and what would change it."""
    have = f"{row.value:,.2f} {row.unit} of {label} for {row.pupils:,.0f} pupils (mean {row.mean:,.2f})"
    if row.action == "invest":
        low = "; below the national minimum" if row.below_minimum else ""
        what = str(row.unit).split(" per ")[0]
        return f"{have}{low}: needs {row.resource_to_mean:,.0f} {what} more to reach the mean (investment)."
    if row.action == "fill":
        return f"{have}: {row.pupils_to_mean:,.0f} more pupils would bring it to the mean."
    return (
        f"{have}: reaching the mean needs {row.pupils + row.pupils_to_mean:,.0f} pupils but only "
        f"{row.pupils_within_reach:,.0f} live within its reach: its resources exceed what its area can use "
        "(share them with neighbouring schools); moving pupils cannot fix it."
    )


def pupils_within_reach(units: pd.DataFrame, costs: pd.DataFrame, *, standards: Standards) -> pd.DataFrame:
    """Return the design-year pupils per school and level who live within the level's hard walking limit.

    Parameters
    ----------
    units
        Demand units indexed by ``unit_id`` with one demand column per level (pupils).
    costs
        Walking costs ``unit_id, school_id, distance_m`` (long).
    standards
        ``hard_max_distance_m`` per level.

    Returns
    -------
    pandas.DataFrame
        Index ``school_id`` (every school with a pair), one column per level, pupils.
    """
    out = {}
    for level in LEVELS:
        near = costs[
            pd.to_numeric(costs["distance_m"], errors="coerce") <= standards.hard_max_distance_m[level]
        ]
        demand = pd.to_numeric(units[level], errors="coerce").fillna(0.0) if level in units else None
        pupils = near["unit_id"].map(demand) if demand is not None else pd.Series(0.0, index=near.index)
        out[level] = pupils.fillna(0.0).groupby(near["school_id"].astype(str)).sum()
    return pd.DataFrame(out).fillna(0.0)


def _fails(passes: Any) -> bool:
    """True when a ``passes`` cell says the indicator fails (not when it is missing)."""
    return passes is not None and not pd.isna(passes) and not bool(passes)


def _column(schools: pd.DataFrame, column: str, ids: np.ndarray) -> np.ndarray:
    if column not in schools.columns:
        return np.full(len(ids), None, dtype=object)
    return schools[column].reindex(ids).astype(object).to_numpy()


def worsened_indicators(cv: pd.DataFrame, balance: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Return the indicators the plan makes fail: passing in the same year without it, failing with it.

    The year without the plan is the :data:`~siting.metrics.cv.WITHOUT_PLAN` state (today's schools and
    catchments, the plan year's pupils); where ``cv`` has no such rows, today's state stands in. An
    indicator that passes today and already fails without the plan is not the plan's doing: see
    :func:`failing_without_plan`.

    Parameters
    ----------
    cv
        :func:`~siting.metrics.cv_tables` (states ``current``, ``proposed`` and ``without_plan``).
    balance
        :func:`balance_schools` of the same run (None: no schools are named).

    Returns
    -------
    list of dict
        One per ``(level, indicator)``: ``level``, ``indicator``, ``cv_before`` (today), ``cv_without_plan``
        (the plan year without it; None without that state), ``cv_after``, ``cv_max`` and ``schools``: the
        schools of the shortest run that would pass (``needed``), each with ``school_id``, ``name``,
        ``action`` and ``why``. Empty when the plan makes no passing indicator fail.
    """
    out = []
    for level, indicator, today, without, row in _compared(cv):
        base = without if without is not None else today
        if not _fails(row["passes"]) or _fails(base["passes"]) or pd.isna(base["passes"]):
            continue
        out.append(
            {**_cvs(level, indicator, today, without, row), "schools": _needed(balance, level, indicator)}
        )
    return out


def failing_without_plan(cv: pd.DataFrame, balance: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Return the indicators that pass today but fail in the plan year without the plan (growth, not plan).

    Parameters
    ----------
    cv
        :func:`~siting.metrics.cv_tables` with the :data:`~siting.metrics.cv.WITHOUT_PLAN` state.
    balance
        :func:`balance_schools` of the same run (None: no schools are named).

    Returns
    -------
    list of dict
        ``level, indicator, cv_before`` (today), ``cv_without_plan``, ``cv_after`` (with the plan),
        ``cv_max``, ``plan_passes`` (whether the plan brings it back within the limit) and ``schools``
        (as :func:`worsened_indicators`; empty where the plan passes).
    """
    out = []
    for level, indicator, today, without, row in _compared(cv):
        if without is None or pd.isna(today["passes"]) or _fails(today["passes"]):
            continue
        if _fails(without["passes"]):
            passes = not _fails(row["passes"])
            schools = [] if passes else _needed(balance, level, indicator)
            out.append(
                {**_cvs(level, indicator, today, without, row), "plan_passes": passes, "schools": schools}
            )
    return out


def _compared(cv: pd.DataFrame) -> list[tuple[Any, Any, pd.Series, pd.Series | None, pd.Series]]:
    """Per proposed row with a current one: ``(level, indicator, today, without plan or None, proposed)``."""
    if not len(cv):
        return []
    rows = cv.set_index(["state", "level", "indicator"])
    out = []
    for (state, level, indicator), row in rows.iterrows():
        if state != "proposed" or ("current", level, indicator) not in rows.index:
            continue
        key = (WITHOUT_PLAN, level, indicator)
        without = rows.loc[key] if key in rows.index else None
        out.append((level, indicator, rows.loc[("current", level, indicator)], without, row))
    return out


def _needed(balance: pd.DataFrame | None, level: Any, indicator: Any) -> list[dict[str, Any]]:
    """The schools of the shortest run that would bring a failing indicator of the plan within its limit."""
    if balance is None or not len(balance):
        return []
    part = balance[
        (balance["state"] == "proposed") & (balance["level"] == level) & (balance["indicator"] == indicator)
    ]
    part = part[part["needed"].astype(bool)]
    return [
        {"school_id": r.school_id, "name": r.name, "action": r.action, "why": r.why}
        for r in part.itertuples(index=False)
    ]


def _cvs(level: Any, indicator: Any, today: pd.Series, without: pd.Series | None, row: pd.Series) -> dict:
    """The CV figures of one compared indicator, as JSON-ready numbers."""
    return {
        "level": level,
        "indicator": indicator,
        "cv_before": float(today["cv"]),
        "cv_without_plan": None if without is None else float(without["cv"]),
        "cv_after": float(row["cv"]),
        "cv_max": float(row.get("cv_max", np.nan)),
    }
