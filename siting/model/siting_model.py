r"""The facility-location model: which sites open, at what size, and which units go to which school.

:class:`SitingModel` has two constructors. :meth:`SitingModel.from_costs` is the general core (numpy/pandas,
nothing geographic); :meth:`SitingModel.from_scenario` turns the planning tables (units, schools and sites,
size options, travel costs, standards) into that core. :meth:`SitingModel.solve` returns a
:class:`SitingResult`.

Formulation (one program for all levels :math:`l`). Pairs :math:`k=(i,l)` are units with demand
:math:`d_{il}>0`; arcs :math:`a=(i,j,l)` join a pair to a facility that may serve it, with cost :math:`c_a`
(the cost of serving *all* of :math:`d_{il}` from :math:`j`) and, optionally, a disruption cost :math:`r_a`.
Options :math:`o` of facility :math:`j` add capacity :math:`q_{ol}` at fixed cost :math:`f_o`.

.. math::

    \min \sum_a (c_a + r_a)\,x_a + \sum_o f_o z_o + \sum_k \pi\, d_k\, s_k

subject to

* every pair served or short: :math:`\sum_{a \in k} x_a + s_k = 1` (:math:`s_k = 0` without shortfall);
* capacity: :math:`\sum_{a \to (j,l)} d_a x_a \le Q_{jl} + \sum_{o \in j} q_{ol} z_o`;
* a facility with no base capacity for a level serves it only through an opened option:
  :math:`x_a \le \sum_{o \in j,\, q_{ol} > 0} z_o` (the strong linking rows);
* at most one option per facility, exactly one for a forced-open facility without base capacity;
* limits: new openings :math:`\le` ``max_new`` (or :math:`=` ``exactly_new``), budget on the options'
  ``budget_cost``, total open facilities :math:`\le` ``max_open``;
* optional minimum loads :math:`\sum_{a \to (j,l)} d_a x_a \ge m_{jl}`;
* :math:`z` binary, :math:`x \in [0,1]` (split) or binary (single-sourced).

Modes: ``"exact"`` makes :math:`x` binary; ``"split"`` keeps it continuous and returns that answer;
``"round"`` solves the continuous-assignment MIP (a valid lower bound for single sourcing), then assigns the
few split pairs to single schools by a small repair MIP that keeps capacities, with the other assignments and
the opened options fixed, and certifies the gap of the rounded answer against the continuous bound.

Textbook special cases: p-median (no base capacity, one free option per node with capacity = total demand,
``exactly_new = p``), capacitated facility location (one option per facility at its capacity and fixed cost,
``mode="split"``), single-source CFLP (same, ``mode="exact"``), capacitated p-median (option capacity ``Q``,
cost 0, ``exactly_new = p``, arc cost = distance, ``mode="exact"``).
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting._log import get_logger
from siting.errors import InfeasibleError, InputError, SolverError
from siting.model.local_search import improve_assignment
from siting.model.solvers import MatrixProgram, SolveOutcome, relative_gap, solve_program, sparse_rows
from siting.standards import LEVELS, LEVELS_SERVED, Standards

log = get_logger(__name__)

MODES: tuple[str, ...] = ("round", "exact", "split")
"""Solve modes: round continuous assignments to single schools, binary assignments, or split assignments."""

_TOL = 1e-6
_LINK_ROWS_ALL = 20_000
"""Up to this many linking rows are always all built; above it HiGHS gets only those the LP needs."""


def _id(value: Any) -> str:
    """Return an id for messages: ``repr`` of the plain Python value (``2``, not ``np.int64(2)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _fmt(value: float) -> str:
    """Format a seat count for messages (``41,200``)."""
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.1f}"


def walk_cost_m(distance_m: np.ndarray, radius_m: float, far_penalty: float) -> np.ndarray:
    """Return the penalised walk per pupil, metres.

    Parameters
    ----------
    distance_m
        Walking distance, metres.
    radius_m
        Soft service radius, metres: distances within it count as they are.
    far_penalty
        Each metre beyond the radius counts this many times.

    Returns
    -------
    numpy.ndarray
        ``d`` for ``d <= radius``, else ``radius + far_penalty * (d - radius)``.
    """
    d = np.asarray(distance_m, dtype=float)
    return np.where(d <= radius_m, d, radius_m + far_penalty * (d - radius_m))


# ====================================================================================== result
@dataclass
class SitingResult:
    """The answer of :meth:`SitingModel.solve` (see ``docs/architecture.md``, "Model result").

    Attributes
    ----------
    status
        ``"optimal"`` (proven within the requested gap), ``"feasible"`` (see ``gap``), ``"infeasible"`` or
        ``"not_solved"``.
    solver_status
        The solver's own words (for ``mode="round"``, both the relaxation's and the repair's).
    objective, bound, gap
        Objective of the returned answer, a proven lower bound and ``(objective - bound) / |objective|``.
    solve_time_s, build_time_s
        Seconds spent in the solver(s) and building the model.
    n_split_rounded
        Unit-level pairs whose split assignment was rounded to one school (``mode="round"``).
    mode
        ``"round"``, ``"exact"`` or ``"split"``.
    opened
        Index ``school_id``: the option opened at each facility (sites opened, schools expanded), with the
        option table's columns (``option``, ``capacity_<level>``, ``fixed_cost``, ``budget_cost`` and any
        others such as ``classes_*``, ``cost_yuan``, ``subsidy_yuan``).
    assignment
        ``unit_id, level, school_id, pupils, distance_m``; one row per unit and level when single-sourced.
    shortfall
        ``unit_id, level, pupils`` left unserved.
    objective_parts
        ``distance``, ``building``, ``disruption``, ``shortfall`` (objective units; sum = ``objective``).
    solver
        Which solver path produced the answer.
    """

    status: str
    solver_status: str
    objective: float
    bound: float
    gap: float
    solve_time_s: float
    build_time_s: float
    n_split_rounded: int
    mode: str
    opened: pd.DataFrame
    assignment: pd.DataFrame
    shortfall: pd.DataFrame
    objective_parts: dict[str, float]
    solver: str = "highs"
    _model: SitingModel | None = field(default=None, repr=False)
    _x: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_tables(
        cls,
        *,
        summary: Mapping[str, Any],
        opened: pd.DataFrame,
        assignment: pd.DataFrame,
        shortfall: pd.DataFrame,
    ) -> SitingResult:
        """Rebuild a result saved as tables plus its :meth:`summary` (no model attached: no :meth:`explain`).

        Parameters
        ----------
        summary
            The dict :meth:`summary` returned.
        opened, assignment, shortfall
            The result's tables as saved.

        Returns
        -------
        SitingResult
            With the saved numbers; missing ones are NaN.
        """

        def num(key: str) -> float:
            value = summary.get(key)
            return math.nan if value is None else float(value)

        parts = summary.get("objective_parts") or {}
        return cls(
            status=str(summary.get("status", "not_solved")),
            solver_status=str(summary.get("solver_status", "")),
            objective=num("objective"),
            bound=num("bound"),
            gap=num("gap"),
            solve_time_s=num("solve_time_s"),
            build_time_s=num("build_time_s"),
            n_split_rounded=int(summary.get("n_split_rounded", 0) or 0),
            mode=str(summary.get("mode", "")),
            opened=opened,
            assignment=assignment if len(assignment.columns) else _empty_assignment(),
            shortfall=shortfall if len(shortfall.columns) else _empty_shortfall(),
            objective_parts={k: float(v) for k, v in parts.items()},
            solver=str(summary.get("solver", "")),
        )

    def summary(self) -> dict[str, Any]:
        """Return the headline numbers as JSON-ready data."""
        served = self.assignment.groupby("level")["pupils"].sum() if len(self.assignment) else pd.Series()
        short = self.shortfall.groupby("level")["pupils"].sum() if len(self.shortfall) else pd.Series()
        levels = sorted(set(served.index) | set(short.index), key=str)

        def _num(v: float) -> float | None:
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "status": self.status,
            "solver_status": self.solver_status,
            "solver": self.solver,
            "mode": self.mode,
            "objective": _num(self.objective),
            "bound": _num(self.bound),
            "gap": _num(self.gap),
            "solve_time_s": round(float(self.solve_time_s), 3),
            "build_time_s": round(float(self.build_time_s), 3),
            "n_split_rounded": int(self.n_split_rounded),
            "n_opened": len(self.opened),
            "opened": {str(k): str(v) for k, v in self.opened["option"].items()} if len(self.opened) else {},
            "served": {str(lv): float(served.get(lv, 0.0)) for lv in levels},
            "shortfall": {str(lv): float(short.get(lv, 0.0)) for lv in levels},
            "objective_parts": {k: float(v) for k, v in self.objective_parts.items()},
        }

    def explain(self) -> pd.DataFrame:
        """Explain each opened site or expansion: who it serves and what it costs.

        Returns
        -------
        pandas.DataFrame
            One row per (``school_id``, ``level``) of :attr:`opened` with ``option``, ``pupils`` served,
            ``n_units``, ``walk_now_m`` (pupil-weighted mean walk of those pupils to their current school,
            from the cost table; NaN when unknown), ``walk_after_m`` (to this school), and the objective parts
            attributable to it: ``distance``, ``disruption`` (their arcs) and ``building`` (the option's
            fixed cost, on the first level row of the school).
        """
        cols = [
            "school_id",
            "level",
            "option",
            "pupils",
            "n_units",
            "walk_now_m",
            "walk_after_m",
            "distance",
            "disruption",
            "building",
        ]
        if self._model is None or not len(self.opened):
            return pd.DataFrame(columns=cols)
        model = self._model
        asg = self.assignment[self.assignment["school_id"].isin(self.opened.index)]
        asg = model._attach_arc_parts(asg)
        rows = []
        for sid in self.opened.index:
            first = True
            for level in model.levels:
                part = asg[(asg["school_id"] == sid) & (asg["level"] == level)]
                cap = float(self.opened.loc[sid].get(f"capacity_{level}", 0.0) or 0.0)
                if not len(part) and cap <= 0:
                    continue
                w = part["pupils"].to_numpy(float)
                now = part["walk_now_m"].to_numpy(float)
                known = np.isfinite(now)
                rows.append(
                    {
                        "school_id": sid,
                        "level": level,
                        "option": self.opened.loc[sid, "option"],
                        "pupils": float(w.sum()),
                        "n_units": int(part["unit_id"].nunique()),
                        "walk_now_m": float(np.average(now[known], weights=w[known]))
                        if known.any() and w[known].sum() > 0
                        else math.nan,
                        "walk_after_m": float(np.average(part["distance_m"], weights=w))
                        if w.sum() > 0
                        else math.nan,
                        "distance": float(part["distance_part"].sum()),
                        "disruption": float(part["disruption_part"].sum()),
                        "building": float(self.opened.loc[sid, "fixed_cost"]) if first else 0.0,
                    }
                )
                first = False
        return pd.DataFrame(rows, columns=cols)

    def check(self) -> dict[str, float]:
        """Recompute the objective and feasibility from the tables (see :meth:`SitingModel.check`)."""
        if self._model is None:
            raise SolverError("this result has no model attached; nothing to check against.")
        return self._model.check(self)

    def __repr__(self) -> str:
        gap = "n/a" if not math.isfinite(self.gap) else f"{100 * self.gap:.2f}%"
        short = float(self.shortfall["pupils"].sum()) if len(self.shortfall) else 0.0
        return (
            f"SitingResult(status={self.status!r}, mode={self.mode!r}, objective={self.objective:,.1f}, "
            f"gap={gap}, opened={len(self.opened)}, shortfall={short:,.0f} pupils, "
            f"split rounded={self.n_split_rounded}, solve {self.solve_time_s:.1f} s)"
        )

    def _repr_html_(self) -> str:
        info = self.summary()
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in info.items()
            if k not in {"opened"}
        )
        return f"<table><caption>SitingResult</caption>{rows}</table>"


# ====================================================================================== model
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
        shortfall_penalty: float | None = None,
        min_load: pd.DataFrame | None = None,
        current_distance: pd.DataFrame | None = None,
    ) -> SitingModel:
        """Build the general model from costs, demands and capacities.

        Parameters
        ----------
        arcs
            Long table ``unit_id, school_id, level, cost`` (cost of serving ALL of the unit's demand of that
            level from that school, objective units), optional ``disruption`` (added to the cost, reported
            separately) and ``distance_m`` (reported in the assignment). Duplicate pairs are an error.
        demand
            Index ``unit_id``, one column per level (demand, pupils); the column order sets the levels.
        capacity
            Index ``school_id``, one column per level: base capacity (pupils). A school with no base capacity
            in any level is a *new* facility and serves only through an opened option.
        options
            ``school_id, option, fixed_cost, capacity_<level>...``, optional ``budget_cost`` (defaults to
            ``fixed_cost``); other columns are carried into :attr:`SitingResult.opened`. At most one option
            per school opens.
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
        shortfall_penalty
            Cost per pupil of unserved demand; None forbids shortfall (then an impossible demand raises).
        min_load
            Index ``school_id``, one column per level: the least pupils a school must keep.
        current_distance
            ``unit_id, level, distance_m``: the current walk (for :meth:`SitingResult.explain`).

        Returns
        -------
        SitingModel
            The model, ready to :meth:`solve`.

        Raises
        ------
        InputError
            For missing columns, unknown ids, negative values or duplicate arcs.
        InfeasibleError
            When the problem cannot be feasible (checked with numbers before solving).
        """
        start = time.perf_counter()
        data = _core_arrays(
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
            shortfall_penalty=shortfall_penalty,
            min_load=min_load,
            current_distance=current_distance,
        )
        _presolve_checks(data)
        data["build_time_s"] = time.perf_counter() - start
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
        shortfall_m: float | None = 1e5,
        min_enrolment_share: float | None = None,
        single_source: bool = True,
        design_year: int | None = None,
    ) -> SitingModel:
        """Build the planning model for both levels from the contract tables (``docs/architecture.md``).

        Parameters
        ----------
        units
            Demand units, index ``unit_id``: ``primary``, ``junior`` (seats) and optionally
            ``current_primary``, ``current_junior`` (current ``school_id`` or missing).
        schools
            Existing schools and reserved sites, index ``school_id``: ``level``, ``status``,
            ``capacity_primary``, ``capacity_junior``, optionally ``enrolled_*``, ``available_from``.
            Existing schools keep their capacity at the standard class size even when already over it: the
            plan then moves pupils away or reports a shortfall, it never plans large classes.
        options
            Size options (``facilities.size_options``): ``school_id, option, capacity_primary,
            capacity_junior, cost_yuan`` and more. Sites open at most one; existing schools may take one.
        costs
            ``unit_id, school_id, distance_m, time_s`` (long, sparse; pairs beyond the hard limit are ignored
            for assignment but give the current walk).
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
        shortfall_m
            Pupil-metres per seat of unmet demand; None forbids shortfall.
        min_enrolment_share
            Existing schools keep at least this share of their current enrolment per level (None: off);
            capped at the school's capacity.
        single_source
            One school per unit and level.
        design_year
            Sites with ``available_from`` after this year cannot open (None: all may open).

        Returns
        -------
        SitingModel
            The model; levels are ``("primary", "junior")``.

        Raises
        ------
        InputError
            For a missing column or a bad parameter, naming it.
        InfeasibleError
            When demand cannot be met and shortfall is disabled (with the numbers).
        """
        start = time.perf_counter()
        tables = _scenario_tables(
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
        )
        model = cls.from_costs(
            tables["arcs"],
            tables["demand"],
            tables["capacity"],
            options=tables["options"],
            max_new=max_new_schools,
            budget=budget_yuan,
            single_source=single_source,
            shortfall_penalty=shortfall_m,
            min_load=tables["min_load"],
            current_distance=tables["current_distance"],
        )
        model.build_time_s = time.perf_counter() - start
        return model

    # ---------------------------------------------------------------------------------- program
    def program(self) -> MatrixProgram:
        """Return the matrix program (continuous assignments; :meth:`solve` sets integrality per mode)."""
        if self._program is None:
            start = time.perf_counter()
            self._program = _build_program(self._d)
            self.build_time_s += time.perf_counter() - start
        return self._program

    def unreachable(self) -> pd.DataFrame:
        """Return the unit-levels with demand but no school that may serve them (they can only be short).

        Returns
        -------
        pandas.DataFrame
            ``unit_id, level, pupils``; their shortfall is the same in every answer.
        """
        d = self._d
        reached = np.zeros(len(d["k_u"]), dtype=bool)
        reached[d["a_k"]] = True
        miss = np.flatnonzero(~reached)
        return pd.DataFrame(
            {
                "unit_id": d["units"][d["k_u"][miss]],
                "level": np.asarray(self.levels, dtype=object)[d["k_l"][miss]],
                "pupils": d["k_d"][miss],
            }
        )

    def _working_program(
        self, solver: str, time_limit_s: float, threads: int | None = None
    ) -> tuple[MatrixProgram, float]:
        """Return the program to solve with ``solver`` and the seconds spent choosing its linking rows.

        With HiGHS and many linking rows, only the rows the LP relaxation needs are kept: solve the LP,
        add the violated rows ``x_a <= open_j``, repeat until none is violated (at most a quarter of the
        time limit). The bound is then as strong at the root as with every row, and the LP is much smaller.
        """
        d = self._d
        base, a_f = d["base"], d["a_f"]
        a_l = d["k_l"][d["a_k"]]
        link_all = np.flatnonzero(base[a_f, a_l] <= 0)
        if solver != "highs" or len(link_all) <= _LINK_ROWS_ALL:
            return self.program(), 0.0
        if self._work is not None:
            return self._work, 0.0
        start = time.perf_counter()
        n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
        n_f, n_l = base.shape
        mask = np.zeros(n_arc, dtype=bool)
        prog = _build_program(d, mask)
        for rnd in range(50):
            left = 0.25 * time_limit_s - (time.perf_counter() - start)
            if left <= 0:
                break
            lp = solve_program(
                prog.with_bounds(prog.lb, prog.ub, np.zeros_like(prog.integer)),
                solver="highs",
                time_limit_s=left,
                gap=0.0,
                threads=threads,
            )
            if lp.x is None or lp.status != "optimal":
                break
            z = lp.x[n_arc : n_arc + n_opt]
            y = np.zeros((n_f, n_l))
            for li in range(n_l):
                has = d["o_cap"][:, li] > 0
                np.add.at(y[:, li], d["o_f"][has], z[has])
            viol = link_all[(lp.x[link_all] > y[a_f[link_all], a_l[link_all]] + 1e-6) & ~mask[link_all]]
            log.info("linking rows: round %d adds %d violated of %d", rnd + 1, len(viol), len(link_all))
            if not len(viol):
                break
            mask[viol] = True
            prog = _build_program(d, mask)
        self._work = prog
        return prog, time.perf_counter() - start

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
            Limit for each solver call, seconds (the repair in ``"round"`` mode gets the time left, at least
            a tenth of it).
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
        if mode is None:
            mode = "round" if self.single_source else "split"
        if mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
        if mode != "split" and not self.single_source:
            log.warning(
                "mode=%r asks for single schools but the model allows splitting; solving mode 'split'", mode
            )
            mode = "split"
        if mode == "exact":
            return self._solve_exact(
                solver=solver, time_limit_s=time_limit_s, gap=gap, threads=threads, msg=msg
            )
        prog, select_s = self._working_program(solver, time_limit_s, threads)
        integer = prog.integer.copy()
        # in round mode the relaxation gets a quarter of the gap, leaving the rest for the rounding
        first = solve_program(
            prog.with_bounds(prog.lb, prog.ub, integer),
            solver=solver,
            time_limit_s=max(time_limit_s - select_s, 0.1 * time_limit_s),
            gap=gap / 4 if mode == "round" else gap,
            threads=threads,
            msg=msg,
        )
        log.info("%s solve: %s in %.1f s (bound %.6g)", mode, first.solver_status, first.seconds, first.bound)
        first.seconds += select_s
        solve_time = first.seconds
        if first.x is None:
            return self._empty_result(first, mode, solve_time)
        x = first.x.copy()
        n_split = 0
        status, words, bound = first.status, first.solver_status, first.bound
        if mode == "round":
            x, n_split, rep = self._round(
                prog, x, solver, time_limit_s, first.seconds, gap, threads, msg, first.bound
            )
            if rep is not None:
                solve_time += rep.seconds
                words = f"relaxation: {first.solver_status}; repair: {rep.solver_status}"
                if rep.x is None:
                    return self._empty_result(rep, mode, solve_time, words=words)
        else:
            x = _clean(x, integer)
        parts = self._parts(x)
        objective = float(sum(parts.values()))
        if mode == "split":
            bound = first.bound if math.isfinite(first.bound) else math.nan
        gap_value = relative_gap(objective, bound)
        if mode == "round" and first.status in ("optimal", "feasible"):
            status = "optimal" if math.isfinite(gap_value) and gap_value <= gap + 1e-9 else "feasible"
        return self._result(
            x, status, words, objective, bound, gap_value, solve_time, n_split, mode, parts, first
        )

    def _solve_exact(
        self, *, solver: str, time_limit_s: float, gap: float, threads: int | None, msg: bool
    ) -> SitingResult:
        """Binary assignments, warm-started from the rounded answer (which also gives a second bound).

        The ``"round"`` answer comes first (at most half the time limit). If its certified gap is already
        within ``gap`` it is returned; otherwise the binary-assignment MIP starts from it, so a time-limited
        solve still returns at least the rounded answer, and the better of the two proven bounds is kept.
        """
        start = time.perf_counter()
        warm = self.solve(
            mode="round", solver=solver, time_limit_s=time_limit_s / 2, gap=gap, threads=threads, msg=msg
        )
        if warm._x is not None and math.isfinite(warm.gap) and warm.gap <= gap:
            warm.mode = "exact"
            warm.solver_status = f"rounded answer within the gap ({warm.solver_status})"
            return warm
        prog, _ = self._working_program(solver, time_limit_s, threads)
        n_arc = len(self._d["a_k"])
        integer = prog.integer.copy()
        remaining = max(time_limit_s - (time.perf_counter() - start), 0.1 * time_limit_s)
        if self._d["has_shortfall"]:
            # binary choice of school, continuous share of the unit it seats (the rest is short)
            work = _with_indicators(
                prog.with_bounds(prog.lb, prog.ub, integer), self._d["a_k"], np.ones(n_arc, bool), warm._x
            )
        else:
            integer[:n_arc] = True
            work = prog.with_bounds(prog.lb, prog.ub, integer, start=warm._x)
        out = solve_program(work, solver=solver, time_limit_s=remaining, gap=gap, threads=threads, msg=msg)
        if out.x is not None:
            out.x = out.x[: prog.shape[1]]
        solve_time = warm.solve_time_s + out.seconds
        words = f"warm start (round): {warm.status}; exact: {out.solver_status}"
        bounds = [b for b in (out.bound, warm.bound) if math.isfinite(b)]
        bound = max(bounds) if bounds else math.nan
        x = _clean(out.x, integer) if out.x is not None else warm._x
        if x is None:
            return self._empty_result(out, "exact", solve_time, words=words)
        parts = self._parts(x)
        objective = float(sum(parts.values()))
        bound = min(bound, objective) if math.isfinite(bound) else bound
        gap_value = relative_gap(objective, bound)
        proven = out.status == "optimal" and out.x is not None
        status = "optimal" if proven or (math.isfinite(gap_value) and gap_value <= gap + 1e-9) else "feasible"
        return self._result(x, status, words, objective, bound, gap_value, solve_time, 0, "exact", parts, out)

    # ---------------------------------------------------------------------------------- rounding
    def _round(
        self,
        prog: MatrixProgram,
        x: np.ndarray,
        solver: str,
        time_limit_s: float,
        used_s: float,
        gap: float,
        threads: int | None,
        msg: bool,
        certified_bound: float = math.nan,
    ) -> tuple[np.ndarray, int, SolveOutcome | None]:
        """Round split pairs to one school each; return (x, number of split pairs, repair outcome).

        The opened options stay as the relaxation chose them. First only the split pairs are reassigned (a
        small MIP, capacities kept); while the certified gap is above ``gap``, more pairs are freed: those
        at the schools the split pairs used, then every pair that can reach such a school, then every pair.
        The best answer is kept.
        """
        d = self._d
        n_arc = len(d["a_k"])
        n_pair = len(d["k_u"])
        xa = x[:n_arc]
        best = np.zeros(n_pair)
        np.maximum.at(best, d["a_k"], xa)
        short = x[d["s_col"]] if d["has_shortfall"] else np.zeros(n_pair)
        split = (best < 1 - _TOL) & (short < 1 - _TOL)
        n_split = int(split.sum())
        if n_split == 0:
            return _clean(x, np.ones(len(x), dtype=bool)), 0, None
        bound = certified_bound if math.isfinite(certified_bound) else float(np.dot(prog.c, x))
        target = bound / (1 - gap) if 0 < gap < 1 else None  # any answer this good is certified within gap
        start = time.perf_counter()
        # schools touched by split pairs, and every pair that can reach one of them
        touched = np.zeros(len(d["facilities"]), dtype=bool)
        touched[d["a_f"][split[d["a_k"]] & (xa > _TOL)]] = True
        at_touched = np.zeros(n_pair, dtype=bool)
        at_touched[d["a_k"][touched[d["a_f"]] & (xa > _TOL)]] = True
        near = np.zeros(n_pair, dtype=bool)
        near[d["a_k"][touched[d["a_f"]]]] = True
        stages = [split, split | at_touched, split | near, np.ones(n_pair, dtype=bool)]
        best_x: np.ndarray | None = None
        best_obj = math.inf
        outcome: SolveOutcome | None = None
        seconds = 0.0
        # a capacity-aware local search first: it usually closes the gap without any MIP
        search = self._local_search(prog, x, time_limit_s, target)
        seconds += search.seconds
        log.info("rounding: %s in %.2f s", search.solver_status, search.seconds)
        if search.x is not None:
            best_x, best_obj, outcome = search.x, search.objective, search
        for step, free_pairs in enumerate(stages):
            if best_x is not None and relative_gap(best_obj, bound) <= gap:
                break
            if step and free_pairs.sum() == stages[step - 1].sum():
                continue
            remaining = max(time_limit_s - used_s - (time.perf_counter() - start), 0.1 * time_limit_s)
            log.info("rounding: reassigning %d unit-level pairs (%d split)", int(free_pairs.sum()), n_split)
            rep = self._repair(prog, x, free_pairs, solver, remaining, gap, threads, msg, target)
            seconds += rep.seconds
            log.info("repair step %d: %s in %.1f s", step + 1, rep.solver_status, rep.seconds)
            if rep.x is not None:
                obj = float(np.dot(prog.c, rep.x))
                if obj < best_obj - 1e-9:
                    best_x, best_obj, outcome = rep.x, obj, rep
            elif outcome is None:
                outcome = rep
        assert outcome is not None
        if best_x is not None and outcome is not search:  # polish the repair's answer
            polish = self._local_search(prog, best_x, time_limit_s)
            seconds += polish.seconds
            if polish.x is not None and polish.objective < best_obj - 1e-9:
                best_x, best_obj = polish.x, polish.objective
                outcome.solver_status += f", then local search ({polish.solver_status})"
        outcome.seconds = seconds
        if best_x is None:
            return x, n_split, outcome
        keep_fraction = d["has_shortfall"]  # a unit's one school may seat only part of it
        integer = prog.integer if keep_fraction else np.ones(len(best_x), dtype=bool)
        return _clean(best_x, integer), n_split, outcome

    def _local_search(
        self, prog: MatrixProgram, x: np.ndarray, time_limit_s: float, target: float | None = None
    ) -> SolveOutcome:
        """Single-school answer from ``x`` by shift and swap moves (:mod:`siting._improve`).

        Opened options stay as in ``x``; each pair starts at its arc with the largest value in ``x``. Swaps
        are tried only while the objective is above ``target``. The outcome has ``x`` None when the search
        cannot satisfy every constraint (e.g. no shortfall allowed and capacities too tight for whole units).
        """
        d = self._d
        a_k, a_f = d["a_k"], d["a_f"]
        n_arc, n_opt, n_pair = len(a_k), len(d["o_f"]), len(d["k_d"])
        n_l = d["base"].shape[1]
        z = np.round(x[n_arc : n_arc + n_opt])
        capacity = d["base"].astype(float).copy()
        for li in range(n_l):
            np.add.at(capacity[:, li], d["o_f"], z * d["o_cap"][:, li])
        xa = x[:n_arc]
        order = np.lexsort((-xa, a_k))
        first = np.ones(len(order), dtype=bool)
        first[1:] = a_k[order][1:] != a_k[order][:-1]
        start = np.full(n_pair, -1, dtype=np.int64)
        top = order[first]
        has = xa[top] > _TOL
        start[a_k[top][has]] = top[has]
        found = improve_assignment(
            a_k,
            a_f * n_l + d["k_l"][a_k],
            d["a_cost"] + d["a_dis"],
            d["k_d"],
            capacity.reshape(-1),
            d["min_load"].reshape(-1),
            start,
            penalty=d["penalty"] if d["has_shortfall"] else None,
            stop_below=-np.inf if target is None else target - float(np.dot(d["o_fixed"], z)),
            max_seconds=max(1.0, 0.1 * time_limit_s),
        )
        words = f"local search: {found.moves} moves in {found.sweeps} passes"
        if not found.feasible:
            return SolveOutcome(
                "not_solved",
                words + ", no feasible answer",
                None,
                math.nan,
                math.nan,
                math.nan,
                found.seconds,
                "local search",
            )
        out = np.zeros(prog.shape[1])
        out[n_arc : n_arc + n_opt] = z
        used = found.arc >= 0
        out[found.arc[used]] = found.seated[used]
        if d["has_shortfall"]:
            out[d["s_col"]] = 1.0 - np.where(used, found.seated, 0.0)
        objective = float(np.dot(prog.c, out))
        return SolveOutcome(
            "feasible", words, out, objective, math.nan, math.nan, found.seconds, "local search"
        )

    def _repair(
        self,
        prog: MatrixProgram,
        x: np.ndarray,
        free_pairs: np.ndarray,
        solver: str,
        time_limit_s: float,
        gap: float,
        threads: int | None,
        msg: bool,
        target: float | None = None,
    ) -> SolveOutcome:
        """Solve with opened options fixed, the pairs not in ``free_pairs`` fixed, free pairs binary."""
        d = self._d
        n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
        lb, ub = prog.lb.copy(), prog.ub.copy()
        integer = prog.integer.copy()
        z = np.round(x[n_arc : n_arc + n_opt])
        lb[n_arc : n_arc + n_opt] = z
        ub[n_arc : n_arc + n_opt] = z
        free = free_pairs[d["a_k"]]
        fixed_val = np.round(x[:n_arc])
        lb[:n_arc] = np.where(free, 0.0, fixed_val)
        ub[:n_arc] = np.where(free, 1.0, fixed_val)
        integer[:n_arc] = free
        work = prog.with_bounds(lb, ub, integer)
        if d["has_shortfall"]:
            s_cols = d["s_col"]
            keep = ~free_pairs
            val = np.round(x[s_cols])
            lb[s_cols] = np.where(keep, val, 0.0)
            ub[s_cols] = np.where(keep, val, 1.0)
            # one school per free pair, the part it cannot seat counted short
            work = _with_indicators(prog.with_bounds(lb, ub, integer), d["a_k"], free)
        out = solve_program(
            work,
            solver=solver,
            time_limit_s=time_limit_s,
            gap=gap / 10,
            threads=threads,
            msg=msg,
            target=target,
        )
        if out.x is not None:
            out.x = out.x[: prog.shape[1]]
        return out

    # ---------------------------------------------------------------------------------- results
    def _parts(self, x: np.ndarray) -> dict[str, float]:
        d = self._d
        n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
        xa = x[:n_arc]
        short = float(np.dot(x[d["s_col"]], d["k_d"] * d["penalty"])) if d["has_shortfall"] else 0.0
        return {
            "distance": float(np.dot(xa, d["a_cost"])),
            "building": float(np.dot(x[n_arc : n_arc + n_opt], d["o_fixed"])),
            "disruption": float(np.dot(xa, d["a_dis"])),
            "shortfall": short,
        }

    def _empty_result(
        self, out: SolveOutcome, mode: str, solve_time: float, *, words: str | None = None
    ) -> SitingResult:
        status = out.status if out.status in ("infeasible", "not_solved") else "not_solved"
        return SitingResult(
            status=status,
            solver_status=words or out.solver_status,
            objective=math.nan,
            bound=out.bound,
            gap=math.nan,
            solve_time_s=solve_time,
            build_time_s=self.build_time_s,
            n_split_rounded=0,
            mode=mode,
            opened=self._d["o_table"].iloc[0:0].set_index("school_id"),
            assignment=_empty_assignment(),
            shortfall=_empty_shortfall(),
            objective_parts={
                "distance": math.nan,
                "building": math.nan,
                "disruption": math.nan,
                "shortfall": math.nan,
            },
            solver=out.solver,
            _model=self,
        )

    def _result(
        self,
        x: np.ndarray,
        status: str,
        words: str,
        objective: float,
        bound: float,
        gap_value: float,
        solve_time: float,
        n_split: int,
        mode: str,
        parts: dict[str, float],
        first: SolveOutcome,
    ) -> SitingResult:
        d = self._d
        n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
        xa = x[:n_arc]
        used = np.flatnonzero(xa > 1e-9)
        k = d["a_k"][used]
        assignment = pd.DataFrame(
            {
                "unit_id": d["units"][d["k_u"][k]],
                "level": np.asarray(self.levels, dtype=object)[d["k_l"][k]],
                "school_id": d["facilities"][d["a_f"][used]],
                "pupils": d["k_d"][k] * xa[used],
                "distance_m": d["a_dist"][used],
            }
        )
        assignment = assignment.sort_values(["level", "unit_id", "school_id"], kind="stable").reset_index(
            drop=True
        )
        if d["has_shortfall"]:
            s = x[d["s_col"]]
            hit = np.flatnonzero(s > 1e-9)
            shortfall = pd.DataFrame(
                {
                    "unit_id": d["units"][d["k_u"][hit]],
                    "level": np.asarray(self.levels, dtype=object)[d["k_l"][hit]],
                    "pupils": d["k_d"][hit] * s[hit],
                }
            )
        else:
            shortfall = _empty_shortfall()
        zo = x[n_arc : n_arc + n_opt] > 0.5
        opened = d["o_table"][zo].set_index("school_id")
        return SitingResult(
            status=status,
            solver_status=words,
            objective=objective,
            bound=bound,
            gap=gap_value,
            solve_time_s=solve_time,
            build_time_s=self.build_time_s,
            n_split_rounded=n_split,
            mode=mode,
            opened=opened,
            assignment=assignment,
            shortfall=shortfall,
            objective_parts=parts,
            solver=first.solver,
            _model=self,
            _x=x,
        )

    def _attach_arc_parts(self, assignment: pd.DataFrame) -> pd.DataFrame:
        """Add ``distance_part``, ``disruption_part`` and ``walk_now_m`` to assignment rows."""
        d = self._d
        arcs = d["arc_frame"]
        merged = assignment.merge(arcs, on=["unit_id", "level", "school_id"], how="left", validate="m:1")
        frac = merged["pupils"].to_numpy(float) / merged["demand"].to_numpy(float)
        merged["distance_part"] = merged["cost"].to_numpy(float) * frac
        merged["disruption_part"] = merged["disruption"].to_numpy(float) * frac
        return merged

    def check(self, result: SitingResult) -> dict[str, float]:
        """Recompute a result's objective and feasibility from its tables.

        Parameters
        ----------
        result
            A result of this model.

        Returns
        -------
        dict
            ``objective`` (recomputed), ``max_capacity_excess`` (pupils over any capacity, ≤ 0 when
            feasible), ``max_coverage_error`` (largest |served + short − demand| over unit-levels, pupils),
            ``unknown_arcs`` (assignment rows that are not arcs of the model), ``max_sources`` (most schools
            serving one unit-level), ``options_per_school`` (most options opened at one school).
        """
        d = self._d
        asg = self._attach_arc_parts(result.assignment)
        unknown = int(asg["cost"].isna().sum())
        distance = float(asg["distance_part"].sum())
        disruption = float(asg["disruption_part"].sum())
        opened = result.opened.reset_index()
        otab = d["o_table"]
        merged = opened[["school_id", "option"]].merge(otab, on=["school_id", "option"], how="left")
        building = float(merged["fixed_cost"].sum())
        short_pupils = result.shortfall["pupils"].to_numpy(float)
        shortfall = float(short_pupils.sum() * d["penalty"]) if d["has_shortfall"] else 0.0
        # capacity
        cap = pd.DataFrame(d["base"], index=d["facilities"], columns=self.levels)
        for _, row in merged.iterrows():
            for level in self.levels:
                cap.loc[row["school_id"], level] += float(row[f"capacity_{level}"])
        load = asg.groupby(["school_id", "level"])["pupils"].sum()
        excess = -math.inf
        for (sid, level), pupils in load.items():
            excess = max(excess, float(pupils) - float(cap.loc[sid, level]))
        # coverage
        dem = pd.Series(
            d["k_d"],
            index=pd.MultiIndex.from_arrays(
                [d["units"][d["k_u"]], np.asarray(self.levels, dtype=object)[d["k_l"]]]
            ),
        )
        served = result.assignment.groupby(["unit_id", "level"])["pupils"].sum()
        short = result.shortfall.groupby(["unit_id", "level"])["pupils"].sum()
        total = served.reindex(dem.index, fill_value=0.0) + short.reindex(dem.index, fill_value=0.0)
        cov = float((total - dem).abs().max()) if len(dem) else 0.0
        sources = (
            int(result.assignment.groupby(["unit_id", "level"]).size().max()) if len(result.assignment) else 0
        )
        per_school = int(opened.groupby("school_id").size().max()) if len(opened) else 0
        return {
            "objective": distance + disruption + building + shortfall,
            "distance": distance,
            "disruption": disruption,
            "building": building,
            "shortfall": shortfall,
            "max_capacity_excess": excess if math.isfinite(excess) else 0.0,
            "max_coverage_error": cov,
            "unknown_arcs": float(unknown),
            "max_sources": float(sources),
            "options_per_school": float(per_school),
        }


def _empty_assignment() -> pd.DataFrame:
    return pd.DataFrame(columns=["unit_id", "level", "school_id", "pupils", "distance_m"])


def _empty_shortfall() -> pd.DataFrame:
    return pd.DataFrame(columns=["unit_id", "level", "pupils"])


def _clean(x: np.ndarray, integer: np.ndarray) -> np.ndarray:
    """Round near-integral values of integer columns (solver tolerance noise)."""
    out = x.copy()
    out[integer] = np.round(out[integer])
    out[~integer] = np.clip(out[~integer], 0.0, None)
    return out


def _with_indicators(
    prog: MatrixProgram, a_k: np.ndarray, arcs: np.ndarray, start: np.ndarray | None = None
) -> MatrixProgram:
    r"""Single sourcing with partial shortfall: give the chosen arcs a binary indicator.

    For each arc in ``arcs`` a binary column :math:`y_a` is added with :math:`x_a \le y_a`, and
    :math:`\sum_{a \in k} y_a \le 1` for each pair :math:`k` they belong to; the arcs' :math:`x_a` become
    continuous. A unit then goes to at most one school per level, and whatever that school cannot seat is
    counted short, instead of its whole demand being served or short. Columns of ``prog`` keep their
    positions; the indicators come after them.

    Parameters
    ----------
    prog
        The program (arc columns first, as built by ``_build_program``).
    a_k
        Pair of each arc.
    arcs
        Boolean mask over arcs: those that get an indicator.
    start
        Optional start for ``prog``'s columns; the indicators' start is ``x_a > 0``.
    """
    n_row, n_col = prog.shape
    idx = np.flatnonzero(arcs)
    m = len(idx)
    if m == 0:
        return prog
    _, pair_row = np.unique(a_k[idx], return_inverse=True)
    n_pairs = int(pair_row.max()) + 1
    ycols = np.arange(m)
    ones = np.ones(m)
    link = sp.coo_matrix(
        (
            np.concatenate([ones, -ones]),
            (np.concatenate([ycols, ycols]), np.concatenate([idx, n_col + ycols])),
        ),
        shape=(m, n_col + m),
    )
    choose = sp.coo_matrix((ones, (pair_row, n_col + ycols)), shape=(n_pairs, n_col + m))
    a = sp.vstack([sp.hstack([prog.a, sp.csr_matrix((n_row, m))]), link, choose]).tocsr()
    integer = np.concatenate([prog.integer, np.ones(m, dtype=bool)])
    integer[idx] = False
    first = None
    if start is not None:
        first = np.concatenate([start, (start[idx] > _TOL).astype(float)])
    return MatrixProgram(
        np.concatenate([prog.c, np.zeros(m)]),
        np.concatenate([prog.lb, np.zeros(m)]),
        np.concatenate([prog.ub, np.ones(m)]),
        integer,
        a,
        np.concatenate([prog.row_lo, np.full(m + n_pairs, -np.inf)]),
        np.concatenate([prog.row_hi, np.zeros(m), np.ones(n_pairs)]),
        first,
    )


# ====================================================================================== core arrays
def _need(frame: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}.")


def _core_arrays(
    arcs: pd.DataFrame,
    demand: pd.DataFrame,
    capacity: pd.DataFrame,
    *,
    options: pd.DataFrame | None,
    force_open: Iterable[Any],
    max_new: int | None,
    exactly_new: int | None,
    budget: float | None,
    max_open: int | None,
    single_source: bool,
    shortfall_penalty: float | None,
    min_load: pd.DataFrame | None,
    current_distance: pd.DataFrame | None,
) -> dict[str, Any]:
    """Validate the core inputs and turn them into integer-indexed numpy arrays."""
    levels = list(demand.columns)
    if not levels:
        raise InputError("demand has no level columns; give one column per level (e.g. 'primary').")
    _need(arcs, ["unit_id", "school_id", "level", "cost"], "arcs")
    missing = [lv for lv in levels if lv not in capacity.columns]
    if missing:
        raise InputError(f"capacity lacks level column(s) {missing}; demand has levels {levels}.")
    if demand.index.has_duplicates or capacity.index.has_duplicates:
        raise InputError("demand and capacity must be indexed by unique unit_id / school_id.")
    dem = demand[levels].to_numpy(dtype=float)
    if np.isnan(dem).any() or (dem < 0).any():
        raise InputError("demand must be >= 0 and not missing (fill unknown demand with 0).")
    base = capacity[levels].to_numpy(dtype=float)
    if np.isnan(base).any() or (base < 0).any():
        raise InputError("capacity must be >= 0 and not missing.")
    units = demand.index
    facilities = capacity.index
    u_pos = pd.Index(demand.index)
    f_pos = pd.Index(capacity.index)
    l_pos = pd.Index(levels)

    # options
    if options is None:
        options = pd.DataFrame(
            columns=["school_id", "option", "fixed_cost", *[f"capacity_{lv}" for lv in levels]]
        )
    _need(options, ["school_id", "option", "fixed_cost", *[f"capacity_{lv}" for lv in levels]], "options")
    otab = options.reset_index(drop=True).copy()
    if "budget_cost" not in otab.columns:
        otab["budget_cost"] = otab["fixed_cost"]
    if otab.duplicated(["school_id", "option"]).any():
        dup = otab[otab.duplicated(["school_id", "option"])].iloc[0]
        raise InputError(f"options: option {dup['option']!r} of school {dup['school_id']!r} is listed twice.")
    o_f = f_pos.get_indexer(otab["school_id"])
    if (o_f < 0).any():
        bad = otab["school_id"][o_f < 0].iloc[0]
        raise InputError(
            f"options: school_id {bad!r} is not in the capacity table; add it (capacity 0 for a site)."
        )
    o_cap = otab[[f"capacity_{lv}" for lv in levels]].to_numpy(dtype=float)
    o_fixed = otab["fixed_cost"].to_numpy(dtype=float)
    o_budget = otab["budget_cost"].to_numpy(dtype=float)
    if np.isnan(o_cap).any() or (o_cap < 0).any() or np.isnan(o_fixed).any():
        raise InputError("options: capacities and fixed_cost must be numbers >= 0.")
    is_new_f = base.sum(axis=1) <= 0
    forced = f_pos.get_indexer(list(force_open))
    if (forced < 0).any():
        raise InputError(
            f"force_open names unknown school_id(s): "
            f"{[s for s, p in zip(force_open, forced, strict=False) if p < 0]}."
        )

    # arcs
    a_u = u_pos.get_indexer(arcs["unit_id"])
    a_f = f_pos.get_indexer(arcs["school_id"])
    a_l = l_pos.get_indexer(arcs["level"])
    bad = (a_u < 0) | (a_f < 0) | (a_l < 0)
    if bad.any():
        row = arcs[bad].iloc[0]
        raise InputError(
            f"arcs: {int(bad.sum())} row(s) name an unknown unit, school or level, e.g. unit "
            f"{row['unit_id']!r}, school {row['school_id']!r}, level {row['level']!r}."
        )
    a_cost = arcs["cost"].to_numpy(dtype=float)
    a_dis = arcs["disruption"].to_numpy(dtype=float) if "disruption" in arcs else np.zeros(len(arcs))
    a_dist = arcs["distance_m"].to_numpy(dtype=float) if "distance_m" in arcs else np.full(len(arcs), np.nan)
    if not np.isfinite(a_cost).all() or not np.isfinite(a_dis).all():
        raise InputError("arcs: cost and disruption must be finite numbers (drop unreachable pairs instead).")
    # pairs with demand
    n_l = len(levels)
    pair_of = np.full(dem.shape, -1, dtype=np.int64)
    k_u, k_l = np.nonzero(dem > 0)
    order = np.lexsort((k_u, k_l))  # level-major, then unit order: deterministic
    k_u, k_l = k_u[order], k_l[order]
    pair_of[k_u, k_l] = np.arange(len(k_u))
    k_d = dem[k_u, k_l]
    a_k = pair_of[a_u, a_l]
    keep = a_k >= 0
    a_k, a_f, a_cost, a_dis, a_dist = a_k[keep], a_f[keep], a_cost[keep], a_dis[keep], a_dist[keep]
    key = a_k * len(facilities) + a_f
    order = np.argsort(key, kind="stable")
    a_k, a_f, a_cost, a_dis, a_dist, key = (v[order] for v in (a_k, a_f, a_cost, a_dis, a_dist, key))
    if len(key) and (np.diff(key) == 0).any():
        i = int(np.flatnonzero(np.diff(key) == 0)[0])
        raise InputError(
            f"arcs: unit {_id(units[k_u[a_k[i]]])}, school {_id(facilities[a_f[i]])}, level "
            f"{levels[k_l[a_k[i]]]!r} is listed twice; give one cost per pair."
        )
    # arcs of a level a school cannot ever serve are useless: drop them
    can_serve = base.copy()
    if len(o_f):
        np.add.at(can_serve, o_f, o_cap)
    usable = can_serve[a_f, k_l[a_k]] > 0
    a_k, a_f, a_cost, a_dis, a_dist = (v[usable] for v in (a_k, a_f, a_cost, a_dis, a_dist))

    mload = np.zeros_like(base)
    if min_load is not None:
        ml = min_load.reindex(index=capacity.index, columns=levels).fillna(0.0).to_numpy(dtype=float)
        mload = np.clip(ml, 0.0, None)
    cur = np.full(len(k_u), np.nan)
    if current_distance is not None and len(current_distance):
        cu = u_pos.get_indexer(current_distance["unit_id"])
        cl = l_pos.get_indexer(current_distance["level"])
        ok = (cu >= 0) & (cl >= 0)
        kk = pair_of[cu[ok], cl[ok]]
        good = kk >= 0
        cur[kk[good]] = current_distance["distance_m"].to_numpy(dtype=float)[ok][good]
    if shortfall_penalty is not None and not (shortfall_penalty >= 0 and math.isfinite(shortfall_penalty)):
        raise InputError(
            f"shortfall_penalty must be a finite number >= 0 or None, got {shortfall_penalty!r}."
        )
    for name, value in (("max_new", max_new), ("exactly_new", exactly_new), ("max_open", max_open)):
        if value is not None and (int(value) != value or value < 0):
            raise InputError(f"{name} must be a whole number >= 0 or None, got {value!r}.")
    if budget is not None and not budget >= 0:
        raise InputError(f"budget must be >= 0 or None, got {budget!r}.")

    level_names = np.asarray(levels, dtype=object)
    arc_frame = pd.DataFrame(
        {
            "unit_id": units[k_u[a_k]],
            "level": level_names[k_l[a_k]],
            "school_id": facilities[a_f],
            "cost": a_cost,
            "disruption": a_dis,
            "demand": k_d[a_k],
        }
    )
    pair_cur = cur[a_k]
    arc_frame["walk_now_m"] = pair_cur
    return {
        "levels": levels,
        "n_levels": n_l,
        "units": units,
        "facilities": facilities,
        "base": base,
        "is_new_f": is_new_f,
        "k_u": k_u,
        "k_l": k_l,
        "k_d": k_d,
        "k_cur": cur,
        "a_k": a_k,
        "a_f": a_f,
        "a_cost": a_cost,
        "a_dis": a_dis,
        "a_dist": a_dist,
        "arc_frame": arc_frame,
        "o_f": o_f,
        "o_cap": o_cap,
        "o_fixed": o_fixed,
        "o_budget": o_budget,
        "o_table": otab,
        "forced": forced,
        "max_new": max_new,
        "exactly_new": exactly_new,
        "budget": budget,
        "max_open": max_open,
        "single_source": single_source,
        "has_shortfall": shortfall_penalty is not None,
        "penalty": float(shortfall_penalty) if shortfall_penalty is not None else 0.0,
        "min_load": mload,
    }


def _presolve_checks(d: dict[str, Any]) -> None:
    """Raise :class:`InfeasibleError` with numbers when the model cannot be feasible."""
    levels = d["levels"]
    is_new = d["is_new_f"]
    o_f, o_cap = d["o_f"], d["o_cap"]
    n_new_candidates = len(np.unique(o_f[is_new[o_f]])) if len(o_f) else 0
    for name in ("exactly_new",):
        p = d[name]
        if p is not None and p > n_new_candidates:
            raise InfeasibleError(
                f"{p} new facilities must open but only {n_new_candidates} candidate site(s) have options."
            )
    forced_new = [f for f in d["forced"] if is_new[f]]
    for f in forced_new:
        if not (o_f == f).any():
            raise InfeasibleError(f"school {_id(d['facilities'][f])} must open but has no size option.")
    limit_new = d["exactly_new"] if d["exactly_new"] is not None else d["max_new"]
    if limit_new is not None and len(forced_new) > limit_new:
        raise InfeasibleError(
            f"{len(forced_new)} sites are forced open but at most {limit_new} new may open."
        )
    # minimum loads versus reachable demand
    mload = d["min_load"]
    if mload.any():
        reach = np.zeros_like(mload)
        np.add.at(reach, (d["a_f"], d["k_l"][d["a_k"]]), d["k_d"][d["a_k"]])
        over = mload > reach + 1e-9
        if over.any():
            f, lv = np.argwhere(over)[0]
            raise InfeasibleError(
                f"school {_id(d['facilities'][f])} must keep at least {_fmt(mload[f, lv])} "
                f"{levels[lv]} pupils but only {_fmt(reach[f, lv])} live within reach; "
                "lower min_enrolment_share."
            )
    if d["has_shortfall"]:
        return
    # units that reach no school
    reached = np.zeros(len(d["k_u"]), dtype=bool)
    reached[d["a_k"]] = True
    if not reached.all():
        miss = np.flatnonzero(~reached)
        pupils = d["k_d"][miss].sum()
        examples = ", ".join(_id(d["units"][d["k_u"][k]]) for k in miss[:5])
        raise InfeasibleError(
            f"{len(miss)} unit-level demand(s) ({_fmt(pupils)} seats) can reach no school that serves them "
            f"(e.g. units {examples}) and shortfall is disabled; allow shortfall or add sites."
        )
    # total capacity per level
    for li, level in enumerate(levels):
        demand = float(d["k_d"][d["k_l"] == li].sum())
        cap = float(d["base"][:, li].sum())
        new_gain = []
        for f in np.unique(o_f):
            best = float(o_cap[o_f == f, li].max())
            if is_new[f]:
                new_gain.append(best)
            else:
                cap += best
        new_gain.sort(reverse=True)
        if limit_new is not None:
            new_gain = new_gain[: int(limit_new)]
        cap += sum(new_gain)
        if cap + 1e-9 < demand:
            raise InfeasibleError(
                f"the largest possible capacity {_fmt(cap)} seats is below the demand {_fmt(demand)} seats "
                f"for level {level!r}; shortfall is disabled: allow shortfall, more sites or a bigger budget."
            )


# ====================================================================================== program
def _build_program(d: dict[str, Any], link_mask: np.ndarray | None = None) -> MatrixProgram:
    """Build the matrix program (columns: arcs, options, shortfall) from the core arrays.

    ``link_mask`` (one flag per arc) keeps only some linking rows; the capacity rows alone already forbid
    serving from a closed facility, so any subset gives a valid model (the rows only tighten the bound).
    """
    a_k, a_f = d["a_k"], d["a_f"]
    k_l, k_d = d["k_l"], d["k_d"]
    o_f, o_cap = d["o_f"], d["o_cap"]
    base, is_new = d["base"], d["is_new_f"]
    n_arc, n_opt, n_pair = len(a_k), len(o_f), len(k_d)
    n_f, n_l = base.shape
    n_s = n_pair if d["has_shortfall"] else 0
    n_col = n_arc + n_opt + n_s
    arc_cols = np.arange(n_arc)
    opt_cols = n_arc + np.arange(n_opt)
    s_cols = n_arc + n_opt + np.arange(n_s)
    d["s_col"] = s_cols
    a_l = k_l[a_k]
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lo: list[np.ndarray] = []
    hi: list[np.ndarray] = []
    r0 = 0

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
        rows.append(r.astype(np.int64))
        cols.append(c.astype(np.int64))
        vals.append(np.asarray(v, dtype=float))

    # 1. assignment: sum x + s = 1 per pair
    add(r0 + a_k, arc_cols, np.ones(n_arc))
    if n_s:
        add(r0 + np.arange(n_pair), s_cols, np.ones(n_pair))
    lo.append(np.ones(n_pair))
    hi.append(np.ones(n_pair))
    r0 += n_pair
    # 2. capacity per used (facility, level): sum d x - sum q z <= base
    fl = a_f * n_l + a_l
    o_fl_f = np.repeat(o_f, n_l)
    o_fl_l = np.tile(np.arange(n_l), n_opt)
    o_fl_q = o_cap.reshape(-1)
    used_fl = np.unique(fl)
    row_of = np.full(n_f * n_l, -1, dtype=np.int64)
    row_of[used_fl] = r0 + np.arange(len(used_fl))
    add(row_of[fl], arc_cols, k_d[a_k])
    o_rows = row_of[o_fl_f * n_l + o_fl_l]
    mask = (o_rows >= 0) & (o_fl_q > 0)
    add(o_rows[mask], opt_cols[np.repeat(np.arange(n_opt), n_l)][mask], -o_fl_q[mask])
    lo.append(np.full(len(used_fl), -np.inf))
    hi.append(base.reshape(-1)[used_fl])
    r0 += len(used_fl)
    # 3. minimum loads
    mload = d["min_load"].reshape(-1)
    ml_fl = used_fl[mload[used_fl] > 0]
    if len(ml_fl):
        mrow = np.full(n_f * n_l, -1, dtype=np.int64)
        mrow[ml_fl] = r0 + np.arange(len(ml_fl))
        sel = mrow[fl] >= 0
        add(mrow[fl][sel], arc_cols[sel], k_d[a_k][sel])
        lo.append(mload[ml_fl])
        hi.append(np.full(len(ml_fl), np.inf))
        r0 += len(ml_fl)
    # 4. at most one option per facility (exactly one when forced and new)
    fac_with_opt = np.unique(o_f)
    if n_opt:
        frow = np.full(n_f, -1, dtype=np.int64)
        frow[fac_with_opt] = r0 + np.arange(len(fac_with_opt))
        add(frow[o_f], opt_cols, np.ones(n_opt))
        lo_f = np.zeros(len(fac_with_opt))
        forced = np.zeros(n_f, dtype=bool)
        forced[d["forced"]] = True
        lo_f[forced[fac_with_opt] & is_new[fac_with_opt]] = 1.0
        lo.append(lo_f)
        hi.append(np.ones(len(fac_with_opt)))
        r0 += len(fac_with_opt)
    # 5. linking: x_a <= sum of the facility's options with capacity for that level, where base is 0
    link = np.flatnonzero(base[a_f, a_l] <= 0)
    if link_mask is not None:
        link = link[link_mask[link]]
    if len(link):
        lrows = r0 + np.arange(len(link))
        add(lrows, arc_cols[link], np.ones(len(link)))
        opts = pd.DataFrame({"fl": o_fl_f * n_l + o_fl_l, "col": opt_cols[np.repeat(np.arange(n_opt), n_l)]})
        opts = opts[o_fl_q > 0]
        left = pd.DataFrame({"fl": fl[link], "row": lrows})
        joined = left.merge(opts, on="fl", how="inner", sort=False)
        add(joined["row"].to_numpy(), joined["col"].to_numpy(), -np.ones(len(joined)))
        lo.append(np.full(len(link), -np.inf))
        hi.append(np.zeros(len(link)))
        r0 += len(link)
    # 6. limits on new openings, budget, total open
    new_opt = is_new[o_f] if n_opt else np.zeros(0, dtype=bool)
    n_existing = int((~is_new).sum())
    limits: list[tuple[np.ndarray, np.ndarray, float, float]] = []
    if d["exactly_new"] is not None:
        limits.append(
            (opt_cols[new_opt], np.ones(int(new_opt.sum())), float(d["exactly_new"]), float(d["exactly_new"]))
        )
    elif d["max_new"] is not None:
        limits.append((opt_cols[new_opt], np.ones(int(new_opt.sum())), -np.inf, float(d["max_new"])))
    if d["budget"] is not None:
        limits.append((opt_cols, d["o_budget"], -np.inf, float(d["budget"])))
    if d["max_open"] is not None:
        limits.append(
            (opt_cols[new_opt], np.ones(int(new_opt.sum())), -np.inf, float(d["max_open"] - n_existing))
        )
    for c, v, lo_v, hi_v in limits:
        add(np.full(len(c), r0), c, v)
        lo.append(np.array([lo_v]))
        hi.append(np.array([hi_v]))
        r0 += 1
    a = sparse_rows(rows, cols, vals, (r0, n_col))
    c = np.concatenate([d["a_cost"] + d["a_dis"], d["o_fixed"], k_d * d["penalty"] if n_s else np.zeros(0)])
    lb = np.zeros(n_col)
    ub = np.ones(n_col)
    integer = np.zeros(n_col, dtype=bool)
    integer[opt_cols] = True
    return MatrixProgram(c, lb, ub, integer, a, np.concatenate(lo), np.concatenate(hi))


# ====================================================================================== scenario
def _scenario_tables(
    units: pd.DataFrame,
    schools: pd.DataFrame,
    options: pd.DataFrame | None,
    costs: pd.DataFrame,
    *,
    standards: Standards,
    allow_expansion: bool,
    far_penalty: float,
    disruption_m: float,
    building_weight: float,
    min_enrolment_share: float | None,
    design_year: int | None,
) -> dict[str, Any]:
    """Turn the planning tables into the core's arcs, demand, capacity, options and minimum loads."""
    levels = list(LEVELS)
    _need(units, levels, "units")
    _need(schools, ["level", "status", *[f"capacity_{lv}" for lv in levels]], "schools")
    _need(costs, ["unit_id", "school_id", "distance_m"], "costs")
    for name, value in (
        ("far_penalty", far_penalty),
        ("disruption_m", disruption_m),
        ("building_weight", building_weight),
    ):
        if not (value >= 0 and math.isfinite(value)):
            raise InputError(f"model.{name} must be a finite number >= 0, got {value!r}.")
    if min_enrolment_share is not None and not 0 <= min_enrolment_share <= 1:
        raise InputError(
            f"model.min_enrolment_share must lie in [0, 1] or be null, got {min_enrolment_share!r}."
        )
    kinds = schools["level"].astype(object)
    bad = ~kinds.isin(list(LEVELS_SERVED))
    if bad.any():
        sid = schools.index[bad.to_numpy()][0]
        raise InputError(
            f"schools: school {sid!r} has level {kinds[sid]!r}; use one of {', '.join(LEVELS_SERVED)}."
        )
    status = schools["status"].astype(object)
    if (~status.isin(["existing", "site"])).any():
        sid = schools.index[(~status.isin(["existing", "site"])).to_numpy()][0]
        raise InputError(f"schools: school {sid!r} has status {status[sid]!r}; use 'existing' or 'site'.")
    serves = pd.DataFrame({lv: [lv in LEVELS_SERVED[k] for k in kinds] for lv in levels}, index=schools.index)
    existing = (status == "existing").to_numpy()
    capacity = pd.DataFrame(index=schools.index)
    for lv in levels:
        cap = pd.to_numeric(schools[f"capacity_{lv}"], errors="coerce").fillna(0.0).to_numpy(float)
        capacity[lv] = np.where(existing & serves[lv].to_numpy(), cap, 0.0)
    demand = units[levels].astype(float).fillna(0.0)

    # options
    if options is None or not len(options):
        otab = pd.DataFrame(
            columns=[
                "school_id",
                "option",
                "fixed_cost",
                "budget_cost",
                "capacity_primary",
                "capacity_junior",
            ]
        )
    else:
        _need(options, ["school_id", "option", "capacity_primary", "capacity_junior", "cost_yuan"], "options")
        otab = options.reset_index(drop=True).copy()
        otab = otab[otab["school_id"].isin(schools.index)]
        sid = otab["school_id"]
        is_site = sid.map(status).eq("site").to_numpy()
        keep = np.ones(len(otab), dtype=bool)
        if not allow_expansion:
            keep &= is_site
        if design_year is not None and "available_from" in schools.columns:
            avail = pd.to_numeric(sid.map(schools["available_from"]), errors="coerce").to_numpy(float)
            late = np.isfinite(avail) & (avail > design_year)
            if late.any():
                log.info(
                    "%d site(s) become available after %s and cannot open", len(set(sid[late])), design_year
                )
            keep &= ~late
        otab = otab[keep].reset_index(drop=True)
        for lv in levels:
            ok = otab["school_id"].map(serves[lv]).to_numpy(bool)
            otab[f"capacity_{lv}"] = np.where(ok, pd.to_numeric(otab[f"capacity_{lv}"]).to_numpy(float), 0.0)
        cost_yuan = pd.to_numeric(otab["cost_yuan"], errors="coerce").fillna(0.0).to_numpy(float)
        otab["fixed_cost"] = building_weight * cost_yuan
        otab["budget_cost"] = cost_yuan

    over = []
    for lv in levels:
        col = f"enrolled_{lv}"
        if col in schools.columns:
            enr = pd.to_numeric(schools[col], errors="coerce").fillna(0.0)
            over += list(schools.index[(enr > capacity[lv] + 1e-9) & existing & serves[lv]])
    if over:
        log.info(
            "%d existing school-level(s) are over capacity today (e.g. %r); the plan keeps their capacity "
            "at the standard class size and moves pupils away or reports a shortfall",
            len(over),
            over[0],
        )

    # minimum loads
    min_load = None
    if min_enrolment_share:
        min_load = pd.DataFrame(0.0, index=schools.index, columns=levels)
        for lv in levels:
            col = f"enrolled_{lv}"
            if col in schools.columns:
                enr = pd.to_numeric(schools[col], errors="coerce").fillna(0.0).to_numpy(float)
                share = min_enrolment_share * enr
                min_load[lv] = np.where(
                    existing & serves[lv].to_numpy(), np.minimum(share, capacity[lv]), 0.0
                )

    # arcs per level
    cost = costs[["unit_id", "school_id", "distance_m"]].copy()
    known = cost["unit_id"].isin(units.index) & cost["school_id"].isin(schools.index)
    if not known.all():
        log.warning("%d cost row(s) name units or schools not in the tables; ignored", int((~known).sum()))
        cost = cost[known]
    arcs_parts = []
    current_parts = []
    for lv in levels:
        cur_col = f"current_{lv}"
        current = (
            units[cur_col] if cur_col in units.columns else pd.Series(pd.NA, index=units.index, dtype=object)
        )
        current = current.astype(object).where(current.notna(), None)
        dem_lv = demand[lv]
        part = cost.copy()
        part["level"] = lv
        cur_of = part["unit_id"].map(current)
        is_current = cur_of.to_numpy(dtype=object) == part["school_id"].to_numpy(dtype=object)
        now = part[is_current]
        current_parts.append(
            pd.DataFrame({"unit_id": now["unit_id"], "level": lv, "distance_m": now["distance_m"]})
        )
        dist = part["distance_m"].to_numpy(float)
        ok = (
            np.isfinite(dist)
            & (dist <= standards.hard_max_distance_m[lv])
            & part["school_id"].map(serves[lv]).to_numpy(bool)
        )
        d_unit = part["unit_id"].map(dem_lv).to_numpy(float)
        ok &= d_unit > 0
        part = part[ok]
        d_unit = d_unit[ok]
        has_cur = cur_of[ok].notna().to_numpy()
        moved = has_cur & ~is_current[ok]
        part["cost"] = d_unit * walk_cost_m(
            part["distance_m"].to_numpy(float), standards.service_radius_m[lv], far_penalty
        )
        part["disruption"] = np.where(moved, disruption_m * d_unit, 0.0)
        # a unit whose current school is out of reach pays the disruption wherever it goes (a constant)
        arcs_parts.append(part)
    arcs = pd.concat(arcs_parts, ignore_index=True)
    arcs = arcs.drop_duplicates(["unit_id", "school_id", "level"], keep="first")
    current_distance = pd.concat(current_parts, ignore_index=True).drop_duplicates(["unit_id", "level"])
    if min_load is not None:
        # a school cannot be asked to keep more than that share of the pupils who live within its reach
        reach = arcs.assign(d=arcs["unit_id"].map(demand["primary"]).where(arcs["level"] == "primary"))
        reach["d"] = reach["d"].fillna(arcs["unit_id"].map(demand["junior"]))
        within = reach.pivot_table(
            index="school_id", columns="level", values="d", aggfunc="sum", fill_value=0.0
        )
        within = within.reindex(index=min_load.index, columns=levels, fill_value=0.0)
        capped = min_load.clip(upper=min_enrolment_share * within)
        n_capped = int((capped < min_load - 1e-9).to_numpy().sum())
        if n_capped:
            log.info(
                "min_enrolment_share: %d school-level minimum(s) lowered to the share of pupils within reach",
                n_capped,
            )
        min_load = capped
    return {
        "arcs": arcs,
        "demand": demand,
        "capacity": capacity,
        "options": otab,
        "min_load": min_load,
        "current_distance": current_distance,
    }
