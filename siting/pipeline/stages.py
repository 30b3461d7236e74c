"""The stages of a run, one function each, in the order :func:`siting.pipeline.run_scenario` calls them.

Each stage takes what it needs in its signature and returns what it made, so a notebook can run any stage
alone (``units, report = build_demand(scenario, area)``). Stages whose outputs are expensive (demand, the
road network, the cost table) are cached by their inputs (see ``siting._cache``): a variant that changes
only model parameters reuses them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import pandas as pd

from siting import catchments as catch
from siting import demand, metrics, network
from siting import search_areas as areas
from siting._cache import cached
from siting._crs import utm_crs_for
from siting._log import get_logger, progress
from siting.config import Scenario
from siting.errors import InputError
from siting.facilities import combine_facilities, read_layer, read_schools, read_sites, size_options
from siting.model import SitingModel, SitingResult
from siting.pipeline import seating
from siting.schema import CATCHMENTS, UNITS, districts_schema, read_values
from siting.standards import LEVELS, Standards

log = get_logger(__name__)

NETWORK_CACHE_DIR = Path("data/raw/cache")  # osmnx downloads, so a re-run works offline


class StudyArea(NamedTuple):
    """The districts (study CRS) and the study CRS itself."""

    districts: gpd.GeoDataFrame
    crs: str


class Facilities(NamedTuple):
    """Existing schools and reserved sites, in one table and apart, with the sizes each can open at."""

    schools: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    options: pd.DataFrame


class Costs(NamedTuple):
    """The walking-cost table (with its fallback pairs) and, per level, the units that reach no school."""

    costs: pd.DataFrame
    unreachable: pd.DataFrame


class Catchments(NamedTuple):
    """The plan drawn as catchments: units with their schools, the final assignment, polygons, changes.

    ``unreachable`` is the cost stage's table with the school each of those units got.
    """

    units: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    assignment: pd.DataFrame
    catchments: gpd.GeoDataFrame
    current: gpd.GeoDataFrame
    changes: pd.DataFrame
    contiguity: pd.DataFrame
    unreachable: pd.DataFrame


class Metrics(NamedTuple):
    """Per-school and per-district metrics (both states), seats per year, the CV and its causes, overflow."""

    schools: pd.DataFrame
    districts: pd.DataFrame
    cv: pd.DataFrame
    years: pd.DataFrame
    balance: pd.DataFrame
    overflow: pd.DataFrame


# ------------------------------------------------------------------------------------------ keys
def join_key(*parts: str) -> str:
    """Return a short hash of ``parts``: a cache key for a stage's output."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def demand_key(scenario: Scenario, crs: str) -> str:
    """Cache key of everything the demand units depend on."""
    key = scenario.section_key("population", "districts", "crs", "design_year", "plan_for", "standards")
    return join_key(key, crs)


def network_key(scenario: Scenario, crs: str) -> str:
    """Cache key of everything the road graph depends on."""
    return join_key(scenario.section_key("network"), crs, network.CACHE_VERSION)


# ------------------------------------------------------------------------------------------ stages
def read_study_area(scenario: Scenario) -> StudyArea:
    """Read the districts and choose the study CRS (the scenario's, or the UTM zone of the area).

    Raises
    ------
    InputError
        If the name field is missing (with "did you mean"), a name is empty, or the layer is not polygons.
    """
    cfg = scenario.districts
    schema = districts_schema(cfg.name_field)
    gdf = read_layer(cfg.path, schema=schema)
    names = read_values(gdf, schema, cfg.name_field, str(cfg.path))
    districts = gpd.GeoDataFrame({"name": names.astype(str)}, geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
    crs = scenario.crs or utm_crs_for(tuple(districts.total_bounds), districts.crs).to_string()
    return StudyArea(districts.to_crs(crs), crs)


def read_units(path: Path) -> gpd.GeoDataFrame:
    """Read residential-block units (``population.units``), indexed by ``unit_id`` (row numbers if absent)."""
    gdf = read_layer(path, schema=UNITS)
    if "unit_id" not in gdf.columns:
        return gdf.rename_axis("unit_id")
    ids = read_values(gdf, UNITS, "unit_id", str(path))
    if ids.duplicated().any():
        raise InputError(
            f"{path}: unit_id {ids[ids.duplicated()].iloc[0]!r} appears more than once; ids must be unique."
        )
    return gdf.drop(columns=["unit_id"]).set_axis(pd.Index(ids.to_numpy(dtype=object), name="unit_id"))


def read_catchments(path: Path, crs: str) -> gpd.GeoDataFrame:
    """Read one level's current catchments (polygons naming their ``school_id``), in the study CRS."""
    gdf = read_layer(path, schema=CATCHMENTS)
    gdf["school_id"] = read_values(gdf, CATCHMENTS, "school_id", str(path))
    return gdf.to_crs(crs)


def build_demand(
    scenario: Scenario,
    area: StudyArea,
    *,
    cache_dir: Path | None = None,
    catchments: dict[str, gpd.GeoDataFrame] | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Demand units with seat demand per level (cached), tagged with their current schools.

    Parameters
    ----------
    catchments
        Current catchments by level as :func:`read_catchments` returns them; read from the scenario's
        files when None.

    Returns
    -------
    tuple
        ``(units, demand_report)``: units in the study CRS (see ``docs/architecture.md``, "Demand
        units") and the build's report (raster sum, relative error, method).
    """
    standards = scenario.standards_object()
    growth = scenario.population.growth.model_dump() if scenario.population.growth else None
    units_layer = read_units(scenario.population.units) if scenario.population.units else None

    def build() -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
        return demand.demand_from_raster(
            scenario.population.raster,
            area=area.districts,
            standards=standards,
            cell_size_m=scenario.population.cell_size_m,
            crs=area.crs,
            band=scenario.population.band,
            units=units_layer,
            growth=growth,
            design_year=scenario.design_year,
            plan_for=scenario.plan_for,
            district_field="name",
        )

    (units, report), _ = cached("demand", demand_key(scenario, area.crs), build, cache_dir=cache_dir)
    units = units.copy()
    for level, path in scenario.current_catchments.items():
        layer = catchments[level] if catchments is not None else read_catchments(path, area.crs)
        units = demand.assign_current(units, layer, level=level, name=str(path))
    return units, report


def read_school_layers(scenario: Scenario, crs: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Existing schools and reserved sites as read (:func:`~siting.facilities.read_schools`), in ``crs``."""
    standards, indicators = scenario.standards_object(), scenario.indicator_columns()
    schools = read_schools(scenario.schools, crs=crs, standards=standards, indicator_columns=indicators)
    sites = read_sites(scenario.sites, crs=crs) if scenario.sites else _empty_sites(crs)
    return schools, sites


def read_facilities(
    scenario: Scenario,
    units: gpd.GeoDataFrame,
    crs: str,
    *,
    layers: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None = None,
) -> Facilities:
    """Existing schools and reserved sites and their size options.

    The current catchments' school ids are checked once, before any work, by
    :func:`siting.pipeline.checks.check_inputs` (which reads the same layers).

    Parameters
    ----------
    layers
        ``(schools, sites)`` already read by :func:`read_school_layers`; read from the files when None.

    Raises
    ------
    InputError
        If a level with demand has no school at all.
    """
    standards = scenario.standards_object()
    schools, sites = layers if layers is not None else read_school_layers(scenario, crs)
    facilities = combine_facilities(schools, sites)
    options = size_options(
        facilities,
        standards,
        allow_expansion=scenario.model.allow_expansion,
        expansion_step_classes=scenario.model.expansion_step_classes,
    )
    network.require_schools_per_level(units, facilities, name=str(scenario.schools))
    return Facilities(schools, sites, facilities, options)


def load_graph(scenario: Scenario, area: StudyArea, *, cache_dir: Path | None = None) -> Any:
    """The walking network of the study area (cached), projected to the study CRS."""
    graph, _ = cached(
        "network", network_key(scenario, area.crs), lambda: _read_graph(scenario, area), cache_dir=cache_dir
    )
    return graph


def load_roads(scenario: Scenario, area: StudyArea, *, cache_dir: Path | None = None) -> network.EdgeTable:
    """The walking network's edge table (cached): all :func:`build_costs` needs, without the graph.

    The graph is read as :func:`load_graph` reads it and let go once its table is made
    (:func:`siting.network.road_table`), so a city's networkx graph (a Python dict per node and edge) is
    never held while the costs, the model and the maps are made; :func:`load_graph` keeps the graph, for
    its street names.
    """
    table, _ = cached(
        "roads",
        network_key(scenario, area.crs),
        lambda: network.repacked(network.road_table(_read_graph(scenario, area))),
        cache_dir=cache_dir,
    )
    return table


def _read_graph(scenario: Scenario, area: StudyArea) -> Any:
    return network.load_network(
        scenario.network.source,
        kind=scenario.network.kind,
        crs=area.crs,
        cache_dir=NETWORK_CACHE_DIR,
        study_area=area.districts,
    )


def build_costs(
    scenario: Scenario,
    graph: Any,  # a road graph (load_graph) or its edge table (load_roads)
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    crs: str,
    *,
    cache_dir: Path | None = None,
) -> Costs:
    """The walking-cost table (cached) and the units that reach no school of each level.

    Pairs within the hard walking limit, plus every unit's current school whatever its distance, plus one
    fallback pair per unit and level with demand that has neither (:func:`siting.network.complete_costs`),
    so the model can seat every home. Every distance is finite (straight line where ``off_network``).
    """
    standards = scenario.standards_object()
    key = join_key(
        network_key(scenario, crs),
        demand_key(scenario, crs),
        scenario.section_key("schools", "sites", "current_catchments", "standards"),
        str(scenario.network.max_snap_m),
        "fallback-pairs",  # tables cached before fallback pairs existed are not reused
    )

    def build() -> pd.DataFrame:
        limits = dict(standards.hard_max_distance_m)
        speed, snap = standards.walking_speed_mps, scenario.network.max_snap_m
        table = network.travel_costs(
            graph,
            units,
            facilities,
            max_distance_m=limits,
            walking_speed_mps=speed,
            max_snap_m=snap,
            pairs=_current_pairs(units),
        )
        return network.complete_costs(
            graph,
            units,
            facilities,
            table,
            hard_max_distance_m=limits,
            walking_speed_mps=speed,
            max_snap_m=snap,
            name=str(scenario.schools),
        )

    costs, _ = cached("costs", key, build, cache_dir=cache_dir)
    unreachable = pd.concat(
        [
            network.unreachable_units(
                units, costs, level=level, schools=facilities, max_distance_m=standards.hard_max_distance_m
            )
            .assign(level=level)
            .reset_index()
            for level in LEVELS
        ],
        ignore_index=True,
    )
    return Costs(costs, unreachable)


def current_schools(
    scenario: Scenario, units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, costs: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Today's school of every unit per level: from the scenario's catchment file, else the nearest by walk.

    Returns
    -------
    tuple
        ``(units, how)``: units with ``current_<level>`` for every level, and per level how they were
        obtained (``summary.json`` records it under ``current_assignment``).
    """
    return seating.derive_current(units, facilities, costs, dict(scenario.current_catchments))


def solve_model(
    scenario: Scenario,
    units: gpd.GeoDataFrame,
    facilities: Facilities,
    costs: pd.DataFrame,
    *,
    threads: int | None = None,
) -> SitingResult:
    """Build the siting model from the scenario's model parameters and solve it.

    ``threads`` is the solver's thread count (None: the solver's default; a parallel sweep passes 1).
    """
    mp = scenario.model
    model = SitingModel.from_scenario(
        units,
        facilities.facilities,
        facilities.options,
        costs,
        standards=scenario.standards_object(),
        max_new_schools=mp.max_new_schools,
        budget_yuan=mp.budget_yuan,
        allow_expansion=mp.allow_expansion,
        far_penalty=mp.far_penalty,
        disruption_m=mp.disruption_m,
        building_weight=mp.building_weight,
        overflow_m=mp.overflow_m,
        overflow_ceiling_class_size=mp.overflow_ceiling_class_size,
        min_enrolment_share=mp.min_enrolment_share,
        single_source=mp.single_source,
        design_year=scenario.design_year,
        balance_m=mp.balance_m,
        utilisation_floor=mp.utilisation_floor,
    )
    return model.solve(
        solver=mp.solver, time_limit_s=mp.time_limit_s, gap=mp.gap, mode=mp.mode, threads=threads
    )


def draw_catchments(
    scenario: Scenario,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    solution: SitingResult,
    costs: pd.DataFrame,
    crs: str,
    *,
    unreachable: pd.DataFrame | None = None,
) -> Catchments:
    """Apply the solution to the units, repair contiguity, and draw today's and the plan's catchments.

    The final assignment carries ``beyond_limit`` and ``off_network``; ``unreachable`` (from
    :func:`build_costs`) comes back with the school each of its units got.
    """
    standards = scenario.standards_object()
    units = seating.apply_assignment(units, solution.assignment)
    schools_after = seating.schools_after(
        facilities, solution.opened, standards, scenario.indicator_columns()
    )
    seating.check_overflow(solution, schools_after)
    units, contiguity = _repair_contiguity(scenario, units, schools_after, costs, crs)
    assignment = seating.final_assignment(units, solution.assignment, costs)
    assignment = seating.flag_walks(assignment, costs, standards)
    units = seating.add_seated_pupils(units, assignment)
    proposed = pd.concat(
        [catch.catchments_from_assignment(units, level=level) for level in LEVELS], ignore_index=True
    )
    current, _ = cached(  # today's catchments do not depend on the model: reuse them within a session
        "current_catchments",
        join_key(
            demand_key(scenario, crs),
            network_key(scenario, crs),  # derived current schools depend on the walks
            scenario.section_key("current_catchments", "schools", "standards"),
        ),
        lambda: pd.concat(
            [
                catch.catchments_from_assignment(units, level=level, column=f"current_{level}")
                for level in LEVELS
                if f"current_{level}" in units.columns
            ],
            ignore_index=True,
        ),
        cache_dir=None,
    )
    proposed = gpd.GeoDataFrame(proposed, geometry="geometry", crs=crs)
    current = (
        gpd.GeoDataFrame(current.copy(), geometry="geometry", crs=crs) if len(current) else proposed.iloc[:0]
    )
    changes = pd.concat(
        [
            catch.compare_catchments(units, level=level, costs=costs)
            for level in LEVELS
            if f"current_{level}" in units.columns
        ],
        ignore_index=True,
    )
    got = seating.unreachable_schools(
        unreachable if unreachable is not None else pd.DataFrame(columns=["unit_id", "level"]),
        assignment,
        units,
        costs,
    )
    return Catchments(units, schools_after, assignment, proposed, current, changes, contiguity, got)


def compute_metrics(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    costs: pd.DataFrame,
    standards: Standards,
    *,
    indicators: Mapping[str, str] | None = None,
    design_year: int | None = None,
    plan_for: str | None = None,
) -> Metrics:
    """Metrics for today (``current``) and the plan (``proposed``): schools, districts, years, CV, overflow.

    The overflow table (:func:`siting.metrics.overflow_table`) is read from the same per-school metrics.

    Parameters
    ----------
    schools, units, costs
        The schools after the plan, the units with both assignments, the walking costs.
    standards
        Policy values.
    indicators
        ``{column: indicator key}`` (``Scenario.indicator_columns()``); declared indicators whose column is
        missing are logged and listed in the CV table, never counted as zero.
    design_year, plan_for
        How the units' demand was chosen (the scenario's), so seats per 1,000 residents use the residents
        of that year; ``plan_for=None`` infers it from the units' columns.
    """
    _warn_missing_indicators(schools, indicators)
    tables = {"schools": [], "districts": [], "years": []}
    for state in [s for s in metrics.STATES if any(f"{s}_{lv}" in units.columns for lv in LEVELS)]:
        school_table = metrics.school_metrics(
            schools, units, standards=standards, column_prefix=state, costs=costs
        )
        tables["schools"].append(school_table)
        common = {"standards": standards, "column_prefix": state, "school_table": school_table}
        tables["districts"].append(
            metrics.district_metrics(
                schools, units, costs=costs, year=design_year, plan_for=plan_for, **common
            )
        )
        tables["years"].append(metrics.district_years(schools, units, **common))
    cv = metrics.cv_tables(schools, units, standards=standards, indicators=indicators)
    reach = metrics.pupils_within_reach(units, costs, standards=standards) if costs is not None else None
    balance = metrics.balance_schools(
        schools, units, standards=standards, indicators=indicators, cv=cv, reach=reach
    )
    joined = {name: pd.concat(frames, ignore_index=True) for name, frames in tables.items()}
    overflow = metrics.overflow_table(
        schools, units, standards=standards, costs=costs, school_table=joined["schools"]
    )
    return Metrics(joined["schools"], joined["districts"], cv, joined["years"], balance, overflow)


def _warn_missing_indicators(schools: gpd.GeoDataFrame, indicators: Mapping[str, str] | None) -> None:
    """Log the national indicators the schools file gives no data for (they are reported, not zero)."""
    table = metrics.indicator_columns(schools, indicators)
    missing = table[table["status"] == "missing column"]
    if len(missing):
        listed = ", ".join(f"{r.indicator} (column {r.column!r})" for r in missing.itertuples())
        log.warning(
            "schools: no data for indicator(s) %s; the difference coefficient lists them as missing. Add the "
            "columns or map yours under 'indicators:' in the scenario.",
            listed,
        )
    undeclared = table.loc[table["status"] == "not declared", "indicator"].tolist()
    if undeclared:
        log.warning(
            "scenario: indicator(s) %s not mapped to a schools column under 'indicators:'.", undeclared
        )


def find_search_areas(
    scenario: Scenario,
    drawn: Catchments,
    facilities: Facilities,
    overflow: pd.DataFrame,
    costs: pd.DataFrame,
) -> gpd.GeoDataFrame:
    """Search areas for new school land behind the overflow the plan leaves (:func:`siting.search_areas`).

    Reads the overflow after the plan (``overflow.csv``'s ``overflow_after``), the final catchments and the
    reserved parcels the plan did not open.
    """
    after = overflow[["school_id", "level", "overflow_after"]].rename(columns={"overflow_after": "overflow"})
    return areas.search_areas(
        drawn.units,
        drawn.schools,
        after,
        costs=costs,
        standards=scenario.standards_object(),
        sites=facilities.sites,
        options=facilities.options,
    )


# ------------------------------------------------------------------------------------------ helpers
def _empty_sites(crs: str) -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame({"level": [], "status": []}, geometry=[], crs=crs)
    gdf.index.name = "school_id"
    return gdf


def _current_pairs(units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Every (unit, current school) pair, so the cost table holds today's walks whatever their length."""
    frames = []
    for level in LEVELS:
        col = f"current_{level}"
        if col in units.columns:
            known = units[col].dropna()
            frames.append(pd.DataFrame({"unit_id": known.index.to_numpy(), "school_id": known.to_numpy()}))
    if not frames:
        return pd.DataFrame({"unit_id": [], "school_id": []})
    return pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)


def _repair_contiguity(
    scenario: Scenario,
    units: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    costs: pd.DataFrame,
    crs: str,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Reattach stray catchment pieces where the scenario asks for it; return units and the repair report."""
    if not (scenario.catchments.repair_contiguity and scenario.model.single_source):
        return units, pd.DataFrame()
    adjacency, _ = cached(  # depends only on the units' polygons
        "adjacency",
        join_key(demand_key(scenario, crs), str(len(units))),
        lambda: catch.adjacency_pairs(units),
        cache_dir=None,
    )
    repairs = []
    for level in progress(LEVELS, desc="contiguity repair", unit="level"):
        units, report = catch.repair_contiguity(
            units,
            level=level,
            costs=costs,
            schools=schools,
            standards=scenario.standards_object(),
            adjacency=adjacency,
        )
        repairs.append(report.assign(level=level) if "level" not in report.columns else report)
    return units, pd.concat(repairs, ignore_index=True)
