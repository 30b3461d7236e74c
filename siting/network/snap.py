"""Points onto the network: nearest edge, access leg, the snap limit and the report of far points."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from pyproj import CRS

from siting._crs import ensure_projected, require_crs, same_crs
from siting._log import get_logger
from siting.errors import CRSError, InputError, NetworkError, describe
from siting.network import _arrays

log = get_logger(__name__)


def _points_xy(frame: gpd.GeoDataFrame | pd.DataFrame, *, name: str, use_pop: bool) -> np.ndarray:
    """Point coordinates (m) of a layer.

    GeoDataFrames use their geometry (a point, else its representative point); with ``use_pop`` (units)
    the ``pop_x``/``pop_y`` columns replace it where both are given. Plain DataFrames need ``x``/``y``.
    Other ``x``/``y`` columns of a GeoDataFrame are ignored: they may be in another CRS.
    """
    if not isinstance(frame, gpd.GeoDataFrame):
        if not {"x", "y"} <= set(frame.columns):
            raise InputError(
                f"{name}: a table without geometry needs 'x' and 'y' columns (metres, study CRS); "
                f"found {list(frame.columns)}."
            )
        return np.column_stack(
            [pd.to_numeric(frame["x"], errors="coerce"), pd.to_numeric(frame["y"], errors="coerce")]
        ).astype(float)
    geom = frame.geometry
    if geom.isna().any() or geom.is_empty.any():
        bad = frame.index[(geom.isna() | geom.is_empty).to_numpy()][0]
        raise InputError(f"{name}: feature {bad!r} has no geometry; give every feature a location.")
    pts = geom.where(geom.geom_type == "Point", geom.representative_point())
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]).astype(float)
    if use_pop and {"pop_x", "pop_y"} <= set(frame.columns):
        given = np.column_stack(
            [pd.to_numeric(frame["pop_x"], errors="coerce"), pd.to_numeric(frame["pop_y"], errors="coerce")]
        )
        have = np.isfinite(given).all(axis=1)
        xy[have] = given[have]
    return xy


def _graph_crs(graph: nx.MultiDiGraph) -> CRS:
    if "crs" not in graph.graph:
        raise NetworkError("the road network has no 'crs' attribute; load it with load_network(...).")
    name = str(graph.graph.get("name", "road network"))
    try:
        return ensure_projected(graph.graph["crs"], name=name)
    except CRSError as exc:
        raise CRSError(f"{exc} Project the network first (load_network(..., crs=...)).") from exc


def snap_points(
    graph: nx.MultiDiGraph,
    points: gpd.GeoDataFrame | pd.DataFrame,
    *,
    max_snap_m: float,
) -> pd.DataFrame:
    """Snap points to their nearest network edge (not node).

    Parameters
    ----------
    graph
        Projected road graph (from :func:`load_network`).
    points
        A GeoDataFrame in the graph's CRS (units use ``pop_x``/``pop_y`` when present, other geometries
        their representative point) or a DataFrame with ``x``/``y`` columns in metres.
    max_snap_m
        Points farther than this from every edge are not snapped (m); they are reported in the log.

    Returns
    -------
    pandas.DataFrame
        Same index as ``points``; columns ``snapped`` (bool), ``u``, ``v``, ``key`` (the edge, missing when
        not snapped), ``position_m`` (distance along the edge from ``u``, in the edge's ``length`` units),
        ``edge_length_m``, ``access_m`` (straight leg from the point to the edge), ``snap_x``, ``snap_y``.
    """
    crs = _graph_crs(graph)
    name = "points"
    if isinstance(points, gpd.GeoDataFrame):
        same_crs(crs, require_crs(points, name=name), name_a="the road network", name_b=name)
    table = _arrays.edge_table(graph)
    xy = _points_xy(points, name=name, use_pop=True)
    snapped = _snap(table, xy, max_snap_m=max_snap_m, ids=points.index, name=name)
    ok = snapped.edge >= 0
    e = np.where(ok, snapped.edge, 0)
    return pd.DataFrame(
        {
            "snapped": ok,
            "u": pd.array(np.where(ok, table.nodes.to_numpy()[table.u[e]], None), dtype=object),
            "v": pd.array(np.where(ok, table.nodes.to_numpy()[table.v[e]], None), dtype=object),
            "key": pd.array(np.where(ok, table.key[e], None), dtype=object),
            "position_m": snapped.position,
            "edge_length_m": np.where(ok, table.length[e], np.nan),
            "access_m": snapped.access,
            "snap_x": snapped.snap_xy[:, 0],
            "snap_y": snapped.snap_xy[:, 1],
        },
        index=points.index,
    )


def _snap(table: _arrays.EdgeTable, xy: np.ndarray, *, max_snap_m: float, ids: pd.Index, name: str) -> Any:
    _check_snap_limit(max_snap_m)
    snapped = _arrays.snap(table, xy, max_snap_m=max_snap_m)
    _report_far(snapped.edge < 0, ids, name=name, max_snap_m=max_snap_m)
    return snapped


def _check_snap_limit(max_snap_m: float) -> None:
    if not (np.isfinite(max_snap_m) and max_snap_m >= 0):
        raise InputError(f"max_snap_m must be a distance in metres >= 0, got {describe(max_snap_m)}.")


def _report_far(far: np.ndarray, ids: pd.Index, *, name: str, max_snap_m: float) -> None:
    if far.any():
        shown = ", ".join(repr(i) for i in ids[far][:10]) + (" ..." if far.sum() > 10 else "")
        log.warning(
            "%s: %d of %d point(s) are more than %g m from any road and were not snapped: %s",
            name,
            int(far.sum()),
            len(far),
            max_snap_m,
            shown,
        )
