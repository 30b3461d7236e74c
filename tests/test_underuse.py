"""The utilisation floor (balanced development in the model): priced pupils below a share of the seats."""

from __future__ import annotations

import pandas as pd
import pytest

from siting.errors import InputError
from siting.metrics import balance_schools
from siting.model import SitingModel
from siting.standards import Standards
from tests.test_balance import abc_schools

STD = Standards.foshan()


def _two_schools(cost_b: float = 300.0):
    """Unit 1 (60 pupils) next to A, unit 2 (40) between A and B; A and B hold 100 seats each.

    Without a floor both units go to A (the nearer); B then holds 0 of its 100 seats.
    """
    arcs = pd.DataFrame(
        {
            "unit_id": [1, 2, 2],
            "school_id": ["A", "A", "B"],
            "level": "primary",
            "cost": [60 * 100.0, 40 * 200.0, 40 * cost_b],
        }
    )
    demand = pd.DataFrame({"primary": [60.0, 40.0]}, index=pd.Index([1, 2], name="unit_id"))
    capacity = pd.DataFrame({"primary": [100.0, 100.0]}, index=pd.Index(["A", "B"], name="school_id"))
    return arcs, demand, capacity


@pytest.mark.parametrize("mode", ["round", "exact", "split"])
def test_floor_keeps_a_school_from_being_emptied_when_its_price_beats_the_walk(mode):
    arcs, demand, capacity = _two_schools()
    single = mode != "split"
    free = SitingModel.from_costs(arcs, demand, capacity, single_source=single).solve(mode=mode, gap=0)
    assert free.assignment.set_index("unit_id")["school_id"].to_dict() == {1: "A", 2: "A"}
    # floor 0.6 x 100 seats, capped at the 40 pupils within B's reach; 100 per pupil below it:
    # unit 2 to B costs 40 x (300 - 200) = 4,000 more walk but saves 40 x 100 = 4,000 + A's floor is met
    # either way (60 >= 60); at 150 per pupil moving is strictly better
    model = SitingModel.from_costs(
        arcs, demand, capacity, single_source=single, underuse_penalty=150.0, utilisation_floor=0.6
    )
    kept = model.solve(mode=mode, gap=0)
    assert kept.status == "optimal"
    assert kept.assignment.set_index("unit_id")["school_id"].to_dict() == {1: "A", 2: "B"}
    assert kept.objective_parts["underuse"] == pytest.approx(0.0)
    check = model.check(kept)
    assert check["objective"] == pytest.approx(kept.objective)
    # a floor price below the extra walk leaves B empty, and the objective counts B's 40 missing pupils
    cheap = SitingModel.from_costs(
        arcs, demand, capacity, single_source=single, underuse_penalty=50.0, utilisation_floor=0.6
    )
    res = cheap.solve(mode=mode, gap=0)
    assert res.assignment.set_index("unit_id")["school_id"].to_dict() == {1: "A", 2: "A"}
    assert res.objective_parts["underuse"] == pytest.approx(50.0 * 40)
    assert cheap.check(res)["underuse"] == pytest.approx(50.0 * 40)
    assert res.objective == pytest.approx(60 * 100 + 40 * 200 + 50 * 40)


def test_floor_is_capped_at_the_pupils_within_reach():
    # B can reach only unit 2's 40 pupils: its floor is 40, not 0.9 x 100 = 90
    arcs, demand, capacity = _two_schools()
    model = SitingModel.from_costs(arcs, demand, capacity, underuse_penalty=1e4, utilisation_floor=0.9)
    res = model.solve(gap=0)
    assert res.assignment.set_index("unit_id")["school_id"].to_dict() == {1: "A", 2: "B"}
    # A's floor is 90 but it can reach 100, it holds 60: 30 below; B holds its whole reach
    assert res.objective_parts["underuse"] == pytest.approx(1e4 * 30)


def test_floor_opens_a_new_site_at_the_size_it_fills():
    # one site N with 90 pupils within reach and two sizes (100 or 400 seats) at the same cost: without a
    # floor the tie goes either way; with it the 400-seat option leaves 0.6 x 400 - 90 = 150 below the floor
    arcs = pd.DataFrame({"unit_id": [1], "school_id": ["N"], "level": "primary", "cost": [9000.0]})
    demand = pd.DataFrame({"primary": [90.0]}, index=pd.Index([1], name="unit_id"))
    capacity = pd.DataFrame({"primary": [0.0]}, index=pd.Index(["N"], name="school_id"))
    options = pd.DataFrame(
        {
            "school_id": ["N", "N"],
            "option": ["large", "small"],
            "fixed_cost": [100.0, 101.0],  # the large one is (slightly) cheaper
            "capacity_primary": [400.0, 100.0],
        }
    )
    plain = SitingModel.from_costs(arcs, demand, capacity, options=options).solve(gap=0)
    assert plain.opened["option"].tolist() == ["large"]
    floor = SitingModel.from_costs(
        arcs, demand, capacity, options=options, underuse_penalty=10.0, utilisation_floor=0.6
    )
    res = floor.solve(gap=0)
    assert res.opened["option"].tolist() == ["small"]
    # the small school's floor is 60, held: nothing below it
    assert res.objective_parts["underuse"] == pytest.approx(0.0)
    assert res.objective == pytest.approx(9000.0 + 101.0)


@pytest.mark.parametrize(
    ("penalty", "share", "match"),
    [(-1.0, 0.5, "underuse_penalty"), (10.0, 1.5, "utilisation_floor"), (10.0, -0.1, "utilisation_floor")],
)
def test_bad_floor_settings_are_named(penalty, share, match):
    arcs, demand, capacity = _two_schools()
    with pytest.raises(InputError, match=match):
        SitingModel.from_costs(arcs, demand, capacity, underuse_penalty=penalty, utilisation_floor=share)


def test_floor_table_with_unknown_school_is_an_error():
    arcs, demand, capacity = _two_schools()
    table = pd.DataFrame({"primary": [0.5]}, index=pd.Index(["Z"], name="school_id"))
    with pytest.raises(InputError, match=r"unknown.*Z"):
        SitingModel.from_costs(arcs, demand, capacity, underuse_penalty=1.0, utilisation_floor=table)


def test_scenario_model_has_the_floor_on_by_default_from_the_standards():
    from siting.config import ModelConfig

    config = ModelConfig()
    assert config.balance_m and config.balance_m > 0 and config.utilisation_floor is None
    assert 0 < STD.utilisation_floor < 1
    with pytest.raises(ValueError, match="utilisation_floor"):
        ModelConfig(utilisation_floor=1.2)


def test_a_school_its_area_cannot_fill_is_to_share_resources_not_to_fill():
    # A: 100 pupils, 1,000 m² (10 per pupil, mean 4): filling it needs 250 pupils; only 120 live in reach
    schools, units = abc_schools()
    reach = pd.DataFrame({"primary": [120.0, 500.0, 500.0], "junior": 0.0}, index=["A", "B", "C"])
    table = balance_schools(schools, units, standards=STD, reach=reach).set_index("school_id")
    assert table.loc["A", "action"] == "share" and table.loc["A", "pupils_within_reach"] == 120
    assert "only 120 live within its reach" in table.loc["A", "why"]
    assert "moving pupils cannot fix it" in table.loc["A", "why"]
    assert table.loc["C", "action"] == "invest" and "400 m² more" in table.loc["C", "why"]
    # with enough pupils in reach it is to be filled, as before
    roomy = reach.assign(primary=[300.0, 500.0, 500.0])
    assert (
        balance_schools(schools, units, standards=STD, reach=roomy).set_index("school_id").loc["A", "action"]
        == "fill"
    )
