"""siting: where to build new schools and how to redraw school catchments.

The pipeline is population raster → demand units → walking costs → facility-location model → catchments,
changes and policy metrics → maps and tables. See ``docs/architecture.md``.
"""

from siting.errors import (
    CRSError,
    InfeasibleError,
    InputError,
    NetworkError,
    OutputExistsError,
    SitingError,
    SolverError,
)
from siting.standards import LEVELS, LEVELS_SERVED, SCHOOL_KINDS, Standards

__version__ = "0.1.0"

__all__ = [
    "LEVELS",
    "LEVELS_SERVED",
    "SCHOOL_KINDS",
    "CRSError",
    "InfeasibleError",
    "InputError",
    "NetworkError",
    "OutputExistsError",
    "SitingError",
    "SolverError",
    "Standards",
    "__version__",
]
