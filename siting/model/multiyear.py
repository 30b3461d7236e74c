"""A year-by-year plan: which school opens in which year, and each year's assignment within its seats.

:func:`years_from_costs` (the general core) and :func:`years_from_scenario` (the planning tables) build a
:class:`YearsModel`: one set of core arrays per plan year over the same pairs, arcs and options
(:func:`~siting.model.years_program.year_data`) and the per-year limits. :func:`solve_years` solves the
stacked program (:mod:`siting.model.years_program`) with continuous assignments, whose bound is certified
for every year at once; then each year's split pairs are rounded to one school by the single-year
rounding (:func:`~siting.model.rounding.round_split`) with that year's openings fixed, and the gap of the
whole rounded plan is certified against that one bound. The answer is a :class:`YearsResult`; its
``results`` hold one :class:`~siting.model.result.SitingResult` per year, so everything that reads a
single-year plan reads the design year's.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from siting._log import get_logger
from siting.errors import InputError
from siting.model.arrays import core_data
from siting.model.result import SitingResult
from siting.model.tables import scenario_tables
from siting.model.years_program import YearLimits, year_data
from siting.standards import LEVELS, Standards

log = get_logger(__name__)

SCHEDULE_COLUMNS = (
    "school_id",
    "option",
    "opening_year",
    "build_start_year",
    "classes_primary",
    "classes_junior",
    "capacity_primary",
    "capacity_junior",
    "cost_yuan",
    "subsidy_yuan",
)
"""Columns of :attr:`YearsResult.schedule` (``schedule.csv``)."""


@dataclass(frozen=True)
class YearsModel:
    """The multi-year model's data (built by :func:`years_from_costs` or :func:`years_from_scenario`).

    Attributes
    ----------
    years
        Plan years, increasing.
    data
        One core-array dict per year (same pairs, arcs and options; that year's demand).
    limits
        The per-year limits (:class:`~siting.model.years_program.YearLimits`).
    build_time_s
        Seconds spent building the arrays.
    """

    years: tuple[int, ...]
    data: tuple[dict[str, Any], ...]
    limits: YearLimits
    build_time_s: float


@dataclass
class YearsResult:
    """The answer of :func:`solve_years`.

    Attributes
    ----------
    status, solver_status, objective, bound, gap
        As for :class:`~siting.model.result.SitingResult`, over all years: ``bound`` is the stacked
        relaxation's proven bound, ``gap`` the rounded plan's certified gap; ``"optimal"`` only within the
        requested gap.
    solve_time_s, build_time_s
        Seconds solving and building.
    years
        Plan years.
    objective_parts
        ``distance, building, disruption, overflow, underuse, change`` summed over the years (building
        once); they sum to ``objective``.
    schedule
        One row per opened option: :data:`SCHEDULE_COLUMNS` (years as ints).
    spend
        One row per year: ``year, spend_yuan`` (building started that year), ``budget_yuan`` (the
        year's limit; NaN without), ``openings`` (new schools opening), ``expansions``,
        ``seats_added_primary``, ``seats_added_junior``.
    results
        Year → that year's plan as a :class:`~siting.model.result.SitingResult` (openings by that year,
        the year's assignment and overflow; its objective is that year's alone, its ``gap`` the plan's).
    n_split_rounded
        Unit-level-year pairs rounded from a split assignment.
    max_violation
        Largest violation of any row of the stacked program by the returned plan (≈ 0).
    least_overflow, least_overflow_bound
        With ``overflow_first``: the least pupil-years above capacity over the plan the budget allows
        (split catchments) and its proven lower bound (:mod:`siting.model.years_overflow`); NaN without.
    """

    status: str
    solver_status: str
    objective: float
    bound: float
    gap: float
    solve_time_s: float
    build_time_s: float
    years: tuple[int, ...]
    objective_parts: dict[str, float]
    schedule: pd.DataFrame
    spend: pd.DataFrame
    results: dict[int, SitingResult] = field(default_factory=dict)
    n_split_rounded: int = 0
    max_violation: float = 0.0
    least_overflow: float = math.nan
    least_overflow_bound: float = math.nan

    def by_year(self, name: str) -> pd.DataFrame:
        """Return one table of every year's plan with a leading ``year`` column.

        Parameters
        ----------
        name
            ``"assignment"`` or ``"overflow"`` (a :class:`SitingResult` table).
        """
        frames = [getattr(r, name).assign(year=y) for y, r in self.results.items()]
        if not frames:
            return pd.DataFrame(columns=["year"])
        table = pd.concat(frames, ignore_index=True)
        return table[["year", *[c for c in table.columns if c != "year"]]]

    def summary(self) -> dict[str, Any]:
        """Return the headline numbers as JSON-ready data."""

        def num(value: float) -> float | None:
            return None if not math.isfinite(value) else float(value)

        return {
            "status": self.status,
            "solver_status": self.solver_status,
            "years": list(self.years),
            "objective": num(self.objective),
            "bound": num(self.bound),
            "gap": num(self.gap),
            "solve_time_s": round(self.solve_time_s, 3),
            "build_time_s": round(self.build_time_s, 3),
            "objective_parts": {k: num(v) for k, v in self.objective_parts.items()},
            "n_split_rounded": self.n_split_rounded,
            "openings": len(self.schedule),
            "spend_yuan": float(self.spend["spend_yuan"].sum()) if len(self.spend) else 0.0,
            "overflow_pupil_years": float(self.spend["overflow"].sum()) if "overflow" in self.spend else None,
            "least_overflow_pupil_years": num(self.least_overflow),
            "least_overflow_bound": num(self.least_overflow_bound),
        }


def years_from_costs(
    arcs: pd.DataFrame,
    demand: Mapping[int, pd.DataFrame],
    capacity: pd.DataFrame,
    *,
    options: pd.DataFrame | None = None,
    earliest_year: Mapping[Any, float] | None = None,
    budget_per_year: float | Mapping[int, float] | None = None,
    max_openings_per_year: int | None = None,
    build_years: int = 0,
    change_cost: float = 0.0,
    overflow_first: bool = False,
    **core: Any,
) -> YearsModel:
    """Build the multi-year model from costs, each year's demand and the capacities.

    (Long because of its documented parameters; the checks are in :func:`~siting.model.arrays.core_data`.)

    Parameters
    ----------
    arcs
        As for :meth:`SitingModel.from_costs`; ``cost`` and ``disruption`` are for the unit's largest
        demand over the years (they scale with each year's demand).
    demand
        Year → demand table (index ``unit_id``, one column per level, pupils); the keys are the plan years.
    capacity
        As for :meth:`SitingModel.from_costs`.
    options
        As for :meth:`SitingModel.from_costs`; ``budget_cost`` is the spend in yuan (default
        ``fixed_cost``).
    earliest_year
        School → first year its options may be open (missing or NaN: any year).
    budget_per_year
        Most ``budget_cost`` whose building starts in one plan year (a number for every year, or year →
        number; None: no limit). When plan years are apart, a step of k years allows k times the amount.
    max_openings_per_year
        Most new facilities opening in one plan year (expansions do not count).
    build_years
        Years from the start of building (when it is paid) to opening; needs consecutive years when > 0.
    change_cost
        Objective units per pupil whose school differs from the previous plan year's.
    overflow_first
        First the fewest pupil-years above capacity over the plan the limits allow, then the usual
        objective among the plans that keep it (:mod:`siting.model.years_overflow`); needs
        ``overflow_penalty``.
    **core
        Other parameters of :meth:`SitingModel.from_costs` (``max_new``, ``budget`` (total), ``max_open``,
        ``force_open``, ``single_source``, ``overflow_penalty``, ``overflow_ceiling``, ``min_load``,
        ``current_distance``).

    Returns
    -------
    YearsModel
        Ready for :func:`solve_years`.

    Raises
    ------
    InputError
        For bad years, limits or tables (naming them).
    """
    start = time.perf_counter()
    years = sorted(int(y) for y in demand)
    _check_years(years, build_years, change_cost, max_openings_per_year)
    levels = list(next(iter(demand.values())).columns)
    tables = [demand[y].reindex(columns=levels).fillna(0.0).astype(float) for y in years]
    index = tables[0].index
    if any(not t.index.equals(index) for t in tables):
        raise InputError("demand: every year's table must have the same unit_id index, in the same order.")
    ref = pd.DataFrame(np.max([t.to_numpy() for t in tables], axis=0), index=index, columns=levels)
    d = core_data(
        arcs,
        ref,
        capacity,
        options=options,
        force_open=core.pop("force_open", ()),
        max_new=core.pop("max_new", None),
        exactly_new=core.pop("exactly_new", None),
        budget=core.pop("budget", None),
        max_open=core.pop("max_open", None),
        single_source=core.pop("single_source", True),
        overflow_penalty=core.pop("overflow_penalty", None),
        overflow_ceiling=core.pop("overflow_ceiling", None),
        min_load=core.pop("min_load", None),
        current_distance=core.pop("current_distance", None),
        underuse_penalty=core.pop("underuse_penalty", None),
        utilisation_floor=core.pop("utilisation_floor", None),
    )
    if core:
        raise InputError(f"years_from_costs: unknown parameter(s) {sorted(core)}.")
    data = tuple(year_data(d, t.to_numpy()[d["k_u"], d["k_l"]]) for t in tables)
    limits = YearLimits(
        earliest_index=_earliest_index(d, years, earliest_year, build_years),
        budget=_year_budgets(years, budget_per_year),
        max_openings=max_openings_per_year,
        build_years=int(build_years),
        change_m=float(change_cost),
        overflow_first=bool(overflow_first),
    )
    if overflow_first and not d["has_overflow"]:
        raise InputError(
            "plan.overflow_first needs pupils above capacity to be allowed: set model.overflow_m "
            "(overflow_penalty=) to a number."
        )
    return YearsModel(tuple(years), data, limits, time.perf_counter() - start)


def _check_years(years: list[int], build_years: int, change_cost: float, max_openings: int | None) -> None:
    """Raise :class:`~siting.errors.InputError` for plan years or limits out of range."""
    if not years:
        raise InputError("plan.years: give at least one year.")
    if int(build_years) != build_years or build_years < 0:
        raise InputError(f"plan.build_years must be a whole number of years >= 0, got {build_years!r}.")
    if build_years >= len(years):
        raise InputError(
            f"plan.build_years = {build_years} leaves no plan year to open in (years {years}); give fewer "
            "build years or more plan years."
        )
    if build_years and any(b - a != 1 for a, b in itertools.pairwise(years)):
        raise InputError(
            f"plan.build_years = {build_years} needs consecutive plan years, got {years}; list every year."
        )
    if not (change_cost >= 0 and math.isfinite(change_cost)):
        raise InputError(f"plan.change_m must be a finite number >= 0, got {change_cost!r}.")
    if max_openings is not None and (int(max_openings) != max_openings or max_openings < 0):
        raise InputError(f"plan.max_openings_per_year must be a whole number >= 0, got {max_openings!r}.")


def _earliest_index(
    d: dict[str, Any], years: list[int], earliest: Mapping[Any, float] | None, build_years: int
) -> np.ndarray:
    """Return, per option, the index of the first plan year it may be open (``len(years)``: never)."""
    first = np.full(len(d["o_f"]), int(build_years))
    if earliest:
        school = d["facilities"][d["o_f"]]
        year = pd.to_numeric(pd.Series(school).map(earliest), errors="coerce").to_numpy(float)
        idx = np.searchsorted(np.asarray(years, float), np.nan_to_num(year, nan=-np.inf), side="left")
        first = np.maximum(first, idx)
    return first


def _year_budgets(years: list[int], budget: float | Mapping[int, float] | None) -> np.ndarray:
    """Return each plan year's spend limit, yuan (``inf`` without); a step of k years gets k times it."""
    if budget is None:
        return np.full(len(years), np.inf)
    if isinstance(budget, Mapping):
        unknown = sorted(set(budget) - set(years))
        if unknown:
            raise InputError(
                f"plan.budget_yuan_per_year names year(s) {unknown} not among the plan years {years}."
            )
        values = np.array([float(budget.get(y, np.inf)) for y in years])
    else:
        steps = np.diff(np.asarray(years, float), prepend=years[0] - 1)
        values = float(budget) * steps
    if (values < 0).any() or np.isnan(values).any():
        raise InputError(f"plan.budget_yuan_per_year must be >= 0 yuan, got {budget!r}.")
    return values


def years_from_scenario(
    units: pd.DataFrame,
    schools: pd.DataFrame,
    options: pd.DataFrame | None,
    costs: pd.DataFrame,
    *,
    standards: Standards,
    years: Sequence[int],
    plan: Mapping[str, Any],
    model: Mapping[str, Any],
) -> YearsModel:
    """Build the multi-year model for both levels from the contract tables and each year's demand.

    (Long because of its documented parameters; the tables are those of :meth:`SitingModel.from_scenario`.)

    Parameters
    ----------
    units
        Demand units with ``primary_<year>`` and ``junior_<year>`` for every plan year (and
        ``current_<level>``).
    schools, options, costs, standards
        As for :meth:`SitingModel.from_scenario`; a site's options may open from its ``available_from``.
    years
        Plan years.
    plan
        ``budget_yuan_per_year``, ``max_openings_per_year``, ``build_years``, ``change_m`` (pupil-metres per
        pupil whose school changes from one plan year to the next), ``overflow_first``.
    model
        The parameters of :meth:`SitingModel.from_scenario` (``max_new_schools``, ``budget_yuan`` (total),
        ``allow_expansion``, ``far_penalty``, ``disruption_m``, ``building_weight``, ``overflow_m``,
        ``overflow_ceiling_class_size``, ``min_enrolment_share``, ``single_source``, ``balance_m`` and
        ``utilisation_floor``: the utilisation floor holds in every plan year).

    Returns
    -------
    YearsModel
        The model; levels are ``("primary", "junior")``.

    Raises
    ------
    InputError
        For a plan year without demand columns, naming the columns, and as :meth:`SitingModel.from_scenario`.
    """
    start = time.perf_counter()
    years = sorted(int(y) for y in years)
    missing = [f"{lv}_{y}" for y in years for lv in LEVELS if f"{lv}_{y}" not in units.columns]
    if missing:
        raise InputError(
            f"units lack the demand column(s) {missing[:4]} of plan years {years}; plan.years must be among "
            "population.growth.years."
        )
    demand = {y: units[[f"{lv}_{y}" for lv in LEVELS]].set_axis(list(LEVELS), axis=1) for y in years}
    ref = units.copy()
    ref[list(LEVELS)] = np.max([demand[y].to_numpy(float) for y in years], axis=0)
    tables = scenario_tables(
        ref,
        schools,
        options,
        costs,
        standards=standards,
        allow_expansion=model.get("allow_expansion", True),
        far_penalty=model.get("far_penalty", 3.0),
        disruption_m=model.get("disruption_m", 300.0),
        building_weight=model.get("building_weight", 0.001),
        min_enrolment_share=model.get("min_enrolment_share"),
        design_year=years[-1],
        overflow_m=model.get("overflow_m", 10_000.0),
        overflow_ceiling_class_size=model.get("overflow_ceiling_class_size"),
        balance_m=model.get("balance_m"),
        utilisation_floor=model.get("utilisation_floor"),
    )
    tables.pop("demand")
    avail = schools["available_from"] if "available_from" in schools.columns else None
    out = years_from_costs(
        **tables,
        demand=demand,
        earliest_year=None if avail is None else avail.to_dict(),
        budget_per_year=plan.get("budget_yuan_per_year"),
        max_openings_per_year=plan.get("max_openings_per_year"),
        build_years=int(plan.get("build_years", 0)),
        change_cost=float(plan.get("change_m", 0.0)),
        overflow_first=bool(plan.get("overflow_first", False)),
        max_new=model.get("max_new_schools"),
        budget=model.get("budget_yuan"),
        single_source=model.get("single_source", True),
        overflow_penalty=model.get("overflow_m", 10_000.0),
    )
    return YearsModel(out.years, out.data, out.limits, time.perf_counter() - start)
