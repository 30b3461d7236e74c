"""Tests of siting.demand: conservation, WorldPop conventions, windowed reads, errors, seats, years, CLI."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siting import demand
from siting.cli import cli
from siting.demand import allocate as demand_allocate
from siting.demand import units as demand_units
from siting.errors import CRSError, InputError
from siting.standards import Standards

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
WUHAN = SHARED / "data" / "worldpop" / "pop_20_f_wuhan.tif"
WUHAN_SUM = 514_894.7


def from_origin(west: float, north: float, xres: float, yres: float) -> Affine:
    """North-up transform (rasterio's own from_origin warns under affine 3.1)."""
    return Affine(xres, 0.0, west, 0.0, -yres, north)


RES = 0.0009  # degrees, about 100 m at lat 23
LON0, LAT0 = 113.0, 23.2  # top-left corner of the synthetic rasters


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    transform=None,
    crs: str | None = "EPSG:4326",
    nodata: float | None = None,
    dtype: str = "float32",
    tiled: bool = False,
) -> Path:
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    profile = {
        "driver": "GTiff",
        "height": data.shape[1],
        "width": data.shape[2],
        "count": data.shape[0],
        "dtype": dtype,
        "transform": transform or from_origin(LON0, LAT0, RES, RES),
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    if tiled:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(dtype))
    return path


def overlap_1d(edges: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fraction of each interval [edges[i], edges[i+1]] (sorted either way) inside [lo, hi]."""
    a = np.minimum(edges[:-1], edges[1:])
    b = np.maximum(edges[:-1], edges[1:])
    return np.clip(np.minimum(b, hi) - np.maximum(a, lo), 0, None) / (b - a)


def expected_bbox_sum(values: np.ndarray, transform, bbox) -> float:
    """Independent reference: Σ value × (x overlap share) × (y overlap share) for a bbox in the raster CRS."""
    rows, cols = values.shape
    xs = transform.c + transform.a * np.arange(cols + 1)
    ys = transform.f + transform.e * np.arange(rows + 1)
    fx = overlap_1d(xs, bbox[0], bbox[2])
    fy = overlap_1d(ys, bbox[1], bbox[3])
    return float((values * fy[:, None] * fx[None, :]).sum())


@pytest.fixture
def pop_raster(tmp_path: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(42)
    values = rng.gamma(2.0, 10.0, size=(40, 50)).astype("float32")
    return write_raster(tmp_path / "pop.tif", values, nodata=-99999.0), values.astype("float64")


def raster_bbox(n_rows: int, n_cols: int) -> tuple[float, float, float, float]:
    return (LON0, LAT0 - n_rows * RES, LON0 + n_cols * RES, LAT0)


# ------------------------------------------------------------------------------------------ conservation
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.tuples(st.integers(10, 50), st.integers(10, 50)),
    frac=st.tuples(*(st.floats(0.0, 0.45) for _ in range(4))),
    cell=st.floats(30.0, 600.0),
    seed=st.integers(0, 2**16),
)
def test_total_conserved_on_misaligned_grids(tmp_path_factory, shape, frac, cell, seed) -> None:
    rng = np.random.default_rng(seed)
    values = rng.gamma(1.5, 20.0, size=shape)
    values[rng.random(shape) < 0.2] = 0.0
    path = write_raster(tmp_path_factory.mktemp("r") / "pop.tif", values, dtype="float64")
    left, bottom, right, top = raster_bbox(*shape)
    w, h = right - left, top - bottom
    bbox = (left + frac[0] * w, bottom + frac[1] * h, right - frac[2] * w, top - frac[3] * h)
    expected = expected_bbox_sum(values, from_origin(LON0, LAT0, RES, RES), bbox)
    if expected <= 0:
        return
    units, report = demand_units._build_units(
        path, area=bbox, area_crs=None, cell_size_m=cell, units=None, crs=None, band=None, district_field=None
    )
    assert abs(report["raster_sum"] - expected) / expected < 1e-9
    assert abs(units["population"].sum() - expected) / expected < 1e-3
    assert (units["population"] > 0).all()
    assert units.index.is_unique and units.index.dtype == "int64"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offset=st.tuples(st.floats(-300.0, 300.0), st.floats(-300.0, 300.0)),
    cell=st.floats(80.0, 400.0),
    study=st.sampled_from(["EPSG:32649", "EPSG:3857", "EPSG:32650"]),
)
def test_total_conserved_across_crss(tmp_path_factory, offset, cell, study) -> None:
    """A projected (UTM 49N) census grid, a study area given in EPSG:4326, units in a third CRS."""
    rng = np.random.default_rng(7)
    values = rng.gamma(2.0, 5.0, size=(30, 30))
    x0, y0 = 700_000.0 + offset[0], 2_570_000.0 + offset[1]
    transform = from_origin(x0, y0, 100.0, 100.0)
    path = write_raster(
        tmp_path_factory.mktemp("r") / "utm.tif",
        values,
        transform=transform,
        crs="EPSG:32649",
        dtype="float64",
    )
    box_utm = shapely.box(x0 + 420, y0 - 2_630, x0 + 2_555, y0 - 380)
    area_ll = gpd.GeoSeries([box_utm], crs="EPSG:32649").to_crs(4326).envelope.iloc[0]
    area = gpd.GeoDataFrame({"name": ["a"]}, geometry=[area_ll], crs="EPSG:4326")
    # brute-force reference: every cell intersected with the area (densified) in the raster CRS
    area_r = gpd.GeoSeries([shapely.segmentize(area_ll, 1e-4)], crs=4326).to_crs("EPSG:32649").iloc[0]
    r, c = np.indices(values.shape)
    cells = shapely.box(x0 + c * 100, y0 - (r + 1) * 100, x0 + (c + 1) * 100, y0 - r * 100).ravel()
    share = shapely.area(shapely.intersection(cells, area_r)) / 10_000.0
    expected = float((values.ravel() * share).sum())
    units, report = demand_units._build_units(
        path,
        area=area,
        area_crs=None,
        cell_size_m=cell,
        units=None,
        crs=study,
        band=None,
        district_field="name",
    )
    assert abs(report["raster_sum"] - expected) / expected < 1e-6
    assert abs(units["population"].sum() - expected) / expected < 1e-3
    assert units.crs.equals(study)
    assert (units["district"] == "a").all()


def grid_vs_exact(path: Path, bbox, cell: float) -> tuple[gpd.GeoDataFrame, pd.Series]:
    grid = demand.units_from_raster(path, area=bbox, cell_size_m=cell)
    exact = demand.units_from_raster(path, area=bbox, units=grid[["geometry"]])
    # grid squares cover the area up to half a sub-cell at its outer edge
    assert abs(grid["population"].sum() - exact["population"].sum()) / grid["population"].sum() < 1e-3
    return grid, (grid["population"] - exact["population"].reindex(grid.index).fillna(0)).abs()


def test_grid_allocation_converges_to_exact_area_weighting(pop_raster, monkeypatch) -> None:
    path, values = pop_raster
    bbox = (LON0 + 0.0031, LAT0 - 0.0301, LON0 + 0.0377, LAT0 - 0.0043)
    cell = 250.0
    grid, diff = grid_vs_exact(path, bbox, cell)
    # bound: residents move at most half a sub-cell (s = res / k) across a unit's edges
    res = 96.0  # m, about 0.0009° at lat 23
    k = demand_allocate._subsamples(res, cell)
    density = values.max() / (92.0 * 100.0)
    assert diff.max() <= 4 * cell * 0.5 * (res / k) * density
    monkeypatch.setattr(demand_allocate, "_SUBSAMPLE_FACTOR", 32.0)
    _, finer = grid_vs_exact(path, bbox, cell)
    assert finer.max() < 0.5 * diff.max() and finer.mean() < 0.6 * diff.mean()
    # population points lie inside their units
    inside = shapely.contains_xy(grid.geometry.values, grid["pop_x"], grid["pop_y"])
    assert inside.all()


def test_unit_ids_stable_for_origin_and_cell_size(pop_raster) -> None:
    path, _ = pop_raster
    a = demand.units_from_raster(path, area=(LON0, LAT0 - 0.02, LON0 + 0.03, LAT0), crs="EPSG:32649")
    b = demand.units_from_raster(path, area=(LON0 + 0.01, LAT0 - 0.03, LON0 + 0.04, LAT0), crs="EPSG:32649")
    shared = a.index.intersection(b.index)
    assert len(shared) > 10
    # a unit id is one 200 m square wherever the area lies; cells crossing an area's edge are cut to it
    for units in (a, b):
        r, c = demand.grid_row_col(units.index.to_numpy())
        squares = gpd.GeoSeries(
            shapely.box(c * 200.0, r * 200.0, (c + 1) * 200.0, (r + 1) * 200.0), crs=units.crs
        )
        assert squares.buffer(1e-6).contains(units.geometry.reset_index(drop=True)).all()
    whole = shared[(a.loc[shared].area > 200.0**2 - 1e-3) & (b.loc[shared].area > 200.0**2 - 1e-3)]
    assert len(whole) > 10 and a.loc[whole].geometry.geom_equals(b.loc[whole].geometry).all()
    row, col = demand.grid_row_col(a.index.to_numpy())
    assert np.array_equal(demand.grid_unit_id(row, col), a.index.to_numpy())
    cx = a.geometry.centroid.x.to_numpy()
    assert np.array_equal(np.floor(cx / 200.0).astype("int64"), col)
    assert np.array_equal(demand.grid_row_col(demand.grid_unit_id(-5, 7)), (-5, 7))


def test_grid_cells_stop_at_the_study_area_edge(pop_raster) -> None:
    # a lon/lat box is slanted in UTM: squares along its edge would reach past it without the cut
    path, _ = pop_raster
    bbox = (LON0, LAT0 - 0.02, LON0 + 0.03, LAT0)
    units = demand.units_from_raster(path, area=bbox, crs="EPSG:32649")
    edge = shapely.segmentize(shapely.box(*bbox), 0.0002)  # a lon/lat edge is curved in UTM
    area = gpd.GeoSeries([edge], crs=4326).to_crs("EPSG:32649").iloc[0]
    assert units.geometry.difference(area).area.max() < 1e-3  # m²: nothing outside
    cut = units.area < 200.0**2 - 1e-3
    assert cut.sum() > 10 and (units.area > 0).all()
    assert units.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    inside = gpd.points_from_xy(units["pop_x"], units["pop_y"])
    assert units.geometry.buffer(1e-6).contains(gpd.GeoSeries(inside, index=units.index, crs=units.crs)).all()


def test_polygon_units_exact_and_outside_population_reported(pop_raster, caplog) -> None:
    path, values = pop_raster
    bbox = raster_bbox(*values.shape)
    mid = (bbox[0] + bbox[2]) / 2
    blocks = gpd.GeoDataFrame(
        {"block": ["w", "e"]},
        geometry=[shapely.box(bbox[0], bbox[1], mid, bbox[3]), shapely.box(mid, bbox[1], bbox[2], bbox[3])],
        crs="EPSG:4326",
    ).set_index("block")
    units = demand.units_from_raster(path, area=bbox, units=blocks)
    assert list(units.index) == ["w", "e"] and units.index.name == "unit_id"
    assert units.loc["w", "population"] == pytest.approx(values[:, :25].sum(), rel=1e-6)
    assert units.loc["e", "population"] == pytest.approx(values[:, 25:].sum(), rel=1e-6)
    assert units["population"].sum() == pytest.approx(values.sum(), rel=1e-7)
    with caplog.at_level(logging.WARNING, logger="siting"):
        only_west = demand.units_from_raster(path, area=bbox, units=blocks.loc[["w"]])
    assert len(only_west) == 1
    assert "outside every unit polygon" in caplog.text


# ------------------------------------------------------------------------------------------ WorldPop
@pytest.mark.parametrize("nodata", [-99999.0, -3.4028234663852886e38, float("nan")])
def test_worldpop_nodata_conventions(tmp_path, nodata) -> None:
    values = np.full((20, 20), 3.0, dtype="float32")
    values[:5, :] = nodata
    path = write_raster(tmp_path / "wp.tif", values, nodata=nodata)
    total = demand.clipped_raster_sum(path, area=raster_bbox(20, 20))
    assert total == pytest.approx(15 * 20 * 3.0)
    units = demand.units_from_raster(path, area=raster_bbox(20, 20))
    assert units["population"].sum() == pytest.approx(900.0, rel=1e-9)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (float("nan"), "7 NaN cells"),
        (-3.4e38, "7 cells in the study area hold an undeclared nodata"),
        (-99999.0, "7 cells in the study area hold an undeclared nodata"),
        (-0.5, "7 negative cells"),
    ],
)
def test_bad_cells_are_counted_and_logged(tmp_path, caplog, bad, words) -> None:
    values = np.full((12, 12), 2.0, dtype="float32")
    values.ravel()[[3, 17, 30, 44, 60, 90, 100]] = bad
    path = write_raster(tmp_path / "bad.tif", values, nodata=None)
    with caplog.at_level(logging.WARNING, logger="siting"):
        units, report = demand.demand_from_raster(
            path, area=raster_bbox(12, 12), standards=Standards.foshan(), district_field=None
        )
    assert words in caplog.text and str(path) in caplog.text
    assert any(words in note for note in report["notes"])
    assert units["population"].sum() == pytest.approx((144 - 7) * 2.0)


def test_real_worldpop_file_clip_and_districts() -> None:
    if not WUHAN.exists():
        pytest.skip(f"real WorldPop file missing: {WUHAN}")
    with rasterio.open(WUHAN) as src:
        full = tuple(src.bounds)
    assert demand.clipped_raster_sum(WUHAN, area=full) == pytest.approx(WUHAN_SUM, abs=0.1)
    districts = gpd.GeoDataFrame(
        {"name": ["West", "East"]},
        geometry=[shapely.box(114.15, 30.45, 114.30, 30.70), shapely.box(114.30, 30.45, 114.45, 30.70)],
        crs="EPSG:4326",
    )
    units, report = demand.demand_from_raster(WUHAN, area=districts, standards=Standards.foshan())
    assert report["relative_error"] < 1e-3
    assert report["units_sum"] == pytest.approx(demand.clipped_raster_sum(WUHAN, area=districts), rel=1e-9)
    assert report["window"]["width"] <= 362 and report["window"]["height"] <= 302  # 0.30° x 0.25°
    assert units.crs.to_epsg() == 32650
    lon = gpd.GeoSeries.from_xy(units["pop_x"], units["pop_y"], crs=units.crs).to_crs(4326).x
    assert set(units["district"]) == {"West", "East"}
    assert (units.loc[lon < 114.295, "district"] == "West").all()
    assert (units.loc[lon > 114.305, "district"] == "East").all()
    assert report["seats"]["primary"] == pytest.approx(0.08 * report["units_sum"])


# ------------------------------------------------------------------------------------------ windowed reads
def test_only_the_window_is_read_from_a_large_file(tmp_path, monkeypatch) -> None:
    rows, cols = 4000, 4000  # 0.0009° cells: a 3.6° x 3.6° region, 64 MB if read whole
    path = tmp_path / "big.tif"
    profile = {
        "driver": "GTiff",
        "height": rows,
        "width": cols,
        "count": 1,
        "dtype": "float32",
        "transform": from_origin(LON0, LAT0, RES, RES),
        "crs": "EPSG:4326",
        "nodata": -99999.0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        block = np.ones((256, 256), dtype="float32")
        r0, c0 = 2048, 1024
        dst.write(block, 1, window=rasterio.windows.Window(c0, r0, 256, 256))
    reads: list[tuple[object, tuple[int, ...]]] = []
    original = rasterio.io.DatasetReader.read

    def spy(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        reads.append((kwargs.get("window"), out.shape))
        return out

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    bbox = (LON0 + (c0 + 10) * RES, LAT0 - (r0 + 60) * RES, LON0 + (c0 + 60) * RES, LAT0 - (r0 + 10) * RES)
    units = demand.units_from_raster(path, area=bbox)
    assert units["population"].sum() == pytest.approx(50 * 50, rel=1e-6)
    assert reads, "the raster was not read through DatasetReader.read"
    assert all(window is not None for window, _ in reads)
    cells_read = sum(int(np.prod(shape[-2:])) for _, shape in reads)
    assert cells_read <= 52 * 52
    assert cells_read < rows * cols / 1000


# ------------------------------------------------------------------------------------------ bad input
def test_raster_without_crs(tmp_path) -> None:
    path = write_raster(tmp_path / "nocrs.tif", np.ones((10, 10)), crs=None)
    with pytest.raises(CRSError, match=r"nocrs\.tif: the raster has no CRS"):
        demand.units_from_raster(path, area=raster_bbox(10, 10))


def test_area_not_overlapping_shows_both_bounds(pop_raster) -> None:
    path, _ = pop_raster
    with pytest.raises(InputError, match="does not overlap") as info:
        demand.units_from_raster(path, area=(10.0, 10.0, 10.1, 10.1))
    text = str(info.value)
    assert "(10, 10, 10.1, 10.1)" in text and "(113, 23.164, 113.045, 23.2)" in text
    projected = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1000, 1000)], crs="EPSG:32649")
    with pytest.raises(InputError, match="EPSG:32649 spans"):
        demand.units_from_raster(path, area=projected, district_field=None)


def test_multiband_needs_a_band(tmp_path) -> None:
    data = np.stack([np.ones((10, 10)), 2 * np.ones((10, 10))])
    path = write_raster(tmp_path / "multi.tif", data)
    with pytest.raises(InputError, match=r"2 bands .*band=N"):
        demand.units_from_raster(path, area=raster_bbox(10, 10))
    with pytest.raises(InputError, match="band 3 does not exist"):
        demand.units_from_raster(path, area=raster_bbox(10, 10), band=3)
    units = demand.units_from_raster(path, area=raster_bbox(10, 10), band=2)
    assert units["population"].sum() == pytest.approx(200.0)


def test_all_nodata_clip(tmp_path) -> None:
    values = np.full((10, 10), -99999.0, dtype="float32")
    values[0, 0] = 5.0
    path = write_raster(tmp_path / "empty.tif", values, nodata=-99999.0)
    with pytest.raises(InputError, match=r"all \d+ cells .* are nodata"):
        demand.units_from_raster(path, area=(LON0 + 0.003, LAT0 - 0.008, LON0 + 0.008, LAT0 - 0.003))


def test_cell_size_below_resolution_warns(pop_raster, caplog) -> None:
    path, _ = pop_raster
    with caplog.at_level(logging.WARNING, logger="siting"):
        units = demand.units_from_raster(path, area=raster_bbox(40, 50), cell_size_m=40.0)
    assert "below the raster's resolution" in caplog.text
    assert units["population"].sum() == pytest.approx(
        demand.clipped_raster_sum(path, area=raster_bbox(40, 50))
    )


def test_other_bad_inputs(pop_raster, tmp_path) -> None:
    path, _ = pop_raster
    with pytest.raises(InputError, match="does not exist"):
        demand.units_from_raster(tmp_path / "missing.tif", area=raster_bbox(10, 10))
    with pytest.raises(InputError, match="cell_size_m must be a positive"):
        demand.units_from_raster(path, area=raster_bbox(10, 10), cell_size_m=0)
    with pytest.raises(CRSError, match="geographic"):
        demand.units_from_raster(path, area=raster_bbox(10, 10), crs="EPSG:4326")
    districts = gpd.GeoDataFrame({"NAME_2": ["x"]}, geometry=[shapely.box(*raster_bbox(10, 10))], crs=4326)
    with pytest.raises(InputError, match=r"no district field 'name'.*NAME_2"):
        demand.units_from_raster(path, area=districts)


# ------------------------------------------------------------------------------------------ seats and years
@pytest.fixture
def small_units() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "population": [1000.0, 500.0, 250.0],
            "pop_x": [50.0, 150.0, 250.0],
            "pop_y": [50.0, 50.0, 50.0],
            "district": pd.array(["Old", "Newtown", None], dtype="str"),
        },
        geometry=[shapely.box(i * 100, 0, (i + 1) * 100, 100) for i in range(3)],
        index=pd.Index([10, 11, 12], name="unit_id", dtype="int64"),
        crs="EPSG:32649",
    )


def test_seat_demand_per_1000(small_units) -> None:
    out = demand.add_seat_demand(small_units, Standards.foshan())
    assert out["primary"].tolist() == [80.0, 40.0, 20.0]
    assert out["junior"].tolist() == [40.0, 20.0, 10.0]
    out = demand.add_seat_demand(small_units, Standards.foshan(), seats_per_1000={"junior": 50})
    assert out["junior"].tolist() == [50.0, 25.0, 12.5]
    assert "primary" not in small_units.columns
    with pytest.raises(InputError, match="unknown level 'senior'"):
        demand.add_seat_demand(small_units, Standards.foshan(), seats_per_1000={"senior": 30})


def test_project_years_and_design_demand(small_units) -> None:
    seats = demand.add_seat_demand(small_units, Standards.foshan())
    out = demand.project_years(
        seats, base_year=2025, years=[2025, 2027], rate={"default": 0.01, "Newtown": 0.10}
    )
    assert out["population_2025"].tolist() == [1000.0, 500.0, 250.0]
    assert out["population_2027"].tolist() == pytest.approx([1020.1, 605.0, 255.025])
    assert out["primary_2027"].tolist() == pytest.approx([81.608, 48.4, 20.402])
    assert out["junior_2027"].tolist() == pytest.approx([40.804, 24.2, 10.201])
    design = demand.design_demand(out, year=2027)
    assert design["primary"].tolist() == pytest.approx([81.608, 48.4, 20.402])
    assert design["population"].tolist() == [1000.0, 500.0, 250.0]
    shrinking = demand.project_years(seats, base_year=2025, years=[2025, 2026], rate={"default": -0.5})
    peak = demand.design_demand(shrinking, plan_for="max_over_years")
    assert peak["junior"].tolist() == [40.0, 20.0, 10.0]
    with pytest.raises(InputError, match=r"no rate for district\(s\) \['Newtown', 'Old'\]"):
        demand.project_years(seats, base_year=2025, years=[2026], rate={})
    with pytest.raises(InputError, match="2030 is not among the planning years"):
        demand.design_demand(out, year=2030)
    with pytest.raises(InputError, match="needs per-year demand"):
        demand.design_demand(seats, plan_for="max_over_years")


def test_demand_from_raster_with_growth(pop_raster) -> None:
    path, values = pop_raster
    _, report = demand.demand_from_raster(
        path,
        area=raster_bbox(40, 50),
        standards=Standards.foshan(),
        growth={"base_year": 2025, "years": [2025, 2030], "rate": {"default": 0.02}},
        design_year=2030,
    )
    growth = 1.02**5
    assert report["raster_sum"] == pytest.approx(values.sum())
    assert report["seats"]["primary"] == pytest.approx(0.08 * values.sum() * growth)
    assert report["seats_by_year"]["junior"][2025] == pytest.approx(0.04 * values.sum())
    assert report["population_by_year"][2030] == pytest.approx(values.sum() * growth)
    with pytest.raises(InputError, match="need yearly demand"):
        demand.demand_from_raster(
            path, area=raster_bbox(40, 50), standards=Standards.foshan(), design_year=2030
        )


def test_seat_demand_from_worldpop_age_bands(tmp_path, pop_raster) -> None:
    path, values = pop_raster
    units = demand.units_from_raster(path, area=raster_bbox(40, 50), cell_size_m=300.0)
    band5 = write_raster(tmp_path / "chn_f_5_2020.tif", np.full(values.shape, 10.0), nodata=-99999.0)
    band10 = write_raster(tmp_path / "chn_m_10_2020.tif", np.full(values.shape, 20.0), nodata=-99999.0)
    other = write_raster(tmp_path / "kids.tif", np.full(values.shape, 1.0))
    out = demand.seat_demand_from_age_bands(
        units, {"primary": [band5, band10], "junior": [band10, (other, 0.5)]}
    )
    n = values.size
    # grid squares cover the raster up to half a sub-cell at the outer edge: up to 0.2 % stays outside
    assert out["primary"].sum() == pytest.approx(n * (10 * 0.8 + 20 * 0.4), rel=2e-3)
    assert out["junior"].sum() == pytest.approx(n * (20 * 0.6 + 0.5), rel=2e-3)
    ratio = out["primary"] / (out["primary"] + out["junior"])
    assert ratio.to_numpy() == pytest.approx((10 * 0.8 + 20 * 0.4) / (16 + 12.5), rel=1e-6)
    with pytest.raises(InputError, match=r"fraction for junior .* is 0"):
        demand.seat_demand_from_age_bands(units, {"junior": [band5]})
    with pytest.raises(InputError, match="cannot read the age band"):
        demand.seat_demand_from_age_bands(units, {"primary": [other]})


def test_population_years_from_one_raster_per_year(tmp_path, pop_raster) -> None:
    path, values = pop_raster
    units = demand.add_seat_demand(
        demand.units_from_raster(path, area=raster_bbox(40, 50)), Standards.foshan()
    )
    later = write_raster(tmp_path / "pop2030.tif", values * 1.5, nodata=-99999.0)
    out = demand.add_population_years(units, {2025: path, 2030: later})
    assert out["population_2025"].sum() == pytest.approx(values.sum(), rel=1e-6)
    assert out["population_2030"].to_numpy() == pytest.approx(
        1.5 * out["population_2025"].to_numpy(), rel=1e-6
    )
    assert out["primary_2030"].sum() == pytest.approx(0.08 * 1.5 * values.sum(), rel=1e-6)


# ------------------------------------------------------------------------------------------ current schools
def test_assign_current(small_units, caplog) -> None:
    catchments = gpd.GeoDataFrame(
        {"school_id": ["P1", "P2"]},
        geometry=[shapely.box(0, 0, 120, 100), shapely.box(120, 0, 200, 100)],
        crs="EPSG:32649",
    ).to_crs(4326)
    with caplog.at_level(logging.WARNING, logger="siting"):
        out = demand.assign_current(small_units, catchments, level="primary", name="c.geojson")
    assert out["current_primary"].tolist()[:2] == ["P1", "P2"]
    assert pd.isna(out["current_primary"].iloc[2])
    assert "c.geojson: 1 of 3 demand unit(s) lie in no current primary catchment" in caplog.text
    with pytest.raises(InputError, match=r"no field 'school_id'.*\['sid'\]"):
        demand.assign_current(small_units, catchments.rename(columns={"school_id": "sid"}), level="junior")
    with pytest.raises(CRSError, match="no CRS"):
        demand.assign_current(small_units, catchments.set_crs(None, allow_override=True), level="junior")


# ------------------------------------------------------------------------------------------ CLI
def test_cli_prints_totals_and_refuses_overwrite(pop_raster, tmp_path) -> None:
    path, values = pop_raster
    out = tmp_path / "units.gpkg"
    bbox = ",".join(str(v) for v in raster_bbox(40, 50))
    runner = CliRunner()
    result = runner.invoke(
        cli, ["demand", str(path), "--area", bbox, "--cell-size", "200", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"raster sum (clipped)   {values.sum():,.1f} residents" in result.output
    assert f"units' sum             {values.sum():,.1f} residents" in result.output
    assert f"seats primary          {0.08 * values.sum():,.1f} (80 per 1,000)" in result.output
    assert "relative error" in result.output
    written = gpd.read_file(out)
    assert written["population"].sum() == pytest.approx(values.sum())
    assert {"unit_id", "primary", "junior", "pop_x", "pop_y", "district"} <= set(written.columns)
    again = runner.invoke(cli, ["demand", str(path), "--area", bbox, "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output  # one "Error: ..." line
    assert not list(tmp_path.glob("*.tmp.gpkg"))
    bad = runner.invoke(
        cli, ["demand", str(path), "--area", "nowhere.geojson", "--out", str(tmp_path / "b.gpkg")]
    )
    assert bad.exit_code == 2 and "neither an existing polygon file" in bad.output
    # the same bounds as population.cell_size_m in a scenario, checked before any work
    tiny = runner.invoke(
        cli, ["demand", str(path), "--area", bbox, "--cell-size", "5", "--out", str(tmp_path / "t.gpkg")]
    )
    assert tiny.exit_code == 2 and "--cell-size" in tiny.output and "20.0<=x<=2000.0" in tiny.output
    assert not (tmp_path / "t.gpkg").exists()
