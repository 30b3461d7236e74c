"""The bad-input catalogue: the sample city with one thing broken, through the real command line.

Each case copies the bundled sample, breaks one thing the way a planner might (a shapefile, a misspelt
column, a growth key for a district that does not exist, Web Mercator, swapped lon/lat, a 1 m grid...), runs
``siting run`` and checks what the planner sees: the exit code, ONE line naming the file, the field, the
value and the fix (never a traceback), and that nothing was written (no result folder, no map).

Most cases fail in the checks before the raster, the network or the model are touched, so the catalogue is
fast. Inputs that must be *handled* (a shapefile whose names a shapefile cut to 10 characters, Chinese level
names, upper-case column names...) are applied together to one copy, run once through the whole model, and
its answer compared with the pinned sample answer (tests/data/golden/sample/).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd
import pytest

from tests.breaking import DELETE, City, run_cli

GOLDEN = Path(__file__).parent / "data" / "golden" / "sample"


def _swap(c: list[float]) -> list[float]:
    return [c[1], c[0]]


def _far(c: list[float]) -> list[float]:
    return [c[0] + 8.0, c[1]]  # about 800 km east: another city


def _square(lon: float, lat: float, d: float = 0.001) -> dict:
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def _text(city: City, old: str, new: str) -> None:
    city.write_scenario_text(city.scenario.read_text(encoding="utf-8").replace(old, new, 1))


def _drop_all(city: City, layer: str) -> None:
    city.features(layer, lambda features: [])


def _duplicate_first(city: City, layer: str) -> None:
    city.features(layer, lambda features: [*features, features[0]])


def _flat_parcel(city: City) -> None:
    """A parcel drawn as a sliver with no area, and no area_m2 to fall back on."""
    city.props("sites", "S01", area_m2=DELETE)
    ring = [[113.14, 23.01], [113.141, 23.01], [113.14, 23.01]]
    city.geometry("sites", "S01", {"type": "Polygon", "coordinates": [ring]})


def _less_memory(city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    from siting.pipeline import checks

    monkeypatch.setattr(checks, "physical_memory", lambda: 2e9)  # a 2 GB laptop
    city.set("population.cell_size_m", 25)


# (name, how to break the sample, fragments the one line must hold). Every case exits 2.
# fmt: off
CASES: list[tuple[str, object, tuple[str, ...]]] = [
    # --- the scenario file
    ("yaml-syntax", lambda c: _text(c, "name: sample", "name: [sample"),
     ("sample.yaml", "not valid YAML", "line")),
    ("yaml-empty", lambda c: c.write_scenario_text(""),
     ("sample.yaml", "mapping")),
    ("yaml-tab-indent", lambda c: _text(c, "  band: 1", "\tband: 1"),
     ("sample.yaml", "not valid YAML")),
    ("top-key-typo", lambda c: _text(c, "model:", "modle:"),
     ("sample.yaml", "modle", "unknown key", "'model'")),
    ("model-key-typo", lambda c: c.set("model.max_new_school", 3),
     ("max_new_school", "'max_new_schools'")),
    ("unknown-scenario-key", lambda c: c.set("outputs.folder", "x"),
     ("outputs.folder", "unknown key", "Keys here: dir, map")),
    ("growth-key-typo", lambda c: c.set("population.growth.rate", {"default": 0.005, "NewTown": 0.06}),
     ("sample.yaml", "population.growth.rate", "'NewTown'", "names no district", "'Newtown'")),
    ("growth-no-default", lambda c: c.set("population.growth.rate", {"Newtown": 0.06}),
     ("population.growth.rate", "no rate for district(s)", "Old Town", "'default'")),
    ("growth-rate-percent", lambda c: c.set("population.growth.rate", {"default": 6}),
     ("population.growth", "6", "0.03")),
    ("design-year-unplanned", lambda c: c.set("design_year", 2035),
     ("design_year", "2035", "growth.years")),
    ("crs-web-mercator", lambda c: c.set("crs", "EPSG:3857"),
     ("sample.yaml", "crs", "EPSG:3857", "Web Mercator", "8.6% off", "crs: null", "EPSG:4547")),
    ("crs-geographic", lambda c: c.set("crs", "EPSG:4326"),
     ("crs", "EPSG:4326", "geographic", "EPSG:4547")),
    ("crs-far-utm-zone", lambda c: c.set("crs", "EPSG:32645"),
     ("crs", "EPSG:32645", "UTM zone 45N", "9.4% off", "crs: null")),
    ("crs-unknown", lambda c: c.set("crs", "EPSG:999999"),
     ("crs", "EPSG:999999", "not a CRS", "EPSG:4547")),
    ("crs-feet", lambda c: c.set("crs", "EPSG:2227"),
     ("crs", "EPSG:2227", "metres", "EPSG:4547")),
    ("cell-size-1m", lambda c: c.set("population.cell_size_m", 1),
     ("population.cell_size_m", "= 1", "20 to 2,000 m")),
    ("cell-size-5km", lambda c: c.set("population.cell_size_m", 5000),
     ("cell_size_m", "5000", "20 to 2,000 m")),
    ("cell-size-text", lambda c: c.set("population.cell_size_m", "200m"),
     ("cell_size_m", "'200m'", "number")),
    ("cell-size-out-of-memory", _less_memory,
     ("population.cell_size_m = 25", "demand units", "GB of memory", "cell_size_m: ")),
    ("plan-for-typo", lambda c: c.set("plan_for", "design-year"),
     ("plan_for", "'design-year'", "'design_year'")),
    ("catchment-level-typo",
     lambda c: c.set("current_catchments", {"primry": "../catchments_primary.geojson"}),
     ("current_catchments", "primry", "'primary'")),
    ("standards-typo", lambda c: c.set("standards", {"class_sise": {"primary": 40}}),
     ("standards", "'class_sise'", "'class_size'")),
    ("negative-max-new", lambda c: c.set("model.max_new_schools", -1),
     ("model.max_new_schools", "-1", "0")),
    ("time-limit-zero", lambda c: c.set("model.time_limit_s", 0),
     ("model.time_limit_s", "0", "greater than 0")),
    ("name-with-space", lambda c: c.set("name", "my plan"),
     ("name", "'my plan'", "letters, digits")),
    ("no-network", lambda c: c.set("network", {"max_snap_m": 250}),
     ("network", "exactly one network source")),
    ("schools-path-missing", lambda c: c.set("schools", "../school.geojson"),
     ("schools", "'../school.geojson'", "does not exist", "scenario file's folder")),
    ("raster-path-missing", lambda c: c.set("population.raster", "../pop.tif"),
     ("population.raster", "does not exist")),
    # --- schools
    ("capacity-misspelt", lambda c: c.rename("schools", "capacity_primary", "capacity_primry"),
     ("schools.geojson", "'capacity_primry'", "did you mean 'capacity_primary'", "rename")),
    ("enrolled-misspelt", lambda c: c.rename("schools", "enrolled_junior", "enroled_junior"),
     ("schools.geojson", "'enroled_junior'", "did you mean 'enrolled_junior'")),
    ("classes-misspelt", lambda c: c.rename("schools", "classes_primary", "class_primary"),
     ("schools.geojson", "'class_primary'", "did you mean 'classes_primary'")),
    ("two-capacity-columns", lambda c: c.props("schools", None, capacity_p=1),
     ("schools.geojson", "'capacity_primary'", "'capacity_p'", "keep one")),
    ("enrolled-missing", lambda c: c.props("schools", None, enrolled_junior=DELETE),
     ("schools.geojson", "'enrolled_junior'", "add it", "write 0")),
    ("no-seats-at-all", lambda c: c.props("schools", None, capacity_primary=DELETE, classes_primary=DELETE),
     ("schools.geojson", "'P01'", "capacity_primary", "classes_primary", "0 seats")),
    ("negative-capacity", lambda c: c.props("schools", "P03", capacity_primary=-1575),
     ("schools.geojson", "'P03'", "capacity_primary = -1575", "whole number >= 0")),
    ("text-in-capacity", lambda c: c.props("schools", "P03", capacity_primary="1,575"),
     ("schools.geojson", "'P03'", "capacity_primary = '1,575'", "whole number")),
    ("fractional-classes", lambda c: c.props("schools", "P03", classes_primary=34.5),
     ("schools.geojson", "'P03'", "classes_primary = 34.5", "whole number")),
    ("nan-enrolment", lambda c: c.props("schools", "P03", enrolled_primary=None),
     ("schools.geojson", "'P03'", "no enrolled_primary", "fill it in", "write 0")),
    ("enrolled-at-wrong-level", lambda c: c.props("schools", "J01", enrolled_primary=300),
     ("schools.geojson", "'J01'", "junior school", "enrolled_primary = 300", "correct its level")),
    ("capacity-at-wrong-level", lambda c: c.props("schools", "P03", capacity_junior=500),
     ("schools.geojson", "'P03'", "primary school", "capacity_junior = 500")),
    ("level-misspelt", lambda c: c.props("schools", "P03", level="primay"),
     ("schools.geojson", "'P03'", "level = 'primay'", "Did you mean 'primary'?")),
    ("level-column-misspelt", lambda c: c.rename("schools", "level", "levels"),
     ("schools.geojson", "'levels'", "did you mean 'level'")),
    ("level-column-missing", lambda c: c.props("schools", None, level=DELETE),
     ("schools.geojson", "no 'level' column")),
    ("duplicate-school-ids", lambda c: c.props("schools", "P02", school_id="P01"),
     ("schools.geojson", "'P01'", "more than once", "unique")),
    ("empty-school-id", lambda c: c.props("schools", "P02", school_id=None),
     ("schools.geojson", "#2", "no school_id", "fill it in")),
    ("school-id-column-missing", lambda c: c.rename("schools", "school_id", "id"),
     ("schools.geojson", "no 'school_id' column", "Columns found")),
    ("public-not-bool", lambda c: c.props("schools", "P03", public="maybe"),
     ("schools.geojson", "'P03'", "public = 'maybe'", "true or false")),
    ("status-planned", lambda c: c.props("schools", "P03", status="planned"),
     ("schools.geojson", "'P03'", "'planned'", "their own files")),
    ("schools-polygons", lambda c: c.geometry("schools", "P03", _square(113.11, 23.03)),
     ("schools.geojson", "'P03'", "Polygon", "points")),
    ("school-without-geometry", lambda c: c.geometry("schools", "P03", None),
     ("schools.geojson", "1 feature(s) have no geometry")),
    ("schools-empty-layer", lambda c: _drop_all(c, "schools"),
     ("schools.geojson", "empty", "at least one")),
    ("schools-no-crs", lambda c: c.convert("schools", ".shp", crs=None),
     ("schools.shp", "no CRS")),
    ("schools-swapped-lonlat", lambda c: c.coordinates("schools", _swap),
     ("schools.geojson", "latitude beyond ±90°", "swapped", "x = longitude")),
    ("one-school-swapped", lambda c: c.coordinates("schools", _swap, "P03"),
     ("schools.geojson", "feature 'P03'", "swapped", "x = longitude")),
    ("schools-in-metres-as-degrees",
     lambda c: c.coordinates("schools", lambda xy: [xy[0] * 6000, xy[1] * 1e5]),
     ("schools.geojson", "not in degrees", "EPSG:4326", "real CRS")),
    ("schools-in-another-city", lambda c: c.coordinates("schools", _far),
     ("schools.geojson", "every feature lies outside the study area", "CRS")),
    ("schools-not-a-layer", lambda c: c.path("schools").write_text("school_id,level\n", encoding="utf-8"),
     ("schools.geojson", "cannot read it")),
    ("max-extra-ambiguous-shapefile",
     lambda c: c.convert("schools", ".shp", edit=lambda g: g.assign(max_extra_classes_primary=6)),
     ("schools.shp", "max_extra_", "max_extr_1", "rename them max_extr_p and max_extr_j")),
    # --- sites
    ("site-point", lambda c: c.geometry("sites", "S01", {"type": "Point", "coordinates": [113.14, 23.01]}),
     ("sites.geojson", "'S01'", "Point", "parcel polygons")),
    ("site-zero-area", lambda c: c.props("sites", "S01", area_m2=0),
     ("sites.geojson", "'S01'", "0 m²", "area_m2")),
    ("site-degenerate-parcel", _flat_parcel,
     ("sites.geojson", "'S01'", "0 m²", "outline")),
    ("site-negative-area", lambda c: c.props("sites", "S01", area_m2=-5),
     ("sites.geojson", "'S01'", "area_m2 = -5")),
    ("site-year-text", lambda c: c.props("sites", "S01", available_from="2028年"),
     ("sites.geojson", "'S01'", "available_from = '2028年'", "like 2027")),
    ("site-level-misspelt", lambda c: c.props("sites", "S02", level="junoir"),
     ("sites.geojson", "'S02'", "'junoir'", "'junior'")),
    ("site-id-clash", lambda c: c.props("sites", "S01", school_id="P01"),
     ("'P01'", "unique")),
    ("site-central-not-bool", lambda c: c.props("sites", "S01", central="centre"),
     ("sites.geojson", "'S01'", "central = 'centre'", "true or false")),
    ("site-cost-text", lambda c: c.props("sites", "S01", cost_yuan="lots"),
     ("sites.geojson", "'S01'", "cost_yuan = 'lots'", "number")),
    ("sites-in-schools-file", lambda c: c.props("sites", None, status="existing"),
     ("sites.geojson", "'existing'", "their own files")),
    # --- districts
    ("districts-name-field-wrong", lambda c: c.set("districts.name_field", "district_name"),
     ("districts.geojson", "no 'district_name' column", "districts.name_field")),
    ("districts-points",
     lambda c: c.geometry("districts", 0, {"type": "Point", "coordinates": [113.12, 23.03]}),
     ("districts.geojson", "'Old Town'", "Point", "polygons")),
    ("district-without-name", lambda c: c.props("districts", 1, name=None),
     ("districts.geojson", "#2", "no name", "fill it in")),
    ("districts-no-crs", lambda c: c.convert("districts", ".shp", crs=None),
     ("districts.shp", "no CRS")),
    ("districts-swapped", lambda c: c.coordinates("districts", _swap),
     ("districts.geojson", "swapped")),
    # --- current catchments
    ("catchment-id-column-renamed", lambda c: c.rename("catchments_primary", "school_id", "school"),
     ("catchments_primary.geojson", "'school' (did you mean 'school_id'?)", "rename")),
    ("catchment-id-column-missing", lambda c: c.rename("catchments_primary", "school_id", "code"),
     ("catchments_primary.geojson", "no 'school_id' column", "Columns found")),
    ("catchment-unknown-school", lambda c: c.props("catchments_primary", 0, school_id="P99"),
     ("catchments_primary.geojson", "'P99'", "not in the schools file", "existing school")),
    ("catchment-points",
     lambda c: c.geometry("catchments_junior", 0, {"type": "Point", "coordinates": [113.1, 23.0]}),
     ("catchments_junior.geojson", "Point", "polygons")),
    ("catchment-empty-id", lambda c: c.props("catchments_junior", 0, school_id=None),
     ("catchments_junior.geojson", "no school_id", "fill it in")),
]
# fmt: on


def _ids(cases: list) -> list[str]:
    return [case[0] for case in cases]


@pytest.fixture
def city(sample_dir, tmp_path, monkeypatch) -> City:
    monkeypatch.chdir(tmp_path)
    return City.copy_of(sample_dir, tmp_path / "city")


@pytest.mark.parametrize(("name", "breaks", "fragments"), CASES, ids=_ids(CASES))
def test_bad_input_gives_one_clear_line_and_writes_nothing(
    city, tmp_path, monkeypatch, name, breaks, fragments
):
    if breaks.__code__.co_argcount == 2:
        breaks(city, monkeypatch)
    else:
        breaks(city)
    seen = run_cli(city, tmp_path / "out", tmp_path / "map.html")
    assert seen.code == 2, f"exit {seen.code}: {seen.text}\n{seen.result.exception!r}"
    assert len(seen.lines) == 1, f"not one line:\n{seen.text}"
    line = seen.lines[0]
    assert line.startswith("Error: ") and "Traceback" not in line
    missing = [f for f in fragments if f not in line]
    assert not missing, f"{missing} not in: {line}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city"], "something was written"


def test_catalogue_is_large_enough():
    assert len(CASES) + len(HANDLED) >= 50
    assert len(set(_ids(CASES))) == len(CASES)


# --------------------------------------------------------------------------- inputs that must be handled
def _schools_as_shapefile(city: City) -> None:
    """Schools saved as a shapefile: every long name is cut to 10 characters (capacity_p, enrolled_j...)."""
    city.convert("schools", ".shp")


def _levels_in_chinese(city: City) -> None:
    names = {"primary": "小学", "junior": "初中", "nine_year": "九年一贯制"}
    for school_id, level in [("P01", "primary"), ("J01", "junior"), ("N01", "nine_year")]:
        city.props("schools", school_id, level=names[level])


def _extra_text_column(city: City) -> None:
    city.props("schools", None, remarks="checked 2025")


def _sites_as_shapefile(city: City) -> None:
    city.convert("sites", ".shp")


def _catchments_as_geopackage_upper_case(city: City) -> None:
    city.convert("catchments_primary", ".gpkg", edit=lambda g: g.rename(columns={"school_id": "SCHOOL_ID"}))


def _districts_name_capitalised(city: City) -> None:
    city.rename("districts", "name", "Name")


HANDLED = [
    ("levels-in-chinese", _levels_in_chinese),  # before the shapefile: it edits the GeoJSON
    ("extra-text-column", _extra_text_column),
    ("schools-shapefile", _schools_as_shapefile),
    ("sites-shapefile", _sites_as_shapefile),
    ("catchments-geopackage-upper-case", _catchments_as_geopackage_upper_case),
    ("districts-name-capitalised", _districts_name_capitalised),
]


@pytest.fixture(scope="module")
def handled_run(tmp_path_factory):
    """One copy with every "must be handled" change, run once through the whole model."""
    from tests.conftest import SAMPLE

    if not (SAMPLE / "scenarios" / "sample.yaml").exists():
        pytest.skip(f"the bundled sample city is missing under {SAMPLE}")
    base = tmp_path_factory.mktemp("handled")
    city = City.copy_of(SAMPLE, base / "city")
    for _, change in HANDLED:
        change(city)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("siting").addHandler(handler)
    try:
        seen = run_cli(city, base / "out", base / "map.html")
    finally:
        logging.getLogger("siting").removeHandler(handler)
    return seen, base / "out", records


@pytest.mark.parametrize("name", _ids(HANDLED))
def test_handled_input_gives_the_sample_answer(handled_run, name):
    seen, out, _ = handled_run
    assert seen.code == 0, seen.text
    for table in ("opened.csv", "school_metrics.csv", "assignment.csv", "district_metrics.csv"):
        got, want = pd.read_csv(out / table), pd.read_csv(GOLDEN / table)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-9)


def test_shapefile_schools_keep_their_seats(handled_run):
    _, out, _ = handled_run
    metrics = pd.read_csv(out / "school_metrics.csv")
    want = pd.read_csv(GOLDEN / "school_metrics.csv")
    current = metrics[metrics["state"] == "current"]
    assert current["capacity"].sum() == want[want["state"] == "current"]["capacity"].sum() > 0


def test_unknown_columns_are_listed_once(handled_run):
    _, _, records = handled_run
    lines = [r.getMessage() for r in records if "remarks" in r.getMessage()]
    assert len(lines) == 1 and "not schools columns" in lines[0], lines


# --------------------------------------------------------------------------- the checks on their own
# Peak memory of `run_scenario(write=False)` on the sample city (67.5 km², 58 schools and sites), measured
# with resource.getrusage at four cell sizes: (cell m, units built, peak bytes).
MEASURED_MEMORY = [(200, 1748, 403e6), (100, 6828, 525e6), (70, 13711, 687e6), (50, 26626, 1348e6)]


def test_grid_estimate_is_close_above_the_measured_memory(sample_dir):
    from siting.config import load_scenario
    from siting.pipeline import checks, stages

    scenario = load_scenario(sample_dir / "scenarios" / "sample.yaml")
    area = stages.read_study_area(scenario)
    schools, sites = stages.read_school_layers(scenario, area.crs)
    facilities = pd.concat([schools[["level"]], sites[["level"]]])
    area_m2 = float(area.districts.union_all().area)
    for cell, units, peak in MEASURED_MEMORY:
        est_units, est_bytes = checks.grid_estimate(
            area_m2, cell, facilities, {"primary": 1500, "junior": 3000}
        )
        assert est_units == pytest.approx(units, rel=0.05)
        assert peak <= est_bytes <= 1.5 * peak, (cell, est_bytes / 1e6)


def test_study_crs_scale_at_a_real_raster(tmp_path):
    """Wuhan (a real WorldPop file): Web Mercator is 16 % off there; its UTM zone and 3-degree GK are true."""
    import rasterio

    from siting._crs import check_true_to_scale, scale_error
    from siting.errors import CRSError
    from tests.conftest import shared_file

    with rasterio.open(shared_file("data/worldpop/pop_20_f_wuhan.tif")) as src:
        left, bottom, right, top = src.bounds
    lon, lat = (left + right) / 2, (bottom + top) / 2
    assert scale_error("EPSG:3857", lon, lat) == pytest.approx(1 / math.cos(math.radians(lat)) - 1, rel=1e-3)
    with pytest.raises(CRSError, match=r"Web Mercator.*distances are 1[56]\.\d% off.*crs: null"):
        check_true_to_scale("EPSG:3857", lon, lat, name="crs")
    for good in ("EPSG:32650", "EPSG:4547"):  # UTM 50N; CGCS2000 3-degree Gauss-Kruger CM 114E
        check_true_to_scale(good, lon, lat, name="crs")
    check_true_to_scale("EPSG:32649", lon, lat, name="crs")  # UTM 49N, 3.3° east of its meridian: 0.08 %
    with pytest.raises(
        CRSError, match=r"EPSG:32648.*1\.0% off.*\(EPSG:32650\), or give EPSG:4547"
    ):  # UTM 48N
        check_true_to_scale("EPSG:32648", lon, lat, name="crs")


def test_checks_pass_on_another_city_with_no_optional_layers(tmp_path):
    """A generated city near Wuhan in CGCS2000 / GK 114E, no sites, one level of catchments."""
    from siting.config import load_scenario
    from siting.pipeline import checks, stages
    from siting.sample import generate_city, write_city

    city = generate_city(residents=40_000, width_km=4, height_km=3, origin_lonlat=(114.2, 30.5), seed=7)
    write_city(city, tmp_path, name="other")
    base = load_scenario(tmp_path / "scenarios" / "other.yaml")
    bare = base.replace(
        crs="EPSG:4547", sites=None, current_catchments={"primary": base.current_catchments["primary"]}
    )
    area = stages.read_study_area(bare)
    inputs = checks.check_inputs(bare, area)
    assert len(inputs.sites) == 0 and set(inputs.catchments) == {"primary"}
    assert inputs.schools.crs.to_epsg() == 4547 and inputs.schools["capacity_primary"].sum() > 0
