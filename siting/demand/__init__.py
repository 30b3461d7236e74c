"""Demand: population raster → demand units with seat demand per level and year.

A population-count GeoTIFF in any CRS (WorldPop in EPSG:4326, GHS-POP in Mollweide, a city's projected census
grid) is read only over the study area's window, in strips, and allocated to demand units in the study CRS:
a regular metric grid (default 200 m) or polygons the user supplies, conserving the residents (the method
is described in :mod:`siting.demand.allocate`). Seat demand per level follows from the residents (seats per
1,000) or from age-band rasters; per-year columns from growth rates or one raster per year.

Modules: ``area`` (study area and CRS), ``window`` (the raster window and what reading it found),
``allocate`` (cells to grid or polygon units, grid unit ids), ``units`` (building units), ``seats``,
``years``, ``current`` (today's catchments), ``report`` and ``build`` (the pipeline's one call, and the
GeoPackage writer), with the private ``_raster`` (bands, windows, bad cells, strips) and ``_columns``.

Public names: :data:`DEFAULT_AGES`, :func:`demand_from_raster`, :func:`units_from_raster`,
:func:`clipped_raster_sum`, :func:`grid_unit_id`, :func:`grid_row_col`, :func:`read_area`,
:func:`add_seat_demand`, :func:`seat_demand_from_age_bands`, :func:`add_population_years`,
:func:`project_years`, :func:`design_demand`, :func:`assign_current`, :func:`demand_report`,
:func:`format_demand_report`, :func:`write_demand_units`.
"""

from siting.demand.allocate import grid_row_col, grid_unit_id
from siting.demand.area import read_area
from siting.demand.build import demand_from_raster, write_demand_units
from siting.demand.current import assign_current
from siting.demand.report import demand_report, format_demand_report
from siting.demand.seats import DEFAULT_AGES, add_seat_demand, seat_demand_from_age_bands
from siting.demand.units import clipped_raster_sum, units_from_raster
from siting.demand.years import add_population_years, design_demand, project_years

__all__ = [
    "DEFAULT_AGES",
    "add_population_years",
    "add_seat_demand",
    "assign_current",
    "clipped_raster_sum",
    "demand_from_raster",
    "demand_report",
    "design_demand",
    "format_demand_report",
    "grid_row_col",
    "grid_unit_id",
    "project_years",
    "read_area",
    "seat_demand_from_age_bands",
    "units_from_raster",
    "write_demand_units",
]
