"""Checks of the search areas' inputs: projected layers, units, the overflow table."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from siting.catchments import require_columns
from siting.errors import CRSError, InputError, describe
from siting.standards import LEVELS

EPS = 1e-9
"""Pupils below this count as none."""
_UNITS_FIX = "Pass the units after the plan (RunResult.units), which carry pop_x/pop_y and proposed_<level>."


def check_projected(gdf: gpd.GeoDataFrame, name: str) -> CRS:
    """Return the CRS of ``gdf`` or raise when it is missing or not in metres."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{name}: expected a GeoDataFrame, got {type(gdf).__name__}.")
    if gdf.crs is None:
        raise CRSError(f"{name}: the layer has no CRS; set it with `{name}.set_crs(...)` (the study CRS).")
    crs = CRS.from_user_input(gdf.crs)
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in {"metre", "meter", "m"}:
        raise CRSError(
            f"{name}: CRS {crs.to_string()} is not a projected CRS in metres; search areas measure metres. "
            f"Re-project first, e.g. `{name}.to_crs('EPSG:32649')` (UTM 49N covers Foshan)."
        )
    return crs


def check_units(units: gpd.GeoDataFrame) -> None:
    check_projected(units, "units")
    require_columns(units, ["pop_x", "pop_y"], name="units", fix=_UNITS_FIX)
    if not units.index.is_unique:
        dup = units.index[units.index.duplicated()][0]
        raise InputError(f"units: unit_id {describe(dup)} appears more than once; the index must be unique.")
    for col in ["pop_x", "pop_y", *(lv for lv in LEVELS if lv in units.columns)]:
        values = pd.to_numeric(units[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | ((values < 0) & (col in LEVELS))
        if bad.any():
            uid = units.index[bad][0]
            what = "a population-weighted point in metres" if col in ("pop_x", "pop_y") else "seats >= 0"
            raise InputError(
                f"units: unit {describe(uid)} has {col} = {describe(units.at[uid, col])}; give {what}."
            )


def check_overflow(overflow: pd.DataFrame, schools: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return the rows with overflow > 0 as ``school_id`` (str), ``level``, ``overflow`` (float)."""
    fix = "Pass the model's table (SitingResult.overflow: school_id, level, capacity, pupils, overflow)."
    require_columns(overflow, ["school_id", "level", "overflow"], name="overflow", fix=fix)
    bad_level = ~overflow["level"].isin(LEVELS)
    if bad_level.any():
        value = overflow.loc[bad_level, "level"].iloc[0]
        raise InputError(f"overflow: level {describe(value)} is not one of {list(LEVELS)}.")
    values = pd.to_numeric(overflow["overflow"], errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float)) | (values < 0).to_numpy()
    if bad.any():
        row = overflow[bad].iloc[0]
        raise InputError(
            f"overflow: school {describe(row['school_id'])} ({row['level']}) has overflow = "
            f"{describe(row['overflow'])}; it must be a number of pupils >= 0."
        )
    table = pd.DataFrame(
        {"school_id": overflow["school_id"].astype(str), "level": overflow["level"], "overflow": values}
    )
    table = table[table["overflow"] > EPS]
    dup = table.duplicated(["school_id", "level"])
    if dup.any():
        row = table[dup].iloc[0]
        raise InputError(f"overflow: school {row['school_id']!r} has more than one {row['level']} row.")
    if not table.empty:
        check_projected(schools, "schools")
        unknown = ~table["school_id"].isin(schools.index.astype(str))
        if unknown.any():
            raise InputError(
                f"overflow: school_id {table.loc[unknown, 'school_id'].iloc[0]!r} is not in schools; "
                "pass the schools table of the same run (RunResult.schools)."
            )
    return table.reset_index(drop=True)
