"""Existing schools: positions (k-means and village cover), kinds, classes, enrolment and resources."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.spatial import cKDTree

from siting.sample.layout import DISTRICTS, _clip_inside, _Layout, _off_river, _Random
from siting.sample.names import _school_names
from siting.sample.population import _Population
from siting.standards import INDICATORS, LEVELS, LEVELS_SERVED, Standards

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
    """Existing schools in the metric CRS: positions, kinds, classes, enrolment and resources.

    The helpers draw from ``rnd`` in a fixed order (positions, classes, expansion room, resources), which
    the sample's files depend on.
    """
    points = np.column_stack([popu.x, popu.y])
    district = lay.district_index(popu.x, popu.y)
    # Newtown grew faster than its schools: fewer schools there per resident
    weight = popu.pop * np.where(district == 1, 0.55, 1.0)
    pxy, is_village_p, nine = _primary_serving(
        lay, points, weight, popu.pop, n_primary + n_nine, n_nine, rnd, villages=villages
    )
    jxy, is_village_j = _junior_serving(
        lay, points, weight, popu.pop, pxy[nine], n_junior, n_nine, rnd, villages=villages
    )
    xy, kinds, village = _in_stable_order(pxy, nine, is_village_p, jxy, is_village_j)
    dist_idx = lay.district_index(xy[:, 0], xy[:, 1])
    serves = {level: np.array([level in LEVELS_SERVED[k] for k in kinds]) for level in LEVELS}
    bounds = _class_bounds(kinds, village)
    demand = _catchment_demand(xy, serves, points, popu.pop)
    cols = _classes_and_enrolment(popu.pop, serves, demand, bounds, dist_idx, rnd)
    central = _central(lay, xy, dist_idx)
    cols |= _expansion_room(central, dist_idx, serves, bounds, cols, rnd)
    resources = _land_and_resources(cols, central, dist_idx, rnd)
    _, place = cKDTree(place_xy).query(xy)
    return pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "name": _school_names(list(kinds), place),
            "level": kinds,
            "status": "existing",
            "public": True,
            "district": np.array(DISTRICTS)[dist_idx],
            **{k: cols[k] for k in _LEVEL_COLUMNS},
            **resources,
        },
        index=pd.Index(_school_ids(kinds), name="school_id"),
    )


def _primary_serving(
    lay: _Layout,
    points: np.ndarray,
    weight: np.ndarray,
    pop: np.ndarray,
    n_pserve: int,
    n_nine: int,
    rnd: _Random,
    *,
    villages: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Primary-serving schools: weighted k-means centres, then village schools; pick the nine-year ones.

    Parameters
    ----------
    lay
        The city's layout.
    points, weight, pop
        Populated cells: centres (m), k-means weights and residents.
    n_pserve
        Primary-serving schools to place by k-means (primary and nine-year).
    n_nine
        How many of them are nine-year schools (never a village school).
    rnd
        The schools' random stream.
    villages
        Add village schools where hamlets have no primary school within reach.

    Returns
    -------
    tuple of numpy.ndarray
        Positions (n, 2) in metres, whether each is a village school, whether each is a nine-year school.
    """
    pxy = _kmeans(points, weight, n_pserve, rnd) if n_pserve else np.empty((0, 2))
    pxy = _clip_inside(lay, _off_river(lay, pxy, 150.0), 120.0)
    # small village schools where hamlets would otherwise have no primary school within walking reach
    village_p = (
        _coverage_points(lay, points, pop, pxy, radius=_VILLAGE_REACH["primary"])
        if villages
        else np.empty((0, 2))
    )
    pxy = np.vstack([pxy, village_p])
    is_village_p = np.r_[np.zeros(n_pserve, dtype=bool), np.ones(len(village_p), dtype=bool)]
    p_district = lay.district_index(pxy[:, 0], pxy[:, 1])
    # nine-year schools mostly in the newer and rural districts (never a village school)
    nine_pref = np.array([0.5, 3.0, 2.0, 2.0])[p_district] * ~is_village_p
    nine = np.zeros(len(pxy), dtype=bool)
    nine[rnd.choice(nine_pref, n_nine)] = True
    if len(pxy):
        _move_one_to_the_river(lay, pxy)
    return pxy, is_village_p, nine


def _move_one_to_the_river(lay: _Layout, pxy: np.ndarray) -> None:
    """Move one primary-serving school close to the river, far from bridges (``pxy`` in metres, in place).

    Families across the water are then nearer to it in a straight line than on foot.
    """
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


def _junior_serving(
    lay: _Layout,
    points: np.ndarray,
    weight: np.ndarray,
    pop: np.ndarray,
    nine_xy: np.ndarray,
    n_junior: int,
    n_nine: int,
    rnd: _Random,
    *,
    villages: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Junior-middle schools: k-means centres around the fixed nine-year schools, then village schools.

    ``lay``, ``points``, ``weight``, ``pop``, ``rnd`` and ``villages`` are as in :func:`_primary_serving`.
    ``nine_xy`` holds the positions (m) of the ``n_nine`` nine-year schools, which serve the junior level
    too and stay in place; ``n_junior`` junior-middle schools are placed around them.

    Returns
    -------
    tuple of numpy.ndarray
        Positions (n, 2) in metres (without the nine-year schools) and whether each is a village school.
    """
    jxy = (
        _kmeans(points, weight, n_junior + n_nine, rnd, fixed=nine_xy)
        if n_junior + n_nine
        else np.empty((0, 2))
    )
    jxy = _clip_inside(lay, _off_river(lay, jxy[n_nine:], 150.0), 120.0)
    village_j = (
        _coverage_points(lay, points, pop, np.vstack([jxy, nine_xy]), radius=_VILLAGE_REACH["junior"])
        if villages
        else np.empty((0, 2))
    )
    is_village_j = np.r_[np.zeros(len(jxy), dtype=bool), np.ones(len(village_j), dtype=bool)]
    return np.vstack([jxy, village_j]), is_village_j


def _in_stable_order(
    pxy: np.ndarray, nine: np.ndarray, is_village_p: np.ndarray, jxy: np.ndarray, is_village_j: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All schools' positions, kinds and village flags, by kind, then north to south, west to east."""
    xy = np.vstack([pxy[~nine], jxy, pxy[nine]])
    kinds = np.array(
        ["primary"] * int((~nine).sum()) + ["junior"] * len(jxy) + ["nine_year"] * int(nine.sum())
    )
    village = np.r_[is_village_p[~nine], is_village_j, np.zeros(int(nine.sum()), dtype=bool)]
    kind_rank = np.select([kinds == "primary", kinds == "junior"], [0, 1], 2)
    order = np.lexsort((np.round(xy[:, 0]), -np.round(xy[:, 1] / 500.0), kind_rank))
    return xy[order], kinds[order], village[order]


def _catchment_demand(
    xy: np.ndarray, serves: Mapping[str, np.ndarray], points: np.ndarray, pop: np.ndarray
) -> dict[str, np.ndarray]:
    """Seats demanded per school and level by the residents nearest to it (the Voronoi catchments)."""
    n = len(xy)
    demand: dict[str, np.ndarray] = {}
    for level in LEVELS:
        idx = np.flatnonzero(serves[level])
        dem = np.zeros(n)
        if len(idx):
            _, label = cKDTree(xy[idx]).query(points)
            dem[idx] = np.bincount(label, weights=pop, minlength=len(idx)) * _SEATS[level] / 1000.0
        demand[level] = dem
    return demand


def _class_bounds(kinds: np.ndarray, village: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fewest and most classes per school and level: village, nine-year and ordinary schools differ."""
    return {
        "primary": (
            np.select([village, kinds == "nine_year"], [6, 18], 24),
            np.select([village, kinds == "nine_year"], [18, 36], 42),
        ),
        "junior": (
            np.select([village, kinds == "nine_year"], [6, 9], 18),
            np.select([village, kinds == "nine_year"], [18, 18], 36),
        ),
    }


def _classes_and_enrolment(
    pop: np.ndarray,
    serves: Mapping[str, np.ndarray],
    demand: Mapping[str, np.ndarray],
    bounds: Mapping[str, tuple[np.ndarray, np.ndarray]],
    dist_idx: np.ndarray,
    rnd: _Random,
) -> dict[str, np.ndarray]:
    """Classes, seats and enrolled pupils per school and level: capacity slightly below demand overall.

    Returns the columns ``classes_<level>``, ``capacity_<level>`` (seats) and ``enrolled_<level>``
    (pupils); Newtown's schools get strongly fewer seats than their catchments demand.
    """
    n = len(dist_idx)
    # capacity: slightly below demand overall, strongly below in Newtown
    district_factor = np.array([1.0, 0.58, 1.05, 1.12])[dist_idx] * np.exp(0.12 * rnd.normal(n))
    total_demand = {level: pop.sum() * _SEATS[level] / 1000.0 for level in LEVELS}
    target_share = {"primary": 0.94, "junior": 0.92}
    attendance = {"primary": 0.97, "junior": 0.85}  # enrolled pupils per seat of planned demand
    cols: dict[str, np.ndarray] = {}
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
    return cols


def _central(lay: _Layout, xy: np.ndarray, dist_idx: np.ndarray) -> np.ndarray:
    """Whether each school (``xy``, metres) is in Old Town's dense centre (lower land standards)."""
    cx, cy, cs = lay.core
    return (dist_idx == 0) & (np.hypot(xy[:, 0] - cx, xy[:, 1] - cy) < 1.6 * cs)


def _expansion_room(
    central: np.ndarray,
    dist_idx: np.ndarray,
    serves: Mapping[str, np.ndarray],
    bounds: Mapping[str, tuple[np.ndarray, np.ndarray]],
    cols: Mapping[str, np.ndarray],
    rnd: _Random,
) -> dict[str, np.ndarray]:
    """Expansion room (0, 6 or 12 classes) on some schools outside the dense centre.

    Returns the columns ``max_extra_classes_<level>``.
    """
    expand_p = np.array([0.1, 0.45, 0.35, 0.3])[dist_idx] * ~central
    expandable = rnd.uniform(size=len(dist_idx)) < expand_p
    out: dict[str, np.ndarray] = {}
    for level in LEVELS:
        _, hi = bounds[level]
        room = np.where(serves[level] & expandable, hi - cols[f"classes_{level}"], 0)
        out[f"max_extra_classes_{level}"] = np.where(room >= 12, 12, np.where(room >= 6, 6, 0)).astype(
            np.int64
        )
    return out


def _land_and_resources(
    cols: Mapping[str, np.ndarray], central: np.ndarray, dist_idx: np.ndarray, rnd: _Random
) -> dict[str, np.ndarray]:
    """Land and resources: old, cramped schools in the centre; new buildings, few senior staff in Newtown.

    Returns the columns ``area_m2``, ``central``, ``floor_area_m2`` (teaching and auxiliary rooms),
    ``sports_area_m2``, ``equipment_value_yuan`` and ``backbone_teachers``, in the order of the schools file.
    """
    n = len(dist_idx)
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
    # resources per seat at the 优质均衡 minima; floor_area_m2 is the teaching and auxiliary floor area
    fpp, spp = INDICATORS["teaching_aux_area"].minimum, INDICATORS["sports_area"].minimum
    epp = INDICATORS["equipment_value"].minimum
    enrolled_total = cols["enrolled_primary"] + cols["enrolled_junior"]
    return {
        "area_m2": np.round(area, -1),
        "central": central,
        "floor_area_m2": np.round((cap_p * fpp["primary"] + cap_j * fpp["junior"]) * quality_build),
        "sports_area_m2": np.round((cap_p * spp["primary"] + cap_j * spp["junior"]) * quality_sport),
        "equipment_value_yuan": np.round(
            (cap_p * epp["primary"] + cap_j * epp["junior"]) * quality_equip, -3
        ),
        "backbone_teachers": np.maximum(np.rint(enrolled_total / 100.0 * quality_staff), 1).astype(np.int64),
    }


def _school_ids(kinds: np.ndarray) -> list[str]:
    """Ids numbered per kind in order: P01, P02, ..., J01, ..., N01 (width grows with the count)."""
    width = max(2, len(str(len(kinds))))
    prefix = {"primary": "P", "junior": "J", "nine_year": "N"}
    counters: dict[str, int] = {}
    ids = []
    for kind in kinds:
        counters[kind] = counters.get(kind, 0) + 1
        ids.append(f"{prefix[kind]}{counters[kind]:0{width}d}")
    return ids


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
