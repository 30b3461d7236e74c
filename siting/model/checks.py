"""Checks with numbers: before solving, whether the model can be feasible; after, whether an answer is.

:func:`presolve_checks` raises :class:`~siting.errors.InfeasibleError` naming the numbers (forced sites,
minimum loads, unreachable demand, total capacity) before any solver runs. :func:`check_result`
recomputes a result's objective and feasibility from its tables (:meth:`SitingModel.check`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from siting.errors import InfeasibleError
from siting.model.result import attach_arc_parts

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
    o_f, o_cap = d["o_f"], d["o_cap"]
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
        reach = np.zeros_like(mload)
        np.add.at(reach, (d["a_f"], d["k_l"][d["a_k"]]), d["k_d"][d["a_k"]])
        over = mload > reach + 1e-9
        if over.any():
            f, lv = np.argwhere(over)[0]
            raise InfeasibleError(
                f"school {id_text(d['facilities'][f])} must keep at least {seats_text(mload[f, lv])} "
                f"{levels[lv]} pupils but only {seats_text(reach[f, lv])} live within reach; "
                "lower min_enrolment_share."
            )
    if d["has_shortfall"]:
        return
    # units that reach no school
    reached = np.zeros(len(d["k_u"]), dtype=bool)
    reached[d["a_k"]] = True
    if not reached.all():
        miss = np.flatnonzero(~reached)
        pupils = d["k_d"][miss].sum()
        examples = ", ".join(id_text(d["units"][d["k_u"][k]]) for k in miss[:5])
        raise InfeasibleError(
            f"{len(miss)} unit-level demand(s) ({seats_text(pupils)} seats) can reach no school that serves "
            f"them (e.g. units {examples}) and shortfall is disabled; allow shortfall or add sites."
        )
    # total capacity per level
    for li, level in enumerate(levels):
        demand = float(d["k_d"][d["k_l"] == li].sum())
        cap = float(d["base"][:, li].sum())
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
            raise InfeasibleError(
                f"the largest possible capacity {seats_text(cap)} seats is below the demand "
                f"{seats_text(demand)} seats for level {level!r}; shortfall is disabled: allow shortfall, "
                "more sites or a bigger budget."
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
    unknown = int(asg["cost"].isna().sum())
    distance = float(asg["distance_part"].sum())
    disruption = float(asg["disruption_part"].sum())
    opened = result.opened.reset_index()
    otab = d["o_table"]
    merged = opened[["school_id", "option"]].merge(otab, on=["school_id", "option"], how="left")
    building = float(merged["fixed_cost"].sum())
    short_pupils = result.shortfall["pupils"].to_numpy(float)
    shortfall = float(short_pupils.sum() * d["penalty"]) if d["has_shortfall"] else 0.0
    # capacity
    cap = pd.DataFrame(d["base"], index=d["facilities"], columns=levels)
    for _, row in merged.iterrows():
        for level in levels:
            cap.loc[row["school_id"], level] += float(row[f"capacity_{level}"])
    load = asg.groupby(["school_id", "level"])["pupils"].sum()
    excess = -math.inf
    for (sid, level), pupils in load.items():
        excess = max(excess, float(pupils) - float(cap.loc[sid, level]))
    # coverage
    dem = pd.Series(
        d["k_d"],
        index=pd.MultiIndex.from_arrays([d["units"][d["k_u"]], np.asarray(levels, dtype=object)[d["k_l"]]]),
    )
    served = result.assignment.groupby(["unit_id", "level"])["pupils"].sum()
    short = result.shortfall.groupby(["unit_id", "level"])["pupils"].sum()
    total = served.reindex(dem.index, fill_value=0.0) + short.reindex(dem.index, fill_value=0.0)
    cov = float((total - dem).abs().max()) if len(dem) else 0.0
    sources = (
        int(result.assignment.groupby(["unit_id", "level"]).size().max()) if len(result.assignment) else 0
    )
    per_school = int(opened.groupby("school_id").size().max()) if len(opened) else 0
    return {
        "objective": distance + disruption + building + shortfall,
        "distance": distance,
        "disruption": disruption,
        "building": building,
        "shortfall": shortfall,
        "max_capacity_excess": excess if math.isfinite(excess) else 0.0,
        "max_coverage_error": cov,
        "unknown_arcs": float(unknown),
        "max_sources": float(sources),
        "options_per_school": float(per_school),
    }
