"""The lean network path: simplify and project in place, the edge table the pipeline keeps (not the graph).

Each lean step is checked against the osmnx call it replaces, exactly (same nodes in the same order, same
coordinates, same edges), and the costs from the table against the costs from the graph.
"""

from __future__ import annotations

import gc
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import pandas as pd
import pytest
import shapely

from siting import _cache, network
from siting.config import load_scenario
from siting.network import load, pbf
from siting.pipeline import stages

REPO = Path(__file__).resolve().parents[1]
SAMPLE_ROADS = REPO / "data" / "raw" / "sample" / "roads.osm"
HELSINKI = REPO.parent / "shared" / "data" / "osm" / "Helsinki.osm.pbf"


def _unsimplified(path: Path) -> nx.MultiDiGraph:
    """The reader's two-way graph with lengths, before simplification (EPSG:4326)."""
    if not path.exists():
        pytest.skip(f"OSM file missing: {path}")
    source = osmium.io.File(str(path), "pbf") if pbf.is_pbf(path) else str(path)
    ways, refs = pbf._walkable_ways(osmium.FileProcessor(source, osmium.osm.WAY), walk=True)
    nodes = pbf._used_nodes(osmium.FileProcessor(source, osmium.osm.NODE), refs)
    return ox.distance.add_edge_lengths(pbf._graph(nodes, ways, name=str(path)))


def _same_graph(ours: nx.MultiDiGraph, theirs: nx.MultiDiGraph) -> None:
    """Same nodes and edges in the same order, same coordinates, lengths and geometries, exactly."""
    assert list(ours.nodes) == list(theirs.nodes)
    assert list(ours.edges(keys=True)) == list(theirs.edges(keys=True))
    for n, d in theirs.nodes(data=True):
        assert (ours.nodes[n]["x"], ours.nodes[n]["y"]) == (d["x"], d["y"])
    for u, v, k, d in theirs.edges(keys=True, data=True):
        mine = ours.edges[u, v, k]
        assert mine.keys() == d.keys()
        assert mine["length"] == d["length"]
        if "geometry" in d:
            assert np.array_equal(
                shapely.get_coordinates(mine["geometry"]), shapely.get_coordinates(d["geometry"])
            )


@pytest.mark.parametrize("path", [SAMPLE_ROADS, HELSINKI], ids=["sample", "helsinki"])
def test_simplify_in_place_is_osmnx_simplify_graph(path: Path) -> None:
    theirs = ox.simplify_graph(_unsimplified(path))
    ours = pbf.simplify_in_place(_unsimplified(path))
    assert type(ours) is nx.MultiDiGraph and ours.graph.get("simplified")
    _same_graph(ours, theirs)


@pytest.mark.parametrize("simplified", [True, False], ids=["simplified", "raw"])
def test_projection_in_place_is_osmnx_project_graph(simplified: bool) -> None:
    raw = _unsimplified(HELSINKI)
    graph = pbf.simplify_in_place(raw) if simplified else raw
    target = "EPSG:32635"
    theirs = ox.project_graph(graph.copy(), to_crs=target)
    ours = load._project_in_place(graph, load.CRS.from_user_input(graph.graph["crs"]), load.CRS(target))
    assert ours.graph["crs"] == load.CRS(target)
    _same_graph(ours, theirs)


def _points(graph: nx.MultiDiGraph, n: int, seed: int, prefix: str | None) -> pd.DataFrame:
    import geopandas as gpd

    left, bottom, right, top = network.network_bounds(graph)
    rng = np.random.default_rng(seed)
    xy = np.column_stack([rng.uniform(left, right, n), rng.uniform(bottom, top, n)])
    index = (
        pd.Index(range(n), name="unit_id") if prefix is None else pd.Index([f"{prefix}{i}" for i in range(n)])
    )
    return gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), index=index, crs=graph.graph["crs"]
    )


def test_the_edge_table_gives_the_graphs_costs_exactly() -> None:
    if not HELSINKI.exists():
        pytest.skip(f"OSM file missing: {HELSINKI}")
    graph = network.load_network(HELSINKI)
    units, schools = _points(graph, 80, 1, None), _points(graph, 8, 2, "s")
    pairs = pd.DataFrame({"unit_id": [0, 1, 2], "school_id": ["s0", "s7", "s3"]})
    table = network.road_table(graph)
    assert table.crs == graph.graph["crs"] and table.name == str(HELSINKI)
    repacked = network.repacked(network.road_table(graph))
    for coords in (table, repacked):
        assert shapely.get_coordinates(coords.geometry).shape == shapely.get_coordinates(table.geometry).shape
    assert np.array_equal(shapely.get_coordinates(repacked.geometry), shapely.get_coordinates(table.geometry))
    want = network.travel_costs(graph, units, schools, max_distance_m=1500, pairs=pairs)
    assert len(want) > 50
    for lean in (table, repacked):
        pd.testing.assert_frame_equal(
            network.travel_costs(lean, units, schools, max_distance_m=1500, pairs=pairs), want
        )
        pd.testing.assert_frame_equal(
            network.pair_costs(lean, units, schools, pairs), network.pair_costs(graph, units, schools, pairs)
        )
        snapped = network.snap_points(lean, units, max_snap_m=250)
        pd.testing.assert_frame_equal(snapped, network.snap_points(graph, units, max_snap_m=250))


def test_load_roads_keeps_no_graph_alive(sample_dir: Path) -> None:
    """The run's network stage leaves only the edge table: no networkx graph in the cache or anywhere."""
    _cache.clear_memory()
    gc.collect()
    scenario = load_scenario(sample_dir / "scenarios" / "sample.yaml")
    area = stages.read_study_area(scenario)
    before = sum(isinstance(o, nx.MultiDiGraph) for o in gc.get_objects())
    table = stages.load_roads(scenario, area, cache_dir=None)
    assert isinstance(table, network.EdgeTable) and table.n_edges > 1000
    assert table.crs is not None and load.CRS.from_user_input(table.crs).is_projected
    gc.collect()
    assert sum(isinstance(o, nx.MultiDiGraph) for o in gc.get_objects()) == before
    assert not any(isinstance(v, nx.Graph) for v in _cache._MEMORY.values())
    assert stages.load_roads(scenario, area, cache_dir=None) is table  # cached in the session
    graph = stages.load_graph(scenario, area, cache_dir=None)
    ref = network.road_table(graph)
    assert list(ref.nodes) == list(table.nodes) and np.array_equal(ref.length, table.length)
    assert np.array_equal(ref.u, table.u) and np.array_equal(ref.v, table.v)
    _cache.clear_memory()
