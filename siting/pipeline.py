"""Run a scenario end to end: raster → demand → walking costs → model → catchments, metrics → files and maps.

The command line (``siting run``) and notebooks call :func:`run_scenario`; both get a :class:`RunResult`.
Demand, the road network and the cost table are cached by their inputs (see ``siting._cache``), so a
variant that changes only model parameters does not rebuild them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from siting import __version__
from siting._cache import DEFAULT_CACHE_DIR, cached
from siting._crs import utm_crs_for
from siting._jsonify import json_ready
from siting._log import get_logger
from siting.config import Scenario
from siting.errors import InputError, OutputExistsError
from siting.facilities import combine_facilities, read_layer, read_schools, read_sites, size_options
from siting.standards import LEVELS, Standards

log = get_logger(__name__)

SUMMARY_FILE = "summary.json"
GPKG_FILE = "siting.gpkg"


@dataclass
class RunResult:
    """Everything one scenario run produced; maps, reports and notebooks read it.

    Attributes follow ``docs/architecture.md`` ("Run result"). ``summary`` is JSON-ready; its
    ``timings`` entry is the only part that differs between two runs of the same scenario.
    """

    scenario: Scenario | None
    standards: Standards
    units: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    costs: pd.DataFrame
    solution: Any
    assignment: pd.DataFrame
    catchments: gpd.GeoDataFrame
    current_catchments: gpd.GeoDataFrame
    changes: pd.DataFrame
    school_metrics: pd.DataFrame
    district_metrics: pd.DataFrame
    cv: pd.DataFrame
    summary: dict[str, Any]
    options: pd.DataFrame = field(default_factory=pd.DataFrame)
    unreachable: pd.DataFrame = field(default_factory=pd.DataFrame)
    contiguity: pd.DataFrame = field(default_factory=pd.DataFrame)
    out_dir: Path | None = None
    map_path: Path | None = None

    @property
    def name(self) -> str:
        """The scenario's name."""
        return str(self.summary.get("scenario", "result"))

    # ------------------------------------------------------------------ saving and loading
    def save(self, out_dir: str | Path, *, overwrite: bool = False) -> Path:
        """Write the result to ``out_dir`` atomically (all files appear at once, or none).

        Files: ``siting.gpkg`` (layers units, schools, sites, catchments, current_catchments, changes,
        districts), CSV tables (assignment, opened, shortfall, changes, school_metrics, district_metrics,
        cv, options, unreachable, contiguity), ``costs.parquet`` and ``summary.json``.

        Raises
        ------
        OutputExistsError
            If ``out_dir`` holds an earlier result and ``overwrite`` is false.
        """
        out_dir = Path(out_dir)
        _refuse_overwrite(out_dir, None, overwrite)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
        try:
            self._write(tmp)
            if out_dir.exists():
                shutil.rmtree(out_dir)
            tmp.replace(out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.out_dir = out_dir
        return out_dir

    def _write(self, folder: Path) -> None:
        gpkg = folder / GPKG_FILE
        _to_gpkg(self.units, gpkg, "units")
        _to_gpkg(self.schools, gpkg, "schools")
        if len(self.sites):
            _to_gpkg(self.sites, gpkg, "sites")
        _to_gpkg(self.catchments, gpkg, "catchments")
        _to_gpkg(self.current_catchments, gpkg, "current_catchments")
        _to_gpkg(self.districts, gpkg, "districts")
        if len(self.changes):
            geoms = self.units.geometry.reindex(self.changes["unit_id"]).to_numpy()
            changes = gpd.GeoDataFrame(self.changes.copy(), geometry=list(geoms), crs=self.units.crs)
            _to_gpkg(changes, gpkg, "changes")
        tables = {
            "assignment": self.assignment,
            "solver_assignment": self.solution.assignment,
            "opened": self.solution.opened.reset_index(),
            "shortfall": self.solution.shortfall,
            "changes": self.changes,
            "school_metrics": self.school_metrics,
            "district_metrics": self.district_metrics,
            "cv": self.cv,
            "options": self.options,
            "unreachable": self.unreachable,
            "contiguity": self.contiguity,
        }
        for name, table in tables.items():
            table.to_csv(folder / f"{name}.csv", index=False, float_format="%.6g")
        self.costs.to_parquet(folder / "costs.parquet", index=False)
        (folder / SUMMARY_FILE).write_text(
            json.dumps(json_ready(self.summary, 6), indent=2, ensure_ascii=False, sort_keys=False) + "\n",
            encoding="utf-8",
        )

    @classmethod
    def load(cls, out_dir: str | Path) -> RunResult:
        """Read a result written by :meth:`save` (for ``siting review`` and comparisons).

        Raises
        ------
        InputError
            If ``out_dir`` does not hold a siting result.
        """
        from siting.model import SitingResult

        out_dir = Path(out_dir)
        summary_path = out_dir / SUMMARY_FILE
        if not summary_path.exists():
            raise InputError(
                f"{out_dir}: no {SUMMARY_FILE} here, so it is not a siting result folder; "
                "give the folder `siting run` wrote (data/processed/<scenario>/)."
            )
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        gpkg = out_dir / GPKG_FILE

        def layer(name: str, index: str | None) -> gpd.GeoDataFrame:
            try:
                gdf = gpd.read_file(gpkg, layer=name)
            except Exception:
                return gpd.GeoDataFrame(geometry=[], crs=summary.get("crs"))
            return gdf.set_index(index) if index and index in gdf.columns else gdf

        def table(name: str) -> pd.DataFrame:
            path = out_dir / f"{name}.csv"
            try:
                return pd.read_csv(path)
            except (FileNotFoundError, pd.errors.EmptyDataError):
                return pd.DataFrame()

        units = layer("units", "unit_id")
        schools = layer("schools", "school_id")
        opened = table("opened")
        solution = SitingResult.from_tables(
            summary=summary.get("solution", {}),
            opened=opened.set_index("school_id") if "school_id" in opened.columns else opened,
            assignment=table("solver_assignment"),
            shortfall=table("shortfall"),
        )
        return cls(
            scenario=None,
            standards=Standards.foshan().with_overrides(_standards_overrides(summary)),
            units=units,
            schools=schools,
            sites=layer("sites", "school_id"),
            districts=layer("districts", None),
            costs=pd.read_parquet(out_dir / "costs.parquet"),
            solution=solution,
            assignment=table("assignment"),
            catchments=layer("catchments", None),
            current_catchments=layer("current_catchments", None),
            changes=table("changes"),
            school_metrics=table("school_metrics"),
            district_metrics=table("district_metrics"),
            cv=table("cv"),
            summary=summary,
            options=table("options"),
            unreachable=table("unreachable"),
            contiguity=table("contiguity"),
            out_dir=out_dir,
        )

    # ------------------------------------------------------------------ display
    def key_figures(self) -> dict[str, Any]:
        """The headline numbers (one row of :func:`compare_scenarios`)."""
        return dict(self.summary.get("key_figures", {}))

    def __repr__(self) -> str:
        figures = ", ".join(f"{k}={_fmt(v)}" for k, v in self.key_figures().items())
        return f"<RunResult {self.name}: {figures}>"

    def _repr_html_(self) -> str:
        import html

        sol = self.summary.get("solution", {})
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
            for k, v in self.key_figures().items()
        )
        status = html.escape(f"{sol.get('status')} (gap {_fmt(sol.get('gap'))})")
        return f"<b>siting result: {html.escape(self.name)}</b> — solver {status}<table>{rows}</table>"


# ------------------------------------------------------------------------------------------ the run
def run_scenario(
    scenario: Scenario,
    *,
    out_dir: str | Path | None = None,
    map_path: str | Path | None = None,
    overwrite: bool = False,
    write: bool = True,
    draw_map: bool = True,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
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
        Write files at all (a notebook exploring variants may keep results in memory only).
    draw_map
        Write the HTML maps (needs ``write``).
    cache_dir
        Folder for cached stage outputs; ``None`` disables file caching (the in-process cache remains).

    Returns
    -------
    RunResult
        Everything the run produced.
    """
    from siting import catchments as catch
    from siting import demand, metrics, network
    from siting.model import SitingModel

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    out_dir = Path(out_dir) if out_dir is not None else scenario.output_dir()
    map_path = Path(map_path) if map_path is not None else scenario.map_path()
    if write:
        _refuse_overwrite(out_dir, map_path if draw_map else None, overwrite)
    cache = Path(cache_dir) if cache_dir is not None else None
    standards = scenario.standards_object()

    def lap(name: str, start: float) -> None:
        timings[name] = round(time.perf_counter() - start, 3)

    # -- study area and CRS
    t = time.perf_counter()
    districts = _read_districts(scenario)
    crs = scenario.crs or utm_crs_for(tuple(districts.total_bounds), districts.crs).to_string()
    districts = districts.to_crs(crs)

    # -- demand units (cached)
    growth = scenario.population.growth.model_dump() if scenario.population.growth else None
    units_layer = read_layer(scenario.population.units) if scenario.population.units else None

    def build_demand() -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
        return demand.demand_from_raster(
            scenario.population.raster,
            area=districts,
            standards=standards,
            cell_size_m=scenario.population.cell_size_m,
            crs=crs,
            band=scenario.population.band,
            units=units_layer,
            growth=growth,
            design_year=scenario.design_year,
            plan_for=scenario.plan_for,
            district_field="name",
        )

    demand_key = scenario.section_key(
        "population", "districts", "crs", "design_year", "plan_for", "standards"
    )
    demand_key = _join_key(demand_key, crs)
    (units, demand_report), _ = cached("demand", demand_key, build_demand, cache_dir=cache)
    units = units.copy()
    for level, path in scenario.current_catchments.items():
        layer = read_layer(path).to_crs(crs)
        units = demand.assign_current(units, layer, level=level, name=str(path))
    lap("demand", t)

    # -- schools and reserved sites
    t = time.perf_counter()
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
    lap("facilities", t)

    # -- network and costs (cached)
    t = time.perf_counter()
    network_key = _join_key(scenario.section_key("network"), crs)
    graph, _ = cached(
        "network",
        network_key,
        lambda: network.load_network(
            scenario.network.source,
            kind=scenario.network.kind,
            crs=crs,
            cache_dir=Path("data/raw/cache"),
            study_area=districts,
        ),
        cache_dir=cache,
    )
    lap("network", t)
    t = time.perf_counter()
    pairs = _current_pairs(units)
    costs_key = _join_key(
        network_key,
        demand_key,
        scenario.section_key("schools", "sites", "current_catchments", "standards"),
        str(scenario.network.max_snap_m),
    )
    costs, _ = cached(
        "costs",
        costs_key,
        lambda: network.travel_costs(
            graph,
            units,
            facilities,
            max_distance_m=dict(standards.hard_max_distance_m),
            walking_speed_mps=standards.walking_speed_mps,
            max_snap_m=scenario.network.max_snap_m,
            pairs=pairs,
        ),
        cache_dir=cache,
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
    lap("costs", t)

    # -- the model
    t = time.perf_counter()
    mp = scenario.model
    model = SitingModel.from_scenario(
        units,
        facilities,
        options,
        costs,
        standards=standards,
        max_new_schools=mp.max_new_schools,
        budget_yuan=mp.budget_yuan,
        allow_expansion=mp.allow_expansion,
        far_penalty=mp.far_penalty,
        disruption_m=mp.disruption_m,
        building_weight=mp.building_weight,
        shortfall_m=mp.shortfall_m,
        min_enrolment_share=mp.min_enrolment_share,
        single_source=mp.single_source,
        design_year=scenario.design_year,
    )
    solution = model.solve(solver=mp.solver, time_limit_s=mp.time_limit_s, gap=mp.gap, mode=mp.mode)
    lap("model", t)

    # -- catchments, changes, metrics
    t = time.perf_counter()
    units = _apply_assignment(units, solution.assignment)
    schools_after = _schools_after(facilities, solution.opened)
    repairs = []
    if scenario.catchments.repair_contiguity and mp.single_source:
        adjacency, _ = cached(  # depends only on the units' polygons
            "adjacency",
            _join_key(demand_key, str(len(units))),
            lambda: catch.adjacency_pairs(units),
            cache_dir=None,
        )
        for level in LEVELS:
            units, report = catch.repair_contiguity(
                units,
                level=level,
                costs=costs,
                schools=schools_after,
                standards=standards,
                adjacency=adjacency,
            )
            repairs.append(report.assign(level=level) if "level" not in report.columns else report)
    contiguity = pd.concat(repairs, ignore_index=True) if repairs else pd.DataFrame()
    assignment = _final_assignment(units, solution.assignment, costs)
    units = _add_seated_pupils(units, assignment)
    catchments = pd.concat(
        [catch.catchments_from_assignment(units, level=level) for level in LEVELS], ignore_index=True
    )
    current, _ = cached(  # today's catchments do not depend on the model: reuse them within a session
        "current_catchments",
        _join_key(demand_key, scenario.section_key("current_catchments")),
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
    catchments = gpd.GeoDataFrame(catchments, geometry="geometry", crs=crs)
    current = (
        gpd.GeoDataFrame(current.copy(), geometry="geometry", crs=crs)
        if len(current)
        else catchments.iloc[:0]
    )
    changes = pd.concat(
        [
            catch.compare_catchments(units, level=level, costs=costs)
            for level in LEVELS
            if f"current_{level}" in units.columns
        ],
        ignore_index=True,
    )
    school_table = pd.concat(
        [
            metrics.school_metrics(schools_after, units, standards=standards, column_prefix=p, costs=costs)
            for p in ("current", "proposed")
        ],
        ignore_index=True,
    )
    district_table = pd.concat(
        [
            metrics.district_metrics(
                schools_after,
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
    cv = metrics.cv_tables(schools_after, units, standards=standards)
    lap("catchments_metrics", t)

    summary = _summary(
        scenario=scenario,
        standards=standards,
        crs=crs,
        units=units,
        facilities=schools_after,
        demand_report=demand_report,
        solution=solution,
        changes=changes,
        unreachable=unreachable,
        contiguity=contiguity,
        key=metrics.summary(
            schools_after,
            units,
            standards=standards,
            costs=costs,
            changes=changes,
            solution=solution,
            school_table=school_table,
            district_table=district_table,
            cv=cv,
        ),
    )
    result = RunResult(
        scenario=scenario,
        standards=standards,
        units=units,
        schools=schools_after,
        sites=sites,
        districts=districts,
        costs=costs,
        solution=solution,
        assignment=assignment,
        catchments=catchments,
        current_catchments=current,
        changes=changes,
        school_metrics=school_table,
        district_metrics=district_table,
        cv=cv,
        summary=summary,
        options=options,
        unreachable=unreachable,
        contiguity=contiguity,
    )
    result.summary = summary = json_ready(summary, 6)  # the in-memory summary is exactly what is saved
    if write:
        t = time.perf_counter()
        if draw_map:
            from siting import maps

            result.map_path = maps.write_maps(result, map_path)
        lap("maps", t)
        timings["total"] = round(time.perf_counter() - t_start, 3)
        summary["timings"] = timings
        result.save(out_dir, overwrite=True)
    else:
        timings["total"] = round(time.perf_counter() - t_start, 3)
        summary["timings"] = timings
    log.info("scenario %s done in %.1f s", scenario.name, timings["total"])
    return result


def compare_scenarios(results: list[RunResult]) -> pd.DataFrame:
    """Return one row of key figures per result (new schools, cost, walks, pupils moved, shortfall...)."""
    rows = []
    for result in results:
        row = {"scenario": result.name}
        row.update(result.key_figures())
        sol = result.summary.get("solution", {})
        row["solver_status"] = sol.get("status")
        row["gap"] = sol.get("gap")
        rows.append(row)
    return pd.DataFrame(rows).set_index("scenario")


def sweep(
    scenario: Scenario,
    parameter: str,
    values: list[Any],
    *,
    write: bool = False,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
) -> tuple[list[RunResult], pd.DataFrame]:
    """Run one scenario over a range of one parameter and tabulate the key figures.

    Only the model is re-solved when ``parameter`` is a model parameter: demand, the network and the
    cost table come from the cache after the first run.

    Parameters
    ----------
    scenario
        The base scenario.
    parameter
        Any key :meth:`Scenario.replace` accepts, e.g. ``"max_new_schools"`` or ``"disruption_m"``.
    values
        The values to try, in order.
    write
        Write each variant's files (under ``data/processed/<name>-<parameter>-<value>/``).
    cache_dir
        As for :func:`run_scenario`.

    Returns
    -------
    tuple
        ``(results, table)``; the table has one row per value (see :func:`compare_scenarios`) and a column
        named after ``parameter``.
    """
    from siting._log import progress

    results = []
    for value in progress(values, desc=f"sweep {parameter}", unit="run"):
        label = str(value).replace(" ", "").replace("/", "-")
        variant = scenario.replace(**{parameter: value, "name": f"{scenario.name}-{parameter}-{label}"})
        results.append(
            run_scenario(variant, write=write, draw_map=False, overwrite=True, cache_dir=cache_dir)
        )
    table = compare_scenarios(results)
    table.insert(0, parameter, list(values))
    return results, table


# ------------------------------------------------------------------------------------------ helpers
def _read_districts(scenario: Scenario) -> gpd.GeoDataFrame:
    cfg = scenario.districts
    gdf = read_layer(cfg.path)
    if cfg.name_field not in gdf.columns:
        raise InputError(
            f"{cfg.path}: no field {cfg.name_field!r} for district names; fields are "
            f"{[c for c in gdf.columns if c != 'geometry']}. Set districts.name_field in the scenario."
        )
    if not gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise InputError(f"{cfg.path}: districts must be polygons, found {sorted(set(gdf.geom_type))}.")
    out = gdf[[cfg.name_field, "geometry"]].rename(columns={cfg.name_field: "name"})
    out["name"] = out["name"].astype(str)
    return out


def _empty_sites(crs: str) -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame({"level": [], "status": []}, geometry=[], crs=crs)
    gdf.index.name = "school_id"
    return gdf


def _current_pairs(units: gpd.GeoDataFrame) -> pd.DataFrame:
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


def _summary(
    *,
    scenario: Scenario,
    standards: Standards,
    crs: str,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    demand_report: dict[str, Any],
    solution: Any,
    changes: pd.DataFrame,
    unreachable: pd.DataFrame,
    contiguity: pd.DataFrame,
    key: dict[str, Any],
) -> dict[str, Any]:
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
        "units": len(units),
        "unreachable_units": {
            level: int((unreachable["level"] == level).sum()) if len(unreachable) else 0 for level in LEVELS
        },
        "contiguity_repairs": len(contiguity),
        "changes": len(changes),
        "model_parameters": scenario.model.model_dump(mode="json"),
        "standards": standards.to_dict(),
    }


def _standards_overrides(summary: dict[str, Any]) -> dict[str, Any]:
    values = dict(summary.get("standards", {}))
    defaults = Standards.foshan().to_dict()
    return {k: v for k, v in values.items() if k in defaults and v != defaults[k]}


def _refuse_overwrite(out_dir: Path, map_path: Path | None, overwrite: bool) -> None:
    if overwrite:
        return
    existing = []
    if out_dir.exists() and any(out_dir.iterdir()):
        existing.append(str(out_dir))
    if map_path is not None and map_path.exists():
        existing.append(str(map_path))
    if existing:
        raise OutputExistsError(
            f"earlier outputs exist: {', '.join(existing)}. Pass --overwrite (overwrite=True) to replace "
            "them, or set outputs.dir / outputs.map in the scenario to keep both."
        )


def _to_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    frame = gdf.reset_index() if gdf.index.name else gdf.reset_index(drop=True)
    for col in frame.columns:
        if col != frame.geometry.name and frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: None if v is None or v is pd.NA else str(v))
    frame.to_file(path, layer=layer, driver="GPKG")


def _join_key(*parts: str) -> str:
    import hashlib

    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
