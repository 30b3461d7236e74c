"""Tests of the multi-year model: hand-checked schedules, per-year limits, and the one-year special case."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from siting.errors import InputError
from siting.model import SitingModel
from siting.model.multiyear import years_from_costs
from siting.model.years_solve import solve_years

YEARS = (2025, 2026, 2027)


def two_sites(**kw):
    """Units 1 (100 pupils) and 2 (60) walk 10 per pupil to the existing school E; sites A and B are 1 away.

    Each site costs 1 yuan (1 objective unit); a budget of 1 yuan a year allows one opening a year. Opening
    A first saves 900 in its first year, B first only 540, so the known optimum is A in 2025, B in 2026:
    700 + 160 + 160 + 2 = 1,022 (both in 2025 would be 482, all the budget allowing).
    """
    per_pupil = {("1", "E"): 10.0, ("1", "A"): 1.0, ("2", "E"): 10.0, ("2", "B"): 1.0}
    size = {"1": 100.0, "2": 60.0}
    arcs = pd.DataFrame(
        [(u, s, "primary", c * size[u]) for (u, s), c in per_pupil.items()],
        columns=["unit_id", "school_id", "level", "cost"],
    )
    demand = {y: pd.DataFrame({"primary": [100.0, 60.0]}, index=["1", "2"]) for y in YEARS}
    capacity = pd.DataFrame({"primary": [1000.0, 0.0, 0.0]}, index=["E", "A", "B"])
    options = pd.DataFrame(
        {
            "school_id": ["A", "B"],
            "option": ["36P", "36P"],
            "fixed_cost": [1.0, 1.0],
            "budget_cost": [1.0, 1.0],
            "capacity_primary": [100.0, 100.0],
        }
    )
    kw.setdefault("budget_per_year", 1.0)
    return years_from_costs(arcs, demand, capacity, options=options, overflow_penalty=100.0, **kw)


def opening_years(result) -> dict[str, int]:
    return dict(zip(result.schedule["school_id"], result.schedule["opening_year"], strict=True))


def test_one_opening_a_year_opens_the_bigger_saving_first():
    result = solve_years(two_sites(), time_limit_s=20, gap=1e-6)
    assert result.status == "optimal"
    assert opening_years(result) == {"A": 2025, "B": 2026}
    assert result.objective == pytest.approx(1022.0)
    assert result.bound <= result.objective + 1e-6
    assert list(result.spend["spend_yuan"]) == [1.0, 1.0, 0.0]
    assert result.max_violation < 1e-6
    yearly = result.by_year("assignment")
    assert set(yearly.loc[(yearly["year"] == 2025) & (yearly["unit_id"] == "2"), "school_id"]) == {"E"}
    assert set(yearly.loc[(yearly["year"] == 2026) & (yearly["unit_id"] == "2"), "school_id"]) == {"B"}
    # each year's result is a single-year plan with that year's openings
    assert list(result.results[2025].opened.index) == ["A"]
    assert sorted(result.results[2027].opened.index) == ["A", "B"]


def test_without_a_yearly_budget_everything_opens_at_once():
    result = solve_years(two_sites(budget_per_year=None), time_limit_s=20, gap=1e-6)
    assert opening_years(result) == {"A": 2025, "B": 2025}
    assert result.objective == pytest.approx(482.0)


def test_a_site_never_opens_before_it_is_available():
    result = solve_years(two_sites(earliest_year={"A": 2027}), time_limit_s=20, gap=1e-6)
    # A may open only in 2027, so B takes the first year's budget
    assert opening_years(result) == {"B": 2025, "A": 2027}
    assert result.objective == pytest.approx((100 * 10 + 60) * 2 + 160 + 2)


def test_build_time_moves_openings_later_and_spend_earlier():
    result = solve_years(two_sites(build_years=1), time_limit_s=20, gap=1e-6)
    assert opening_years(result) == {"A": 2026, "B": 2027}
    assert dict(zip(result.schedule["school_id"], result.schedule["build_start_year"], strict=True)) == {
        "A": 2025,
        "B": 2026,
    }
    assert list(result.spend["spend_yuan"]) == [1.0, 1.0, 0.0]
    assert list(result.spend["openings"]) == [0, 1, 1]


def test_openings_per_year_limit():
    result = solve_years(two_sites(budget_per_year=None, max_openings_per_year=1), time_limit_s=20, gap=1e-6)
    assert opening_years(result) == {"A": 2025, "B": 2026}


def test_a_total_budget_with_yearly_ones():
    result = solve_years(two_sites(budget=1.0), time_limit_s=20, gap=1e-6)
    assert opening_years(result) == {"A": 2025}


def test_catchments_change_only_at_a_cost():
    """Unit 1 (80 pupils) fits E (capacity 100) with unit 2 (30) only from 2026, when unit 2 shrinks to 20.

    Without a change cost unit 1 sits at the far school F in 2025 and moves to E in 2026; with a high one it
    stays at F every year.
    """
    arcs = pd.DataFrame(
        [("1", "E", "primary", 80.0), ("1", "F", "primary", 160.0), ("2", "E", "primary", 30.0)],
        columns=["unit_id", "school_id", "level", "cost"],
    )
    demand = {
        2025: pd.DataFrame({"primary": [80.0, 30.0]}, index=["1", "2"]),
        2026: pd.DataFrame({"primary": [80.0, 20.0]}, index=["1", "2"]),
    }
    capacity = pd.DataFrame({"primary": [100.0, 500.0]}, index=["E", "F"])
    free = solve_years(
        years_from_costs(arcs, demand, capacity, overflow_penalty=1e4), time_limit_s=20, gap=1e-6
    )
    moves = free.by_year("assignment").query("unit_id == '1'").set_index("year")["school_id"]
    assert moves.to_dict() == {2025: "F", 2026: "E"}
    sticky = solve_years(
        years_from_costs(arcs, demand, capacity, overflow_penalty=1e4, change_cost=10.0), time_limit_s=20
    )
    stays = sticky.by_year("assignment").query("unit_id == '1'").set_index("year")["school_id"]
    assert stays.to_dict() == {2025: "F", 2026: "F"}
    assert sticky.objective_parts["change"] == 0.0
    assert free.objective_parts["change"] == 0.0  # no charge without a change cost
    assert sticky.objective == pytest.approx(160 + 30 + 160 + 20) and sticky.status == "optimal"
    assert free.objective == pytest.approx(160 + 30 + 80 + 20)


@pytest.mark.parametrize("floor", [{}, {"underuse_penalty": 40.0, "utilisation_floor": 1.0}])
def test_one_year_is_the_single_year_model(floor):
    rng = np.random.default_rng(3)
    schools = ["E0", "E1", "S0", "S1", "S2"]
    demand = pd.DataFrame({"primary": rng.integers(5, 40, 15).astype(float)})
    cap = pd.DataFrame({"primary": [120.0, 80.0, 0.0, 0.0, 0.0]}, index=schools)
    arcs = pd.DataFrame(
        [
            (u, s, "primary", float(rng.integers(1, 60)) * demand.loc[u, "primary"])
            for u in demand.index
            for s in schools
            if s == "E0" or rng.random() < 0.6
        ],
        columns=["unit_id", "school_id", "level", "cost"],
    )
    options = pd.DataFrame(
        {
            "school_id": ["S0", "S1", "S2"],
            "option": "o",
            "fixed_cost": [300.0, 250.0, 200.0],
            "capacity_primary": [90.0, 90.0, 90.0],
        }
    )
    # with and without the utilisation floor (balanced development): the same answer either way
    common = {"options": options, "overflow_penalty": 500.0, "max_new": 2, **floor}
    single = SitingModel.from_costs(arcs, demand, cap, **common)
    one = single.solve(time_limit_s=20, gap=1e-6, mode="exact")
    years = solve_years(
        years_from_costs(arcs, {2030: demand}, cap, **common),
        time_limit_s=20,
        gap=1e-6,
    )
    assert years.objective == pytest.approx(one.objective, rel=1e-6)
    assert years.status == "optimal" and years.years == (2030,)
    assert sum(years.objective_parts.values()) == pytest.approx(years.objective, rel=1e-9)
    assert sorted(years.results[2030].opened.index) == sorted(one.opened.index)
    if floor:
        assert one.objective_parts["underuse"] > 0  # the floor binds somewhere: the case tests it
        assert years.results[2030].objective_parts["underuse"] == pytest.approx(
            one.objective_parts["underuse"]
        )


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"build_years": 3}, "plan.build_years"),
        ({"build_years": -1}, "plan.build_years"),
        ({"change_cost": math.nan}, "plan.change_m"),
        ({"budget_per_year": {2031: 1.0}}, "plan.budget_yuan_per_year"),
        ({"budget_per_year": -1.0}, "plan.budget_yuan_per_year"),
        ({"max_openings_per_year": 1.5}, "plan.max_openings_per_year"),
    ],
)
def test_bad_plan_parameters_name_the_key(kw, words):
    with pytest.raises(InputError, match=words):
        two_sites(**kw)


def test_the_year_by_year_start_is_a_feasible_plan():
    from siting.model.solvers import Deadline
    from siting.model.years_program import stacked_program
    from siting.model.years_solve import _violation
    from siting.model.years_start import myopic_start

    model = two_sites(earliest_year={"B": 2026})
    prog, lay, progs = stacked_program(list(model.data), model.limits)
    start = myopic_start(model, lay, progs, solver="highs", deadline=Deadline.after(10), threads=None)
    assert start is not None and _violation(prog, start) < 1e-6
    # myopic: A (the bigger saving) in 2025, B as soon as it is available
    opened = [np.flatnonzero(start[lay.opt(t)] > 0.5).tolist() for t in range(lay.n_years)]
    assert opened == [[0], [0, 1], [0, 1]]


def test_the_final_set_start_sizes_a_school_for_the_last_year():
    """Demand at unit 1 grows from 50 to 150 pupils; site A opens small (60 seats, 1 yuan) or big (160, 2).

    The year-by-year start takes the small size in 2025 (enough then, and cheaper) and is stuck with it
    (a school keeps its size): 90 pupils overflow in 2026. The final-set start sizes A for 2026 and opens
    it big in 2025, which the budget of 2 a year allows.
    """
    from siting.model.solvers import Deadline
    from siting.model.years_program import stacked_program
    from siting.model.years_solve import _violation
    from siting.model.years_start import final_set_start, myopic_start

    arcs = pd.DataFrame(
        [("1", "E", "primary", 10.0 * 150), ("1", "A", "primary", 1.0 * 150)],
        columns=["unit_id", "school_id", "level", "cost"],
    )
    demand = {
        2025: pd.DataFrame({"primary": [50.0]}, index=["1"]),
        2026: pd.DataFrame({"primary": [150.0]}, index=["1"]),
    }
    capacity = pd.DataFrame({"primary": [10.0, 0.0]}, index=["E", "A"])
    options = pd.DataFrame(
        {
            "school_id": ["A", "A"],
            "option": ["small", "big"],
            "fixed_cost": [1.0, 2.0],
            "capacity_primary": [60.0, 160.0],
        }
    )
    model = years_from_costs(
        arcs, demand, capacity, options=options, overflow_penalty=100.0, budget_per_year=2.0
    )
    prog, lay, progs = stacked_program(list(model.data), model.limits)
    kw = {"solver": "highs", "threads": None}
    myopic = myopic_start(model, lay, progs, deadline=Deadline.after(10), **kw)
    final = final_set_start(model, lay, progs, deadline=Deadline.after(10), **kw)
    assert myopic is not None and final is not None
    assert _violation(prog, final) < 1e-6
    assert [np.flatnonzero(final[lay.opt(t)] > 0.5).tolist() for t in range(2)] == [[1], [1]]
    assert [np.flatnonzero(myopic[lay.opt(t)] > 0.5).tolist() for t in range(2)] == [[0], [0]]
    assert float(prog.c @ final) < float(prog.c @ myopic) - 1000  # 90 overflowing pupils at 100 each
    result = solve_years(model, time_limit_s=20, gap=1e-6)
    assert result.status == "optimal" and opening_years(result) == {"A": 2025}
    assert list(result.schedule["option"]) == ["big"]


def fewest_over(**kw):
    """Unit 1 (100 pupils) walks 10 per pupil to E or 1 to site A; unit 2 (60) walks 1 to E or to site B.

    E has 60 seats, A 50 and B 100; a pupil above capacity costs 5 (less than a walk saved); one opening a
    year (each site 1 yuan), split catchments. In 2025: A leaves 50 above capacity at a cost of 860
    (walks 610 + 250), B leaves 40 at 1,260 (1,060 + 200). From 2026, with both open, nobody is above
    capacity (walks 610 a year). So the priced plan opens A first (2,082 with building 2), overflow
    first opens B first (2,482): the least pupil-years above capacity the budget allows is 40.
    """
    per_pupil = {("1", "E"): 10.0, ("1", "A"): 1.0, ("2", "E"): 1.0, ("2", "B"): 1.0}
    size = {"1": 100.0, "2": 60.0}
    arcs = pd.DataFrame(
        [(u, s, "primary", c * size[u]) for (u, s), c in per_pupil.items()],
        columns=["unit_id", "school_id", "level", "cost"],
    )
    demand = {y: pd.DataFrame({"primary": [100.0, 60.0]}, index=["1", "2"]) for y in YEARS}
    capacity = pd.DataFrame({"primary": [60.0, 0.0, 0.0]}, index=["E", "A", "B"])
    options = pd.DataFrame(
        {
            "school_id": ["A", "B"],
            "option": ["P", "P"],
            "fixed_cost": [1.0, 1.0],
            "budget_cost": [1.0, 1.0],
            "capacity_primary": [50.0, 100.0],
        }
    )
    return years_from_costs(
        arcs,
        demand,
        capacity,
        options=options,
        overflow_penalty=5.0,
        single_source=False,
        budget_per_year=1.0,
        **kw,
    )


@pytest.mark.parametrize(
    ("first", "opens", "overflow", "objective"),
    [
        (False, {"A": 2025, "B": 2026}, [50.0, 0.0, 0.0], 2082.0),
        (True, {"B": 2025, "A": 2026}, [40.0, 0.0, 0.0], 2482.0),
    ],
)
def test_overflow_first_seats_more_children_before_shorter_walks(first, opens, overflow, objective):
    result = solve_years(fewest_over(overflow_first=first), time_limit_s=20, gap=1e-6)
    assert result.status == "optimal"
    assert opening_years(result) == opens
    assert list(result.spend["overflow"]) == pytest.approx(overflow, abs=1e-6)
    assert result.objective == pytest.approx(objective)
    assert result.max_violation < 1e-6
    if first:
        assert result.least_overflow == pytest.approx(40.0) and result.least_overflow_bound == pytest.approx(
            40.0
        )
        assert "overflow first: least 40.0 pupil-years" in result.solver_status
        # 2025 alone: one opening, B seats all but 40; from 2026 both can be open
        assert list(result.spend["least_overflow_bound"]) == pytest.approx([40.0, 0.0, 0.0], abs=1e-6)
        assert result.summary()["least_overflow_pupil_years"] == pytest.approx(40.0)
    else:
        assert math.isnan(result.least_overflow) and result.summary()["least_overflow_pupil_years"] is None


def test_overflow_first_needs_a_price_for_overflow():
    with pytest.raises(InputError, match=r"plan\.overflow_first needs pupils above capacity to be allowed"):
        frame = pd.DataFrame({"primary": [10.0]}, index=["1"])
        arcs = pd.DataFrame({"unit_id": ["1"], "school_id": ["E"], "level": ["primary"], "cost": [1.0]})
        capacity = pd.DataFrame({"primary": [60.0]}, index=["E"])
        years_from_costs(arcs, {2025: frame, 2026: frame}, capacity, overflow_first=True)


def test_each_years_own_least_bounds_the_total_where_the_lp_cannot():
    """A school too dear for one year's budget never opens; the LP opens it in halves and says 0.

    Unit 1 (100 pupils) can reach E (60 seats) and site A (100 seats, 2 yuan); the budget is 1 yuan a
    year, so no plan opens A and every year leaves 40 above capacity: 120 pupil-years. The LP of the
    overflow alone spends half of A each year (0 above capacity from 2025); each year's own least (a
    MIP on the columns up to that year) is 40, so the bound is the least.
    """
    arcs = pd.DataFrame(
        [("1", "E", "primary", 100.0), ("1", "A", "primary", 100.0)],
        columns=["unit_id", "school_id", "level", "cost"],
    )
    demand = {y: pd.DataFrame({"primary": [100.0]}, index=["1"]) for y in YEARS}
    capacity = pd.DataFrame({"primary": [60.0, 0.0]}, index=["E", "A"])
    options = pd.DataFrame(
        {"school_id": ["A"], "option": ["P"], "fixed_cost": [2.0], "budget_cost": [2.0],
         "capacity_primary": [100.0]}
    )  # fmt: skip
    model = years_from_costs(
        arcs, demand, capacity, options=options, overflow_penalty=5.0, single_source=False,
        budget_per_year=1.0, overflow_first=True,
    )  # fmt: skip
    result = solve_years(model, time_limit_s=20, gap=1e-6)
    assert result.status == "optimal" and opening_years(result) == {}
    assert list(result.spend["overflow"]) == pytest.approx([40.0] * len(YEARS))
    assert list(result.spend["least_overflow_bound"]) == pytest.approx([40.0] * len(YEARS))
    assert result.least_overflow == pytest.approx(40.0 * len(YEARS))
    assert result.least_overflow_bound == pytest.approx(40.0 * len(YEARS))
    assert "its LP 0.0" in result.solver_status and "the years' own least 120.0" in result.solver_status


def test_the_overflow_alone_proves_the_least_where_the_years_cannot():
    """Two years that each want another school, and money for one: the least is proven by the MIP.

    Unit 1 (100 pupils in 2025, 1 in 2026) reaches site A, unit 2 (1, then 100) site B; the existing E has
    2 seats; A and B cost 1 yuan each and the total budget is 1.5. Each year alone opens its own school
    and leaves 0 above capacity; the LP opens one and half the other (46.5 pupil-years); one plan
    must leave 98 above capacity in one of the years. Only the overflow alone, solved whole, proves it.
    """
    arcs = pd.DataFrame(
        [("1", "E", "primary", 1.0), ("1", "A", "primary", 1.0), ("2", "E", "primary", 1.0),
         ("2", "B", "primary", 1.0)],
        columns=["unit_id", "school_id", "level", "cost"],
    )  # fmt: skip
    demand = {
        2025: pd.DataFrame({"primary": [100.0, 1.0]}, index=["1", "2"]),
        2026: pd.DataFrame({"primary": [1.0, 100.0]}, index=["1", "2"]),
    }
    capacity = pd.DataFrame({"primary": [2.0, 0.0, 0.0]}, index=["E", "A", "B"])
    options = pd.DataFrame(
        {"school_id": ["A", "B"], "option": ["P", "P"], "fixed_cost": [1.0, 1.0], "budget_cost": [1.0, 1.0],
         "capacity_primary": [100.0, 100.0]}
    )  # fmt: skip
    model = years_from_costs(
        arcs, demand, capacity, options=options, overflow_penalty=5.0, single_source=False, budget=1.5,
        overflow_first=True,
    )  # fmt: skip
    result = solve_years(model, time_limit_s=20, gap=1e-6)
    assert result.status == "optimal" and len(opening_years(result)) == 1
    assert sum(result.spend["overflow"]) == pytest.approx(98.0)
    assert list(result.spend["least_overflow_bound"]) == pytest.approx([0.0, 0.0])
    assert result.least_overflow == pytest.approx(98.0)
    assert result.least_overflow_bound == pytest.approx(98.0)
    assert "the overflow alone 98.0 (Optimal)" in result.solver_status, result.solver_status
    assert "the years' own least 0.0" in result.solver_status
