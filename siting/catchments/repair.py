"""Contiguity repair: stray pieces of a fragmented catchment move whole to a neighbouring school.

A stray piece (every piece of a catchment but its main one) moves to the school whose main piece touches it,
when the move adds no pupils above capacity in total (the neighbour has free seats for the piece, or the
piece's own school is over capacity by at least what the neighbour, an existing school, goes over: a new
school never overflows) and every unit of the piece is within the hard walking limit of the neighbour (a
unit beyond the limit keeps today's school or its fallback, as the model gave it); among allowed
neighbours the smallest pupil-weighted mean walk wins. Rounds repeat until nothing moves. A neighbour
refused for capacity only may still take the piece by a **swap**: it hands units on its border with the
piece's own school back to it (each within the hard limit of it, the cheapest walks first), enough pupils
that neither school goes further over capacity, provided the neighbour's catchment stays in one piece. A
piece that cannot move stays where it is, with a reason code (:data:`WHY`): the repair never leaves a unit
without a school.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from siting._log import get_logger
from siting.catchments.assign import (
    _one_level,
    _school_array,
    _walk_lookup,
    require_columns,
    seated_pupils,
)
from siting.catchments.contiguity import _home_units, _Pieces, _pieces, adjacency_pairs
from siting.standards import LEVELS_SERVED, Standards

logger = get_logger(__name__)

REPAIR_COLUMNS: tuple[str, ...] = (
    "level",
    "school_id",
    "unit_ids",
    "n_units",
    "pupils",
    "repaired",
    "new_school",
    "why",
    "reason",
)
"""Columns of the repair report returned by :func:`repair_contiguity`."""

WHY: dict[str, str] = {
    "moved": "moved whole to a neighbouring school",
    "swapped": "moved whole to a neighbouring school, which handed border units back to the piece's school",
    "capacity": "every neighbouring school would go further over capacity",
    "beyond_limit": "a unit of the piece would walk beyond the hard limit to every neighbouring school",
    "capacity_or_limit": "each neighbouring school is refused for capacity or for the hard limit",
    "stray_neighbours_only": "it touches other schools only where their catchments are stray pieces too",
    "isolated": "it touches no other school's catchment (water, empty land or the study edge around it)",
}
"""Reason codes of the repair report's ``why`` column (``reason`` gives the figures)."""


def school_capacity(schools: pd.DataFrame, *, level: str) -> pd.Series:
    """Return each school's seats for ``level``: ``capacity_after_<level>``, else ``capacity_<level>``.

    Parameters
    ----------
    schools
        Schools indexed by ``school_id``.
    level
        ``"primary"`` or ``"junior"``.

    Returns
    -------
    pandas.Series
        Seats (float) indexed by ``school_id`` (str); schools of a kind that does not serve ``level`` get 0.
    """
    level = _one_level(level)
    column = (
        f"capacity_after_{level}" if f"capacity_after_{level}" in schools.columns else f"capacity_{level}"
    )
    require_columns(schools, [column, "level"], name="schools")
    cap = pd.to_numeric(schools[column], errors="coerce").fillna(0.0).astype(float)
    serves = schools["level"].map(lambda kind: level in LEVELS_SERVED.get(str(kind), ())).astype(bool)
    cap = cap.where(serves, 0.0)
    cap.index = schools.index.astype(str)
    return cap


def repair_contiguity(
    units: gpd.GeoDataFrame,
    *,
    level: str,
    costs: pd.DataFrame,
    schools: gpd.GeoDataFrame,
    standards: Standards,
    column: str | None = None,
    capacity: pd.Series | None = None,
    adjacency: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Reassign stray pieces of fragmented catchments to a neighbouring school where that is allowed.

    Each stray piece (every piece but the main one, see :mod:`siting.catchments`) is moved as a whole to
    the school whose *main* piece touches it, when that school has free seats for all its pupils and every
    unit of the piece is within ``standards.hard_max_distance_m[level]`` of it in ``costs``. Among allowed
    neighbours the one with the smallest pupil-weighted mean walk wins (ties: smallest ``school_id``).
    Pieces are handled in ``(school_id, smallest unit_id)`` order, and rounds repeat until nothing moves, so
    the result is deterministic and never creates a new piece.

    Parameters
    ----------
    units
        Demand units (index ``unit_id``) with polygons, the demand column and the assignment column.
    level
        ``"primary"`` or ``"junior"``.
    costs
        Travel costs ``unit_id, school_id, distance_m`` (m).
    schools
        Schools indexed by ``school_id`` (point geometry, ``level`` kind, capacities).
    standards
        Policy values (the hard distance limit).
    column
        Assignment column to repair; default ``proposed_<level>``.
    capacity
        Seats per school (index ``school_id``); default :func:`school_capacity`.
    adjacency
        :func:`adjacency_pairs` of these units, if already computed (it depends only on their polygons).

    Returns
    -------
    tuple of (geopandas.GeoDataFrame, pandas.DataFrame)
        A copy of ``units`` with ``column`` repaired, and one report row per stray piece:
        ``level, school_id, unit_ids, n_units, pupils, repaired, new_school, why`` (a :data:`WHY`
        code) and ``reason`` (the figures: walks, free seats).
    """
    level = _one_level(level)
    column = column or f"proposed_{level}"
    school = _school_array(units, level, column).copy()
    pupils = seated_pupils(units, level=level, column=column)
    unit_ids = units.index.to_numpy()
    cap = (
        school_capacity(schools, level=level)
        if capacity is None
        else capacity.rename(index=str).astype(float)
    )
    load = pd.Series(pupils).groupby(pd.Series(school)).sum()
    load = {str(k): float(v) for k, v in load.items()}
    limit = float(standards.hard_max_distance_m[level])
    lookup = _walk_lookup(costs)
    pairs = adjacency_pairs(units) if adjacency is None else adjacency
    home = _home_units(units, schools)
    neighbours = _neighbour_lists(pairs, len(units))
    sites = set(schools.index[schools["status"] == "site"].astype(str)) if "status" in schools else set()
    fixed = _Fixed(pupils, unit_ids, neighbours, lookup, cap, limit, home, sites)

    outcome: dict[tuple[int, ...], dict[str, object]] = {}
    for _round in range(len(units) + 1):
        info = _pieces(school, pupils, unit_ids, pairs, home)
        if not _repair_round(info, school, load, fixed, outcome):
            break

    _check_none_unassigned(_school_array(units, level, column), school, unit_ids, level)
    repaired = units.copy()
    values = pd.Series(school, index=units.index, dtype=object)
    repaired[column] = values.astype(units[column].dtype) if units[column].dtype != object else values
    return repaired, _repair_report(level, outcome)


def _check_none_unassigned(before: np.ndarray, after: np.ndarray, unit_ids: np.ndarray, level: str) -> None:
    """Raise if the repair left a unit without the school it had (it may only move pieces between schools).

    Raises
    ------
    RuntimeError
        Naming the units; a repair that unassigns a home is a bug, never a result.
    """
    lost = np.array([a is not None and b is None for a, b in zip(before, after, strict=True)], dtype=bool)
    if lost.any():
        raise RuntimeError(
            f"{level} contiguity repair left {int(lost.sum())} unit(s) without a school (e.g. "
            f"{unit_ids[lost][:5].tolist()}); every home must keep one. Please report this."
        )


@dataclass(frozen=True)
class _Fixed:
    """What a repair reads and never changes (arrays are by unit position, in ``units`` order)."""

    pupils: np.ndarray  # seated pupils per unit
    unit_ids: np.ndarray  # unit_id per unit
    neighbours: list[list[int]]  # positions of each unit's rook neighbours
    lookup: pd.Series | None  # distance_m (m) indexed by (unit_id, school_id)
    capacity: pd.Series  # seats per school_id
    limit_m: float  # hard walking limit (m)
    home: dict[str, int]  # position of the unit holding each school's point (never handed away)
    sites: set[str]  # new schools (status "site"): built to fit their intake, they never overflow


def _neighbour_lists(pairs: tuple[np.ndarray, np.ndarray], n: int) -> list[list[int]]:
    """Return, for each of ``n`` unit positions, the positions of its neighbours in ``pairs``."""
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(*pairs, strict=True):
        neighbours[a].append(int(b))
        neighbours[b].append(int(a))
    return neighbours


def _repair_round(
    info: _Pieces,
    school: np.ndarray,
    load: dict[str, float],
    fixed: _Fixed,
    outcome: dict[tuple[int, ...], dict[str, object]],
) -> bool:
    """Try to move every stray piece once, updating ``school``, ``load`` and ``outcome`` in place.

    Parameters
    ----------
    info
        The pieces at the start of the round.
    school
        School id per unit position; moved pieces get their new school.
    load
        Seated pupils per school; moved pupils leave their school and join the new one.
    fixed
        The repair's unchanging inputs.
    outcome
        Report entry per stray piece, keyed by its sorted unit ids; the last round's entry wins.

    Returns
    -------
    bool
        Whether any piece moved (another round may then move more).
    """
    moved = False
    for sid, pos in _stray_pieces(info, fixed.unit_ids):
        key = tuple(sorted(fixed.unit_ids[pos].tolist()))
        need = float(fixed.pupils[pos].sum())
        candidates = _neighbour_schools(info, school, pos, sid, fixed.neighbours)
        best, reasons = _best_school(candidates, pos, sid, need, load, fixed)
        outcome[key] = _outcome(sid, need, best, reasons)
        full = [r.split(": capacity,")[0] for r in reasons if ": capacity," in r] if best is None else []
        if full and _try_swap(info, school, pos, sid, load, fixed, full):
            outcome[key] = _swap_outcome(sid, need, school, pos, outcome[key]["reason"])
            moved = True
            continue
        if not candidates:
            touches = _touches_other(school, pos, sid, fixed.neighbours)
            outcome[key]["why"] = "stray_neighbours_only" if touches else "isolated"
            if touches:
                outcome[key]["reason"] = WHY["stray_neighbours_only"]
        if best is None:
            continue
        cand = best[1]
        school[pos] = cand
        load[sid] = load.get(sid, 0.0) - need
        load[cand] = load.get(cand, 0.0) + need
        moved = True
    return moved


def _stray_pieces(info: _Pieces, unit_ids: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Return ``(school_id, unit positions)`` of every stray piece, by school and smallest unit id."""
    stray = [
        (sid, np.flatnonzero(info.label == lab)) for sid, order in info.pieces.items() for lab in order[1:]
    ]
    stray.sort(key=lambda item: (item[0], unit_ids[item[1]].min()))
    return stray


def _neighbour_schools(
    info: _Pieces, school: np.ndarray, pos: np.ndarray, sid: str, neighbours: list[list[int]]
) -> list[str]:
    """Return the other schools whose main piece (as of ``info``) touches the piece ``pos``, sorted."""
    inside = set(pos.tolist())
    return sorted(
        {
            school[q]
            for p in pos
            for q in neighbours[p]
            if q not in inside
            and school[q] is not None
            and school[q] != sid
            and info.label[q] == info.main.get(school[q])
        }
    )


def _touches_other(school: np.ndarray, pos: np.ndarray, sid: str, neighbours: list[list[int]]) -> bool:
    """Whether any unit of the piece ``pos`` borders a unit of another school (any piece of it)."""
    return any(school[q] is not None and school[q] != sid for p in pos for q in neighbours[p])


def _best_school(
    candidates: list[str],
    pos: np.ndarray,
    sid: str,
    need: float,
    load: dict[str, float],
    fixed: _Fixed,
) -> tuple[tuple[float, str] | None, list[str]]:
    """Return the allowed candidate with the smallest pupil-weighted walk, and why the others are not allowed.

    Parameters
    ----------
    candidates
        Neighbouring schools, sorted (ties go to the first).
    pos
        Unit positions of the stray piece.
    sid
        Its school now.
    need
        Its pupils (seats it needs).
    load
        Seated pupils per school now.
    fixed
        The repair's unchanging inputs (capacities, travel costs, the hard limit).

    Returns
    -------
    tuple
        ``(mean walk in m, school_id)`` of the best school or ``None``, and one reason per refused school.
    """
    unit_ids, limit = fixed.unit_ids[pos], fixed.limit_m
    reasons = []
    best: tuple[float, str] | None = None
    over_here = max(load.get(sid, 0.0) - float(fixed.capacity.get(sid, 0.0)), 0.0)
    for cand in candidates:
        dist = _piece_distances(fixed.lookup, unit_ids, cand)
        free = float(fixed.capacity.get(cand, 0.0)) - load.get(cand, 0.0)
        too_far = ~np.isfinite(dist) | (dist > limit)
        if too_far.any():
            worst = int(np.flatnonzero(too_far)[0])
            d = dist[worst]
            where = f"{d:,.0f} m" if np.isfinite(d) else "not reachable in the travel costs"
            reasons.append(f"{cand}: unit {unit_ids[worst]} is {where} away (hard limit {limit:,.0f} m)")
            continue
        added, relieved = max(need - max(free, 0.0), 0.0), min(need, over_here)
        if added > (0.0 if cand in fixed.sites else relieved) + 1e-9:
            reasons.append(f"{cand}: capacity, {max(free, 0.0):,.1f} free seats for {need:,.1f} pupils")
            continue
        weights = fixed.pupils[pos]
        mean = float(np.average(dist, weights=weights)) if weights.sum() > 0 else float(dist.mean())
        if best is None or (mean, cand) < best:
            best = (mean, cand)
    return best, reasons


def _outcome(sid: str, need: float, best: tuple[float, str] | None, reasons: list[str]) -> dict[str, object]:
    """Return the report entry of one stray piece of ``sid`` with ``need`` pupils (moved when ``best``)."""
    if best is None:
        capacity = sum(": capacity," in r for r in reasons)
        why = "isolated" if not reasons else "capacity" if capacity == len(reasons) else "beyond_limit"
        if 0 < capacity < len(reasons):
            why = "capacity_or_limit"
        return {
            "school_id": sid,
            "pupils": need,
            "repaired": False,
            "new_school": None,
            "why": why,
            "reason": "; ".join(reasons) if reasons else WHY["isolated"],
        }
    mean, cand = best
    return {
        "school_id": sid,
        "pupils": need,
        "repaired": True,
        "new_school": cand,
        "why": "moved",
        "reason": f"moved to neighbouring {cand} (pupil-weighted walk {mean:,.0f} m)",
    }


def _repair_report(level: str, outcome: dict[tuple[int, ...], dict[str, object]]) -> pd.DataFrame:
    """Return the repair report (:data:`REPAIR_COLUMNS`, by school and unit ids) and log its totals."""
    report = pd.DataFrame(
        [
            {"level": level, "unit_ids": key, "n_units": len(key), **row}
            for key, row in sorted(outcome.items(), key=lambda kv: (kv[1]["school_id"], kv[0]))
        ],
        columns=list(REPAIR_COLUMNS),
    )
    if len(report):
        n_ok = int(report["repaired"].sum())
        logger.info(
            "%s contiguity: %d stray piece(s) repaired, %d left (see the repair report)",
            level,
            n_ok,
            len(report) - n_ok,
        )
    return report


def _piece_distances(lookup: pd.Series | None, unit_ids: np.ndarray, school_id: str) -> np.ndarray:
    if lookup is None:
        return np.full(len(unit_ids), np.nan)
    keys = pd.MultiIndex.from_arrays([unit_ids, np.full(len(unit_ids), school_id, dtype=object)])
    return lookup.reindex(keys).to_numpy(dtype=float)


def _try_swap(
    info: _Pieces,
    school: np.ndarray,
    pos: np.ndarray,
    sid: str,
    load: dict[str, float],
    fixed: _Fixed,
    full: list[str],
) -> bool:
    """Move the piece ``pos`` of ``sid`` to a full neighbour that hands border units back; True if done.

    ``full`` are the neighbours refused for capacity only (the piece is within the limit of each), tried
    in order. The handed-back units border ``sid``'s main piece, are within
    the hard limit of ``sid`` (cheapest extra walk first), never include the neighbour's own unit, and
    carry at least the pupils the neighbour lacks seats for and at most what ``sid`` has room for once the
    piece has left (so neither school goes further over capacity); the neighbour's main piece must stay
    connected. ``school`` and ``load`` are updated in place.
    """
    need = float(fixed.pupils[pos].sum())
    s_main = info.main.get(sid)
    for cand in full:
        free_c = float(fixed.capacity.get(cand, 0.0)) - load.get(cand, 0.0)
        free_s = float(fixed.capacity.get(sid, 0.0)) - load.get(sid, 0.0)
        low, high = need - max(free_c, 0.0), need + max(free_s, 0.0)
        c_units = np.flatnonzero((school == cand) & (info.label == info.main[cand]))
        border = [
            int(u)
            for u in c_units
            if u != fixed.home.get(cand)
            and any(school[q] == sid and info.label[q] == s_main for q in fixed.neighbours[u])
        ]
        if not border:
            continue
        border_arr = np.array(border)
        d_s = _piece_distances(fixed.lookup, fixed.unit_ids[border_arr], sid)
        d_c = _piece_distances(fixed.lookup, fixed.unit_ids[border_arr], cand)
        ok = np.isfinite(d_s) & (d_s <= fixed.limit_m)
        chosen, handed = [], 0.0
        order = np.lexsort((fixed.unit_ids[border_arr], d_s - np.nan_to_num(d_c)))
        for k in order[ok[order]]:
            if handed >= low - 1e-9:
                break
            p = float(fixed.pupils[border_arr[k]])
            if handed + p <= high + 1e-9:
                chosen.append(int(border_arr[k]))
                handed += p
        if handed < low - 1e-9 or not chosen:
            continue
        keep = (set(c_units.tolist()) - set(chosen)) | set(pos.tolist())
        if not _connected(keep, fixed.neighbours):
            continue
        school[pos] = cand
        school[np.array(chosen)] = sid
        load[sid] = load.get(sid, 0.0) - need + handed
        load[cand] = load.get(cand, 0.0) + need - handed
        return True
    return False


def _connected(nodes: set[int], neighbours: list[list[int]]) -> bool:
    """Whether the unit positions ``nodes`` form one rook-connected piece."""
    if not nodes:
        return True
    start = next(iter(nodes))
    seen, stack = {start}, [start]
    while stack:
        for q in neighbours[stack.pop()]:
            if q in nodes and q not in seen:
                seen.add(q)
                stack.append(q)
    return len(seen) == len(nodes)


def _swap_outcome(
    sid: str, need: float, school: np.ndarray, pos: np.ndarray, refused: str
) -> dict[str, object]:
    """The report entry of a piece of ``sid`` moved by a swap (its new school is ``school[pos[0]]``)."""
    cand = str(school[pos[0]])
    return {
        "school_id": sid,
        "pupils": need,
        "repaired": True,
        "new_school": cand,
        "why": "swapped",
        "reason": f"moved to neighbouring {cand}, which handed border units back to {sid} ({refused})",
    }
