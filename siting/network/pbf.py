"""OpenStreetMap files (``.osm.pbf``, ``.osm``, ``.osm.bz2``) streamed with pyosmium into a walking graph.

Why pyosmium: it binds libosmium, the C++ library behind osmium-tool and osm2pgsql, maintained by the
OpenStreetMap developers, with wheels on PyPI for Linux, macOS and Windows. It reads every OSM encoding
(PBF, XML, compressed XML, o5m) as a stream and filters while reading, so a province extract is read way by
way and only the walkable ways and the nodes they use are ever held in memory. (pyrosm, the other PBF
reader, decodes the whole file into data frames first and applies its own network filters, unlike
osmnx's.)

The file is read twice: first the ways tagged ``highway`` (kept when :func:`walkable`), then only the
nodes those ways use. The graph is built the way ``osmnx.graph_from_xml(..., bidirectional=True,
simplify=True, retain_all=True)`` builds its graph — node ``x``/``y`` (degrees) and osmnx's useful node
tags, one edge per consecutive node pair in both directions with ``osmid``, osmnx's useful way tags,
``oneway=False`` and ``reversed`` — then osmnx adds the great-circle ``length`` (m) and simplifies it, so
the rest of :mod:`siting.network` sees the same attributes (``x``, ``y``, ``length``, ``highway``,
``geometry``...) as from osmnx. Unlike ``graph_from_xml``, the walk filter is applied to the ways *before*
simplification and with all their tags (``foot=no``, ``area=yes`` and separately mapped sidewalks are not
kept by osmnx as edge attributes), as osmnx's own online ``network_type="walk"`` query does; and a way
clipped at the extract's edge (nodes missing from the file) is kept where its nodes are, where osmnx
refuses the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import groupby, pairwise
from pathlib import Path

import networkx as nx

from siting._log import get_logger, progress, progress_timer
from siting.errors import NetworkError

log = get_logger(__name__)

# osmnx's "walk" filter (osmnx._overpass._get_network_filter("walk")): Overpass `!~` tests are unanchored
# regular expressions, matched here the same way.
_WALK_EXCLUDED = {
    "area": re.compile("yes"),
    "access": re.compile("private"),
    "highway": re.compile(
        "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed|raceway|razed|"
        "rest_area|services"
    ),
    "foot": re.compile("no"),
    "service": re.compile("private"),
    "sidewalk": re.compile("separate"),
    "sidewalk:both": re.compile("separate"),
    "sidewalk:left": re.compile("separate"),
    "sidewalk:right": re.compile("separate"),
}

PBF_MAGIC = b"OSMHeader"
"""Bytes near the start of every ``.osm.pbf`` file (the type of its first block)."""


def walkable(tags: Mapping[str, object], *, walk: bool = True) -> bool:
    """Whether an OSM way with these tags belongs to the network.

    Parameters
    ----------
    tags
        The way's tags (key → value; a list value, as osmnx leaves on merged edges, counts when any of
        its values would).
    walk
        True applies osmnx's ``walk`` filter (no motorways, cycleways, construction, platforms, private
        access or service, ``foot=no``, areas, or streets whose sidewalks are mapped as separate ways);
        False keeps every ``highway=*`` way.

    Returns
    -------
    bool
        True for a road (``highway=*``) that passes the filter.
    """
    if tags.get("highway") is None:
        return False
    if not walk:
        return True
    for key, pattern in _WALK_EXCLUDED.items():
        value = tags.get(key)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        if key == "highway":
            if all(pattern.search(str(v)) for v in values):  # a merged edge is kept if any part is walkable
                return False
        elif any(pattern.search(str(v)) for v in values):
            return False
    return True


def is_pbf(path: Path) -> bool:
    """True when ``path`` holds OSM PBF data (by its first block, whatever its name)."""
    with path.open("rb") as fh:
        return PBF_MAGIC in fh.read(64)


def read_osm_file(path: Path, *, walk: bool = True) -> nx.MultiDiGraph:
    """Stream an OSM file into an unprojected, simplified walking graph (EPSG:4326).

    Parameters
    ----------
    path
        An ``.osm.pbf``, ``.osm`` or ``.osm.bz2``/``.osm.gz`` file (PBF is recognised by its content).
    walk
        Apply the walk filter (:func:`walkable`); False keeps every road.

    Returns
    -------
    networkx.MultiDiGraph
        Simplified as osmnx does, all components kept, ``graph["crs"] = "epsg:4326"``.

    Raises
    ------
    NetworkError
        When the file cannot be read as OSM data, or holds no road that passes the filter.
    """
    import osmium
    import osmnx as ox

    source = osmium.io.File(str(path), "pbf") if is_pbf(path) else str(path)
    try:
        ways, refs = _walkable_ways(osmium.FileProcessor(source, osmium.osm.WAY), walk=walk)
        nodes = _used_nodes(osmium.FileProcessor(source, osmium.osm.NODE), refs)
    except RuntimeError as exc:  # libosmium's parse and I/O errors
        raise NetworkError(f"{path}: cannot read it as OpenStreetMap data ({exc}).") from exc
    if not ways:
        what = "walkable road (highway=* passing the walk filter)" if walk else "road (highway=*)"
        raise NetworkError(f"{path}: the file has no {what}; check that it is an extract of the study area.")
    graph = _graph(nodes, ways, name=str(path))
    n_ways = len(ways)
    del nodes, ways, refs  # the graph holds what is needed: free the streamed tables before simplifying
    if graph.number_of_edges() == 0:
        raise NetworkError(
            f"{path}: the file's {n_ways:,} road(s) use nodes that are not in it (a clipped extract?); "
            "export the extract with complete ways."
        )
    graph = ox.distance.add_edge_lengths(graph)
    return simplify_in_place(graph)


class _NoCopyGraph(nx.MultiDiGraph):
    """A graph whose ``copy()`` is itself: lets :func:`osmnx.simplify_graph` work on it in place."""

    def copy(self, as_view: bool = False) -> nx.MultiDiGraph:
        return self


def simplify_in_place(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Simplify ``graph`` with :func:`osmnx.simplify_graph`, without the copy it makes of its input first.

    ``simplify_graph`` starts with ``G.copy()`` so as not to change the caller's graph; the reader's graph
    belongs to nobody else, and at a city's size (a million directed edges with their tag dicts) that copy
    was a whole second unsimplified graph in memory. The same osmnx code runs, so the result is the same.

    Parameters
    ----------
    graph
        An unsimplified osmnx-style graph that no one else refers to; it is changed.

    Returns
    -------
    networkx.MultiDiGraph
        The simplified graph (``graph`` itself, a plain ``MultiDiGraph`` again).
    """
    import osmnx as ox

    graph.__class__ = _NoCopyGraph
    try:
        with progress_timer("simplifying the road graph"):
            simplified = ox.simplify_graph(graph)
    finally:
        graph.__class__ = nx.MultiDiGraph
    simplified.__class__ = nx.MultiDiGraph
    return simplified


def _walkable_ways(ways: Iterable, *, walk: bool) -> tuple[list[tuple[int, list[int], dict]], set[int]]:
    """The walkable ways (id, node ids, osmnx's useful tags) and the set of node ids they use."""
    import osmium
    import osmnx as ox

    useful = ox.settings.useful_tags_way
    kept, refs = [], set()
    roads = ways.with_filter(osmium.filter.KeyFilter("highway"))
    for way in progress(roads, desc="reading roads", unit="way"):
        tags = dict(way.tags)
        if not walkable(tags, walk=walk):
            continue
        ids = [key for key, _ in groupby(n.ref for n in way.nodes)]  # osmnx drops repeated nodes too
        kept.append((way.id, ids, {k: tags[k] for k in useful if k in tags}))
        refs.update(ids)
    return kept, refs


def _used_nodes(nodes: Iterable, refs: set[int]) -> dict[int, dict]:
    """Coordinates (``x`` lon, ``y`` lat) and osmnx's useful tags of the ``refs`` nodes found in the file."""
    import osmium
    import osmnx as ox

    useful = ox.settings.useful_tags_node
    out = {}
    if not refs:
        return out
    found = nodes.with_filter(osmium.filter.IdFilter(refs))
    for node in progress(found, desc="reading road nodes", total=len(refs), unit="node"):
        loc = node.location
        if not loc.valid():
            continue
        attrs = {"y": loc.lat, "x": loc.lon}
        for key in useful:
            if key in node.tags:
                attrs[key] = node.tags[key]
        out[node.id] = attrs
    return out


def _graph(nodes: dict[int, dict], ways: list[tuple[int, list[int], dict]], *, name: str) -> nx.MultiDiGraph:
    """The unsimplified two-way graph of ``ways`` (osmnx's ``_add_paths`` with ``bidirectional=True``).

    A way is split where it uses a node missing from the file; the count is logged.
    """
    graph = nx.MultiDiGraph(crs="epsg:4326", name=name)
    missing, paths = 0, []
    for osmid, ids, tags in progress(ways, desc="road graph", unit="way"):
        have = [i in nodes for i in ids]
        missing += have.count(False)
        for present, run in groupby(zip(ids, have, strict=True), key=lambda p: p[1]):
            run_ids = [i for i, _ in run]
            if present and len(run_ids) >= 2:
                paths.append((list(pairwise(run_ids)), {"osmid": osmid, **tags, "oneway": False}))
    used = {i for edges, _ in paths for edge in edges for i in edge}
    graph.add_nodes_from((i, attrs) for i, attrs in nodes.items() if i in used)  # in file order, as osmnx
    for edges, attrs in paths:
        graph.add_edges_from(edges, **attrs, reversed=False)
        graph.add_edges_from([(v, u) for u, v in edges], **attrs, reversed=True)
    if missing:
        log.warning(
            "%s: %d node reference(s) of roads are not in the file (a clipped extract); those roads are "
            "kept up to the edge of the extract",
            name,
            missing,
        )
    return graph
