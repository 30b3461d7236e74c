"""Policy metrics: seats, utilization, class sizes, large classes, walks and the difference coefficient.

Every function reads the units and schools tables of ``docs/architecture.md`` and one *state*, named by
``column_prefix``: ``"current"`` (units' ``current_<level>``, schools' ``capacity_<level>`` and
``classes_<level>``) or ``"proposed"`` (units' ``proposed_<level>``, schools' ``capacity_after_<level>``).

Conventions
-----------
- **Pupils** of a school are the seat demand of the units in its catchment (float seats). For class counts
  pupils are rounded to whole children.
- **Class basis.** In the current state, class sizes and large classes come from the schools' actual
  ``enrolled_<level>`` when that column is present and filled for the school (``class_basis = "enrolled"``);
  otherwise, and always in the proposed state, from the catchment pupils (``class_basis = "catchment"``).
  Utilization always uses catchment pupils, so the two states compare like with like.
- **Classes available**: current ``classes_<level>``; proposed ``classes_after_<level>`` when given, else
  ``classes_<level>`` plus the classes added by the opened option, ``round((capacity_after − capacity) /
  class_size)``.
- **Large classes implied by enrolment**: with ``k`` classes and ``n`` pupils, the classes are as even as
  possible: ``n mod k`` classes of ``⌊n/k⌋ + 1`` pupils and the rest of ``⌊n/k⌋``; a class counts as large at
  ``standards.large_class_min`` (56) pupils or more and super-large at ``standards.super_large_min`` (66) or
  more. A school with pupils but no classes is counted with ``⌈n / class_size⌉`` new standard classes.
- **Walk statistics** are pupil-weighted over the units of a catchment: the mean, the 95th percentile (the
  smallest distance at which the cumulative pupil share reaches 95 %, no interpolation) and the share of
  pupils within ``standards.service_radius_m[level]``. Units whose pair is missing from the cost table are
  left out of the walk statistics (and counted in ``n_units_no_walk``).
- **Seats per 1,000 residents** compare the seats of the schools located in a district (the schools'
  ``district``, else the district of the unit holding the school's point) with its residents *of the
  year the demand is for* (the design year: ``population_<design year>``; each unit's largest residents
  when planning for the maximum over the years; ``population`` without years), and in
  :func:`district_years` with each planning year's residents and demand;
  ``seat_shortfall = max(0, standard × population / 1000 − seats)`` (> 0 exactly when seats per 1,000
  are below the standard) and ``seats_below_demand = max(0, demand − seats)``.
- **Difference coefficient indicators** are the national seven (:data:`siting.standards.INDICATORS`),
  read only from the columns a scenario declares (``indicators:``, default
  :data:`siting.standards.DEFAULT_INDICATOR_COLUMNS`); an indicator without its column is reported, not
  counted as zero. :func:`balance_schools` names the schools behind a failing indicator (一校一策).

Modules and public names
------------------------
- :mod:`~siting.metrics.stats`: :func:`pupil_weighted_cv`, :func:`weighted_quantile`, :func:`walk_stats`,
  :func:`classes_over`.
- :mod:`~siting.metrics.states`: :data:`STATES`, :data:`ALL`, :data:`UNKNOWN_DISTRICT`.
- :mod:`~siting.metrics.schools`: :func:`school_metrics`, :func:`school_pupils`, :func:`school_districts`.
- :mod:`~siting.metrics.districts`: :func:`district_metrics`, :func:`district_years`,
  :func:`seat_figures`, :func:`design_population`, :func:`planning_years`.
- :mod:`~siting.metrics.cv`: :func:`cv_tables`, :func:`cv_table`, :func:`stage_parts`,
  :func:`indicator_columns`, :func:`resource_indicators`, :func:`indicator_scale`,
  :func:`per_pupil_values`, :func:`resource_values`, :func:`state_basis`, :func:`with_state_pupils`.
- :mod:`~siting.metrics.balance`: :func:`balance_schools`, :func:`pupils_within_reach`,
  :func:`worsened_indicators`, :func:`failing_without_plan`.
- :mod:`~siting.metrics.overflow`: :func:`overflow_table`, :data:`OVERFLOW_COLUMNS` (pupils above
  standard capacity per school and level, before and after, with why it grew).
- :mod:`~siting.metrics.summary`: :func:`summary`.
"""

from siting.metrics.balance import (
    BALANCE_COLUMNS,
    balance_schools,
    failing_without_plan,
    pupils_within_reach,
    worsened_indicators,
)
from siting.metrics.cv import (
    cv_table,
    cv_tables,
    indicator_columns,
    indicator_scale,
    per_pupil_values,
    resource_indicators,
    resource_values,
    stage_parts,
    state_basis,
    with_state_pupils,
)
from siting.metrics.districts import (
    design_population,
    district_metrics,
    district_years,
    planning_years,
    seat_figures,
)
from siting.metrics.overflow import OVERFLOW_COLUMNS, overflow_table
from siting.metrics.schools import school_districts, school_metrics, school_pupils
from siting.metrics.states import ALL, STATES, UNKNOWN_DISTRICT
from siting.metrics.stats import classes_over, pupil_weighted_cv, walk_stats, weighted_quantile
from siting.metrics.summary import summary

__all__ = [
    "ALL",
    "BALANCE_COLUMNS",
    "OVERFLOW_COLUMNS",
    "STATES",
    "UNKNOWN_DISTRICT",
    "balance_schools",
    "classes_over",
    "cv_table",
    "cv_tables",
    "design_population",
    "district_metrics",
    "district_years",
    "failing_without_plan",
    "indicator_columns",
    "indicator_scale",
    "overflow_table",
    "per_pupil_values",
    "planning_years",
    "pupil_weighted_cv",
    "pupils_within_reach",
    "resource_indicators",
    "resource_values",
    "school_districts",
    "school_metrics",
    "school_pupils",
    "seat_figures",
    "stage_parts",
    "state_basis",
    "summary",
    "walk_stats",
    "weighted_quantile",
    "with_state_pupils",
    "worsened_indicators",
]
