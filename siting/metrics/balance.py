"""Which schools make an indicator fail its difference coefficient: the "one school, one plan" list, 一校一策.

For every state, level and indicator whose CV is above ``standards.cv_max``, each school's share of the
pupil-weighted variance is ``(pᵢ / P)(xᵢ − x̄)² / S²`` (the terms of :func:`~siting.metrics.pupil_weighted_cv`
sum to 1). A school below the pooled value ``x̄`` needs resources (``action = "invest"``: investment, not
pupils moved); a school above it is lightly used or richly endowed (``"fill"``: more pupils, or resources
shared). Schools are ranked by their share, and the list marks the shortest run of them that, brought to
``x̄`` (a school below by adding resources, one above by adding pupils), brings the CV within the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from siting.metrics.cv import cv_tables, per_pupil_values, state_basis
from siting.metrics.stats import pupil_weighted_cv
from siting.standards import INDICATORS, Standards

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
)
"""Columns of :func:`balance_schools`."""


def balance_schools(
    schools: pd.DataFrame,
    units: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Mapping[str, str] | None = None,
    cv: pd.DataFrame | None = None,
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

    Returns
    -------
    pandas.DataFrame
        One row per school part of each failing ``(state, level, indicator)`` (:data:`BALANCE_COLUMNS`):
        ``value`` (per pupil, in ``unit``), the pooled ``mean``, the national ``minimum`` and
        ``below_minimum``; ``side`` (``"below"`` / ``"above"`` the mean) and ``action`` (``"invest"`` /
        ``"fill"``); ``share_of_variance`` and ``rank`` (1 = largest share); ``resource_to_mean`` (for a
        school below: resource to add to reach the mean, in the resource's own unit: m², yuan, teachers or
        rooms) and ``pupils_to_mean`` (for a school above: pupils to add); ``cv_if_fixed`` (the CV once this
        school and every higher-ranked one are brought to the mean) and ``needed`` (in the shortest run
        that passes). Sorted by state, level, indicator and rank.
    """
    if cv is None:
        cv = cv_tables(schools, units, standards=standards, indicators=indicators)
    failing = cv[cv["passes"].map(_fails).astype(bool)] if len(cv) else cv
    frames = []
    for state, group in failing.groupby("state", sort=False) if len(failing) else []:
        basis, prefix = state_basis(schools, units, str(state))
        values = per_pupil_values(basis, standards=standards, indicators=indicators, pupils_column=prefix)
        for row in group.itertuples(index=False):
            part = values[(values["level"] == row.level) & (values["indicator"] == row.indicator)]
            part = part[part["value"].notna()]
            frames.append(_ranked(part, row._asdict(), schools))
    if not frames:
        return pd.DataFrame(columns=list(BALANCE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(BALANCE_COLUMNS)]


def _ranked(part: pd.DataFrame, cv_row: dict[str, Any], schools: pd.DataFrame) -> pd.DataFrame:
    """Rank one failing indicator's school parts by their share of the variance (see the module)."""
    p, x = part["pupils"].to_numpy(dtype=float), part["value"].to_numpy(dtype=float)
    mean = float((p * x).sum() / p.sum())
    terms = p / p.sum() * (x - mean) ** 2
    share = terms / terms.sum() if terms.sum() > 0 else np.zeros_like(terms)
    below = x < mean
    order = np.argsort(-share, kind="stable")
    fixed_p, fixed_x, cv_if = p.copy(), x.copy(), np.full(len(x), np.nan)
    for i in order:
        fixed_p[i] = p[i] if below[i] else p[i] * x[i] / mean  # above: fill it with pupils
        fixed_x[i] = mean
        cv_if[i] = pupil_weighted_cv(fixed_x, fixed_p)
    passing = np.flatnonzero(cv_if[order] <= cv_row["cv_max"])
    cut = passing[0] + 1 if len(passing) else len(order)
    key, level = str(cv_row["indicator"]), str(cv_row["level"])
    ind = INDICATORS[key]
    sid = part["school_id"].astype(str).to_numpy()
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
            "action": np.where(below, "invest", "fill"),
            "share_of_variance": share,
            "rank": rank,
            "resource_to_mean": np.where(below, (mean - x) * p / ind.scale, 0.0),
            "pupils_to_mean": np.where(below, 0.0, p * (x / mean - 1.0)),
            "cv_if_fixed": cv_if,
            "needed": np.isin(np.arange(len(x)), order[:cut]),
        }
    )
    return out.sort_values("rank")


def _fails(passes: Any) -> bool:
    """True when a ``passes`` cell says the indicator fails (not when it is missing)."""
    return passes is not None and not pd.isna(passes) and not bool(passes)


def _column(schools: pd.DataFrame, column: str, ids: np.ndarray) -> np.ndarray:
    if column not in schools.columns:
        return np.full(len(ids), None, dtype=object)
    return schools[column].reindex(ids).astype(object).to_numpy()
