"""Tables for catchment reviews and public hearings: what moves, who is relieved, what the new sites give.

Functions read a run result (``pipeline.RunResult`` or anything with the same attributes: ``units``,
``schools``, ``costs``, ``standards``, ``solution``) and never change it. Metrics are recomputed from the
result's units and schools with :mod:`siting.metrics`, so a result loaded from disk and one still in memory
give the same tables.

Before / after
--------------
- ``review_tables(result)``: before = the current catchments and capacities (``current_<level>``,
  ``capacity_<level>``), after = the proposed ones.
- ``review_tables(result, against=other)``: before = ``other``'s proposal, after = ``result``'s proposal
  (scenario ``other`` → scenario ``result``).
"""

from __future__ import annotations

import math
import os
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting._log import get_logger
from siting.catchments import (
    assigned_schools,
    compare_catchments,
    levels_from,
    seated_pupils,
    walk_distances,
)
from siting.errors import InputError, OutputExistsError, describe
from siting.metrics import (
    ALL,
    UNKNOWN_DISTRICT,
    cv_tables,
    district_metrics,
    school_districts,
    school_metrics,
    school_pupils,
    walk_stats,
)
from siting.standards import LEVELS

logger = get_logger(__name__)

FORMATS: tuple[str, ...] = ("csv", "md", "html")
"""File formats :func:`write_tables` can write."""

TERMINAL_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "schools": (
        "school_id",
        "level",
        "name",
        "pupils_before",
        "pupils_after",
        "capacity_before",
        "capacity_after",
        "utilization_before",
        "utilization_after",
        "classes_needed_before",
        "classes_needed_after",
        "large_classes_before",
        "large_classes_after",
    ),
    "districts": (
        "district",
        "level",
        "seats_per_1000_before",
        "seats_per_1000_after",
        "seat_shortfall_before",
        "seat_shortfall_after",
        "schools_over_capacity_before",
        "schools_over_capacity_after",
        "large_classes_before",
        "large_classes_after",
        "walk_mean_m_before",
        "walk_mean_m_after",
        "pupils_moved",
    ),
}
"""The columns ``siting review`` prints per table (the files written with ``--out`` keep them all)."""

_SCHOOL_FIELDS = (
    "pupils",
    "capacity",
    "utilization",
    "over_capacity",
    "classes_needed",
    "classes_available",
    "large_classes",
    "super_large_classes",
    "walk_mean_m",
)
_DISTRICT_FIELDS = (
    "seats",
    "seats_per_1000",
    "seat_shortfall",
    "unserved",
    "schools_over_capacity",
    "over_capacity",
    "large_classes",
    "super_large_classes",
    "walk_mean_m",
    "share_within_radius",
)


def _attr(result: Any, name: str) -> Any:
    if not hasattr(result, name):
        raise InputError(
            f"report: the result has no {name!r}; pass a pipeline.RunResult (or an object with units, "
            f"schools, costs and standards), got {type(result).__name__}."
        )
    return getattr(result, name)


def _before_after(
    before: pd.DataFrame, after: pd.DataFrame, keys: list[str], fields: Iterable[str], keep: Iterable[str]
) -> pd.DataFrame:
    """Outer-join two metric tables on ``keys`` into ``<field>_before`` / ``<field>_after`` columns."""
    fields = list(fields)
    keep = [c for c in keep if c in before.columns or c in after.columns]
    left = before[keys + keep + fields].rename(columns={f: f"{f}_before" for f in fields})
    right = after[keys + keep + fields].rename(columns={f: f"{f}_after" for f in fields})
    merged = left.merge(right, on=keys, how="outer", suffixes=("", "_other"))
    for col in keep:
        merged[col] = merged[col].fillna(merged.pop(f"{col}_other"))
    ordered = keys + keep + [f"{f}_{when}" for f in fields for when in ("before", "after")]
    return merged[ordered]


def _level_order(frame: pd.DataFrame) -> pd.Series:
    return frame["level"].map({lv: i for i, lv in enumerate(LEVELS)})


# ---------------------------------------------------------------------------------------------- review
def review_tables(
    result: Any, *, against: Any = None, level: str | Iterable[str] = "both"
) -> dict[str, pd.DataFrame]:
    """Return the tables a catchment review needs: moves, schools and districts before and after.

    Parameters
    ----------
    result
        A run result (``pipeline.RunResult`` or an object with ``units``, ``schools``, ``costs``,
        ``standards``).
    against
        Another result to compare with (its proposal is "before"); ``None`` compares the result's current
        catchments with its proposal.
    level
        ``"primary"``, ``"junior"`` or ``"both"``.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``changes``: :func:`siting.catchments.compare_catchments` (one row per unit whose school changes).
        ``schools``: per school and level, ``<figure>_before`` / ``<figure>_after`` for pupils, capacity,
        utilization, over_capacity, classes_needed, classes_available, large_classes, super_large_classes
        and walk_mean_m, most crowded (before) first.
        ``districts``: per district and level (plus ``(all)``), seats, seats per 1,000, seat shortfall,
        unserved pupils, schools over capacity, large classes and walks before and after, with
        ``units_moved`` and ``pupils_moved``.
        ``cv``: difference coefficient per level and indicator before and after (when the schools carry
        resource columns).
    """
    levels = levels_from(level)
    units, schools = _attr(result, "units"), _attr(result, "schools")
    costs, standards = _attr(result, "costs"), _attr(result, "standards")
    if against is None:
        b_units, b_schools, b_costs, b_state = units, schools, costs, "current"
    else:
        b_units, b_schools = _attr(against, "units"), _attr(against, "schools")
        b_costs, b_state = _attr(against, "costs"), "proposed"
    levels = tuple(lv for lv in levels if f"{b_state}_{lv}" in b_units and f"proposed_{lv}" in units)
    if not levels:
        raise InputError(
            f"review: the units have no {b_state}_<level> and proposed_<level> columns for "
            f"{describe(level)}; review a solved result (with current catchments, or use --against)."
        )
    if against is None:
        changes = compare_catchments(units, level=levels, costs=costs)
    else:
        changes = compare_catchments(b_units, units, level=levels, costs=b_costs, costs_after=costs)

    before = school_metrics(b_schools, b_units, standards=standards, column_prefix=b_state, costs=b_costs)
    after = school_metrics(schools, units, standards=standards, column_prefix="proposed", costs=costs)
    keep = ("name", "district", "status")
    table = _before_after(before, after, ["school_id", "level"], _SCHOOL_FIELDS, keep)
    table = table[table["level"].isin(levels)]
    table = table.assign(_lv=_level_order(table)).sort_values(
        ["_lv", "utilization_before", "school_id"], ascending=[True, False, True], na_position="last"
    )
    school_table = table.drop(columns="_lv").reset_index(drop=True)

    d_before = district_metrics(
        b_schools, b_units, standards=standards, column_prefix=b_state, costs=b_costs, school_table=before
    )
    d_after = district_metrics(
        schools, units, standards=standards, column_prefix="proposed", costs=costs, school_table=after
    )
    districts = _before_after(
        d_before, d_after, ["district", "level"], _DISTRICT_FIELDS, ("population", "standard_per_1000")
    )
    districts = districts[districts["level"].isin(levels)]
    moved = _moves_by_district(changes)
    districts = districts.merge(moved, on=["district", "level"], how="left")
    districts[["units_moved", "pupils_moved"]] = districts[["units_moved", "pupils_moved"]].fillna(0)
    districts["units_moved"] = districts["units_moved"].astype(np.int64)
    districts = districts.assign(_lv=_level_order(districts), _all=districts["district"] == ALL)
    districts = districts.sort_values(["_lv", "_all", "district"]).drop(columns=["_lv", "_all"])

    tables = {
        "changes": changes,
        "schools": school_table,
        "districts": districts.reset_index(drop=True),
    }
    cv = _cv_before_after(b_schools, b_units, b_state, schools, units, standards)
    if len(cv):
        tables["cv"] = cv[cv["level"].isin(levels)].reset_index(drop=True)
    return tables


def _moves_by_district(changes: pd.DataFrame) -> pd.DataFrame:
    if not len(changes):
        return pd.DataFrame(columns=["district", "level", "units_moved", "pupils_moved"])
    frame = changes.assign(district=changes["district"].fillna(UNKNOWN_DISTRICT).astype(str))
    parts = [frame, frame.assign(district=ALL)]
    out = (
        pd.concat(parts, ignore_index=True)
        .groupby(["district", "level"], sort=False)
        .agg(units_moved=("unit_id", "size"), pupils_moved=("pupils", "sum"))
        .reset_index()
    )
    return out


def _cv_before_after(
    b_schools: pd.DataFrame,
    b_units: pd.DataFrame,
    b_state: str,
    schools: pd.DataFrame,
    units: pd.DataFrame,
    standards: Any,
) -> pd.DataFrame:
    before = cv_tables(b_schools, b_units, standards=standards)
    after = cv_tables(schools, units, standards=standards)
    if not len(before) or not len(after):
        return pd.DataFrame()
    before = before[before["state"] == b_state]
    after = after[after["state"] == "proposed"]
    return _before_after(
        before, after, ["level", "indicator"], ("mean", "cv", "passes"), ("unit", "cv_max")
    ).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- hearing
def hearing_tables(result: Any) -> dict[str, pd.DataFrame]:
    """Return the tables a public hearing on new sites needs.

    ``shortfall_removed`` (pupils) credits a new site with the pupils it serves who had no current school,
    plus its share of the overcrowding removed at the schools its pupils come from: for each source school
    ``s``, ``removed_s = max(0, over_before_s − over_after_s)`` (pupils above capacity, current vs proposed),
    shared among the schools that take pupils from ``s`` in proportion to the pupils each takes. Summed over
    all sites and schools it never exceeds the overcrowding actually removed.

    Parameters
    ----------
    result
        A run result with ``units``, ``schools`` (after the run: ``opened``, ``option``,
        ``capacity_after_<level>``), ``costs`` and ``standards``.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``sites``: one row per opened site: ``school_id, name, district, kind, option, area_m2, central,
        capacity_primary, capacity_junior, land_per_pupil_m2`` (parcel area / seats), ``land_standard_m2``
        (seat-weighted standard, central or not), ``meets_land_standard``, and per level ``pupils_<level>``,
        ``walk_before_m_<level>`` (pupil-weighted mean walk of the pupils it will serve to their current
        school), ``walk_after_m_<level>``, then ``newly_served`` and ``shortfall_removed`` (pupils, both
        levels) and ``from_schools`` (where its pupils come from).
        ``expansions``: one row per expanded existing school and level: ``school_id, name, level, option,
        seats_added, pupils_before, pupils_after, utilization_before, utilization_after``.
    """
    units, schools = _attr(result, "units"), _attr(result, "schools")
    costs, standards = _attr(result, "costs"), _attr(result, "standards")
    opened = _flag(schools, "opened") & (_text(schools, "status") == "site")
    expanded = _flag(schools, "expanded") & (_text(schools, "status") != "site")
    before = school_metrics(schools, units, standards=standards, column_prefix="current", costs=costs)
    after = school_metrics(schools, units, standards=standards, column_prefix="proposed", costs=costs)
    changes = compare_catchments(units, level=[lv for lv in LEVELS if f"current_{lv}" in units.columns])
    over = _overload_removed(before, after, changes)
    served = school_pupils(units, column_prefix="proposed")
    districts = school_districts(schools, units)

    rows = []
    for sid, row in schools[opened.to_numpy()].iterrows():
        sid = str(sid)
        caps = {lv: _value(row, f"capacity_after_{lv}", 0.0) for lv in LEVELS}
        seats = sum(caps.values())
        central = bool(row.get("central", False)) if pd.notna(row.get("central", False)) else False
        per_pupil = standards.land_per_pupil_central_m2 if central else standards.land_per_pupil_m2
        standard = sum(caps[lv] * per_pupil[lv] for lv in LEVELS) / seats if seats > 0 else math.nan
        area = _value(row, "area_m2", math.nan)
        land = area / seats if seats > 0 else math.nan
        entry: dict[str, Any] = {
            "school_id": sid,
            "name": str(row.get("name", sid)),
            "district": districts.get(sid),
            "kind": str(row.get("level")),
            "option": row.get("option"),
            "area_m2": area,
            "central": central,
            "capacity_primary": caps["primary"],
            "capacity_junior": caps["junior"],
            "land_per_pupil_m2": land,
            "land_standard_m2": standard,
            "meets_land_standard": bool(land >= standard - 1e-9) if np.isfinite(land) else None,
        }
        newly = removed = 0.0
        sources: dict[str, float] = {}
        for lv in LEVELS:
            moved = _arrivals(units, lv, sid, costs)
            entry[f"pupils_{lv}"] = float(served[lv].get(sid, 0.0)) if lv in served.columns else 0.0
            radius = float(standards.service_radius_m[lv])
            entry[f"walk_before_m_{lv}"] = walk_stats(moved["walk_before"], moved["pupils"], radius)[
                "walk_mean_m"
            ]
            entry[f"walk_after_m_{lv}"] = walk_stats(moved["walk_after"], moved["pupils"], radius)[
                "walk_mean_m"
            ]
            newly += float(moved.loc[moved["old"].isna(), "pupils"].sum())
            for old, pupils in moved[moved["old"].notna()].groupby("old")["pupils"].sum().items():
                sources[str(old)] = sources.get(str(old), 0.0) + float(pupils)
                share = over.get((str(old), lv))
                if share is not None and share[1] > 0:
                    removed += share[0] * float(pupils) / share[1]
        entry["newly_served"] = newly
        entry["shortfall_removed"] = newly + removed
        entry["from_schools"] = ", ".join(
            f"{s} ({p:,.0f})" for s, p in sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        rows.append(entry)
    sites = pd.DataFrame(rows)

    exp_rows = []
    b = before.set_index(["school_id", "level"])
    a = after.set_index(["school_id", "level"])
    for sid, row in schools[expanded.to_numpy()].iterrows():
        for lv in LEVELS:
            added = _value(row, f"capacity_after_{lv}", 0.0) - _value(row, f"capacity_{lv}", 0.0)
            if added <= 0:
                continue
            key = (str(sid), lv)
            exp_rows.append(
                {
                    "school_id": str(sid),
                    "name": str(row.get("name", sid)),
                    "level": lv,
                    "option": row.get("option"),
                    "seats_added": added,
                    "pupils_before": b["pupils"].get(key, math.nan),
                    "pupils_after": a["pupils"].get(key, math.nan),
                    "utilization_before": b["utilization"].get(key, math.nan),
                    "utilization_after": a["utilization"].get(key, math.nan),
                }
            )
    columns = ["school_id", "name", "level", "option", "seats_added", "pupils_before", "pupils_after"]
    expansions = pd.DataFrame(exp_rows, columns=[*columns, "utilization_before", "utilization_after"])
    return {"sites": sites, "expansions": expansions}


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].map(lambda v: bool(v) if pd.notna(v) else False).astype(bool)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[column].astype(object).where(frame[column].notna(), "").astype(str)


def _value(row: pd.Series, column: str, default: float) -> float:
    value = pd.to_numeric(row.get(column, default), errors="coerce")
    return float(value) if pd.notna(value) else default


def _arrivals(units: pd.DataFrame, level: str, school_id: str, costs: pd.DataFrame | None) -> pd.DataFrame:
    """Units that ``school_id`` serves after the run at ``level``, with their current school and walks."""
    if f"proposed_{level}" not in units.columns:
        return pd.DataFrame(columns=["old", "pupils", "walk_before", "walk_after"])
    new = assigned_schools(units, level=level, column=f"proposed_{level}")
    mask = (new == school_id).fillna(False).to_numpy(dtype=bool)
    ids = units.index.to_numpy()[mask]
    if f"current_{level}" in units.columns:
        old = assigned_schools(units, level=level, column=f"current_{level}").to_numpy(dtype=object)[mask]
    else:
        old = np.full(len(ids), None, dtype=object)
    return pd.DataFrame(
        {
            "old": old,
            "pupils": seated_pupils(units, level=level, column=f"proposed_{level}")[mask],
            "walk_before": walk_distances(ids, old, costs),
            "walk_after": walk_distances(ids, np.full(len(ids), school_id, dtype=object), costs),
        }
    )


def _overload_removed(
    before: pd.DataFrame, after: pd.DataFrame, changes: pd.DataFrame
) -> dict[tuple[str, str], tuple[float, float]]:
    """Return (school, level) -> (overcrowding removed, pupils moved out to any school)."""
    a = after.set_index(["school_id", "level"])["over_capacity"]
    gone = changes.dropna(subset=["old_school"]).groupby(["old_school", "level"])["pupils"].sum()
    out = {}
    for sid, lv, over in before[["school_id", "level", "over_capacity"]].itertuples(index=False):
        removed = max(float(over) - float(a.get((sid, lv), 0.0)), 0.0)
        out[(str(sid), str(lv))] = (removed, float(gone.get((sid, lv), 0.0)))
    return out


# ---------------------------------------------------------------------------------------------- output
def _cell(value: Any, column: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if column.startswith(("utilization", "share")):
            return f"{value:.0%}"
        if column.startswith(("cv", "mean")) or (abs(value) < 10 and not value.is_integer()):
            return f"{value:,.2f}"
        return f"{value:,.0f}"
    return str(value)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cells(df: pd.DataFrame) -> tuple[list[str], list[list[str]], list[bool]]:
    header = [str(c) for c in df.columns]
    body = [[_cell(v, str(c)) for v, c in zip(row, df.columns, strict=True)] for row in df.itertuples(False)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df]
    return header, body, numeric


def format_table(df: pd.DataFrame, *, max_rows: int | None = None) -> str:
    """Return ``df`` as aligned plain text for a terminal (numbers right-aligned, ``–`` for missing).

    Utilization and shares print as percentages, CVs with two decimals, other numbers with thousands
    separators; wide (CJK) characters count as two columns.

    Parameters
    ----------
    df
        The table.
    max_rows
        Print at most this many rows and say how many were left out.

    Returns
    -------
    str
        The text, without a trailing newline.
    """
    if df.shape[1] == 0:
        return "(no columns)"
    shown = df if max_rows is None or len(df) <= max_rows else df.head(max_rows)
    header, body, numeric = _cells(shown)
    widths = [max([_width(h)] + [_width(r[i]) for r in body]) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        parts = []
        for text, width, num in zip(cells, widths, numeric, strict=True):
            pad = " " * (width - _width(text))
            parts.append(pad + text if num else text + pad)
        return "  ".join(parts).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in body] if body else ["(no rows)"]
    if len(shown) < len(df):
        lines.append(f"… {len(df) - len(shown):,} more rows")
    return "\n".join(lines)


def markdown_table(df: pd.DataFrame) -> str:
    """Return ``df`` as a GitHub-flavoured Markdown table (cells formatted as in :func:`format_table`).

    Parameters
    ----------
    df
        The table.

    Returns
    -------
    str
        The Markdown text, ending with a newline.
    """
    header, body, numeric = _cells(df)

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(esc(h) for h in header) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    dest: str | Path,
    *,
    fmt: Iterable[str] = ("csv", "md"),
    overwrite: bool = False,
) -> list[Path]:
    """Write each table to ``dest/<name>.<fmt>``, every file atomically (a temporary file, then a rename).

    Parameters
    ----------
    tables
        Table name → table (names become file names).
    dest
        Folder; created if missing.
    fmt
        Any of ``"csv"`` (raw values, UTF-8), ``"md"`` (formatted Markdown), ``"html"``.
    overwrite
        Replace existing files; otherwise refuse before writing anything.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    InputError
        For an unknown format or a table name that is not a plain file name.
    OutputExistsError
        When a file exists and ``overwrite`` is false.
    """
    formats = [fmt] if isinstance(fmt, str) else list(fmt)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(
            f"write_tables: unknown format(s) {describe(unknown)}; use any of {', '.join(FORMATS)}."
        )
    dest = Path(dest)
    for name in tables:
        if not name or Path(name).name != name or name.startswith("."):
            raise InputError(f"write_tables: table name {describe(name)} must be a plain file name.")
    paths = [dest / f"{name}.{f}" for name in tables for f in formats]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"write_tables: {len(existing)} file(s) exist, e.g. {existing[0]}; pass overwrite=True "
            "(--overwrite) or choose another folder."
        )
    dest.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        for f in formats:
            if f == "csv":
                text = table.to_csv(index=False, float_format="%.6g")
            elif f == "md":
                text = f"## {name}\n\n" + markdown_table(table)
            else:
                text = table.to_html(index=False, na_rep="–", float_format=lambda v: f"{v:,.2f}")
            _atomic_write(dest / f"{name}.{f}", text)
    logger.info("wrote %d table file(s) to %s", len(paths), dest)
    return paths
