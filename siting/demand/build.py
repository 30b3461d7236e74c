"""The demand stage in one call: units, seats and years from a raster, and writing them to a GeoPackage."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
from pyproj import CRS

from siting.demand.area import BBox, PathLike, read_area
from siting.demand.report import demand_report
from siting.demand.seats import _seat_rates, add_seat_demand
from siting.demand.units import _build_units
from siting.demand.years import design_demand, project_years
from siting.errors import InputError, OutputExistsError
from siting.standards import Standards


def demand_from_raster(
    raster: PathLike,
    *,
    area: gpd.GeoDataFrame | BBox | None,
    standards: Standards,
    cell_size_m: float = 200.0,
    crs: CRS | str | None = None,
    band: int | None = None,
    units: gpd.GeoDataFrame | None = None,
    growth: Mapping[str, Any] | None = None,
    design_year: int | None = None,
    plan_for: str = "design_year",
    seats_per_1000: Mapping[str, float] | None = None,
    district_field: str | None = "name",
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Build demand units with seat demand in the design year; the one call the pipeline makes.

    Parameters
    ----------
    raster
        Population-count GeoTIFF (any CRS).
    area
        Study area polygons (districts, tagged via ``district_field``) or a bbox in EPSG:4326.
    standards
        Policy values (seats per 1,000 residents).
    cell_size_m
        Grid unit size, metres.
    crs
        Projected study CRS; default the UTM zone of the area.
    band
        Band of a multi-band file.
    units
        Optional unit polygons instead of the grid.
    growth
        Optional ``{"base_year": int, "years": [...], "rate": {district: rate, "default": rate}}``.
    design_year
        Year to plan for (needs ``growth``); default the base year.
    plan_for
        ``"design_year"`` or ``"max_over_years"``.
    seats_per_1000
        Optional override of ``standards.seats_per_1000`` per level.
    district_field
        District name field of ``area``; None for no districts.

    Returns
    -------
    tuple
        ``(units, report)``: demand units (index ``unit_id``; ``population``, ``primary``, ``junior``,
        ``pop_x``, ``pop_y``, ``district``, per-year columns with ``growth``) and the dict of
        :func:`demand_report`.
    """
    out, facts = _build_units(
        raster,
        area=area,
        area_crs=None,
        cell_size_m=cell_size_m,
        units=units,
        crs=crs,
        band=band,
        district_field=district_field,
    )
    rates = _seat_rates(standards, seats_per_1000)
    out = add_seat_demand(out, standards, seats_per_1000=rates)
    out = _apply_growth(out, growth, design_year=design_year, plan_for=plan_for)
    report = demand_report(
        out,
        facts["raster_sum"],
        seat_method="seats_per_1000",
        seats_per_1000=rates,
        build=facts,
        plan_for=plan_for,
        design_year=design_year,
    )
    return out, report


def _apply_growth(
    units: gpd.GeoDataFrame, growth: Mapping[str, Any] | None, *, design_year: int | None, plan_for: str
) -> gpd.GeoDataFrame:
    """Add the planning years from ``growth`` and set the design demand; without growth, refuse a design year.

    Parameters
    ----------
    units
        Demand units with seat demand.
    growth, design_year, plan_for
        As in :func:`demand_from_raster`.

    Returns
    -------
    geopandas.GeoDataFrame
        ``units`` with per-year columns and ``primary``/``junior`` set to the design demand, or ``units``
        unchanged when there is no growth.
    """
    out = units
    if growth:
        missing = {"base_year", "years", "rate"} - set(growth)
        if missing:
            raise InputError(f"population.growth: missing {sorted(missing)}; give base_year, years and rate.")
        out = project_years(
            out, base_year=int(growth["base_year"]), years=list(growth["years"]), rate=dict(growth["rate"])
        )
        out = design_demand(out, year=design_year, plan_for=plan_for)
    elif design_year is not None or plan_for == "max_over_years":
        raise InputError(
            f"design_year={design_year} / plan_for={plan_for!r} need yearly demand; add population.growth "
            "(base_year, years, rate) to the scenario."
        )
    return out


def write_demand_units(
    raster: PathLike,
    *,
    area: str | Path | gpd.GeoDataFrame | BBox,
    out: PathLike,
    cell_size_m: float = 200.0,
    crs: CRS | str | None = None,
    band: int | None = None,
    district_field: str | None = "name",
    standards: Standards | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Build demand units (seats per 1,000 residents) and write them atomically to a GeoPackage.

    Parameters
    ----------
    raster
        Population-count GeoTIFF.
    area
        Polygons, a bbox in EPSG:4326, or a string for :func:`read_area`.
    out
        Output ``.gpkg`` (layer ``units``, ``unit_id`` as a column).
    cell_size_m, crs, band, district_field
        As in :func:`units_from_raster`.
    standards
        Policy values; default Foshan's.
    overwrite
        Replace ``out`` if it exists.

    Returns
    -------
    dict
        The :func:`demand_report` dict, plus ``out``.

    Raises
    ------
    OutputExistsError
        When ``out`` exists and ``overwrite`` is False (checked before any work).
    """
    out = Path(out)
    if out.suffix.lower() != ".gpkg":
        raise InputError(f"--out {out}: write demand units to a GeoPackage (a name ending in .gpkg).")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it.")
    if isinstance(area, str | Path):
        area = read_area(area)
    if isinstance(area, tuple):
        district_field = None
    units, report = demand_from_raster(
        raster,
        area=area,
        standards=standards or Standards.foshan(),
        cell_size_m=cell_size_m,
        crs=crs,
        band=band,
        district_field=district_field,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.gpkg")
    try:
        units.reset_index().to_file(tmp, layer="units", driver="GPKG")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    report["out"] = str(out)
    return report
