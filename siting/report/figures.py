"""Static maps for the printed packs (matplotlib, PNG): a parcel's surroundings, a school's moves, the grid.

Every map is drawn in the study CRS (metres) on the sheet grid of :mod:`siting.report.places`, with the
sheet letters and numbers in the margins, so a grid reference printed in a table can be found on it. Text in
the images is ASCII only (school ids, sheet names, distances); the bilingual legend is printed beside the
image by the pack (:data:`LEGEND`), so no CJK font is needed by matplotlib.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.report.places import SheetGrid

COLOURS: Mapping[str, str] = {
    "parcel": "#D55E00",
    "chosen": "#009E73",
    "not_chosen": "#777777",
    "catchment": "#56B4E9",
    "source": "#E69F00",
    "school": "#000000",
    "moves_in": "#009E73",
    "moves_out": "#E69F00",
    "stays": "#CFE8F7",
    "road": "#4D4D4D",
    "grid": "#0072B2",
}
"""Okabe–Ito colours of the static maps (colour-blind safe)."""

LEGEND: Mapping[str, tuple[str, str, str]] = {
    "parcel": (COLOURS["parcel"], "本地块", "this parcel"),
    "chosen": (COLOURS["chosen"], "选用的其他地块", "other chosen parcels"),
    "not_chosen": (COLOURS["not_chosen"], "未选用地块", "parcels not chosen"),
    "catchment": (COLOURS["catchment"], "方案服务范围", "its catchment in the plan"),
    "source": (COLOURS["source"], "学生来源学校", "schools its pupils come from"),
    "school": (COLOURS["school"], "现有学校", "existing schools"),
    "moves_in": (COLOURS["moves_in"], "迁入单元", "units moving in"),
    "moves_out": (COLOURS["moves_out"], "迁出单元", "units moving out"),
    "stays": (COLOURS["stays"], "不变单元", "units that stay"),
    "radius": (COLOURS["parcel"], "服务半径（直线）", "service radius (straight line)"),
    "grid": (
        COLOURS["grid"],
        "图幅网格（字母为列，数字为行）",
        "sheet grid (letters: columns, numbers: rows)",
    ),
}
"""Legend entries: key → (colour, Chinese, English)."""


@dataclass(frozen=True)
class Layer:
    """Polygons or points to draw: geometries (study CRS), fill, edge, and optional labels."""

    geoms: gpd.GeoSeries
    face: str = "none"
    edge: str = "none"
    width: float = 0.8
    alpha: float = 1.0
    dashed: bool = False
    marker: float = 0.0
    labels: Sequence[str] = ()


def window(geoms: Iterable[shapely.Geometry], *, pad_m: float = 300.0, min_half_m: float = 500.0) -> tuple:
    """Return a square ``(left, bottom, right, top)`` around ``geoms``, metres, padded and at least 2×min."""
    parts = [g for g in geoms if g is not None and not g.is_empty]
    left, bottom, right, top = shapely.GeometryCollection(parts).bounds
    cx, cy = (left + right) / 2, (bottom + top) / 2
    half = max((right - left) / 2, (top - bottom) / 2) + pad_m
    half = max(half, min_half_m)
    return (cx - half, cy - half, cx + half, cy + half)


def draw_map(
    bounds: tuple[float, float, float, float],
    layers: Sequence[Layer],
    *,
    grid: SheetGrid,
    background: gpd.GeoDataFrame | None = None,
    weight: str | None = None,
    roads: gpd.GeoDataFrame | None = None,
    circles: Sequence[tuple[float, float, float]] = (),
    size_in: float = 6.2,
    dpi: int = 120,
) -> bytes:
    """Return a PNG of ``layers`` over the units and roads inside ``bounds``, with the sheet grid.

    Parameters
    ----------
    bounds
        ``(left, bottom, right, top)``, metres (study CRS).
    layers
        Drawn in order over the background.
    grid
        The sheet grid drawn and labelled in the margins.
    background
        Units drawn in light grey, darker where ``weight`` (a column, e.g. pupils per km²) is higher.
    weight
        Column of ``background`` for the shading; None for a flat grey.
    roads
        Road lines drawn thin and grey.
    circles
        ``(x, y, radius)`` rings drawn dashed (e.g. the service radius), metres.
    size_in, dpi
        Figure size (inches, square) and resolution.

    Returns
    -------
    bytes
        The PNG image.
    """
    from matplotlib.figure import Figure

    # no Agg canvas until savefig: geopandas asks the canvas to redraw after every layer, which the base
    # canvas skips (savefig picks the PNG canvas itself)
    fig = Figure(figsize=(size_in, size_in), dpi=dpi)
    ax = fig.add_axes((0.07, 0.05, 0.9, 0.9))
    left, bottom, right, top = bounds
    box = shapely.box(*bounds)
    if background is not None and len(background):
        _draw_background(ax, background, weight, box)
    if roads is not None and len(roads):
        _draw_roads(ax, roads, box)
    for layer in layers:
        _draw_layer(ax, layer, box)
    for x, y, r in circles:
        ring = shapely.Point(x, y).buffer(r, 64).exterior
        ax.plot(*ring.xy, color=COLOURS["parcel"], linewidth=1.0, linestyle=(0, (5, 4)), zorder=6)
    _draw_grid(ax, grid, bounds)
    _scale_bar(ax, bounds)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _rings(geoms: gpd.GeoSeries) -> tuple[list[np.ndarray], np.ndarray]:
    """Exterior rings of the polygons (multi-polygons split) and, per ring, the position of its geometry.

    Holes are left out: the maps draw grid cells, blocks and parcels, which seldom have any.
    """
    parts, index = shapely.get_parts(geoms.to_numpy(), return_index=True)
    polygonal = shapely.get_type_id(parts) == 3
    rings = [np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(g))) for g in parts[polygonal]]
    return rings, index[polygonal]


def _polygons(ax: object, geoms: gpd.GeoSeries, face: Any, **style: Any) -> None:
    """Draw polygons as one collection (one matplotlib object, not one patch per polygon)."""
    from matplotlib.collections import PolyCollection

    rings, index = _rings(geoms)
    if not rings:
        return
    if isinstance(face, list | np.ndarray):
        face = [face[i] for i in index]
    ax.add_collection(PolyCollection(rings, facecolors=face, **style))  # type: ignore[attr-defined]


def _draw_background(ax: object, units: gpd.GeoDataFrame, weight: str | None, box: shapely.Geometry) -> None:
    left, bottom, right, top = box.bounds
    near = units.cx[left:right, bottom:top]
    if not len(near):
        return
    if weight is None or weight not in near.columns:
        _polygons(ax, near.geometry, "#EEEEEE", edgecolors="none", zorder=1)
        return
    values = pd.to_numeric(near[weight], errors="coerce").fillna(0.0).to_numpy(float)
    high = float(np.nanpercentile(values, 95)) if len(values) else 0.0
    shade = np.clip(values / high, 0, 1) if high > 0 else np.zeros_like(values)
    grey = [(1 - 0.35 * v, 1 - 0.35 * v, 1 - 0.35 * v) for v in shade]
    _polygons(ax, near.geometry, grey, edgecolors="none", zorder=1)


def _draw_layer(ax: object, layer: Layer, box: shapely.Geometry) -> None:
    geoms = layer.geoms
    if not len(geoms):
        return
    keep = geoms.intersects(box).to_numpy()
    geoms = geoms[keep]
    labels = [lab for lab, k in zip(layer.labels, keep, strict=False) if k] if layer.labels else []
    if not len(geoms):
        return
    if layer.marker:
        pts = geoms.representative_point()
        ax.scatter(  # type: ignore[attr-defined]
            pts.x, pts.y, s=layer.marker, c=layer.face, edgecolors=layer.edge, linewidths=0.6, zorder=8
        )
    else:
        _polygons(
            ax,
            geoms,
            layer.face,
            edgecolors=layer.edge,
            linewidths=layer.width,
            alpha=layer.alpha,
            linestyles="--" if layer.dashed else "-",
            zorder=4 if layer.face == "none" else 3,
        )
    if labels:
        pts = geoms.representative_point()
        for x, y, text in zip(pts.x, pts.y, labels, strict=True):
            ax.annotate(  # type: ignore[attr-defined]
                text, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7, zorder=9,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
            )  # fmt: skip


def _draw_roads(ax: object, roads: gpd.GeoDataFrame, box: shapely.Geometry) -> None:
    from matplotlib.collections import LineCollection

    left, bottom, right, top = box.bounds
    parts = shapely.get_parts(roads.cx[left:right, bottom:top].geometry.to_numpy())
    lines = [np.asarray(shapely.get_coordinates(g)) for g in parts if g.geom_type == "LineString"]
    if lines:
        ax.add_collection(  # type: ignore[attr-defined]
            LineCollection(lines, colors=COLOURS["road"], linewidths=0.45, alpha=0.7, zorder=5)
        )


def _draw_grid(ax: object, grid: SheetGrid, bounds: tuple[float, float, float, float]) -> None:
    """Sheet edges across the map; column letters along the top, row numbers down the left."""
    left, bottom, right, top = bounds
    xs, ys = grid.lines()
    style = {"color": COLOURS["grid"], "linewidth": 0.9, "alpha": 0.7, "linestyle": (0, (4, 3)), "zorder": 7}
    for x in xs:
        if left <= x <= right:
            ax.plot([x, x], [bottom, top], **style)  # type: ignore[attr-defined]
    for y in ys:
        if bottom <= y <= top:
            ax.plot([left, right], [y, y], **style)  # type: ignore[attr-defined]
    label = {"fontsize": 8.5, "color": COLOURS["grid"], "ha": "center", "va": "center", "zorder": 10,
             "fontweight": "bold"}  # fmt: skip
    for i in range(grid.columns):
        cx = grid.west + (i + 0.5) * grid.size_m
        if left <= cx <= right:
            ax.text(cx, top, grid.column_name(i), **{**label, "va": "bottom"})  # type: ignore[attr-defined]
    for j in range(grid.rows):
        cy = grid.north - (j + 0.5) * grid.size_m
        if bottom <= cy <= top:
            ax.text(left, cy, str(j + 1), **{**label, "ha": "right"})  # type: ignore[attr-defined]


def _scale_bar(ax: object, bounds: tuple[float, float, float, float]) -> None:
    left, bottom, right, top = bounds
    span = right - left
    length = next(s for s in (100, 200, 500, 1000, 2000, 5000, 10000) if s >= span / 6)
    x0, y0 = left + 0.04 * span, bottom + 0.04 * (top - bottom)
    ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=2.5, zorder=11)  # type: ignore[attr-defined]
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    ax.text(x0 + length / 2, y0, text, ha="center", va="bottom", fontsize=8, zorder=11)  # type: ignore[attr-defined]


def radius_rings(point: shapely.Point, radii: Iterable[float]) -> list[tuple[float, float, float]]:
    """Rings of the given radii (metres) around a point, for :func:`draw_map`'s ``circles``."""
    return [(point.x, point.y, float(r)) for r in radii if r and math.isfinite(float(r))]
