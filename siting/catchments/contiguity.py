"""Contiguity: rook adjacency between units and the connected pieces of every catchment.

Two units are neighbours when their boundaries share a stretch of positive length (grid cells meeting only
at a corner are not). A catchment's main piece is the one holding the unit that contains the school's point,
else the piece with the most pupils, then the most units, then the smallest ``unit_id``; every other piece
is a stray piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from siting.catchments.assign import _one_level, _school_array
from siting.catchments.polygons import _clean_geometries


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

    school: np.ndarray  # school id per unit position (object; None = no school)
    label: np.ndarray  # component label per unit position (-1 = no school)
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
