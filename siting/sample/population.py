"""The population raster: WorldPop-like residents per 3-arc-second cell, smooth kernels times a texture."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from scipy import ndimage

from siting.sample.layout import _Layout, _Random, _river_polygon

CELL_DEG = 1.0 / 1200.0
"""Raster cell size in degrees (3 arc-seconds, as WorldPop's 100 m products)."""

NODATA = -99999.0
"""Raster value of cells outside the study area (WorldPop's convention)."""

_EARTH_RADIUS_M = 6_371_008.8
_SHARES = np.array([0.30, 0.14, 0.24, 0.16, 0.11, 0.05])  # of residents, per kernel component


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


def _places(popu: _Population, k: int, rnd: _Random) -> np.ndarray:
    """Centres of ``k`` named places (towns and neighbourhoods), drawn where people live."""
    return np.column_stack([popu.x, popu.y])[rnd.choice(popu.pop, min(k, len(popu.pop)))]
