"""Tests of the solver-strength parts (issue 17): facility interchange, Lagrangian bound, certified gaps."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from benchmarks._generated import capacitated_facility_location, capacitated_pmedian
from benchmarks._instances import to_model_inputs
from siting.model import SitingModel
from siting.model.interchange import interchange
from siting.model.lagrange import lagrangian_bound
from siting.model.program import build_program
from siting.model.solvers import SolveOutcome, solve_program
from tests.test_model import assert_valid, random_model


def line_pmedian(
    clients: list[float], sites: list[float], capacity: float, p: int, weights: list[float] | None = None
) -> SitingModel:
    """Clients and sites on a line, cost = weight × distance, every site one option of ``capacity``."""
    w = weights or [1.0] * len(clients)
    rows = [
        (i, f"S{j}", "all", w[i] * abs(c - s)) for i, c in enumerate(clients) for j, s in enumerate(sites)
    ]
    arcs = pd.DataFrame(rows, columns=["unit_id", "school_id", "level", "cost"])
    demand = pd.DataFrame({"all": w}, index=range(len(clients)))
    ids = [f"S{j}" for j in range(len(sites))]
    cap = pd.DataFrame({"all": 0.0}, index=ids)
    options = pd.DataFrame({"school_id": ids, "option": "open", "fixed_cost": 0.0, "capacity_all": capacity})
    return SitingModel.from_costs(arcs, demand, cap, options=options, exactly_new=p, overflow_penalty=None)


def brute_force(model: SitingModel) -> float:
    """The single-school optimum of a tiny one-option-per-site p-median model, by enumeration."""
    d = model._d
    n_f = len(d["facilities"])
    cost = np.full((len(d["k_d"]), n_f), np.inf)
    cost[d["a_k"], d["a_f"]] = d["a_cost"] + d["a_dis"]
    cap = d["o_cap"][:, 0]
    best = math.inf
    for open_ in itertools.combinations(range(n_f), int(d["exactly_new"])):
        for choice in itertools.product(open_, repeat=len(d["k_d"])):
            load = np.zeros(n_f)
            np.add.at(load, list(choice), d["k_d"])
            if (load <= cap + 1e-9).all():
                best = min(best, float(cost[np.arange(len(choice)), list(choice)].sum()))
    return best


def start_with(model: SitingModel, open_sites: list[str]) -> np.ndarray:
    """Program columns with only the options of ``open_sites`` set (no assignment)."""
    d = model._d
    x = np.zeros(model.program().shape[1])
    for s in open_sites:
        x[len(d["a_k"]) + int(np.flatnonzero(d["facilities"][d["o_f"]] == s)[0])] = 1.0
    return x


def greedy_open(model: SitingModel) -> list[str]:
    """Greedy add (uncapacitated costs): the best single site, then the best second; the textbook start."""
    d = model._d
    n_f = len(d["facilities"])
    cost = np.full((len(d["k_d"]), n_f), np.inf)
    cost[d["a_k"], d["a_f"]] = d["a_cost"]
    chosen: list[int] = []
    for _ in range(int(d["exactly_new"])):
        rest = [j for j in range(n_f) if j not in chosen]
        chosen.append(min(rest, key=lambda j: cost[:, [*chosen, j]].min(axis=1).sum()))
    return [str(d["facilities"][j]) for j in chosen]


def test_interchange_finds_the_optimum_where_greedy_fails() -> None:
    # two pairs of clients 9 apart; the middle site is the best single site, so greedy opens it first
    # and ends at 10 (0.5 + 0.5 + 4 + 5); closing it for the right-hand site gives the optimum 2
    model = line_pmedian([0.0, 1.0, 9.0, 10.0], [0.5, 9.5, 5.0], capacity=2.0, p=2)
    greedy = greedy_open(model)
    assert sorted(greedy) == ["S0", "S2"]
    prog = model.program()
    start = interchange(model._d, prog, start_with(model, greedy), 0.0)  # no time: only the assignment
    assert start.objective == pytest.approx(10.0)
    out = interchange(model._d, prog, start_with(model, greedy), 5.0)
    assert out.objective == pytest.approx(brute_force(model)) == pytest.approx(2.0)
    assert "1 facility swaps" in out.solver_status


def test_interchange_respects_capacity_where_the_nearest_site_is_full() -> None:
    # capacity 3: the three left clients cannot all use S0; the optimum by enumeration is reached
    model = line_pmedian([0.0, 0.2, 0.4, 9.0, 10.0], [0.0, 9.5, 5.0, 2.0], capacity=3.0, p=2)
    out = interchange(model._d, model.program(), start_with(model, ["S2", "S3"]), 5.0)
    assert out.x is not None
    assert out.objective == pytest.approx(brute_force(model))
    loads = np.zeros(len(model._d["facilities"]))
    on = out.x[: model.n_arcs] > 0.5
    np.add.at(loads, model._d["a_f"][on], model._d["k_d"][model._d["a_k"][on]])
    assert loads.max() <= 3.0 + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_lagrangian_bound_is_below_the_brute_force_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    clients = rng.uniform(0, 10, 6).round(2).tolist()
    sites = rng.uniform(0, 10, 4).round(2).tolist()
    weights = rng.integers(1, 6, 6).astype(float).tolist()
    model = line_pmedian(clients, sites, capacity=1.2 * sum(weights) / 2, p=2, weights=weights)
    optimum = brute_force(model)
    lag = lagrangian_bound(model._d, max_seconds=2.0, upper=optimum)
    assert math.isfinite(lag.bound)
    assert lag.bound <= optimum + 1e-7 * optimum
    split = model.solve(mode="split", gap=0.0)  # the bound is one of the split relaxation too
    assert lag.bound <= split.objective + 1e-6 * split.objective
    assert lag.bound >= 0.5 * optimum  # and not a trivial one


@pytest.mark.parametrize("seed", range(4))
def test_lagrangian_bound_with_existing_schools_overflow_and_options(seed: int) -> None:
    model = random_model(seed)
    exact = model.solve(mode="exact", gap=0.0, time_limit_s=30)
    assert exact.status == "optimal"
    split = model.solve(mode="split", gap=0.0, time_limit_s=30)
    lag = lagrangian_bound(model._d, max_seconds=2.0, upper=exact.objective)
    assert lag.bound <= split.objective + 1e-6 * abs(split.objective)
    assert lag.bound <= exact.objective + 1e-6 * abs(exact.objective)


def test_round_with_the_interchange_first_keeps_a_certified_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    import siting.model.modes as modes

    monkeypatch.setattr(modes, "_LARGE_ARCS", 0)  # the large-model path on a small model
    rng = np.random.default_rng(3)
    clients = rng.uniform(0, 10, 7).round(2).tolist()
    weights = rng.integers(1, 6, 7).astype(float).tolist()
    model = line_pmedian(clients, [1.0, 3.0, 5.0, 7.0, 9.0], 1.3 * sum(weights) / 2, 2, weights)
    optimum = brute_force(model)
    res = model.solve(mode="round", gap=1e-6, time_limit_s=10)
    assert_valid(model, res)
    assert res.bound <= optimum + 1e-7 * optimum <= res.objective + 2e-7 * optimum
    assert res.gap == pytest.approx((res.objective - res.bound) / res.objective)
    assert res.status == ("optimal" if res.gap <= 1e-6 else "feasible")  # honest either way


def test_round_without_a_relaxation_answer_reports_the_lagrangian_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import siting.model.modes as modes

    monkeypatch.setattr(modes, "_LARGE_ARCS", 10**9)  # no interchange first: the rescue path
    real = modes.solve_program
    calls = []

    def no_answer(prog: object, **kw: object) -> SolveOutcome:
        calls.append(kw)
        if len(calls) == 1:  # the relaxation "hits its limit" without an incumbent or a bound
            return SolveOutcome(
                "not_solved", "Time limit reached", None, math.nan, math.nan, math.nan, 1.0, "highs"
            )
        return real(prog, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(modes, "solve_program", no_answer)
    model = line_pmedian([0.0, 1.0, 2.0, 8.0, 9.0, 10.0], [0.5, 1.5, 8.5, 9.5, 5.0], 4.0, 2)
    optimum = brute_force(model)
    res = model.solve(mode="round", gap=1e-9, time_limit_s=10)
    assert res.status in ("feasible", "optimal")
    assert_valid(model, res)
    assert "interchange" in res.solver_status
    assert math.isfinite(res.bound) and res.bound <= optimum + 1e-7 * optimum
    assert res.objective >= optimum - 1e-9
    if res.status == "optimal":
        assert res.gap <= 1e-9
    else:
        assert res.gap > 1e-9


def test_interchange_opens_sites_when_the_start_has_too_few_seats() -> None:
    # facility location (no count of sites): the start opens one site of 2 seats for 4 clients; the
    # interchange opens the cheapest seats until everyone fits, then the optimum by enumeration
    clients, sites = [0.0, 1.0, 9.0, 10.0], [0.5, 9.5, 5.0]
    rows = [(i, f"S{j}", "all", abs(c - s)) for i, c in enumerate(clients) for j, s in enumerate(sites)]
    arcs = pd.DataFrame(rows, columns=["unit_id", "school_id", "level", "cost"])
    demand = pd.DataFrame({"all": 1.0}, index=range(4))
    ids = ["S0", "S1", "S2"]
    cap = pd.DataFrame({"all": 0.0}, index=ids)
    options = pd.DataFrame(
        {"school_id": ids, "option": "open", "fixed_cost": [3.0, 3.0, 1.0], "capacity_all": 2.0}
    )
    model = SitingModel.from_costs(arcs, demand, cap, options=options, overflow_penalty=None)
    out = interchange(model._d, model.program(), start_with(model, ["S2"]), 5.0)
    assert out.x is not None
    # by enumeration: S0 and S1 cost 6 + 4 × 0.5 = 8; any plan with S2 costs more
    best = math.inf
    for open_ in [("S0", "S1"), ("S0", "S2"), ("S1", "S2"), ("S0", "S1", "S2")]:
        fixed = sum({"S0": 3.0, "S1": 3.0, "S2": 1.0}[s] for s in open_)
        pos = [sites[int(s[1])] for s in open_]
        for choice in itertools.product(range(len(open_)), repeat=4):
            if max(choice.count(j) for j in range(len(open_))) <= 2:
                best = min(best, fixed + sum(abs(c - pos[j]) for c, j in zip(clients, choice, strict=True)))
    assert out.objective == pytest.approx(best) == pytest.approx(8.0)


def test_volume_algorithm_reaches_the_lp_bound_and_continues_it() -> None:
    # with the linking rows x <= y the LP relaxation equals the Lagrangian dual of the assignment rows,
    # so steps that converge end close below it; plain subgradient steps stopped about 0.4 % below
    inst = capacitated_pmedian(150, 20, 4, 3)
    model = SitingModel.from_costs(**to_model_inputs(inst), exactly_new=4, overflow_penalty=None)
    prog = build_program(model._d)
    lp = solve_program(prog.with_bounds(prog.lb, prog.ub, np.zeros_like(prog.integer)), gap=0.0).objective
    first = lagrangian_bound(model._d, max_seconds=120.0, max_iter=300)
    more = lagrangian_bound(model._d, max_seconds=120.0, max_iter=1500, start=first)
    assert first.bound <= more.bound <= lp + 1e-6 * lp  # valid, and never lower after continuing
    assert more.bound >= (1 - 1e-4) * lp
    assert more.iterations <= 1500


@pytest.mark.parametrize("seed", range(3))
def test_lagrangian_bound_of_facility_location_is_below_the_optimum(seed: int) -> None:
    # fixed costs and no count of sites: the subproblem opens every site of negative score
    inst = capacitated_facility_location(40, 8, seed)
    model = SitingModel.from_costs(**to_model_inputs(inst), overflow_penalty=None)
    exact = model.solve(mode="exact", gap=0.0, time_limit_s=60)
    assert exact.status == "optimal"
    lag = lagrangian_bound(model._d, max_seconds=60.0, max_iter=2000)
    assert lag.bound <= exact.objective + 1e-7 * exact.objective
    assert lag.bound >= 0.9 * exact.objective


@pytest.mark.parametrize("seed", [3, 5, 8])
def test_certified_interchange_answer_skips_the_relaxation(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    import siting.model.modes as modes

    monkeypatch.setattr(modes, "_LARGE_ARCS", 0)  # the large-model path on a small model
    monkeypatch.setattr(modes, "lp_first_applies", lambda *a: False)

    def no_mip(prog: object, **kw: object) -> SolveOutcome:
        raise AssertionError("the relaxation's MIP ran although the interchange was certified")

    monkeypatch.setattr(modes, "solve_program", no_mip)
    rng = np.random.default_rng(seed)
    clients = rng.uniform(0, 10, 8).round(2).tolist()
    weights = rng.integers(1, 6, 8).astype(float).tolist()
    model = line_pmedian(clients, [1.0, 3.0, 5.0, 7.0, 9.0], 1.5 * sum(weights) / 2, 2, weights)
    optimum = brute_force(model)
    res = model.solve(mode="round", gap=0.1, time_limit_s=10)
    assert_valid(model, res)
    assert "relaxation skipped" in res.solver_status
    assert res.status == "optimal" and res.gap <= 0.1
    assert res.bound <= optimum + 1e-7 * optimum <= res.objective + 2e-7 * optimum


def test_strengthen_first_keeps_the_better_answer_and_the_larger_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import siting.model.modes as modes

    def outcome(objective: float, bound: float, words: str) -> SolveOutcome:
        x = np.full(3, objective)
        return SolveOutcome("feasible", words, x, objective, bound, math.nan, 1.0, "interchange")

    for ours, theirs, want_obj, want_bound in [
        ((10.0, 9.0), (11.0, 7.0), 10.0, 9.0),  # the interchange wins both
        ((12.0, 6.0), (11.0, 8.0), 11.0, 8.0),  # LP first wins both
        ((12.0, 9.0), (11.0, 7.0), 11.0, 9.0),  # LP first's answer, the Lagrangian's bound
    ]:
        monkeypatch.setattr(modes, "strengthen", lambda *a, _o=ours, **k: (outcome(*_o, "interchange"), None))
        out, _ = modes._strengthen_first({}, None, outcome(*theirs, "LP first"), None, "round")  # type: ignore[arg-type]
        assert (out.objective, out.bound) == (want_obj, want_bound)
        assert out.x is not None and out.x[0] == want_obj  # the answer goes with its objective
        assert out.seconds == 2.0  # both steps' time
