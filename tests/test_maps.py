"""Maps: layers, escaping, Chinese text, offline pages, basemaps and the GCJ-02 shift (no browser here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from benchmarks.bench_maps import synthetic_result
from siting import maps
from siting.errors import InputError
from siting.maps._format import _esc, _util_colour
from siting.maps._gcj02 import gcj02_to_wgs84, in_china, wgs84_to_gcj02
from siting.maps.data import _MapData
from siting.maps.layers import _NameTable, _school_colours, _search_area_popup
from siting.maps.popups import _school_popup, _site_popup, _size_label

XSS = "<img src=x onerror=alert(1)>"
BREAKOUT = "</script><script>alert(2)</script>"
CHINESE = "佛山市第一小学"
GEOD = Geod(ellps="WGS84")


def make_map_result(seed: int = 0):
    """A 12×10-cell synthetic run with a hostile and a Chinese school name (also used by test_browser)."""
    result = synthetic_result(12, 10, n_schools=5, n_sites=3, seed=seed)
    names = result.schools["name"].to_numpy(dtype=object).copy()
    names[0], names[1] = XSS, CHINESE
    names[-1] = BREAKOUT  # an unopened site
    result.schools["name"] = names
    return result


@pytest.fixture(scope="module")
def result():
    return make_map_result()


@pytest.fixture(scope="module")
def page(result) -> str:
    return maps.siting_map(result).get_root().render()


# ------------------------------------------------------------------------------------------- GCJ-02
def test_gcj02_matches_published_pair_within_a_metre():
    # published pair (wandergis/coordtransform, test/app.js):
    # wgs84togcj02(116.404, 39.915) = [116.41024449916938, 39.91640428150164]
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    _, _, dist = GEOD.inv(float(lon), float(lat), 116.41024449916938, 39.91640428150164)
    assert dist < 1.0


def test_gcj02_offset_in_foshan_is_hundreds_of_metres_and_none_outside_china():
    lon, lat = wgs84_to_gcj02(113.1, 23.0)
    _, _, dist = GEOD.inv(113.1, 23.0, float(lon), float(lat))
    assert 300 < dist < 900
    for point in [(2.35, 48.85), (-74.0, 40.7), (139.7, 35.7)]:  # Paris, New York, Tokyo
        assert not in_china(*point)
        assert tuple(map(float, wgs84_to_gcj02(*point))) == point


@settings(max_examples=60, deadline=None)
@given(st.floats(73.0, 135.0), st.floats(18.0, 53.0))
def test_gcj02_inverse_round_trips_to_a_millimetre(lon, lat):
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    _, _, dist = GEOD.inv(lon, lat, float(back_lon), float(back_lat))
    assert dist < 1e-3


def test_amap_basemap_shifts_the_data_and_osm_does_not(result):
    sid = result.schools.index[2]
    plain = maps.to_map_crs(result.schools.loc[[sid]]).geometry.iloc[0]
    shifted = maps.to_map_crs(result.schools.loc[[sid]], shift=True).geometry.iloc[0]
    lon, lat = wgs84_to_gcj02(plain.x, plain.y)
    assert shifted.x == pytest.approx(float(lon), abs=2e-6) and shifted.y == pytest.approx(
        float(lat), abs=2e-6
    )
    html = maps.siting_map(result, basemap="amap").get_root().render()
    assert "autonavi.com" in html and f"{shifted.x:.6f}".rstrip("0") in html
    assert f"{plain.x:.6f}".rstrip("0") not in html


def test_tianditu_needs_a_key(result):
    with pytest.raises(InputError, match="tianditu_key"):
        maps.siting_map(result, basemap="tianditu")
    html = maps.siting_map(result, basemap="tianditu", tianditu_key="abcdef0123456789").get_root().render()
    assert "tianditu.gov.cn" in html and "tk=abcdef0123456789" in html


def test_bad_arguments_are_clear_errors(result):
    with pytest.raises(InputError, match="basemap must be one of"):
        maps.siting_map(result, basemap="google")
    with pytest.raises(InputError, match="level must be"):
        maps.siting_map(result, level="senior")
    broken = synthetic_result(3, 3, n_schools=2, n_sites=1)
    broken.units = broken.units.drop(columns="population")
    with pytest.raises(InputError, match=r"result.units lacks columns \['population'\]"):
        maps.siting_map(broken)


# --------------------------------------------------------------------------------- layers and content
def test_all_layers_legend_title_search_and_fullscreen_are_present(page):
    for name in [
        "Population density",
        "Current catchments — primary",
        "Proposed catchments — junior middle",
        "Homes changing school — primary",
        "Existing schools",
        "New schools",
        "Reserved sites — chosen",
        "Reserved sites — not chosen",
        "Service radius 500 m — primary",
        "Service radius 1,000 m — junior middle",
        "District boundaries",
    ]:
        assert json.dumps(name) in page, name  # layer names are written as JSON strings
    assert "siting-legend" in page and "siting-title" in page
    assert "L.Control.Search" in page and "L.control.fullscreen" in page.replace("Fullscreen", "fullscreen")
    assert "L.control.layers" in page
    assert "synthetic 12x10" in page


def _unescape_js(text: str) -> str:
    """Undo JSON's \\uXXXX escapes, to see the strings the browser will see."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def test_data_texts_are_escaped_everywhere(page):
    seen = _unescape_js(page)
    assert XSS not in seen and BREAKOUT not in seen
    assert "&lt;img src=x onerror=alert(1)&gt;" in seen  # shown as text
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in seen
    assert "</script><script>alert" not in page


def test_chinese_names_are_written_as_utf8(result, tmp_path):
    result.scenario.name = "禅城 2030 方案"
    try:
        path = maps.save_map(maps.siting_map(result), tmp_path / "m.html")
    finally:
        result.scenario.name = "synthetic 12x10"
    raw = path.read_bytes()
    assert re.search(rb"charset=\"?utf-8", raw, flags=re.IGNORECASE)
    assert "<h4>禅城 2030 方案</h4>".encode() in raw  # the title, literally in UTF-8
    seen = _unescape_js(raw.decode("utf-8"))
    assert CHINESE in seen and "District: 禅城区" in seen  # school and district names from data


def test_new_school_label_and_site_popup_answer_the_hearing(result):
    data = _MapData.from_result(result, shift=False)
    t = data.table
    site = t.index[(t["status"] == "site") & t["opened"]][0]
    assert _size_label(t.loc[site]) == "36 classes, 1,620 seats"  # 36 primary classes of 45
    popup = _site_popup(data, site)
    units = result.units
    served = {lv: units.loc[units["proposed_" + lv] == site, lv].sum() for lv in ("primary", "junior")}
    moved = result.changes[(result.changes["new_school"] == site) & (result.changes["level"] == "primary")]
    before = np.average(moved["walk_before_m"], weights=moved["pupils"])
    after = np.average(moved["walk_after_m"], weights=moved["pupils"])
    assert "40,000 m² (4.00 ha)" in popup
    assert f"{40000 / 1620:,.1f} m² (standard 18.0 m²" in popup  # land per pupil vs the standard
    assert f"小学 Primary {served['primary']:,.0f}" in popup  # pupils served, per level
    assert f"小学 Primary {before:,.0f} m → {after:,.0f} m" in popup  # their walk now → in the plan
    # every school the pupils came from is under capacity in this city, so nothing is relieved
    assert "none (no source school is over capacity)" in popup
    unchosen = t.index[(t["status"] == "site") & ~t["opened"]][0]
    assert "未选用原因 Why not chosen" in _site_popup(data, unchosen)


def test_school_popup_shows_capacity_pupils_utilization_and_classes(result):
    data = _MapData.from_result(result, shift=False)
    sid = data.table.index[1]
    r = data.table.loc[sid]
    popup = _school_popup(data, sid, after=True)
    assert CHINESE in popup
    for lvl, label in maps.LEVEL_LABELS.items():
        if r[f"cap_after_{lvl}"] > 0:
            assert (
                f"{label} seats" in popup and f"{label} utilization" in popup and f"{label} classes" in popup
            )
            util = r[f"pupils_after_{lvl}"] / r[f"cap_after_{lvl}"]
            assert f"{100 * util:.0f} %" in popup


def test_unit_popup_data_refer_to_the_right_schools(result):
    m = maps.siting_map(result)
    names_el = next(c for c in m._children.values() if isinstance(c, _NameTable))
    density = next(c for c in m._children.values() if getattr(c, "layer_name", "") == "Population density")
    feature = density.data["features"][7]
    uid = result.units.index[7]
    props = feature["properties"]
    assert props["id"] == str(uid)
    for lvl in ("primary", "junior"):
        assert names_el.names[props[f"c_{lvl}"]] == _esc(
            result.schools.at[result.units.at[uid, f"current_{lvl}"], "name"]
        )
        assert names_el.names[props[f"n_{lvl}"]] == _esc(
            result.schools.at[result.units.at[uid, f"proposed_{lvl}"], "name"]
        )
    assert props["pop"] == round(result.units.at[uid, "population"])


def test_neighbouring_catchments_get_different_colours(result):
    data = _MapData.from_result(result, shift=False)
    colours = _school_colours(data, "primary")
    cat = result.catchments[result.catchments["level"] == "primary"].reset_index(drop=True)
    assert set(colours.values()) <= set(maps.OKABE_ITO)
    for i in range(len(cat)):
        for j in range(i + 1, len(cat)):
            if cat.geometry[i].intersects(cat.geometry[j]):
                assert colours[cat.school_id[i]] != colours[cat.school_id[j]]


def test_coordinates_are_rounded_to_six_decimals(page):
    numbers = re.findall(r"\[(1\d\d\.\d+), (2\d\.\d+)\]", page)
    assert numbers and all(len(x.split(".")[1]) <= 6 and len(y.split(".")[1]) <= 6 for x, y in numbers)


# ------------------------------------------------------------------------------------- files, offline
def test_offline_page_has_no_external_scripts_or_styles(result, tmp_path):
    path = maps.save_map(maps.siting_map(result, offline=True), tmp_path / "offline.html")
    text = path.read_text(encoding="utf-8")
    assert "<script src=" not in text and '<link rel="stylesheet"' not in text
    assert "Leaflet 1.9.3" in text and "L.Control.Search" in text and "data:image/png;base64" in text
    assert "cdn.jsdelivr.net" not in text and "code.jquery.com" not in text


def test_offline_review_inlines_the_sync_plugin(result, tmp_path):
    path = maps.review_map(result, path=tmp_path / "review.html", offline=True)
    text = path.read_text(encoding="utf-8")
    assert "<script src=" not in text and "L.Sync" in text
    assert text.count('class="folium-map"') == 2


def test_offline_refuses_an_asset_it_does_not_ship(result, tmp_path):
    m = maps.siting_map(result)
    folium.plugins.MiniMap().add_to(m)  # loads leaflet-minimap from a CDN we do not vendor
    with pytest.raises(InputError, match=r"leaflet-minimap.*no vendored copy"):
        maps.save_map(m, tmp_path / "x.html", offline=True)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_every_cdn_asset_the_maps_load_is_vendored(page):
    urls = re.findall(r'<script src="([^"]+)"', page) + re.findall(
        r'<link rel="stylesheet" href="([^"]+)"', page
    )
    assert urls
    for url in urls:
        assert maps.local_asset(url) is not None, url
    assert maps.local_asset("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/../../../../etc/passwd") is None


def test_save_is_atomic_and_replaces(result, tmp_path):
    target = tmp_path / "sub" / "m.html"
    maps.save_map(maps.siting_map(result, level="primary"), target)
    first = target.read_text(encoding="utf-8")
    assert "Proposed catchments — junior middle" not in first
    maps.save_map(maps.siting_map(result), target)
    assert target.read_text(encoding="utf-8") != first
    assert [p.name for p in target.parent.iterdir()] == ["m.html"]


def test_hearing_and_review_default_to_the_maps_folder(result, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hearing = maps.hearing_map(result)
    review = maps.review_map(result)
    assert hearing == Path("maps/synthetic_12x10-hearing.html") and hearing.exists()
    assert review == Path("maps/synthetic_12x10-review.html") and review.exists()
    other = make_map_result(seed=3)
    other.scenario.name = "variant B"
    both = maps.review_map(result, other)
    assert both == Path("maps/synthetic_12x10-vs-variant_B-review.html") and both.exists()


def test_write_maps_writes_three_files(result, tmp_path):
    out = maps.write_maps(result, tmp_path / "sample.html")
    assert out == tmp_path / "sample.html"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sample-hearing.html",
        "sample-review.html",
        "sample.html",
    ]


@pytest.mark.slow
def test_maps_of_the_real_sample(sample_dir, tmp_path):
    from siting.config import load_scenario
    from siting.pipeline import run_scenario

    run = run_scenario(
        load_scenario(sample_dir / "scenarios" / "sample.yaml"), out_dir=tmp_path / "out", write=False
    )
    path = maps.write_maps(run, tmp_path / "sample.html", offline=True)
    text = path.read_text(encoding="utf-8")
    assert "<script src=" not in text and "Existing schools" in text
    assert (tmp_path / "sample-hearing.html").exists() and (tmp_path / "sample-review.html").exists()


def test_cli_map_writes_the_three_maps_and_refuses_to_overwrite(result, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from siting import pipeline
    from siting.cli import cli

    monkeypatch.setattr(pipeline.RunResult, "load", classmethod(lambda cls, path: result))
    out = tmp_path / "city.html"
    run = CliRunner().invoke(cli, ["map", str(tmp_path), "--out", str(out), "--offline"])
    assert run.exit_code == 0, run.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "city-hearing.html",
        "city-review.html",
        "city.html",
    ]
    assert "<script src=" not in out.read_text(encoding="utf-8")
    again = CliRunner().invoke(cli, ["map", str(tmp_path), "--out", str(out), "--kind", "hearing"])
    assert again.exit_code == 2 and "--overwrite" in again.output  # one "Error: ..." line
    bad = CliRunner().invoke(
        cli, ["map", str(tmp_path), "--basemap", "tianditu", "--out", str(tmp_path / "t.html")]
    )
    assert "tianditu_key" in bad.output + str(bad.exception)


def test_utilization_colours_put_a_full_school_in_the_85_to_100_class():
    colour = {label: c for _, c, label in maps.UTILIZATION_CLASSES}
    assert _util_colour(0.84) == colour["under 85 %"]
    assert _util_colour(0.85) == colour["85–100 %"]
    assert _util_colour(1.0) == colour["85–100 %"]
    assert _util_colour(1400.0000001 / 1400.0) == colour["85–100 %"]  # float noise of seated pupils
    assert _util_colour(1.01) == colour["100–110 %"]
    assert _util_colour(1.10) == colour["100–110 %"]
    assert _util_colour(1.2) == colour["over 110 %"]
    assert _util_colour(float("nan")) == "#999999"


def test_overflow_schools_and_search_areas_are_drawn_with_popups_and_legend():
    result = make_map_result(seed=3)
    schools = result.schools
    sid = str(schools.index[(schools["level"] == "primary") & (schools["status"] == "existing")][0])
    result.overflow = pd.DataFrame(
        {
            "school_id": [sid],
            "level": ["primary"],
            "overflow_before": [40.0],
            "overflow_after": [12.0],
            "classes_above_standard_after": [3],
            "super_large_classes_after": [0],
            "why": [f"the plan brings 12 pupils here {XSS}"],
        }
    )
    cells = result.units.geometry.iloc[:6]
    result.search_areas = gpd.GeoDataFrame(
        {
            "area_id": ["primary-01"],
            "level": ["primary"],
            "pupils": [340.0],
            "n_units": [6],
            "suggested_classes": [12],
            "suggested_seats": [540],
            "n_schools": [1],
            "land_needed_m2": [8100.0],
            "district": ["Old Town"],
            "centre_x": [0.0],
            "centre_y": [0.0],
            "nearby_parcels": [f"S01: too small {BREAKOUT} | S02: not opened"],
        },
        geometry=[cells.union_all()],
        crs=result.units.crs,
    )
    page = maps.siting_map(result).get_root().render()
    assert "Search areas: new school land or more classes" in page
    assert "search area: pupils above standard capacity" in page  # legend
    assert "Search area primary-01" in page and BREAKOUT not in page and XSS not in page
    popup = _search_area_popup(next(result.search_areas.itertuples()))
    assert "1 new primary school of 12 classes, 540 seats" in popup and "8,100 m² (0.81 ha)" in popup
    assert "S02: not opened" in popup and _esc(f"S01: too small {BREAKOUT}") in popup
    data = _MapData(result, shift=False)
    popup = _school_popup(data, sid, after=True)
    assert "Primary pupils above standard capacity (now → plan)" in popup and "40 → 12" in popup
    assert "Why primary overflow rises" in popup and _esc(XSS) in popup
    assert "Pupils above standard capacity" in page  # the title's figure
    empty = make_map_result(seed=3)  # no overflow table, no search areas: no ring, no layer rows
    assert (
        "Search areas: new school land or more classes (none)" in maps.siting_map(empty).get_root().render()
    )
    # a pocket too small for a new school asks for classes at the schools it overflows, and names them
    small = next(result.search_areas.assign(need="classes", from_schools="P01 (30)").itertuples())
    popup = _search_area_popup(small)
    assert "too few pupils for a new school" in popup and "P01 (30)" in popup and "Land needed" not in popup
