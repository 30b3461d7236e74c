"""The facility-location model: which sites open, at what size, and which units go to which school.

:class:`SitingModel` has two constructors. :meth:`SitingModel.from_costs` is the general core (numpy/pandas,
nothing geographic); :meth:`SitingModel.from_scenario` turns the planning tables (units, schools and sites,
size options, travel costs, standards) into that core. :meth:`SitingModel.solve` returns a
:class:`~siting.model.result.SitingResult`. The formulation is in :mod:`siting.model.program`, the modes in
:mod:`siting.model.modes`.

Textbook special cases: p-median (no base capacity, one free option per node with capacity = total demand,
``exactly_new = p``), capacitated facility location (one option per facility at its capacity and fixed cost,
``mode="split"``), single-source CFLP (same, ``mode="exact"``), capacitated p-median (option capacity ``Q``,
cost 0, ``exactly_new = p``, arc cost = distance, ``mode="exact"``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pandas as pd

from siting.model.arrays import core_data
from siting.model.checks import check_result
from siting.model.modes import solve_model
from siting.model.program import build_program, lazy_links, select_linking_rows
from siting.model.result import SitingResult
from siting.model.solvers import Deadline, MatrixProgram
from siting.model.tables import scenario_tables
from siting.standards import Standards


class SitingModel:
    """A facility-location model: build with :meth:`from_costs` or :meth:`from_scenario`, then :meth:`solve`.

    The constructor is private; use the two class methods.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self._d = data
        self.levels: list[Any] = data["levels"]
        self.build_time_s: float = data["build_time_s"]
        self.single_source: bool = data["single_source"]
        self._program: MatrixProgram | None = None
        self._work: MatrixProgram | None = None

    # ---------------------------------------------------------------------------------- constructors
    @classmethod
    def from_costs(
        cls,
        arcs: pd.DataFrame,
        demand: pd.DataFrame,
        capacity: pd.DataFrame,
        *,
        options: pd.DataFrame | None = None,
        force_open: Iterable[Any] = (),
        max_new: int | None = None,
        exactly_new: int | None = None,
        budget: float | None = None,
        max_open: int | None = None,
        single_source: bool = True,
        overflow_penalty: float | None = None,
        overflow_ceiling: pd.DataFrame | None = None,
        min_load: pd.DataFrame | None = None,
        current_distance: pd.DataFrame | None = None,
        underuse_penalty: float | None = None,
        utilisation_floor: float | pd.DataFrame | None = None,
    ) -> SitingModel:
        """Build the general model from costs, demands and capacities.

        (Long because of its sixteen documented parameters; the checks are in
        :func:`~siting.model.arrays.core_data`.)

        Parameters
        ----------
        arcs
            Long table ``unit_id, school_id, level, cost`` (cost of serving ALL of the unit's demand of that
            level from that school, objective units), optional ``disruption`` (added to the cost, reported
            separately), ``distance_m`` and ``beyond_limit`` (bool; both reported in the assignment).
            Duplicate pairs are an error. Every unit-level with demand must have at least one arc: each is
            assigned in full to exactly one school (``single_source``) or split.
        demand
            Index ``unit_id``, one column per level (demand, pupils); the column order sets the levels.
        capacity
            Index ``school_id``, one column per level: base capacity (pupils). A school with no base capacity
            in any level is a *new* facility and serves only through an opened option.
        options
            ``school_id, option, fixed_cost, capacity_<level>...``, optional ``budget_cost`` (defaults to
            ``fixed_cost``) and ``overflow_ceiling_<level>`` (pupils the option adds to the school's overflow
            ceiling); other columns are carried into :attr:`SitingResult.opened`. At most one option per
            school opens.
        force_open
            Schools that must open (for a new facility: exactly one of its options opens).
        max_new, exactly_new
            At most / exactly this many new facilities open (``exactly_new`` gives p-median problems).
        budget
            Upper limit on the summed ``budget_cost`` of opened options.
        max_open
            Upper limit on the number of facilities open (existing ones count as open).
        single_source
            Each unit to one school per level (the modes ``"round"``/``"exact"``); False allows splitting.
        overflow_penalty
            Cost per pupil assigned above a school's capacity (overflow). Only a school with base capacity
            for the level may overflow; new facilities never do. None: hard capacities everywhere (then a
            demand that cannot fit raises :class:`~siting.errors.InfeasibleError` or solves infeasible).
        overflow_ceiling
            Index ``school_id``, one column per level: the most pupils above capacity (NaN or missing: no
            ceiling). Needs ``overflow_penalty``.
        min_load
            Index ``school_id``, one column per level: the least pupils a school must keep.
        current_distance
            ``unit_id, level, distance_m``: the current walk (for :meth:`SitingResult.explain`).
        underuse_penalty
            Cost per pupil a school-level holds below its utilisation floor (None or 0: no floor).
        utilisation_floor
            The floor as a share of the seats after the plan: one number, or a table indexed by ``school_id``
            with one column per level; the part of the base capacity is capped at the demand within the
            school's reach, the part of an opened option is not (:mod:`siting.model.underuse`). Needs
            ``underuse_penalty``.

        Returns
        -------
        SitingModel
            The model, ready to :meth:`solve`.

        Raises
        ------
        InputError
            For missing columns, unknown ids, negative values or duplicate arcs.
        InfeasibleError
            When the problem cannot be feasible (checked with numbers before solving), e.g. a unit-level
            with demand and no arc.
        """
        data = core_data(
            arcs,
            demand,
            capacity,
            options=options,
            force_open=force_open,
            max_new=max_new,
            exactly_new=exactly_new,
            budget=budget,
            max_open=max_open,
            single_source=single_source,
            overflow_penalty=overflow_penalty,
            overflow_ceiling=overflow_ceiling,
            min_load=min_load,
            current_distance=current_distance,
            underuse_penalty=underuse_penalty,
            utilisation_floor=utilisation_floor,
        )
        return cls(data)

    @classmethod
    def from_scenario(
        cls,
        units: pd.DataFrame,
        schools: pd.DataFrame,
        options: pd.DataFrame | None,
        costs: pd.DataFrame,
        *,
        standards: Standards,
        max_new_schools: int | None = None,
        budget_yuan: float | None = None,
        allow_expansion: bool = True,
        far_penalty: float = 3.0,
        disruption_m: float = 300.0,
        building_weight: float = 0.001,
        overflow_m: float | None = 10_000.0,
        overflow_ceiling_class_size: int | None = None,
        min_enrolment_share: float | None = None,
        single_source: bool = True,
        design_year: int | None = None,
        balance_m: float | None = None,
        utilisation_floor: float | None = None,
        force_open: Iterable[Any] = (),
    ) -> SitingModel:
        """Build the planning model for both levels from the contract tables (``docs/architecture.md``).

        (Long because of its nineteen parameters; the tables are built by
        :func:`~siting.model.tables.scenario_tables`.)

        Parameters
        ----------
        units
            Demand units, index ``unit_id``: ``primary``, ``junior`` (seats) and optionally
            ``current_primary``, ``current_junior`` (current ``school_id`` or missing).
        schools
            Existing schools and reserved sites, index ``school_id``: ``level``, ``status``,
            ``capacity_primary``, ``capacity_junior``, optionally ``enrolled_*``, ``available_from``.
            Existing schools keep their capacity at the standard class size even when already over it;
            pupils assigned above it are overflow, charged ``overflow_m`` each.
        options
            Size options (``facilities.size_options``): ``school_id, option, capacity_primary,
            capacity_junior, cost_yuan`` and more. Sites open at most one; existing schools may take one.
        costs
            ``unit_id, school_id, distance_m, time_s`` (long, sparse) and optionally ``fallback`` (bool).
            Arcs are the pairs within the level's hard limit, the pair to the unit's current school of that
            level at any distance (the status quo is always allowed) and the ``fallback`` pairs (the
            nearest school of a unit with none of the others). Every unit-level with demand needs one.
        standards
            Class sizes, service radii and hard limits.
        max_new_schools
            At most this many sites open (None: no limit).
        budget_yuan
            Building budget, yuan (summed ``cost_yuan`` of opened options and expansions; None: no limit).
        allow_expansion
            Whether existing schools may take their expansion options.
        far_penalty
            Each metre beyond the level's soft service radius counts this many times.
        disruption_m
            Pupil-metres charged per pupil assigned anywhere but its current school (0: redraw freely).
        building_weight
            Pupil-metres per yuan of building cost.
        overflow_m
            Pupil-metres per pupil above an existing school's standard capacity; None: hard capacities.
            A warning is logged when it is below the costliest walk within the limits (then the model
            prefers overflow to such a walk).
        overflow_ceiling_class_size
            With it, an existing school holds at most this class size × its classes after the plan (e.g.
            66, the super-large class); None: no ceiling.
        min_enrolment_share
            Existing schools keep at least this share of their current enrolment per level (None: off);
            capped at the school's capacity.
        single_source
            One school per unit and level.
        design_year
            Sites with ``available_from`` after this year cannot open (None: all may open).
        balance_m
            Pupil-metres per pupil a school-level holds below its utilisation floor (balanced development:
            a school emptied by the plan raises the difference coefficient); None or 0: no floor.
        utilisation_floor
            The floor's share of a school's seats after the plan (None: ``standards.utilisation_floor``);
            today's seats count only up to the pupils within reach, new seats (sites, expansions) in full.
        force_open
            Reserved sites (``school_id``) that must open, one of their size options (a hearing's "what if
            this parcel is built"); ``InputError`` names an unknown one.

        Returns
        -------
        SitingModel
            The model; levels are ``("primary", "junior")``.

        Raises
        ------
        InputError
            For a missing column or a bad parameter, naming it, and for unit-levels with demand but no
            school they may go to (naming them).
        InfeasibleError
            When demand cannot be met (with the numbers), e.g. with hard capacities.
        """
        start = time.perf_counter()
        tables = scenario_tables(
            units,
            schools,
            options,
            costs,
            standards=standards,
            allow_expansion=allow_expansion,
            far_penalty=far_penalty,
            disruption_m=disruption_m,
            building_weight=building_weight,
            min_enrolment_share=min_enrolment_share,
            design_year=design_year,
            overflow_m=overflow_m,
            overflow_ceiling_class_size=overflow_ceiling_class_size,
            balance_m=balance_m,
            utilisation_floor=utilisation_floor,
        )
        model = cls.from_costs(
            **tables,
            max_new=max_new_schools,
            budget=budget_yuan,
            single_source=single_source,
            overflow_penalty=overflow_m,
            force_open=force_open,
        )
        model.build_time_s = time.perf_counter() - start
        return model

    # ---------------------------------------------------------------------------------- program
    def program(self) -> MatrixProgram:
        """Return the matrix program (continuous assignments; :meth:`solve` sets integrality per mode)."""
        if self._program is None:
            start = time.perf_counter()
            self._program = build_program(self._d)
            self.build_time_s += time.perf_counter() - start
        return self._program

    def _working_program(
        self, solver: str, deadline: Deadline, threads: int | None = None
    ) -> tuple[MatrixProgram, float]:
        """Return the program to solve with ``solver`` and the seconds spent choosing its linking rows.

        With HiGHS and many linking rows, only the rows the LP relaxation needs are kept
        (:func:`~siting.model.program.select_linking_rows`, at most a quarter of the time left before
        ``deadline``); the choice is made once per model.
        """
        link_all = lazy_links(self._d, solver)
        if link_all is None:
            return self.program(), 0.0
        if self._work is not None:
            return self._work, 0.0
        start = time.perf_counter()
        self._work = select_linking_rows(self._d, link_all, 0.25 * deadline.left(), threads)
        return self._work, time.perf_counter() - start

    @property
    def n_arcs(self) -> int:
        """Number of unit-school-level arcs (assignment variables)."""
        return len(self._d["a_k"])

    def solve(
        self,
        *,
        solver: str = "highs",
        time_limit_s: float = 60.0,
        gap: float = 0.005,
        mode: str | None = None,
        threads: int | None = None,
        msg: bool = False,
    ) -> SitingResult:
        """Solve the model.

        Parameters
        ----------
        solver
            ``"highs"`` (HiGHS, matrix passed directly; CBC if HiGHS fails), ``"cbc"`` (CBC through PuLP) or
            ``"highs-pulp"`` (HiGHS through PuLP).
        time_limit_s
            Limit for the whole solve, seconds: building the program, the relaxation, the rounding's local
            search and repair MIPs, and the exact mode's second solve all share it (each solver call gets
            the time left). The local search takes at least half a second.
        gap
            Relative gap at which a solve counts as optimal.
        mode
            ``"round"`` (default when single-sourced), ``"exact"`` or ``"split"`` (default otherwise).
        threads
            Solver threads (None: solver default).
        msg
            Show solver logs.

        Returns
        -------
        SitingResult
            With the solver's true status; never ``"optimal"`` unless proven within ``gap``.

        Raises
        ------
        InputError
            For an unknown mode. A model built with ``single_source=False`` always solves mode ``"split"``.
        """
        return solve_model(
            self, solver=solver, time_limit_s=time_limit_s, gap=gap, mode=mode, threads=threads, msg=msg
        )

    def check(self, result: SitingResult) -> dict[str, float]:
        """Recompute a result's objective and feasibility from its tables.

        Parameters
        ----------
        result
            A result of this model.

        Returns
        -------
        dict
            ``objective`` (recomputed) and its parts ``distance``, ``disruption``, ``building`` and
            ``overflow`` (penalty × pupils above capacity where a school may overflow),
            ``max_capacity_excess`` (pupils over any hard limit: capacity where a school may not overflow,
            capacity plus ceiling where it may; ≤ 0 when feasible), ``max_coverage_error`` (largest
            |assigned − demand| over unit-levels, pupils), ``max_overflow_error`` (largest difference
            between :attr:`SitingResult.overflow` and the recomputed overflow, pupils), ``unknown_arcs``
            (assignment rows that are not arcs of the model), ``max_sources`` (most schools serving one
            unit-level), ``options_per_school`` (most options opened at one school).
        """
        return check_result(self._d, self.levels, result)
