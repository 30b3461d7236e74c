"""Popup HTML of schools, reserved sites and catchments (every text escaped).

A reserved parcel's popup is its case for the hearing, read from :mod:`siting.report` (the brief's rows).
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import pandas as pd

from siting._log import get_logger
from siting.errors import SitingError
from siting.maps._format import LEVEL_LABELS, _esc, _fmt, _pct, _ratio
from siting.maps.data import _MapData
from siting.maps.years import opening_year_text
from siting.report import evidence_rows, hearing_brief
from siting.standards import LEVELS

log = get_logger(__name__)


def _popup(title: str, rows: list[tuple[str, str]]) -> str:
    """Return popup HTML with every text escaped (title and cells may come from data)."""
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<div class='siting-popup'><b>{_esc(title)}</b><table>{body}</table></div>"


def _school_popup(data: _MapData, sid: str, *, after: bool) -> str:
    r = data.table.loc[sid]
    rows: list[tuple[str, str]] = [("Kind", str(r["kind"]).replace("_", "-"))]
    if r["status"] == "site":
        rows.append(("Opens at", f"{r['option']} — {_size_label(r)}"))
    if (opens := opening_year_text(data, sid)) is not None:  # a year-by-year plan
        rows.append(("Opening year", opens))
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
    """A reserved parcel's case: the rows of its hearing brief (:func:`siting.report.evidence_rows`).

    The brief is read from ``data.result.hearing_brief`` when the caller made one (e.g. with re-solves,
    see :func:`siting.maps.hearing_map`), else computed from the result once per map. A result the brief
    cannot read (no costs, say) gets the parcel's area and the decision only.
    """
    r = data.table.loc[sid]
    brief = _brief(data)
    if brief is not None and sid in set(brief["parcels"]["school_id"].astype(str)):
        return _popup(str(r["name"]), evidence_rows(brief, sid))
    area = _site_area(data, sid)
    rows: list[tuple[str, str]] = [("Parcel", sid), ("Area", f"{_fmt(area)} m² ({area / 1e4:,.2f} ha)")]
    if r["opened"]:
        rows.append(("Proposed size", f"{r['option']} — {_size_label(r)}"))
        rows.append(("Pupils served", _fmt(r["pupils_after"])))
    else:
        rows.append(("Decision", "not chosen in this scenario"))
    return _popup(str(r["name"]), rows)


def _brief(data: _MapData) -> Mapping[str, pd.DataFrame] | None:
    """The hearing brief of the map's result, or None when it cannot be made.

    Made once per result and reused by the maps drawn from it (general, hearing, review) while its
    ``units``, ``schools`` and ``costs`` are the same objects.
    """
    if hasattr(data, "_hearing_brief"):
        return data._hearing_brief  # type: ignore[attr-defined]
    result = data.result
    given = getattr(result, "hearing_brief", None)
    if given is None:
        key = tuple(id(getattr(result, name, None)) for name in ("units", "schools", "costs"))
        ref, old_key, old = _BRIEFS.get(id(result), (None, None, None))
        if ref is not None and ref() is result and old_key == key:
            given = old
        else:
            try:
                given = hearing_brief(result)
            except SitingError as exc:
                log.warning("hearing brief not shown in the site popups: %s", exc)
            _remember(result, key, given)
    data._hearing_brief = given  # type: ignore[attr-defined]
    return given


_BRIEFS: dict[int, tuple[Any, tuple[int, ...], Any]] = {}
"""id(result) -> (weak reference to it, ids of its tables, its brief)."""


def _remember(result: Any, key: tuple[int, ...], brief: Any) -> None:
    for rid in [r for r, (ref, _, _) in _BRIEFS.items() if ref() is None]:
        del _BRIEFS[rid]
    with contextlib.suppress(TypeError):  # a result that cannot be weakly referenced is not cached
        _BRIEFS[id(result)] = (weakref.ref(result), key, brief)


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
