"""Today's catchments: the school each demand unit is assigned to now."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from siting._crs import require_crs
from siting._log import get_logger
from siting.errors import InputError
from siting.standards import LEVELS

log = get_logger(__name__)


def assign_current(
    units: gpd.GeoDataFrame,
    catchments: gpd.GeoDataFrame,
    *,
    level: str,
    id_field: str = "school_id",
    name: str = "catchments",
) -> gpd.GeoDataFrame:
    """Add ``current_<level>``: the school whose current catchment holds each unit's population point.

    Parameters
    ----------
    units
        Demand units with ``pop_x``, ``pop_y`` (study CRS).
    catchments
        Polygons with ``id_field``, any CRS (re-projected to the units' CRS).
    level
        ``"primary"`` or ``"junior"``.
    id_field
        Field holding the school id (or the catchments' index when it is named so).
    name
        What to call the catchment layer in messages (usually its file).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``current_<level>`` (str; missing outside every catchment, counted in a log warning).
    """
    if level not in LEVELS:
        raise InputError(f"{name}: unknown level {level!r}; levels are {list(LEVELS)}.")
    unit_crs = require_crs(units, name="units")
    cat_crs = require_crs(catchments, name=name)
    if id_field not in catchments.columns:
        if catchments.index.name == id_field:
            catchments = catchments.reset_index()
        else:
            cols = [c for c in catchments.columns if c != catchments.geometry.name]
            raise InputError(f"{name}: no field {id_field!r} naming the school; the fields are {cols}.")
    if catchments[id_field].isna().any():
        raise InputError(f"{name}: {int(catchments[id_field].isna().sum())} polygon(s) have no {id_field}.")
    polys = gpd.GeoDataFrame(
        {"_sid": catchments[id_field].astype("str").to_numpy()},
        geometry=catchments.geometry.make_valid().to_numpy(),
        crs=cat_crs,
    )
    if not cat_crs.equals(unit_crs):
        polys = polys.to_crs(unit_crs)
    points = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(units["pop_x"], units["pop_y"]), index=units.index, crs=unit_crs
    )
    hit = gpd.sjoin(points, polys, how="inner", predicate="within")
    overlap = hit.index.duplicated(keep=False)
    if overlap.any():
        log.warning(
            "%s: %d unit(s) fall in more than one %s catchment (overlapping polygons); the first is used.",
            name,
            len(set(hit.index[overlap])),
            level,
        )
    hit = hit[~hit.index.duplicated(keep="first")]
    col = pd.Series(pd.NA, index=units.index, dtype="str")
    col.loc[hit.index] = hit["_sid"].astype("str")
    outside = int(col.isna().sum())
    if outside:
        log.warning(
            "%s: %d of %d demand unit(s) lie in no current %s catchment.", name, outside, len(units), level
        )
    out = units.copy()
    out[f"current_{level}"] = col
    return out
