"""The stages of a run, one function each, in the order :func:`siting.pipeline.run_scenario` calls them.

Each stage takes what it needs in its signature and returns what it made, so a notebook can run any stage
alone (``units, report = build_demand(scenario, area)``). Stages whose outputs are expensive (demand, the
road network, the cost table) are cached by their inputs (see ``siting._cache``): a variant that changes
only model parameters reuses them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import catchments as catch
from siting import demand, metrics, network
from siting._cache import cached
from siting._crs import utm_crs_for
from siting._log import get_logger
from siting.config import Scenario
from siting.errors import InputError
from siting.facilities import combine_facilities, read_layer, read_schools, read_sites, size_options
from siting.model import SitingModel, SitingResult
from siting.standards import LEVELS, LEVELS_SERVED, Standards

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
    """The walking-cost table and, per level, the units that reach no school."""

    costs: pd.DataFrame
    unreachable: pd.DataFrame


class Catchments(NamedTuple):
    """The plan drawn as catchments: units with their schools, the final assignment, polygons, changes."""

    units: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    assignment: pd.DataFrame
    catchments: gpd.GeoDataFrame
    current: gpd.GeoDataFrame
    changes: pd.DataFrame
    contiguity: pd.DataFrame


class Metrics(NamedTuple):
    """Per-school and per-district metrics (current and proposed) and the CV tables."""

    schools: pd.DataFrame
    districts: pd.DataFrame
    cv: pd.DataFrame


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
    return join_key(scenario.section_key("network"), crs)


# ------------------------------------------------------------------------------------------ stages
def read_study_area(scenario: Scenario) -> StudyArea:
    """Read the districts and choose the study CRS (the scenario's, or the UTM zone of the area).

    Raises
    ------
    InputError
        If the name field is missing or the layer is not polygons.
    """
    cfg = scenario.districts
    gdf = read_layer(cfg.path)
    if cfg.name_field not in gdf.columns:
        raise InputError(
            f"{cfg.path}: no field {cfg.name_field!r} for district names; fields are "
            f"{[c for c in gdf.columns if c != 'geometry']}. Set districts.name_field in the scenario."
        )
    if not gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise InputError(f"{cfg.path}: districts must be polygons, found {sorted(set(gdf.geom_type))}.")
    districts = gdf[[cfg.name_field, "geometry"]].rename(columns={cfg.name_field: "name"})
    districts["name"] = districts["name"].astype(str)
    crs = scenario.crs or utm_crs_for(tuple(districts.total_bounds), districts.crs).to_string()
    return StudyArea(districts.to_crs(crs), crs)


def build_demand(
    scenario: Scenario, area: StudyArea, *, cache_dir: Path | None = None
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Demand units with seat demand per level (cached), tagged with their current schools.

    Returns
    -------
    tuple
        ``(units, demand_report)``: units in the study CRS (see ``docs/architecture.md``, "Demand
        units") and the build's report (raster sum, relative error, method).
    """
    standards = scenario.standards_object()
    growth = scenario.population.growth.model_dump() if scenario.population.growth else None
    units_layer = read_layer(scenario.population.units) if scenario.population.units else None

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
        layer = read_layer(path).to_crs(area.crs)
        units = demand.assign_current(units, layer, level=level, name=str(path))
    return units, report


def read_facilities(scenario: Scenario, units: gpd.GeoDataFrame, crs: str) -> Facilities:
    """Existing schools and reserved sites, their size options, and a check of the current school ids.

    Raises
    ------
    InputError
        If a current catchment names a school that is not in the schools file.
    """
    standards = scenario.standards_object()
    schools = read_schools(scenario.schools, crs=crs, standards=standards)
    sites = read_sites(scenario.sites, crs=crs) if scenario.sites else _empty_sites(crs)
    facilities = combine_facilities(schools, sites)
    options = size_options(
        facilities,
        standards,
        allow_expansion=scenario.model.allow_expansion,
        expansion_step_classes=scenario.model.expansion_step_classes,
    )
    _check_current_ids(units, facilities, scenario)
    return Facilities(schools, sites, facilities, options)


def load_graph(scenario: Scenario, area: StudyArea, *, cache_dir: Path | None = None) -> Any:
    """The walking network of the study area (cached), projected to the study CRS."""
    graph, _ = cached(
        "network",
        network_key(scenario, area.crs),
        lambda: network.load_network(
            scenario.network.source,
            kind=scenario.network.kind,
            crs=area.crs,
            cache_dir=NETWORK_CACHE_DIR,
            study_area=area.districts,
        ),
        cache_dir=cache_dir,
    )
    return graph


def build_costs(
    scenario: Scenario,
    graph: Any,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    crs: str,
    *,
    cache_dir: Path | None = None,
) -> Costs:
    """The walking-cost table (cached) and the units that reach no school of each level.

    Pairs within the hard walking limit, plus every unit's current school whatever its distance.
    """
    standards = scenario.standards_object()
    key = join_key(
        network_key(scenario, crs),
        demand_key(scenario, crs),
        scenario.section_key("schools", "sites", "current_catchments", "standards"),
        str(scenario.network.max_snap_m),
    )
    costs, _ = cached(
        "costs",
        key,
        lambda: network.travel_costs(
            graph,
            units,
            facilities,
            max_distance_m=dict(standards.hard_max_distance_m),
            walking_speed_mps=standards.walking_speed_mps,
            max_snap_m=scenario.network.max_snap_m,
            pairs=_current_pairs(units),
        ),
        cache_dir=cache_dir,
    )
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


def solve_model(
    scenario: Scenario,
    units: gpd.GeoDataFrame,
    facilities: Facilities,
    costs: pd.DataFrame,
) -> SitingResult:
    """Build the siting model from the scenario's model parameters and solve it."""
    mp = scenario.model
    standards = scenario.standards_object()
    model = SitingModel.from_scenario(
        units,
        facilities.facilities,
        facilities.options,
        _bridge_fallback_pairs(units, facilities.facilities, costs, standards),
        standards=standards,
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
    )
    return model.solve(solver=mp.solver, time_limit_s=mp.time_limit_s, gap=mp.gap, mode=mp.mode)


def draw_catchments(
    scenario: Scenario,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    solution: SitingResult,
    costs: pd.DataFrame,
    crs: str,
) -> Catchments:
    """Apply the solution to the units, repair contiguity, and draw today's and the plan's catchments."""
    units = _apply_assignment(units, solution.assignment)
    schools_after = _schools_after(facilities, solution.opened)
    units, contiguity = _repair_contiguity(scenario, units, schools_after, costs, crs)
    assignment = _final_assignment(units, solution.assignment, costs)
    units = _add_seated_pupils(units, assignment)
    proposed = pd.concat(
        [catch.catchments_from_assignment(units, level=level) for level in LEVELS], ignore_index=True
    )
    current, _ = cached(  # today's catchments do not depend on the model: reuse them within a session
        "current_catchments",
        join_key(demand_key(scenario, crs), scenario.section_key("current_catchments")),
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
    return Catchments(units, schools_after, assignment, proposed, current, changes, contiguity)


def compute_metrics(
    schools: gpd.GeoDataFrame, units: gpd.GeoDataFrame, costs: pd.DataFrame, standards: Standards
) -> Metrics:
    """Per-school and per-district metrics for today (``current``) and the plan (``proposed``), and CVs."""
    school_table = pd.concat(
        [
            metrics.school_metrics(schools, units, standards=standards, column_prefix=p, costs=costs)
            for p in ("current", "proposed")
        ],
        ignore_index=True,
    )
    district_table = pd.concat(
        [
            metrics.district_metrics(
                schools,
                units,
                standards=standards,
                column_prefix=p,
                costs=costs,
                school_table=school_table[school_table["state"] == p],
            )
            for p in ("current", "proposed")
        ],
        ignore_index=True,
    )
    return Metrics(school_table, district_table, metrics.cv_tables(schools, units, standards=standards))


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


def _check_current_ids(units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, scenario: Scenario) -> None:
    for level, path in scenario.current_catchments.items():
        col = f"current_{level}"
        unknown = sorted(set(units[col].dropna()) - set(schools.index))
        if unknown:
            raise InputError(
                f"{path}: school_id value(s) {unknown[:5]} are not in the schools file {scenario.schools}; "
                "every current catchment must name an existing school."
            )


def _apply_assignment(units: gpd.GeoDataFrame, assignment: pd.DataFrame) -> gpd.GeoDataFrame:
    units = units.copy()
    for level in LEVELS:
        rows = assignment[assignment["level"] == level]
        # single-sourced: one row per unit; in split mode keep the school serving most pupils
        rows = rows.sort_values(["unit_id", "pupils"], ascending=[True, False]).drop_duplicates("unit_id")
        units[f"proposed_{level}"] = rows.set_index("unit_id")["school_id"].reindex(units.index)
    return units


def _schools_after(facilities: gpd.GeoDataFrame, opened: pd.DataFrame) -> gpd.GeoDataFrame:
    """Schools and sites with the plan applied: ``opened``, ``expanded``, ``option`` and capacities after."""
    out = facilities.copy()
    out["opened"] = out.index.isin(opened.index) & (out["status"] == "site")
    out["expanded"] = out.index.isin(opened.index) & (out["status"] == "existing")
    out["option"] = opened["option"].reindex(out.index) if len(opened) else pd.NA
    for level in LEVELS:
        added = opened[f"capacity_{level}"].reindex(out.index).fillna(0) if len(opened) else 0
        out[f"capacity_after_{level}"] = (out[f"capacity_{level}"] + added).astype("int64")
        classes = opened[f"classes_{level}"].reindex(out.index).fillna(0) if len(opened) else 0
        out[f"classes_after_{level}"] = (out[f"classes_{level}"] + classes).astype("int64")
    if len(opened) and "floor_area_m2" in opened.columns and "floor_area_m2" in out.columns:
        # a new school's floor area is the planned building's (the CV of the proposed state counts it)
        new_floor = opened["floor_area_m2"].reindex(out.index)
        is_new = out["opened"] & new_floor.notna()
        out.loc[is_new, "floor_area_m2"] = new_floor[is_new]
    return out


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
    for level in LEVELS:
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


def _add_seated_pupils(units: gpd.GeoDataFrame, assignment: pd.DataFrame) -> gpd.GeoDataFrame:
    """Add ``proposed_<level>_pupils``: the pupils each unit has at its school (the rest is shortfall)."""
    units = units.copy()
    for level in LEVELS:
        rows = assignment[assignment["level"] == level]
        seated = rows.groupby("unit_id")["pupils"].sum()
        units[f"proposed_{level}_pupils"] = seated.reindex(units.index).fillna(0.0).to_numpy()
    return units


def _final_assignment(units: gpd.GeoDataFrame, solved: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """Return the assignment after contiguity repair: the solver's, with repaired units' schools and walks.

    The solver's own assignment stays in ``solution.assignment`` (and ``solver_assignment.csv``); its
    objective refers to that one. Units moved by the repair keep their pupils and get the new walk.
    """
    out = solved.copy()
    lookup = costs.set_index(["unit_id", "school_id"])["distance_m"]
    for level in LEVELS:
        col = f"proposed_{level}"
        if col not in units.columns:
            continue
        rows = out["level"] == level
        final = units[col].reindex(out.loc[rows, "unit_id"]).to_numpy()
        moved = rows.copy()
        moved.loc[rows] = pd.notna(final) & (final != out.loc[rows, "school_id"].to_numpy())
        if moved.any():
            new_school = units[col].reindex(out.loc[moved, "unit_id"]).to_numpy()
            out.loc[moved, "school_id"] = new_school
            keys = pd.MultiIndex.from_arrays([out.loc[moved, "unit_id"], new_school])
            out.loc[moved, "distance_m"] = lookup.reindex(keys).to_numpy()
    return out


def _bridge_fallback_pairs(
    units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, costs: pd.DataFrame, standards: Standards
) -> pd.DataFrame:
    """Bridge until the cost stage adds fallback pairs (issue 13, pipeline side): remove it with that.

    A cost table without the ``fallback`` column predates them. A pair whose walk is ``inf`` (a current
    school across a gap in the network) gets its straight-line distance, and each unit-level with demand,
    no pair within the hard limit to an existing school with seats at that level and no current school
    gets one pair to the nearest such school by straight line (``fallback=True``), so the model can seat
    every unit.
    """
    if "fallback" in costs.columns:
        return costs
    upt = units.geometry.representative_point()
    spt = facilities.geometry.representative_point()
    costs = costs.copy()
    gap = ~np.isfinite(costs["distance_m"].to_numpy(dtype=float))
    if gap.any():
        ends = costs.loc[gap]
        line = upt[ends["unit_id"]].distance(spt[ends["school_id"]], align=False).to_numpy(dtype=float)
        costs.loc[gap, "distance_m"] = line
        costs.loc[gap, "time_s"] = line / standards.walking_speed_mps
        log.warning("bridge: %d pair(s) off the network get their straight-line distance", int(gap.sum()))
    kind = facilities["level"].astype(str)
    added = []
    for level in LEVELS:
        seats = pd.to_numeric(facilities[f"capacity_{level}"], errors="coerce").fillna(0.0)
        serving = kind.map(lambda k, lv=level: lv in LEVELS_SERVED.get(k, ())).astype(bool)
        ok = facilities.index[((facilities["status"] == "existing") & serving & (seats > 0)).to_numpy()]
        near = costs["school_id"].isin(ok) & (costs["distance_m"] <= standards.hard_max_distance_m[level])
        current = units.get(f"current_{level}", pd.Series(None, index=units.index, dtype=object))
        need = units.index[
            (units[level] > 0) & current.isna() & ~units.index.isin(costs.loc[near, "unit_id"])
        ]
        if not len(need) or not len(ok):
            continue
        dx = upt[need].x.to_numpy()[:, None] - spt[ok].x.to_numpy()[None, :]
        dy = upt[need].y.to_numpy()[:, None] - spt[ok].y.to_numpy()[None, :]
        dist = np.hypot(dx, dy)
        pick = dist.argmin(axis=1)
        metres = dist[np.arange(len(need)), pick]
        added.append(pd.DataFrame({"unit_id": need, "school_id": ok[pick], "distance_m": metres}))
    out = costs.assign(fallback=False)
    if not added:
        return out
    extra = pd.concat(added, ignore_index=True).drop_duplicates(["unit_id", "school_id"])
    known = pd.MultiIndex.from_frame(out[["unit_id", "school_id"]])
    extra = extra[~pd.MultiIndex.from_frame(extra[["unit_id", "school_id"]]).isin(known)]
    extra = extra.assign(time_s=extra["distance_m"] / standards.walking_speed_mps, fallback=True)
    log.warning("bridge: %d fallback pair(s) by straight line for units without any school", len(extra))
    return pd.concat([out, extra], ignore_index=True)
