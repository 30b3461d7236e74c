"""Balance in the model (issue 14): the utilisation floor on and off, on the sample and a generated district.

``python -m benchmarks.run balance``. Each run is a fresh process (:func:`benchmarks._common.measure`).

* **Sample** (the whole pipeline, ``run_scenario``): mean walk, the CV of every indicator with data, the
  indicators the plan worsens, model time and certified gap, with ``balance_m`` 0 (off) and the default.
* **District** (the model-scale generator, 20,000 units, both levels, model only): the generated schools
  carry no resource columns, so the CV shown is that of **seats per pupil** (a school's standard-capacity
  seats over its pupils), the per-pupil resource the floor acts on; plus mean walk, share of school-levels
  below 60 % of their seats, time and gap.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks._common import machine, measure

DEFAULT_BALANCE_M = 1_000.0


def run_sample(balance_m: float) -> dict[str, Any]:
    """Run the sample scenario with ``balance_m`` (no files written); return its figures."""
    from siting.config import load_scenario
    from siting.pipeline import run_scenario

    scenario = load_scenario("data/raw/sample/scenarios/sample.yaml").replace(balance_m=balance_m)
    t0 = time.perf_counter()
    result = run_scenario(scenario, write=False, draw_map=False, cache_dir=None)
    wall = time.perf_counter() - t0
    figures = result.key_figures()
    cv = result.cv[(result.cv["state"] == "proposed") & (result.cv["status"] == "ok")]
    sol = result.solution
    return {
        "wall_s": wall,
        "model_s": sol.build_time_s + sol.solve_time_s,
        "gap": sol.gap,
        "status": sol.status,
        "walk": {lv: figures[f"{lv}_walk_mean_m"] for lv in ("primary", "junior")},
        "overflow": {lv: figures[f"{lv}_overflow"] for lv in ("primary", "junior")},
        "cv": {(r.level, r.indicator): float(r.cv) for r in cv.itertuples()},
        "worsened": [f"{w['level']} {w['indicator']}" for w in result.summary["balance_worsened"]],
    }


def run_district(balance_m: float, limit: float) -> dict[str, Any]:
    """Generate the model-scale district, solve it with ``balance_m``; return walk, seats-per-pupil CV."""
    from benchmarks.bench_model_scale import generate_city, solve_city
    from siting.metrics import pupil_weighted_cv
    from siting.standards import Standards

    std = Standards.foshan()
    city = generate_city(20_000, 230, 60, 3.7e6, std=std)
    t0 = time.perf_counter()
    model, res = solve_city(city, std, limit, balance_m=balance_m or None)
    wall = time.perf_counter() - t0
    asg = res.assignment
    out: dict[str, Any] = {"wall_s": wall, "gap": res.gap, "status": res.status, "arcs": model.n_arcs}
    table = res.overflow[res.overflow["pupils"] > 0]
    for level in ("primary", "junior"):
        a = asg[asg["level"] == level]
        out[f"walk_{level}"] = float(np.average(a["distance_m"], weights=a["pupils"]))
        t = table[table["level"] == level]
        out[f"cv_{level}"] = pupil_weighted_cv(t["capacity"] / t["pupils"], t["pupils"])
        full = res.overflow[(res.overflow["level"] == level) & (res.overflow["capacity"] > 0)]
        out[f"below_{level}"] = float((full["pupils"] < 0.6 * full["capacity"]).mean())
    out["overflow"] = float(res.overflow["overflow"].sum())
    out["underuse"] = res.objective_parts.get("underuse", 0.0)
    return out


def _sample_table(sample: dict[float, tuple[dict[str, Any], float, float]]) -> list[str]:
    """Markdown rows of the sample runs: walks, overflow and the CV of every indicator with data."""
    keys = sorted({k for out, _, _ in sample.values() for k in out["cv"]})
    head = ["balance_m", "walk P / J (m)", "overflow P / J"]
    head += [f"CV {lv[0].upper()} {ind}" for lv, ind in keys]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for b, (out, _, _) in sample.items():
        cells = [
            f"{b:,.0f}",
            f"{out['walk']['primary']:,.0f} / {out['walk']['junior']:,.0f}",
            f"{out['overflow']['primary']:,.0f} / {out['overflow']['junior']:,.0f}",
            *[f"{out['cv'].get(k, float('nan')):.3f}" for k in keys],
        ]
        rows.append("| " + " | ".join(cells) + " |")
    rows += [
        "",
        "| balance_m | worsened (passes today, fails in the plan) | model s | run wall s | status | gap |",
        "|---|---|---:|---:|---|---:|",
    ]
    for b, (out, wall, _) in sample.items():
        worse = ", ".join(out["worsened"]) or "–"
        rows.append(
            f"| {b:,.0f} | {worse} | {out['model_s']:.1f} | {wall:.1f} | {out['status']} | "
            f"{100 * out['gap']:.2f} % |"
        )
    return rows


def _district_table(district: dict[float, tuple[dict[str, Any], float, float]]) -> list[str]:
    """Markdown rows of the district runs."""
    rows = [
        "| balance_m | arcs | walk P / J (m) | CV seats/pupil P / J | below 60 % P / J | overflow | "
        "model s | peak MiB | status | certified gap |",
        "|---|---:|---|---|---|---:|---:|---:|---|---:|",
    ]
    for b, (out, _, peak) in district.items():
        below = f"{100 * out['below_primary']:.0f} % / {100 * out['below_junior']:.0f} %"
        rows.append(
            f"| {b:,.0f} | {out['arcs']:,} | {out['walk_primary']:,.0f} / {out['walk_junior']:,.0f} | "
            f"{out['cv_primary']:.3f} / {out['cv_junior']:.3f} | {below} | {out['overflow']:,.0f} | "
            f"{out['wall_s']:.1f} | {peak:,.0f} | {out['status']} | {100 * out['gap']:.2f} % |"
        )
    return rows


def main(argv: list[str]) -> str:
    """Run the sample and the district with the floor off and on; return the Markdown section."""
    limit = 420.0
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "limit":
            limit = float(value)
    sample = {b: measure(run_sample, b) for b in (0.0, DEFAULT_BALANCE_M)}
    district = {b: measure(run_district, b, limit) for b in (0.0, DEFAULT_BALANCE_M)}
    off, on = district[0.0][0], district[DEFAULT_BALANCE_M][0]
    lines = [
        "## balance: the utilisation floor on and off (issue 14)",
        "",
        f"Machine: {machine()}. Other agents' work ran on the machine at the same time (heavy runs "
        "serialised with a lock, light ones not); compare the rows of one table, measured in the same run.",
        "",
        f"`balance_m` 0 is the model without the floor; {DEFAULT_BALANCE_M:,.0f} pupil-m per pupil below "
        "60 % of the seats (`standards.utilisation_floor`) is the scenario default.",
        "",
        "**Sample** (whole pipeline, `run_scenario`, no cache, no files): CV per indicator in the plan "
        "(limits 0.50 primary / 0.45 junior).",
        "",
        *_sample_table(sample),
        "",
        "**District** (`benchmarks.bench_model_scale.generate_city`: 20,000 units, 230 schools, 60 sites, "
        f"both levels, mode round, gap target 1 %, limit {limit:.0f} s). CV = pupil-weighted CV of standard "
        "seats per pupil over the school-levels with pupils; *below 60 %*: share of school-levels with "
        "seats holding fewer pupils than 60 % of them.",
        "",
        *_district_table(district),
        "",
        f"Model time with the floor / without (district, same run): {on['wall_s'] / off['wall_s']:.2f}×.",
    ]
    return "\n".join(lines) + "\n"
