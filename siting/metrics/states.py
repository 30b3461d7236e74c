"""The two states every metric is computed for, the district labels, and reading numeric columns."""

from __future__ import annotations

import pandas as pd

from siting.errors import InputError, describe

ALL = "(all)"
"""District label of the overall row in :func:`~siting.metrics.district_metrics`."""

UNKNOWN_DISTRICT = "(unknown)"
"""District label for units and schools without a district."""

STATES: tuple[str, ...] = ("current", "proposed")
"""The two states every metric can be computed for."""


def _check_prefix(column_prefix: str) -> str:
    if column_prefix not in STATES:
        raise InputError(f"column_prefix must be 'current' or 'proposed', got {describe(column_prefix)}.")
    return column_prefix


def _num(frame: pd.DataFrame, column: str, default: float = 0.0) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(default, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)
