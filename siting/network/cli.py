"""``siting costs``: the cost table of unit and school layers over a network, written to Parquet."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from siting._atomic import write_atomic
from siting._crs import utm_crs_for
from siting.errors import InputError, OutputExistsError
from siting.network.costs import travel_costs, unreachable_units
from siting.network.load import load_network


def costs_cli(
    network_source: str,
    *,
    units_path: Path,
    schools_path: Path,
    max_distance_m: float,
    walking_speed_mps: float,
    max_snap_m: float,
    out: Path,
    overwrite: bool,
) -> str:
    """Build the cost table for ``siting costs`` and write it atomically to ``out`` (Parquet).

    Parameters
    ----------
    network_source
        A network file or a place name (see :func:`load_network`).
    units_path, schools_path
        Layers of units (``unit_id`` column, else the row number) and schools (``school_id`` column).
        Both are projected to the units' CRS when it is projected, else to the units' UTM zone.
    max_distance_m, walking_speed_mps, max_snap_m
        As in :func:`travel_costs`.
    out
        Output Parquet file; refused if it exists unless ``overwrite``.
    overwrite
        Replace ``out``.

    Returns
    -------
    str
        Lines to print: pairs kept, unreachable units (count and population) and time taken.
    """
    start = time.perf_counter()
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it.")
    units, schools, crs = _read_layers(units_path, schools_path)
    graph = load_network(network_source, crs=crs)
    costs = travel_costs(
        graph,
        units,
        schools,
        max_distance_m=max_distance_m,
        walking_speed_mps=walking_speed_mps,
        max_snap_m=max_snap_m,
    )
    lost = unreachable_units(units, costs)
    _write_parquet(costs, out)
    population = float(np.nansum(lost["population"])) if len(lost) else 0.0
    return "\n".join(
        [
            f"network: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges, "
            f"{100 * graph.graph['share_outside_largest']:.1f}% of length outside the largest component",
            f"pairs kept: {len(costs)} ({len(units)} units x {len(schools)} schools, "
            f"limit {max_distance_m:g} m)",
            f"unreachable units: {len(lost)} (population {population:.0f})",
            f"time taken: {time.perf_counter() - start:.1f} s",
            f"written: {out}",
        ]
    )


def _read_layers(units_path: Path, schools_path: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, CRS]:
    """Read units and schools, index them by id and project both to one metric CRS.

    Parameters
    ----------
    units_path, schools_path
        As in :func:`costs_cli`.

    Returns
    -------
    tuple
        ``(units, schools, crs)``: units indexed by ``unit_id`` (its column, else the row number),
        schools by ``school_id`` (str), and the CRS both are in (the units' own when projected, else
        their UTM zone).
    """
    from siting.facilities import read_layer

    units = read_layer(units_path)
    if "unit_id" in units.columns:
        units = units.set_index("unit_id")
    else:
        units.index = units.index.rename("unit_id")
    schools = read_layer(schools_path)
    if "school_id" not in schools.columns:
        raise InputError(f"{schools_path}: needs a 'school_id' field naming each school.")
    schools = schools.set_index("school_id")
    schools.index = schools.index.astype(str)
    crs = CRS.from_user_input(units.crs)
    if not crs.is_projected:
        crs = utm_crs_for(tuple(units.total_bounds), crs)
    return units.to_crs(crs), schools.to_crs(crs), crs


def _write_parquet(costs: pd.DataFrame, out: Path) -> None:
    """Write ``costs`` to ``out`` (Parquet, no index) through a temporary file: ``out`` is never partial."""
    write_atomic(out, lambda tmp: costs.to_parquet(tmp, index=False))
