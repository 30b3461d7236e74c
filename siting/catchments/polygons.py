"""Catchment polygons: unit polygons made valid, then dissolved into one polygon per school and level.

Grid cells share edges exactly and dissolve by a coverage union; user polygons that do not form a clean
coverage are snapped to a 1 cm grid first (:data:`_PRECISION_M`), and each catchment is cut by the ones
before it so that catchments of one level never overlap.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting._log import get_logger
from siting.catchments.assign import assigned_schools, levels_from, require_columns, seated_pupils

logger = get_logger(__name__)

CATCHMENT_COLUMNS: tuple[str, ...] = ("level", "school_id", "population", "pupils", "n_units", "n_parts")
"""Columns of a catchment table (plus ``geometry``)."""

_PRECISION_M = 0.01  # snapping grid for user polygons that do not form a clean coverage (1 cm)


def _clean_geometries(geoms: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return valid polygonal geometries and whether they form a clean coverage (no overlaps)."""
    geoms = np.asarray(geoms, dtype=object)
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        logger.info("made %d invalid unit polygon(s) valid", int(bad.sum()))
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    clean = bool(shapely.coverage_is_valid(geoms))
    if not clean:
        geoms = shapely.set_precision(geoms, _PRECISION_M)
    return geoms, clean


def catchments_from_assignment(
    units: gpd.GeoDataFrame, *, level: str | Iterable[str], column: str | None = None
) -> gpd.GeoDataFrame:
    """Dissolve units into one catchment polygon per school and level.

    Grid cells share edges exactly, so their union is exact (a coverage union, no slivers and no gaps
    between neighbouring catchments). User polygons that overlap or do not meet cleanly are made valid,
    snapped to a 1 cm grid and each catchment is cut by the ones before it (in ``school_id`` order), so
    catchments of one level never overlap; the overlapping area is logged.

    Parameters
    ----------
    units
        Demand units (index ``unit_id``) with polygons, ``population``, the demand column per level and the
        assignment column.
    level
        ``"primary"``, ``"junior"``, ``"both"`` or a sequence of levels.
    column
        Assignment column; default ``proposed_<level>``. With several levels, use ``None`` or a name with
        ``{level}`` in it (``"current_{level}"``).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``level, school_id, population, pupils, n_units, n_parts, geometry`` (``n_parts`` = number
        of polygon pieces), one row per school that serves at least one unit, sorted by level and school;
        CRS of ``units``. Unserved units are in no catchment.
    """
    require_columns(units, ["population"], name="units", fix="Build units with demand.units_from_raster.")
    frames = []
    geoms_all, clean = _clean_geometries(units.geometry.to_numpy())
    for lv in levels_from(level):
        col = column.format(level=lv) if column else None
        frame = _level_catchments(units, geoms_all, clean, lv, col)
        if frame is not None:
            frames.append(frame)
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in CATCHMENT_COLUMNS})
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=units.crs), crs=units.crs)
    out = pd.concat(frames, ignore_index=True)
    out["school_id"] = out["school_id"].astype(str)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=units.crs)


def _level_catchments(
    units: gpd.GeoDataFrame, geoms_all: np.ndarray, clean: bool, lv: str, col: str | None
) -> pd.DataFrame | None:
    """Return the catchment rows of one level, one per school in ``school_id`` order.

    Parameters
    ----------
    units
        Demand units with ``population``, the demand column and the assignment column.
    geoms_all
        The units' polygons after :func:`_clean_geometries`, in ``units`` order.
    clean
        Whether those polygons form a clean coverage (then a coverage union dissolves them).
    lv
        ``"primary"`` or ``"junior"``.
    col
        Assignment column; ``None`` means ``proposed_<lv>``.

    Returns
    -------
    pandas.DataFrame or None
        The columns of :data:`CATCHMENT_COLUMNS` plus ``geometry``; ``None`` when no unit is served.
    """
    school = assigned_schools(units, level=lv, column=col)
    served = school.notna().to_numpy()
    if not served.any():
        return None
    table = pd.DataFrame(
        {
            "school_id": school.to_numpy()[served],
            "population": units["population"].to_numpy(dtype=float)[served],
            "pupils": seated_pupils(units, level=lv, column=col)[served],
            "pos": np.flatnonzero(served),
        }
    )
    rows = []
    taken = None
    for sid, grp in table.groupby("school_id", sort=True):
        geom, taken = _dissolve(geoms_all[grp["pos"].to_numpy()], clean, taken, lv, sid)
        rows.append(
            {
                "level": lv,
                "school_id": str(sid),
                "population": float(grp["population"].sum()),
                "pupils": float(grp["pupils"].sum()),
                "n_units": len(grp),
                "n_parts": int(shapely.get_num_geometries(geom)) if not geom.is_empty else 0,
                "geometry": geom,
            }
        )
    return pd.DataFrame(rows)


def _dissolve(
    parts: np.ndarray, clean: bool, taken: shapely.Geometry | None, lv: str, sid: object
) -> tuple[shapely.Geometry, shapely.Geometry | None]:
    """Return one school's catchment polygon and the area the level's catchments now cover.

    Parameters
    ----------
    parts
        The polygons of the school's units.
    clean
        Whether the units form a clean coverage: then the union is exact and ``taken`` is not used.
    taken
        Union of the earlier catchments of the level (snapped user polygons only), or ``None``.
    lv, sid
        Level and school, for the overlap warning.

    Returns
    -------
    tuple of (shapely.Geometry, shapely.Geometry or None)
        The polygonal catchment (collinear vertices dropped), and ``taken`` with this catchment added.
    """
    if clean:
        geom = shapely.coverage_union_all(parts)
    else:
        geom = shapely.union_all(parts, grid_size=_PRECISION_M)
        if taken is not None:
            overlap = shapely.area(shapely.intersection(geom, taken))
            if overlap > 0:
                logger.warning(
                    "%s catchment of %s overlaps earlier catchments by %.1f m² (overlapping unit "
                    "polygons); the overlap is kept in the earlier catchment",
                    lv,
                    sid,
                    overlap,
                )
                geom = shapely.difference(geom, taken, grid_size=_PRECISION_M)
        taken = geom if taken is None else shapely.union(taken, geom, grid_size=_PRECISION_M)
    return shapely.simplify(_polygonal(geom), 0.0), taken  # simplify(0) drops collinear vertices only


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygonal part of ``geom`` (drop stray lines and points left by a union)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()
