"""Reserved parcels near each search area and why none answers it (step 4 of :mod:`siting.search_areas`)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from siting._crs import same_crs
from siting.catchments import require_columns
from siting.errors import InputError, describe
from siting.facilities import size_options
from siting.search_areas._checks import check_projected as _check_projected
from siting.search_areas._modules import module_options as _module_options
from siting.standards import LEVELS_SERVED, SCHOOL_KINDS, Standards

PARCEL_COLUMNS: tuple[str, ...] = (
    "area_id",
    "school_id",
    "kind",
    "area_m2",
    "distance_m",
    "serves_level",
    "smallest_land_m2",
    "max_seats",
    "reason",
)
"""Columns of :func:`search_area_parcels`: one row per area and reserved parcel near it."""
_OPT_FIX = "Pass facilities.size_options(...) for the sites, or leave options unset to compute it."


def search_area_parcels(
    areas: gpd.GeoDataFrame,
    schools: pd.DataFrame,
    sites: gpd.GeoDataFrame,
    *,
    standards: Standards,
    options: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the reserved parcels near each search area that the plan did not open, with the reasons.

    Parameters
    ----------
    areas
        Output of :func:`search_areas` (``area_id, level, suggested_classes, suggested_seats, centre_x,
        centre_y``, polygons).
    schools
        Schools after the plan (``opened`` says which parcels the plan opened).
    sites
        Reserved parcels, as for :func:`search_areas`.
    standards
        Service radii (m), class modules, caps and land per pupil.
    options
        Size options (:func:`siting.facilities.size_options`); default: computed from ``sites``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PARCEL_COLUMNS`: ``distance_m`` from the area's centre to the parcel (0 inside it),
        ``serves_level`` whether the parcel's kind serves the area's level, ``smallest_land_m2`` the land
        of the smallest module of its kind, ``max_seats`` the most seats at the area's level its options
        give (0: none), and ``reason`` in words and numbers. Sorted by ``area_id`` then distance.
    """
    parcels = _check_sites(sites, areas.crs, schools)
    if options is None:  # the sizes the model was offered for each parcel
        options = size_options(
            pd.DataFrame(parcels.drop(columns="geometry")), standards, allow_expansion=False
        )
    require_columns(
        options, ["school_id", "capacity_primary", "capacity_junior"], name="options", fix=_OPT_FIX
    )
    closed = parcels[~parcels["opened"]]
    smallest = {
        (kind, flag): _module_options(kind, standards, central=flag).iloc[0]
        for kind, flag in zip(closed["level"], closed["central"], strict=True)
    }
    rows = []
    for area in areas.itertuples():
        radius = float(standards.service_radius_m[area.level])
        near = closed.sindex.query(area.geometry, predicate="dwithin", distance=radius)
        centre = shapely.Point(area.centre_x, area.centre_y)
        for pos in near:
            sid = str(closed.index[pos])
            parcel = closed.loc[sid]
            module = smallest[(parcel["level"], bool(parcel["central"]))]
            rows.append(_parcel_row(area, sid, parcel, centre, options, module, standards))
    out = pd.DataFrame(rows, columns=list(PARCEL_COLUMNS))
    return out.sort_values(["area_id", "distance_m", "school_id"], ignore_index=True)


def _check_sites(sites: gpd.GeoDataFrame, crs: CRS, schools: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return the parcels with ``level``, ``area_m2``, ``central``, ``opened`` and ``available_from``."""
    fix = "Pass the reserved parcels (RunResult.sites) with the school kind in 'level'."
    _check_projected(sites, "sites")
    same_crs(sites.crs, crs, name_a="sites", name_b="units")
    require_columns(sites, ["level"], name="sites", fix=fix)
    bad = ~sites["level"].isin(SCHOOL_KINDS)
    if bad.any():
        sid = sites.index[bad][0]
        value = describe(sites.at[sid, "level"])
        raise InputError(f"sites: parcel {sid!r} has level {value}; use one of {list(SCHOOL_KINDS)}.")
    if not sites.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        sid = sites.index[~sites.geom_type.isin(["Polygon", "MultiPolygon"])][0]
        raise InputError(f"sites: parcel {sid!r} is a {sites.geometry[sid].geom_type}; parcels are polygons.")
    require_columns(
        schools, ["opened"], name="schools", fix="Pass the schools after the plan (RunResult.schools)."
    )
    index = sites.index.astype(str)
    out = gpd.GeoDataFrame(
        {"level": sites["level"].to_numpy()}, geometry=sites.geometry.to_numpy(), index=index
    )
    given = pd.to_numeric(sites.get("area_m2", pd.Series(np.nan, index=sites.index)), errors="coerce")
    out["area_m2"] = np.where(given.isna(), sites.geometry.area, given).astype(float)
    out["central"] = (
        sites.get("central", pd.Series(False, index=sites.index)).fillna(False).astype(bool).to_numpy()
    )
    out["available_from"] = sites.get("available_from", pd.Series(pd.NA, index=sites.index)).to_numpy()
    out["opened"] = schools["opened"].rename(index=str).reindex(index).fillna(False).astype(bool).to_numpy()
    out["status"] = "site"
    return out.set_crs(sites.crs)


# --------------------------------------------------------------------------------------------- step 4
def _parcel_row(
    area: Any,
    sid: str,
    parcel: pd.Series,
    centre: shapely.Point,
    options: pd.DataFrame,
    smallest: pd.Series,
    standards: Standards,
) -> dict[str, object]:
    """Return one parcel near one area, with the reasons it does not already answer the area's need."""
    level, kind = str(area.level), str(parcel["level"])
    radius = float(standards.service_radius_m[level])
    distance = float(parcel.geometry.distance(centre))
    serves = level in LEVELS_SERVED[kind]
    own = options[options["school_id"].astype(str) == sid]
    max_seats = int(own[f"capacity_{level}"].max()) if len(own) else 0
    area_m2 = float(parcel["area_m2"])
    reasons = []
    if not serves:
        reasons.append(f"not reserved for this level (reserved for a {kind.replace('_', '-')} school)")
    if distance > radius:
        reasons.append(f"beyond the service radius ({distance:,.0f} m from the centre > {radius:,.0f} m)")
    if own.empty and area_m2 + 1e-6 < smallest["land_m2"]:
        cp, cj = int(smallest["classes_primary"]), int(smallest["classes_junior"])
        label = str(smallest["option"]) if cp and cj else f"{cp or cj}-class"  # 24P+12J or 24-class
        need = f"{smallest['land_m2']:,.0f} m² needed for the smallest {label} module"
        reasons.append(f"too small: {area_m2:,.0f} m² < {need}")
    elif own.empty:
        reasons.append("no size option in the options table")
    if not reasons:  # the plan could have opened it
        reasons.append("not opened: budget/number of new schools")
        size, need_seats = standards.class_size[level], int(area.suggested_seats)
        if max_seats < need_seats:
            reasons[0] += (
                f" (hosts at most {max_seats // size} classes, {max_seats:,} seats, "
                f"of the {need_seats // size} classes needed)"
            )
    if pd.notna(parcel["available_from"]):
        reasons.append(f"available from {int(parcel['available_from'])}")
    return {
        "area_id": area.area_id,
        "school_id": sid,
        "kind": kind,
        "area_m2": area_m2,
        "distance_m": distance,
        "serves_level": serves,
        "smallest_land_m2": float(smallest["land_m2"]),
        "max_seats": max_seats,
        "reason": "; ".join(reasons),
    }


def parcel_text(parcels: pd.DataFrame, area: Any, standards: Standards) -> str:
    """Return the ``nearby_parcels`` text of one area."""
    own = parcels[parcels["area_id"] == area.area_id]
    if own.empty:
        radius = float(standards.service_radius_m[str(area.level)])
        return f"no unopened reserved parcel within {radius:,.0f} m"
    return " | ".join(f"{sid}: {reason}" for sid, reason in zip(own["school_id"], own["reason"], strict=True))
