"""Road-centreline line layers to a walking graph, split at intersections but not across levels."""

from __future__ import annotations

import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from pyproj import CRS

from siting._crs import ensure_projected, require_crs, utm_crs_for
from siting._log import get_logger
from siting.errors import NetworkError

log = get_logger(__name__)


def graph_from_lines(lines: gpd.GeoDataFrame, *, name: str = "lines") -> nx.MultiDiGraph:
    """Build a walking graph from a road-centreline layer, split at intersections.

    Lines are joined where they share a vertex and where they cross, **except** across levels: when the
    layer has a ``layer`` column (OSM convention: 0 ground, 1 bridge, -1 tunnel) or ``bridge``/``tunnel``
    columns (truthy values put a line on level 1/-1 when ``layer`` is missing), lines on different levels
    meet only where an end point of one touches the other (a bridge's ramp), never where they merely
    cross. Without those columns every crossing is a junction.

    Parameters
    ----------
    lines
        LineString/MultiLineString features with a CRS; other geometry types are ignored. A geographic
        layer is projected to its UTM zone first.
    name
        How to call the layer in messages (usually its path).

    Returns
    -------
    networkx.MultiDiGraph
        Integer nodes with ``x``/``y``; each segment as two edges (both directions) with ``length`` (m,
        in the projected CRS) and ``geometry``; ``graph["crs"]`` set.

    Raises
    ------
    NetworkError
        If the layer has no line geometries.
    CRSError
        If the layer has no CRS.
    """
    if len(lines) == 0:
        raise NetworkError(f"{name}: the line layer is empty; it needs road centre lines.")
    crs = require_crs(lines, name=name)
    gdf = lines[lines.geometry.notna() & ~lines.geometry.is_empty].explode(index_parts=False)
    gdf = gdf[gdf.geom_type == "LineString"]
    if len(gdf) == 0:
        found = ", ".join(sorted(set(lines.geom_type.dropna())))
        raise NetworkError(
            f"{name}: no line geometries found (geometry types: {found or 'none'}); a road network layer "
            "needs LineString or MultiLineString road centre lines."
        )
    if not crs.is_projected:
        crs = utm_crs_for(tuple(gdf.total_bounds), crs)
        gdf = gdf.to_crs(crs)
    ensure_projected(crs, name=name)
    level = _line_levels(gdf)
    pieces = []
    levels = np.unique(level)
    for lev in levels:
        geoms = gdf.geometry.to_numpy()[level == lev]
        noded = shapely.get_parts(shapely.node(shapely.multilinestrings(geoms)))
        if len(levels) > 1:
            others = gdf.geometry.to_numpy()[level != lev]
            noded = _split_at_points(noded, shapely.get_coordinates(shapely.boundary(others)))
        pieces.append(noded)
    segs = np.concatenate(pieces)
    segs = segs[shapely.length(segs) > 0]
    return _graph_from_segments(segs, crs, name)


def _line_levels(gdf: gpd.GeoDataFrame) -> np.ndarray:
    level = np.zeros(len(gdf), dtype=np.int64)
    cols = {c.lower(): c for c in gdf.columns}
    for flag, value in (("bridge", 1), ("tunnel", -1)):
        if flag in cols:
            raw = gdf[cols[flag]]
            truthy = raw.notna() & ~raw.astype(str).str.lower().isin(["no", "false", "0", "", "none", "nan"])
            level[truthy.to_numpy()] = value
    if "layer" in cols:
        raw = pd.to_numeric(gdf[cols["layer"]], errors="coerce")
        given = raw.notna().to_numpy()
        level[given] = raw.to_numpy()[given].astype(np.int64)
    return level


def _split_at_points(segs: np.ndarray, points: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Split segments at the given points where they lie on a segment's interior (within ``tol`` m)."""
    if len(points) == 0:
        return segs
    pts = shapely.points(points)
    tree = shapely.STRtree(segs)
    seg_idx, pt_idx = tree.query(pts, predicate="dwithin", distance=tol)[::-1]
    if len(seg_idx) == 0:
        return segs
    out = list(segs)
    for s in np.unique(seg_idx):
        line = segs[s]
        along = shapely.line_locate_point(line, pts[pt_idx[seg_idx == s]])
        cuts = np.unique(along[(along > tol) & (along < line.length - tol)])
        if len(cuts) == 0:
            continue
        bounds = np.concatenate([[0.0], cuts, [line.length]])
        out[s] = None
        out.extend(shapely.ops.substring(line, a, b) for a, b in itertools.pairwise(bounds))
    return np.array([g for g in out if g is not None], dtype=object)


def _graph_from_segments(segs: np.ndarray, crs: CRS, name: str) -> nx.MultiDiGraph:
    coords = [shapely.get_coordinates(g) for g in segs]
    ends = np.array([[c[0], c[-1]] for c in coords]).reshape(-1, 2)
    # nodes are end points, identified to the millimetre so that separately noded levels meet
    keys = np.round(ends / 1e-3).astype(np.int64)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    node_xy = np.zeros((len(uniq), 2))
    node_xy[inverse] = ends
    graph = nx.MultiDiGraph(crs=crs, name=name)
    graph.add_nodes_from((i, {"x": float(x), "y": float(y)}) for i, (x, y) in enumerate(node_xy))
    u, v = inverse[0::2], inverse[1::2]
    lengths = shapely.length(segs)
    for i, geom in enumerate(segs):
        data = {"length": float(lengths[i]), "geometry": geom}
        graph.add_edge(int(u[i]), int(v[i]), **data)
        graph.add_edge(int(v[i]), int(u[i]), length=float(lengths[i]), geometry=shapely.reverse(geom))
    log.info("%s: %d segments after splitting at intersections, %d nodes", name, len(segs), len(uniq))
    return graph
