"""Policy metrics against hand computations (CV, stage split, large classes, walks, seats per 1,000)."""

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from siting.errors import InputError
from siting.metrics import (
    ALL,
    classes_over,
    cv_table,
    cv_tables,
    district_metrics,
    pupil_weighted_cv,
    resource_indicators,
    school_metrics,
    stage_parts,
    summary,
    walk_stats,
    weighted_quantile,
)
from siting.standards import Standards

CRS = "EPSG:32649"
STD = Standards.foshan()
STATES = ("current", "proposed")


# ------------------------------------------------------------------------------------ the CV formula
def test_cv_worked_example_five_schools():
    # Five schools, books per pupil x and pupils p (P = 1000):
    #   p = 100, 200, 300, 200, 200 ; x = 10, 20, 30, 40, 50
    #   x̄ = (1000 + 4000 + 9000 + 8000 + 10000) / 1000 = 32        (pooled: 32,000 books / 1,000 pupils)
    #   deviations -22, -12, -2, 8, 18 ; squares 484, 144, 4, 64, 324
    #   S² = .1·484 + .2·144 + .3·4 + .2·64 + .2·324 = 48.4 + 28.8 + 1.2 + 12.8 + 64.8 = 156
    #   CV = sqrt(156) / 32 = 12.4900 / 32 = 0.39031
    cv = pupil_weighted_cv([10, 20, 30, 40, 50], [100, 200, 300, 200, 200])
    assert cv == pytest.approx(0.39031, abs=1e-5)
    # the unweighted CV differs (mean 30, population std sqrt(200) = 14.142 → 0.4714): weighting matters
    assert abs(cv - 0.4714) > 0.05


def test_cv_table_uses_pooled_value_from_resource_totals():
    # the same five schools given as resource totals (books) and enrolment
    pupils = [100, 200, 300, 200, 200]
    books = [1000.0, 4000.0, 9000.0, 8000.0, 10000.0]
    schools = pd.DataFrame(
        {
            "level": "primary",
            "enrolled_primary": pupils,
            "enrolled_junior": 0,
            "books": books,
        },
        index=pd.Index([f"P{i}" for i in range(5)], name="school_id"),
    )
    table = cv_table(schools, standards=STD, indicators={"books": "equipment_value"})
    table = table[table["indicator"] == "equipment_value"]
    row = table[table["level"] == "primary"].iloc[0]
    assert row["mean"] == pytest.approx(32.0)  # 32,000 / 1,000, not the mean of the ratios (30)
    assert row["std"] == pytest.approx(math.sqrt(156))
    assert row["cv"] == pytest.approx(0.39031, abs=1e-5)
    assert row["cv_max"] == 0.50 and bool(row["passes"]) is True
    junior = table[table["level"] == "junior"].iloc[0]
    assert junior["n_schools"] == 0 and junior["passes"] is None


def test_cv_fails_above_limit_and_rejects_bad_weights():
    # two schools, 100 pupils each, 1 and 3 per pupil: x̄ = 2, S = 1, CV = 0.5 → junior limit 0.45 fails
    schools = pd.DataFrame(
        {
            "level": "junior",
            "enrolled_primary": 0,
            "enrolled_junior": [100, 100],
            "sports_area_m2": [100.0, 300.0],
        },
        index=pd.Index(["J1", "J2"], name="school_id"),
    )
    table = cv_table(schools, standards=STD)
    row = table[table["indicator"] == "sports_area"].set_index("level").loc["junior"]
    assert row["cv"] == pytest.approx(0.5) and row["column"] == "sports_area_m2"
    assert bool(row["passes"]) is False
    with pytest.raises(InputError, match="pupils must be finite"):
        pupil_weighted_cv([1, 2], [1, -1])
    assert math.isnan(pupil_weighted_cv([1, 2], [0, 0]))


def test_nine_year_school_split_into_stages_with_weights():
    # Nine-year school N: 600 primary + 400 junior pupils, 10,000 m² floor area.
    #   weighted pupils D = 1·600 + 1.1·400 = 1,040
    #   primary share 600/1040 → 5,769.23 m² → 9.6154 m²/pupil ; junior share 440/1040 → 10.5769 m²/pupil
    # Primary school P: 400 pupils, 4,000 m² (10 m²/pupil). Junior school J: 600 pupils, 6,000 m² (10).
    schools = pd.DataFrame(
        {
            "level": ["nine_year", "primary", "junior"],
            "enrolled_primary": [600, 400, 0],
            "enrolled_junior": [400, 0, 600],
            "floor_area_m2": [10000.0, 4000.0, 6000.0],
        },
        index=pd.Index(["N", "P", "J"], name="school_id"),
    )
    parts = stage_parts(schools, standards=STD, indicators=["floor_area_m2"]).set_index(
        ["school_id", "level"]
    )
    assert parts.loc[("N", "primary"), "floor_area_m2"] == pytest.approx(10000 * 600 / 1040)
    assert parts.loc[("N", "junior"), "floor_area_m2"] == pytest.approx(10000 * 440 / 1040)
    assert ("P", "junior") not in parts.index  # a primary school has no junior part
    table = cv_table(schools, standards=STD)
    table = table[table["indicator"] == "teaching_aux_area"].set_index("level")
    # primary: x = 9.615385 (600 pupils), 10 (400); x̄ = (5769.23 + 4000) / 1000 = 9.769231
    #   S² = .6·(−0.153846)² + .4·(0.230769)² = 0.0142012 + 0.0213018 = 0.035503 → S = 0.188422
    #   CV = 0.188422 / 9.769231 = 0.019287
    assert table.loc["primary", "mean"] == pytest.approx(9.769231, abs=1e-6)
    assert table.loc["primary", "cv"] == pytest.approx(0.019287, abs=1e-6)
    # junior: x = 10.576923 (400), 10 (600); x̄ = (4230.77 + 6000) / 1000 = 10.230769
    #   S² = .4·(0.346154)² + .6·(−0.230769)² = 0.0479290 + 0.0319527 = 0.0798817 → S = 0.282633
    #   CV = 0.282633 / 10.230769 = 0.027626
    assert table.loc["junior", "cv"] == pytest.approx(0.027626, abs=1e-6)


def test_twelve_year_senior_pupils_take_their_weighted_share():
    # 300 primary, 200 junior, 100 senior; D = 300 + 1.1·200 + 1.32·100 = 652; R = 6,520
    schools = pd.DataFrame(
        {
            "level": ["twelve_year"],
            "enrolled_primary": [300],
            "enrolled_junior": [200],
            "enrolled_senior": [100],
            "floor_area_m2": [6520.0],
        },
        index=pd.Index(["T"], name="school_id"),
    )
    parts = stage_parts(schools, standards=STD, indicators=["floor_area_m2"]).set_index("level")
    assert parts.loc["primary", "floor_area_m2"] == pytest.approx(3000.0)  # 6520 · 300 / 652
    assert parts.loc["junior", "floor_area_m2"] == pytest.approx(2200.0)  # 6520 · 220 / 652


def test_only_declared_columns_are_indicators():
    schools = pd.DataFrame(
        {
            "level": ["primary"],
            "capacity_primary": [900],
            "enrolled_primary": [800],
            "area_m2": [20000.0],
            "public": [True],
            "opened": [False],
            "floor_area_m2": [7000.0],
            "backbone_teachers": [9],
            "lon": [113.1],
            "lat": [23.0],
            "books": [5000.0],
            "name": ["x"],
        }
    )
    # numeric columns that are not declared (lon, lat, books, area_m2...) are never indicators
    assert resource_indicators(schools) == {
        "backbone_teachers": "backbone_teachers",
        "floor_area_m2": "teaching_aux_area",
    }
    assert resource_indicators(schools, {"books": "equipment_value"}) == {"books": "equipment_value"}
    with pytest.raises(InputError, match="not an indicator"):
        resource_indicators(schools, {"lon": "longitude"})
    with pytest.raises(InputError, match="both map to 'sports_area'"):
        resource_indicators(schools, {"lon": "sports_area", "lat": "sports_area"})
    with pytest.raises(InputError, match="must map schools columns"):
        resource_indicators(schools, ["floor_area_m2"])


# ------------------------------------------------------------------------------------ class sizes, walks
@pytest.mark.parametrize(
    ("pupils", "classes", "threshold", "expected"),
    [
        (570, 10, 56, 10),  # 57 each
        (555, 10, 56, 5),  # five of 56, five of 55
        (550, 10, 56, 0),  # 55 each
        (655, 10, 66, 5),  # five of 66, five of 65
        (655, 10, 56, 10),
        (660, 10, 66, 10),
        (0, 10, 56, 0),
        (100, 0, 56, 0),
    ],
)
def test_classes_over(pupils, classes, threshold, expected):
    assert classes_over(pupils, classes, threshold) == expected


def test_walk_stats_by_hand():
    # pupils 10, 20, 30, 40 at 100, 200, 600, 1000 m
    #   mean = (1,000 + 4,000 + 18,000 + 40,000) / 100 = 630 m
    #   cumulative shares .1 .3 .6 1.0 → 95th percentile = 1,000 m ; within 500 m: 30 / 100
    stats = walk_stats(np.array([100, 200, 600, 1000.0]), np.array([10, 20, 30, 40.0]), 500.0)
    assert stats == {"walk_mean_m": 630.0, "walk_p95_m": 1000.0, "share_within_radius": 0.3}
    assert weighted_quantile(np.array([1.0, 2.0]), np.array([95.0, 5.0]), 0.95) == 1.0
    assert math.isnan(walk_stats(np.array([np.nan]), np.array([1.0]), 500)["walk_mean_m"])


# ------------------------------------------------------------------------------------ per school / district
def _city():
    """Four units in a row (100 m cells); school A at x=50, B at x=350; A full of large classes today."""
    cells = [box(x * 100, 0, x * 100 + 100, 100) for x in range(4)]
    units = gpd.GeoDataFrame(
        {
            "population": [4000.0, 3000.0, 2000.0, 1000.0],
            "primary": [400.0, 300.0, 200.0, 100.0],
            "junior": [0.0, 0.0, 0.0, 0.0],
            "district": ["East", "East", "West", "West"],
            "current_primary": ["A", "A", "A", "B"],
            "proposed_primary": ["A", "A", "B", "B"],
        },
        geometry=cells,
        crs=CRS,
        index=pd.Index([10, 11, 12, 13], name="unit_id"),
    )
    schools = gpd.GeoDataFrame(
        {
            "name": ["A", "B"],
            "level": ["primary", "primary"],
            "status": ["existing", "existing"],
            "classes_primary": [14, 4],
            "classes_junior": [0, 0],
            "capacity_primary": [630, 180],
            "capacity_junior": [0, 0],
            "enrolled_primary": [924, 100],
            "enrolled_junior": [0, 0],
            "capacity_after_primary": [630, 360],  # B expanded by 4 classes
            "capacity_after_junior": [0, 0],
        },
        geometry=[Point(50, 50), Point(350, 50)],
        crs=CRS,
        index=pd.Index(["A", "B"], name="school_id"),
    )
    costs = pd.DataFrame(
        [
            (u, s, abs((u - 10) * 100 + 50 - x), 0.0)
            for u in range(10, 14)
            for s, x in (("A", 50), ("B", 350))
        ],
        columns=["unit_id", "school_id", "distance_m", "time_s"],
    )
    return units, schools, costs


def test_school_metrics_current_uses_enrolled_for_classes():
    units, schools, costs = _city()
    table = school_metrics(schools, units, standards=STD, column_prefix="current", costs=costs)
    a = table.set_index("school_id").loc["A"]
    # catchment pupils 400 + 300 + 200 = 900 over 630 seats
    assert a["pupils"] == 900 and a["utilization"] == pytest.approx(900 / 630)
    assert a["over_capacity"] == 270
    # enrolled 924 in 14 classes → 66 each: 14 large, 14 super-large; needed ⌈924 / 45⌉ = 21
    assert a["class_basis"] == "enrolled" and a["avg_class_size"] == 66
    assert (a["large_classes"], a["super_large_classes"], a["classes_needed"]) == (14, 14, 21)
    # walks of A's units: 0 m (400 pupils), 100 m (300), 200 m (200): mean = (0 + 30,000 + 40,000) / 900
    assert a["walk_mean_m"] == pytest.approx(70000 / 900)
    assert a["walk_p95_m"] == 200 and a["share_within_radius"] == 1.0
    assert table["state"].unique().tolist() == ["current"]


def test_school_metrics_proposed_uses_capacity_after_and_added_classes():
    units, schools, costs = _city()
    table = school_metrics(schools, units, standards=STD, costs=costs).set_index("school_id")
    # A: 700 pupils in 14 classes = 50 each → no large class; needed ⌈700 / 45⌉ = 16
    assert table.loc["A", "pupils"] == 700 and table.loc["A", "large_classes"] == 0
    assert table.loc["A", "classes_needed"] == 16 and table.loc["A", "class_basis"] == "catchment"
    # B: 300 pupils, capacity 360, classes 4 + (360 − 180) / 45 = 8
    assert table.loc["B", "capacity"] == 360 and table.loc["B", "classes_available"] == 8
    assert table.loc["B", "utilization"] == pytest.approx(300 / 360)


def test_school_metrics_rejects_unknown_school():
    units, schools, _ = _city()
    units.loc[13, "proposed_primary"] = "Z9"
    with pytest.raises(InputError, match="Z9"):
        school_metrics(schools, units, standards=STD)


def test_district_metrics_seats_per_1000_and_shortfall():
    units, schools, costs = _city()
    table = district_metrics(schools, units, standards=STD, column_prefix="current", costs=costs)
    table = table.set_index("district")
    # East: 7,000 residents, school A's 630 seats → 90 per 1,000 ≥ 80 → no shortfall
    assert table.loc["East", "seats_per_1000"] == pytest.approx(90.0)
    assert table.loc["East", "seat_shortfall"] == 0
    # West: 3,000 residents, B's 180 seats → 60 per 1,000; standard 240 seats → shortfall 60
    assert table.loc["West", "seats_per_1000"] == pytest.approx(60.0)
    assert table.loc["West", "seat_shortfall"] == pytest.approx(60.0)
    # overall: 810 seats for 10,000 residents = 81 per 1,000, shortfall 0 (800 needed)
    assert table.loc[ALL, "seats_per_1000"] == pytest.approx(81.0)
    assert table.loc[ALL, "seat_shortfall"] == 0
    assert table.loc[ALL, "large_classes"] == 14 and table.loc[ALL, "schools_over_capacity"] == 1


def test_summary_is_flat_json_ready_and_compares_states():
    units, schools, costs = _city()
    schools["floor_area_m2"] = [7000.0, np.nan]
    units["current_junior"] = units["proposed_junior"] = None  # nobody at junior level
    result = summary(schools, units, standards=STD, costs=costs)
    assert all(not isinstance(v, dict | list) for v in result.values())
    assert result["primary_overflow_before"] == 270 and result["primary_overflow"] == 70
    assert result["primary_large_classes_before"] == 14 and result["primary_large_classes"] == 0
    assert result["junior_walk_mean_m"] is None  # no junior pupils: NaN → None
    cv = cv_tables(schools, units, standards=STD)
    rows = cv[(cv["state"] == "proposed") & (cv["level"] == "primary")].set_index("indicator")
    proposed = rows.loc["teaching_aux_area"]
    assert proposed["n_missing"] == 1 and proposed["n_schools"] == 1  # B has no floor area recorded
    assert rows.loc["sports_area", "status"] == "missing column" and rows.loc["sports_area", "n_missing"] == 2
    assert result["cv_indicators_missing"].split(", ") == [
        "qualified_teachers", "backbone_teachers", "pe_arts_teachers", "sports_area", "equipment_value",
        "multimedia_rooms",
    ]  # fmt: skip


def test_summary_from_precomputed_tables_matches_computing_them():
    units, schools, costs = _city()
    schools["floor_area_m2"] = [7000.0, 5000.0]
    tables = {
        "school_table": pd.concat(
            [school_metrics(schools, units, standards=STD, column_prefix=p, costs=costs) for p in STATES],
            ignore_index=True,
        ),
        "cv": cv_tables(schools, units, standards=STD),
    }
    tables["district_table"] = pd.concat(
        [district_metrics(schools, units, standards=STD, column_prefix=p, costs=costs) for p in STATES],
        ignore_index=True,
    )
    fresh = summary(schools, units, standards=STD, costs=costs)
    reused = summary(schools, units, standards=STD, costs=costs, **tables)
    assert reused == fresh
    assert fresh["primary_overflow_before"] == 270  # the figures are real, not both empty


def test_json_ready_turns_numpy_and_missing_values_into_plain_json():
    import json
    from pathlib import Path

    from siting._jsonify import json_ready

    raw = {
        1: np.float64(1.23456789),
        "b": [np.int64(3), np.bool_(True), math.nan, pd.NA, pd.NaT, Path("a/b")],
    }
    assert json_ready(raw) == {"1": 1.23456789, "b": [3, True, None, None, None, "a/b"]}
    assert json_ready(raw, 3)["1"] == 1.235
    json.dumps(json_ready(raw), allow_nan=False)  # strict JSON
