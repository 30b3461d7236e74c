"""Demand: population raster → demand units with seat demand per level and year.

A population-count GeoTIFF in any CRS (WorldPop in EPSG:4326, GHS-POP in Mollweide, a city's projected census
grid) is read only over the study area's window, in strips, and allocated to demand units in the study CRS:
a regular metric grid (default 200 m) or polygons the user supplies. Seat demand per level follows from the
residents (seats per 1,000) or from age-band rasters; per-year columns from growth rates or one raster
per year.

Conservation method
-------------------
1. **Clip.** Each raster cell's fraction ``f`` inside the study area is computed in the raster's own CRS,
   where cells are rectangles: 1 or 0 by the cell centre away from the boundary, and the exact
   ``area(cell ∩ area) / area(cell)`` (shapely) for every cell within one cell of the boundary. The
   *clipped raster sum* is ``Σ value × f`` (see :func:`clipped_raster_sum`).
2. **Grid units** (``method="grid-subsample"``). Each cell is split into ``k × k`` sub-cells (``k`` chosen so
   a sub-cell is at most 1/8 of the unit size, 2 ≤ k ≤ 64). The cell's corners are projected to the study
   CRS and sub-cell centres placed by bilinear interpolation inside the projected quadrilateral. Each
   sub-cell carries ``value × f / n_in`` (``n_in`` = sub-cells whose centre is inside the area; all ``k²``
   away from the boundary) and is binned to the grid cell holding its centre. Every sub-cell lands in
   exactly one unit, so the units' total equals the clipped raster sum up to floating-point rounding
   (measured relative error about 1e-15). Spatially, each resident is displaced at most half a sub-cell
   diagonal (``0.71 × resolution / k``, e.g. 18 m for 100 m cells and 200 m units) from where a uniform
   density inside the cell would put it.
3. **Polygon units** (``method="polygon-exact"``). Each cell's projected quadrilateral is intersected with
   the unit polygons (clipped to the study area) and the cell's residents are shared in proportion to the
   intersection areas: exact area weighting. Residents in parts of the area that no unit covers are
   reported (``outside_units``) and logged.

Grid unit ids are ``(row + 2**30) * 2**31 + (col + 2**30)`` with ``row = floor(y / cell)``,
``col = floor(x / cell)`` in the study CRS, whose origin (0, 0) anchors the grid: the same cell always gets
the same id for a given CRS and cell size (see :func:`grid_unit_id`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Transformer

from siting._crs import ensure_projected, require_crs, utm_crs_for
from siting._log import get_logger, progress
from siting._raster import RasterWindow, area_window, choose_band, iter_strips, raster_crs
from siting.errors import InputError, OutputExistsError, describe
from siting.standards import LEVELS, Standards

log = get_logger(__name__)

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

DEFAULT_AGES: Mapping[str, tuple[int, int]] = {"primary": (6, 11), "junior": (12, 14)}
"""Ages (first, last, inclusive) of each level: primary grades 1–6 at 6–11, junior grades 7–9 at 12–14."""

_GRID_OFFSET = 2**30
_MAX_SUBSAMPLES = 2_000_000  # sub-cells per strip: bounds memory at a few hundred MB
_MAX_POLY_CELLS = 200_000  # raster cells per strip in polygon allocation
_SUBSAMPLE_FACTOR = 8.0  # sub-cell side <= unit side / 8 (see the module docstring)

BBox = tuple[float, float, float, float]
PathLike = str | Path


# ---------------------------------------------------------------------------------------------- grid ids
def grid_unit_id(row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Return the int64 unit id of grid cells ``(row, col)`` (``row = floor(y / cell)``, same for x).

    Parameters
    ----------
    row, col
        Integer grid coordinates in the study CRS, ``|row|, |col| < 2**30``.

    Returns
    -------
    numpy.ndarray
        ``(row + 2**30) * 2**31 + (col + 2**30)`` as int64.
    """
    row = np.asarray(row, dtype="int64")
    col = np.asarray(col, dtype="int64")
    return (row + _GRID_OFFSET) * (2 * _GRID_OFFSET) + (col + _GRID_OFFSET)


def grid_row_col(unit_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`grid_unit_id`: return ``(row, col)`` of grid unit ids."""
    uid = np.asarray(unit_id, dtype="int64")
    return uid // (2 * _GRID_OFFSET) - _GRID_OFFSET, uid % (2 * _GRID_OFFSET) - _GRID_OFFSET


# ---------------------------------------------------------------------------------------------- study area
@dataclass
class _StudyArea:
    """The study area as one geometry in its own CRS, plus the district polygons if any."""

    geom: shapely.Geometry
    crs: CRS
    districts: gpd.GeoDataFrame | None
    field: str | None
    name: str


def _study_area(
    area: gpd.GeoDataFrame | gpd.GeoSeries | BBox | None,
    area_crs: CRS | str | None,
    district_field: str | None,
    units: gpd.GeoDataFrame | None,
) -> _StudyArea:
    if area is None:
        if units is None:
            raise InputError("demand: give the study area (`area=` polygons or a bbox) or `units=` polygons.")
        crs = require_crs(units, name="units")
        return _StudyArea(shapely.union_all(units.geometry.values), crs, None, None, "units")
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        crs = require_crs(area, name="area")
        geoms = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
        bad = ~geoms.geom_type.isin(["Polygon", "MultiPolygon"]) | geoms.is_empty
        if bad.any():
            raise InputError(
                f"area: {int(bad.sum())} feature(s) are not polygons (e.g. {describe(geoms[bad].iloc[0])}); "
                "the study area must be polygons such as district boundaries."
            )
        geoms = geoms.make_valid()
        districts = None
        if district_field is not None and isinstance(area, gpd.GeoDataFrame):
            if district_field not in area.columns:
                cols = [c for c in area.columns if c != area.geometry.name]
                raise InputError(
                    f"area: no district field {district_field!r}; the layer's fields are {cols}. "
                    "Pass district_field=<field> (scenario: districts.name_field), or None for no districts."
                )
            districts = gpd.GeoDataFrame(
                {"district": area[district_field].astype("str")}, geometry=geoms.values, crs=crs
            )
        return _StudyArea(shapely.union_all(geoms.values), crs, districts, district_field, "area")
    try:
        left, bottom, right, top = (float(v) for v in area)
    except (TypeError, ValueError):
        raise InputError(
            f"area: expected polygons or a bbox (left, bottom, right, top), got {describe(area)}."
        ) from None
    if not (left < right and bottom < top):
        raise InputError(
            f"area: bbox {area} is empty; give (left, bottom, right, top) with left < right and bottom < top."
        )
    crs = CRS.from_user_input(area_crs if area_crs is not None else "EPSG:4326")
    return _StudyArea(shapely.box(left, bottom, right, top), crs, None, None, "area")


def _to_crs(geom: shapely.Geometry, src: CRS, dst: CRS) -> shapely.Geometry:
    """Re-project one geometry, densifying it first so straight edges follow the target's curves."""
    if src.equals(dst):
        return geom
    left, bottom, right, top = geom.bounds
    step = max(right - left, top - bottom) / 256.0
    dense = shapely.segmentize(geom, step) if step > 0 else geom
    out = gpd.GeoSeries([dense], crs=src).to_crs(dst).iloc[0]
    if out is None or out.is_empty or not np.all(np.isfinite(out.bounds)):
        raise InputError(
            f"the study area {geom.bounds} ({src.to_string()}) cannot be placed in {dst.to_string()}."
        )
    return shapely.make_valid(out)


def _densified(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Add vertices every 1/1000 of the extent so straight edges bend correctly when re-projected."""
    left, bottom, right, top = geoms.total_bounds
    step = max(right - left, top - bottom) / 1000.0
    return geoms.segmentize(step) if step > 0 else geoms


def _study_crs(crs: CRS | str | None, sa: _StudyArea) -> CRS:
    if crs is not None:
        return ensure_projected(crs, name="crs")
    return utm_crs_for(sa.geom.bounds, sa.crs)


# ---------------------------------------------------------------------------------------------- reading
def _open_window(
    src: rasterio.io.DatasetReader, path: Path, band: int | None, sa: _StudyArea
) -> RasterWindow:
    rcrs = raster_crs(src, path=path)
    b = choose_band(src, band, path=path)
    area_r = _to_crs(sa.geom, sa.crs, rcrs)
    note = (
        ""
        if sa.crs.equals(rcrs)
        else f" (the area given in {sa.crs.to_string()} spans {tuple(round(v, 6) for v in sa.geom.bounds)})"
    )
    window = area_window(src, area_r, path=path, area_bounds_note=note)
    return RasterWindow(
        path=path,
        band=b,
        crs=rcrs,
        transform=src.transform @ Affine.translation(window.col_off, window.row_off),
        window=window,
        area=area_r,
        nodata=src.nodata,
    )


def _coverage_warning(src: rasterio.io.DatasetReader, rw: RasterWindow, notes: list[str]) -> None:
    """Note when part of the study area lies beyond the raster's extent (its residents are unknown)."""
    outside = shapely.area(shapely.difference(rw.area, shapely.box(*src.bounds)))
    share = outside / max(shapely.area(rw.area), 1e-300)
    if share > 1e-3:
        msg = (
            f"{rw.path}: {share:.1%} of the study area lies outside the raster's extent; "
            "residents there are not counted."
        )
        log.warning(msg)
        notes.append(msg)


def _bad_cell_notes(rw: RasterWindow, notes: list[str]) -> None:
    """Raise when no usable cell is left; log and note NaN, undeclared-nodata and negative cells."""
    bad = rw.bad
    if bad.valid == 0:
        raise InputError(
            f"{rw.path}: all {bad.nodata + bad.nan + bad.sentinel + bad.negative} cells of band {rw.band} "
            f"inside the study area are nodata (nodata={rw.nodata}); nothing to allocate. Check that the "
            "area is the intended one and the band holds population counts."
        )
    found: list[str] = []
    if bad.nan:
        found.append(f"{rw.path}: {bad.nan} NaN cells in the study area treated as nodata (0 residents).")
    if bad.sentinel:
        found.append(
            f"{rw.path}: {bad.sentinel} cells in the study area hold an undeclared nodata value "
            f"(<= -1e30, -99999 or -9999; declared nodata is {rw.nodata}); treated as nodata. "
            "Declare it with `gdal_edit.py -a_nodata VALUE`."
        )
    if bad.negative:
        found.append(
            f"{rw.path}: {bad.negative} negative cells in the study area "
            f"(sum {bad.negative_sum:.6g}) set to 0."
        )
    for msg in found:
        log.warning(msg)
    notes.extend(found)


def _resolution_m(rw: RasterWindow, to_study: Transformer) -> float:
    """Approximate side of one raster cell in the study CRS (m), from the window's central cell."""
    rows, cols = rw.shape
    x, y = rw.corners(rows // 2, 1)
    c = cols // 2
    xs, ys = to_study.transform(x[:, c : c + 2].ravel(), y[:, c : c + 2].ravel())
    quad = shapely.Polygon([(xs[0], ys[0]), (xs[1], ys[1]), (xs[3], ys[3]), (xs[2], ys[2])])
    return math.sqrt(quad.area)


# ---------------------------------------------------------------------------------------------- allocation
def _bilinear_coefficients(k: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    t = (np.arange(k, dtype="float64") + 0.5) / k
    v, u = np.meshgrid(t, t, indexing="ij")  # v along rows, u along columns
    u, v = u.ravel(), v.ravel()
    return u, v, ((1 - v) * (1 - u), (1 - v) * u, v * (1 - u), v * u)


def _allocate_grid(
    src: rasterio.io.DatasetReader, rw: RasterWindow, to_study: Transformer, cell: float, k: int
) -> tuple[pd.DataFrame, float]:
    """Allocate the clipped raster to grid cells by sub-cell sampling; return unit sums, clip sum."""
    u, v, (c00, c01, c10, c11) = _bilinear_coefficients(k)
    t = rw.transform
    parts: list[pd.DataFrame] = []
    clip_sum = 0.0
    rows, cols = rw.shape
    max_cells = max(1, _MAX_SUBSAMPLES // (k * k))
    total = math.ceil(rows / max(1, max_cells // max(cols, 1)))
    for strip in progress(iter_strips(src, rw, max_cells=max_cells), desc="allocating raster", total=total):
        mass_cell = strip.values * strip.fraction
        clip_sum += float(mass_cell.sum())
        i, j = np.nonzero(mass_cell > 0)
        if i.size == 0:
            continue
        xr, yr = rw.corners(strip.row0, strip.values.shape[0])
        xc, yc = to_study.transform(xr, yr)
        xc, yc = np.asarray(xc), np.asarray(yc)
        m = mass_cell[i, j]
        x = (
            xc[i, j, None] * c00
            + xc[i, j + 1, None] * c01
            + xc[i + 1, j, None] * c10
            + xc[i + 1, j + 1, None] * c11
        )
        y = (
            yc[i, j, None] * c00
            + yc[i, j + 1, None] * c01
            + yc[i + 1, j, None] * c10
            + yc[i + 1, j + 1, None] * c11
        )
        w = np.repeat((m / (k * k))[:, None], k * k, axis=1)
        edge = strip.boundary[i, j] & (strip.fraction[i, j] < 1.0)
        if edge.any():
            ie, je = i[edge], j[edge]
            sx = t.c + t.a * (je[:, None] + u)
            sy = t.f + t.e * (strip.row0 + ie[:, None] + v)
            inside = shapely.contains_xy(rw.area, sx, sy)
            n_in = inside.sum(axis=1)
            share = np.where(n_in > 0, m[edge] / np.maximum(n_in, 1), 0.0)
            we = np.where(inside, share[:, None], 0.0)
            sliver = n_in == 0  # a tiny overlap missed by every sub-cell centre: put it on the overlap
            if sliver.any():
                we[sliver] = (m[edge][sliver] / (k * k))[:, None]
                rows_s, cols_s = ie[sliver], je[sliver]
                x0 = t.c + t.a * cols_s
                y0 = t.f + t.e * (strip.row0 + rows_s)
                cells = shapely.box(
                    np.minimum(x0, x0 + t.a),
                    np.minimum(y0, y0 + t.e),
                    np.maximum(x0, x0 + t.a),
                    np.maximum(y0, y0 + t.e),
                )
                spot = shapely.point_on_surface(shapely.intersection(cells, rw.area))
                px, py = to_study.transform(shapely.get_x(spot), shapely.get_y(spot))
                where = np.flatnonzero(edge)[sliver]
                x[where] = np.asarray(px)[:, None]
                y[where] = np.asarray(py)[:, None]
            w[edge] = we
        x, y, w = x.ravel(), y.ravel(), w.ravel()
        keep = w > 0
        x, y, w = x[keep], y[keep], w[keep]
        gr = np.floor(y / cell).astype("int64")
        gc = np.floor(x / cell).astype("int64")
        r0, c0 = gr.min(), gc.min()
        ncol = int(gc.max() - c0 + 1)
        local = (gr - r0) * ncol + (gc - c0)
        size = int(local.max()) + 1
        mass = np.bincount(local, weights=w, minlength=size)
        mx = np.bincount(local, weights=w * x, minlength=size)
        my = np.bincount(local, weights=w * y, minlength=size)
        nz = np.nonzero(mass)[0]
        parts.append(
            pd.DataFrame(
                {
                    "unit_id": grid_unit_id(nz // ncol + r0, nz % ncol + c0),
                    "population": mass[nz],
                    "mx": mx[nz],
                    "my": my[nz],
                }
            )
        )
    return _combine(parts), clip_sum


def _combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({"population": [], "mx": [], "my": []}, index=pd.Index([], name="unit_id"))
    return pd.concat(parts, ignore_index=True).groupby("unit_id", sort=True).sum()


def _allocate_polygons(
    src: rasterio.io.DatasetReader,
    rw: RasterWindow,
    to_study: Transformer,
    geoms: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Exact area-weighted allocation to polygons (study CRS): mass, Σm·x, Σm·y per polygon, clip sum."""
    n = len(geoms)
    mass = np.zeros(n)
    mx = np.zeros(n)
    my = np.zeros(n)
    tree = shapely.STRtree(geoms)
    clip_sum = 0.0
    rows, cols = rw.shape
    total = math.ceil(rows / max(1, _MAX_POLY_CELLS // max(cols, 1)))
    for strip in progress(
        iter_strips(src, rw, max_cells=_MAX_POLY_CELLS), desc="allocating raster", total=total
    ):
        clip_sum += float((strip.values * strip.fraction).sum())
        i, j = np.nonzero((strip.values > 0) & (strip.fraction > 0))
        if i.size == 0:
            continue
        xr, yr = rw.corners(strip.row0, strip.values.shape[0])
        xc, yc = (np.asarray(a) for a in to_study.transform(xr, yr))
        ring_x = np.stack([xc[i, j], xc[i, j + 1], xc[i + 1, j + 1], xc[i + 1, j], xc[i, j]], axis=1)
        ring_y = np.stack([yc[i, j], yc[i, j + 1], yc[i + 1, j + 1], yc[i + 1, j], yc[i, j]], axis=1)
        quads = shapely.polygons(np.stack([ring_x, ring_y], axis=2))
        qi, ui = tree.query(quads, predicate="intersects")
        if qi.size == 0:
            continue
        pieces = shapely.intersection(quads[qi], geoms[ui])
        share = shapely.area(pieces) / shapely.area(quads[qi])
        m = strip.values[i[qi], j[qi]] * share
        cen = shapely.centroid(pieces)
        cx, cy = shapely.get_x(cen), shapely.get_y(cen)
        ok = m > 0
        mass += np.bincount(ui[ok], weights=m[ok], minlength=n)
        mx += np.bincount(ui[ok], weights=(m * cx)[ok], minlength=n)
        my += np.bincount(ui[ok], weights=(m * cy)[ok], minlength=n)
    return mass, mx, my, clip_sum


def _subsamples(res_m: float, cell_size_m: float) -> int:
    return int(min(64, max(2, math.ceil(_SUBSAMPLE_FACTOR * res_m / cell_size_m))))


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
    if not path.exists():
        raise InputError(
            f"population raster {path} does not exist; check the path (scenario: population.raster)."
        )
    if not (isinstance(cell_size_m, int | float) and math.isfinite(cell_size_m) and cell_size_m > 0):
        raise InputError(f"cell_size_m must be a positive number of metres, got {describe(cell_size_m)}.")
    if units is not None and not isinstance(units, gpd.GeoDataFrame):
        raise InputError(f"units must be a GeoDataFrame of polygons, got {type(units).__name__}.")
    sa = _study_area(area, area_crs, district_field, units)
    study = _study_crs(crs, sa)
    notes: list[str] = []
    with rasterio.open(path) as src:
        rw = _open_window(src, path, band, sa)
        to_study = Transformer.from_crs(rw.crs, study, always_xy=True)
        res_m = _resolution_m(rw, to_study)
        _coverage_warning(src, rw, notes)
        facts: dict[str, Any] = {
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
        if units is None:
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
            facts.update({"method": "grid-subsample", "cell_size_m": float(cell_size_m), "subsamples": k})
        else:
            require_crs(units, name="units")
            if not units.index.is_unique:
                dup = units.index[units.index.duplicated()][:5].tolist()
                raise InputError(f"units: the index must be unique unit ids; repeated: {dup}.")
            bad = ~units.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
            if bad.any():
                raise InputError(
                    f"units: {int(bad.sum())} feature(s) are not polygons "
                    f"(ids {units.index[bad][:5].tolist()})."
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
            facts.update({"method": "polygon-exact", "outside_units": uncovered})
            if clip_sum > 0 and uncovered / clip_sum > 1e-3:
                msg = (
                    f"units: {uncovered:,.0f} residents ({uncovered / clip_sum:.2%}) of the study area lie "
                    "outside every unit polygon and are not counted."
                )
                log.warning(msg)
                notes.append(msg)
        _bad_cell_notes(rw, notes)
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
    out = out[["population", "pop_x", "pop_y", "district", "geometry"]]
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
    country-sized file is never loaded whole. See the module docstring for the allocation method.

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


# ---------------------------------------------------------------------------------------------- seats
def _year_columns(units: pd.DataFrame, prefix: str = "population") -> list[int]:
    pattern = re.compile(rf"^{prefix}_(\d{{4}})$")
    return sorted(int(m.group(1)) for c in units.columns if (m := pattern.match(str(c))))


def _seat_rates(standards: Standards, seats_per_1000: Mapping[str, float] | None) -> dict[str, float]:
    rates = {level: float(standards.seats_per_1000[level]) for level in LEVELS}
    for level, value in (seats_per_1000 or {}).items():
        if level not in LEVELS:
            raise InputError(f"seats_per_1000: unknown level {level!r}; levels are {list(LEVELS)}.")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"seats_per_1000.{level} must be a number, got {describe(value)}.") from None
        if not (math.isfinite(value) and value >= 0):
            raise InputError(f"seats_per_1000.{level} must be >= 0 seats per 1,000 residents, got {value}.")
        rates[level] = value
    return rates


def _require_population(units: pd.DataFrame, what: str) -> None:
    if "population" not in units.columns:
        raise InputError(f"{what}: units have no 'population' column; build them with units_from_raster.")


def add_seat_demand(
    units: gpd.GeoDataFrame,
    standards: Standards,
    *,
    seats_per_1000: Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """Add seat demand per level from residents: ``population × seats_per_1000[level] / 1000``.

    Parameters
    ----------
    units
        Demand units with ``population`` (and optionally ``population_<year>`` columns).
    standards
        Policy values; ``standards.seats_per_1000`` (80 primary, 40 junior in Foshan) is used.
    seats_per_1000
        Optional override per level (seats per 1,000 residents).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``primary``, ``junior`` (seats) and ``primary_<year>``, ``junior_<year>`` for each
        ``population_<year>`` column.
    """
    _require_population(units, "add_seat_demand")
    rates = _seat_rates(standards, seats_per_1000)
    out = units.copy()
    for level in LEVELS:
        out[level] = out["population"].astype("float64") * rates[level] / 1000.0
        for year in _year_columns(out):
            out[f"{level}_{year}"] = out[f"population_{year}"].astype("float64") * rates[level] / 1000.0
    return out


_WORLDPOP_AGE = re.compile(r"_(?:f|m|t)_(\d{1,2})_(?:\d{4})", re.IGNORECASE)


def _band_ages(name: str) -> tuple[int, int] | None:
    """Ages (first, last) of a WorldPop age/sex band file such as ``chn_f_5_2020.tif`` (5–9)."""
    m = _WORLDPOP_AGE.search(name)
    if not m:
        return None
    start = int(m.group(1))
    if start == 0:
        return 0, 0
    if start == 1:
        return 1, 4
    if start >= 80:
        return start, 99
    return start, start + 4


def _band_fraction(path: Path, ages: tuple[int, int]) -> float:
    band_ages = _band_ages(path.name)
    if band_ages is None:
        raise InputError(
            f"{path}: cannot read the age band from the file name (WorldPop style is "
            "'<iso>_<f|m>_<age>_<year>.tif'); give the fraction explicitly as (path, fraction)."
        )
    lo, hi = band_ages
    overlap = max(0, min(hi, ages[1]) - max(lo, ages[0]) + 1)
    return overlap / (hi - lo + 1)


def seat_demand_from_age_bands(
    units: gpd.GeoDataFrame,
    bands: Mapping[str, Sequence[PathLike | tuple[PathLike, float]]],
    *,
    ages: Mapping[str, tuple[int, int]] | None = None,
    band: int | None = None,
    enrolment: Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """Set seat demand per level from age/sex band rasters (e.g. WorldPop ``chn_f_5_2020.tif``).

    Each level's seats are ``enrolment[level] × Σ fraction × residents of the band raster`` allocated to the
    units by exact area weighting. A plain path's fraction is the share of the band's ages that fall in
    the level's ages, assuming ages are spread evenly inside a band: with the default ages (primary 6–11,
    junior 12–14) the 5–9 band counts 0.8 (ages 6–9) and the 10–14 band 0.4 (10–11) towards primary, and
    the 10–14 band 0.6 (12–14) towards junior. Give ``(path, fraction)`` to set a fraction yourself.

    Parameters
    ----------
    units
        Demand units (any polygons, including grid units) with ``population``.
    bands
        Per level, the band rasters to sum: ``{"primary": [f_5, m_5, f_10, m_10], ...}``.
    ages
        Ages (first, last, inclusive) per level; default :data:`DEFAULT_AGES`.
    band
        Band to read in multi-band files.
    enrolment
        Share of the age group enrolled in public compulsory schools per level (default 1.0).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``primary`` and ``junior`` (seats); ``<level>_<year>`` columns are scaled with
        ``population_<year> / population`` when present.
    """
    _require_population(units, "seat_demand_from_age_bands")
    ages = dict(DEFAULT_AGES if ages is None else ages)
    unknown = set(bands) - set(LEVELS)
    if unknown:
        raise InputError(f"bands: unknown level(s) {sorted(unknown)}; levels are {list(LEVELS)}.")
    out = units.copy()
    for level, files in bands.items():
        if level not in ages:
            raise InputError(
                f"ages: no age range for level {level!r}; give ages={{'{level}': (first, last)}}."
            )
        if not files:
            raise InputError(f"bands: no raster given for level {level!r}.")
        seats = np.zeros(len(out))
        for item in files:
            if isinstance(item, tuple):
                path, fraction = Path(item[0]), float(item[1])
            else:
                path = Path(item)
                fraction = _band_fraction(path, ages[level])
            if not 0 < fraction <= 1:
                raise InputError(
                    f"{path}: the band's fraction for {level} (ages {ages[level]}) is {fraction:g}; "
                    "it must be in (0, 1]. Remove the file from this level or give (path, fraction)."
                )
            log.info("%s: %s × %.3g", level, path.name, fraction)
            seats += fraction * _residents_on_units(path, out, band=band)
        out[level] = seats * float((enrolment or {}).get(level, 1.0))
        _scale_years(out, level)
    return out


def _scale_years(units: pd.DataFrame, level: str) -> None:
    pop = units["population"].to_numpy(dtype="float64")
    for year in _year_columns(units):
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(pop > 0, units[f"population_{year}"].to_numpy(dtype="float64") / pop, 0.0)
        units[f"{level}_{year}"] = units[level].to_numpy(dtype="float64") * factor


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


# ---------------------------------------------------------------------------------------------- current
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


# ---------------------------------------------------------------------------------------------- report
def demand_report(
    units: gpd.GeoDataFrame,
    raster_sum: float,
    *,
    seat_method: str = "seats_per_1000",
    seats_per_1000: Mapping[str, float] | None = None,
    build: Mapping[str, Any] | None = None,
    plan_for: str | None = None,
    design_year: int | None = None,
) -> dict[str, Any]:
    """Summarise a demand build as a JSON-ready dict.

    Parameters
    ----------
    units
        Demand units with ``population`` and, if computed, ``primary``/``junior``.
    raster_sum
        Residents of the clipped raster (:func:`clipped_raster_sum`), the reference for conservation.
    seat_method
        How seat demand was computed (``"seats_per_1000"`` or ``"age_bands"``).
    seats_per_1000
        Figures used with ``seats_per_1000``.
    build
        Facts from the build (method, CRS, window, bad cells...) to include.
    plan_for, design_year
        Which demand ``primary``/``junior`` hold.

    Returns
    -------
    dict
        ``raster_sum``, ``units_sum``, ``relative_error``, ``n_units``, ``seats`` per level (design demand),
        ``seats_by_year``, ``seat_method``, ``seats_per_1000``, ``plan_for``, ``design_year`` and the
        build facts.
    """
    units_sum = float(units["population"].sum())
    report: dict[str, Any] = dict(build or {})
    report.update(
        {
            "raster_sum": float(raster_sum),
            "units_sum": units_sum,
            "relative_error": abs(units_sum - raster_sum) / raster_sum if raster_sum else 0.0,
            "n_units": len(units),
            "seat_method": seat_method,
            "seats_per_1000": dict(seats_per_1000) if seats_per_1000 is not None else None,
            "seats": {lv: float(units[lv].sum()) for lv in LEVELS if lv in units.columns},
            "seats_by_year": {
                lv: {y: float(units[f"{lv}_{y}"].sum()) for y in _year_columns(units, lv)}
                for lv in LEVELS
                if _year_columns(units, lv)
            },
            "population_by_year": {y: float(units[f"population_{y}"].sum()) for y in _year_columns(units)},
            "plan_for": plan_for,
            "design_year": design_year,
        }
    )
    return report


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


# ---------------------------------------------------------------------------------------------- files
def read_area(area: str | Path) -> gpd.GeoDataFrame | BBox:
    """Parse a command-line study area: a polygon file or ``'left,bottom,right,top'`` in EPSG:4326.

    Parameters
    ----------
    area
        A path to a polygon layer (``.geojson``, ``.gpkg``, ``.shp``...) or four comma-separated numbers.

    Returns
    -------
    geopandas.GeoDataFrame or tuple
        The polygons, or the bbox ``(left, bottom, right, top)`` in EPSG:4326.
    """
    text = str(area).strip()
    parts = text.split(",")
    if len(parts) == 4:
        try:
            return tuple(float(p) for p in parts)  # type: ignore[return-value]
        except ValueError:
            pass
    path = Path(text)
    if not path.exists():
        raise InputError(
            f"--area {text!r} is neither an existing polygon file nor 'left,bottom,right,top' "
            "(four numbers in EPSG:4326, e.g. '113.0,22.9,113.2,23.1')."
        )
    try:
        layer = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several unrelated classes for unreadable files
        raise InputError(f"{path}: cannot read the study area layer ({exc}).") from None
    return layer


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


def format_demand_report(report: Mapping[str, Any]) -> str:
    """Return the totals of a :func:`demand_report` dict as a few aligned lines of text."""
    lines = [
        f"raster sum (clipped)   {report['raster_sum']:,.1f} residents",
        f"units' sum             {report['units_sum']:,.1f} residents in {report['n_units']:,} units",
        f"relative error         {report['relative_error']:.2e}",
        f"method                 {report.get('method')} ({report.get('crs')})",
    ]
    rates = report.get("seats_per_1000") or {}
    for level, seats in report.get("seats", {}).items():
        rate = f" ({rates[level]:g} per 1,000)" if level in rates else ""
        lines.append(f"seats {level:<16} {seats:,.1f}{rate}")
    lines.extend(f"note: {note}" for note in report.get("notes", []))
    if report.get("out"):
        lines.append(f"written: {report['out']}")
    return "\n".join(lines)
