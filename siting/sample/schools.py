"""Existing schools: positions (k-means and village cover), kinds, classes, enrolment and resources."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.spatial import cKDTree

from siting.sample.layout import DISTRICTS, _clip_inside, _Layout, _off_river, _Random
from siting.sample.names import _school_names
from siting.sample.population import _Population
from siting.standards import LEVELS, LEVELS_SERVED, Standards

_STANDARDS = Standards.foshan()
_SEATS = {level: float(_STANDARDS.seats_per_1000[level]) for level in LEVELS}
_CLASS_SIZE = {level: int(_STANDARDS.class_size[level]) for level in LEVELS}


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
