"""The demand report: totals, conservation error, seats per level and year, and its text form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd

from siting.demand._columns import _year_columns
from siting.standards import LEVELS


def demand_report(
    units: gpd.GeoDataFrame,
    raster_sum: float,
    *,
    seat_method: str = "seats_per_1000",
    seats_per_1000: Mapping[str, float] | None = None,
    build: Mapping[str, Any] | None = None,
    plan_for: str | None = None,
    design_year: int | None = None,
) -> dict[str, Any]:
    """Summarise a demand build as a JSON-ready dict.

    Parameters
    ----------
    units
        Demand units with ``population`` and, if computed, ``primary``/``junior``.
    raster_sum
        Residents of the clipped raster (:func:`clipped_raster_sum`), the reference for conservation.
    seat_method
        How seat demand was computed (``"seats_per_1000"`` or ``"age_bands"``).
    seats_per_1000
        Figures used with ``seats_per_1000``.
    build
        Facts from the build (method, CRS, window, bad cells...) to include.
    plan_for, design_year
        Which demand ``primary``/``junior`` hold.

    Returns
    -------
    dict
        ``raster_sum``, ``units_sum``, ``relative_error``, ``n_units``, ``seats`` per level (design demand),
        ``seats_by_year``, ``seat_method``, ``seats_per_1000``, ``plan_for``, ``design_year`` and the
        build facts.
    """
    units_sum = float(units["population"].sum())
    report: dict[str, Any] = dict(build or {})
    report.update(
        {
            "raster_sum": float(raster_sum),
            "units_sum": units_sum,
            "relative_error": abs(units_sum - raster_sum) / raster_sum if raster_sum else 0.0,
            "n_units": len(units),
            "seat_method": seat_method,
            "seats_per_1000": dict(seats_per_1000) if seats_per_1000 is not None else None,
            "seats": {lv: float(units[lv].sum()) for lv in LEVELS if lv in units.columns},
            "seats_by_year": {
                lv: {y: float(units[f"{lv}_{y}"].sum()) for y in _year_columns(units, lv)}
                for lv in LEVELS
                if _year_columns(units, lv)
            },
            "population_by_year": {y: float(units[f"population_{y}"].sum()) for y in _year_columns(units)},
            "plan_for": plan_for,
            "design_year": design_year,
        }
    )
    return report


def format_demand_report(report: Mapping[str, Any]) -> str:
    """Return the totals of a :func:`demand_report` dict as a few aligned lines of text."""
    lines = [
        f"raster sum (clipped)   {report['raster_sum']:,.1f} residents",
        f"units' sum             {report['units_sum']:,.1f} residents in {report['n_units']:,} units",
        f"relative error         {report['relative_error']:.2e}",
        f"method                 {report.get('method')} ({report.get('crs')})",
    ]
    rates = report.get("seats_per_1000") or {}
    for level, seats in report.get("seats", {}).items():
        rate = f" ({rates[level]:g} per 1,000)" if level in rates else ""
        lines.append(f"seats {level:<16} {seats:,.1f}{rate}")
    lines.extend(f"note: {note}" for note in report.get("notes", []))
    if report.get("out"):
        lines.append(f"written: {report['out']}")
    return "\n".join(lines)
