"""Overflow instead of shortfall: overflow table, changes without "→ none", a repair that keeps every home.

Hand-checked cases on 100 m cells; the model is not involved (see ``test_everyhome.py`` for that).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from siting.catchments import compare_catchments, repair_contiguity
from siting.metrics import OVERFLOW_COLUMNS, overflow_table, summary
from siting.standards import Standards

CRS = "EPSG:32649"
STD = Standards.foshan()  # primary: 45 per class, large 56+, super-large 66+, hard limit 1,500 m


def primary_schools_a_b(*, x: tuple[float, float], enrolled: tuple[float, float]) -> gpd.GeoDataFrame:
    """Existing primary schools A (2 classes, 90 seats) and B (1 class, 45 seats) at ``x`` (y = 50 m)."""
    return gpd.GeoDataFrame(
        {
            "name": ["A", "B"],
            "level": "primary",
            "status": "existing",
            "classes_primary": [2, 1],
            "classes_junior": 0,
            "capacity_primary": [90.0, 45.0],
            "capacity_junior": 0.0,
            "enrolled_primary": list(enrolled),
            "enrolled_junior": 0.0,
        },
        geometry=[Point(x[0], 50), Point(x[1], 50)],
        crs=CRS,
        index=pd.Index(["A", "B"], name="school_id"),
    )


def _two_schools():
    """A (2 classes, 90 seats, 100 enrolled) at x=50 and B (1 class, 45 seats, 30 enrolled) at x=350.

    Four units of 40 pupils. Today u0, u1 go to A (80) and u2, u3 to B (80: 35 above its 45 seats). The
    plan moves u3 to A: 120 at A (30 above 90), 40 at B.
    """
    units = gpd.GeoDataFrame(
        {
            "population": 400.0,
            "primary": 40.0,
            "junior": 0.0,
            "district": "East",
            "current_primary": ["A", "A", "B", "B"],
            "proposed_primary": ["A", "A", "B", "A"],
        },
        geometry=[box(x * 100, 0, x * 100 + 100, 100) for x in range(4)],
        crs=CRS,
        index=pd.Index([0, 1, 2, 3], name="unit_id"),
    )
    schools = primary_schools_a_b(x=(50, 350), enrolled=(100.0, 30.0)).assign(
        capacity_after_primary=[90.0, 45.0], capacity_after_junior=0.0
    )
    costs = pd.DataFrame(
        [(u, s, abs(u * 100 + 50 - x), 0.0) for u in range(4) for s, x in (("A", 50), ("B", 350))],
        columns=["unit_id", "school_id", "distance_m", "time_s"],
    )
    return units, schools, costs


def test_overflow_table_by_hand():
    units, schools, costs = _two_schools()
    table = overflow_table(schools, units, standards=STD, costs=costs).set_index("school_id")
    assert list(table.reset_index().columns) == list(OVERFLOW_COLUMNS)
    a, b = table.loc["A"], table.loc["B"]
    assert (a["pupils_before"], a["pupils_after"], b["pupils_before"], b["pupils_after"]) == (80, 120, 80, 40)
    assert (a["overflow_before"], a["overflow_after"]) == (0, 30)
    assert (b["overflow_before"], b["overflow_after"]) == (35, 0)
    assert a["overflow_today"] == 10 and b["overflow_today"] == 0  # enrolled 100 in 90 seats; 30 in 45
    # 120 pupils in A's 2 classes: 60 each, both above 45 and large (56+), not super-large (66+); 3 needed
    assert (a["classes_after"], a["classes_needed_after"], a["classes_above_standard_after"]) == (2, 3, 2)
    assert (a["large_classes_after"], a["super_large_classes_after"]) == (2, 0)
    assert (a["pupils_in"], a["pupils_out"], b["pupils_in"], b["pupils_out"]) == (40, 0, 0, 40)
    # a why for A (more overflow than before and than today), none for B (its overflow goes away)
    assert "the plan brings 40 pupils here" in a["why"]
    assert "other schools within the limit of some of its home zones have 5 seats left (B (5))" in a["why"]
    assert b["why"] == ""


def test_why_names_growth_and_that_no_seat_is_left():
    units, schools, costs = _two_schools()
    units["proposed_primary"] = units["current_primary"]  # no change: B keeps 80 in 45 seats
    table = overflow_table(schools, units, standards=STD, costs=costs).set_index("school_id")
    b = table.loc["B"]
    # today 30 pupils, design year 80: not more than before (35 = 35), but more than today (0)
    assert b["overflow_before"] == b["overflow_after"] == 35 and b["overflow_today"] == 0
    assert b["why"].startswith("design-year demand in its reach grew by 50 (today 30 pupils, design year 80)")
    assert "A (10)" in b["why"]  # A has 10 seats left within the limit
    schools["capacity_after_primary"] = [80.0, 45.0]  # A full: no seat within the limit
    b = overflow_table(schools, units, standards=STD, costs=costs).set_index("school_id").loc["B"]
    assert "no other school within the 1,500 m limit of its home zones has a seat left" in b["why"]


def test_key_figures_say_overflow_not_unserved():
    units, schools, costs = _two_schools()
    figures = summary(schools, units, standards=STD, costs=costs)
    assert figures["primary_overflow_before"] == 35 and figures["primary_overflow"] == 30
    assert figures["primary_large_classes"] == 2
    assert not [k for k in figures if "unserved" in k]


def test_changes_have_no_row_for_a_unit_without_demand():
    units, _, costs = _two_schools()
    units.loc[1, "primary"] = 0.0
    units.loc[1, "proposed_primary"] = None  # no demand: the model gives it no school
    changes = compare_catchments(units, level="primary", costs=costs)
    assert changes["unit_id"].tolist() == [3]
    assert changes["new_school"].notna().all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(["A", "B", "C", None]), min_size=16, max_size=16),
    st.lists(st.floats(0, 5), min_size=16, max_size=16),
)
def test_contiguity_repair_never_unassigns_a_unit(assignment, demand):
    cells = [box(c * 100, r * 100, (c + 1) * 100, (r + 1) * 100) for r in range(4) for c in range(4)]
    units = gpd.GeoDataFrame(
        {
            "population": 10.0,
            "primary": demand,
            "junior": 0.0,
            "proposed_primary": pd.array(assignment, dtype="str"),
        },
        geometry=cells,
        crs=CRS,
        index=pd.Index(np.arange(16, dtype=np.int64), name="unit_id"),
    )
    points = {"A": (50, 50), "B": (350, 350), "C": (50, 350)}
    schools = gpd.GeoDataFrame(
        {"name": list(points), "level": "primary", "status": "existing", "capacity_primary": 30.0},
        geometry=[Point(p) for p in points.values()],
        crs=CRS,
        index=pd.Index(list(points), name="school_id"),
    )
    costs = pd.DataFrame(
        [
            (u, s, g.centroid.distance(Point(p)), 0.0)
            for u, g in units.geometry.items()
            for s, p in points.items()
        ],
        columns=["unit_id", "school_id", "distance_m", "time_s"],
    )
    repaired, _ = repair_contiguity(units, level="primary", costs=costs, schools=schools, standards=STD)
    before = units["proposed_primary"].notna()
    after = repaired["proposed_primary"].notna()
    assert (after == before).all()
    assert repaired.loc[after, "proposed_primary"].isin(list(points)).all()


def test_a_result_saved_without_overflow_still_draws_its_map_table():
    from siting.maps.data import _add_overflow

    t = pd.DataFrame(index=pd.Index(["A"], name="school_id"))
    _add_overflow(t, None, "primary")
    assert np.isnan(t.loc["A", "over_after_primary"]) and t.loc["A", "why_primary"] == ""
