"""Popup HTML of schools, reserved sites and catchments (every text escaped)."""

from __future__ import annotations

import math

import geopandas as gpd
import pandas as pd

from siting.maps._format import LEVEL_LABELS, _esc, _fmt, _pct, _ratio, _wmean
from siting.maps.data import _MapData
from siting.standards import LEVELS


def _popup(title: str, rows: list[tuple[str, str]]) -> str:
    """Return popup HTML with every text escaped (title and cells may come from data)."""
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<div class='siting-popup'><b>{_esc(title)}</b><table>{body}</table></div>"


def _school_popup(data: _MapData, sid: str, *, after: bool) -> str:
    r = data.table.loc[sid]
    rows: list[tuple[str, str]] = [("Kind", str(r["kind"]).replace("_", "-"))]
    if r["status"] == "site":
        rows.append(("Opens at", f"{r['option']} — {_size_label(r)}"))
    for lvl in LEVELS:
        if r[f"cap_after_{lvl}"] <= 0 and r[f"cap_before_{lvl}"] <= 0:
            continue
        lab = LEVEL_LABELS[lvl]
        cap_b, cap_a = r[f"cap_before_{lvl}"], r[f"cap_after_{lvl}"]
        pup_b, pup_a = r[f"pupils_before_{lvl}"], r[f"pupils_after_{lvl}"]
        classes = r[f"classes_after_{lvl}"] if after else r[f"classes_before_{lvl}"]
        rows.append(
            (f"{lab} seats", _fmt(cap_b) if cap_b == cap_a or not after else f"{_fmt(cap_b)} → {_fmt(cap_a)}")
        )
        rows.append((f"{lab} pupils (now → proposed)", f"{_fmt(pup_b)} → {_fmt(pup_a)}"))
        rows.append((f"{lab} utilization", f"{_pct(_ratio(pup_b, cap_b))} → {_pct(_ratio(pup_a, cap_a))}"))
        mean = _ratio(pup_a if after else pup_b, classes)
        large_min = data.standards.large_class_min
        flag = f" (large-class line {large_min})" if not math.isnan(mean) and mean >= large_min else ""
        rows.append((f"{lab} classes", f"{_fmt(classes)}, mean {_fmt(mean)} pupils per class{flag}"))
        large = r[f"large_{'after' if after else 'before'}_{lvl}"]
        if not pd.isna(large):
            rows.append((f"{lab} large classes (≥{large_min} pupils)", _fmt(large)))
        rows += _overflow_rows(r, lvl, lab)
    return _popup(str(r["name"]), rows)


def _overflow_rows(r: pd.Series, lvl: str, lab: str) -> list[tuple[str, str]]:
    """Popup rows of one level's overflow: pupils above standard capacity now → planned, and why it grew."""
    before, after = r[f"over_before_{lvl}"], r[f"over_after_{lvl}"]
    if pd.isna(before) and pd.isna(after):
        return []
    rows = [(f"{lab} pupils above standard capacity (now → plan)", f"{_fmt(before)} → {_fmt(after)}")]
    if after > 0:
        rows.append((f"{lab} classes above standard size (plan)", _fmt(r[f"above_after_{lvl}"])))
    if r[f"why_{lvl}"]:
        rows.append((f"Why {lab.lower()} overflow rises", str(r[f"why_{lvl}"])))
    return rows


def _site_popup(data: _MapData, sid: str) -> str:
    r = data.table.loc[sid]
    area = _site_area(data, sid)
    rows: list[tuple[str, str]] = [("Parcel", sid), ("Area", f"{_fmt(area)} m² ({area / 1e4:,.2f} ha)")]
    if not r["opened"]:
        rows.append(("Decision", "not chosen in this scenario"))
        return _popup(str(r["name"]), rows)
    seats = r["cap_after"] - r["cap_before"]
    central = (
        bool(data.schools_m["central"].get(sid, False)) if "central" in data.schools_m.columns else False
    )
    per = data.standards.land_per_pupil_central_m2 if central else data.standards.land_per_pupil_m2
    needed = sum((r[f"cap_after_{lvl}"] - r[f"cap_before_{lvl}"]) * per[lvl] for lvl in LEVELS)
    rows.append(("Proposed size", f"{r['option']} — {_size_label(r)}"))
    rows.append(
        (
            "Land per pupil",
            f"{_fmt(_ratio(area, seats), 1)} m² (standard {_fmt(_ratio(needed, seats), 1)} m²"
            f"{', central area' if central else ''})",
        )
    )
    changes = data.changes()
    moved = changes[changes["new_school"].astype(object).astype(str) == sid]
    pupils = float(pd.to_numeric(moved["pupils"]).sum()) if len(moved) else 0.0
    rows.append(("Pupils served", _fmt(r["pupils_after"])))
    rows.append(
        (
            "Their mean walk",
            f"{_fmt(_wmean(moved, 'walk_before_m'))} m before → "
            f"{_fmt(_wmean(moved, 'walk_after_m'))} m after",
        )
    )
    rows.append(
        ("Overflow relieved", f"{_fmt(_overflow_relieved(data, moved))} of {_fmt(pupils)} pupils moved")
    )
    return _popup(str(r["name"]), rows)


def _overflow_relieved(data: _MapData, moved: pd.DataFrame) -> float:
    """Pupils moved to a site from over-capacity schools (up to each one's overflow) or from no school."""
    if len(moved) == 0:
        return 0.0
    t = data.table
    total = 0.0
    for (old, lvl), grp in moved.groupby([moved["old_school"].astype(object).fillna(""), "level"]):
        pupils = float(pd.to_numeric(grp["pupils"]).sum())
        if old == "" or str(old) not in t.index:
            total += pupils
            continue
        over = t.at[str(old), f"pupils_before_{lvl}"] - t.at[str(old), f"cap_before_{lvl}"]
        total += min(pupils, max(over, 0.0))
    return total


def _site_area(data: _MapData, sid: str) -> float:
    if "area_m2" in data.schools_m.columns:
        value = pd.to_numeric(pd.Series([data.schools_m["area_m2"].get(sid)]), errors="coerce").iloc[0]
        if pd.notna(value) and value > 0:
            return float(value)
    sites = getattr(data.result, "sites", None)
    if isinstance(sites, gpd.GeoDataFrame) and sid in sites.index.astype(str):
        return float(sites.set_axis(sites.index.astype(str)).geometry.loc[sid].area)
    return math.nan


def _size_label(r: pd.Series) -> str:
    """E.g. ``36 classes, 1,620 seats`` or ``48 classes (30 primary + 18 junior), 2,250 seats``."""
    classes = {lvl: r[f"classes_after_{lvl}"] - r[f"classes_before_{lvl}"] for lvl in LEVELS}
    seats = r["cap_after"] - r["cap_before"]
    total = sum(classes.values())
    if all(classes.values()):
        split = " + ".join(f"{_fmt(classes[lvl])} {lvl}" for lvl in LEVELS)
        return f"{_fmt(total)} classes ({split}), {_fmt(seats)} seats"
    return f"{_fmt(total)} classes, {_fmt(seats)} seats"
