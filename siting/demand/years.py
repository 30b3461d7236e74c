"""Demand per planning year: one raster per year, compound growth per district, the design demand."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import geopandas as gpd
import pandas as pd

from siting.demand._columns import _require_population, _scale_years, _year_columns
from siting.demand.area import PathLike
from siting.demand.units import _residents_on_units
from siting.errors import InputError
from siting.standards import LEVELS


def add_population_years(
    units: gpd.GeoDataFrame,
    rasters: Mapping[int, PathLike],
    *,
    band: int | None = None,
) -> gpd.GeoDataFrame:
    """Add ``population_<year>`` from one population raster per year, allocated to the same units.

    Parameters
    ----------
    units
        Demand units (grid or polygons) in a projected CRS.
    rasters
        ``{year: path}``; each raster may have its own CRS and resolution.
    band
        Band to read in multi-band files.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``population_<year>`` columns (residents, exact area weighting), and
        ``primary_<year>``, ``junior_<year>`` scaled from ``primary``/``junior`` when those exist.
    """
    out = units.copy()
    for year, path in sorted(rasters.items()):
        out[f"population_{int(year)}"] = _residents_on_units(path, out, band=band)
    for level in LEVELS:
        if level in out.columns:
            _scale_years(out, level)
    return out


def project_years(
    units: gpd.GeoDataFrame,
    *,
    base_year: int,
    years: Sequence[int],
    rate: Mapping[str, float],
) -> gpd.GeoDataFrame:
    """Add per-year columns by compound growth per district: ``x × (1 + rate) ** (year - base_year)``.

    Parameters
    ----------
    units
        Demand units with ``population``, ``district`` and optionally ``primary``/``junior``.
    base_year
        Year of the raster.
    years
        Planning years (may include ``base_year``; years before it shrink by the same rate).
    rate
        Annual growth by district name (0.02 = 2 % a year); the key ``default`` applies to other districts
        and to units without one.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``population_<year>`` and, where seat demand exists, ``primary_<year>`` and
        ``junior_<year>``.
    """
    _require_population(units, "project_years")
    if not years:
        raise InputError("growth.years: give at least one planning year.")
    for key, value in rate.items():
        if not (isinstance(value, int | float) and math.isfinite(value) and value > -1):
            raise InputError(
                f"growth.rate[{key!r}] must be a number above -1 (a yearly share), got {value!r}."
            )
    district = units["district"] if "district" in units.columns else pd.Series(pd.NA, index=units.index)
    default = rate.get("default")
    rates = district.map(lambda d: rate.get(d, default) if isinstance(d, str) else default)
    missing = rates.isna()
    if missing.any():
        names = sorted({str(d) for d in district[missing].dropna()}) or ["(no district)"]
        raise InputError(
            f"growth.rate: no rate for district(s) {names}; add them or a 'default' rate. "
            f"Given: {dict(rate)}."
        )
    r = rates.to_numpy(dtype="float64")
    out = units.copy()
    for year in sorted({int(y) for y in years}):
        factor = (1.0 + r) ** (year - int(base_year))
        out[f"population_{year}"] = out["population"].to_numpy(dtype="float64") * factor
        for level in LEVELS:
            if level in out.columns:
                out[f"{level}_{year}"] = out[level].to_numpy(dtype="float64") * factor
    return out


def design_demand(
    units: gpd.GeoDataFrame,
    *,
    year: int | None = None,
    plan_for: str = "design_year",
) -> gpd.GeoDataFrame:
    """Set ``primary`` and ``junior`` to the demand the model plans for.

    Parameters
    ----------
    units
        Demand units with ``primary``/``junior`` and, for years, ``primary_<year>``/``junior_<year>``.
    year
        Design year for ``plan_for="design_year"``; None keeps the base year's demand.
    plan_for
        ``"design_year"`` (the given year) or ``"max_over_years"`` (each unit's maximum over the years).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``primary`` and ``junior`` replaced.
    """
    if plan_for not in {"design_year", "max_over_years"}:
        raise InputError(f"plan_for must be 'design_year' or 'max_over_years', got {plan_for!r}.")
    out = units.copy()
    for level in LEVELS:
        if level not in out.columns:
            raise InputError(f"design_demand: units have no {level!r} column; add seat demand first.")
        years = _year_columns(out, level)
        if plan_for == "max_over_years":
            if not years:
                raise InputError(
                    "plan_for='max_over_years' needs per-year demand; give population.growth "
                    "(base_year, years, rate) or one raster per year."
                )
            out[level] = out[[f"{level}_{y}" for y in years]].max(axis=1)
        elif year is not None:
            if int(year) not in years:
                raise InputError(
                    f"design_year {year} is not among the planning years {years}; add it to growth.years."
                )
            out[level] = out[f"{level}_{int(year)}"]
    return out
