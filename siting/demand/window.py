"""The raster window over the study area, and what reading it found: coverage, bad cells, resolution."""

from __future__ import annotations

import math
from pathlib import Path

import rasterio
import shapely
from affine import Affine
from pyproj import Transformer

from siting._log import get_logger
from siting.demand._raster import RasterWindow, area_window, choose_band, raster_crs
from siting.demand.area import _StudyArea, _to_crs
from siting.errors import InputError

log = get_logger(__name__)


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
