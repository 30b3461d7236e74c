"""Tables for catchment reviews and public hearings: what moves, who is relieved, what the new sites give.

Functions read a run result (``pipeline.RunResult`` or anything with the same attributes: ``units``,
``schools``, ``costs``, ``standards``, ``solution``) and never change it. Metrics are recomputed from the
result's units and schools with :mod:`siting.metrics`, so a result loaded from disk and one still in memory
give the same tables. What "before" and "after" mean in a review is set out in
:mod:`siting.report.review`.

Modules and public names
------------------------
- :mod:`~siting.report.review`: :func:`review_tables`, :data:`TERMINAL_COLUMNS`.
- :mod:`~siting.report.hearing`: :func:`hearing_tables`.
- :mod:`~siting.report.output`: :func:`format_table`, :func:`markdown_table`, :func:`write_tables`,
  :data:`FORMATS`.
- :mod:`~siting.report.brief`: :func:`hearing_brief` (per reserved parcel, chosen or not, with its case).
- :mod:`~siting.report.counterfactual`: :func:`resolve_parcels` (re-solve with a parcel forced open/closed).
- :mod:`~siting.report.evidence`: :func:`evidence_rows` (a parcel's case as label/value rows).
- :mod:`~siting.report.places`: :class:`SheetGrid`, :func:`grid_references`, :func:`unit_places`,
  :func:`roads_from_graph` (naming units the way people find them).
- :mod:`~siting.report.labels`: :data:`LABELS`, :func:`bilingual` (Chinese and English labels).
- :mod:`~siting.report.pack`: :func:`write_packs`, :func:`pack_files`, :func:`print_pdfs` (the printable
  hearing brief and review pack, HTML and PDF, written atomically); pages in
  :mod:`~siting.report.brief_pages` and :mod:`~siting.report.review_pages`, static maps in
  :mod:`~siting.report.figures`.
"""

from siting.report.brief import hearing_brief
from siting.report.counterfactual import resolve_parcels
from siting.report.evidence import evidence_rows
from siting.report.hearing import hearing_tables
from siting.report.labels import LABELS, bilingual
from siting.report.output import FORMATS, format_table, markdown_table, write_tables
from siting.report.pack import pack_files, print_pdfs, write_packs
from siting.report.places import SheetGrid, grid_references, roads_from_graph, unit_places
from siting.report.review import TERMINAL_COLUMNS, review_tables

__all__ = [
    "FORMATS",
    "LABELS",
    "TERMINAL_COLUMNS",
    "SheetGrid",
    "bilingual",
    "evidence_rows",
    "format_table",
    "grid_references",
    "hearing_brief",
    "hearing_tables",
    "markdown_table",
    "pack_files",
    "print_pdfs",
    "resolve_parcels",
    "review_tables",
    "roads_from_graph",
    "unit_places",
    "write_packs",
    "write_tables",
]
