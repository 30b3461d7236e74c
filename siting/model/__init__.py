"""The facility-location model: which sites open, at what size, and which units go to which school.

Public names: :class:`SitingModel` (build with ``from_costs`` or ``from_scenario``, then ``solve``),
:class:`SitingResult` (its answer), :func:`walk_cost_m` (the penalised walk per pupil) and :data:`MODES`
(the solve modes).
"""

from siting.model.siting_model import MODES, SitingModel, SitingResult, walk_cost_m

__all__ = ["MODES", "SitingModel", "SitingResult", "walk_cost_m"]
