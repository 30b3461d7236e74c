"""Solve a mixed-integer program given as matrices, with HiGHS (highspy) or CBC (through PuLP).

:class:`MatrixProgram` is the one representation of the siting model: ``min c·x`` subject to
``row_lo <= A x <= row_hi`` and ``lb <= x <= ub``, some columns integer. :func:`solve_program` hands it to

* ``"highs"``: HiGHS through its own Python API (``Highs.passModel``), fast to build at district scale;
* ``"cbc"``: CBC through PuLP (``PULP_CBC_CMD``), the same rows built as PuLP expressions;
* ``"highs-pulp"``: HiGHS through PuLP (``pulp.HiGHS``), used to check that both builds agree.

Every path reads the solver's own status, objective and bound: a time-limited solve is never called optimal
(PuLP reports one as "Optimal"; we do not use PuLP's status for that).
"""

from __future__ import annotations

import dataclasses
import math
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    import highspy

from siting._log import get_logger
from siting.errors import SolverError

log = get_logger(__name__)

SOLVERS: tuple[str, ...] = ("highs", "cbc", "highs-pulp")
"""Solver names accepted by :func:`solve_program`."""


@dataclass
class MatrixProgram:
    """A minimisation MIP in matrix form.

    Attributes
    ----------
    c
        Objective coefficient of each column.
    lb, ub
        Column bounds.
    integer
        True for integer columns.
    a
        Constraint matrix (rows × columns), any scipy sparse format.
    row_lo, row_hi
        Row bounds (``-inf``/``inf`` for one-sided rows).
    start
        Optional feasible column values handed to the solver as a MIP start.
    """

    c: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    a: sp.spmatrix | sp.sparray
    row_lo: np.ndarray
    row_hi: np.ndarray
    start: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Number of rows and columns."""
        return int(self.a.shape[0]), int(self.a.shape[1])

    def with_bounds(
        self, lb: np.ndarray, ub: np.ndarray, integer: np.ndarray, start: np.ndarray | None = None
    ) -> MatrixProgram:
        """Return the same program with other column bounds, integrality and start (rows are shared)."""
        return MatrixProgram(self.c, lb, ub, integer, self.a, self.row_lo, self.row_hi, start)

    def relaxed(self) -> MatrixProgram:
        """Return the LP relaxation: the same program with no integer column."""
        return self.with_bounds(self.lb, self.ub, np.zeros_like(self.integer))


@dataclass
class SolveOutcome:
    """What a solver returned, in the solver's own terms and in ours.

    Attributes
    ----------
    status
        ``"optimal"`` (proven within the gap tolerance), ``"feasible"`` (a solution, not proven),
        ``"infeasible"`` or ``"not_solved"``.
    solver_status
        The solver's own words.
    x
        Column values, or None without a solution.
    objective, bound, gap
        Objective of ``x``, proven lower bound and relative gap (NaN when unknown).
    seconds
        Wall time of the solver call.
    solver
        Which path solved it.
    row_dual
        HiGHS only, a solved LP only: the row duals (``c - A^T y`` are the reduced costs), else None.
    """

    status: str
    solver_status: str
    x: np.ndarray | None
    objective: float
    bound: float
    gap: float
    seconds: float
    solver: str
    row_dual: np.ndarray | None = None


@dataclass
class Deadline:
    """The end of one time limit that every step of a solve shares (``time.perf_counter`` seconds).

    Attributes
    ----------
    end
        When the time is up.
    total
        The whole limit, seconds (steps size their own budgets from it).
    """

    end: float
    total: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """Return the deadline ``seconds`` from now."""
        return cls(time.perf_counter() + seconds, seconds)

    def left(self) -> float:
        """Return the seconds left (0 once the time is up)."""
        return max(0.0, self.end - time.perf_counter())

    def part(self, share: float) -> Deadline:
        """Return an earlier deadline: ``share`` of the time left from now (same ``total``)."""
        return Deadline(time.perf_counter() + share * self.left(), self.total)


MIN_SOLVE_S = 0.05
"""A solver call is skipped when less than this is left of the time limit, seconds."""


def relative_gap(objective: float, bound: float) -> float:
    """Return ``(objective - bound) / |objective|`` (0 when both are 0, NaN when either is unknown)."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.nan
    diff = max(0.0, objective - bound)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / abs(objective) if objective != 0 else math.inf


def solve_program(
    prog: MatrixProgram,
    *,
    solver: str = "highs",
    time_limit_s: float = 60.0,
    gap: float = 0.005,
    threads: int | None = None,
    msg: bool = False,
    target: float | None = None,
    presolve: bool = True,
) -> SolveOutcome:
    """Solve ``prog``; fall back from HiGHS to CBC when HiGHS is missing or fails.

    Parameters
    ----------
    prog
        The program.
    solver
        ``"highs"``, ``"cbc"`` or ``"highs-pulp"``.
    time_limit_s
        Wall-clock limit, seconds.
    gap
        Relative MIP gap at which the solver may stop and call the answer optimal.
    threads
        Solver threads (None: the solver's default).
    msg
        Show the solver log.
    target
        HiGHS only: stop as soon as a solution with objective at most this is found (status "feasible").
    presolve
        HiGHS only: False turns its presolve off (with a MIP start, HiGHS 1.16's presolve can misvalue
        the start: see :func:`_checked`).

    Returns
    -------
    SolveOutcome
        The solver's result, with its true status.

    Raises
    ------
    SolverError
        When ``solver`` is unknown or every solver failed.
    """
    if solver not in SOLVERS:
        raise SolverError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}.")
    if solver == "highs":
        try:
            out = _solve_highspy(
                prog,
                time_limit_s=time_limit_s,
                gap=gap,
                threads=threads,
                msg=msg,
                target=target,
                presolve=presolve,
            )
        except (ImportError, SolverError, RuntimeError) as exc:
            log.warning("HiGHS failed (%s); falling back to CBC", exc)
            return _solve_pulp(prog, "cbc", time_limit_s=time_limit_s, gap=gap, threads=threads, msg=msg)
        return out
    return _solve_pulp(prog, solver, time_limit_s=time_limit_s, gap=gap, threads=threads, msg=msg)


# ---------------------------------------------------------------------------------------------- HiGHS
def _highs_outcome(h: object, n: int, is_mip: bool, seconds: float, solver: str) -> SolveOutcome:
    """Translate a finished ``highspy.Highs`` run into a :class:`SolveOutcome`."""
    import highspy

    status = h.getModelStatus()  # type: ignore[attr-defined]
    words = h.modelStatusToString(status)  # type: ignore[attr-defined]
    info = h.getInfo()  # type: ignore[attr-defined]
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    ms = highspy.HighsModelStatus
    if status in (ms.kLoadError, ms.kModelError, ms.kPresolveError, ms.kSolveError, ms.kPostsolveError):
        raise SolverError(f"HiGHS stopped with {words!r}")
    x = np.asarray(h.getSolution().col_value, dtype=float)[:n] if has_x else None  # type: ignore[attr-defined]
    objective = float(info.objective_function_value) if has_x else math.nan
    if status == ms.kOptimal:
        bound = float(info.mip_dual_bound) if is_mip else objective
        if not math.isfinite(bound):
            bound = objective
        sol = h.getSolution()  # type: ignore[attr-defined]
        duals = None if is_mip or not sol.dual_valid else np.asarray(sol.row_dual, dtype=float)
        return SolveOutcome(
            "optimal", words, x, objective, bound, relative_gap(objective, bound), seconds, solver, duals
        )
    if status == ms.kModelEmpty:
        return SolveOutcome("optimal", words, np.zeros(n), 0.0, 0.0, 0.0, seconds, solver)
    if status in (ms.kInfeasible,):
        return SolveOutcome("infeasible", words, None, math.nan, math.nan, math.nan, seconds, solver)
    bound = float(info.mip_dual_bound) if is_mip else math.nan
    if not math.isfinite(bound):
        bound = math.nan
    if x is not None and is_mip:
        return SolveOutcome(
            "feasible", words, x, objective, bound, relative_gap(objective, bound), seconds, solver
        )
    # an LP stopped early, unbounded, or a MIP without incumbent: nothing trustworthy to return
    return SolveOutcome("not_solved", words, None, math.nan, bound, math.nan, seconds, solver)


def _solve_highspy(
    prog: MatrixProgram,
    *,
    time_limit_s: float,
    gap: float,
    threads: int | None,
    msg: bool,
    target: float | None = None,
    presolve: bool = True,
) -> SolveOutcome:
    import highspy

    n_rows, n_cols = prog.shape
    a = sp.csc_matrix(prog.a)
    a.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = np.asarray(prog.c, dtype=float)
    lp.col_lower_ = np.asarray(prog.lb, dtype=float)
    lp.col_upper_ = np.asarray(prog.ub, dtype=float)
    lp.row_lower_ = np.asarray(prog.row_lo, dtype=float)
    lp.row_upper_ = np.asarray(prog.row_hi, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_cols
    lp.a_matrix_.num_row_ = n_rows
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    is_mip = bool(np.any(prog.integer))
    if is_mip:
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in prog.integer
        ]
    h = _new_highs(quiet=not msg)
    h.setOptionValue("output_flag", bool(msg))
    h.setOptionValue("log_to_console", bool(msg))
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(gap))
    h.setOptionValue("random_seed", 0)
    _use_threads(h, threads)
    if target is not None and math.isfinite(target):
        h.setOptionValue("objective_target", float(target))
    if not presolve:
        h.setOptionValue("presolve", "off")
    ret = h.passModel(lp)
    if ret == highspy.HighsStatus.kError:
        raise SolverError("HiGHS refused the model (passModel returned an error)")
    if prog.start is not None and is_mip:
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(prog.start, dtype=float)
        sol.value_valid = True
        h.setSolution(sol)
    start = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - start
    return _checked(_highs_outcome(h, n_cols, is_mip, seconds, "highs"), prog, gap)


def _checked(out: SolveOutcome, prog: MatrixProgram, gap: float) -> SolveOutcome:
    """Return ``out`` with the objective of its own columns, when HiGHS valued a MIP answer otherwise.

    HiGHS 1.16, given a MIP start on the sample's six-year program, valued the start 36.9 pupil-years
    lower in its presolved space than in the model ("feasible in the reduced space"), returned the start
    and called it optimal at that value; without the start, or with its presolve off, it proved the least
    5.1 below the start and 31.8 above its value (scaling the budget rows did not help). So a MIP's
    objective is always recomputed from ``x``. Where HiGHS's differs (more than 1e-6 relative) the
    objective is ``c @ x``; the bound stays HiGHS's (the least over its open nodes and its incumbent: a
    misvalued incumbent only moves it down), capped at the objective; ``"optimal"`` stays only within
    ``gap``; the words say so.
    """
    if out.x is None or not math.isfinite(out.objective) or not np.any(prog.integer):
        return out
    true = float(np.dot(prog.c, out.x))
    if abs(true - out.objective) <= 1e-6 * max(1.0, abs(true)):
        return out
    log.warning("HiGHS valued its answer %.9g; its columns give %.9g: using the latter", out.objective, true)
    bound = min(out.bound, true) if math.isfinite(out.bound) else math.nan
    rel = relative_gap(true, bound)
    proven = math.isfinite(rel) and rel <= gap + 1e-9
    return dataclasses.replace(
        out,
        status="feasible" if out.status == "optimal" and not proven else out.status,
        solver_status=f"{out.solver_status} (HiGHS valued it {out.objective:.9g}, its columns {true:.9g})",
        objective=true,
        bound=bound,
        gap=rel,
    )


# ---------------------------------------------------------------------------------------------- PuLP
def _to_pulp(prog: MatrixProgram) -> tuple[object, list[object]]:
    """Build the same program as a ``pulp.LpProblem`` (one expression per row)."""
    import pulp

    prob = pulp.LpProblem("siting", pulp.LpMinimize)
    xs = []
    for j in range(prog.shape[1]):
        lo = None if not math.isfinite(prog.lb[j]) else float(prog.lb[j])
        hi = None if not math.isfinite(prog.ub[j]) else float(prog.ub[j])
        cat = pulp.LpInteger if prog.integer[j] else pulp.LpContinuous
        xs.append(pulp.LpVariable(f"x{j}", lowBound=lo, upBound=hi, cat=cat))
    prob += pulp.LpAffineExpression([(xs[j], float(cj)) for j, cj in enumerate(prog.c) if cj != 0])
    a = sp.csr_matrix(prog.a)
    for i in range(prog.shape[0]):
        lo_i, hi_i = prog.row_lo[i], prog.row_hi[i]
        cols = a.indices[a.indptr[i] : a.indptr[i + 1]]
        vals = a.data[a.indptr[i] : a.indptr[i + 1]]
        expr = pulp.LpAffineExpression([(xs[j], float(v)) for j, v in zip(cols, vals, strict=True)])
        if math.isfinite(lo_i) and math.isfinite(hi_i) and lo_i == hi_i:
            prob += pulp.LpConstraint(expr, pulp.LpConstraintEQ, f"r{i}", float(lo_i))
            continue
        if math.isfinite(lo_i):
            prob += pulp.LpConstraint(expr, pulp.LpConstraintGE, f"r{i}lo", float(lo_i))
        if math.isfinite(hi_i):
            prob += pulp.LpConstraint(expr, pulp.LpConstraintLE, f"r{i}hi", float(hi_i))
    return prob, xs


_CBC_BOUND = re.compile(r"(?:Lower bound|Best possible)\s*:?\s*(-?[0-9.eE+-]+)")


def _solve_pulp(
    prog: MatrixProgram, which: str, *, time_limit_s: float, gap: float, threads: int | None, msg: bool
) -> SolveOutcome:
    import pulp

    prob, xs = _to_pulp(prog)
    is_mip = bool(np.any(prog.integer))
    if which == "highs-pulp":
        _sync_scheduler(threads)
        solver = pulp.HiGHS(msg=msg, timeLimit=time_limit_s, gapRel=gap, threads=threads)
        start = time.perf_counter()
        prob.solve(solver)
        seconds = time.perf_counter() - start
        h = prob.solverModel  # type: ignore[attr-defined]
        out = _highs_outcome(h, len(xs), is_mip, seconds, "highs-pulp")
        if out.x is not None:  # read the values through PuLP, in our column order
            out.x = np.array([v.varValue or 0.0 for v in xs], dtype=float)
        return _checked(out, prog, gap)
    if not pulp.PULP_CBC_CMD().available():
        raise SolverError("CBC is not available (pulp.PULP_CBC_CMD); install PuLP with its bundled CBC.")
    with tempfile.TemporaryDirectory(prefix="siting_cbc_") as tmp:
        log_path = Path(tmp) / "cbc.log"
        if prog.start is not None:
            for var, value in zip(xs, prog.start, strict=True):
                var.setInitialValue(float(value))
        solver = pulp.PULP_CBC_CMD(
            msg=False,
            timeLimit=time_limit_s,
            gapRel=gap,
            threads=threads,
            logPath=str(log_path),
            warmStart=prog.start is not None,
            # CBC's preprocessing was seen to cut off the optimum of single-source models (claiming
            # "optimal" at a worse answer than HiGHS proves, with the partial-shortfall form this model
            # once had); CBC is the fallback, so correctness comes first
            options=["preprocess off"],
        )
        start = time.perf_counter()
        prob.solve(solver)
        seconds = time.perf_counter() - start
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
    if msg:
        print(text)
    words = f"{pulp.LpStatus[prob.status]} / {pulp.LpSolution[prob.sol_status]}"
    if prob.sol_status in (pulp.LpSolutionInfeasible,) or prob.status == pulp.LpStatusInfeasible:
        return SolveOutcome("infeasible", words, None, math.nan, math.nan, math.nan, seconds, "cbc")
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return SolveOutcome("not_solved", words, None, math.nan, math.nan, math.nan, seconds, "cbc")
    x = np.array([v.varValue or 0.0 for v in xs], dtype=float)
    objective = float(np.dot(prog.c, x))
    if prob.sol_status == pulp.LpSolutionOptimal:
        found = _CBC_BOUND.findall(text)
        bound = float(found[-1]) if (found and is_mip) else objective
        bound = min(bound, objective)
        return SolveOutcome(
            "optimal", words, x, objective, bound, relative_gap(objective, bound), seconds, "cbc"
        )
    found = _CBC_BOUND.findall(text)
    bound = float(found[-1]) if found else math.nan
    return SolveOutcome(
        "feasible", words, x, objective, bound, relative_gap(objective, bound), seconds, "cbc"
    )


def sparse_rows(
    rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray], shape: tuple[int, int]
) -> sp.csc_matrix:
    """Assemble a CSC matrix from lists of coordinate blocks (duplicates are summed)."""
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0)
    return sp.csc_matrix(sp.coo_matrix((v, (r, c)), shape=shape))


_BANNER_SHOWN = {"done": False}


_SCHEDULER: dict[str, int | None] = {}


def _use_threads(h: highspy.Highs, threads: int | None) -> None:
    """Set HiGHS's thread count, restarting its process-wide scheduler when the count changes.

    HiGHS starts one global thread pool at the first solve; a later solve asking for another count is
    refused (model status "Not Set", no answer), so a second solve with other ``threads`` in the same
    process would silently fail without this.
    """
    wanted = _sync_scheduler(threads)
    if wanted is not None:
        h.setOptionValue("threads", wanted)


def _sync_scheduler(threads: int | None) -> int | None:
    """Restart HiGHS's global scheduler if ``threads`` differs from the last solve's; return the count."""
    import highspy

    wanted = None if threads is None else int(threads)
    if "threads" in _SCHEDULER and _SCHEDULER["threads"] != wanted:
        highspy.Highs.resetGlobalScheduler(True)
    _SCHEDULER["threads"] = wanted
    return wanted


def _new_highs(*, quiet: bool) -> highspy.Highs:
    """Return a ``highspy.Highs``; when ``quiet``, keep its once-per-process banner off standard output.

    HiGHS prints its copyright banner from C++ when the first instance is built, before any option can
    turn output off, so the file descriptor itself is redirected for that one construction.
    """
    import highspy

    if not quiet or _BANNER_SHOWN["done"]:
        return highspy.Highs()
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        _BANNER_SHOWN["done"] = True
    return h
