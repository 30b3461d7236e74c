"""Raster cells to demand units: sub-cell sampling onto the grid, exact area weighting onto polygons.

Conservation method
-------------------
1. **Clip.** Each raster cell's fraction ``f`` inside the study area is computed in the raster's own CRS,
   where cells are rectangles: 1 or 0 by the cell centre away from the boundary, and the exact
   ``area(cell ∩ area) / area(cell)`` (shapely) for every cell within one cell of the boundary. The
   *clipped raster sum* is ``Σ value × f`` (see :func:`siting.demand.clipped_raster_sum`).
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

import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import Transformer

from siting._log import progress
from siting.demand._raster import RasterWindow, Strip, iter_strips

_GRID_OFFSET = 2**30
_MAX_SUBSAMPLES = 2_000_000  # sub-cells per strip: bounds memory at a few hundred MB
_MAX_POLY_CELLS = 200_000  # raster cells per strip in polygon allocation
_SUBSAMPLE_FACTOR = 8.0  # sub-cell side <= unit side / 8 (see the module docstring)


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


def _bilinear_coefficients(k: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    t = (np.arange(k, dtype="float64") + 0.5) / k
    v, u = np.meshgrid(t, t, indexing="ij")  # v along rows, u along columns
    u, v = u.ravel(), v.ravel()
    return u, v, ((1 - v) * (1 - u), (1 - v) * u, v * (1 - u), v * u)


def _allocate_grid(
    src: rasterio.io.DatasetReader, rw: RasterWindow, to_study: Transformer, cell: float, k: int
) -> tuple[pd.DataFrame, float]:
    """Allocate the clipped raster to grid cells by sub-cell sampling; return unit sums, clip sum."""
    coefficients = _bilinear_coefficients(k)
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
        x, y, w = _subcells(strip, rw, to_study, (i, j), mass_cell[i, j], coefficients)
        parts.append(_bin_to_grid(x, y, w, cell))
    return _combine(parts), clip_sum


def _subcells(
    strip: Strip,
    rw: RasterWindow,
    to_study: Transformer,
    cells: tuple[np.ndarray, np.ndarray],
    m: np.ndarray,
    coefficients: tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sub-cell centres (study CRS, m) and residents of the strip's cells that hold residents.

    Parameters
    ----------
    strip, rw, to_study
        The strip read, its window and the transformer from the raster CRS to the study CRS.
    cells
        ``(i, j)``: rows (in the strip) and columns of the cells.
    m
        Residents of each cell inside the study area (value × fraction).
    coefficients
        :func:`_bilinear_coefficients` of ``k`` sub-cells a side.

    Returns
    -------
    tuple of numpy.ndarray
        ``x``, ``y`` and weight ``w``, each ``(n_cells, k * k)``: ``m / k²`` on every sub-cell away from
        the boundary, the residents spread over the sub-cells inside the area for boundary cells.
    """
    u, v, (c00, c01, c10, c11) = coefficients
    k2 = len(u)
    i, j = cells
    xr, yr = rw.corners(strip.row0, strip.values.shape[0])
    xc, yc = to_study.transform(xr, yr)
    xc, yc = np.asarray(xc), np.asarray(yc)
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
    w = np.repeat((m / k2)[:, None], k2, axis=1)
    edge = strip.boundary[i, j] & (strip.fraction[i, j] < 1.0)
    if edge.any():
        ie, je = i[edge], j[edge]
        we, sliver = _edge_weights(strip, rw, (ie, je), m[edge], (u, v))
        if sliver.any():
            px, py = _sliver_points(strip, rw, to_study, (ie[sliver], je[sliver]))
            where = np.flatnonzero(edge)[sliver]
            x[where] = px[:, None]
            y[where] = py[:, None]
        w[edge] = we
    return x, y, w


def _edge_weights(
    strip: Strip,
    rw: RasterWindow,
    cells: tuple[np.ndarray, np.ndarray],
    m: np.ndarray,
    uv: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-cell weights of boundary cells: each cell's residents ``m`` over its sub-cells inside the area.

    Returns ``(weights, sliver)``: weights ``(n_cells, k * k)``, and the cells none of whose sub-cell
    centres is inside (a tiny overlap), whose residents are spread evenly (:func:`_sliver_points` then
    puts all their sub-cells on the overlap).
    """
    t = rw.transform
    (ie, je), (u, v) = cells, uv
    sx = t.c + t.a * (je[:, None] + u)
    sy = t.f + t.e * (strip.row0 + ie[:, None] + v)
    inside = shapely.contains_xy(rw.area, sx, sy)
    n_in = inside.sum(axis=1)
    share = np.where(n_in > 0, m / np.maximum(n_in, 1), 0.0)
    we = np.where(inside, share[:, None], 0.0)
    sliver = n_in == 0  # a tiny overlap missed by every sub-cell centre: put it on the overlap
    if sliver.any():
        we[sliver] = (m[sliver] / len(u))[:, None]
    return we, sliver


def _sliver_points(
    strip: Strip, rw: RasterWindow, to_study: Transformer, cells: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """A point (study CRS, m) on each cell's overlap with the study area; ``cells`` are ``(rows, cols)``."""
    t = rw.transform
    rows_s, cols_s = cells
    x0 = t.c + t.a * cols_s
    y0 = t.f + t.e * (strip.row0 + rows_s)
    boxes = shapely.box(
        np.minimum(x0, x0 + t.a),
        np.minimum(y0, y0 + t.e),
        np.maximum(x0, x0 + t.a),
        np.maximum(y0, y0 + t.e),
    )
    spot = shapely.point_on_surface(shapely.intersection(boxes, rw.area))
    px, py = to_study.transform(shapely.get_x(spot), shapely.get_y(spot))
    return np.asarray(px), np.asarray(py)


def _bin_to_grid(x: np.ndarray, y: np.ndarray, w: np.ndarray, cell: float) -> pd.DataFrame:
    """Bin weighted sub-cells to grid cells of side ``cell`` (m): ``unit_id``, ``population``, Σw·x, Σw·y."""
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
    return pd.DataFrame(
        {
            "unit_id": grid_unit_id(nz // ncol + r0, nz % ncol + c0),
            "population": mass[nz],
            "mx": mx[nz],
            "my": my[nz],
        }
    )


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
