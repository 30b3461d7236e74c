"""Load a walking network from a file or an osmnx query (answers cached), project it, check its extent."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from siting._crs import ensure_projected, require_crs, utm_crs_for
from siting._log import get_logger
from siting.errors import InputError, NetworkError, describe
from siting.network import _arrays
from siting.network.lines import graph_from_lines
from siting.network.pbf import read_osm_file

log = get_logger(__name__)

SOURCE_KINDS: tuple[str, ...] = ("osm_xml", "osm_pbf", "graphml", "lines", "place", "bbox", "polygon")
"""Values of ``kind`` in :func:`load_network` (the keys of a scenario's ``network:`` section, and
``osm_pbf``). ``osm_xml`` and ``osm_pbf`` are read alike (:mod:`siting.network.pbf` tells PBF from XML by
the file's content), so a scenario's ``osm:`` key (older name ``osm_xml:``) takes either."""

_OSM_KINDS = frozenset({"osm_xml", "osm_pbf"})

DEFAULT_CACHE_DIR = Path("data/raw/cache")
"""Where osmnx keeps its HTTP answers unless ``cache_dir`` says otherwise."""

_SUFFIX_KIND = {
    ".osm": "osm_xml",
    ".bz2": "osm_xml",
    ".gz": "osm_xml",
    ".xml": "osm_xml",
    ".pbf": "osm_pbf",
    ".graphml": "graphml",
    ".gpkg": "lines",
    ".shp": "lines",
    ".geojson": "lines",
    ".json": "lines",
}

Bbox = tuple[float, float, float, float]


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
        A file (``.osm.pbf``, ``.osm``/``.osm.bz2`` OSM XML, ``.graphml``, or a line layer ``.gpkg``/
        ``.shp``/``.geojson``), a place name for the geocoder (a string that is not an existing path and
        has no file suffix), a bbox ``(left, bottom, right, top)`` in EPSG:4326, or a shapely
        (Multi)Polygon in EPSG:4326.
    crs
        Projected CRS (metres) of the result; default the UTM zone of the network (a graph already in a
        projected CRS is kept as it is).
    kind
        One of :data:`SOURCE_KINDS` to override the guess from ``source``.
    network_type
        osmnx network type for online queries (``"walk"``); for a local OSM file, ``"walk"`` keeps only the
        ways osmnx's walk filter keeps (no motorways, cycleways, construction, ``foot=no``...; see
        :func:`siting.network.pbf.walkable`) and any other value every ``highway=*`` way.
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
    graph, label = _read_source(source, kind, network_type=network_type, cache_dir=cache_dir)
    if graph.number_of_edges() == 0:
        raise NetworkError(
            f"{label}: the road network is empty (no edges); check the file or the query area."
        )
    graph = _project(graph, crs, label)
    _record_components(graph, label)
    if study_area is not None:
        area = _as_geoseries(study_area, name="study_area").to_crs(graph.graph["crs"])
        _check_overlap(network_bounds(graph), tuple(area.total_bounds), what="the study area", label=label)
    return graph


def _read_source(
    source: str | Path | Bbox | BaseGeometry, kind: str, *, network_type: str, cache_dir: Path | None
) -> tuple[nx.MultiDiGraph, str]:
    """Read the graph from a file or an online query, as it comes (not yet projected).

    Parameters
    ----------
    source, kind, network_type, cache_dir
        As in :func:`load_network` (``kind`` already resolved).

    Returns
    -------
    tuple
        ``(graph, label)``: the graph and how messages name the source (the path, or ``str(source)``).

    Raises
    ------
    NetworkError
        When a file kind's path does not exist.
    """
    label = str(source)
    if kind in {*_OSM_KINDS, "graphml", "lines"}:
        path = Path(str(source))
        label = str(path)
        if not path.exists():
            raise NetworkError(
                f"{label}: network file not found. Give an existing .osm.pbf, .osm/.osm.bz2, .graphml or "
                "line layer (.gpkg/.shp/.geojson), or a place name."
            )
        return _load_file(path, kind, network_type=network_type), label
    return _load_online(source, kind, network_type=network_type, cache_dir=cache_dir), label


def _record_components(graph: nx.MultiDiGraph, label: str) -> None:
    """Store ``n_components``, ``share_outside_largest`` and ``name`` in ``graph.graph`` and log them."""
    n_comp, share = _arrays.component_share(graph)
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
    if kind in _OSM_KINDS:
        return read_osm_file(path, walk=network_type == "walk")
    try:
        graph = ox.load_graphml(path)
    except Exception as exc:  # XML, GraphML and osmnx raise several types; name the file either way
        raise NetworkError(f"{label}: cannot read it as GraphML ({exc}).") from exc
    if "crs" not in graph.graph:
        raise NetworkError(
            f"{label}: the graph has no 'crs' attribute; save it with osmnx.save_graphml so the CRS is kept."
        )
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
            "extract instead: `network: {osm: path/to/city.osm.pbf}` in the scenario (a .osm.pbf or "
            ".osm file, e.g. a province extract), or a road line layer (`network: {lines: roads.gpkg}`)."
        ) from exc
    except (InsufficientResponseError, ResponseStatusCodeError, TypeError, ValueError) as exc:
        raise NetworkError(
            f"cannot load the network for {what}: {exc}. Check the name (e.g. 'Nanhai District, Foshan, "
            "China'), or use a local extract: `network: {osm: path/to/city.osm.pbf}`."
        ) from exc


def _project(graph: nx.MultiDiGraph, crs: CRS | str | int | None, label: str) -> nx.MultiDiGraph:
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
    return _project_in_place(graph, current, target)


def _project_in_place(graph: nx.MultiDiGraph, current: CRS, target: CRS) -> nx.MultiDiGraph:
    """Reproject node ``x``/``y`` and edge geometries of ``graph`` to ``target`` (changes ``graph``).

    The same transformation as :func:`osmnx.project_graph` (pyproj, ``always_xy``), applied to arrays of
    coordinates and written back into the graph. ``project_graph`` goes through node and edge
    GeoDataFrames of every attribute and rebuilds the graph from them: at a city's size two more copies
    of the network in memory, and most of the network stage's time.
    """
    transformer = Transformer.from_crs(current, target, always_xy=True)

    def move(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(coords[:, 0], coords[:, 1]))

    node_data = [d for _, d in graph.nodes(data=True)]
    if node_data:
        xy = move(np.array([(d["x"], d["y"]) for d in node_data], dtype=float))
        for d, (x, y) in zip(node_data, xy.tolist(), strict=True):
            d["x"], d["y"] = x, y
    del node_data
    drawn = [d for _, _, d in graph.edges(data=True) if d.get("geometry") is not None]
    if drawn:
        moved = shapely.transform(np.array([d["geometry"] for d in drawn], dtype=object), move)
        for d, geom in zip(drawn, moved, strict=True):
            d["geometry"] = geom
    graph.graph["crs"] = target
    _nodes_in_edge_order(graph)
    return graph


def _nodes_in_edge_order(graph: nx.MultiDiGraph) -> None:
    """Put the nodes in the order :func:`osmnx.graph_from_gdfs` (inside ``project_graph``) gives them.

    That is the order in which the edges, read node by node, first name them; edge-less nodes follow.
    The edge table, the snapping tree and so every tie between equally near edges follow this order, so
    keeping it keeps every cost the same as before. The graph's own node dictionaries are reordered in
    place (so networkx's views of them stay valid); neighbours and edge keys keep their order.
    """
    order = dict.fromkeys(n for u, nbrs in graph.adjacency() for v in nbrs for n in (u, v))
    order.update(dict.fromkeys(set(graph.nodes) - set(order)))
    for table in (graph._node, graph._succ, graph._pred):  # reordered in place: same objects
        items = [(n, table[n]) for n in order]
        table.clear()
        table.update(items)


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
