"""The bundled sample city: a deterministic, synthetic Foshan-like district at any size.

:func:`generate_city` builds a city in memory (a :class:`City`); :func:`write_city` writes it in the formats
real users have (a WorldPop-style GeoTIFF, OSM XML, GeoJSON and a scenario YAML); :func:`write_sample`
writes the committed default to ``data/raw/sample/``. The same generator with a larger ``residents`` and
area makes the city-scale inputs of the benchmarks.

The city imitates a Foshan district: a dense old centre ("Old Town") north of a river, a growing new town
("Newtown") south of it with too few school seats, a mixed "Riverside" district and a thin "Rural Edge" with
villages. The river is crossed only at a few bridges, so walking and straight-line distances disagree.

Everything is built in the local UTM zone (metres) and converted to EPSG:4326 for the files. Randomness
comes only from ``numpy.random.PCG64`` uniform doubles (whose stream numpy keeps stable) through small
helpers here, and every output is written by this module with fixed rounding, so the files are
byte-identical on every run.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from siting._log import get_logger
from siting.errors import InputError, OutputExistsError
from siting.standards import LEVELS, LEVELS_SERVED, Standards

log = get_logger(__name__)

DEFAULT_SEED = 20261129
"""Seed of the committed sample city."""

CELL_DEG = 1.0 / 1200.0
"""Raster cell size in degrees (3 arc-seconds, as WorldPop's 100 m products)."""

NODATA = -99999.0
"""Raster value of cells outside the study area (WorldPop's convention)."""

BASE_YEAR = 2025
"""Year the population and enrolment describe."""

DISTRICTS: tuple[str, ...] = ("Old Town", "Newtown", "Riverside", "Rural Edge")
"""District names, in the order they are written."""

PUPILS_PER_PRIMARY_SCHOOL = 1460.0
"""Foshan's average pupils per primary-serving school (``shared/standards.md``, Foshan figures)."""

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

_STANDARDS = Standards.foshan()
_SEATS = {level: float(_STANDARDS.seats_per_1000[level]) for level in LEVELS}
_CLASS_SIZE = {level: int(_STANDARDS.class_size[level]) for level in LEVELS}
_NAME_RE = re.compile(r"^[a-z0-9_-]+$")
_EARTH_RADIUS_M = 6_371_008.8
_LATTICE_M = 60.0  # spacing of the street lattice every road runs along
_ARTERIAL_EVERY = 20  # lattice lines between arterials (1.2 km)
_RIVER_MARGIN_M = 15.0  # roads keep this far from the water, except bridges
_COORD_DIGITS = 7

# (Chinese, English) place names for schools and roads: Foshan towns and streets.
_PLACES: tuple[tuple[str, str], ...] = (
    ("祖庙", "Zumiao"), ("石湾", "Shiwan"), ("张槎", "Zhangcha"), ("南庄", "Nanzhuang"),
    ("桂城", "Guicheng"), ("大沥", "Dali"), ("里水", "Lishui"), ("狮山", "Shishan"),
    ("丹灶", "Danzao"), ("西樵", "Xiqiao"), ("九江", "Jiujiang"), ("平洲", "Pingzhou"),
    ("罗村", "Luocun"), ("盐步", "Yanbu"), ("黄岐", "Huangqi"), ("澜石", "Lanshi"),
    ("普君", "Pujun"), ("季华", "Jihua"), ("汾江", "Fenjiang"), ("魁奇", "Kuiqi"),
    ("绿岛", "Lüdao"), ("东平", "Dongping"), ("乐从", "Lecong"), ("陈村", "Chencun"),
    ("北滘", "Beijiao"), ("龙江", "Longjiang"), ("勒流", "Leliu"), ("杏坛", "Xingtan"),
    ("均安", "Jun'an"), ("容桂", "Ronggui"), ("大良", "Daliang"), ("伦教", "Lunjiao"),
    ("白坭", "Baini"), ("乐平", "Leping"), ("芦苞", "Lubao"), ("大塘", "Datang"),
    ("南山", "Nanshan"), ("荷城", "Hecheng"), ("杨和", "Yanghe"), ("明城", "Mingcheng"),
    ("更合", "Genghe"), ("松岗", "Songgang"), ("小塘", "Xiaotang"), ("官窑", "Guanyao"),
    ("和顺", "Heshun"), ("金沙", "Jinsha"), ("沙头", "Shatou"), ("文华", "Wenhua"),
    ("同济", "Tongji"), ("建新", "Jianxin"), ("人民", "Renmin"), ("卫国", "Weiguo"),
    ("朝安", "Chao'an"), ("普澜", "Pulan"), ("福宁", "Funing"), ("惠景", "Huijing"),
    ("锦华", "Jinhua"), ("华远", "Huayuan"), ("亲仁", "Qinren"), ("岭南", "Lingnan"),
)  # fmt: skip
_QUARTERS: tuple[tuple[str, str], ...] = (
    ("", ""),
    ("东", "East "),
    ("西", "West "),
    ("南", "South "),
    ("北", "North "),
)
_ZH_DIGITS = "零一二三四五六七八九"
_KIND_NAMES: Mapping[str, tuple[str, str, str, str]] = {
    # kind: (first zh, first en, n-th zh suffix, n-th en suffix)
    "primary": ("中心小学", "Central Primary School", "小学", "Primary School"),
    "junior": ("中学", "Middle School", "中学", "Middle School"),
    "nine_year": ("实验学校", "Experimental School", "实验学校", "Experimental School"),
}
_SITE_KIND_NAMES: Mapping[str, tuple[str, str]] = {
    "primary": ("小学", "Primary"),
    "junior": ("中学", "Middle School"),
    "nine_year": ("九年一贯制学校", "Nine-year School"),
}
_HIGHWAYS: tuple[str, ...] = ("primary", "secondary", "residential", "unclassified", "track")
_HW_PRIMARY, _HW_SECONDARY, _HW_RESIDENTIAL, _HW_UNCLASSIFIED, _HW_TRACK = range(5)


# ---------------------------------------------------------------------------------------------- the city
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


# ---------------------------------------------------------------------------------------------- randomness
class _Random:
    """Uniform, normal and weighted draws from PCG64 uniform doubles only (a stream numpy keeps stable)."""

    def __init__(self, seed: int, stream: int) -> None:
        self._gen = np.random.Generator(np.random.PCG64([seed, stream]))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: int | tuple[int, ...] = 1) -> np.ndarray:
        return low + (high - low) * self._gen.random(size)

    def normal(self, size: int | tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(size))
        m = (n + 1) // 2
        u1 = 1.0 - self._gen.random(m)  # (0, 1]
        u2 = self._gen.random(m)
        r = np.sqrt(-2.0 * np.log(u1))
        z = np.concatenate([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)])[:n]
        return z.reshape(size)

    def choice(self, weights: np.ndarray, k: int) -> np.ndarray:
        """Draw ``k`` distinct indices with probability proportional to ``weights`` (Efraimidis–Spirakis)."""
        weights = np.asarray(weights, dtype=float)
        keys = np.full(len(weights), np.inf)
        u = 1.0 - self._gen.random(len(weights))
        positive = weights > 0
        keys[positive] = -np.log(u[positive]) / weights[positive]
        return np.argsort(keys, kind="stable")[:k]


# ---------------------------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class _Layout:
    """Where things are, in the metric CRS (metres); functions of x and y are vectorised."""

    x0: float
    y0: float
    width: float
    height: float
    scale: float
    river_base: float
    river_terms: tuple[tuple[float, float, float], ...]  # (amplitude m, wavelength m, phase)
    river_width: float
    bridges_x: tuple[float, ...]
    boundary_north_x: float
    boundary_south_x: float
    core: tuple[float, float, float]  # x, y, sigma (m)
    halo_sigma: float
    newtown: tuple[float, float, float]
    riverside_sigma: float
    towns: np.ndarray  # (n, 2)
    town_sigma: float

    def river_y(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        y = np.full_like(x, self.river_base)
        for amp, wavelength, phase in self.river_terms:
            y = y + amp * np.sin(2 * np.pi * (x - self.x0) / wavelength + phase)
        return y

    def river_slope(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        slope = np.zeros_like(x)
        for amp, wavelength, phase in self.river_terms:
            k = 2 * np.pi / wavelength
            slope = slope + amp * k * np.cos(k * (x - self.x0) + phase)
        return slope

    def river_offset(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Signed distance across the river (m, positive north), measured perpendicular to its course."""
        return (np.asarray(y) - self.river_y(x)) / np.sqrt(1.0 + self.river_slope(x) ** 2)

    def district_index(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index into :data:`DISTRICTS` of each point."""
        north = np.asarray(y) > self.river_y(x)
        old = north & (np.asarray(x) < self.boundary_north_x)
        rural = north & ~old
        riverside = ~north & (np.asarray(x) < self.boundary_south_x)
        out = np.ones(len(north), dtype=np.int64)  # Newtown
        out[old] = 0
        out[riverside] = 2
        out[rural] = 3
        return out

    def kernels(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unnormalised density components, shape (6, n): core, halo, newtown, riverside, towns, floor."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        cx, cy, cs = self.core
        r2 = (x - cx) ** 2 + (y - cy) ** 2
        core = np.exp(-r2 / (2 * cs**2))
        halo = np.exp(-r2 / (2 * self.halo_sigma**2))
        nx_, ny_, ns = self.newtown
        newtown = np.exp(-((x - nx_) ** 2 + (y - ny_) ** 2) / (2 * ns**2))
        d = self.river_offset(x, y)
        along = ((x - self.x0) - 0.45 * self.width) / (0.38 * self.width)
        riverside = np.exp(-(d**2) / (2 * self.riverside_sigma**2)) * np.exp(-(along**4))
        towns = np.zeros_like(x)
        for tx, ty in self.towns:
            towns += np.exp(-((x - tx) ** 2 + (y - ty) ** 2) / (2 * self.town_sigma**2))
        return np.stack([core, halo, newtown, riverside, towns, np.ones_like(x)])


_SHARES = np.array([0.30, 0.14, 0.24, 0.16, 0.11, 0.05])  # of residents, per kernel component


def _layout(x0: float, y0: float, width: float, height: float, rnd: _Random) -> _Layout:
    scale = math.sqrt(width * height / 120e6)
    u = rnd.uniform(size=16)
    terms = (
        (0.05 * height, (0.6 + 0.3 * u[0]) * width, 2 * np.pi * u[1]),
        (0.02 * height, (0.2 + 0.1 * u[2]) * width, 2 * np.pi * u[3]),
    )
    river_width = 150.0 + 40.0 * scale
    n_bridges = max(2, round(width / 4500.0))
    # bridges on arterial lines, spread along the river
    lines = np.arange(_ARTERIAL_EVERY // 2, int(width // _LATTICE_M), _ARTERIAL_EVERY)
    xs_lines = x0 + _LATTICE_M / 2 + lines * _LATTICE_M
    targets = x0 + width * (np.arange(n_bridges) + 0.5 + 0.3 * (u[4 : 4 + n_bridges % 12] - 0.5)) / n_bridges
    bridges = sorted({float(xs_lines[np.argmin(np.abs(xs_lines - t))]) for t in targets})
    n_towns = max(3, round(width * height / 40e6))
    towns = np.column_stack(
        [x0 + width * rnd.uniform(0.05, 0.95, n_towns), y0 + height * rnd.uniform(0.05, 0.95, n_towns)]
    )
    return _Layout(
        x0=x0,
        y0=y0,
        width=width,
        height=height,
        scale=scale,
        river_base=y0 + 0.47 * height,
        river_terms=terms,
        river_width=river_width,
        bridges_x=tuple(bridges),
        boundary_north_x=x0 + (0.56 + 0.04 * u[14]) * width,
        boundary_south_x=x0 + (0.44 + 0.04 * u[15]) * width,
        core=(x0 + 0.30 * width, y0 + 0.70 * height, 1100.0 * scale),
        halo_sigma=3200.0 * scale,
        newtown=(x0 + 0.72 * width, y0 + 0.24 * height, 1300.0 * scale),
        riverside_sigma=900.0 * scale,
        towns=towns,
        town_sigma=600.0,
    )


def _river_polygon(lay: _Layout) -> shapely.Polygon:
    """The river between its banks across the study area; built with numpy only (no GEOS buffer)."""
    xs = np.linspace(lay.x0, lay.x0 + lay.width, int(lay.width // 25.0) + 1)
    half = lay.river_width / 2 * np.sqrt(1.0 + lay.river_slope(xs) ** 2)
    yc = lay.river_y(xs)
    ring = np.concatenate([np.column_stack([xs, yc - half]), np.column_stack([xs[::-1], (yc + half)[::-1]])])
    return shapely.Polygon(ring)


def _district_polygons(lay: _Layout) -> list[shapely.Polygon]:
    """The four districts, split by the river's centre line and a north and a south boundary."""
    xs = np.linspace(lay.x0, lay.x0 + lay.width, int(lay.width // 25.0) + 1)
    xs = np.unique(np.concatenate([xs, [lay.boundary_north_x, lay.boundary_south_x]]))
    ys = lay.river_y(xs)
    left, bottom = lay.x0, lay.y0
    right, top = lay.x0 + lay.width, lay.y0 + lay.height
    centre = np.column_stack([xs, ys])
    north_w, north_e = centre[xs <= lay.boundary_north_x], centre[xs >= lay.boundary_north_x]
    south_w, south_e = centre[xs <= lay.boundary_south_x], centre[xs >= lay.boundary_south_x]
    bn, bs = lay.boundary_north_x, lay.boundary_south_x
    old_town = np.concatenate([north_w, [[bn, top], [left, top]]])
    rural = np.concatenate([north_e, [[right, top], [bn, top]]])
    riverside = np.concatenate([[[left, bottom], [bs, bottom]], south_w[::-1]])
    newtown = np.concatenate([[[bs, bottom], [right, bottom]], south_e[::-1]])
    by_name = {"Old Town": old_town, "Newtown": newtown, "Riverside": riverside, "Rural Edge": rural}
    return [shapely.Polygon(by_name[name]) for name in DISTRICTS]


# ---------------------------------------------------------------------------------------------- population
@dataclass(frozen=True)
class _Population:
    grid: np.ndarray  # float32 (rows, cols), NODATA outside
    transform: Affine
    x: np.ndarray  # metric centres of populated land cells
    y: np.ndarray
    pop: np.ndarray  # residents of those cells (float64)
    norm: np.ndarray  # people per m² per unit of each kernel component


def _population(lay: _Layout, residents: int, to_metric: Transformer, to_geo: Transformer, rnd: _Random):
    rect = shapely.box(lay.x0, lay.y0, lay.x0 + lay.width, lay.y0 + lay.height)
    ring = shapely.get_coordinates(shapely.segmentize(rect, 100.0))
    lon, lat = to_geo.transform(ring[:, 0], ring[:, 1])
    col0 = math.floor(float(np.min(lon)) * 1200)
    row0 = math.ceil(float(np.max(lat)) * 1200)
    cols = math.ceil(float(np.max(lon)) * 1200) - col0
    rows = row0 - math.floor(float(np.min(lat)) * 1200)
    transform = Affine(CELL_DEG, 0.0, col0 / 1200, 0.0, -CELL_DEG, row0 / 1200)
    clon = (col0 + np.arange(cols) + 0.5) / 1200
    clat = (row0 - np.arange(rows) - 0.5) / 1200
    glon, glat = np.meshgrid(clon, clat)
    gx, gy = to_metric.transform(glon.ravel(), glat.ravel())
    gx, gy = np.asarray(gx), np.asarray(gy)
    inside = shapely.contains_xy(rect, gx, gy)
    water = shapely.contains_xy(_river_polygon(lay), gx, gy)
    land = inside & ~water
    cell_area = (math.radians(CELL_DEG) * _EARTH_RADIUS_M) ** 2 * np.cos(np.radians(glat.ravel()))

    comps = lay.kernels(gx[land], gy[land])
    mass = np.array([math.fsum(c * cell_area[land]) for c in comps])
    norm = _SHARES * residents / mass
    density = norm @ comps  # people per m²

    # smooth lognormal texture, plus parks and industrial patches with few residents
    z = ndimage.gaussian_filter(rnd.normal((rows, cols)), sigma=2.5, mode="reflect")
    z /= z.std()
    fine = rnd.normal((rows, cols))
    patches = ndimage.gaussian_filter(rnd.normal((rows, cols)), sigma=3.0, mode="reflect")
    patches /= patches.std()
    texture = np.exp(0.45 * z + 0.2 * fine - 0.5 * (0.45**2 + 0.2**2)) * np.where(patches > 1.3, 0.12, 1.0)
    counts = density * cell_area[land] * texture.ravel()[land]
    counts *= residents / math.fsum(counts)
    counts = np.round(counts, 2)

    grid = np.full(rows * cols, NODATA, dtype=np.float32)
    grid[inside] = 0.0
    grid[land] = counts.astype(np.float32)
    populated = counts > 0
    return _Population(
        grid=grid.reshape(rows, cols),
        transform=transform,
        x=gx[land][populated],
        y=gy[land][populated],
        pop=counts[populated],
        norm=norm,
    )


def _density_per_km2(lay: _Layout, norm: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Smooth residential density (people per km², without texture) at points."""
    return (norm @ lay.kernels(x, y)) * 1e6


# ---------------------------------------------------------------------------------------------- schools
_VILLAGE_REACH = {"primary": 850.0, "junior": 1900.0}
"""Straight-line reach (m) within which every hamlet of some size gets a school of that level; with the
usual 1.2–1.4 walking detour this stays inside the 1,500 m / 3,000 m hard walking limits."""
_VILLAGE_MIN_RESIDENTS = 1000.0
"""A village school is placed only where it would bring at least this many residents within reach."""


def _coverage_points(
    lay: _Layout, points: np.ndarray, pop: np.ndarray, schools_xy: np.ndarray, *, radius: float
) -> np.ndarray:
    """Greedy set cover: sites for small schools until no place with enough residents is out of reach.

    Residents farther than ``radius`` (m, straight line) from every school are pooled in 200 m bins. Each
    step puts a school at the population-weighted centre of the bin neighbourhood holding the most
    uncovered residents, and stops when that is below :data:`_VILLAGE_MIN_RESIDENTS`. One sparse
    matrix-vector product per step keeps this fast at city scale.
    """
    if len(schools_xy):
        dist, _ = cKDTree(schools_xy).query(points)
        uncovered = (dist > radius) & (pop > 0)
    else:
        uncovered = pop > 0
    if not uncovered.any():
        return np.empty((0, 2))
    keys = np.floor(points[uncovered] / 200.0).astype(np.int64)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    weight = pop[uncovered]
    remaining = np.bincount(inverse, weights=weight)
    bin_xy = np.column_stack(
        [np.bincount(inverse, weights=weight * points[uncovered, k]) / remaining for k in (0, 1)]
    )
    tree = cKDTree(bin_xy)
    pairs = tree.query_pairs(radius, output_type="ndarray")
    n = len(bin_xy)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)])
    near = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    added: list[np.ndarray] = []
    while True:
        gain = near @ remaining
        best = int(np.argmax(gain))
        if gain[best] < _VILLAGE_MIN_RESIDENTS:
            break
        members = near.indices[near.indptr[best] : near.indptr[best + 1]]
        centre = np.average(bin_xy[members], axis=0, weights=remaining[members])
        centre = _clip_inside(lay, _off_river(lay, centre[None, :], 150.0), 120.0)[0]
        added.append(centre)
        remaining[members] = 0.0
        remaining[tree.query_ball_point(centre, radius)] = 0.0
    return np.array(added).reshape(-1, 2)


def _kmeans(
    points: np.ndarray, weights: np.ndarray, k: int, rnd: _Random, *, fixed: np.ndarray | None = None
) -> np.ndarray:
    """Weighted Lloyd iterations: ``k`` centres, the first ``len(fixed)`` held in place."""
    n_fixed = 0 if fixed is None else len(fixed)
    start = points[rnd.choice(weights, k - n_fixed)]
    centres = np.vstack([fixed, start]) if n_fixed else start.copy()
    for _ in range(25):
        _, label = cKDTree(centres).query(points)
        sw = np.bincount(label, weights=weights, minlength=k)
        sx = np.bincount(label, weights=weights * points[:, 0], minlength=k)
        sy = np.bincount(label, weights=weights * points[:, 1], minlength=k)
        moved = sw > 0
        new = centres.copy()
        new[moved] = np.column_stack([sx[moved] / sw[moved], sy[moved] / sw[moved]])
        new[:n_fixed] = centres[:n_fixed]
        centres = new
    return centres


def _off_river(lay: _Layout, xy: np.ndarray, clearance: float) -> np.ndarray:
    """Move points closer than ``clearance`` to the river's edge out onto their own bank."""
    xy = xy.copy()
    d = lay.river_offset(xy[:, 0], xy[:, 1])
    near = np.abs(d) < lay.river_width / 2 + clearance
    side = np.where(d[near] >= 0, 1.0, -1.0)
    factor = np.sqrt(1.0 + lay.river_slope(xy[near, 0]) ** 2)
    xy[near, 1] = lay.river_y(xy[near, 0]) + side * (lay.river_width / 2 + clearance) * factor
    return xy


def _clip_inside(lay: _Layout, xy: np.ndarray, margin: float) -> np.ndarray:
    xy = xy.copy()
    xy[:, 0] = np.clip(xy[:, 0], lay.x0 + margin, lay.x0 + lay.width - margin)
    xy[:, 1] = np.clip(xy[:, 1], lay.y0 + margin, lay.y0 + lay.height - margin)
    return xy


def _zh_number(n: int) -> str:
    """Chinese numeral for 1..99 (二, 十二, 二十三)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _ZH_DIGITS[tens] + "十")
    return head + ("" if ones == 0 else _ZH_DIGITS[ones])


def _place_name(index: int) -> tuple[str, str]:
    quarter, base = divmod(index, len(_PLACES))
    zh, en = _PLACES[base]
    qzh, qen = _QUARTERS[quarter % len(_QUARTERS)]
    suffix = "" if quarter < len(_QUARTERS) else str(quarter // len(_QUARTERS) + 1)
    return f"{qzh}{zh}{suffix}", f"{qen}{en}{suffix}"


def _school_names(kinds: Sequence[str], place: np.ndarray) -> list[str]:
    """Bilingual names, numbered per place and kind: 桂城中心小学 Guicheng Central Primary School, ..."""
    seen: dict[tuple[int, str], int] = {}
    names = []
    for kind, p in zip(kinds, place, strict=True):
        n = seen.get((int(p), kind), 0) + 1
        seen[(int(p), kind)] = n
        zh, en = _place_name(int(p))
        first_zh, first_en, nth_zh, nth_en = _KIND_NAMES[kind]
        if n == 1:
            names.append(f"{zh}{first_zh} {en} {first_en}")
        else:
            names.append(f"{zh}第{_zh_number(n)}{nth_zh} {en} No.{n} {nth_en}")
    return names


def _calibrated_classes(
    demand: np.ndarray, factor: np.ndarray, lo: np.ndarray, hi: np.ndarray, size: int, target: float
) -> np.ndarray:
    """Classes per school ∝ ``demand × factor``, within [lo, hi], scaled so seats total about ``target``."""
    c = target / max(float(np.sum(demand * factor)), 1.0)
    classes = np.clip(np.rint(demand * factor * c / size), lo, hi)
    for _ in range(40):
        total = float(np.sum(classes)) * size
        if total <= 0 or abs(total - target) < size:
            break
        c *= target / total
        classes = np.clip(np.rint(demand * factor * c / size), lo, hi)
    return classes.astype(np.int64)


def _schools(
    lay: _Layout,
    popu: _Population,
    n_primary: int,
    n_junior: int,
    n_nine: int,
    place_xy: np.ndarray,
    rnd: _Random,
    *,
    villages: bool = True,
) -> pd.DataFrame:
    """Existing schools in the metric CRS: positions, kinds, classes, enrolment and resources."""
    points = np.column_stack([popu.x, popu.y])
    district = lay.district_index(popu.x, popu.y)
    # Newtown grew faster than its schools: fewer schools there per resident
    weight = popu.pop * np.where(district == 1, 0.55, 1.0)
    n_pserve = n_primary + n_nine
    pxy = _kmeans(points, weight, n_pserve, rnd) if n_pserve else np.empty((0, 2))
    pxy = _clip_inside(lay, _off_river(lay, pxy, 150.0), 120.0)
    # small village schools where hamlets would otherwise have no primary school within walking reach
    village_p = (
        _coverage_points(lay, points, popu.pop, pxy, radius=_VILLAGE_REACH["primary"])
        if villages
        else np.empty((0, 2))
    )
    pxy = np.vstack([pxy, village_p])
    is_village_p = np.r_[np.zeros(n_pserve, dtype=bool), np.ones(len(village_p), dtype=bool)]
    n_pserve = len(pxy)
    p_district = lay.district_index(pxy[:, 0], pxy[:, 1])
    # nine-year schools mostly in the newer and rural districts (never a village school)
    nine_pref = np.array([0.5, 3.0, 2.0, 2.0])[p_district] * ~is_village_p
    nine = np.zeros(n_pserve, dtype=bool)
    nine[rnd.choice(nine_pref, n_nine)] = True

    # one primary-serving school close to the river, far from bridges: families across the water are
    # nearer to it in a straight line than on foot
    if n_pserve:
        bridge_gap = np.min(np.abs(pxy[:, [0]] - np.asarray(lay.bridges_x)[None, :]), axis=1)
        d = lay.river_offset(pxy[:, 0], pxy[:, 1])
        eligible = bridge_gap > 1200.0
        if eligible.any():
            i = int(np.flatnonzero(eligible)[np.argmin(np.abs(d[eligible]))])
            if abs(d[i]) > lay.river_width / 2 + 350.0:
                side = 1.0 if d[i] >= 0 else -1.0
                factor = math.sqrt(1.0 + float(lay.river_slope(pxy[i : i + 1, 0])[0]) ** 2)
                pxy[i, 1] = (
                    float(lay.river_y(pxy[i : i + 1, 0])[0]) + side * (lay.river_width / 2 + 180.0) * factor
                )

    jxy = (
        _kmeans(points, weight, n_junior + n_nine, rnd, fixed=pxy[nine])
        if n_junior + n_nine
        else np.empty((0, 2))
    )
    jxy = _clip_inside(lay, _off_river(lay, jxy[n_nine:], 150.0), 120.0)
    village_j = (
        _coverage_points(lay, points, popu.pop, np.vstack([jxy, pxy[nine]]), radius=_VILLAGE_REACH["junior"])
        if villages
        else np.empty((0, 2))
    )
    is_village_j = np.r_[np.zeros(len(jxy), dtype=bool), np.ones(len(village_j), dtype=bool)]
    jxy = np.vstack([jxy, village_j])

    xy = np.vstack([pxy[~nine], jxy, pxy[nine]])
    kinds = np.array(
        ["primary"] * int((~nine).sum()) + ["junior"] * len(jxy) + ["nine_year"] * int(nine.sum())
    )
    village = np.r_[is_village_p[~nine], is_village_j, np.zeros(int(nine.sum()), dtype=bool)]
    # stable order: kind, then north to south, west to east
    kind_rank = np.select([kinds == "primary", kinds == "junior"], [0, 1], 2)
    order = np.lexsort((np.round(xy[:, 0]), -np.round(xy[:, 1] / 500.0), kind_rank))
    xy, kinds, village = xy[order], kinds[order], village[order]
    n = len(xy)
    dist_idx = lay.district_index(xy[:, 0], xy[:, 1])
    serves = {level: np.array([level in LEVELS_SERVED[k] for k in kinds]) for level in LEVELS}

    # catchment demand: residents nearest to each school serving the level (the Voronoi catchments)
    demand: dict[str, np.ndarray] = {}
    for level in LEVELS:
        idx = np.flatnonzero(serves[level])
        dem = np.zeros(n)
        if len(idx):
            _, label = cKDTree(xy[idx]).query(points)
            dem[idx] = np.bincount(label, weights=popu.pop, minlength=len(idx)) * _SEATS[level] / 1000.0
        demand[level] = dem

    # capacity: slightly below demand overall, strongly below in Newtown
    district_factor = np.array([1.0, 0.58, 1.05, 1.12])[dist_idx] * np.exp(0.12 * rnd.normal(n))
    total_demand = {level: popu.pop.sum() * _SEATS[level] / 1000.0 for level in LEVELS}
    target_share = {"primary": 0.94, "junior": 0.92}
    bounds = {
        "primary": (
            np.select([village, kinds == "nine_year"], [6, 18], 24),
            np.select([village, kinds == "nine_year"], [18, 36], 42),
        ),
        "junior": (
            np.select([village, kinds == "nine_year"], [6, 9], 18),
            np.select([village, kinds == "nine_year"], [18, 18], 36),
        ),
    }
    attendance = {"primary": 0.97, "junior": 0.85}  # enrolled pupils per seat of planned demand
    cols: dict[str, Any] = {}
    for level in LEVELS:
        size = _CLASS_SIZE[level]
        lo, hi = bounds[level]
        classes = np.zeros(n, dtype=np.int64)
        enrolled = np.zeros(n, dtype=np.int64)
        s = serves[level]
        if s.any():
            classes[s] = _calibrated_classes(
                demand[level][s],
                district_factor[s],
                lo[s],
                hi[s],
                size,
                target_share[level] * total_demand[level],
            )
            raw = demand[level][s] * attendance[level] * np.exp(0.05 * rnd.normal(int(s.sum())))
            enrolled[s] = np.clip(np.rint(raw), classes[s] * 28, classes[s] * 68).astype(np.int64)
        cols[f"classes_{level}"] = classes
        cols[f"capacity_{level}"] = classes * size
        cols[f"enrolled_{level}"] = enrolled

    # expansion room on some schools outside the dense centre
    cx, cy, cs = lay.core
    central = (dist_idx == 0) & (np.hypot(xy[:, 0] - cx, xy[:, 1] - cy) < 1.6 * cs)
    expand_p = np.array([0.1, 0.45, 0.35, 0.3])[dist_idx] * ~central
    expandable = rnd.uniform(size=n) < expand_p
    for level in LEVELS:
        _, hi = bounds[level]
        room = np.where(serves[level] & expandable, hi - cols[f"classes_{level}"], 0)
        cols[f"max_extra_classes_{level}"] = np.where(room >= 12, 12, np.where(room >= 6, 6, 0)).astype(
            np.int64
        )

    # land and resources: old, cramped schools in the centre; new buildings, few senior teachers in Newtown
    cap_p, cap_j = cols["capacity_primary"], cols["capacity_junior"]
    land_p = np.where(
        central, _STANDARDS.land_per_pupil_central_m2["primary"], _STANDARDS.land_per_pupil_m2["primary"]
    )
    land_j = np.where(
        central, _STANDARDS.land_per_pupil_central_m2["junior"], _STANDARDS.land_per_pupil_m2["junior"]
    )
    area = (cap_p * land_p + cap_j * land_j) * rnd.uniform(0.7, 1.1, n)
    quality_build = np.array([0.85, 1.15, 1.0, 0.9])[dist_idx] * np.exp(0.2 * rnd.normal(n))
    quality_sport = np.where(central, 0.55, 1.0) * np.exp(0.25 * rnd.normal(n))
    quality_equip = np.array([1.1, 1.05, 0.95, 0.75])[dist_idx] * np.exp(0.3 * rnd.normal(n))
    quality_staff = np.array([1.35, 0.7, 1.0, 0.6])[dist_idx] * np.exp(0.25 * rnd.normal(n))
    fpp, spp = _STANDARDS.floor_per_pupil_m2, {"primary": 7.5, "junior": 10.2}
    enrolled_total = cols["enrolled_primary"] + cols["enrolled_junior"]

    _, place = cKDTree(place_xy).query(xy)
    width = max(2, len(str(n)))
    prefix = {"primary": "P", "junior": "J", "nine_year": "N"}
    counters: dict[str, int] = {}
    ids = []
    for kind in kinds:
        counters[kind] = counters.get(kind, 0) + 1
        ids.append(f"{prefix[kind]}{counters[kind]:0{width}d}")

    frame = pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "name": _school_names(list(kinds), place),
            "level": kinds,
            "status": "existing",
            "public": True,
            "district": np.array(DISTRICTS)[dist_idx],
            **{k: cols[k] for k in _LEVEL_COLUMNS},
            "area_m2": np.round(area, -1),
            "central": central,
            "floor_area_m2": np.round((cap_p * fpp["primary"] + cap_j * fpp["junior"]) * quality_build),
            "sports_area_m2": np.round((cap_p * spp["primary"] + cap_j * spp["junior"]) * quality_sport),
            "equipment_value_yuan": np.round((cap_p * 2000.0 + cap_j * 2500.0) * quality_equip, -3),
            "backbone_teachers": np.maximum(np.rint(enrolled_total / 100.0 * quality_staff), 1).astype(
                np.int64
            ),
        },
        index=pd.Index(ids, name="school_id"),
    )
    return frame


_LEVEL_COLUMNS: tuple[str, ...] = (
    "classes_primary",
    "classes_junior",
    "capacity_primary",
    "capacity_junior",
    "enrolled_primary",
    "enrolled_junior",
    "max_extra_classes_primary",
    "max_extra_classes_junior",
)


def _places(popu: _Population, k: int, rnd: _Random) -> np.ndarray:
    """Centres of ``k`` named places (towns and neighbourhoods), drawn where people live."""
    return np.column_stack([popu.x, popu.y])[rnd.choice(popu.pop, min(k, len(popu.pop)))]


# ---------------------------------------------------------------------------------------------- sites
def _largest_remainder(shares: Sequence[float], n: int) -> np.ndarray:
    raw = np.asarray(shares, dtype=float) * n / float(np.sum(shares))
    out = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - out), kind="stable")
    out[order[: n - int(out.sum())]] += 1
    return out


def _parcel(cx: float, cy: float, area: float, aspect: float, angle: float) -> shapely.Polygon:
    w = math.sqrt(area * aspect)
    h = area / w
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    c, s = math.cos(angle), math.sin(angle)
    rot = corners @ np.array([[c, s], [-s, c]])
    return shapely.Polygon(rot + np.array([cx, cy]))


def _sites(
    lay: _Layout, popu: _Population, school_xy: np.ndarray, place_xy: np.ndarray, n_sites: int, rnd: _Random
) -> tuple[pd.DataFrame, list[shapely.Polygon]]:
    """Reserved parcels, mostly in Newtown and the centre, kept apart from schools, each other and water."""
    rect = shapely.box(lay.x0, lay.y0, lay.x0 + lay.width, lay.y0 + lay.height)
    river = _river_polygon(lay)
    quotas = _largest_remainder([0.25, 0.5, 0.15, 0.10], n_sites)  # DISTRICTS order
    cell_district = lay.district_index(popu.x, popu.y)
    clear = np.abs(lay.river_offset(popu.x, popu.y)) > lay.river_width / 2 + 300.0
    school_tree = cKDTree(school_xy) if len(school_xy) else None
    cx, cy, cs = lay.core
    pattern = np.array(["primary", "junior", "primary", "nine_year"])
    levels = pattern[np.arange(n_sites) % 4][rnd.choice(np.ones(n_sites), n_sites)]
    chosen: list[tuple[float, float, int]] = []
    for d, quota in enumerate(quotas):
        pool = np.flatnonzero((cell_district == d) & clear)
        if quota == 0 or len(pool) == 0:
            continue
        candidates = pool[rnd.choice(popu.pop[pool], min(len(pool), 80 * int(quota)))]
        got = 0
        for spacing in (800.0, 500.0, 300.0):
            for c in candidates:
                if got == quota:
                    break
                x, y = float(popu.x[c]), float(popu.y[c])
                if school_tree is not None and school_tree.query([x, y])[0] < 0.55 * spacing:
                    continue
                if any(math.hypot(x - sx, y - sy) < spacing for sx, sy, _ in chosen):
                    continue
                chosen.append((x, y, d))
                got += 1
    rows, parcels = [], []
    for k, (x, y, d) in enumerate(chosen):
        level = str(levels[k])
        central = d == 0 and math.hypot(x - cx, y - cy) < 2.0 * cs
        if central:
            area = rnd.uniform(15_000, 24_000)[0]
        else:
            area = rnd.uniform(
                *{"primary": (20_000, 35_000), "junior": (28_000, 48_000)}.get(level, (40_000, 60_000))
            )[0]
        area = round(float(area), -2)
        aspect, angle = rnd.uniform(1.0, 1.6)[0], rnd.uniform(-0.35, 0.35)[0]
        poly = _parcel(x, y, area, float(aspect), float(angle))
        if not rect.contains(poly) or poly.intersects(river):
            continue
        u = rnd.uniform()[0]
        year = 2025 if u < 0.55 else 2026 if u < 0.75 else 2027 if u < 0.9 else 2028
        rows.append(
            {
                "x": x,
                "y": y,
                "level": level,
                "district": DISTRICTS[d],
                "area_m2": area,
                "central": central,
                "available_from": year,
            }
        )
        parcels.append(poly)
    frame = pd.DataFrame(
        rows, columns=["x", "y", "level", "district", "area_m2", "central", "available_from"]
    )
    width = max(2, len(str(len(frame))))
    frame.index = pd.Index([f"S{i + 1:0{width}d}" for i in range(len(frame))], name="school_id")
    if len(frame):
        _, place = cKDTree(place_xy).query(frame[["x", "y"]].to_numpy())
    else:
        place = np.empty(0, dtype=np.int64)
    seen: dict[tuple[int, str], int] = {}
    names = []
    for p, level in zip(place, frame["level"], strict=True):
        n = seen.get((int(p), level), 0) + 1
        seen[(int(p), level)] = n
        zh, en = _place_name(int(p))
        kzh, ken = _SITE_KIND_NAMES[level]
        suffix_zh, suffix_en = ("", "") if n == 1 else (_zh_number(n), f" {n}")
        names.append(f"{zh}{kzh}规划用地{suffix_zh} {en} Planned {ken}{suffix_en}")
    frame.insert(0, "name", names)
    frame.insert(2, "status", "site")
    return frame, parcels


# ---------------------------------------------------------------------------------------------- roads
@dataclass(frozen=True)
class _Roads:
    node_xy: np.ndarray  # (n, 2) metric, row k is node id k + 1
    way_nodes: list[np.ndarray]  # node ids per way (1-based)
    highway: np.ndarray  # str per way
    bridge: np.ndarray  # bool per way
    name: list[str | None]
    name_en: list[str | None]


def _line_coords(
    n: int, art: np.ndarray, rnd: _Random
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per lattice line: offset (m), wobble amplitude (m), wavelength (m), phase; arterials run straight."""
    off = np.where(art, 0.0, rnd.uniform(-10.0, 10.0, n))
    wob = np.where(art, 0.0, rnd.uniform(0.0, 6.0, n))
    return off, wob, rnd.uniform(400.0, 1200.0, n), rnd.uniform(0.0, 2 * np.pi, n)


def _roads(lay: _Layout, norm: np.ndarray, rnd: _Random) -> _Roads:
    """A street lattice: small blocks in the centre, sparse roads and tracks outside, a few bridges."""
    s, a = _LATTICE_M, _ARTERIAL_EVERY
    nx = int((lay.width - s) // s) + 1
    ny = int((lay.height - s) // s) + 1
    bx = lay.x0 + s / 2 + np.arange(nx) * s
    by = lay.y0 + s / 2 + np.arange(ny) * s
    rel_v, rel_h = np.arange(nx) - a // 2, np.arange(ny) - a // 2
    art_v, art_h = rel_v % a == 0, rel_h % a == 0
    off_v, wob_v, lam_v, ph_v = _line_coords(nx, art_v, rnd)
    off_h, wob_h, lam_h, ph_h = _line_coords(ny, art_h, rnd)
    gx = (
        bx[None, :]
        + off_v[None, :]
        + wob_v[None, :] * np.sin(2 * np.pi * by[:, None] / lam_v[None, :] + ph_v[None, :])
    )
    gy = (
        by[:, None]
        + off_h[:, None]
        + wob_h[:, None] * np.sin(2 * np.pi * bx[None, :] / lam_h[:, None] + ph_h[:, None])
    )
    gx = gx + np.where(art_v[None, :], 0.0, rnd.uniform(-2.5, 2.5, (ny, nx)))
    gy = gy + np.where(art_h[:, None], 0.0, rnd.uniform(-2.5, 2.5, (ny, nx)))
    node_x, node_y = gx.ravel(), gy.ravel()

    # candidate edges along every lattice line: orientation 0 = west-east, 1 = south-north
    jj, ii = np.meshgrid(np.arange(ny), np.arange(nx - 1), indexing="ij")
    h_u = (jj * nx + ii).ravel()
    h_line, h_pos = jj.ravel(), ii.ravel()
    jj, ii = np.meshgrid(np.arange(ny - 1), np.arange(nx), indexing="ij")
    v_u = (jj * nx + ii).ravel()
    v_line, v_pos = ii.ravel(), jj.ravel()
    u = np.concatenate([h_u, v_u])
    v = np.concatenate([h_u + 1, v_u + nx])
    orient = np.concatenate([np.zeros(len(h_u), np.int64), np.ones(len(v_u), np.int64)])
    line = np.concatenate([h_line, v_line])
    pos = np.concatenate([h_pos, v_pos])
    rel = np.concatenate([rel_h[h_line], rel_v[v_line]])
    mx = np.concatenate([bx[h_pos] + s / 2, bx[v_line]])  # midpoints on the unjittered lattice
    my = np.concatenate([by[h_line], by[v_pos] + s / 2])
    dens = _density_per_km2(lay, norm, mx, my)
    block = np.select([dens >= 10_000, dens >= 4_000, dens >= 1_500], [3, 4, 5], 7)
    rural = block == 7
    on_grid = rel % block == 0
    arterial = rel % a == 0
    track_line = np.concatenate([rnd.uniform(size=ny) < 0.35, rnd.uniform(size=nx) < 0.35])
    track = rural & ~on_grid & (rel % 7 == 3) & track_line[line + orient * ny]
    highway = np.select(
        [arterial & (rel % (2 * a) == 0), arterial, on_grid & ~rural, on_grid, track],
        [_HW_PRIMARY, _HW_SECONDARY, _HW_RESIDENTIAL, _HW_UNCLASSIFIED, _HW_TRACK],
        -1,
    )
    drop = rnd.uniform(size=len(u)) < np.array([0.0, 0.0, 0.04, 0.06, 0.12, 1.0])[highway]
    keep = (highway >= 0) & ~drop

    # the river: only bridges cross it
    bridge = np.zeros(len(u), dtype=bool)
    near = keep & (np.abs(lay.river_offset(mx, my)) < lay.river_width / 2 + 2 * s)
    idx = np.flatnonzero(near)
    segments = shapely.linestrings(
        np.stack(
            [
                np.column_stack([node_x[u[idx]], node_y[u[idx]]]),
                np.column_stack([node_x[v[idx]], node_y[v[idx]]]),
            ],
            axis=1,
        )
    )
    banks = _river_polygon(_widened(lay, _RIVER_MARGIN_M))
    shapely.prepare(banks)
    wet = shapely.intersects(banks, segments)
    line_x = bx[np.minimum(line[idx], nx - 1)]  # meaningful for south-north edges only
    on_bridge_line = (orient[idx] == 1) & np.isin(line_x, np.asarray(lay.bridges_x)) & arterial[idx]
    bridge[idx[wet & on_bridge_line]] = True
    keep[idx[wet & ~on_bridge_line]] = False

    # one connected network: drop fragments cut off by the river or by dropped edges
    ku, kv = u[keep], v[keep]
    graph = coo_matrix((np.ones(len(ku)), (ku, kv)), shape=(nx * ny, nx * ny))
    _, label = connected_components(graph, directed=False)
    main = np.argmax(np.bincount(label[ku]))
    keep[keep] = label[ku] == main

    # ways: runs of consecutive edges along one line with the same tags
    e = np.flatnonzero(keep)
    e = e[np.lexsort((pos[e], line[e], orient[e]))]
    brk = np.ones(len(e), dtype=bool)
    brk[1:] = (
        (orient[e][1:] != orient[e][:-1])
        | (line[e][1:] != line[e][:-1])
        | (pos[e][1:] != pos[e][:-1] + 1)
        | (highway[e][1:] != highway[e][:-1])
        | (bridge[e][1:] != bridge[e][:-1])
    )
    wid = np.cumsum(brk) - 1
    first = np.flatnonzero(brk)
    counts = np.bincount(wid) + 1
    offsets = np.concatenate([[0], np.cumsum(counts)])
    seq = np.empty(int(offsets[-1]), dtype=np.int64)
    seq[offsets[:-1]] = u[e[first]]
    seq[np.arange(len(e)) + wid + 1] = v[e]
    used, seq_ids = np.unique(seq, return_inverse=True)
    way_nodes = np.split(seq_ids + 1, offsets[1:-1])

    w_orient, w_line, w_hw = orient[e[first]], line[e[first]], highway[e[first]]
    names, names_en = [], []
    for o, ln, hw in zip(w_orient.tolist(), w_line.tolist(), w_hw.tolist(), strict=True):
        if hw in (_HW_PRIMARY, _HW_SECONDARY):
            zh, en = _PLACES[(ln * 7 + o * 31) % len(_PLACES)]
            names.append(f"{zh}{'路' if o == 0 else '大道'}")
            names_en.append(f"{en} {'Road' if o == 0 else 'Avenue'}")
        elif hw == _HW_RESIDENTIAL:
            zh, en = _PLACES[(ln * 11 + o * 5) % len(_PLACES)]
            k = ln % 9 + 1
            names.append(f"{zh}{_zh_number(k)}{'街' if o == 0 else '巷'}")
            names_en.append(f"{en} {'Street' if o == 0 else 'Lane'} {k}")
        elif hw == _HW_UNCLASSIFIED:
            zh, en = _PLACES[(ln * 13 + o * 3) % len(_PLACES)]
            names.append(f"{zh}村道")
            names_en.append(f"{en} Village Road")
        else:
            names.append(None)
            names_en.append(None)
    return _Roads(
        node_xy=np.column_stack([node_x[used], node_y[used]]),
        way_nodes=way_nodes,
        highway=np.array(_HIGHWAYS)[w_hw],
        bridge=bridge[e[first]],
        name=names,
        name_en=names_en,
    )


def _widened(lay: _Layout, margin: float) -> _Layout:
    return _Layout(**{**lay.__dict__, "river_width": lay.river_width + 2 * margin})


# ---------------------------------------------------------------------------------------------- catchments
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


# ---------------------------------------------------------------------------------------------- public API
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

    Returns
    -------
    City
        The population raster and every vector layer, in EPSG:4326.

    Raises
    ------
    InputError
        For a size or a count out of range, naming the argument and the value.
    """
    counts = default_counts(int(residents))
    n_primary = counts["n_primary"] if n_primary is None else n_primary
    n_junior = counts["n_junior"] if n_junior is None else n_junior
    n_nine_year = counts["n_nine_year"] if n_nine_year is None else n_nine_year
    n_sites = counts["n_sites"] if n_sites is None else n_sites
    _check_args(residents, width_km, height_km, n_primary, n_junior, n_nine_year, n_sites, origin_lonlat)

    lon0, lat0 = origin_lonlat
    zone = int((lon0 + 180) // 6) % 60 + 1
    metric = CRS.from_epsg((32600 if lat0 >= 0 else 32700) + zone)
    to_metric = Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    to_geo = Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
    x0, y0 = (float(c) for c in to_metric.transform(lon0, lat0))
    width, height = width_km * 1000.0, height_km * 1000.0

    lay = _layout(x0, y0, width, height, _Random(seed, 1))
    popu = _population(lay, int(residents), to_metric, to_geo, _Random(seed, 2))
    n_schools = n_primary + n_junior + n_nine_year
    if len(popu.pop) < 4 * (n_schools + n_nine_year):
        raise InputError(
            f"sample: {len(popu.pop)} populated cells cannot hold {n_schools} schools; "
            "make the area larger (width_km, height_km) or ask for fewer schools."
        )
    place_xy = _places(popu, max(6, round(n_schools / 3)), _Random(seed, 4))
    schools = _schools(
        lay, popu, n_primary, n_junior, n_nine_year, place_xy, _Random(seed, 3), villages=village_schools
    )
    sites, parcels = _sites(lay, popu, schools[["x", "y"]].to_numpy(), place_xy, n_sites, _Random(seed, 5))
    roads = _roads(lay, popu.norm, _Random(seed, 6))

    rect = shapely.box(x0, y0, x0 + width, y0 + height)
    catchments = {}
    for level in LEVELS:
        serving = schools[[level in LEVELS_SERVED[k] for k in schools["level"]]]
        cells = _voronoi(serving[["x", "y"]].to_numpy(), rect)
        catchments[level] = gpd.GeoDataFrame(
            {"school_id": serving.index.to_numpy(dtype=object)},
            geometry=_to_geo(shapely.segmentize(cells, 50.0), to_geo),
            crs="EPSG:4326",
        )

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

    school_points = _to_geo(shapely.points(schools[["x", "y"]].to_numpy()), to_geo)
    school_frame = gpd.GeoDataFrame(schools.drop(columns=["x", "y"]), geometry=school_points, crs="EPSG:4326")
    site_frame = gpd.GeoDataFrame(
        sites.drop(columns=["x", "y"]), geometry=_to_geo(parcels, to_geo), crs="EPSG:4326"
    )
    districts = gpd.GeoDataFrame(
        {"name": list(DISTRICTS)},
        geometry=_to_geo(shapely.segmentize(_district_polygons(lay), 50.0), to_geo),
        crs="EPSG:4326",
    )
    water = gpd.GeoDataFrame(
        {"name": ["东平河 Dongping River"]}, geometry=_to_geo([_river_polygon(lay)], to_geo), crs="EPSG:4326"
    )
    city = City(
        population=popu.grid,
        transform=popu.transform,
        crs="EPSG:4326",
        roads=road_frame,
        road_nodes=road_nodes,
        schools=school_frame,
        sites=site_frame,
        catchments=catchments,
        districts=districts,
        water=water,
        metric_crs=metric.to_string(),
        residents=int(residents),
        seed=int(seed),
    )
    log.info(
        "sample city: %d residents, %d schools, %d sites, %d road nodes",
        residents,
        len(school_frame),
        len(site_frame),
        len(road_nodes),
    )
    return city


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


# ---------------------------------------------------------------------------------------------- writing
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
        out.append(f'  <way id="{osmid}" version="1">')
        out.extend(f'    <nd ref="{r}"/>' for r in refs)
        tags = [("highway", hw)]
        if isinstance(name, str):
            tags += [("name", name), ("name:en", name_en)]
        if bridge:
            tags += [("bridge", "yes"), ("layer", "1")]
        out.extend(f"    <tag k={quoteattr(k)} v={quoteattr(str(v))}/>" for k, v in tags)
        out.append("  </way>")
    out.append("</osm>")
    return "\n".join(out) + "\n"


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


def _scenario_text(name: str, city: City) -> str:
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
  osm_xml: ../roads.osm
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
  shortfall_m: 100000
  min_enrolment_share: 0.5
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
    city: City, dest: Path | str, *, overwrite: bool = False, name: str = "sample"
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
    summary = city_summary(city)
    texts = {
        "roads.osm": _osm_text(city),
        "schools.geojson": _geojson_text(city.schools, name="schools", index="school_id"),
        "sites.geojson": _geojson_text(city.sites, name="sites", index="school_id"),
        "catchments_primary.geojson": _geojson_text(city.catchments["primary"], name="catchments_primary"),
        "catchments_junior.geojson": _geojson_text(city.catchments["junior"], name="catchments_junior"),
        "districts.geojson": _geojson_text(city.districts, name="districts"),
        "water.geojson": _geojson_text(city.water, name="water"),
        "README.md": _readme_text(city, summary, name),
        f"scenarios/{name}.yaml": _scenario_text(name, city),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the folder should look like any other
        _write_raster(city, tmp / "population.tif")
        for rel, text in texts.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(text.encode("utf-8"))
        written = ["population.tif", *texts]
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
    log.info("wrote the sample city to %s", dest)
    return {rel: dest / rel for rel in written}


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
