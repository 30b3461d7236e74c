"""The solve modes: how :meth:`SitingModel.solve` turns the program into an answer.

``"exact"`` makes the assignments binary; ``"split"`` keeps them continuous and returns that answer;
``"round"`` solves the continuous-assignment MIP (a valid lower bound for single sourcing), then assigns
the few split pairs to single schools (:mod:`siting.model.rounding`: a local search, then small repair
MIPs with the opened options fixed), and certifies the gap of the rounded answer against the continuous
bound. One time limit covers the whole solve: every solver call gets the time left of one
:class:`~siting.model.solvers.Deadline`.

:data:`MODES` names them; :func:`solve_model` is the body of :meth:`SitingModel.solve`. Dense
single-school models (:func:`~siting.model.pricing.worth_pricing`) are solved on a subset of their arcs
by :func:`solve_priced`, with a bound valid for every arc (:mod:`siting.model.pricing`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from siting._log import get_logger
from siting.errors import InputError
from siting.model.lagrange import LagrangeBound, lagrangian_bound
from siting.model.lp_first import applies as lp_first_applies
from siting.model.lp_first import lp_first
from siting.model.pricing import (
    LP_ARCS,
    NEAREST,
    lagrange_arcs,
    nearest_arcs,
    price_arcs,
    priced_result,
    restricted_model,
    start_count,
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
from siting.model.strengthen import MARGIN_S, MIN_SECONDS, strengthen

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
_PRICE_LAG_SHARE = 0.1
"""Share of the time for the first Lagrangian steps of a priced solve (over every arc)."""
_PRICE_SHARE = 0.3
"""Most of the time left the arc pricing's LPs may use."""
_SUB_SHARE = 0.9
"""Share of the time then left for solving on the arcs kept; the rest continues the Lagrangian bound."""


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

    A p-median shape first gets :mod:`~siting.model.lp_first` (its answer when certified). Then large
    models of new facilities only get a Lagrangian bound and a facility-interchange answer
    (:func:`strengthen`, a quarter of the time, keeping LP first's answer where it is better): when
    these are certified within the gap, that is the result, and the relaxation's linking rows and MIP
    are skipped; else the answer is the MIP's start. A relaxation stopping short of the gap gets
    :func:`strengthen` again after it, with the time left. The better answer is kept and the better
    valid bound.
    """
    d = model._d
    done, pre, lag = _before_relaxation(model, mode, solver, deadline, gap, threads)
    if done is not None:
        return done
    large = _large(d)
    prog, select_s = model._working_program(solver, deadline, threads)
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
    weak = first.status != "optimal" or large
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


def _lp_first_step(
    model: SitingModel, mode: str, solver: str, deadline: Deadline, gap: float, threads: int | None
) -> tuple[SitingResult | None, SolveOutcome | None, LagrangeBound | None]:
    """Run :func:`~siting.model.lp_first.lp_first` where it applies; return (result, start, Lagrangian).

    The result (status optimal) when its answer is certified within ``gap``; else None and its answer
    as the relaxation's start (None without one, or where the step does not apply), with its
    Lagrangian bound for the next steps to continue from.
    """
    d = model._d
    if not lp_first_applies(d, mode, solver):
        return None, None, None
    out, lag = lp_first(d, model.program(), deadline, gap, threads)
    if out.x is None:
        return None, None, lag
    if not out.gap <= gap:
        return None, out, lag
    parts = objective_parts(d, out.x)
    return result_from_x(
        model, out.x, "optimal", out.solver_status, out.objective, out.bound, out.gap, out.seconds, 0,
        mode, parts, out,
    ), None, lag  # fmt: skip


def _large(d: dict[str, Any]) -> bool:
    """Whether the model is large (or a priced subset of a large model's arcs)."""
    return len(d["a_k"]) >= _LARGE_ARCS or bool(d.get("priced", False))


def _before_relaxation(
    model: SitingModel, mode: str, solver: str, deadline: Deadline, gap: float, threads: int | None
) -> tuple[SitingResult | None, SolveOutcome | None, LagrangeBound | None]:
    """LP first where it applies, then (large models of new facilities) :func:`_strengthen_first`.

    Returns (result, start, Lagrangian): the result when an answer is already certified within ``gap``
    (the relaxation's linking rows and MIP are then skipped), else None and the best answer so far.
    """
    d = model._d
    done, pre, first = _lp_first_step(model, mode, solver, deadline, gap, threads)
    if done is not None:
        return done, None, first
    if not (_large(d) and d["is_new_f"].all() and len(d["o_f"])):
        return None, pre, first
    # the same columns as the working program: its linking rows are chosen only if the MIP runs
    pre, lag = _strengthen_first(d, model.program(), pre, deadline.part(_PRE_SHARE), mode, first)
    if pre.x is not None and _within(d, pre.x, pre.bound, gap):
        return _early_result(model, mode, pre), None, lag
    return None, pre, lag


def _strengthen_first(
    d: dict[str, Any],
    prog: MatrixProgram,
    pre: SolveOutcome | None,
    deadline: Deadline,
    mode: str,
    first: LagrangeBound | None = None,
) -> tuple[SolveOutcome, LagrangeBound]:
    """The Lagrangian bound and the interchange before the relaxation's MIP, from ``pre``'s answer if any.

    ``pre`` is LP first's uncertified answer (or None). Its bound, on each pair's nearest arcs with the
    pricing not converged, can be far weaker than the Lagrangian's, and its interchange may stop in a
    poor local optimum: on 1000x100p5 at 300 s, 1.696e7 and 18,737,520, against 1.833e7 and
    18,423,903 for the interchange from the Lagrangian's averaged openings. So the interchange starts
    from those openings, and the better answer and the larger valid bound are kept. ``first`` is LP
    first's Lagrangian bound (its volume steps continue from it).
    """
    upper = pre.objective if pre is not None and pre.x is not None else math.nan
    out, lag = strengthen(d, prog, None, upper, deadline, first, whole=mode == "round")
    if pre is None:
        return out, lag
    if out.x is None or not out.objective < pre.objective:
        out.x, out.objective = pre.x, pre.objective
        out.solver_status = f"{pre.solver_status}; {out.solver_status}"
    if math.isfinite(pre.bound) and not pre.bound <= out.bound:
        out.bound = pre.bound
    out.seconds += pre.seconds
    return out, lag


def _early_result(model: SitingModel, mode: str, pre: SolveOutcome) -> SitingResult:
    """The interchange's answer, already certified within the gap: the relaxation's MIP is skipped."""
    d = model._d
    parts = objective_parts(d, pre.x)
    objective = float(sum(parts.values()))
    bound = min(pre.bound, objective)
    words = f"answer from {pre.solver_status}, certified within the gap (relaxation skipped)"
    return result_from_x(
        model, pre.x, "optimal", words, objective, bound, relative_gap(objective, bound),
        pre.seconds, 0, mode, parts, pre,
    )  # fmt: skip


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
    """Mode ``"round"`` or ``"exact"`` on a subset of the arcs (:mod:`siting.model.pricing`).

    The arcs kept: each pair's ``nearest`` cheapest, those of negative reduced cost at the first
    Lagrangian multipliers, and (on models small enough for its LPs) those the LP pricing adds. The bound
    reported is valid for every arc: the Lagrangian's over all arcs (continued from the answer found),
    or the pricing's. Returns None when the subset gave no answer (the caller solves the full model).
    """
    d = model._d
    lag = lagrangian_bound(d, max_seconds=_PRICE_LAG_SHARE * deadline.left())
    nearest = start_count(d, nearest)
    keep = nearest_arcs(d, nearest) | lagrange_arcs(d, lag.lam)
    pricing = None
    if keep.sum() <= LP_ARCS:
        pricing = price_arcs(d, keep, nearest, _PRICE_SHARE * deadline.left(), threads)
        keep = keep if pricing is None else pricing.keep
    sub = restricted_model(model, keep, None if pricing is None else pricing.prog)
    part = deadline.part(_SUB_SHARE)
    if mode == "exact":
        res = solve_exact(sub, solver="highs", deadline=part, gap=gap, threads=threads, msg=msg)
    else:
        res = solve_relaxed(sub, mode, solver="highs", deadline=part, gap=gap, threads=threads, msg=msg)
    if res._x is None:
        log.info("no answer on %d of %d arcs; solving on every arc", keep.sum(), len(keep))
        return None
    more = lagrangian_bound(
        d, max_seconds=max(deadline.left() - MARGIN_S, 0.05), upper=res.objective, start=lag
    )
    bounds = [more.bound, res.bound if keep.all() else math.nan]
    bounds.append(math.nan if pricing is None else pricing.full_bound(res.bound))
    bound = max(b for b in bounds if math.isfinite(b))
    words = f"{int(keep.sum()):,} of {len(keep):,} arcs"
    if pricing is not None:
        state = "converged" if pricing.converged else "stopped"
        words += f", LP pricing {state} after {pricing.rounds} LPs (LP {pricing.lp_value:.8g})"
    res.solve_time_s += lag.seconds + more.seconds + (pricing.seconds if pricing is not None else 0.0)
    return priced_result(model, res, keep, bound, gap, words)
