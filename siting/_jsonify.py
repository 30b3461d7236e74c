"""Turn numpy/pandas values into plain JSON-ready Python values (one helper for summaries and files)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def json_ready(value: Any, digits: int | None = None) -> Any:
    """Return ``value`` with numpy scalars as Python ones, NaN/inf/NA/NaT as ``None`` and paths as text.

    Parameters
    ----------
    value
        A scalar, or dicts/lists/tuples of them (converted recursively; keys become strings).
    digits
        Round floats to this many decimals (None: keep them as they are).
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v, digits) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, digits) if digits is not None else value
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Path):
        return str(value)
    return value
