"""The run's ``summary.json``: scenario, key figures, solver, new schools, demand build, parameters."""

from __future__ import annotations

from typing import Any

from siting import __version__, metrics
from siting.config import Scenario
from siting.model import SitingResult
from siting.pipeline.seating import beyond_limit_counts
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
    current_how: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Return the summary of one run (made JSON-ready by the caller with ``json_ready``).

    Its ``key_figures`` are the flat dict of :func:`siting.metrics.summary`, computed from the metric
    tables the run already has. ``current_assignment`` says per level how today's schools were obtained
    (``current_how``: a catchment file, or the nearest existing school by walk); ``beyond_limit`` counts
    the units and pupils whose school is farther than the hard limit; ``overflow`` the pupils above
    standard capacity per level, before and after.
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
        "balance_worsened": metrics.worsened_indicators(tables.cv, tables.balance),
        "balance_failing_without_plan": metrics.failing_without_plan(tables.cv, tables.balance),
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
        "current_assignment": dict(current_how or {}),
        "unreachable_units": {
            level: int((unreachable["level"] == level).sum()) if len(unreachable) else 0 for level in LEVELS
        },
        "beyond_limit": beyond_limit_counts(drawn.assignment),
        "overflow": _overflow_totals(tables.overflow),
        "contiguity_repairs": len(drawn.contiguity),
        "stray_pieces_left": _stray_left(drawn.contiguity),
        "changes": len(drawn.changes),
        "model_parameters": scenario.model.model_dump(mode="json"),
        "standards": standards.to_dict(),
    }


def _stray_left(report: Any) -> dict[str, int]:
    """Catchment pieces the contiguity repair left stray, per reason code (``catchments.WHY``)."""
    if len(report) == 0 or "why" not in report.columns:
        return {}
    left = report.loc[~report["repaired"].astype(bool), "why"]
    return {str(k): int(v) for k, v in left.value_counts().sort_index().items()}


def _overflow_totals(overflow: Any) -> dict[str, dict[str, float]]:
    """Per level: pupils above standard capacity before and after, and the schools with more after."""
    out = {}
    for level in LEVELS:
        rows = overflow[overflow["level"] == level] if len(overflow) else overflow
        out[level] = {
            "before": float(rows["overflow_before"].sum()) if len(rows) else 0.0,
            "after": float(rows["overflow_after"].sum()) if len(rows) else 0.0,
            "schools_with_more_after": int((rows["why"].fillna("") != "").sum()) if len(rows) else 0,
        }
    return out
