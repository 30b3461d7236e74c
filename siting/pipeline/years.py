"""The year-by-year plan in a run: solving it, and the tables a district office files.

With a ``plan:`` section :func:`solve_plan` solves the multi-year model
(:func:`siting.model.years_from_scenario`, :func:`siting.model.solve_years`); the design year's plan is
the run's ``solution`` (its catchments are the ones drawn, measured and reviewed). :func:`plan_tables`
reads the rest off it: the schedule, the spend per year, each year's needs per district and level (the
same-year figures of :func:`siting.metrics.district_years` with that year's seats, plus overflow and large
classes from :func:`siting.metrics.school_metrics`), and the assignment and overflow of every year.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import metrics
from siting._jsonify import json_ready
from siting.config import Scenario
from siting.errors import InputError
from siting.model import SitingResult, YearsResult, solve_years, years_from_scenario
from siting.pipeline import seating
from siting.standards import LEVELS

PLAN_TABLES: tuple[str, ...] = (
    "schedule",
    "spend_by_year",
    "needs_by_year",
    "assignment_by_year",
    "overflow_by_year",
)
"""The plan's CSV files (``<name>.csv`` in the result folder), in :attr:`RunResult.plan_tables`."""

NEEDS_COLUMNS: tuple[str, ...] = (
    "year",
    "district",
    "level",
    "population",
    "demand",
    "seats",
    "seats_per_1000",
    "standard_per_1000",
    "seat_shortfall",
    "seats_below_demand",
    "overflow",
    "large_classes",
    "super_large_classes",
    "new_schools_open",
)
"""Columns of ``needs_by_year.csv``: one row per plan year, district (and ``(all)``) and level."""


def solve_plan(
    scenario: Scenario,
    units: gpd.GeoDataFrame,
    facilities: Any,
    costs: pd.DataFrame,
    *,
    threads: int | None = None,
) -> YearsResult:
    """Build the scenario's multi-year model and solve it within ``model.time_limit_s``.

    Parameters
    ----------
    scenario
        A scenario with a ``plan:`` section.
    units
        Demand units with ``primary_<year>`` and ``junior_<year>`` for every plan year.
    facilities
        ``stages.Facilities`` (``facilities`` and ``options``).
    costs
        The travel costs.
    threads
        Solver threads (None: the solver's default).

    Returns
    -------
    YearsResult
        The plan; its ``results[scenario.plan_design_year()]`` is the design year's.
    """
    if scenario.plan is None:
        raise InputError(f"scenario {scenario.name}: no plan: section; add one for a year-by-year plan.")
    mp = scenario.model
    model = years_from_scenario(
        units,
        facilities.facilities,
        facilities.options,
        costs,
        standards=scenario.standards_object(),
        years=scenario.plan_years(),
        plan=scenario.plan.model_dump(),
        model=mp.model_dump(),
    )
    return solve_years(model, solver=mp.solver, time_limit_s=mp.time_limit_s, gap=mp.gap, threads=threads)


def plan_tables(
    scenario: Scenario,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    plan: YearsResult,
) -> dict[str, pd.DataFrame]:
    """Return the plan's tables (:data:`PLAN_TABLES`) for the result folder.

    Parameters
    ----------
    scenario
        The scenario (standards, indicators).
    units
        Demand units with ``district``, ``population_<year>`` and ``<level>_<year>``.
    facilities
        Existing schools and sites (before the plan).
    plan
        The solved plan.

    Returns
    -------
    dict
        Name → table. ``schedule`` adds each school's ``name`` and ``status``; ``assignment_by_year`` and
        ``overflow_by_year`` are the years' model tables with a ``year`` column.
    """
    schedule = plan.schedule.copy()
    schedule.insert(1, "name", schedule["school_id"].map(facilities["name"]))
    schedule.insert(2, "status", schedule["school_id"].map(facilities["status"]))
    return {
        "schedule": schedule,
        "spend_by_year": plan.spend,
        "needs_by_year": needs_by_year(scenario, units, facilities, plan),
        "assignment_by_year": plan.by_year("assignment"),
        "overflow_by_year": plan.by_year("overflow"),
    }


def needs_by_year(
    scenario: Scenario, units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, plan: YearsResult
) -> pd.DataFrame:
    """Return each plan year's needs per district and level with that year's schools (:data:`NEEDS_COLUMNS`).

    Residents, demand, seats and seats per 1,000 are :func:`siting.metrics.district_years`' figures for
    the year, with the schools open that year; ``overflow`` (pupils above standard capacity), large and
    super-large classes are summed from :func:`siting.metrics.school_metrics` of that year's assignment.
    """
    standards = scenario.standards_object()
    frames = []
    for year, result in plan.results.items():
        schools = seating.schools_after(facilities, result.opened, standards, scenario.indicator_columns())
        year_units = seating.add_seated_pupils(
            seating.apply_assignment(_year_demand(units, year), result.assignment), result.assignment
        )
        table = metrics.school_metrics(schools, year_units, standards=standards, column_prefix="proposed")
        years = metrics.district_years(schools, year_units, standards=standards, school_table=table)
        years = years[years["year"] == year].drop(columns="state")
        per = table.assign(new=table["status"].eq("site")).groupby(["district", "level"])
        sums = per[["over_capacity", "large_classes", "super_large_classes", "new"]].sum()
        total = table.groupby("level")[["over_capacity", "large_classes", "super_large_classes"]].sum()
        total["new"] = table[table["status"].eq("site")].groupby("level").size()
        total.index = pd.MultiIndex.from_product([[metrics.ALL], total.index], names=["district", "level"])
        sums = pd.concat([sums, total]).fillna(0)
        keys = pd.MultiIndex.from_arrays([years["district"], years["level"]])
        got = sums.reindex(keys).fillna(0)
        years["overflow"] = got["over_capacity"].to_numpy(float)
        years["large_classes"] = got["large_classes"].to_numpy(np.int64)
        years["super_large_classes"] = got["super_large_classes"].to_numpy(np.int64)
        years["new_schools_open"] = got["new"].to_numpy(np.int64)
        frames.append(years)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(NEEDS_COLUMNS))
    return out[list(NEEDS_COLUMNS)].sort_values(["year", "level", "district"], kind="stable")


def _year_demand(units: gpd.GeoDataFrame, year: int) -> gpd.GeoDataFrame:
    """Return the units with ``primary`` and ``junior`` set to ``year``'s demand."""
    out = units.copy()
    for level in LEVELS:
        out[level] = units[f"{level}_{year}"].to_numpy(float)
    return out


def design_solution(scenario: Scenario, plan: YearsResult) -> SitingResult:
    """Return the design year's plan (a ``SitingResult``); without an answer, a result saying so.

    The returned result has the plan's status and gap; a plan without an answer gives the empty result
    the run then stops on (:class:`~siting.errors.SolverError`, nothing written).
    """
    year = scenario.plan_design_year()
    if year in plan.results:
        return plan.results[year]
    return SitingResult.from_tables(
        summary={"status": plan.status, "solver_status": f"year-by-year plan: {plan.solver_status}"},
        opened=pd.DataFrame(),
        assignment=pd.DataFrame(),
    )


def attach_plan(result: Any, plan: YearsResult, facilities: gpd.GeoDataFrame) -> None:
    """Give a run result its plan, the plan's tables and a ``plan`` entry in its summary."""
    result.plan = plan
    result.plan_tables = plan_tables(result.scenario, result.units, facilities, plan)
    result.summary["plan"] = json_ready(
        {**plan.summary(), "design_year": result.scenario.plan_design_year()}, 6
    )
