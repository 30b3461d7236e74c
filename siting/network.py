"""Road network and walking costs: from OpenStreetMap or local road data to a sparse cost table.

Walking ignores one-way rules, so every edge is used in both directions. The steps:

1. :func:`load_network` reads a walking network from osmnx (place name, bbox, polygon; answers cached under
   ``cache_dir`` so a re-run works offline), a local OSM XML extract, GraphML, or a road-centreline line
   layer (:func:`graph_from_lines`), and projects it to the study CRS.
2. :func:`snap_points` puts units (their population-weighted point) and schools on their nearest *edge*,
   with the straight access leg; points farther than ``max_snap_m`` are reported, never snapped.
3. :func:`travel_costs` runs scipy's compiled Dijkstra, bounded by the distance limit, from every school
   over the graph with the snapped points inserted as nodes, so distances are exact (also when both ends
   lie on one edge). :func:`unreachable_units` lists units that reach no school.

:func:`euclidean_costs` is the straight-line fallback with the same columns.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from pyproj import CRS
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from siting import _graph
from siting._crs import ensure_projected, require_crs, same_crs, utm_crs_for
from siting._log import get_logger
from siting.errors import CRSError, InputError, NetworkError, describe
from siting.standards import LEVELS, LEVELS_SERVED

log = get_logger(__name__)

COST_COLUMNS: tuple[str, ...] = ("unit_id", "school_id", "distance_m", "time_s")
"""Columns of the travel-cost table (see ``docs/architecture.md``)."""

SOURCE_KINDS: tuple[str, ...] = ("osm_xml", "graphml", "lines", "place", "bbox", "polygon")
"""Values of ``kind`` in :func:`load_network` (the keys of a scenario's ``network:`` section)."""

DEFAULT_CACHE_DIR = Path("data/raw/cache")
"""Where osmnx keeps its HTTP answers unless ``cache_dir`` says otherwise."""

_SUFFIX_KIND = {
    ".osm": "osm_xml",
    ".bz2": "osm_xml",
    ".xml": "osm_xml",
    ".graphml": "graphml",
    ".gpkg": "lines",
    ".shp": "lines",
    ".geojson": "lines",
    ".json": "lines",
}

# osmnx's own "walk" filter (osmnx._overpass._get_network_filter), applied to local OSM extracts, which
# osmnx loads unfiltered: ways where people cannot walk are dropped.
_NOT_WALKABLE = {
    "abandoned",
    "bus_guideway",
    "construction",
    "cycleway",
    "motor",
    "no",
    "planned",
    "platform",
    "proposed",
    "raceway",
    "razed",
    "rest_area",
    "services",
    "motorway",
    "motorway_link",
}

Bbox = tuple[float, float, float, float]


# ============================================================================================ loading
def load_network(
    source: str | Path | Bbox | BaseGeometry,
    *,
    crs: CRS | str | int | None = None,
    kind: str | None = None,
    network_type: str = "walk",
    cache_dir: Path | None = None,
    study_area: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None = None,
) -> nx.MultiDiGraph:
    """Load a walking network and project it to the study CRS.

    Parameters
    ----------
    source
        A file (``.osm``/``.osm.bz2`` OSM XML, ``.graphml``, or a line layer ``.gpkg``/``.shp``/
        ``.geojson``), a place name for the geocoder (a string that is not an existing path and has no
        file suffix), a bbox ``(left, bottom, right, top)`` in EPSG:4326, or a shapely (Multi)Polygon in
        EPSG:4326.
    crs
        Projected CRS (metres) of the result; default the UTM zone of the network (a graph already in a
        projected CRS is kept as it is).
    kind
        One of :data:`SOURCE_KINDS` to override the guess from ``source``.
    network_type
        osmnx network type for online queries (``"walk"``); for a local OSM extract, ``"walk"`` drops the
        ways osmnx's walk filter excludes (motorways, cycleways, construction...).
    cache_dir
        osmnx's cache folder for online queries (default ``data/raw/cache``); a re-run with the same query
        reads it and needs no internet.
    study_area
        Optional area the network must overlap (GeoDataFrame/GeoSeries with a CRS, or a shapely geometry
        in EPSG:4326); raises :class:`NetworkError` showing both extents when it does not.

    Returns
    -------
    networkx.MultiDiGraph
        Nodes with ``x``/``y``, edges with ``length`` (m) and usually ``geometry``, ``graph["crs"]``
        projected. ``graph["n_components"]`` and ``graph["share_outside_largest"]`` (share of edge length
        outside the largest connected component) are recorded; all components are kept.

    Raises
    ------
    NetworkError
        For a missing or unreadable file, an empty network, a place that cannot be resolved (offline or
        unknown), or a network that misses the study area.
    CRSError
        If ``crs`` is geographic.
    """
    kind = _guess_kind(source) if kind is None else kind
    if kind not in SOURCE_KINDS:
        raise InputError(f"network kind {kind!r} is not known; use one of {', '.join(SOURCE_KINDS)}.")
    label = str(source)
    if kind in {"osm_xml", "graphml", "lines"}:
        path = Path(str(source))
        label = str(path)
        if not path.exists():
            raise NetworkError(
                f"{label}: network file not found. Give an existing .osm/.osm.bz2, .graphml or line layer "
                "(.gpkg/.shp/.geojson), or a place name."
            )
        graph = _load_file(path, kind, network_type=network_type)
    else:
        graph = _load_online(source, kind, network_type=network_type, cache_dir=cache_dir)
    if graph.number_of_edges() == 0:
        raise NetworkError(
            f"{label}: the road network is empty (no edges); check the file or the query area."
        )
    graph = _project(graph, crs, label)
    n_comp, share = _graph.component_share(graph)
    graph.graph["n_components"] = n_comp
    graph.graph["share_outside_largest"] = share
    graph.graph.setdefault("name", label)
    log.info(
        "network %s: %d nodes, %d edges, %d component(s), %.1f%% of edge length outside the largest",
        label,
        graph.number_of_nodes(),
        graph.number_of_edges(),
        n_comp,
        100 * share,
    )
    if study_area is not None:
        area = _as_geoseries(study_area, name="study_area").to_crs(graph.graph["crs"])
        _check_overlap(network_bounds(graph), tuple(area.total_bounds), what="the study area", label=label)
    return graph


def _guess_kind(source: object) -> str:
    if isinstance(source, BaseGeometry):
        if source.geom_type not in {"Polygon", "MultiPolygon"}:
            raise InputError(f"network source: a {source.geom_type} is not an area; give a (Multi)Polygon.")
        return "polygon"
    if isinstance(source, (tuple, list)):
        if len(source) != 4:
            raise InputError(
                f"network bbox {describe(source)} must be (left, bottom, right, top) in EPSG:4326."
            )
        return "bbox"
    if isinstance(source, Path):
        return _SUFFIX_KIND.get(source.suffix.lower(), "lines")
    if isinstance(source, str):
        suffix = Path(source).suffix.lower()
        if suffix in _SUFFIX_KIND:
            return _SUFFIX_KIND[suffix]
        if Path(source).exists():
            return "lines"
        return "place"
    raise InputError(
        f"network source {describe(source)} is not a file, a place name, a bbox or a polygon; "
        "use one of those."
    )


def _load_file(path: Path, kind: str, *, network_type: str) -> nx.MultiDiGraph:
    import osmnx as ox

    label = str(path)
    if kind == "lines":
        from siting.facilities import read_layer

        return graph_from_lines(read_layer(path, name=label), name=label)
    try:
        if kind == "graphml":
            graph = ox.load_graphml(path)
        else:
            graph = ox.graph_from_xml(path, bidirectional=True, simplify=True, retain_all=True)
    except Exception as exc:  # XML, GraphML and osmnx raise several types; name the file either way
        raise NetworkError(f"{label}: cannot read it as {kind.replace('_', ' ')} ({exc}).") from exc
    if "crs" not in graph.graph:
        raise NetworkError(
            f"{label}: the graph has no 'crs' attribute; save it with osmnx.save_graphml so the CRS is kept."
        )
    if kind == "osm_xml":
        graph = _roads_only(graph, walk=network_type == "walk")
    return graph


def _roads_only(graph: nx.MultiDiGraph, *, walk: bool) -> nx.MultiDiGraph:
    """Keep the ways of an OSM extract that are roads (``highway=*``); osmnx loads every way of the file.

    With ``walk``, also drop the ways osmnx's ``walk`` network filter excludes (motorways, cycleways,
    construction, ``foot=no``, private access).
    """

    def values(value: object) -> set[str]:
        return {str(v) for v in value} if isinstance(value, list) else {str(value)}

    def unusable(d: dict) -> bool:
        if d.get("highway") is None:
            return True  # buildings, land use, rivers... are not roads
        if not walk:
            return False
        return (
            values(d["highway"]) <= _NOT_WALKABLE
            or "no" in values(d.get("foot", ""))
            or "private" in values(d.get("access", ""))
            or "private" in values(d.get("service", ""))
        )

    drop = [(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if unusable(d)]
    if drop:
        graph.remove_edges_from(drop)
        graph.remove_nodes_from([n for n, deg in dict(graph.degree()).items() if deg == 0])
        log.info("dropped %d edges that are not %s", len(drop), "walkable roads" if walk else "roads")
    return graph


@contextlib.contextmanager
def _osmnx_cache(cache_dir: Path) -> Iterator[None]:
    import osmnx as ox

    old = (ox.settings.cache_folder, ox.settings.use_cache)
    cache_dir.mkdir(parents=True, exist_ok=True)
    ox.settings.cache_folder = str(cache_dir)
    ox.settings.use_cache = True
    try:
        yield
    finally:
        ox.settings.cache_folder, ox.settings.use_cache = old


def _load_online(source: Any, kind: str, *, network_type: str, cache_dir: Path | None) -> nx.MultiDiGraph:
    import osmnx as ox
    import requests
    from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    options = {"network_type": network_type, "simplify": True, "retain_all": True}
    if kind == "bbox":
        bbox = tuple(float(b) for b in source)
        left, bottom, right, top = bbox
        if not (-180 <= left < right <= 180 and -90 <= bottom < top <= 90):
            raise InputError(
                f"network bbox {bbox} is not (left, bottom, right, top) in EPSG:4326 degrees with "
                "left < right and bottom < top."
            )
    what = {"place": f"place {source!r}", "bbox": f"bbox {source}", "polygon": "the query polygon"}[kind]
    try:
        with _osmnx_cache(cache):
            if kind == "place":
                return ox.graph_from_place(source, **options)
            if kind == "bbox":
                return ox.graph_from_bbox(bbox, **options)
            return ox.graph_from_polygon(source, **options)
    except requests.exceptions.RequestException as exc:
        raise NetworkError(
            f"cannot load the network for {what}: the OpenStreetMap servers could not be reached "
            f"({type(exc).__name__}) and no cached answer is in {cache}. Work offline with a local "
            "extract instead: `network: {osm_xml: path/to/roads.osm}` in the scenario (or pass the .osm "
            "file), or a road line layer (`network: {lines: roads.gpkg}`)."
        ) from exc
    except (InsufficientResponseError, ResponseStatusCodeError, TypeError, ValueError) as exc:
        raise NetworkError(
            f"cannot load the network for {what}: {exc}. Check the name (e.g. 'Nanhai District, Foshan, "
            "China'), or use a local extract: `network: {osm_xml: path/to/roads.osm}`."
        ) from exc


def _project(graph: nx.MultiDiGraph, crs: CRS | str | int | None, label: str) -> nx.MultiDiGraph:
    import osmnx as ox

    current = CRS.from_user_input(graph.graph["crs"])
    if crs is None:
        if current.is_projected:
            target = ensure_projected(current, name=label)
        else:
            target = utm_crs_for(network_bounds(graph), current)
    else:
        target = ensure_projected(crs, name="crs")
    if current.equals(target):
        return graph
    projected = ox.project_graph(graph, to_crs=target)
    projected.graph["crs"] = target
    return projected


def network_bounds(graph: nx.MultiDiGraph) -> Bbox:
    """Return ``(left, bottom, right, top)`` of the graph's nodes in its own CRS."""
    xy = np.array([(d["x"], d["y"]) for _, d in graph.nodes(data=True)], dtype=float).reshape(-1, 2)
    if len(xy) == 0:
        raise NetworkError("the road network has no nodes.")
    return (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))


def _fmt_bounds(b: Bbox | tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in b) + ")"


def _check_overlap(net: Bbox, other: tuple[float, ...], *, what: str, label: str) -> None:
    if net[0] > other[2] or net[2] < other[0] or net[1] > other[3] or net[3] < other[1]:
        raise NetworkError(
            f"{label}: the road network does not cover {what}: network extent {_fmt_bounds(net)}, "
            f"{what} extent {_fmt_bounds(other)} (left, bottom, right, top, same CRS). Load a network for "
            "the right area, or check the CRS of both."
        )


def _as_geoseries(obj: Any, *, name: str) -> gpd.GeoSeries:
    if isinstance(obj, BaseGeometry):
        return gpd.GeoSeries([obj], crs="EPSG:4326")
    series = obj.geometry if isinstance(obj, gpd.GeoDataFrame) else obj
    require_crs(series, name=name)
    return series


# ============================================================================================ lines
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


# ============================================================================================ points
def _points_xy(frame: gpd.GeoDataFrame | pd.DataFrame, *, name: str, use_pop: bool) -> np.ndarray:
    """Point coordinates (m) of a layer.

    GeoDataFrames use their geometry (a point, else its representative point); with ``use_pop`` (units)
    the ``pop_x``/``pop_y`` columns replace it where both are given. Plain DataFrames need ``x``/``y``.
    Other ``x``/``y`` columns of a GeoDataFrame are ignored: they may be in another CRS.
    """
    if not isinstance(frame, gpd.GeoDataFrame):
        if not {"x", "y"} <= set(frame.columns):
            raise InputError(
                f"{name}: a table without geometry needs 'x' and 'y' columns (metres, study CRS); "
                f"found {list(frame.columns)}."
            )
        return np.column_stack(
            [pd.to_numeric(frame["x"], errors="coerce"), pd.to_numeric(frame["y"], errors="coerce")]
        ).astype(float)
    geom = frame.geometry
    if geom.isna().any() or geom.is_empty.any():
        bad = frame.index[(geom.isna() | geom.is_empty).to_numpy()][0]
        raise InputError(f"{name}: feature {bad!r} has no geometry; give every feature a location.")
    pts = geom.where(geom.geom_type == "Point", geom.representative_point())
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]).astype(float)
    if use_pop and {"pop_x", "pop_y"} <= set(frame.columns):
        given = np.column_stack(
            [pd.to_numeric(frame["pop_x"], errors="coerce"), pd.to_numeric(frame["pop_y"], errors="coerce")]
        )
        have = np.isfinite(given).all(axis=1)
        xy[have] = given[have]
    return xy


def _graph_crs(graph: nx.MultiDiGraph) -> CRS:
    if "crs" not in graph.graph:
        raise NetworkError("the road network has no 'crs' attribute; load it with load_network(...).")
    name = str(graph.graph.get("name", "road network"))
    try:
        return ensure_projected(graph.graph["crs"], name=name)
    except CRSError as exc:
        raise CRSError(f"{exc} Project the network first (load_network(..., crs=...)).") from exc


def snap_points(
    graph: nx.MultiDiGraph,
    points: gpd.GeoDataFrame | pd.DataFrame,
    *,
    max_snap_m: float,
) -> pd.DataFrame:
    """Snap points to their nearest network edge (not node).

    Parameters
    ----------
    graph
        Projected road graph (from :func:`load_network`).
    points
        A GeoDataFrame in the graph's CRS (units use ``pop_x``/``pop_y`` when present, other geometries
        their representative point) or a DataFrame with ``x``/``y`` columns in metres.
    max_snap_m
        Points farther than this from every edge are not snapped (m); they are reported in the log.

    Returns
    -------
    pandas.DataFrame
        Same index as ``points``; columns ``snapped`` (bool), ``u``, ``v``, ``key`` (the edge, missing when
        not snapped), ``position_m`` (distance along the edge from ``u``, in the edge's ``length`` units),
        ``edge_length_m``, ``access_m`` (straight leg from the point to the edge), ``snap_x``, ``snap_y``.
    """
    crs = _graph_crs(graph)
    name = "points"
    if isinstance(points, gpd.GeoDataFrame):
        same_crs(crs, require_crs(points, name=name), name_a="the road network", name_b=name)
    table = _graph.edge_table(graph)
    xy = _points_xy(points, name=name, use_pop=True)
    snapped = _snap(table, xy, max_snap_m=max_snap_m, ids=points.index, name=name)
    ok = snapped.edge >= 0
    e = np.where(ok, snapped.edge, 0)
    return pd.DataFrame(
        {
            "snapped": ok,
            "u": pd.array(np.where(ok, table.nodes.to_numpy()[table.u[e]], None), dtype=object),
            "v": pd.array(np.where(ok, table.nodes.to_numpy()[table.v[e]], None), dtype=object),
            "key": pd.array(np.where(ok, table.key[e], None), dtype=object),
            "position_m": snapped.position,
            "edge_length_m": np.where(ok, table.length[e], np.nan),
            "access_m": snapped.access,
            "snap_x": snapped.snap_xy[:, 0],
            "snap_y": snapped.snap_xy[:, 1],
        },
        index=points.index,
    )


def _snap(table: _graph.EdgeTable, xy: np.ndarray, *, max_snap_m: float, ids: pd.Index, name: str) -> Any:
    _check_snap_limit(max_snap_m)
    snapped = _graph.snap(table, xy, max_snap_m=max_snap_m)
    _report_far(snapped.edge < 0, ids, name=name, max_snap_m=max_snap_m)
    return snapped


def _check_snap_limit(max_snap_m: float) -> None:
    if not (np.isfinite(max_snap_m) and max_snap_m >= 0):
        raise InputError(f"max_snap_m must be a distance in metres >= 0, got {describe(max_snap_m)}.")


def _report_far(far: np.ndarray, ids: pd.Index, *, name: str, max_snap_m: float) -> None:
    if far.any():
        shown = ", ".join(repr(i) for i in ids[far][:10]) + (" ..." if far.sum() > 10 else "")
        log.warning(
            "%s: %d of %d point(s) are more than %g m from any road and were not snapped: %s",
            name,
            int(far.sum()),
            len(far),
            max_snap_m,
            shown,
        )


# ============================================================================================ costs
def _school_limits(schools: pd.DataFrame, max_distance_m: float | Mapping[str, float]) -> np.ndarray:
    """Distance limit of each school (m): a number, or the max over the levels its kind serves."""
    if not isinstance(max_distance_m, Mapping):
        value = float(max_distance_m)
        if not (np.isfinite(value) and value >= 0):
            raise InputError(
                f"max_distance_m must be a distance in metres >= 0, got {describe(max_distance_m)}."
            )
        return np.full(len(schools), value)
    unknown = set(max_distance_m) - set(LEVELS)
    if unknown:
        raise InputError(f"max_distance_m: unknown level(s) {sorted(unknown)}; levels are {list(LEVELS)}.")
    if "level" not in schools.columns:
        raise InputError(
            "schools: a per-level max_distance_m needs a 'level' column (primary, junior, nine_year, "
            "twelve_year) to know which limit applies to each school."
        )
    limits = {}
    for kind in pd.unique(schools["level"]):
        if kind not in LEVELS_SERVED:
            sid = schools.index[(schools["level"] == kind).to_numpy()][0]
            raise InputError(
                f"schools: school {sid!r} has level {describe(kind)}; use one of {', '.join(LEVELS_SERVED)}."
            )
        served = [float(max_distance_m[lv]) for lv in LEVELS_SERVED[kind] if lv in max_distance_m]
        if not served:
            raise InputError(
                f"max_distance_m gives limits for {sorted(max_distance_m)} but {kind} schools serve "
                f"{list(LEVELS_SERVED[kind])}; add a limit for those levels."
            )
        limits[kind] = max(served)
    return schools["level"].map(limits).to_numpy(dtype=float)


def _check_inputs(
    units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, crs: CRS
) -> tuple[np.ndarray, np.ndarray]:
    require_crs(units, name="units")
    require_crs(schools, name="schools")
    same_crs(crs, units.crs, name_a="the road network", name_b="units")
    same_crs(crs, schools.crs, name_a="the road network", name_b="schools")
    for label, frame in (("units", units), ("schools", schools)):
        if not frame.index.is_unique:
            dup = frame.index[frame.index.duplicated()][0]
            raise InputError(f"{label}: id {dup!r} appears more than once; the index must be unique.")
    return (
        _points_xy(units, name="units", use_pop=True),
        _points_xy(schools, name="schools", use_pop=False),
    )


def _check_coverage(net: Bbox, xy: np.ndarray, *, max_snap_m: float, what: str, label: str) -> None:
    """Raise when most points lie outside the network's extent (grown by ``max_snap_m``)."""
    left, bottom, right, top = net
    x, y = xy[:, 0], xy[:, 1]
    inside = (x >= left - max_snap_m) & (x <= right + max_snap_m) & (y >= bottom - max_snap_m)
    inside &= y <= top + max_snap_m
    if inside.mean() < 0.5:
        ext = (np.nanmin(x), np.nanmin(y), np.nanmax(x), np.nanmax(y))
        raise NetworkError(
            f"{label}: the road network does not cover the {what}: {int((~inside).sum())} of {len(xy)} "
            f"lie outside it. Network extent {_fmt_bounds(net)}, {what} extent {_fmt_bounds(ext)} "
            "(left, bottom, right, top, same CRS). Load a network for the whole study area."
        )


def travel_costs(
    graph: nx.MultiDiGraph,
    units: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    *,
    max_distance_m: float | Mapping[str, float],
    walking_speed_mps: float = 1.0,
    max_snap_m: float = 250.0,
    pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Walking distance and time of every unit–school pair within the distance limit.

    Units walk from their population-weighted point (``pop_x``, ``pop_y``; the representative point when
    missing), schools from their point. Both are snapped to their nearest edge, and the straight access
    legs are added. Walking uses every edge in both directions.

    Parameters
    ----------
    graph
        Projected road graph (from :func:`load_network`), in the same CRS as ``units`` and ``schools``.
    units
        Demand units, index ``unit_id``.
    schools
        Schools and sites (points), index ``school_id``; a ``level`` column when ``max_distance_m`` is
        per level.
    max_distance_m
        Hard walking limit (m, access legs included), or a mapping level → limit; a school's limit is then
        the largest over the levels its kind serves (``siting.standards.LEVELS_SERVED``).
    walking_speed_mps
        Walking speed (m/s) giving ``time_s = distance_m / walking_speed_mps``.
    max_snap_m
        Points farther than this from any road are not snapped (m) and reach no school.
    pairs
        Extra ``unit_id, school_id`` pairs (e.g. current assignments) always returned, at their true
        distance however far (``inf`` when not connected or a point is not snapped).

    Returns
    -------
    pandas.DataFrame
        ``unit_id, school_id, distance_m, time_s`` (float64), sorted by ``unit_id, school_id``.

    Raises
    ------
    NetworkError
        For an empty network, or one that does not cover the units or schools: more than half of them
        lie outside the network's extent grown by ``max_snap_m`` (both extents shown). Fewer outside are
        only reported, as points that were not snapped.
    CRSError
        For an unprojected network or inputs in another CRS than the network (both named).
    InputError
        For a bad limit, speed, ``level`` or ``pairs`` id.
    """
    start = time.perf_counter()
    crs = _graph_crs(graph)
    if not (np.isfinite(walking_speed_mps) and walking_speed_mps > 0):
        raise InputError(f"walking_speed_mps must be > 0 m/s, got {describe(walking_speed_mps)}.")
    unit_xy, school_xy = _check_inputs(units, schools, crs)
    limits = _school_limits(schools, max_distance_m)
    label = str(graph.graph.get("name", "road network"))
    table = _graph.edge_table(graph, name=label)
    clock = {"edge_table": time.perf_counter()}
    net = (
        float(table.node_xy[:, 0].min()),
        float(table.node_xy[:, 1].min()),
        float(table.node_xy[:, 0].max()),
        float(table.node_xy[:, 1].max()),
    )
    _check_coverage(net, unit_xy, max_snap_m=max_snap_m, what="units", label=label)
    _check_coverage(net, school_xy, max_snap_m=max_snap_m, what="schools", label=label)
    _check_snap_limit(max_snap_m)
    both = _graph.snap(table, np.concatenate([unit_xy, school_xy]), max_snap_m=max_snap_m)
    n_units = len(units)
    _report_far(both.edge[:n_units] < 0, units.index, name="units", max_snap_m=max_snap_m)
    _report_far(both.edge[n_units:] < 0, schools.index, name="schools", max_snap_m=max_snap_m)
    clock["snapping"] = time.perf_counter()
    matrix, node = _graph.augmented_matrix(table, both)
    unode, snode = node[:n_units], node[n_units:]
    u_access, s_access = both.access[:n_units], both.access[n_units:]
    u_ok, s_ok = unode >= 0, snode >= 0
    u_pos, s_pos = np.flatnonzero(u_ok), np.flatnonzero(s_ok)
    si, ti, dist = _graph.bounded_pairs(
        matrix,
        snode[s_ok],
        s_access[s_ok],
        limits[s_ok],
        unode[u_ok],
        u_access[u_ok],
    )
    uix, six = u_pos[ti], s_pos[si]
    clock["shortest_paths"] = time.perf_counter()
    if pairs is not None and len(pairs):
        uix, six, dist = _add_pairs(
            pairs, units.index, schools.index, (uix, six, dist), matrix, (unode, u_access), (snode, s_access)
        )
    out = pd.DataFrame(
        {
            "unit_id": units.index.take(uix),
            "school_id": schools.index.take(six),
            "distance_m": dist.astype(float),
            "time_s": dist.astype(float) / float(walking_speed_mps),
        }
    )
    out = out.sort_values(["unit_id", "school_id"], kind="stable").reset_index(drop=True)
    log.info(
        "travel costs: %d pairs for %d units x %d schools in %.1f s",
        len(out),
        len(units),
        len(schools),
        time.perf_counter() - start,
        extra={"timings_s": _durations(start, clock)},
    )
    return out


def _durations(start: float, clock: dict[str, float]) -> dict[str, float]:
    """Seconds spent in each stage, from the end times in ``clock`` (in order) and ``start``."""
    out, last = {}, start
    for stage, end in [*clock.items(), ("table", time.perf_counter())]:
        out[stage], last = end - last, end
    return out


def _add_pairs(
    pairs: pd.DataFrame,
    unit_index: pd.Index,
    school_index: pd.Index,
    found: tuple[np.ndarray, np.ndarray, np.ndarray],
    matrix: Any,
    unit_end: tuple[np.ndarray, np.ndarray],
    school_end: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append the requested pairs missing from ``found`` at their exact, unbounded distance."""
    uix, six, dist = found
    unode, u_access = unit_end
    snode, s_access = school_end
    missing_cols = {"unit_id", "school_id"} - set(pairs.columns)
    if missing_cols:
        raise InputError(f"pairs: needs columns unit_id and school_id; missing {sorted(missing_cols)}.")
    pu = unit_index.get_indexer(pd.Index(pairs["unit_id"]))
    ps = school_index.get_indexer(pd.Index(pairs["school_id"]))
    for label, idx, col in (("unit", pu, "unit_id"), ("school", ps, "school_id")):
        if (idx < 0).any():
            bad = pairs[col].to_numpy()[idx < 0].tolist()[0]
            raise InputError(f"pairs: {col} {bad!r} is not a known {label}; check the ids in pairs.")
    want = pd.MultiIndex.from_arrays([pu, ps]).unique()
    have = pd.MultiIndex.from_arrays([uix, six])
    extra = want[~want.isin(have)]
    if len(extra) == 0:
        return uix, six, dist
    eu = extra.get_level_values(0).to_numpy()
    es = extra.get_level_values(1).to_numpy()
    far = _graph.pair_distances(
        matrix,
        unode[eu],
        np.nan_to_num(u_access[eu], nan=0.0),
        snode[es],
        np.nan_to_num(s_access[es], nan=0.0),
    )
    log.info("pairs: %d requested pair(s) beyond the limit added at their true distance", len(extra))
    return np.concatenate([uix, eu]), np.concatenate([six, es]), np.concatenate([dist, far])


def unreachable_units(
    units: gpd.GeoDataFrame | pd.DataFrame,
    costs: pd.DataFrame,
    *,
    level: str | None = None,
    schools: pd.DataFrame | None = None,
    max_distance_m: float | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Units that reach no school (optionally: no school serving ``level`` within its limit).

    Parameters
    ----------
    units
        Demand units, index ``unit_id`` (``population`` is reported when present).
    costs
        Table from :func:`travel_costs` (or :func:`euclidean_costs`).
    level
        ``"primary"`` or ``"junior"``: only schools whose kind serves it count (needs ``schools``).
    schools
        Schools with a ``level`` column (kind), index ``school_id``.
    max_distance_m
        Limit (m), or per-level limits; when given, rows beyond it (e.g. added through ``pairs=``) do not
        count as reachable. Without it every finite row counts.

    Returns
    -------
    pandas.DataFrame
        Index ``unit_id``; columns ``population`` (NaN when units have none) and ``nearest_m`` (nearest
        school in ``costs`` counting for the question, ``inf`` when none), in the units' order.
    """
    rows = costs[np.isfinite(costs["distance_m"].to_numpy(dtype=float))]
    if level is not None:
        if level not in LEVELS:
            raise InputError(f"level {describe(level)} is not known; use one of {list(LEVELS)}.")
        if schools is None or "level" not in schools.columns:
            raise InputError("unreachable_units(level=...) needs schools with a 'level' column.")
        serves = schools["level"].map(lambda k: level in LEVELS_SERVED.get(k, ()))
        rows = rows[rows["school_id"].map(serves).fillna(False).to_numpy(dtype=bool)]
    if max_distance_m is not None:
        if isinstance(max_distance_m, Mapping) and level is not None:
            limit = rows["distance_m"] * 0 + float(max_distance_m[level])
        elif isinstance(max_distance_m, Mapping):
            if schools is None:
                raise InputError("unreachable_units: per-level max_distance_m needs schools.")
            per_school = pd.Series(_school_limits(schools, max_distance_m), index=schools.index)
            limit = rows["school_id"].map(per_school)
        else:
            limit = float(max_distance_m)
        rows = rows[(rows["distance_m"] <= limit).to_numpy(dtype=bool)]
    nearest = rows.groupby("unit_id")["distance_m"].min()
    nearest = nearest.reindex(units.index, fill_value=np.inf)
    lost = nearest.index[~np.isfinite(nearest.to_numpy())]
    population = (
        units["population"].reindex(lost).astype(float)
        if "population" in units.columns
        else pd.Series(np.nan, index=lost)
    )
    all_nearest = costs.groupby("unit_id")["distance_m"].min().reindex(lost, fill_value=np.inf)
    out = pd.DataFrame({"population": population.to_numpy(), "nearest_m": all_nearest.to_numpy()}, index=lost)
    out.index.name = units.index.name or "unit_id"
    if len(out):
        log.warning(
            "%d unit(s) with population %.0f reach no school%s",
            len(out),
            float(np.nansum(out["population"])),
            f" serving {level}" if level else "",
        )
    return out


def euclidean_costs(
    units: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    *,
    max_distance_m: float | Mapping[str, float],
    walking_speed_mps: float = 1.0,
    detour: float = 1.0,
) -> pd.DataFrame:
    """Straight-line costs with the same columns as :func:`travel_costs`.

    Parameters
    ----------
    units
        Demand units, index ``unit_id`` (``pop_x``/``pop_y`` when present).
    schools
        School points, index ``school_id`` (``level`` when ``max_distance_m`` is per level).
    max_distance_m
        Limit (m) on ``detour × straight distance``, or per-level limits as in :func:`travel_costs`.
    walking_speed_mps
        Walking speed (m/s).
    detour
        Factor ≥ 1 applied to straight distances (a typical walk is 1.2–1.4 times the straight line).

    Returns
    -------
    pandas.DataFrame
        ``unit_id, school_id, distance_m, time_s``, sorted by ``unit_id, school_id``.
    """
    if not (np.isfinite(detour) and detour >= 1.0):
        raise InputError(f"detour must be >= 1, got {describe(detour)}.")
    if not (np.isfinite(walking_speed_mps) and walking_speed_mps > 0):
        raise InputError(f"walking_speed_mps must be > 0 m/s, got {describe(walking_speed_mps)}.")
    crs = ensure_projected(require_crs(units, name="units"), name="units")
    same_crs(crs, require_crs(schools, name="schools"), name_a="units", name_b="schools")
    unit_xy = _points_xy(units, name="units", use_pop=True)
    school_xy = _points_xy(schools, name="schools", use_pop=False)
    limits = _school_limits(schools, max_distance_m)
    radius = float(limits.max()) / detour if len(limits) else 0.0
    found = cKDTree(unit_xy).sparse_distance_matrix(cKDTree(school_xy), radius, output_type="ndarray")
    ui, si = found["i"].astype(np.int64), found["j"].astype(np.int64)
    dist = found["v"].astype(float) * detour
    keep = dist <= limits[si]
    out = pd.DataFrame(
        {
            "unit_id": units.index.take(ui[keep]),
            "school_id": schools.index.take(si[keep]),
            "distance_m": dist[keep],
            "time_s": dist[keep] / float(walking_speed_mps),
        }
    )
    return out.sort_values(["unit_id", "school_id"], kind="stable").reset_index(drop=True)


# ============================================================================================ command line
def costs_cli(
    network_source: str,
    *,
    units_path: Path,
    schools_path: Path,
    max_distance_m: float,
    walking_speed_mps: float,
    max_snap_m: float,
    out: Path,
    overwrite: bool,
) -> str:
    """Build the cost table for ``siting costs`` and write it atomically to ``out`` (Parquet).

    Parameters
    ----------
    network_source
        A network file or a place name (see :func:`load_network`).
    units_path, schools_path
        Layers of units (``unit_id`` column, else the row number) and schools (``school_id`` column).
        Both are projected to the units' CRS when it is projected, else to the units' UTM zone.
    max_distance_m, walking_speed_mps, max_snap_m
        As in :func:`travel_costs`.
    out
        Output Parquet file; refused if it exists unless ``overwrite``.
    overwrite
        Replace ``out``.

    Returns
    -------
    str
        Lines to print: pairs kept, unreachable units (count and population) and time taken.
    """
    import os
    import tempfile

    from siting.errors import OutputExistsError
    from siting.facilities import read_layer

    start = time.perf_counter()
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it.")
    units = read_layer(units_path)
    if "unit_id" in units.columns:
        units = units.set_index("unit_id")
    else:
        units.index = units.index.rename("unit_id")
    schools = read_layer(schools_path)
    if "school_id" not in schools.columns:
        raise InputError(f"{schools_path}: needs a 'school_id' field naming each school.")
    schools = schools.set_index("school_id")
    schools.index = schools.index.astype(str)
    crs = CRS.from_user_input(units.crs)
    if not crs.is_projected:
        crs = utm_crs_for(tuple(units.total_bounds), crs)
    units, schools = units.to_crs(crs), schools.to_crs(crs)
    graph = load_network(network_source, crs=crs)
    costs = travel_costs(
        graph,
        units,
        schools,
        max_distance_m=max_distance_m,
        walking_speed_mps=walking_speed_mps,
        max_snap_m=max_snap_m,
    )
    lost = unreachable_units(units, costs)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        costs.to_parquet(tmp, index=False)
        Path(tmp).replace(out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    population = float(np.nansum(lost["population"])) if len(lost) else 0.0
    return "\n".join(
        [
            f"network: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges, "
            f"{100 * graph.graph['share_outside_largest']:.1f}% of length outside the largest component",
            f"pairs kept: {len(costs)} ({len(units)} units x {len(schools)} schools, "
            f"limit {max_distance_m:g} m)",
            f"unreachable units: {len(lost)} (population {population:.0f})",
            f"time taken: {time.perf_counter() - start:.1f} s",
            f"written: {out}",
        ]
    )
