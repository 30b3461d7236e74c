"""The year-by-year plan in a run: the scenario's ``plan:`` section and the sample city planned 2025-2030."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from siting import _cache
from siting.config import load_scenario
from siting.errors import InputError
from tests.test_config import _edit, scenario_file  # noqa: F401  (the fixture)

# ----------------------------------------------------------------------------------------- scenario


def test_a_plan_section_is_read(scenario_file):  # noqa: F811
    _edit(scenario_file, plan={"budget_yuan_per_year": 1e8, "max_openings_per_year": 2})
    scenario = load_scenario(scenario_file)
    assert scenario.plan_years() == [2025, 2030]
    assert scenario.plan_design_year() == 2030
    assert scenario.plan.change_m == 300.0 and scenario.plan.build_years == 0
    assert load_scenario(_edit(scenario_file, plan=None)).plan is None


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        ({"budget_per_year": 1}, r"plan\.budget_per_year.*unknown key.*budget_yuan_per_year"),
        ({"years": [2025, 2029]}, r"plan\.years = \[2025, 2029\]: \[2029\] not among population\.growth"),
        ({"years": [2025]}, "design_year 2030 is not among plan.years"),
        ({"build_years": 2}, "plan.build_years = 2 leaves no plan year"),
        ({"budget_yuan_per_year": -5}, r"plan\.budget_yuan_per_year = -5"),
        ({"budget_yuan_per_year": {2031: 5}}, r"names year\(s\) \[2031\]"),
        ({"max_openings_per_year": -1}, r"plan\.max_openings_per_year = -1"),
        ({"change_m": "far"}, r"plan\.change_m = 'far'"),
    ],
)
def test_bad_plan_values_name_key_value_and_fix(scenario_file, plan, words):  # noqa: F811
    _edit(scenario_file, plan=plan)
    with pytest.raises(InputError, match=words):
        load_scenario(scenario_file)


def test_a_plan_needs_growth_and_the_design_year_demand(scenario_file):  # noqa: F811
    _edit(scenario_file, plan={}, plan_for="max_over_years")
    with pytest.raises(InputError, match="use plan_for: design_year with plan:"):
        load_scenario(scenario_file)
    _edit(scenario_file, plan_for="design_year", population__growth=None)
    with pytest.raises(InputError, match=r"needs population\.growth"):
        load_scenario(scenario_file)


def test_replace_reaches_the_plan(scenario_file):  # noqa: F811
    base = load_scenario(scenario_file)
    variant = base.replace(budget_yuan_per_year=2e8)
    assert variant.plan.budget_yuan_per_year == 2e8 and base.plan is None


# ----------------------------------------------------------------------------------------- the sample


def _run_sample_plan(base: Path, **changes):
    """Run the sample plan scenario (with ``changes``) into ``base``; skip where the scenario is missing."""
    from siting.pipeline import run_scenario
    from tests.conftest import REPO

    path = REPO / "data" / "scenarios" / "sample_plan.yaml"
    if not path.exists():
        pytest.skip(f"the sample plan scenario {path} is missing")
    scenario = load_scenario(path)
    scenario = scenario.replace(**changes) if changes else scenario
    return run_scenario(scenario, out_dir=base / "out", map_path=base / "plan.html", cache_dir=None)


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    from siting.pipeline import RunResult

    base = tmp_path_factory.mktemp("plan")
    _cache.clear_memory()
    result = _run_sample_plan(base)
    return result, RunResult.load(base / "out"), base


def test_no_site_opens_before_it_is_available(planned):
    result, _, _ = planned
    schedule = result.plan_tables["schedule"]
    assert len(schedule) and set(schedule["opening_year"]) <= set(result.scenario.plan_years())
    avail = result.schools["available_from"].reindex(schedule["school_id"]).to_numpy(float)
    opens = schedule["opening_year"].to_numpy(float)
    assert np.all(~np.isfinite(avail) | (opens >= avail))


def test_every_years_limits_hold(planned):
    result, _, _ = planned
    plan = result.scenario.plan
    spend = result.plan_tables["spend_by_year"]
    assert (spend["spend_yuan"] <= plan.budget_yuan_per_year + 1).all()
    assert (spend["openings"] <= plan.max_openings_per_year).all()
    schedule = result.plan_tables["schedule"]
    per_year = schedule.groupby("build_start_year")["cost_yuan"].sum()
    assert per_year.reindex(spend["year"]).fillna(0).to_numpy() == pytest.approx(spend["spend_yuan"])
    assert (schedule["status"] == "site").sum() <= result.scenario.model.max_new_schools
    assert result.plan.max_violation < 1e-5


def test_the_schedule_agrees_with_the_yearly_table(planned):
    result, _, _ = planned
    schedule = result.plan_tables["schedule"]
    needs = result.plan_tables["needs_by_year"]
    everyone = needs[needs["district"] == "(all)"]
    years = result.scenario.plan_years()
    for level in ("primary", "junior"):
        seats = everyone[everyone["level"] == level].set_index("year")["seats"]
        added = schedule.groupby("opening_year")[f"capacity_{level}"].sum().reindex(years).fillna(0).cumsum()
        assert (seats - seats.iloc[0]).to_numpy() == pytest.approx((added - added.iloc[0]).to_numpy())
        site = schedule["status"].eq("site") & (schedule[f"capacity_{level}"] > 0)
        opened = [int((site & (schedule["opening_year"] <= y)).sum()) for y in years]
        assert list(everyone[everyone["level"] == level]["new_schools_open"]) == opened
    # each year's overflow in the yearly table is the model's overflow that year
    over = result.plan_tables["overflow_by_year"].groupby(["year", "level"])["overflow"].sum()
    got = everyone.set_index(["year", "level"])["overflow"]
    assert got.reindex(over.index).to_numpy() == pytest.approx(over.to_numpy(), abs=1.0)
    # the districts add up to the whole
    parts = needs[needs["district"] != "(all)"].groupby(["year", "level"])[["demand", "seats"]].sum()
    whole = everyone.set_index(["year", "level"])[["demand", "seats"]]
    assert parts.to_numpy() == pytest.approx(whole.reindex(parts.index).to_numpy())


def test_the_design_year_is_the_run_and_the_status_is_honest(planned):
    result, _, _ = planned
    design = result.scenario.plan_design_year()
    assert result.solution is result.plan.results[design]
    yearly = result.plan_tables["assignment_by_year"]
    design_rows = yearly[yearly["year"] == design].drop(columns="year").reset_index(drop=True)
    pd.testing.assert_frame_equal(design_rows, result.solution.assignment.reset_index(drop=True))
    plan = result.summary["plan"]
    assert plan["bound"] <= plan["objective"] + 1e-6
    assert plan["gap"] == pytest.approx((plan["objective"] - plan["bound"]) / plan["objective"], abs=1e-6)
    if plan["status"] == "optimal":
        assert plan["gap"] <= result.scenario.model.gap + 1e-9
    opened_design = set(result.plan_tables["schedule"].query("opening_year <= @design")["school_id"])
    assert opened_design == set(result.solution.opened.index)


def _least_overflow_bounds(scenario) -> dict[int, float]:
    """Return, per plan year, a proven lower bound on the pupils above capacity that year in any plan.

    Solved apart from the plan's solver path: that year's single-year program alone (continuous
    assignments, binary options), the objective its overflow columns only, options limited to those
    available by then, and the budgets and openings of that year and the years before as two rows.
    """
    from siting.model import years_from_scenario
    from siting.model.program import build_program, overflow_columns
    from siting.model.solvers import MatrixProgram, solve_program
    from siting.pipeline import checks, stages

    area = stages.read_study_area(scenario)
    inputs = checks.check_inputs(scenario, area)
    units, _ = stages.build_demand(scenario, area, cache_dir=None, catchments=inputs.catchments)
    fac = stages.read_facilities(scenario, units, area.crs, layers=(inputs.schools, inputs.sites))
    graph = stages.load_graph(scenario, area, cache_dir=None)
    costs = stages.build_costs(scenario, graph, units, fac.facilities, area.crs, cache_dir=None).costs
    units, _ = stages.current_schools(scenario, units, fac.facilities, costs)
    model = years_from_scenario(
        units,
        fac.facilities,
        fac.options,
        costs,
        standards=scenario.standards_object(),
        years=scenario.plan_years(),
        plan=scenario.plan.model_dump(),
        model=scenario.model.model_dump(),
    )
    plan, lim = scenario.plan, model.limits
    assert plan.build_years == 0  # the budget to date below is that of the years up to t
    out = {}
    for t, (year, d) in enumerate(zip(model.years, model.data, strict=True)):
        p = build_program(d)
        n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
        c = np.zeros(p.shape[1])
        c[overflow_columns(d)] = 1.0
        ub = p.ub.copy()
        ub[n_arc + np.flatnonzero(lim.earliest_index > t)] = 0.0
        extra = np.zeros((2, p.shape[1]))
        extra[0, n_arc : n_arc + n_opt] = d["o_budget"]
        extra[1, n_arc : n_arc + n_opt] = d["is_new_f"][d["o_f"]]
        a = sp.vstack([sp.csr_matrix(p.a), sp.csr_matrix(extra)], format="csr")
        caps = [plan.budget_yuan_per_year * (t + 1), plan.max_openings_per_year * (t + 1)]
        least = MatrixProgram(
            c, p.lb, ub, p.integer, a, np.r_[p.row_lo, -np.inf, -np.inf], np.r_[p.row_hi, caps]
        )
        solved = solve_program(least, time_limit_s=20, gap=1e-3, threads=1)
        assert math.isfinite(solved.bound)
        out[year] = solved.bound
    return out


@pytest.fixture(scope="module")
def least_by_year(planned):
    """Per plan year of the sample: a proven lower bound on its overflow in any plan (solved apart)."""
    return _least_overflow_bounds(planned[0].scenario)


@pytest.fixture(scope="module")
def overflow_first(tmp_path_factory):
    """The sample plan with ``plan.overflow_first`` and two minutes (its least stage needs them)."""
    changes = {"plan.overflow_first": True, "model.time_limit_s": 120}
    return _run_sample_plan(tmp_path_factory.mktemp("first"), **changes)


def test_overflow_first_on_the_sample(overflow_first, planned, least_by_year):
    """Overflow first: the fewest pupil-years above capacity, certified, and each year's figures agree.

    The least (split catchments) is between its proven bound and the plan's total; whole homes add a
    few pupils (the plan's total stays within 3 % of the least); no year is below what any plan reaches
    that year on its own; ``spend_by_year.csv`` and ``summary.json`` carry the same figures. The test
    prints the comparison with the priced plan (``planned``, same sample, 30 s).
    """
    plan = overflow_first.plan
    assert plan.status in ("optimal", "feasible") and plan.max_violation < 1e-5
    least, bound = plan.least_overflow, plan.least_overflow_bound
    assert math.isfinite(least) and math.isfinite(bound) and bound <= least + 1e-6
    per_year = {y: float(r.overflow["overflow"].sum()) for y, r in plan.results.items()}
    total = sum(per_year.values())
    assert bound - 1e-6 <= total <= least * 1.03, (bound, least, total)
    for year, value in per_year.items():
        assert value >= least_by_year[year] - 1e-6 * max(1.0, least_by_year[year]), (year, value)
    spend = overflow_first.plan_tables["spend_by_year"].set_index("year")["overflow"]
    assert spend.to_dict() == pytest.approx(per_year, rel=1e-9, abs=1e-6)
    # each year's own least (the package's bound) is below the plan's that year; their sum bounds the least
    own = overflow_first.plan_tables["spend_by_year"].set_index("year")["least_overflow_bound"]
    for year, value in per_year.items():
        assert 0.0 <= own[year] <= value + 1e-6 * max(1.0, value), (year, own[year], value)
    assert bound >= own.sum() - 1e-6 * max(1.0, own.sum())
    summary = overflow_first.summary["plan"]
    assert summary["least_overflow_pupil_years"] == pytest.approx(least)
    assert summary["overflow_pupil_years"] == pytest.approx(total)
    assert "overflow first: least" in summary["solver_status"]
    priced = {y: float(r.overflow["overflow"].sum()) for y, r in planned[0].plan.results.items()}
    print(
        f"pupil-years above capacity: overflow first {total:,.0f} (least {least:,.0f}, bound {bound:,.0f}), "
        f"priced {sum(priced.values()):,.0f}; by year: "
        + ", ".join(f"{y}: {per_year[y]:,.0f} vs {priced[y]:,.0f}" for y in sorted(per_year))
    )


def test_each_years_overflow_against_the_least_its_budget_allows(planned, least_by_year):
    """Each year's overflow is at least the least any plan reaches that year with the budget to date.

    The least for each year is solved apart (:func:`_least_overflow_bounds`); a plan below it would have
    spent more than the budget, opened a school too early, or misreported its overflow. On the sample the
    years' least plans are not nested (what 2026 alone would open differs from what 2030 needs, and a school
    keeps its size), so the plan, which minimises the priced sum over all the years, sits above some years'
    least: the test prints by how much.
    """
    result, _, _ = planned
    least = least_by_year
    got = {y: float(r.overflow["overflow"].sum()) for y, r in result.plan.results.items()}
    table = ", ".join(f"{y}: {got[y]:,.0f} >= {least[y]:,.0f}" for y in sorted(got))
    print(f"overflow per year (plan >= least its budget allows): {table}")
    assert sorted(least) == sorted(got)
    for year in got:
        assert got[year] >= least[year] - 1e-6 * max(1.0, least[year]), table
    # the overflow columns carry all of it: the plan's priced overflow is the sum of the years'
    penalty = result.scenario.model.overflow_m
    assert result.plan.objective_parts["overflow"] == pytest.approx(penalty * sum(got.values()), rel=1e-6)


def test_demand_grows_and_each_year_seats_its_own(planned):
    result, _, _ = planned
    yearly = result.plan_tables["assignment_by_year"]
    pupils = yearly.groupby(["year", "level"])["pupils"].sum()
    for level in ("primary", "junior"):
        for year in result.scenario.plan_years():
            assert pupils[(year, level)] == pytest.approx(result.units[f"{level}_{year}"].sum(), rel=1e-9)


def test_the_plan_is_saved_and_read_back(planned):
    result, loaded, base = planned
    for name, table in result.plan_tables.items():
        assert (base / "out" / f"{name}.csv").is_file()
        assert len(loaded.plan_tables[name]) == len(table)
    summary = json.loads((base / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["plan"]["years"] == result.scenario.plan_years()
    assert math.isfinite(summary["plan"]["gap"])


def test_the_map_has_a_layer_per_year_and_opening_years(planned):
    result, _, base = planned
    html = Path(base / "plan.html").read_text(encoding="utf-8")
    for year in result.scenario.plan_years():
        assert f"Plan {year}" in html
    first = result.plan_tables["schedule"].iloc[0]
    assert f"opens {int(first['opening_year'])}" in html


def test_the_plan_map_opens_in_a_browser_with_its_year_layers(planned, offline_page):
    result, _, base = planned
    page = offline_page
    page.goto((base / "plan.html").resolve().as_uri(), wait_until="load")
    page.wait_for_timeout(500)
    assert page.errors == [] and page.aborted == []  # folium.Popup's jQuery once stopped the whole page
    labels = [t.strip() for t in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
    years = result.scenario.plan_years()
    assert [f"Plan {y}: schools open, overflow" for y in years] == [
        t for t in labels if t.startswith("Plan ")
    ]
    first = result.plan_tables["schedule"].sort_values("opening_year").iloc[0]
    text = page.evaluate(
        """(sid) => {
          const maps = Object.values(window).filter(v => v instanceof L.Map);
          let hit = null;
          maps[0].eachLayer(l => { if (!hit && l instanceof L.CircleMarker && l.getPopup && l.getPopup()
                                     && String(l.getPopup().getContent()).includes(sid)
                                     && String(l.getPopup().getContent()).includes("<th>Cost")) hit = l; });
          if (!hit) return null;
          hit.openPopup();
          return document.querySelector('.leaflet-popup-content').innerText;
        }""",
        str(first["name"]),
    )
    assert text is not None and f"opens {int(first['opening_year'])}" in text and "Cost" in text


def test_an_earlier_years_layer_outlines_the_homes_at_another_school(planned):
    result, _, base = planned
    a = result.plan_tables["assignment_by_year"]
    design = result.scenario.plan_design_year()
    first = min(result.scenario.plan_years())
    key = ["unit_id", "level"]
    then = a[a["year"] == design].set_index(key)["school_id"]
    now = a[a["year"] == first].set_index(key)["school_id"].reindex(then.index)
    moved = int((now.notna() & (now != then)).sum())
    assert moved > 0  # the sample's schools open over the years, so 2025's catchments differ from 2030's
    html = Path(base / "plan.html").read_text(encoding="utf-8")
    assert html.count(f" in {first} (") == moved  # one tooltip line per moved unit-level
    assert f"in {design} ({design}" not in html
