"""The heuristics and bound for large capacitated problems, in one time budget (issue 17).

:func:`strengthen` is what mode ``"round"`` calls where the relaxation's MIP is slow or stops short of the
gap: a first Lagrangian bound (:mod:`siting.model.lagrange`), whose averaged openings
(:func:`~siting.model.lagrange.start_options`) start the facility interchange
(:mod:`siting.model.interchange`) unless an answer is given, then more volume steps with the
interchange's objective as the target value (a better step length, so a better bound).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from siting.model.interchange import interchange
from siting.model.lagrange import LagrangeBound, lagrangian_bound, start_options
from siting.model.solvers import MIN_SOLVE_S, Deadline, MatrixProgram, SolveOutcome

FIRST_BOUND_SHARE = 0.2
"""Share of the budget for the first subgradient steps."""
SEARCH_SHARE = 0.75
"""Share of what is then left for the facility interchange; the rest continues the bound."""
MIN_SECONDS = 2.0
"""Below this many seconds left nothing is started."""
MARGIN_S = 0.3
"""Seconds kept back for building the result."""
CONTINUE_S = 10.0
"""With at least this many seconds left, an answer the interchange gave already (``search`` False) is
searched again: its first run may have stopped at its time limit, with swaps still untried."""


def strengthen(
    d: dict[str, Any],
    prog: MatrixProgram,
    x: np.ndarray | None,
    objective: float,
    deadline: Deadline,
    start: LagrangeBound | None = None,
    search: bool = True,
    whole: bool = True,
) -> tuple[SolveOutcome, LagrangeBound]:
    """Return the interchange's answer (``x`` None if it found none) and the Lagrangian bound.

    Parameters
    ----------
    d, prog
        The model's core arrays and program.
    x, objective
        The answer so far and its objective (None and NaN: start from the bound's sites).
    deadline
        The end of this step's budget.
    start
        An earlier bound to continue from.
    search
        Whether to run the interchange (False: ``x`` is its answer already; it runs again only with
        :data:`CONTINUE_S` left).
    whole
        Single-school answers (False: split ones, for mode ``"split"``).

    Returns
    -------
    tuple
        ``(outcome, bound)``; ``outcome.bound`` is the bound's value (valid whatever the multipliers).
    """
    upper = objective if math.isfinite(objective) else None
    lag = lagrangian_bound(d, max_seconds=FIRST_BOUND_SHARE * deadline.left(), upper=upper, start=start)
    n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
    if x is None:
        x = np.zeros(prog.shape[1])
        x[n_arc : n_arc + n_opt] = start_options(d, lag)
    if not search and deadline.left() < CONTINUE_S:
        out = SolveOutcome("feasible", "answer kept", x, objective, math.nan, math.nan, 0.0, "interchange")
    elif n_opt and deadline.left() >= MIN_SECONDS:
        budget = max(SEARCH_SHARE * deadline.left() - MARGIN_S, MIN_SOLVE_S)
        out = interchange(d, prog, x, budget, whole=whole)
    else:
        words = "no time for the interchange"
        out = SolveOutcome("not_solved", words, None, math.nan, math.nan, math.nan, 0.0, "interchange")
    seconds = lag.seconds
    if out.x is not None and math.isfinite(out.objective) and deadline.left() > MARGIN_S + 0.2:
        more = lagrangian_bound(
            d, max_seconds=deadline.left() - MARGIN_S, upper=min(out.objective, upper or math.inf), start=lag
        )
        seconds += more.seconds
        lag = more
    out.bound = lag.bound
    out.seconds += seconds
    return out, lag
