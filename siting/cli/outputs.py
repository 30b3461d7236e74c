"""Commands that draw and print from a result: ``siting map``, ``siting review``, ``siting pack``."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from siting.cli._group import cli
from siting.errors import OutputExistsError, SitingError


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
