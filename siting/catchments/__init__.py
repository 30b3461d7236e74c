"""Catchments: assignments → catchment polygons, contiguity checks and repair, before/after changes.

A catchment is the set of demand units a school serves at one level. Units carry their school per level in
``current_<level>`` (today) and ``proposed_<level>`` (after solving); every function here reads one of those
columns (or any other named with ``column=``) and never changes its input.

Conventions
-----------
- **Adjacency** between units is *rook* contiguity: two units are neighbours when their boundaries share a
  stretch of positive length (grid cells that meet only at a corner are not neighbours). It is built with a
  spatial index (:class:`shapely.STRtree`), so it costs about ``O(n log n)``, not ``O(n²)``.
- A catchment's **main piece** is the connected piece holding the unit that contains the school's point
  (when ``schools`` is given and that unit is in the catchment); otherwise the piece with the most pupils,
  then the most units, then the smallest ``unit_id``. Every other piece is a **stray piece**.
- Distances are network walking distances from the travel-cost table (``unit_id, school_id, distance_m``).

Modules and public names
------------------------
- :mod:`~siting.catchments.assign`: :func:`levels_from`, :func:`require_columns`, :func:`seated_pupils`,
  :func:`assigned_schools`, :func:`walk_distances`.
- :mod:`~siting.catchments.polygons`: :func:`catchments_from_assignment`, :data:`CATCHMENT_COLUMNS`.
- :mod:`~siting.catchments.contiguity`: :func:`adjacency_pairs`, :func:`find_fragments`.
- :mod:`~siting.catchments.repair`: :func:`repair_contiguity`, :func:`school_capacity`,
  :data:`REPAIR_COLUMNS`, :data:`WHY` (the reason codes of stray pieces left).
- :mod:`~siting.catchments.changes`: :func:`compare_catchments`, :data:`CHANGE_COLUMNS`.
"""

from siting.catchments.assign import (
    assigned_schools,
    levels_from,
    require_columns,
    seated_pupils,
    walk_distances,
)
from siting.catchments.changes import CHANGE_COLUMNS, compare_catchments
from siting.catchments.contiguity import adjacency_pairs, find_fragments
from siting.catchments.polygons import CATCHMENT_COLUMNS, catchments_from_assignment
from siting.catchments.repair import REPAIR_COLUMNS, WHY, repair_contiguity, school_capacity

__all__ = [
    "CATCHMENT_COLUMNS",
    "CHANGE_COLUMNS",
    "REPAIR_COLUMNS",
    "WHY",
    "adjacency_pairs",
    "assigned_schools",
    "catchments_from_assignment",
    "compare_catchments",
    "find_fragments",
    "levels_from",
    "repair_contiguity",
    "require_columns",
    "school_capacity",
    "seated_pupils",
    "walk_distances",
]
