"""The solve modes: how :meth:`SitingModel.solve` turns the program into an answer.

``"exact"`` makes the assignments binary; ``"split"`` keeps them continuous and returns that answer;
``"round"`` solves the continuous-assignment MIP (a valid lower bound for single sourcing), then assigns
the few split pairs to single schools (:mod:`siting.model.rounding`: a local search, then small repair
MIPs with the opened options fixed), and certifies the gap of the rounded answer against the continuous
bound. One time limit covers the whole solve: every solver call gets the time left of one
:class:`~siting.model.solvers.Deadline`.

:data:`MODES` names them; :func:`solve_model` is the body of :meth:`SitingModel.solve`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from siting._log import get_logger
from siting.errors import InputError
from siting.model.lagrange import LagrangeBound
from siting.model.pricing import (
    NEAREST,
    full_columns,
    price_arcs,
    restricted_model,
    worth_pricing,
)
from siting.model.program import clean, settle_overflow
from siting.model.result import SitingResult, empty_result, objective_parts, result_from_x
from siting.model.rounding import round_split
from siting.model.solvers import (
    MIN_SOLVE_S,
    Deadline,
    MatrixProgram,
    SolveOutcome,
    relative_gap,
    solve_program,
)
from siting.model.strengthen import MIN_SECONDS, strengthen

if TYPE_CHECKING:
    from siting.model.siting_model import SitingModel

log = get_logger(__name__)

MODES: tuple[str, ...] = ("round", "exact", "split")
"""Solve modes: round continuous assignments to single schools, binary assignments, or split assignments."""

_RELAXATION_SHARE = 0.8
"""In mode ``"round"`` the relaxation may use this share of the time left; the rest is the rounding's."""
_LARGE_ARCS = 50_000
"""From this many arcs the relaxation's MIP can be slow: a Lagrangian bound and the facility interchange
run first (models of new facilities only, :data:`_PRE_SHARE` of the time) or after it."""
_PRE_SHARE = 0.25
_PRICE_SHARE = 0.4
"""Most of the time left the arc pricing's LPs may use."""


def resolve_mode(mode: str | None, single_source: bool) -> str:
    """Return the mode to solve: the default for ``None``, ``"split"`` for a model that allows splitting.

    Raises
    ------
    InputError
        For an unknown mode.
    """
    if mode is None:
        mode = "round" if single_source else "split"
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
    if mode != "split" and not single_source:
        log.warning(
            "mode=%r asks for single schools but the model allows splitting; solving mode 'split'", mode
        )
        mode = "split"
    return mode


def solve_model(
    model: SitingModel,
    *,
    solver: str,
    time_limit_s: float,
    gap: float,
    mode: str | None,
    threads: int | None,
    msg: bool,
) -> SitingResult:
    """Solve ``model``: the body of :meth:`SitingModel.solve`, whose parameters these are."""
    if not (time_limit_s > 0 and math.isfinite(time_limit_s)):
        raise InputError(f"time_limit_s must be a finite number of seconds > 0, got {time_limit_s!r}.")
    mode = resolve_mode(mode, model.single_source)
    deadline = Deadline.after(time_limit_s)
    if worth_pricing(model._d, mode, solver):
        priced = solve_priced(model, mode, deadline=deadline, gap=gap, threads=threads, msg=msg)
        if priced is not None:
            return priced
    if mode == "exact":
        return solve_exact(model, solver=solver, deadline=deadline, gap=gap, threads=threads, msg=msg)
    return solve_relaxed(model, mode, solver=solver, deadline=deadline, gap=gap, threads=threads, msg=msg)


def solve_relaxed(
    model: SitingModel,
    mode: str,
    *,
    solver: str,
    deadline: Deadline,
    gap: float,
    threads: int | None,
    msg: bool,
) -> SitingResult:
    """Mode ``"split"`` or ``"round"``: the continuous-assignment MIP, rounded in mode ``"round"``.

    A large model of new facilities only (p-median and facility-location shapes) first gets a
    Lagrangian bound and a facility-interchange answer (:func:`strengthen`, a quarter of the time),
    handed to the relaxation as its start; any model whose relaxation stops short of the gap gets them
    afterwards with the time left. The better answer is kept and the better valid bound.
    """
    d = model._d
    prog, select_s = model._working_program(solver, deadline, threads)
    pre, lag = None, None
    if len(d["a_k"]) >= _LARGE_ARCS and d["is_new_f"].all() and len(d["o_f"]):
        pre, lag = strengthen(d, prog, None, math.nan, deadline.part(_PRE_SHARE), whole=mode == "round")
    share = _RELAXATION_SHARE if mode == "round" else 1.0
    # in round mode the relaxation gets a quarter of the gap, leaving the rest for the rounding
    first = solve_program(
        prog if pre is None or pre.x is None else prog.with_bounds(prog.lb, prog.ub, prog.integer, pre.x),
        solver=solver,
        time_limit_s=max(share * deadline.left(), MIN_SOLVE_S),
        gap=gap / 4 if mode == "round" else gap,
        threads=threads,
        msg=msg,
    )
    log.info("%s solve: %s in %.1f s (bound %.6g)", mode, first.solver_status, first.seconds, first.bound)
    first.seconds += select_s + (pre.seconds if pre is not None else 0.0)
    solve_time = first.seconds
    if first.x is None:
        return _rescue(model, mode, prog, first, pre, lag, deadline, gap, solve_time)
    n_split = 0
    status, words, bound = first.status, first.solver_status, first.bound
    if mode == "round":
        x, n_split, rep = round_split(
            d,
            prog,
            first.x,
            solver=solver,
            deadline=deadline,
            gap=gap,
            threads=threads,
            msg=msg,
            certified_bound=first.bound,
        )
        if rep is not None:
            solve_time += rep.seconds
            words = f"relaxation: {first.solver_status}; repair: {rep.solver_status}"
            if rep.x is None:
                return empty_result(model, rep, mode, solve_time, words=words)
    else:
        x = settle_overflow(d, clean(first.x, prog.integer))
        bound = first.bound if math.isfinite(first.bound) else math.nan
    x, bound, words = _keep_better(d, x, bound, words, pre)
    weak = first.status != "optimal" or len(d["a_k"]) >= _LARGE_ARCS
    if weak and not _within(d, x, bound, gap) and deadline.left() >= MIN_SECONDS:
        opts = slice(len(d["a_k"]), len(d["a_k"]) + len(d["o_f"]))
        again = pre is None or pre.x is None or not np.array_equal(x[opts] > 0.5, pre.x[opts] > 0.5)
        objective = float(np.dot(prog.c, x))
        after, _ = strengthen(d, prog, x, objective, deadline, lag, search=again, whole=mode == "round")
        solve_time += after.seconds
        x, bound, words = _keep_better(d, x, bound, words, after)
    parts = objective_parts(d, x)
    objective = float(sum(parts.values()))
    gap_value = relative_gap(objective, bound)
    if first.status in ("optimal", "feasible"):
        status = "optimal" if math.isfinite(gap_value) and gap_value <= gap + 1e-9 else "feasible"
    return result_from_x(
        model, x, status, words, objective, bound, gap_value, solve_time, n_split, mode, parts, first
    )


def _within(d: dict[str, Any], x: np.ndarray, bound: float, gap: float) -> bool:
    """Whether the answer ``x`` is certified within ``gap`` of ``bound``."""
    value = relative_gap(float(sum(objective_parts(d, x).values())), bound)
    return math.isfinite(value) and value <= gap


def _keep_better(
    d: dict[str, Any], x: np.ndarray, bound: float, words: str, other: SolveOutcome | None
) -> tuple[np.ndarray, float, str]:
    """Return the better answer of ``x`` and ``other.x``, the larger valid bound and the solver words.

    Both bounds are valid lower bounds (the relaxation's, the Lagrangian's), so the larger is too; it is
    capped at the answer's objective (a bound above it could only be rounding noise).
    """
    if other is None:
        return x, bound, words
    objective = float(sum(objective_parts(d, x).values()))
    if other.x is not None and other.objective < objective - 1e-9 * abs(objective):
        x, objective = other.x, other.objective
        words = f"{words}; answer from {other.solver_status}"
    if math.isfinite(other.bound) and not other.bound <= bound:
        bound = min(other.bound, objective)
        words = f"{words}; Lagrangian bound {other.bound:.6g}"
    return x, bound, words


def _rescue(
    model: SitingModel,
    mode: str,
    prog: MatrixProgram,
    first: SolveOutcome,
    pre: SolveOutcome | None,
    lag: LagrangeBound | None,
    deadline: Deadline,
    gap: float,
    solve_time: float,
) -> SitingResult:
    """When the relaxation returned no answer: the interchange's answer, if any (a single-school one).

    The answer of the first :func:`strengthen` (``pre``) when there was one, else a new one in the time
    left; the bound is the larger of the relaxation's and the Lagrangian's.
    """
    d = model._d
    if (pre is None or pre.x is None) and deadline.left() >= MIN_SECONDS and len(d["o_f"]):
        pre, _ = strengthen(d, prog, None, math.nan, deadline, lag, whole=mode == "round")
        solve_time += pre.seconds
    if pre is None or pre.x is None:
        return empty_result(model, first, mode, solve_time)
    words = f"relaxation: {first.solver_status}; answer from {pre.solver_status}"
    x = pre.x
    parts = objective_parts(d, x)
    objective = float(sum(parts.values()))
    bounds = [b for b in (first.bound, pre.bound) if math.isfinite(b)]
    bound = min(max(bounds), objective) if bounds else math.nan
    gap_value = relative_gap(objective, bound)
    status = "optimal" if math.isfinite(gap_value) and gap_value <= gap + 1e-9 else "feasible"
    return result_from_x(
        model, x, status, words, objective, bound, gap_value, solve_time, 0, mode, parts, pre
    )


def solve_exact(
    model: SitingModel, *, solver: str, deadline: Deadline, gap: float, threads: int | None, msg: bool
) -> SitingResult:
    """Binary assignments, warm-started from the rounded answer (which also gives a second bound).

    The ``"round"`` answer comes first (at most half the time left). If its certified gap is already
    within ``gap`` it is returned; otherwise the binary-assignment MIP starts from it with the time left,
    so a time-limited solve still returns at least the rounded answer, and the better of the two proven
    bounds is kept.
    """
    warm = solve_relaxed(
        model, "round", solver=solver, deadline=deadline.part(0.5), gap=gap, threads=threads, msg=msg
    )
    if warm._x is not None and math.isfinite(warm.gap) and warm.gap <= gap:
        warm.mode = "exact"
        warm.solver_status = f"rounded answer within the gap ({warm.solver_status})"
        return warm
    if deadline.left() < MIN_SOLVE_S:
        warm.mode = "exact"
        warm.solver_status = f"warm start (round): {warm.solver_status}; exact: no time left"
        return warm
    prog, _ = model._working_program(solver, deadline, threads)
    n_arc = len(model._d["a_k"])
    integer = prog.integer.copy()
    integer[:n_arc] = True
    work = prog.with_bounds(prog.lb, prog.ub, integer, start=warm._x)
    out = solve_program(work, solver=solver, time_limit_s=deadline.left(), gap=gap, threads=threads, msg=msg)
    solve_time = warm.solve_time_s + out.seconds
    words = f"warm start (round): {warm.status}; exact: {out.solver_status}"
    bounds = [b for b in (out.bound, warm.bound) if math.isfinite(b)]
    bound = max(bounds) if bounds else math.nan
    x = settle_overflow(model._d, clean(out.x, integer)) if out.x is not None else warm._x
    if x is None:
        return empty_result(model, out, "exact", solve_time, words=words)
    parts = objective_parts(model._d, x)
    objective = float(sum(parts.values()))
    if warm._x is not None and warm.objective < objective - 1e-9:  # the solver did not keep the start
        x, parts, objective = warm._x, warm.objective_parts, warm.objective
    bound = min(bound, objective) if math.isfinite(bound) else bound
    gap_value = relative_gap(objective, bound)
    proven = out.status == "optimal" and out.x is not None
    status = "optimal" if proven or (math.isfinite(gap_value) and gap_value <= gap + 1e-9) else "feasible"
    return result_from_x(
        model, x, status, words, objective, bound, gap_value, solve_time, 0, "exact", parts, out
    )


def solve_priced(
    model: SitingModel,
    mode: str,
    *,
    deadline: Deadline,
    gap: float,
    threads: int | None,
    msg: bool,
    nearest: int = NEAREST,
) -> SitingResult | None:
    """Mode ``"round"`` or ``"exact"`` on the priced arcs (:mod:`siting.model.pricing`), bound for all arcs.

    ``nearest`` arcs per pair start the pricing. Returns None when the pricing's first LP gave no duals
    in its time (the caller then solves the full model).
    """
    d = model._d
    pricing = price_arcs(d, nearest, _PRICE_SHARE * deadline.left(), threads)
    if pricing is None:
        log.info("arc pricing gave no LP duals in its time; solving on every arc")
        return None
    sub = restricted_model(model, pricing)
    if mode == "exact":
        res = solve_exact(sub, solver="highs", deadline=deadline, gap=gap, threads=threads, msg=msg)
    else:
        res = solve_relaxed(sub, mode, solver="highs", deadline=deadline, gap=gap, threads=threads, msg=msg)
    res.solve_time_s += pricing.seconds
    res._model = model
    if res._x is not None:
        res._x = full_columns(d, pricing.keep, res._x)
    bound = pricing.full_bound(res.bound)
    res.bound = min(bound, res.objective) if math.isfinite(res.objective) else bound
    res.gap = relative_gap(res.objective, res.bound)
    if res.status in ("optimal", "feasible"):
        within = math.isfinite(res.gap) and res.gap <= gap + 1e-9
        res.status = "optimal" if within else "feasible"
    words = "converged" if pricing.converged else "stopped"
    res.solver_status = (
        f"arc pricing: {int(pricing.keep.sum()):,} of {len(d['a_k']):,} arcs, {pricing.rounds} LPs, "
        f"{words}, LP {pricing.lp_value:.8g}, bound for all arcs {bound:.8g}; {res.solver_status}"
    )
    return res
