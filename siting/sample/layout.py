"""The random stream and the city's layout: river, bridges, district boundaries and density centres.

All in the metric CRS (metres). Randomness comes only from ``numpy.random.PCG64`` uniform doubles through
:class:`_Random` (a stream numpy keeps stable), one stream per part of the city.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

DISTRICTS: tuple[str, ...] = ("Old Town", "Newtown", "Riverside", "Rural Edge")
"""District names, in the order they are written."""

_LATTICE_M = 60.0  # spacing of the street lattice every road runs along
_ARTERIAL_EVERY = 20  # lattice lines between arterials (1.2 km)


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
    # one jitter per bridge from u[4:15], repeated past 11 bridges (a city wider than about 50 km); the
    # first 11 are the draws every narrower city has always used
    jitter = np.resize(u[4:15], n_bridges)
    targets = x0 + width * (np.arange(n_bridges) + 0.5 + 0.3 * (jitter - 0.5)) / n_bridges
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


def _widened(lay: _Layout, margin: float) -> _Layout:
    return _Layout(**{**lay.__dict__, "river_width": lay.river_width + 2 * margin})
