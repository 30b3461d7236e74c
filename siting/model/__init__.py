"""The facility-location model: which sites open, at what size, and which units go to which school.

Public names: :class:`SitingModel` (build with ``from_costs`` or ``from_scenario``, then ``solve``),
:class:`SitingResult` (its answer), :func:`walk_cost_m` (the penalised walk per pupil) and :data:`MODES`
(the solve modes). The modules: ``siting_model`` (the class), ``arrays`` and ``tables`` (its inputs),
``checks``, ``program`` (the formulation), ``modes``, ``rounding`` and ``local_search`` (solving),
``solvers`` (HiGHS and CBC) and ``result``.
"""

from siting.model.modes import MODES
from siting.model.result import SitingResult
from siting.model.siting_model import SitingModel
from siting.model.tables import walk_cost_m

__all__ = ["MODES", "SitingModel", "SitingResult", "walk_cost_m"]
