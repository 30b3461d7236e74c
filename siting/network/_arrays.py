"""Array form of a road graph for exact, compiled shortest paths (private helpers of :mod:`siting.network`).

A networkx graph is turned once into flat arrays (:class:`EdgeTable`): integer node ids, one row per
*physical* edge (the reversed copy that osmnx adds for two-way streets is dropped), its ``length`` in metres
and its geometry oriented from ``u`` to ``v``. Points are snapped to the nearest edge with a shapely
``STRtree``; the snapped positions become virtual nodes that split their edge (:func:`augmented_matrix`),
so scipy's Dijkstra gives exact distances, also when both ends lie on the same edge.
"""

from __future__ import annotations

import gc
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra

from siting._log import progress
from siting.errors import NetworkError, describe

SOURCE_BATCH = 8
"""Dijkstra sources per call. scipy returns a dense ``batch × nodes`` block; small blocks (8 × 250k × 8 B =
16 MB) are reused by the allocator instead of being page-faulted in afresh, which is the dominant cost."""
FIRST_REACH_M = 4_000.0
""":func:`pair_distances` first searches this far (m) from each source ..."""
REACH_GROWTH = 4.0
"""... then this many times farther for the pairs not reached, until each is found (pairs in different
components are not searched). Most requested pairs (homes and their current school) lie within a few
km, so most searches stop far short of the city's edge."""


@dataclass(frozen=True)
class EdgeTable:
    """Physical edges of a graph as arrays (positions index ``nodes``).

    Attributes
    ----------
    nodes
        Node labels of the graph; a node's integer id is its position here.
    node_xy
        ``(n_nodes, 2)`` node coordinates (graph CRS, metres).
    u, v
        Integer end nodes of each edge.
    key
        The networkx edge key of each kept edge.
    length
        Edge length from the graph's ``length`` attribute (m).
    geometry
        Shapely LineStrings oriented from ``u`` to ``v``.
    geom_length
        Length of each geometry in the graph CRS (m); positions are scaled from it to ``length``.
    """

    nodes: pd.Index
    node_xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    key: np.ndarray
    length: np.ndarray
    geometry: np.ndarray
    geom_length: np.ndarray
    crs: Any = None
    name: str = "network"

    @property
    def n_nodes(self) -> int:
        """Number of graph nodes."""
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        """Number of physical edges."""
        return len(self.u)


Network = nx.MultiDiGraph | EdgeTable
"""What the cost functions walk on: a projected road graph, or its edge table (:func:`road_table`)."""


def road_table(graph: nx.MultiDiGraph) -> EdgeTable:
    """The edge table of a projected road graph, with its CRS and name: all the cost stage needs of it.

    A city's networkx graph holds a Python dict per directed edge and per node (several GB for half a
    million nodes); its table is a few flat arrays and one LineString per physical edge, so the pipeline
    keeps the table and lets the graph go once it is read.

    Parameters
    ----------
    graph
        Projected road graph (``graph["crs"]``, nodes with ``x``/``y``, edges with ``length``).

    Returns
    -------
    EdgeTable
        As :func:`edge_table`, with ``crs`` and ``name`` from the graph's attributes.
    """
    name = str(graph.graph.get("name", "road network"))
    table = edge_table(graph, name=name)
    return replace(table, crs=graph.graph.get("crs"), name=name)


def repacked(table: EdgeTable) -> EdgeTable:
    """``table`` with its edge geometries made anew from their coordinates (the same lines).

    The geometries of a table made from a graph were made among the graph's millions of small Python
    objects; once the graph is gone they keep much of the memory it used from being given back (a
    LineString here and there pins each block of it). Made again after the graph is freed, they sit
    together. Call it with the only reference to ``table``.

    Parameters
    ----------
    table
        An edge table whose graph has been let go.

    Returns
    -------
    EdgeTable
        The same table; geometries equal coordinate for coordinate (2-D).
    """
    coords, index = shapely.get_coordinates(table.geometry, return_index=True)
    table = replace(table, geometry=np.empty(0, dtype=object))  # the old geometries go here
    gc.collect()  # and the graph's reference cycles (networkx views) with them
    geometry = shapely.linestrings(coords, indices=index)
    return replace(table, geometry=np.asarray(geometry, dtype=object))


def as_table(network: Network) -> EdgeTable:
    """``network``'s edge table: the table itself, or :func:`road_table` of a graph."""
    return network if isinstance(network, EdgeTable) else road_table(network)


def edge_table(graph: nx.MultiDiGraph, *, name: str = "network") -> EdgeTable:
    """Flatten ``graph`` into an :class:`EdgeTable`, one row per physical (undirected) edge.

    Parameters
    ----------
    graph
        Projected road graph; nodes need ``x``/``y``, edges a ``length`` (m) and optionally a ``geometry``.
    name
        How to call the graph in messages.

    Returns
    -------
    EdgeTable
        Edges between the same two nodes with the same length and the same (reversed) geometry are kept
        once; genuinely different parallel edges are all kept.

    Raises
    ------
    NetworkError
        If the graph has no edges, a node lacks coordinates or an edge lacks a valid length.
    """
    if next(iter(graph.edges), None) is None:
        raise NetworkError(
            f"{name}: the road network has no edges ({graph.number_of_nodes()} nodes); load a network "
            "that covers the study area."
        )
    nodes = pd.Index(list(graph.nodes), tupleize_cols=False)
    node_xy = _node_xy(graph, len(nodes), name)
    ui, vi, keys, lengths, geoms = _edge_lists(graph, nodes)
    length = _edge_lengths(lengths, (ui, vi, keys), nodes, name)
    geometry = np.asarray(geoms, dtype=object)
    drawn = np.array([g is not None for g in geoms], dtype=bool)
    keep = _physical_edges(ui, vi, length, geometry, drawn)
    straight = keep & ~drawn
    if straight.any():
        coords = np.stack([node_xy[ui[straight]], node_xy[vi[straight]]], axis=1)
        geometry[straight] = shapely.linestrings(coords)
    return EdgeTable(
        nodes=nodes,
        node_xy=node_xy,
        u=ui[keep],
        v=vi[keep],
        key=np.asarray(keys, dtype=object)[keep],
        length=length[keep],
        geometry=geometry[keep],
        geom_length=shapely.length(geometry[keep]),
    )


def _node_xy(graph: nx.MultiDiGraph, n_nodes: int, name: str) -> np.ndarray:
    """``(n_nodes, 2)`` node coordinates (m) in node order; NetworkError when a node lacks ``x`` or ``y``."""
    try:
        xs = np.fromiter((d["x"] for _, d in graph.nodes(data=True)), float, count=n_nodes)
        ys = np.fromiter((d["y"] for _, d in graph.nodes(data=True)), float, count=n_nodes)
    except KeyError as exc:
        raise NetworkError(
            f"{name}: a node has no {exc.args[0]!r} coordinate; nodes need 'x' and 'y'."
        ) from exc
    return np.column_stack([xs, ys])


def _edge_lists(
    graph: nx.MultiDiGraph, nodes: pd.Index
) -> tuple[np.ndarray, np.ndarray, list[Hashable], list[object], list[object]]:
    """Every directed edge as stored: ``(u, v)`` positions in ``nodes``, keys, raw lengths, geometries."""
    position = {label: i for i, label in enumerate(nodes)}
    ui_list, vi_list, keys, lengths, geoms = [], [], [], [], []
    adjacency = progress(graph.adjacency(), desc="road table", total=len(nodes), unit="node")
    for u, nbrs in adjacency:  # the plain dicts: much faster than graph.edges(data=True)
        iu = position[u]
        for v, by_key in nbrs.items():
            iv = position[v]
            for k, data in by_key.items():
                ui_list.append(iu)
                vi_list.append(iv)
                keys.append(k)
                lengths.append(data.get("length", np.nan))
                geoms.append(data.get("geometry"))
    return np.asarray(ui_list, dtype=np.int64), np.asarray(vi_list, dtype=np.int64), keys, lengths, geoms


def _edge_lengths(
    lengths: list[object], ends: tuple[np.ndarray, np.ndarray, list[Hashable]], nodes: pd.Index, name: str
) -> np.ndarray:
    """Edge lengths as float (m); raise NetworkError naming the first edge whose length is unusable.

    Parameters
    ----------
    lengths
        The edges' raw ``length`` attributes (NaN where missing).
    ends
        ``(u, v, keys)`` of the same edges: node positions and networkx keys, to name a bad edge.
    nodes
        Node labels (positions index them).
    name
        How to call the graph in messages.

    Returns
    -------
    numpy.ndarray
        Finite, non-negative lengths (m).
    """
    ui, vi, keys = ends
    try:
        length = np.asarray(lengths, dtype=float)
    except (TypeError, ValueError) as exc:
        raise NetworkError(f"{name}: an edge 'length' is not a number ({exc}).") from exc
    bad = ~np.isfinite(length) | (length < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise NetworkError(
            f"{name}: edge ({nodes[ui[i]]!r}, {nodes[vi[i]]!r}, {keys[i]!r}) has length "
            f"{describe(lengths[i])}; every edge needs a finite 'length' in metres (osmnx adds it; for "
            "your own graph set it)."
        )
    return length


def _physical_edges(
    ui: np.ndarray, vi: np.ndarray, length: np.ndarray, geometry: np.ndarray, drawn: np.ndarray
) -> np.ndarray:
    """Mask keeping one row per physical edge (the first of an edge and its reverse copy).

    The reverse copy of a two-way street has the same ends, length and (reversed) geometry. Edges without
    geometry (``drawn`` False) are straight lines, so their ends and length (m) identify them; drawn
    geometries are compared oriented from the lower to the higher node id (loops: the smaller of both
    orientations).
    """
    ident = np.full(len(ui), b"", dtype=object)
    if drawn.any():
        g = geometry[drawn]
        canon = np.where(ui[drawn] > vi[drawn], shapely.reverse(g), g)
        fwd = shapely.to_wkb(canon)
        loop = ui[drawn] == vi[drawn]
        if loop.any():
            rev = shapely.to_wkb(shapely.reverse(canon[loop]))
            fwd[loop] = np.where(rev < fwd[loop], rev, fwd[loop])
        ident[drawn] = fwd
    frame = pd.DataFrame(
        {"a": np.minimum(ui, vi), "b": np.maximum(ui, vi), "length": np.round(length, 6), "ident": ident}
    )
    return ~frame.duplicated().to_numpy()


@dataclass(frozen=True)
class Snapped:
    """Where points meet the network: edge row (-1 when not snapped), position from ``u`` and access leg."""

    edge: np.ndarray
    position: np.ndarray
    access: np.ndarray
    snap_xy: np.ndarray


def usable_edges(table: EdgeTable, min_component_m: float) -> np.ndarray:
    """Mask of the edges in the largest connected component or in one with ``min_component_m`` of road.

    Parameters
    ----------
    table
        The physical edges.
    min_component_m
        Least total edge length (m) of a component other than the largest for points to snap to it.

    Returns
    -------
    numpy.ndarray
        One bool per edge of ``table``. The largest component (by length) is always usable.
    """
    n = table.n_nodes
    links = sp.coo_matrix((np.ones(len(table.u)), (table.u, table.v)), shape=(n, n))
    n_comp, label = connected_components(links, directed=False)
    comp = label[table.u]
    length = np.bincount(comp, weights=table.length, minlength=n_comp)
    keep = length >= min_component_m
    if len(length):
        keep[int(np.argmax(length))] = True
    return keep[comp]


def snap(table: EdgeTable, xy: np.ndarray, *, max_snap_m: float, usable: np.ndarray | None = None) -> Snapped:
    """Snap points to their nearest edge within ``max_snap_m``.

    Parameters
    ----------
    table
        Edges to snap to.
    xy
        ``(n, 2)`` point coordinates in the graph CRS (m).
    max_snap_m
        Points farther than this from every edge are not snapped (m).
    usable
        Mask of the edges points may snap to (default all), e.g. from :func:`usable_edges`.

    Returns
    -------
    Snapped
        ``edge`` is -1 and the other fields NaN for points that were not snapped. ``position`` is measured
        along the edge from ``u`` in units of the edge's ``length`` (the geometry position scaled by
        ``length / geometry length``); ``access`` is the straight distance from the point to the edge (m).
    """
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    position = np.full(n, np.nan)
    access = np.full(n, np.nan)
    snap_xy = np.full((n, 2), np.nan)
    finite = np.isfinite(xy).all(axis=1)
    if n == 0 or not finite.any():
        return Snapped(edge, position, access, snap_xy)
    rows_of = np.arange(len(table.u)) if usable is None else np.flatnonzero(usable)
    points = shapely.points(xy[finite])
    tree = shapely.STRtree(table.geometry[rows_of])
    (which, hit), dist = tree.query_nearest(
        points, max_distance=max_snap_m, return_distance=True, all_matches=False
    )
    hit = rows_of[hit]
    rows = np.flatnonzero(finite)[which]
    geoms = table.geometry[hit]
    along = shapely.line_locate_point(geoms, points[which])
    glen = table.geom_length[hit]
    frac = np.divide(along, glen, out=np.zeros_like(along), where=glen > 0)
    edge[rows] = hit
    position[rows] = np.clip(frac, 0.0, 1.0) * table.length[hit]
    access[rows] = dist
    snap_xy[rows] = shapely.get_coordinates(shapely.line_interpolate_point(geoms, along))
    return Snapped(edge, position, access, snap_xy)


def augmented_matrix(table: EdgeTable, snapped: Snapped) -> tuple[sp.csr_matrix, np.ndarray]:
    """Split edges at snapped points and return the undirected graph matrix and each point's node.

    Parameters
    ----------
    table
        The physical edges.
    snapped
        Snapped points (units and schools together).

    Returns
    -------
    tuple
        ``(matrix, node)``: an upper-triangular CSR matrix of edge lengths over the real nodes followed by
        one virtual node per distinct snapped position (use with ``directed=False``), and the node of
        each point (-1 for points that were not snapped). Points at an edge's end use the end node.
    """
    n = table.n_nodes
    node = np.full(len(snapped.edge), -1, dtype=np.int64)
    ok = snapped.edge >= 0
    e, pos = snapped.edge[ok], snapped.position[ok]
    at_u = pos <= 0.0
    at_v = ~at_u & (pos >= table.length[e])
    inner = ~(at_u | at_v)
    ids = np.empty(len(e), dtype=np.int64)
    ids[at_u] = table.u[e[at_u]]
    ids[at_v] = table.v[e[at_v]]
    # distinct inner positions become virtual nodes n, n+1, ... in (edge, position) order
    pairs = pd.DataFrame({"e": e[inner], "p": pos[inner]})
    uniq = pairs.drop_duplicates().sort_values(["e", "p"], kind="stable")
    ue, up = uniq["e"].to_numpy(), uniq["p"].to_numpy()
    vid = n + np.arange(len(uniq), dtype=np.int64)
    lookup = pd.MultiIndex.from_arrays([ue, up]).get_indexer(
        pd.MultiIndex.from_arrays([e[inner], pos[inner]])
    )
    ids[inner] = vid[lookup]
    node[ok] = ids
    # chain u -> p1 -> ... -> pk -> v along each split edge; other edges unchanged
    first = np.ones(len(ue), dtype=bool)
    first[1:] = ue[1:] != ue[:-1]
    last = np.ones(len(ue), dtype=bool)
    last[:-1] = ue[:-1] != ue[1:]
    prev_node = np.where(first, table.u[ue], np.roll(vid, 1))
    prev_pos = np.where(first, 0.0, np.roll(up, 1))
    split = np.zeros(len(table.u), dtype=bool)
    split[ue] = True
    src = np.concatenate([table.u[~split], prev_node, vid[last]])
    dst = np.concatenate([table.v[~split], vid, table.v[ue[last]]])
    weight = np.concatenate([table.length[~split], up - prev_pos, table.length[ue[last]] - up[last]])
    return symmetric_csr(src, dst, weight, n + len(uniq)), node


def symmetric_csr(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, n: int) -> sp.csr_matrix:
    """Symmetric CSR matrix keeping the shortest of parallel edges; loops dropped; zero lengths kept."""
    a, b = np.minimum(src, dst), np.maximum(src, dst)
    keep = a != b
    a, b, w = a[keep], b[keep], np.maximum(weight[keep], 0.0)
    order = np.lexsort((w, b, a))
    a, b, w = a[order], b[order], w[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    a, b, w = a[first], b[first], w[first]
    return sp.csr_matrix(
        (np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n)
    )


def bounded_pairs(
    matrix: sp.csr_matrix,
    source_node: np.ndarray,
    source_offset: np.ndarray,
    source_limit: np.ndarray,
    target_node: np.ndarray,
    target_offset: np.ndarray,
    *,
    progress_desc: str = "walking distances",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (source, target) pairs with ``offset_s + network + offset_t <= limit_s``.

    Parameters
    ----------
    matrix
        Symmetric graph matrix from :func:`augmented_matrix`.
    source_node, source_offset, source_limit
        Per source (school): its node, its access leg (m) and its distance limit (m).
    target_node, target_offset
        Per target (unit): its node and its access leg (m).
    progress_desc
        Label of the progress bar.

    Returns
    -------
    tuple
        ``(source_index, target_index, distance_m)`` arrays (positions into the inputs).
    """
    order = np.argsort(source_limit - source_offset, kind="stable")
    out_s, out_t, out_d = [], [], []
    batches = [order[i : i + SOURCE_BATCH] for i in range(0, len(order), SOURCE_BATCH)]
    for batch in progress(batches, desc=progress_desc, unit="batch"):
        nodes, row = np.unique(source_node[batch], return_inverse=True)
        reach = float(np.max(source_limit[batch] - source_offset[batch]))
        if reach < 0:
            continue
        dist = dijkstra(matrix, directed=True, indices=nodes, limit=reach * (1 + 1e-12) + 1e-9)
        block = dist[:, target_node][row] + source_offset[batch, None] + target_offset[None, :]
        si, ti = np.nonzero(block <= source_limit[batch, None])
        out_s.append(batch[si])
        out_t.append(ti)
        out_d.append(block[si, ti])
    if not out_s:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    return np.concatenate(out_s), np.concatenate(out_t), np.concatenate(out_d)


def pair_distances(
    matrix: sp.csr_matrix,
    a_node: np.ndarray,
    a_offset: np.ndarray,
    b_node: np.ndarray,
    b_offset: np.ndarray,
) -> np.ndarray:
    """Exact distances of given pairs, unbounded (``inf`` when not connected or a point is not snapped).

    Parameters
    ----------
    matrix
        Symmetric graph matrix from :func:`augmented_matrix`.
    a_node, a_offset, b_node, b_offset
        Per pair: the nodes of both ends (-1 when not snapped) and their access legs (m).

    Returns
    -------
    numpy.ndarray
        Distance of each pair (m). Dijkstra runs from whichever side has fewer distinct nodes, first within
        :data:`FIRST_REACH_M`, then :data:`REACH_GROWTH` times farther for the pairs not yet reached
        (exact: a bounded search's distances are the true ones within its bound).
    """
    out = np.full(len(a_node), np.inf)
    ok = (a_node >= 0) & (b_node >= 0)
    if not ok.any():
        return out
    a, b = a_node[ok], b_node[ok]
    if len(np.unique(b)) < len(np.unique(a)):
        a, b = b, a
    _, label = connected_components(matrix, directed=True, connection="weak")
    sources, row = np.unique(a, return_inverse=True)
    values = np.full(len(a), np.inf)
    order = np.argsort(row, kind="stable")
    order = order[label[a[order]] == label[b[order]]]  # other components: never reached, inf
    bounds = np.searchsorted(row[order], np.arange(0, len(sources) + SOURCE_BATCH, SOURCE_BATCH))
    longest = float(matrix.data.sum())  # no path is longer
    for i in range(len(bounds) - 1):
        _widening_search(matrix, sources, row, b, order[bounds[i] : bounds[i + 1]], values, longest)
    out[ok] = values + a_offset[ok] + b_offset[ok]
    return out


def _widening_search(
    matrix: sp.csr_matrix,
    sources: np.ndarray,
    row: np.ndarray,
    b: np.ndarray,
    sel: np.ndarray,
    values: np.ndarray,
    longest: float,
) -> None:
    """Fill ``values[sel]``: pairs ``sel`` from ``sources[row]`` to nodes ``b``, searched ever farther.

    The caller leaves out pairs in different components. Once the bound passes ``longest`` (the total
    edge length, longer than any path) the search is unbounded, so every pair is settled.
    """
    reach = FIRST_REACH_M
    while len(sel):
        idx = np.unique(row[sel])  # the sources still needed
        dist = dijkstra(matrix, directed=True, indices=sources[idx], limit=reach)
        got = dist[np.searchsorted(idx, row[sel]), b[sel]]
        del dist
        found = np.isfinite(got)
        values[sel[found]] = got[found]
        if reach == np.inf:
            return
        sel = sel[~found]
        reach = reach * REACH_GROWTH if reach <= longest else np.inf


def component_share(graph: nx.MultiDiGraph) -> tuple[int, float]:
    """Number of weakly connected components and the share of edge length outside the largest (by length)."""
    comp_of: dict[Hashable, int] = {}
    for i, comp in enumerate(nx.weakly_connected_components(graph)):
        for node in comp:
            comp_of[node] = i
    totals = np.zeros(max(comp_of.values(), default=-1) + 1)
    for u, _, length in graph.edges(data="length", default=0.0):
        totals[comp_of[u]] += float(length)
    total = totals.sum()
    share = 0.0 if total <= 0 else float((total - totals.max()) / total)
    return len(totals), share
