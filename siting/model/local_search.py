r"""Capacity-aware local search for single-school assignments (the rounding step of the model).

The relaxation of the siting model splits a few units between schools. Rounding them one by one leaves
some schools a little over capacity (the surplus becomes shortfall) and others a little under, and the
fix usually needs a chain of moves across neighbouring catchments. This module does that with shift
moves (one unit-level pair to another school, or to none), evaluated exactly against the model's
objective, before any repair MIP is tried. On the sample city it closes the rounding gap in well under
a second, where the repair MIP needed about 15 s.

The objective of a school-level ``b`` holding pairs ``S`` is that of the model with single sourcing and
partial shortfall: the cheapest pupils per head are seated up to the capacity ``C_b`` and the rest are
short at ``penalty`` per pupil,

.. math:: F_b(S) = \sum_{k \in S} d_k c_k + \sum_{\text{short pupils } p} (P - c_p),

where ``c_k`` is the cost per pupil of the pair's arc to ``b``. A school-level with a minimum load must
seat at least that many pupils. Without shortfall (``allow_short=False``) the same search runs with a
large internal penalty on overflow, and the answer is used only if it has no overflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_EPS = 1e-9


@dataclass
class LocalSearchResult:
    """Outcome of :func:`improve_assignment`.

    Attributes
    ----------
    arc
        Chosen arc per pair, ``-1`` for none (the pair is short).
    seated
        Share of the pair's demand seated by its arc (0–1; below 1 where its school is full).
    feasible
        Whether every capacity, minimum load and (without shortfall) assignment holds.
    moves
        Number of improving moves made.
    sweeps
        Passes over the pairs.
    seconds
        Wall time, seconds.
    """

    arc: np.ndarray
    seated: np.ndarray
    feasible: bool
    moves: int
    sweeps: int
    seconds: float


class _Bin:
    """One school-level: its pairs sorted by cost per pupil, most expensive first."""

    __slots__ = ("arcs", "cs", "ds", "load", "pos", "spend")

    def __init__(self) -> None:
        self.arcs: list[int] = []
        self.cs: list[float] = []
        self.ds: list[float] = []
        self.pos: dict[int, int] = {}
        self.load = 0.0
        self.spend = 0.0

    def rebuild(self, arcs: list[int], cpp: np.ndarray, dem: np.ndarray) -> None:
        arcs = sorted(arcs, key=lambda a: (-cpp[a], a))
        self.arcs = arcs
        self.cs = [float(cpp[a]) for a in arcs]
        self.ds = [float(dem[a]) for a in arcs]
        self.pos = {a: i for i, a in enumerate(arcs)}
        self.load = float(sum(self.ds))
        self.spend = float(sum(c * d for c, d in zip(self.cs, self.ds, strict=True)))


def _short_cost(
    b: _Bin, excess: float, penalty: float, add_c: float | None = None, add_d: float = 0.0, skip: int = -1
) -> float:
    """Return what leaving the ``excess`` most expensive pupils of ``b`` short adds to its spend.

    Optionally as if one pair (cost per pupil ``add_c``, ``add_d`` pupils) were added, or the pair at
    position ``skip`` removed.
    """
    total = 0.0
    need = excess
    i = 0
    n = len(b.cs)
    added = add_c is None
    while need > _EPS:
        if not added and (i >= n or add_c >= b.cs[i]):  # type: ignore[operator]
            take = min(add_d, need)
            total += take * (penalty - add_c)  # type: ignore[operator]
            need -= take
            added = True
            continue
        if i >= n:
            break
        if i == skip:
            i += 1
            continue
        take = min(b.ds[i], need)
        total += take * (penalty - b.cs[i])
        need -= take
        i += 1
    return total


def improve_assignment(
    pair_of_arc: np.ndarray,
    bin_of_arc: np.ndarray,
    arc_cost: np.ndarray,
    pair_demand: np.ndarray,
    capacity: np.ndarray,
    min_load: np.ndarray,
    start: np.ndarray,
    *,
    penalty: float | None,
    stop_below: float = -np.inf,
    max_seconds: float = 5.0,
    max_sweeps: int = 50,
) -> LocalSearchResult:
    """Improve a single-school assignment by shift and swap moves until none improves the objective.

    Shift moves (one pair to another school-level, or to none) run first. Only if the objective is then
    still above ``stop_below`` are swaps tried as well (two pairs at two school-levels trade places),
    which escape the local optima that tight capacities create.

    Parameters
    ----------
    pair_of_arc, bin_of_arc
        Pair (unit-level) and school-level of each arc.
    arc_cost
        Cost of serving the pair's whole demand over the arc (objective units, e.g. pupil-metres).
    pair_demand
        Demand of each pair, pupils (> 0).
    capacity, min_load
        Seats and minimum seated pupils per school-level (0 where none).
    start
        Starting arc per pair (``-1`` for none).
    penalty
        Shortfall cost per pupil, or None when every pair must be served in full.
    stop_below
        Skip the swap phase (or end it) once the objective (assignment costs plus shortfall) is at most this.
    max_seconds, max_sweeps
        Stop after this long or this many passes (the answer so far is returned).

    Returns
    -------
    LocalSearchResult
    """
    t0 = time.perf_counter()
    search = _Search(pair_of_arc, bin_of_arc, arc_cost, pair_demand, capacity, min_load, start, penalty)
    for swaps in (False, True):
        if swaps and search.objective() <= stop_below:
            break
        seen = [-1] * search.n_pair  # move count when the pair was last examined
        while search.sweeps < max_sweeps and time.perf_counter() - t0 < max_seconds:
            search.sweeps += 1
            improved = search.sweep(swaps, seen, t0, max_seconds)
            if not improved or (swaps and search.objective() <= stop_below):
                break
    seated, feasible = search.seating()
    return LocalSearchResult(
        search.assign, seated, feasible, search.moves, search.sweeps, time.perf_counter() - t0
    )


def _bin_cost(
    bins: list[_Bin], cap: list[float], low: list[float], arc_dem: list[float], arc_cpp: list[float], p: float
) -> Callable[..., float]:
    """Return ``value(b, out=-1, into=-1)``, the cost of school-level ``b`` as if changed by one move.

    That is with arc ``out`` removed and/or arc ``into`` added; infinite below the minimum load.

    A closure over the search's lists rather than a method: it is the innermost call of the search.
    """

    def value(b: int, out: int = -1, into: int = -1) -> float:
        x = bins[b]
        load, spend = x.load, x.spend
        if out >= 0:
            load -= arc_dem[out]
            spend -= arc_dem[out] * arc_cpp[out]
        add_c = None
        if into >= 0:
            load += arc_dem[into]
            spend += arc_dem[into] * arc_cpp[into]
            add_c = arc_cpp[into]
        if min(load, cap[b]) < low[b] - 1e-6:
            return np.inf
        excess = load - cap[b]
        if excess <= _EPS:
            return spend
        skip = x.pos[out] if out >= 0 else -1
        return spend + _short_cost(x, excess, p, add_c, arc_dem[into] if into >= 0 else 0.0, skip)

    return value


_Move = tuple[int, int, int, float, float]
"""A move: (arc the pair takes or -1, partner pair or -1, partner's arc, new cost of the pair's old
school-level, new cost of its new one)."""


class _Search:
    """The state of one local search: school-levels, the assignment, and the counters of moves and passes.

    Parameters are those of :func:`improve_assignment`. Arcs to school-levels without capacity, and with
    shortfall those costing more per pupil than the penalty, are never used. Without shortfall the
    unassigned pairs start at their cheapest arc and a large internal penalty stands for overflow.
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
        penalty: float | None,
    ) -> None:
        self.n_pair = n_pair = len(pair_demand)
        self.pair_of_arc = pair_of_arc
        self.dem = dem = pair_demand[pair_of_arc].astype(float)
        self.cpp = cpp = arc_cost / dem
        self.allow_short = allow_short = penalty is not None
        usable = capacity[bin_of_arc] > 0
        if allow_short:
            self.p = float(penalty)  # type: ignore[arg-type]
            usable &= cpp < self.p  # a pupil costing more than the penalty is better left short
        else:
            span = float(np.abs(cpp).max()) if len(cpp) else 1.0
            self.p = 1e3 * (span + 1.0)
        self.arcs_of: list[list[int]] = [[] for _ in range(n_pair)]
        for a in np.flatnonzero(usable).tolist():
            self.arcs_of[pair_of_arc[a]].append(a)
        self.assign = assign = np.where((start >= 0) & usable[np.maximum(start, 0)], start, -1)
        if not allow_short:  # everyone needs a school: start the unassigned at their cheapest arc
            for k in np.flatnonzero(assign < 0).tolist():
                if self.arcs_of[k]:
                    assign[k] = min(self.arcs_of[k], key=lambda a: (cpp[a], a))
        n_bin = int(capacity.shape[0])
        members: list[list[int]] = [[] for _ in range(n_bin)]
        for a in assign[assign >= 0].tolist():
            members[bin_of_arc[a]].append(a)
        self.bins = [_Bin() for _ in range(n_bin)]
        self.cap: list[float] = capacity.astype(float).tolist()
        self.low: list[float] = min_load.astype(float).tolist()
        for b in range(n_bin):
            if members[b]:
                self.bins[b].rebuild(members[b], cpp, dem)
        self._index_arcs(bin_of_arc, pair_demand)
        self.value = _bin_cost(self.bins, self.cap, self.low, self.arc_dem, self.arc_cpp, self.p)
        """``value(b, out, into)``: cost of school-level ``b`` with arc ``out`` out and/or ``into`` in."""
        self.current = [self.value(b) for b in range(n_bin)]
        self.unassigned = (
            float(sum(self.pdem[k] for k in np.flatnonzero(assign < 0).tolist())) if allow_short else 0.0
        )
        # a pair's best move depends only on the school-levels it can reach: skip it while none has changed
        self.bins_of = [[self.arc_bin[a] for a in options] for options in self.arcs_of]
        self.changed = [0] * n_bin  # move count when the school-level last changed
        self.moves = 0
        self.sweeps = 0

    def _index_arcs(self, bin_of_arc: np.ndarray, pair_demand: np.ndarray) -> None:
        """Keep the arc arrays as Python lists (fast to index), and each pair's arc per school-level."""
        self.arc_bin: list[int] = bin_of_arc.tolist()
        self.arc_pair: list[int] = self.pair_of_arc.tolist()
        self.arc_cpp: list[float] = self.cpp.tolist()
        self.arc_dem: list[float] = self.dem.tolist()
        self.pdem: list[float] = pair_demand.astype(float).tolist()
        self.arc_at = [{self.arc_bin[a]: a for a in options} for options in self.arcs_of]

    def objective(self) -> float:
        """Return the objective: the school-levels' costs plus the penalty of the unassigned pupils."""
        return float(sum(self.current)) + self.p * self.unassigned

    def update(self, b: int, out: int, into: int, cost: float) -> None:
        """Take arc ``out`` from school-level ``b`` and/or put arc ``into`` in it, now costing ``cost``."""
        arcs = [a for a in self.bins[b].arcs if a != out]
        if into >= 0:
            arcs.append(into)
        self.bins[b].rebuild(arcs, self.cpp, self.dem)
        self.current[b] = cost
        self.changed[b] = self.moves

    def sweep(self, swaps: bool, seen: list[int], t0: float, max_seconds: float) -> int:
        """Make the best move of each pair whose school-levels changed since it was last examined.

        Returns
        -------
        int
            Moves made in this pass (it ends early after ``max_seconds`` from ``t0``).
        """
        improved = 0
        for k in range(self.n_pair):
            if not self.arcs_of[k]:
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
            seen[k] = self.moves
            improved += 1
        return improved

    def best_move(self, k: int, swaps: bool) -> _Move | None:
        """Return pair ``k``'s most improving shift (or, with ``swaps``, swap), or None when none improves."""
        value, arc_bin, current, p = self.value, self.arc_bin, self.current, self.p
        a0 = int(self.assign[k])
        d_k = self.pdem[k]
        b0 = arc_bin[a0] if a0 >= 0 else -1
        new0 = value(b0, out=a0) if a0 >= 0 else 0.0
        delta0 = new0 - current[b0] if a0 >= 0 else -p * d_k
        best_delta = -1e-7 * max(1.0, abs(delta0))
        best: _Move | None = None
        if a0 >= 0 and self.allow_short and delta0 + p * d_k < best_delta:  # leave the pair short
            best_delta, best = delta0 + p * d_k, (-1, -1, -1, new0, 0.0)
        for a in self.arcs_of[k]:
            b = arc_bin[a]
            if b == b0:
                continue
            new1 = value(b, into=a)
            delta = delta0 + new1 - current[b]
            if delta < best_delta:
                best_delta, best = delta, (a, -1, -1, new0, new1)
            if not swaps or a0 < 0:
                continue
            for m in self.bins[b].arcs:  # trade places with a pair at b that can reach b0
                k2 = self.arc_pair[m]
                m2 = self.arc_at[k2].get(b0, -1)
                if m2 < 0:
                    continue
                s0 = value(b0, out=a0, into=m2)
                s1 = value(b, out=m, into=a)
                delta = s0 - current[b0] + s1 - current[b]
                if delta < best_delta:
                    best_delta, best = delta, (a, k2, m2, s0, s1)
        return best

    def apply(self, k: int, best: _Move) -> None:
        """Make the move ``best`` of pair ``k``."""
        a0 = int(self.assign[k])
        d_k = self.pdem[k]
        b0 = self.arc_bin[a0] if a0 >= 0 else -1
        a1, k2, m2, new0, new1 = best
        self.moves += 1
        if k2 < 0:  # shift k from b0 (or none) to a1's school-level (or none)
            if a0 >= 0:
                self.update(b0, a0, -1, new0)
            else:
                self.unassigned -= d_k
            if a1 >= 0:
                self.update(self.arc_bin[a1], -1, a1, new1)
            else:
                self.unassigned += d_k
        else:  # swap: k goes to a1's school-level, k2 comes to b0 over its arc m2
            self.update(b0, a0, m2, new0)
            self.update(self.arc_bin[a1], int(self.assign[k2]), a1, new1)
            self.assign[k2] = m2
        self.assign[k] = a1

    def seating(self) -> tuple[np.ndarray, bool]:
        """Return the share of each pair's demand seated (cheapest pupils first) and whether all holds."""
        seated = np.zeros(self.n_pair)
        feasible = True
        for b, x in enumerate(self.bins):
            if not x.arcs:
                feasible &= self.low[b] <= 1e-6
                continue
            room = self.cap[b]
            for i in range(len(x.arcs) - 1, -1, -1):  # cheapest first
                take = min(x.ds[i], max(room, 0.0))
                room -= take
                seated[self.pair_of_arc[x.arcs[i]]] = take / x.ds[i]
            feasible &= min(x.load, self.cap[b]) >= self.low[b] - 1e-6
        if not self.allow_short:
            feasible &= bool((self.assign >= 0).all()) and bool((seated >= 1 - 1e-9).all())
        seated[self.assign < 0] = 0.0
        return seated, bool(feasible)
