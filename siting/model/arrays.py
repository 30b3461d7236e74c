"""The core arrays every program is built from: the validated inputs of :meth:`SitingModel.from_costs`.

:func:`core_data` checks the general inputs (arcs, demand, capacity, options, overflow, limits), turns them
into integer-indexed numpy arrays (pairs ``k_*``, arcs ``a_*``, options ``o_*``, facilities, the overflow
columns ``over_*``), runs the presolve checks and times it all. :func:`need_columns` is the shared column
check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from siting.errors import InputError
from siting.model.checks import id_text, presolve_checks
from siting.model.underuse import underuse_arrays


def need_columns(frame: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    """Raise :class:`~siting.errors.InputError` naming the columns of ``cols`` that ``frame`` lacks."""
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}.")


def core_data(
    arcs: pd.DataFrame,
    demand: pd.DataFrame,
    capacity: pd.DataFrame,
    *,
    options: pd.DataFrame | None,
    force_open: Iterable[Any],
    max_new: int | None,
    exactly_new: int | None,
    budget: float | None,
    max_open: int | None,
    single_source: bool,
    overflow_penalty: float | None,
    overflow_ceiling: pd.DataFrame | None,
    min_load: pd.DataFrame | None,
    current_distance: pd.DataFrame | None,
    underuse_penalty: float | None = None,
    utilisation_floor: float | pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Validate the core inputs, turn them into integer-indexed numpy arrays and check feasibility.

    The parameters are those of :meth:`SitingModel.from_costs`. The result's ``build_time_s`` is the time
    this took, seconds; :class:`~siting.errors.InfeasibleError` is raised when the model cannot be feasible.
    """
    start = time.perf_counter()
    levels, dem, base = _level_arrays(arcs, demand, capacity)
    units = demand.index
    facilities = capacity.index
    u_pos = pd.Index(demand.index)
    f_pos = pd.Index(capacity.index)
    opt = _option_arrays(options, levels, f_pos)
    is_new_f = base.sum(axis=1) <= 0
    forced = f_pos.get_indexer(list(force_open))
    if (forced < 0).any():
        raise InputError(
            f"force_open names unknown school_id(s): "
            f"{[s for s, p in zip(force_open, forced, strict=False) if p < 0]}."
        )
    pair_of, arc = _pairs_and_arcs(arcs, dem, base, opt["o_f"], opt["o_cap"], u_pos, f_pos, levels)
    mload = _min_loads(min_load, capacity, levels, base)
    cur = _current_distance(current_distance, u_pos, pd.Index(levels), pair_of, len(arc["k_u"]))
    _check_limits(overflow_penalty, max_new, exactly_new, max_open, budget)
    over = _overflow_arrays(overflow_penalty, overflow_ceiling, base, f_pos, levels, arc)
    under = underuse_arrays(underuse_penalty, utilisation_floor, base, opt, arc, f_pos, levels)
    data = {
        "levels": levels,
        "n_levels": len(levels),
        "units": units,
        "facilities": facilities,
        "base": base,
        "is_new_f": is_new_f,
        "k_u": arc["k_u"],
        "k_l": arc["k_l"],
        "k_d": arc["k_d"],
        "k_cur": cur,
        "a_k": arc["a_k"],
        "a_f": arc["a_f"],
        "a_cost": arc["a_cost"],
        "a_dis": arc["a_dis"],
        "a_dist": arc["a_dist"],
        "a_beyond": arc["a_beyond"],
        "arc_frame": _arc_frame(arc, cur, units, facilities, levels),
        **opt,
        "forced": forced,
        "max_new": max_new,
        "exactly_new": exactly_new,
        "budget": budget,
        "max_open": max_open,
        "single_source": single_source,
        **over,
        **under,
        "min_load": mload,
    }
    presolve_checks(data)
    data["build_time_s"] = time.perf_counter() - start
    return data


def _level_arrays(
    arcs: pd.DataFrame, demand: pd.DataFrame, capacity: pd.DataFrame
) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Check the columns of the three tables; return the levels, demand (pupils) and base capacity."""
    levels = list(demand.columns)
    if not levels:
        raise InputError("demand has no level columns; give one column per level (e.g. 'primary').")
    need_columns(arcs, ["unit_id", "school_id", "level", "cost"], "arcs")
    missing = [lv for lv in levels if lv not in capacity.columns]
    if missing:
        raise InputError(f"capacity lacks level column(s) {missing}; demand has levels {levels}.")
    if demand.index.has_duplicates or capacity.index.has_duplicates:
        raise InputError("demand and capacity must be indexed by unique unit_id / school_id.")
    dem = demand[levels].to_numpy(dtype=float)
    if np.isnan(dem).any() or (dem < 0).any():
        raise InputError("demand must be >= 0 and not missing (fill unknown demand with 0).")
    base = capacity[levels].to_numpy(dtype=float)
    if np.isnan(base).any() or (base < 0).any():
        raise InputError("capacity must be >= 0 and not missing.")
    return levels, dem, base


def _option_arrays(options: pd.DataFrame | None, levels: list[Any], f_pos: pd.Index) -> dict[str, Any]:
    """Check the options and return their arrays.

    The keys are ``o_f`` (facility of each option), ``o_cap`` (capacity per level, pupils), ``o_room``
    (pupils per level the option adds to the facility's overflow ceiling, from the optional columns
    ``overflow_ceiling_<level>``; 0 without them), ``o_fixed`` and ``o_budget`` (fixed and budget cost)
    and ``o_table`` (the options, with ``budget_cost``).
    """
    if options is None:
        options = pd.DataFrame(
            columns=["school_id", "option", "fixed_cost", *[f"capacity_{lv}" for lv in levels]]
        )
    need_columns(
        options, ["school_id", "option", "fixed_cost", *[f"capacity_{lv}" for lv in levels]], "options"
    )
    otab = options.reset_index(drop=True).copy()
    if "budget_cost" not in otab.columns:
        otab["budget_cost"] = otab["fixed_cost"]
    if otab.duplicated(["school_id", "option"]).any():
        dup = otab[otab.duplicated(["school_id", "option"])].iloc[0]
        raise InputError(f"options: option {dup['option']!r} of school {dup['school_id']!r} is listed twice.")
    o_f = f_pos.get_indexer(otab["school_id"])
    if (o_f < 0).any():
        bad = otab["school_id"][o_f < 0].iloc[0]
        raise InputError(
            f"options: school_id {bad!r} is not in the capacity table; add it (capacity 0 for a site)."
        )
    o_cap = otab[[f"capacity_{lv}" for lv in levels]].to_numpy(dtype=float)
    o_fixed = otab["fixed_cost"].to_numpy(dtype=float)
    o_budget = otab["budget_cost"].to_numpy(dtype=float)
    if np.isnan(o_cap).any() or (o_cap < 0).any() or np.isnan(o_fixed).any():
        raise InputError("options: capacities and fixed_cost must be numbers >= 0.")
    o_room = np.zeros_like(o_cap)
    for li, lv in enumerate(levels):
        col = f"overflow_ceiling_{lv}"
        if col in otab.columns:
            o_room[:, li] = (
                pd.to_numeric(otab[col], errors="coerce").fillna(0.0).clip(lower=0.0).to_numpy(float)
            )
    return {
        "o_f": o_f,
        "o_cap": o_cap,
        "o_room": o_room,
        "o_fixed": o_fixed,
        "o_budget": o_budget,
        "o_table": otab,
    }


def _pairs_and_arcs(
    arcs: pd.DataFrame,
    dem: np.ndarray,
    base: np.ndarray,
    o_f: np.ndarray,
    o_cap: np.ndarray,
    u_pos: pd.Index,
    f_pos: pd.Index,
    levels: list[Any],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Number the pairs with demand and the arcs that can serve them.

    Returns
    -------
    pair_of
        Pair number per (unit, level) position, ``-1`` without demand.
    arrays
        ``k_u, k_l, k_d`` (unit, level and demand of each pair, level-major) and ``a_k, a_f, a_cost, a_dis,
        a_dist, a_beyond`` (pair, facility, cost, disruption, distance and beyond-the-limit flag of each arc,
        sorted by pair then facility; arcs of a level their facility can never serve are dropped).
    """
    a_u = u_pos.get_indexer(arcs["unit_id"])
    a_f = f_pos.get_indexer(arcs["school_id"])
    a_l = pd.Index(levels).get_indexer(arcs["level"])
    bad = (a_u < 0) | (a_f < 0) | (a_l < 0)
    if bad.any():
        row = arcs[bad].iloc[0]
        raise InputError(
            f"arcs: {int(bad.sum())} row(s) name an unknown unit, school or level, e.g. unit "
            f"{row['unit_id']!r}, school {row['school_id']!r}, level {row['level']!r}."
        )
    a_cost = arcs["cost"].to_numpy(dtype=float)
    a_dis = arcs["disruption"].to_numpy(dtype=float) if "disruption" in arcs else np.zeros(len(arcs))
    a_dist = arcs["distance_m"].to_numpy(dtype=float) if "distance_m" in arcs else np.full(len(arcs), np.nan)
    a_beyond = (
        arcs["beyond_limit"].fillna(False).to_numpy(dtype=bool)
        if "beyond_limit" in arcs
        else np.zeros(len(arcs), dtype=bool)
    )
    if not np.isfinite(a_cost).all() or not np.isfinite(a_dis).all():
        raise InputError("arcs: cost and disruption must be finite numbers (drop unreachable pairs instead).")
    # pairs with demand
    pair_of = np.full(dem.shape, -1, dtype=np.int64)
    k_u, k_l = np.nonzero(dem > 0)
    order = np.lexsort((k_u, k_l))  # level-major, then unit order: deterministic
    k_u, k_l = k_u[order], k_l[order]
    pair_of[k_u, k_l] = np.arange(len(k_u))
    k_d = dem[k_u, k_l]
    a_k = pair_of[a_u, a_l]
    keep = a_k >= 0
    cols = [v[keep] for v in (a_k, a_f, a_cost, a_dis, a_dist, a_beyond)]
    key = cols[0] * len(f_pos) + cols[1]
    order = np.argsort(key, kind="stable")
    key = key[order]
    a_k, a_f, a_cost, a_dis, a_dist, a_beyond = (v[order] for v in cols)
    if len(key) and (np.diff(key) == 0).any():
        i = int(np.flatnonzero(np.diff(key) == 0)[0])
        raise InputError(
            f"arcs: unit {id_text(u_pos[k_u[a_k[i]]])}, school {id_text(f_pos[a_f[i]])}, level "
            f"{levels[k_l[a_k[i]]]!r} is listed twice; give one cost per pair."
        )
    # arcs of a level a school cannot ever serve are useless: drop them
    can_serve = base.copy()
    if len(o_f):
        np.add.at(can_serve, o_f, o_cap)
    usable = can_serve[a_f, k_l[a_k]] > 0
    a_k, a_f, a_cost, a_dis, a_dist, a_beyond = (
        v[usable] for v in (a_k, a_f, a_cost, a_dis, a_dist, a_beyond)
    )
    arrays = {"k_u": k_u, "k_l": k_l, "k_d": k_d, "a_k": a_k, "a_f": a_f}
    return pair_of, {**arrays, "a_cost": a_cost, "a_dis": a_dis, "a_dist": a_dist, "a_beyond": a_beyond}


def _min_loads(
    min_load: pd.DataFrame | None, capacity: pd.DataFrame, levels: list[Any], base: np.ndarray
) -> np.ndarray:
    """Return the least pupils each facility must keep per level (0 where none), like ``base``."""
    mload = np.zeros_like(base)
    if min_load is not None:
        ml = min_load.reindex(index=capacity.index, columns=levels).fillna(0.0).to_numpy(dtype=float)
        mload = np.clip(ml, 0.0, None)
    return mload


def _overflow_arrays(
    overflow_penalty: float | None,
    overflow_ceiling: pd.DataFrame | None,
    base: np.ndarray,
    f_pos: pd.Index,
    levels: list[Any],
    arc: dict[str, np.ndarray],
) -> dict[str, Any]:
    """Return where pupils may be placed above capacity (overflow), and at what price.

    Only a facility with base capacity for a level (an existing school) may overflow in it; new facilities
    never do. The keys are ``has_overflow`` (a penalty was given), ``penalty`` (cost per pupil above
    capacity; 0 without), ``may_over`` (facility × level), ``room0`` (facility × level: most pupils above
    capacity with no option open; ``inf`` without a ceiling, 0 where it may not overflow) and ``over_fl``
    (the overflow columns' (facility, level) numbers ``facility * n_levels + level``: those that may
    overflow and have an arc).
    """
    n_f, n_l = base.shape
    has = overflow_penalty is not None
    may = (base > 0) & has
    room = np.where(may, np.inf, 0.0)
    if overflow_ceiling is not None:
        if not has:
            raise InputError(
                "overflow_ceiling needs overflow_penalty: without a penalty no school goes above capacity."
            )
        pos = f_pos.get_indexer(overflow_ceiling.index)
        if overflow_ceiling.index.has_duplicates or (pos < 0).any():
            bad = [s for s, p in zip(overflow_ceiling.index, pos, strict=True) if p < 0]
            raise InputError(
                f"overflow_ceiling must be indexed by unique, known school_id; unknown: {bad[:5]} "
                "(add them to the capacity table or drop them)."
            )
        table = overflow_ceiling.reindex(index=f_pos, columns=levels)
        ceil = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        if (ceil < 0).any():
            raise InputError("overflow_ceiling must be >= 0 (pupils above capacity) or missing (no ceiling).")
        room = np.where(may & np.isfinite(ceil), ceil, room)
    used = np.zeros(n_f * n_l, dtype=bool)
    used[arc["a_f"] * n_l + arc["k_l"][arc["a_k"]]] = True
    return {
        "has_overflow": has,
        "penalty": float(overflow_penalty) if has else 0.0,
        "may_over": may,
        "room0": room,
        "over_fl": np.flatnonzero(may.reshape(-1) & used),
    }


def _current_distance(
    current_distance: pd.DataFrame | None,
    u_pos: pd.Index,
    l_pos: pd.Index,
    pair_of: np.ndarray,
    n_pair: int,
) -> np.ndarray:
    """Return each pair's current walk, metres (NaN where unknown)."""
    cur = np.full(n_pair, np.nan)
    if current_distance is not None and len(current_distance):
        cu = u_pos.get_indexer(current_distance["unit_id"])
        cl = l_pos.get_indexer(current_distance["level"])
        ok = (cu >= 0) & (cl >= 0)
        kk = pair_of[cu[ok], cl[ok]]
        good = kk >= 0
        cur[kk[good]] = current_distance["distance_m"].to_numpy(dtype=float)[ok][good]
    return cur


def _check_limits(
    overflow_penalty: float | None,
    max_new: int | None,
    exactly_new: int | None,
    max_open: int | None,
    budget: float | None,
) -> None:
    """Raise :class:`~siting.errors.InputError` for an overflow penalty or limit out of range."""
    if overflow_penalty is not None and not (overflow_penalty >= 0 and math.isfinite(overflow_penalty)):
        raise InputError(
            "overflow_penalty must be a finite number >= 0 or None (hard capacities), "
            f"got {overflow_penalty!r}."
        )
    for name, value in (("max_new", max_new), ("exactly_new", exactly_new), ("max_open", max_open)):
        if value is not None and (int(value) != value or value < 0):
            raise InputError(f"{name} must be a whole number >= 0 or None, got {value!r}.")
    if budget is not None and not budget >= 0:
        raise InputError(f"budget must be >= 0 or None, got {budget!r}.")


def _arc_frame(
    arc: dict[str, np.ndarray], cur: np.ndarray, units: pd.Index, facilities: pd.Index, levels: list[Any]
) -> pd.DataFrame:
    """Return the arcs as a table: ids, ``cost``, ``disruption``, pair ``demand`` and ``walk_now_m``."""
    a_k, k_l = arc["a_k"], arc["k_l"]
    level_names = np.asarray(levels, dtype=object)
    arc_frame = pd.DataFrame(
        {
            "unit_id": units[arc["k_u"][a_k]],
            "level": level_names[k_l[a_k]],
            "school_id": facilities[arc["a_f"]],
            "cost": arc["a_cost"],
            "disruption": arc["a_dis"],
            "demand": arc["k_d"][a_k],
        }
    )
    arc_frame["walk_now_m"] = cur[a_k]
    return arc_frame
