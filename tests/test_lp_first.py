"""Tests of the LP-first step of mode "round" (issue 17) and the exact assignment of fixed sites."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import siting.model.interchange as ic
import siting.model.lp_first as lp_first_mod
from siting.model import SitingModel
from siting.model.fixed_sites import exact_assignment, transport
from siting.model.interchange import interchange
from siting.model.lp_first import PricedLP, applies
from siting.model.rounding import run_local_search
from siting.model.solvers import Deadline, solve_program
from tests.test_model import assert_valid, random_model
from tests.test_strength import brute_force, line_pmedian, start_with


def _instance(seed: int, n: int = 7, p: int = 2) -> SitingModel:
    rng = np.random.default_rng(seed)
    clients = rng.uniform(0, 10, n).round(2).tolist()
    weights = rng.integers(1, 6, n).astype(float).tolist()
    sites = [1.0, 3.0, 5.0, 7.0, 9.0]
    return line_pmedian(clients, sites, 1.25 * sum(weights) / p, p, weights)


def _best_for_sites(model: SitingModel, open_f: list[int]) -> float:
    """The best single-school assignment to the facilities ``open_f``, by enumeration."""
    d = model._d
    cost = np.full((len(d["k_d"]), len(d["facilities"])), np.inf)
    cost[d["a_k"], d["a_f"]] = d["a_cost"] + d["a_dis"]
    best = math.inf
    for choice in itertools.product(open_f, repeat=len(d["k_d"])):
        load = np.zeros(len(d["facilities"]))
        np.add.at(load, list(choice), d["k_d"])
        if (load <= d["o_cap"][:, 0] + 1e-9).all():
            best = min(best, float(cost[np.arange(len(choice)), list(choice)].sum()))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_exact_assignment_is_the_best_single_school_answer_for_its_sites(seed: int) -> None:
    model = _instance(seed)
    d, prog = model._d, model.program()
    x = start_with(model, ["S1", "S3"])
    z = x[len(d["a_k"]) : len(d["a_k"]) + len(d["o_f"])]
    exact = exact_assignment(d, prog, z, 10.0)
    expected = _best_for_sites(model, [1, 3])
    if not math.isfinite(expected):
        assert exact.x is None
        return
    assert exact.objective == pytest.approx(expected)
    xa = exact.x[: len(d["a_k"])]
    assert np.allclose(xa, np.round(xa))  # one school per pair
    lp = transport(d, prog, z, 10.0)
    assert lp.objective <= exact.objective + 1e-9  # the LP is a bound for these sites
    search = run_local_search(d, prog, lp.x, 5.0)
    if search.x is not None:
        assert exact.objective <= search.objective + 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_priced_lp_bound_is_valid_before_the_pricing_converges(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lp_first_mod, "NEAREST", 1)  # one arc per pair: most arcs left out
    monkeypatch.setattr(lp_first_mod, "REACH", 0)
    model = _instance(seed)
    full = solve_program(model.program().relaxed(), gap=0.0)
    lp = PricedLP(model._d, None)
    while lp.z is None:
        assert lp.step(10.0)
    assert lp.bound <= full.objective + 1e-7 * abs(full.objective)
    while not lp.converged:
        assert lp.step(10.0)
        assert lp.bound <= full.objective + 1e-7 * abs(full.objective)
    assert lp.bound == pytest.approx(full.objective)  # converged: the full LP's value


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("gap", [0.05, 1e-9])
@pytest.mark.parametrize("lagrange_share", [0.1, 0.0])  # 0: no time for the Lagrangian's sites
def test_round_with_lp_first_is_valid_and_honest(
    seed: int, gap: float, lagrange_share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lp_first_mod, "LAGRANGE_SHARE", lagrange_share)
    monkeypatch.setattr(lp_first_mod, "MIN_ARCS", 0)  # the step on a model small enough to enumerate
    monkeypatch.setattr(lp_first_mod, "NEAREST", 2)
    monkeypatch.setattr(lp_first_mod, "REACH", 0)
    import siting.model.modes as modes

    seen = []
    real = modes.lp_first
    monkeypatch.setattr(modes, "lp_first", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    model = _instance(seed)
    optimum = brute_force(model)
    res = model.solve(mode="round", gap=gap, time_limit_s=20)
    ((first, lag),) = seen
    assert lag is not None and lag.bound <= optimum + 1e-7 * optimum
    assert_valid(model, res)
    assert res.bound <= optimum + 1e-7 * optimum <= res.objective + 2e-7 * optimum
    assert res.gap == pytest.approx((res.objective - res.bound) / res.objective, abs=1e-12)
    assert res.status == ("optimal" if res.gap <= gap + 1e-9 else "feasible")
    assert first.bound <= optimum + 1e-7 * optimum <= first.objective + 2e-7 * optimum
    if first.gap <= gap:  # certified by the Lagrangian or the LP: no relaxation MIP
        assert res.solver_status.startswith("Lagrangian first") and res.objective == first.objective
        if lagrange_share == 0.0:
            assert "LP first" in res.solver_status
    else:  # handed to the relaxation as its start: never lost
        assert res.objective <= first.objective + 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interchange_tries_only_the_best_priced_swaps(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = ic.transport
    monkeypatch.setattr(ic, "transport", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = _instance(seed, n=8)
    d, prog = model._d, model.program()
    x = start_with(model, ["S0", "S1"])
    some = interchange(d, prog, x, 10.0, tries=2)
    moves = int(some.solver_status.split("interchange: ")[1].split(" facility")[0])
    assert len(calls) <= 1 + 2 * (moves + 1)  # the start's LP, then at most 2 swaps after each move
    calls.clear()
    every = interchange(d, prog, x, 10.0)
    assert len(calls) > 1 + 2 * (moves + 1) or every.objective == pytest.approx(some.objective)


def test_lagrange_first_stops_when_its_bound_and_sites_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    rounds = []
    real = lp_first_mod.lagrangian_bound
    monkeypatch.setattr(lp_first_mod, "lagrangian_bound", lambda *a, **k: rounds.append(1) or real(*a, **k))
    model = _instance(0)
    optimum = brute_force(model)
    best, lag = lp_first_mod.lagrange_first(model._d, model.program(), Deadline.after(30.0), 0.0, None)
    assert lag.bound <= optimum + 1e-7 * optimum
    assert best is None or best.objective >= optimum - 1e-7 * optimum
    assert len(rounds) < 30  # not one round every 0.3 s until the 30 s are up: it stalled first


def test_many_pairs_skip_the_lagrangian_first_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lp_first_mod, "MIN_ARCS", 0)
    monkeypatch.setattr(lp_first_mod, "LAGRANGE_MOST_PAIRS", 0)

    def none(*a: object, **k: object) -> None:
        raise AssertionError("the Lagrangian's first rounds ran")

    monkeypatch.setattr(lp_first_mod, "lagrange_first", none)
    import siting.model.modes as modes

    seen = []
    real = modes.lp_first
    monkeypatch.setattr(modes, "lp_first", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    model = _instance(1)
    optimum = brute_force(model)
    res = model.solve(mode="round", gap=1e-9, time_limit_s=20)
    ((first, lag),) = seen
    assert lag is None and first.solver_status.startswith("LP first")
    assert_valid(model, res)
    assert res.bound <= optimum + 1e-7 * optimum <= res.objective + 2e-7 * optimum


def test_interchange_ends_with_the_exact_assignment_of_its_sites() -> None:
    model = _instance(5, n=8)
    d, prog = model._d, model.program()
    out = interchange(d, prog, start_with(model, ["S0", "S4"]), 10.0)
    assert out.x is not None
    z = np.round(out.x[len(d["a_k"]) : len(d["a_k"]) + len(d["o_f"])])
    open_f = d["o_f"][z > 0.5].tolist()
    assert out.objective == pytest.approx(_best_for_sites(model, open_f))


def test_lp_first_applies_only_to_pmedian_shapes() -> None:
    pmed = _instance(0)._d
    assert not applies(pmed, "round", "highs")  # below MIN_ARCS
    big = dict(pmed, a_k=np.zeros(lp_first_mod.MIN_ARCS, dtype=int))
    assert applies(big, "round", "highs")
    assert not applies(big, "exact", "highs") and not applies(big, "round", "cbc")
    assert not applies(dict(big, budget=10.0), "round", "highs")
    mixed = random_model(0)._d  # existing schools
    assert not applies(dict(mixed, a_k=big["a_k"]), "round", "highs")
