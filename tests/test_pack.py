"""Hearing brief and review pack: reasons with their numbers, re-solves, grid references, `siting pack`.

The reasons are checked on a tiny hand-made city whose answers are known; the brief, the re-solves and the
packs on a small generated city run end to end (another input shape than the bundled sample). PDFs are
printed in tests/test_browser.py.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from siting.errors import InputError
from siting.facilities import size_options
from siting.report import SheetGrid, hearing_brief, resolve_parcels, unit_places
from siting.report.brief import REASONS
from siting.report.review_pages import review_document
from tests.test_report import _result

# ------------------------------------------------------------------------------------ the tiny city


def _with_sites(sites: dict[str, dict], *, max_new: int | None = None, proposed=None):
    """The 5×5 city of tests/test_report.py plus reserved sites not chosen; S (chosen) is its new school."""
    r = _result()
    if proposed is not None:
        r.units["proposed_primary"] = pd.array(proposed, dtype="str")
    rows = []
    for sid, spec in sites.items():
        rows.append(
            {
                "school_id": sid,
                "name": f"Site {sid}",
                "level": "primary",
                "status": "site",
                "capacity_primary": 0,
                "capacity_junior": 0,
                "classes_primary": 0,
                "classes_junior": 0,
                "enrolled_primary": 0,
                "enrolled_junior": 0,
                "opened": False,
                "expanded": False,
                "option": None,
                "capacity_after_primary": 0,
                "capacity_after_junior": 0,
                "area_m2": spec.get("area", 30000.0),
                "central": False,
                "available_from": spec.get("year", 2025),
                "geometry": Point(*spec["at"]),
            }
        )
    r.schools = r.schools.assign(available_from=2025)
    if rows:
        extra = gpd.GeoDataFrame(rows, geometry="geometry", crs=r.schools.crs).set_index("school_id")
        r.schools = pd.concat([r.schools, extra])
    r.schools["cost_yuan"] = 0.0
    r.costs = pd.DataFrame(
        [
            (uid, sid, geom.centroid.distance(pt), 0.0)
            for uid, geom in r.units.geometry.items()
            for sid, pt in r.schools.geometry.items()
        ],
        columns=["unit_id", "school_id", "distance_m", "time_s"],
    )
    r.options = size_options(r.schools[r.schools["status"] == "site"], r.standards, allow_expansion=False)
    r.sites = gpd.GeoDataFrame(geometry=r.schools.loc[r.schools["status"] == "site"].geometry.buffer(20.0))
    r.summary = {"model_parameters": {"max_new_schools": max_new}, "demand": {"design_year": 2030}}
    return r


def test_each_reason_a_parcel_is_not_chosen_comes_with_its_numbers():
    r = _with_sites(
        {
            "T": {"at": (450, 450), "area": 100.0},  # too small for 24 classes (19,440 m²)
            "F": {"at": (450, 450), "year": 2035},  # after the design year 2030
            "U": {"at": (9000, 9000)},  # 9 km from every home
            "W": {"at": (450, 450)},  # fits, has pupils, but the plan opens its one new school already
        },
        max_new=1,
    )
    brief = hearing_brief(r)
    p = brief["parcels"].set_index("school_id")
    assert p.loc["S", "chosen"] and p.loc["S", "reason"] == ""
    assert p.loc["T", "reason"] == "too_small"
    assert "100 m² of land" in p.loc["T", "why_en"] and "needs 19,440 m²" in p.loc["T", "why_en"]
    assert p.loc["F", "reason"] == "not_available" and "2035" in p.loc["F", "why_en"]
    assert p.loc["U", "reason"] == "no_demand" and p.loc["U", "reach_primary"] == 0
    assert p.loc["W", "reason"] == "limit" and "max_new_schools 1" in p.loc["W", "why_en"]
    assert p.loc["W", "reach_primary"] == 200  # all 25 units × 8 pupils live within 1,500 m
    assert set(p["reason"]) - {""} <= set(REASONS)
    # without a number limit the same parcel is passed over on cost
    assert hearing_brief(_with_sites({"W": {"at": (450, 450)}})) ["parcels"].set_index("school_id").at[
        "W", "reason"
    ] == "cost"  # fmt: skip
    # the sizes its land allows: 24 to 42 classes, land at 18 m² per pupil
    sizes = brief["sizes"][brief["sizes"]["school_id"] == "T"]
    assert sizes["option"].tolist() == ["24P", "30P", "36P", "42P"]
    assert sizes["land_needed_m2"].tolist() == [24 * 45 * 18, 30 * 45 * 18, 36 * 45 * 18, 42 * 45 * 18]
    assert not sizes["fits_land"].any() and not sizes["can_open"].any()


def test_a_city_without_parcels_gets_a_brief_that_says_so():
    from siting.report.brief_pages import brief_document

    r = _result()
    r.schools = r.schools[r.schools["status"] != "site"]
    r.units["proposed_primary"] = r.units["current_primary"]
    brief = hearing_brief(r)
    assert brief["parcels"].empty and brief["sizes"].empty
    html = brief_document(r, brief, grid=SheetGrid.for_units(r.units))
    assert "This scenario has no reserved school parcels." in html


def test_named_streets_of_a_real_osm_extract():
    import osmnx as ox

    from siting.report import roads_from_graph
    from tests.conftest import shared_file

    graph = ox.project_graph(
        ox.graph_from_xml(shared_file("data/osm/planet_10.068,48.135_10.071,48.137.osm"))
    )
    roads = roads_from_graph(graph)
    assert len(roads) and roads.crs.is_projected and roads["name"].map(type).eq(str).all()
    middle = roads.geometry.iloc[0].interpolate(0.5, normalized=True)
    units = gpd.GeoDataFrame(geometry=[middle.buffer(5)], crs=roads.crs, index=pd.Index([1], name="unit_id"))
    assert unit_places(units, roads=roads).at[1, "road"] == roads["name"].iloc[0]


def test_a_nearer_chosen_parcel_outranks():
    # S serves columns 2–4 (120 of the 200 pupils); V lies farther from them, in the north-west corner
    proposed = ["A" if i % 5 < 2 else "S" for i in range(25)]
    r = _with_sites({"V": {"at": (50, 450)}}, proposed=proposed)
    v = hearing_brief(r)["parcels"].set_index("school_id").loc["V"]
    assert v["reason"] == "outranked"
    assert v["why_en"].startswith("120 of the 200 pupils within reach go to S")


def test_the_chosen_parcel_s_case_adds_up():
    brief = hearing_brief(_with_sites({}))
    s = brief["parcels"].set_index("school_id").loc["S"]
    assert (s["units_served"], s["residents_served"], s["pupils_primary"]) == (5, 500, 40)
    assert s["seats_primary"] == 45 and s["walk_after_m_primary"] == pytest.approx(120.0)
    relief = brief["relief"].set_index("from_school").loc["A"]
    # A had 30 pupils over capacity (120 for 90 seats) and none after: S takes all 40 leaving A
    assert (relief["pupils"], relief["over_before"], relief["relieved"]) == (40, 30, 30)
    assert s["grid_ref"] == "A1-27"  # S at (250, 250): 250 m east and 750 m south of the corner (0, 1000)


# ------------------------------------------------------------------------------------ grid references


def test_sheet_names_and_references():
    grid = SheetGrid(west=0.0, north=3000.0, size_m=1000.0, columns=30, rows=3)
    assert [grid.column_name(i) for i in (0, 25, 26, 27, 51, 52)] == ["A", "Z", "AA", "AB", "AZ", "BA"]
    refs = grid.references(np.array([50.0, 1999.0, 26_500.0]), np.array([2950.0, 1001.0, 10.0]))
    assert refs == ["A1-00", "B2-99", "AA3-59"]


def test_grid_references_are_unique_and_point_back_to_the_unit(city):
    units = city.units
    grid = SheetGrid.for_units(units)
    places = unit_places(units, grid=grid)
    assert places["grid_ref"].is_unique and places.index.equals(units.index)
    for uid in units.index[:: max(1, len(units) // 40)]:
        ref = places.at[uid, "grid_ref"]
        col, row, east, south = re.fullmatch(r"([A-Z]+)(\d+)-(\d)(\d)[a-z]*", ref).groups()
        col_index = sum((ord(c) - 64) * 26**k for k, c in enumerate(reversed(col))) - 1
        x0 = grid.west + col_index * grid.size_m + int(east) * 100
        y0 = grid.north - (int(row) - 1) * grid.size_m - int(south) * 100
        point = units.geometry.loc[uid].representative_point()
        assert x0 <= point.x <= x0 + 100 and y0 - 100 <= point.y <= y0, (uid, ref)
    # the same units always get the same references
    assert (
        unit_places(units.iloc[::-1], grid=grid)["grid_ref"].reindex(units.index).equals(places["grid_ref"])
    )


def test_units_sharing_a_square_get_letters():
    units = gpd.GeoDataFrame(
        {"district": ["X", "X", "Y"]},
        geometry=[Point(10, 990), Point(20, 980), Point(150, 950)],  # sheet A1 spans y 0–1,000
        crs="EPSG:32649",
        index=pd.Index([30, 10, 20], name="unit_id"),
    )
    refs = unit_places(units)["grid_ref"]
    assert refs.to_dict() == {30: "A1-00b", 10: "A1-00a", 20: "A1-10"}  # letters in unit_id order


def test_nearest_named_road_within_reach():
    from shapely.geometry import LineString

    units = gpd.GeoDataFrame(
        geometry=[Point(0, 0), Point(0, 1000)], crs="EPSG:32649", index=pd.Index([1, 2], name="unit_id")
    )
    roads = gpd.GeoDataFrame(
        {"name": ["祖庙路", "Far Road"]},
        geometry=[LineString([(-50, 40), (50, 40)]), LineString([(-50, 1500), (50, 1500)])],
        crs="EPSG:32649",
    )
    places = unit_places(units, roads=roads)
    assert places.at[1, "road"] == "祖庙路" and places.at[1, "road_m"] == pytest.approx(40)
    assert pd.isna(places.at[2, "road"])  # 500 m away: farther than 300 m, not named
    assert places.at[1, "place"].startswith("A1-") and "祖庙路 40 m" in places.at[1, "place"]


# ------------------------------------------------------------------------------------ a generated city


@pytest.fixture(scope="module")
def city_dir(tmp_path_factory) -> Path:
    from siting.sample import generate_city, write_city

    base = tmp_path_factory.mktemp("city")
    write_city(
        generate_city(residents=60_000, width_km=3.5, height_km=3.0, seed=7), base / "raw", name="small"
    )
    return base


def _run(city_dir: Path, name: str, **changes):
    from siting.config import load_scenario
    from siting.pipeline import RunResult, run_scenario

    scenario = load_scenario(city_dir / "raw" / "scenarios" / "small.yaml")
    if changes:
        scenario = scenario.replace(name=name, **changes)
    out = city_dir / "out" / name
    if not out.exists():
        run_scenario(scenario, out_dir=out, map_path=city_dir / "maps" / f"{name}.html", cache_dir=None)
    return RunResult.load(out)


@pytest.fixture(scope="module")
def city(city_dir):
    return _run(city_dir, "small")


def test_brief_of_a_generated_city_adds_up(city):
    brief = hearing_brief(city)
    p = brief["parcels"].set_index("school_id")
    sites = city.schools[city.schools["status"] == "site"]
    assert set(p.index) == set(sites.index) and list(p["chosen"]) == sorted(p["chosen"], reverse=True)
    for sid, row in p.iterrows():
        if row["chosen"]:
            for lv in ("primary", "junior"):
                mine = city.units[f"proposed_{lv}"] == sid
                assert row[f"pupils_{lv}"] == pytest.approx(city.units.loc[mine, lv].sum())
                assert row[f"seats_{lv}"] == city.schools.at[sid, f"capacity_after_{lv}"]
            assert row["option"] == city.schools.at[sid, "option"]
            assert row["cost_yuan"] == pytest.approx(city.solution.opened.at[sid, "cost_yuan"])
        else:
            assert row["reason"] in REASONS and row["why_en"] and row["why_zh"]
    relief = brief["relief"]
    assert (relief["relieved"] <= relief["over_before"] + 1e-6).all()
    fits = brief["sizes"].set_index(["school_id", "option"])
    opened = city.solution.opened
    for sid in opened.index[opened.index.isin(sites.index)]:
        assert fits.loc[(sid, opened.at[sid, "option"]), "fits_land"]


def test_resolving_one_parcel_each_way_is_certified(city):
    brief = hearing_brief(city)
    p = brief["parcels"]
    chosen = p.loc[p["chosen"], "school_id"].iloc[0]
    can = set(brief["sizes"].loc[brief["sizes"]["can_open"], "school_id"])
    closed = p.loc[~p["chosen"] & p["school_id"].isin(can), "school_id"]
    if closed.empty:
        pytest.skip("every parcel of this city that can open is chosen")
    table = resolve_parcels(city, open_ids=[closed.iloc[0]], close_ids=[chosen], time_limit_s=10.0)
    plan = table[table["test"] == "plan"].iloc[0]
    saved = city.summary["solution"]
    # the rebuilt model is the run's: the two objectives agree within the two certified gaps
    assert (
        abs(plan["objective"] - saved["objective"]) <= (plan["gap"] + saved["gap"]) * saved["objective"] + 1
    )
    opened = table[table["test"] == "forced_open"].iloc[0]
    shut = table[table["test"] == "forced_closed"].iloc[0]
    assert closed.iloc[0] in opened["new_sites"].split(", ")
    assert chosen not in shut["new_sites"].split(", ")
    for row in (opened, shut):
        assert row["status"] in ("optimal", "feasible")
        assert row["delta_low"] <= row["delta"] <= row["delta_high"]
        # fixing a parcel cannot improve the optimum: the certified range reaches 0 or above
        assert row["delta_high"] >= -1e-6 * abs(plan["objective"])
    assert math.isfinite(shut["walk_change_m_primary"])


def test_resolving_needs_the_saved_model_parameters(city):
    import copy

    bare = copy.copy(city)
    bare.summary = {k: v for k, v in city.summary.items() if k != "model_parameters"}
    with pytest.raises(InputError, match="model_parameters"):
        resolve_parcels(bare, time_limit_s=1.0)
    with pytest.raises(InputError, match="positive number of seconds"):
        resolve_parcels(city, time_limit_s=0.0)


def test_review_pack_names_every_changing_unit_plainly(city):
    html = review_document(city, grid=SheetGrid.for_units(city.units), title="small")
    places = unit_places(city.units)
    changed = city.changes["unit_id"].unique()
    assert len(changed) > 0
    for uid in changed:
        assert f">{places.at[uid, 'grid_ref']}<" in html and str(uid) in html
    assert not re.search(r"\d{1,3}(,\d{3}){4,}", html)  # no id printed with thousands separators


# ------------------------------------------------------------------------------------ siting pack


def test_siting_pack_writes_atomically_and_refuses_to_overwrite(city, city_dir, monkeypatch):
    from click.testing import CliRunner

    from siting.cli import cli
    from siting.report import pack

    result_dir = city_dir / "out" / "small"
    runner = CliRunner()
    args = ["pack", str(result_dir), "--no-resolve", "--no-roads", "--no-pdf"]
    run = runner.invoke(cli, args)
    assert run.exit_code == 0, run.output
    folder = result_dir / "pack"
    names = sorted(p.name for p in folder.iterdir())
    assert {"hearing-brief.html", "review-pack.html", "hearing-map.html", "brief-parcels.csv"} <= set(names)
    brief_html = (folder / "hearing-brief.html").read_text(encoding="utf-8")
    assert brief_html.count('<section class="page one"') == int((city.schools["status"] == "site").sum())
    again = runner.invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output  # one "Error: ..." line

    def broken(*_a, **_k):
        raise RuntimeError("printer on fire")

    monkeypatch.setattr(pack, "review_document", broken)
    failed = runner.invoke(cli, [*args, "--overwrite"])
    assert isinstance(failed.exception, RuntimeError)
    assert sorted(p.name for p in folder.iterdir()) == names  # the old pack is untouched
    assert [p.name for p in result_dir.iterdir() if p.name.startswith(".")] == []  # no temp folder left


def test_siting_review_against_another_plan_writes_its_pack(city, city_dir):
    from click.testing import CliRunner

    from siting.cli import cli

    other = _run(city_dir, "small-two", max_new_schools=2)
    dest = city_dir / "review-pack"
    run = CliRunner().invoke(
        cli,
        ["review", str(city_dir / "out" / "small"), "--against", str(city_dir / "out" / "small-two"),
         "--pack", str(dest), "--no-pdf"],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    assert "grid_ref" in run.output and not re.search(r"\d{1,3}(,\d{3}){4,}", run.output)
    files = sorted(p.name for p in dest.iterdir())
    assert files == [f"review-pack-vs-{other.name}.html"]
    text = (dest / files[0]).read_text(encoding="utf-8")
    assert "Before = plan small-two" in text  # its proposal is the 'before' of this review


def test_result_in_jupyter_shows_key_figures_and_links(city, city_dir, monkeypatch):
    from siting.report import write_packs

    write_packs(city, city_dir / "out" / "small" / "pack", pdf=False, overwrite=True)
    monkeypatch.chdir(city_dir)
    city.map_path = Path("maps") / "small.html"
    html = city._repr_html_()
    assert "new_schools" in html and re.search(r"solver (optimal|feasible)", html)
    assert "href='maps/small-hearing.html'" in html
    assert "href='out/small/pack/hearing-brief.html'" in html and "review pack (HTML)" in html
