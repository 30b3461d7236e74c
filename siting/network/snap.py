"""Points onto the network: nearest usable edge, access leg, the snap limit and the report of far points.

Points snap only to the network's main part: its largest connected component, and any other component
with at least :data:`MIN_COMPONENT_M` of road. A point next to a short fragment that is not connected to
the rest (a two-node footpath in a park, a driveway, a way clipped at the edge of an extract) snaps to the
nearest main road instead, so it reaches the schools or homes it really can (the fragment would reach
nothing); such points are listed in the log.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from siting._crs import ensure_projected, require_crs, same_crs
from siting._log import get_logger
from siting.errors import CRSError, InputError, NetworkError, describe
from siting.network import _arrays

log = get_logger(__name__)

MIN_COMPONENT_M = 2000.0
"""Default least road length (m) of a connected component, other than the largest, that points may snap to.

Two kilometres of street is a few blocks: shorter pieces cut off from the rest are fragments (park paths,
driveways, gated-compound paths mapped without their gate, ways clipped at an extract's edge), longer ones
are real separate networks such as an island or a town beyond a river without a mapped bridge. Pass
``min_component_m=0`` to snap to every component, ``float("inf")`` for the largest only."""

Layer = tuple[np.ndarray, pd.Index, str]
"""One side of a snap: point coordinates ``(n, 2)`` (m), their ids and how messages name them."""


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


def _graph_crs(graph: _arrays.Network) -> CRS:
    """The network's projected CRS (a graph's ``crs`` attribute, or its edge table's ``crs``)."""
    if isinstance(graph, _arrays.EdgeTable):
        crs, name = graph.crs, graph.name
    else:
        crs, name = graph.graph.get("crs"), str(graph.graph.get("name", "road network"))
    if crs is None:
        raise NetworkError("the road network has no 'crs' attribute; load it with load_network(...).")
    try:
        return ensure_projected(crs, name=name)
    except CRSError as exc:
        raise CRSError(f"{exc} Project the network first (load_network(..., crs=...)).") from exc


def snap_points(
    graph: _arrays.Network,
    points: gpd.GeoDataFrame | pd.DataFrame,
    *,
    max_snap_m: float,
    min_component_m: float = MIN_COMPONENT_M,
) -> pd.DataFrame:
    """Snap points to their nearest usable network edge (not node).

    Parameters
    ----------
    graph
        Projected road graph (from :func:`load_network`), or its edge table (:func:`road_table`).
    points
        A GeoDataFrame in the graph's CRS (units use ``pop_x``/``pop_y`` when present, other geometries
        their representative point) or a DataFrame with ``x``/``y`` columns in metres.
    max_snap_m
        Points farther than this from every usable edge are not snapped (m); they are reported in the log.
    min_component_m
        Least road length (m) of a connected component, other than the largest, to snap to
        (:data:`MIN_COMPONENT_M`).

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
    table = _arrays.as_table(graph)
    xy = _points_xy(points, name=name, use_pop=True)
    snapped = snap_layers(
        table, [(xy, points.index, name)], max_snap_m=max_snap_m, min_component_m=min_component_m
    )
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


def snap_layers(
    table: _arrays.EdgeTable, layers: list[Layer], *, max_snap_m: float, min_component_m: float
) -> _arrays.Snapped:
    """Snap several layers' points together to the usable edges and report, per layer, what was not.

    Parameters
    ----------
    table
        The network's edges.
    layers
        ``(xy, ids, name)`` of each layer (e.g. units, then schools).
    max_snap_m
        Snap limit (m); farther points are reported and left unsnapped.
    min_component_m
        Least road length (m) of a component other than the largest to snap to.

    Returns
    -------
    siting.network._arrays.Snapped
        The layers' rows in the order given.
    """
    _check_snap_limit(max_snap_m)
    if not min_component_m >= 0:  # NaN fails too; inf keeps the largest component only
        raise InputError(
            f"min_component_m must be a road length in metres >= 0, got {describe(min_component_m)}."
        )
    usable = _arrays.usable_edges(table, min_component_m)
    xy = np.concatenate([layer[0] for layer in layers]) if layers else np.empty((0, 2))
    snapped = _arrays.snap(table, xy, max_snap_m=max_snap_m, usable=usable)
    nearest = None if usable.all() else _arrays.snap(table, xy, max_snap_m=max_snap_m).edge
    start = 0
    for layer_xy, ids, name in layers:
        rows = slice(start, start + len(layer_xy))
        start += len(layer_xy)
        _report_far(snapped.edge[rows] < 0, ids, name=name, max_snap_m=max_snap_m)
        if nearest is not None:
            fragment = (nearest[rows] >= 0) & ~usable[np.maximum(nearest[rows], 0)]
            _report_fragment(
                fragment, snapped.edge[rows] >= 0, ids, name=name, min_component_m=min_component_m
            )
    return snapped


def _check_snap_limit(max_snap_m: float) -> None:
    if not (np.isfinite(max_snap_m) and max_snap_m >= 0):
        raise InputError(f"max_snap_m must be a distance in metres >= 0, got {describe(max_snap_m)}.")


def examples(ids: pd.Index, mask: np.ndarray, limit: int = 10) -> str:
    """The first ``limit`` ids where ``mask`` is true, as a comma-separated list (``...`` when more)."""
    return ", ".join(repr(i) for i in ids[mask][:limit]) + (" ..." if mask.sum() > limit else "")


def _report_far(far: np.ndarray, ids: pd.Index, *, name: str, max_snap_m: float) -> None:
    if far.any():
        log.warning(
            "%s: %d of %d point(s) are more than %g m from any road and were not snapped: %s",
            name,
            int(far.sum()),
            len(far),
            max_snap_m,
            examples(ids, far),
        )


def _report_fragment(
    fragment: np.ndarray, snapped: np.ndarray, ids: pd.Index, *, name: str, min_component_m: float
) -> None:
    """Log the points whose nearest road is a fragment cut off from the main network."""
    if not fragment.any():
        return
    moved, lost = fragment & snapped, fragment & ~snapped
    log.warning(
        "%s: %d point(s) lie nearest a road fragment not connected to the main network (under %g m of "
        "road): %d snapped to the main network instead, %d too far from it to snap: %s",
        name,
        int(fragment.sum()),
        min_component_m,
        int(moved.sum()),
        int(lost.sum()),
        examples(ids, fragment),
    )
