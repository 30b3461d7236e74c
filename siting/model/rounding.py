"""Rounding of mode ``"round"``: split pairs to one school each, by local search first, repair MIPs after.

:func:`round_split` keeps the relaxation's opened options and gives every split unit-level pair one
school: :func:`run_local_search` (shift and swap moves, :mod:`siting.model.local_search`) usually closes
the gap; while it does not, :func:`repair` solves small MIPs that free more and more pairs.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from siting._log import get_logger
from siting.model.local_search import improve_assignment
from siting.model.program import TOL, clean, with_indicators
from siting.model.solvers import MatrixProgram, SolveOutcome, relative_gap, solve_program

log = get_logger(__name__)


def round_split(
    d: dict[str, Any],
    prog: MatrixProgram,
    x: np.ndarray,
    solver: str,
    time_limit_s: float,
    used_s: float,
    gap: float,
    threads: int | None,
    msg: bool,
    certified_bound: float = math.nan,
) -> tuple[np.ndarray, int, SolveOutcome | None]:
    """Round split pairs to one school each; return (x, number of split pairs, repair outcome).

    The opened options stay as the relaxation chose them. First only the split pairs are reassigned (a
    small MIP, capacities kept); while the certified gap is above ``gap``, more pairs are freed: those
    at the schools the split pairs used, then every pair that can reach such a school, then every pair.
    The best answer is kept. ``used_s`` are the seconds the relaxation already spent of ``time_limit_s``.
    """
    n_pair = len(d["k_u"])
    best = np.zeros(n_pair)
    np.maximum.at(best, d["a_k"], x[: len(d["a_k"])])
    short = x[d["s_col"]] if d["has_shortfall"] else np.zeros(n_pair)
    split = (best < 1 - TOL) & (short < 1 - TOL)
    n_split = int(split.sum())
    if n_split == 0:
        return clean(x, np.ones(len(x), dtype=bool)), 0, None
    bound = certified_bound if math.isfinite(certified_bound) else float(np.dot(prog.c, x))
    target = bound / (1 - gap) if 0 < gap < 1 else None  # any answer this good is certified within gap
    start = time.perf_counter()
    stages = _free_stages(d, x, split)
    best_x: np.ndarray | None = None
    best_obj = math.inf
    outcome: SolveOutcome | None = None
    seconds = 0.0
    # a capacity-aware local search first: it usually closes the gap without any MIP
    search = run_local_search(d, prog, x, time_limit_s, target)
    seconds += search.seconds
    log.info("rounding: %s in %.2f s", search.solver_status, search.seconds)
    if search.x is not None:
        best_x, best_obj, outcome = search.x, search.objective, search
    for step, free_pairs in enumerate(stages):
        if best_x is not None and relative_gap(best_obj, bound) <= gap:
            break
        if step and free_pairs.sum() == stages[step - 1].sum():
            continue
        remaining = max(time_limit_s - used_s - (time.perf_counter() - start), 0.1 * time_limit_s)
        log.info("rounding: reassigning %d unit-level pairs (%d split)", int(free_pairs.sum()), n_split)
        rep = repair(d, prog, x, free_pairs, solver, remaining, gap, threads, msg, target)
        seconds += rep.seconds
        log.info("repair step %d: %s in %.1f s", step + 1, rep.solver_status, rep.seconds)
        if rep.x is not None:
            obj = float(np.dot(prog.c, rep.x))
            if obj < best_obj - 1e-9:
                best_x, best_obj, outcome = rep.x, obj, rep
        elif outcome is None:
            outcome = rep
    assert outcome is not None
    if best_x is not None and outcome is not search:  # polish the repair's answer
        best_x, polish_s = _polish(d, prog, best_x, best_obj, outcome, time_limit_s)
        seconds += polish_s
    outcome.seconds = seconds
    if best_x is None:
        return x, n_split, outcome
    keep_fraction = d["has_shortfall"]  # a unit's one school may seat only part of it
    integer = prog.integer if keep_fraction else np.ones(len(best_x), dtype=bool)
    return clean(best_x, integer), n_split, outcome


def _free_stages(d: dict[str, Any], x: np.ndarray, split: np.ndarray) -> list[np.ndarray]:
    """Return the pairs each repair stage frees, one boolean mask over pairs per stage.

    The split pairs; then also the pairs at schools the split pairs use; then also every pair that can
    reach such a school; then every pair.
    """
    n_pair = len(d["k_u"])
    xa = x[: len(d["a_k"])]
    touched = np.zeros(len(d["facilities"]), dtype=bool)
    touched[d["a_f"][split[d["a_k"]] & (xa > TOL)]] = True
    at_touched = np.zeros(n_pair, dtype=bool)
    at_touched[d["a_k"][touched[d["a_f"]] & (xa > TOL)]] = True
    near = np.zeros(n_pair, dtype=bool)
    near[d["a_k"][touched[d["a_f"]]]] = True
    return [split, split | at_touched, split | near, np.ones(n_pair, dtype=bool)]


def _polish(
    d: dict[str, Any],
    prog: MatrixProgram,
    best_x: np.ndarray,
    best_obj: float,
    outcome: SolveOutcome,
    time_limit_s: float,
) -> tuple[np.ndarray, float]:
    """Improve a repair's answer by local search; return the better answer and the seconds spent.

    When the search improves it, ``outcome.solver_status`` says so.
    """
    polish = run_local_search(d, prog, best_x, time_limit_s)
    if polish.x is not None and polish.objective < best_obj - 1e-9:
        best_x = polish.x
        outcome.solver_status += f", then local search ({polish.solver_status})"
    return best_x, polish.seconds


def run_local_search(
    d: dict[str, Any], prog: MatrixProgram, x: np.ndarray, time_limit_s: float, target: float | None = None
) -> SolveOutcome:
    """Single-school answer from ``x`` by shift and swap moves (:mod:`siting.model.local_search`).

    Opened options stay as in ``x``; each pair starts at its arc with the largest value in ``x``. Swaps
    are tried only while the objective is above ``target``. The outcome has ``x`` None when the search
    cannot satisfy every constraint (e.g. no shortfall allowed and capacities too tight for whole units).
    """
    a_k, a_f = d["a_k"], d["a_f"]
    n_arc, n_opt, n_pair = len(a_k), len(d["o_f"]), len(d["k_d"])
    n_l = d["base"].shape[1]
    z = np.round(x[n_arc : n_arc + n_opt])
    capacity = d["base"].astype(float).copy()
    for li in range(n_l):
        np.add.at(capacity[:, li], d["o_f"], z * d["o_cap"][:, li])
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
        a_f * n_l + d["k_l"][a_k],
        d["a_cost"] + d["a_dis"],
        d["k_d"],
        capacity.reshape(-1),
        d["min_load"].reshape(-1),
        start,
        penalty=d["penalty"] if d["has_shortfall"] else None,
        stop_below=-np.inf if target is None else target - float(np.dot(d["o_fixed"], z)),
        max_seconds=max(1.0, 0.1 * time_limit_s),
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
    used = found.arc >= 0
    out[found.arc[used]] = found.seated[used]
    if d["has_shortfall"]:
        out[d["s_col"]] = 1.0 - np.where(used, found.seated, 0.0)
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
) -> SolveOutcome:
    """Solve with opened options fixed, the pairs not in ``free_pairs`` fixed, free pairs binary."""
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
    work = prog.with_bounds(lb, ub, integer)
    if d["has_shortfall"]:
        s_cols = d["s_col"]
        keep = ~free_pairs
        val = np.round(x[s_cols])
        lb[s_cols] = np.where(keep, val, 0.0)
        ub[s_cols] = np.where(keep, val, 1.0)
        # one school per free pair, the part it cannot seat counted short
        work = with_indicators(prog.with_bounds(lb, ub, integer), d["a_k"], free)
    out = solve_program(
        work,
        solver=solver,
        time_limit_s=time_limit_s,
        gap=gap / 10,
        threads=threads,
        msg=msg,
        target=target,
    )
    if out.x is not None:
        out.x = out.x[: prog.shape[1]]
    return out
