"""The assignment of pupils to a fixed set of open options: its LP (transportation step) and its MIP.

With the options ``z`` fixed, what is left of the model is an assignment problem: a lean program of its
own, the arcs to school-levels with seats, one row per pair (assigned in full), one per school-level (its
minimum load up to its seats, overflow columns within the room the options give). :func:`transport`
solves it with continuous arcs: its value is a lower bound on every single-school assignment with these
options, and its answer is whole except for a few split pairs. :func:`exact_assignment` solves it with
binary arcs (for hard capacities a generalized assignment problem): the best single-school answer for
these options, which the local search's shift and swap moves do not always reach (on a 500-client
capacitated p-median they stop 0.23 % above it; HiGHS proves the optimum in under a second).
Both outcomes have ``x`` in the columns of the model's program.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from siting.model.program import overflow_columns, plan_capacity
from siting.model.solvers import MIN_SOLVE_S, MatrixProgram, SolveOutcome, solve_program, sparse_rows


def lean_program(d: dict[str, Any], prog: MatrixProgram, z: np.ndarray) -> tuple[MatrixProgram, np.ndarray]:
    """Return the assignment program of options ``z`` (continuous) and the arcs it keeps (indices)."""
    n_l = d["base"].shape[1]
    seats, room = plan_capacity(d, z)
    fl = d["a_f"] * n_l + d["k_l"][d["a_k"]]
    kept = np.flatnonzero(seats.reshape(-1)[fl] > 0)
    over_fl = d["over_fl"]
    n_pair, n_bin, n_k = len(d["k_d"]), seats.size, len(kept)
    rows = [d["a_k"][kept], n_pair + fl[kept], n_pair + over_fl]
    cols = [np.arange(n_k), np.arange(n_k), n_k + np.arange(len(over_fl))]
    vals = [np.ones(n_k), d["k_d"][d["a_k"][kept]].astype(float), -np.ones(len(over_fl))]
    a = sparse_rows(rows, cols, vals, (n_pair + n_bin, n_k + len(over_fl)))
    lean = MatrixProgram(
        c=np.concatenate([prog.c[kept], prog.c[overflow_columns(d)]]),
        lb=np.zeros(n_k + len(over_fl)),
        ub=np.concatenate([np.ones(n_k), room.reshape(-1)[over_fl]]),
        integer=np.zeros(n_k + len(over_fl), dtype=bool),
        a=a,
        row_lo=np.concatenate([np.ones(n_pair), d["min_load"].reshape(-1)]),
        row_hi=np.concatenate([np.ones(n_pair), seats.reshape(-1)]),
    )
    return lean, kept


def _in_model_columns(
    d: dict[str, Any], prog: MatrixProgram, z: np.ndarray, kept: np.ndarray, out: SolveOutcome
) -> SolveOutcome:
    """Put the lean program's answer ``out.x`` into the model's columns (objective the model's)."""
    if out.x is not None:
        n_arc, n_opt, n_k = len(d["a_k"]), len(d["o_f"]), len(kept)
        x = np.zeros(prog.shape[1])
        x[kept] = out.x[:n_k]
        x[n_arc : n_arc + n_opt] = z
        x[overflow_columns(d)] = out.x[n_k:]
        out.x, out.objective = x, float(np.dot(prog.c, x))
    return out


def transport(d: dict[str, Any], prog: MatrixProgram, z: np.ndarray, max_seconds: float) -> SolveOutcome:
    """Solve the assignment LP with options ``z`` fixed (split assignments: the transportation step).

    Its answer is whole except for a few split pairs, which
    :func:`~siting.model.rounding.run_local_search` rounds.
    """
    lean, kept = lean_program(d, prog, z)
    out = solve_program(lean, time_limit_s=max(max_seconds, MIN_SOLVE_S), gap=0.0)
    return _in_model_columns(d, prog, z, kept, out)


def exact_assignment(
    d: dict[str, Any],
    prog: MatrixProgram,
    z: np.ndarray,
    max_seconds: float,
    *,
    gap: float = 1e-6,
    start: np.ndarray | None = None,
    threads: int | None = None,
) -> SolveOutcome:
    """Solve the single-school assignment of options ``z`` (binary arcs) with HiGHS, to ``gap``.

    Parameters
    ----------
    d, prog
        The model's core arrays and program.
    z
        Open options (0/1 per option).
    max_seconds
        Time limit, seconds (the best answer found by then is returned, status ``"feasible"``).
    gap
        Relative MIP gap at which HiGHS stops (its bound is for these options only).
    start
        A single-school answer with these options (model columns), handed to HiGHS as its start.
    threads
        HiGHS threads (None: its default).

    Returns
    -------
    SolveOutcome
        ``x`` None when no single-school answer was found (e.g. seats too tight for whole units).
    """
    lean, kept = lean_program(d, prog, z)
    integer = np.zeros(lean.shape[1], dtype=bool)
    integer[: len(kept)] = True
    first = None
    if start is not None:
        first = np.concatenate([start[kept], start[overflow_columns(d)]])
    out = solve_program(
        lean.with_bounds(lean.lb, lean.ub, integer, first),
        time_limit_s=max(max_seconds, MIN_SOLVE_S),
        gap=gap,
        threads=threads,
    )
    return _in_model_columns(d, prog, z, kept, out)
