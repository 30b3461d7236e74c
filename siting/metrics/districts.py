"""Per-district metrics of one state: seats per 1,000 residents, overflow, classes and walks, plus the total.

Seats count the schools located in a district (:func:`~siting.metrics.school_districts`); residents and
pupils count the units living there. Seats are always set against the residents and the demand of the same
year: the design year in :func:`district_metrics` (the year whose demand the units' ``primary`` / ``junior``
hold), each planning year in :func:`district_years`. :func:`seat_figures` is the one formula both use.
"""

from __future__ import annotations

import math
import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting._log import get_logger
from siting.catchments import assigned_schools, require_columns, seated_pupils, walk_distances
from siting.errors import InputError
from siting.metrics.schools import school_metrics
from siting.metrics.states import ALL, UNKNOWN_DISTRICT, _check_prefix
from siting.metrics.stats import walk_stats
from siting.standards import LEVELS, Standards

logger = get_logger(__name__)

YEAR_COLUMNS = ["state", "district", "level", "year", "population", "demand", "seats"]
SEAT_FIGURES = [
    "seats_per_1000",
    "standard_per_1000",
    "standard_seats",
    "seat_shortfall",
    "seats_below_demand",
]


def seat_figures(
    population: float, demand: float, seats: float, standard_per_1000: float
) -> dict[str, float]:
    """Return seats per 1,000 residents and the seats missing against the standard and against demand.

    Parameters
    ----------
    population
        Residents of one year (persons).
    demand
        Seat demand of the same year (pupils).
    seats
        Seats of the schools located there (pupils).
    standard_per_1000
        The provision standard, seats per 1,000 residents (``standards.seats_per_1000[level]``).

    Returns
    -------
    dict
        ``seats_per_1000 = seats / population × 1000`` (``nan`` without residents), ``standard_per_1000``,
        ``standard_seats = standard × population / 1000``, ``seat_shortfall = max(0, standard_seats −
        seats)`` (> 0 exactly when ``seats_per_1000 < standard_per_1000``) and ``seats_below_demand =
        max(0, demand − seats)`` (> 0 exactly when seats < demand). With demand from seats per 1,000 (the
        default) demand equals standard_seats and the two agree.
    """
    standard_seats = standard_per_1000 * population / 1000.0
    return {
        "seats_per_1000": seats / population * 1000.0 if population > 0 else math.nan,
        "standard_per_1000": standard_per_1000,
        "standard_seats": standard_seats,
        "seat_shortfall": max(standard_seats - seats, 0.0),
        "seats_below_demand": max(demand - seats, 0.0),
    }


def planning_years(units: pd.DataFrame) -> list[int]:
    """Return the years of the units' ``population_<year>`` columns, in order."""
    pattern = re.compile(r"^population_(\d{4})$")
    return sorted(int(m.group(1)) for c in units.columns if (m := pattern.match(str(c))))


def design_population(
    units: pd.DataFrame, *, year: int | None = None, plan_for: str | None = None
) -> tuple[np.ndarray, int | None]:
    """Return the residents of the year whose demand the units' ``primary`` and ``junior`` hold.

    Parameters
    ----------
    units
        Demand units with ``population`` and, for yearly demand, ``population_<year>`` and
        ``<level>_<year>``.
    year, plan_for
        How the demand was chosen (the scenario's ``design_year`` and ``plan_for``):
        ``"max_over_years"`` → each unit's largest residents over the years (its demand is its largest);
        ``"design_year"`` with a year → ``population_<year>``; with no year → ``population`` (base year).
        ``plan_for=None`` infers it from the columns: the year whose ``<level>_<year>`` equal ``<level>``
        for every level, else the per-unit maximum if that matches, else ``population``.

    Returns
    -------
    tuple
        ``(residents per unit, year)``; the year is ``None`` for the base ``population`` and for the
        per-unit maximum.

    Raises
    ------
    InputError
        When the units lack ``population_<year>`` for the given year.
    """
    years = planning_years(units)
    if plan_for is None:
        year, plan_for = _inferred_design(units, years)
    if plan_for == "max_over_years":
        if not years:
            raise InputError("plan_for='max_over_years' needs population_<year> columns on the units.")
        return units[[f"population_{y}" for y in years]].to_numpy(dtype=float).max(axis=1), None
    if year is None:
        return units["population"].to_numpy(dtype=float), None
    if f"population_{int(year)}" not in units.columns:
        raise InputError(
            f"units: no population_{int(year)} column for design year {int(year)} (years: {years}); "
            "build the units with population.growth listing that year."
        )
    return units[f"population_{int(year)}"].to_numpy(dtype=float), int(year)


def _inferred_design(units: pd.DataFrame, years: list[int]) -> tuple[int | None, str]:
    """Return ``(year, plan_for)`` whose yearly demand columns equal the units' design demand."""
    levels = [lv for lv in LEVELS if lv in units.columns]
    if not years or not levels:
        return None, "design_year"

    def same(columns: dict[str, np.ndarray]) -> bool:
        return all(
            np.allclose(units[lv].to_numpy(dtype=float), columns[lv], rtol=1e-9, atol=1e-9) for lv in levels
        )

    yearly = [y for y in years if all(f"{lv}_{y}" in units.columns for lv in levels)]
    for y in yearly:
        if same({lv: units[f"{lv}_{y}"].to_numpy(dtype=float) for lv in levels}):
            return y, "design_year"
    if yearly and same(
        {lv: units[[f"{lv}_{y}" for y in yearly]].to_numpy(dtype=float).max(axis=1) for lv in levels}
    ):
        return None, "max_over_years"
    logger.warning(
        "units: the design demand matches none of the planning years %s; seats per 1,000 residents use the "
        "base-year population.",
        years,
    )
    return None, "design_year"


def _unit_districts(units: pd.DataFrame) -> np.ndarray:
    if "district" in units.columns:
        names = units["district"].astype(object).where(units["district"].notna(), UNKNOWN_DISTRICT)
    else:
        names = pd.Series(UNKNOWN_DISTRICT, index=units.index, dtype=object)
    return names.astype(str).to_numpy()


def district_metrics(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    standards: Standards,
    column_prefix: str = "proposed",
    costs: pd.DataFrame | None = None,
    school_table: pd.DataFrame | None = None,
    year: int | None = None,
    plan_for: str | None = None,
) -> pd.DataFrame:
    """Return per-district and overall metrics of one state: seats per 1,000 residents, classes, walks.

    Parameters
    ----------
    schools
        Schools indexed by ``school_id``.
    units
        Demand units with ``population``, demand per level, ``district`` and ``<column_prefix>_<level>``.
    standards
        Policy values (``seats_per_1000``, class sizes, radii).
    column_prefix
        ``"current"`` or ``"proposed"``.
    costs
        Travel costs for the walk statistics.
    school_table
        The output of :func:`school_metrics` for the same state, if already computed.
    year, plan_for
        The design year and how demand was chosen (see :func:`design_population`); ``plan_for=None``
        infers them from the units' columns.

    Returns
    -------
    pandas.DataFrame
        One row per district and level, plus a ``district == "(all)"`` row per level:
        ``state, district, level, year`` (the design year; missing for the base year or a per-unit
        maximum), ``population`` (residents of that year), ``demand, pupils_served, seats`` and
        the :func:`seat_figures` (``seats_per_1000, standard_per_1000, standard_seats, seat_shortfall``
        (seats below the per-1,000 standard), ``seats_below_demand``), then ``n_schools,
        schools_over_capacity, over_capacity`` (overflow: pupils above standard capacity), ``classes_needed,
        classes_available, large_classes, super_large_classes, walk_mean_m, walk_p95_m,
        share_within_radius``.
    """
    state = _check_prefix(column_prefix)
    require_columns(units, ["population"], name="units")
    table = (
        school_table
        if school_table is not None
        else school_metrics(schools, units, standards=standards, column_prefix=state, costs=costs)
    )
    residents, design_year = design_population(units, year=year, plan_for=plan_for)
    unit_district = _unit_districts(units)
    rows = []
    for level in LEVELS:
        col = f"{state}_{level}"
        if col not in units.columns:
            continue
        school = assigned_schools(units, level=level, column=col).to_numpy(dtype=object)
        served = np.array([s is not None for s in school])
        demand = units[level].to_numpy(dtype=float)
        dist = np.full(len(units), np.nan)
        if served.any():
            dist[served] = walk_distances(units.index.to_numpy()[served], school[served], costs)
        seated = np.where(served, seated_pupils(units, level=level, column=col), 0.0)
        sch = table[table["level"] == level]
        for name in [*sorted(set(unit_district) | set(sch["district"])), ALL]:
            in_u = np.ones(len(units), bool) if name == ALL else unit_district == name
            in_s = sch if name == ALL else sch[sch["district"] == name]
            row = {"state": state, "district": name, "level": level, "year": design_year}
            row.update(_district_row(residents, in_u, demand, seated, dist, in_s, level, standards))
            rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["year"] = frame["year"].astype("Int64")
    return frame


def _district_row(
    residents: np.ndarray,
    in_u: np.ndarray,
    demand: np.ndarray,
    seated: np.ndarray,
    dist: np.ndarray,
    sch: pd.DataFrame,
    level: str,
    standards: Standards,
) -> dict[str, Any]:
    population = float(residents[in_u].sum())
    seats = float(sch["capacity"].sum())
    row: dict[str, Any] = {
        "population": population,
        "demand": float(demand[in_u].sum()),
        "pupils_served": float(seated[in_u].sum()),
        "seats": seats,
    }
    row.update(seat_figures(population, row["demand"], seats, float(standards.seats_per_1000[level])))
    row.update(
        {
            "n_schools": len(sch),
            "schools_over_capacity": int((sch["over_capacity"] > 1e-9).sum()),
            "over_capacity": float(sch["over_capacity"].sum()),
            "classes_needed": int(sch["classes_needed"].sum()),
            "classes_available": int(sch["classes_available"].sum()),
            "large_classes": int(sch["large_classes"].sum()),
            "super_large_classes": int(sch["super_large_classes"].sum()),
        }
    )
    served = in_u & (seated > 0)
    row.update(walk_stats(dist[served], seated[served], float(standards.service_radius_m[level])))
    return row


def district_years(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    standards: Standards,
    column_prefix: str = "proposed",
    school_table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return seats per 1,000 residents and shortfall per district, level and planning year, for one state.

    The seats are the state's (today's, or the plan's once built); residents and demand are each year's
    (``population_<year>``, ``<level>_<year>``), so a district whose seats fall behind its growth shows
    the year it does.

    Parameters
    ----------
    schools
        Schools indexed by ``school_id``.
    units
        Demand units with ``district`` and per-year columns.
    standards
        Policy values (``seats_per_1000``).
    column_prefix
        ``"current"`` or ``"proposed"``.
    school_table
        The output of :func:`school_metrics` for the same state, if already computed.

    Returns
    -------
    pandas.DataFrame
        ``state, district, level, year, population, demand, seats`` and the :func:`seat_figures`, one row
        per district (and ``"(all)"``), level and year; empty (with these columns) when the units carry
        no years. ``demand`` is missing for a year without ``<level>_<year>``.
    """
    state = _check_prefix(column_prefix)
    years = planning_years(units)
    if not years:
        return pd.DataFrame(columns=[*YEAR_COLUMNS, *SEAT_FIGURES])
    table = (
        school_table
        if school_table is not None
        else school_metrics(schools, units, standards=standards, column_prefix=state)
    )
    unit_district = _unit_districts(units)
    rows = []
    for level in LEVELS:
        sch = table[table["level"] == level]
        seats = sch.groupby("district")["capacity"].sum()
        standard = float(standards.seats_per_1000[level])
        for year in years:
            residents = units[f"population_{year}"].to_numpy(dtype=float)
            demand = units[f"{level}_{year}"].to_numpy(dtype=float) if f"{level}_{year}" in units else None
            for name in [*sorted(set(unit_district) | set(sch["district"])), ALL]:
                in_u = np.ones(len(units), bool) if name == ALL else unit_district == name
                row = {"state": state, "district": name, "level": level, "year": year}
                row["population"] = float(residents[in_u].sum())
                row["demand"] = float(demand[in_u].sum()) if demand is not None else math.nan
                row["seats"] = float(seats.sum() if name == ALL else seats.get(name, 0.0))
                row.update(seat_figures(row["population"], row["demand"], row["seats"], standard))
                rows.append(row)
    return pd.DataFrame(rows, columns=[*YEAR_COLUMNS, *SEAT_FIGURES])
