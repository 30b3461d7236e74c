"""The planning tables turned into the core's tables (the work of :meth:`SitingModel.from_scenario`).

:func:`scenario_tables` turns units, schools and sites, size options and travel costs into the arcs,
demand, capacity, options, overflow ceilings, minimum loads and current walks that
:meth:`SitingModel.from_costs` takes. The arcs are the pairs within the hard limit, the status quo (the
unit's current school, at any distance) and the cost table's fallback pairs.
:func:`walk_cost_m` is the penalised walk per pupil an arc costs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from siting._log import get_logger
from siting.errors import InputError
from siting.model.arrays import need_columns
from siting.standards import LEVELS, LEVELS_SERVED, Standards

log = get_logger(__name__)


def walk_cost_m(distance_m: np.ndarray, radius_m: float, far_penalty: float) -> np.ndarray:
    """Return the penalised walk per pupil, metres.

    Parameters
    ----------
    distance_m
        Walking distance, metres.
    radius_m
        Soft service radius, metres: distances within it count as they are.
    far_penalty
        Each metre beyond the radius counts this many times.

    Returns
    -------
    numpy.ndarray
        ``d`` for ``d <= radius``, else ``radius + far_penalty * (d - radius)``.
    """
    d = np.asarray(distance_m, dtype=float)
    return np.where(d <= radius_m, d, radius_m + far_penalty * (d - radius_m))


def scenario_tables(
    units: pd.DataFrame,
    schools: pd.DataFrame,
    options: pd.DataFrame | None,
    costs: pd.DataFrame,
    *,
    standards: Standards,
    allow_expansion: bool,
    far_penalty: float,
    disruption_m: float,
    building_weight: float,
    min_enrolment_share: float | None,
    design_year: int | None,
    overflow_m: float | None,
    overflow_ceiling_class_size: int | None,
    balance_m: float | None = None,
    utilisation_floor: float | None = None,
) -> dict[str, Any]:
    """Turn the planning tables into the core's arcs, demand, capacity, options and minimum loads.

    The parameters are those of :meth:`SitingModel.from_scenario`. The keys of the result are the
    parameters of :meth:`SitingModel.from_costs` they fill: ``arcs``, ``demand``, ``capacity``,
    ``options``, ``overflow_ceiling``, ``min_load``, ``current_distance``, ``underuse_penalty`` and
    ``utilisation_floor`` (``balance_m`` and the floor's share, ``standards.utilisation_floor`` unless
    given).
    """
    levels = list(LEVELS)
    need_columns(units, levels, "units")
    need_columns(schools, ["level", "status", *[f"capacity_{lv}" for lv in levels]], "schools")
    need_columns(costs, ["unit_id", "school_id", "distance_m"], "costs")
    _check_weights(far_penalty, disruption_m, building_weight, min_enrolment_share)
    _check_overflow(overflow_m, overflow_ceiling_class_size)
    kinds, status = _kinds_and_status(schools)
    serves = pd.DataFrame({lv: [lv in LEVELS_SERVED[k] for k in kinds] for lv in levels}, index=schools.index)
    existing = (status == "existing").to_numpy()
    capacity = pd.DataFrame(index=schools.index)
    for lv in levels:
        cap = pd.to_numeric(schools[f"capacity_{lv}"], errors="coerce").fillna(0.0).to_numpy(float)
        capacity[lv] = np.where(existing & serves[lv].to_numpy(), cap, 0.0)
    demand = units[levels].astype(float).fillna(0.0)
    otab = _scenario_options(
        options,
        schools,
        status,
        serves,
        allow_expansion=allow_expansion,
        building_weight=building_weight,
        design_year=design_year,
    )
    _log_over_capacity(schools, capacity, existing, serves)
    min_load = _enrolment_minimums(schools, capacity, existing, serves, min_enrolment_share)
    arcs, current_distance = _scenario_arcs(
        units, schools, costs, demand, serves, capacity, standards, far_penalty, disruption_m
    )
    _check_every_unit_has_an_arc(arcs, demand, standards)
    if overflow_m is not None:
        _warn_cheap_overflow(arcs, demand, overflow_m)
    ceiling = None
    if overflow_m is not None and overflow_ceiling_class_size is not None:
        ceiling = _overflow_ceiling(schools, capacity, otab, standards, int(overflow_ceiling_class_size))
    if min_load is not None:
        # a school cannot be asked to keep more than that share of the pupils who live within its reach
        min_load = _cap_to_reach(min_load, arcs, demand, min_enrolment_share)
    return {
        "arcs": arcs,
        "demand": demand,
        "capacity": capacity,
        "options": otab,
        "overflow_ceiling": ceiling,
        "min_load": min_load,
        "current_distance": current_distance,
        "underuse_penalty": balance_m,
        "utilisation_floor": standards.utilisation_floor if utilisation_floor is None else utilisation_floor,
    }


def _check_weights(
    far_penalty: float, disruption_m: float, building_weight: float, min_enrolment_share: float | None
) -> None:
    """Raise :class:`~siting.errors.InputError` for a weight or share of the model out of range."""
    for name, value in (
        ("far_penalty", far_penalty),
        ("disruption_m", disruption_m),
        ("building_weight", building_weight),
    ):
        if not (value >= 0 and math.isfinite(value)):
            raise InputError(f"model.{name} must be a finite number >= 0, got {value!r}.")
    if min_enrolment_share is not None and not 0 <= min_enrolment_share <= 1:
        raise InputError(
            f"model.min_enrolment_share must lie in [0, 1] or be null, got {min_enrolment_share!r}."
        )


def _check_overflow(overflow_m: float | None, ceiling_class_size: int | None) -> None:
    """Raise :class:`~siting.errors.InputError` for an overflow charge or ceiling class size out of range."""
    if overflow_m is not None and not (overflow_m >= 0 and math.isfinite(overflow_m)):
        raise InputError(
            f"model.overflow_m must be a finite number >= 0 (pupil-metres per pupil above capacity), "
            f"got {overflow_m!r}."
        )
    if ceiling_class_size is not None and not (
        ceiling_class_size >= 1 and ceiling_class_size == int(ceiling_class_size)
    ):
        raise InputError(
            f"model.overflow_ceiling_class_size must be a whole number of pupils per class or null, "
            f"got {ceiling_class_size!r}."
        )


def _warn_cheap_overflow(arcs: pd.DataFrame, demand: pd.DataFrame, overflow_m: float) -> None:
    """Warn when overflow costs less per pupil than the costliest walk within the limits."""
    worst, where = 0.0, ""
    for lv in LEVELS:
        sub = arcs[(arcs["level"] == lv) & ~arcs["beyond_limit"].to_numpy(bool)]
        if not len(sub):
            continue
        per = (sub["cost"] + sub["disruption"]).to_numpy(float) / sub["unit_id"].map(demand[lv]).to_numpy(
            float
        )
        if per.max() > worst:
            worst, where = float(per.max()), lv
    if overflow_m < worst:
        log.warning(
            "model.overflow_m = %g pupil-metres per pupil is below the costliest %s walk within the limits "
            "(%.0f, disruption included): the plan may place pupils above a school's capacity rather than "
            "send them to a free seat that far; raise overflow_m above it to avoid that",
            overflow_m,
            where,
            worst,
        )


def _overflow_ceiling(
    schools: pd.DataFrame,
    capacity: pd.DataFrame,
    otab: pd.DataFrame,
    standards: Standards,
    class_size: int,
) -> pd.DataFrame:
    """Return each existing school's overflow ceiling per level; add the options' extra room to ``otab``.

    The ceiling is ``class_size`` × the school's classes − its standard capacity (never below 0); an
    option adds ``class_size`` × its classes − its capacity (columns ``overflow_ceiling_<level>``).
    Classes are the ``classes_<level>`` columns, or capacity / standard class size where missing.
    """
    small = {lv: standards.class_size[lv] for lv in LEVELS if class_size < standards.class_size[lv]}
    if small:
        raise InputError(
            f"model.overflow_ceiling_class_size {class_size} is below the standard class size {small}; give "
            "at least the standard (e.g. 66, the super-large class) or null for no ceiling."
        )
    ceiling = pd.DataFrame(index=capacity.index)
    for lv in LEVELS:
        size = standards.class_size[lv]
        col = f"classes_{lv}"
        classes = (
            pd.to_numeric(schools[col], errors="coerce").fillna(0.0)
            if col in schools.columns
            else capacity[lv] / size
        )
        room = (class_size * classes - capacity[lv]).clip(lower=0.0)
        ceiling[lv] = room.where(capacity[lv] > 0)
        if len(otab):
            q = pd.to_numeric(otab[f"capacity_{lv}"], errors="coerce").fillna(0.0)
            n = (
                pd.to_numeric(otab[col], errors="coerce").fillna(q / size)
                if col in otab.columns
                else q / size
            )
            otab[f"overflow_ceiling_{lv}"] = (class_size * n - q).clip(lower=0.0).to_numpy(float)
    return ceiling


def _kinds_and_status(schools: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Return each school's ``level`` (kind of school) and ``status``, checking both are known values."""
    kinds = schools["level"].astype(object)
    bad = ~kinds.isin(list(LEVELS_SERVED))
    if bad.any():
        sid = schools.index[bad.to_numpy()][0]
        raise InputError(
            f"schools: school {sid!r} has level {kinds[sid]!r}; use one of {', '.join(LEVELS_SERVED)}."
        )
    status = schools["status"].astype(object)
    if (~status.isin(["existing", "site"])).any():
        sid = schools.index[(~status.isin(["existing", "site"])).to_numpy()][0]
        raise InputError(f"schools: school {sid!r} has status {status[sid]!r}; use 'existing' or 'site'.")
    return kinds, status


def _scenario_options(
    options: pd.DataFrame | None,
    schools: pd.DataFrame,
    status: pd.Series,
    serves: pd.DataFrame,
    *,
    allow_expansion: bool,
    building_weight: float,
    design_year: int | None,
) -> pd.DataFrame:
    """Return the options the model may open, with ``fixed_cost`` (objective units) and ``budget_cost``.

    Options of unknown schools, expansions when not allowed and sites available only after
    ``design_year`` are dropped; a school's capacity for a level it does not serve is 0.
    """
    if options is None or not len(options):
        return pd.DataFrame(
            columns=[
                "school_id",
                "option",
                "fixed_cost",
                "budget_cost",
                "capacity_primary",
                "capacity_junior",
            ]
        )
    need_columns(
        options, ["school_id", "option", "capacity_primary", "capacity_junior", "cost_yuan"], "options"
    )
    otab = options.reset_index(drop=True).copy()
    otab = otab[otab["school_id"].isin(schools.index)]
    sid = otab["school_id"]
    is_site = sid.map(status).eq("site").to_numpy()
    keep = np.ones(len(otab), dtype=bool)
    if not allow_expansion:
        keep &= is_site
    if design_year is not None and "available_from" in schools.columns:
        avail = pd.to_numeric(sid.map(schools["available_from"]), errors="coerce").to_numpy(float)
        late = np.isfinite(avail) & (avail > design_year)
        if late.any():
            log.info("%d site(s) become available after %s and cannot open", len(set(sid[late])), design_year)
        keep &= ~late
    otab = otab[keep].reset_index(drop=True)
    for lv in LEVELS:
        ok = otab["school_id"].map(serves[lv]).to_numpy(bool)
        otab[f"capacity_{lv}"] = np.where(ok, pd.to_numeric(otab[f"capacity_{lv}"]).to_numpy(float), 0.0)
    cost_yuan = pd.to_numeric(otab["cost_yuan"], errors="coerce").fillna(0.0).to_numpy(float)
    otab["fixed_cost"] = building_weight * cost_yuan
    otab["budget_cost"] = cost_yuan
    return otab


def _log_over_capacity(
    schools: pd.DataFrame, capacity: pd.DataFrame, existing: np.ndarray, serves: pd.DataFrame
) -> None:
    """Log the existing school-levels enrolled above their capacity today (the plan keeps the capacity)."""
    over = []
    for lv in LEVELS:
        col = f"enrolled_{lv}"
        if col in schools.columns:
            enr = pd.to_numeric(schools[col], errors="coerce").fillna(0.0)
            over += list(schools.index[(enr > capacity[lv] + 1e-9) & existing & serves[lv]])
    if over:
        log.info(
            "%d existing school-level(s) are over capacity today (e.g. %r); the plan keeps their capacity "
            "at the standard class size and counts the pupils above it as overflow",
            len(over),
            over[0],
        )


def _enrolment_minimums(
    schools: pd.DataFrame,
    capacity: pd.DataFrame,
    existing: np.ndarray,
    serves: pd.DataFrame,
    min_enrolment_share: float | None,
) -> pd.DataFrame | None:
    """Return the pupils each existing school must keep per level (None when the share is off).

    That is ``min_enrolment_share`` of its current enrolment, at most its capacity; 0 for sites.
    """
    if not min_enrolment_share:
        return None
    min_load = pd.DataFrame(0.0, index=schools.index, columns=list(LEVELS))
    for lv in LEVELS:
        col = f"enrolled_{lv}"
        if col in schools.columns:
            enr = pd.to_numeric(schools[col], errors="coerce").fillna(0.0).to_numpy(float)
            share = min_enrolment_share * enr
            min_load[lv] = np.where(existing & serves[lv].to_numpy(), np.minimum(share, capacity[lv]), 0.0)
    return min_load


def _scenario_arcs(
    units: pd.DataFrame,
    schools: pd.DataFrame,
    costs: pd.DataFrame,
    demand: pd.DataFrame,
    serves: pd.DataFrame,
    capacity: pd.DataFrame,
    standards: Standards,
    far_penalty: float,
    disruption_m: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the arcs of every level and the current walks.

    The arcs have ``unit_id, school_id, distance_m, level, cost, disruption, beyond_limit`` (cost and
    disruption in pupil-metres); the current walks ``unit_id, level, distance_m``. Cost rows naming unknown
    units or schools are ignored with a warning.
    """
    cost = costs[["unit_id", "school_id", "distance_m"]].copy()
    cost["fallback"] = (
        costs["fallback"].fillna(False).to_numpy(dtype=bool) if "fallback" in costs.columns else False
    )
    known = cost["unit_id"].isin(units.index) & cost["school_id"].isin(schools.index)
    if not known.all():
        log.warning("%d cost row(s) name units or schools not in the tables; ignored", int((~known).sum()))
        cost = cost[known]
    arcs_parts = []
    current_parts = []
    for lv in LEVELS:
        part, now = _level_arcs(
            units, cost, demand[lv], serves[lv], capacity[lv] > 0, lv, standards, far_penalty, disruption_m
        )
        arcs_parts.append(part)
        current_parts.append(now)
    arcs = pd.concat(arcs_parts, ignore_index=True)
    arcs = arcs.drop_duplicates(["unit_id", "school_id", "level"], keep="first")
    current_distance = pd.concat(current_parts, ignore_index=True).drop_duplicates(["unit_id", "level"])
    return arcs, current_distance


def _level_arcs(
    units: pd.DataFrame,
    cost: pd.DataFrame,
    dem_lv: pd.Series,
    serves_lv: pd.Series,
    seats_lv: pd.Series,
    lv: str,
    standards: Standards,
    far_penalty: float,
    disruption_m: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return one level's arcs and current walks.

    Arcs join units with demand to schools serving the level: within the level's hard limit; to the
    unit's current school at any distance (the status quo is always allowed); and the ``fallback`` pairs
    of units that have neither to a school with seats (``seats_lv``: an existing school, which stays
    open in every plan; the cost table's fallback flag has no level, so a fallback pair of one level
    does not widen another level's choice). A unit leaving its current school pays ``disruption_m`` per
    pupil; ``beyond_limit`` marks arcs longer than the hard limit.
    """
    cur_col = f"current_{lv}"
    current = (
        units[cur_col] if cur_col in units.columns else pd.Series(pd.NA, index=units.index, dtype=object)
    )
    current = current.astype(object).where(current.notna(), None)
    part = cost.copy()
    part["level"] = lv
    cur_of = part["unit_id"].map(current)
    is_current = cur_of.to_numpy(dtype=object) == part["school_id"].to_numpy(dtype=object)
    now = part[is_current]
    now = pd.DataFrame({"unit_id": now["unit_id"], "level": lv, "distance_m": now["distance_m"]})
    dist = part["distance_m"].to_numpy(float)
    limit = standards.hard_max_distance_m[lv]
    d_unit = part["unit_id"].map(dem_lv).to_numpy(float)
    usable = np.isfinite(dist) & part["school_id"].map(serves_lv).to_numpy(bool) & (d_unit > 0)
    ok = usable & ((dist <= limit) | is_current)
    # fallback pairs only for the unit-levels without an arc to a school that is open in every plan
    held = part.loc[ok & part["school_id"].map(seats_lv).fillna(False).to_numpy(bool), "unit_id"]
    ok |= usable & part["fallback"].to_numpy(bool) & ~part["unit_id"].isin(held).to_numpy()
    part = part[ok].drop(columns="fallback")
    d_unit = d_unit[ok]
    has_cur = cur_of[ok].notna().to_numpy()
    moved = has_cur & ~is_current[ok]
    part["cost"] = d_unit * walk_cost_m(
        part["distance_m"].to_numpy(float), standards.service_radius_m[lv], far_penalty
    )
    part["disruption"] = np.where(moved, disruption_m * d_unit, 0.0)
    # a unit whose current school is not among its arcs pays the disruption wherever it goes (a constant)
    part["beyond_limit"] = part["distance_m"].to_numpy(float) > limit
    return part, now


def _check_every_unit_has_an_arc(arcs: pd.DataFrame, demand: pd.DataFrame, standards: Standards) -> None:
    """Raise :class:`~siting.errors.InputError` naming the unit-levels with demand and no arc at all."""
    missing = []
    for lv in LEVELS:
        need = demand.index[demand[lv].to_numpy(float) > 0]
        have = pd.Index(arcs.loc[arcs["level"] == lv, "unit_id"].unique())
        lack = need.difference(have, sort=False)
        if len(lack):
            missing.append((lv, lack))
    if not missing:
        return
    parts = [
        f"{len(lack)} {lv} (e.g. unit {', '.join(repr(u) for u in list(lack[:3]))}; hard limit "
        f"{standards.hard_max_distance_m[lv]:,.0f} m)"
        for lv, lack in missing
    ]
    raise InputError(
        f"costs: unit-levels with demand have no school they may go to: {'; '.join(parts)}. Each needs a "
        "pair within the hard limit, its current school, or a fallback pair to its nearest existing school "
        "(costs column fallback=True; the pipeline's cost stage adds these)."
    )


def _cap_to_reach(
    min_load: pd.DataFrame, arcs: pd.DataFrame, demand: pd.DataFrame, min_enrolment_share: float
) -> pd.DataFrame:
    """Lower each minimum to the share of the pupils who live within the school's reach."""
    levels = list(LEVELS)
    reach = arcs.assign(d=arcs["unit_id"].map(demand["primary"]).where(arcs["level"] == "primary"))
    reach["d"] = reach["d"].fillna(arcs["unit_id"].map(demand["junior"]))
    within = reach.pivot_table(index="school_id", columns="level", values="d", aggfunc="sum", fill_value=0.0)
    within = within.reindex(index=min_load.index, columns=levels, fill_value=0.0)
    capped = min_load.clip(upper=min_enrolment_share * within)
    n_capped = int((capped < min_load - 1e-9).to_numpy().sum())
    if n_capped:
        log.info(
            "min_enrolment_share: %d school-level minimum(s) lowered to the share of pupils within reach",
            n_capped,
        )
    return capped
