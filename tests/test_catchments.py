"""Catchment polygons, contiguity (find and repair) and change tables on hand-built grids."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from siting.catchments import (
    adjacency_pairs,
    catchments_from_assignment,
    compare_catchments,
    find_fragments,
    repair_contiguity,
)
from siting.errors import InputError
from siting.standards import Standards

CRS = "EPSG:32649"
STD = Standards.foshan()
CELL = 100.0


def _grid(n, assignment, *, pupils=2.0, column="proposed_primary"):
    """n×n grid of 100 m cells; unit id = row·n + col (row 0 at the bottom)."""
    cells = [box(c * CELL, r * CELL, (c + 1) * CELL, (r + 1) * CELL) for r in range(n) for c in range(n)]
    return gpd.GeoDataFrame(
        {
            "population": np.full(n * n, 10.0),
            "primary": np.full(n * n, pupils),
            "junior": np.full(n * n, 1.0),
            column: pd.array(assignment, dtype="str"),
        },
        geometry=cells,
        crs=CRS,
        index=pd.Index(np.arange(n * n, dtype=np.int64), name="unit_id"),
    )


def _schools(points, capacity):
    ids = list(points)
    return gpd.GeoDataFrame(
        {
            "name": ids,
            "level": "primary",
            "status": "existing",
            "capacity_primary": [capacity[i] for i in ids],
        },
        geometry=[Point(points[i]) for i in ids],
        crs=CRS,
        index=pd.Index(ids, name="school_id"),
    )


def _costs(units, schools, *, override=None):
    rows = []
    for uid, geom in units.geometry.items():
        for sid, pt in schools.geometry.items():
            rows.append((uid, sid, geom.centroid.distance(pt), geom.centroid.distance(pt)))
    costs = pd.DataFrame(rows, columns=["unit_id", "school_id", "distance_m", "time_s"])
    for (uid, sid), dist in (override or {}).items():
        costs.loc[(costs["unit_id"] == uid) & (costs["school_id"] == sid), "distance_m"] = dist
    return costs


def _split_5x5():
    """A holds columns 0–1, B columns 2–4, except units 9 (col 4, row 1) and 24 (col 4, row 4) given to A."""
    assignment = ["A" if i % 5 < 2 else "B" for i in range(25)]
    assignment[9] = assignment[24] = "A"
    return _grid(5, assignment)


# ------------------------------------------------------------------------------------ polygons
def test_catchment_polygons_dissolve_exactly():
    units = _split_5x5()
    units.loc[3, "proposed_primary"] = None  # unserved
    cat = catchments_from_assignment(units, level="primary").set_index("school_id")
    assert list(cat.columns) == ["level", "population", "pupils", "n_units", "n_parts", "geometry"]
    assert cat.loc["A", "n_units"] == 12 and cat.loc["B", "n_units"] == 12
    assert cat.loc["A", "pupils"] == 24.0 and cat.loc["A", "population"] == 120.0
    # B loses unit 4 (corner) to isolation: its neighbours are 3 (unserved) and 9 (A)
    assert cat.loc["A", "n_parts"] == 3 and cat.loc["B", "n_parts"] == 2
    assert cat.geometry.is_valid.all()
    assert cat.loc["A"].geometry.area == pytest.approx(12 * CELL**2)
    assert shapely.area(shapely.intersection(cat.loc["A"].geometry, cat.loc["B"].geometry)) == 0
    # the main part of A is exactly the two left columns: a rectangle, no interior vertices left
    main = max(shapely.get_parts(cat.loc["A"].geometry), key=lambda g: g.area)
    assert main.equals(box(0, 0, 200, 500)) and len(main.exterior.coords) == 5


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["A", "B", "C", None]), min_size=16, max_size=16))
def test_catchments_never_overlap_and_cover_served_units(assignment):
    units = _grid(4, assignment)
    cat = catchments_from_assignment(units, level="primary")
    served = units[units["proposed_primary"].notna()]
    assert cat["n_units"].sum() == len(served)
    if not len(cat):
        return
    geoms = cat.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            assert shapely.area(shapely.intersection(geoms[i], geoms[j])) == pytest.approx(0, abs=1e-6)
    covered = shapely.union_all(geoms)
    assert shapely.area(shapely.symmetric_difference(covered, served.union_all())) == pytest.approx(
        0, abs=1e-6
    )
    assert cat.geometry.area.sum() == pytest.approx(len(served) * CELL**2)


def test_overlapping_user_polygons_give_non_overlapping_catchments():
    polys = [box(0, 0, 110, 100), box(100, 0, 200, 100)]  # 10 m overlap
    units = gpd.GeoDataFrame(
        {"population": [1.0, 1.0], "primary": [1.0, 1.0], "junior": 0.0, "proposed_primary": ["A", "B"]},
        geometry=polys,
        crs=CRS,
        index=pd.Index(["blk1", "blk2"], name="unit_id"),
    )
    cat = catchments_from_assignment(units, level="primary")
    a, b = cat.geometry.to_numpy()
    assert shapely.area(shapely.intersection(a, b)) == pytest.approx(0, abs=1e-6)
    assert a.area + b.area == pytest.approx(200 * 100)


def test_both_levels_and_bad_level():
    units = _split_5x5()
    units["proposed_junior"] = pd.array(["J"] * 25, dtype="str")
    cat = catchments_from_assignment(units, level="both")
    assert cat["level"].tolist() == ["primary", "primary", "junior"]
    with pytest.raises(InputError, match="level must be"):
        catchments_from_assignment(units, level="senior")


# ------------------------------------------------------------------------------------ contiguity
def test_adjacency_is_rook_not_queen():
    units = _grid(3, ["A"] * 9)
    left, right = adjacency_pairs(units)
    pairs = set(zip(left.tolist(), right.tolist(), strict=True))
    assert (0, 1) in pairs and (0, 3) in pairs
    assert (0, 4) not in pairs  # corner only
    assert len(pairs) == 12  # 3×3 grid: 6 horizontal + 6 vertical edges


def test_find_fragments_lists_every_piece_main_first():
    frag = find_fragments(_split_5x5(), level="primary")
    assert frag["school_id"].unique().tolist() == ["A"]
    assert frag["main"].tolist() == [True, False, False]
    assert frag["unit_ids"].tolist()[1:] == [(9,), (24,)]
    assert frag["n_units"].tolist() == [10, 1, 1]


def test_main_piece_is_the_one_holding_the_school():
    schools = _schools({"A": (450, 450), "B": (350, 50)}, {"A": 100, "B": 100})
    frag = find_fragments(_split_5x5(), level="primary", schools=schools)
    assert frag.loc[frag["main"], "unit_ids"].item() == (24,)


def test_repair_moves_stray_pieces_and_reports_capacity():
    units = _split_5x5()
    # B holds 13 units × 2 pupils = 26; 28 seats leave room for one stray piece (2 pupils) only
    schools = _schools({"A": (50, 50), "B": (350, 50)}, {"A": 100, "B": 28})
    costs = _costs(units, schools)
    repaired, report = repair_contiguity(units, level="primary", costs=costs, schools=schools, standards=STD)
    assert report["unit_ids"].tolist() == [(9,), (24,)]  # handled in (school, smallest unit) order
    assert report["repaired"].tolist() == [True, True]
    assert report.loc[0, "new_school"] == "B" and report.loc[0, "why"] == "moved"
    # B is full after unit 9: unit 24 moves by a swap, B handing a border unit back to A (issue 18)
    assert report.loc[1, "why"] == "swapped" and "capacity" in report.loc[1, "reason"]
    assert repaired.loc[9, "proposed_primary"] == "B" and repaired.loc[24, "proposed_primary"] == "B"
    assert units.loc[9, "proposed_primary"] == "A"  # the input is not changed
    assert find_fragments(repaired, level="primary").empty
    load = repaired.groupby("proposed_primary")["primary"].sum()
    assert load["B"] <= 28 and load["A"] <= 100


def test_repair_respects_hard_distance_limit():
    units = _split_5x5()
    schools = _schools({"A": (50, 50), "B": (350, 50)}, {"A": 100, "B": 100})
    costs = _costs(units, schools, override={(24, "B"): 1600.0})  # beyond the 1,500 m primary limit
    repaired, report = repair_contiguity(units, level="primary", costs=costs, schools=schools, standards=STD)
    assert report["repaired"].tolist() == [True, False]
    assert "1,600 m" in report.loc[1, "reason"] and "1,500 m" in report.loc[1, "reason"]
    # and is deterministic
    again, report2 = repair_contiguity(units, level="primary", costs=costs, schools=schools, standards=STD)
    pd.testing.assert_frame_equal(report, report2)
    assert again["proposed_primary"].tolist() == repaired["proposed_primary"].tolist()


def test_repair_of_an_enclave_joins_the_surrounding_school():
    # C's own unit 0 in a corner; a lone C unit (12) in the middle of A: it goes to A
    assignment = ["A"] * 25
    assignment[0] = assignment[12] = "C"
    units = _grid(5, assignment)
    schools = _schools({"A": (250, 450), "C": (50, 50)}, {"A": 100, "C": 100})
    repaired, report = repair_contiguity(
        units, level="primary", costs=_costs(units, schools), schools=schools, standards=STD
    )
    assert report["unit_ids"].tolist() == [(12,)] and report["new_school"].tolist() == ["A"]
    assert find_fragments(repaired, level="primary").empty


# ------------------------------------------------------------------------------------ changes
def test_compare_current_to_proposed_lists_exactly_the_moved_units():
    units = _split_5x5()
    units["current_primary"] = pd.array(["A" if i % 5 < 2 else "B" for i in range(25)], dtype="str")
    units.loc[7, "current_primary"] = None  # unit 7 had no school, now B
    schools = _schools({"A": (50, 50), "B": (350, 50)}, {"A": 100, "B": 100})
    costs = _costs(units, schools)
    changes = compare_catchments(units, level="primary", costs=costs)
    assert changes["unit_id"].tolist() == [7, 9, 24]
    assert changes["old_school"].isna().tolist() == [True, False, False]
    assert changes["new_school"].tolist() == ["B", "A", "A"]
    assert changes["pupils"].tolist() == [2.0, 2.0, 2.0]
    # unit 9 (centre 450, 150): to B at (350, 50) √(100² + 100²) = 141.4 m; to A at (50, 50) √(400² + 100²)
    row = changes.set_index("unit_id").loc[9]
    assert row["walk_before_m"] == pytest.approx(141.421, abs=1e-3)
    assert row["walk_after_m"] == pytest.approx(412.311, abs=1e-3)


def test_compare_two_results_and_refuse_different_units():
    a = _split_5x5()
    b = a.copy()
    b.loc[[0, 1], "proposed_primary"] = "B"
    changes = compare_catchments(a, b, level="primary")
    assert changes["unit_id"].tolist() == [0, 1] and set(changes["old_school"]) == {"A"}
    assert changes["walk_before_m"].isna().all()  # no costs given
    with pytest.raises(InputError, match="different demand units"):
        compare_catchments(a, b.drop(index=[0]), level="primary")
