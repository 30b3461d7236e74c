"""Declared schemas of the input layers: columns, types, units, defaults and the other spellings accepted.

Every layer a scenario names has one :class:`LayerSchema`: :data:`SCHOOLS`, :data:`SITES`, :data:`CATCHMENTS`,
:data:`UNITS` and :func:`districts_schema` (whose name column is the scenario's ``districts.name_field``).

:meth:`LayerSchema.conform` renames the other spellings of a declared column to its name — any case, spaces or
hyphens for underscores, the 10-character names a shapefile cuts long names to (``capacity_p`` for
``capacity_primary``) and the listed aliases — then refuses near misses with a "did you mean"
(``capacity_primry`` is an error, never a silent 0), refuses a missing required column and a wrong geometry
type, and lists the layer's unknown columns in one warning line.

:func:`read_values` converts one column to its declared type, naming the feature and the value when a cell is
wrong. An empty cell is, as the column declares, an error (``empty="error"``), its documented default with a
warning (``empty="default"``), or left missing for the reader to derive (``empty="keep"``, e.g. a capacity
computed from classes).
"""

from siting.schema.columns import (
    LEVEL_SPELLINGS,
    SHAPEFILE_NAME_LENGTH,
    Column,
    LayerSchema,
    did_you_mean,
    read_values,
)
from siting.schema.layers import (
    CATCHMENTS,
    RESOURCE_COLUMNS,
    SCHOOLS,
    SITES,
    UNITS,
    districts_schema,
    schools_schema,
)

__all__ = [
    "CATCHMENTS",
    "LEVEL_SPELLINGS",
    "RESOURCE_COLUMNS",
    "SCHOOLS",
    "SHAPEFILE_NAME_LENGTH",
    "SITES",
    "UNITS",
    "Column",
    "LayerSchema",
    "did_you_mean",
    "districts_schema",
    "read_values",
    "schools_schema",
]
