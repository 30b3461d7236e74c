"""Search areas: where the pupils still above standard capacity after the plan need a new school or classes.

Schools still over their standard capacity (classes × standard class size) after the plan have *overflow*.
The demand behind it is grouped into search areas one new school could serve within the service radius,
with the school and land the standard asks for, and the reserved parcels nearby with the reason, in
numbers, why none of them already answers the need. Per level (``"primary"``, ``"junior"``):

1. **Pupils behind the overflow.** For each school with overflow ``O > 0``, its assigned units are taken
   farthest walk first (``costs.distance_m``, else the straight line to the school), ties by ``unit_id``,
   until their demand (``units[level]``, all of it at its one school) covers ``O``; the last unit gives only
   the part still needed. These are the pupils a new school nearer to them would take first.
2. **Clusters.** Complete linkage (:func:`scipy.cluster.hierarchy.linkage`) on the population points
   (``pop_x``, ``pop_y``), cut at ``√3 × R`` (``R`` = ``standards.service_radius_m[level]``). The cut bounds
   a cluster's diameter, and by Jung's theorem a planar set of diameter ``D`` lies in a circle of radius
   ``D / √3``: every cluster has a point within ``R`` (straight line; walks are longer) of all its units.
   A ``2R`` cut does not guarantee that (its clusters can need ``1.15 R``). Linkage runs on each connected
   piece of the "closer than the cut" graph alone (a complete-linkage cluster never spans two pieces, so
   the answer is the same, with memory for the largest piece rather than all units squared). Units are
   sorted by ``unit_id`` and nothing is random: the answer does not depend on row order.
3. **One row per cluster.** Polygon = union of the units' polygons, gaps up to ``2 × GAP_CLOSE_M`` closed
   (mitred buffer out and in, so grid corners stay square). ``need = "new school"`` where the pupils fill
   at least ``standards.utilisation_floor`` (60 %) of the smallest new-school module: then ``n_schools``
   new schools of the largest class module within the new-school cap hold the pupils; each gets the
   smallest module holding its equal share, and ``land_needed_m2`` is that module's land
   (:func:`siting.facilities.land_needed`; the central standard when most pupils live in central units).
   Fewer pupils would leave a new school emptier than the floor the model keeps schools above (and a
   24-class school for a pocket of 30 pupils is no answer at a hearing): ``need = "classes"``, with the
   classes of the standard size they fill at or near the schools they overflow (``from_schools``: each
   school and its pupils in the area), ``n_schools`` 0 and no land for a new school. Modules and the cap
   come from :func:`siting.facilities.size_options` for a parcel of unlimited area. ``centre_x/_y``:
   pupil-weighted centre of the population points; ``district``: the district of most of the pupils.
4. **Reserved parcels nearby.** Each parcel in ``sites`` within ``R`` of the area's polygon that the plan
   did not open, with its reasons: not reserved for this level, beyond the service radius from the centre,
   too small for the smallest module of its kind (``size_options`` gives it no option), else "not opened:
   budget/number of new schools" (the plan could have opened it). See :func:`search_area_parcels`.

Areas are numbered ``<level>-01``, ``<level>-02``, … by pupils, most first. Inputs: ``docs/architecture.md``.
"""

from __future__ import annotations

from siting.search_areas.areas import (
    AREA_COLUMNS,
    AREA_UNIT_COLUMNS,
    GAP_CLOSE_M,
    search_area_units,
    search_areas,
)
from siting.search_areas.parcels import PARCEL_COLUMNS, search_area_parcels

__all__ = [
    "AREA_COLUMNS",
    "AREA_UNIT_COLUMNS",
    "GAP_CLOSE_M",
    "PARCEL_COLUMNS",
    "search_area_parcels",
    "search_area_units",
    "search_areas",
]
