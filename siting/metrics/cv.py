"""The difference coefficient (差异系数): resource indicators, stage parts, CV tables per state.

A school's resource totals (floor area, sports area, equipment value, backbone teachers, ...) are shared
between the stages it teaches, and the pupil-weighted CV of the per-pupil values of one level is checked
against ``standards.cv_max``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from siting.catchments import require_columns
from siting.errors import InputError, describe
from siting.metrics.schools import school_pupils
from siting.metrics.states import STATES, _num
from siting.metrics.stats import pupil_weighted_cv
from siting.standards import DEFAULT_INDICATOR_COLUMNS, INDICATORS, LEVELS, LEVELS_SERVED, Standards

INDICATOR_STATUS: tuple[str, ...] = ("ok", "missing column", "not declared")
"""How an indicator stands in a schools table (column ``status`` of :func:`indicator_columns`)."""


def indicator_columns(schools: pd.DataFrame, indicators: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Return, for each national indicator, the schools column that holds it and whether it is there.

    Only declared columns are indicators: ``indicators`` maps schools columns to the keys of
    :data:`~siting.standards.INDICATORS`; without it the default names
    (:data:`~siting.standards.DEFAULT_INDICATOR_COLUMNS`) are used. Any other column (``lon``, ``lat``,
    ``area_m2``, a misspelt name) is never an indicator.

    Parameters
    ----------
    schools
        Schools table.
    indicators
        ``{column: indicator key}``, as in the scenario's ``indicators`` section.

    Returns
    -------
    pandas.DataFrame
        One row per indicator in the order of ``INDICATORS``: ``indicator, label, unit, column`` (``None``
        when not declared) and ``status``: ``"ok"``, ``"missing column"`` (declared but not in
        ``schools``) or ``"not declared"``.

    Raises
    ------
    InputError
        When ``indicators`` is not a mapping, a mapped key is not an indicator or two columns map to one
        indicator.
    """
    if indicators is not None and not isinstance(indicators, Mapping):
        raise InputError(
            "indicators must map schools columns to indicator keys, e.g. {'sports_area_m2': 'sports_area'}, "
            f"not {describe(indicators)}."
        )
    mapping = dict(DEFAULT_INDICATOR_COLUMNS if indicators is None else indicators)
    by_key: dict[str, str] = {}
    for column, key in mapping.items():
        if key not in INDICATORS:
            raise InputError(
                f"indicators: column {column!r} is mapped to {key!r}, which is not an indicator; "
                f"use one of {', '.join(INDICATORS)}."
            )
        if key in by_key:
            raise InputError(
                f"indicators: columns {by_key[key]!r} and {column!r} both map to {key!r}; keep one."
            )
        by_key[key] = str(column)
    rows = []
    for key, ind in INDICATORS.items():
        column = by_key.get(key)
        status = "not declared" if column is None else "ok" if column in schools.columns else "missing column"
        rows.append(
            {"indicator": key, "label": ind.label_en, "unit": ind.unit, "column": column, "status": status}
        )
    return pd.DataFrame(rows, columns=["indicator", "label", "unit", "column", "status"])


def resource_indicators(schools: pd.DataFrame, indicators: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the declared indicator columns present in ``schools``: ``{column: indicator key}``.

    Parameters
    ----------
    schools
        Schools table.
    indicators
        ``{column: indicator key}``; default :data:`~siting.standards.DEFAULT_INDICATOR_COLUMNS`.

    Returns
    -------
    dict
        In the order of :data:`~siting.standards.INDICATORS` (e.g. ``{"floor_area_m2":
        "teaching_aux_area", "sports_area_m2": "sports_area", ...}`` for the sample).
    """
    table = indicator_columns(schools, indicators)
    ok = table[table["status"] == "ok"]
    return dict(zip(ok["column"], ok["indicator"], strict=True))


def indicator_scale(indicator: str) -> tuple[float, str]:
    """Return ``(scale, unit)`` for reporting an indicator: teachers and rooms per 100 pupils, else per pupil.

    Parameters
    ----------
    indicator
        Indicator key (see :data:`~siting.standards.INDICATORS`).

    Returns
    -------
    tuple of (float, str)
        Multiplier applied to the per-pupil value and its unit. The CV does not depend on it.
    """
    if indicator not in INDICATORS:
        raise InputError(f"unknown indicator {indicator!r}; indicators are {', '.join(INDICATORS)}.")
    return INDICATORS[indicator].scale, INDICATORS[indicator].unit


def resource_values(schools: pd.DataFrame, column: str) -> pd.Series:
    """Return a resource column as floats (missing stays ``nan``), refusing text and negative values.

    Raises
    ------
    InputError
        Naming the school, the column and the value.
    """
    raw = schools[column]
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        sid = bad.index[bad.to_numpy()][0]
        raise InputError(
            f"schools: {column} of school {sid!r} is {describe(raw[sid])}, not a number; give the resource "
            "total as a number, or leave it empty where unknown."
        )
    if (values < 0).any():
        sid = values.index[(values < 0).to_numpy()][0]
        raise InputError(
            f"schools: {column} of school {sid!r} is {values[sid]}, below 0; resource totals are >= 0."
        )
    return values


def _level_pupils(schools: pd.DataFrame, pupils_column: str, level: str) -> pd.Series:
    """Return ``<pupils_column>_<level>`` of the schools whose kind teaches ``level``, 0 elsewhere."""
    teaches = schools["level"].astype(str).map(lambda k: level in LEVELS_SERVED.get(k, ())).astype(bool)
    return _num(schools, f"{pupils_column}_{level}").fillna(0.0).clip(lower=0).where(teaches, 0.0)


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
    pupils = {lv: _level_pupils(schools, pupils_column, lv) for lv in LEVELS}
    denominator = sum(weights[lv] * pupils[lv] for lv in LEVELS)
    senior_col = f"{pupils_column}_senior"
    if senior_col in schools.columns:
        denominator = denominator + weights.get("senior", 1.32) * _num(schools, senior_col).fillna(0.0)
    frames = []
    for lv in LEVELS:
        mask = (pupils[lv] > 0).to_numpy()
        share = (weights[lv] * pupils[lv] / denominator.where(denominator > 0, np.nan))[mask]
        part = pd.DataFrame(
            {"school_id": schools.index.astype(str)[mask], "level": lv, "pupils": pupils[lv][mask].to_numpy()}
        )
        for ind in indicators:
            part[ind] = (resource_values(schools, ind)[mask] * share).to_numpy()
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def per_pupil_values(
    schools: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Mapping[str, str] | None = None,
    pupils_column: str = "enrolled",
) -> pd.DataFrame:
    """Return each stage part's per-pupil value of every declared indicator present in ``schools``.

    Parameters
    ----------
    schools, standards, indicators, pupils_column
        As for :func:`cv_table`.

    Returns
    -------
    pandas.DataFrame
        Long: ``school_id, level, indicator, column, pupils, value`` with ``value`` = the part's resource /
        its pupils in the indicator's unit (``× 100`` for per-100 indicators); ``nan`` where the school
        lacks the resource.
    """
    columns = resource_indicators(schools, indicators)
    parts = stage_parts(schools, standards=standards, indicators=list(columns), pupils_column=pupils_column)
    frames = [
        parts[["school_id", "level", "pupils"]].assign(
            indicator=key, column=col, value=parts[col] / parts["pupils"] * INDICATORS[key].scale
        )
        for col, key in columns.items()
    ]
    out = ["school_id", "level", "indicator", "column", "pupils", "value"]
    return pd.concat(frames, ignore_index=True)[out] if frames else pd.DataFrame(columns=out)


def cv_table(
    schools: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Mapping[str, str] | None = None,
    pupils_column: str = "enrolled",
) -> pd.DataFrame:
    """Return the pupil-weighted difference coefficient per level and indicator, checked against the limits.

    Each school's resource totals are split into stage parts (:func:`stage_parts`); the per-pupil value of a
    part is its resource / its pupils, and the CV is :func:`pupil_weighted_cv` over the parts of one level.
    Parts whose school lacks the resource value are left out and counted in ``n_missing`` (for instance a new
    site with no recorded resources). Every national indicator has a row per level: one without a column
    in ``schools`` has ``status`` ``"missing column"`` or ``"not declared"``, no CV and ``passes`` missing.

    Parameters
    ----------
    schools
        Schools with ``level`` (kind), ``<pupils_column>_<level>`` and resource totals.
    standards
        Policy values (``cv_max``, stage weights).
    indicators
        ``{column: indicator key}``; default :data:`~siting.standards.DEFAULT_INDICATOR_COLUMNS`.
    pupils_column
        Prefix of the pupil columns.

    Returns
    -------
    pandas.DataFrame
        ``level, indicator, label, unit, column, status, n_schools, n_missing, pupils, mean`` (the pooled
        x̄, in ``unit``), ``std`` (S, same unit), ``cv, cv_max, passes`` (``cv <= cv_max``; missing when the
        CV is undefined).
    """
    declared = indicator_columns(schools, indicators)
    values = per_pupil_values(
        schools, standards=standards, indicators=indicators, pupils_column=pupils_column
    )
    n_parts = {lv: int((_level_pupils(schools, pupils_column, lv) > 0).sum()) for lv in LEVELS}
    rows = []
    for level in LEVELS:
        limit = float(standards.cv_max[level])
        for ind in declared.itertuples(index=False):
            part = values[(values["level"] == level) & (values["indicator"] == ind.indicator)]
            ok = part["value"].notna().to_numpy()
            p, x = part["pupils"].to_numpy()[ok], part["value"].to_numpy()[ok]
            cv = pupil_weighted_cv(x, p) if len(p) else math.nan
            mean = float((p * x).sum() / p.sum()) if p.sum() > 0 else math.nan
            rows.append(
                {
                    **ind._asdict(),
                    "level": level,
                    "n_schools": int(ok.sum()),
                    "n_missing": int((~ok).sum()) if ind.status == "ok" else n_parts[level],
                    "pupils": float(p.sum()),
                    "mean": mean,
                    "std": cv * mean if np.isfinite(cv) else math.nan,
                    "cv": cv,
                    "cv_max": limit,
                    "passes": (bool(cv <= limit) if np.isfinite(cv) else None),
                }
            )
    columns = ["level", *declared.columns, "n_schools", "n_missing", "pupils", "mean", "std", "cv"]
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


WITHOUT_PLAN = "without_plan"
"""The state of :func:`cv_tables` with today's schools and catchments and the plan year's pupils.

The current state weights schools by today's enrolment where the schools table has it; the plan is for
the design year. So "passes today, fails in the plan" can be the years between, not the plan: this state
is the same year without the plan, which is what the plan is judged against
(:func:`~siting.metrics.worsened_indicators`).
"""


def state_basis(schools: pd.DataFrame, units: pd.DataFrame, state: str) -> tuple[pd.DataFrame, str]:
    """Return the schools table and pupil-column prefix that weight the CV of one state.

    The current state weights schools by ``enrolled_<level>`` when the schools table has both columns
    (actual pupils), else by current catchment pupils; :data:`WITHOUT_PLAN` always by current catchment
    pupils (the plan year's demand in today's catchments); the proposed state by proposed catchment pupils,
    with each resource column ``<column>`` replaced by the plan's ``<column>_after`` where the schools
    table has one (new and expanded schools' resources, see ``pipeline.stages``).
    """
    if state == "current" and all(f"enrolled_{lv}" in schools.columns for lv in LEVELS):
        return schools, "enrolled"
    basis = with_state_pupils(schools, units, column_prefix="current" if state == WITHOUT_PLAN else state)
    if state == "proposed":
        for column in [c for c in schools.columns if f"{c}_after" in schools.columns]:
            basis[column] = schools[f"{column}_after"].to_numpy()
    return basis, "pupils"


def cv_tables(
    schools: pd.DataFrame,
    units: pd.DataFrame,
    *,
    standards: Standards,
    indicators: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return :func:`cv_table` for the current and the proposed state, with a ``state`` column.

    Schools are weighted as :func:`state_basis` says. States whose assignment columns the units lack are
    skipped. With current catchments and demand columns, a third state :data:`WITHOUT_PLAN` (today's
    schools, the plan year's pupils) is added after them.

    Parameters
    ----------
    schools
        Schools after the run, with resource totals.
    units
        Demand units with ``current_<level>`` and/or ``proposed_<level>``.
    standards
        Policy values.
    indicators
        ``{column: indicator key}``; default :data:`~siting.standards.DEFAULT_INDICATOR_COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        ``state`` followed by the columns of :func:`cv_table`: a row per state, level and national
        indicator (those without data have ``status`` other than ``"ok"`` and no CV).
    """
    frames = []
    for state in (*STATES, WITHOUT_PLAN):
        prefix = "current" if state == WITHOUT_PLAN else state
        if not any(
            f"{prefix}_{lv}" in units.columns and (state != WITHOUT_PLAN or lv in units) for lv in LEVELS
        ):
            continue
        basis, prefix = state_basis(schools, units, state)
        table = cv_table(basis, standards=standards, indicators=indicators, pupils_column=prefix)
        frames.append(table.assign(state=state)[["state", *table.columns]])
    if not frames:
        return pd.DataFrame(columns=["state", "level", "indicator", "status", "cv", "cv_max", "passes"])
    return pd.concat(frames, ignore_index=True)
