"""Maps of a whole city: home zones drawn as blocks, catchments simplified, so a browser opens the file.

A Folium map is one HTML file whose GeoJSON the browser parses and draws as SVG or canvas paths; its size
and load time grow with the vertices and features drawn. At Foshan's size (about 100,000 home zones of
200 m, 2,000 schools) the three maps drawn zone by zone were 75, 75 and 123 MB. Above
:data:`CITY_SCALE_UNITS` home zones, :func:`city_view` gives the maps a view of the result in which

- home zones are drawn as square **blocks** of k × k zones (k chosen so at most :data:`MAX_DRAWN_BLOCKS`
  blocks are drawn): population and seat demand summed, each block's current and proposed school the one
  most of its pupils attend, walks population-weighted; the homes that change school are summed per block
  and pair of schools. The per-school figures (seats, pupils, overflow) are still computed from every zone;
- catchments are **simplified in the study CRS** with a tolerance of :data:`SIMPLIFY_M` metres as one
  coverage (:func:`shapely.coverage_simplify`: neighbouring catchments keep one shared edge, no gaps or
  overlaps appear), before the maps reproject them to EPSG:4326 (which rounds to 0.1 m).

Why blocks rather than one map per district: the hearing and review maps must show catchments across
district boundaries (a school serves homes on both sides), and one file per output keeps the pipeline's
all-or-nothing staging of the three map files; the detail of one home zone is in ``units.gpkg`` and the
hearing packs. Below the threshold (the sample, a district of up to 15,000 zones) nothing changes.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting._log import get_logger
from siting.standards import LEVELS

log = get_logger(__name__)

CITY_SCALE_UNITS = 15_000
"""Home zones above which the maps draw blocks and simplified catchments (about a 12 MB map)."""

MAX_DRAWN_BLOCKS = 1_500
"""Blocks of home zones drawn at most per map at city scale."""

SIMPLIFY_M = 150.0
"""Tolerance (m, study CRS) of the catchment simplification at city scale (smooths one-zone steps)."""


def city_view(result: Any) -> Any:
    """Return ``result`` itself, or above :data:`CITY_SCALE_UNITS` home zones its city-scale view.

    Parameters
    ----------
    result
        A run result (``pipeline.RunResult`` or an object with its attributes).

    Returns
    -------
    object
        ``result``, or a :class:`_CityView` of it (simplified catchments, changes per block, and the
        ``map_coarsen`` hook that :meth:`siting.maps.data._MapData.from_result` calls).
    """
    units = getattr(result, "units", None)
    if not isinstance(units, gpd.GeoDataFrame) or len(units) <= CITY_SCALE_UNITS:
        return result
    return _CityView(result)


class _CityView:
    """A result seen at city scale; every attribute not set here is the result's."""

    def __init__(self, result: Any) -> None:
        self._result = result
        units = result.units
        self.block_m, self._block = _blocks(units)
        for name in ("catchments", "current_catchments"):
            gdf = getattr(result, name, None)
            if isinstance(gdf, gpd.GeoDataFrame) and len(gdf):
                setattr(self, name, simplify_catchments(gdf, SIMPLIFY_M))
        changes = getattr(result, "changes", None)
        if isinstance(changes, pd.DataFrame) and len(changes):
            self.changes = _block_changes(changes, self._block, units)
        log.info(
            "maps at city scale: %d home zones drawn as %d blocks of %.0f m, catchments simplified at %.0f m",
            len(units),
            self._block.nunique(),
            self.block_m,
            SIMPLIFY_M,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    def map_coarsen(self, data: Any) -> Any:
        """Replace the map data's home zones and walks by blocks (called by ``_MapData.from_result``)."""
        blocks, walks = block_units(data.units_m, self._block, data.walks)
        data.units_m = blocks
        data.units = data._wgs(blocks)
        data.walks = walks
        return data


def _blocks(units: gpd.GeoDataFrame) -> tuple[float, pd.Series]:
    """Block side (m) and each home zone's block id, so that at most :data:`MAX_DRAWN_BLOCKS` are drawn."""
    cell = float(np.sqrt(np.median(units.geometry.area.to_numpy())))
    k = max(2, math.ceil(math.sqrt(len(units) / MAX_DRAWN_BLOCKS)))
    side = cell * k
    centre = units.geometry.centroid
    left, bottom = units.total_bounds[:2]
    bx = np.floor((centre.x.to_numpy() - left) / side).astype(np.int64)
    by = np.floor((centre.y.to_numpy() - bottom) / side).astype(np.int64)
    return side, pd.Series(by * (int(bx.max()) + 1) + bx, index=units.index, name="block")


def block_units(
    units: gpd.GeoDataFrame, block: pd.Series, walks: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Sum home zones into blocks: population and demand, the main school per level, weighted walks.

    Parameters
    ----------
    units
        Home zones (study CRS) with ``population``, demand per level and ``current_/proposed_<level>``.
    block
        Block id per home zone (index ``unit_id``).
    walks
        Walk (m) per home zone, columns ``before_<level>``, ``after_<level>``.

    Returns
    -------
    tuple
        The blocks (GeoDataFrame, index = block id, the zones' union as geometry) and their walks,
        population-weighted means of the zones' walks.
    """
    pop = units["population"].astype(float)
    out = pd.DataFrame({"population": pop.groupby(block).sum()})
    for lvl in LEVELS:
        if lvl not in units.columns:
            continue
        demand = units[lvl].astype(float)
        out[lvl] = demand.groupby(block).sum()
        for col in (f"current_{lvl}", f"proposed_{lvl}"):
            if col in units.columns:
                out[col] = _main_school(units[col], demand, block).reindex(out.index)
    weight = pop.where(pop > 0, 1e-9)
    block_walks = pd.DataFrame(index=out.index)
    for col in walks.columns:
        w = walks[col].astype(float)
        has = w.notna()
        num = (w.fillna(0.0) * weight * has).groupby(block).sum()
        den = (weight * has).groupby(block).sum()
        block_walks[col] = (num / den.where(den > 0)).reindex(out.index)
    geoms = gpd.GeoSeries(units.geometry.to_numpy(), index=block.to_numpy(), crs=units.crs)
    merged = geoms.groupby(level=0).agg(lambda g: shapely.coverage_union_all(g.to_numpy()))
    merged = gpd.GeoSeries(merged).reindex(out.index)
    # the union keeps every zone corner along a block's straight edges; 1 m drops those collinear points
    # (a square block: from 4 k + 1 points to 5) and keeps the blocks one coverage
    merged = gpd.GeoSeries(shapely.coverage_simplify(merged.to_numpy(), 1.0), index=merged.index)
    frame = gpd.GeoDataFrame(out, geometry=merged, crs=units.crs)
    frame.index.name = "block"
    return frame, block_walks


def _main_school(school: pd.Series, demand: pd.Series, block: pd.Series) -> pd.Series:
    """Per block, the school that most of its pupils (``demand``) attend."""
    table = pd.DataFrame({"block": block.to_numpy(), "school": school.to_numpy(), "d": demand.to_numpy()})
    table = table[table["school"].notna()]
    sums = table.groupby(["block", "school"], sort=False)["d"].sum().reset_index()
    sums = sums.sort_values(["block", "d"], ascending=[True, False]).drop_duplicates("block")
    return sums.set_index("block")["school"]


def _block_changes(changes: pd.DataFrame, block: pd.Series, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Homes changing school summed per block, level and pair of schools (walks pupil-weighted)."""
    c = changes.copy()
    c["unit_id"] = block.reindex(c["unit_id"].to_numpy()).to_numpy()
    c = c[c["unit_id"].notna()]
    p = c["pupils"].astype(float)
    for col in ("walk_before_m", "walk_after_m"):
        if col not in c.columns:
            c[col] = np.nan
        c[col] = c[col].astype(float) * p
    keys = ["unit_id", "level", "old_school", "new_school"]
    out = c.groupby(keys, dropna=False)[["pupils", "walk_before_m", "walk_after_m"]].sum().reset_index()
    for col in ("walk_before_m", "walk_after_m"):
        out[col] = out[col] / out["pupils"].where(out["pupils"] > 0)
    out["unit_id"] = out["unit_id"].astype(np.int64)
    return out


def simplify_catchments(catchments: gpd.GeoDataFrame, tolerance_m: float) -> gpd.GeoDataFrame:
    """Simplify each level's catchments as one coverage (shared edges kept shared), in their own CRS.

    Parameters
    ----------
    catchments
        Catchment polygons with a ``level`` column, in a projected CRS (metres).
    tolerance_m
        Largest distance (m) a simplified edge may move.

    Returns
    -------
    geopandas.GeoDataFrame
        The same rows with simplified geometry; a level whose polygons do not form a clean coverage is
        simplified polygon by polygon (topology kept within each).
    """
    out = catchments.copy()
    geoms = out.geometry.to_numpy().copy()
    for lvl in pd.unique(out["level"]):
        rows = np.flatnonzero((out["level"] == lvl).to_numpy())
        part = geoms[rows]
        try:
            simplified = shapely.coverage_simplify(part, tolerance_m)
        except shapely.errors.GEOSException:
            simplified = shapely.simplify(part, tolerance_m, preserve_topology=True)
        geoms[rows] = simplified
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
