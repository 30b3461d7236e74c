"""Per-district metrics of one state: seats per 1,000 residents, overflow, classes and walks, plus the total.

Seats count the schools located in a district (:func:`~siting.metrics.school_districts`); pupils count the
units living there.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.catchments import assigned_schools, require_columns, seated_pupils, walk_distances
from siting.metrics.schools import school_metrics
from siting.metrics.states import ALL, UNKNOWN_DISTRICT, _check_prefix
from siting.metrics.stats import walk_stats
from siting.standards import LEVELS, Standards


def district_metrics(
    schools: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    standards: Standards,
    column_prefix: str = "proposed",
    costs: pd.DataFrame | None = None,
    school_table: pd.DataFrame | None = None,
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

    Returns
    -------
    pandas.DataFrame
        One row per district and level, plus a ``district == "(all)"`` row per level:
        ``state, district, level, population, demand, pupils_served, seats, seats_per_1000,
        standard_per_1000, standard_seats, seat_shortfall`` (seats below the per-1,000 standard),
        ``n_schools, schools_over_capacity, over_capacity`` (overflow: pupils above standard capacity),
        ``classes_needed, classes_available, large_classes, super_large_classes, walk_mean_m,
        walk_p95_m, share_within_radius``. Seats count the schools located in the district; pupils count the
        units living there.
    """
    state = _check_prefix(column_prefix)
    require_columns(units, ["population"], name="units")
    table = (
        school_table
        if school_table is not None
        else school_metrics(schools, units, standards=standards, column_prefix=state, costs=costs)
    )
    if "district" in units.columns:
        unit_district = units["district"].astype(object).where(units["district"].notna(), UNKNOWN_DISTRICT)
    else:
        unit_district = pd.Series(UNKNOWN_DISTRICT, index=units.index, dtype=object)
    unit_district = unit_district.astype(str).to_numpy()
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
        sch = table[table["level"] == level]
        names = sorted(set(unit_district) | set(sch["district"]))
        for name in [*names, ALL]:
            in_u = np.ones(len(units), bool) if name == ALL else unit_district == name
            in_s = sch if name == ALL else sch[sch["district"] == name]
            seated = np.where(served, seated_pupils(units, level=level, column=col), 0.0)
            rows.append(_district_row(state, name, level, units, in_u, demand, seated, dist, in_s, standards))
    return pd.DataFrame(rows)


def _district_row(
    state: str,
    name: str,
    level: str,
    units: pd.DataFrame,
    in_u: np.ndarray,
    demand: np.ndarray,
    seated: np.ndarray,
    dist: np.ndarray,
    sch: pd.DataFrame,
    standards: Standards,
) -> dict[str, Any]:
    population = float(units["population"].to_numpy(dtype=float)[in_u].sum())
    seats = float(sch["capacity"].sum())
    per_1000 = float(standards.seats_per_1000[level])
    standard_seats = per_1000 * population / 1000.0
    row = {
        "state": state,
        "district": name,
        "level": level,
        "population": population,
        "demand": float(demand[in_u].sum()),
        "pupils_served": float(seated[in_u].sum()),
        "seats": seats,
        "seats_per_1000": seats / population * 1000.0 if population > 0 else math.nan,
        "standard_per_1000": per_1000,
        "standard_seats": standard_seats,
        "seat_shortfall": max(standard_seats - seats, 0.0),
        "n_schools": len(sch),
        "schools_over_capacity": int((sch["over_capacity"] > 1e-9).sum()),
        "over_capacity": float(sch["over_capacity"].sum()),
        "classes_needed": int(sch["classes_needed"].sum()),
        "classes_available": int(sch["classes_available"].sum()),
        "large_classes": int(sch["large_classes"].sum()),
        "super_large_classes": int(sch["super_large_classes"].sum()),
    }
    row.update(
        walk_stats(
            dist[in_u & (seated > 0)], seated[in_u & (seated > 0)], float(standards.service_radius_m[level])
        )
    )
    return row
