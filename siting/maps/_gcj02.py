"""WGS-84 ↔ GCJ-02, the offset datum of AMap/Gaode (and other Chinese) web map tiles.

GCJ-02 shifts positions in mainland China by a few hundred metres with a published-by-reverse-engineering
formula on the Krasovsky 1940 ellipsoid. Data in WGS-84 drawn on GCJ-02 tiles must be shifted by
:func:`wgs84_to_gcj02`; points outside China's bounding box are returned unchanged, as the tile providers do.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

_A = 6378245.0  # Krasovsky 1940 semi-major axis, metres
_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared

# Rough bounding box of mainland China used by every implementation of the offset, degrees.
_CHINA = (72.004, 0.8293, 137.8347, 55.8271)  # (left, bottom, right, top)


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Return True where (lon, lat) in degrees lies inside the box where GCJ-02 applies."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    left, bottom, right, top = _CHINA
    return (lon >= left) & (lon <= right) & (lat >= bottom) & (lat <= top)


def _delta(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Return the GCJ-02 offset (dlon, dlat) in degrees at WGS-84 (lon, lat) in degrees."""
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    wave = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + wave
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + wave
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(radlat) * pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Shift WGS-84 longitudes and latitudes (degrees) to GCJ-02; outside China they are unchanged.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees (scalars or arrays of one shape).

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in GCJ-02 degrees, float64, same shape as the input.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, tol_deg: float = 1e-9, max_iter: int = 20
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (converges to ``tol_deg``, ~0.1 mm).

    Parameters
    ----------
    lon, lat
        GCJ-02 longitudes and latitudes in degrees.
    tol_deg
        Stop when every point moves less than this many degrees between iterations.
    max_iter
        Upper bound on iterations (the error shrinks about 1,000-fold per step).

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in WGS-84 degrees.
    """
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        slon, slat = wgs84_to_gcj02(wlon, wlat)
        step_lon, step_lat = glon - slon, glat - slat
        wlon, wlat = wlon + step_lon, wlat + step_lat
        if max(np.max(np.abs(step_lon), initial=0.0), np.max(np.abs(step_lat), initial=0.0)) < tol_deg:
            break
    return wlon, wlat


def shift_geometries(geoms: ArrayLike) -> NDArray[np.object_]:
    """Return shapely geometries in WGS-84 degrees shifted to GCJ-02, vertex by vertex.

    Parameters
    ----------
    geoms
        Shapely geometries (array-like) with x = longitude and y = latitude in degrees.

    Returns
    -------
    numpy.ndarray
        New geometries of the same types; vertices outside China are unchanged.
    """

    def _shift(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(np.asarray(geoms, dtype=object), _shift)
