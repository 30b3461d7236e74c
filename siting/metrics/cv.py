"""The difference coefficient (差异系数): resource indicators, stage parts, CV tables per state.

A school's resource totals (floor area, sports area, equipment value, backbone teachers, ...) are shared
between the stages it teaches, and the pupil-weighted CV of the per-pupil values of one level is checked
against ``standards.cv_max``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from siting.catchments import require_columns
from siting.metrics.schools import school_pupils
from siting.metrics.states import STATES, _num
from siting.metrics.stats import pupil_weighted_cv
from siting.standards import LEVELS, LEVELS_SERVED, Standards

_NOT_RESOURCES = frozenset(
    {
        "area_m2",
        "cost_yuan",
        "subsidy_yuan",
        "available_from",
        "public",
        "central",
        "opened",
        "pop_x",
        "pop_y",
    }
)
_NOT_RESOURCE_PREFIXES = (
    "classes_",
    "capacity_",
    "enrolled_",
    "max_extra_classes_",
    "pupils_",
    "current_",
    "proposed_",
)
_PER_100_WORDS = ("teacher", "room")


def resource_indicators(schools: pd.DataFrame) -> list[str]:
    """Return the resource-total columns of ``schools`` (numeric columns that are not structural fields).

    Parameters
    ----------
    schools
        Schools table; per ``docs/architecture.md`` every other numeric column is a resource total.

    Returns
    -------
    list of str
        Column names in table order (e.g. ``floor_area_m2, sports_area_m2, equipment_value_yuan,
        backbone_teachers``).
    """
    out = []
    for col in schools.columns:
        if col == "geometry" or col in _NOT_RESOURCES or str(col).startswith(_NOT_RESOURCE_PREFIXES):
            continue
        dtype = schools[col].dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            continue
        out.append(str(col))
    return out


def indicator_scale(indicator: str) -> tuple[float, str]:
    """Return ``(scale, unit)`` for reporting an indicator: teachers and rooms per 100 pupils, else per pupil.

    Parameters
    ----------
    indicator
        Resource column name.

    Returns
    -------
    tuple of (float, str)
        Multiplier applied to the per-pupil value and its label. The CV does not depend on it.
    """
    if any(word in indicator for word in _PER_100_WORDS):
        return 100.0, "per 100 pupils"
    return 1.0, "per pupil"


def stage_parts(
    schools: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Sequence[str],
    pupils_column: str = "enrolled",
) -> pd.DataFrame:
    """Split each school into stage parts with the pupils and the share of every resource of each stage.

    A school's resource total ``R`` is shared between the stages it teaches in proportion to weighted
    pupils: the share of stage ``s`` is ``w_s · p_s / Σ_t w_t · p_t`` with the weights
    ``standards.stage_split_weights`` (primary : junior : senior = 1 : 1.1 : 1.32). So a nine-year school's
    junior pupil carries 1.1 times the resource of its primary pupil. The sum runs over the levels of the
    school's kind and, when the table has ``<pupils_column>_senior``, its senior pupils (whose share is
    then left out). A single-level school keeps all of ``R`` for its level.

    Parameters
    ----------
    schools
        Schools indexed by ``school_id`` with ``level`` (kind), ``<pupils_column>_<level>`` and the
        resource columns.
    standards
        Policy values (stage weights).
    indicators
        Resource columns to split.
    pupils_column
        Prefix of the pupil columns (``"enrolled"`` reads ``enrolled_primary`` and ``enrolled_junior``).

    Returns
    -------
    pandas.DataFrame
        One row per school and level it teaches with pupils > 0: ``school_id, level, pupils`` and, per
        indicator, the stage's resource total (``nan`` where the school lacks the value).
    """
    require_columns(schools, ["level"], name="schools")
    pcols = {lv: f"{pupils_column}_{lv}" for lv in LEVELS}
    require_columns(
        schools,
        list(pcols.values()),
        name="schools",
        fix=f"Give the pupils per level in {pupils_column}_primary and {pupils_column}_junior.",
    )
    weights = standards.stage_split_weights
    pupils = {lv: _num(schools, col).fillna(0.0).clip(lower=0) for lv, col in pcols.items()}
    kinds = schools["level"].astype(str)
    teaches = {lv: kinds.map(lambda k, lv=lv: lv in LEVELS_SERVED.get(k, ())).astype(bool) for lv in LEVELS}
    denominator = sum(weights[lv] * pupils[lv].where(teaches[lv], 0.0) for lv in LEVELS)
    senior_col = f"{pupils_column}_senior"
    if senior_col in schools.columns:
        denominator = denominator + weights.get("senior", 1.32) * _num(schools, senior_col).fillna(0.0)
    frames = []
    for lv in LEVELS:
        mask = (teaches[lv] & (pupils[lv] > 0)).to_numpy()
        share = (weights[lv] * pupils[lv] / denominator.where(denominator > 0, np.nan))[mask]
        part = pd.DataFrame(
            {"school_id": schools.index.astype(str)[mask], "level": lv, "pupils": pupils[lv][mask].to_numpy()}
        )
        for ind in indicators:
            part[ind] = (_num(schools, ind)[mask] * share).to_numpy()
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def cv_table(
    schools: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Sequence[str] | None = None,
    pupils_column: str = "enrolled",
) -> pd.DataFrame:
    """Return the pupil-weighted difference coefficient per level and indicator, checked against the limits.

    Each school's resource totals are split into stage parts (:func:`stage_parts`); the per-pupil value of a
    part is its resource / its pupils, and the CV is :func:`pupil_weighted_cv` over the parts of one level.
    Parts whose school lacks the resource value are left out and counted in ``n_missing`` (for instance a new
    site with no recorded floor area).

    Parameters
    ----------
    schools
        Schools with ``level`` (kind), ``<pupils_column>_<level>`` and resource totals.
    standards
        Policy values (``cv_max``, stage weights).
    indicators
        Resource columns; default every resource column (:func:`resource_indicators`).
    pupils_column
        Prefix of the pupil columns.

    Returns
    -------
    pandas.DataFrame
        ``level, indicator, unit, n_schools, n_missing, pupils, mean`` (the pooled x̄, in ``unit``),
        ``std`` (S, same unit), ``cv, cv_max, passes`` (``cv <= cv_max``; missing when the CV is undefined).
    """
    indicators = list(resource_indicators(schools) if indicators is None else indicators)
    require_columns(schools, indicators, name="schools")
    parts = stage_parts(schools, standards=standards, indicators=indicators, pupils_column=pupils_column)
    rows = []
    for level in LEVELS:
        part = parts[parts["level"] == level]
        for ind in indicators:
            scale, unit = indicator_scale(ind)
            ok = part[ind].notna().to_numpy()
            p = part["pupils"].to_numpy()[ok]
            x = part[ind].to_numpy()[ok] / p * scale
            cv = pupil_weighted_cv(x, p) if len(p) else math.nan
            mean = float((p * x).sum() / p.sum()) if p.sum() > 0 else math.nan
            limit = float(standards.cv_max[level])
            rows.append(
                {
                    "level": level,
                    "indicator": ind,
                    "unit": unit,
                    "n_schools": int(ok.sum()),
                    "n_missing": int((~ok).sum()),
                    "pupils": float(p.sum()),
                    "mean": mean,
                    "std": cv * mean if np.isfinite(cv) else math.nan,
                    "cv": cv,
                    "cv_max": limit,
                    "passes": (bool(cv <= limit) if np.isfinite(cv) else None),
                }
            )
    columns = ["level", "indicator", "unit", "n_schools", "n_missing", "pupils", "mean", "std", "cv"]
    return pd.DataFrame(rows, columns=[*columns, "cv_max", "passes"])


def with_state_pupils(schools: pd.DataFrame, units: pd.DataFrame, *, column_prefix: str) -> pd.DataFrame:
    """Return a copy of ``schools`` with ``pupils_<level>``, the catchment pupils of a state (for cv_table).

    Parameters
    ----------
    schools
        Schools indexed by ``school_id``.
    units
        Demand units with ``<column_prefix>_<level>``.
    column_prefix
        ``"current"`` or ``"proposed"``.

    Returns
    -------
    pandas.DataFrame
        ``schools`` plus ``pupils_primary`` and ``pupils_junior`` (0 where a school serves nobody).
    """
    pupils = school_pupils(units, column_prefix=column_prefix)
    out = schools.copy()
    key = schools.index.astype(str)
    for level in LEVELS:
        values = pupils[level] if level in pupils.columns else pd.Series(dtype=float)
        out[f"pupils_{level}"] = values.reindex(key, fill_value=0.0).to_numpy()
    return out


def cv_tables(
    schools: pd.DataFrame,
    units: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return :func:`cv_table` for the current and the proposed state, with a ``state`` column.

    The current state weights schools by ``enrolled_<level>`` when the schools table has both columns
    (actual pupils), else by current catchment pupils; the proposed state by proposed catchment pupils.
    States whose assignment columns the units lack are skipped.

    Parameters
    ----------
    schools
        Schools after the run, with resource totals.
    units
        Demand units with ``current_<level>`` and/or ``proposed_<level>``.
    standards
        Policy values.
    indicators
        Resource columns; default every resource column.

    Returns
    -------
    pandas.DataFrame
        ``state`` followed by the columns of :func:`cv_table`; empty when there is no resource column.
    """
    indicators = list(resource_indicators(schools) if indicators is None else indicators)
    frames = []
    for state in STATES:
        if not indicators or not any(f"{state}_{lv}" in units.columns for lv in LEVELS):
            continue
        if state == "current" and all(f"enrolled_{lv}" in schools.columns for lv in LEVELS):
            basis, prefix = schools, "enrolled"
        else:
            basis, prefix = with_state_pupils(schools, units, column_prefix=state), "pupils"
        table = cv_table(basis, standards=standards, indicators=indicators, pupils_column=prefix)
        frames.append(table.assign(state=state)[["state", *table.columns]])
    if not frames:
        return pd.DataFrame(columns=["state", "level", "indicator", "cv", "cv_max", "passes"])
    return pd.concat(frames, ignore_index=True)
