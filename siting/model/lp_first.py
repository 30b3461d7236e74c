r"""LP first: a bound and sites from the Lagrangian or the LP, their exact assignment, a stop when certified.

For p-median shapes (new facilities only, ``exactly_new``, one option per facility, no budget) the
relaxation's MIP spends most of its time choosing linking rows and branching, while the LP relaxation
with every linking row is already within a fraction of a per cent of the optimum, and its largest
option values usually name the optimal sites. :func:`lp_first`:

0. (up to :data:`LAGRANGE_MOST_PAIRS` pairs) runs the Lagrangian bound (:mod:`siting.model.lagrange`,
   a bound valid for every arc, equal to the LP's at its best) in short rounds, and assigns its sites
   exactly when their assignment LP is within the gap (:func:`lagrange_first`): where the LP is slow
   (few large schools, many arcs per pair) this certifies in a fraction of its time; it gives way to
   the LP when its bound stalls;
1. solves that LP on each pair's :data:`NEAREST` cheapest arcs and prices the others with its row
   duals (:class:`PricedLP`; arcs of negative reduced cost are added and the LP solved again). After
   any round, :math:`z_{LP} + \sum_k \min(0, \min_{a \notin R,\,a \in k} \bar c_a)` is a lower bound
   valid for **every** arc (the argument of :mod:`siting.model.pricing`), so the bound never waits for
   the pricing to converge;
2. opens the ``exactly_new`` options of largest LP value and assigns every pair to one school exactly
   (:func:`~siting.model.fixed_sites.exact_assignment`, a small MIP);
3. stops when that answer is certified within the gap (after trying its :data:`POLISH_TRIES`
   best-priced swaps: certified is not optimal, and one swap often closes the rest); else prices more
   rounds, then runs the facility
   interchange (:mod:`siting.model.interchange`) from the answer. The caller (mode ``"round"``,
   :func:`~siting.model.modes.solve_relaxed`) hands an answer not yet certified to the Lagrangian bound
   and the interchange from its openings (it keeps the better answer and the larger bound), and only
   when those are not certified either to the relaxation's MIP, as its start.

Measured on generated capacitated p-medians (``benchmarks/bench_peer.py``): see
``benchmarks/results/peer.md``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from siting._log import get_logger
from siting.model.fixed_sites import exact_assignment, transport
from siting.model.interchange import interchange
from siting.model.lagrange import LagrangeBound, lagrangian_bound, start_options
from siting.model.pricing import nearest_arcs, restrict
from siting.model.program import arc_duals, build_program
from siting.model.solvers import (
    MIN_SOLVE_S,
    Deadline,
    MatrixProgram,
    SolveOutcome,
    relative_gap,
    solve_program,
)

log = get_logger(__name__)

NEAREST = 20
"""Arcs per pair the LP starts from (each pair's cheapest) ..."""
REACH = 2
"""... raised so that they reach about this many of the ``exactly_new`` open sites, on average ..."""
START_ARCS = 20_000
"""... and lowered (to no fewer than :data:`FEWEST`) to start from about this many arcs in all: on
2,000 clients × 200 sites the LP on 20 arcs per pair took longer than its share of 60 s."""
FEWEST = 10
LP_SHARE = 0.4
"""The LP rounds may use this share of the time left."""
ASSIGN_SHARE = 0.25
"""One exact assignment may use this share of the time left."""
SEARCH_SHARE = 0.5
"""The interchange (when the answer is not certified) may use this share of the time left."""
LAGRANGE_SHARE = 0.1
"""The Lagrangian bound and its sites (:func:`lagrange_first`) may first use this share of the time."""
LAGRANGE_ROUND = 150
"""Volume steps between two screenings of the Lagrangian's sites (a count, not seconds: the same
sites whatever else the machine runs) ..."""
LAGRANGE_STALL = 1e-4
"""... and they stop when a round raised the bound by at most this share (on the generated 500 × 50,
p 10, the bound had reached the LP's, and its sites stayed short of the gap while the LP's were within
it)."""
LAGRANGE_MOST_PAIRS = 2_500
"""Above this many pairs the Lagrangian's first rounds are skipped (the LP and the caller's Lagrangian and
interchange run as before): on the generated 20,000 × 300 (p 60, 600,000 arcs) their 16 s, and the
interchange started from their sites, left 2.0 % and 29 % where the steps without them reach 0.86 %."""
POLISH_TRIES = 20
"""A certified answer's best-priced swaps tried (:func:`_polish`) ..."""
POLISH_SHARE = 0.2
"""... in at most this share of the time left."""
MIN_ARCS = 20_000
"""Smaller models skip this step: their relaxation's MIP takes seconds (on 25,000 arcs it took 21 s)."""
_TOL = 1e-6


def applies(d: dict[str, Any], mode: str, solver: str) -> bool:
    """Whether :func:`lp_first` runs: HiGHS, mode ``"round"``, a p-median shape of new facilities."""
    o_f = d["o_f"]
    return (
        solver == "highs"
        and mode == "round"
        and len(d["a_k"]) >= MIN_ARCS
        and bool(d["single_source"])
        and bool(d["is_new_f"].all())
        and len(o_f) > 0
        and d["exactly_new"] is not None
        and d["budget"] is None
        and d["max_open"] is None
        and len(d["forced"]) == 0
        and len(np.unique(o_f)) == len(o_f)
    )


class PricedLP:
    """The LP relaxation over every linking row, on a growing set of arcs, with a bound for all arcs.

    Parameters
    ----------
    d
        The model's core arrays.
    threads
        HiGHS threads (None: its default).

    Attributes
    ----------
    bound
        The best lower bound so far, valid for every answer of the full model (``-inf`` before any LP).
    z
        Option values of the last LP (None before any).
    converged
        Whether the last LP priced no arc out (its value is then the full LP's).
    rounds, seconds
        LPs solved and wall time, seconds.
    """

    def __init__(self, d: dict[str, Any], threads: int | None) -> None:
        self.d, self.threads = d, threads
        n_new, p = int(d["is_new_f"].sum()), max(int(d["exactly_new"]), 1)
        most = max(FEWEST, START_ARCS // max(len(d["k_d"]), 1))
        self.k = min(max(NEAREST, math.ceil(REACH * n_new / p)), most, len(d["facilities"]))
        self.keep = nearest_arcs(d, self.k)
        self.cost = d["a_cost"] + d["a_dis"]
        self.fl = d["a_f"] * d["base"].shape[1] + d["k_l"][d["a_k"]]
        self.bound, self.z, self.converged = -math.inf, None, False
        self.rounds, self.seconds = 0, 0.0

    def step(self, max_seconds: float) -> bool:
        """Solve one LP on the arcs kept and price the others; return whether an LP was solved.

        An infeasible LP (too few seats within reach of the arcs kept) doubles the arcs per pair.
        """
        start = time.perf_counter()
        d = self.d
        d_r = restrict(d, self.keep)
        lp = solve_program(
            build_program(d_r).relaxed(),
            time_limit_s=max(max_seconds, MIN_SOLVE_S),
            gap=0.0,
            threads=self.threads,
        )
        self.seconds += time.perf_counter() - start
        if lp.status == "infeasible" and not self.keep.all():
            self.k *= 2
            self.keep |= nearest_arcs(d, self.k)
            return True
        if lp.status != "optimal" or lp.row_dual is None or lp.x is None:
            return False
        self.rounds += 1
        lam, mu = arc_duals(d_r, lp.row_dual)
        out = np.flatnonzero(~self.keep)
        a_k = d["a_k"][out]
        red = self.cost[out] - lam[a_k] - d["k_d"][a_k] * mu[self.fl[out]]
        most = np.zeros(len(d["k_d"]))
        np.minimum.at(most, a_k, red)
        self.bound = max(self.bound, lp.objective + float(most.sum()))
        n_kept = int(self.keep.sum())
        self.z = lp.x[n_kept : n_kept + len(d["o_f"])]
        priced = out[red < -_TOL * np.maximum(1.0, np.abs(self.cost[out]))]
        self.converged = not len(priced)
        self.keep[priced] = True
        log.info(
            "LP first: LP %d on %d arcs, value %.8g, bound %.8g, %d arcs price out",
            self.rounds, n_kept, lp.objective, self.bound, len(priced),
        )  # fmt: skip
        return True


def top_options(d: dict[str, Any], values: np.ndarray) -> np.ndarray:
    """Return 0/1 per option: the ``exactly_new`` options of largest ``values`` (ties by position)."""
    z = np.zeros(len(d["o_f"]))
    z[np.argsort(-values, kind="stable")[: int(d["exactly_new"])]] = 1.0
    return z


def lp_first(
    d: dict[str, Any], prog: MatrixProgram, deadline: Deadline, gap: float, threads: int | None
) -> tuple[SolveOutcome, LagrangeBound]:
    """Return the best single-school answer found, the best bound (valid for every arc), the Lagrangian.

    Parameters
    ----------
    d, prog
        The model's core arrays and program (any linking rows: only its columns and costs are used).
    deadline
        The end of this step's time (the whole solve's deadline: each part takes its share of it).
    gap
        Relative gap at which the answer is certified and the steps stop.
    threads
        HiGHS threads.

    Returns
    -------
    tuple
        The outcome: ``"feasible"`` with ``x`` (None when no answer was found), ``objective``, ``bound``
        (NaN before any bound) and ``gap``, ``solver_status`` saying what was done; and the Lagrangian
        bound of step 0 (later volume steps may continue from it).
    """
    start = time.perf_counter()
    best, lag, steps = None, None, ""
    if len(d["k_d"]) <= LAGRANGE_MOST_PAIRS:
        best, lag = lagrange_first(d, prog, deadline.part(LAGRANGE_SHARE), gap, threads)
        steps = f"Lagrangian first (bound {lag.bound:.8g}); "
    words = "" if best is None else best.solver_status
    bound = -math.inf if lag is None else lag.bound
    if best is None or relative_gap(best.objective, bound) > gap:
        best, bound, words, lp_words = _lp_rounds(d, prog, deadline, gap, threads, best, words, bound)
        steps = f"{steps}{lp_words}; "
    steps = steps.removesuffix("; ")
    bound = bound if math.isfinite(bound) else math.nan
    if best is None:
        seconds = time.perf_counter() - start
        return SolveOutcome(
            "not_solved", f"{steps}: no answer", None, math.nan, bound, math.nan, seconds, "lp first"
        ), lag
    if relative_gap(best.objective, bound) <= gap and deadline.left() > 1.0:
        best, words = _polish(d, prog, best, words, deadline, threads)
    words = f"{steps}; {words}"
    bound = min(bound, best.objective) if math.isfinite(bound) else math.nan
    seconds = time.perf_counter() - start
    log.info("%s in %.1f s, objective %.8g", words, seconds, best.objective)
    return SolveOutcome(
        "feasible", words, best.x, best.objective, bound, relative_gap(best.objective, bound), seconds,
        "lp first",
    ), lag  # fmt: skip


def lagrange_first(
    d: dict[str, Any], prog: MatrixProgram, end: Deadline, gap: float, threads: int | None
) -> tuple[SolveOutcome | None, LagrangeBound]:
    """Return the best answer of the Lagrangian bound's sites (None if none certified) and the bound.

    The volume steps run in rounds of :data:`LAGRANGE_ROUND`; after each, two sets of sites, the
    rounded averaged openings (:func:`~siting.model.lagrange.start_options`) and the subproblem's at the
    best multipliers, are screened by their assignment LP (a lower bound on their exact assignment), and
    assigned exactly only when that LP is within ``gap`` of the bound. The steps stop when the best
    answer is certified, at ``end``, or when a round raised the bound by at most :data:`LAGRANGE_STALL`
    (its sites screened once more). On the generated 500 × 100 (p 5), where the LP with every linking
    row took 9 s, this certified the optimum at 0.035 % in 1.5 s.
    """
    lag = lagrangian_bound(d, max_seconds=end.left(), max_iter=LAGRANGE_ROUND)
    best: SolveOutcome | None = None
    tried: set[tuple[int, ...]] = set()
    stalled = False
    while True:
        for z in (start_options(d, lag), lag.z):
            key = tuple(np.flatnonzero(z).tolist())
            if key in tried or end.left() <= MIN_SOLVE_S:
                continue
            tried.add(key)
            lean = transport(d, prog, z, end.left())
            near = lean.x is not None and relative_gap(lean.objective, lag.bound) <= gap
            if near and (best is None or lean.objective < best.objective - 1e-9):
                got = exact_assignment(d, prog, z, ASSIGN_SHARE * end.left(), threads=threads)
                if got.x is not None and (best is None or got.objective < best.objective - 1e-9):
                    got.solver_status = f"exact assignment of its sites: {got.solver_status}"
                    best = got
        if best is not None and relative_gap(best.objective, lag.bound) <= gap:
            break
        if stalled or end.left() <= MIN_SOLVE_S:
            break  # a bound that no longer rises: its sites will not improve, the LP's turn
        before = lag.bound
        upper = None if best is None else best.objective
        lag = lagrangian_bound(d, max_seconds=end.left(), max_iter=LAGRANGE_ROUND, upper=upper, start=lag)
        stalled = lag.bound - before <= LAGRANGE_STALL * abs(lag.bound)
    got_words = "no answer" if best is None else best.solver_status
    log.info("Lagrangian first: bound %.8g, %s", lag.bound, got_words)
    return best, lag


def _polish(
    d: dict[str, Any],
    prog: MatrixProgram,
    best: SolveOutcome,
    words: str,
    deadline: Deadline,
    threads: int | None,
) -> tuple[SolveOutcome, str]:
    """Try the :data:`POLISH_TRIES` best-priced swaps of a certified answer; keep a better one.

    On the generated 1,000 × 50 (p 10) the answer certified at 0.08 % was 0.0026 % above the optimum,
    which the third-priced swap reached, in 1.5 s; on 1,000 × 100 (p 20) the Lagrangian's sites were
    0.022 % above it, and 5 tries missed the swap that 20 found.
    """
    x = best.x
    assert x is not None
    swap = interchange(d, prog, x, POLISH_SHARE * deadline.left(), threads=threads, tries=POLISH_TRIES)
    if swap.x is not None and swap.objective < best.objective - 1e-9 * abs(best.objective):
        return swap, f"{words}; polished by {swap.solver_status}"
    return best, f"{words}; no better swap among the {POLISH_TRIES} best priced"


def _lp_rounds(
    d: dict[str, Any],
    prog: MatrixProgram,
    deadline: Deadline,
    gap: float,
    threads: int | None,
    best: SolveOutcome | None,
    words: str,
    lower: float,
) -> tuple[SolveOutcome | None, float, str, str]:
    """The LP with pricing, each LP's sites assigned exactly, then the interchange if not certified.

    ``best`` and ``words`` are the answer so far, ``lower`` a bound so far. Returns the best answer, the
    best bound, the answer's words and the LP's.
    """
    lp = PricedLP(d, threads)
    lp_end = deadline.part(LP_SHARE)
    while lp.z is None and lp_end.left() > MIN_SOLVE_S and lp.step(lp_end.left()):
        pass
    if lp.z is None:
        return best, lower, words, "no LP"
    tried: set[tuple[int, ...]] = set()
    certified = lambda: best is not None and relative_gap(best.objective, max(lp.bound, lower)) <= gap  # noqa: E731
    while True:
        z = top_options(d, lp.z)
        if tuple(np.flatnonzero(z)) not in tried:  # each LP's sites, assigned exactly
            tried.add(tuple(np.flatnonzero(z)))
            got = exact_assignment(d, prog, z, ASSIGN_SHARE * deadline.left(), threads=threads)
            log.info("LP first: exact assignment of LP %d's sites: %s, %.8g", lp.rounds, got.solver_status,
                     got.objective)  # fmt: skip
            if got.x is not None and (best is None or got.objective < best.objective - 1e-9):
                best, words = got, f"exact assignment of LP {lp.rounds}'s sites: {got.solver_status}"
        if certified() or lp.converged or lp_end.left() <= MIN_SOLVE_S or not lp.step(lp_end.left()):
            break
    if not certified() and deadline.left() > 1.0:
        x = None if best is None else best.x
        if x is None:
            x = np.zeros(prog.shape[1])
            x[len(d["a_k"]) : len(d["a_k"]) + len(d["o_f"])] = z
        swap = interchange(d, prog, x, SEARCH_SHARE * deadline.left(), threads=threads)
        if swap.x is not None and (best is None or swap.objective < best.objective - 1e-9):
            best, words = swap, swap.solver_status
    state = "converged" if lp.converged else "not converged"
    bound = max(lp.bound, lower)
    return best, bound, words, f"LP first ({lp.rounds} LPs, pricing {state}, bound {lp.bound:.8g})"
