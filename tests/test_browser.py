"""The maps in a real browser: headless Debian chromium via Playwright, with no internet at all.

``offline_page``: Leaflet and plugin URLs are answered from ``siting/_assets``, tiles with a blank PNG,
everything else is aborted (and recorded). ``no_network_page``: every request to another host is refused,
tiles included, as in a hearing room without internet. Needs /usr/bin/chromium (``make browser``); skipped
without it, failed under CI.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from siting import maps
from siting.errors import InputError
from siting.maps._format import _esc
from tests.conftest import REPO, SAMPLE
from tests.test_maps import CHINESE, XSS, make_map_result

pytestmark = pytest.mark.browser

SCREENSHOT = REPO / "docs" / "img" / "sample-map.png"

# the folium map object(s) of the page, by their global variable names
_MAPS_JS = (
    "Object.keys(window).filter(k => k.startsWith('map_') && window[k] instanceof L.Map).map(k => window[k])"
)


@pytest.fixture(scope="module")
def map_files(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("maps")
    result = make_map_result()
    return {
        "main": maps.save_map(maps.siting_map(result), out / "main.html"),
        "offline": maps.save_map(maps.siting_map(result, basemap="none", offline=True), out / "offline.html"),
        "hearing": maps.hearing_map(result, out / "hearing.html"),
        "review": maps.review_map(result, path=out / "review.html"),
    }


def _open(page, path: Path) -> None:
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_function(f"{_MAPS_JS}.length > 0")
    page.wait_for_function(
        f"{_MAPS_JS}.every(m => m._loaded && !m._animatingZoom && !m._panAnim?._inProgress)"
    )
    page.wait_for_timeout(400)  # fitBounds may still be settling


def _open_popup_of(page, text: str) -> str:
    """Open the popup of the first feature whose popup or name has ``text`` (escaped); return its text."""
    found = page.evaluate(
        """(needle) => {
          const maps = MAPS;
          for (const map of maps) {
            let hit = null;
            map.eachLayer(l => {
              if (hit || !l.feature || !l.getPopup || !l.getPopup()) return;
              const p = l.feature.properties;
              if ((p.popup || "").includes(needle) || (p.name || "").includes(needle)) hit = l;
            });
            if (hit) { hit.openPopup(); return true; }
          }
          return false;
        }""".replace("MAPS", _MAPS_JS),
        _esc(text),
    )
    assert found, f"no feature with {text!r}"
    popup = page.locator(".leaflet-popup-content").first
    popup.wait_for(state="visible")
    return popup.inner_text()


def test_main_map_loads_cleanly_with_layers_legend_and_title(offline_page, map_files):
    page = offline_page
    _open(page, map_files["main"])
    assert page.errors == [] and page.aborted == []
    labels = [t.strip() for t in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
    for name in ["Population density", "Proposed catchments — primary", "Existing schools", "New schools",
                 "Reserved sites — chosen", "Reserved sites — not chosen", "District boundaries",
                 "Homes changing school — primary", "Service radius 500 m — primary"]:  # fmt: skip
        assert name in labels
    legend = page.locator(".siting-legend")
    assert legend.is_visible() and "utilization" in legend.inner_text()
    assert "synthetic 12x10" in page.locator(".siting-title").inner_text()
    assert page.locator(".leaflet-control-search").count() == 1
    assert page.locator(".leaflet-control-zoom-fullscreen").count() == 1
    assert page.locator("path.leaflet-interactive").count() == 0  # canvas renderer, not one SVG per cell
    assert page.locator("canvas").count() >= 1


_BOXES_JS = """() => {
  const r = (sel) => document.querySelector(sel).getBoundingClientRect();
  const a = r(".leaflet-top.leaflet-right .leaflet-control-layers"), b = r(".siting-legend");
  const overlap = !(b.top >= a.bottom || b.bottom <= a.top || b.left >= a.right || b.right <= a.left);
  const folded = document.querySelector(".siting-legend").classList.contains("siting-folded");
  return {overlap: overlap, folded: folded, legendHeight: b.height};
}"""


@pytest.mark.parametrize(("width", "height", "folded"), [(1280, 860, False), (1280, 640, True)])
def test_legend_never_covers_the_layer_control(offline_page, map_files, width, height, folded):
    page = offline_page
    page.set_viewport_size({"width": width, "height": height})
    _open(page, map_files["main"])
    page.wait_for_timeout(100)
    boxes = page.evaluate(_BOXES_JS)
    assert boxes["folded"] is folded and not boxes["overlap"], boxes
    page.locator(".siting-legend h4").click()  # the heading folds and unfolds it
    again = page.evaluate(_BOXES_JS)
    assert again["folded"] is not folded and not again["overlap"], again
    assert (again["legendHeight"] < boxes["legendHeight"]) is (not folded)
    page.set_viewport_size({"width": width, "height": height - 40})  # a resize keeps the reader's choice
    page.wait_for_timeout(100)
    assert page.evaluate(_BOXES_JS)["folded"] is not folded and not page.evaluate(_BOXES_JS)["overlap"]


def test_a_click_on_a_school_opens_its_popup(offline_page, map_files):
    page = offline_page
    _open(page, map_files["main"])
    point = page.evaluate(
        """() => {
          const map = MAPS[0];
          let target = null;
          map.eachLayer(l => { if (!target && l instanceof L.CircleMarker && l.feature
                                   && l.feature.properties.name === "School 2") target = l; });
          const p = map.latLngToContainerPoint(target.getLatLng());
          const box = map.getContainer().getBoundingClientRect();
          return [box.left + p.x, box.top + p.y];
        }""".replace("MAPS", _MAPS_JS)
    )
    page.mouse.click(point[0], point[1])
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(state="visible")
    text = popup.inner_text()
    assert "School 2" in text and "seats" in text and "utilization" in text
    assert page.errors == []


def test_hostile_name_shows_as_text_and_runs_nothing(offline_page, map_files):
    page = offline_page
    _open(page, map_files["main"])
    text = _open_popup_of(page, XSS)
    assert XSS in text  # the raw characters are displayed
    assert page.locator(".leaflet-popup-content img").count() == 0
    # the search list shows it as text too
    page.locator(".leaflet-control-search .search-button").click()
    page.locator(".leaflet-control-search input").press_sequentially("img", delay=50)
    tip = page.locator(".search-tip").first
    tip.wait_for(state="visible")
    assert "onerror" in tip.inner_text() and page.locator(".search-tip img").count() == 0
    page.wait_for_timeout(300)
    assert page.dialogs == [] and page.errors == []


def test_chinese_name_displays(offline_page, map_files):
    page = offline_page
    _open(page, map_files["main"])
    assert CHINESE in _open_popup_of(page, CHINESE)


def test_unit_popup_built_in_the_page_shows_old_and_new_school(offline_page, map_files):
    page = offline_page
    _open(page, map_files["main"])
    page.locator(".leaflet-control-layers-overlays label", has_text="Population density").click()
    text = page.evaluate(
        """() => {
          const map = MAPS[0];
          let unit = null;
          map.eachLayer(l => {
            if (!unit && l.feature && l.feature.properties.dens !== undefined) unit = l;
          });
          unit.openPopup(unit.getBounds().getCenter());
          return document.querySelector('.leaflet-popup-content').innerText;
        }""".replace("MAPS", _MAPS_JS)
    )
    assert "Home zone 0" in text and "Population" in text and "→" in text and "walk" in text
    assert page.errors == []


def test_offline_file_needs_no_assets_and_shows_data_without_tiles(offline_page, map_files):
    page = offline_page
    _open(page, map_files["offline"])
    assert page.errors == [] and page.aborted == []
    assert page.evaluate("() => performance.getEntriesByType('resource').length") == 0
    assert page.locator(".leaflet-tile").count() == 0
    assert page.locator(".siting-legend").is_visible()
    assert XSS in _open_popup_of(page, XSS)
    assert page.dialogs == []


def test_review_map_shows_two_synchronised_maps(offline_page, map_files):
    page = offline_page
    _open(page, map_files["review"])
    assert page.errors == [] and page.aborted == []
    assert page.locator(".leaflet-container").count() == 2
    titles = page.locator(".siting-title").all_inner_texts()
    assert any("current" in t for t in titles) and any("proposed" in t for t in titles)
    centres = page.evaluate(
        """async () => {
          const [a, b] = MAPS;
          a.setView([a.getCenter().lat + 0.002, a.getCenter().lng], a.getZoom(), {animate: false});
          await new Promise(r => setTimeout(r, 200));
          return [a.getCenter().lat, b.getCenter().lat];
        }""".replace("MAPS", _MAPS_JS)
    )
    assert centres[0] == pytest.approx(centres[1], abs=1e-6)


@pytest.fixture(scope="module")
def sample_or_none():
    """The bundled sample run in memory, or None when the sample is missing."""
    if not (SAMPLE / "scenarios" / "sample.yaml").exists():
        return None
    from siting.config import load_scenario
    from siting.pipeline import run_scenario

    return run_scenario(load_scenario(SAMPLE / "scenarios" / "sample.yaml"), write=False)


@pytest.fixture
def sample_run(sample_or_none):
    if sample_or_none is None:
        pytest.skip(f"the bundled sample city is missing under {SAMPLE}")
    return sample_or_none


def test_hearing_map_of_the_sample_and_readme_screenshot(offline_page, map_files, sample_or_none, tmp_path):
    """On the real sample when it exists (the README's screenshot), else on the synthetic city."""
    page = offline_page
    path = map_files["hearing"]
    if sample_or_none is not None:
        path = maps.hearing_map(sample_or_none, tmp_path / "sample-hearing.html")
    _open(page, path)
    page.wait_for_timeout(300)
    assert page.errors == [] and page.aborted == []
    assert page.locator(".leaflet-control-layers-overlays label").count() >= 10
    shot = tmp_path / "shot.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if path != map_files["hearing"] and os.environ.get("SITING_UPDATE_DOCS_IMG") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def _parcel_popup(page, sid: str) -> str:
    """Open the popup of reserved parcel ``sid`` (its polygon, not its school marker); return its text."""
    text = page.evaluate(
        """(sid) => {
          for (const map of MAPS) {
            let hit = null;
            map.eachLayer(l => { if (!hit && l.feature && l.feature.properties.sid === sid
                                     && (l.feature.properties.popup || "").includes("Decision")
                                     && l.getPopup && l.getPopup()) hit = l; });
            if (hit) {
              map.closePopup();
              hit.openPopup();
              const el = hit.getPopup().getElement();
              return el && el.offsetParent !== null ? el.innerText : null;
            }
          }
          return null;
        }""".replace("MAPS", _MAPS_JS),
        sid,
    )
    assert text, f"no visible popup for parcel {sid} on the map"
    return text


def test_hearing_map_popups_hold_each_parcels_case(offline_page, sample_run, tmp_path):
    from siting.report import hearing_brief

    page = offline_page
    _open(page, maps.hearing_map(sample_run, tmp_path / "hearing.html", basemap="none", offline=True))
    brief = hearing_brief(sample_run)
    for p in brief["parcels"].itertuples(index=False):
        text = " ".join(_parcel_popup(page, p.school_id).split())
        assert p.name.split()[0] in text and f"{p.area_m2:,.0f} m²" in text and p.grid_ref in text
        assert "按用地标准可建规模 Sizes the land standard allows" in text
        if p.chosen:
            seats = int(p.seats_primary + p.seats_junior)
            assert f"Chosen in this plan: {p.option}" in text and f"{seats:,} seats" in text
            assert f"{p.residents_served:,.0f} residents" in text
        else:
            assert "Why not chosen" in text and " ".join(p.why_en.split()) in text
    assert page.errors == [] and page.aborted == []


def _pdf_pages(pdf: Path) -> list[str]:
    """The text of each page of ``pdf`` (pdftotext from poppler-utils; skipped without it, failed in CI)."""
    import os
    import subprocess

    if shutil.which("pdftotext") is None:
        message = "pdftotext not found: install poppler-utils (`make browser`) to read PDFs back"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], check=True, capture_output=True).stdout
    return text.decode("utf-8").split("\f")[:-1]


def _squash(text: str) -> str:
    return "".join(text.split())


def test_pdf_brief_of_the_sample_has_one_page_per_parcel_with_its_numbers(chromium, sample_run, tmp_path):
    import os
    import subprocess

    from siting.report import hearing_brief, write_packs

    brief = hearing_brief(sample_run)
    files = write_packs(sample_run, tmp_path / "pack", review=False, brief=brief)
    pages = _pdf_pages(files["brief_pdf"])
    parcels = brief["parcels"]
    assert len(pages) == len(parcels) == int((sample_run.schools["status"] == "site").sum())
    for page, p in zip(pages, parcels.itertuples(index=False), strict=True):
        flat = _squash(page)
        assert _squash(f"{p.school_id} {p.name}") in flat, p.school_id
        assert f"{p.area_m2:,.0f}m²" in flat and p.grid_ref in flat
        if p.chosen:
            seats = int(p.seats_primary + p.seats_junior)
            assert f"{seats:,}seats" in flat and f"{p.residents_served:,.0f}residents" in flat
            assert f"{p.cost_yuan / 1e4:,.0f}万元" in flat
        else:
            assert _squash(p.why_en) in flat and _squash(p.why_zh) in flat
    if os.environ.get("SITING_UPDATE_DOCS_IMG") == "1":  # the README's picture of a brief page
        from siting.cli.outputs import _roads

        first = str(
            parcels["school_id"].iloc[0]
        )  # with its roads and its re-solve, as `siting pack` makes it
        roads = _roads(sample_run)
        full = hearing_brief(sample_run, roads=roads, resolve=True, time_limit_s=20.0, parcels=[first])
        one = write_packs(sample_run, tmp_path / "one", review=False, brief=full, roads=roads)["brief_pdf"]
        target = REPO / "docs" / "img" / "brief-page"
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(one),
                        str(target)], check=True)  # fmt: skip
        assert target.with_suffix(".png").stat().st_size > 20_000


def test_pdf_review_pack_of_a_generated_city_names_every_moving_unit(chromium, tmp_path):
    from siting.config import load_scenario
    from siting.pipeline import run_scenario
    from siting.report import unit_places, write_packs
    from siting.sample import generate_city, write_city

    write_city(
        generate_city(residents=40_000, width_km=3.0, height_km=2.5, seed=11), tmp_path / "raw", name="c"
    )
    run = run_scenario(load_scenario(tmp_path / "raw" / "scenarios" / "c.yaml"), write=False)
    files = write_packs(run, tmp_path / "pack", hearing=False)
    text = _squash("".join(_pdf_pages(files["review_pdf"])))
    places = unit_places(run.units)
    assert places["grid_ref"].is_unique and len(run.changes)
    for uid in run.changes["unit_id"].unique():
        assert places.at[uid, "grid_ref"] in text and str(uid) in text


# --------------------------------------------------------------------------- no network at all
@pytest.fixture
def no_network_page(chromium):
    """A page that may load only the file itself: every request to another host (CDN, tiles) is refused.

    ``page.refused`` collects the URLs refused, ``page.errors`` console errors and page exceptions.
    """
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.errors, page.refused = [], []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            return r.continue_()
        page.refused.append(url)
        return r.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


# For each map and each overlay of its layer control: show that overlay alone, then count its features
# (leaf layers), those on the map, marker elements, SVG paths and the canvas pixels painted.
_DRAW_EACH_LAYER_JS = """async () => {
  const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const out = [];
  for (const map of MAPS) {
    const pane = map.getContainer();
    const inputs = [...pane.querySelectorAll(".leaflet-control-layers-overlays input")];
    for (const input of [null, ...inputs]) {  // null: every overlay off, the plain background alone
      inputs.forEach(i => { if (i.checked) i.click(); });  // Leaflet's layer control: click to toggle
      if (input) input.click();
      await frames();
      const layer = input && map._layers[input.layerId];
      const leaves = [];
      const walk = l => (l.eachLayer && !(l instanceof L.Path) ? l.eachLayer(walk) : leaves.push(l));
      if (layer) walk(layer);
      let painted = 0;
      for (const canvas of pane.querySelectorAll("canvas")) {
        const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        for (let k = 3; k < px.length; k += 4) if (px[k] > 0) painted++;
      }
      out.push({
        map: pane.id, name: input ? input.parentElement.textContent.trim() : "",
        features: leaves.length, on_map: leaves.filter(l => l._map === map).length,
        markers: pane.querySelectorAll(".leaflet-marker-pane > *").length,
        svg_paths: pane.querySelectorAll(".leaflet-overlay-pane svg path").length, painted,
      });
    }
  }
  return out;
}""".replace("MAPS", _MAPS_JS)


@pytest.fixture(scope="module")
def default_maps(tmp_path_factory) -> list[Path]:
    """The three maps as `siting run` writes them: default options (Leaflet inline, OpenStreetMap tiles)."""
    out = tmp_path_factory.mktemp("default")
    main = maps.write_maps(make_map_result(), out / "demo.html")
    return maps.map_files(main)


@pytest.mark.parametrize("which", [0, 1, 2], ids=["general", "hearing", "review"])
def test_default_maps_draw_every_layer_with_no_network(no_network_page, default_maps, which):
    page = no_network_page
    _open(page, default_maps[which])
    assert all("tile.openstreetmap.org" in url for url in page.refused), page.refused  # tiles only
    assert all("Failed to load resource" in e for e in page.errors), page.errors  # the refused tiles
    layers = page.evaluate(_DRAW_EACH_LAYER_JS)
    assert len({entry["map"] for entry in layers}) == (2 if which == 2 else 1)
    assert len(layers) >= (11 if which < 2 else 10)
    blank = [entry for entry in layers if entry["name"] == ""]
    assert len(blank) == len({entry["map"] for entry in layers}) and all(e["painted"] == 0 for e in blank)
    for entry in (e for e in layers if e["name"]):
        drawn = entry["painted"] + entry["markers"] + entry["svg_paths"]
        if entry["name"].endswith("(none)"):  # a layer the legend marks empty (e.g. no junior move)
            assert entry["features"] == 0, entry
            continue
        assert entry["features"] > 0 and entry["on_map"] == entry["features"] and drawn > 0, entry
    shown = page.locator(".leaflet-container").first
    assert shown.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(238, 240, 234)"  # plain


def test_cdn_option_links_the_cdns_and_inline_carries_everything(tmp_path):
    result = make_map_result()
    inline = maps.write_maps(result, tmp_path / "inline.html").read_text(encoding="utf-8")
    cdn = maps.write_maps(result, tmp_path / "cdn.html", assets="cdn").read_text(encoding="utf-8")
    assert "<script src=" not in inline and '<link rel="stylesheet"' not in inline
    assert "leaflet.js (inlined)" in inline
    assert '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js">' in cdn
    review = (tmp_path / "cdn-review.html").read_text(encoding="utf-8")
    assert "Leaflet.Sync" in review and "<script src=" in review
    with pytest.raises(InputError, match="map assets 'offline' is not known"):
        maps.write_maps(result, tmp_path / "bad.html", assets="offline")
