"""Search areas for new school land: hand-checked strip, pockets, parcels' reasons, conservation, errors."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from siting.errors import CRSError, InputError
from siting.search_areas import (
    AREA_COLUMNS,
    AREA_UNIT_COLUMNS,
    PARCEL_COLUMNS,
    search_area_parcels,
    search_area_units,
    search_areas,
)
from siting.standards import Standards

CRS_M = "EPSG:32649"
CELL = 200.0
STD = Standards.foshan()


# --------------------------------------------------------------------------------------------- builders
def grid_units(nx: int, ny: int = 1, *, x0: float = 0.0, first_id: int = 1) -> gpd.GeoDataFrame:
    """Square 200 m cells, row by row, ids from ``first_id``; population point at the cell centre."""
    cells = [
        box(x0 + i * CELL, j * CELL, x0 + (i + 1) * CELL, (j + 1) * CELL)
        for j in range(ny)
        for i in range(nx)
    ]
    units = gpd.GeoDataFrame(geometry=cells, crs=CRS_M)
    units.index = pd.Index(np.arange(first_id, first_id + len(cells)), name="unit_id")
    units["pop_x"] = units.geometry.centroid.x
    units["pop_y"] = units.geometry.centroid.y
    units["primary"] = 0.0
    units["junior"] = 0.0
    units["proposed_primary"] = None
    units["proposed_junior"] = None
    return units


def school_table(rows: dict[str, tuple[float, float, str, float, float]]) -> gpd.GeoDataFrame:
    """Schools ``{id: (x, y, kind, capacity_after_primary, capacity_after_junior)}``, existing, not opened."""
    ids = list(rows)
    out = gpd.GeoDataFrame(
        {
            "name": ids,
            "level": [rows[s][2] for s in ids],
            "status": "existing",
            "opened": False,
            "capacity_after_primary": [rows[s][3] for s in ids],
            "capacity_after_junior": [rows[s][4] for s in ids],
        },
        geometry=gpd.points_from_xy([rows[s][0] for s in ids], [rows[s][1] for s in ids]),
        crs=CRS_M,
    )
    out.index = pd.Index(ids, name="school_id")
    return out


def straight_costs(units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, detour: float = 1.25) -> pd.DataFrame:
    """Every unit-school pair, walk = ``detour`` × the straight line between the points."""
    rows = [
        (uid, sid, detour * math.hypot(u.pop_x - s.geometry.x, u.pop_y - s.geometry.y))
        for uid, u in units.iterrows()
        for sid, s in schools.iterrows()
    ]
    return pd.DataFrame(rows, columns=["unit_id", "school_id", "distance_m"])


def overflow_of(units: gpd.GeoDataFrame, schools: gpd.GeoDataFrame) -> pd.DataFrame:
    """The model's overflow table recomputed from the assignment: pupils above capacity per school-level."""
    rows = []
    for level in ("primary", "junior"):
        pupils = units.groupby(f"proposed_{level}")[level].sum()
        for sid in schools.index:
            cap = float(schools.at[sid, f"capacity_after_{level}"])
            got = float(pupils.get(sid, 0.0))
            if cap > 0 or got > 0:
                rows.append((sid, level, cap, got, max(0.0, got - cap)))
    return pd.DataFrame(rows, columns=["school_id", "level", "capacity", "pupils", "overflow"])


def strip(capacity_a: float) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Six 200 m cells in a row (x 0–1,200 m), 500 primary pupils each; A at cell 1 serves cells 1–4 with
    ``capacity_a`` seats, B at cell 6 serves cells 5–6 and is exactly full (1,000 seats)."""
    units = grid_units(6)
    units["primary"] = 500.0
    units["proposed_primary"] = ["A", "A", "A", "A", "B", "B"]
    units["district"] = ["禅城", "禅城", "禅城", "南海", "南海", "南海"]
    schools = school_table({"A": (100, 100, "primary", capacity_a, 0), "B": (1100, 100, "primary", 1000, 0)})
    return units, schools


def run(units, schools, **kw):
    kw.setdefault("costs", straight_costs(units, schools))
    return search_areas(units, schools, overflow_of(units, schools), standards=STD, **kw)


# --------------------------------------------------------------------------------------------- hand-checked
def test_strip_by_hand():
    # A holds 24 classes x 45 = 1,080 seats but serves cells 1-4: 2,000 pupils, overflow 920.
    # Walks from A (1.25 x straight): cell 4 at 750 m, cell 3 at 500 m, cell 2 at 250 m, cell 1 at 0 m.
    # Farthest first: cell 4 gives all 500, cell 3 the remaining 420 (of 500); cells 1-2 give nothing.
    # Cells 3 and 4 are 200 m apart (< sqrt(3) x 500 = 866 m): one area, x 400-800 m: the missing school.
    units, schools = strip(1080)
    areas = run(units, schools)
    assert list(areas.columns) == [*AREA_COLUMNS, "geometry"]
    assert areas.crs == units.crs
    assert len(areas) == 1
    a = areas.iloc[0]
    assert a["area_id"] == "primary-01" and a["level"] == "primary"
    assert a["pupils"] == pytest.approx(920.0)
    assert a["n_units"] == 2
    # ceil(920 / 45) = 21 classes -> next primary module {24, 30, 36, 42} is 24; 24 x 45 = 1,080 seats
    assert (a["suggested_classes"], a["suggested_seats"], a["n_schools"]) == (24, 1080, 1)
    assert a["land_needed_m2"] == pytest.approx(1080 * 18.0)  # 19,440 m² at 18 m² per pupil
    # centre: (500 x 700 + 420 x 500) / 920 = 608.70 m; district: 南海 500 pupils > 禅城 420
    assert a["centre_x"] == pytest.approx(560_000 / 920)
    assert a["centre_y"] == pytest.approx(100.0)
    assert a["district"] == "南海"
    assert a.geometry.symmetric_difference(box(400, 0, 800, 200)).area < 1e-6
    assert a["nearby_parcels"] == ""

    table = search_area_units(
        units, schools, overflow_of(units, schools), costs=straight_costs(units, schools), standards=STD
    )
    assert list(table.columns) == list(AREA_UNIT_COLUMNS)
    assert table[["unit_id", "school_id", "pupils"]].values.tolist() == [[3, "A", 420.0], [4, "A", 500.0]]
    assert table["distance_m"].tolist() == pytest.approx([500.0, 750.0])


def test_module_rounding_and_central_standard():
    # capacity 600: overflow 1,400 = cell 4 (500) + cell 3 (500) + cell 2 (400 of 500); x 200-800 m
    # ceil(1400 / 45) = 32 classes -> module 36 (1,620 seats), 1,620 x 18 = 29,160 m²
    units, schools = strip(600)
    a = run(units, schools).iloc[0]
    assert (a["pupils"], a["n_units"], a["suggested_classes"], a["suggested_seats"]) == (1400.0, 3, 36, 1620)
    assert a["land_needed_m2"] == pytest.approx(29_160.0)
    assert a.geometry.symmetric_difference(box(200, 0, 800, 200)).area < 1e-6
    # 禅城 has 900 of the 1,400 pupils: with 禅城 central the area uses 9.4 m² per pupil: 1,620 x 9.4
    central = run(units, schools, central_districts=["禅城"]).iloc[0]
    assert central["land_needed_m2"] == pytest.approx(1620 * 9.4)
    # 南海 has only 500 of 1,400: the normal standard stays
    normal = run(units, schools, central_districts=["南海"]).iloc[0]
    assert normal["land_needed_m2"] == pytest.approx(29_160.0)
    # a unit's own `central` flag counts too: cells 2 and 3 (900 of 1,400 pupils) central
    units["central"] = [False, True, True, False, False, False]
    assert run(units, schools).iloc[0]["land_needed_m2"] == pytest.approx(1620 * 9.4)


def test_narrow_gaps_between_units_are_closed():
    # cells 3 and 4 drawn 4 m apart (x 400-598 and 602-800): the area is one polygon over the gap
    units, schools = strip(1080)
    units.loc[3, "geometry"] = box(400, 0, 598, 200)
    units.loc[4, "geometry"] = box(602, 0, 800, 200)
    geom = run(units, schools).iloc[0].geometry
    assert geom.geom_type == "Polygon"
    assert geom.symmetric_difference(box(400, 0, 800, 200)).area < 1e-6


def test_overflow_above_the_largest_module_needs_several_schools():
    # A has 45 seats and serves cells 1-5 (2,500 pupils): overflow 2,455, cells 5, 4, 3, 2 in full and 455 of
    # cell 1; cells 1 and 5 are 800 m apart (< 866 m) -> one area.
    # The largest primary module under the 2,000 cap is 42 x 45 = 1,890: ceil(2455 / 1890) = 2 schools,
    # 1,227.5 pupils each -> 28 classes -> module 30 (1,350 seats), 1,350 x 18 = 24,300 m² each.
    units, schools = strip(45)
    units["proposed_primary"] = ["A", "A", "A", "A", "A", "B"]
    a = run(units, schools).iloc[0]
    assert a["pupils"] == pytest.approx(2455.0)
    assert (a["n_schools"], a["suggested_classes"], a["suggested_seats"]) == (2, 30, 1350)
    assert a["land_needed_m2"] == pytest.approx(24_300.0)


# --------------------------------------------------------------------------------------------- pockets
def test_close_pockets_make_one_area():
    # both schools over by 120: A's farthest cell is 3 (x 500), B's is 4 (x 700): 200 m apart, one area
    units, schools = strip(1380)  # A: cells 1-3 (1,500 pupils) -> 120 over
    units["proposed_primary"] = ["A", "A", "A", "B", "B", "B"]
    schools.loc["B", "capacity_after_primary"] = 1380.0
    areas = run(units, schools)
    assert len(areas) == 1
    assert areas.iloc[0]["pupils"] == pytest.approx(240.0)
    assert areas.iloc[0].geometry.symmetric_difference(box(400, 0, 800, 200)).area < 1e-6


def test_far_pockets_make_two_areas_ordered_by_pupils():
    # a 20-cell strip (x 0-4,000 m): A at x 100 serves cells 1-3, C at x 3,900 serves cells 18-20
    units = grid_units(20)
    units["primary"] = 100.0
    units["proposed_primary"] = ["A"] * 3 + [None] * 14 + ["C"] * 3
    units.loc[4:17, "primary"] = 0.0
    schools = school_table({"A": (100, 100, "primary", 100, 0), "C": (3900, 100, "primary", 200, 0)})
    areas = run(units, schools)
    # A is 200 over (cells 3 and 2), C 100 over (cell 18): 3,000 m apart -> two areas, the larger first
    assert areas["area_id"].tolist() == ["primary-01", "primary-02"]
    assert areas["pupils"].tolist() == pytest.approx([200.0, 100.0])
    assert areas.iloc[0].geometry.symmetric_difference(box(200, 0, 600, 200)).area < 1e-6
    assert areas.iloc[1].geometry.symmetric_difference(box(3400, 0, 3600, 200)).area < 1e-6


def test_levels_are_separate_and_junior_uses_its_radius():
    # junior pupils over at A from cells 3 and 6 (1,000 m apart): within sqrt(3) x 1,000 m, one junior area
    units, schools = strip(1080)
    units["junior"] = [0, 0, 100, 0, 0, 100]
    units["proposed_junior"] = ["J"] * 6
    units.loc[[1, 2, 4, 5], "junior"] = 50.0
    schools = pd.concat([schools, school_table({"J": (100, 900, "junior", 0, 200)})])
    areas = run(units, schools)
    assert areas["level"].tolist() == ["primary", "junior"]
    junior = areas.iloc[1]
    assert junior["area_id"] == "junior-01"
    # J at (100, 900) has 400 pupils on 200 seats. Straight lines to cells 1-6: 800, 825, 894, 1,000, 1,131,
    # 1,281 m; farthest first, overflow 200 = cell 6 (100) + cell 5 (50) + cell 4 (50)
    assert junior["pupils"] == pytest.approx(200.0)
    assert junior["n_units"] == 3
    # 200 pupils would fill 22 % of the smallest junior module (18 classes, 900 seats), below the 60 %
    # utilisation floor: ceil(200 / 50) = 4 classes at or near J, no new school and no land for one
    assert junior["need"] == "classes" and junior["from_schools"] == "J (200)"
    assert (junior["suggested_classes"], junior["suggested_seats"], junior["n_schools"]) == (4, 200, 0)
    assert junior["land_needed_m2"] == 0.0
    # without the floor the same pocket asks for the module: 18 classes, 900 x 23 = 20,700 m²
    anywhere = STD.with_overrides({"utilisation_floor": 0.0})
    junior = search_areas(
        units, schools, overflow_of(units, schools), costs=straight_costs(units, schools), standards=anywhere
    ).iloc[1]
    assert junior["need"] == "new school" and junior["n_schools"] == 1
    assert (junior["suggested_classes"], junior["suggested_seats"]) == (18, 900)
    assert junior["land_needed_m2"] == pytest.approx(20_700.0)


# --------------------------------------------------------------------------------------------- parcels
def parcel_layer(rows: dict[str, tuple[shapely.Polygon, str, float]]) -> gpd.GeoDataFrame:
    ids = list(rows)
    out = gpd.GeoDataFrame(
        {"level": [rows[s][1] for s in ids], "area_m2": [rows[s][2] for s in ids]},
        geometry=[rows[s][0] for s in ids],
        crs=CRS_M,
    )
    out.index = pd.Index(ids, name="school_id")
    return out


def test_parcels_near_an_area_get_their_reasons():
    # the hand strip: area x 400-800 m, y 0-200 m, centre (608.7, 100), needs one 24-class school (19,440 m²)
    units, schools = strip(1080)
    sites = parcel_layer(
        {
            "P_small": (box(600, 250, 757, 350), "primary", 15_700.0),  # 150 m from the centre
            "P_far": (box(550, 650, 700, 850), "primary", 30_000.0),  # 450 m from the area, 550 m from centre
            "P_junior": (box(400, 300, 600, 450), "junior", 30_000.0),
            "P_ok": (box(800, 250, 950, 450), "primary", 30_000.0),
            "P_opened": (box(400, -300, 550, -100), "primary", 30_000.0),
            "P_away": (box(3000, 0, 3200, 200), "primary", 40_000.0),  # > 500 m from the area: not listed
        }
    )
    site_points = school_table({sid: (0, 0, sites.at[sid, "level"], 0, 0) for sid in sites.index})
    site_points["status"] = "site"
    site_points.loc["P_opened", "opened"] = True
    schools = pd.concat([schools, site_points])
    costs = straight_costs(units, schools.loc[["A", "B"]])
    areas = run(units, schools, sites=sites, costs=costs)
    parcels = search_area_parcels(areas, schools, sites, standards=STD)
    assert list(parcels.columns) == list(PARCEL_COLUMNS)
    reason = dict(zip(parcels["school_id"], parcels["reason"], strict=True))
    assert set(reason) == {"P_small", "P_far", "P_junior", "P_ok"}
    assert reason["P_small"] == "too small: 15,700 m² < 19,440 m² needed for the smallest 24-class module"
    assert reason["P_far"] == "beyond the service radius (550 m from the centre > 500 m)"
    assert reason["P_junior"] == "not reserved for this level (reserved for a junior school)"
    assert reason["P_ok"] == "not opened: budget/number of new schools"
    row = parcels.set_index("school_id").loc["P_small"]
    assert (row["distance_m"], row["max_seats"], row["serves_level"]) == (150.0, 0, True)
    assert row["smallest_land_m2"] == pytest.approx(19_440.0)
    text = areas.iloc[0]["nearby_parcels"]
    assert (
        text.split(" | ")[0]
        == "P_small: too small: 15,700 m² < 19,440 m² needed for the smallest 24-class module"
    )
    assert "P_opened" not in text and "P_away" not in text


def test_parcel_that_hosts_less_than_needed_says_how_much():
    # the area needs 36 classes (1,620 seats); a 20,000 m² parcel hosts only 24 classes (19,440 m²)
    units, schools = strip(600)
    sites = parcel_layer({"P": (box(300, 250, 500, 350), "primary", 20_000.0)})
    sites["available_from"] = [2029]
    site_points = school_table({"P": (0, 0, "primary", 0, 0)})
    schools = pd.concat([schools, site_points])
    areas = run(units, schools, sites=sites, costs=straight_costs(units, schools.loc[["A", "B"]]))
    assert areas.iloc[0]["nearby_parcels"] == (
        "P: not opened: budget/number of new schools (hosts at most 24 classes, 1,080 seats, "
        "of the 36 classes needed); available from 2029"
    )


def test_no_parcel_nearby_is_said():
    units, schools = strip(1080)
    sites = parcel_layer({"P_away": (box(3000, 0, 3200, 200), "primary", 40_000.0)})
    areas = run(units, schools, sites=sites)
    assert areas.iloc[0]["nearby_parcels"] == "no unopened reserved parcel within 500 m"


# --------------------------------------------------------------------------------------------- properties
@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(0, 2**31 - 1))
def test_pupils_are_conserved_on_random_grids(seed):
    rng = np.random.default_rng(seed)
    nx, ny = int(rng.integers(2, 8)), int(rng.integers(1, 6))
    units = grid_units(nx, ny)
    n_schools = int(rng.integers(1, 4))
    xy = rng.uniform(0, [nx * CELL, ny * CELL], size=(n_schools, 2))
    schools = school_table(
        {
            f"S{k}": (x, y, "nine_year", *rng.integers(0, 400, size=2).astype(float))
            for k, (x, y) in enumerate(xy)
        }
    )
    for level in ("primary", "junior"):
        units[level] = rng.choice([0.0, 15.5, 40.0, 120.25], size=len(units))
        nearest = np.argmin(
            np.hypot(
                units["pop_x"].to_numpy()[:, None] - xy[:, 0], units["pop_y"].to_numpy()[:, None] - xy[:, 1]
            ),
            axis=1,
        )
        units[f"proposed_{level}"] = [f"S{k}" for k in nearest]
    costs = straight_costs(units, schools, detour=float(rng.uniform(1.0, 1.6)))
    overflow = overflow_of(units, schools)
    areas = search_areas(units, schools, overflow, costs=costs, standards=STD)
    table = search_area_units(units, schools, overflow, costs=costs, standards=STD)
    for level in ("primary", "junior"):
        want = overflow.loc[overflow["level"] == level, "overflow"].sum()
        assert areas.loc[areas["level"] == level, "pupils"].sum() == pytest.approx(want, abs=1e-6)
        per_school = table[table["level"] == level].groupby("school_id")["pupils"].sum()
        expected = overflow[(overflow["level"] == level) & (overflow["overflow"] > 0)].set_index("school_id")
        assert per_school.reindex(expected.index).to_numpy() == pytest.approx(expected["overflow"].to_numpy())
        mine = table[table["level"] == level]
        assert mine["unit_id"].is_unique
        assert (mine["pupils"].to_numpy() <= units.loc[mine["unit_id"], level].to_numpy() + 1e-9).all()
    # every area fits within one service radius: pairwise distances <= sqrt(3) x radius
    for (level, _), grp in table.groupby(["level", "area_id"]):
        pts = units.loc[grp["unit_id"], ["pop_x", "pop_y"]].to_numpy()
        diameter = max(np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1)).max(), 0.0)
        assert diameter <= math.sqrt(3) * STD.service_radius_m[level] + 1e-6
    # the seats suggested hold the pupils: per new school times the schools, or the classes in all
    held = np.where(
        areas["need"] == "classes", areas["suggested_seats"], areas["suggested_seats"] * areas["n_schools"]
    )
    assert (held >= areas["pupils"] - 1e-9).all()
    assert set(areas["need"]) <= {"new school", "classes"}
    assert ((areas["need"] == "classes") == (areas["n_schools"] == 0)).all()


def test_row_order_does_not_change_the_answer():
    units, schools = strip(600)
    costs = straight_costs(units, schools)
    one = run(units, schools, costs=costs)
    two = run(units.iloc[::-1], schools.iloc[::-1], costs=costs.iloc[::-1])
    pd.testing.assert_frame_equal(
        pd.DataFrame(one.drop(columns="geometry")), pd.DataFrame(two.drop(columns="geometry"))
    )
    assert one.geometry.iloc[0].equals(two.geometry.iloc[0])


def test_missing_walks_fall_back_to_straight_lines():
    # with no cost rows at all the straight line ranks the cells the same way
    units, schools = strip(1080)
    costs = pd.DataFrame(
        {
            "unit_id": pd.Series(dtype="int64"),
            "school_id": pd.Series(dtype=str),
            "distance_m": pd.Series(dtype=float),
        }
    )
    table = search_area_units(units, schools, overflow_of(units, schools), costs=costs, standards=STD)
    assert table["unit_id"].tolist() == [3, 4]
    assert table["distance_m"].tolist() == pytest.approx([400.0, 600.0])


# ----------------------------------------------------------------------------------------- empty and errors
def test_no_overflow_gives_an_empty_table_with_the_columns():
    units, schools = strip(2000)
    areas = run(units, schools)
    assert areas.empty
    assert list(areas.columns) == [*AREA_COLUMNS, "geometry"]
    assert areas.crs == units.crs
    empty = pd.DataFrame(columns=["school_id", "level", "capacity", "pupils", "overflow"])
    areas = search_areas(units, schools, empty, costs=straight_costs(units, schools), standards=STD)
    assert areas.empty and list(areas.columns) == [*AREA_COLUMNS, "geometry"]


def no_crs(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(gdf.drop(columns="geometry")), geometry=list(gdf.geometry))


def _case():
    units, schools = strip(1080)
    return units, schools, overflow_of(units, schools), straight_costs(units, schools)


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        (lambda u, s, o, c: (no_crs(u), s, o, c), CRSError, ["units", "no CRS", "set_crs"]),
        (lambda u, s, o, c: (u.to_crs(4326), s, o, c), CRSError, ["units", "EPSG:4326", "to_crs"]),
        (
            lambda u, s, o, c: (u.drop(columns="pop_x"), s, o, c),
            InputError,
            ["units", "pop_x", "RunResult.units"],
        ),
        (
            lambda u, s, o, c: (u.drop(columns="proposed_primary"), s, o, c),
            InputError,
            ["units", "proposed_primary"],
        ),
        (lambda u, s, o, c: (u.assign(primary="many"), s, o, c), InputError, ["unit 1 has primary = 'many'"]),
        (
            lambda u, s, o, c: (u.assign(pop_y=np.nan), s, o, c),
            InputError,
            ["units", "pop_y = nan", "metres"],
        ),
        (
            lambda u, s, o, c: (u, s, o.drop(columns="overflow"), c),
            InputError,
            ["overflow", "SitingResult.overflow"],
        ),
        (lambda u, s, o, c: (u, s, o.assign(level="senior"), c), InputError, ["overflow", "'senior'"]),
        (lambda u, s, o, c: (u, s, o.assign(overflow=-3.0), c), InputError, ["overflow", "-3.0", ">= 0"]),
        (lambda u, s, o, c: (u, s.drop(index="A"), o, c), InputError, ["overflow", "'A'", "not in schools"]),
        (lambda u, s, o, c: (u, s, o, c.drop(columns="distance_m")), InputError, ["costs", "distance_m"]),
        (lambda u, s, o, c: (u, s.to_crs(4326), o, c), CRSError, ["schools", "to_crs"]),
        (lambda u, s, o, c: (u, s.to_crs(32650), o, c), CRSError, ["schools is in EPSG:32650", "units"]),
    ],
)
def test_bad_inputs_raise_naming_the_argument(change, error, words):
    units, schools, overflow, costs = change(*_case())
    with pytest.raises(error) as info:
        search_areas(units, schools, overflow, costs=costs, standards=STD)
    for word in words:
        assert word in str(info.value)


def test_bad_sites_raise_naming_the_parcel():
    units, schools, overflow, costs = _case()
    bad = parcel_layer({"P": (box(0, 300, 200, 500), "high_school", 40_000.0)})
    with pytest.raises(InputError, match=r"sites: parcel 'P' has level 'high_school'; use one of"):
        search_areas(units, schools, overflow, costs=costs, standards=STD, sites=bad)
    other = parcel_layer({"P": (box(0, 300, 200, 500), "primary", 40_000.0)}).set_crs(
        "EPSG:32650", allow_override=True
    )
    with pytest.raises(CRSError, match="sites is in EPSG:32650 but units is in EPSG:32649"):
        search_areas(units, schools, overflow, costs=costs, standards=STD, sites=other)
    good = parcel_layer({"P": (box(0, 300, 200, 500), "primary", 40_000.0)})
    with pytest.raises(InputError, match=r"schools: missing column.*opened"):
        search_areas(units, schools.drop(columns="opened"), overflow, costs=costs, standards=STD, sites=good)


def test_a_new_school_only_where_its_pupils_fill_the_utilisation_floor():
    from siting.search_areas._modules import module_options, school_for

    table = module_options("primary", STD, central=False)  # smallest primary module: 24 classes, 1,080
    floor = STD.utilisation_floor  # 0.6 x 1,080 = 648 pupils
    args = {"class_size": 45, "floor": floor}
    assert school_for(647.0, "primary", table, **args) == ("classes", 15, 675, 0, 0.0)
    need, classes, seats, n, land = school_for(648.0, "primary", table, **args)
    assert (need, classes, seats, n) == ("new school", 24, 1080, 1) and land > 0
    assert school_for(0.3, "primary", table, **args) == ("classes", 1, 45, 0, 0.0)  # a pocket: one class
    # 5,000 pupils: 3 schools of the largest module (2,000 cap) then each the smallest holding 1,667
    need, classes, seats, n, _ = school_for(5000.0, "primary", table, **args)
    assert need == "new school" and n == 3 and seats >= 5000 / 3
