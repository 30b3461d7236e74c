"""The local search that rounds split units to single schools (siting.model.local_search)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.model.local_search import improve_assignment


def _objective(arc, pair_of_arc, bin_of_arc, cost, demand, capacity, min_load, penalty):
    """Independent evaluation: per school-level, seat the cheapest pupils per head up to capacity."""
    total = 0.0
    for b in range(len(capacity)):
        arcs = [a for a in arc if a >= 0 and bin_of_arc[a] == b]
        per_head = sorted((cost[a] / demand[pair_of_arc[a]], demand[pair_of_arc[a]]) for a in arcs)
        room, seated = capacity[b], 0.0
        for c, d in per_head:
            take = min(d, max(room, 0.0)) if penalty is None or c < penalty else 0.0
            room -= take
            seated += take
            total += take * c
            if d - take > 1e-12:
                total += (d - take) * (penalty if penalty is not None else math.inf)
        if seated < min_load[b] - 1e-9:
            return math.inf
    if penalty is not None:
        total += penalty * sum(demand[k] for k in range(len(demand)) if arc[k] < 0)
    elif (np.asarray(arc) < 0).any():
        return math.inf
    return total


def test_a_chain_of_moves_fills_the_school_rounding_left_empty():
    # schools 0, 1, 2 with 10 seats each; units A..D. Rounding put A and B at school 0 (16 pupils, 6 short)
    # and left school 2 with 4. The fix is a chain: C moves 1 -> 2 and B moves 0 -> 1. Shifts alone stop
    # with A at school 1 (B then cannot follow); a swap of A and B gets out of that.
    pair_of_arc = np.array([0, 0, 1, 1, 2, 2, 3])
    bin_of_arc = np.array([0, 1, 0, 1, 1, 2, 2])
    cost_per_pupil = np.array([100, 900, 100, 300, 100, 400, 100], dtype=float)
    demand = np.array([8.0, 8.0, 6.0, 4.0])
    cost = cost_per_pupil * demand[pair_of_arc]
    capacity = np.array([10.0, 10.0, 10.0])
    start = np.array([0, 2, 4, 6])  # A, B at school 0; C at 1; D at 2
    out = improve_assignment(
        pair_of_arc, bin_of_arc, cost, demand, capacity, np.zeros(3), start, penalty=10_000.0
    )
    assert out.feasible
    assert out.arc.tolist() == [0, 3, 5, 6]  # A at 0, B at 1, C at 2, D at 2
    assert out.seated.tolist() == [1.0, 1.0, 1.0, 1.0]
    expected = 8 * 100 + 8 * 300 + 6 * 400 + 4 * 100
    assert _objective(out.arc, pair_of_arc, bin_of_arc, cost, demand, capacity, np.zeros(3), 1e4) == expected
    shifts_only = improve_assignment(
        pair_of_arc, bin_of_arc, cost, demand, capacity, np.zeros(3), start, penalty=1e4, stop_below=1e9
    )
    assert shifts_only.arc.tolist() == [1, 2, 5, 6]  # good enough for stop_below: no swaps tried


def test_the_most_expensive_pupils_are_the_ones_left_short():
    pair_of_arc = np.array([0, 1])
    bin_of_arc = np.array([0, 0])
    demand = np.array([6.0, 6.0])
    cost = np.array([100.0, 500.0]) * demand
    out = improve_assignment(
        pair_of_arc, bin_of_arc, cost, demand, np.array([9.0]), np.zeros(1), np.array([0, 1]), penalty=1e4
    )
    assert out.arc.tolist() == [0, 1]
    assert out.seated.tolist() == [1.0, 0.5]  # the far unit keeps 3 of its 6 pupils seated


def test_minimum_loads_are_kept_and_reported():
    pair_of_arc = np.array([0, 0])
    bin_of_arc = np.array([0, 1])
    demand = np.array([5.0])
    cost = np.array([100.0, 900.0]) * 5
    keep = improve_assignment(
        pair_of_arc,
        bin_of_arc,
        cost,
        demand,
        np.array([10.0, 10.0]),
        np.array([0.0, 5.0]),
        np.array([1]),
        penalty=1e4,
    )
    assert keep.feasible and keep.arc.tolist() == [1]  # moving to the nearer school would empty school 1
    broken = improve_assignment(
        pair_of_arc,
        bin_of_arc,
        cost,
        demand,
        np.array([10.0, 10.0]),
        np.array([3.0, 3.0]),
        np.array([1]),
        penalty=1e4,
    )
    assert not broken.feasible  # one unit cannot give both schools their minimum


def test_without_shortfall_overflow_is_driven_out_or_reported():
    pair_of_arc = np.array([0, 0, 1, 1])
    bin_of_arc = np.array([0, 1, 0, 1])
    demand = np.array([6.0, 6.0])
    cost = np.array([1.0, 2.0, 1.0, 2.0]) * 6
    ok = improve_assignment(
        pair_of_arc,
        bin_of_arc,
        cost,
        demand,
        np.array([6.0, 6.0]),
        np.zeros(2),
        np.array([0, 2]),
        penalty=None,
    )
    assert ok.feasible and sorted(bin_of_arc[ok.arc].tolist()) == [0, 1]
    tight = improve_assignment(
        pair_of_arc,
        bin_of_arc,
        cost,
        demand,
        np.array([6.0, 5.0]),
        np.zeros(2),
        np.array([0, 2]),
        penalty=None,
    )
    assert not tight.feasible  # 12 pupils, 11 seats, and no shortfall allowed


@st.composite
def _instances(draw):
    n_pair = draw(st.integers(1, 5))
    n_bin = draw(st.integers(1, 3))
    rows = []
    for k in range(n_pair):
        reach = draw(st.lists(st.integers(0, n_bin - 1), min_size=1, max_size=n_bin, unique=True))
        for b in reach:
            rows.append((k, b, draw(st.integers(0, 50))))
    demand = np.array([draw(st.integers(1, 9)) for _ in range(n_pair)], dtype=float)
    capacity = np.array([draw(st.integers(0, 15)) for _ in range(n_bin)], dtype=float)
    min_load = np.array([draw(st.sampled_from([0, 0, 2])) for _ in range(n_bin)], dtype=float)
    pair_of_arc = np.array([r[0] for r in rows])
    bin_of_arc = np.array([r[1] for r in rows])
    cost = np.array([r[2] for r in rows], dtype=float) * demand[pair_of_arc]
    start = np.array(
        [draw(st.sampled_from([-1, *np.flatnonzero(pair_of_arc == k).tolist()])) for k in range(n_pair)]
    )
    penalty = draw(st.sampled_from([100.0, 30.0, None]))
    return pair_of_arc, bin_of_arc, cost, demand, capacity, min_load, start, penalty


@settings(max_examples=150, deadline=None)
@given(_instances())
def test_local_search_ends_in_a_local_optimum_no_worse_than_its_start(inst):
    pair_of_arc, bin_of_arc, cost, demand, capacity, min_load, start, penalty = inst
    args = (pair_of_arc, bin_of_arc, cost, demand, capacity, min_load)
    out = improve_assignment(*args, start, penalty=penalty)
    value = _objective(out.arc, *args, penalty)
    if penalty is not None:
        begin = _objective(
            np.where(capacity[bin_of_arc[np.maximum(start, 0)]] > 0, start, -1), *args, penalty
        )
        assert value <= begin + 1e-9
    assert out.feasible == math.isfinite(value)
    if not out.feasible:
        return
    # every seat share is consistent with capacities, and no single shift improves the answer
    for b in range(len(capacity)):
        on_b = (out.arc >= 0) & (bin_of_arc[np.maximum(out.arc, 0)] == b)
        assert (out.seated[on_b] * demand[on_b]).sum() <= capacity[b] + 1e-9
    for k in range(len(demand)):
        for alt in [-1, *np.flatnonzero(pair_of_arc == k).tolist()]:
            if alt < 0 and penalty is None:
                continue
            trial = out.arc.copy()
            trial[k] = alt
            assert _objective(trial, *args, penalty) >= value - 1e-6 * max(1.0, abs(value))


@settings(max_examples=60, deadline=None)
@given(_instances())
def test_local_search_matches_brute_force_when_it_has_one_school_level(inst):
    pair_of_arc, bin_of_arc, cost, demand, capacity, min_load, start, penalty = inst
    if penalty is None or len(capacity) != 1:
        return
    args = (pair_of_arc, bin_of_arc, cost, demand, capacity, min_load)
    out = improve_assignment(*args, start, penalty=penalty)
    choices = [[-1, *np.flatnonzero(pair_of_arc == k).tolist()] for k in range(len(demand))]
    best = min(_objective(np.array(c), *args, penalty) for c in itertools.product(*choices))
    if math.isfinite(best):
        assert _objective(out.arc, *args, penalty) == pytest.approx(best)
