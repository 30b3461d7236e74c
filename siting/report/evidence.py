"""A parcel's case as label/value rows: the hearing map's popup and the top table of its brief page.

Labels are bilingual (:mod:`siting.report.labels`); values are numbers with their units, and the reasons in
both languages. :func:`evidence_rows` reads only the tables of :func:`siting.report.brief.hearing_brief`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from siting.report.brief import levels_of
from siting.report.labels import UNMET, bilingual, level_label
from siting.standards import LEVELS

KIND_LABELS: Mapping[str, str] = {
    "primary": "小学 Primary",
    "junior": "初中 Junior middle",
    "nine_year": "九年一贯制 Nine-year",
    "twelve_year": "十二年一贯制 Twelve-year",
}


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, not a number, infinite)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def num(value: Any, decimals: int = 0) -> str:
    """Format a number with thousands separators (``–`` when missing)."""
    x = _finite(value)
    return "–" if x is None else f"{x:,.{decimals}f}"


def signed(value: Any, decimals: int = 0) -> str:
    """Format a change with its sign (``+12``, ``−3``, ``0``)."""
    x = _finite(value)
    if x is None:
        return "–"
    if round(x, decimals) == 0:
        return "0"
    return ("+" if x > 0 else "−") + f"{abs(x):,.{decimals}f}"


def yuan(value: Any) -> str:
    """Format an amount in yuan as ``6,269 万元 (62.7 M yuan)``."""
    x = _finite(value)
    return "–" if x is None else f"{x / 1e4:,.0f} 万元 ({x / 1e6:,.1f} M yuan)"


def size_text(classes_primary: Any, classes_junior: Any, seats: Any, option: Any = None) -> str:
    """E.g. ``36P — 36 classes, 1,620 seats`` or ``24P+12J — 36 classes (24 primary + 12 junior), …``."""
    cp, cj = int(classes_primary or 0), int(classes_junior or 0)
    split = f" ({cp} primary + {cj} junior)" if cp and cj else ""
    head = f"{option} — " if option not in (None, "") and not pd.isna(option) else ""
    return f"{head}{cp + cj} classes{split}, {num(seats)} seats"


def evidence_rows(brief: Mapping[str, pd.DataFrame], school_id: str) -> list[tuple[str, str]]:
    """Return one parcel's case as (label, value) rows, in reading order.

    Parameters
    ----------
    brief
        :func:`siting.report.brief.hearing_brief` tables.
    school_id
        The parcel.

    Returns
    -------
    list of (str, str)
        Decision, kind, location, land, sizes; then for a chosen parcel its size, catchment, relief,
        walks and cost, or for one not chosen the pupils within reach and why; then the re-solves.

    Raises
    ------
    KeyError
        When ``school_id`` is not a parcel of the brief.
    """
    parcels = brief["parcels"].set_index("school_id")
    p = parcels.loc[school_id]
    levels = levels_of(str(p["kind"]))
    rows: list[tuple[str, str]] = []
    if p["chosen"]:
        seats = sum(float(p.get(f"seats_{lv}", 0) or 0) for lv in LEVELS)
        size = size_text(p.get("classes_primary"), p.get("classes_junior"), seats, p.get("option"))
        rows.append((bilingual("decision"), f"{bilingual('chosen')}: {size}"))
    else:
        rows.append((bilingual("decision"), bilingual("not_chosen")))
    rows.append((bilingual("kind"), KIND_LABELS.get(str(p["kind"]), str(p["kind"]))))
    rows.append((bilingual("location"), location_text(p)))
    central = " (central area 中心城区)" if p.get("central") else ""
    rows.append(
        (bilingual("land_area"), f"{num(p['area_m2'])} m² ({num(p['area_m2'] / 1e4, 2)} ha){central}")
    )
    if pd.notna(p.get("available_from")):
        rows.append((bilingual("available_from"), f"{int(p['available_from'])}"))
    rows.append((bilingual("sizes_table"), sizes_text(brief["sizes"], school_id)))
    rows += _chosen_rows(brief, p, levels) if p["chosen"] else _not_chosen_rows(p, levels)
    rows += counterfactual_rows(brief.get("counterfactual"), school_id)
    return rows


def location_text(p: pd.Series) -> str:
    """Grid reference, nearest named road, district and lon/lat of a parcel."""
    parts = [str(p["grid_ref"])]
    if isinstance(p.get("road"), str):
        parts.append(f"{p['road']} {num(p['road_m'])} m")
    if isinstance(p.get("district"), str):
        parts.append(p["district"])
    parts.append(f"{float(p['lon']):.5f}° E, {float(p['lat']):.5f}° N")
    return " · ".join(parts)


def sizes_text(sizes: pd.DataFrame, school_id: str) -> str:
    """E.g. ``24P 19,440 m² ✓ · 36P 29,160 m² ✓ · 42P 34,020 m² ✗`` (✗ land, ✗cap over the size cap)."""
    mine = sizes[sizes["school_id"] == school_id]
    if not len(mine):
        return "–"
    parts = []
    for s in mine.itertuples(index=False):
        mark = "✓" if s.fits_land and s.within_cap else ("✗ cap" if not s.within_cap else "✗")
        parts.append(f"{s.option} {num(s.land_needed_m2)} m² {mark}")
    return " · ".join(parts)


def _chosen_rows(brief: Mapping[str, pd.DataFrame], p: pd.Series, levels: list[str]) -> list[tuple[str, str]]:
    rows = [
        (
            bilingual("land_per_pupil"),
            f"{num(p['land_per_pupil_m2'], 1)} m² (standard {num(p['land_standard_m2'], 1)} m²)",
        ),
        (
            bilingual("homes_served"),
            f"{num(p['units_served'])} units, {num(p['residents_served'])} residents",
        ),
        (
            bilingual("pupils_served"),
            "; ".join(f"{level_label(lv)} {num(p[f'pupils_{lv}'])}" for lv in levels),
        ),
    ]
    if p.get("newly_served", 0) >= 0.5:
        rows.append((bilingual("newly_served"), num(p["newly_served"])))
    relief = brief["relief"]
    mine = relief[(relief["school_id"] == p.name) & (relief["relieved"] >= 0.5)]
    text = "; ".join(
        f"{r.from_school} {r.from_name} ({level_label(r.level)}): {num(r.pupils)} pupils moved, "
        f"{num(r.relieved)} of {num(r.over_before)} over capacity relieved"
        for r in mine.itertuples(index=False)
    )
    rows.append((bilingual("relief"), text or bilingual("relief_none")))
    rows.append(
        (
            bilingual("walk_before_after"),
            "; ".join(
                f"{level_label(lv)} {num(p[f'walk_before_m_{lv}'])} m → {num(p[f'walk_after_m_{lv}'])} m"
                for lv in levels
            ),
        )
    )
    rows.append((bilingual("cost"), yuan(p["cost_yuan"])))
    rows.append((bilingual("subsidy"), yuan(p["subsidy_yuan"])))
    return rows


def _not_chosen_rows(p: pd.Series, levels: list[str]) -> list[tuple[str, str]]:
    reach = "; ".join(
        f"{level_label(lv)} {num(p[f'reach_{lv}'])} ({bilingual('within_radius')}: {num(p[f'radius_{lv}'])})"
        for lv in levels
    )
    return [
        (bilingual("within_reach"), reach or "–"),
        (bilingual("why_not"), f"{p['why_zh']}。{p['why_en']}."),
    ]


def counterfactual_rows(table: pd.DataFrame | None, school_id: str) -> list[tuple[str, str]]:
    """Rows for a parcel's re-solves (forced open / forced closed), or none when it was not re-solved."""
    if table is None or not len(table):
        return []
    plan = table[table["test"] == "plan"]
    base_gap = float(plan["gap"].iloc[0]) if len(plan) else math.nan
    rows = []
    for r in table[table["school_id"] == school_id].itertuples(index=False):
        rows.append((bilingual(str(r.test)), counterfactual_text(r._asdict(), base_gap)))
    return rows


def counterfactual_text(r: Mapping[str, Any], base_gap: float) -> str:
    """One re-solve in words: objective change with its certified range and gaps, walks, seats, cost."""
    if not math.isfinite(float(r["objective"])):
        return f"no answer ({r['status']}: {r['note']})"
    parts = [
        f"objective {signed(r['delta'] / 1e6, 2)} M pupil-m (certified {signed(r['delta_low'] / 1e6, 2)} "
        f"to {signed(r['delta_high'] / 1e6, 2)} M; gaps {100 * float(r['gap']):.2f} % / plan "
        f"{100 * base_gap:.2f} %)",
        "walk " + ", ".join(f"{lv} {signed(r[f'walk_change_m_{lv}'])} m" for lv in LEVELS),
        f"{UNMET[1].lower()} " + ", ".join(f"{lv} {signed(r[f'unmet_change_{lv}'])}" for lv in LEVELS),
        f"cost {signed(float(r['cost_change_yuan']) / 1e6, 1)} M yuan",
    ]
    if r["opens_instead"]:
        parts.append(f"opens {r['opens_instead']} instead")
    if r["drops"]:
        parts.append(f"drops {r['drops']}")
    return "; ".join(parts)
