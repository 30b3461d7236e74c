"""The city's files, in the formats real users have: GeoTIFF, OSM XML, GeoJSON, scenario YAML, README.

Every file is written here with fixed rounding and ordering, so the same city gives byte-identical files.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely

from siting._log import get_logger
from siting.errors import InputError, OutputExistsError
from siting.sample.city import _COORD_DIGITS, City, city_summary, generate_city
from siting.sample.population import NODATA

log = get_logger(__name__)

BASE_YEAR = 2025
"""Year the population and enrolment describe."""

FILES: tuple[str, ...] = (
    "population.tif",
    "roads.osm",
    "schools.geojson",
    "sites.geojson",
    "catchments_primary.geojson",
    "catchments_junior.geojson",
    "districts.geojson",
    "water.geojson",
    "README.md",
)
"""Files :func:`write_city` writes (plus ``scenarios/<name>.yaml``)."""

_NAME_RE = re.compile(r"^[a-z0-9_-]+$")


def _jsonable(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(float(value)):
            return None
        number = round(float(value), 3)
        return int(number) if number.is_integer() else number
    return str(value)


def _ring(coords: np.ndarray) -> list[list[float]]:
    return [[round(float(x), _COORD_DIGITS), round(float(y), _COORD_DIGITS)] for x, y in coords]


def _geometry_json(geom: shapely.Geometry) -> dict[str, Any]:
    if isinstance(geom, shapely.Point):
        return {"type": "Point", "coordinates": _ring(shapely.get_coordinates(geom))[0]}
    if isinstance(geom, shapely.Polygon):
        geom = shapely.orient_polygons(geom)  # RFC 7946: exterior counter-clockwise
        rings = [geom.exterior, *geom.interiors]
        return {"type": "Polygon", "coordinates": [_ring(np.asarray(r.coords)) for r in rings]}
    if isinstance(geom, shapely.MultiPolygon):
        parts = [_geometry_json(p)["coordinates"] for p in geom.geoms]
        return {"type": "MultiPolygon", "coordinates": parts}
    if isinstance(geom, shapely.LineString):
        return {"type": "LineString", "coordinates": _ring(np.asarray(geom.coords))}
    raise InputError(f"sample: cannot write a {geom.geom_type} to GeoJSON here.")


def _geojson_text(frame: gpd.GeoDataFrame, *, name: str, index: str | None = None) -> str:
    """GeoJSON (RFC 7946, EPSG:4326), one feature per line, fixed rounding: byte-identical on every run."""
    columns = [c for c in frame.columns if c != frame.geometry.name]
    lines = []
    for key, row, geom in zip(
        frame.index, frame[columns].itertuples(index=False), frame.geometry, strict=True
    ):
        props = {index: _jsonable(key)} if index else {}
        props.update({c: _jsonable(v) for c, v in zip(columns, row, strict=True)})
        feature = {"type": "Feature", "properties": props, "geometry": _geometry_json(geom)}
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    head = json.dumps({"type": "FeatureCollection", "name": name}, ensure_ascii=False)[:-1]
    return head + ',"features":[\n' + ",\n".join(lines) + "\n]}\n"


def _osm_text(city: City) -> str:
    """OSM XML 0.6 of the road network, nodes then ways in id order."""
    nodes = city.road_nodes
    lon, lat = nodes["lon"].to_numpy(), nodes["lat"].to_numpy()
    out = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<osm version="0.6" generator="siting sample (synthetic city)">',
        f'  <bounds minlat="{lat.min():.7f}" minlon="{lon.min():.7f}" '
        f'maxlat="{lat.max():.7f}" maxlon="{lon.max():.7f}"/>',
    ]
    out.extend(
        f'  <node id="{i}" version="1" lat="{y:.7f}" lon="{x:.7f}"/>'
        for i, x, y in zip(nodes.index.tolist(), lon.tolist(), lat.tolist(), strict=True)
    )
    for osmid, refs, tags in _osm_ways(city):
        out.append(f'  <way id="{osmid}" version="1">')
        out.extend(f'    <nd ref="{r}"/>' for r in refs)
        out.extend(f"    <tag k={quoteattr(k)} v={quoteattr(str(v))}/>" for k, v in tags)
        out.append("  </way>")
    out.append("</osm>")
    return "\n".join(out) + "\n"


def _osm_ways(city: City) -> Iterator[tuple[int, tuple[int, ...], list[tuple[str, str]]]]:
    """Each road as an OSM way: id, node ids and tags (``highway``, names, ``bridge``), in id order."""
    roads = city.roads
    for osmid, hw, name, name_en, bridge, refs in zip(
        roads["osmid"].tolist(),
        roads["highway"].tolist(),
        roads["name"].tolist(),
        roads["name_en"].tolist(),
        roads["bridge"].tolist(),
        roads["nodes"].tolist(),
        strict=True,
    ):
        tags = [("highway", hw)]
        if isinstance(name, str):
            tags += [("name", name), ("name:en", str(name_en))]
        if bridge:
            tags += [("bridge", "yes"), ("layer", "1")]
        yield osmid, refs, tags


def _write_pbf(city: City, path: Path) -> None:
    """The road network as an OSM PBF file (pyosmium's writer), nodes then ways in id order, as the XML."""
    import osmium

    nodes = city.road_nodes
    writer = osmium.SimpleWriter(str(path))
    try:
        for i, x, y in zip(nodes.index.tolist(), nodes["lon"].tolist(), nodes["lat"].tolist(), strict=True):
            writer.add_node(osmium.osm.mutable.Node(id=i, version=1, location=(x, y)))
        for osmid, refs, tags in _osm_ways(city):
            writer.add_way(osmium.osm.mutable.Way(id=osmid, version=1, nodes=list(refs), tags=dict(tags)))
    finally:
        writer.close()


def _write_raster(city: City, path: Path) -> None:
    rows, cols = city.population.shape
    profile = {
        "driver": "GTiff",
        "height": rows,
        "width": cols,
        "count": 1,
        "dtype": "float32",
        "crs": city.crs,
        "transform": city.transform,
        "nodata": NODATA,
        "compress": "deflate",
        "predictor": 3,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(city.population, 1)
        dst.update_tags(1, units="residents per cell", source="siting sample: synthetic Foshan-like city")


def _scenario_text(name: str, city: City, roads_file: str = "roads.osm") -> str:
    return f"""\
# Scenario for the sample city written by `siting sample` (seed {city.seed}). Paths are relative to this file.
# The schema is described in the README ("Scenario file"); every key below can be changed.
name: {name}
description: "Synthetic Foshan-like district: dense Old Town, Newtown short of seats, a river, few bridges."
crs: null
design_year: 2030
plan_for: design_year

population:
  raster: ../population.tif
  band: 1
  cell_size_m: 200
  units: null
  seats_per_1000: null
  growth:
    base_year: {BASE_YEAR}
    years: [2025, 2026, 2027, 2028, 2029, 2030]
    rate: {{default: 0.005, "Newtown": 0.06}}

districts:
  path: ../districts.geojson
  name_field: name

network:
  osm: ../{roads_file}
  max_snap_m: 250

schools: ../schools.geojson
sites: ../sites.geojson
current_catchments:
  primary: ../catchments_primary.geojson
  junior: ../catchments_junior.geojson

model:
  max_new_schools: 6
  budget_yuan: null
  allow_expansion: true
  expansion_step_classes: 6
  far_penalty: 3.0
  disruption_m: 300
  building_weight: 0.001
  overflow_m: 10000
  min_enrolment_share: 0.5
  balance_m: 1000
  utilisation_floor: 0.6
  single_source: true
  mode: round
  solver: highs
  time_limit_s: 30
  gap: 0.005
"""


def _readme_text(city: City, summary: Mapping[str, Any], name: str) -> str:
    rows = []
    for district, t in [*summary["districts"].items(), ("All", summary["total"])]:
        rows.append(
            f"| {district} | {t['residents']:,.0f} | {t['demand_primary']:,.0f} | "
            f"{t['capacity_primary']:,} | "
            f"{t['enrolled_primary']:,} | {t['demand_junior']:,.0f} | {t['capacity_junior']:,} | "
            f"{t['enrolled_junior']:,} |"
        )
    kinds = summary["schools"]
    left, bottom, right, top = city.districts.total_bounds
    return f"""\
# Sample city (synthetic)

A made-up, Foshan-like district written by `siting sample` (seed {city.seed}); regenerate it with
`siting sample data/raw/sample --overwrite`. Nothing here describes a real place: the names are borrowed
from Foshan to make the maps readable.

- Study area: lon {left:.4f}–{right:.4f}, lat {bottom:.4f}–{top:.4f}; four districts. Old Town is dense and
  old, Newtown grows fast and is short of seats, Riverside is mixed, Rural Edge is thin with villages.
- A river (`water.geojson`) crosses the area; roads cross it only on {summary["bridges"]} bridge way(s), so a
  school across the water can be near in a straight line and far on foot.
- {summary["residents"]:,.0f} residents in {summary["populated_cells"]:,} populated cells;
  {kinds["primary"]} primary, {kinds["junior"]} junior-middle and {kinds["nine_year"]} nine-year schools;
  {summary["sites"]} reserved parcels; {summary["road_nodes"]:,} road nodes in {summary["road_ways"]:,} ways
  ({summary["road_km"]:,.0f} km).

| file | what | format |
|---|---|---|
| `population.tif` | residents per cell, WorldPop-like | GeoTIFF, EPSG:4326, float32, nodata -99999 |
| `roads.osm` | streets, roads, tracks and bridges (`bridge=yes`) | OSM XML 0.6 (`osmnx.graph_from_xml`) |
| `schools.geojson` | existing schools: classes, seats, pupils, expansion room, resources | GeoJSON points |
| `sites.geojson` | reserved school parcels: level, area, central, first year available | GeoJSON polygons |
| `catchments_<level>.geojson` | current catchments (nearest school), primary and junior | GeoJSON |
| `districts.geojson` | districts (`name`); their union is the study area | GeoJSON polygons |
| `water.geojson` | the river | GeoJSON polygon |
| `scenarios/{name}.yaml` | the scenario that runs this city | YAML |

Demand: 80 primary (P) and 40 junior (J) seats per 1,000 residents. Seats = classes × 45 (P) or 50 (J).

| district | residents | P demand | P seats | P pupils | J demand | J seats | J pupils |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""


def write_city(
    city: City,
    dest: Path | str,
    *,
    overwrite: bool = False,
    name: str = "sample",
    roads_format: str = "osm",
) -> dict[str, Path]:
    """Write a city's files to the folder ``dest``, all at once.

    Files: ``population.tif``, ``roads.osm``, ``schools.geojson``, ``sites.geojson``,
    ``catchments_primary.geojson``, ``catchments_junior.geojson``, ``districts.geojson``, ``water.geojson``,
    ``README.md`` and ``scenarios/<name>.yaml``. The output is byte-identical for the same city.

    Parameters
    ----------
    city
        A city from :func:`generate_city`.
    dest
        Folder to write; created if missing.
    overwrite
        Replace the files of an earlier run in a non-empty ``dest`` (other files there are left alone).
    name
        Scenario name (lowercase letters, digits, ``_`` and ``-``): the scenario file and its ``name``.
    roads_format
        ``"osm"`` writes ``roads.osm`` (OSM XML); ``"pbf"`` writes ``roads.osm.pbf`` (OSM PBF, as planners
        download a city or province extract; a few times smaller and faster to read) instead.

    Returns
    -------
    dict
        File name (relative to ``dest``) → final path.

    Raises
    ------
    OutputExistsError
        If ``dest`` exists, is not empty, and ``overwrite`` is false.
    InputError
        If ``name`` is not a valid scenario name or ``dest`` is a file.
    """
    dest = Path(dest)
    _check_dest(dest, name, overwrite=overwrite)
    if roads_format not in ("osm", "pbf"):
        raise InputError(f"sample: roads_format must be 'osm' or 'pbf', got {roads_format!r}.")
    written = _write_folder(city, _texts(city, name, pbf=roads_format == "pbf"), dest)
    log.info("wrote the sample city to %s", dest)
    return {rel: dest / rel for rel in written}


def _check_dest(dest: Path, name: str, *, overwrite: bool) -> None:
    """Refuse a bad scenario name, a file as ``dest``, or a non-empty ``dest`` without ``overwrite``."""
    if not _NAME_RE.match(name):
        raise InputError(
            f"sample: scenario name {name!r} is not allowed; use lowercase letters, digits, '_' and '-'."
        )
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: is a file; give a folder to write the sample city into.")
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{dest}: the folder exists and is not empty; pass --overwrite (overwrite=True) to replace the "
            "sample files in it, or choose another folder."
        )


def _texts(city: City, name: str, *, pbf: bool = False) -> dict[str, str]:
    """Every text file of the city, by path relative to the folder (all but the raster and a PBF)."""
    summary = city_summary(city)
    roads = {} if pbf else {"roads.osm": _osm_text(city)}
    return {
        **roads,
        "schools.geojson": _geojson_text(city.schools, name="schools", index="school_id"),
        "sites.geojson": _geojson_text(city.sites, name="sites", index="school_id"),
        "catchments_primary.geojson": _geojson_text(city.catchments["primary"], name="catchments_primary"),
        "catchments_junior.geojson": _geojson_text(city.catchments["junior"], name="catchments_junior"),
        "districts.geojson": _geojson_text(city.districts, name="districts"),
        "water.geojson": _geojson_text(city.water, name="water"),
        "README.md": _readme_text(city, summary, name),
        f"scenarios/{name}.yaml": _scenario_text(name, city, "roads.osm.pbf" if pbf else "roads.osm"),
    }


def _write_folder(city: City, texts: Mapping[str, str], dest: Path) -> list[str]:
    """Write the raster and ``texts`` to a temporary folder beside ``dest``, then move them in at once.

    An empty or missing ``dest`` is replaced by the folder; otherwise each file replaces its old copy.
    Returns the paths written, relative to ``dest``.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the folder should look like any other
        _write_raster(city, tmp / "population.tif")
        binary = ["population.tif"]
        if "roads.osm" not in texts:
            _write_pbf(city, tmp / "roads.osm.pbf")
            binary.append("roads.osm.pbf")
        for rel, text in texts.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(text.encode("utf-8"))
        written = [*binary, *texts]
        if dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        if not dest.exists():
            tmp.replace(dest)
        else:
            for rel in written:
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).replace(dest / rel)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return written


def write_sample(dest: Path | str = Path("data/raw/sample"), *, overwrite: bool = False) -> dict[str, Path]:
    """Write the committed sample city (the defaults of :func:`generate_city`) to ``dest``.

    Parameters
    ----------
    dest
        Folder to write (default ``data/raw/sample``).
    overwrite
        Replace the files of an earlier run.

    Returns
    -------
    dict
        File name → path, as :func:`write_city`.
    """
    return write_city(generate_city(), dest, overwrite=overwrite, name="sample")
