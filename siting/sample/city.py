"""A whole city in memory: :func:`generate_city` puts the parts together in EPSG:4326; its summary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pyproj import CRS, Transformer

from siting._log import get_logger
from siting.errors import InputError
from siting.sample.layout import DISTRICTS, _district_polygons, _Layout, _layout, _Random, _river_polygon
from siting.sample.population import _places, _Population, _population
from siting.sample.roads import _Roads, _roads
from siting.sample.schools import _SEATS, _schools
from siting.sample.sites import _sites
from siting.standards import LEVELS, LEVELS_SERVED

log = get_logger(__name__)

DEFAULT_SEED = 20261129
"""Seed of the committed sample city."""

PUPILS_PER_PRIMARY_SCHOOL = 1460.0
"""Foshan's average pupils per primary-serving school (``shared/standards.md``, Foshan figures)."""

_COORD_DIGITS = 7  # decimals of every coordinate in degrees (about 1 cm)


@dataclass(frozen=True, eq=False)
class City:
    """A generated city: population raster, roads, schools, sites, catchments and districts.

    Vector layers are in EPSG:4326 (coordinates rounded to 7 decimals, about 1 cm), as written to the
    files; ``metric_crs`` is the UTM zone they were built in.

    Attributes
    ----------
    population
        Residents per cell, float32, shape (rows, cols); :data:`NODATA` outside the study area.
    transform
        Affine transform of ``population`` (EPSG:4326 degrees, cells of :data:`CELL_DEG`).
    crs
        CRS of ``population`` and of every vector layer (``"EPSG:4326"``).
    roads
        One row per OSM way: ``osmid`` (int), ``highway``, ``name``, ``name_en``, ``bridge`` (bool),
        ``nodes`` (tuple of node ids), LineString geometry.
    road_nodes
        Node coordinates, index ``node_id`` (int), columns ``lon`` and ``lat`` (degrees).
    schools
        Existing schools (points), index ``school_id``, columns per ``docs/architecture.md``.
    sites
        Reserved parcels (polygons), index ``school_id``: ``name, level, status, district, area_m2,
        central, available_from``.
    catchments
        Current catchments per level (``"primary"``, ``"junior"``): polygons with a ``school_id`` column.
    districts
        District polygons with a ``name`` column; their union is the study area.
    water
        The river (one polygon, ``name`` column).
    metric_crs
        The projected CRS (UTM zone) the geometry was built in.
    residents
        Residents asked for (the raster sums to this within rounding).
    seed
        Seed of the random stream.
    """

    population: np.ndarray
    transform: Affine
    crs: str
    roads: gpd.GeoDataFrame
    road_nodes: pd.DataFrame
    schools: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    catchments: dict[str, gpd.GeoDataFrame]
    districts: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    metric_crs: str
    residents: int
    seed: int


def _voronoi(xy: np.ndarray, area: shapely.Polygon) -> list[shapely.Geometry]:
    """Voronoi cells of ``xy`` (in input order) clipped to ``area``."""
    if len(xy) == 1:
        return [area]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=area, ordered=True))
    if len(cells) != len(xy):
        raise InputError(
            f"sample: {len(xy)} schools gave {len(cells)} Voronoi cells; two schools share a point."
        )
    return list(shapely.intersection(cells, area))


def default_counts(residents: int) -> dict[str, int]:
    """Return the default numbers of schools and sites for a city of ``residents``.

    Primary-serving schools follow Foshan's average of about 1,460 pupils each at 80 seats per 1,000
    residents; about 15% of them are nine-year schools. Junior-serving schools are sized so their seats come
    to about 92% of the 40 per 1,000 junior demand. Sites: one per 60,000 residents, at least 12.

    Parameters
    ----------
    residents
        Residents of the city.

    Returns
    -------
    dict
        ``n_primary``, ``n_junior``, ``n_nine_year``, ``n_sites``.
    """
    primary_serving = max(2, round(residents * _SEATS["primary"] / 1000.0 / PUPILS_PER_PRIMARY_SCHOOL))
    nine = max(1, round(0.15 * primary_serving))
    junior_serving = max(nine + 1, round(residents * _SEATS["junior"] / 1000.0 * 0.92 / 1500.0))
    return {
        "n_primary": primary_serving - nine,
        "n_junior": junior_serving - nine,
        "n_nine_year": nine,
        "n_sites": max(12, round(residents / 60_000)),
    }


def generate_city(
    *,
    residents: int = 450_000,
    width_km: float = 9.0,
    height_km: float = 7.5,
    n_primary: int | None = None,
    n_junior: int | None = None,
    n_nine_year: int | None = None,
    n_sites: int | None = None,
    seed: int = DEFAULT_SEED,
    origin_lonlat: tuple[float, float] = (113.10, 22.98),
    village_schools: bool = True,
    walking_paths: bool = False,
) -> City:
    """Generate a synthetic Foshan-like city, deterministically from ``seed``.

    Parameters
    ----------
    residents
        Residents in the population raster (about 300,000–600,000 for a district, 9.5 million for Foshan).
    width_km, height_km
        Size of the rectangular study area, kilometres (west–east, south–north).
    n_primary, n_junior, n_nine_year
        Existing primary, junior-middle and nine-year schools; ``None`` = :func:`default_counts`.
    n_sites
        Reserved school parcels to place; ``None`` = :func:`default_counts`. Fewer may be placed when
        the land runs out (never more).
    seed
        Seed of the random stream; the same arguments always give the same city.
    origin_lonlat
        Longitude and latitude (degrees) of the south-west corner of the study area.
    village_schools
        Add small schools (6–18 classes) where at least 1,000 residents would otherwise have no primary
        school within 850 m, or no junior-serving school within 1,900 m, in a straight line (about
        1.3 km and 2.8 km on foot, inside the hard walking limits). These come on top of the counts
        above; turn them off to match a district's published school counts exactly.
    walking_paths
        Add footways on the 60 m lattice where 1,500+ residents live per km² (a real city's walking density).

    Returns
    -------
    City
        The population raster and every vector layer, in EPSG:4326.

    Raises
    ------
    InputError
        For a size or a count out of range, naming the argument and the value.
    """
    n_primary, n_junior, n_nine_year, n_sites = _counts(residents, n_primary, n_junior, n_nine_year, n_sites)
    _check_args(residents, width_km, height_km, n_primary, n_junior, n_nine_year, n_sites, origin_lonlat)

    metric, to_metric, to_geo = _utm(origin_lonlat)
    x0, y0 = (float(c) for c in to_metric.transform(*origin_lonlat))
    lay = _layout(x0, y0, width_km * 1000.0, height_km * 1000.0, _Random(seed, 1))
    popu = _population(lay, int(residents), to_metric, to_geo, _Random(seed, 2))
    n_schools = n_primary + n_junior + n_nine_year
    _check_room(popu, n_schools, n_nine_year)
    place_xy = _places(popu, max(6, round(n_schools / 3)), _Random(seed, 4))
    schools = _schools(
        lay, popu, n_primary, n_junior, n_nine_year, place_xy, _Random(seed, 3), villages=village_schools
    )
    sites, parcels = _sites(lay, popu, schools[["x", "y"]].to_numpy(), place_xy, n_sites, _Random(seed, 5))
    roads = _roads(lay, popu.norm, _Random(seed, 6), walking_paths=walking_paths)
    city = City(
        population=popu.grid,
        transform=popu.transform,
        crs="EPSG:4326",
        **_layers_in_degrees(lay, schools, sites, parcels, roads, to_geo),
        metric_crs=metric.to_string(),
        residents=int(residents),
        seed=int(seed),
    )
    n = (residents, len(city.schools), len(city.sites), len(city.road_nodes))
    log.info("sample city: %d residents, %d schools, %d sites, %d road nodes", *n)
    return city


def _counts(
    residents: int, n_primary: int | None, n_junior: int | None, n_nine_year: int | None, n_sites: int | None
) -> tuple[int, int, int, int]:
    """The numbers of primary, junior, nine-year schools and sites: :func:`default_counts` where None."""
    counts = default_counts(int(residents))
    return (
        counts["n_primary"] if n_primary is None else n_primary,
        counts["n_junior"] if n_junior is None else n_junior,
        counts["n_nine_year"] if n_nine_year is None else n_nine_year,
        counts["n_sites"] if n_sites is None else n_sites,
    )


def _utm(origin_lonlat: tuple[float, float]) -> tuple[CRS, Transformer, Transformer]:
    """The UTM zone of the study area's south-west corner, and transformers to and from EPSG:4326."""
    lon0, lat0 = origin_lonlat
    zone = int((lon0 + 180) // 6) % 60 + 1
    metric = CRS.from_epsg((32600 if lat0 >= 0 else 32700) + zone)
    to_metric = Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    to_geo = Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
    return metric, to_metric, to_geo


def _check_room(popu: _Population, n_schools: int, n_nine_year: int) -> None:
    """Refuse more schools than the populated cells can hold (k-means needs a few cells per centre)."""
    if len(popu.pop) < 4 * (n_schools + n_nine_year):
        raise InputError(
            f"sample: {len(popu.pop)} populated cells cannot hold {n_schools} schools; "
            "make the area larger (width_km, height_km) or ask for fewer schools."
        )


def _layers_in_degrees(
    lay: _Layout,
    schools: pd.DataFrame,
    sites: pd.DataFrame,
    parcels: list[shapely.Polygon],
    roads: _Roads,
    to_geo: Transformer,
) -> dict[str, Any]:
    """The city's vector layers in EPSG:4326, as :class:`City` holds them (keyword arguments of it)."""
    road_nodes, road_frame = _road_layers(roads, to_geo)
    school_points = _to_geo(shapely.points(schools[["x", "y"]].to_numpy()), to_geo)
    rect = shapely.box(lay.x0, lay.y0, lay.x0 + lay.width, lay.y0 + lay.height)
    return {
        "roads": road_frame,
        "road_nodes": road_nodes,
        "schools": gpd.GeoDataFrame(
            schools.drop(columns=["x", "y"]), geometry=school_points, crs="EPSG:4326"
        ),
        "sites": gpd.GeoDataFrame(
            sites.drop(columns=["x", "y"]), geometry=_to_geo(parcels, to_geo), crs="EPSG:4326"
        ),
        "catchments": _catchments(schools, rect, to_geo),
        "districts": gpd.GeoDataFrame(
            {"name": list(DISTRICTS)},
            geometry=_to_geo(shapely.segmentize(_district_polygons(lay), 50.0), to_geo),
            crs="EPSG:4326",
        ),
        "water": gpd.GeoDataFrame(
            {"name": ["东平河 Dongping River"]},
            geometry=_to_geo([_river_polygon(lay)], to_geo),
            crs="EPSG:4326",
        ),
    }


def _catchments(
    schools: pd.DataFrame, rect: shapely.Polygon, to_geo: Transformer
) -> dict[str, gpd.GeoDataFrame]:
    """Current catchments per level: Voronoi cells of the schools serving it, clipped to the study area."""
    catchments = {}
    for level in LEVELS:
        serving = schools[[level in LEVELS_SERVED[k] for k in schools["level"]]]
        cells = _voronoi(serving[["x", "y"]].to_numpy(), rect)
        catchments[level] = gpd.GeoDataFrame(
            {"school_id": serving.index.to_numpy(dtype=object)},
            geometry=_to_geo(shapely.segmentize(cells, 50.0), to_geo),
            crs="EPSG:4326",
        )
    return catchments


def _road_layers(roads: _Roads, to_geo: Transformer) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Road nodes (``lon``, ``lat``, index ``node_id``) and one LineString per OSM way, in EPSG:4326."""
    lon, lat = to_geo.transform(roads.node_xy[:, 0], roads.node_xy[:, 1])
    road_nodes = pd.DataFrame(
        {"lon": np.round(lon, _COORD_DIGITS), "lat": np.round(lat, _COORD_DIGITS)},
        index=pd.RangeIndex(1, len(lon) + 1, name="node_id"),
    )
    lengths = np.array([len(w) for w in roads.way_nodes])
    flat = np.concatenate(roads.way_nodes) - 1
    lines = shapely.linestrings(
        road_nodes[["lon", "lat"]].to_numpy()[flat], indices=np.repeat(np.arange(len(lengths)), lengths)
    )
    road_frame = gpd.GeoDataFrame(
        {
            "osmid": np.arange(1, len(lengths) + 1, dtype=np.int64),
            "highway": roads.highway.astype(object),
            "name": pd.array(roads.name, dtype="str"),
            "name_en": pd.array(roads.name_en, dtype="str"),
            "bridge": roads.bridge,
            "nodes": [tuple(int(n) for n in w) for w in roads.way_nodes],
        },
        geometry=lines,
        crs="EPSG:4326",
    )
    return road_nodes, road_frame


def _check_args(
    residents: int,
    width_km: float,
    height_km: float,
    n_primary: int,
    n_junior: int,
    n_nine_year: int,
    n_sites: int,
    origin_lonlat: tuple[float, float],
) -> None:
    checks = [
        ("residents", residents, 1_000 <= residents <= 20_000_000, "between 1,000 and 20,000,000"),
        ("width_km", width_km, 2.0 <= width_km <= 150.0, "between 2 and 150 km"),
        ("height_km", height_km, 2.0 <= height_km <= 150.0, "between 2 and 150 km"),
        ("n_primary", n_primary, n_primary >= 0, ">= 0"),
        ("n_junior", n_junior, n_junior >= 0, ">= 0"),
        ("n_nine_year", n_nine_year, n_nine_year >= 0, ">= 0"),
        ("n_sites", n_sites, n_sites >= 0, ">= 0"),
    ]
    for name, value, ok, rule in checks:
        if not ok:
            raise InputError(f"sample: {name} must be {rule}, got {value!r}.")
    if n_primary + n_nine_year < 1 or n_junior + n_nine_year < 1:
        raise InputError(
            f"sample: each level needs a school (n_primary={n_primary}, n_junior={n_junior}, "
            f"n_nine_year={n_nine_year}); give at least one primary-serving and one junior-serving school."
        )
    lon, lat = origin_lonlat
    if not (-180.0 <= lon <= 180.0 and -80.0 <= lat <= 80.0):
        raise InputError(
            f"sample: origin_lonlat must be (lon, lat) in degrees within UTM's range, got {origin_lonlat}."
        )


def _to_geo(geoms: Any, to_geo: Transformer) -> np.ndarray:
    """Geometries from the metric CRS to EPSG:4326, coordinates rounded to 7 decimals."""

    def project(coords: np.ndarray) -> np.ndarray:
        lon, lat = to_geo.transform(coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), _COORD_DIGITS)

    return shapely.transform(np.asarray(geoms, dtype=object), project)


def city_summary(city: City) -> dict[str, Any]:
    """Return the key totals of a city: residents, seats demanded and provided per level and district.

    Seat demand is the standard's seats per 1,000 residents (80 primary, 40 junior) applied to the raster.

    Parameters
    ----------
    city
        A city from :func:`generate_city`.

    Returns
    -------
    dict
        JSON-ready: ``residents``, ``populated_cells``, ``schools`` (count per kind), ``sites``,
        ``road_nodes``, ``road_ways``, ``road_km``, ``bridges``, and ``districts`` / ``total`` mapping to
        ``residents``, ``demand_<level>``, ``capacity_<level>``, ``enrolled_<level>`` (seats, pupils).
    """
    grid = city.population
    rows, cols = np.nonzero(grid > 0)
    lon = city.transform.c + city.transform.a * (cols + 0.5)
    lat = city.transform.f + city.transform.e * (rows + 0.5)
    values = grid[rows, cols].astype(np.float64)
    district_of_cell = np.full(len(values), -1)
    for k, geom in enumerate(city.districts.geometry):
        district_of_cell[shapely.contains_xy(geom, lon, lat)] = k
    names = list(city.districts["name"])

    def totals(pop: float, schools: pd.DataFrame) -> dict[str, float | int]:
        out: dict[str, float | int] = {"residents": round(pop, 1)}
        for level in LEVELS:
            out[f"demand_{level}"] = round(pop * _SEATS[level] / 1000.0, 1)
            out[f"capacity_{level}"] = int(schools[f"capacity_{level}"].sum())
            out[f"enrolled_{level}"] = int(schools[f"enrolled_{level}"].sum())
        return out

    per_district = {
        name: totals(math.fsum(values[district_of_cell == k]), city.schools[city.schools["district"] == name])
        for k, name in enumerate(names)
    }
    metric = city.roads.geometry.to_crs(city.metric_crs)
    return {
        "residents": round(math.fsum(values), 1),
        "populated_cells": len(values),
        "schools": {
            kind: int((city.schools["level"] == kind).sum()) for kind in ("primary", "junior", "nine_year")
        },
        "sites": len(city.sites),
        "road_nodes": len(city.road_nodes),
        "road_ways": len(city.roads),
        "road_km": round(float(metric.length.sum()) / 1000.0, 1),
        "bridges": int(city.roads["bridge"].sum()),
        "districts": per_district,
        "total": totals(math.fsum(values), city.schools),
    }
