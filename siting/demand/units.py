"""Demand units from a population raster (grid or polygons), the clipped raster sum, residents on units."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS, Transformer

from siting._crs import require_crs
from siting._log import get_logger
from siting.demand._raster import RasterWindow, iter_strips
from siting.demand.allocate import _allocate_grid, _allocate_polygons, _subsamples, grid_row_col
from siting.demand.area import BBox, PathLike, _densified, _study_area, _study_crs, _StudyArea, _to_crs
from siting.demand.window import _bad_cell_notes, _coverage_warning, _open_window, _resolution_m
from siting.errors import InputError, describe

log = get_logger(__name__)


def _tag_districts(units: gpd.GeoDataFrame, sa: _StudyArea, crs: CRS, max_distance: float) -> pd.Series:
    """District of each unit's population point; nearest district within ``max_distance`` m if outside all."""
    out = pd.Series(pd.NA, index=units.index, dtype="str", name="district")
    if sa.districts is None or len(units) == 0:
        return out
    districts = sa.districts.to_crs(crs)
    points = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(units["pop_x"], units["pop_y"]), index=units.index, crs=crs
    )
    hit = gpd.sjoin(points, districts, how="inner", predicate="within")
    hit = hit[~hit.index.duplicated(keep="first")]
    out.loc[hit.index] = hit["district"].astype("str")
    missing = out.isna()
    if missing.any():
        near = gpd.sjoin_nearest(points[missing], districts, how="inner", max_distance=max_distance)
        near = near[~near.index.duplicated(keep="first")]
        out.loc[near.index] = near["district"].astype("str")
    left = int(out.isna().sum())
    if left:
        log.warning("%d demand unit(s) lie in no district (field %r); district left missing.", left, sa.field)
    return out


def _build_units(
    raster: PathLike,
    *,
    area: gpd.GeoDataFrame | BBox | None,
    area_crs: CRS | str | None,
    cell_size_m: float,
    units: gpd.GeoDataFrame | None,
    crs: CRS | str | None,
    band: int | None,
    district_field: str | None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Do the work of :func:`units_from_raster`; also return the build facts for :func:`demand_report`."""
    path = Path(raster)
    _check_build_inputs(path, cell_size_m, units)
    sa = _study_area(area, area_crs, district_field, units)
    study = _study_crs(crs, sa)
    notes: list[str] = []
    with rasterio.open(path) as src:
        rw = _open_window(src, path, band, sa)
        to_study = Transformer.from_crs(rw.crs, study, always_xy=True)
        res_m = _resolution_m(rw, to_study)
        _coverage_warning(src, rw, notes)
        facts = _window_facts(path, rw, study, res_m)
        if units is None:
            out, clip_sum, method = _grid_units(
                src, rw, to_study, study=study, cell_size_m=cell_size_m, res_m=res_m, path=path, notes=notes
            )
        else:
            out, clip_sum, method = _polygon_units(
                src, rw, to_study, study=study, units=units, sa=sa, notes=notes
            )
        facts.update(method)
        _bad_cell_notes(rw, notes)
    if units is None:
        out = _clip_cells(out, _to_crs(sa.geom, sa.crs, study))
    out = _finish_units(out, clip_sum, sa, study, cell_size_m=cell_size_m, path=path)
    units_sum = float(out["population"].sum())
    facts.update(
        {
            "raster_sum": clip_sum,
            "units_sum": units_sum,
            "relative_error": abs(units_sum - clip_sum) / clip_sum if clip_sum else 0.0,
            "n_units": len(out),
            "bad_cells": rw.bad.as_dict(),
            "notes": notes,
        }
    )
    return out, facts


def _check_build_inputs(path: Path, cell_size_m: float, units: gpd.GeoDataFrame | None) -> None:
    """Raise InputError for a missing raster, a bad cell size (m) or ``units`` that are not a GeoDataFrame."""
    if not path.exists():
        raise InputError(
            f"population raster {path} does not exist; check the path (scenario: population.raster)."
        )
    if not (isinstance(cell_size_m, int | float) and math.isfinite(cell_size_m) and cell_size_m > 0):
        raise InputError(f"cell_size_m must be a positive number of metres, got {describe(cell_size_m)}.")
    if units is not None and not isinstance(units, gpd.GeoDataFrame):
        raise InputError(f"units must be a GeoDataFrame of polygons, got {type(units).__name__}.")


def _window_facts(path: Path, rw: RasterWindow, study: CRS, res_m: float) -> dict[str, Any]:
    """The build facts known once the window is open: file, band, both CRSs, window, resolution (m)."""
    return {
        "raster": str(path),
        "band": rw.band,
        "raster_crs": rw.crs.to_string(),
        "crs": study.to_string(),
        "window": {
            "col_off": int(rw.window.col_off),
            "row_off": int(rw.window.row_off),
            "width": rw.shape[1],
            "height": rw.shape[0],
        },
        "raster_resolution_m": res_m,
    }


def _grid_units(
    src: rasterio.io.DatasetReader,
    rw: RasterWindow,
    to_study: Transformer,
    *,
    study: CRS,
    cell_size_m: float,
    res_m: float,
    path: Path,
    notes: list[str],
) -> tuple[gpd.GeoDataFrame, float, dict[str, Any]]:
    """Grid units of side ``cell_size_m`` (m) by sub-cell sampling.

    Parameters
    ----------
    src, rw, to_study
        The open raster, its window over the study area, and the transformer to the study CRS.
    study
        The study CRS.
    cell_size_m
        Side of the grid units (m).
    res_m
        Approximate raster resolution in the study CRS (m); a smaller ``cell_size_m`` is noted.
    path
        The raster file, for messages.
    notes
        Warnings for the report, appended to.

    Returns
    -------
    tuple
        ``(units, clip_sum, method_facts)``: units with ``population``, ``pop_x``, ``pop_y`` and geometry
        (empty units included), the clipped raster sum, and the method's build facts.
    """
    if cell_size_m < res_m * 0.999:
        msg = (
            f"{path}: cell size {cell_size_m:g} m is below the raster's resolution "
            f"(about {res_m:.0f} m); each raster cell's residents are spread evenly over the "
            "smaller units, which adds no detail. "
            f"Consider --cell-size {math.ceil(res_m)} or more."
        )
        log.warning(msg)
        notes.append(msg)
    k = _subsamples(res_m, cell_size_m)
    table, clip_sum = _allocate_grid(src, rw, to_study, float(cell_size_m), k)
    rows, cols = grid_row_col(table.index.to_numpy())
    geometry = shapely.box(
        cols * cell_size_m, rows * cell_size_m, (cols + 1) * cell_size_m, (rows + 1) * cell_size_m
    )
    out = gpd.GeoDataFrame(
        {"population": table["population"].to_numpy()},
        geometry=geometry,
        index=pd.Index(table.index.to_numpy(dtype="int64"), name="unit_id"),
        crs=study,
    )
    pop = out["population"].to_numpy()
    out["pop_x"] = table["mx"].to_numpy() / pop
    out["pop_y"] = table["my"].to_numpy() / pop
    return out, clip_sum, {"method": "grid-subsample", "cell_size_m": float(cell_size_m), "subsamples": k}


def _polygon_units(
    src: rasterio.io.DatasetReader,
    rw: RasterWindow,
    to_study: Transformer,
    *,
    study: CRS,
    units: gpd.GeoDataFrame,
    sa: _StudyArea,
    notes: list[str],
) -> tuple[gpd.GeoDataFrame, float, dict[str, Any]]:
    """The given unit polygons, clipped to the study area, with residents by exact area weighting.

    Parameters
    ----------
    src, rw, to_study, study
        As in :func:`_grid_units`.
    units
        Unit polygons with unique ids (any CRS).
    sa
        The study area.
    notes
        Warnings for the report, appended to (residents outside every unit).

    Returns
    -------
    tuple
        ``(units, clip_sum, method_facts)`` as in :func:`_grid_units`; ``outside_units`` in the facts
        counts residents no unit covers.
    """
    require_crs(units, name="units")
    if not units.index.is_unique:
        dup = units.index[units.index.duplicated()][:5].tolist()
        raise InputError(f"units: the index must be unique unit ids; repeated: {dup}.")
    bad = ~units.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if bad.any():
        raise InputError(
            f"units: {int(bad.sum())} feature(s) are not polygons (ids {units.index[bad][:5].tolist()})."
        )
    geoms = _densified(units.geometry.make_valid()).to_crs(study).to_numpy()
    area_study = _to_crs(sa.geom, sa.crs, study)
    shapely.prepare(area_study)
    within = shapely.within(geoms, area_study)
    clipped = geoms.copy()
    clipped[~within] = shapely.intersection(geoms[~within], area_study)
    mass, mx, my, clip_sum = _allocate_polygons(src, rw, to_study, clipped)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = gpd.GeoDataFrame(
            {"population": mass, "pop_x": mx / mass, "pop_y": my / mass},
            geometry=geoms,
            index=units.index.rename("unit_id"),
            crs=study,
        )
    uncovered = clip_sum - float(mass.sum())
    if clip_sum > 0 and uncovered / clip_sum > 1e-3:
        msg = (
            f"units: {uncovered:,.0f} residents ({uncovered / clip_sum:.2%}) of the study area lie "
            "outside every unit polygon and are not counted."
        )
        log.warning(msg)
        notes.append(msg)
    return out, clip_sum, {"method": "polygon-exact", "outside_units": uncovered}


def _clip_cells(out: gpd.GeoDataFrame, area: shapely.Geometry) -> gpd.GeoDataFrame:
    """Cut grid cells that cross the study area's edge to the part inside (study CRS).

    Their residents are already those of the part inside (:mod:`siting.demand.allocate`); the drawn
    cell and the catchments dissolved from it then stop at the boundary instead of reaching past it.
    A cell whose inside part is not polygonal (it touches the area only along a line) keeps its square.
    """
    geoms = out.geometry.to_numpy()
    shapely.prepare(area)
    edge = ~shapely.contains(area, geoms)
    if not edge.any():
        return out
    cut = shapely.intersection(geoms[edge], area)
    polygonal = np.isin(shapely.get_type_id(cut), [3, 6]) & ~shapely.is_empty(cut)  # Polygon, MultiPolygon
    keep = geoms[edge]
    keep[polygonal] = cut[polygonal]
    geoms = geoms.copy()
    geoms[edge] = keep
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))


def _finish_units(
    out: gpd.GeoDataFrame, clip_sum: float, sa: _StudyArea, study: CRS, *, cell_size_m: float, path: Path
) -> gpd.GeoDataFrame:
    """Drop units without residents, tag districts (nearest within ``cell_size_m`` m), order the columns."""
    empty = ~(out["population"] > 0)
    if empty.any():
        log.info("dropped %d demand unit(s) without residents", int(empty.sum()))
        out = out.loc[~empty]
    if len(out) == 0:
        raise InputError(
            f"{path}: the raster's cells inside the study area hold no residents (sum {clip_sum:g}); "
            "check the band and the area."
        )
    out["district"] = _tag_districts(out, sa, study, max_distance=float(cell_size_m))
    return out[["population", "pop_x", "pop_y", "district", "geometry"]]


def units_from_raster(
    raster: PathLike,
    *,
    area: gpd.GeoDataFrame | BBox | None = None,
    area_crs: CRS | str | None = None,
    cell_size_m: float = 200.0,
    units: gpd.GeoDataFrame | None = None,
    crs: CRS | str | None = None,
    band: int | None = None,
    district_field: str | None = "name",
) -> gpd.GeoDataFrame:
    """Build demand units from a population-count raster, conserving the study area's residents.

    Only the window of the raster that covers the study area is read, in strips of rows, so a
    country-sized file is never loaded whole. See :mod:`siting.demand.allocate` for the method.

    Parameters
    ----------
    raster
        Single-band (or ``band``-chosen) population-count GeoTIFF in any CRS.
    area
        Study area: polygons (e.g. districts, any CRS) or a bbox ``(left, bottom, right, top)`` in
        ``area_crs``. None means the union of ``units``.
    area_crs
        CRS of a bbox ``area``; default EPSG:4326. Ignored for polygons (they carry their CRS).
    cell_size_m
        Side of the grid units, metres (ignored when ``units`` is given).
    units
        Optional polygons (residential blocks) to use instead of the grid; their index becomes ``unit_id``.
    crs
        Projected study CRS of the output; default the UTM zone of the study area.
    band
        1-based band to read; required when the file has several bands.
    district_field
        Field of ``area`` polygons naming the district each unit is tagged with; None for no districts.

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``unit_id``; columns ``population`` (residents), ``pop_x``, ``pop_y`` (population-weighted
        point, study CRS, m), ``district`` (str or missing), ``geometry``. Units without residents are
        dropped.

    Raises
    ------
    InputError
        Missing file, several bands and no choice, area not overlapping the raster, all cells nodata.
    CRSError
        Raster or layer without a CRS, or a geographic ``crs``.
    """
    out, _ = _build_units(
        raster,
        area=area,
        area_crs=area_crs,
        cell_size_m=cell_size_m,
        units=units,
        crs=crs,
        band=band,
        district_field=district_field,
    )
    return out


def clipped_raster_sum(
    raster: PathLike,
    *,
    area: gpd.GeoDataFrame | BBox | None = None,
    area_crs: CRS | str | None = None,
    band: int | None = None,
) -> float:
    """Return the residents of the raster inside the study area: ``Σ value × fraction of cell inside``.

    This is the reference total that :func:`units_from_raster` conserves. Nodata, NaN and negative cells
    count as 0.

    Parameters
    ----------
    raster
        Population-count GeoTIFF.
    area
        Polygons or a bbox ``(left, bottom, right, top)`` in ``area_crs`` (default EPSG:4326).
    area_crs
        CRS of a bbox ``area``.
    band
        1-based band; required for multi-band files.

    Returns
    -------
    float
        Residents.
    """
    path = Path(raster)
    sa = _study_area(area, area_crs, None, None)
    total = 0.0
    with rasterio.open(path) as src:
        rw = _open_window(src, path, band, sa)
        for strip in iter_strips(src, rw, max_cells=1_000_000):
            total += float((strip.values * strip.fraction).sum())
    return total


def _residents_on_units(raster: PathLike, units: gpd.GeoDataFrame, *, band: int | None) -> np.ndarray:
    """Residents of ``raster`` on each unit polygon by exact area weighting (array aligned with ``units``)."""
    path = Path(raster)
    if not path.exists():
        raise InputError(f"raster {path} does not exist.")
    crs = require_crs(units, name="units")
    geoms = units.geometry.to_numpy()
    sa = _StudyArea(shapely.union_all(shapely.envelope(geoms)), crs, None, None, "units")
    with rasterio.open(path) as src:
        rw = _open_window(src, path, band, sa)
        to_units = Transformer.from_crs(rw.crs, crs, always_xy=True)
        mass, _, _, _ = _allocate_polygons(src, rw, to_units, geoms)
        notes: list[str] = []
        _bad_cell_notes(rw, notes)
    return mass
