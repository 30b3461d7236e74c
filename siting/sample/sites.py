"""Reserved school parcels: mostly in Newtown and the centre, apart from schools, each other and water."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from siting.sample.layout import DISTRICTS, _Layout, _Random, _river_polygon
from siting.sample.names import _site_names
from siting.sample.population import _Population


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
    """Reserved parcels, mostly in Newtown and the centre, kept apart from schools, each other and water.

    The helpers draw from ``rnd`` in a fixed order (levels, positions, parcels), which the sample's files
    depend on.
    """
    pattern = np.array(["primary", "junior", "primary", "nine_year"])
    levels = pattern[np.arange(n_sites) % 4][rnd.choice(np.ones(n_sites), n_sites)]
    quotas = _largest_remainder([0.25, 0.5, 0.15, 0.10], n_sites)  # DISTRICTS order
    chosen = _site_positions(lay, popu, school_xy, quotas, rnd)
    rows, parcels = _parcels(lay, chosen, levels, rnd)
    frame = pd.DataFrame(
        rows, columns=["x", "y", "level", "district", "area_m2", "central", "available_from"]
    )
    width = max(2, len(str(len(frame))))
    frame.index = pd.Index([f"S{i + 1:0{width}d}" for i in range(len(frame))], name="school_id")
    if len(frame):
        _, place = cKDTree(place_xy).query(frame[["x", "y"]].to_numpy())
    else:
        place = np.empty(0, dtype=np.int64)
    frame.insert(0, "name", _site_names(place, frame["level"]))
    frame.insert(2, "status", "site")
    return frame, parcels


def _site_positions(
    lay: _Layout, popu: _Population, school_xy: np.ndarray, quotas: np.ndarray, rnd: _Random
) -> list[tuple[float, float, int]]:
    """Centres (m) and district index of the sites: populated cells away from the river, drawn by people.

    Each district gets its quota where it can, at least 800 m apart (then 500 m, then 300 m) and from
    schools at 55 % of that spacing.
    """
    cell_district = lay.district_index(popu.x, popu.y)
    clear = np.abs(lay.river_offset(popu.x, popu.y)) > lay.river_width / 2 + 300.0
    school_tree = cKDTree(school_xy) if len(school_xy) else None
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
    return chosen


def _parcels(
    lay: _Layout, chosen: Sequence[tuple[float, float, int]], levels: np.ndarray, rnd: _Random
) -> tuple[list[dict[str, Any]], list[shapely.Polygon]]:
    """A rectangular parcel (size by level, smaller in the centre) and first year available per site.

    Parcels that leave the study area or touch the river are dropped.
    """
    rect = shapely.box(lay.x0, lay.y0, lay.x0 + lay.width, lay.y0 + lay.height)
    river = _river_polygon(lay)
    cx, cy, cs = lay.core
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
    return rows, parcels
