"""The validated scenario: the sections together, the checks across them, derived values and variants."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pyproj import CRS

from siting._crs import STUDY_CRS_FIX
from siting.config.sections import (
    SHARE_EXAMPLES,
    CatchmentsConfig,
    DistrictsConfig,
    ModelConfig,
    NetworkConfig,
    OutputsConfig,
    PlanConfig,
    PopulationConfig,
    _Strict,
)
from siting.errors import InputError, describe
from siting.schema import did_you_mean
from siting.standards import DEFAULT_INDICATOR_COLUMNS, INDICATORS, Standards

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Scenario(_Strict):
    """A validated scenario. Build it with :func:`load_scenario`; derive variants with :meth:`replace`."""

    name: str
    description: str = ""
    crs: str | None = None
    design_year: int | None = Field(default=None, ge=1900, le=2200)
    plan_for: Literal["design_year", "max_over_years"] = "design_year"
    population: PopulationConfig
    districts: DistrictsConfig
    network: NetworkConfig
    schools: Path
    sites: Path | None = None
    current_catchments: dict[Literal["primary", "junior"], Path] = Field(default_factory=dict)
    standards: dict[str, Any] = Field(default_factory=dict)
    indicators: dict[str, str] | None = None
    model: ModelConfig = Field(default_factory=ModelConfig)
    plan: PlanConfig | None = None
    catchments: CatchmentsConfig = Field(default_factory=CatchmentsConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("crs")
    @classmethod
    def _crs_in_metres(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            crs = CRS.from_user_input(value)
        except Exception:  # pyproj's CRSError and friends for anything it cannot parse
            raise ValueError(f"not a CRS pyproj knows; {STUDY_CRS_FIX}") from None
        unit = crs.axis_info[0].unit_name if crs.axis_info else ""
        if not crs.is_projected or unit not in {"metre", "meter", "m"}:
            kind = "geographic (degrees)" if crs.is_geographic else f"not in metres ({unit or 'no unit'})"
            raise ValueError(
                f"{crs.to_string()} is {kind}; distances need a projected CRS in metres: {STUDY_CRS_FIX}"
            )
        return value

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '-', '_' or '.' (it names the output folder)")
        return value

    @field_validator("indicators")
    @classmethod
    def _indicators_are_national(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        unknown = {col: key for col, key in value.items() if key not in INDICATORS}
        if unknown:
            col, key = next(iter(unknown.items()))
            raise ValueError(
                f"column {col!r} is mapped to {key!r}, which is not an indicator; map schools-file columns "
                f"to one of {', '.join(INDICATORS)}"
            )
        seen: dict[str, str] = {}
        for col, key in value.items():
            if key in seen:
                raise ValueError(f"columns {seen[key]!r} and {col!r} are both mapped to {key!r}; keep one")
            seen[key] = col
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        growth = self.population.growth
        if self.design_year is not None and growth is not None and self.design_year not in growth.years:
            raise ValueError(
                f"design_year {self.design_year} is not among population.growth.years {growth.years}; "
                "add it to the years or choose one of them"
            )
        if self.plan_for == "max_over_years" and growth is None:
            raise ValueError("plan_for: max_over_years needs population.growth with several years")
        self._plan_consistent()
        known = Standards.__dataclass_fields__
        for key in self.standards:
            name = str(key).partition(".")[0]
            if name not in known:
                raise ValueError(f"standards: unknown parameter {name!r}.{did_you_mean(name, known)}")
        self.standards_object()  # raises for bad overrides
        return self

    def _plan_consistent(self) -> None:
        """Raise ValueError (naming key, value and fix) for a ``plan:`` that does not fit the scenario."""
        if self.plan is None:
            return
        growth = self.population.growth
        if growth is None:
            raise ValueError("plan: a year-by-year plan needs population.growth (its years and rates)")
        years = self.plan_years()
        late = [y for y in years if y not in growth.years]
        if late:
            raise ValueError(
                f"plan.years = {years}: {late} not among population.growth.years {growth.years}; "
                "choose plan years from them (or leave plan.years out to use them all)"
            )
        if self.design_year is not None and self.design_year not in years:
            raise ValueError(
                f"design_year {self.design_year} is not among plan.years {years}: the review reads the "
                "design year's catchments; add it to plan.years"
            )
        if self.plan_for != "design_year":
            raise ValueError(
                f"plan_for = {self.plan_for!r}: a year-by-year plan seats each year's own demand; "
                "use plan_for: design_year with plan:"
            )
        budget = self.plan.budget_yuan_per_year
        values = list(budget.values()) if isinstance(budget, dict) else [] if budget is None else [budget]
        if any(not v >= 0 for v in values):
            raise ValueError(f"plan.budget_yuan_per_year = {budget!r}: give yuan >= 0 (e.g. 150000000)")
        if isinstance(budget, dict) and set(budget) - set(years):
            raise ValueError(
                f"plan.budget_yuan_per_year names year(s) {sorted(set(budget) - set(years))} that are not "
                f"plan years {years}; give yuan for plan years only"
            )
        if self.plan.build_years >= len(years):
            raise ValueError(
                f"plan.build_years = {self.plan.build_years} leaves no plan year to open in ({years}); give "
                "fewer build years"
            )

    def plan_years(self) -> list[int]:
        """Return the plan's years (``plan.years`` or the growth years); empty without a plan."""
        if self.plan is None:
            return []
        if self.plan.years is not None:
            return sorted(self.plan.years)
        return sorted(self.population.growth.years) if self.population.growth else []

    def plan_design_year(self) -> int | None:
        """Return the year whose catchments the review reads: ``design_year``, else the last plan year."""
        years = self.plan_years()
        return self.design_year if self.design_year is not None else (years[-1] if years else None)

    # ------------------------------------------------------------------ derived values
    def standards_object(self) -> Standards:
        """Return the standards this scenario uses: Foshan's defaults with the scenario's overrides."""
        overrides = dict(self.standards)
        if self.population.seats_per_1000:
            overrides.update({f"seats_per_1000.{k}": v for k, v in self.population.seats_per_1000.items()})
        return Standards.foshan().with_overrides(overrides)

    def indicator_columns(self) -> dict[str, str]:
        """Return the schools-file columns that hold resource indicators: ``{column: indicator key}``.

        The scenario's ``indicators`` mapping when given, else
        :data:`~siting.standards.DEFAULT_INDICATOR_COLUMNS`. No other column is an indicator.
        """
        return dict(self.indicators if self.indicators is not None else DEFAULT_INDICATOR_COLUMNS)

    def output_dir(self) -> Path:
        """Folder of this scenario's outputs (relative paths are from the working directory)."""
        return self.outputs.dir or Path("data/processed") / self.name

    def map_path(self) -> Path:
        """Path of this scenario's main HTML map."""
        return self.outputs.map or Path("maps") / f"{self.name}.html"

    def section_key(self, *sections: str) -> str:
        """Return a short hash of some sections' values and input files' sizes and times (for caches).

        Parameters
        ----------
        *sections
            Top-level field names, e.g. ``"population", "districts"``; ``"standards"`` means the
            effective standards.
        """
        payload: dict[str, Any] = {}
        for section in sections:
            if section == "standards":
                payload[section] = self.standards_object().to_dict()
            else:
                payload[section] = _jsonable(getattr(self, section))
        payload["files"] = {p: _file_stamp(Path(p)) for p in sorted(_paths_in(payload))}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ variants
    def replace(self, **changes: Any) -> Scenario:
        """Return a validated variant with some values changed.

        Keys may be top-level fields (``name=...``), dotted paths (``**{"model.gap": 0.01}``) or, as a
        shortcut, names of model parameters (``max_new_schools=3``, ``disruption_m=0``) or standards
        (``service_radius_m={"primary": 800}``).

        Raises
        ------
        InputError
            Naming the key and value when the variant is not valid.
        """
        data = self.model_dump(mode="python", exclude={"source"})
        for key, value in changes.items():
            path = key.split(".") if "." in key else _shortcut(key)
            target = data
            for part in path[:-1]:
                if not isinstance(target.get(part), dict):
                    target[part] = {}
                target = target[part]
            target[path[-1]] = value
        label = f"variant of {self.source or self.name}"
        scenario = _validate(data, label)
        return scenario.model_copy(update={"source": self.source})

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        import html

        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.model.model_dump().items()
        )
        return (
            f"<b>Scenario {html.escape(self.name)}</b> — {html.escape(self.description)}<table>{rows}</table>"
        )


def _shortcut(key: str) -> list[str]:
    if key in Scenario.model_fields:
        return [key]
    if key in ModelConfig.model_fields or key in _REPLACED_MODEL_KEYS:
        return ["model", key]
    if key in PopulationConfig.model_fields:
        return ["population", key]
    if key in PlanConfig.model_fields:
        return ["plan", key]
    if key in Standards.__dataclass_fields__:
        return ["standards", key]
    raise InputError(
        f"unknown scenario key {key!r}; use a top-level field ({', '.join(Scenario.model_fields)}), "
        f"a model parameter ({', '.join(ModelConfig.model_fields)}), or a dotted path like 'model.gap'."
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _paths_in(payload: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(payload, dict):
        for value in payload.values():
            found |= _paths_in(value)
    elif isinstance(payload, list):
        for value in payload:
            found |= _paths_in(value)
    elif isinstance(payload, str) and ("/" in payload or "\\" in payload) and Path(payload).exists():
        found.add(payload)
    return found


def _file_stamp(path: Path) -> list[float]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


_REPLACED_MODEL_KEYS = {
    "shortfall_m": "model.shortfall_m was replaced by model.overflow_m (pupils above standard capacity are "
    "now overflow, charged per pupil); see README",
}


def _validate(data: dict[str, Any], label: str) -> Scenario:
    model = data.get("model")
    for key, message in _REPLACED_MODEL_KEYS.items():
        if isinstance(model, dict) and key in model:
            raise InputError(f"{label}: {message}.")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(err) for err in exc.errors()]
        many = f"{len(problems)} problems: " if len(problems) > 1 else ""
        raise InputError(f"{label}: {many}" + "; ".join(problems)) from None
    except InputError as exc:
        raise InputError(f"{label}: {exc}") from None


_BOUND_ERRORS = {"less_than", "less_than_equal", "greater_than", "greater_than_equal"}


def _problem(err: Any) -> str:
    """One pydantic error as ``key = value: what is wrong[, did you mean]``."""
    loc = [str(p) for p in err["loc"] if p != "[key]"]
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        known = _fields_at(err["loc"])
        hint = did_you_mean(loc[-1], known) or f" Keys here: {', '.join(known)}."
        msg = f"unknown key.{hint} See README 'Scenario file'."
    elif err["type"] == "literal_error":
        msg += "." + did_you_mean(str(value), re.findall(r"'([^']*)'", err["ctx"]["expected"]))
    elif err["type"] in {"float_parsing", "int_parsing"}:
        msg = "give a plain number, without units (e.g. 200)"
    elif loc and loc[-1] in SHARE_EXAMPLES and err["type"] in _BOUND_ERRORS:
        msg = f"{msg.rstrip('.')}; it is a share from 0 to 1, not per cent: e.g. {SHARE_EXAMPLES[loc[-1]]}"
    msg = msg.strip() if msg.strip().endswith((".", "?")) else msg.strip() + "."
    if not loc:
        return msg
    scalar = err["type"] != "missing" and not isinstance(value, dict | list)
    return f"{'.'.join(loc)}{f' = {describe(value)}' if scalar else ''}: {msg}"


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed beside the last part of ``loc`` (a pydantic error location), for "did you mean"."""
    model: type[BaseModel] = Scenario
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        inner = [a for a in (field.annotation, *get_args(field.annotation)) if isinstance(a, type)]
        sub = next((a for a in inner if issubclass(a, BaseModel)), None)
        if sub is None:
            return []
        model = sub
    return list(model.model_fields)
