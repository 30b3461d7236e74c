"""Basemap tiles (OpenStreetMap, AMap/Gaode, Tianditu or none) and a new map fitted to the study area."""

from __future__ import annotations

import re

import folium
import geopandas as gpd

from siting.errors import InputError
from siting.maps.assets import _strip_defaults
from siting.maps.data import _MapData

BASEMAPS: tuple[str, ...] = ("osm", "amap", "tianditu", "none")
"""Allowed values of ``basemap``."""


def _new_map(data: _MapData, *, basemap: str, tianditu_key: str | None) -> folium.Map:
    bounds = _bounds(data.units)
    m = folium.Map(
        location=_centre(bounds), tiles=None, zoom_start=13, prefer_canvas=True, control_scale=True
    )
    _strip_defaults(m)
    _add_basemap(m, basemap, tianditu_key)
    m.fit_bounds(bounds)
    return m


def _check_basemap(basemap: str, key: str | None) -> str:
    if basemap not in BASEMAPS:
        raise InputError(f"basemap must be one of {list(BASEMAPS)}, got {basemap!r}.")
    if basemap == "tianditu" and (not key or not re.fullmatch(r"[A-Za-z0-9]{8,64}", key)):
        raise InputError(
            "basemap='tianditu' needs your Tianditu API key: pass tianditu_key='…' (a 32-character "
            "key from https://console.tianditu.gov.cn), or use basemap='osm'. "
            f"Got {'no key' if not key else repr(key)}."
        )
    return basemap


def _add_basemap(m: folium.Map, basemap: str, key: str | None) -> None:
    if basemap == "osm":
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", max_zoom=19).add_to(m)
    elif basemap == "amap":
        folium.TileLayer(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            attr="&copy; AMap 高德地图 (GCJ-02; data shifted to match)",
            name="AMap / Gaode",
            subdomains="1234",
            max_zoom=18,
        ).add_to(m)
    elif basemap == "tianditu":
        for layer, label in (("vec", "Tianditu roads"), ("cva", "Tianditu labels")):
            folium.TileLayer(
                f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
                f"&TILECOL={{x}}&tk={key}",
                attr="&copy; 天地图 Tianditu (CGCS2000)",
                name=label,
                subdomains="01234567",
                max_zoom=18,
                overlay=layer == "cva",
            ).add_to(m)


def _bounds(gdf: gpd.GeoDataFrame) -> list[list[float]]:
    left, bottom, right, top = gdf.total_bounds
    return [[float(bottom), float(left)], [float(top), float(right)]]


def _centre(bounds: list[list[float]]) -> list[float]:
    return [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
