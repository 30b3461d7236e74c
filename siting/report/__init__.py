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
"""

from siting.report.hearing import hearing_tables
from siting.report.output import FORMATS, format_table, markdown_table, write_tables
from siting.report.review import TERMINAL_COLUMNS, review_tables

__all__ = [
    "FORMATS",
    "TERMINAL_COLUMNS",
    "format_table",
    "hearing_tables",
    "markdown_table",
    "review_tables",
    "write_tables",
]
