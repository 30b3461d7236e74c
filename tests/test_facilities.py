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
    path.write_text("school_id,name,level,lon,lat,classes_primary,enrolled_primary\nA,Alpha,primary,113.1,23.0,30,0\n")
    schools = read_schools(path, crs=CRS, standards=STD)
    assert schools.loc["A", "capacity_primary"] == 30 * 45
    bad = tmp_path / "bad.csv"
    bad.write_text("school_id,name,level,lon,lat\nA,Alpha,primary,east,23.0\n")
    with pytest.raises(InputError, match=r"non-numeric value 'east' in row 2"):
        read_schools(bad, crs=CRS, standards=STD)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"nope\.geojson: file not found"):
        read_schools(tmp_path / "nope.geojson", crs=CRS, standards=STD)
