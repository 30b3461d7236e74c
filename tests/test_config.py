from pathlib import Path

import pytest
import yaml

from siting.config import load_scenario
from siting.errors import InputError


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    for name in (
        "population.tif",
        "districts.geojson",
        "roads.osm",
        "schools.geojson",
        "sites.geojson",
        "catchments_primary.geojson",
    ):
        (tmp_path / name).write_text("x")
    (tmp_path / "scenarios").mkdir()
    path = tmp_path / "scenarios" / "city.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "city",
                "population": {
                    "raster": "../population.tif",
                    "cell_size_m": 250,
                    "growth": {"base_year": 2025, "years": [2025, 2030], "rate": {"default": 0.01}},
                },
                "design_year": 2030,
                "districts": {"path": "../districts.geojson"},
                "network": {"osm_xml": "../roads.osm"},
                "schools": "../schools.geojson",
                "sites": "../sites.geojson",
                "current_catchments": {"primary": "../catchments_primary.geojson"},
                "standards": {"class_size": {"primary": 40}},
                "model": {"max_new_schools": 4, "gap": 0.01},
            }
        )
    )
    return path


def _edit(path: Path, **changes) -> Path:
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        if value is None:
            target.pop(last)
        else:
            target[last] = value
    path.write_text(yaml.safe_dump(data))
    return path


def test_paths_resolve_from_the_scenario_folder(scenario_file):
    sc = load_scenario(scenario_file)
    assert sc.population.raster == (scenario_file.parent.parent / "population.tif").resolve()
    assert sc.current_catchments["primary"].name == "catchments_primary.geojson"
    assert sc.network.source == sc.network.osm_xml
    assert sc.output_dir() == Path("data/processed/city")
    assert sc.map_path() == Path("maps/city.html")
    assert sc.standards_object().class_size["primary"] == 40
    assert sc.source == scenario_file.resolve()


def test_osm_key_reads_like_its_older_name(scenario_file):
    old = load_scenario(scenario_file)
    data = yaml.safe_load(scenario_file.read_text())
    data["network"] = {"osm": "../roads.osm"}
    scenario_file.write_text(yaml.safe_dump(data))
    new = load_scenario(scenario_file)
    assert (
        (new.network.kind, new.network.source)
        == (old.network.kind, old.network.source)
        == (
            "osm_xml",
            (scenario_file.parent.parent / "roads.osm").resolve(),
        )
    )
    data["network"] = {"osm": "../roads.osm", "osm_xml": "../roads.osm"}
    scenario_file.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"exactly one network source .*'osm', 'osm_xml'"):
        load_scenario(scenario_file)
    data["network"] = {"osm": "../nowhere.osm.pbf"}
    scenario_file.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"network\.osm = '\.\./nowhere\.osm\.pbf' does not exist"):
        load_scenario(scenario_file)


def test_missing_input_file_names_key_and_path(scenario_file):
    _edit(scenario_file, schools="../nope.geojson")
    with pytest.raises(InputError, match=r"schools = '\.\./nope\.geojson' does not exist"):
        load_scenario(scenario_file)


def test_bad_value_names_the_key_and_value(scenario_file):
    _edit(scenario_file, model__max_new_schools=-2)
    with pytest.raises(InputError, match=r"model\.max_new_schools = -2: Input should be greater than"):
        load_scenario(scenario_file)


def test_typo_is_an_unknown_key(scenario_file):
    _edit(scenario_file, model__max_new_school=3)
    with pytest.raises(InputError, match=r"model\.max_new_school = 3: unknown key"):
        load_scenario(scenario_file)


def test_two_network_sources_are_refused(scenario_file):
    _edit(scenario_file, network__place="Nanhai, Foshan")
    with pytest.raises(InputError, match="exactly one network source"):
        load_scenario(scenario_file)


def test_unknown_standard_is_refused(scenario_file):
    _edit(scenario_file, standards={"class_sise": {"primary": 40}})
    with pytest.raises(InputError, match="unknown parameter 'class_sise'"):
        load_scenario(scenario_file)


def test_design_year_must_be_planned(scenario_file):
    _edit(scenario_file, design_year=2031)
    with pytest.raises(InputError, match="design_year 2031 is not among"):
        load_scenario(scenario_file)


def test_replace_validates_and_keeps_the_rest(scenario_file):
    base = load_scenario(scenario_file)
    variant = base.replace(max_new_schools=2, name="city-2", **{"model.disruption_m": 0})
    assert variant.model.max_new_schools == 2
    assert variant.model.disruption_m == 0
    assert variant.model.gap == 0.01
    assert variant.population == base.population
    assert variant.section_key("population", "districts") == base.section_key("population", "districts")
    assert variant.section_key("model") != base.section_key("model")
    std = base.replace(service_radius_m={"primary": 800})
    assert std.standards_object().service_radius_m["primary"] == 800
    with pytest.raises(InputError, match="unknown scenario key 'max_new'"):
        base.replace(max_new=1)
    with pytest.raises(InputError, match=r"model\.gap = 2"):
        base.replace(gap=2)


@pytest.mark.parametrize(
    ("key", "value", "example"),
    [
        ("utilisation_floor", 60, "0.6 for 60 %"),
        ("gap", 5, "0.005 for 0.5 %"),
        ("min_enrolment_share", -0.5, "0.5"),
    ],
)
def test_a_share_given_as_per_cent_is_explained(scenario_file, key, value, example):
    base = load_scenario(scenario_file)
    with pytest.raises(
        InputError, match=rf"model\.{key} = {value}: .*a share from 0 to 1, not per cent: e\.g\. {example}"
    ):
        base.replace(**{key: value})
    with pytest.raises(InputError) as other:
        base.replace(balance_m=-5)
    assert "not per cent" not in str(other.value)


def test_not_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(InputError, match="not valid YAML"):
        load_scenario(path)


def test_indicator_mapping_defaults_to_the_sample_names(scenario_file):
    from siting.standards import DEFAULT_INDICATOR_COLUMNS

    sc = load_scenario(scenario_file)
    assert sc.indicators is None and sc.indicator_columns() == dict(DEFAULT_INDICATOR_COLUMNS)
    assert sc.indicator_columns()["floor_area_m2"] == "teaching_aux_area"
    _edit(scenario_file, indicators={"jiaoxue_m2": "teaching_aux_area", "tiyu_m2": "sports_area"})
    assert load_scenario(scenario_file).indicator_columns() == {
        "jiaoxue_m2": "teaching_aux_area",
        "tiyu_m2": "sports_area",
    }


def test_indicator_mapping_names_a_wrong_indicator_or_a_duplicate(scenario_file):
    _edit(scenario_file, indicators={"lon": "longitude"})
    with pytest.raises(InputError, match=r"indicators: column 'lon' is mapped to 'longitude', which is not"):
        load_scenario(scenario_file)
    _edit(scenario_file, indicators={"a_m2": "sports_area", "b_m2": "sports_area"})
    with pytest.raises(InputError, match="'a_m2' and 'b_m2' are both mapped to 'sports_area'"):
        load_scenario(scenario_file)


def test_new_school_resources_are_overridable_from_the_scenario(scenario_file):
    _edit(scenario_file, standards={"new_school_resources": {"sports_area": {"primary": 9.0}}})
    std = load_scenario(scenario_file).standards_object()
    assert std.new_school_resources["sports_area"]["primary"] == 9.0
    assert std.new_school_resources["sports_area"]["junior"] == 10.2
    _edit(scenario_file, standards={"new_school_resources": {"sports_area": 9.0}})
    with pytest.raises(InputError, match=r"'new_school_resources\.sports_area' has entries"):
        load_scenario(scenario_file)


def test_shortfall_m_is_replaced_by_overflow_m_with_a_one_line_error(scenario_file):
    assert load_scenario(scenario_file).model.overflow_m == 10_000  # above any walk within the limits
    _edit(scenario_file, model__shortfall_m=100_000)
    with pytest.raises(InputError) as info:
        load_scenario(scenario_file)
    message = str(info.value)
    assert "model.shortfall_m was replaced by model.overflow_m" in message and "see README" in message
    assert "\n" not in message and message.startswith(str(scenario_file))
    _edit(scenario_file, model__shortfall_m=None)
    base = load_scenario(scenario_file)
    with pytest.raises(InputError, match=r"model\.shortfall_m was replaced by model\.overflow_m"):
        base.replace(shortfall_m=5)
    assert base.replace(overflow_m=20_000).model.overflow_m == 20_000


@pytest.mark.parametrize(
    ("crs", "message"),
    [
        ("EPSG:4326", r"crs = 'EPSG:4326': EPSG:4326 is geographic \(degrees\).*crs: null.*EPSG:4547"),
        ("EPSG:2227", r"EPSG:2227 is not in metres \(US survey foot\)"),
        ("nonsense", r"crs = 'nonsense': not a CRS pyproj knows"),
    ],
)
def test_study_crs_must_be_projected_metres(scenario_file, crs, message):
    _edit(scenario_file, crs=crs)
    with pytest.raises(InputError, match=message):
        load_scenario(scenario_file)


def test_a_projected_crs_is_kept(scenario_file):
    _edit(scenario_file, crs="EPSG:4547")
    assert load_scenario(scenario_file).crs == "EPSG:4547"


@pytest.mark.parametrize(("cell", "ok"), [(19.9, False), (20, True), (2000, True), (2001, False), (1, False)])
def test_cell_size_bounds(scenario_file, cell, ok):
    _edit(scenario_file, population__cell_size_m=cell)
    if ok:
        assert load_scenario(scenario_file).population.cell_size_m == cell
    else:
        with pytest.raises(
            InputError, match=rf"population\.cell_size_m = {cell}: grid cells must be 20 to 2,000 m"
        ):
            load_scenario(scenario_file)


def test_unknown_keys_suggest_or_list(scenario_file):
    _edit(scenario_file, model__max_new_school=3)
    with pytest.raises(
        InputError, match=r"max_new_school = 3: unknown key\. Did you mean 'max_new_schools'\?"
    ):
        load_scenario(scenario_file)
    _edit(scenario_file, model__max_new_school=None, outputs={"folder": "x"})
    with pytest.raises(
        InputError, match=r"outputs\.folder = 'x': unknown key\. Keys here: dir, map, map_assets\."
    ):
        load_scenario(scenario_file)


def test_errors_are_one_line(scenario_file):
    _edit(scenario_file, model__gap=2, model__far_penalty=0.5)
    with pytest.raises(InputError) as info:
        load_scenario(scenario_file)
    assert "\n" not in str(info.value)
    assert "2 problems: model.far_penalty = 0.5" in str(info.value) and "; model.gap = 2" in str(info.value)


def test_yaml_error_names_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: city\npopulation:\n\traster: x.tif\n")
    with pytest.raises(InputError, match=r"not valid YAML at line 3, column 1: .*spaces, not tabs"):
        load_scenario(path)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(InputError, match="got an empty file"):
        load_scenario(empty)
