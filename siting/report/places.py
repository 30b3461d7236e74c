"""Naming places as people find them: a grid reference on 1 km sheets, the nearest named road, the district.

Grid references
---------------
The study area is cut into square sheets (1 km by default) from its north-west corner: columns are letters
from the west (``A``, ``B``, … ``Z``, ``AA``, …), rows numbers from the north (``1``, ``2``, …), so sheet
``C7`` is the third column and seventh row. Inside a sheet, two digits give the position in hundreds of
metres east and south of the sheet's north-west corner: ``C7-24`` lies 200–300 m east and 400–500 m south of
it. Two units that fall in the same 100 m square get a letter each (``C7-24a``, ``C7-24b``, in ``unit_id``
order), so every reference is unique. The grid is fixed by the units' extent: the same units always get the
same references, in every plan and in the review of two plans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.errors import InputError

SHEET_M = 1000.0
"""Side of a grid sheet, metres."""

ROAD_MAX_M = 300.0
"""A road farther than this from a unit is not named as its nearest road, metres."""


@dataclass(frozen=True)
class SheetGrid:
    """The sheet grid of a study area: its north-west corner and the sheet size (projected metres).

    Attributes
    ----------
    west, north
        Coordinates of the grid's north-west corner, metres (study CRS).
    size_m
        Side of a sheet, metres.
    columns, rows
        Number of sheets west–east and north–south.
    """

    west: float
    north: float
    size_m: float
    columns: int
    rows: int

    @classmethod
    def for_units(cls, units: gpd.GeoDataFrame, *, size_m: float = SHEET_M) -> SheetGrid:
        """Return the grid covering ``units``, its corner on whole multiples of ``size_m``.

        Raises
        ------
        InputError
            For an empty layer, one without a CRS or in degrees, or a size that is not positive.
        """
        if not (size_m > 0 and math.isfinite(size_m)):
            raise InputError(f"grid sheet size must be a positive number of metres, got {size_m!r}.")
        if len(units) == 0:
            raise InputError("grid references: the units table is empty; there is nothing to name.")
        if units.crs is None or not units.crs.is_projected:
            raise InputError(
                f"grid references need units in a projected CRS (metres), got {units.crs}; use .to_crs()."
            )
        left, bottom, right, top = units.total_bounds
        west = math.floor(left / size_m) * size_m
        north = math.ceil(top / size_m) * size_m
        columns = max(1, math.ceil((right - west) / size_m))
        rows = max(1, math.ceil((north - bottom) / size_m))
        return cls(float(west), float(north), float(size_m), int(columns), int(rows))

    def column_name(self, index: int) -> str:
        """Return the letters of column ``index`` (0 → ``A``, 25 → ``Z``, 26 → ``AA``)."""
        return _letters(index).upper()

    def sheet_name(self, column: int, row: int) -> str:
        """Return the name of the sheet in ``column`` and ``row`` (both from 0): ``C7`` for (2, 6)."""
        return f"{self.column_name(column)}{row + 1}"

    def references(self, x: np.ndarray, y: np.ndarray) -> list[str]:
        """Return the grid reference (sheet and 100 m square, e.g. ``C7-24``) of each point.

        Parameters
        ----------
        x, y
            Coordinates, metres (study CRS).

        Returns
        -------
        list of str
            One reference per point; not yet made unique (see :func:`grid_references`).
        """
        east = (np.asarray(x, dtype=float) - self.west) / self.size_m
        south = (self.north - np.asarray(y, dtype=float)) / self.size_m
        col = np.clip(np.floor(east).astype(int), 0, self.columns - 1)  # the far edges belong to the last
        row = np.clip(np.floor(south).astype(int), 0, self.rows - 1)
        tenth_e = np.clip(np.floor((east - col) * 10).astype(int), 0, 9)
        tenth_s = np.clip(np.floor((south - row) * 10).astype(int), 0, 9)
        return [
            f"{self.sheet_name(c, r)}-{e}{s}"
            for c, r, e, s in zip(col.tolist(), row.tolist(), tenth_e.tolist(), tenth_s.tolist(), strict=True)
        ]

    def lines(self) -> tuple[list[float], list[float]]:
        """Return the x of the vertical and the y of the horizontal sheet edges, metres."""
        xs = [self.west + i * self.size_m for i in range(self.columns + 1)]
        ys = [self.north - j * self.size_m for j in range(self.rows + 1)]
        return xs, ys


def grid_references(units: gpd.GeoDataFrame, grid: SheetGrid | None = None) -> pd.Series:
    """Return a unique grid reference per unit (see the module docstring), indexed like ``units``.

    Parameters
    ----------
    units
        Demand units (index ``unit_id``, projected CRS); each is placed by its representative point.
    grid
        The sheet grid; default :meth:`SheetGrid.for_units` of ``units``.

    Returns
    -------
    pandas.Series
        ``C7-24``-style references; a letter is added where two units share a 100 m square.
    """
    grid = grid or SheetGrid.for_units(units)
    points = units.geometry.representative_point()
    refs = pd.Series(grid.references(points.x.to_numpy(), points.y.to_numpy()), index=units.index)
    order = np.argsort(units.index.to_numpy(), kind="stable")
    ranked = refs.iloc[order]
    count = ranked.groupby(ranked).transform("size")
    nth = ranked.groupby(ranked).cumcount()
    suffix = [_letters(n) if c > 1 else "" for n, c in zip(nth.tolist(), count.tolist(), strict=True)]
    ranked = ranked + pd.Series(suffix, index=ranked.index)
    return ranked.reindex(units.index).rename("grid_ref")


def _letters(n: int) -> str:
    """0 → ``a``, 25 → ``z``, 26 → ``aa``."""
    name = ""
    n += 1
    while n > 0:
        n, rest = divmod(n - 1, 26)
        name = chr(ord("a") + rest) + name
    return name


def roads_from_graph(graph: Any) -> gpd.GeoDataFrame:
    """Return the named streets of a road graph as lines with a ``name`` column (the graph's CRS).

    Parameters
    ----------
    graph
        An osmnx graph (``networkx.MultiDiGraph`` with a ``crs`` graph attribute and edge ``name`` tags).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per named edge (an edge with several names gives one row each); empty when no edge has
        a name.
    """
    import osmnx as ox

    edges = ox.graph_to_gdfs(graph, nodes=False, fill_edge_geometry=True)
    if "name" not in edges.columns:
        return gpd.GeoDataFrame({"name": []}, geometry=[], crs=edges.crs)
    named = edges[["name", "geometry"]].explode("name", ignore_index=True)
    named = named[named["name"].map(lambda v: isinstance(v, str) and v.strip() != "")]
    return gpd.GeoDataFrame(named.reset_index(drop=True), geometry="geometry", crs=edges.crs)


def nearest_roads(
    points: gpd.GeoSeries, roads: gpd.GeoDataFrame | None, *, max_m: float = ROAD_MAX_M
) -> pd.DataFrame:
    """Return the nearest named road of each point and its distance, within ``max_m``.

    Parameters
    ----------
    points
        Points (projected CRS), any index.
    roads
        Lines with a ``name`` column (:func:`roads_from_graph`), or ``None``.
    max_m
        Farther roads are not named, metres.

    Returns
    -------
    pandas.DataFrame
        Index of ``points``; ``road`` (name or missing) and ``road_m`` (metres or NaN).

    Raises
    ------
    InputError
        When ``roads`` has no ``name`` column.
    """
    out = pd.DataFrame({"road": pd.Series(None, index=points.index, dtype=object), "road_m": np.nan})
    if roads is None or len(roads) == 0 or len(points) == 0:
        return out
    if "name" not in roads.columns:
        raise InputError(f"roads need a 'name' column to name places; columns are {list(roads.columns)}.")
    lines = roads[["name", "geometry"]].to_crs(points.crs)
    left = gpd.GeoDataFrame({"_i": np.arange(len(points))}, geometry=points.to_numpy(), crs=points.crs)
    hit = gpd.sjoin_nearest(left, lines, how="left", max_distance=max_m, distance_col="road_m")
    hit = hit.sort_values(["_i", "road_m", "name"]).drop_duplicates("_i").set_index("_i")
    out["road"] = hit["name"].reindex(np.arange(len(points))).to_numpy(dtype=object)
    out["road_m"] = hit["road_m"].reindex(np.arange(len(points))).to_numpy(dtype=float)
    return out


def unit_places(
    units: gpd.GeoDataFrame, *, roads: gpd.GeoDataFrame | None = None, grid: SheetGrid | None = None
) -> pd.DataFrame:
    """Return how to find each unit: grid reference, nearest named road, district and a one-line label.

    Parameters
    ----------
    units
        Demand units (index ``unit_id``, projected CRS), optionally with ``district``.
    roads
        Named road lines (:func:`roads_from_graph`), or ``None`` (no road names).
    grid
        The sheet grid; default :meth:`SheetGrid.for_units`.

    Returns
    -------
    pandas.DataFrame
        Index ``unit_id``; ``grid_ref`` (unique), ``road``, ``road_m``, ``district`` and ``place``: e.g.
        ``C7-24 · 祖庙一街 80 m · Old Town``.
    """
    grid = grid or SheetGrid.for_units(units)
    out = pd.DataFrame({"grid_ref": grid_references(units, grid)})
    out = out.join(nearest_roads(units.geometry.representative_point(), roads))
    district = units["district"] if "district" in units.columns else pd.Series(None, index=units.index)
    out["district"] = district.astype(object).where(district.notna(), None)
    out["place"] = [
        " · ".join(
            p
            for p in (
                ref,
                f"{road} {dist:,.0f} m" if isinstance(road, str) else "",
                str(d) if d is not None else "",
            )
            if p
        )
        for ref, road, dist, d in zip(
            out["grid_ref"], out["road"], out["road_m"], out["district"], strict=True
        )
    ]
    return out
