r"""A fast valid lower bound: Lagrangian relaxation of the assignment rows, by subgradient steps.

With a multiplier :math:`\lambda_k` on each pair's assignment row :math:`\sum_{a \in k} x_a = 1`, the
program falls apart into one problem per facility: open none or one of its options (new facilities), and
fill each school-level's seats with the arcs of negative reduced cost :math:`c_a - \lambda_k`, cheapest
per pupil first (a continuous knapsack; beyond the seats an existing school may take pupils at the
overflow price, up to its ceiling). Choosing which new facilities open under ``exactly_new`` /
``max_new`` is then a sort. The value

.. math:: L(\lambda) = \sum_k \lambda_k + \sum_j \min_{o} \Big(f_o + \sum_l g_{jl}(\lambda, o)\Big)

is a lower bound on the split relaxation, and so on every single-school answer, **for any**
:math:`\lambda` (weak duality): the bound reported is the best value seen, never an estimate. Rows the
subproblem leaves out (budget, the limit on open facilities, minimum loads) only make it weaker, never
invalid. :func:`lagrangian_bound` also returns the facility scores of the best multipliers, which
:mod:`siting.model.interchange` uses to choose a first set of sites.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from siting._log import get_logger

log = get_logger(__name__)


@dataclass
class LagrangeBound:
    """Outcome of :func:`lagrangian_bound`.

    Attributes
    ----------
    bound
        The best (largest) Lagrangian value found: a valid lower bound on the objective.
    z
        Options open in the subproblem at the best multipliers (0/1 per option).
    score
        Per option: its fixed cost plus its knapsack values at the best multipliers (lower is better).
    lam
        The best multipliers (one per pair; a later call may start from them).
    iterations, seconds
        Subgradient steps made and wall time, seconds.
    """

    bound: float
    z: np.ndarray
    score: np.ndarray
    lam: np.ndarray
    iterations: int
    seconds: float


@dataclass
class _Bins:
    """The arcs sorted by school-level (bin), with the seats each bin has with and without options."""

    fl: np.ndarray
    """Bin of each arc (facility × n_levels + level)."""
    cost: np.ndarray
    dem: np.ndarray
    base: np.ndarray
    """Seats per bin without options."""
    room: np.ndarray
    """Pupils above the seats each bin may take without options (0 where it may not overflow)."""
    o_cap: np.ndarray
    """Seats per option and level (option × level)."""
    o_room: np.ndarray
    penalty: float


def _bins(d: dict[str, Any]) -> _Bins:
    """Return the arrays the subproblem reads, from the core arrays ``d``."""
    n_l = d["base"].shape[1]
    a_k = d["a_k"]
    room = np.where(d["may_over"], d["room0"], 0.0).reshape(-1)
    return _Bins(
        fl=d["a_f"] * n_l + d["k_l"][a_k],
        cost=np.asarray(d["a_cost"] + d["a_dis"], dtype=float),
        dem=np.asarray(d["k_d"][a_k], dtype=float),
        base=d["base"].astype(float).reshape(-1),
        room=room,
        o_cap=np.asarray(d["o_cap"], dtype=float),
        o_room=np.where(d["may_over"][d["o_f"]], d["o_room"], 0.0),
        penalty=float(d["penalty"]) if d["has_overflow"] else math.inf,
    )


def _knapsack_curves(b: _Bins, lam: np.ndarray, a_k: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sort the arcs of negative reduced cost per bin, cheapest per pupil first; return the curves.

    Returns ``(order, bin, cum_dem, cum_cost, ratio)`` over the kept arcs in sorted order.
    """
    red = b.cost - lam[a_k]
    keep = np.flatnonzero(red < 0)
    ratio = red[keep] / b.dem[keep]
    order = keep[np.lexsort((ratio, b.fl[keep]))]
    r_sorted = red[order] / b.dem[order]
    fl = b.fl[order]
    dem = b.dem[order]
    cum_d = np.cumsum(dem)
    cum_c = np.cumsum(red[order])
    return order, fl, cum_d, cum_c, r_sorted


def _bin_value(
    seg: slice,
    cum_d: np.ndarray,
    cum_c: np.ndarray,
    ratio: np.ndarray,
    seats: np.ndarray,
    room: np.ndarray,
    pi: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the knapsack value of one bin at each seat count in ``seats`` (with overflow ``room``).

    Also returns the filled amount (seats used plus overflow taken) for each query.
    """
    d0 = cum_d[seg.start - 1] if seg.start > 0 else 0.0
    c0 = cum_c[seg.start - 1] if seg.start > 0 else 0.0
    xs = np.concatenate([[0.0], cum_d[seg] - d0])
    ys = np.concatenate([[0.0], cum_c[seg] - c0])
    cheap = xs[1:][ratio[seg] < -pi]  # pupils worth taking even at the overflow price
    beyond = float(cheap[-1]) if len(cheap) else 0.0
    fill = np.clip(beyond, seats, seats + room) if math.isfinite(pi) else seats
    value = np.interp(fill, xs, ys) + (pi * (fill - seats) if math.isfinite(pi) else 0.0)
    return value, np.minimum(fill, xs[-1])


def _evaluate(
    d: dict[str, Any], b: _Bins, lam: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Solve the Lagrangian subproblem at ``lam``; return (value, subgradient, open options, scores).

    (Long because the three pieces, bin values, option choice and the subgradient, share their arrays.)
    """
    a_k = d["a_k"]
    n_f, n_l = d["base"].shape
    order, fl, cum_d, cum_c, ratio = _knapsack_curves(b, lam, a_k)
    starts = np.searchsorted(fl, np.arange(n_f * n_l), side="left")
    ends = np.searchsorted(fl, np.arange(n_f * n_l), side="right")
    o_f = d["o_f"]
    n_opt = len(o_f)
    base_val = np.zeros(n_f * n_l)
    opt_val = np.zeros((n_opt, n_l))
    fill_base = np.zeros(n_f * n_l)
    fill_opt = np.zeros((n_opt, n_l))
    opts_of: dict[int, list[int]] = {}
    for o, f in enumerate(o_f.tolist()):
        opts_of.setdefault(f, []).append(o)
    for bin_ in np.flatnonzero(ends > starts).tolist():
        f, li = divmod(bin_, n_l)
        os_ = opts_of.get(f, [])
        seats = np.array([b.base[bin_]] + [b.base[bin_] + b.o_cap[o, li] for o in os_])
        room = np.array([b.room[bin_]] + [b.room[bin_] + b.o_room[o, li] for o in os_])
        val, fill = _bin_value(slice(starts[bin_], ends[bin_]), cum_d, cum_c, ratio, seats, room, b.penalty)
        base_val[bin_], fill_base[bin_] = val[0], fill[0]
        for i, o in enumerate(os_):
            opt_val[o, li], fill_opt[o, li] = val[i + 1], fill[i + 1]
    base_f = base_val.reshape(n_f, n_l).sum(axis=1)
    score = d["o_fixed"] + opt_val.sum(axis=1) if n_opt else np.zeros(0)
    z = _choose_options(d, base_f, score)
    chosen = np.full(n_f, -1)
    chosen[o_f[z > 0.5]] = np.flatnonzero(z > 0.5)
    opt_score = score[np.maximum(chosen, 0)] if n_opt else np.zeros(n_f)
    fac_val = np.where(chosen >= 0, opt_score, np.where(d["is_new_f"], 0.0, base_f))
    value = float(lam.sum() + fac_val.sum())
    # the subproblem's assignment: each bin filled to its chosen amount, cheapest per pupil first
    fill = fill_base.reshape(n_f, n_l).copy()
    fill[d["is_new_f"]] = 0.0
    has = chosen >= 0
    fill[has] = fill_opt[chosen[has]]
    fill = fill.reshape(-1)
    first = starts[fl]
    before = cum_d - b.dem[order] - np.where(first > 0, cum_d[np.maximum(first - 1, 0)], 0.0)
    share = np.clip((fill[fl] - before) / b.dem[order], 0.0, 1.0)
    taken = np.zeros(len(d["k_d"]))
    np.add.at(taken, a_k[order], share)
    return value, 1.0 - taken, z, score


def _choose_options(d: dict[str, Any], base_f: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Open the options the subproblem picks: the best per facility; new ones by the count limits."""
    o_f = d["o_f"]
    n_f = len(base_f)
    z = np.zeros(len(o_f))
    if not len(o_f):
        return z
    best = np.full(n_f, np.inf)
    np.minimum.at(best, o_f, score)
    arg = np.full(n_f, -1)
    for o in np.argsort(-score, kind="stable").tolist():  # the last written is the lowest score
        arg[o_f[o]] = o
    new = d["is_new_f"]
    forced = np.zeros(n_f, dtype=bool)
    forced[d["forced"]] = True
    for f in np.flatnonzero(~new & (arg >= 0)).tolist():  # existing: an option only if it beats none
        if best[f] < base_f[f]:
            z[arg[f]] = 1.0
    cand = np.flatnonzero(new & (arg >= 0))
    must = cand[forced[cand]]
    rest = cand[~forced[cand]]
    rest = rest[np.argsort(best[rest], kind="stable")]
    if d["exactly_new"] is not None:
        take = rest[: max(int(d["exactly_new"]) - len(must), 0)]
    else:
        limit = len(rest) if d["max_new"] is None else max(int(d["max_new"]) - len(must), 0)
        take = rest[:limit]
        take = take[best[take] < 0]
    for f in np.concatenate([must, take]).astype(int).tolist():
        z[arg[f]] = 1.0
    return z


def lagrangian_bound(
    d: dict[str, Any],
    *,
    max_seconds: float,
    upper: float | None = None,
    max_iter: int = 5000,
    start: LagrangeBound | None = None,
) -> LagrangeBound:
    """Return the best Lagrangian lower bound found by subgradient steps within ``max_seconds``.

    Parameters
    ----------
    d
        The model's core arrays.
    max_seconds
        Wall-time limit, seconds (at least one step is made).
    upper
        An objective known to be reachable (sets the step length; without it, 1.05 × the bound so far).
    max_iter
        Most steps.
    start
        An earlier outcome to continue from (its multipliers and best bound).

    Returns
    -------
    LagrangeBound
        Every value it reports is a valid lower bound (each is the value of the subproblem, solved exactly).
    """
    t0 = time.perf_counter()
    b = _bins(d)
    a_k = d["a_k"]
    n_pair = len(d["k_d"])
    dem = np.asarray(d["k_d"], dtype=float)
    lam = np.full(n_pair, np.inf)
    np.minimum.at(lam, a_k, b.cost)
    lam = np.where(np.isfinite(lam), lam, 0.0)
    best = -math.inf
    best_z, best_score, best_lam = np.zeros(len(d["o_f"])), np.zeros(len(d["o_f"])), lam
    theta, stall, it = 1.0, 0, 0
    if start is not None:
        lam, theta = start.lam.copy(), 0.25
    while it < max_iter and (it == 0 or time.perf_counter() - t0 < max_seconds):
        it += 1
        value, sub, z, score = _evaluate(d, b, lam)
        if it == 1 or value > best + 1e-9 * max(1.0, abs(best)):
            best, best_z, best_score, best_lam, stall = value, z, score, lam, 0
        else:
            stall += 1
            if stall >= 8:
                theta, stall = theta / 2, 0
        grad = sub * dem  # steps in multipliers per pupil: pairs differ in size by orders of magnitude
        norm = float(np.dot(grad, grad))
        if norm < 1e-12 or theta < 1e-5:
            break
        ub = upper if upper is not None and upper > best else best + 0.05 * abs(best) + 1.0
        lam = lam + theta * (ub - value) / norm * grad * dem
    seconds = time.perf_counter() - t0
    log.info("Lagrangian bound %.6g after %d steps in %.2f s", best, it, seconds)
    if start is not None and start.bound > best:
        return LagrangeBound(start.bound, start.z, start.score, start.lam, it, seconds)
    return LagrangeBound(best, best_z, best_score, best_lam, it, seconds)
