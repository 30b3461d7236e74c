"""Arc pricing (issue 17): reduced costs from LP duals, the optimum recovered, bounds valid for all arcs."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from benchmarks._generated import capacitated_pmedian
from benchmarks._instances import to_model_inputs
from siting.model import SitingModel
from siting.model import pricing as pricing_mod
from siting.model.pricing import nearest_arcs, price_arcs, restricted_model
from siting.model.program import arc_duals, build_program
from siting.model.solvers import solve_program


def _pmedian(n: int, m: int, p: int, seed: int) -> tuple[SitingModel, object]:
    inst = capacitated_pmedian(n, m, p, seed)
    model = SitingModel.from_costs(**to_model_inputs(inst), exactly_new=p, overflow_penalty=None)
    return model, inst


def _brute_force(inst: object) -> float:
    """Least single-source cost of a capacitated p-median instance, by enumerating every answer."""
    cost, dem, cap, p = inst.cost, inst.demand, inst.capacity, inst.p
    m, n = cost.shape
    best = np.inf
    for sites in itertools.combinations(range(m), p):
        for pick in itertools.product(range(p), repeat=n):
            load = np.zeros(p)
            np.add.at(load, np.array(pick), dem)
            if (load <= cap[list(sites)] + 1e-9).all():
                best = min(best, sum(cost[sites[j], i] for i, j in enumerate(pick)))
    return float(best)


def _lp_value(model: SitingModel) -> float:
    prog = build_program(model._d)
    lp = solve_program(prog.with_bounds(prog.lb, prog.ub, np.zeros_like(prog.integer)), gap=0.0)
    return lp.objective


def test_reduced_costs_follow_the_row_layout() -> None:
    """c - lam - d mu (arc_duals) equals c - A^T y on every arc (overflow, minimum loads, floors)."""
    rng = np.random.default_rng(3)
    units, schools = 30, 5
    arcs = pd.DataFrame(
        [(u, s, lv, float(rng.uniform(100, 3000))) for u in range(units) for s in range(schools)
         for lv in ("primary", "junior") if rng.random() < 0.7 or s == u % schools],
        columns=["unit_id", "school_id", "level", "cost"],
    )  # fmt: skip
    demand = pd.DataFrame(
        {"primary": rng.integers(1, 30, units).astype(float), "junior": rng.integers(1, 20, units)},
        index=pd.RangeIndex(units),
    )
    capacity = pd.DataFrame(
        {"primary": np.full(schools, 120.0), "junior": np.full(schools, 70.0)}, index=pd.RangeIndex(schools)
    )
    min_load = pd.DataFrame(
        {"primary": np.full(schools, 40.0), "junior": np.zeros(schools)}, index=pd.RangeIndex(schools)
    )
    model = SitingModel.from_costs(
        arcs, demand, capacity, overflow_penalty=5000.0, min_load=min_load,
        underuse_penalty=800.0, utilisation_floor=0.6, single_source=False,
    )  # fmt: skip
    d = model._d
    assert len(d["under_fl"]) and (d["min_load"] > 0).any()
    prog = build_program(d)
    lp = solve_program(prog.with_bounds(prog.lb, prog.ub, np.zeros_like(prog.integer)), gap=0.0)
    assert lp.status == "optimal" and lp.row_dual is not None
    n_arc = len(d["a_k"])
    expected = prog.c[:n_arc] - prog.a.T.tocsr()[:n_arc] @ lp.row_dual
    lam, mu = arc_duals(d, lp.row_dual)
    fl = d["a_f"] * d["base"].shape[1] + d["k_l"][d["a_k"]]
    got = d["a_cost"] + d["a_dis"] - lam[d["a_k"]] - d["k_d"][d["a_k"]] * mu[fl]
    np.testing.assert_allclose(got, expected, atol=1e-6 * np.abs(prog.c[:n_arc]).max())
    below = got < -1e-6 * np.abs(prog.c).max()  # optimality: only arcs at their upper bound 1
    assert below.any() and (lp.x[:n_arc][below] > 1 - 1e-6).all()


def test_pricing_recovers_the_optimum_the_nearest_arcs_miss() -> None:
    """Each client's 3 nearest of 10 sites miss the optimum (6 % dearer); pricing gets it, bound below it."""
    model, _ = _pmedian(40, 10, 5, 2)
    full = model.solve(mode="exact", gap=1e-9, time_limit_s=60, threads=1)
    assert full.status == "optimal"
    keep = nearest_arcs(model._d, 3)
    near = restricted_model(model, keep, None).solve(mode="exact", gap=1e-9, time_limit_s=60, threads=1)
    assert near.objective > full.objective * 1.05
    priced = price_arcs(model._d, keep, 3, 30.0, 1)
    assert priced is not None and priced.converged and not priced.keep.all()
    sub = restricted_model(model, priced.keep, priced.prog)
    res = sub.solve(mode="exact", gap=1e-9, time_limit_s=60, threads=1)
    assert res.objective == pytest.approx(full.objective, rel=1e-9)
    assert priced.lp_value == pytest.approx(_lp_value(model), rel=1e-7)
    assert priced.full_bound(res.bound) <= full.objective * (1 + 1e-9)
    assert priced.bound <= full.objective


@pytest.mark.parametrize("seed", range(6))
def test_bounds_are_valid_against_brute_force(seed: int) -> None:
    """On 7 clients x 4 sites (p 2) every bound the pricing gives is at most the enumerated optimum."""
    model, inst = _pmedian(7, 4, 2, seed)
    best = _brute_force(inst)
    priced = price_arcs(model._d, nearest_arcs(model._d, 1), 1, 30.0, 1, extra=0.0)
    assert priced is not None
    assert priced.bound <= best * (1 + 1e-9)
    sub = restricted_model(model, priced.keep, priced.prog)
    res = sub.solve(mode="exact", gap=1e-9, time_limit_s=30, threads=1)
    if res.status != "infeasible":
        assert res.objective >= best * (1 - 1e-9)
        assert priced.full_bound(res.bound) <= best * (1 + 1e-9)
    if priced.converged:
        assert priced.lp_value == pytest.approx(_lp_value(model), rel=1e-7)


def test_priced_solve_is_honest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through SitingModel.solve: the priced path answers, its bound is below the optimum, status honest."""
    model, _ = _pmedian(60, 12, 6, 0)
    full = model.solve(mode="exact", gap=1e-9, time_limit_s=60, threads=1)
    monkeypatch.setattr(pricing_mod, "PRICE_ARCS", 0)
    monkeypatch.setattr(pricing_mod, "DENSE", 1)
    monkeypatch.setattr(pricing_mod, "OPEN_REACHED", 1)
    for mode in ("round", "exact"):
        res = model.solve(mode=mode, gap=1e-9, time_limit_s=30, threads=1)
        assert res.solver_status.startswith("arc pricing")
        assert res.bound <= full.objective * (1 + 1e-9)
        assert res.objective >= full.objective * (1 - 1e-9)
        assert res.status == ("optimal" if res.gap <= 1e-9 else "feasible")
        check = model.check(res)
        assert check["max_capacity_excess"] <= 1e-6 and check["max_coverage_error"] <= 1e-6
        assert check["objective"] == pytest.approx(res.objective, rel=1e-9)
        assert len(res._x) == model.program().shape[1]


def test_interchange_first_reaches_every_pair_on_few_arcs() -> None:
    """Each client may use only its 8 nearest of 30 sites; a start of 6 sites in one corner leaves most
    clients without an open site. The interchange first swaps sites until every client reaches one, then
    returns a valid answer (it returned none before: the first assignment LP was infeasible)."""
    from benchmarks.bench_generated import model_inputs
    from siting.model.interchange import interchange

    model = SitingModel.from_costs(**model_inputs("300x30p6n8"), overflow_penalty=None)
    d = model._d
    prog = model.program()
    sites = np.asarray(model_inputs("300x30p6n8")["options"]["school_id"])
    corner = np.argsort(np.arange(len(sites)))[:6]  # sites 0-5: some clients' 8 nearest miss all of them
    x = np.zeros(prog.shape[1])
    x[len(d["a_k"]) + corner] = 1.0
    reach = np.zeros(len(d["k_d"]))
    np.add.at(reach, d["a_k"], np.isin(d["a_f"], corner))
    assert (reach == 0).any()
    out = interchange(d, prog, x, 20.0)
    assert out.x is not None
    assert out.x[len(d["a_k"]) : len(d["a_k"]) + len(d["o_f"])].sum() == 6
    check = model.check(model.solve(mode="round", time_limit_s=20, threads=1))
    assert check["max_capacity_excess"] <= 1e-6 and check["max_coverage_error"] <= 1e-6
