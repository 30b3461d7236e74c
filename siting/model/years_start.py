"""A first plan for the multi-year program: year by year, each year's best given the years before.

:func:`myopic_start` solves each year's single-year program (with continuous assignments) in turn, with
the options opened in earlier years kept open and that year's spend and openings limits as extra rows.
The result is a feasible answer of the stacked program, handed to the solver as its MIP start: the
solver then only has to improve on it (on the sample city, without one, HiGHS spent most of its time
finding any good plan).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from siting._log import get_logger
from siting.model.multiyear import YearsModel
from siting.model.program import clean
from siting.model.solvers import MIN_SOLVE_S, Deadline, MatrixProgram, solve_program
from siting.model.years_program import YearsLayout, assemble

log = get_logger(__name__)


def myopic_start(
    model: YearsModel,
    lay: YearsLayout,
    progs: list[MatrixProgram],
    *,
    solver: str,
    deadline: Deadline,
    threads: int | None,
) -> np.ndarray | None:
    """Return a feasible plan of the stacked program built year by year, or None (no time, no answer).

    Parameters
    ----------
    model
        The multi-year model.
    lay
        The stacked program's layout.
    progs
        Each year's single-year program (:func:`~siting.model.years_program.stacked_program`).
    solver
        Solver name.
    deadline
        When the whole start must be done; each year gets an equal share of the time left.
    threads
        Solver threads.

    Returns
    -------
    numpy.ndarray or None
        The stacked columns (change columns set to the moves), or None.
    """
    lim = model.limits
    o = slice(lay.n_arc, lay.n_arc + lay.n_opt)
    d0 = model.data[0]
    new_opt = (d0["is_new_f"][d0["o_f"]] if lay.n_opt else np.zeros(0, bool)).astype(float)
    z_prev = np.zeros(lay.n_opt)
    xs = []
    for t, p in enumerate(progs):
        if deadline.left() < MIN_SOLVE_S:
            return None
        lb, ub = p.lb.copy(), p.ub.copy()
        lb[o] = z_prev
        ub[o] = np.where(lim.earliest_index > t, 0.0, np.maximum(ub[o], z_prev))
        rows, caps = [], []
        s = t - lim.build_years
        if s >= 0 and np.isfinite(lim.budget[s]):
            rows.append(d0["o_budget"])
            caps.append(lim.budget[s] + float(np.dot(d0["o_budget"], z_prev)))
        if lim.max_openings is not None:
            rows.append(new_opt)
            caps.append(lim.max_openings + float(np.dot(new_opt, z_prev)))
        work = _with_option_rows(p.with_bounds(lb, ub, p.integer), lay, rows, caps)
        out = solve_program(
            work,
            solver=solver,
            time_limit_s=max(deadline.left() / (lay.n_years - t), MIN_SOLVE_S),
            gap=0.01,
            threads=threads,
        )
        if out.x is None:
            log.info("year-by-year start: year %d found no plan (%s)", model.years[t], out.solver_status)
            return None
        xt = clean(out.x, p.integer)
        z_prev = np.round(xt[o])
        xs.append(xt)
    return assemble(lay, xs)


def _with_option_rows(
    p: MatrixProgram, lay: YearsLayout, rows: list[np.ndarray], caps: list[float]
) -> MatrixProgram:
    """Return ``p`` with rows ``sum w z <= cap`` over its option columns."""
    if not rows:
        return p
    extra = sp.lil_matrix((len(rows), p.shape[1]))
    for i, w in enumerate(rows):
        extra[i, lay.n_arc : lay.n_arc + lay.n_opt] = w
    a = sp.vstack([sp.csr_matrix(p.a), extra.tocsr()], format="csr")
    lo = np.concatenate([p.row_lo, np.full(len(rows), -np.inf)])
    hi = np.concatenate([p.row_hi, np.asarray(caps, float)])
    return MatrixProgram(p.c, p.lb, p.ub, p.integer, a, lo, hi, p.start)
