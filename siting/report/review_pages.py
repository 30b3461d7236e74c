"""The printable review pack: every unit that changes school, named so a person can find it, school by school.

A cover page says what "before" and "after" mean, how many units and pupils move, and how to read a grid
reference, over a map of the whole area with its sheet grid. Then, for each school and level that gains or
loses units: its pupils, seats, utilization and walks before and after, a small map, and the units moving
in and out (grid reference, nearest named road, district, unit id, the other school, pupils, walks). An
index of every changing unit by grid reference closes the pack. The same pack compares two plans.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd

from siting.report.evidence import num
from siting.report.figures import COLOURS, Layer, draw_map, window
from siting.report.labels import bilingual, level_label
from siting.report.pack_html import document, esc, facts_table, image, legend, table
from siting.report.places import SheetGrid, unit_places
from siting.report.review import review_tables
from siting.standards import LEVELS

LABEL_MOVES_UP_TO = 12
"""A school's map labels its moving units with their grid references when at most this many move."""


def review_document(
    result: Any,
    *,
    against: Any = None,
    against_name: str | None = None,
    grid: SheetGrid,
    roads: gpd.GeoDataFrame | None = None,
    title: str = "",
) -> str:
    """Return the review pack as one HTML page (cover, one block per school and level, index).

    Parameters
    ----------
    result
        The run result reviewed (its proposal is "after").
    against
        Another plan's result: its proposal is "before"; None compares today's catchments with the plan.
    against_name
        The other plan's name, for the headings.
    grid
        Sheet grid of the grid references and maps.
    roads
        Named road lines (nearest-road names and the maps), or None.
    title
        Scenario line for the cover.

    Returns
    -------
    str
        The HTML document.
    """
    tables = review_tables(result, against=against)
    changes = tables["changes"]
    places = unit_places(result.units, roads=roads, grid=grid)
    names = _names(result, against)
    moves = _with_places(changes, places, names)
    states = _states(result, against)
    sections = [_cover(result, moves, grid=grid, roads=roads, title=title, against_name=against_name)]
    schools = tables["schools"].set_index(["school_id", "level"])
    keys = sorted(
        {(s, lv) for s, lv in zip(moves["old_school"], moves["level"], strict=True) if isinstance(s, str)}
        | {(s, lv) for s, lv in zip(moves["new_school"], moves["level"], strict=True) if isinstance(s, str)},
        key=lambda k: (LEVELS.index(k[1]) if k[1] in LEVELS else 9, k[0]),
    )
    for sid, lv in keys:
        row = schools.loc[(sid, lv)] if (sid, lv) in schools.index else None
        sections.append(_school_block(result, sid, lv, row, moves, states, names, grid=grid, roads=roads))
    sections.append(_index(moves))
    heading = bilingual("review_title") + (f" — {bilingual('review_against')}" if against is not None else "")
    return document(f"{heading} — {title}", sections)


def _names(result: Any, against: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for r in (against, result):
        if r is not None:
            schools = r.schools
            names.update({str(k): str(v) for k, v in schools["name"].items()} if "name" in schools else {})
    return names


def _states(result: Any, against: Any) -> dict[str, tuple[pd.Series, pd.Series]]:
    """Per level: the school of each unit before and after (the two sides of the review)."""
    out = {}
    units = result.units
    for lv in LEVELS:
        after_col = f"proposed_{lv}"
        if after_col not in units.columns:
            continue
        if against is None:
            before = units.get(f"current_{lv}", pd.Series(None, index=units.index))
        else:
            before = against.units.get(after_col, pd.Series(None, index=units.index)).reindex(units.index)
        out[lv] = (before.astype(object), units[after_col].astype(object))
    return out


def _with_places(changes: pd.DataFrame, places: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The changes with each unit's grid reference, road, district and the schools' names."""
    moves = changes.copy()
    for col in ("old_school", "new_school"):
        moves[col] = pd.Series(
            [None if pd.isna(v) else str(v) for v in moves[col]], index=moves.index, dtype=object
        )
    found = places.reindex(moves["unit_id"].to_numpy())
    for col in ("grid_ref", "road", "road_m"):
        moves[col] = found[col].to_numpy()
    moves["district"] = found["district"].to_numpy()
    moves["old_name"] = moves["old_school"].map(lambda s: _school(s, names))
    moves["new_name"] = moves["new_school"].map(lambda s: _school(s, names))
    return moves


def _school(sid: str | None, names: dict[str, str]) -> str:
    if not isinstance(sid, str):
        return bilingual("no_school")
    return f"{sid} {names.get(sid, '')}".strip()


def _where(r: Any) -> str:
    road = f"{r.road} {num(r.road_m)} m" if isinstance(r.road, str) else ""
    return " · ".join(p for p in (road, str(r.district) if r.district is not None else "") if p) or "–"


def _cover(
    result: Any,
    moves: pd.DataFrame,
    *,
    grid: SheetGrid,
    roads: gpd.GeoDataFrame | None,
    title: str,
    against_name: str | None,
) -> str:
    what = (
        f"调整前 = 方案 {against_name} 的学区；调整后 = 本方案。Before = plan {against_name}'s catchments; "
        "after = this plan."
        if against_name
        else "调整前 = 现状学区；调整后 = 本方案。Before = today's catchments; after = this plan."
    )
    totals = [
        [
            level_label(lv),
            num(int((moves["level"] == lv).sum())),
            num(moves.loc[moves["level"] == lv, "pupils"].sum()),
            num(len({s for s in moves.loc[moves["level"] == lv, ["old_school", "new_school"]].stack() if s})),
        ]
        for lv in LEVELS
    ]
    header = [bilingual("level"), bilingual("units_moved"), bilingual("pupils_moved"), bilingual("school")]
    how = (
        "网格编号如 C7-24：C 列（自西向东的字母）第 7 行（自北向南的数字）的 1 km 图幅，"
        "图幅西北角向东 2×100 m、向南 4×100 m。同一 100 m 方格内的单元加字母 a、b……区分。"
        f"The grid reference C7-24 names the {grid.size_m / 1000:g} km sheet in column C (letters from the "
        "west) and row 7 (numbers from the north), then 2 × 100 m east and 4 × 100 m south of its "
        "north-west corner; units sharing a 100 m square get a letter (C7-24a, C7-24b). Every map prints "
        "the sheet letters along the top and the numbers down the left."
    )
    units = result.units
    moved = units[units.index.isin(moves["unit_id"])]
    bounds = window(list(units.geometry), pad_m=100.0)
    png = draw_map(
        bounds,
        [Layer(moved.geometry, face=COLOURS["moves_in"], alpha=0.8)],
        grid=grid,
        background=units,
        roads=roads,
        size_in=7.0,
    )
    heading = bilingual("review_title") + (f" — {bilingual('review_against')}" if against_name else "")
    return "\n".join(
        [
            '<section class="page">',
            f'<header><div class="run">{esc(title)}</div><h1>{esc(heading)}</h1></header>',
            f"<p>{esc(what)}</p>",
            table(header, totals, numeric=[False, True, True, True]),
            f"<h2>{esc(bilingual('how_to_find'))}</h2><p>{esc(how)}</p>",
            f'<figure class="map">{image(png, alt="overview")}',
            legend(["grid"], extra={"x": "绿色：调整学校的单元 green: units that change school"}),
            "</figure></section>",
        ]
    )


def _school_block(
    result: Any,
    sid: str,
    level: str,
    row: pd.Series | None,
    moves: pd.DataFrame,
    states: dict[str, tuple[pd.Series, pd.Series]],
    names: dict[str, str],
    *,
    grid: SheetGrid,
    roads: gpd.GeoDataFrame | None,
) -> str:
    mine = moves[moves["level"] == level]
    ins = mine[mine["new_school"] == sid].sort_values("grid_ref")
    outs = mine[mine["old_school"] == sid].sort_values("grid_ref")
    facts = _school_facts(row, ins, outs)
    png = _school_map(result, sid, level, ins, outs, states, grid=grid, roads=roads)
    walk = bilingual("walk_before_after") + " m"
    head_in = [bilingual("grid_ref"), bilingual("unit_id"), bilingual("near_road"), bilingual("from_school"),
               bilingual("pupils"), walk]  # fmt: skip
    head_out = [*head_in[:3], bilingual("to_school"), *head_in[4:]]
    parts = [
        f'<section class="block" id="school-{esc(sid)}-{esc(level)}">',
        f"<h2>{esc(_school(sid, names))} · {esc(level_label(level))}</h2>",
        f'<div class="cols"><figure class="map small">{image(png, alt=f"map of {sid}")}',
        legend(["school", "stays", "moves_in", "moves_out", "grid"]),
        f'</figure><div class="side">{facts_table(facts)}</div></div>',
    ]
    for label, frame, other, head in (
        ("moves_in", ins, "old_name", head_in),
        ("moves_out", outs, "new_name", head_out),
    ):
        if len(frame):
            parts.append(
                f"<h3>{esc(bilingual(label))} ({num(len(frame))} · {num(frame['pupils'].sum())})</h3>"
            )
            parts.append(
                table(head, _move_rows(frame, other), numeric=[False, False, False, False, True, True])
            )
    parts.append("</section>")
    return "\n".join(parts)


def _move_rows(frame: pd.DataFrame, other: str) -> list[list[str]]:
    return [
        [
            r.grid_ref,
            str(r.unit_id),
            _where(r),
            getattr(r, other),
            num(r.pupils, 1),
            f"{num(r.walk_before_m)} → {num(r.walk_after_m)}",
        ]
        for r in frame.itertuples(index=False)
    ]


def _school_facts(row: pd.Series | None, ins: pd.DataFrame, outs: pd.DataFrame) -> list[tuple[str, str]]:
    def pair(field: str, pct: bool = False) -> str:
        if row is None:
            return "–"
        b, a = row.get(f"{field}_before"), row.get(f"{field}_after")
        fmt = (lambda v: "–" if pd.isna(v) else f"{100 * float(v):.0f} %") if pct else num
        return f"{fmt(b)} → {fmt(a)}"

    return [
        (bilingual("pupils"), pair("pupils")),
        (bilingual("capacity"), pair("capacity")),
        (bilingual("utilization"), pair("utilization", pct=True)),
        (bilingual("mean_walk") + " m", pair("walk_mean_m")),
        (bilingual("moves_in"), f"{num(len(ins))} units, {num(ins['pupils'].sum())} pupils"),
        (bilingual("moves_out"), f"{num(len(outs))} units, {num(outs['pupils'].sum())} pupils"),
    ]


def _school_map(
    result: Any,
    sid: str,
    level: str,
    ins: pd.DataFrame,
    outs: pd.DataFrame,
    states: dict[str, tuple[pd.Series, pd.Series]],
    *,
    grid: SheetGrid,
    roads: gpd.GeoDataFrame | None,
) -> bytes:
    units = result.units
    before, after = states.get(
        level, (pd.Series(None, index=units.index), pd.Series(None, index=units.index))
    )
    stays = units[((before == sid) & (after == sid)).to_numpy()]
    moving_in = units.loc[units.index.intersection(ins["unit_id"])]
    moving_out = units.loc[units.index.intersection(outs["unit_id"])]
    schools = result.schools.set_axis(result.schools.index.astype(str))
    point = schools.geometry.loc[[sid]] if sid in schools.index else gpd.GeoSeries([], crs=units.crs)
    bounds = window([*stays.geometry, *moving_in.geometry, *moving_out.geometry, *point], pad_m=150.0)
    label = len(ins) + len(outs) <= LABEL_MOVES_UP_TO
    refs = dict(zip(pd.concat([ins, outs])["unit_id"], pd.concat([ins, outs])["grid_ref"], strict=False))
    layers = [
        Layer(stays.geometry, face=COLOURS["stays"]),
        Layer(moving_in.geometry, face=COLOURS["moves_in"], alpha=0.85,
              labels=[refs.get(u, "") for u in moving_in.index] if label else ()),
        Layer(moving_out.geometry, face=COLOURS["moves_out"], alpha=0.85,
              labels=[refs.get(u, "") for u in moving_out.index] if label else ()),
        Layer(schools.geometry.drop(index=sid, errors="ignore"), face="#777777", edge="white", marker=10),
        Layer(point, face=COLOURS["school"], edge="white", marker=45, labels=[sid]),
    ]  # fmt: skip
    return draw_map(bounds, layers, grid=grid, background=units, roads=roads, size_in=4.4, dpi=110)


def _index(moves: pd.DataFrame) -> str:
    """Every changing unit by grid reference, one short line each, in two columns."""
    order = moves.sort_values(["grid_ref", "level"])
    lines = [
        f'<div class="ix"><b>{esc(r.grid_ref)}</b> <span class="mono">{esc(r.unit_id)}</span> '
        f"{esc(level_label(r.level).split()[0])} {esc(r.old_school or '–')} → {esc(r.new_school or '–')} "
        f"({esc(num(r.pupils, 1))}) {esc(_where(r))}</div>"
        for r in order.itertuples(index=False)
    ]
    head = (
        f"{bilingual('grid_ref')} · {bilingual('unit_id')} · {bilingual('level')} · {bilingual('before')} → "
        f"{bilingual('after')} · ({bilingual('pupils')}) · {bilingual('near_road')}"
    )
    return "\n".join(
        [
            '<section class="page">',
            f"<h2>{esc(bilingual('all_changes'))} ({num(len(order))})</h2>",
            f'<p class="note">{esc(head)}</p><div class="index">',
            *lines,
            "</div></section>",
        ]
    )
