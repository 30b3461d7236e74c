"""Reading assignments: levels, required columns, each unit's school and seated pupils, walks to a school.

Every catchment function reads the school of a unit per level from ``current_<level>``, ``proposed_<level>``
or another column named with ``column=``, and the walk from the travel-cost table
(``unit_id, school_id, distance_m``); the helpers here do that reading for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from siting.errors import InputError, describe
from siting.standards import LEVELS


def levels_from(level: str | Iterable[str]) -> tuple[str, ...]:
    """Return the levels named by ``level``: one level, ``"both"``, or an iterable of levels.

    Parameters
    ----------
    level
        ``"primary"``, ``"junior"``, ``"both"`` or a sequence of levels.

    Returns
    -------
    tuple of str
        Levels in the order of :data:`siting.standards.LEVELS`.

    Raises
    ------
    InputError
        For an unknown level.
    """
    wanted = set(LEVELS) if level == "both" else ({level} if isinstance(level, str) else set(level))
    unknown = wanted - set(LEVELS)
    if unknown or not wanted:
        raise InputError(
            f"level must be one of {', '.join(LEVELS)} or 'both', got {describe(sorted(unknown) or level)}."
        )
    return tuple(lv for lv in LEVELS if lv in wanted)


def _one_level(level: str) -> str:
    if level not in LEVELS:
        raise InputError(f"level must be one of {', '.join(LEVELS)}, got {describe(level)}.")
    return level


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, name: str, fix: str = "") -> None:
    """Raise :class:`InputError` when ``frame`` lacks any of ``columns``.

    Parameters
    ----------
    frame
        The table to check.
    columns
        Column names it must have.
    name
        What to call the table in the message.
    fix
        A sentence telling the user how to fix it.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns))
        raise InputError(
            f"{name}: missing column(s) {', '.join(missing)} (columns are: {have}). {fix}".strip()
        )


def seated_pupils(units: pd.DataFrame, *, level: str, column: str | None = None) -> np.ndarray:
    """Return the pupils each unit has at its assigned school for ``level``.

    The pipeline records the pupils a unit has at its school in ``<column>_pupils`` (e.g.
    ``proposed_primary_pupils``: all of its demand, since every home is seated; a school short of seats has
    overflow, not fewer pupils). Without that column every unit is taken to be seated in full (its
    ``level`` demand), as in the current state.

    Parameters
    ----------
    units
        Demand units.
    level
        ``"primary"`` or ``"junior"``.
    column
        The assignment column (default ``proposed_<level>``).

    Returns
    -------
    numpy.ndarray
        Pupils per unit, in ``units`` order (0 where a seated count is missing).
    """
    column = column or f"proposed_{_one_level(level)}"
    seated = f"{column}_pupils"
    if seated in units.columns:
        return pd.to_numeric(units[seated], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    return units[level].to_numpy(dtype=float)


def assigned_schools(units: pd.DataFrame, *, level: str, column: str | None = None) -> pd.Series:
    """Return each unit's school for ``level`` from ``column`` (default ``proposed_<level>``).

    Parameters
    ----------
    units
        Demand units indexed by ``unit_id``.
    level
        ``"primary"`` or ``"junior"``.
    column
        Column holding the ``school_id`` per unit; missing means none (no demand, or outside today's
        catchments).

    Returns
    -------
    pandas.Series
        ``school_id`` (str) or missing, indexed like ``units``.
    """
    column = column or f"proposed_{_one_level(level)}"
    require_columns(
        units,
        [column, level],
        name="units",
        fix=f"Solve the model first (it adds proposed_{level}) or pass column= naming the assignment.",
    )
    raw = units[column]
    out = raw.astype("string").astype(object).where(raw.notna(), None)
    return out.rename(column)


def _walk_lookup(costs: pd.DataFrame | None) -> pd.Series | None:
    """Return ``distance_m`` indexed by ``(unit_id, school_id)``, or ``None`` without costs."""
    if costs is None:
        return None
    require_columns(costs, ["unit_id", "school_id", "distance_m"], name="travel costs")
    table = costs[["unit_id", "school_id", "distance_m"]].drop_duplicates(["unit_id", "school_id"])
    ids = table["school_id"].astype(str)
    return pd.Series(
        table["distance_m"].to_numpy(dtype=float),
        index=pd.MultiIndex.from_arrays([table["unit_id"].to_numpy(), ids.to_numpy(dtype=object)]),
    )


def walk_distances(
    unit_ids: Sequence[object], school_ids: Sequence[object], costs: pd.DataFrame | None
) -> np.ndarray:
    """Return the walking distance (m) of each ``(unit, school)`` pair; ``nan`` when missing or no school.

    Parameters
    ----------
    unit_ids, school_ids
        Paired sequences; a missing school gives ``nan``.
    costs
        Travel-cost table ``unit_id, school_id, distance_m``; ``None`` gives all ``nan``.

    Returns
    -------
    numpy.ndarray
        Distances in metres (float64).
    """
    n = len(unit_ids)
    lookup = _walk_lookup(costs)
    if lookup is None or n == 0:
        return np.full(n, np.nan)
    keys = pd.MultiIndex.from_arrays(
        [np.asarray(unit_ids), np.asarray([None if pd.isna(s) else str(s) for s in school_ids], dtype=object)]
    )
    return lookup.reindex(keys).to_numpy(dtype=float)


def _school_array(units: pd.DataFrame, level: str, column: str | None) -> np.ndarray:
    return assigned_schools(units, level=level, column=column).to_numpy(dtype=object)
