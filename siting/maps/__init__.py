"""Folium maps of a run: the hearing map of reserved sites, the catchment review, and a general map.

Every map is drawn from a run result (``pipeline.RunResult``; only the attributes listed in
``docs/architecture.md`` "Run result" are read, by name) and converted to EPSG:4326 here and nowhere else.

Layers are toggled in a layer control: population density, current and proposed catchments per level,
units that change school, existing schools (size = capacity, colour = utilization), new schools, reserved
sites chosen and not chosen, soft service-radius rings and district boundaries. A legend, a title block with
the scenario's key figures, full-screen and a search by school name complete the map.

Safety: every text that comes from data (school names, ids, district names) is escaped with
:func:`html.escape` in Python before it reaches the page, so a school called ``<img src=x onerror=...>``
shows as text. Self-contained by default: :func:`save_map` inlines Leaflet and the plugins from the copies
vendored in ``siting/_assets`` (see its README; ``assets="cdn"`` links the public CDNs instead), so a map
opens with no network at all; only basemap tiles need the internet, and every data layer still shows on a
plain background without them.

Basemaps: OpenStreetMap (default), AMap/Gaode (GCJ-02: data are shifted with :mod:`siting.maps._gcj02` to
match the tiles), Tianditu (CGCS2000, which is WGS-84 to within centimetres; needs a user key) or none.

Modules: ``views`` (the maps and :func:`save_map`), ``data`` (what a map reads from a result), ``layers``,
``popups``, ``page`` (title, legend, controls), ``basemap``, ``assets`` (vendored Leaflet), ``_format``
(colours and value formatting) and ``_gcj02`` (the GCJ-02 datum shift).

Public names: :func:`siting_map`, :func:`hearing_map`, :func:`review_map`, :func:`write_maps`,
:func:`save_map`, :func:`map_files`, :func:`local_asset`, :func:`inline_assets`, :func:`to_map_crs`,
:func:`result_slug`, and the constants :data:`ASSETS_DIR`, :data:`MAP_ASSETS`, :data:`BASEMAPS`,
:data:`OKABE_ITO`, :data:`DENSITY_COLOURS`, :data:`UTILIZATION_CLASSES`, :data:`LEVEL_LABELS`.
"""

from siting.maps._format import DENSITY_COLOURS, LEVEL_LABELS, OKABE_ITO, UTILIZATION_CLASSES
from siting.maps.assets import ASSETS_DIR, MAP_ASSETS, inline_assets, local_asset
from siting.maps.basemap import BASEMAPS
from siting.maps.data import result_slug, to_map_crs
from siting.maps.views import hearing_map, map_files, review_map, save_map, siting_map, write_maps

__all__ = [
    "ASSETS_DIR",
    "BASEMAPS",
    "DENSITY_COLOURS",
    "LEVEL_LABELS",
    "MAP_ASSETS",
    "OKABE_ITO",
    "UTILIZATION_CLASSES",
    "hearing_map",
    "inline_assets",
    "local_asset",
    "map_files",
    "result_slug",
    "review_map",
    "save_map",
    "siting_map",
    "to_map_crs",
    "write_maps",
]
