"""Commands that make or prepare inputs: ``siting sample``, ``siting costs``, ``siting demand``."""

from __future__ import annotations

from pathlib import Path

import click

from siting.cli._group import cli
from siting.config import CELL_SIZE_RANGE_M


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
