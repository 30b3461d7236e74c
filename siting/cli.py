"""Command line: a thin layer over the library (``siting run``, ``siting sample``, ``siting demand``...).

Each command parses its options, calls one library function and prints what it returned. Logging is
configured here and nowhere else (``-v`` / ``-q``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from siting import __version__
from siting._log import logs_above_bars, set_progress
from siting.config import CELL_SIZE_RANGE_M
from siting.errors import OutputExistsError, SitingError, SweepError


class _Commands(click.Group):
    """The command group: an error siting raises on purpose is printed as one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SitingError as exc:
            click.echo(f"Error: {' '.join(str(exc).split())}", err=True)
            ctx.exit(2)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="siting")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
def cli(verbose: int, quiet: bool) -> None:
    """Plan new school sites and catchments from population, roads and schools."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    # other libraries (pyogrio's "Created 192 records", osmnx, rasterio) speak at INFO only with -vv
    others = logging.DEBUG if verbose > 1 else logging.WARNING
    logging.basicConfig(level=others, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("siting").setLevel(level)
    set_progress(not quiet)


# -- commands are added below this line, one function each, importing their stage module lazily --


@cli.command("map")
@click.argument("result_dir", type=click.Path(path_type=Path))
@click.option(
    "--kind", type=click.Choice(["all", "siting", "hearing", "review"]), default="all", show_default=True
)
@click.option("--against", "against_dir", type=click.Path(path_type=Path), help="Result to compare (review).")
@click.option("--out", "out_path", type=click.Path(path_type=Path), help="HTML file [default: under maps/].")
@click.option("--basemap", type=click.Choice(["osm", "amap", "tianditu", "none"]), default="osm")
@click.option("--tianditu-key", envvar="TIANDITU_KEY", help="Tianditu API key (or $TIANDITU_KEY).")
@click.option(
    "--assets",
    type=click.Choice(["inline", "cdn"]),
    default="inline",
    show_default=True,
    help="Leaflet and plugins inside the file (opens with no network) or linked from CDNs.",
)
@click.option(
    "--offline", is_flag=True, hidden=True, help="Earlier spelling of --assets inline (the default)."
)
@click.option("--level", type=click.Choice(["primary", "junior", "both"]), default="both", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing map file.")
def map_command(
    result_dir: Path,
    kind: str,
    against_dir: Path | None,
    out_path: Path | None,
    basemap: str,
    tianditu_key: str | None,
    assets: str,
    offline: bool,
    level: str,
    overwrite: bool,
) -> None:
    """Draw the maps of a saved result (RESULT_DIR from `siting run`): general, hearing and/or review."""
    from siting import maps
    from siting.pipeline import RunResult

    result = RunResult.load(result_dir)
    kw = {
        "basemap": basemap,
        "tianditu_key": tianditu_key,
        "assets": "inline" if offline else assets,
        "level": level,
    }
    stem = out_path.with_suffix("") if out_path else Path("maps") / maps.result_slug(result)
    targets = {k: Path(f"{stem}{suffix}.html") for k, suffix in [("siting", ""), ("hearing", "-hearing"),
                                                                    ("review", "-review")]}  # fmt: skip
    if out_path is not None and kind != "all":
        targets[kind] = out_path
    chosen = ["siting", "hearing", "review"] if kind == "all" else [kind]
    existing = [str(targets[k]) for k in chosen if targets[k].exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{', '.join(existing)} already exist; pass --overwrite to replace them.")
    against = RunResult.load(against_dir) if against_dir is not None else None
    for k in chosen:
        if k == "siting":
            path = maps.save_map(maps.siting_map(result, **kw), targets[k])
        elif k == "hearing":
            path = maps.hearing_map(result, targets[k], **kw)
        else:
            path = maps.review_map(result, against, targets[k], **kw)
        click.echo(f"{path}  ({path.stat().st_size / 1e6:.1f} MB)")


@cli.command("sample")
@click.argument("dest", required=False, default="data/raw/sample", type=click.Path(path_type=Path))
@click.option("--residents", type=int, default=450_000, show_default=True, help="Residents of the city.")
@click.option("--width-km", type=float, default=9.0, show_default=True, help="West–east size, km.")
@click.option("--height-km", type=float, default=7.5, show_default=True, help="South–north size, km.")
@click.option("--seed", type=int, default=None, help="Random seed [default: the committed sample's].")
@click.option("--name", default="sample", show_default=True, help="Scenario name (scenarios/<name>.yaml).")
@click.option("--overwrite", is_flag=True, help="Replace the files of an earlier run in DEST.")
@click.option("--walking-paths", is_flag=True, help="Add footways: a walking network of real density.")
@click.option("--pbf", is_flag=True, help="Write the roads as roads.osm.pbf instead of roads.osm.")
def sample(
    dest: Path,
    residents: int,
    width_km: float,
    height_km: float,
    seed: int | None,
    name: str,
    overwrite: bool,
    walking_paths: bool,
    pbf: bool,
) -> None:
    """Write a synthetic Foshan-like city (raster, roads, schools, sites, scenario) to DEST."""
    from siting.sample import DEFAULT_SEED, city_summary, generate_city, write_city

    city = generate_city(
        residents=residents,
        width_km=width_km,
        height_km=height_km,
        seed=DEFAULT_SEED if seed is None else seed,
        walking_paths=walking_paths,
    )
    paths = write_city(city, dest, overwrite=overwrite, name=name, roads_format="pbf" if pbf else "osm")
    for path in paths.values():
        click.echo(f"{path}  ({path.stat().st_size:,} bytes)")
    s = city_summary(city)
    t = s["total"]
    click.echo(
        f"{s['residents']:,.0f} residents; {sum(s['schools'].values())} schools {s['schools']}; "
        f"{s['sites']} sites; {s['road_nodes']:,} road nodes, {s['bridges']} bridge ways"
    )
    for level in ("primary", "junior"):
        click.echo(
            f"{level}: demand {t[f'demand_{level}']:,.0f} seats, capacity {t[f'capacity_{level}']:,}, "
            f"enrolled {t[f'enrolled_{level}']:,}"
        )


@cli.command("review")
@click.argument("result_dir", type=click.Path(path_type=Path))
@click.option(
    "--against",
    "against_dir",
    type=click.Path(path_type=Path),
    help="Another result folder: compare its proposal (before) with RESULT_DIR's (after).",
)
@click.option("--level", type=click.Choice(["primary", "junior", "both"]), default="both", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Also write the tables here.")
@click.option(
    "--pack",
    "pack_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the printable review pack (HTML + PDF) into this folder.",
)
@click.option("--no-pdf", is_flag=True, help="Write the pack as HTML only.")
@click.option("--overwrite", is_flag=True, help="Replace tables already in --out, or the --pack folder.")
def review_command(
    result_dir: Path,
    against_dir: Path | None,
    level: str,
    out_dir: Path | None,
    pack_dir: Path | None,
    no_pdf: bool,
    overwrite: bool,
) -> None:
    """Print the review tables of a result: units that move (by grid reference), schools and districts."""
    from siting.pipeline import RunResult
    from siting.report import (
        TERMINAL_COLUMNS,
        format_table,
        hearing_tables,
        review_tables,
        unit_places,
        write_packs,
        write_tables,
    )

    result = RunResult.load(result_dir)
    against = RunResult.load(against_dir) if against_dir is not None else None
    if pack_dir is not None and pack_dir.exists() and not overwrite:
        raise OutputExistsError(f"{pack_dir} exists; pass --overwrite to replace the pack.")
    tables = review_tables(result, against=against, level=level)
    places = unit_places(result.units)
    changes = tables["changes"]
    tables["changes"] = changes.assign(grid_ref=places["grid_ref"].reindex(changes["unit_id"]).to_numpy())
    tables["changes"] = tables["changes"][["grid_ref", *changes.columns]]
    if against is None:
        tables.update(hearing_tables(result))
    titles = {
        "changes": "Units that change school (grid reference: 1 km sheet, then 100 m east and south)",
        "schools": "Schools before and after",
        "districts": "Districts before and after",
        "cv": "Difference coefficient (pupil-weighted CV) before and after",
        "sites": "New sites",
        "expansions": "Expanded schools",
    }
    for name, table in tables.items():
        shown = table[[c for c in TERMINAL_COLUMNS.get(name, table.columns) if c in table.columns]]
        click.echo(f"\n{titles.get(name, name)} ({len(table):,} rows)")
        click.echo(format_table(shown, max_rows=40))
    if out_dir is not None:
        paths = write_tables(tables, out_dir, overwrite=overwrite)
        click.echo(f"\nWrote {len(paths)} files to {out_dir}")
    if pack_dir is not None:
        files = write_packs(
            result,
            pack_dir,
            hearing=False,
            review=against is None,
            against={against.name: against} if against is not None else None,
            roads=_roads(result),
            pdf=not no_pdf,
            overwrite=overwrite,
        )
        for path in files.values():
            click.echo(f"{path}  ({path.stat().st_size / 1e6:.1f} MB)")


@cli.command("pack")
@click.argument("result_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--against",
    "against_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Another result folder: add a review pack of this plan against it (repeatable).",
)
@click.option(
    "--resolve/--no-resolve",
    default=True,
    show_default=True,
    help="Re-solve with each parcel forced open (and each chosen one forced closed) for the brief.",
)
@click.option(
    "--resolve-time-limit",
    type=float,
    default=30.0,
    show_default=True,
    help="Solver time limit of each re-solve, seconds (one solve per parcel, plus one).",
)
@click.option(
    "--roads/--no-roads", default=True, show_default=True, help="Name the nearest road of each unit."
)
@click.option("--no-pdf", is_flag=True, help="Write the HTML documents only.")
@click.option("--overwrite", is_flag=True, help="Replace an existing pack folder.")
def pack_command(
    result_dir: Path,
    against_dirs: tuple[Path, ...],
    resolve: bool,
    resolve_time_limit: float,
    roads: bool,
    no_pdf: bool,
    overwrite: bool,
) -> None:
    """Write the hearing brief and the review pack (HTML + PDF) into RESULT_DIR/pack, all at once.

    The pack holds hearing-brief.html/.pdf (one page per reserved parcel), review-pack.html/.pdf (every
    unit that changes school, by school), review-pack-vs-<other>.html/.pdf per --against, the brief's
    tables (CSV) and hearing-map.html (each parcel's case in its popup, Leaflet inlined).
    """
    from siting import maps
    from siting.pipeline import RunResult
    from siting.report import hearing_brief, write_packs
    from siting.report.pack import HEARING_MAP_FILE, PACK_DIR

    result = RunResult.load(result_dir)
    dest = result_dir / PACK_DIR
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest} exists; pass --overwrite to replace the pack.")
    others = {r.name: r for r in (RunResult.load(p) for p in against_dirs)}
    road_lines = _roads(result) if roads else None
    brief = hearing_brief(result, roads=road_lines, resolve=resolve, time_limit_s=resolve_time_limit)

    def hearing(folder: Path, tables: object) -> None:
        maps.hearing_map(result, folder / HEARING_MAP_FILE, brief=tables, offline=True)  # type: ignore[arg-type]

    files = write_packs(
        result,
        dest,
        against=others,
        brief=brief,
        roads=road_lines,
        pdf=not no_pdf,
        overwrite=overwrite,
        extra=hearing,
    )
    for path in files.values():
        click.echo(f"{path}  ({path.stat().st_size / 1e6:.1f} MB)")


def _roads(result: object) -> object:
    """The named streets of the result's road network (from its scenario file), or None with a warning."""
    from siting.config import load_scenario
    from siting.pipeline import load_graph, read_study_area
    from siting.report import roads_from_graph

    source = (getattr(result, "summary", None) or {}).get("scenario_file")
    if not source or not Path(source).is_file():
        logging.getLogger("siting").warning("no road names in the pack: scenario file %s not found", source)
        return None
    try:
        scenario = load_scenario(Path(source))
        graph = load_graph(scenario, read_study_area(scenario), cache_dir=Path("data/processed/_cache"))
    except SitingError as exc:
        logging.getLogger("siting").warning("no road names in the pack: %s", exc)
        return None
    return roads_from_graph(graph)


@cli.command("costs")
@click.option(
    "--network",
    "network_source",
    required=True,
    help="Road network file (.osm, .graphml, line layer) or a place name.",
)
@click.option("--units", "units_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--schools", "schools_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--max-distance", type=float, required=True, help="Hard walking limit, metres.")
@click.option("--speed", type=float, default=1.0, show_default=True, help="Walking speed, m/s.")
@click.option(
    "--max-snap", type=float, default=250.0, show_default=True, help="Snap limit to a road, metres."
)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def costs_command(
    network_source: str,
    units_path: Path,
    schools_path: Path,
    max_distance: float,
    speed: float,
    max_snap: float,
    out_path: Path,
    overwrite: bool,
) -> None:
    """Walking costs of unit-school pairs within --max-distance, written to --out (Parquet)."""
    from siting.network import costs_cli

    click.echo(
        costs_cli(
            network_source,
            units_path=units_path,
            schools_path=schools_path,
            max_distance_m=max_distance,
            walking_speed_mps=speed,
            max_snap_m=max_snap,
            out=out_path,
            overwrite=overwrite,
        )
    )


@cli.command("demand")
@click.argument("raster", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--area",
    required=True,
    help="Study area: a polygon file (.geojson/.gpkg/.shp) or 'left,bottom,right,top' in EPSG:4326.",
)
@click.option(
    "--cell-size",
    type=click.FloatRange(*CELL_SIZE_RANGE_M),
    default=200.0,
    show_default=True,
    help="Grid unit size, metres (as population.cell_size_m in a scenario).",
)
@click.option("--crs", default=None, help="Projected study CRS, e.g. EPSG:32649 (default: UTM zone).")
@click.option("--band", type=int, default=None, help="Band holding population counts (multi-band files).")
@click.option("--district-field", default="name", show_default=True, help="District name field of --area.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def demand_command(
    raster: Path,
    area: str,
    cell_size: float,
    crs: str | None,
    band: int | None,
    district_field: str,
    out_path: Path,
    overwrite: bool,
) -> None:
    """Build demand units from RASTER and write them to --out (GeoPackage); print the totals."""
    from siting.demand import format_demand_report, write_demand_units

    report = write_demand_units(
        raster,
        area=area,
        cell_size_m=cell_size,
        crs=crs,
        band=band,
        district_field=district_field,
        out=out_path,
        overwrite=overwrite,
    )
    click.echo(format_demand_report(report))


@cli.command("run")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Result folder (default data/processed/<name>/).",
)
@click.option(
    "--map",
    "map_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML map (default maps/<name>.html).",
)
@click.option("--overwrite", is_flag=True, help="Replace earlier outputs of this scenario.")
@click.option("--no-cache", is_flag=True, help="Rebuild demand, network and costs even if cached.")
@click.option("--time-limit", type=float, default=None, help="Solver time limit in seconds.")
@click.option(
    "--map-assets",
    type=click.Choice(["inline", "cdn"]),
    default=None,
    help="Leaflet in the map files (no network needed) or from CDNs [default: outputs.map_assets, inline].",
)
def run_command(
    scenario_file: Path,
    out_dir: Path | None,
    map_path: Path | None,
    overwrite: bool,
    no_cache: bool,
    time_limit: float | None,
    map_assets: str | None,
) -> None:
    """Run SCENARIO_FILE end to end: demand, walking costs, model, catchments, metrics, maps.

    Exit status: 0 done, 1 aborted, 2 an error (bad input, no solution, outputs not writable), told in
    one line; on an error nothing is written and earlier outputs stay as they were.
    """
    from siting.config import load_scenario
    from siting.pipeline import run_scenario

    scenario = load_scenario(scenario_file)
    if time_limit is not None:
        scenario = scenario.replace(time_limit_s=time_limit)
    if map_assets is not None:
        scenario = scenario.replace(**{"outputs.map_assets": map_assets})
    with logs_above_bars():  # a bar per long stage on a terminal (none with -q or when piped)
        result = run_scenario(
            scenario,
            out_dir=out_dir,
            map_path=map_path,
            overwrite=overwrite,
            cache_dir=None if no_cache else Path("data/processed/_cache"),
        )
    click.echo(_run_report(result))


def _number(value: object, spec: str) -> str:
    """``value`` formatted with ``spec``, or ``n/a`` when it is missing (None)."""
    return "n/a" if value is None else format(value, spec)


def _plan_report(plan: dict | None, schedule: object) -> list[str]:
    """The year-by-year plan's lines: its certified gap over all years and when each school opens."""
    if not plan:
        return []
    gap = None if plan.get("gap") is None else 100 * plan["gap"]
    years = plan.get("years") or []
    lines = [
        f"plan {years[0]}-{years[-1]} (every year): {plan['status']}, objective "
        f"{_number(plan.get('objective'), ',.0f')}, bound {_number(plan.get('bound'), ',.0f')}, gap "
        f"{_number(gap, '.2f')}% (the solution above is the design year {plan.get('design_year')})"
    ]
    for row in getattr(schedule, "itertuples", lambda **_: [])(index=False):
        lines.append(f"  opens {row.opening_year}: {row.school_id} {row.name} {row.option}")
    return lines


def _run_report(result: object) -> str:
    summary = result.summary  # type: ignore[attr-defined]
    sol = summary["solution"]
    gap = None if sol.get("gap") is None else 100 * sol["gap"]
    lines = [
        f"scenario {summary['scenario']}: solver {sol['status']} ({sol.get('solver')}), "
        f"objective {_number(sol.get('objective'), ',.0f')}, bound {_number(sol.get('bound'), ',.0f')}, "
        f"gap {_number(gap, '.2f')}%, {_number(sol.get('solve_time_s'), '.1f')} s",
    ]
    for key, value in summary["key_figures"].items():
        shown = (
            f"{value:,.3f}"
            if isinstance(value, float) and abs(value) < 10
            else (f"{value:,.0f}" if isinstance(value, float) else str(value))
        )
        lines.append(f"  {key:<32} {shown}")
    for school in summary["new_schools"]:
        lines.append(f"  new school {school['school_id']} {school['name']}: {school['option']}")
    for ind in summary.get("balance_worsened", []):
        causes = ", ".join(f"{s['school_id']} ({s['action']})" for s in ind["schools"]) or "none named"
        lines.append(
            f"  balance: {ind['level']} {ind['indicator']} CV {ind['cv_before']:.3f} today, "
            f"{ind['cv_after']:.3f} in the plan (limit {ind['cv_max']:.2f}); schools behind it: {causes} "
            "(why: balance_schools.csv)"
        )
    lines += _plan_report(summary.get("plan"), getattr(result, "plan_tables", {}).get("schedule"))
    lines.append(f"results: {result.out_dir}")  # type: ignore[attr-defined]
    if result.map_path:  # type: ignore[attr-defined]
        lines.append(f"map: {result.map_path}")  # type: ignore[attr-defined]
    return "\n".join(lines)


@cli.command("compare")
@click.argument("scenario_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "map_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Side-by-side map of the first two scenarios (default maps/compare-<a>-<b>.html).",
)
@click.option("--overwrite", is_flag=True, help="Replace earlier outputs.")
def compare_command(scenario_files: tuple[Path, ...], map_path: Path | None, overwrite: bool) -> None:
    """Run several scenarios and print their key figures side by side."""
    from siting.config import load_scenario
    from siting.pipeline import compare_scenarios, run_scenario

    results = [run_scenario(load_scenario(p), overwrite=overwrite) for p in scenario_files]
    table = compare_scenarios(results)
    click.echo(table.T.to_string())
    if len(results) >= 2:
        from siting import maps

        path = map_path or Path("maps") / f"compare-{results[0].name}-{results[1].name}.html"
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it.")
        written = maps.review_map(results[0], other=results[1], path=path)
        click.echo(f"side-by-side map: {written}")


@cli.command("sweep")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("parameter")
@click.argument("values", nargs=-1, required=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes (Dask).")
@click.option("--write", is_flag=True, help="Write each variant's result folder (replacing earlier ones).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="The table as CSV.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--no-cache", is_flag=True, help="Rebuild demand, network and costs even if cached.")
def sweep_command(scenario_file: Path, parameter: str, values: tuple[str, ...], **options: object) -> None:
    """Run SCENARIO_FILE once per VALUE of PARAMETER and print the key figures side by side.

    E.g. `siting sweep scenario.yaml max_new_schools 0 2 4 6 --workers 2`. Each VALUE is read as YAML
    (`null`, `0.5`, `{primary: 800}`). --workers above 1 needs `pip install 'siting[parallel]'`.
    """
    from siting.pipeline.sweep import sweep_cli

    text, failed = sweep_cli(scenario_file, parameter, list(values), **options)
    click.echo(text)
    if failed:
        raise SweepError(failed)  # the group prints it in one line and exits 2


def main() -> None:
    """Entry point of the ``siting`` console script: clear messages instead of tracebacks for bad input."""
    try:
        code = cli.main(standalone_mode=False)  # a SitingError is printed by the group and returns 2
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SitingError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":  # python -m siting.cli ...
    main()
