"""The run's ``summary.json``: scenario, key figures, solver, new schools, demand build, parameters."""

from __future__ import annotations

from typing import Any

from siting import __version__, metrics
from siting.config import Scenario
from siting.model import SitingResult
from siting.pipeline.stages import Catchments, Costs, Metrics
from siting.standards import LEVELS


def run_summary(
    scenario: Scenario,
    crs: str,
    demand_report: dict[str, Any],
    solution: SitingResult,
    costs: Costs,
    drawn: Catchments,
    tables: Metrics,
) -> dict[str, Any]:
    """Return the summary of one run (made JSON-ready by the caller with ``json_ready``).

    Its ``key_figures`` are the flat dict of :func:`siting.metrics.summary`, computed from the metric
    tables the run already has.
    """
    standards = scenario.standards_object()
    key = metrics.summary(
        drawn.schools,
        drawn.units,
        standards=standards,
        costs=costs.costs,
        changes=drawn.changes,
        solution=solution,
        school_table=tables.schools,
        district_table=tables.districts,
        cv=tables.cv,
    )
    facilities, unreachable = drawn.schools, costs.unreachable
    opened = facilities[facilities["opened"]]
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "siting_version": __version__,
        "scenario_file": str(scenario.source) if scenario.source else None,
        "crs": crs,
        "key_figures": key,
        "solution": solution.summary(),
        "new_schools": [
            {
                "school_id": sid,
                "name": row["name"],
                "level": row["level"],
                "option": row["option"],
                "capacity_primary": int(row["capacity_after_primary"]),
                "capacity_junior": int(row["capacity_after_junior"]),
            }
            for sid, row in opened.iterrows()
        ],
        "demand": demand_report,
        "units": len(drawn.units),
        "unreachable_units": {
            level: int((unreachable["level"] == level).sum()) if len(unreachable) else 0 for level in LEVELS
        },
        "contiguity_repairs": len(drawn.contiguity),
        "changes": len(drawn.changes),
        "model_parameters": scenario.model.model_dump(mode="json"),
        "standards": standards.to_dict(),
    }
