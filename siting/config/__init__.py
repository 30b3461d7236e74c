"""Scenario files: a YAML file validated into typed objects.

A scenario names the inputs (population raster, districts, road network, schools, reserved sites, current
catchments) and the policy and model parameters. Relative paths are read from the YAML file's folder.
Every error names the file, the key and the value. ``Scenario.replace`` derives a variant, validated the
same way, for exploring in a notebook::

    base = load_scenario("data/raw/sample/scenarios/sample.yaml")
    fewer = base.replace(max_new_schools=3, name="sample-3-new")

Modules: ``sections.py`` (one typed class per section of the file), ``scenario.py`` (:class:`Scenario`:
the checks across sections, derived values, ``replace``), ``loading.py`` (:func:`load_scenario`: YAML,
input paths made absolute and checked).
"""

from siting.config.loading import load_scenario
from siting.config.scenario import Scenario
from siting.config.sections import (
    CELL_SIZE_RANGE_M,
    CatchmentsConfig,
    DistrictsConfig,
    GrowthConfig,
    ModelConfig,
    NetworkConfig,
    OutputsConfig,
    PlanConfig,
    PopulationConfig,
)

__all__ = [
    "CELL_SIZE_RANGE_M",
    "CatchmentsConfig",
    "DistrictsConfig",
    "GrowthConfig",
    "ModelConfig",
    "NetworkConfig",
    "OutputsConfig",
    "PlanConfig",
    "PopulationConfig",
    "Scenario",
    "load_scenario",
]
