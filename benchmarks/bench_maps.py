"""Map size and browser load time for a district-scale city (about 20,000 units and 300 schools).

``python -m benchmarks.run maps [--units N] [--schools N]``. The run result is synthetic (200 m grid cells
around Foshan, lon 113.1 lat 23.0, EPSG:32649; schools, sites, catchments and changes made by nearest-school
rules), because a solved district-scale run takes far longer than drawing it. The baseline is a plain
``GeoDataFrame.explore``-style folium map of the same units (one GeoJson, no styling, no popups),
measured in the same run; both are opened in headless Chromium with every network request answered
locally, and the time to the map's ``load`` event plus the first rendered frame is reported.

:func:`synthetic_result` is also used by ``tests/test_maps.py`` and ``tests/test_browser.py``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from benchmarks._common import WORK_DIR, machine, measure
from siting.standards import LEVELS, LEVELS_SERVED, Standards

CRS = "EPSG:32649"
ORIGIN = (715244.9, 2545061.5)  # lon 113.1, lat 23.0 in EPSG:32649, metres
CELL = 200.0
DISTRICTS = ("禅城区", "南海区", "顺德区", "三水区")


def synthetic_result(
    nx: int = 12, ny: int = 10, *, n_schools: int = 5, n_sites: int = 3, seed: int = 0
) -> SimpleNamespace:
    """Return an object with the attributes of ``pipeline.RunResult`` for a grid city.

    Parameters
    ----------
    nx, ny
        Grid size in 200 m cells (units = nx × ny).
    n_schools, n_sites
        Existing schools and reserved sites; the first half of the sites (rounded up) open.
    seed
        Random seed (fixed output for a fixed seed).
    """
    rng = np.random.default_rng(seed)
    standards = Standards.foshan()
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    x0 = ORIGIN[0] + ii.ravel() * CELL
    y0 = ORIGIN[1] + jj.ravel() * CELL
    cells = shapely.box(x0, y0, x0 + CELL, y0 + CELL)
    cx, cy = x0 + CELL / 2, y0 + CELL / 2
    width, height = nx * CELL, ny * CELL
    # denser towards the centre
    r = np.hypot((cx - ORIGIN[0]) / width - 0.5, (cy - ORIGIN[1]) / height - 0.5)
    population = np.round(rng.lognormal(mean=5.0, sigma=0.6, size=cx.size) * np.exp(-2.0 * r), 1)
    units = gpd.GeoDataFrame(
        {
            "population": population,
            "primary": population * standards.seats_per_1000["primary"] / 1000,
            "junior": population * standards.seats_per_1000["junior"] / 1000,
            "pop_x": cx,
            "pop_y": cy,
            "district": [DISTRICTS[min(int(4 * (x - ORIGIN[0]) / width), 3)] for x in cx],
        },
        geometry=cells,
        crs=CRS,
        index=pd.Index(np.arange(cx.size, dtype="int64"), name="unit_id"),
    )

    def points(n: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            ORIGIN[0] + rng.uniform(0.05, 0.95, n) * width,
            ORIGIN[1] + rng.uniform(0.05, 0.95, n) * height,
        )

    kinds = np.array(["primary", "junior", "nine_year"])
    sx, sy = points(n_schools)
    ex, ey = points(n_sites)
    n_total = n_schools + n_sites
    ids = [f"S{i:03d}" for i in range(n_schools)] + [f"P{i:03d}" for i in range(n_sites)]
    kind = kinds[rng.choice(3, size=n_total, p=[0.6, 0.3, 0.1])]
    kind[0] = "nine_year"  # so every level has an existing school
    status = ["existing"] * n_schools + ["site"] * n_sites
    n_open = math.ceil(n_sites / 2)
    opened = np.array([False] * n_schools + [True] * n_open + [False] * (n_sites - n_open))
    schools = gpd.GeoDataFrame(
        {
            "name": [f"School {i}" for i in range(n_schools)] + [f"Site {i}" for i in range(n_sites)],
            "level": kind,
            "status": status,
            "public": True,
            "district": None,
            "area_m2": np.where(np.arange(n_total) >= n_schools, 40000.0, np.nan),
            "central": False,
            "opened": opened,
        },
        geometry=gpd.points_from_xy(np.r_[sx, ex], np.r_[sy, ey]),
        crs=CRS,
        index=pd.Index(ids, name="school_id"),
    )
    options = []
    for i, k in enumerate(kind):
        existing = i < n_schools
        for lvl in LEVELS:
            serves = lvl in LEVELS_SERVED[k]
            classes = int(rng.choice([18, 24, 30, 36])) if serves and existing else 0
            schools.loc[ids[i], f"classes_{lvl}"] = classes
            cap = classes * standards.class_size[lvl]
            schools.loc[ids[i], f"capacity_{lvl}"] = cap
            added = 36 if (opened[i] and serves) else 0
            schools.loc[ids[i], f"capacity_after_{lvl}"] = cap + added * standards.class_size[lvl]
        options.append("36P" if opened[i] else "")
    schools["option"] = options

    assignment = []
    for lvl in LEVELS:
        serves = schools["level"].map(lambda k, lvl=lvl: lvl in LEVELS_SERVED[k]).to_numpy()
        for when, allowed in (
            ("current", serves & (schools["status"] == "existing").to_numpy()),
            ("proposed", serves & ((schools["status"] == "existing").to_numpy() | opened)),
        ):
            cand = schools[allowed]
            tree = cKDTree(np.c_[cand.geometry.x, cand.geometry.y])
            dist, idx = tree.query(np.c_[cx, cy])
            units[f"{when}_{lvl}"] = pd.array(cand.index.to_numpy()[idx], dtype=object)
            units[f"_{when}_{lvl}_m"] = dist * 1.3  # network detour factor
        for sid, grp in units.groupby(f"current_{lvl}"):
            schools.loc[sid, f"enrolled_{lvl}"] = float(grp[lvl].sum())
        assignment.append(
            pd.DataFrame(
                {
                    "unit_id": units.index,
                    "level": lvl,
                    "school_id": units[f"proposed_{lvl}"].to_numpy(),
                    "pupils": units[lvl].to_numpy(),
                    "distance_m": units[f"_proposed_{lvl}_m"].to_numpy(),
                }
            )
        )
    for lvl in LEVELS:
        schools[f"enrolled_{lvl}"] = schools.get(f"enrolled_{lvl}", pd.Series(0.0)).fillna(0.0)

    def catchments(prefix: str) -> gpd.GeoDataFrame:
        parts = []
        for lvl in LEVELS:
            grp = units.groupby(units[f"{prefix}_{lvl}"].astype(str))
            geoms = grp.geometry.apply(lambda g: shapely.coverage_union_all(g.to_numpy()))
            parts.append(
                gpd.GeoDataFrame(
                    {
                        "level": lvl,
                        "school_id": geoms.index.to_numpy(),
                        "population": grp["population"].sum().to_numpy(),
                        "pupils": grp[lvl].sum().to_numpy(),
                        "n_units": grp.size().to_numpy(),
                    },
                    geometry=geoms.to_numpy(),
                    crs=CRS,
                )
            )
        return pd.concat(parts, ignore_index=True)

    changes = []
    for lvl in LEVELS:
        moved = units[units[f"current_{lvl}"] != units[f"proposed_{lvl}"]]
        changes.append(
            pd.DataFrame(
                {
                    "unit_id": moved.index,
                    "level": lvl,
                    "old_school": moved[f"current_{lvl}"].to_numpy(),
                    "new_school": moved[f"proposed_{lvl}"].to_numpy(),
                    "pupils": moved[lvl].to_numpy(),
                    "walk_before_m": moved[f"_current_{lvl}_m"].to_numpy(),
                    "walk_after_m": moved[f"_proposed_{lvl}_m"].to_numpy(),
                }
            )
        )
    costs = pd.concat(
        [
            pd.DataFrame(
                {
                    "unit_id": units.index,
                    "school_id": units[f"{when}_{lvl}"].to_numpy(),
                    "distance_m": units[f"_{when}_{lvl}_m"].to_numpy(),
                }
            )
            for lvl in LEVELS
            for when in ("current", "proposed")
        ],
        ignore_index=True,
    ).drop_duplicates(["unit_id", "school_id"])
    units = units.drop(columns=[c for c in units.columns if c.startswith("_")])
    half = [
        shapely.box(ORIGIN[0] + k * width / 4, ORIGIN[1], ORIGIN[0] + (k + 1) * width / 4, ORIGIN[1] + height)
        for k in range(4)
    ]
    districts = gpd.GeoDataFrame({"name": list(DISTRICTS)}, geometry=half, crs=CRS)
    site_ids = schools.index[schools["status"] == "site"]
    pts = schools.loc[site_ids].geometry
    sites = gpd.GeoDataFrame(geometry=pts.buffer(100.0, cap_style="square"), crs=CRS)
    return SimpleNamespace(
        scenario=SimpleNamespace(name=f"synthetic {nx}x{ny}"),
        standards=standards,
        units=units,
        schools=schools,
        sites=sites,
        districts=districts,
        costs=costs,
        solution=SimpleNamespace(
            status="optimal", gap=0.0, assignment=pd.concat(assignment, ignore_index=True)
        ),
        catchments=catchments("proposed"),
        current_catchments=catchments("current"),
        changes=pd.concat(changes, ignore_index=True),
        school_metrics=None,
        summary={},
    )


# ------------------------------------------------------------------------------------------ benchmark
def _write_maps(nx: int, ny: int, n_schools: int, n_sites: int, out_dir: str) -> dict[str, Any]:
    import folium

    from siting.maps import save_map, siting_map

    result = synthetic_result(nx, ny, n_schools=n_schools, n_sites=n_sites, seed=1)
    out = Path(out_dir)
    start = time.perf_counter()
    m = siting_map(result)
    path = save_map(m, out / "siting.html")
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    plain = folium.Map(tiles=None, prefer_canvas=True)
    folium.GeoJson(result.units[["geometry", "population"]].to_crs(4326)).add_to(plain)
    plain.fit_bounds(plain.get_bounds())
    base = out / "plain.html"
    plain.save(base)
    base_s = time.perf_counter() - start
    return {
        "units": len(result.units),
        "schools": len(result.schools),
        "map": str(path),
        "plain": str(base),
        "build_s": build_s,
        "plain_build_s": base_s,
    }


def load_seconds(path: Path, *, timeout_s: float = 60.0) -> float:
    """Open ``path`` in headless Chromium with no network; seconds until load and a rendered frame."""
    from playwright.sync_api import sync_playwright

    from siting.maps import local_asset

    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 800})

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith("file:"):
                r.continue_()
            elif (asset := local_asset(url)) is not None:
                r.fulfill(path=str(asset))
            else:
                r.abort()

        page.route("**/*", route)
        start = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        seconds = time.perf_counter() - start
        browser.close()
    return seconds


def main(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="benchmarks.run maps")
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--schools", type=int, default=300)
    args = parser.parse_args(argv)
    nx = round(math.sqrt(args.units * 1.25))
    ny = round(args.units / nx)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    info, wall, peak = measure(_write_maps, nx, ny, args.schools, 40, str(WORK_DIR))
    size_mb = Path(info["map"]).stat().st_size / 1e6
    base_mb = Path(info["plain"]).stat().st_size / 1e6
    load = min(load_seconds(Path(info["map"])) for _ in range(2))
    base_load = min(load_seconds(Path(info["plain"])) for _ in range(2))
    verdict = "PASS" if size_mb < 15 and load < 10 else "FAIL"
    lines = [
        "## maps — district-scale map size and load time",
        "",
        f"Machine: {machine()}",
        "",
        f"Synthetic city: {info['units']:,} units (200 m cells), {info['schools']} schools and sites; "
        "headless Chromium, network answered from `siting/_assets`, best of 2 loads.",
        "",
        "| map | file size (MB) | build + write (s) | load in browser (s) |",
        "|---|---:|---:|---:|",
        f"| `siting_map` (all layers, popups, legend) | {size_mb:.2f} | {info['build_s']:.1f} | {load:.2f} |",
        f"| baseline: plain folium GeoJson of the units | {base_mb:.2f} | {info['plain_build_s']:.1f} | "
        f"{base_load:.2f} |",
        f"| ratio siting / baseline | {size_mb / base_mb:.2f}× | "
        f"{info['build_s'] / info['plain_build_s']:.1f}× | {load / base_load:.2f}× |",
        "",
        f"Targets: under 15 MB and under 10 s to open → **{verdict}**. Peak memory of the build process: "
        f"{peak:.0f} MiB (whole step {wall:.1f} s, including generating the synthetic city).",
    ]
    return "\n".join(lines)
