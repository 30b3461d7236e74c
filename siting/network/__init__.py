"""Road network and walking costs: from OpenStreetMap or local road data to a sparse cost table.

Walking ignores one-way rules, so every edge is used in both directions. The steps:

1. :func:`load_network` reads a walking network from osmnx (place name, bbox, polygon; answers cached under
   ``cache_dir`` so a re-run works offline), a local OSM extract (``.osm.pbf`` or ``.osm`` XML, streamed
   with pyosmium, :mod:`siting.network.pbf`), GraphML, or a road-centreline line layer
   (:func:`graph_from_lines`), and projects it to the study CRS.
2. :func:`snap_points` puts units (their population-weighted point) and schools on their nearest *edge* of
   the network's main part (the largest connected component and components with at least
   :data:`MIN_COMPONENT_M` of road), with the straight access leg; points farther than ``max_snap_m`` are
   reported, never snapped.
3. :func:`travel_costs` runs scipy's compiled Dijkstra, bounded by the distance limit, from every school
   over the graph with the snapped points inserted as nodes, so distances are exact (also when both ends
   lie on one edge). :func:`unreachable_units` lists units that reach no school.
4. :func:`complete_costs` makes sure the model can seat every unit with demand: one fallback pair to the
   nearest existing school by walk where none is in reach (:func:`pair_costs` walks a few candidates), and
   the straight-line distance (``off_network``) where a pair has no walk. :func:`nearest_existing` reads
   each unit's nearest existing school from the table (today's school when no catchments are given).

:func:`euclidean_costs` is the straight-line fallback with the same columns; :func:`costs_cli` serves
``siting costs``.

Modules: ``load`` (files, osmnx queries and their cache, projection, extent checks), ``pbf`` (OSM files
streamed with pyosmium), ``lines`` (line layers to a graph), ``snap`` (points onto edges), ``costs`` (the
cost table), ``fallback`` (fallback pairs and finite walks), ``cli`` (the command) and the private
``_arrays`` (edge tables, sparse matrices, bounded Dijkstra).

Public names: :data:`COST_COLUMNS`, :data:`SOURCE_KINDS`, :data:`DEFAULT_CACHE_DIR`, :data:`MIN_COMPONENT_M`,
:data:`CACHE_VERSION`, ``Bbox``, :class:`EdgeTable`,
:func:`load_network`, :func:`road_table` (a graph's edge table: what the cost functions need of it, as
a few arrays; the pipeline keeps it instead of the graph; :func:`repacked` once the graph is let go),
:func:`network_bounds`, :func:`graph_from_lines`,
:func:`snap_points`,
:func:`travel_costs`, :func:`pair_costs`, :func:`unreachable_units`, :func:`euclidean_costs`,
:func:`complete_costs`, :func:`fallback_needs`, :func:`nearest_existing`, :func:`require_schools_per_level`,
:func:`seat_schools`, :data:`FALLBACK_CANDIDATES`, :func:`costs_cli`.
"""

from siting.network._arrays import EdgeTable, repacked, road_table
from siting.network.cli import costs_cli
from siting.network.costs import COST_COLUMNS, euclidean_costs, pair_costs, travel_costs, unreachable_units
from siting.network.fallback import (
    FALLBACK_CANDIDATES,
    complete_costs,
    fallback_needs,
    nearest_existing,
    require_schools_per_level,
    seat_schools,
)
from siting.network.lines import graph_from_lines
from siting.network.load import DEFAULT_CACHE_DIR, SOURCE_KINDS, Bbox, load_network, network_bounds
from siting.network.snap import MIN_COMPONENT_M, snap_points

CACHE_VERSION = "2"
"""Changes whenever the same inputs give another graph or cost table (2: pyosmium reader, snapping to the
main network); part of the pipeline's network cache key, so stale cache files are not reused."""

__all__ = [
    "CACHE_VERSION",
    "COST_COLUMNS",
    "DEFAULT_CACHE_DIR",
    "FALLBACK_CANDIDATES",
    "MIN_COMPONENT_M",
    "SOURCE_KINDS",
    "Bbox",
    "EdgeTable",
    "complete_costs",
    "costs_cli",
    "euclidean_costs",
    "fallback_needs",
    "graph_from_lines",
    "load_network",
    "nearest_existing",
    "network_bounds",
    "pair_costs",
    "repacked",
    "require_schools_per_level",
    "road_table",
    "seat_schools",
    "snap_points",
    "travel_costs",
    "unreachable_units",
]
