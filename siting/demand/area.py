"""The study area: polygons or a bbox, its CRS, the study CRS, and the command line's ``--area``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from siting._crs import ensure_projected, require_crs, utm_crs_for
from siting.errors import InputError, describe

BBox = tuple[float, float, float, float]
PathLike = str | Path


@dataclass
class _StudyArea:
    """The study area as one geometry in its own CRS, plus the district polygons if any."""

    geom: shapely.Geometry
    crs: CRS
    districts: gpd.GeoDataFrame | None
    field: str | None
    name: str


def _study_area(
    area: gpd.GeoDataFrame | gpd.GeoSeries | BBox | None,
    area_crs: CRS | str | None,
    district_field: str | None,
    units: gpd.GeoDataFrame | None,
) -> _StudyArea:
    if area is None:
        if units is None:
            raise InputError("demand: give the study area (`area=` polygons or a bbox) or `units=` polygons.")
        crs = require_crs(units, name="units")
        return _StudyArea(shapely.union_all(units.geometry.values), crs, None, None, "units")
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        crs = require_crs(area, name="area")
        geoms = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
        bad = ~geoms.geom_type.isin(["Polygon", "MultiPolygon"]) | geoms.is_empty
        if bad.any():
            raise InputError(
                f"area: {int(bad.sum())} feature(s) are not polygons (e.g. {describe(geoms[bad].iloc[0])}); "
                "the study area must be polygons such as district boundaries."
            )
        geoms = geoms.make_valid()
        districts = None
        if district_field is not None and isinstance(area, gpd.GeoDataFrame):
            if district_field not in area.columns:
                cols = [c for c in area.columns if c != area.geometry.name]
                raise InputError(
                    f"area: no district field {district_field!r}; the layer's fields are {cols}. "
                    "Pass district_field=<field> (scenario: districts.name_field), or None for no districts."
                )
            districts = gpd.GeoDataFrame(
                {"district": area[district_field].astype("str")}, geometry=geoms.values, crs=crs
            )
        return _StudyArea(shapely.union_all(geoms.values), crs, districts, district_field, "area")
    try:
        left, bottom, right, top = (float(v) for v in area)
    except (TypeError, ValueError):
        raise InputError(
            f"area: expected polygons or a bbox (left, bottom, right, top), got {describe(area)}."
        ) from None
    if not (left < right and bottom < top):
        raise InputError(
            f"area: bbox {area} is empty; give (left, bottom, right, top) with left < right and bottom < top."
        )
    crs = CRS.from_user_input(area_crs if area_crs is not None else "EPSG:4326")
    return _StudyArea(shapely.box(left, bottom, right, top), crs, None, None, "area")


def _to_crs(geom: shapely.Geometry, src: CRS, dst: CRS) -> shapely.Geometry:
    """Re-project one geometry, densifying it first so straight edges follow the target's curves."""
    if src.equals(dst):
        return geom
    left, bottom, right, top = geom.bounds
    step = max(right - left, top - bottom) / 256.0
    dense = shapely.segmentize(geom, step) if step > 0 else geom
    out = gpd.GeoSeries([dense], crs=src).to_crs(dst).iloc[0]
    if out is None or out.is_empty or not np.all(np.isfinite(out.bounds)):
        raise InputError(
            f"the study area {geom.bounds} ({src.to_string()}) cannot be placed in {dst.to_string()}."
        )
    return shapely.make_valid(out)


def _densified(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Add vertices every 1/1000 of the extent so straight edges bend correctly when re-projected."""
    left, bottom, right, top = geoms.total_bounds
    step = max(right - left, top - bottom) / 1000.0
    return geoms.segmentize(step) if step > 0 else geoms


def _study_crs(crs: CRS | str | None, sa: _StudyArea) -> CRS:
    if crs is not None:
        return ensure_projected(crs, name="crs")
    return utm_crs_for(sa.geom.bounds, sa.crs)


def read_area(area: str | Path) -> gpd.GeoDataFrame | BBox:
    """Parse a command-line study area: a polygon file or ``'left,bottom,right,top'`` in EPSG:4326.

    Parameters
    ----------
    area
        A path to a polygon layer (``.geojson``, ``.gpkg``, ``.shp``...) or four comma-separated numbers.

    Returns
    -------
    geopandas.GeoDataFrame or tuple
        The polygons, or the bbox ``(left, bottom, right, top)`` in EPSG:4326.
    """
    text = str(area).strip()
    parts = text.split(",")
    if len(parts) == 4:
        try:
            return tuple(float(p) for p in parts)  # type: ignore[return-value]
        except ValueError:
            pass
    path = Path(text)
    if not path.exists():
        raise InputError(
            f"--area {text!r} is neither an existing polygon file nor 'left,bottom,right,top' "
            "(four numbers in EPSG:4326, e.g. '113.0,22.9,113.2,23.1')."
        )
    try:
        layer = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several unrelated classes for unreadable files
        raise InputError(f"{path}: cannot read the study area layer ({exc}).") from None
    return layer
