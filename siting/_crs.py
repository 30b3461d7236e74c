"""CRS checks shared by every stage: require a CRS, choose a metric one, and refuse silent mixing."""

from __future__ import annotations

import math

import geopandas as gpd
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
            f"{name}: the layer has no CRS. Set it when you know it, e.g. "
            "`gdf.set_crs('EPSG:4326')`, or write the file with its CRS (GeoJSON is EPSG:4326)."
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
