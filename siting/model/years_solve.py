"""Solving the multi-year model: one relaxation for every year, then each year rounded, then certified.

:func:`solve_years` solves the stacked program (:func:`~siting.model.years_program.stacked_program`) with
continuous assignments and binary openings: its proven bound is a lower bound for the whole plan with
single schools. Each year's split pairs are then rounded by the single-year rounding
(:func:`~siting.model.rounding.round_split`) with that year's openings fixed; the change columns are set
to the moves the rounded years make; the whole plan's objective is recomputed from the stacked program and
its gap certified against the one bound. :func:`schedule_tables` reads the schedule and the yearly spend
off the openings.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from siting._log import get_logger
from siting.errors import InputError
from siting.model.multiyear import SCHEDULE_COLUMNS, YearsModel, YearsResult
from siting.model.program import build_program, clean, lazy_links, linking_mask, settle_overflow
from siting.model.result import SitingResult, objective_parts, result_from_x
from siting.model.rounding import round_split
from siting.model.siting_model import SitingModel
from siting.model.solvers import (
    MIN_SOLVE_S,
    Deadline,
    MatrixProgram,
    SolveOutcome,
    relative_gap,
    solve_program,
)
from siting.model.years_overflow import OVERFLOW_FIRST_ROUNDING, LeastOverflow, overflow_first, year_overflow
from siting.model.years_program import YearsLayout, assemble, stacked_program
from siting.model.years_start import final_set_start, myopic_start

log = get_logger(__name__)

_RELAXATION_SHARE = 0.8
"""The stacked relaxation may use this share of the time left after the start; the rest is the rounding's."""
_LINK_SHARE = 0.1
"""Choosing the linking rows of a large model may use this share of the limit."""
_START_SHARE = 0.3
"""The year-by-year start (:func:`~siting.model.years_start.myopic_start`) may use this share of the limit."""
_FINAL_SET_LEFT = 2 / 3
"""The final-set start runs only when the year-by-year one left this share of the start's time."""
_LEAST_SHARE = 0.6
"""With ``overflow_first``, the years' least overflow (:mod:`~siting.model.years_overflow`) may use this."""


def solve_years(
    model: YearsModel,
    *,
    solver: str = "highs",
    time_limit_s: float = 60.0,
    gap: float = 0.005,
    threads: int | None = None,
    msg: bool = False,
) -> YearsResult:
    """Solve the multi-year model (see the module docstring).

    Parameters
    ----------
    model
        From :func:`~siting.model.multiyear.years_from_costs` or ``years_from_scenario``.
    solver
        ``"highs"``, ``"cbc"`` or ``"highs-pulp"`` (:func:`~siting.model.solvers.solve_program`).
    time_limit_s
        Limit for the whole solve, seconds (relaxation and every year's rounding share it).
    gap
        Relative gap at which the plan counts as optimal.
    threads
        Solver threads (None: solver default).
    msg
        Show solver logs.

    Returns
    -------
    YearsResult
        With the true status: ``"optimal"`` only when the rounded plan is proven within ``gap`` of the
        bound over all years.

    Raises
    ------
    InputError
        For a time limit that is not a positive number.
    """
    if not (time_limit_s > 0 and math.isfinite(time_limit_s)):
        raise InputError(f"time_limit_s must be a finite number of seconds > 0, got {time_limit_s!r}.")
    deadline = Deadline.after(time_limit_s)
    t0 = time.perf_counter()
    mask = _link_mask(model, solver, deadline, threads)
    prog, lay, progs = stacked_program(list(model.data), model.limits, mask)
    build_s = model.build_time_s + time.perf_counter() - t0
    log.info("multi-year program: %d years, %d rows x %d columns", lay.n_years, *prog.shape)
    start = _start(prog, model, lay, progs, solver, deadline.part(_START_SHARE), threads)
    least, base = None, prog
    if model.limits.overflow_first:
        least, prog, start = overflow_first(
            model, lay, prog, start, mask, deadline.part(_LEAST_SHARE), solver=solver, threads=threads
        )
    first = solve_program(
        prog if start is None else prog.with_bounds(prog.lb, prog.ub, prog.integer, start=start),
        solver=solver,
        time_limit_s=max(_RELAXATION_SHARE * deadline.left(), MIN_SOLVE_S),
        gap=gap / 4,
        threads=threads,
        msg=msg,
    )
    log.info(
        "multi-year relaxation: %s in %.1f s (objective %.6g, bound %.6g)",
        first.solver_status,
        first.seconds,
        first.objective,
        first.bound,
    )
    if first.x is None:
        return _no_answer(model, first, build_s)
    xs, n_split, words = _round_years(model, lay, progs, first.x, solver, deadline, gap, threads, msg)
    if xs is None:
        return _no_answer(model, first, build_s, words=f"relaxation: {first.solver_status}; {words}")
    full = assemble(lay, xs)
    bound = first.bound if math.isfinite(first.bound) else math.nan
    words = f"relaxation over {lay.n_years} years: {first.solver_status}; {words}"
    if model.data[0]["single_source"]:
        full, bound, words = _improve(prog, lay, full, bound, solver, deadline, gap, threads, msg, words)
    solve_s = time.perf_counter() - t0 - (build_s - model.build_time_s)
    status = "optimal" if first.status in ("optimal", "feasible") else "feasible"
    seconds = (solve_s, build_s)
    return _plan_result(model, base, lay, full, bound, gap, status, words, seconds, n_split, first, least)


def _plan_result(
    model: YearsModel,
    prog: MatrixProgram,
    lay: YearsLayout,
    full: np.ndarray,
    bound: float,
    gap: float,
    status: str,
    words: str,
    seconds: tuple[float, float],
    n_split: int,
    first: SolveOutcome,
    least: LeastOverflow | None = None,
) -> YearsResult:
    """Return the plan ``full`` as a result; ``status`` is ``"optimal"`` only when ``gap`` is proven.

    The spend table gains each year's ``overflow`` (pupils above capacity); with ``least``
    (:class:`~siting.model.years_overflow.LeastOverflow`) the result carries the least and its bound.
    """
    xs = [full[lay.block(t)] for t in range(lay.n_years)]
    objective = float(np.dot(prog.c, full))
    gap_value = relative_gap(objective, bound)
    if not (math.isfinite(gap_value) and gap_value <= gap + 1e-9):
        status = "feasible"
    parts = _plan_parts(model, lay, xs, full)
    schedule, spend = schedule_tables(model, lay, xs)
    spend["overflow"] = year_overflow(model, lay, full)
    if least is not None and least.year_bounds is not None:
        spend["least_overflow_bound"] = least.year_bounds  # no plan within the limits has fewer that year
    words = words if least is None else f"{least.words}; {words}"
    if least is not None and spend["overflow"].sum() > least.cap:
        words += (
            f"; one school per home adds {spend['overflow'].sum() - least.least:,.1f} pupil-years above "
            "capacity to the least"
        )
    solve_s, build_s = seconds
    results = {
        y: _year_result(model, t, xs[t], status, words, gap_value, solve_s, first)
        for t, y in enumerate(model.years)
    }
    return YearsResult(
        status=status,
        solver_status=words,
        objective=objective,
        bound=bound,
        gap=gap_value,
        solve_time_s=solve_s,
        build_time_s=build_s,
        years=model.years,
        objective_parts=parts,
        schedule=schedule,
        spend=spend,
        results=results,
        n_split_rounded=n_split,
        max_violation=_violation(prog, full),
        least_overflow=math.nan if least is None else least.least,
        least_overflow_bound=math.nan if least is None else least.bound,
    )


def _start(
    prog: MatrixProgram,
    model: YearsModel,
    lay: YearsLayout,
    progs: list[MatrixProgram],
    solver: str,
    deadline: Deadline,
    threads: int | None,
) -> np.ndarray | None:
    """Return the MIP start: the cheaper of the two year-by-year plans (every option, the final set).

    The final set's plan is :func:`~siting.model.years_start.final_set_start`.

    The second runs only when the first left at least :data:`_FINAL_SET_LEFT` of ``deadline``: on a
    large model the time goes to the relaxation as before (on the 20,000-unit benchmark a final set
    chosen within part of the start's time gave a worse plan and left the relaxation less time).
    """
    share_s = deadline.left()
    kw = {"solver": solver, "threads": threads}
    start = myopic_start(model, lay, progs, deadline=deadline, **kw)
    if deadline.left() < _FINAL_SET_LEFT * share_s:
        return start
    final = final_set_start(model, lay, progs, deadline=deadline, **kw)
    if final is None or (start is not None and np.dot(prog.c, final) >= np.dot(prog.c, start)):
        return start
    log.info("multi-year start: the final set's plan is the cheaper")
    return final


def _link_mask(model: YearsModel, solver: str, deadline: Deadline, threads: int | None) -> np.ndarray | None:
    """Return the linking rows every year keeps on a large model (those the last year's LP needs), or None.

    The last year has the most demand and openings; any subset of linking rows is valid (the capacity rows
    alone forbid serving from a closed school), so the rows only tighten the bound.
    """
    last = model.data[-1]
    link_all = lazy_links(last, solver)
    if link_all is None:
        return None
    mask, _ = linking_mask(last, link_all, _LINK_SHARE * deadline.left(), threads)
    log.info("multi-year: %d of %d linking rows per year", int(mask.sum()), len(link_all))
    return mask


def _round_years(
    model: YearsModel,
    lay: YearsLayout,
    progs: list[MatrixProgram],
    x: np.ndarray,
    solver: str,
    deadline: Deadline,
    gap: float,
    threads: int | None,
    msg: bool,
) -> tuple[list[np.ndarray] | None, int, str]:
    """Round each year's split pairs with its openings fixed; return the years' columns, splits, words."""
    xs, n_split, notes = [], 0, []
    for t, (d, p) in enumerate(zip(model.data, progs, strict=True)):
        xt = x[lay.block(t)].copy()
        if t and model.limits.change_m > 0:  # the earlier years are fixed: a move costs change_m per pupil
            d, p = _with_change_cost(d, xs[t - 1][: lay.n_arc], model.limits.change_m)
        if model.limits.overflow_first:  # whole homes to schools: the fewest pupils above capacity first
            d = {**d, "penalty": d["penalty"] * OVERFLOW_FIRST_ROUNDING}
            p = build_program(d)
        z = np.round(xt[lay.n_arc : lay.n_arc + lay.n_opt])
        lb, ub = p.lb.copy(), p.ub.copy()
        lb[lay.n_arc : lay.n_arc + lay.n_opt] = z
        ub[lay.n_arc : lay.n_arc + lay.n_opt] = z
        fixed = p.with_bounds(lb, ub, p.integer)
        if not d["single_source"]:
            xs.append(settle_overflow(d, clean(xt, p.integer)))
            continue
        share = 1.0 / (lay.n_years - t)
        xr, k, rep = round_split(
            d, fixed, xt, solver=solver, deadline=deadline.part(share), gap=gap, threads=threads, msg=msg
        )
        n_split += k
        if rep is not None:
            if rep.x is None:
                return None, n_split, f"year {model.years[t]}: rounding found no answer ({rep.solver_status})"
            notes.append(f"{model.years[t]}: {rep.solver_status}")
        xs.append(xr)
    words = f"{n_split} split pair-years rounded" + (f" ({'; '.join(notes)})" if notes else "")
    return xs, n_split, words


def _improve(
    prog: MatrixProgram,
    lay: YearsLayout,
    full: np.ndarray,
    bound: float,
    solver: str,
    deadline: Deadline,
    gap: float,
    threads: int | None,
    msg: bool,
    words: str,
) -> tuple[np.ndarray, float, str]:
    """While the rounded plan is above ``gap``, solve with binary assignments from it, for the time left.

    Returns the better plan, the better of the two proven bounds and the solver's words; the rounded plan
    stays when the solver does not improve on it (e.g. no time left).
    """
    objective = float(np.dot(prog.c, full))
    if relative_gap(objective, bound) <= gap or deadline.left() < 10 * MIN_SOLVE_S:
        return full, bound, words
    integer = prog.integer.copy()
    for t in range(lay.n_years):
        integer[lay.arc(t)] = True
    out = solve_program(
        prog.with_bounds(prog.lb, prog.ub, integer, start=full),
        solver=solver,
        time_limit_s=deadline.left(),
        gap=gap,
        threads=threads,
        msg=msg,
    )
    words += f"; binary assignments from the rounded plan: {out.solver_status}"
    if math.isfinite(out.bound):
        bound = max(bound, out.bound) if math.isfinite(bound) else out.bound
    if out.x is not None:
        x = clean(out.x, integer)
        x[lay.n_years * lay.width :] = assemble(lay, [x[lay.block(t)] for t in range(lay.n_years)])[
            lay.n_years * lay.width :
        ]
        if float(np.dot(prog.c, x)) < objective - 1e-9 and _violation(prog, x) < 1e-6:
            full, objective = x, float(np.dot(prog.c, x))
    return full, min(bound, objective) if math.isfinite(bound) else bound, words


def _with_change_cost(
    d: dict[str, Any], previous: np.ndarray, change_m: float
) -> tuple[dict[str, Any], MatrixProgram]:
    """Return year data and program whose arcs not used the year before carry the change cost.

    With the previous year rounded, a pair's change cost ``change_m`` × demand × ``max(0, x - x_prev)`` is
    linear in this year's arcs; it is added to their disruption (for the rounding only: the plan's
    objective parts are recomputed from the stacked program).
    """
    out = dict(d)
    out["a_dis"] = d["a_dis"] + change_m * d["k_d"][d["a_k"]] * (1.0 - np.round(previous))
    return out, build_program(out)


def _violation(prog: MatrixProgram, x: np.ndarray) -> float:
    """Return the largest violation of a row or column bound at ``x``."""
    ax = prog.a @ x
    rows = np.maximum(prog.row_lo - ax, ax - prog.row_hi)
    cols = np.maximum(prog.lb - x, x - prog.ub)
    return float(max(rows.max(initial=0.0), cols.max(initial=0.0), 0.0))


def _plan_parts(
    model: YearsModel, lay: YearsLayout, xs: list[np.ndarray], full: np.ndarray
) -> dict[str, float]:
    """Return the plan's objective parts; they sum to the plan's objective.

    Yearly walks, disruption, overflow and under-use; building once; changes.
    """
    parts = {"distance": 0.0, "building": 0.0, "disruption": 0.0, "overflow": 0.0, "underuse": 0.0}
    for t, (d, xt) in enumerate(zip(model.data, xs, strict=True)):
        year = objective_parts(d, xt)
        for key in ("distance", "disruption", "overflow", "underuse"):
            parts[key] += year[key]
        if t == lay.n_years - 1:
            parts["building"] = year["building"]
    change = 0.0
    for t in range(1, lay.n_years):
        d = model.data[t]
        change += float(np.dot(full[lay.change(t)], model.limits.change_m * d["k_d"][d["a_k"]]))
    parts["change"] = change
    return parts


def _year_result(
    model: YearsModel,
    t: int,
    xt: np.ndarray,
    status: str,
    words: str,
    gap_value: float,
    solve_s: float,
    first: SolveOutcome,
) -> SitingResult:
    """Return year ``t``'s plan as a single-year result (its own objective; the plan's status and gap)."""
    d = model.data[t]
    parts = objective_parts(d, xt)
    year_model = SitingModel(d)
    return result_from_x(
        year_model,
        xt,
        status,
        f"year {model.years[t]} of a multi-year plan ({words}); bound and gap are the plan's",
        float(sum(parts.values())),
        math.nan,
        gap_value,
        solve_s,
        0,
        "round",
        parts,
        first,
    )


def _no_answer(
    model: YearsModel, out: SolveOutcome, build_s: float, *, words: str | None = None
) -> YearsResult:
    """Return the result of a solve without an answer (``infeasible`` or ``not_solved``)."""
    status = out.status if out.status in ("infeasible", "not_solved") else "not_solved"
    return YearsResult(
        status=status,
        solver_status=words or out.solver_status,
        objective=math.nan,
        bound=out.bound,
        gap=math.nan,
        solve_time_s=out.seconds,
        build_time_s=build_s,
        years=model.years,
        objective_parts={},
        schedule=pd.DataFrame(columns=list(SCHEDULE_COLUMNS)),
        spend=pd.DataFrame(columns=["year", "spend_yuan", "budget_yuan", "openings", "expansions"]),
    )


def schedule_tables(
    model: YearsModel, lay: YearsLayout, xs: list[np.ndarray]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the schedule (one row per opened option) and the spend per year.

    Parameters
    ----------
    model
        The model.
    lay
        The stacked layout.
    xs
        Each year's columns (arcs, options, overflow).

    Returns
    -------
    tuple
        ``schedule`` (:data:`~siting.model.multiyear.SCHEDULE_COLUMNS` and ``budget_cost``) and ``spend``
        (see :attr:`~siting.model.multiyear.YearsResult.spend`).
    """
    d = model.data[0]
    z = np.array([xt[lay.n_arc : lay.n_arc + lay.n_opt] > 0.5 for xt in xs]).reshape(lay.n_years, lay.n_opt)
    opened = np.flatnonzero(z[-1]) if lay.n_years else np.zeros(0, int)
    first = z[:, opened].argmax(axis=0)
    b = model.limits.build_years
    years = np.asarray(model.years)
    table = d["o_table"].iloc[opened].reset_index(drop=True).copy()
    table["opening_year"] = years[first].astype(int)
    table["build_start_year"] = (years[first] - b).astype(int)
    for col in SCHEDULE_COLUMNS:
        if col not in table.columns:
            table[col] = np.nan
    if "cost_yuan" in d["o_table"].columns:
        table["cost_yuan"] = pd.to_numeric(table["cost_yuan"], errors="coerce")
    schedule = table[[*SCHEDULE_COLUMNS, "budget_cost"]].sort_values(
        ["opening_year", "school_id"], kind="stable"
    )
    is_new = d["is_new_f"][d["o_f"][opened]]
    start = years[first] - b
    rows = []
    for i, y in enumerate(model.years):
        now, opens = start == y, years[first] == y
        budget = model.limits.budget[i]
        rows.append(
            {
                "year": int(y),
                "spend_yuan": float(table["budget_cost"].to_numpy(float)[now].sum()),
                "budget_yuan": float(budget) if math.isfinite(budget) else math.nan,
                "openings": int((opens & is_new).sum()),
                "expansions": int((opens & ~is_new).sum()),
                "seats_added_primary": float(table["capacity_primary"].to_numpy(float)[opens].sum()),
                "seats_added_junior": float(table["capacity_junior"].to_numpy(float)[opens].sum()),
            }
        )
    return schedule.reset_index(drop=True), pd.DataFrame(rows)
