r"""Capacity-aware local search for single-school assignments (the rounding step of the model).

The relaxation of the siting model splits a few units between schools. Rounding them one by one leaves
some schools a little over capacity and others a little under, and the fix usually needs a chain of moves
across neighbouring catchments. This module does that with shift moves (one unit-level pair to another
school) and swaps (two pairs trade schools), evaluated exactly against the model's objective, before any
repair MIP is tried. On the sample city it closes the rounding gap in well under a second.

Every pair is at exactly one of its arcs. The objective of a school-level ``b`` holding pairs ``S`` with
load :math:`L = \sum_{k \in S} d_k` is that of the model: the arcs' costs plus the overflow price,

.. math:: F_b(S) = \sum_{k \in S} c_k + P_b \max(0, \min(L, H_b) - C_b) + B_b \max(0, F_b - L)
   + M \max(0, L - H_b, m_b - L),

where ``C_b`` is the capacity, ``P_b`` the price per pupil above it (the overflow penalty), ``B_b`` the
price per pupil below the utilisation floor ``F_b`` (:mod:`siting.model.underuse`), ``H_b`` the
most pupils the school-level may hold (``C_b`` plus its overflow ceiling; ``C_b`` where it may not
overflow, e.g. a new school) and ``m_b`` its minimum load. ``M`` is a large internal penalty: a state
above ``H_b`` or below ``m_b`` is infeasible, and the answer is reported infeasible unless the search
drives every such excess out. With hard capacities everywhere (no overflow) this is the same search with
``H_b = C_b``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

_EPS = 1e-9


@dataclass
class LocalSearchResult:
    """Outcome of :func:`improve_assignment`.

    Attributes
    ----------
    arc
        Chosen arc per pair (``-1`` only for a pair without usable arcs, which makes it infeasible).
    load
        Pupils per school-level.
    overflow
        Pupils above capacity per school-level (``max(0, load - capacity)``).
    feasible
        Whether every pair has an arc and every ceiling, hard capacity and minimum load holds.
    moves
        Number of improving moves made.
    sweeps
        Passes over the pairs.
    seconds
        Wall time, seconds.
    """

    arc: np.ndarray
    load: np.ndarray
    overflow: np.ndarray
    feasible: bool
    moves: int
    sweeps: int
    seconds: float


def bin_limits(
    capacity: np.ndarray, penalty: float | np.ndarray | None, ceiling: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return the price per pupil above capacity and the most pupils each school-level may hold.

    Parameters
    ----------
    capacity
        Seats per school-level.
    penalty
        Price per pupil above capacity, one for all or one per school-level; ``None`` or ``inf`` where a
        school-level may not go above capacity.
    ceiling
        Most pupils above capacity per school-level (``inf``: no ceiling); None: no ceiling anywhere.

    Returns
    -------
    tuple of numpy.ndarray
        ``(price, hard)``: price 0 where the school-level may not overflow, ``hard = capacity`` there.
    """
    n = len(capacity)
    price = (
        np.full(n, np.inf) if penalty is None else np.broadcast_to(np.asarray(penalty, float), (n,)).copy()
    )
    may = np.isfinite(price)
    room = np.full(n, np.inf) if ceiling is None else np.asarray(ceiling, dtype=float)
    hard = np.where(may, capacity + np.maximum(room, 0.0), capacity)
    return np.where(may, price, 0.0), hard


def improve_assignment(
    pair_of_arc: np.ndarray,
    bin_of_arc: np.ndarray,
    arc_cost: np.ndarray,
    pair_demand: np.ndarray,
    capacity: np.ndarray,
    min_load: np.ndarray,
    start: np.ndarray,
    *,
    penalty: float | np.ndarray | None,
    ceiling: np.ndarray | None = None,
    floor: np.ndarray | None = None,
    floor_price: float | np.ndarray = 0.0,
    stop_below: float = -np.inf,
    max_seconds: float = 5.0,
    max_sweeps: int = 50,
) -> LocalSearchResult:
    """Improve a single-school assignment by shift and swap moves until none improves the objective.

    Shift moves (one pair to another school-level) run first. Only if the objective is then still above
    ``stop_below`` are swaps tried as well (two pairs at two school-levels trade places), which escape the
    local optima that tight capacities create.

    Parameters
    ----------
    pair_of_arc, bin_of_arc
        Pair (unit-level) and school-level of each arc.
    arc_cost
        Cost of serving the pair's whole demand over the arc (objective units, e.g. pupil-metres).
    pair_demand
        Demand of each pair, pupils (> 0).
    capacity, min_load
        Seats and minimum pupils per school-level (0 where none).
    start
        Starting arc per pair (``-1``: start at its cheapest usable arc).
    penalty
        Price per pupil above capacity (overflow), one for all or one per school-level; ``None`` or
        ``inf`` where a school-level may not go above capacity.
    ceiling
        Most pupils above capacity per school-level (``inf`` or None: no ceiling).
    floor, floor_price
        Utilisation floor per school-level (pupils; None: none) and the price per pupil below it, one for
        all or one per school-level (objective units).
    stop_below
        Skip the swap phase (or end it) once the objective (arc costs plus overflow) is at most this.
    max_seconds, max_sweeps
        Stop after this long or this many passes (the answer so far is returned).

    Returns
    -------
    LocalSearchResult
    """
    t0 = time.perf_counter()
    price, hard = bin_limits(np.asarray(capacity, dtype=float), penalty, ceiling)
    search = _Search(pair_of_arc, bin_of_arc, arc_cost, pair_demand, capacity, min_load, start, price, hard)
    if floor is not None:
        search.set_floor(floor, floor_price)
    for swaps in (False, True):
        if swaps and search.objective() <= stop_below:
            break
        seen = [-1] * search.n_pair  # move count when the pair was last examined
        while search.sweeps < max_sweeps and time.perf_counter() - t0 < max_seconds:
            search.sweeps += 1
            improved = search.sweep(swaps, seen, t0, max_seconds)
            if not improved or (swaps and search.objective() <= stop_below):
                break
    load = np.asarray(search.load, dtype=float)
    return LocalSearchResult(
        search.assign,
        load,
        np.clip(load - np.asarray(capacity, dtype=float), 0.0, None),
        search.feasible(),
        search.moves,
        search.sweeps,
        time.perf_counter() - t0,
    )


_Move = tuple[int, int, int, float]
"""A move: (arc the pair takes, partner pair or -1, partner's arc, change of the objective)."""


class _Search:
    """The state of one local search: loads of the school-levels, the assignment, the counters.

    Parameters are those of :func:`improve_assignment`, with ``price`` and ``hard`` from
    :func:`bin_limits`. Arcs to school-levels that can hold no one are never used; pairs without a start
    begin at their cheapest arc.
    """

    def __init__(
        self,
        pair_of_arc: np.ndarray,
        bin_of_arc: np.ndarray,
        arc_cost: np.ndarray,
        pair_demand: np.ndarray,
        capacity: np.ndarray,
        min_load: np.ndarray,
        start: np.ndarray,
        price: np.ndarray,
        hard: np.ndarray,
    ) -> None:
        self.n_pair = n_pair = len(pair_demand)
        usable = hard[bin_of_arc] > _EPS
        span = float(np.abs(arc_cost / pair_demand[pair_of_arc]).max()) if len(arc_cost) else 1.0
        self.big = 1e3 * (span + float(price.max(initial=0.0)) + 1.0)
        """Internal price per pupil above a hard limit or below a minimum load (any real move is cheaper)."""
        self.arcs_of: list[list[int]] = [[] for _ in range(n_pair)]
        for a in np.flatnonzero(usable).tolist():
            self.arcs_of[pair_of_arc[a]].append(a)
        self.assign = np.where((start >= 0) & usable[np.maximum(start, 0)], start, -1)
        for k in np.flatnonzero(self.assign < 0).tolist():
            if self.arcs_of[k]:
                self.assign[k] = min(self.arcs_of[k], key=lambda a: (arc_cost[a], a))
        self.arc_bin: list[int] = bin_of_arc.tolist()
        self.arc_pair: list[int] = pair_of_arc.tolist()
        self.arc_cost: list[float] = np.asarray(arc_cost, dtype=float).tolist()
        self.pdem: list[float] = pair_demand.astype(float).tolist()
        self.cap: list[float] = np.asarray(capacity, dtype=float).tolist()
        self.price: list[float] = price.tolist()
        self.hard: list[float] = hard.tolist()
        self.low: list[float] = np.asarray(min_load, dtype=float).tolist()
        n_bin = len(self.cap)
        self.floor: list[float] = [0.0] * n_bin
        self.floor_price: list[float] = [0.0] * n_bin
        self.load = [0.0] * n_bin
        self.members: list[set[int]] = [set() for _ in range(n_bin)]
        for a in self.assign[self.assign >= 0].tolist():
            self.load[self.arc_bin[a]] += self.pdem[self.arc_pair[a]]
            self.members[self.arc_bin[a]].add(a)
        self.arc_at = [{self.arc_bin[a]: a for a in options} for options in self.arcs_of]
        # a pair's best move depends only on the school-levels it can reach: skip it while none has changed
        self.bins_of = [[self.arc_bin[a] for a in options] for options in self.arcs_of]
        self.changed = [0] * n_bin  # move count when the school-level last changed
        self.moves = 0
        self.sweeps = 0

    def set_floor(self, floor: np.ndarray, price: float | np.ndarray) -> None:
        """Price each pupil below ``floor`` (per school-level, pupils) at ``price`` (objective units)."""
        n_bin = len(self.cap)
        self.floor = np.asarray(floor, dtype=float).reshape(n_bin).tolist()
        self.floor_price = np.broadcast_to(np.asarray(price, dtype=float), (n_bin,)).tolist()

    def term(self, b: int, load: float) -> float:
        """Return the load-dependent cost of school-level ``b`` at ``load``: overflow, under-use, excesses."""
        cap, hard = self.cap[b], self.hard[b]
        cost = self.price[b] * max(0.0, min(load, hard) - cap) if load > cap + _EPS else 0.0
        if load < self.floor[b] - _EPS:
            cost += self.floor_price[b] * (self.floor[b] - load)
        excess = max(load - hard, self.low[b] - load, 0.0)
        return cost + self.big * excess if excess > 1e-6 else cost

    def objective(self) -> float:
        """Return the objective: the arcs' costs plus every school-level's load-dependent cost."""
        arcs = sum(self.arc_cost[a] for a in self.assign.tolist() if a >= 0)
        return float(arcs + sum(self.term(b, load) for b, load in enumerate(self.load)))

    def feasible(self) -> bool:
        """Whether every pair has an arc and every school-level is within its hard limit and minimum."""
        if (self.assign < 0).any():
            return False
        return all(
            load <= self.hard[b] + 1e-6 and load >= self.low[b] - 1e-6 for b, load in enumerate(self.load)
        )

    def sweep(self, swaps: bool, seen: list[int], t0: float, max_seconds: float) -> int:
        """Make the best move of each pair whose school-levels changed since it was last examined.

        A pair that moved is examined again in the next pass: after a swap its own best shift may have
        changed (the partner's school-level changed too).

        Returns
        -------
        int
            Moves made in this pass (it ends early after ``max_seconds`` from ``t0``).
        """
        improved = 0
        for k in range(self.n_pair):
            if not self.arcs_of[k] or self.assign[k] < 0:
                continue
            if k % 64 == 0 and time.perf_counter() - t0 > max_seconds:
                break
            last = seen[k]
            seen[k] = self.moves
            if last >= 0 and max(self.changed[b] for b in self.bins_of[k]) <= last:
                continue
            best = self.best_move(k, swaps)
            if best is None:
                continue
            self.apply(k, best)
            improved += 1
        return improved

    def best_move(self, k: int, swaps: bool) -> _Move | None:
        """Return pair ``k``'s most improving shift (or, with ``swaps``, swap), or None when none improves."""
        arc_bin, arc_cost, load, term = self.arc_bin, self.arc_cost, self.load, self.term
        a0 = int(self.assign[k])
        d_k = self.pdem[k]
        b0 = arc_bin[a0]
        l0 = load[b0]
        now0 = term(b0, l0)
        out0 = term(b0, l0 - d_k) - now0 - arc_cost[a0]  # change at b0 when k leaves
        best_delta = -1e-7 * max(1.0, abs(now0) + abs(arc_cost[a0]))
        best: _Move | None = None
        for a in self.arcs_of[k]:
            b = arc_bin[a]
            if b == b0:
                continue
            lb, now_b = load[b], term(b, load[b])
            delta = out0 + arc_cost[a] + term(b, lb + d_k) - now_b
            if delta < best_delta:
                best_delta, best = delta, (a, -1, -1, delta)
            if not swaps:
                continue
            for m in self.members[b]:  # trade places with a pair at b that can reach b0
                k2 = self.arc_pair[m]
                m2 = self.arc_at[k2].get(b0, -1)
                if m2 < 0:
                    continue
                d2 = self.pdem[k2]
                delta = (
                    arc_cost[a] + arc_cost[m2] - arc_cost[a0] - arc_cost[m]
                    + term(b0, l0 - d_k + d2) - now0
                    + term(b, lb - d2 + d_k) - now_b
                )  # fmt: skip
                if delta < best_delta:
                    best_delta, best = delta, (a, k2, m2, delta)
        return best

    def apply(self, k: int, best: _Move) -> None:
        """Make the move ``best`` of pair ``k``."""
        a0 = int(self.assign[k])
        a1, k2, m2, _ = best
        self.moves += 1
        self._move(k, a0, a1)
        if k2 >= 0:  # swap: k2 comes to k's old school-level over its arc m2
            self._move(k2, int(self.assign[k2]), m2)

    def _move(self, k: int, old: int, new: int) -> None:
        """Move pair ``k`` from arc ``old`` to arc ``new``, updating loads and members."""
        d_k = self.pdem[k]
        b_old, b_new = self.arc_bin[old], self.arc_bin[new]
        self.load[b_old] -= d_k
        self.load[b_new] += d_k
        self.members[b_old].discard(old)
        self.members[b_new].add(new)
        self.changed[b_old] = self.changed[b_new] = self.moves
        self.assign[k] = new
