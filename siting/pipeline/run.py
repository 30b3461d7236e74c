"""Run a scenario end to end: read inputs → demand → costs → model → catchments → metrics → outputs.

The command line (``siting run``) and notebooks call :func:`run_scenario`; both get a :class:`RunResult`.
Each step is a function of :mod:`siting.pipeline.stages`, so a notebook can run any one alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from siting._atomic import all_or_nothing
from siting._cache import DEFAULT_CACHE_DIR
from siting._jsonify import json_ready
from siting._log import get_logger, progress_timer
from siting.config import Scenario
from siting.errors import SolverError
from siting.model import SitingResult
from siting.pipeline import checks, stages, years
from siting.pipeline.result import SOLVED, RunResult, prepare_outputs
from siting.pipeline.summary import run_summary

log = get_logger(__name__)


class _Laps:
    """Wall-clock seconds per stage, as ``summary.json`` records them under ``timings``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t, 3)

    def total(self) -> dict[str, float]:
        self.timings["total"] = round(time.perf_counter() - self.start, 3)
        return self.timings


def run_scenario(
    scenario: Scenario,
    *,
    out_dir: str | Path | None = None,
    map_path: str | Path | None = None,
    overwrite: bool = False,
    write: bool = True,
    draw_map: bool = True,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    threads: int | None = None,
) -> RunResult:
    """Run one scenario from its inputs to its outputs.

    Parameters
    ----------
    scenario
        From :func:`siting.config.load_scenario` (or a variant made with ``Scenario.replace``).
    out_dir
        Folder for the result files (default ``scenario.output_dir()``).
    map_path
        HTML map (default ``scenario.map_path()``); hearing and review maps are written beside it.
    overwrite
        Replace earlier outputs; without it the run stops before any work if they exist.
    write
        Write files at all (or keep the result in memory only), all or nothing (:func:`write_outputs`).
    draw_map
        Write the HTML maps (needs ``write``).
    cache_dir, threads
        Folder for cached stage outputs (``None``: no files; the in-process cache remains); solver threads
        (None: the solver's default; a sweep in worker processes passes 1).

    Returns
    -------
    RunResult
        Everything the run produced.

    Raises
    ------
    SolverError
        When the solver returns no solution (time limit too short, infeasible model); nothing is written.
    """
    laps = _Laps()
    out_dir = Path(out_dir) if out_dir is not None else scenario.output_dir()
    map_path = (Path(map_path) if map_path is not None else scenario.map_path()) if draw_map else None
    if write:
        prepare_outputs(out_dir, _map_files(map_path), overwrite)
    cache = Path(cache_dir) if cache_dir is not None else None

    with laps("demand"):
        area = stages.read_study_area(scenario)
        inputs = checks.check_inputs(scenario, area)  # every layer read and cross-checked before heavy work
        units, demand_report = stages.build_demand(
            scenario, area, cache_dir=cache, catchments=inputs.catchments
        )
    with laps("facilities"):
        facilities = stages.read_facilities(scenario, units, area.crs, layers=(inputs.schools, inputs.sites))
    with laps("network"):
        roads = stages.load_roads(scenario, area, cache_dir=cache)  # arrays: the graph is not kept
    with laps("costs"):
        costs = stages.build_costs(scenario, roads, units, facilities.facilities, area.crs, cache_dir=cache)
        del roads
        units, current_how = stages.current_schools(scenario, units, facilities.facilities, costs.costs)
    with laps("model"):
        solution, plan = _solve(scenario, units, facilities, costs.costs, threads)
    _require_solution(scenario, solution)
    with laps("catchments_metrics"):
        drawn, tables = _catchments_and_metrics(scenario, units, facilities, solution, costs, area.crs)
    with laps("search_areas"):
        search = stages.find_search_areas(scenario, drawn, facilities, tables.overflow, costs.costs)
    summary = run_summary(scenario, area.crs, demand_report, solution, costs, drawn, tables, current_how)
    summary["search_areas"] = _search_area_totals(search)
    result = _assemble(scenario, area, facilities, costs, solution, drawn, tables, summary, search)
    if plan is not None:
        years.attach_plan(result, plan, facilities.facilities)
    if write:
        write_outputs(result, out_dir, map_path, laps)
    else:
        result.summary["timings"] = laps.total()
    log.info("scenario %s done in %.1f s", scenario.name, result.summary["timings"]["total"])
    return result


def _solve(
    scenario: Scenario, units: Any, facilities: stages.Facilities, costs: pd.DataFrame, threads: int | None
) -> tuple[SitingResult, Any]:
    """Solve the design year, or with ``plan:`` every year; return the solution and the plan (or None).

    With a plan, the design year's result (:func:`years.design_solution`) is the run's solution.
    """
    limit = scenario.model.time_limit_s
    with progress_timer("model", total_s=limit, follow="siting.model"):  # its phases as they are logged
        if scenario.plan is None:
            return stages.solve_model(scenario, units, facilities, costs, threads=threads), None
        plan = years.solve_plan(scenario, units, facilities, costs, threads=threads)
        return years.design_solution(scenario, plan), plan


def _catchments_and_metrics(
    scenario: Scenario,
    units: Any,
    facilities: stages.Facilities,
    solution: SitingResult,
    costs: stages.Costs,
    crs: str,
) -> tuple[stages.Catchments, stages.Metrics]:
    """Draw the plan's catchments (:func:`stages.draw_catchments`) and compute its metrics on them."""
    drawn = stages.draw_catchments(
        scenario, units, facilities.facilities, solution, costs.costs, crs, unreachable=costs.unreachable
    )
    tables = stages.compute_metrics(
        drawn.schools,
        drawn.units,
        costs.costs,
        scenario.standards_object(),
        indicators=scenario.indicator_columns(),
        design_year=scenario.design_year,
        plan_for=scenario.plan_for,
    )
    return drawn, tables


def _assemble(
    scenario: Scenario,
    area: stages.StudyArea,
    facilities: stages.Facilities,
    costs: stages.Costs,
    solution: SitingResult,
    drawn: stages.Catchments,
    tables: stages.Metrics,
    summary: dict[str, Any],
    search: Any,
) -> RunResult:
    """Bundle the stages' outputs into one :class:`RunResult`."""
    return RunResult(
        scenario=scenario,
        standards=scenario.standards_object(),
        units=drawn.units,
        schools=drawn.schools,
        sites=facilities.sites,
        districts=area.districts,
        costs=costs.costs,
        solution=solution,
        assignment=drawn.assignment,
        catchments=drawn.catchments,
        current_catchments=drawn.current,
        changes=drawn.changes,
        school_metrics=tables.schools,
        district_metrics=tables.districts,
        cv=tables.cv,
        summary=json_ready(summary, 6),  # the in-memory summary is exactly what is saved
        options=facilities.options,
        unreachable=drawn.unreachable,
        contiguity=drawn.contiguity,
        overflow=tables.overflow,
        search_areas=search,
        district_years=tables.years,
        balance_schools=tables.balance,
    )


def _require_solution(scenario: Scenario, solution: SitingResult) -> None:
    """Stop the run, before anything is written, when the solver returned no solution."""
    if solution.status in SOLVED and len(solution.assignment):
        return
    limit = scenario.model.time_limit_s
    fix = (
        "the model cannot be satisfied: relax model.max_new_schools / model.budget_yuan or the "
        "standards' walking limits"
        if solution.status == "infeasible"
        else f"give the solver more time than {limit:g} s (model.time_limit_s or --time-limit)"
    )
    raise SolverError(
        f"scenario {scenario.name}: the solver found no solution (status {solution.status}: "
        f"{solution.solver_status}); nothing was written. To fix: {fix}."
    )


def _map_assets(result: RunResult) -> str:
    """The scenario's ``outputs.map_assets`` (``inline`` for a result without its scenario)."""
    return result.scenario.outputs.map_assets if result.scenario is not None else "inline"


def _map_files(map_path: Path | None) -> list[Path]:
    if map_path is None:
        return []
    from siting.maps import map_files

    return map_files(map_path)


def _search_area_totals(search: Any) -> dict[str, dict[str, float]]:
    """Per level: search areas, the pupils behind them, the new schools and the classes they ask for."""
    out = {}
    for level in ("primary", "junior"):
        rows = search[search["level"] == level] if len(search) else search
        more = rows[rows["need"] == "classes"] if len(rows) else rows
        out[level] = {
            "areas": len(rows),
            "pupils": float(rows["pupils"].sum()) if len(rows) else 0.0,
            "new_schools": int(rows["n_schools"].sum()) if len(rows) else 0,
            "classes_at_existing_schools": int(more["suggested_classes"].sum()) if len(more) else 0,
        }
    return out


def write_outputs(result: RunResult, out_dir: Path, map_path: Path | None, laps: _Laps | None = None) -> None:
    """Draw the maps (unless ``map_path`` is None) and save the result folder, all or nothing.

    Everything is staged under temporary names beside its target (the result folder beside ``out_dir``,
    each map beside itself), then moved in together (:mod:`siting._atomic`): an error or a kill leaves
    the earlier outputs, never a mix. ``summary.json`` gets the run's timings.

    Raises
    ------
    OutputWriteError
        When a file cannot be written (full disk, read-only folder); the earlier outputs are unchanged.
    """
    laps = laps or _Laps()
    with all_or_nothing() as staged:
        folder = staged.folder(out_dir)
        if map_path is not None:
            from siting import maps

            with laps("maps"):
                temps = maps.map_files(staged.file(map_path))
                for target, temp in zip(maps.map_files(map_path)[1:], temps[1:], strict=True):
                    staged.file(target, temp)
                maps.write_maps(result, temps[0], assets=_map_assets(result))
        result.summary["timings"] = laps.total()
        result._write(folder)
    result.out_dir, result.map_path = out_dir, map_path
    written = [out_dir, *_map_files(map_path)]
    log.info("outputs written together: %s", ", ".join(str(p) for p in written))


def compare_scenarios(results: list[RunResult]) -> pd.DataFrame:
    """Return one row of key figures per result (new schools, cost, walks, pupils moved, overflow...)."""
    rows = []
    for result in results:
        row = {"scenario": result.name}
        row.update(result.key_figures())
        sol = result.summary.get("solution", {})
        row["solver_status"] = sol.get("status")
        row["gap"] = sol.get("gap")
        rows.append(row)
    return pd.DataFrame(rows).set_index("scenario")
