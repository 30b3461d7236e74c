"""Rounding of mode ``"round"``: split pairs to one school each, by local search first, repair MIPs after.

:func:`round_split` keeps the relaxation's opened options and gives every split unit-level pair one
school: :func:`run_local_search` (shift and swap moves, :mod:`siting.model.local_search`) usually closes
the gap; while it does not, :func:`repair` solves small MIPs that free more and more pairs. Every step
gets the time left of the solve's one :class:`~siting.model.solvers.Deadline`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from siting._log import get_logger
from siting.model.local_search import improve_assignment
from siting.model.program import TOL, clean, plan_capacity, settle_overflow
from siting.model.solvers import (
    MIN_SOLVE_S,
    Deadline,
    MatrixProgram,
    SolveOutcome,
    relative_gap,
    solve_program,
)
from siting.model.underuse import plan_floor

log = get_logger(__name__)


def round_split(
    d: dict[str, Any],
    prog: MatrixProgram,
    x: np.ndarray,
    *,
    solver: str,
    deadline: Deadline,
    gap: float,
    threads: int | None,
    msg: bool,
    certified_bound: float = math.nan,
) -> tuple[np.ndarray, int, SolveOutcome | None]:
    """Round split pairs to one school each; return (x, number of split pairs, rounding outcome).

    The opened options stay as the relaxation chose them. A local search first; while the certified gap
    is above ``gap`` and time is left, repair MIPs free more and more pairs: the split ones, then every
    pair that can reach a school the split pairs use, then every pair. Each keeps the other pairs where
    the best answer so far has them and starts from that answer, so it can only improve it (without an
    answer yet, the other pairs stay where the relaxation has them). The outcome is None when nothing was
    split; its ``x`` is None when no single-school answer was found (e.g. hard capacities too tight for
    whole units, or no time left).
    """
    n_arc = len(d["a_k"])
    best = np.zeros(len(d["k_u"]))
    np.maximum.at(best, d["a_k"], x[:n_arc])
    split = best < 1 - TOL
    n_split = int(split.sum())
    whole = prog.integer.copy()
    whole[:n_arc] = True
    if n_split == 0:
        return settle_overflow(d, clean(x, whole)), 0, None
    bound = certified_bound if math.isfinite(certified_bound) else float(np.dot(prog.c, x))
    target = bound / (1 - gap) if 0 < gap < 1 else None  # any answer this good is certified within gap
    search_s = max(1.0, 0.1 * deadline.total)
    # a capacity-aware local search first: it usually closes the gap without any MIP
    search = run_local_search(d, prog, x, max(min(search_s, deadline.left()), 0.5), target)
    log.info("rounding: %s in %.2f s", search.solver_status, search.seconds)
    seconds = search.seconds
    best_x, best_obj, outcome = search.x, search.objective, search
    stages = _free_stages(d, x, split)
    for step, free_pairs in enumerate(stages):
        if best_x is not None and relative_gap(best_obj, bound) <= gap:
            break
        if step and free_pairs.sum() == stages[step - 1].sum():
            continue
        if deadline.left() < MIN_SOLVE_S:
            log.info("rounding: the time limit leaves no time for repair step %d", step + 1)
            break
        log.info("rounding: reassigning %d unit-level pairs (%d split)", int(free_pairs.sum()), n_split)
        base = x if best_x is None else best_x
        rep = repair(d, prog, base, free_pairs, solver, deadline.left(), gap, threads, msg, target, best_x)
        seconds += rep.seconds
        log.info("repair step %d: %s in %.1f s", step + 1, rep.solver_status, rep.seconds)
        if rep.x is not None:
            rep.x = settle_overflow(d, clean(rep.x, whole))
            obj = float(np.dot(prog.c, rep.x))
            if obj < best_obj - 1e-9 or best_x is None:
                best_x, best_obj, outcome = rep.x, obj, rep
        elif best_x is None:
            outcome = rep
    if best_x is not None and outcome is not search and deadline.left() >= MIN_SOLVE_S:
        polish = run_local_search(d, prog, best_x, min(search_s, deadline.left()))
        seconds += polish.seconds
        if polish.x is not None and polish.objective < best_obj - 1e-9:
            best_x = polish.x
            outcome.solver_status += f", then local search ({polish.solver_status})"
    outcome.seconds = seconds
    if best_x is None:
        return x, n_split, outcome
    return best_x, n_split, outcome


def _free_stages(d: dict[str, Any], x: np.ndarray, split: np.ndarray) -> list[np.ndarray]:
    """Return the pairs each repair stage frees, one boolean mask over pairs per stage.

    The split pairs; then also every pair that can reach a school the split pairs use; then every pair.
    (Freeing only the pairs *at* those schools, once a stage between the first two, was the slowest of
    all on the sample city: their neighbours could not make room.)
    """
    n_pair = len(d["k_u"])
    xa = x[: len(d["a_k"])]
    touched = np.zeros(len(d["facilities"]), dtype=bool)
    touched[d["a_f"][split[d["a_k"]] & (xa > TOL)]] = True
    near = np.zeros(n_pair, dtype=bool)
    near[d["a_k"][touched[d["a_f"]]]] = True
    return [split, split | near, np.ones(n_pair, dtype=bool)]


def run_local_search(
    d: dict[str, Any], prog: MatrixProgram, x: np.ndarray, max_seconds: float, target: float | None = None
) -> SolveOutcome:
    """Single-school answer from ``x`` by shift and swap moves (:mod:`siting.model.local_search`).

    Opened options stay as in ``x``; each pair starts at its arc with the largest value in ``x``. Swaps
    are tried only while the objective is above ``target``. Existing school-levels may go above capacity
    at the overflow penalty (up to their ceiling); new ones, and every one with hard capacities, may not.
    Pupils below a utilisation floor cost its price (:mod:`siting.model.underuse`).
    The outcome has ``x`` None when the search cannot satisfy every constraint.
    """
    a_k = d["a_k"]
    n_arc, n_opt, n_pair = len(a_k), len(d["o_f"]), len(d["k_d"])
    n_l = d["base"].shape[1]
    z = np.round(x[n_arc : n_arc + n_opt])
    seats, room = plan_capacity(d, z)
    price = np.where(d["may_over"].reshape(-1), d["penalty"], np.inf)
    xa = x[:n_arc]
    order = np.lexsort((-xa, a_k))
    first = np.ones(len(order), dtype=bool)
    first[1:] = a_k[order][1:] != a_k[order][:-1]
    start = np.full(n_pair, -1, dtype=np.int64)
    top = order[first]
    has = xa[top] > TOL
    start[a_k[top][has]] = top[has]
    found = improve_assignment(
        a_k,
        d["a_f"] * n_l + d["k_l"][a_k],
        d["a_cost"] + d["a_dis"],
        d["k_d"],
        seats.reshape(-1),
        d["min_load"].reshape(-1),
        start,
        penalty=price,
        ceiling=room.reshape(-1),
        floor=plan_floor(d, z).reshape(-1),
        floor_price=d["under_price"],
        stop_below=-np.inf if target is None else target - float(np.dot(d["o_fixed"], z)),
        max_seconds=max_seconds,
    )
    words = f"local search: {found.moves} moves in {found.sweeps} passes"
    if not found.feasible:
        return SolveOutcome(
            "not_solved",
            words + ", no feasible answer",
            None,
            math.nan,
            math.nan,
            math.nan,
            found.seconds,
            "local search",
        )
    out = np.zeros(prog.shape[1])
    out[n_arc : n_arc + n_opt] = z
    out[found.arc] = 1.0
    out = settle_overflow(d, out)
    objective = float(np.dot(prog.c, out))
    return SolveOutcome("feasible", words, out, objective, math.nan, math.nan, found.seconds, "local search")


def repair(
    d: dict[str, Any],
    prog: MatrixProgram,
    x: np.ndarray,
    free_pairs: np.ndarray,
    solver: str,
    time_limit_s: float,
    gap: float,
    threads: int | None,
    msg: bool,
    target: float | None = None,
    start: np.ndarray | None = None,
) -> SolveOutcome:
    """Solve with the options opened in ``x`` fixed, the pairs not in ``free_pairs`` fixed as in ``x``.

    Free pairs are binary; the overflow columns stay free (continuous, within their ceilings). ``start``
    (a single-school answer agreeing with ``x`` outside the free pairs) is handed to the solver.
    """
    n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
    lb, ub = prog.lb.copy(), prog.ub.copy()
    integer = prog.integer.copy()
    z = np.round(x[n_arc : n_arc + n_opt])
    lb[n_arc : n_arc + n_opt] = z
    ub[n_arc : n_arc + n_opt] = z
    free = free_pairs[d["a_k"]]
    fixed_val = np.round(x[:n_arc])
    lb[:n_arc] = np.where(free, 0.0, fixed_val)
    ub[:n_arc] = np.where(free, 1.0, fixed_val)
    integer[:n_arc] = free
    return solve_program(
        prog.with_bounds(lb, ub, integer, start=start),
        solver=solver,
        time_limit_s=time_limit_s,
        gap=gap / 10,
        threads=threads,
        msg=msg,
        target=target,
    )
