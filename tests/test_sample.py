"""The bundled sample city: deterministic, committed, valid in every format, Foshan-like where it matters."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from siting.cli import cli
from siting.errors import InputError, OutputExistsError
from siting.sample import CELL_DEG, DISTRICTS, NODATA, City, city_summary, generate_city, write_city
from siting.standards import LEVELS, LEVELS_SERVED, SCHOOL_KINDS, Standards

from .conftest import SAMPLE

METRIC = "EPSG:32649"
STD = Standards.foshan()


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city()


@pytest.fixture(scope="module")
def written(city, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("sample") / "sample"
    write_city(city, dest)
    return dest


@pytest.fixture(scope="module")
def graph(written):
    import osmnx as ox

    return ox.graph_from_xml(written / "roads.osm", simplify=True, retain_all=True)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------------------------------- determinism
def test_two_runs_write_identical_bytes(written, tmp_path):
    again = tmp_path / "again"
    write_city(generate_city(), again)
    first, second = _digests(written), _digests(again)
    assert len(first) == 10
    assert first == second


def test_a_different_seed_gives_a_different_city(city):
    other = generate_city(seed=1)
    assert not np.array_equal(other.population, city.population)


def test_committed_sample_is_up_to_date(written):
    if not (SAMPLE / "population.tif").exists():
        pytest.skip(f"the committed sample is missing under {SAMPLE}")
    fresh, committed = _digests(written), _digests(SAMPLE)
    assert sorted(committed) == sorted(fresh), "regenerate with `siting sample data/raw/sample --overwrite`"
    for rel in fresh:
        if rel.endswith(".tif") and fresh[rel] != committed[rel]:
            # another GDAL may lay out the same raster differently: compare what it holds
            with rasterio.open(written / rel) as a, rasterio.open(SAMPLE / rel) as b:
                assert a.profile == b.profile, rel
                np.testing.assert_array_equal(a.read(1), b.read(1))
        else:
            assert fresh[rel] == committed[rel], (
                f"{rel} is stale: run `siting sample data/raw/sample --overwrite`"
            )


# ---------------------------------------------------------------------------------------------- formats
def test_population_raster_is_worldpop_like(written):
    with rasterio.open(written / "population.tif") as src:
        assert src.crs.to_epsg() == 4326
        assert src.dtypes == ("float32",)
        assert src.nodata == NODATA
        assert src.res == pytest.approx((CELL_DEG, CELL_DEG), rel=1e-9)
        assert src.res[0] == pytest.approx(0.000833333, rel=1e-5)
        assert src.compression is not None
        data = src.read(1)
    valid = data != NODATA
    assert (~valid).any(), "cells outside the study area should be nodata"
    assert (data[valid] >= 0).all()
    assert 445_000 <= float(data[valid].astype(np.float64).sum()) <= 455_000
    assert (data[valid] == 0).sum() > 50, "the river holds no residents"


def test_osmnx_reads_the_roads(graph):
    import osmnx as ox

    assert graph.number_of_nodes() > 1_000
    assert ox.convert.to_undirected(graph).number_of_edges() > 1_500
    import networkx as nx

    assert nx.number_weakly_connected_components(graph) == 1
    highways = {str(h) for _, _, h in graph.edges(data="highway")}
    assert {"primary", "secondary", "residential", "unclassified", "track"} <= highways


def test_roads_cross_the_river_only_on_bridges(city, graph):
    import osmnx as ox

    river = city.water.geometry.iloc[0]
    bridges = city.roads[city.roads["bridge"]]
    others = city.roads[~city.roads["bridge"]]
    assert 2 <= len(bridges) <= 3
    assert shapely.intersects(river, bridges.geometry.to_numpy()).all()
    assert not shapely.intersects(river, others.geometry.to_numpy()).any()
    # the same through osmnx: simplified edges that carry no bridge tag stay dry
    edges = ox.convert.graph_to_gdfs(graph, nodes=False)
    has_bridge = edges["bridge"].map(lambda b: "yes" in (b if isinstance(b, list) else [b]))
    assert has_bridge.any()
    assert not shapely.intersects(river, edges.geometry[~has_bridge].to_numpy()).any()


def test_some_families_live_across_the_river_from_their_nearest_school(city):
    """Straight-line and walking distances must disagree somewhere: the nearest school is over the water."""
    grid = city.population
    rows, cols = np.nonzero(grid > 0)
    lon = city.transform.c + city.transform.a * (cols + 0.5)
    lat = city.transform.f + city.transform.e * (rows + 0.5)
    north = city.districts[city.districts["name"].isin(["Old Town", "Rural Edge"])].union_all()
    cell_north = shapely.contains_xy(north, lon, lat)
    schools = city.schools[city.schools["level"].isin(["primary", "nine_year"])].to_crs(METRIC)
    school_north = shapely.contains_xy(
        north, *np.array(city.schools.loc[schools.index].geometry.apply(lambda p: (p.x, p.y)).tolist()).T
    )
    cells = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(METRIC)
    dist, nearest = cKDTree(np.column_stack([schools.geometry.x, schools.geometry.y])).query(
        np.column_stack([cells.x, cells.y])
    )
    across = (cell_north != school_north[nearest]) & (dist < 1_000) & (grid[rows, cols] > 5)
    assert across.sum() >= 3


def _read(path: Path) -> gpd.GeoDataFrame:
    frame = gpd.read_file(path)
    assert frame.crs.to_epsg() == 4326
    return frame


def test_schools_follow_the_contract(written):
    schools = _read(written / "schools.geojson").set_index("school_id")
    assert schools.index.is_unique
    required = [
        "name", "level", "status", "public", "district", "area_m2", "central",
        *(f"{c}_{lv}" for c in ("classes", "capacity", "enrolled", "max_extra_classes") for lv in LEVELS),
        "floor_area_m2", "sports_area_m2", "equipment_value_yuan", "backbone_teachers",
    ]  # fmt: skip
    assert set(required) <= set(schools.columns)
    assert set(schools["level"]) == {"primary", "junior", "nine_year"} and set(schools["level"]) <= set(
        SCHOOL_KINDS
    )
    assert (schools["status"] == "existing").all()
    assert set(schools["district"]) == set(DISTRICTS)
    assert (schools.geometry.geom_type == "Point").all()
    for level in LEVELS:
        serves = schools["level"].map(lambda k, lv=level: lv in LEVELS_SERVED[k])
        classes = schools[f"classes_{level}"]
        assert (schools[f"capacity_{level}"] == classes * STD.class_size[level]).all()
        assert (classes[serves] > 0).all() and (classes[~serves] == 0).all()
        assert (schools[f"enrolled_{level}"][~serves] == 0).all()
    # town schools have 24-42 (primary) / 18-36 (junior) classes; village schools 6-18
    primary = schools.loc[schools["level"] == "primary", "classes_primary"]
    junior = schools.loc[schools["level"] == "junior", "classes_junior"]
    assert primary.between(6, 42).all() and junior.between(6, 36).all()
    assert (primary >= 24).sum() >= 10 and (junior >= 18).sum() >= 3
    assert (primary <= 18).any(), "the rural edge has small village schools"
    for col in ("floor_area_m2", "sports_area_m2", "equipment_value_yuan", "backbone_teachers"):
        per_pupil = schools[col] / (schools["enrolled_primary"] + schools["enrolled_junior"])
        assert (per_pupil > 0).all() and per_pupil.std() / per_pupil.mean() > 0.1, col
    assert ((schools["max_extra_classes_primary"] + schools["max_extra_classes_junior"]) > 0).sum() >= 2


def test_almost_everyone_has_a_school_within_reach(city):
    """Village schools are placed so that hamlets are not left without a school nearby."""
    from scipy.spatial import cKDTree

    from siting.sample.schools import _VILLAGE_REACH

    metric = city.metric_crs
    pts = city.schools.to_crs(metric)
    rows, cols = np.nonzero(city.population > 0)
    xs, ys = rasterio.transform.xy(city.transform, rows, cols)
    cells = gpd.GeoSeries.from_xy(xs, ys, crs="EPSG:4326").to_crs(metric)
    pop = city.population[rows, cols]
    for level in LEVELS:
        serving = pts[pts["level"].map(lambda k, lv=level: lv in LEVELS_SERVED[k])]
        dist, _ = cKDTree(np.c_[serving.geometry.x, serving.geometry.y]).query(np.c_[cells.x, cells.y])
        share = pop[dist <= _VILLAGE_REACH[level]].sum() / pop.sum()
        assert share > 0.95, (level, share)


def test_some_schools_are_over_capacity_with_large_classes(city):
    s = city.schools
    large = np.zeros(len(s), dtype=bool)
    for level in LEVELS:
        serves = s[f"classes_{level}"] > 0
        per_class = s[f"enrolled_{level}"].where(serves) / s[f"classes_{level}"].where(serves)
        large |= (per_class >= STD.large_class_min).to_numpy()
    assert large.sum() >= 2
    assert (s.loc[large, "district"] == "Newtown").any()


def test_sites_are_realistic_parcels(city, written):
    sites = _read(written / "sites.geojson").set_index("school_id")
    assert 10 <= len(sites) <= 20 and sites.index.is_unique
    assert {"name", "level", "status", "district", "area_m2", "central", "available_from"} <= set(
        sites.columns
    )
    assert (sites["status"] == "site").all()
    assert set(sites["level"]) == {"primary", "junior", "nine_year"}
    assert sites["area_m2"].between(15_000, 60_000).all()
    assert sites["central"].any() and not sites["central"].all()
    assert sites["available_from"].between(2025, 2030).all()
    assert sites["district"].isin(["Newtown", "Old Town"]).mean() >= 0.6
    parcels = sites.to_crs(METRIC)
    np.testing.assert_allclose(parcels.area, sites["area_m2"], rtol=0.01)  # stated area is the parcel's
    assert not shapely.intersects(
        city.water.to_crs(METRIC).geometry.iloc[0], parcels.geometry.to_numpy()
    ).any()
    assert parcels.geometry.union_all().area == pytest.approx(parcels.area.sum(), rel=1e-9)  # no overlaps
    assert parcels.within(city.districts.to_crs(METRIC).union_all()).all()


def test_catchments_partition_the_study_area(city, written):
    area = _read(written / "districts.geojson").to_crs(METRIC)
    assert list(area["name"]) == list(DISTRICTS)
    study = area.union_all()
    assert study.area == pytest.approx(9_000 * 7_500, rel=0.005)
    assert area.area.sum() == pytest.approx(study.area, rel=1e-7)  # districts do not overlap
    for level in LEVELS:
        catch = _read(written / f"catchments_{level}.geojson").to_crs(METRIC)
        serving = city.schools[city.schools["level"].map(lambda k, lv=level: lv in LEVELS_SERVED[k])]
        assert sorted(catch["school_id"]) == sorted(serving.index)
        union = catch.union_all()
        assert catch.area.sum() == pytest.approx(union.area, rel=1e-7), "catchments overlap"
        # coordinates are rounded to 1e-7 degrees (about 5 mm), so edges may differ by slivers that thin
        assert union.symmetric_difference(study).area < 1e-5 * study.area, "catchments do not cover the area"
        # each school lies in its own catchment (nearest-school polygons)
        points = serving.to_crs(METRIC).geometry.loc[catch["school_id"]]
        assert catch.geometry.contains(points.reset_index(drop=True)).all()


def test_seats_fall_short_of_demand_mostly_in_newtown(city):
    s = city_summary(city)
    for level in LEVELS:
        ratio = s["total"][f"capacity_{level}"] / s["total"][f"demand_{level}"]
        assert 0.85 < ratio < 1.0, level
        newtown = s["districts"]["Newtown"]
        assert newtown[f"capacity_{level}"] / newtown[f"demand_{level}"] < 0.7
    shares = {d: s["districts"][d]["residents"] / s["residents"] for d in DISTRICTS}
    assert shares["Old Town"] > 0.35 and shares["Newtown"] > 0.2 and shares["Rural Edge"] < 0.12


def test_scenario_file_points_at_the_files(written):
    path = written / "scenarios" / "sample.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["name"] == "sample"
    for rel in (
        data["population"]["raster"], data["districts"]["path"], data["network"]["osm"],
        data["schools"], data["sites"], *data["current_catchments"].values(),
    ):  # fmt: skip
        assert (path.parent / rel).resolve().is_file(), rel
    config = pytest.importorskip("siting.config")
    assert config.load_scenario(path).name == "sample"


def test_total_size_is_under_5_mb(written):
    total = sum(p.stat().st_size for p in written.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024


# ---------------------------------------------------------------------------------------------- writing
def test_refuses_to_overwrite_without_the_flag(tmp_path):
    small = generate_city(residents=30_000, width_km=3, height_km=3)
    dest = tmp_path / "city"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_city(small, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]
    paths = write_city(small, dest, overwrite=True, name="tiny")
    assert (dest / "scenarios" / "tiny.yaml").is_file() and paths["scenarios/tiny.yaml"].is_file()
    assert (dest / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["city"], "no temporary folder is left behind"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"width_km": 0.5}, "width_km"),
        ({"residents": 10}, "residents"),
        ({"n_primary": 0, "n_nine_year": 0}, "level"),
    ],
)
def test_bad_sizes_are_refused_by_name(kwargs, field):
    with pytest.raises(InputError, match=field):
        generate_city(**kwargs)


def test_bad_scenario_name_is_refused(tmp_path):
    with pytest.raises(InputError, match="Bad Name"):
        write_city(generate_city(residents=30_000, width_km=3, height_km=3), tmp_path / "x", name="Bad Name")


def test_cli_writes_refuses_then_overwrites(tmp_path):
    runner = CliRunner()
    dest = tmp_path / "small"
    args = ["-q", "sample", str(dest), "--residents", "40000", "--width-km", "4", "--height-km", "3.5"]
    result = runner.invoke(cli, [*args, "--name", "small", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "roads.osm" in result.output and "40,000 residents" in result.output
    assert (dest / "scenarios" / "small.yaml").is_file()
    again = runner.invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output  # one "Error: ..." line
    assert runner.invoke(cli, [*args, "--overwrite"]).exit_code == 0
    assert (dest / "scenarios" / "sample.yaml").is_file()


# ---------------------------------------------------------------------------------------------- properties
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    residents=st.integers(20_000, 150_000),
    width=st.floats(3.0, 7.0),
    height=st.floats(3.0, 7.0),
    seed=st.integers(0, 2**31),
)
def test_any_small_city_is_consistent(residents, width, height, seed):
    c = generate_city(residents=residents, width_km=width, height_km=height, seed=seed)
    valid = c.population[c.population != NODATA].astype(np.float64)
    assert math.isclose(valid.sum(), residents, rel_tol=1e-3)
    river = c.water.geometry.iloc[0]
    assert not shapely.intersects(river, c.roads.geometry[~c.roads["bridge"]].to_numpy()).any()
    assert c.roads["bridge"].sum() >= 2
    study = c.districts.union_all()
    assert shapely.contains(study, c.schools.geometry.to_numpy()).all()
    assert not shapely.intersects(river, c.schools.geometry.to_numpy()).any()
    nodes = c.road_nodes
    assert nodes.index.min() == 1 and nodes.index.is_monotonic_increasing
    used = {n for way in c.roads["nodes"] for n in way}
    assert used == set(nodes.index)


@pytest.mark.slow
def test_city_scale_generation_is_fast_and_sized_like_nanhai():
    import time

    start = time.perf_counter()
    big = generate_city(residents=3_700_000, width_km=30, height_km=27, village_schools=False)
    elapsed = time.perf_counter() - start
    assert elapsed < 60
    n_schools = len(big.schools)
    assert 200 <= n_schools <= 300
    assert 50 <= len(big.sites) <= 70
    assert len(big.road_nodes) > 60_000
    valid = big.population[big.population != NODATA]
    assert valid.astype(np.float64).sum() == pytest.approx(3_700_000, rel=1e-3)
    assert 15_000 < 810e6 / 200**2 < 25_000
