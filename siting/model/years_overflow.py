r"""Overflow first: the fewest pupil-years above capacity the budget allows, before shorter walks.

With ``plan.overflow_first`` the multi-year plan is solved in two stages. :func:`least_overflow` solves
the stacked program (:func:`~siting.model.years_program.stacked_program`, every limit) for the fewest
pupils above capacity summed over the plan years, :math:`O^* = \min \sum_t \mathrm{overflow}_t`: its
objective is the usual one with overflow priced :data:`OVERFLOW_FIRST_ROUNDING` times higher (with
``overflow_m`` = 10,000 a pupil above capacity then outweighs 10,000 pupil-km of walks, so walks only
break ties; priced at 1 with the rest 0 the solver found worse plans on the sample, since nothing told
it which of many equal-overflow plans to keep, and the second stage then had to mend their walks). That
plan then starts the MIP of the overflow alone (every other price 0, HiGHS's presolve off: with it,
HiGHS misvalued the start, see :func:`~siting.model.solvers._checked`), whose proven bound is the
least's (its plan is kept where it has fewer pupils above capacity). On the sample city with 600 s it
proved the least, 8,011.4 pupil-years, where the priced MIP alone had left the bound 4.8 % lower. The
bound reported is the largest of that MIP's, its linear relaxation's and the sum of each year's own
least (:func:`year_least_bounds`: what the limits allow that year whatever the other years do, a MIP on the
columns up to that year; stronger where a year's openings must be whole, e.g. a school too dear for one
year's budget, which the LP builds in halves). All are valid for any plan.
:func:`overflow_caps` then adds the row :math:`\sum_t \mathrm{overflow}_t \le O^*` to the full program,
and the usual objective (walks, building, disruption, changes) chooses among the plans that keep it.
No plan within the budget can then seat more children in one year without seating
fewer in another: the plan is the least overflow the budget allows in that sense. (Each year's least on
its own is not one plan in general: what 2026 alone would open is not what 2030 needs, and a school
keeps its size. On the sample city each year's own least is proven — 3,075, 801, 0, 182, 1,014 and
2,553 pupils for 2025–2030 — but any plan holding 2025 and 2026 to theirs leaves at least 10 above
capacity in 2027, proven; one plan of the proven least, 8,011.4 pupil-years, meets the years' own least
in 2025 and 2028–2030 and leaves 948 and 241 in 2026 and 2027; holding each year to its least in turn,
earliest first, left about 1,500 more pupil-years over the plan.)

The stage starts from the plan with fewer pupil-years above capacity of the usual start and the
year-by-year plan (:func:`~siting.model.years_start.myopic_start`) with overflow priced the same way.
Assignments are continuous in it, as in the relaxation: the least is over split catchments, a lower
bound for single-school ones; whole homes to one school add a few pupils (packing), which the plan
reports beside the least.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from siting._log import get_logger
from siting.model.multiyear import YearsModel
from siting.model.program import build_program, clean, overflow_columns
from siting.model.solvers import MIN_SOLVE_S, Deadline, MatrixProgram, SolveOutcome, solve_program
from siting.model.years_program import YearsLayout
from siting.model.years_start import myopic_start

log = get_logger(__name__)

STAGE_GAP = 1e-4
"""Relative gap at which the least overflow counts as proven."""
CAP_SLACK = 1e-6
"""Pupils (plus the same share of the least) the cap is above the least, for rounding in the solver."""
YEAR_BOUNDS_SHARE = 0.5
"""Share of the least stage's time left after its LP for each year's own least (the bound)."""
PRICED_SHARE = 0.05
"""Share of the least stage's time left after the bounds for the plan with overflow priced high; the rest
goes to the overflow alone started from it, which finds and proves the least. On the sample at 120 s,
a share of 0.5 left the least found at 8,135 pupil-years, 0.05 found 8,011 (the least, proven in a
longer run; 8,135 again in a run beside the test suite)."""
OVERFLOW_FIRST_ROUNDING = 1000.0
"""With overflow first, rounding each year to one school per home prices overflow this many times higher."""


@dataclass(frozen=True)
class LeastOverflow:
    """The least pupil-years above capacity over the plan (see the module docstring).

    Attributes
    ----------
    least
        The least found, pupil-years (NaN: the stage found no plan).
    bound
        Its proven lower bound, pupil-years (NaN without).
    start
        The stage's plan of the stacked program (it keeps the cap), or None.
    words
        The stage's solver words.
    year_bounds
        Per plan year, a proven lower bound on that year's pupils above capacity in any plan within the
        limits (:func:`year_least_bounds`), or None.
    """

    least: float
    bound: float
    start: np.ndarray | None
    words: str
    year_bounds: np.ndarray | None = None

    @property
    def cap(self) -> float:
        """The most pupil-years above capacity the plan may keep (``inf`` without a least)."""
        return self.least * (1 + CAP_SLACK) + CAP_SLACK if math.isfinite(self.least) else math.inf

    @property
    def proven(self) -> bool:
        """Whether the least is proven within :data:`STAGE_GAP` (or half a pupil)."""
        return bool(self.least - self.bound <= max(STAGE_GAP * abs(self.least), 0.5))


def least_overflow(
    model: YearsModel,
    lay: YearsLayout,
    prog: MatrixProgram,
    start: np.ndarray | None,
    *,
    solver: str,
    deadline: Deadline,
    threads: int | None,
) -> LeastOverflow:
    """Return the least pupil-years above capacity over the plan (the module docstring).

    Parameters
    ----------
    model
        The multi-year model.
    lay, prog
        The stacked program and its layout.
    start
        A plan of ``prog`` to start from (e.g. the year-by-year one), or None.
    solver
        Solver name.
    deadline
        When the stage must be done.
    threads
        Solver threads.

    Returns
    -------
    LeastOverflow
        The least, its bound and the plan that reaches it.
    """
    cols = np.concatenate([_overflow_cols(model, lay, t) for t in range(lay.n_years)])
    pure = np.zeros(prog.shape[1])
    pure[cols] = 1.0
    lp = solve_program(  # the bound: the pupils above capacity alone, every column continuous
        dataclasses.replace(prog, c=pure).relaxed(),
        solver=solver,
        time_limit_s=max(deadline.left() / 4, MIN_SOLVE_S),
        gap=STAGE_GAP,
        threads=threads,
    )
    years = year_least_bounds(
        model, lay, prog, solver=solver, deadline=deadline.part(YEAR_BOUNDS_SHARE), threads=threads
    )
    c = prog.c.copy()
    c[cols] *= OVERFLOW_FIRST_ROUNDING
    out = solve_program(
        dataclasses.replace(prog, c=c, start=start),
        solver=solver,
        time_limit_s=max(PRICED_SHARE * deadline.left(), MIN_SOLVE_S),
        gap=STAGE_GAP,
        threads=threads,
    )
    if out.x is None:
        log.info("overflow first: %s, no plan", out.solver_status)
        words = f"overflow first: {out.solver_status}, no plan"
        return LeastOverflow(math.nan, math.nan, None, words, years)
    x = clean(out.x, prog.integer)
    least = float(year_overflow(model, lay, x).sum())
    x, least, proof = _prove(
        model, lay, prog, pure, x, least, solver=solver, deadline=deadline, threads=threads
    )
    # each year's own least sums to a bound of the total: stronger than the LP where a year must branch
    found = [b for b in (lp.bound, proof.bound, float(years.sum())) if math.isfinite(b)]
    bound = min(max(found, default=0.0), least)
    words = (
        f"overflow first: least {least:,.1f} pupil-years (bound {bound:,.1f}: the overflow alone "
        f"{proof.bound:,.1f} ({proof.solver_status}), its LP {lp.bound:,.1f}, the years' own least "
        f"{years.sum():,.1f}; the priced plan {out.solver_status})"
    )
    log.info(words)
    return LeastOverflow(least, bound, x, words, years)


def _prove(
    model: YearsModel,
    lay: YearsLayout,
    prog: MatrixProgram,
    pure: np.ndarray,
    x: np.ndarray,
    least: float,
    *,
    solver: str,
    deadline: Deadline,
    threads: int | None,
) -> tuple[np.ndarray, float, SolveOutcome]:
    """Solve the overflow alone (prices ``pure``) from the plan ``x`` of ``least`` pupil-years.

    Returns the plan with fewer pupil-years of the two, its pupil-years, and the solve (its bound proves
    the least; its plan's walks are mended by the second stage).
    """
    proof = solve_program(
        dataclasses.replace(prog, c=pure, start=x),
        solver=solver,
        time_limit_s=max(deadline.left(), MIN_SOLVE_S),
        gap=STAGE_GAP,
        threads=threads,
        presolve=False,  # HiGHS's presolve misvalued this start by 36.9 pupil-years on the sample
    )
    if proof.x is not None:
        px = clean(proof.x, prog.integer)
        fewer = float(year_overflow(model, lay, px).sum())
        if fewer < least - CAP_SLACK * max(1.0, least):
            return px, fewer, proof
    return x, least, proof


def year_least_bounds(
    model: YearsModel,
    lay: YearsLayout,
    prog: MatrixProgram,
    *,
    solver: str,
    deadline: Deadline,
    threads: int | None,
) -> np.ndarray:
    r"""Return, per plan year, a proven lower bound on its pupils above capacity in any plan.

    Year :math:`t`'s overflow depends on what is open by then and on that year's assignment. Its least is
    solved on the option columns of the years up to :math:`t` and year :math:`t`'s whole block, with
    every row of ``prog`` that involves no other column (year :math:`t`'s own rows; of the earlier years
    their option rows, stays open, the spend and openings; rows reaching other columns, such as a start
    whose school opens after :math:`t` or an earlier year's assignment, are left out, which can only
    lower the least). The MIP's proven bound is kept (0 where it has none: overflow
    is never negative), so the sum over the years is a valid bound on the plan's total, and each year's
    value says how few children above capacity that year the limits allow, whatever the other years do.

    Parameters
    ----------
    model, lay, prog
        The multi-year model, its stacked layout and program (with every limit).
    solver
        Solver name.
    deadline
        When all the years must be done (shared evenly among the years still to solve).
    threads
        Solver threads.

    Returns
    -------
    numpy.ndarray
        Pupils, one value per plan year, each ≥ 0.
    """
    a = sp.csr_matrix(prog.a)
    out = np.zeros(lay.n_years)
    for t in range(lay.n_years):
        # the earlier years' option columns (what is open when) and year t's whole block
        keep = np.zeros(lay.n_cols, bool)
        keep[lay.block(t)] = True
        for s in range(t):
            keep[lay.opt(s)] = True
        # the rows of kept columns only
        rows = (np.diff(a[:, ~keep].indptr) == 0) & (np.diff(a[:, keep].indptr) > 0)
        c = np.zeros(lay.n_cols)
        c[overflow_columns(model.data[t]) + t * lay.width] = 1.0
        lo, hi = prog.row_lo[rows], prog.row_hi[rows]
        sub = MatrixProgram(
            c[keep], prog.lb[keep], prog.ub[keep], prog.integer[keep], a[rows][:, keep], lo, hi
        )
        got = solve_program(
            sub,
            solver=solver,
            time_limit_s=max(deadline.left() / (lay.n_years - t), MIN_SOLVE_S),
            gap=STAGE_GAP,
            threads=threads,
        )
        out[t] = max(got.bound, 0.0) if math.isfinite(got.bound) else 0.0
        log.info("overflow first: %d alone: at least %.1f (%s)", model.years[t], out[t], got.solver_status)
    return out


def overflow_first(
    model: YearsModel,
    lay: YearsLayout,
    prog: MatrixProgram,
    start: np.ndarray | None,
    link_mask: np.ndarray | None,
    deadline: Deadline,
    *,
    solver: str,
    threads: int | None,
) -> tuple[LeastOverflow, MatrixProgram, np.ndarray | None]:
    """Return the least, the program with its cap row, and the start for the rest of the solve.

    The least stage (:func:`least_overflow`) starts from the plan with fewer pupil-years above capacity:
    ``start`` or the year-by-year plan with overflow priced :data:`OVERFLOW_FIRST_ROUNDING` times higher
    (a plan of the same program, only the prices differ); both stages share ``deadline`` half and half.
    """
    boost = [
        build_program({**d, "penalty": d["penalty"] * OVERFLOW_FIRST_ROUNDING}, link_mask) for d in model.data
    ]
    first = myopic_start(model, lay, boost, solver=solver, deadline=deadline.part(0.5), threads=threads)
    if first is not None and (
        start is None or year_overflow(model, lay, first).sum() < year_overflow(model, lay, start).sum()
    ):
        log.info("overflow first: the year-by-year plan seating each year's children first is the start")
        start = first
    least = least_overflow(model, lay, prog, start, solver=solver, deadline=deadline, threads=threads)
    return (
        least,
        overflow_caps(prog, model, lay, least.cap),
        least.start if least.start is not None else start,
    )


def overflow_caps(prog: MatrixProgram, model: YearsModel, lay: YearsLayout, cap: float) -> MatrixProgram:
    """Return ``prog`` with the row: the overflow columns of every year sum to at most ``cap``."""
    if not math.isfinite(cap):
        return prog
    cols = np.concatenate([_overflow_cols(model, lay, t) for t in range(lay.n_years)])
    row = sp.csr_matrix((np.ones(len(cols)), (np.zeros(len(cols), int), cols)), shape=(1, prog.shape[1]))
    return dataclasses.replace(
        prog,
        a=sp.vstack([sp.csr_matrix(prog.a), row], format="csr"),
        row_lo=np.r_[prog.row_lo, -np.inf],
        row_hi=np.r_[prog.row_hi, cap],
    )


def year_overflow(model: YearsModel, lay: YearsLayout, full: np.ndarray) -> np.ndarray:
    """Return each plan year's pupils above capacity in the stacked columns ``full``."""
    return np.array([float(full[_overflow_cols(model, lay, t)].sum()) for t in range(lay.n_years)])


def _overflow_cols(model: YearsModel, lay: YearsLayout, t: int) -> np.ndarray:
    """Return year ``t``'s overflow columns in a stacked program of layout ``lay``."""
    return t * lay.width + overflow_columns(model.data[t])
