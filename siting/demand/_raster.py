"""Private raster helpers for :mod:`siting.demand`.

Open a band, read only the study area's window in strips, clean nodata / NaN / negative cells, and
compute each cell's exact fraction inside the study area.

Everything here works in the raster's own CRS, where cells are true rectangles. Re-projection to the study CRS
and allocation to demand units live in :mod:`siting.demand.allocate`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import rasterio.features
import rasterio.windows
import shapely
from affine import Affine
from pyproj import CRS
from scipy import ndimage

from siting._log import get_logger
from siting.errors import CRSError, InputError

log = get_logger(__name__)

SENTINEL_MIN = -1e30
"""Values at or below this are treated as an undeclared nodata sentinel (WorldPop's -3.4e38)."""

SENTINELS = (-99999.0, -9999.0)
"""Other common undeclared nodata values (WorldPop's -99999, a classic GIS -9999)."""


@dataclass
class BadCells:
    """Counts of unusable cells met inside the study area (cells with a positive area fraction).

    Attributes
    ----------
    nodata
        Cells equal to the file's declared nodata value (normal: water, outside the country).
    nan
        NaN cells in a file whose nodata is not NaN.
    sentinel
        Cells holding an undeclared nodata sentinel (``<= -1e30``, ``-99999``, ``-9999``).
    negative
        Other negative cells, set to 0.
    negative_sum
        Sum of those negative values (residents removed by setting them to 0).
    valid
        Finite, non-negative cells.
    """

    nodata: int = 0
    nan: int = 0
    sentinel: int = 0
    negative: int = 0
    negative_sum: float = 0.0
    valid: int = 0

    def as_dict(self) -> dict[str, float]:
        """Return the counts as a plain dict (for reports)."""
        return {
            "nodata": self.nodata,
            "nan": self.nan,
            "sentinel": self.sentinel,
            "negative": self.negative,
            "negative_sum": self.negative_sum,
            "valid": self.valid,
        }


@dataclass
class Strip:
    """A block of rows of the study area's window.

    Attributes
    ----------
    row0
        First row of the strip, relative to the window.
    values
        Residents per cell (float64), 0 where the cell is nodata or bad.
    fraction
        Fraction of each cell's area inside the study area, in [0, 1].
    boundary
        True where ``fraction`` was computed exactly because the area's boundary passes nearby.
    """

    row0: int
    values: np.ndarray
    fraction: np.ndarray
    boundary: np.ndarray


@dataclass
class RasterWindow:
    """The part of a raster that covers the study area, and how to read it.

    Attributes
    ----------
    path
        The raster file.
    band
        1-based band index read.
    crs
        The raster's CRS.
    transform
        Affine transform of the window (its top-left cell is (0, 0)).
    window
        The window in the full file.
    area
        Study area polygon in the raster's CRS.
    nodata
        Declared nodata value, or None.
    bad
        Counts of unusable cells, filled while strips are read.
    """

    path: Path
    band: int
    crs: CRS
    transform: Affine
    window: rasterio.windows.Window
    area: shapely.Geometry
    nodata: float | None
    bad: BadCells = field(default_factory=BadCells)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the window."""
        return int(self.window.height), int(self.window.width)

    def corners(self, row0: int, nrows: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the raster-CRS coordinates of the cell corners of rows ``row0 .. row0 + nrows``.

        Returns
        -------
        tuple of numpy.ndarray
            ``x`` and ``y``, each of shape ``(nrows + 1, cols + 1)``.
        """
        t = self.transform
        cols = np.arange(self.shape[1] + 1, dtype="float64")
        rows = np.arange(row0, row0 + nrows + 1, dtype="float64")
        x = np.broadcast_to(t.c + t.a * cols, (rows.size, cols.size))
        y = np.broadcast_to((t.f + t.e * rows)[:, None], (rows.size, cols.size))
        return np.ascontiguousarray(x), np.ascontiguousarray(y)


def choose_band(src: rasterio.io.DatasetReader, band: int | None, *, path: Path) -> int:
    """Return the band to read, or raise when the choice is missing or impossible."""
    if band is None:
        if src.count == 1:
            return 1
        listing = ", ".join(
            f"{i} ({desc})" if desc else str(i) for i, desc in enumerate(src.descriptions, start=1)
        )
        raise InputError(
            f"{path}: the file has {src.count} bands ({listing}); say which one holds the population "
            "counts with `band=N` (scenario: population.band, CLI: --band N)."
        )
    if not 1 <= int(band) <= src.count:
        raise InputError(f"{path}: band {band} does not exist; the file has bands 1..{src.count}.")
    return int(band)


def raster_crs(src: rasterio.io.DatasetReader, *, path: Path) -> CRS:
    """Return the raster's CRS, or raise :class:`CRSError` saying how to set one."""
    if src.crs is None:
        raise CRSError(
            f"{path}: the raster has no CRS, so it cannot be placed on the map. Set it, e.g. "
            f"`gdal_edit.py -a_srs EPSG:4326 {path.name}` (WorldPop files are EPSG:4326)."
        )
    t = src.transform
    if t.b != 0 or t.d != 0:
        raise InputError(
            f"{path}: the raster is rotated (transform {tuple(t)[:6]}); warp it to a north-up grid first, "
            "e.g. `gdalwarp in.tif out.tif`."
        )
    return CRS.from_user_input(src.crs)


def area_window(
    src: rasterio.io.DatasetReader, area: shapely.Geometry, *, path: Path, area_bounds_note: str
) -> rasterio.windows.Window:
    """Return the smallest whole-cell window of ``src`` covering ``area`` (raster CRS), clipped to the file.

    Raises
    ------
    InputError
        When the area does not overlap the raster; the message shows both bounds in the raster's CRS.
    """
    left, bottom, right, top = area.bounds
    r = src.bounds
    if right <= r.left or left >= r.right or top <= r.bottom or bottom >= r.top or area.is_empty:
        raise InputError(
            f"{path}: the study area does not overlap the raster. In the raster's CRS "
            f"({CRS.from_user_input(src.crs).to_string()}) the area spans "
            f"(left, bottom, right, top) = {_fmt_bounds(area.bounds)} and the raster spans "
            f"{_fmt_bounds(tuple(r))}{area_bounds_note}. Check the area's CRS and that the right raster "
            "is used."
        )
    win = rasterio.windows.from_bounds(left, bottom, right, top, transform=src.transform)
    col0 = max(0, math.floor(win.col_off + 1e-9))
    row0 = max(0, math.floor(win.row_off + 1e-9))
    col1 = min(src.width, math.ceil(win.col_off + win.width - 1e-9))
    row1 = min(src.height, math.ceil(win.row_off + win.height - 1e-9))
    if col1 <= col0 or row1 <= row0:
        raise InputError(
            f"{path}: the study area {_fmt_bounds(area.bounds)} falls between the raster's cells "
            f"{_fmt_bounds(tuple(r))}; it covers no cell."
        )
    return rasterio.windows.Window(col0, row0, col1 - col0, row1 - row0)


def _fmt_bounds(bounds: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in bounds) + ")"


def clean_values(raw: np.ndarray, nodata: float | None, inside: np.ndarray, bad: BadCells) -> np.ndarray:
    """Return residents per cell (float64, 0 for unusable cells) and count unusable cells inside the area.

    Parameters
    ----------
    raw
        Cell values as read.
    nodata
        The file's declared nodata value, or None.
    inside
        Cells with a positive fraction inside the study area (only those are counted in ``bad``).
    bad
        Counters updated in place.

    Raises
    ------
    InputError
        When a cell inside the area is +infinity (no population can be conserved from it).
    """
    values = raw.astype("float64", copy=True)
    if nodata is None:
        nodata_mask = np.zeros(values.shape, dtype=bool)
    elif math.isnan(nodata):
        nodata_mask = np.isnan(values)
    else:
        nodata_mask = raw == np.asarray(nodata, dtype=raw.dtype)
    nan_mask = np.isnan(values) & ~nodata_mask
    finite = ~nodata_mask & ~nan_mask
    sentinel_mask = finite & ((values <= SENTINEL_MIN) | np.isin(values, SENTINELS))
    neg_mask = finite & ~sentinel_mask & (values < 0)
    inf_mask = finite & np.isposinf(values)
    if np.any(inf_mask & inside):
        raise InputError(f"{int(np.sum(inf_mask & inside))} raster cells in the study area are +infinity.")
    bad.nodata += int(np.sum(nodata_mask & inside))
    bad.nan += int(np.sum(nan_mask & inside))
    bad.sentinel += int(np.sum(sentinel_mask & inside))
    bad.negative += int(np.sum(neg_mask & inside))
    bad.negative_sum += float(np.sum(values[neg_mask & inside]))
    usable = finite & ~sentinel_mask & ~neg_mask & ~inf_mask
    bad.valid += int(np.sum(usable & inside))
    values[~usable] = 0.0
    return values


def area_fractions(
    area: shapely.Geometry, transform: Affine, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Return each cell's exact area fraction inside ``area`` and the mask of cells computed exactly.

    Cells whose centre is inside and which the boundary does not come near are fully inside (1); cells
    near the boundary (touched by it, dilated by one cell to be safe from rasterisation rounding) get
    ``area(cell ∩ area) / area(cell)`` from shapely. All in the raster's CRS, where cells are rectangles.

    Parameters
    ----------
    area
        Study area polygon in the raster's CRS.
    transform
        Affine transform of the block's top-left cell.
    shape
        ``(rows, cols)`` of the block.

    Returns
    -------
    tuple of numpy.ndarray
        ``fraction`` (float64, in [0, 1]) and ``boundary`` (bool).
    """
    rows, cols = shape
    centre_in = rasterio.features.rasterize(
        [(area, 1)], out_shape=shape, transform=transform, fill=0, all_touched=False, dtype="uint8"
    ).astype(bool)
    # rasterise the boundary on a one-cell margin so the dilation sees lines just outside the block
    padded = transform @ Affine.translation(-1, -1)
    edge = rasterio.features.rasterize(
        [(area.boundary, 1)],
        out_shape=(rows + 2, cols + 2),
        transform=padded,
        fill=0,
        all_touched=True,
        dtype="uint8",
    ).astype(bool)
    boundary = ndimage.binary_dilation(edge, structure=np.ones((3, 3), dtype=bool))[1:-1, 1:-1]
    fraction = centre_in.astype("float64")
    fraction[boundary] = 0.0
    r, c = np.nonzero(boundary)
    if r.size:
        x0 = transform.c + transform.a * c
        y0 = transform.f + transform.e * r
        x1 = x0 + transform.a
        y1 = y0 + transform.e
        boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
        cell_area = abs(transform.a * transform.e)
        shapely.prepare(area)
        hit = shapely.intersects(area, boxes)
        inside = shapely.contains_properly(area, boxes)
        frac = np.where(inside, 1.0, 0.0)
        partial = hit & ~inside
        if partial.any():
            frac[partial] = shapely.area(shapely.intersection(boxes[partial], area)) / cell_area
        fraction[r, c] = np.clip(frac, 0.0, 1.0)
    return fraction, boundary


def iter_strips(src: rasterio.io.DatasetReader, rw: RasterWindow, *, max_cells: int) -> Iterator[Strip]:
    """Read the window in strips of whole rows, at most ``max_cells`` cells each (at least one row).

    Yields
    ------
    Strip
        Cleaned values and area fractions of each strip; ``rw.bad`` accumulates the counts.
    """
    rows, cols = rw.shape
    step = max(1, max_cells // max(cols, 1))
    for row0 in range(0, rows, step):
        nrows = min(step, rows - row0)
        window = rasterio.windows.Window(rw.window.col_off, rw.window.row_off + row0, cols, nrows)
        raw = src.read(rw.band, window=window)
        strip_transform = rw.transform @ Affine.translation(0, row0)
        fraction, boundary = area_fractions(rw.area, strip_transform, (nrows, cols))
        values = clean_values(raw, rw.nodata, fraction > 0, rw.bad)
        yield Strip(row0=row0, values=values, fraction=fraction, boundary=boundary)
