"""CRS checks shared by every stage: require a CRS, choose a metric one, refuse silent mixing.

Also: the study CRS must be true to scale where the city is (:func:`check_true_to_scale`), and a layer's
coordinates must be what its CRS says (:func:`check_coordinates`: swapped longitude and latitude, metres
labelled as degrees).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from siting.errors import CRSError, InputError


def require_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries, *, name: str) -> CRS:
    """Return the CRS of ``gdf``, or raise naming the layer.

    Parameters
    ----------
    gdf
        A layer read from a file or built in memory.
    name
        What to call the layer in the message (usually its file path).

    Raises
    ------
    CRSError
        If the layer has no CRS.
    InputError
        If the layer is empty.
    """
    if len(gdf) == 0:
        raise InputError(f"{name}: the layer is empty; it must contain at least one feature.")
    if gdf.crs is None:
        raise CRSError(
            f"{name}: the layer has no CRS, so it cannot be placed on the map. Save it again with its CRS "
            "(a shapefile keeps it in its .prj file; GeoJSON is always EPSG:4326), or in code "
            "`gdf.set_crs('EPSG:4326')`."
        )
    return CRS.from_user_input(gdf.crs)


def utm_crs_for(bounds: tuple[float, float, float, float], crs: CRS | str = "EPSG:4326") -> CRS:
    """Return the WGS 84 / UTM zone CRS for the centre of ``bounds``.

    Parameters
    ----------
    bounds
        ``(left, bottom, right, top)`` in ``crs``.
    crs
        CRS of ``bounds``.

    Returns
    -------
    pyproj.CRS
        ``EPSG:326NN`` north of the equator, ``EPSG:327NN`` south of it.
    """
    left, bottom, right, top = bounds
    series = gpd.GeoSeries.from_xy([(left + right) / 2], [(bottom + top) / 2], crs=crs).to_crs(4326)
    lon, lat = float(series.x.iloc[0]), float(series.y.iloc[0])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise CRSError(f"cannot place bounds {bounds} in {crs} on the globe to choose a UTM zone.")
    zone = int((lon + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def ensure_projected(crs: CRS | str | int, *, name: str) -> CRS:
    """Return ``crs`` if it is projected with metre units, else raise saying how to fix it."""
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise CRSError(
            f"{name}: CRS {crs.to_string()} is geographic (degrees); distances and areas need a "
            "projected CRS in metres. Leave `crs` unset to use the study area's UTM zone, or name one "
            "(e.g. 'EPSG:32649')."
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else "metre"
    if unit not in {"metre", "meter", "m"}:
        raise CRSError(f"{name}: CRS {crs.to_string()} measures in {unit!r}; a metre-based CRS is needed.")
    return crs


def same_crs(a: CRS | str, b: CRS | str, *, name_a: str, name_b: str) -> None:
    """Raise :class:`CRSError` showing both CRSs when ``a`` and ``b`` differ."""
    if not CRS.from_user_input(a).equals(CRS.from_user_input(b)):
        raise CRSError(
            f"{name_a} is in {CRS.from_user_input(a).to_string()} but {name_b} is in "
            f"{CRS.from_user_input(b).to_string()}; re-project one with `.to_crs(...)` so both match."
        )


SCALE_TOLERANCE = 0.005
"""Largest scale error (0.5 %) accepted for the study CRS at the study area's centre."""

STUDY_CRS_FIX = (
    "leave `crs: null` for the study area's UTM zone, or give a projected CRS made for the place (in China a "
    "CGCS2000 3-degree Gauss-Kruger zone, e.g. EPSG:4547 for CM 114E around Foshan)"
)


def crs_fix_for(lon: float, lat: float) -> str:
    """The study-CRS fix to suggest at ``(lon, lat)``: its UTM zone; in China also its CGCS2000 GK zone."""
    utm = utm_crs_for((lon, lat, lon, lat))
    fix = f"leave `crs: null` for the study area's UTM zone ({utm.to_string()})"
    if 73.5 <= lon < 136.5 and 3 <= lat <= 54:  # CGCS2000 / 3-degree Gauss-Kruger CM 75E ... 135E
        cm = 3 * round(lon / 3)
        return f"{fix}, or give EPSG:{4534 + (cm - 75) // 3} (CGCS2000 / 3-degree Gauss-Kruger CM {cm}E)"
    return f"{fix}, or give a projected CRS made for the place"


def scale_error(crs: CRS | str, lon: float, lat: float) -> float:
    """Return how far distances in ``crs`` are from true at ``(lon, lat)``, as a share (0.086 = 8.6 % off).

    The larger of the meridional and parallel scale errors (:meth:`pyproj.Proj.get_factors`); ``inf`` where
    the CRS cannot place the point.
    """
    from pyproj import Proj

    try:
        factors = Proj(CRS.from_user_input(crs)).get_factors(lon, lat)
    except Exception:  # pyproj raises ProjError and others for points a projection cannot take
        return math.inf
    errors = [abs(factors.meridional_scale - 1.0), abs(factors.parallel_scale - 1.0)]
    return max(errors) if all(math.isfinite(e) for e in errors) else math.inf


def check_true_to_scale(crs: CRS | str, lon: float, lat: float, *, name: str) -> None:
    """Raise unless ``crs`` is projected, in metres, and within :data:`SCALE_TOLERANCE` of true scale there.

    Parameters
    ----------
    crs
        The study CRS.
    lon, lat
        Centre of the study area, degrees.
    name
        What to call the CRS in the message (e.g. the scenario file and key).

    Raises
    ------
    CRSError
        Web Mercator (named as such), or any CRS whose distances at the centre are off by more than the
        tolerance, with the error found and the fix.
    """
    crs = ensure_projected(crs, name=name)
    error = scale_error(crs, lon, lat)
    if error <= SCALE_TOLERANCE:
        return
    where = f"{abs(lon):.2f}°{'E' if lon >= 0 else 'W'}, {abs(lat):.2f}°{'N' if lat >= 0 else 'S'}"
    off = "cannot place the study area" if not math.isfinite(error) else f"distances are {error:.1%} off"
    mercator = "Pseudo-Mercator" in crs.name or crs.to_epsg() in {3857, 900913, 3785}
    what = "Web Mercator, made for map tiles, not for measuring" if mercator else crs.name
    raise CRSError(
        f"{name}: {crs.to_string()} ({what}): at the study area's centre ({where}) its {off} "
        f"(at most {SCALE_TOLERANCE:.1%} is accepted); {crs_fix_for(lon, lat)}."
    )


def check_coordinates(gdf: gpd.GeoDataFrame, *, name: str, ids: pd.Series | None = None) -> None:
    """Raise when a layer's coordinates cannot be what its CRS says.

    Catches longitude and latitude swapped (a latitude beyond ±90° that would be fine as a longitude),
    projected metres in a layer labelled as degrees, degrees in a layer labelled as a projected CRS, and
    coordinates that are not finite.

    Parameters
    ----------
    gdf
        A layer with a CRS and no empty geometry.
    name
        What to call the layer in the message (its file).
    ids
        What to call each feature (e.g. its ``school_id``); default its index, or its position.

    Raises
    ------
    CRSError
        Naming the layer, the first feature at fault, its coordinates and the fix.
    """
    crs = CRS.from_user_input(gdf.crs)
    bounds = gdf.geometry.bounds
    x = bounds[["minx", "maxx"]].to_numpy()
    y = bounds[["miny", "maxy"]].to_numpy()
    if ids is None:
        ids = pd.Series(
            [f"#{i + 1}" for i in range(len(gdf))] if isinstance(gdf.index, pd.RangeIndex) else gdf.index
        )

    def first(mask: np.ndarray) -> str:
        row = int(np.flatnonzero(mask.any(axis=1) if mask.ndim > 1 else mask)[0])
        return f"feature {ids.iloc[row]} at ({x[row, 0]:.6g}, {y[row, 0]:.6g})"

    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise CRSError(
            f"{name}: {first(~(np.isfinite(x) & np.isfinite(y)))} has coordinates that are not numbers."
        )
    if crs.is_geographic:
        bad = ((np.abs(y) > 90) | (np.abs(x) > 360)).any(axis=1)
        swapped = bad & (np.abs(y) <= 180).all(axis=1) & (np.abs(x) <= 90).all(axis=1)
        if swapped.any():
            raise CRSError(
                f"{name}: {first(swapped)} has a latitude beyond ±90°: its longitude and latitude look "
                "swapped. Write x = longitude, y = latitude (GeoJSON: [lon, lat]; CSV: lon, lat)."
            )
        if bad.any():
            raise CRSError(
                f"{name}: {first(bad)} is not in degrees although the layer says {crs.to_string()} "
                "(longitude/latitude); the numbers look like a projected CRS's metres. Set the layer's real "
                "CRS (e.g. EPSG:4547 or its UTM zone) when you write it."
            )
    elif len(x) and (np.abs(x) <= 180).all() and (np.abs(y) <= 90).all():
        raise CRSError(
            f"{name}: all coordinates lie within 180 units of the origin of {crs.to_string()} "
            f"(e.g. {first(np.ones(len(x), dtype=bool))}): they look like longitude/latitude degrees in a "
            "layer labelled as metres. Set the layer's CRS to EPSG:4326 when you write it."
        )
