"""The declared input layers: SCHOOLS, SITES, CATCHMENTS, UNITS and the districts (:func:`districts_schema`).

Each column's name, type, unit, default and other spellings; README "Input layers" lists the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from siting.schema.columns import Column, Kind, LayerSchema
from siting.standards import LEVELS


def _per_level(prefix: str, short: str, kind: Kind, doc: str, unit: str, **kw: Any) -> tuple[Column, ...]:
    """The ``<prefix>_primary`` and ``<prefix>_junior`` columns; ``<short>_p`` and ``<short>_j`` also read."""
    return tuple(
        Column(f"{prefix}_{lv}", kind, f"{doc}, {lv}", unit, aliases=(f"{short}_{lv[0]}",), level=lv, **kw)
        for lv in LEVELS
    )


def _given(
    name: str, kind: Kind, doc: str, default: Any, says: str, *, unit: str = "", warn: bool = True
) -> Column:
    """An optional column whose empty cells take ``default`` (said as ``says``) with a warning."""
    return Column(name, kind, doc, unit, empty="default", default=default, default_doc=says, warn_absent=warn)


def _needed(name: str, kind: Kind, doc: str) -> Column:
    return Column(name, kind, doc, required=True, empty="error")


_ID = _needed("school_id", "id", "unique id of the school or site")
_NAME = Column("name", "text", "display name (the id when empty)")
_PUBLIC = _given("public", "bool", "run by the state", True, "true (public)", warn=False)
_DISTRICT = Column("district", "text", "district name (found from the districts layer when empty)")
_CENTRAL = _given(
    "central", "bool", "parcel in a central area", False, "false (the non-central land-per-pupil standard)"
)
_RESOURCES = (  # the indicators' default columns (siting.standards.DEFAULT_INDICATOR_COLUMNS)
    Column("floor_area_m2", "number", "teaching and auxiliary floor area", "m²", aliases=("floor_area",)),
    Column("sports_area_m2", "number", "sports ground and hall area", "m²"),
    Column("equipment_value_yuan", "number", "teaching equipment value", "yuan"),
    Column("qualified_teachers", "number", "teachers above the required qualification", "teachers"),
    Column("backbone_teachers", "number", "county-level or higher backbone teachers", "teachers"),
    Column("pe_arts_teachers", "number", "full-time PE and arts teachers", "teachers"),
    Column("multimedia_rooms", "number", "networked multimedia classrooms", "rooms"),
)

_CSV_POINTS = (  # a CSV of schools gives its points in these; kept as they are
    Column("lon", "number", "longitude, EPSG:4326 (CSV)", "degrees", minimum=None),
    Column("lat", "number", "latitude, EPSG:4326 (CSV)", "degrees", minimum=None),
    Column("x", "number", "x in the CSV's crs", minimum=None),
    Column("y", "number", "y in the CSV's crs", minimum=None),
    Column("crs", "text", "the CRS of x and y (CSV)"),
)

SCHOOLS = LayerSchema(
    layer="schools",
    noun="school",
    geometry=("Point",),
    geometry_doc="points (use the entrance or the building's centre)",
    columns=(
        _ID,
        _NAME,
        _needed("level", "level", "kind of school: primary, junior, nine_year or twelve_year"),
        Column("status", "text", "'existing' (reserved sites go in their own layer)"),
        _PUBLIC,
        _DISTRICT,
        *_per_level("classes", "classes", "count", "current classes (else capacity ÷ class size)", "classes"),
        *_per_level("capacity", "capacity", "count", "seats (else classes × class size)", "seats"),
        *_per_level("enrolled", "enrolled", "count", "pupils enrolled today", "pupils", empty="error"),
        *_per_level(
            "max_extra_classes",
            "max_extr",
            "count",
            "classes the school may add",
            "classes",
            empty="default",
            default=0,
            default_doc="0 classes (no expansion)",
        ),
        Column("area_m2", "number", "school land area", "m²"),
        _CENTRAL,
        *_RESOURCES,
        *_CSV_POINTS,
    ),
    others="kept, not used (a resource column for the difference coefficient is mapped under 'indicators:')",
)
"""Existing schools: points, one row per school (see ``docs/architecture.md``, "Schools")."""

SITES = LayerSchema(
    layer="sites",
    noun="site",
    geometry=("Polygon", "MultiPolygon"),
    geometry_doc="parcel polygons, so their area can be checked against the land-per-pupil standard",
    columns=(
        _ID,
        _NAME,
        _needed("level", "level", "kind of school the land is reserved for"),
        Column("status", "text", "'site'"),
        _DISTRICT,
        Column("area_m2", "number", "parcel area (measured from the polygon when empty)", "m²"),
        _CENTRAL,
        Column("available_from", "year", "first year the school can open (any year when empty)", "year"),
        _given(
            "cost_yuan",
            "number",
            "extra fixed cost (e.g. land works)",
            0.0,
            "0 yuan",
            unit="yuan",
            warn=False,
        ),
        _PUBLIC,
    ),
    others="kept, not used by the model",
)
"""Reserved school parcels: polygons."""

CATCHMENTS = LayerSchema(
    layer="catchments",
    noun="catchment",
    geometry=("Polygon", "MultiPolygon"),
    geometry_doc="polygons, one or more per school",
    columns=(_needed("school_id", "id", "the school whose catchment this is"),),
)
"""Today's catchments of one level: polygons naming their school."""

UNITS = LayerSchema(
    layer="units",
    noun="unit",
    geometry=("Polygon", "MultiPolygon"),
    geometry_doc="polygons (residential blocks)",
    columns=(Column("unit_id", "id", "unique id of the block (its row number when absent)", empty="error"),),
)
"""Residential-block demand units (``population.units``), used instead of the grid."""


def districts_schema(name_field: str = "name") -> LayerSchema:
    """Return the schema of the districts layer, whose names are in ``name_field``."""
    return LayerSchema(
        layer="districts",
        noun="district",
        geometry=("Polygon", "MultiPolygon"),
        geometry_doc="polygons (the study area)",
        columns=(_needed(name_field, "text", "district names; districts.name_field names the column"),),
    )


RESOURCE_COLUMNS: tuple[str, ...] = tuple(c.name for c in _RESOURCES)
"""Declared resource-total columns of the schools layer (the indicators' default columns)."""


def schools_schema(indicator_columns: Iterable[str] = ()) -> LayerSchema:
    """Return :data:`SCHOOLS` with a number column for each indicator column the scenario maps."""
    return SCHOOLS.with_numbers(indicator_columns, "resource total of an indicator (scenario 'indicators:')")
