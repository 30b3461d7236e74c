"""Catchments: assignments → catchment polygons, contiguity checks and repair, before/after changes.

A catchment is the set of demand units a school serves at one level. Units carry their school per level in
``current_<level>`` (today) and ``proposed_<level>`` (after solving); every function here reads one of those
columns (or any other named with ``column=``) and never changes its input.

Conventions
-----------
- **Adjacency** between units is *rook* contiguity: two units are neighbours when their boundaries share a
  stretch of positive length (grid cells that meet only at a corner are not neighbours). It is built with a
  spatial index (:class:`shapely.STRtree`), so it costs about ``O(n log n)``, not ``O(n²)``.
- A catchment's **main piece** is the connected piece holding the unit that contains the school's point
  (when ``schools`` is given and that unit is in the catchment); otherwise the piece with the most pupils,
  then the most units, then the smallest ``unit_id``. Every other piece is a **stray piece**.
- Distances are network walking distances from the travel-cost table (``unit_id, school_id, distance_m``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from siting._log import get_logger
from siting.errors import InputError, describe
from siting.standards import LEVELS, LEVELS_SERVED, Standards

logger = get_logger(__name__)

CATCHMENT_COLUMNS: tuple[str, ...] = ("level", "school_id", "population", "pupils", "n_units", "n_parts")
"""Columns of a catchment table (plus ``geometry``)."""

CHANGE_COLUMNS: tuple[str, ...] = (
    "unit_id",
    "level",
    "old_school",
    "new_school",
    "pupils",
    "walk_before_m",
    "walk_after_m",
    "district",
)
"""Columns of a changes table."""

REPAIR_COLUMNS: tuple[str, ...] = (
    "level",
    "school_id",
    "unit_ids",
    "n_units",
    "pupils",
    "repaired",
    "new_school",
    "reason",
)
"""Columns of the repair report returned by :func:`repair_contiguity`."""

_PRECISION_M = 0.01  # snapping grid for user polygons that do not form a clean coverage (1 cm)


# ---------------------------------------------------------------------------------------------- helpers
def levels_from(level: str | Iterable[str]) -> tuple[str, ...]:
    """Return the levels named by ``level``: one level, ``"both"``, or an iterable of levels.

    Parameters
    ----------
    level
        ``"primary"``, ``"junior"``, ``"both"`` or a sequence of levels.

    Returns
    -------
    tuple of str
        Levels in the order of :data:`siting.standards.LEVELS`.

    Raises
    ------
    InputError
        For an unknown level.
    """
    wanted = set(LEVELS) if level == "both" else ({level} if isinstance(level, str) else set(level))
    unknown = wanted - set(LEVELS)
    if unknown or not wanted:
        raise InputError(
            f"level must be one of {', '.join(LEVELS)} or 'both', got {describe(sorted(unknown) or level)}."
        )
    return tuple(lv for lv in LEVELS if lv in wanted)


def _one_level(level: str) -> str:
    if level not in LEVELS:
        raise InputError(f"level must be one of {', '.join(LEVELS)}, got {describe(level)}.")
    return level


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, name: str, fix: str = "") -> None:
    """Raise :class:`InputError` when ``frame`` lacks any of ``columns``.

    Parameters
    ----------
    frame
        The table to check.
    columns
        Column names it must have.
    name
        What to call the table in the message.
    fix
        A sentence telling the user how to fix it.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns))
        raise InputError(
            f"{name}: missing column(s) {', '.join(missing)} (columns are: {have}). {fix}".strip()
        )


def seated_pupils(units: pd.DataFrame, *, level: str, column: str | None = None) -> np.ndarray:
    """Return the pupils each unit has at its assigned school for ``level``.

    When seats run out the model seats only part of a unit at its one school and reports the rest as
    shortfall; the pipeline records the seated part in ``<column>_pupils`` (e.g. ``proposed_primary_pupils``).
    Without that column every unit is taken to be seated in full (its ``level`` demand), as in the
    current state.

    Parameters
    ----------
    units
        Demand units.
    level
        ``"primary"`` or ``"junior"``.
    column
        The assignment column (default ``proposed_<level>``).

    Returns
    -------
    numpy.ndarray
        Pupils per unit, in ``units`` order (0 where a seated count is missing).
    """
    column = column or f"proposed_{_one_level(level)}"
    seated = f"{column}_pupils"
    if seated in units.columns:
        return pd.to_numeric(units[seated], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    return units[level].to_numpy(dtype=float)


def assigned_schools(units: pd.DataFrame, *, level: str, column: str | None = None) -> pd.Series:
    """Return each unit's school for ``level`` from ``column`` (default ``proposed_<level>``).

    Parameters
    ----------
    units
        Demand units indexed by ``unit_id``.
    level
        ``"primary"`` or ``"junior"``.
    column
        Column holding the ``school_id`` per unit; missing means unserved.

    Returns
    -------
    pandas.Series
        ``school_id`` (str) or missing, indexed like ``units``.
    """
    column = column or f"proposed_{_one_level(level)}"
    require_columns(
        units,
        [column, level],
        name="units",
        fix=f"Solve the model first (it adds proposed_{level}) or pass column= naming the assignment.",
    )
    raw = units[column]
    out = raw.astype("string").astype(object).where(raw.notna(), None)
    return out.rename(column)


def _walk_lookup(costs: pd.DataFrame | None) -> pd.Series | None:
    """Return ``distance_m`` indexed by ``(unit_id, school_id)``, or ``None`` without costs."""
    if costs is None:
        return None
    require_columns(costs, ["unit_id", "school_id", "distance_m"], name="travel costs")
    table = costs[["unit_id", "school_id", "distance_m"]].drop_duplicates(["unit_id", "school_id"])
    ids = table["school_id"].astype(str)
    return pd.Series(
        table["distance_m"].to_numpy(dtype=float),
        index=pd.MultiIndex.from_arrays([table["unit_id"].to_numpy(), ids.to_numpy(dtype=object)]),
    )


def walk_distances(
    unit_ids: Sequence[object], school_ids: Sequence[object], costs: pd.DataFrame | None
) -> np.ndarray:
    """Return the walking distance (m) of each ``(unit, school)`` pair; ``nan`` when missing or no school.

    Parameters
    ----------
    unit_ids, school_ids
        Paired sequences; a missing school gives ``nan``.
    costs
        Travel-cost table ``unit_id, school_id, distance_m``; ``None`` gives all ``nan``.

    Returns
    -------
    numpy.ndarray
        Distances in metres (float64).
    """
    n = len(unit_ids)
    lookup = _walk_lookup(costs)
    if lookup is None or n == 0:
        return np.full(n, np.nan)
    keys = pd.MultiIndex.from_arrays(
        [np.asarray(unit_ids), np.asarray([None if pd.isna(s) else str(s) for s in school_ids], dtype=object)]
    )
    return lookup.reindex(keys).to_numpy(dtype=float)


def _clean_geometries(geoms: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return valid polygonal geometries and whether they form a clean coverage (no overlaps)."""
    geoms = np.asarray(geoms, dtype=object)
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        logger.info("made %d invalid unit polygon(s) valid", int(bad.sum()))
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    clean = bool(shapely.coverage_is_valid(geoms))
    if not clean:
        geoms = shapely.set_precision(geoms, _PRECISION_M)
    return geoms, clean


# ---------------------------------------------------------------------------------------------- polygons
def catchments_from_assignment(
    units: gpd.GeoDataFrame, *, level: str | Iterable[str], column: str | None = None
) -> gpd.GeoDataFrame:
    """Dissolve units into one catchment polygon per school and level.

    Grid cells share edges exactly, so their union is exact (a coverage union, no slivers and no gaps
    between neighbouring catchments). User polygons that overlap or do not meet cleanly are made valid,
    snapped to a 1 cm grid and each catchment is cut by the ones before it (in ``school_id`` order), so
    catchments of one level never overlap; the overlapping area is logged.

    Parameters
    ----------
    units
        Demand units (index ``unit_id``) with polygons, ``population``, the demand column per level and the
        assignment column.
    level
        ``"primary"``, ``"junior"``, ``"both"`` or a sequence of levels.
    column
        Assignment column; default ``proposed_<level>``. With several levels, use ``None`` or a name with
        ``{level}`` in it (``"current_{level}"``).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``level, school_id, population, pupils, n_units, n_parts, geometry`` (``n_parts`` = number
        of polygon pieces), one row per school that serves at least one unit, sorted by level and school;
        CRS of ``units``. Unserved units are in no catchment.
    """
    require_columns(units, ["population"], name="units", fix="Build units with demand.units_from_raster.")
    frames = []
    geoms_all, clean = _clean_geometries(units.geometry.to_numpy())
    for lv in levels_from(level):
        col = column.format(level=lv) if column else None
        school = assigned_schools(units, level=lv, column=col)
        served = school.notna().to_numpy()
        if not served.any():
            continue
        table = pd.DataFrame(
            {
                "school_id": school.to_numpy()[served],
                "population": units["population"].to_numpy(dtype=float)[served],
                "pupils": seated_pupils(units, level=lv, column=col)[served],
                "pos": np.flatnonzero(served),
            }
        )
        rows = []
        taken = None
        for sid, grp in table.groupby("school_id", sort=True):
            parts = geoms_all[grp["pos"].to_numpy()]
            if clean:
                geom = shapely.coverage_union_all(parts)
            else:
                geom = shapely.union_all(parts, grid_size=_PRECISION_M)
                if taken is not None:
                    overlap = shapely.area(shapely.intersection(geom, taken))
                    if overlap > 0:
                        logger.warning(
                            "%s catchment of %s overlaps earlier catchments by %.1f m² (overlapping unit "
                            "polygons); the overlap is kept in the earlier catchment",
                            lv,
                            sid,
                            overlap,
                        )
                        geom = shapely.difference(geom, taken, grid_size=_PRECISION_M)
                taken = geom if taken is None else shapely.union(taken, geom, grid_size=_PRECISION_M)
            geom = shapely.simplify(_polygonal(geom), 0.0)  # drops collinear vertices only
            rows.append(
                {
                    "level": lv,
                    "school_id": str(sid),
                    "population": float(grp["population"].sum()),
                    "pupils": float(grp["pupils"].sum()),
                    "n_units": len(grp),
                    "n_parts": int(shapely.get_num_geometries(geom)) if not geom.is_empty else 0,
                    "geometry": geom,
                }
            )
        frames.append(pd.DataFrame(rows))
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in CATCHMENT_COLUMNS})
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=units.crs), crs=units.crs)
    out = pd.concat(frames, ignore_index=True)
    out["school_id"] = out["school_id"].astype(str)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=units.crs)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygonal part of ``geom`` (drop stray lines and points left by a union)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()


# ---------------------------------------------------------------------------------------------- adjacency
def adjacency_pairs(units: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return the rook-adjacent pairs of units as positional index arrays ``(i, j)`` with ``i < j``.

    Two units are neighbours when they share a boundary stretch of positive length (overlapping user
    polygons count too). When the units form a valid coverage (grid cells; clean blocks), shared boundaries
    consist of identical edges, found by sorting every ring segment (about ``n log n``). Otherwise candidate
    pairs come from a :class:`shapely.STRtree` query and their intersections are measured.

    Parameters
    ----------
    units
        Demand units with polygon geometry.

    Returns
    -------
    tuple of numpy.ndarray
        Positions (0-based, into ``units``) of each neighbouring pair, sorted.
    """
    geoms, clean = _clean_geometries(units.geometry.to_numpy())
    if clean:
        left, right = _shared_edges(geoms)
    else:
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        if len(left):
            rook = shapely.length(shapely.intersection(geoms[left], geoms[right])) > 1e-6
            left, right = left[rook], right[rook]
    pairs = np.unique(np.column_stack([left, right]).astype(np.int64).reshape(-1, 2), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _shared_edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of polygons with an identical ring segment (exact for a valid polygon coverage)."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[:-1] == ring_of[1:]
    start, end = coords[:-1][same], coords[1:][same]
    owner = part_owner[ring_part[ring_of[:-1][same]]]
    swap = (start[:, 0] > end[:, 0]) | ((start[:, 0] == end[:, 0]) & (start[:, 1] > end[:, 1]))
    lo = np.where(swap[:, None], end, start)
    hi = np.where(swap[:, None], start, end)
    order = np.lexsort((owner, hi[:, 1], hi[:, 0], lo[:, 1], lo[:, 0]))
    key = np.column_stack([lo, hi])[order]
    who = owner[order]
    match = (key[1:] == key[:-1]).all(axis=1) & (who[1:] != who[:-1])
    a, b = who[:-1][match], who[1:][match]
    return np.minimum(a, b), np.maximum(a, b)


@dataclass(frozen=True)
class _Pieces:
    """Connected pieces of every catchment of one level (positions into ``units``)."""

    school: np.ndarray  # school id per unit position (object; None = unserved)
    label: np.ndarray  # component label per unit position (-1 = unserved)
    main: dict[str, int]  # school -> label of its main piece
    pieces: dict[str, list[int]]  # school -> labels of all its pieces, main first


def _home_units(units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame | None) -> dict[str, int]:
    """Return school_id -> position of the unit holding the school's point (the first one on a border)."""
    if schools is None or len(schools) == 0:
        return {}
    pts = schools.geometry.to_numpy()
    pts = np.where(
        shapely.get_type_id(pts) == 0,
        pts,
        shapely.point_on_surface(pts),
    )
    tree = shapely.STRtree(units.geometry.to_numpy())
    spos, upos = tree.query(pts, predicate="intersects")
    home: dict[str, int] = {}
    ids = schools.index.astype(str)
    for s, u in sorted(zip(spos.tolist(), upos.tolist(), strict=True)):
        home.setdefault(ids[s], u)
    return home


def _pieces(
    school: np.ndarray,
    pupils: np.ndarray,
    unit_ids: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray],
    home: dict[str, int],
) -> _Pieces:
    n = len(school)
    left, right = pairs
    same = np.array(
        [school[a] is not None and school[a] == school[b] for a, b in zip(left, right, strict=True)]
    )
    if len(same) == 0:
        same = np.zeros(0, dtype=bool)
    graph = coo_matrix((np.ones(int(same.sum())), (left[same], right[same])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    served = np.array([s is not None for s in school])
    label = np.where(served, label, -1)
    frame = pd.DataFrame({"school": school[served], "label": label[served], "pupils": pupils[served]})
    frame["unit_id"] = unit_ids[served]
    stats = frame.groupby(["school", "label"], sort=True).agg(
        pupils=("pupils", "sum"), n_units=("pupils", "size"), first=("unit_id", "min")
    )
    main: dict[str, int] = {}
    pieces: dict[str, list[int]] = {}
    for sid, grp in stats.groupby(level="school", sort=True):
        grp = grp.droplevel("school").sort_values(
            ["pupils", "n_units", "first"], ascending=[False, False, True]
        )
        order = [int(x) for x in grp.index]
        pos = home.get(str(sid))
        if pos is not None and school[pos] == sid:
            own = int(label[pos])
            order.remove(own)
            order.insert(0, own)
        main[str(sid)] = order[0]
        pieces[str(sid)] = order
    return _Pieces(school=school, label=label, main=main, pieces=pieces)


def _school_array(units: pd.DataFrame, level: str, column: str | None) -> np.ndarray:
    return assigned_schools(units, level=level, column=column).to_numpy(dtype=object)


def find_fragments(
    units: gpd.GeoDataFrame,
    *,
    level: str,
    column: str | None = None,
    schools: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """List the catchments that fall apart into more than one piece on the unit adjacency graph.

    Parameters
    ----------
    units
        Demand units (index ``unit_id``) with polygons, the demand column and the assignment column.
    level
        ``"primary"`` or ``"junior"``.
    column
        Assignment column; default ``proposed_<level>``.
    schools
        Optional schools (index ``school_id``, point geometry); the piece holding the school's own unit is
        then the main piece.

    Returns
    -------
    pandas.DataFrame
        One row per piece of every fragmented catchment: ``level, school_id, part`` (0 = main piece),
        ``main`` (bool), ``n_units, pupils, unit_ids`` (tuple of unit ids, sorted). Empty when every
        catchment is in one piece.
    """
    level = _one_level(level)
    school = _school_array(units, level, column)
    pupils = units[level].to_numpy(dtype=float)
    unit_ids = units.index.to_numpy()
    info = _pieces(school, pupils, unit_ids, adjacency_pairs(units), _home_units(units, schools))
    rows = []
    for sid, order in info.pieces.items():
        if len(order) < 2:
            continue
        for part, lab in enumerate(order):
            pos = np.flatnonzero(info.label == lab)
            rows.append(
                {
                    "level": level,
                    "school_id": sid,
                    "part": part,
                    "main": part == 0,
                    "n_units": len(pos),
                    "pupils": float(pupils[pos].sum()),
                    "unit_ids": tuple(sorted(unit_ids[pos].tolist())),
                }
            )
    columns = ["level", "school_id", "part", "main", "n_units", "pupils", "unit_ids"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------------- repair
def school_capacity(schools: pd.DataFrame, *, level: str) -> pd.Series:
    """Return each school's seats for ``level``: ``capacity_after_<level>``, else ``capacity_<level>``.

    Parameters
    ----------
    schools
        Schools indexed by ``school_id``.
    level
        ``"primary"`` or ``"junior"``.

    Returns
    -------
    pandas.Series
        Seats (float) indexed by ``school_id`` (str); schools of a kind that does not serve ``level`` get 0.
    """
    level = _one_level(level)
    column = (
        f"capacity_after_{level}" if f"capacity_after_{level}" in schools.columns else f"capacity_{level}"
    )
    require_columns(schools, [column, "level"], name="schools")
    cap = pd.to_numeric(schools[column], errors="coerce").fillna(0.0).astype(float)
    serves = schools["level"].map(lambda kind: level in LEVELS_SERVED.get(str(kind), ())).astype(bool)
    cap = cap.where(serves, 0.0)
    cap.index = schools.index.astype(str)
    return cap


def repair_contiguity(
    units: gpd.GeoDataFrame,
    *,
    level: str,
    costs: pd.DataFrame,
    schools: gpd.GeoDataFrame,
    standards: Standards,
    column: str | None = None,
    capacity: pd.Series | None = None,
    adjacency: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Reassign stray pieces of fragmented catchments to a neighbouring school where that is allowed.

    Each stray piece (every piece but the main one, see the module notes) is moved as a whole to the school
    whose *main* piece touches it, when that school has free seats for all its pupils and every unit of the
    piece is within ``standards.hard_max_distance_m[level]`` of it in ``costs``. Among allowed neighbours
    the one with the smallest pupil-weighted mean walk wins (ties: smallest ``school_id``). Pieces are
    handled in ``(school_id, smallest unit_id)`` order, and rounds repeat until nothing moves, so the result
    is deterministic and never creates a new piece.

    Parameters
    ----------
    units
        Demand units (index ``unit_id``) with polygons, the demand column and the assignment column.
    level
        ``"primary"`` or ``"junior"``.
    costs
        Travel costs ``unit_id, school_id, distance_m`` (m).
    schools
        Schools indexed by ``school_id`` (point geometry, ``level`` kind, capacities).
    standards
        Policy values (the hard distance limit).
    column
        Assignment column to repair; default ``proposed_<level>``.
    capacity
        Seats per school (index ``school_id``); default :func:`school_capacity`.
    adjacency
        :func:`adjacency_pairs` of these units, if already computed (it depends only on their polygons).

    Returns
    -------
    tuple of (geopandas.GeoDataFrame, pandas.DataFrame)
        A copy of ``units`` with ``column`` repaired, and one report row per stray piece:
        ``level, school_id, unit_ids, n_units, pupils, repaired, new_school, reason``.
    """
    level = _one_level(level)
    column = column or f"proposed_{level}"
    school = _school_array(units, level, column).copy()
    pupils = seated_pupils(units, level=level, column=column)
    unit_ids = units.index.to_numpy()
    cap = (
        school_capacity(schools, level=level)
        if capacity is None
        else capacity.rename(index=str).astype(float)
    )
    load = pd.Series(pupils).groupby(pd.Series(school)).sum()
    load = {str(k): float(v) for k, v in load.items()}
    limit = float(standards.hard_max_distance_m[level])
    lookup = _walk_lookup(costs)
    pairs = adjacency_pairs(units) if adjacency is None else adjacency
    home = _home_units(units, schools)
    neighbours: list[list[int]] = [[] for _ in range(len(units))]
    for a, b in zip(*pairs, strict=True):
        neighbours[a].append(int(b))
        neighbours[b].append(int(a))

    outcome: dict[tuple[int, ...], dict[str, object]] = {}
    for _round in range(len(units) + 1):
        info = _pieces(school, pupils, unit_ids, pairs, home)
        stray = [
            (sid, np.flatnonzero(info.label == lab))
            for sid, order in info.pieces.items()
            for lab in order[1:]
        ]
        stray.sort(key=lambda item: (item[0], unit_ids[item[1]].min()))
        moved = False
        for sid, pos in stray:
            key = tuple(sorted(unit_ids[pos].tolist()))
            need = float(pupils[pos].sum())
            main_of = {s: info.main[s] for s in info.main}
            inside = set(pos.tolist())
            candidates = sorted(
                {
                    school[q]
                    for p in pos
                    for q in neighbours[p]
                    if q not in inside
                    and school[q] is not None
                    and school[q] != sid
                    and info.label[q] == main_of.get(school[q])
                }
            )
            reasons = []
            best: tuple[float, str] | None = None
            for cand in candidates:
                dist = _piece_distances(lookup, unit_ids[pos], cand)
                free = float(cap.get(cand, 0.0)) - load.get(cand, 0.0)
                too_far = ~np.isfinite(dist) | (dist > limit)
                if too_far.any():
                    worst = int(np.flatnonzero(too_far)[0])
                    d = dist[worst]
                    where = f"{d:,.0f} m" if np.isfinite(d) else "not reachable in the travel costs"
                    reasons.append(
                        f"{cand}: unit {unit_ids[pos][worst]} is {where} away (hard limit {limit:,.0f} m)"
                    )
                    continue
                if need > free + 1e-9:
                    reasons.append(
                        f"{cand}: capacity, {max(free, 0.0):,.1f} free seats for {need:,.1f} pupils"
                    )
                    continue
                weights = pupils[pos]
                mean = float(np.average(dist, weights=weights)) if weights.sum() > 0 else float(dist.mean())
                if best is None or (mean, cand) < best:
                    best = (mean, cand)
            if best is None:
                outcome[key] = {
                    "school_id": sid,
                    "pupils": need,
                    "repaired": False,
                    "new_school": None,
                    "reason": "; ".join(reasons)
                    if reasons
                    else "no neighbouring catchment of another school",
                }
                continue
            mean, cand = best
            school[pos] = cand
            load[sid] = load.get(sid, 0.0) - need
            load[cand] = load.get(cand, 0.0) + need
            outcome[key] = {
                "school_id": sid,
                "pupils": need,
                "repaired": True,
                "new_school": cand,
                "reason": f"moved to neighbouring {cand} (pupil-weighted walk {mean:,.0f} m)",
            }
            moved = True
        if not moved:
            break

    repaired = units.copy()
    values = pd.Series(school, index=units.index, dtype=object)
    repaired[column] = values.astype(units[column].dtype) if units[column].dtype != object else values
    report = pd.DataFrame(
        [
            {"level": level, "unit_ids": key, "n_units": len(key), **row}
            for key, row in sorted(outcome.items(), key=lambda kv: (kv[1]["school_id"], kv[0]))
        ],
        columns=list(REPAIR_COLUMNS),
    )
    if len(report):
        n_ok = int(report["repaired"].sum())
        logger.info(
            "%s contiguity: %d stray piece(s) repaired, %d left (see the repair report)",
            level,
            n_ok,
            len(report) - n_ok,
        )
    return repaired, report


def _piece_distances(lookup: pd.Series | None, unit_ids: np.ndarray, school_id: str) -> np.ndarray:
    if lookup is None:
        return np.full(len(unit_ids), np.nan)
    keys = pd.MultiIndex.from_arrays([unit_ids, np.full(len(unit_ids), school_id, dtype=object)])
    return lookup.reindex(keys).to_numpy(dtype=float)


# ---------------------------------------------------------------------------------------------- changes
def compare_catchments(
    units_a: pd.DataFrame,
    units_b: pd.DataFrame | None = None,
    *,
    level: str | Iterable[str],
    before: str | None = None,
    after: str | None = None,
    costs: pd.DataFrame | None = None,
    costs_after: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """List the units whose school changes, with the pupils moved and the walk before and after.

    Two uses: within one result (``units_b`` is ``None``: ``before`` defaults to ``current_<level>`` and
    ``after`` to ``proposed_<level>``, both read from ``units_a``), or between two results (``before`` read
    from ``units_a``, ``after`` from ``units_b``, both defaulting to ``proposed_<level>``; the two tables must
    hold the same units).

    Parameters
    ----------
    units_a
        Units (index ``unit_id``) of the baseline, with the demand column per level.
    units_b
        Units of the other result, or ``None``.
    level
        ``"primary"``, ``"junior"``, ``"both"`` or a sequence of levels.
    before, after
        Assignment columns; may contain ``{level}``.
    costs
        Travel costs for the walk before (and after, unless ``costs_after`` is given); ``None`` leaves the
        walk columns empty.
    costs_after
        Travel costs for the walk after, when the other result has its own table.

    Returns
    -------
    pandas.DataFrame
        ``unit_id, level, old_school, new_school, pupils, walk_before_m, walk_after_m, district`` sorted by
        level and unit; ``pupils`` is the unit's demand in ``units_a`` (the baseline); a missing school
        means unserved. Units that stay put (including unserved → unserved) are left out.

    Raises
    ------
    InputError
        When the two unit tables hold different units, or a column is missing.
    """
    if units_b is not None and not units_a.index.sort_values().equals(units_b.index.sort_values()):
        only_a = units_a.index.difference(units_b.index)
        only_b = units_b.index.difference(units_a.index)
        raise InputError(
            "compare_catchments: the two results have different demand units "
            f"({len(only_a)} only in the first, e.g. {describe(list(only_a[:3]))}; {len(only_b)} only in the "
            f"second, e.g. {describe(list(only_b[:3]))}). Compare results built on the same units."
        )
    other = units_a if units_b is None else units_b.reindex(units_a.index)
    frames = []
    for lv in levels_from(level):
        col_before = (before or ("current_{level}" if units_b is None else "proposed_{level}")).format(
            level=lv
        )
        col_after = (after or "proposed_{level}").format(level=lv)
        old = assigned_schools(units_a, level=lv, column=col_before).to_numpy(dtype=object)
        new = assigned_schools(other, level=lv, column=col_after).to_numpy(dtype=object)
        changed = np.array([a != b for a, b in zip(old, new, strict=True)], dtype=bool)
        ids = units_a.index.to_numpy()[changed]
        district = (
            units_a["district"].to_numpy(dtype=object)[changed]
            if "district" in units_a.columns
            else np.full(len(ids), None, dtype=object)
        )
        frames.append(
            pd.DataFrame(
                {
                    "unit_id": ids,
                    "level": lv,
                    "old_school": pd.array(old[changed], dtype="str"),
                    "new_school": pd.array(new[changed], dtype="str"),
                    "pupils": seated_pupils(
                        units_a if units_b is None else units_b, level=lv, column=col_after
                    )[changed],
                    "walk_before_m": walk_distances(ids, old[changed], costs),
                    "walk_after_m": walk_distances(
                        ids, new[changed], costs if costs_after is None else costs_after
                    ),
                    "district": pd.array(district, dtype="str"),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(CHANGE_COLUMNS))
    return out.sort_values(["level", "unit_id"], key=_level_key, ignore_index=True)


def _level_key(col: pd.Series) -> pd.Series:
    if col.name == "level":
        return col.map({lv: i for i, lv in enumerate(LEVELS)})
    return col
