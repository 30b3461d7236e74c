r"""Arc pricing: solve on each pair's nearest arcs, price the others with the LP duals, add what prices out.

Dense models (every unit may go to hundreds of facilities) spend most of their time on arcs no good answer
uses. :func:`price_arcs` starts from each pair's :data:`NEAREST` cheapest arcs (:func:`nearest_arcs`),
solves the LP relaxation of the program on them (all columns continuous, the linking rows chosen as
:func:`~siting.model.program.linking_mask` does) and prices every arc left out with the LP's row duals
:math:`y`: an arc :math:`a` of pair :math:`k` to school-level :math:`(j,l)` has reduced cost

.. math:: \bar c_a = c_a - \lambda_k - d_k\,\mu_{jl}

(:math:`\lambda_k` the dual of the pair's assignment row, :math:`\mu_{jl}` those of the capacity, minimum
load and floor rows of :math:`(j,l)`, per pupil; :func:`~siting.model.program.arc_duals`). Arcs with
:math:`\bar c_a < 0` are added and the LP solved again, until none prices out.

**The bound is valid for the whole arc set.** For every answer :math:`x` of the full program (split or
single-school), :math:`c\cdot x \ge z_{LP} + \sum_{a \notin R} \bar c_a x_a`, so

* at any round, :math:`z_{LP} + \sum_k \min(0, \min_{a \in k, a \notin R} \bar c_a)` is a lower bound
  (:attr:`Pricing.bound`; it is :math:`z_{LP}`, the full LP's value, once nothing prices out);
* once nothing prices out, a single-school answer that uses a left-out arc costs at least
  :math:`z_{LP} + \min_{a \notin R} \bar c_a`; one that does not is an answer of the restricted model, so
  :math:`\min(B_R, z_{LP} + \min_{a \notin R} \bar c_a)` is a lower bound for any valid bound :math:`B_R`
  of the restricted model (:meth:`Pricing.full_bound`).

The restricted model (:func:`restrict`) is then solved by the usual modes; its answer is an answer of the
full model, with the same objective.

**At scale the LPs are too slow** (about 10 s each on 20,000 arcs of a capacitated p-median, with its
linking rows), so :func:`~siting.model.modes.solve_priced` runs the LP pricing only from at most
:data:`LP_ARCS` arcs. Larger models keep each pair's cheapest arcs (enough to reach about
:data:`OPEN_REACHED` open sites, :func:`start_count`) and the arcs of negative reduced cost at the first
Lagrangian multipliers (:func:`lagrange_arcs`); their bound is the Lagrangian bound over **every** arc
(:mod:`siting.model.lagrange`, valid for any multipliers), continued after the restricted solve with its
objective as the target.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from siting._log import get_logger
from siting.model.program import arc_duals, build_program, lazy_links, violated_links
from siting.model.solvers import MatrixProgram, relative_gap, solve_program

if TYPE_CHECKING:
    from siting.model.result import SitingResult
    from siting.model.siting_model import SitingModel

log = get_logger(__name__)

NEAREST = 10
"""Arcs per pair the pricing starts from (each pair's cheapest)."""
PRICE_ARCS = 250_000
"""From this many arcs a single-school solve prices its arcs ..."""
DENSE = 3
"""... when the pairs have on average at least this many times :data:`NEAREST` arcs."""
LP_ARCS = 5_000
"""The LP pricing runs only when it starts from at most this many arcs (above, its LPs are too slow:
about 10 s each on 20,000 arcs of a capacitated p-median with its linking rows); larger models keep
the arcs of negative Lagrangian reduced cost (:func:`lagrange_arcs`) instead."""
OPEN_REACHED = 4
"""Open sites each pair's first arcs should reach, on average (:func:`start_count`)."""
TOL = 1e-6
"""An arc prices out when its reduced cost is below ``-TOL × max(1, cost)``."""
MAX_ROUNDS = 60


@dataclass
class Pricing:
    """Outcome of :func:`price_arcs`.

    Attributes
    ----------
    keep
        Arcs of the full model kept (one flag per arc).
    link
        Arcs whose linking row the LP needed (one flag per arc of the full model).
    lp_value
        The last restricted LP's value.
    bound
        A lower bound valid for every answer of the full model (split or single-school).
    least_left_out
        Least reduced cost of an arc left out (``inf`` when none is).
    converged
        Whether the last LP priced no arc out and violated no linking row.
    rounds, seconds
        LPs solved and wall time, seconds.
    prog
        The restricted model's program (with the chosen linking rows).
    """

    keep: np.ndarray
    link: np.ndarray
    lp_value: float
    bound: float
    least_left_out: float
    converged: bool
    rounds: int
    seconds: float
    prog: MatrixProgram

    def full_bound(self, restricted_bound: float) -> float:
        """Return a bound valid for single-school answers of the full model, given one of the restricted.

        ``restricted_bound`` is any valid lower bound of the restricted model's single-school problem (NaN:
        unknown). See the module's docstring for why the result is valid.
        """
        if not math.isfinite(restricted_bound):
            return self.bound
        if not math.isfinite(self.least_left_out):
            return max(self.bound, restricted_bound)
        if not self.converged:
            return self.bound
        return max(self.bound, min(restricted_bound, self.lp_value + self.least_left_out))


def worth_pricing(d: dict[str, Any], mode: str, solver: str) -> bool:
    """Whether a solve in ``mode`` prices its arcs: HiGHS, single schools, many arcs per pair."""
    n_arc, n_pair = len(d["a_k"]), len(d["k_d"])
    return (
        solver == "highs"
        and mode in ("round", "exact")
        and bool(d["single_source"])
        and n_arc >= PRICE_ARCS
        and n_arc >= DENSE * start_count(d) * n_pair
    )


def start_count(d: dict[str, Any], nearest: int = NEAREST) -> int:
    """Return how many cheapest arcs per pair to start from: ``nearest``, or more when few sites open.

    With ``p`` of ``n`` new sites to open (``exactly_new`` or ``max_new``), a pair's ``k`` cheapest arcs
    reach about ``k p / n`` open sites; ``k`` is raised so that they reach :data:`OPEN_REACHED`.
    """
    p = d["exactly_new"] if d["exactly_new"] is not None else d["max_new"]
    n_new = int(d["is_new_f"].sum())
    if p is None or p <= 0 or not n_new:
        return nearest
    return max(nearest, math.ceil(OPEN_REACHED * n_new / p))


def nearest_arcs(d: dict[str, Any], k: int) -> np.ndarray:
    """Return a flag per arc: each pair's ``k`` cheapest arcs, and each school-level's cheapest arc.

    The second keeps every school-level of the full model in the restricted one (its capacity, overflow
    and floor rows stay).
    """
    cost = d["a_cost"] + d["a_dis"]
    keep = np.zeros(len(cost), dtype=bool)
    keep[_cheapest(d["a_k"], cost, k)] = True
    fl = d["a_f"] * d["base"].shape[1] + d["k_l"][d["a_k"]]
    keep[_cheapest(fl, cost, 1)] = True
    return keep


def _cheapest(group: np.ndarray, cost: np.ndarray, k: int) -> np.ndarray:
    """Return the positions of the ``k`` cheapest entries of each group."""
    order = np.lexsort((cost, group))
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    rank = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    return order[rank < k]


def restrict(d: dict[str, Any], keep: np.ndarray) -> dict[str, Any]:
    """Return the core arrays with only the arcs flagged in ``keep`` (a shallow copy; pairs unchanged)."""
    out = dict(d)
    for key in ("a_k", "a_f", "a_cost", "a_dis", "a_dist", "a_beyond"):
        out[key] = d[key][keep]
    out["arc_frame"] = d["arc_frame"][keep].reset_index(drop=True)
    return out


def restricted_model(model: SitingModel, keep: np.ndarray, prog: MatrixProgram | None) -> SitingModel:
    """Return a copy of ``model`` with only the arcs flagged in ``keep`` (its program ``prog``, if given).

    Its core arrays say ``priced``: the modes treat it as the large model it came from.
    """
    sub = copy.copy(model)
    sub._d = restrict(model._d, keep) | {"priced": True}
    sub._program = None
    sub._work = prog
    return sub


def full_columns(d: dict[str, Any], keep: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return the restricted program's column values ``x`` as the full program's (left-out arcs 0)."""
    n_kept = int(keep.sum())
    out = np.zeros(len(keep) + len(x) - n_kept)
    out[np.flatnonzero(keep)] = x[:n_kept]
    out[len(keep) :] = x[n_kept:]
    return out


def lagrange_arcs(d: dict[str, Any], lam: np.ndarray) -> np.ndarray:
    """Return a flag per arc: those of negative Lagrangian reduced cost ``c_a - lam[k]``.

    With multipliers ``lam`` on the assignment rows (:mod:`siting.model.lagrange`), only these arcs
    enter the Lagrangian subproblem, so its value on them is its value on every arc.
    """
    return d["a_cost"] + d["a_dis"] - lam[d["a_k"]] < 0


def price_arcs(
    d: dict[str, Any],
    keep: np.ndarray,
    k: int,
    seconds: float,
    threads: int | None,
    extra: float = 0.25,
) -> Pricing | None:
    """Start from the arcs flagged in ``keep`` and price the others until none prices out.

    At most ``seconds``. Where the LP on the arcs kept is infeasible (too few seats within reach), each
    pair's ``k`` cheapest arcs are added, and ``k`` doubled. Once nothing prices out, the left-out arcs of
    least reduced cost are kept too, ``extra`` × the arcs kept (:func:`_widen`). Returns None when no LP
    gave duals in the time.
    """
    start = time.perf_counter()
    keep = keep.copy()
    link = np.zeros(len(keep), dtype=bool)
    cost = d["a_cost"] + d["a_dis"]
    n_l = d["base"].shape[1]
    fl = d["a_f"] * n_l + d["k_l"][d["a_k"]]
    best, last, rounds = -math.inf, None, 0
    while rounds < MAX_ROUNDS:
        left = seconds - (time.perf_counter() - start)
        if left <= 0:
            break
        idx = np.flatnonzero(keep)
        d_r = restrict(d, keep)
        lazy = lazy_links(d_r, "highs")
        prog = build_program(d_r, None if lazy is None else link[idx])
        lp = solve_program(prog.relaxed(), solver="highs", time_limit_s=left, gap=0.0, threads=threads)
        if lp.status == "infeasible" and not keep.all():
            k *= 2
            keep |= nearest_arcs(d, k)
            continue
        if lp.status != "optimal" or lp.row_dual is None or lp.x is None:
            break
        rounds += 1
        new_links = violated_links(d_r, lp.x, lazy, link[idx]) if lazy is not None else np.zeros(0, int)
        link[idx[new_links]] = True
        lam, mu = arc_duals(d_r, lp.row_dual)
        out = np.flatnonzero(~keep)
        red = cost[out] - lam[d["a_k"][out]] - d["k_d"][d["a_k"][out]] * mu[fl[out]]
        most_neg = np.zeros(len(d["k_d"]))
        np.minimum.at(most_neg, d["a_k"][out], red)
        best = max(best, lp.objective + float(most_neg.sum()))
        priced = out[red < -TOL * np.maximum(1.0, np.abs(cost[out]))]
        converged = not len(priced) and not len(new_links)
        last = (lp.objective, converged, out, red)
        log.info(
            "arc pricing: LP %d, %d arcs, value %.8g, %d arcs price out, %d linking rows added",
            rounds, len(idx), lp.objective, len(priced), len(new_links),
        )  # fmt: skip
        if converged:
            break
        keep[priced] = True
    if last is None:
        return None
    lp_value, converged, out, red = last
    least = _widen(keep, out, red, extra) if converged else -math.inf
    d_r = restrict(d, keep)
    lazy = lazy_links(d_r, "highs")
    prog = build_program(d_r, None if lazy is None else link[np.flatnonzero(keep)])
    seconds_used = time.perf_counter() - start
    return Pricing(keep, link, lp_value, best, least, converged, rounds, seconds_used, prog)


def _widen(keep: np.ndarray, out: np.ndarray, red: np.ndarray, extra: float) -> float:
    """Keep also the left-out arcs of least reduced cost; return the least of those still left out.

    ``extra`` × the arcs kept are added; the return value is ``inf`` when none is left out.

    A single-school answer that uses a left-out arc costs at least the LP's value plus that least reduced
    cost, so keeping the cheapest ones raises that part of the bound (all of them: the bound is the
    restricted model's) and gives the restricted model the answers closest to the LP's.
    """
    n_more = min(len(out), int(extra * keep.sum()))
    if n_more == len(out):
        keep[out] = True
        return math.inf
    part = np.argpartition(red, n_more)
    keep[out[part[:n_more]]] = True
    return float(red[part[n_more:]].min())


def priced_result(
    model: SitingModel, res: SitingResult, keep: np.ndarray, bound: float, gap: float, words: str
) -> SitingResult:
    """Return ``res`` (of the model restricted to ``keep``) as a result of ``model`` with ``bound``.

    Its columns become the full program's, its bound and gap those valid for every arc, its status
    optimal only within ``gap`` of that bound.
    """
    res._model = model
    if res._x is not None:
        res._x = full_columns(model._d, keep, res._x)
    res.bound = min(bound, res.objective) if math.isfinite(res.objective) else bound
    res.gap = relative_gap(res.objective, res.bound)
    if res.status in ("optimal", "feasible"):
        res.status = "optimal" if math.isfinite(res.gap) and res.gap <= gap + 1e-9 else "feasible"
    res.solver_status = f"arc pricing: {words}, bound for every arc {bound:.8g}; {res.solver_status}"
    return res
