"""Run a scenario end to end and hold what it produced.

Public names:

- :func:`run_scenario`, :func:`compare_scenarios` (``run.py``): the whole run, key figures side by side;
- :func:`sweep` (``sweep.py``): a parameter sweep, in this process or in worker processes (Dask);
- :class:`RunResult` (``result.py``): everything a run produced, saved to and loaded from a folder;
- the stages (``stages.py``), in the order a run calls them: :func:`read_study_area`,
  :func:`build_demand`, :func:`read_facilities`, :func:`load_roads` (the network's edge table; or
  :func:`load_graph`, the graph), :func:`build_costs`, :func:`current_schools`, :func:`solve_model`,
  :func:`draw_catchments`, :func:`compute_metrics`, :func:`find_search_areas`, then :func:`write_outputs`;
- ``seating.py``: the stages' helpers that apply the plan to the units and read it against the hard limit
  (today's schools by walk when no catchments are given, ``beyond_limit`` / ``off_network``, the school
  each unreachable unit got).

The pipeline imports the stage packages; no stage imports the pipeline.
"""

from siting.pipeline.result import GPKG_FILE, SUMMARY_FILE, RunResult
from siting.pipeline.run import compare_scenarios, run_scenario, write_outputs
from siting.pipeline.stages import (
    build_costs,
    build_demand,
    compute_metrics,
    current_schools,
    draw_catchments,
    find_search_areas,
    load_graph,
    load_roads,
    read_facilities,
    read_study_area,
    solve_model,
)
from siting.pipeline.sweep import sweep

__all__ = [
    "GPKG_FILE",
    "SUMMARY_FILE",
    "RunResult",
    "build_costs",
    "build_demand",
    "compare_scenarios",
    "compute_metrics",
    "current_schools",
    "draw_catchments",
    "find_search_areas",
    "load_graph",
    "load_roads",
    "read_facilities",
    "read_study_area",
    "run_scenario",
    "solve_model",
    "sweep",
    "write_outputs",
]
