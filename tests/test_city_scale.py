"""City-scale pieces (issue 18): the generator at Foshan's size, walking paths, split maps, stray reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from siting.sample.layout import _ARTERIAL_EVERY, _LATTICE_M, _layout, _Random


@pytest.mark.parametrize("width_km", [62.0, 80.0, 150.0])
def test_layout_places_one_bridge_per_4_5_km_at_any_width(width_km):
    """62 km used to fail: the bridge jitter was sliced ``n % 12`` long, 2 values for 14 bridges."""
    width = width_km * 1000.0
    lay = _layout(0.0, 0.0, width, 62_000.0, _Random(20261129, 1))
    bridges = np.asarray(lay.bridges_x)
    assert len(bridges) >= round(width / 4500.0) - 1  # two targets may share an arterial line
    assert np.all(np.diff(bridges) > 0)
    assert bridges.min() > 0 and bridges.max() < width
    # every bridge sits on an arterial line of the lattice
    line = (bridges - _LATTICE_M / 2) / _LATTICE_M
    assert np.allclose(line, np.round(line))
    assert np.all(np.round(line) % _ARTERIAL_EVERY == _ARTERIAL_EVERY // 2)


def test_layout_keeps_the_bridges_of_narrower_cities():
    """Up to 11 bridges the jitter is the same draws as before the fix, so existing cities do not move."""
    for width in (9_000.0, 33_000.0, 48_000.0):
        u = _Random(7, 1).uniform(size=16)
        n = max(2, round(width / 4500.0))
        targets = width * (np.arange(n) + 0.5 + 0.3 * (u[4 : 4 + n] - 0.5)) / n
        lay = _layout(0.0, 0.0, width, 20_000.0, _Random(7, 1))
        lines = np.arange(_ARTERIAL_EVERY // 2, int(width // _LATTICE_M), _ARTERIAL_EVERY)
        xs = _LATTICE_M / 2 + lines * _LATTICE_M
        expected = sorted({float(xs[np.argmin(np.abs(xs - t))]) for t in targets})
        assert list(lay.bridges_x) == expected


def test_walking_paths_densify_the_network_and_keep_the_streets(tmp_path):
    from siting.network.load import load_network
    from siting.sample import generate_city, write_city

    kw = {"residents": 60_000, "width_km": 4.0, "height_km": 3.0, "seed": 5}
    streets = generate_city(**kw)
    dense = generate_city(**kw, walking_paths=True)
    assert (dense.roads["highway"] == "footway").sum() > 0
    assert not (streets.roads["highway"] == "footway").any()
    # the same streets, schools and people: paths only add ways (and join street fragments that the
    # streets-only network drops as cut off)
    same = dense.roads[dense.roads["highway"] != "footway"]
    assert set(streets.roads["name"].dropna()) <= set(same["name"].dropna())
    assert dense.schools.equals(streets.schools)
    assert np.array_equal(dense.population, streets.population)
    write_city(streets, tmp_path / "xml")
    write_city(dense, tmp_path / "pbf", roads_format="pbf")
    assert (tmp_path / "pbf" / "roads.osm.pbf").exists() and not (tmp_path / "pbf" / "roads.osm").exists()
    assert "osm: ../roads.osm.pbf" in (tmp_path / "pbf" / "scenarios" / "sample.yaml").read_text()
    g_streets = load_network(tmp_path / "xml" / "roads.osm")
    g_dense = load_network(tmp_path / "pbf" / "roads.osm.pbf")
    assert g_dense.number_of_nodes() > 3 * g_streets.number_of_nodes()


def test_pbf_and_xml_give_the_same_graph(tmp_path):
    from siting.network.load import load_network
    from siting.sample import generate_city, write_city

    city = generate_city(residents=30_000, width_km=3.0, height_km=2.5, seed=3, walking_paths=True)
    write_city(city, tmp_path / "a")
    write_city(city, tmp_path / "b", roads_format="pbf")
    a = load_network(tmp_path / "a" / "roads.osm")
    b = load_network(tmp_path / "b" / "roads.osm.pbf")
    assert sorted(a.nodes) == sorted(b.nodes)
    la = sorted(round(d["length"], 3) for *_, d in a.edges(data=True))
    lb = sorted(round(d["length"], 3) for *_, d in b.edges(data=True))
    assert la == lb


def test_small_results_are_drawn_as_they_are():
    from benchmarks.bench_maps import synthetic_result
    from siting.maps.split import city_view

    result = synthetic_result(12, 10)
    assert city_view(result) is result


def test_catchments_are_simplified_as_one_coverage():
    import shapely

    from benchmarks.bench_maps import synthetic_result
    from siting.maps.split import simplify_catchments

    result = synthetic_result(40, 30, n_schools=12)
    cat = result.catchments
    out = simplify_catchments(cat, 60.0)
    assert list(out.index) == list(cat.index) and (out["school_id"] == cat["school_id"]).all()
    for lvl in pd_unique(cat["level"]):
        before = cat[cat["level"] == lvl].geometry.to_numpy()
        after = out[out["level"] == lvl].geometry.to_numpy()
        assert shapely.get_num_coordinates(after).sum() < 0.6 * shapely.get_num_coordinates(before).sum()
        # no gaps or overlaps appear: the pieces still tile the same area
        union = shapely.union_all(after)
        assert shapely.area(after).sum() == pytest.approx(union.area, rel=1e-6)
        assert union.area == pytest.approx(shapely.union_all(before).area, rel=0.01)
        assert max(shapely.hausdorff_distance(before, after)) <= 60.0 + 1e-6


def pd_unique(series):
    return list(dict.fromkeys(series.tolist()))


def test_blocks_keep_every_resident_and_pupil():
    from benchmarks.bench_maps import synthetic_result
    from siting.maps.split import _blocks, block_units

    units = synthetic_result(40, 30, n_schools=12).units
    units["current_primary"] = ["A" if i % 3 else "B" for i in range(len(units))]
    units["proposed_primary"] = "A"
    _, block = _blocks(units)
    walks = pd.DataFrame({"before_primary": 1000.0, "after_primary": 500.0}, index=units.index)
    blocks, bw = block_units(units, block, walks)
    assert blocks["population"].sum() == pytest.approx(units["population"].sum())
    assert blocks["primary"].sum() == pytest.approx(units["primary"].sum())
    assert blocks.geometry.area.sum() == pytest.approx(units.geometry.area.sum())
    assert (blocks["proposed_primary"] == "A").all()
    assert bw["before_primary"].to_numpy() == pytest.approx(1000.0)


def test_write_maps_draws_blocks_above_the_threshold(tmp_path, monkeypatch):
    import re

    from benchmarks.bench_maps import synthetic_result
    from siting import maps
    from siting.maps import split

    result = synthetic_result(30, 30, n_schools=10, n_sites=4)
    full = maps.save_map(maps.siting_map(result, basemap="none"), tmp_path / "full.html")
    monkeypatch.setattr(split, "CITY_SCALE_UNITS", 500)
    monkeypatch.setattr(split, "MAX_DRAWN_BLOCKS", 100)
    main = maps.write_maps(result, tmp_path / "city.html", basemap="none")
    text, full_text = main.read_text(encoding="utf-8"), full.read_text(encoding="utf-8")
    assert len(text) < 0.6 * len(full_text)
    # the density layer holds blocks (3 x 3 zones: 100 at most), their residents summing to the city's
    pops = [float(p) for p in re.findall(r'"k": ?\d+, "pop": ?([0-9.]+), "dens"', text)]
    assert 50 <= len(pops) <= 100
    assert sum(pops) == pytest.approx(result.units["population"].sum(), rel=1e-3)
    for other in maps.map_files(main)[1:]:
        assert other.exists()


# ------------------------------------------------------------------ contiguity repair at city scale
def _repair(units, schools, costs):
    from siting.catchments import repair_contiguity
    from siting.standards import Standards

    std = Standards.foshan()
    return repair_contiguity(units, level="primary", costs=costs, schools=schools, standards=std)


def test_a_piece_of_an_overfull_school_moves_into_a_full_neighbour():
    """A holds 24 pupils on 20 seats (4 over); B is full (26 on 26): moving a 2-pupil piece of A into B
    moves 2 pupils above capacity from A to B and adds none, so both stray pieces go (they stayed before)."""
    from tests.test_catchments import _costs, _schools, _split_5x5

    units = _split_5x5()
    schools = _schools({"A": (50, 50), "B": (350, 50)}, {"A": 20, "B": 26})
    repaired, report = _repair(units, schools, _costs(units, schools))
    assert report["repaired"].tolist() == [True, True]
    assert report["why"].tolist() == ["moved", "moved"]
    assert (repaired.loc[[9, 24], "proposed_primary"] == "B").all()


def test_a_piece_that_would_add_overflow_stays_with_a_capacity_reason():
    from tests.test_catchments import _costs, _schools, _split_5x5

    units = _split_5x5()
    units.loc[units["proposed_primary"] == "B", "primary"] = 3.0  # B: 13 units x 3 pupils = 39
    # both full: a piece of 2 pupils could only go by a swap, and B's border units hold 3 pupils each,
    # more than A has room for once the piece has left
    schools = _schools({"A": (50, 50), "B": (350, 50)}, {"A": 24, "B": 39})
    _, report = _repair(units, schools, _costs(units, schools))
    assert report["repaired"].tolist() == [False, False]
    assert report["why"].tolist() == ["capacity", "capacity"]
    # with room for 2 more at A, B hands one border unit (3 pupils) back per piece: both go by a swap
    schools = _schools({"A": (50, 50), "B": (350, 50)}, {"A": 26, "B": 39})
    repaired, report = _repair(units, schools, _costs(units, schools))
    assert report["why"].tolist() == ["swapped", "swapped"]
    load = repaired.groupby("proposed_primary")["primary"].sum()
    assert load["A"] <= 26 + 1e-9 and load["B"] <= 39 + 1e-9
    from siting.catchments import find_fragments

    assert find_fragments(repaired, level="primary").empty
    assert all("free seats" in r for r in report["reason"])


def test_a_unit_beyond_the_limit_keeps_its_school():
    """A walk beyond the hard limit stays at today's school or the fallback the model gave it."""
    from tests.test_catchments import _costs, _schools, _split_5x5

    units = _split_5x5()
    schools = _schools({"A": (50, 50), "B": (350, 50)}, {"A": 100, "B": 100})
    costs = _costs(units, schools, override={(24, "A"): 1900.0, (24, "B"): 1700.0, (9, "B"): 1600.0})
    repaired, report = _repair(units, schools, costs)
    by_unit = report.set_index(report["unit_ids"].map(lambda ids: ids[0]))
    for unit in (9, 24):
        assert by_unit.loc[unit, "why"] == "beyond_limit" and repaired.loc[unit, "proposed_primary"] == "A"


def test_an_isolated_piece_says_so():
    from tests.test_catchments import _costs, _grid, _schools

    assignment = ["A"] * 25
    assignment[12] = None  # a hole: unit 24 of A sits alone beyond an empty unit
    for u in (18, 19, 23):
        assignment[u] = None
    units = _grid(5, assignment)
    schools = _schools({"A": (50, 50)}, {"A": 100})
    _, report = _repair(units, schools, _costs(units, schools))
    assert report["unit_ids"].tolist() == [(24,)]
    assert report["why"].tolist() == ["isolated"]


def test_cli_writes_a_dense_city_as_pbf(tmp_path):
    from click.testing import CliRunner

    from siting.cli import cli

    args = ["sample", str(tmp_path / "c"), "--residents", "20000", "--width-km", "3", "--height-km", "2.5"]
    result = CliRunner().invoke(cli, [*args, "--walking-paths", "--pbf"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / "roads.osm.pbf").stat().st_size > 0
    assert not (tmp_path / "c" / "roads.osm").exists()


def test_a_new_school_never_takes_overflow_from_a_repair():
    """As the overfull case above, but B is a new site: only existing schools may go over capacity."""
    from tests.test_catchments import _costs, _schools, _split_5x5

    units = _split_5x5()
    units.loc[units["proposed_primary"] == "B", "primary"] = 3.0  # no swap fits: border units hold 3
    schools = _schools({"A": (50, 50), "B": (350, 50)}, {"A": 20, "B": 39})
    schools["status"] = ["existing", "site"]
    repaired, report = _repair(units, schools, _costs(units, schools))
    assert report["repaired"].tolist() == [False, False]
    assert repaired.groupby("proposed_primary")["primary"].sum()["B"] <= 39 + 1e-9
    schools["status"] = ["existing", "existing"]
    _, report = _repair(units, schools, _costs(units, schools))
    assert report["repaired"].tolist() == [True, True]  # an existing B may take A's overflow
