"""Tests of siting.model: hand-checked optima, honest statuses, and properties under hypothesis."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siting.errors import InfeasibleError, InputError
from siting.model import SitingModel, SitingResult, walk_cost_m
from siting.standards import Standards

# ----------------------------------------------------------------------------------------- builders


def three_two() -> SitingModel:
    """3 units (10, 20, 30 pupils), 2 existing schools (capacity 25 and 40)."""
    arcs = pd.DataFrame(
        {
            "unit_id": [1, 1, 2, 2, 3, 3],
            "school_id": ["A", "B"] * 3,
            "level": "primary",
            "cost": [10.0, 30.0, 20.0, 20.0, 40.0, 10.0],
        }
    )
    demand = pd.DataFrame({"primary": [10.0, 20.0, 30.0]}, index=[1, 2, 3])
    cap = pd.DataFrame({"primary": [25.0, 40.0]}, index=["A", "B"])
    return SitingModel.from_costs(arcs, demand, cap, shortfall_penalty=100.0)


def random_model(seed: int, *, n_units: int = 12, n_sites: int = 4, n_existing: int = 2) -> SitingModel:
    """A small random two-level model with sites (options), existing schools and shortfall."""
    rng = np.random.default_rng(seed)
    schools = [f"E{j}" for j in range(n_existing)] + [f"S{j}" for j in range(n_sites)]
    levels = ["primary", "junior"]
    demand = pd.DataFrame(rng.integers(0, 40, size=(n_units, 2)).astype(float), columns=levels)
    cap = pd.DataFrame(0.0, index=schools, columns=levels)
    cap.iloc[:n_existing] = rng.integers(20, 120, size=(n_existing, 2)).astype(float)
    rows = []
    for u in range(n_units):
        for s in schools:
            for lv in levels:
                if rng.random() < 0.7:
                    rows.append((u, s, lv, float(rng.integers(1, 100)) * demand.loc[u, lv] / 10))
    arcs = pd.DataFrame(rows, columns=["unit_id", "school_id", "level", "cost"])
    opts = []
    for s in schools[n_existing:]:
        for k, size in enumerate((60.0, 120.0)):
            opts.append((s, f"o{k}", 200.0 + 150.0 * k, size, size / 2))
    for s in schools[:n_existing]:
        opts.append((s, "+x", 150.0, 30.0, 30.0))
    options = pd.DataFrame(
        opts, columns=["school_id", "option", "fixed_cost", "capacity_primary", "capacity_junior"]
    )
    return SitingModel.from_costs(
        arcs, demand, cap, options=options, max_new=2, shortfall_penalty=50.0, single_source=True
    )


def tiny_city(**kwargs: object) -> SitingModel:
    """A scenario-level model: 2 units, one existing primary school A (current) and school B."""
    units = pd.DataFrame(
        {
            "primary": [10.0, 0.0],
            "junior": [0.0, 0.0],
            "current_primary": ["A", None],
            "current_junior": [None, None],
        },
        index=pd.Index([1, 2], name="unit_id"),
    )
    schools = pd.DataFrame(
        {
            "level": ["primary", "primary"],
            "status": ["existing", "existing"],
            "capacity_primary": [100.0, 100.0],
            "capacity_junior": [0.0, 0.0],
            "enrolled_primary": [10.0, 0.0],
            "enrolled_junior": [0.0, 0.0],
        },
        index=pd.Index(["A", "B"], name="school_id"),
    )
    costs = pd.DataFrame(
        {"unit_id": [1, 1], "school_id": ["A", "B"], "distance_m": [400.0, 300.0], "time_s": [400.0, 300.0]}
    )
    return SitingModel.from_scenario(units, schools, None, costs, standards=Standards.foshan(), **kwargs)


def assert_valid(model: SitingModel, res: SitingResult) -> None:
    """The properties every answer must have."""
    chk = model.check(res)
    assert chk["max_capacity_excess"] <= 1e-6
    assert chk["max_coverage_error"] <= 1e-6
    assert chk["unknown_arcs"] == 0
    assert chk["options_per_school"] <= 1
    assert chk["objective"] == pytest.approx(res.objective, rel=1e-9, abs=1e-6)
    assert sum(res.objective_parts.values()) == pytest.approx(res.objective, rel=1e-9, abs=1e-6)
    if res.mode != "split":
        assert chk["max_sources"] <= 1


# ----------------------------------------------------------------------------------------- hand-checked


def test_three_units_two_schools_by_hand() -> None:
    # single source: unit 3 (30) only fits B; then B has 10 left so unit 2 (20) goes to A; unit 1 to B.
    model = three_two()
    exact = model.solve(mode="exact")
    assert exact.status == "optimal"
    assert exact.objective == pytest.approx(60.0)
    got = dict(zip(exact.assignment["unit_id"], exact.assignment["school_id"], strict=True))
    assert got == {1: "B", 2: "A", 3: "B"}
    # split: unit 2 splits 10/10 and everyone is at their cheaper school: 10 + 20 + 10 = 40
    split = model.solve(mode="split")
    assert split.objective == pytest.approx(40.0)
    assert len(split.assignment) == 4
    # round: the bound is the split optimum, the rounded answer is the exact one, the gap certified 1/3
    rnd = model.solve(mode="round")
    assert rnd.objective == pytest.approx(60.0)
    assert rnd.bound == pytest.approx(40.0)
    assert rnd.gap == pytest.approx(1 / 3)
    assert rnd.n_split_rounded == 1
    assert rnd.status == "feasible"  # 33 % is above the requested gap: never called optimal
    for res in (exact, split, rnd):
        assert_valid(model, res)


def test_disruption_penalty_keeps_the_current_school() -> None:
    # free redraw: 10 pupils walk 300 m to B instead of 400 m to A
    free = tiny_city(disruption_m=0.0).solve(mode="exact")
    assert free.assignment["school_id"].tolist() == ["B"]
    assert free.objective == pytest.approx(10 * 300.0)
    # 300 m per moved pupil: B costs 10·(300 + 300) > A's 10·400, so the unit stays
    kept = tiny_city(disruption_m=300.0).solve(mode="exact")
    assert kept.assignment["school_id"].tolist() == ["A"]
    assert kept.objective == pytest.approx(10 * 400.0)
    assert kept.objective_parts["disruption"] == 0.0
    # 50 m per moved pupil is not enough to keep it: 10·(300 + 50) < 4000
    cheap = tiny_city(disruption_m=50.0).solve(mode="exact")
    assert cheap.assignment["school_id"].tolist() == ["B"]
    assert cheap.objective_parts["disruption"] == pytest.approx(500.0)


def test_far_penalty_beyond_the_soft_radius() -> None:
    d = np.array([300.0, 500.0, 700.0])
    assert walk_cost_m(d, 500.0, 3.0).tolist() == [300.0, 500.0, 1100.0]


def test_shortfall_is_reported_with_its_penalty() -> None:
    arcs = pd.DataFrame({"unit_id": [1], "school_id": ["A"], "level": "p", "cost": [500.0]})
    demand = pd.DataFrame({"p": [50.0]}, index=[1])
    cap = pd.DataFrame({"p": [30.0]}, index=["A"])
    model = SitingModel.from_costs(arcs, demand, cap, shortfall_penalty=100.0)
    split = model.solve(mode="split")
    # 30 of 50 pupils served at 10 per pupil, 20 short at 100 each
    assert split.objective == pytest.approx(0.6 * 500.0 + 20 * 100.0)
    assert split.shortfall["pupils"].tolist() == pytest.approx([20.0])
    assert split.objective_parts["shortfall"] == pytest.approx(2000.0)
    # single source: the unit still goes to its one school, which seats 30; the other 20 are short
    # (a catchment names one school; what it cannot seat is reported, not the whole unit)
    for mode in ("exact", "round"):
        single = model.solve(mode=mode)
        assert single.objective == pytest.approx(2300.0), mode
        assert single.assignment["school_id"].tolist() == ["A"]
        assert single.assignment["pupils"].tolist() == pytest.approx([30.0])
        assert single.shortfall["pupils"].tolist() == pytest.approx([20.0])
        assert single.gap == pytest.approx(0.0, abs=1e-9)
        assert_valid(model, single)
    assert_valid(model, split)


def test_single_source_with_shortfall_uses_one_school_and_reports_the_rest() -> None:
    # 50 pupils, two schools of 30 seats: splitting seats everyone, one school per unit seats 30
    arcs = pd.DataFrame({"unit_id": [1, 1], "school_id": ["A", "B"], "level": "p", "cost": [500.0, 1000.0]})
    demand = pd.DataFrame({"p": [50.0]}, index=[1])
    cap = pd.DataFrame({"p": [30.0, 30.0]}, index=["A", "B"])
    model = SitingModel.from_costs(arcs, demand, cap, shortfall_penalty=100.0)
    split = model.solve(mode="split")
    assert split.objective == pytest.approx(0.6 * 500.0 + 0.4 * 1000.0)
    assert split.shortfall.empty or split.shortfall["pupils"].sum() == pytest.approx(0.0)
    for mode in ("exact", "round"):
        single = model.solve(mode=mode)
        assert len(single.assignment) == 1 and single.assignment["school_id"].iloc[0] == "A", mode
        assert single.objective == pytest.approx(0.6 * 500.0 + 20 * 100.0), mode
        assert single.shortfall["pupils"].sum() == pytest.approx(20.0), mode
        assert_valid(model, single)


def test_presolve_infeasibility_names_the_numbers() -> None:
    arcs = pd.DataFrame({"unit_id": [1, 1], "school_id": ["A", "S"], "level": "primary", "cost": [1.0, 1.0]})
    demand = pd.DataFrame({"primary": [45_000.0]}, index=[1])
    cap = pd.DataFrame({"primary": [40_000.0, 0.0]}, index=["A", "S"])
    options = pd.DataFrame(
        {
            "school_id": ["S", "S"],
            "option": ["a", "b"],
            "fixed_cost": [1.0, 2.0],
            "capacity_primary": [600.0, 1200.0],
        }
    )
    with pytest.raises(
        InfeasibleError, match=r"largest possible capacity 41,200 seats is below the demand 45,000"
    ):
        SitingModel.from_costs(arcs, demand, cap, options=options, shortfall_penalty=None)
    # the same with shortfall allowed builds and reports 3,800 short
    model = SitingModel.from_costs(
        arcs, demand, cap, options=options, shortfall_penalty=10.0, single_source=False
    )
    res = model.solve()
    assert res.shortfall["pupils"].sum() == pytest.approx(3800.0)


def test_unreachable_unit_without_shortfall_is_refused() -> None:
    arcs = pd.DataFrame({"unit_id": [1], "school_id": ["A"], "level": "p", "cost": [1.0]})
    demand = pd.DataFrame({"p": [5.0, 7.0]}, index=[1, 2])
    cap = pd.DataFrame({"p": [100.0]}, index=["A"])
    with pytest.raises(InfeasibleError, match=r"can reach no school.*units 2"):
        SitingModel.from_costs(arcs, demand, cap, shortfall_penalty=None)


def test_bad_inputs_raise_clear_errors() -> None:
    arcs = pd.DataFrame({"unit_id": [1], "school_id": ["Z"], "level": "p", "cost": [1.0]})
    demand = pd.DataFrame({"p": [5.0]}, index=[1])
    cap = pd.DataFrame({"p": [100.0]}, index=["A"])
    with pytest.raises(InputError, match=r"unknown unit, school or level.*'Z'"):
        SitingModel.from_costs(arcs, demand, cap)
    with pytest.raises(InputError, match="lacks column"):
        SitingModel.from_costs(arcs.drop(columns="cost"), demand, cap)
    model = SitingModel.from_costs(arcs.assign(school_id="A"), demand, cap)
    with pytest.raises(InputError, match="mode must be one of"):
        model.solve(mode="fast")


def test_nine_year_school_serves_both_levels_from_its_own_capacities() -> None:
    units = pd.DataFrame(
        {"primary": [15.0, 15.0], "junior": [10.0, 0.0]},
        index=pd.Index([1, 2], name="unit_id"),
    )
    schools = pd.DataFrame(
        {
            "level": ["nine_year", "primary"],
            "status": ["existing", "existing"],
            "capacity_primary": [20.0, 100.0],
            "capacity_junior": [10.0, 500.0],  # a primary school's junior seats are never used
        },
        index=pd.Index(["N", "P"], name="school_id"),
    )
    costs = pd.DataFrame(
        {
            "unit_id": [1, 1, 2, 2],
            "school_id": ["N", "P", "N", "P"],
            "distance_m": [100.0, 900.0, 100.0, 900.0],
        }
    )
    model = SitingModel.from_scenario(
        units, schools, None, costs, standards=Standards.foshan(), shortfall_m=1e5
    )
    res = model.solve(mode="exact")
    junior = res.assignment[res.assignment["level"] == "junior"]
    assert junior["school_id"].tolist() == ["N"]
    primary = res.assignment[res.assignment["level"] == "primary"]
    # only one of the two 15-pupil units fits in N's 20 primary seats
    assert sorted(primary["school_id"].tolist()) == ["N", "P"]
    assert res.shortfall.empty
    assert_valid(model, res)


def site_city(demand: float, **kwargs: object) -> SitingModel:
    units = pd.DataFrame({"primary": [demand], "junior": [0.0]}, index=pd.Index([1], name="unit_id"))
    schools = pd.DataFrame(
        {"level": ["primary"], "status": ["site"], "capacity_primary": [0.0], "capacity_junior": [0.0]},
        index=pd.Index(["S"], name="school_id"),
    )
    options = pd.DataFrame(
        {
            "school_id": ["S", "S"],
            "option": ["24P", "30P"],
            "capacity_primary": [1080.0, 1350.0],
            "capacity_junior": [0.0, 0.0],
            "cost_yuan": [1.0e6, 1.2e6],
        }
    )
    costs = pd.DataFrame({"unit_id": [1], "school_id": ["S"], "distance_m": [200.0]})
    return SitingModel.from_scenario(units, schools, options, costs, standards=Standards.foshan(), **kwargs)


def test_site_opens_at_exactly_one_size() -> None:
    res = site_city(1200.0).solve(mode="exact")
    assert res.opened.index.tolist() == ["S"]
    assert res.opened["option"].tolist() == ["30P"]
    assert res.objective_parts["building"] == pytest.approx(0.001 * 1.2e6)
    # 2,000 pupils: never two options at once (1,080 + 1,350); the unit is short instead
    big = site_city(2000.0, single_source=False)
    res2 = big.solve()
    assert len(res2.opened) == 1
    assert res2.shortfall["pupils"].sum() == pytest.approx(650.0)
    assert_valid(big, res2)


def test_site_not_available_in_the_design_year_cannot_open() -> None:
    units = pd.DataFrame({"primary": [100.0], "junior": [0.0]}, index=pd.Index([1], name="unit_id"))
    schools = pd.DataFrame(
        {
            "level": ["primary"],
            "status": ["site"],
            "capacity_primary": [0.0],
            "capacity_junior": [0.0],
            "available_from": [2032],
        },
        index=pd.Index(["S"], name="school_id"),
    )
    options = pd.DataFrame(
        {
            "school_id": ["S"],
            "option": ["24P"],
            "capacity_primary": [1080.0],
            "capacity_junior": [0.0],
            "cost_yuan": [1.0],
        }
    )
    costs = pd.DataFrame({"unit_id": [1], "school_id": ["S"], "distance_m": [200.0]})
    std = Standards.foshan()
    late = SitingModel.from_scenario(units, schools, options, costs, standards=std, design_year=2030).solve()
    assert late.opened.empty
    assert late.shortfall["pupils"].sum() == pytest.approx(100.0)
    ok = SitingModel.from_scenario(units, schools, options, costs, standards=std, design_year=2035).solve()
    assert ok.opened.index.tolist() == ["S"]


def limits_model(**kwargs: object) -> SitingModel:
    """Three sites, each next to its own 100-pupil unit; elsewhere only via shortfall."""
    arcs = pd.DataFrame(
        {"unit_id": [0, 1, 2], "school_id": ["S0", "S1", "S2"], "level": "p", "cost": [100.0] * 3}
    )
    demand = pd.DataFrame({"p": [100.0, 100.0, 100.0]}, index=[0, 1, 2])
    cap = pd.DataFrame({"p": [0.0, 0.0, 0.0]}, index=["S0", "S1", "S2"])
    options = pd.DataFrame(
        {
            "school_id": ["S0", "S1", "S2"],
            "option": ["x"] * 3,
            "fixed_cost": [10.0, 20.0, 30.0],
            "budget_cost": [1.0e6, 1.0e6, 1.0e6],
            "capacity_p": [100.0] * 3,
        }
    )
    return SitingModel.from_costs(arcs, demand, cap, options=options, shortfall_penalty=1000.0, **kwargs)


def test_max_new_and_budget_limits() -> None:
    assert len(limits_model().solve().opened) == 3
    two = limits_model(max_new=2).solve()
    assert sorted(two.opened.index) == ["S0", "S1"]  # the cheaper two
    assert two.shortfall["pupils"].sum() == pytest.approx(100.0)
    one = limits_model(budget=1.5e6).solve()
    assert one.opened.index.tolist() == ["S0"]
    assert limits_model(max_open=1).solve().opened.index.tolist() == ["S0"]
    forced = limits_model(max_new=1, force_open=["S2"]).solve()
    assert forced.opened.index.tolist() == ["S2"]
    assert len(limits_model(exactly_new=2).solve().opened) == 2
    with pytest.raises(InfeasibleError, match="4 new facilities must open but only 3"):
        limits_model(exactly_new=4)


def test_min_enrolment_share_keeps_pupils_at_existing_schools() -> None:
    # with free redraw everyone would leave A for B; a 50 % minimum keeps 5 of 10 pupils... but the unit
    # is single-sourced, so the whole unit stays at A
    units = pd.DataFrame(
        {"primary": [10.0], "junior": [0.0], "current_primary": ["A"]}, index=pd.Index([1], name="unit_id")
    )
    schools = pd.DataFrame(
        {
            "level": ["primary", "primary"],
            "status": ["existing", "existing"],
            "capacity_primary": [100.0, 100.0],
            "capacity_junior": [0.0, 0.0],
            "enrolled_primary": [10.0, 0.0],
        },
        index=pd.Index(["A", "B"], name="school_id"),
    )
    costs = pd.DataFrame({"unit_id": [1, 1], "school_id": ["A", "B"], "distance_m": [400.0, 300.0]})
    std = Standards.foshan()
    kept = SitingModel.from_scenario(
        units, schools, None, costs, standards=std, disruption_m=0.0, min_enrolment_share=0.5
    ).solve(mode="exact")
    assert kept.assignment["school_id"].tolist() == ["A"]
    free = SitingModel.from_scenario(units, schools, None, costs, standards=std, disruption_m=0.0).solve(
        mode="exact"
    )
    assert free.assignment["school_id"].tolist() == ["B"]


def test_explain_reports_walk_before_and_after() -> None:
    units = pd.DataFrame(
        {"primary": [10.0, 30.0], "junior": [0.0, 0.0], "current_primary": ["A", "A"]},
        index=pd.Index([1, 2], name="unit_id"),
    )
    schools = pd.DataFrame(
        {
            "level": ["primary", "primary"],
            "status": ["existing", "site"],
            "capacity_primary": [100.0, 0.0],
            "capacity_junior": [0.0, 0.0],
        },
        index=pd.Index(["A", "S"], name="school_id"),
    )
    options = pd.DataFrame(
        {
            "school_id": ["S"],
            "option": ["24P"],
            "capacity_primary": [1080.0],
            "capacity_junior": [0.0],
            "cost_yuan": [1000.0],
        }
    )
    costs = pd.DataFrame(
        {
            "unit_id": [1, 1, 2, 2],
            "school_id": ["A", "S", "A", "S"],
            "distance_m": [1400.0, 200.0, 1200.0, 400.0],
        }
    )
    model = SitingModel.from_scenario(units, schools, options, costs, standards=Standards.foshan())
    res = model.solve(mode="exact")
    ex = res.explain()
    row = ex[ex["school_id"] == "S"].iloc[0]
    assert row["pupils"] == pytest.approx(40.0)
    assert row["walk_now_m"] == pytest.approx((10 * 1400 + 30 * 1200) / 40)
    assert row["walk_after_m"] == pytest.approx((10 * 200 + 30 * 400) / 40)
    assert row["disruption"] == pytest.approx(40 * 300.0)
    assert row["building"] == pytest.approx(1.0)
    assert row["distance"] == pytest.approx(10 * 200 + 30 * 400)
    summary = res.summary()
    assert summary["opened"] == {"S": "24P"}
    again = SitingResult.from_tables(
        summary=summary, opened=res.opened, assignment=res.assignment, shortfall=res.shortfall
    )
    assert again.objective == pytest.approx(res.objective)
    assert "SitingResult(status='optimal'" in repr(res)
    assert "<table>" in res._repr_html_()


def test_time_limited_solve_is_never_called_optimal() -> None:
    # capacities at 1.5x demand per site make it hard: 6 s leaves a 0.5 % gap on an idle machine (at 3x,
    # a fast machine proved it within 3 s and the test failed), so 2 s can prove it on no machine
    rng = np.random.default_rng(7)
    m, n = 80, 700
    xy_f, xy_c = rng.random((m, 2)), rng.random((n, 2))
    dist = np.sqrt(((xy_f[:, None, :] - xy_c[None, :, :]) ** 2).sum(axis=2))
    dem = rng.integers(5, 35, n).astype(float)
    arcs = pd.DataFrame(
        {
            "unit_id": np.tile(np.arange(n), m),
            "school_id": np.repeat(np.arange(m), n),
            "level": "p",
            "cost": (dist * 1000 * dem[None, :]).reshape(-1),
        }
    )
    demand = pd.DataFrame({"p": dem}, index=np.arange(n))
    cap = pd.DataFrame({"p": np.zeros(m)}, index=np.arange(m))
    options = pd.DataFrame(
        {
            "school_id": np.arange(m),
            "option": "o",
            "fixed_cost": rng.integers(500, 2000, m),
            "capacity_p": 1.5 * dem.sum() / m,
        }
    )
    model = SitingModel.from_costs(arcs, demand, cap, options=options)
    start = time.perf_counter()
    res = model.solve(mode="exact", time_limit_s=2.0, gap=0.0)
    assert time.perf_counter() - start < 20  # the limit was respected (building included)
    assert res.status in ("feasible", "not_solved")
    if res.status == "feasible":
        assert math.isfinite(res.gap) and res.gap > 0
        assert res.bound <= res.objective
        assert_valid(model, res)


# ----------------------------------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(["round", "exact", "split"]))
def test_answers_are_feasible_and_objective_recomputes(seed: int, mode: str) -> None:
    model = random_model(seed)
    res = model.solve(mode=mode)
    assert res.status in ("optimal", "feasible")
    assert_valid(model, res)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_round_agrees_with_exact(seed: int) -> None:
    model = random_model(seed)
    exact = model.solve(mode="exact", gap=0.0)
    rnd = model.solve(mode="round", gap=0.0)
    split = model.solve(mode="split", gap=0.0)
    assert split.objective <= exact.objective + 1e-6
    assert rnd.bound <= exact.objective + 1e-6  # the continuous optimum bounds the single-source one
    assert rnd.objective >= exact.objective - 1e-6
    assert rnd.gap == pytest.approx((rnd.objective - rnd.bound) / rnd.objective, abs=1e-9)
    if rnd.n_split_rounded == 0:
        assert rnd.objective == pytest.approx(exact.objective, rel=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_highs_and_cbc_through_pulp_give_the_same_objective(seed: int) -> None:
    model = random_model(seed)
    ref = model.solve(mode="exact", gap=0.0)
    for solver in ("cbc", "highs-pulp"):
        other = model.solve(mode="exact", gap=0.0, solver=solver)
        assert other.status == "optimal"
        assert other.solver == solver
        assert other.objective == pytest.approx(ref.objective, rel=1e-7)
        assert_valid(model, other)


def test_solves_with_different_thread_counts_in_one_process() -> None:
    # HiGHS keeps one thread pool per process and refuses a solve asking for another count ("Not Set")
    model = random_model(7)
    answers = [model.solve(mode="exact", gap=0.0, threads=t) for t in (None, 1, 2, 1, None)]
    answers.append(model.solve(mode="exact", gap=0.0, solver="highs-pulp", threads=2))
    assert [a.status for a in answers] == ["optimal"] * 6
    assert len({round(a.objective, 6) for a in answers}) == 1


def test_same_inputs_same_answer() -> None:
    a = random_model(42).solve()
    b = random_model(42).solve()
    pd.testing.assert_frame_equal(a.assignment, b.assignment)
    pd.testing.assert_frame_equal(a.opened, b.opened)
    assert a.objective == b.objective


@pytest.mark.parametrize("seed", [4, 5])
def test_lazy_linking_rows_give_the_same_optimum(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import siting.model.program as sm

    full = random_model(seed).solve(mode="exact", gap=0.0)
    monkeypatch.setattr(sm, "_LINK_ROWS_ALL", 0)  # force the LP-driven choice of linking rows
    model = random_model(seed)
    lazy = model.solve(mode="exact", gap=0.0)
    assert model._work is not None and model._work.shape[0] < model.program().shape[0]
    assert lazy.objective == pytest.approx(full.objective, rel=1e-9)
    assert_valid(model, lazy)
