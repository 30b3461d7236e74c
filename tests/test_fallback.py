"""Costs that seat every home: fallback pairs by walk, straight lines off the network, no school at a level.

A river town: two banks (south y=0, north y=300) joined by one bridge at x=2000, and an island that no
road reaches. Hand-checked distances in metres.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, box

from siting import network
from siting.errors import InputError

CRS = "EPSG:32650"
LIMITS = {"primary": 1000.0, "junior": 3000.0}


def at(x: float, y: float) -> tuple[float, float]:
    return (500000 + x, 2500000 + y)


def town() -> tuple[object, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    lines = [
        LineString([(0, 0), (2000, 0)]),
        LineString([(0, 300), (2000, 300)]),
        LineString([(2000, 0), (2000, 300)]),
        LineString([(0, 5000), (100, 5000)]),  # the island
    ]
    lines = [shapely.affinity.translate(g, 500000, 2500000) for g in lines]
    graph = network.graph_from_lines(gpd.GeoDataFrame(geometry=lines, crs=CRS))
    # 0: south bank, only a closed site in reach; 1: island, no current school; 2: next to P_south;
    # 3: no demand; 4: current school across the river; 5: island, current school P_south
    xy = np.array([at(100, -20), at(50, 5010), at(1500, -20), at(50, -20), at(150, -20), at(60, 5010)])
    units = gpd.GeoDataFrame(
        {
            "pop_x": xy[:, 0],
            "pop_y": xy[:, 1],
            "population": 100.0,
            "primary": [10.0, 8.0, 6.0, 0.0, 4.0, 2.0],
            "junior": 0.0,
            "current_primary": [None, None, None, None, "P_north", "P_south"],
        },
        geometry=[box(x - 20, y - 20, x + 20, y + 20) for x, y in xy],
        index=pd.Index(range(6), name="unit_id"),
        crs=CRS,
    )
    schools = gpd.GeoDataFrame(
        {
            "level": ["primary", "primary", "primary", "junior"],
            "status": ["existing", "existing", "site", "site"],
            "capacity_primary": [450.0, 450.0, 0.0, 0.0],
            "capacity_junior": [0.0, 0.0, 0.0, 0.0],
        },
        geometry=gpd.points_from_xy(*np.array([at(100, 320), at(1500, -20), at(120, -20), at(130, -20)]).T),
        index=pd.Index(["P_north", "P_south", "S0", "S_j"], name="school_id"),
        crs=CRS,
    )
    return graph, units, schools


def completed() -> tuple[pd.DataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    graph, units, schools = town()
    pairs = units["current_primary"].dropna()
    table = network.travel_costs(
        graph,
        units,
        schools,
        max_distance_m=LIMITS,
        pairs=pd.DataFrame({"unit_id": pairs.index, "school_id": pairs.to_numpy()}),
    )
    costs = network.complete_costs(graph, units, schools, table, hard_max_distance_m=LIMITS)
    return costs, units, schools


def test_pair_costs_walks_only_the_pairs_asked_for():
    graph, units, schools = town()
    pairs = pd.DataFrame({"unit_id": [0, 0, 1], "school_id": ["P_north", "P_south", "P_north"]})
    got = network.pair_costs(graph, units, schools, pairs).set_index(["unit_id", "school_id"])["distance_m"]
    assert got[(0, "P_north")] == pytest.approx(20 + 1900 + 300 + 1900 + 20)  # over the bridge
    assert got[(0, "P_south")] == pytest.approx(20 + 1400 + 20)
    assert got[(1, "P_north")] == np.inf  # the island
    assert len(got) == 3


def test_fallback_goes_to_the_nearest_existing_school_by_walk_not_by_straight_line():
    costs, _, _ = completed()
    fallback = costs[costs["fallback"]].set_index(["unit_id", "school_id"])
    # unit 0: P_north is 340 m away in a straight line but 4,140 m on foot; P_south is 1,440 m on foot.
    # The site S0 next to it does not count: it may stay closed.
    assert fallback.loc[(0, "P_south"), "distance_m"] == pytest.approx(1440)
    assert not fallback.loc[(0, "P_south"), "off_network"]
    # unit 1 (island) reaches nothing: its nearest existing school by straight line, flagged off_network
    assert fallback.loc[(1, "P_north"), "distance_m"] == pytest.approx(math.hypot(50, 4690))
    assert fallback.loc[(1, "P_north"), "off_network"]
    # one fallback pair per unit that needs one, and none for the others: 2 is in reach, 3 has no demand,
    # 4 and 5 keep their current school
    assert sorted(fallback.index.get_level_values(0)) == [0, 1]


def test_current_pair_without_a_walk_gets_the_straight_line():
    costs, _, _ = completed()
    row = costs.set_index(["unit_id", "school_id"]).loc[(5, "P_south")]
    assert row["distance_m"] == pytest.approx(math.hypot(1440, 5030))
    assert row["time_s"] == pytest.approx(row["distance_m"])  # 1 m/s
    assert row["off_network"] and not row["fallback"]
    assert np.isfinite(costs["distance_m"]).all()
    far = costs.set_index(["unit_id", "school_id"]).loc[(4, "P_north")]  # beyond the limit, on the network
    assert far["distance_m"] == pytest.approx(20 + 1850 + 300 + 1900 + 20) and not far["off_network"]


def test_after_completion_every_unit_with_demand_has_a_pair_it_may_use():
    costs, units, schools = completed()
    assert network.fallback_needs(units, schools, costs, hard_max_distance_m=LIMITS).empty
    nearest = network.nearest_existing(units, schools, costs, level="primary")
    assert nearest.loc[[0, 1, 2]].tolist() == ["P_south", "P_north", "P_south"]


def test_a_level_with_demand_and_no_school_is_refused_with_the_numbers():
    graph, units, schools = town()
    units["junior"] = [3.0, 0.0, 0.0, 0.0, 0.0, 2.5]
    with pytest.raises(InputError, match=r"no school serves junior among the 2 existing schools; 6 junior"):
        network.require_schools_per_level(units, schools, name="schools.geojson")
    table = network.travel_costs(graph, units, schools, max_distance_m=LIMITS)
    with pytest.raises(InputError, match=r"schools\.geojson: no school serves junior"):
        network.complete_costs(
            graph, units, schools, table, hard_max_distance_m=LIMITS, name="schools.geojson"
        )
