"""The scenario file's sections, one typed class each: population, districts, network, model, plan, ...

Each class forbids unknown keys and is frozen; :class:`~siting.config.scenario.Scenario` holds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CELL_SIZE_RANGE_M = (20.0, 2000.0)
"""Grid cells allowed, metres: below 20 m a cell is part of a building and the units outgrow memory (a 1 m
grid over a district is tens of millions of units); above 2 km a cell is wider than a primary school's
hard walking limit (1.5 km)."""


SHARE_EXAMPLES = {
    "utilisation_floor": "0.6 for 60 % of the seats",
    "min_enrolment_share": "0.5 for 50 %",
    "gap": "0.005 for 0.5 %",
}
"""Keys that are shares (0 to 1, not per cent), each with an example for the error when out of range."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GrowthConfig(_Strict):
    """Yearly demand from annual growth rates per district."""

    base_year: int = Field(ge=1900, le=2200)
    years: list[int] = Field(min_length=1)
    rate: dict[str, float] = Field(default_factory=lambda: {"default": 0.0})

    @model_validator(mode="after")
    def _years_after_base(self) -> GrowthConfig:
        bad = [y for y in self.years if y < self.base_year]
        if bad:
            raise ValueError(f"years {bad} are before base_year {self.base_year}")
        for district, rate in self.rate.items():
            if not -0.5 < rate < 1.0:
                raise ValueError(f"rate for {district!r} is {rate}; give an annual rate like 0.03 (3%)")
        return self


class PopulationConfig(_Strict):
    """Where residents live: a population-count raster, aggregated to grid cells or given blocks."""

    raster: Path
    band: int | None = Field(default=None, ge=1)
    cell_size_m: float = 200.0
    units: Path | None = None
    seats_per_1000: dict[Literal["primary", "junior"], float] | None = None
    growth: GrowthConfig | None = None

    @field_validator("cell_size_m")
    @classmethod
    def _cell_size_in_range(cls, value: float) -> float:
        low, high = CELL_SIZE_RANGE_M
        if not low <= value <= high:
            raise ValueError(
                f"grid cells must be {low:g} to {high:,.0f} m wide; 200 m is usual (100 m matches a WorldPop "
                "raster). Smaller cells add units, memory and solve time faster than detail"
            )
        return value


class DistrictsConfig(_Strict):
    """District polygons: the study area and the unit of reporting."""

    path: Path
    name_field: str = "name"


_NETWORK_SOURCES = ("osm", "osm_xml", "graphml", "lines", "place", "bbox")


class NetworkConfig(_Strict):
    """The walking network: exactly one source.

    ``osm`` is an OpenStreetMap extract, XML (``.osm``, ``.osm.bz2``, ``.osm.gz``) or PBF (``.osm.pbf``): the
    file's content tells which. ``osm_xml`` is its older name and takes the same files.
    """

    osm: Path | None = None
    osm_xml: Path | None = None
    graphml: Path | None = None
    lines: Path | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    max_snap_m: float = Field(default=250.0, gt=0)

    @model_validator(mode="after")
    def _one_source(self) -> NetworkConfig:
        given = [k for k in _NETWORK_SOURCES if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one network source (osm, graphml, lines, place or bbox); got {given or 'none'}"
            )
        if self.bbox is not None:
            left, bottom, right, top = self.bbox
            if not (left < right and bottom < top):
                raise ValueError(f"bbox must be (left, bottom, right, top) in degrees; got {self.bbox}")
        return self

    @property
    def kind(self) -> str:
        """Which kind of source was given: ``osm_xml`` (also for ``osm:``), ``graphml``, ``lines``, ...."""
        key = next(k for k in _NETWORK_SOURCES if getattr(self, k) is not None)
        return "osm_xml" if key == "osm" else key

    @property
    def source(self) -> Path | str | tuple[float, float, float, float]:
        """The one source given (a path, a place name or a bbox)."""
        for key in _NETWORK_SOURCES:
            value = getattr(self, key)
            if value is not None:
                return value
        raise AssertionError("validated to have one source")


class ModelConfig(_Strict):
    """Parameters of the siting model (see ``siting.model.SitingModel.from_scenario``)."""

    max_new_schools: int | None = Field(default=None, ge=0)
    budget_yuan: float | None = Field(default=None, ge=0)
    allow_expansion: bool = True
    expansion_step_classes: int = Field(default=6, ge=1)
    far_penalty: float = Field(default=3.0, ge=1.0)
    disruption_m: float = Field(default=300.0, ge=0)
    building_weight: float = Field(default=0.001, ge=0)
    # pupil-metres per pupil above a school's standard capacity: above the costliest walk within the limits
    # (junior: 1,000 m + 2,000 m x far_penalty 3 = 7,000) plus the 300 disruption, so a pupil is placed above
    # capacity only when no seat within the limits is left
    overflow_m: float = Field(default=10_000.0, gt=0)
    # optional ceiling: at most this class size x the school's classes after the plan (e.g. 66, super-large)
    overflow_ceiling_class_size: int | None = Field(default=None, ge=1)
    min_enrolment_share: float | None = Field(default=None, ge=0, le=1)
    # pupil-metres per pupil below the utilisation floor, a share of seats (siting.model.underuse)
    balance_m: float | None = Field(default=1_000.0, ge=0)
    utilisation_floor: float | None = Field(default=None, ge=0, le=1)
    single_source: bool = True
    mode: Literal["round", "exact", "split"] = "round"
    solver: Literal["highs", "cbc"] = "highs"
    time_limit_s: float = Field(default=60.0, gt=0)
    gap: float = Field(default=0.005, ge=0, lt=1)


class PlanConfig(_Strict):
    """When each school opens (``siting.model.years_from_scenario``); without ``plan:``, the design year."""

    # plan years; default: population.growth.years (all of them); each must be a growth year
    years: list[int] | None = Field(default=None, min_length=1)
    # most yuan whose building starts in one year: one number for every year or {year: yuan}
    budget_yuan_per_year: float | dict[int, float] | None = None
    max_openings_per_year: int | None = Field(default=None, ge=0)
    # years from the start of building (when it is paid) to opening
    build_years: int = Field(default=0, ge=0, le=10)
    # pupil-metres per pupil whose school changes from one plan year to the next
    change_m: float = Field(default=300.0, ge=0)
    # each year seats as many children as the budget allows, earliest year first, before shorter walks
    overflow_first: bool = False


class CatchmentsConfig(_Strict):
    """How proposed catchments are finished after the model."""

    repair_contiguity: bool = True


class OutputsConfig(_Strict):
    """Where results go (defaults: ``data/processed/<name>/`` and ``maps/<name>.html``) and how maps load.

    ``map_assets``: ``inline`` (default) puts Leaflet and its plugins into each map file, so it opens with
    no network at all; ``cdn`` links them from the public CDNs (smaller files, needs the internet).
    """

    dir: Path | None = None
    map: Path | None = None
    map_assets: Literal["inline", "cdn"] = "inline"
