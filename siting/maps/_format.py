"""Colours, labels and the formatting of data values for the map pages (escaping, numbers, percents)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

OKABE_ITO: tuple[str, ...] = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
"""Okabe–Ito colour-blind-safe palette (without black), used for catchments."""

DENSITY_COLOURS: tuple[str, ...] = ("#FEE391", "#FEC44F", "#FB9A29", "#EC7014", "#CC4C02", "#8C2D04")
"""Paul Tol's YlOrBr sequential scheme (colour-blind safe), light to dark, for population density."""

UTILIZATION_CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.85, "#0072B2", "under 85 %"),
    (1.00, "#009E73", "85–100 %"),
    (1.10, "#E69F00", "100–110 %"),
    (math.inf, "#D55E00", "over 110 %"),
)
"""Upper bound of pupils / seats, colour and label of each utilization class. The first bound is
exclusive (85 % is in "85–100 %"), the others inclusive (a school exactly full is in "85–100 %")."""

LEVEL_LABELS: Mapping[str, str] = {"primary": "Primary", "junior": "Junior middle"}

OVERFLOW_RING: Mapping[str, Any] = {"color": "#CC79A7", "weight": 4.5}
"""Outline of a school with pupils above its standard capacity (Okabe–Ito reddish purple, thick)."""

SEARCH_AREA_STYLE: Mapping[str, Any] = {
    "color": "#CC79A7",
    "weight": 4,
    "dashArray": "10 6",
    "fillColor": "#000000",
    "fillOpacity": 0.3,
}
"""Search areas for new school land: a dark veil over the catchment colours, with the overflow schools'
purple as a thick dashed outline."""


def _num(frame: pd.DataFrame, col: str, default: float = 0.0) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(default, index=frame.index, dtype=float)
    return pd.to_numeric(frame[col], errors="coerce").astype(float).fillna(default)


def _esc(x: Any) -> str:
    """Escape any value from data for HTML (None/NaN → empty)."""
    return "" if not _present(x) else html.escape(str(x), quote=True)


def _present(x: Any) -> bool:
    if x is None:
        return False
    try:
        return not bool(pd.isna(x))
    except (TypeError, ValueError):
        return True


def _fmt(x: Any, decimals: int = 0) -> str:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(value) else f"{value:,.{decimals}f}"


def _pct(x: Any) -> str:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(value) else f"{100 * value:.0f} %"


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b and math.isfinite(float(b)) and float(b) != 0 else math.nan


def _wmean(frame: pd.DataFrame, col: str) -> float:
    if len(frame) == 0 or col not in frame.columns:
        return math.nan
    w = pd.to_numeric(frame["pupils"], errors="coerce").to_numpy(dtype=float)
    v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(w) & np.isfinite(v) & (w > 0)
    return float(np.average(v[ok], weights=w[ok])) if ok.any() else math.nan


def _util_colour(u: float) -> str:
    if u is None or not math.isfinite(float(u)):
        return "#999999"
    u = float(u)
    first, *rest = UTILIZATION_CLASSES
    if u < first[0]:
        return first[1]
    # inclusive upper bounds, with room for float noise in pupils / seats (e.g. 0.9999999 or 1.0000001)
    return next(colour for bound, colour, _ in rest if u <= bound + 1e-6)


def _round_list(series: pd.Series) -> list[float | None]:
    return [None if not math.isfinite(v) else round(v) for v in series.to_numpy(dtype=float)]


def _round_sig(x: float, digits: int = 2) -> float:
    if x <= 0 or not math.isfinite(x):
        return 0.0
    return float(round(x, digits - 1 - math.floor(math.log10(x))))
