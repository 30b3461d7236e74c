"""Tests for siting.network: loading, snapping, exact bounded walking distances, errors and the CLI."""

from __future__ import annotations

import itertools
import json
import logging
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import requests
import shapely
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

from siting import network
from siting.cli import cli
from siting.errors import CRSError, InputError, NetworkError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
OSM = SHARED / "data" / "osm" / "planet_10.068,48.135_10.071,48.137.osm"
FIXTURES = Path(__file__).resolve().parent / "data" / "network"
CRS_M = "EPSG:32650"


def need_osm() -> Path:
    if not OSM.exists():
        pytest.skip(f"shared OSM extract missing: {OSM}")
    return OSM


# --------------------------------------------------------------------------- helpers
def points_gdf(xy: np.ndarray, *, prefix: str | None, crs: str, pop: bool = False) -> gpd.GeoDataFrame:
    """Units (int ids, square cells around each point, pop_x/pop_y) or schools (str ids, points)."""
    if prefix is None:
        ids = pd.Index(np.arange(len(xy), dtype=np.int64), name="unit_id")
    else:
        ids = pd.Index([f"{prefix}{i}" for i in range(len(xy))], name="school_id")
    if pop:
        geoms = [box(x - 20, y - 20, x + 20, y + 20) for x, y in xy]
        return gpd.GeoDataFrame(
            {"pop_x": xy[:, 0], "pop_y": xy[:, 1], "population": np.arange(len(xy)) + 1.0},
            geometry=geoms,
            index=ids,
            crs=crs,
        )
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), index=ids, crs=crs)


def reference_distances(graph: nx.MultiDiGraph, su: pd.DataFrame, ss: pd.DataFrame) -> np.ndarray:
    """Independent reference: networkx Dijkstra between edge ends plus offsets and access legs."""
    g = nx.Graph()
    for u, v, length in graph.edges(data="length"):
        if u != v and (not g.has_edge(u, v) or g[u][v]["length"] > length):
            g.add_edge(u, v, length=length)
    g.add_nodes_from(graph.nodes)
    cache: dict = {}

    def sp(a: object) -> dict:
        if a not in cache:
            cache[a] = nx.single_source_dijkstra_path_length(g, a, weight="length")
        return cache[a]

    out = np.full((len(su), len(ss)), np.inf)
    for i, ru in enumerate(su.itertuples()):
        for j, rs in enumerate(ss.itertuples()):
            if not (ru.snapped and rs.snapped):
                continue
            ends_u = [(ru.u, ru.position_m), (ru.v, ru.edge_length_m - ru.position_m)]
            ends_s = [(rs.u, rs.position_m), (rs.v, rs.edge_length_m - rs.position_m)]
            best = min(
                off_a + sp(a).get(b, np.inf) + off_b
                for (a, off_a), (b, off_b) in itertools.product(ends_u, ends_s)
            )
            same = {ru.u, ru.v} == {rs.u, rs.v} and ru.key == rs.key and ru.edge_length_m == rs.edge_length_m
            if same:
                pos_s = rs.position_m if ru.u == rs.u else rs.edge_length_m - rs.position_m
                best = min(best, abs(ru.position_m - pos_s))
            out[i, j] = best + ru.access_m + rs.access_m
    return out


def check_exact(graph: nx.MultiDiGraph, units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame) -> float:
    costs = network.travel_costs(graph, units, schools, max_distance_m=1e9, max_snap_m=1e6)
    su = network.snap_points(graph, units, max_snap_m=1e6)
    ss = network.snap_points(graph, schools, max_snap_m=1e6)
    ref = reference_distances(graph, su, ss)
    got = costs.pivot(index="unit_id", columns="school_id", values="distance_m")
    got = got.reindex(index=units.index, columns=schools.index).to_numpy()
    finite = np.isfinite(ref)
    assert np.array_equal(np.isfinite(got), finite), "pairs present differ from connectivity"
    err = float(np.max(np.abs(got[finite] - ref[finite]))) if finite.any() else 0.0
    assert err <= 1e-6
    return err


def grid_graph(n: int = 12, spacing: float = 100.0, seed: int = 0, drop: float = 0.15) -> nx.MultiDiGraph:
    """Jittered grid with bent edges, lengths 0.3 % longer than the drawn geometry, some edges missing."""
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs=CRS_M, name="grid")
    pos = {}
    for i in range(n):
        for j in range(n):
            x, y = 500000 + i * spacing + rng.normal(0, 10), 2500000 + j * spacing + rng.normal(0, 10)
            pos[(i, j)] = (x, y)
            g.add_node(i * n + j, x=x, y=y)
    for i in range(n):
        for j in range(n):
            for di, dj in ((1, 0), (0, 1)):
                if i + di >= n or j + dj >= n or rng.random() < drop:
                    continue
                a, b = (i, j), (i + di, j + dj)
                mid = (
                    (pos[a][0] + pos[b][0]) / 2 + rng.normal(0, 8),
                    (pos[a][1] + pos[b][1]) / 2 + rng.normal(0, 8),
                )
                geom = LineString([pos[a], mid, pos[b]])
                length = geom.length * 1.003
                u, v = i * n + j, (i + di) * n + j + dj
                g.add_edge(u, v, length=length, geometry=geom)
                g.add_edge(v, u, length=length, geometry=shapely.reverse(geom))
    return g


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", params=["walk", "all"])
def osm_graph(request: pytest.FixtureRequest) -> nx.MultiDiGraph:
    return network.load_network(need_osm(), network_type=request.param)


def test_osm_extract_keeps_roads_only() -> None:
    raw = ox.graph_from_xml(need_osm(), bidirectional=True, retain_all=True)
    assert any("highway" not in d for _, _, d in raw.edges(data=True))  # the file also has buildings
    walk = network.load_network(OSM)
    every = network.load_network(OSM, network_type="all")
    assert all("highway" in d for _, _, d in every.edges(data=True))
    kinds = {str(d["highway"]) for _, _, d in walk.edges(data=True)}
    assert "service" in {str(d["highway"]) for _, _, d in every.edges(data=True)}
    assert "service" not in kinds  # the extract's service roads are private driveways
    assert walk.number_of_edges() < every.number_of_edges()


def river_lines() -> gpd.GeoDataFrame:
    """Two banks (y=0 south, y=300 north) joined by one bridge at x=2000."""
    lines = [
        LineString([(0, 0), (2000, 0)]),
        LineString([(0, 300), (2000, 300)]),
        LineString([(2000, 0), (2000, 300)]),
    ]
    shifted = [shapely.affinity.translate(g, 500000, 2500000) for g in lines]
    return gpd.GeoDataFrame({"name": ["south", "north", "bridge"]}, geometry=shifted, crs=CRS_M)


def at(x: float, y: float) -> tuple[float, float]:
    return (500000 + x, 2500000 + y)


# --------------------------------------------------------------------------- exactness
def test_exact_on_real_osm_extract(osm_graph: nx.MultiDiGraph) -> None:
    assert osm_graph.graph["crs"].to_epsg() == 32632
    left, bottom, right, top = network.network_bounds(osm_graph)
    rng = np.random.default_rng(1)
    uxy = np.column_stack([rng.uniform(left, right, 40), rng.uniform(bottom, top, 40)])
    sxy = np.column_stack([rng.uniform(left, right, 12), rng.uniform(bottom, top, 12)])
    crs = osm_graph.graph["crs"]
    err = check_exact(
        osm_graph, points_gdf(uxy, prefix=None, crs=crs, pop=True), points_gdf(sxy, prefix="s", crs=crs)
    )
    assert err < 1e-6


def test_bounded_table_is_the_limited_part_of_the_full_one(osm_graph: nx.MultiDiGraph) -> None:
    left, bottom, right, top = network.network_bounds(osm_graph)
    rng = np.random.default_rng(2)
    crs = osm_graph.graph["crs"]
    units = points_gdf(
        np.column_stack([rng.uniform(left, right, 30), rng.uniform(bottom, top, 30)]),
        prefix=None,
        crs=crs,
        pop=True,
    )
    schools = points_gdf(
        np.column_stack([rng.uniform(left, right, 8), rng.uniform(bottom, top, 8)]), prefix="s", crs=crs
    )
    full = network.travel_costs(osm_graph, units, schools, max_distance_m=1e9)
    part = network.travel_costs(osm_graph, units, schools, max_distance_m=150.0, walking_speed_mps=1.25)
    expected = full[full["distance_m"] <= 150.0].reset_index(drop=True)
    assert 0 < len(part) < len(full)
    pd.testing.assert_frame_equal(part[["unit_id", "school_id"]], expected[["unit_id", "school_id"]])
    np.testing.assert_allclose(part["distance_m"], expected["distance_m"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(part["time_s"], part["distance_m"] / 1.25)
    assert list(part.columns) == ["unit_id", "school_id", "distance_m", "time_s"]
    assert part.equals(part.sort_values(["unit_id", "school_id"]).reset_index(drop=True))


def test_exact_on_generated_graph() -> None:
    g = grid_graph()
    rng = np.random.default_rng(3)
    xy = np.column_stack([rng.uniform(500000, 501100, 60), rng.uniform(2500000, 2501100, 60)])
    sxy = np.column_stack([rng.uniform(500000, 501100, 15), rng.uniform(2500000, 2501100, 15)])
    check_exact(g, points_gdf(xy, prefix=None, crs=CRS_M, pop=True), points_gdf(sxy, prefix="s", crs=CRS_M))


def test_same_edge_pairs_are_exact_both_directions() -> None:
    # one 1000 m street (both directions, as osmnx stores two-way streets) plus a detour loop
    g = nx.MultiDiGraph(crs=CRS_M)
    g.add_node(1, x=500000.0, y=2500000.0)
    g.add_node(2, x=501000.0, y=2500000.0)
    street = LineString([at(0, 0), at(1000, 0)])
    g.add_edge(1, 2, length=1000.0, geometry=street)
    g.add_edge(2, 1, length=1000.0, geometry=shapely.reverse(street))
    g.add_edge(1, 2, length=3000.0, geometry=LineString([at(0, 0), at(500, 1000), at(1000, 0)]))
    units = points_gdf(np.array([at(100, 10), at(900, -5)]), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(np.array([at(400, 0), at(950, 20)]), prefix="s", crs=CRS_M)
    costs = network.travel_costs(g, units, schools, max_distance_m=5000)
    got = costs.set_index(["unit_id", "school_id"])["distance_m"]
    # hand-checked: along-edge gap + both access legs
    assert got[(0, "s0")] == pytest.approx(300 + 10, abs=1e-9)
    assert got[(0, "s1")] == pytest.approx(850 + 10 + 20, abs=1e-9)
    assert got[(1, "s0")] == pytest.approx(500 + 5, abs=1e-9)
    assert got[(1, "s1")] == pytest.approx(50 + 5 + 20, abs=1e-9)


# --------------------------------------------------------------------------- river and snapping
def test_river_nearest_school_by_walk_differs_from_straight_line() -> None:
    g = network.graph_from_lines(river_lines())
    units = points_gdf(np.array([at(100, -20)]), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(np.array([at(100, 320), at(900, -20)]), prefix="s", crs=CRS_M)
    walk = network.travel_costs(g, units, schools, max_distance_m=10000)
    line = network.euclidean_costs(units, schools, max_distance_m=10000)
    walk_d = walk.set_index("school_id")["distance_m"]
    assert walk_d["s0"] == pytest.approx(20 + 1900 + 300 + 1900 + 20, abs=1e-6)  # over the only bridge
    assert walk_d["s1"] == pytest.approx(20 + 800 + 20, abs=1e-6)
    assert walk_d.idxmin() == "s1"
    assert line.set_index("school_id")["distance_m"].idxmin() == "s0"


def test_far_point_is_reported_not_snapped(caplog: pytest.LogCaptureFixture) -> None:
    g = network.graph_from_lines(river_lines())
    # unit 1 stands in the middle of the river, 150 m from either bank
    units = points_gdf(np.array([at(100, -20), at(100, 150)]), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(np.array([at(150, 10)]), prefix="s", crs=CRS_M)
    with caplog.at_level(logging.WARNING, logger="siting.network"):
        snapped = network.snap_points(g, units, max_snap_m=100)
    assert snapped["snapped"].tolist() == [True, False]
    assert np.isnan(snapped.loc[1, "access_m"]) and snapped.loc[1, "u"] is None
    assert "1 of 2 point(s) are more than 100 m" in caplog.text and "1" in caplog.text
    costs = network.travel_costs(g, units, schools, max_distance_m=1000, max_snap_m=100)
    assert costs["unit_id"].tolist() == [0]
    lost = network.unreachable_units(units, costs)
    assert lost.index.tolist() == [1]
    assert lost.loc[1, "population"] == 2.0
    assert lost.loc[1, "nearest_m"] == np.inf
    # with a generous limit it snaps to the nearer (south) bank
    assert network.snap_points(g, units, max_snap_m=200)["snapped"].all()


def test_snap_is_nearest_edge_not_node(osm_graph: nx.MultiDiGraph) -> None:
    left, bottom, right, top = network.network_bounds(osm_graph)
    rng = np.random.default_rng(5)
    xy = np.column_stack([rng.uniform(left, right, 25), rng.uniform(bottom, top, 25)])
    df = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]})
    snapped = network.snap_points(osm_graph, df, max_snap_m=1e6, min_component_m=0)  # every component
    lines = [
        d["geometry"]
        if "geometry" in d
        else LineString(
            [
                (osm_graph.nodes[u]["x"], osm_graph.nodes[u]["y"]),
                (osm_graph.nodes[v]["x"], osm_graph.nodes[v]["y"]),
            ]
        )
        for u, v, d in osm_graph.edges(data=True)
    ]
    brute = shapely.distance(shapely.points(xy)[:, None], np.array(lines)[None, :]).min(axis=1)
    np.testing.assert_allclose(snapped["access_m"], brute, atol=1e-9)


# --------------------------------------------------------------------------- line layers and GraphML
def test_line_layer_from_geopackage_split_at_crossings(tmp_path: Path) -> None:
    lines = gpd.GeoDataFrame(
        {"layer": [0, 0, 1], "name": ["a", "b", "flyover"]},
        geometry=[
            LineString([at(0, 0), at(200, 0)]),
            LineString([at(100, -100), at(100, 100)]),  # crosses a at (100, 0): a junction
            LineString([at(50, -50), at(50, 50)]),  # crosses a on a bridge: no junction
        ],
        crs=CRS_M,
    )
    path = tmp_path / "roads.gpkg"
    lines.to_file(path, driver="GPKG")
    g = network.load_network(path)
    # a and b split at their crossing into 4 segments, the bridge stays whole: 5 segments, both directions
    assert g.number_of_edges() == 10
    assert g.number_of_nodes() == 7
    assert sorted(round(d) for _, _, d in g.edges(data="length"))[::2] == [100, 100, 100, 100, 100]
    units = points_gdf(np.array([at(50, 40)]), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(np.array([at(100, 90)]), prefix="s", crs=CRS_M)
    costs = network.travel_costs(g, units, schools, max_distance_m=1000, max_snap_m=5)
    # from the bridge (no junction mid-way) back to its south end is impossible: only ends at y=±50,
    # which touch nothing, so the unit cannot reach the school
    assert costs.empty
    lines.loc[2, "layer"] = 0
    g2 = network.graph_from_lines(lines)
    costs2 = network.travel_costs(g2, units, schools, max_distance_m=1000, max_snap_m=5)
    assert costs2["distance_m"].iloc[0] == pytest.approx(40 + 50 + 90, abs=1e-6)


def test_bridge_ramp_end_joins_the_ground_road() -> None:
    lines = gpd.GeoDataFrame(
        {"bridge": ["no", "yes"]},
        geometry=[LineString([at(0, 0), at(200, 0)]), LineString([at(100, 0), at(100, 300)])],
        crs=CRS_M,
    )
    g = network.graph_from_lines(lines)
    units = points_gdf(np.array([at(0, 0)]), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(np.array([at(100, 300)]), prefix="s", crs=CRS_M)
    costs = network.travel_costs(g, units, schools, max_distance_m=1000)
    assert costs["distance_m"].iloc[0] == pytest.approx(400, abs=1e-6)


def test_line_layer_without_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "points.gpkg"
    gpd.GeoDataFrame(geometry=[Point(at(0, 0))], crs=CRS_M).to_file(path, driver="GPKG")
    with pytest.raises(NetworkError, match=r"no line geometries found \(geometry types: Point\)"):
        network.load_network(path)


def test_graphml_round_trip_gives_the_same_costs(tmp_path: Path) -> None:

    g = grid_graph(n=6, seed=7)
    path = tmp_path / "grid.graphml"
    ox.save_graphml(g, path)
    g2 = network.load_network(path)
    rng = np.random.default_rng(8)
    units = points_gdf(
        np.column_stack([rng.uniform(500000, 500500, 20), rng.uniform(2500000, 2500500, 20)]),
        prefix=None,
        crs=CRS_M,
        pop=True,
    )
    schools = points_gdf(
        np.column_stack([rng.uniform(500000, 500500, 4), rng.uniform(2500000, 2500500, 4)]),
        prefix="s",
        crs=CRS_M,
    )
    a = network.travel_costs(g, units, schools, max_distance_m=600)
    b = network.travel_costs(g2, units, schools, max_distance_m=600)
    pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-9)


# --------------------------------------------------------------------------- osmnx online path, offline
def overpass_json(path: Path) -> dict:
    """Overpass ``out json`` answer built from an OSM XML extract (nodes and highway ways)."""
    root = ET.parse(path).getroot()
    elements = []
    for el in root:
        tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
        if el.tag == "node":
            elements.append(
                {
                    "type": "node",
                    "id": int(el.get("id")),
                    "lat": float(el.get("lat")),
                    "lon": float(el.get("lon")),
                    "tags": tags,
                }
            )
        elif el.tag == "way" and "highway" in tags:
            nodes = [int(nd.get("ref")) for nd in el.findall("nd")]
            elements.append({"type": "way", "id": int(el.get("id")), "nodes": nodes, "tags": tags})
    return {"version": 0.6, "generator": "test fixture from OSM XML", "elements": elements}


class FakeHttp:
    """Stands in for the internet: Nominatim search, Overpass status and interpreter."""

    def __init__(self, overpass: dict, nominatim: list, *, online: bool = True) -> None:
        self.overpass, self.nominatim, self.online = overpass, nominatim, online
        self.calls: list[str] = []

    @staticmethod
    def _response(url: str, body: bytes | str, status: int = 200) -> requests.Response:
        r = requests.Response()
        r.status_code, r.url, r.encoding, r.reason = status, url, "utf-8", "OK"
        r._content = body if isinstance(body, bytes) else body.encode()
        return r

    def get(self, url: str, **kwargs: object) -> requests.Response:
        self.calls.append(url)
        if not self.online:
            raise requests.exceptions.ConnectionError(f"no network in tests: {url}")
        if url.endswith("/status"):
            return self._response(
                url,
                "Connected as: 1\nCurrent time: x\nAnnounced endpoint: none\nRate limit: 2\n"
                "2 slots available now.\n",
            )
        if "nominatim" in url:
            return self._response(url, json.dumps(self.nominatim))
        raise AssertionError(f"unexpected GET {url}")

    def post(self, url: str, **kwargs: object) -> requests.Response:
        self.calls.append(url)
        if not self.online:
            raise requests.exceptions.ConnectionError(f"no network in tests: {url}")
        assert url.endswith("/interpreter")
        return self._response(url, json.dumps(self.overpass))


@pytest.fixture
def fake_http(monkeypatch: pytest.MonkeyPatch) -> FakeHttp:
    import osmnx

    nominatim = json.loads((FIXTURES / "nominatim_search.json").read_text(encoding="utf-8"))
    fake = FakeHttp(overpass_json(need_osm()), nominatim)
    monkeypatch.setattr(requests, "get", fake.get)
    monkeypatch.setattr(requests, "post", fake.post)
    monkeypatch.setattr(osmnx._http, "_config_dns", lambda url: None)  # would resolve DNS
    monkeypatch.setattr(osmnx._nominatim.time, "sleep", lambda s: None)
    return fake


def test_place_query_runs_osmnx_and_rerun_works_offline(fake_http: FakeHttp, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    g = network.load_network("Extract Test Quarter, Bavaria, Germany", cache_dir=cache)
    assert any("nominatim" in c for c in fake_http.calls) and any("interpreter" in c for c in fake_http.calls)
    assert g.graph["crs"].to_epsg() == 32632 and g.number_of_edges() > 0
    assert list(cache.glob("*.json"))
    fake_http.online, fake_http.calls = False, []
    g2 = network.load_network("Extract Test Quarter, Bavaria, Germany", cache_dir=cache)
    assert fake_http.calls == []  # answered from the cache
    assert g2.number_of_edges() == g.number_of_edges()
    # built from the extract's roads, clipped to the place polygon: OSM node ids, less length than the extract
    osm_ids = {int(n.get("id")) for n in ET.parse(OSM).getroot().iter("node")}
    assert set(g2.nodes) <= osm_ids
    local = network.load_network(OSM, network_type="all")  # the fake server does not filter by type
    total = sum(d for _, _, d in g2.edges(data="length"))
    assert 0 < total <= sum(d for _, _, d in local.edges(data="length"))


def test_bbox_and_polygon_queries(fake_http: FakeHttp, tmp_path: Path) -> None:
    bbox = (10.068, 48.135, 10.071, 48.137)
    g = network.load_network(bbox, cache_dir=tmp_path)
    g2 = network.load_network(box(*bbox), cache_dir=tmp_path)
    assert g.number_of_edges() > 0 and g2.number_of_edges() > 0
    with pytest.raises(InputError, match="left < right"):
        network.load_network((10.071, 48.135, 10.068, 48.137), cache_dir=tmp_path)


def test_offline_unresolvable_place_says_use_a_local_extract(fake_http: FakeHttp, tmp_path: Path) -> None:
    fake_http.online = False
    with pytest.raises(NetworkError, match=r"could not be reached.*network: \{osm: "):
        network.load_network("Nanhai District, Foshan, China", cache_dir=tmp_path)


def test_place_that_geocodes_to_nothing(fake_http: FakeHttp, tmp_path: Path) -> None:
    fake_http.nominatim = []
    with pytest.raises(NetworkError, match=r"network: \{osm: "):
        network.load_network("Nowhere At All", cache_dir=tmp_path)


# --------------------------------------------------------------------------- pairs and per-level limits
def test_pairs_are_added_at_their_true_distance() -> None:
    island = LineString([at(0, 5000), at(100, 5000)])
    g_lines = pd.concat([river_lines(), gpd.GeoDataFrame({"name": ["island"]}, geometry=[island], crs=CRS_M)])
    g = network.graph_from_lines(g_lines)
    units = points_gdf(np.array([at(100, -20), at(50, 5010)]), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(np.array([at(100, 320), at(900, -20)]), prefix="s", crs=CRS_M)
    pairs = pd.DataFrame({"unit_id": [0, 0, 1], "school_id": ["s0", "s1", "s0"]})
    costs = network.travel_costs(g, units, schools, max_distance_m=1000, pairs=pairs)
    got = costs.set_index(["unit_id", "school_id"])["distance_m"]
    assert got[(0, "s0")] == pytest.approx(4140, abs=1e-6)  # beyond the limit, kept because asked for
    assert got[(0, "s1")] == pytest.approx(840, abs=1e-6)  # within the limit, not duplicated
    assert got[(1, "s0")] == np.inf  # the island is not connected
    assert len(costs) == 3
    with pytest.raises(InputError, match="unit_id 7 is not a known unit"):
        network.travel_costs(
            g, units, schools, max_distance_m=1000, pairs=pd.DataFrame({"unit_id": [7], "school_id": ["s0"]})
        )


def test_per_level_limits_and_unreachable_by_level() -> None:
    g = network.graph_from_lines(river_lines())
    units = points_gdf(np.array([at(100, -20), at(1500, -20)]), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(np.array([at(100, -20), at(1500, 320)]), prefix="s", crs=CRS_M)
    schools["level"] = ["primary", "nine_year"]
    limits = {"primary": 1000.0, "junior": 3000.0}
    costs = network.travel_costs(g, units, schools, max_distance_m=limits)
    got = costs.set_index(["unit_id", "school_id"])["distance_m"]
    # primary school: 1000 m limit; nine-year school: max(1000, 3000) = 3000 m
    assert set(got.index) == {(0, "s0"), (1, "s1"), (0, "s1")}
    assert got[(1, "s1")] == pytest.approx(20 + 500 + 300 + 500 + 20, abs=1e-6)
    assert got[(0, "s1")] == pytest.approx(20 + 1900 + 300 + 500 + 20, abs=1e-6)
    lost = network.unreachable_units(units, costs, level="primary", schools=schools, max_distance_m=limits)
    assert lost.index.tolist() == [1] and lost.loc[1, "nearest_m"] == pytest.approx(1340)
    assert network.unreachable_units(
        units, costs, level="junior", schools=schools, max_distance_m=limits
    ).empty
    schools.loc["s0", "level"] = "college"
    with pytest.raises(InputError, match="'college'"):
        network.travel_costs(g, units, schools, max_distance_m=limits)


# --------------------------------------------------------------------------- bad input
def test_crs_mismatch_names_both() -> None:
    g = network.graph_from_lines(river_lines())
    units = points_gdf(np.array([at(100, -20)]), prefix=None, crs=CRS_M, pop=True).to_crs(4326)
    schools = points_gdf(np.array([at(100, 320)]), prefix="s", crs=CRS_M)
    with pytest.raises(CRSError, match=r"the road network is in EPSG:32650 but units is in EPSG:4326"):
        network.travel_costs(g, units, schools, max_distance_m=1000)


def test_unprojected_and_empty_networks_are_refused() -> None:
    g = network.graph_from_lines(river_lines())
    g.graph["crs"] = "EPSG:4326"
    units = points_gdf(np.array([at(100, -20)]), prefix=None, crs="EPSG:4326", pop=True)
    with pytest.raises(CRSError, match="geographic"):
        network.travel_costs(g, units, units, max_distance_m=1000)
    empty = nx.MultiDiGraph(crs=CRS_M)
    empty.add_node(1, x=0.0, y=0.0)
    units = points_gdf(np.array([at(100, -20)]), prefix=None, crs=CRS_M, pop=True)
    with pytest.raises(NetworkError, match="no edges"):
        network.travel_costs(empty, units, units.rename_axis("school_id"), max_distance_m=1000)


def test_network_that_misses_the_units_shows_both_extents() -> None:
    g = network.graph_from_lines(river_lines())
    units = points_gdf(np.array([at(50000, 50000), at(50100, 50000)]), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(np.array([at(100, 320)]), prefix="s", crs=CRS_M)
    with pytest.raises(
        NetworkError,
        match=r"does not cover the units.*Network extent \(500000.0, 2500000.0, 502000.0, 2500300.0\), "
        r"units extent \(550000.0",
    ):
        network.travel_costs(g, units, schools, max_distance_m=1000)


def test_missing_file_and_study_area_outside(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="network file not found"):
        network.load_network(tmp_path / "nope.osm")
    with pytest.raises(NetworkError, match="does not cover the study area"):
        network.load_network(need_osm(), study_area=box(113.0, 23.0, 113.1, 23.1))


# --------------------------------------------------------------------------- euclidean fallback
@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 1000)), min_size=1, max_size=15),
    st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 1000)), min_size=1, max_size=5),
    st.floats(0, 800),
    st.floats(1.0, 1.5),
)
def test_euclidean_costs_match_brute_force(
    units_xy: list, schools_xy: list, limit: float, detour: float
) -> None:
    units = points_gdf(np.array(units_xy), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(np.array(schools_xy), prefix="s", crs=CRS_M)
    got = network.euclidean_costs(units, schools, max_distance_m=limit, detour=detour)
    d = (
        np.hypot(*(np.array(units_xy)[:, None, :] - np.array(schools_xy)[None, :, :]).transpose(2, 0, 1))
        * detour
    )
    expected = {(i, f"s{j}") for i, j in zip(*np.nonzero(d <= limit), strict=True)}
    near_edge = np.abs(d - limit) < 1e-9
    got_set = set(zip(got["unit_id"], got["school_id"], strict=True))
    assert got_set - expected <= {(i, f"s{j}") for i, j in zip(*np.nonzero(near_edge), strict=True)}
    assert expected - got_set <= {(i, f"s{j}") for i, j in zip(*np.nonzero(near_edge), strict=True)}


# --------------------------------------------------------------------------- command line
def test_cli_costs(tmp_path: Path) -> None:
    roads = tmp_path / "roads.gpkg"
    river_lines().to_file(roads, driver="GPKG")
    units = points_gdf(
        np.array([at(100, -20), at(1500, -20), at(100, 150)]), prefix=None, crs=CRS_M, pop=True
    )
    units.reset_index().to_file(tmp_path / "units.gpkg", driver="GPKG")
    schools = points_gdf(np.array([at(100, 320), at(900, -20)]), prefix="s", crs=CRS_M)
    schools.reset_index().to_crs(4326).to_file(tmp_path / "schools.geojson", driver="GeoJSON")
    out = tmp_path / "costs.parquet"
    args = [
        "costs",
        "--network",
        str(roads),
        "--units",
        str(tmp_path / "units.gpkg"),
        "--schools",
        str(tmp_path / "schools.geojson"),
        "--max-distance",
        "1500",
        "--max-snap",
        "100",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "pairs kept: 2" in result.output
    assert "unreachable units: 1 (population 3)" in result.output
    costs = pd.read_parquet(out)
    assert list(costs.columns) == ["unit_id", "school_id", "distance_m", "time_s"]
    assert costs["distance_m"].round(3).tolist() == [840.0, 640.0]
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # like any file the user writes, not private 0600
    assert sorted(p.name for p in tmp_path.iterdir() if "siting-tmp" in p.name) == []
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output  # one "Error: ..." line
    assert CliRunner().invoke(cli, [*args, "--overwrite"]).exit_code == 0
    assert not list(tmp_path.glob("*.tmp*"))


def test_sample_city_river_changes_the_nearest_school(tmp_path: Path) -> None:
    sample = pytest.importorskip("siting.sample", reason="siting.sample (the sample city) is not available")
    city = sample.generate_city(residents=120_000, width_km=6, height_km=5)
    files = sample.write_city(city, tmp_path)
    g = network.load_network(files["roads.osm"])
    crs = g.graph["crs"]
    schools = city.schools.to_crs(crs)
    left, bottom, right, top = network.network_bounds(g)
    gx, gy = np.meshgrid(np.arange(left, right, 150.0), np.arange(bottom, top, 150.0))
    units = points_gdf(np.column_stack([gx.ravel(), gy.ravel()]), prefix=None, crs=crs, pop=True)
    walk = network.travel_costs(g, units, schools, max_distance_m=1e6, max_snap_m=300)
    line = network.euclidean_costs(units, schools, max_distance_m=1e6)
    by_walk = walk.loc[walk.groupby("unit_id")["distance_m"].idxmin()].set_index("unit_id")["school_id"]
    by_line = line.loc[line.groupby("unit_id")["distance_m"].idxmin()].set_index("unit_id")["school_id"]
    differ = (by_walk != by_line.reindex(by_walk.index)).sum()
    assert differ >= 1, "the river should make some unit's nearest school by walk differ from straight line"


def test_units_walk_from_population_point_else_representative_point() -> None:
    g = network.graph_from_lines(river_lines())
    units = points_gdf(np.array([at(100, -20), at(100, -20)]), prefix=None, crs=CRS_M, pop=True)
    units.loc[0, ["pop_x", "pop_y"]] = at(300, -20)
    units.loc[1, ["pop_x", "pop_y"]] = np.nan
    schools = points_gdf(np.array([at(900, -20)]), prefix="s", crs=CRS_M)
    schools["x"], schools["y"] = 113.1, 23.0  # lon/lat left over from a CSV: must not be used
    costs = network.travel_costs(g, units, schools, max_distance_m=5000)
    assert costs["distance_m"].round(6).tolist() == [640.0, 840.0]


# --------------------------------------------------------------------------- .osm.pbf and .osm with pyosmium
PBF = SHARED / "data" / "osm" / "Helsinki.osm.pbf"
SAMPLE_ROADS = REPO / "data" / "raw" / "sample" / "roads.osm"


def need_pbf() -> Path:
    if not PBF.exists():
        pytest.skip(f"shared OSM PBF extract missing: {PBF}")
    return PBF


def osm_copy(source: Path, target: Path) -> Path:
    """Re-encode an OSM file with pyosmium (the format follows ``target``'s suffix)."""
    import osmium

    with osmium.SimpleWriter(str(target)) as writer:
        for obj in osmium.FileProcessor(str(source)):
            writer.add(obj)
    return target


def graph_facts(g: nx.MultiDiGraph) -> tuple[int, int, float]:
    return (
        g.number_of_nodes(),
        g.number_of_edges(),
        round(sum(d["length"] for *_, d in g.edges(data=True)), 3),
    )


def test_pbf_and_xml_of_the_same_area_give_the_same_graph_and_costs(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="siting.network"):
        from_pbf = network.load_network(need_pbf())
    assert "not in the file (a clipped extract)" in caplog.text  # the Helsinki extract cuts ways at its edge
    from_xml = network.load_network(osm_copy(PBF, tmp_path / "helsinki.osm"))
    from_bz2 = network.load_network(osm_copy(PBF, tmp_path / "helsinki.osm.bz2"))
    assert graph_facts(from_pbf) == graph_facts(from_xml) == graph_facts(from_bz2)
    assert graph_facts(from_pbf)[0] > 2000 and from_pbf.graph["crs"].to_epsg() == 32635
    assert set(from_pbf.nodes) == set(from_xml.nodes)
    for attr in ("x", "y", "length", "highway", "geometry", "osmid"):
        on = "edges" if attr in {"length", "highway", "geometry", "osmid"} else "nodes"
        assert any(attr in d for *_, d in getattr(from_pbf, on)(data=True)), attr
    left, bottom, right, top = network.network_bounds(from_pbf)
    rng = np.random.default_rng(2)
    uxy = np.column_stack([rng.uniform(left, right, 60), rng.uniform(bottom, top, 60)])
    sxy = np.column_stack([rng.uniform(left, right, 6), rng.uniform(bottom, top, 6)])
    costs = [
        network.travel_costs(
            g,
            points_gdf(uxy, prefix=None, crs=g.graph["crs"], pop=True),
            points_gdf(sxy, prefix="s", crs=g.graph["crs"]),
            max_distance_m=1500,
        )
        for g in (from_pbf, from_xml)
    ]
    assert len(costs[0]) > 100
    pd.testing.assert_frame_equal(costs[0], costs[1], atol=1e-6)


def test_osmium_reader_builds_the_graph_osmnx_builds(tmp_path: Path) -> None:
    """On an extract of walkable roads only, the streamed graph is osmnx's graph_from_xml graph."""
    if not SAMPLE_ROADS.exists():
        pytest.skip(f"the bundled sample city is missing: {SAMPLE_ROADS}")
    ours = network.load_network(osm_copy(SAMPLE_ROADS, tmp_path / "roads.osm.pbf"))
    raw = ox.graph_from_xml(SAMPLE_ROADS, bidirectional=True, simplify=True, retain_all=True)
    theirs = ox.project_graph(raw, to_crs=ours.graph["crs"])
    assert list(ours.nodes) == list(theirs.nodes)
    assert set(ours.edges(keys=True)) == set(theirs.edges(keys=True))
    for u, v, k, d in theirs.edges(keys=True, data=True):
        mine = ours.edges[u, v, k]
        assert mine["length"] == pytest.approx(d["length"], abs=1e-9)
        assert {a: mine.get(a) for a in d if a != "geometry"} == {
            a: v for a, v in d.items() if a != "geometry"
        }
    for n, d in theirs.nodes(data=True):
        assert ours.nodes[n]["x"] == pytest.approx(d["x"]) and ours.nodes[n].keys() == d.keys()


def test_pbf_named_osm_is_read_by_its_content_and_a_non_osm_file_is_refused(tmp_path: Path) -> None:
    renamed = tmp_path / "city.osm"
    renamed.write_bytes(need_pbf().read_bytes())
    assert graph_facts(network.load_network(renamed)) == graph_facts(network.load_network(PBF))
    junk = tmp_path / "city.osm.pbf"
    junk.write_bytes(b"\x00\x01 not osm at all \xff" * 50)
    with pytest.raises(NetworkError, match=r"city\.osm\.pbf: cannot read it as OpenStreetMap data"):
        network.load_network(junk)
    empty = tmp_path / "no-roads.osm"
    empty.write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version='0.6'>\n"
        "<node id='1' lat='23.0' lon='113.0'/><node id='2' lat='23.001' lon='113.0'/>\n"
        "<way id='9'><nd ref='1'/><nd ref='2'/><tag k='building' v='yes'/></way>\n</osm>\n",
        encoding="utf-8",
    )
    with pytest.raises(NetworkError, match=r"no-roads\.osm: the file has no walkable road"):
        network.load_network(empty)


def test_walk_filter_uses_every_tag_before_simplifying(tmp_path: Path) -> None:
    """foot=no, area=yes and motorways are dropped even though osmnx keeps none of those tags on edges."""
    from siting.network.pbf import walkable

    assert walkable({"highway": "residential"})
    for tags in (
        {"highway": "motorway_link"},
        {"highway": "residential", "foot": "no"},
        {"highway": "pedestrian", "area": "yes"},
        {"highway": "service", "service": "private"},
        {"highway": "primary", "sidewalk": "separate"},
        {"building": "yes"},
    ):
        assert not walkable(tags), tags
    assert walkable({"highway": "motorway"}, walk=False) and not walkable({"name": "x"}, walk=False)
    nodes = "".join(f"<node id='{i}' lat='23.0' lon='{113 + i * 0.001:.3f}'/>" for i in range(1, 5))
    ways = (
        "<way id='1'><nd ref='1'/><nd ref='2'/><tag k='highway' v='residential'/></way>"
        "<way id='2'><nd ref='2'/><nd ref='3'/><tag k='highway' v='residential'/><tag k='foot' v='no'/></way>"
        "<way id='3'><nd ref='3'/><nd ref='4'/><tag k='highway' v='footway'/></way>"
    )
    path = tmp_path / "foot.osm"
    path.write_text(f"<?xml version='1.0'?><osm version='0.6'>{nodes}{ways}</osm>", encoding="utf-8")
    walk = network.load_network(path)
    assert walk.number_of_edges() == 4 and walk.graph["n_components"] == 2  # the foot=no link is gone
    assert network.load_network(path, network_type="all").graph["n_components"] == 1


# --------------------------------------------------------------------------- snapping to the main network
def fragment_lines() -> gpd.GeoDataFrame:
    """A 3 km main street and, 30 m north of its east end, a separate 60 m path (a two-node fragment)."""
    lines = [
        LineString([at(0, 0), at(3000, 0)]),
        LineString([at(0, 0), at(0, 1000)]),
        LineString([at(2900, 30), at(2960, 30)]),
    ]
    return gpd.GeoDataFrame({"name": ["main", "side", "path"]}, geometry=lines, crs=CRS_M)


def test_school_beside_a_fragment_snaps_to_the_main_network(caplog: pytest.LogCaptureFixture) -> None:
    g = network.graph_from_lines(fragment_lines())
    assert nx.number_weakly_connected_components(g) == 2
    units = points_gdf(np.array([at(2500, -20), at(100, 500)]), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(
        np.array([at(2930, 40)]), prefix="s", crs=CRS_M
    )  # 10 m from the path, 40 m from main
    with caplog.at_level(logging.WARNING, logger="siting.network"):
        costs = network.travel_costs(g, units, schools, max_distance_m=2000)
    assert costs["unit_id"].tolist() == [0]
    assert costs["distance_m"].iloc[0] == pytest.approx(20 + 430 + 40)
    assert "schools: 1 point(s) lie nearest a road fragment" in caplog.text and "'s0'" in caplog.text
    assert "1 of 2 home unit(s) (population 2) reach no school within the walking limit: 1" in caplog.text
    # snapping to every component (the old behaviour) leaves the school on its fragment, reaching nobody
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="siting.network"):
        alone = network.travel_costs(g, units, schools, max_distance_m=2000, min_component_m=0)
    assert alone.empty
    assert "1 of 1 school(s) reach no home within their walking limit: 's0'" in caplog.text
    snapped = network.snap_points(g, schools, max_snap_m=100)
    assert snapped.loc["s0", "access_m"] == pytest.approx(40)
    with pytest.raises(InputError, match="min_component_m must be"):
        network.snap_points(g, schools, max_snap_m=100, min_component_m=-1)


def test_large_separate_component_is_kept_and_threshold_is_a_parameter() -> None:
    island = gpd.GeoDataFrame(
        geometry=[LineString([at(0, 0), at(3000, 0)]), LineString([at(0, 500), at(2500, 500)])], crs=CRS_M
    )
    g = network.graph_from_lines(island)
    units = points_gdf(np.array([at(1000, 520)]), prefix=None, crs=CRS_M, pop=True)
    schools = points_gdf(np.array([at(1200, 520)]), prefix="s", crs=CRS_M)
    near = network.travel_costs(g, units, schools, max_distance_m=1000, max_snap_m=100)
    assert near["distance_m"].tolist() == pytest.approx([240.0])  # the 2.5 km island counts
    only_largest = network.travel_costs(
        g, units, schools, max_distance_m=1000, max_snap_m=100, min_component_m=float("inf")
    )
    assert only_largest.empty  # both are too far from the largest component to snap


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_distances_widening_search_equals_the_unbounded_one(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Searches from 1 m outwards give exactly the unbounded distances; other components stay inf."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    from siting.network import _arrays

    rng = np.random.default_rng(seed)
    n = 300
    u, v = rng.integers(0, n, 900), rng.integers(0, n, 900)
    keep = (u != v) & ((u < 250) == (v < 250))  # nodes 250+ form other components
    w = rng.uniform(5.0, 800.0, keep.sum())
    m = sp.csr_matrix((w, (u[keep], v[keep])), shape=(n, n))
    m = sp.csr_matrix(m.maximum(m.T))
    a, b = rng.integers(0, n, 400), rng.integers(0, n, 400)
    a[:3] = -1  # not snapped
    off_a, off_b = rng.uniform(0, 30, 400), rng.uniform(0, 30, 400)
    full = dijkstra(m, directed=True)
    want = np.where(a >= 0, full[a, b] + off_a + off_b, np.inf)
    monkeypatch.setattr(_arrays, "FIRST_REACH_M", 1.0)
    got = _arrays.pair_distances(m, a, off_a, b, off_b)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.isinf(got).any() and np.isfinite(got).sum() > 100  # both kinds were asked
