"""The bundled sample city: a deterministic, synthetic Foshan-like district at any size.

:func:`generate_city` builds a city in memory (a :class:`City`); :func:`write_city` writes it in the formats
real users have (a WorldPop-style GeoTIFF, OSM XML, GeoJSON and a scenario YAML); :func:`write_sample`
writes the committed default to ``data/raw/sample/``. The same generator with a larger ``residents`` and
area makes the city-scale inputs of the benchmarks.

The city imitates a Foshan district: a dense old centre ("Old Town") north of a river, a growing new town
("Newtown") south of it with too few school seats, a mixed "Riverside" district and a thin "Rural Edge" with
villages. The river is crossed only at a few bridges, so walking and straight-line distances disagree.

Everything is built in the local UTM zone (metres) and converted to EPSG:4326 for the files. Randomness
comes only from ``numpy.random.PCG64`` uniform doubles (whose stream numpy keeps stable) through small
helpers here, and every output is written by this package with fixed rounding, so the files are
byte-identical on every run.

Modules: ``city`` (:class:`City`, :func:`generate_city`, :func:`city_summary`), ``layout`` (random stream,
river, districts), ``population`` (the raster), ``schools``, ``sites``, ``roads``, ``names`` (bilingual
names) and ``writers`` (the files).

Public names: :class:`City`, :func:`generate_city`, :func:`default_counts`, :func:`city_summary`,
:func:`write_city`, :func:`write_sample` and the constants :data:`DEFAULT_SEED`, :data:`CELL_DEG`,
:data:`NODATA`, :data:`BASE_YEAR`, :data:`DISTRICTS`, :data:`PUPILS_PER_PRIMARY_SCHOOL`, :data:`FILES`.
"""

from siting.sample.city import (
    DEFAULT_SEED,
    PUPILS_PER_PRIMARY_SCHOOL,
    City,
    city_summary,
    default_counts,
    generate_city,
)
from siting.sample.layout import DISTRICTS
from siting.sample.population import CELL_DEG, NODATA
from siting.sample.schools import _VILLAGE_REACH  # noqa: F401  (kept importable from here, as before)
from siting.sample.writers import BASE_YEAR, FILES, write_city, write_sample

__all__ = [
    "BASE_YEAR",
    "CELL_DEG",
    "DEFAULT_SEED",
    "DISTRICTS",
    "FILES",
    "NODATA",
    "PUPILS_PER_PRIMARY_SCHOOL",
    "City",
    "city_summary",
    "default_counts",
    "generate_city",
    "write_city",
    "write_sample",
]
