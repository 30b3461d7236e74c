"""The printable hearing brief: one A4 page per reserved parcel, a static map of its surroundings, its case.

Each page holds the parcel's name and decision, a map (the parcel, its catchment in the plan, the schools
its pupils come from, other parcels, the service radius and the sheet grid), the facts of
:func:`siting.report.evidence.evidence_rows`, the sizes its land allows, the schools it relieves and the
re-solves with it forced open / closed. Labels are in Chinese and English.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import pandas as pd

from siting.report.brief import levels_of
from siting.report.evidence import evidence_rows, num, signed, yuan
from siting.report.figures import COLOURS, Layer, draw_map, radius_rings, window
from siting.report.labels import bilingual, level_label
from siting.report.pack_html import document, esc, facts_table, image, legend, table
from siting.report.places import SheetGrid
from siting.standards import LEVELS

MAX_RELIEF_ROWS = 6
"""Source schools listed on a parcel's page (the rest are summed in one line)."""

NEAREST_WITHIN_M = 2500.0
"""A parcel's map widens to show the three nearest schools of its levels when they are this close, metres."""

_TABLE_KEYS = {bilingual("decision"), bilingual("sizes_table"), bilingual("relief")}


def brief_document(
    result: Any,
    brief: Mapping[str, pd.DataFrame],
    *,
    grid: SheetGrid,
    roads: gpd.GeoDataFrame | None = None,
    title: str = "",
) -> str:
    """Return the brief as one HTML page with a ``<section>`` per parcel (A4, one page each when printed).

    Parameters
    ----------
    result
        The run result the brief was made from (``units``, ``schools``, ``sites``, ``standards``).
    brief
        :func:`siting.report.brief.hearing_brief` tables.
    grid
        The sheet grid of the maps (the same as the brief's grid references).
    roads
        Named road lines to draw, or None.
    title
        Scenario line printed at the top of every page.

    Returns
    -------
    str
        The HTML document.
    """
    parcels = brief["parcels"]
    sections = [
        _page(result, brief, row, grid=grid, roads=roads, title=title) for _, row in parcels.iterrows()
    ]
    if not sections:
        sections = [
            f'<section class="page"><header><div class="run">{esc(title)}</div>'
            f"<h1>{esc(bilingual('brief_title'))}</h1></header>"
            f"<p>{esc(bilingual('no_parcels'))}</p></section>"
        ]
    return document(f"{bilingual('brief_title')} — {title}", sections)


def _page(
    result: Any,
    brief: Mapping[str, pd.DataFrame],
    p: pd.Series,
    *,
    grid: SheetGrid,
    roads: gpd.GeoDataFrame | None,
    title: str,
) -> str:
    sid = str(p["school_id"])
    rows = evidence_rows(brief, sid)
    decision = rows[0][1]
    facts = [(k, v) for k, v in rows if k not in _TABLE_KEYS and not _is_resolve(k)]
    png = parcel_map(result, sid, grid=grid, roads=roads)
    keys = ["parcel", "catchment", "source", "school", "chosen", "not_chosen", "radius", "grid"]
    if not p["chosen"]:
        keys = [k for k in keys if k not in ("catchment", "source")]
    parts = [
        f'<section class="page one" id="parcel-{esc(sid)}">',
        f'<header><div class="run">{esc(bilingual("brief_title"))} · {esc(title)}</div>',
        f"<h1>{esc(sid)} {esc(p['name'])}</h1>",
        f'<div class="decision {"chosen" if p["chosen"] else "not"}">{esc(decision)}</div></header>',
        '<div class="cols"><figure class="map">',
        image(png, alt=f"map of {sid}"),
        legend(keys),
        f'</figure><div class="side">{facts_table(facts)}</div></div>',
        f"<h2>{esc(bilingual('sizes_table'))}</h2>",
        _sizes_table(brief["sizes"], sid),
    ]
    if p["chosen"]:
        parts += [f"<h2>{esc(bilingual('relief'))}</h2>", _relief_table(brief["relief"], sid)]
    parts += _resolve_part(brief.get("counterfactual"), sid)
    parts.append("</section>")
    return "\n".join(parts)


def _is_resolve(label: str) -> bool:
    return label in (bilingual("forced_open"), bilingual("forced_closed"))


def _sizes_table(sizes: pd.DataFrame, sid: str) -> str:
    mine = sizes[sizes["school_id"] == sid]
    if not len(mine):
        return '<p class="note">–</p>'
    header = [
        bilingual("option"),
        bilingual("classes"),
        bilingual("seats"),
        bilingual("land_needed") + " m²",
        bilingual("fits"),
        bilingual("within_cap"),
        bilingual("cost"),
    ]
    rows = [
        [
            s.option,
            f"{s.classes_primary + s.classes_junior}",
            num(s.seats),
            num(s.land_needed_m2),
            "✓ 是 yes" if s.fits_land else "✗ 否 no",
            "✓ 是 yes" if s.within_cap else "✗ 否 no",
            yuan(s.cost_yuan),
        ]
        for s in mine.itertuples(index=False)
    ]
    return table(header, rows, numeric=[False, True, True, True, False, False, True])


def _relief_table(relief: pd.DataFrame, sid: str) -> str:
    mine = relief[relief["school_id"] == sid]
    if not len(mine):
        return f'<p class="note">{esc(bilingual("relief_none"))}</p>'
    header = [
        bilingual("from_school"),
        bilingual("level"),
        bilingual("pupils_moved"),
        bilingual("over_before"),
        bilingual("over_relieved"),
    ]
    shown = mine.head(MAX_RELIEF_ROWS)
    rows = [
        [
            f"{r.from_school} {r.from_name}",
            level_label(r.level),
            num(r.pupils),
            num(r.over_before),
            num(r.relieved),
        ]
        for r in shown.itertuples(index=False)
    ]
    rest = mine.iloc[MAX_RELIEF_ROWS:]
    if len(rest):
        rows.append([f"… {len(rest)} more", "", num(rest["pupils"].sum()), "", num(rest["relieved"].sum())])
    return table(header, rows, numeric=[False, False, True, True, True])


def _resolve_part(cf: pd.DataFrame | None, sid: str) -> list[str]:
    """The re-solves of a parcel as a table: one column for the plan and one per test, one row per figure."""
    head = f"<h2>{esc(bilingual('counterfactual'))}</h2>"
    if cf is None or not len(cf):
        return [head, f'<p class="note">{esc(bilingual("no_resolve"))}</p>']
    mine = cf[cf["school_id"] == sid]
    if not len(mine):
        return [head, f'<p class="note">{esc(bilingual("no_resolve"))} (no size fits)</p>']
    plan = cf[cf["test"] == "plan"].iloc[0]
    tests = list(mine.itertuples(index=False))
    rows = [
        [bilingual("objective_change") + " (M pupil-m)", f"{num(plan['objective'] / 1e6, 2)} M"]
        + [f"{signed(r.delta / 1e6, 2)} [{signed(r.delta_low / 1e6, 2)}, {signed(r.delta_high / 1e6, 2)}]"
           for r in tests],
        [bilingual("gap"), f"{100 * plan['gap']:.2f} %"] + [f"{100 * r.gap:.2f} %" for r in tests],
    ]  # fmt: skip
    for lv in LEVELS:
        rows.append(
            [f"{bilingual('mean_walk')} {level_label(lv)} m", num(plan[f"walk_m_{lv}"])]
            + [signed(getattr(r, f"walk_change_m_{lv}")) for r in tests]
        )
    for lv in LEVELS:
        rows.append(
            [f"{bilingual('unmet')} {level_label(lv)}", num(plan[f"unmet_{lv}"])]
            + [signed(getattr(r, f"unmet_change_{lv}")) for r in tests]
        )
    rows.append(
        [bilingual("cost"), yuan(plan["cost_yuan"])]
        + [f"{signed(r.cost_change_yuan / 1e6, 1)} M yuan" for r in tests]
    )
    rows.append(
        [f"{bilingual('opens_instead')} / {bilingual('drops')}", plan["new_sites"]]
        + [_opens_drops(r.opens_instead, r.drops) for r in tests]
    )
    header = ["", bilingual("plan"), *[bilingual(r.test) + " (Δ)" for r in tests]]
    note = (
        "方括号内为可证明区间（由两次求解的下界与目标值给出），下限大于 0 即证明固定后的方案更差。"
        "In brackets the certified range of the change, from both solves' bounds and objectives: a lower end "
        "above 0 proves the fixed plan is worse."
    )
    numeric = [False] + [True] * (1 + len(tests))
    return [head, table(header, rows, numeric=numeric), f'<p class="note">{esc(note)}</p>']


def _opens_drops(opens: str, drops: str) -> str:
    """``+S02 / −S07``: the sites a re-solve opens instead and those it drops."""
    parts = [f"+{s}" for s in opens.split(", ") if s] + [f"−{s}" for s in drops.split(", ") if s]
    return " ".join(parts) or "–"


def parcel_map(result: Any, sid: str, *, grid: SheetGrid, roads: gpd.GeoDataFrame | None = None) -> bytes:
    """Return a PNG of a parcel's surroundings (see the module docstring).

    Parameters
    ----------
    result
        The run result (``units``, ``schools``, optional ``sites`` parcels, ``standards``).
    sid
        The parcel's ``school_id``.
    grid
        Sheet grid drawn in the margins.
    roads
        Road lines to draw, or None.

    Returns
    -------
    bytes
        PNG image.
    """
    units, schools, standards = result.units, result.schools, result.standards
    schools = schools.set_axis(schools.index.astype(str))
    parcels = _parcels(result, schools)
    here = parcels.loc[[sid]]
    levels = levels_of(str(schools.at[sid, "level"]))
    mask = pd.Series(False, index=units.index)
    sources: set[str] = set()
    for lv in levels:
        col = f"proposed_{lv}"
        if col in units.columns:
            mine = units[col].astype(object) == sid
            mask |= mine
            if f"current_{lv}" in units.columns:
                sources |= {str(s) for s in units.loc[mine, f"current_{lv}"].dropna()}
    catchment = units[mask.to_numpy()]
    radii = [standards.service_radius_m[lv] for lv in levels]
    centre = here.geometry.iloc[0].centroid
    ring = centre.buffer(max(radii, default=500.0))
    existing = schools[(schools["status"].astype(str) == "existing").to_numpy()]
    serving = existing[existing["level"].astype(str).map(lambda k: bool(set(levels_of(k)) & set(levels)))]
    nearest = serving.geometry.distance(centre).nsmallest(3)
    near = [g for g in serving.geometry.loc[nearest.index] if g.distance(centre) <= NEAREST_WITHIN_M]
    bounds = window([ring, *catchment.geometry, *near], pad_m=150.0, min_half_m=700.0)
    chosen = schools["opened"].fillna(False).astype(bool) if "opened" in schools.columns else None
    others = parcels.drop(index=sid)
    other_chosen = others[others.index.isin(schools.index[chosen]) if chosen is not None else []]
    other_not = others[~others.index.isin(other_chosen.index)]
    src = existing[existing.index.isin(sources)]
    rest = existing[~existing.index.isin(sources)]
    layers = [
        Layer(catchment.geometry, face=COLOURS["catchment"], alpha=0.55),
        Layer(other_not.geometry, face="none", edge=COLOURS["not_chosen"], width=1.2, dashed=True,
              labels=list(other_not.index)),
        Layer(other_chosen.geometry, face=COLOURS["chosen"], edge="black", width=1.0, alpha=0.8,
              labels=list(other_chosen.index)),
        Layer(rest.geometry, face=COLOURS["school"], edge="white", marker=14, labels=list(rest.index)),
        Layer(src.geometry, face=COLOURS["source"], edge="black", marker=40, labels=list(src.index)),
        Layer(here.geometry, face=COLOURS["parcel"], edge="black", width=1.6, alpha=0.9, labels=[sid]),
    ]  # fmt: skip
    background = units.assign(_density=_pupils(units, levels) / (units.geometry.area / 1e6))
    return draw_map(
        bounds,
        layers,
        grid=grid,
        background=background,
        weight="_density",
        roads=roads,
        circles=radius_rings(centre, radii),
    )


def _parcels(result: Any, schools: pd.DataFrame) -> gpd.GeoDataFrame:
    """Parcels of all sites: their polygons where the result has them, else a 60 m square on the point."""
    sites = schools[(schools["status"].astype(str) == "site").to_numpy()]
    geoms = gpd.GeoSeries(sites.geometry, crs=schools.crs)
    polys = getattr(result, "sites", None)
    if isinstance(polys, gpd.GeoDataFrame) and len(polys):
        polys = polys.set_axis(polys.index.astype(str)).to_crs(schools.crs)
        known = geoms.index.isin(polys.index)
        geoms[known] = polys.geometry.reindex(geoms.index[known]).to_numpy()
    points = geoms.geom_type == "Point"
    geoms[points] = geoms[points].buffer(60.0, cap_style="square")
    return gpd.GeoDataFrame(geometry=geoms, crs=schools.crs)


def _pupils(units: pd.DataFrame, levels: list[str]) -> pd.Series:
    total = pd.Series(0.0, index=units.index)
    for lv in levels or list(LEVELS):
        if lv in units.columns:
            total += pd.to_numeric(units[lv], errors="coerce").fillna(0.0)
    return total
