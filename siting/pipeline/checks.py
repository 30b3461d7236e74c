"""Cross-checks of a scenario against its data, before any heavy work (raster, network, model).

:func:`check_inputs` runs after the districts are read and before demand is built: it reads the schools,
sites and current catchments (checked against their schemas, :mod:`siting.schema`) and refuses, with one line
naming the file, the key, the value and the fix:

- a study CRS that is not true to scale where the city is (Web Mercator; a far UTM zone);
- growth-rate keys that name no district (``NewTown`` for ``Newtown``), with "did you mean";
- schools, sites or catchments that are not where the study area is (longitude and latitude swapped, a wrong
  CRS), naming the feature;
- no current catchments at all (the metrics compare the plan with today), or catchments naming a school
  that is not in the schools file;
- a grid too fine for this machine: the units and memory the cell size would take are estimated first.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting._crs import check_true_to_scale
from siting._log import get_logger
from siting.config import Scenario
from siting.errors import InputError
from siting.facilities import combine_facilities
from siting.pipeline import stages
from siting.schema import did_you_mean
from siting.standards import LEVELS, LEVELS_SERVED

log = get_logger(__name__)

BASE_MEMORY_BYTES = 350e6
"""Memory of a run before its units count (the libraries and the network), measured on the sample."""
BYTES_PER_PAIR = 3e3
"""Memory per estimated unit–school pair within walking reach (cost table and model), measured on the
sample city at 200, 100, 70 and 50 m cells (400–1,350 MB peak; the estimate is 3–45 % above)."""
BYTES_PER_UNIT = 2e3
"""Memory per demand unit besides its pairs (polygon, demand columns)."""
MEMORY_SHARE_REFUSED = 0.8
"""A grid whose estimate exceeds this share of the machine's memory is refused before it is built."""


class Inputs(NamedTuple):
    """The layers :func:`check_inputs` read, passed on so that no stage reads (and warns) twice."""

    schools: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    catchments: dict[str, gpd.GeoDataFrame]


def check_inputs(scenario: Scenario, area: stages.StudyArea) -> Inputs:
    """Read the point and catchment layers and cross-check the whole scenario against its data.

    Parameters
    ----------
    scenario
        A validated scenario.
    area
        Its districts and study CRS (:func:`~siting.pipeline.stages.read_study_area`).

    Returns
    -------
    Inputs
        Schools, sites and current catchments as read (study CRS).

    Raises
    ------
    InputError
        For any of the problems in the module docstring; nothing has been written yet.
    """
    label = str(scenario.source or scenario.name)
    lon, lat = study_centre(area)
    if scenario.crs is not None:
        check_true_to_scale(scenario.crs, lon, lat, name=f"{label}: crs")
    check_growth_keys(scenario, area, label)
    schools, sites = stages.read_school_layers(scenario, area.crs)
    facilities = combine_facilities(schools, sites, names=(str(scenario.schools), str(scenario.sites)))
    catchments = {lv: stages.read_catchments(p, area.crs) for lv, p in scenario.current_catchments.items()}
    reach = max(scenario.standards_object().hard_max_distance_m.values())
    layers = [(scenario.schools, schools), (scenario.sites, sites)]
    layers += [(scenario.current_catchments[lv], layer) for lv, layer in catchments.items()]
    for path, layer in layers:
        check_in_study_area(layer, area, name=str(path), margin_m=reach)
    for level, layer in catchments.items():
        unknown = sorted(set(layer["school_id"].dropna()) - set(facilities.index))
        if unknown:
            raise InputError(
                f"{scenario.current_catchments[level]}: school_id value(s) {unknown[:5]} are not in the "
                f"schools file {scenario.schools}.{did_you_mean(unknown[0], facilities.index)} Every current "
                "catchment must name an existing school."
            )
    if scenario.population.units is None:
        check_grid(scenario, area, facilities, label)
    return Inputs(schools, sites, catchments)


def study_centre(area: stages.StudyArea) -> tuple[float, float]:
    """Longitude and latitude (degrees) of the centre of the study area's bounds."""
    left, bottom, right, top = area.districts.to_crs(4326).total_bounds
    return float((left + right) / 2), float((bottom + top) / 2)


def check_growth_keys(scenario: Scenario, area: stages.StudyArea, label: str) -> None:
    """Refuse growth-rate keys that name no district, and districts left without a rate.

    Raises
    ------
    InputError
        ``population.growth.rate`` naming an unknown district (with the closest district name), or, without
        a ``default`` rate, a district that has none.
    """
    growth = scenario.population.growth
    if growth is None:
        return
    names = sorted(set(area.districts["name"]))
    where = f"{label}: population.growth.rate"
    for key in growth.rate:
        if key != "default" and key not in names:
            hint = did_you_mean(key, [*names, "default"], cutoff=0.6)
            raise InputError(
                f"{where}: {key!r} names no district of {scenario.districts.path} (districts: "
                f"{', '.join(names)}).{hint} A rate for an unknown name would be ignored."
            )
    missing = [n for n in names if n not in growth.rate]
    if missing and "default" not in growth.rate:
        raise InputError(
            f"{where}: no rate for district(s) {missing}; add them, or a 'default' rate for the others."
        )


def check_in_study_area(
    layer: gpd.GeoDataFrame, area: stages.StudyArea, *, name: str, margin_m: float
) -> None:
    """Refuse a layer that is not where the study area is; warn for features far outside it.

    Parameters
    ----------
    layer
        Features in the study CRS.
    area
        The study area.
    name
        What to call the layer (its file).
    margin_m
        Distance beyond the districts at which a feature serves no one (the longest hard walking limit).

    Raises
    ------
    InputError
        When a far feature would lie in the study area with longitude and latitude swapped, or when every
        feature is far outside it (a wrong CRS).
    """
    if len(layer) == 0:
        return
    region = shapely.union_all(area.districts.geometry.to_numpy())
    distance = layer.geometry.distance(region).to_numpy()
    far = distance > margin_m
    if not far.any():
        return
    swapped = _swapped(layer.geometry[far], area.crs)
    back = swapped.distance(region).to_numpy() <= margin_m
    first = layer.index[far][0]
    lonlat = layer.geometry[far].iloc[[0]].centroid.to_crs(4326).iloc[0]
    at = f"at {lonlat.x:.5f}, {lonlat.y:.5f} (lon, lat)"
    if back.any():
        row = int(np.flatnonzero(back)[0])
        raise InputError(
            f"{name}: feature {layer.index[far][row]!r} lies {distance[far][row] / 1000:,.0f} km outside the "
            "study area but would be inside it with longitude and latitude swapped; write x = longitude, "
            "y = latitude."
        )
    if far.all():
        raise InputError(
            f"{name}: every feature lies outside the study area (the nearest {distance.min() / 1000:,.1f} km "
            f"from the districts; e.g. {first!r} {at}); check the layer's CRS and that it is the right place."
        )
    log.warning(
        "%s: %d feature(s) lie more than %.1f km outside the study area (e.g. %r %s); they serve no one.",
        name, int(far.sum()), margin_m / 1000, first, at,
    )  # fmt: skip


def _swapped(geoms: gpd.GeoSeries, crs: str) -> gpd.GeoSeries:
    """The points with longitude and latitude swapped, back in ``crs`` (invalid ones become empty)."""
    lonlat = geoms.centroid.to_crs(4326)
    x, y = lonlat.x.to_numpy(), lonlat.y.to_numpy()
    ok = np.abs(x) <= 90
    points = gpd.GeoSeries(gpd.points_from_xy(np.where(ok, y, 0.0), np.where(ok, x, 0.0)), crs=4326)
    out = points.to_crs(crs)
    return out.where(ok & np.isfinite(out.x.to_numpy()), shapely.Point())


def check_grid(scenario: Scenario, area: stages.StudyArea, facilities: gpd.GeoDataFrame, label: str) -> None:
    """Estimate the units and memory the grid would take, and refuse one this machine cannot hold.

    Raises
    ------
    InputError
        ``population.cell_size_m`` whose estimate exceeds :data:`MEMORY_SHARE_REFUSED` of the machine's
        memory, with the estimate and the smallest cell size that fits.
    """
    cell = scenario.population.cell_size_m
    area_m2 = float(shapely.union_all(area.districts.geometry.to_numpy()).area)
    reach = scenario.standards_object().hard_max_distance_m
    estimate = grid_estimate(area_m2, cell, facilities, reach)
    memory = physical_memory()
    log.info(
        "demand grid of %g m cells: about %s units over %.1f km², about %.1f GB of memory",
        cell, f"{estimate[0]:,.0f}", area_m2 / 1e6, estimate[1] / 1e9,
    )  # fmt: skip
    if memory is None or estimate[1] <= MEMORY_SHARE_REFUSED * memory:
        return
    fits = cell
    while grid_estimate(area_m2, fits, facilities, reach)[1] > 0.5 * memory and fits < 2000:
        fits = math.ceil(fits * 1.25 / 10) * 10
    raise InputError(
        f"{label}: population.cell_size_m = {cell:g}: the study area ({area_m2 / 1e6:,.1f} km²) would make "
        f"about {estimate[0]:,.0f} demand units needing about {estimate[1] / 1e9:,.1f} GB of memory, more "
        f"than this machine's {memory / 1e9:,.1f} GB; use cell_size_m: {fits:g} or more."
    )


def grid_estimate(
    area_m2: float, cell_m: float, facilities: pd.DataFrame, reach_m: dict[str, float]
) -> tuple[float, float]:
    """Return ``(units, bytes)``: the demand units a grid of ``cell_m`` makes and the memory a run needs.

    Units: the area over the cell's area. Pairs: each unit with every school teaching a level within that
    level's walking limit (the share of the area a circle of that radius covers). Memory:
    :data:`BASE_MEMORY_BYTES` + :data:`BYTES_PER_UNIT` per unit + :data:`BYTES_PER_PAIR` per pair.
    """
    units = area_m2 / cell_m**2
    pairs = 0.0
    for level in LEVELS:
        teaching = int(facilities["level"].map(lambda k, lv=level: lv in LEVELS_SERVED[k]).sum())
        pairs += units * teaching * min(1.0, math.pi * reach_m[level] ** 2 / max(area_m2, 1.0))
    return units, BASE_MEMORY_BYTES + BYTES_PER_UNIT * units + BYTES_PER_PAIR * pairs


def physical_memory() -> float | None:
    """The machine's memory in bytes, or None where the system does not say."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None
