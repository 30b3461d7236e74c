"""The facility-location model: which sites open, at what size, and which units go to which school.

Public names: :class:`SitingModel` (build with ``from_costs`` or ``from_scenario``, then ``solve``),
:class:`SitingResult` (its answer), :func:`walk_cost_m` (the penalised walk per pupil) and :data:`MODES`
(the solve modes). The modules: ``siting_model`` (the class), ``arrays`` and ``tables`` (its inputs),
``checks``, ``program`` (the formulation), ``modes``, ``rounding`` and ``local_search`` (solving),
``solvers`` (HiGHS and CBC) and ``result``. The year-by-year plan: :func:`years_from_scenario` /
:func:`years_from_costs` build a :class:`YearsModel`, :func:`solve_years` answers a :class:`YearsResult`
(modules ``multiyear``, ``years_program``, ``years_solve``).
"""

from siting.model.modes import MODES
from siting.model.multiyear import YearsModel, YearsResult, years_from_costs, years_from_scenario
from siting.model.result import SitingResult
from siting.model.siting_model import SitingModel
from siting.model.tables import walk_cost_m
from siting.model.years_solve import solve_years

__all__ = [
    "MODES",
    "SitingModel",
    "SitingResult",
    "YearsModel",
    "YearsResult",
    "solve_years",
    "walk_cost_m",
    "years_from_costs",
    "years_from_scenario",
]
