"""Checks with numbers: before solving, whether the model can be feasible; after, whether an answer is.

:func:`presolve_checks` raises :class:`~siting.errors.InfeasibleError` naming the numbers (forced sites,
minimum loads, demand without any arc, total capacity) before any solver runs. :func:`check_result`
recomputes a result's objective and feasibility from its tables (:meth:`SitingModel.check`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from siting.errors import InfeasibleError
from siting.model.program import plan_capacity
from siting.model.result import attach_arc_parts
from siting.model.underuse import pupils_within_reach, underuse_of

if TYPE_CHECKING:
    from siting.model.result import SitingResult


def id_text(value: Any) -> str:
    """Return an id for messages: ``repr`` of the plain Python value (``2``, not ``np.int64(2)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def seats_text(value: float) -> str:
    """Format a seat count for messages (``41,200``)."""
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.1f}"


def presolve_checks(d: dict[str, Any]) -> None:
    """Raise :class:`InfeasibleError` with numbers when the model cannot be feasible."""
    levels = d["levels"]
    is_new = d["is_new_f"]
    o_f = d["o_f"]
    n_new_candidates = len(np.unique(o_f[is_new[o_f]])) if len(o_f) else 0
    for name in ("exactly_new",):
        p = d[name]
        if p is not None and p > n_new_candidates:
            raise InfeasibleError(
                f"{p} new facilities must open but only {n_new_candidates} candidate site(s) have options."
            )
    forced_new = [f for f in d["forced"] if is_new[f]]
    for f in forced_new:
        if not (o_f == f).any():
            raise InfeasibleError(f"school {id_text(d['facilities'][f])} must open but has no size option.")
    limit_new = d["exactly_new"] if d["exactly_new"] is not None else d["max_new"]
    if limit_new is not None and len(forced_new) > limit_new:
        raise InfeasibleError(
            f"{len(forced_new)} sites are forced open but at most {limit_new} new may open."
        )
    # minimum loads versus reachable demand
    mload = d["min_load"]
    if mload.any():
        reach = pupils_within_reach(d)
        over = mload > reach + 1e-9
        if over.any():
            f, lv = np.argwhere(over)[0]
            raise InfeasibleError(
                f"school {id_text(d['facilities'][f])} must keep at least {seats_text(mload[f, lv])} "
                f"{levels[lv]} pupils but only {seats_text(reach[f, lv])} live within reach; "
                "lower min_enrolment_share."
            )
    _check_reach(d)
    _check_total_capacity(d, limit_new)


def _check_reach(d: dict[str, Any]) -> None:
    """Raise :class:`InfeasibleError` naming the unit-levels with demand that have no arc to any school."""
    reached = np.zeros(len(d["k_u"]), dtype=bool)
    reached[d["a_k"]] = True
    if reached.all():
        return
    miss = np.flatnonzero(~reached)
    pupils = d["k_d"][miss].sum()
    examples = ", ".join(f"{id_text(d['units'][d['k_u'][k]])} ({d['levels'][d['k_l'][k]]})" for k in miss[:5])
    raise InfeasibleError(
        f"{len(miss)} unit-level demand(s) ({seats_text(pupils)} pupils) have no school that may serve them "
        f"(e.g. units {examples}); every unit-level with demand needs at least one arc (e.g. to its nearest "
        "school of that level)."
    )


def _check_total_capacity(d: dict[str, Any], limit_new: int | None) -> None:
    """Raise :class:`InfeasibleError` when a level's demand exceeds every seat the model could offer.

    The seats are base capacity, the largest option of every existing facility, the largest options of
    as many new facilities as may open, and the overflow room of the school-levels that may overflow
    (no check for a level where one may overflow without a ceiling).
    """
    levels, is_new = d["levels"], d["is_new_f"]
    o_f, o_cap, o_room = d["o_f"], d["o_cap"], d["o_room"]
    for li, level in enumerate(levels):
        room = d["room0"][:, li].copy()
        for f in np.unique(o_f):
            room[f] += float(o_room[o_f == f, li].max())
        if not np.isfinite(room[d["may_over"][:, li]]).all():
            continue
        demand = float(d["k_d"][d["k_l"] == li].sum())
        cap = float(d["base"][:, li].sum() + room[d["may_over"][:, li]].sum())
        new_gain = []
        for f in np.unique(o_f):
            best = float(o_cap[o_f == f, li].max())
            if is_new[f]:
                new_gain.append(best)
            else:
                cap += best
        new_gain.sort(reverse=True)
        if limit_new is not None:
            new_gain = new_gain[: int(limit_new)]
        cap += sum(new_gain)
        if cap + 1e-9 < demand:
            may = bool(d["may_over"][:, li].any())
            if not d["has_overflow"]:
                fix = "allow overflow at existing schools, more sites or a bigger budget"
            elif may:
                fix = "a higher overflow ceiling, more sites or a bigger budget"
            else:
                fix = (
                    "no existing school of this level may take overflow (new schools never do): more sites "
                    "or a bigger budget"
                )
            what = "seats and overflow room" if may else "seats"
            raise InfeasibleError(
                f"the largest possible capacity {seats_text(cap)} {what} is below the demand "
                f"{seats_text(demand)} pupils for level {level!r}: {fix}."
            )


def check_result(d: dict[str, Any], levels: list[Any], result: SitingResult) -> dict[str, float]:
    """Recompute a result's objective and feasibility from its tables.

    Parameters
    ----------
    d
        The core arrays of the model that produced ``result``.
    levels
        The model's levels.
    result
        A result of this model.

    Returns
    -------
    dict
        The numbers :meth:`SitingModel.check` documents.
    """
    asg = attach_arc_parts(d, result.assignment)
    opened = result.opened.reset_index()
    otab = d["o_table"]
    merged = opened[["school_id", "option"]].merge(otab, on=["school_id", "option"], how="left")
    building = float(merged["fixed_cost"].sum())
    z = np.zeros(len(otab))
    hit = otab.reset_index().merge(opened[["school_id", "option"]], on=["school_id", "option"])["index"]
    z[hit.to_numpy(dtype=np.int64)] = 1.0
    seats, room = plan_capacity(d, z)
    load = np.zeros_like(seats)
    f_pos = pd.Index(d["facilities"]).get_indexer(asg["school_id"])
    l_pos = pd.Index(levels).get_indexer(asg["level"])
    ok = (f_pos >= 0) & (l_pos >= 0)
    np.add.at(load, (f_pos[ok], l_pos[ok]), asg["pupils"].to_numpy(float)[ok])
    above = load - seats
    over = np.where(d["may_over"], np.clip(above, 0.0, None), 0.0)
    excess = np.where(d["may_over"], above - room, above)
    worst = float(excess[(load > 0) | (seats > 0)].max(initial=-np.inf))
    # the result's own overflow table against the recomputed one
    table = pd.DataFrame(over, index=d["facilities"], columns=levels).stack()
    told = result.overflow.set_index(["school_id", "level"])["overflow"] if len(result.overflow) else None
    told = told.reindex(table.index, fill_value=0.0) if told is not None else table * 0.0
    # coverage: every unit-level with demand assigned in full
    dem = pd.Series(
        d["k_d"],
        index=pd.MultiIndex.from_arrays([d["units"][d["k_u"]], np.asarray(levels, dtype=object)[d["k_l"]]]),
    )
    served = result.assignment.groupby(["unit_id", "level"])["pupils"].sum()
    cov = float((served.reindex(dem.index, fill_value=0.0) - dem).abs().max()) if len(dem) else 0.0
    sources = (
        int(result.assignment.groupby(["unit_id", "level"]).size().max()) if len(result.assignment) else 0
    )
    parts = {
        "distance": float(asg["distance_part"].sum()),
        "disruption": float(asg["disruption_part"].sum()),
        "building": building,
        "overflow": float(over.sum() * d["penalty"]),
        "underuse": float(underuse_of(d, load, z).sum() * d["under_price"]),
    }
    return {
        "objective": sum(parts.values()),
        **parts,
        "max_capacity_excess": worst if np.isfinite(worst) else 0.0,
        "max_coverage_error": cov,
        "max_overflow_error": float((told - table).abs().max()) if len(table) else 0.0,
        "unknown_arcs": float(asg["cost"].isna().sum()),
        "max_sources": float(sources),
        "options_per_school": float(opened.groupby("school_id").size().max()) if len(opened) else 0.0,
    }
