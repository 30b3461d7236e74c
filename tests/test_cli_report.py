"""The run report a planner reads on the terminal: the first line says whose bound and gap it prints."""

from __future__ import annotations

from types import SimpleNamespace

from siting.cli.running import _run_report

SOLUTION = {
    "status": "optimal",
    "solver": "highs",
    "objective": 1234.0,
    "bound": 1230.0,
    "gap": 0.0032,
    "solve_time_s": 12.5,
}


def _result(plan: dict | None) -> SimpleNamespace:
    summary = {
        "scenario": "s",
        "solution": dict(SOLUTION),
        "key_figures": {},
        "new_schools": [],
        "plan": plan,
    }
    return SimpleNamespace(summary=summary, plan_tables={}, out_dir="out", map_path=None)


def test_a_single_year_run_prints_its_own_bound_and_gap():
    first = _run_report(_result(None)).splitlines()[0]
    assert first == "scenario s: solver optimal (highs), objective 1,234, bound 1,230, gap 0.32%, 12.5 s"


def test_a_plan_run_does_not_print_the_plans_gap_as_the_design_years():
    # the design year of a plan has no bound of its own: its gap is the plan's (bound NaN -> None)
    sol = {**SOLUTION, "status": "feasible", "bound": None, "gap": 0.0456}
    plan = {
        "status": "feasible",
        "objective": 50_000.0,
        "bound": 47_720.0,
        "gap": 0.0456,
        "years": [2025, 2030],
        "design_year": 2030,
    }
    result = _result(plan)
    result.summary["solution"] = sol
    lines = _run_report(result).splitlines()
    assert "bound n/a" not in lines[0] and "4.56" not in lines[0]
    assert lines[0].startswith(
        "scenario s: design year 2030 of the plan below (highs): that year's objective 1,234"
    )
    plan_line = next(line for line in lines if line.startswith("plan 2025-2030"))
    assert "bound 47,720, gap 4.56%" in plan_line
