"""Changes: the units whose school differs between two assignments, with pupils moved and walks."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from siting.catchments.assign import assigned_schools, levels_from, seated_pupils, walk_distances
from siting.errors import InputError, describe
from siting.standards import LEVELS

CHANGE_COLUMNS: tuple[str, ...] = (
    "unit_id",
    "level",
    "old_school",
    "new_school",
    "pupils",
    "walk_before_m",
    "walk_after_m",
    "district",
)
"""Columns of a changes table."""


def compare_catchments(
    units_a: pd.DataFrame,
    units_b: pd.DataFrame | None = None,
    *,
    level: str | Iterable[str],
    before: str | None = None,
    after: str | None = None,
    costs: pd.DataFrame | None = None,
    costs_after: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """List the units whose school changes, with the pupils moved and the walk before and after.

    Two uses: within one result (``units_b`` is ``None``: ``before`` defaults to ``current_<level>`` and
    ``after`` to ``proposed_<level>``, both read from ``units_a``), or between two results (``before`` read
    from ``units_a``, ``after`` from ``units_b``, both defaulting to ``proposed_<level>``; the two tables must
    hold the same units).

    Parameters
    ----------
    units_a
        Units (index ``unit_id``) of the baseline, with the demand column per level.
    units_b
        Units of the other result, or ``None``.
    level
        ``"primary"``, ``"junior"``, ``"both"`` or a sequence of levels.
    before, after
        Assignment columns; may contain ``{level}``.
    costs
        Travel costs for the walk before (and after, unless ``costs_after`` is given); ``None`` leaves the
        walk columns empty.
    costs_after
        Travel costs for the walk after, when the other result has its own table.

    Returns
    -------
    pandas.DataFrame
        ``unit_id, level, old_school, new_school, pupils, walk_before_m, walk_after_m, district`` sorted by
        level and unit; ``pupils`` are the unit's pupils at its new school. Only units with demand at the
        level (in ``units_a``) are listed: a unit without pupils changes no one's school. A missing old
        school means the unit had none (outside today's catchments); a missing new school would mean the
        plan left it without one, which a plan seating every home never does. Units that stay put are
        left out.

    Raises
    ------
    InputError
        When the two unit tables hold different units, or a column is missing.
    """
    if units_b is not None:
        _check_same_units(units_a, units_b)
    other = units_a if units_b is None else units_b.reindex(units_a.index)
    frames = []
    for lv in levels_from(level):
        col_before = (before or ("current_{level}" if units_b is None else "proposed_{level}")).format(
            level=lv
        )
        col_after = (after or "proposed_{level}").format(level=lv)
        seated = units_a if units_b is None else units_b
        frames.append(
            _level_changes(
                units_a,
                other,
                seated,
                lv,
                col_before,
                col_after,
                costs,
                costs if costs_after is None else costs_after,
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(CHANGE_COLUMNS))
    return out.sort_values(["level", "unit_id"], key=_level_key, ignore_index=True)


def _check_same_units(units_a: pd.DataFrame, units_b: pd.DataFrame) -> None:
    """Raise :class:`InputError` unless the two unit tables hold the same ``unit_id`` values."""
    if not units_a.index.sort_values().equals(units_b.index.sort_values()):
        only_a = units_a.index.difference(units_b.index)
        only_b = units_b.index.difference(units_a.index)
        raise InputError(
            "compare_catchments: the two results have different demand units "
            f"({len(only_a)} only in the first, e.g. {describe(list(only_a[:3]))}; {len(only_b)} only in the "
            f"second, e.g. {describe(list(only_b[:3]))}). Compare results built on the same units."
        )


def _level_changes(
    units_a: pd.DataFrame,
    other: pd.DataFrame,
    seated: pd.DataFrame,
    lv: str,
    col_before: str,
    col_after: str,
    costs: pd.DataFrame | None,
    costs_after: pd.DataFrame | None,
) -> pd.DataFrame:
    """Return the changes of one level (the columns of :data:`CHANGE_COLUMNS`, in ``units_a`` order).

    Parameters
    ----------
    units_a
        Baseline units, holding ``col_before`` (and ``district`` when known).
    other
        Units holding ``col_after``, reindexed like ``units_a``.
    seated
        Units whose ``<col_after>_pupils`` (else demand) give the pupils of a change.
    lv
        ``"primary"`` or ``"junior"``.
    col_before, col_after
        Assignment columns before and after.
    costs, costs_after
        Travel costs for the walk before and after (m); ``None`` leaves that walk empty.

    Returns
    -------
    pandas.DataFrame
        One row per unit whose school changes.
    """
    old = assigned_schools(units_a, level=lv, column=col_before).to_numpy(dtype=object)
    new = assigned_schools(other, level=lv, column=col_after).to_numpy(dtype=object)
    changed = np.array([a != b for a, b in zip(old, new, strict=True)], dtype=bool)
    changed &= pd.to_numeric(units_a[lv], errors="coerce").fillna(0.0).to_numpy(dtype=float) > 0
    ids = units_a.index.to_numpy()[changed]
    district = (
        units_a["district"].to_numpy(dtype=object)[changed]
        if "district" in units_a.columns
        else np.full(len(ids), None, dtype=object)
    )
    return pd.DataFrame(
        {
            "unit_id": ids,
            "level": lv,
            "old_school": pd.array(old[changed], dtype="str"),
            "new_school": pd.array(new[changed], dtype="str"),
            "pupils": seated_pupils(seated, level=lv, column=col_after)[changed],
            "walk_before_m": walk_distances(ids, old[changed], costs),
            "walk_after_m": walk_distances(ids, new[changed], costs_after),
            "district": pd.array(district, dtype="str"),
        }
    )


def _level_key(col: pd.Series) -> pd.Series:
    if col.name == "level":
        return col.map({lv: i for i, lv in enumerate(LEVELS)})
    return col
