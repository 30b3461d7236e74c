import json

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from siting.errors import InputError
from siting.facilities import combine_facilities, read_schools, read_sites, size_options
from siting.standards import Standards

CRS = "EPSG:32649"
STD = Standards.foshan()


def _schools(**overrides):
    data = {
        "school_id": ["P1", "J1", "N1"],
        "name": ["桂城中心小学", "Junior One", "Nine <b>"],
        "level": ["primary", "junior", "nine_year"],
        "classes_primary": [24, 0, 18],
        "classes_junior": [0, 18, 9],
        "enrolled_primary": [1400, 0, 800],
        "enrolled_junior": [0, 950, 400],
        "max_extra_classes_primary": [12, 0, 0],
    }
    data.update(overrides)
    pts = [Point(700000, 2540000), Point(701000, 2540000), Point(702000, 2541000)]
    return gpd.GeoDataFrame(data, geometry=pts, crs=CRS)


def _sites():
    x0, y0 = 700000, 2539000
    return gpd.GeoDataFrame(
        {
            "school_id": ["S1", "S2", "S3"],
            "level": ["primary", "nine_year", "junior"],
            "central": [False, False, True],
        },
        geometry=[
            box(x0, y0, x0 + 200, y0 + 150),  # 30,000 m²
            box(x0 + 1000, y0, x0 + 1250, y0 + 200),  # 50,000 m²
            box(x0 + 3000, y0, x0 + 3050, y0 + 100),  # 5,000 m²: too small for any junior module
        ],
        crs=CRS,
    )


def test_capacity_from_classes_and_standard_size():
    schools = read_schools(_schools(), crs=CRS, standards=STD)
    assert schools.loc["P1", "capacity_primary"] == 24 * 45
    assert schools.loc["J1", "capacity_junior"] == 18 * 50
    assert schools.loc["N1", ["capacity_primary", "capacity_junior"]].tolist() == [18 * 45, 9 * 50]
    assert schools.loc["J1", "capacity_primary"] == 0
    assert schools.index.name == "school_id"
    assert (schools["status"] == "existing").all()


def test_given_capacity_wins_over_classes():
    schools = read_schools(_schools(capacity_primary=[1000, None, None]), crs=CRS, standards=STD)
    assert schools.loc["P1", "capacity_primary"] == 1000
    assert schools.loc["N1", "capacity_primary"] == 18 * 45


def test_bad_level_names_school_and_value():
    with pytest.raises(InputError, match=r"'J1' has level = 'middle'"):
        read_schools(_schools(level=["primary", "middle", "nine_year"]), crs=CRS, standards=STD)


def test_negative_count_is_refused():
    with pytest.raises(InputError, match=r"classes_primary = -3"):
        read_schools(_schools(classes_primary=[-3, 0, 18]), crs=CRS, standards=STD)


def test_duplicate_ids_are_refused():
    with pytest.raises(InputError, match="appears more than once"):
        read_schools(_schools(school_id=["P1", "P1", "N1"]), crs=CRS, standards=STD)


def test_enrolment_at_a_level_the_school_does_not_teach():
    with pytest.raises(InputError, match="junior school but has enrolled_primary"):
        read_schools(_schools(enrolled_primary=[1400, 5, 800]), crs=CRS, standards=STD)


def test_geographic_study_crs_is_refused():
    with pytest.raises(InputError, match="geographic"):
        read_schools(_schools(), crs="EPSG:4326", standards=STD)


def test_site_options_respect_land_and_caps():
    sites = read_sites(_sites(), crs=CRS)
    assert sites.loc["S1", "area_m2"] == pytest.approx(30_000)
    schools = combine_facilities(read_schools(_schools(), crs=CRS, standards=STD), sites)
    opts = size_options(schools, STD)
    s1 = opts[opts.school_id == "S1"]
    # 30,000 m² at 18 m²/pupil holds 1,666 pupils: 24, 30 and 36 classes fit; 42 (1,890) does not.
    assert s1["classes_primary"].tolist() == [24, 30, 36]
    s2 = opts[opts.school_id == "S2"]
    # nine-year modules: 24+12 (1,680 pupils, 30,240 m²), 30+18 (2,250, 45,000 m²) fit 50,000 m²;
    # 36+15 (2,370 pupils) needs 46,410 m² and fits too; all are under the 2,500 cap.
    assert sorted(zip(s2.classes_primary, s2.classes_junior, strict=True)) == [(24, 12), (30, 18), (36, 15)]
    assert "S3" not in set(opts.school_id)  # 5,000 m² central: 18 classes x 50 x 10.1 = 9,090 m² needed
    # existing P1 may add 6 or 12 classes (1,080 + 540 = 1,620 <= 2,000)
    p1 = opts[opts.school_id == "P1"]
    assert p1["option"].tolist() == ["+6P", "+12P"]
    row = s1.iloc[-1]
    assert row["floor_area_m2"] == pytest.approx(1620 * STD.floor_per_pupil_m2["primary"])
    assert row["cost_yuan"] == pytest.approx(row["floor_area_m2"] * STD.build_cost_per_m2)
    assert row["subsidy_yuan"] == pytest.approx(row["floor_area_m2"] * 200)


def test_combined_table_has_points_and_unique_ids():
    sites = read_sites(_sites(), crs=CRS)
    combined = combine_facilities(read_schools(_schools(), crs=CRS, standards=STD), sites)
    assert combined.geom_type.eq("Point").all()
    assert combined.loc["S1"].geometry.within(sites.loc["S1"].geometry)
    assert set(combined["status"]) == {"existing", "site"}
    clash = sites.rename(index={"S1": "P1"})
    with pytest.raises(InputError, match="also existing school ids"):
        combine_facilities(read_schools(_schools(), crs=CRS, standards=STD), clash)


def test_sites_must_be_polygons(tmp_path):
    path = tmp_path / "sites.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"school_id": "S9", "level": "primary"},
                        "geometry": {"type": "Point", "coordinates": [113.1, 23.0]},
                    }
                ],
            }
        )
    )
    with pytest.raises(InputError, match=r"sites.geojson: site 'S9' has a Point geometry"):
        read_sites(path, crs=CRS)


def test_csv_schools_with_lon_lat(tmp_path):
    path = tmp_path / "schools.csv"
    path.write_text(
        "school_id,name,level,lon,lat,classes_primary,enrolled_primary\nA,Alpha,primary,113.1,23.0,30,0\n"
    )
    schools = read_schools(path, crs=CRS, standards=STD)
    assert schools.loc["A", "capacity_primary"] == 30 * 45
    bad = tmp_path / "bad.csv"
    bad.write_text("school_id,name,level,lon,lat\nA,Alpha,primary,east,23.0\n")
    with pytest.raises(InputError, match=r"non-numeric value 'east' in row 2"):
        read_schools(bad, crs=CRS, standards=STD)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"nope\.geojson: file not found"):
        read_schools(tmp_path / "nope.geojson", crs=CRS, standards=STD)


# ----------------------------------------------------------------------------- the declared schema
def _write_shapefile(gdf: gpd.GeoDataFrame, path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "column names longer than 10 characters will be truncated"
        gdf.to_file(path)
    return path


def test_shapefile_cut_names_read_as_the_declared_columns(tmp_path):
    schools = _schools(
        capacity_primary=[1000, 0, 800],
        capacity_junior=[0, 900, 450],
        max_extra_classes_primary=[12, 0, 0],
        max_extra_classes_junior=[0, 6, 0],
    )
    path = _write_shapefile(schools, tmp_path / "schools.shp")
    assert "capacity_p" in gpd.read_file(path).columns  # the shapefile did cut the names
    read = read_schools(path, crs=CRS, standards=STD)
    assert read["capacity_primary"].tolist() == [1000, 0, 800]
    assert read["enrolled_junior"].tolist() == [0, 950, 400]
    # max_extra_ / max_extr_1: only one reading fits the levels (a primary school cannot add junior classes)
    assert read["max_extra_classes_primary"].tolist() == [12, 0, 0]
    assert read["max_extra_classes_junior"].tolist() == [0, 6, 0]


def test_shapefile_cut_names_that_levels_cannot_tell_apart_are_refused(tmp_path):
    schools = _schools(max_extra_classes_primary=[0, 0, 6], max_extra_classes_junior=[0, 0, 3])  # nine-year
    path = _write_shapefile(schools, tmp_path / "schools.shp")
    with pytest.raises(
        InputError, match=r"'max_extra_', 'max_extr_1'.*rename them max_extr_p and max_extr_j"
    ):
        read_schools(path, crs=CRS, standards=STD)
    renamed = _write_shapefile(
        schools.rename(
            columns={"max_extra_classes_primary": "max_extr_p", "max_extra_classes_junior": "max_extr_j"}
        ),
        tmp_path / "renamed.shp",
    )
    read = read_schools(renamed, crs=CRS, standards=STD)
    assert read.loc["N1", ["max_extra_classes_primary", "max_extra_classes_junior"]].tolist() == [6, 3]


def test_column_spellings_any_case_and_spaces():
    schools = _schools().rename(columns={"classes_primary": "Classes Primary", "level": "LEVEL"})
    read = read_schools(schools, crs=CRS, standards=STD)
    assert read.loc["P1", "capacity_primary"] == 24 * 45


@pytest.mark.parametrize(
    ("bad", "good"),
    [
        ("capacity_primry", "capacity_primary"),
        ("enroled_junior", "enrolled_junior"),
        ("max_extra_primary", None),
    ],
)
def test_near_miss_columns_are_refused_with_did_you_mean(bad, good):
    schools = _schools(**{bad: [1, 1, 1]}).drop(columns=[good] if good in _schools().columns else [])
    if good is None:  # close only to a declared column that is there: kept, listed once as unknown
        read_schools(schools, crs=CRS, standards=STD)
        return
    with pytest.raises(InputError, match=rf"'{bad}' \(did you mean '{good}'\?\)"):
        read_schools(schools, crs=CRS, standards=STD)


def test_unknown_columns_are_listed_in_one_warning(caplog):
    with caplog.at_level("WARNING", logger="siting"):
        read_schools(_schools(remarks=["a", "b", "c"], principal=["x", "y", "z"]), crs=CRS, standards=STD)
    lines = [r.getMessage() for r in caplog.records if "not schools columns" in r.getMessage()]
    assert len(lines) == 1 and "remarks, principal" in lines[0]


def test_seats_are_never_silently_zero(caplog):
    no_seats = _schools().drop(columns=["classes_primary"])
    with pytest.raises(InputError, match=r"'P1' teaches primary but has neither capacity_primary.*0 seats"):
        read_schools(no_seats, crs=CRS, standards=STD)
    no_enrolment = _schools().drop(columns=["enrolled_junior"])
    with pytest.raises(InputError, match=r"no 'enrolled_junior' column .* needed for 2 school\(s\)"):
        read_schools(no_enrolment, crs=CRS, standards=STD)
    empty = _schools(enrolled_primary=[1400, 0, None])
    with pytest.raises(InputError, match=r"school 'N1' has no enrolled_primary .*write 0"):
        read_schools(empty, crs=CRS, standards=STD)
    seats_elsewhere = _schools(capacity_junior=[100, 900, 450])
    with pytest.raises(InputError, match=r"'P1' is a primary school but has capacity_junior = 100"):
        read_schools(seats_elsewhere, crs=CRS, standards=STD)


def test_derived_counts_and_defaults_come_with_a_warning(caplog):
    schools = _schools(capacity_primary=[1000, None, 800]).drop(columns=["classes_primary"])
    with caplog.at_level("WARNING", logger="siting"):
        read = read_schools(schools, crs=CRS, standards=STD)
    assert read.loc["P1", "classes_primary"] == 23  # 1000 seats / 45 rounded up
    assert read.loc["J1", "classes_primary"] == 0  # a junior school: no primary classes, no word about it
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "2 school(s) have no classes_primary" in text and "÷ 45 rounded up" in text
    assert "no max_extra_classes_junior column" in text and "0 classes (no expansion)" in text


def test_level_names_in_chinese_and_with_spaces():
    read = read_schools(_schools(level=["小学", "初中", "nine year"]), crs=CRS, standards=STD)
    assert read["level"].tolist() == ["primary", "junior", "nine_year"]
    with pytest.raises(InputError, match=r"level = 'primay'.*Did you mean 'primary'\?"):
        read_schools(_schools(level=["primay", "junior", "nine_year"]), crs=CRS, standards=STD)


def test_swapped_lonlat_is_named_before_it_becomes_inf():
    swapped = gpd.GeoDataFrame(
        _schools().drop(columns="geometry"), geometry=[Point(23.0, 113.1)] * 3, crs=4326
    )
    with pytest.raises(
        InputError, match=r"feature 'P1' at \(23, 113.1\).*longitude and latitude look swapped"
    ):
        read_schools(swapped, crs=CRS, standards=STD)
    metres = gpd.GeoDataFrame(_schools().drop(columns="geometry"), geometry=[Point(7e5, 2.5e6)] * 3, crs=4326)
    with pytest.raises(InputError, match=r"not in degrees although the layer says EPSG:4326"):
        read_schools(metres, crs=CRS, standards=STD)
    degrees = gpd.GeoDataFrame(
        _schools().drop(columns="geometry"), geometry=[Point(113.1, 23.0)] * 3, crs=CRS
    )
    with pytest.raises(
        InputError, match=r"look like longitude/latitude degrees in a layer labelled as metres"
    ):
        read_schools(degrees, crs=CRS, standards=STD)


def test_site_defaults_and_empty_parcel(caplog):
    with caplog.at_level("WARNING", logger="siting"):
        sites = read_sites(_sites(), crs=CRS)
    assert sites["cost_yuan"].tolist() == [0.0, 0.0, 0.0]  # absent: 0 yuan, documented, no warning
    assert not [r for r in caplog.records if "cost_yuan" in r.getMessage()]
    assert sites["available_from"].isna().all()
    flat = _sites()
    flat.loc[0, "geometry"] = box(700000, 2539000, 700200, 2539000)  # a line-thin parcel: 0 m²
    with pytest.raises(
        InputError, match=r"site 'S1' has an area of 0 m² \(its parcel polygon, and no area_m2"
    ):
        read_sites(flat, crs=CRS)


def test_csv_saved_with_semicolons(tmp_path):
    path = tmp_path / "schools.csv"
    path.write_text(
        "school_id;level;lon;lat;capacity_primary;enrolled_primary\nA;primary;113.1;23.0;900;850\n"
    )
    schools = read_schools(path, crs=CRS, standards=STD)
    assert schools.loc["A", ["capacity_primary", "classes_primary", "enrolled_primary"]].tolist() == [
        900,
        20,
        850,
    ]


def test_indicator_columns_the_scenario_maps_are_known_numbers(caplog):
    schools = _schools(jiaoxue_m2=[5000, 4000, "n/a"], floor_area_m2=[1.0, 2.0, 3.0])
    with pytest.raises(InputError, match=r"school 'N1' has jiaoxue_m2 = 'n/a'; it must be a number >= 0"):
        read_schools(schools, crs=CRS, standards=STD, indicator_columns=["jiaoxue_m2"])
    schools = _schools(jiaoxue_m2=[5000, 4000, None])
    with caplog.at_level("WARNING", logger="siting"):
        read = read_schools(schools, crs=CRS, standards=STD, indicator_columns=["jiaoxue_m2"])
    assert read["jiaoxue_m2"].iloc[:2].tolist() == [5000.0, 4000.0] and read["jiaoxue_m2"].isna().iloc[2]
    assert not [r for r in caplog.records if "jiaoxue_m2" in r.getMessage()]  # mapped: not an unknown column
