"""The answer of the model: :class:`SitingResult`, and how one is read off the program's column values.

:class:`SitingResult` holds the status, objective, bound and gap and the tables (``opened``,
``assignment``, ``overflow``). :func:`result_from_x` and :func:`empty_result` build it from a solve;
:func:`objective_parts` and :func:`attach_arc_parts` split the objective into its terms.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from siting.errors import SolverError
from siting.model.program import overflow_columns, plan_capacity, school_loads, underuse_columns
from siting.model.solvers import SolveOutcome

if TYPE_CHECKING:
    from siting.model.siting_model import SitingModel


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
        ``unit_id, level, school_id, pupils, distance_m, beyond_limit``: every unit-level with demand, in
        full (one row per unit and level when single-sourced; ``pupils`` is then the unit's whole demand);
        ``beyond_limit`` marks walks longer than the hard limit (the status quo, or a fallback school).
    overflow
        ``school_id, level, capacity, pupils, overflow``: one row per school-level with seats or pupils;
        ``capacity`` is the seats after the plan at the standard class size, ``overflow`` the pupils above
        them (``max(0, pupils - capacity)``; only existing schools may have any).
    objective_parts
        ``distance``, ``building``, ``disruption``, ``overflow``, ``underuse`` (pupils below the utilisation
        floor times its price; :mod:`siting.model.underuse`) (objective units; sum = ``objective``).
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
    overflow: pd.DataFrame
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
        overflow: pd.DataFrame | None = None,
    ) -> SitingResult:
        """Rebuild a result saved as tables plus its :meth:`summary` (no model attached: no :meth:`explain`).

        Parameters
        ----------
        summary
            The dict :meth:`summary` returned.
        opened, assignment, overflow
            The result's tables as saved (no ``overflow``: an empty table).

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
            assignment=assignment if len(assignment.columns) else empty_assignment(),
            overflow=overflow if overflow is not None and len(overflow.columns) else empty_overflow(),
            objective_parts={k: float(v) for k, v in parts.items()},
            solver=str(summary.get("solver", "")),
        )

    def summary(self) -> dict[str, Any]:
        """Return the headline numbers as JSON-ready data (``served``, ``overflow``: pupils per level)."""
        served = self.assignment.groupby("level")["pupils"].sum() if len(self.assignment) else pd.Series()
        over = self.overflow.groupby("level")["overflow"].sum() if len(self.overflow) else pd.Series()
        levels = sorted(set(served.index) | set(over.index), key=str)

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
            "overflow": {str(lv): float(over.get(lv, 0.0)) for lv in levels},
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
        asg = attach_arc_parts(model._d, asg)
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
        over = float(self.overflow["overflow"].sum()) if len(self.overflow) else 0.0
        return (
            f"SitingResult(status={self.status!r}, mode={self.mode!r}, objective={self.objective:,.1f}, "
            f"gap={gap}, opened={len(self.opened)}, overflow={over:,.0f} pupils, "
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


ASSIGNMENT_COLUMNS: tuple[str, ...] = (
    "unit_id",
    "level",
    "school_id",
    "pupils",
    "distance_m",
    "beyond_limit",
)
"""Columns of :attr:`SitingResult.assignment`."""
OVERFLOW_COLUMNS: tuple[str, ...] = ("school_id", "level", "capacity", "pupils", "overflow")
"""Columns of :attr:`SitingResult.overflow`."""
_NOISE = 1e-6
"""Pupils above capacity below this are solver noise and count as none."""


def empty_assignment() -> pd.DataFrame:
    """Return an assignment table without rows (:data:`ASSIGNMENT_COLUMNS`)."""
    return pd.DataFrame(columns=list(ASSIGNMENT_COLUMNS))


def empty_overflow() -> pd.DataFrame:
    """Return an overflow table without rows (:data:`OVERFLOW_COLUMNS`)."""
    return pd.DataFrame(columns=list(OVERFLOW_COLUMNS))


def attach_arc_parts(d: dict[str, Any], assignment: pd.DataFrame) -> pd.DataFrame:
    """Add ``distance_part``, ``disruption_part`` and ``walk_now_m`` to assignment rows.

    Parameters
    ----------
    d
        The model's core arrays (``arc_frame`` is used).
    assignment
        ``unit_id, level, school_id, pupils`` rows.

    Returns
    -------
    pandas.DataFrame
        The rows merged with their arc (``cost``, ``disruption``, ``demand``, ``walk_now_m``) and the parts
        of the objective they carry (objective units).
    """
    arcs = d["arc_frame"]
    merged = assignment.merge(arcs, on=["unit_id", "level", "school_id"], how="left", validate="m:1")
    frac = merged["pupils"].to_numpy(float) / merged["demand"].to_numpy(float)
    merged["distance_part"] = merged["cost"].to_numpy(float) * frac
    merged["disruption_part"] = merged["disruption"].to_numpy(float) * frac
    return merged


def objective_parts(d: dict[str, Any], x: np.ndarray) -> dict[str, float]:
    """Return the objective's parts at ``x``: distance, building, disruption, overflow and under-use.

    Parameters
    ----------
    d
        The model's core arrays.
    x
        Column values of the program (arcs, options, overflow, under-use).

    Returns
    -------
    dict
        The five parts, objective units; their sum is the objective.
    """
    n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
    xa = x[:n_arc]
    return {
        "distance": float(np.dot(xa, d["a_cost"])),
        "building": float(np.dot(x[n_arc : n_arc + n_opt], d["o_fixed"])),
        "disruption": float(np.dot(xa, d["a_dis"])),
        "overflow": float(x[overflow_columns(d)].sum() * d["penalty"]),
        "underuse": float(x[underuse_columns(d)].sum() * d["under_price"]),
    }


def empty_result(
    model: SitingModel, out: SolveOutcome, mode: str, solve_time: float, *, words: str | None = None
) -> SitingResult:
    """Return the result of a solve that found no answer (status ``infeasible`` or ``not_solved``).

    Parameters
    ----------
    model
        The model solved.
    out
        The solver's outcome (its status, bound and solver are kept).
    mode
        The solve mode.
    solve_time
        Seconds spent in the solver(s).
    words
        The solver status to report instead of ``out``'s.

    Returns
    -------
    SitingResult
        With NaN numbers and empty tables.
    """
    status = out.status if out.status in ("infeasible", "not_solved") else "not_solved"
    return SitingResult(
        status=status,
        solver_status=words or out.solver_status,
        objective=math.nan,
        bound=out.bound,
        gap=math.nan,
        solve_time_s=solve_time,
        build_time_s=model.build_time_s,
        n_split_rounded=0,
        mode=mode,
        opened=model._d["o_table"].iloc[0:0].set_index("school_id"),
        assignment=empty_assignment(),
        overflow=empty_overflow(),
        objective_parts={
            "distance": math.nan,
            "building": math.nan,
            "disruption": math.nan,
            "overflow": math.nan,
            "underuse": math.nan,
        },
        solver=out.solver,
        _model=model,
    )


def result_from_x(
    model: SitingModel,
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
    """Return the result whose tables are read off the column values ``x``.

    Parameters
    ----------
    model
        The model solved.
    x
        Column values of the program (arcs, options, overflow).
    status, words
        Our status and the solver's own words.
    objective, bound, gap_value
        Objective of ``x``, the proven lower bound and the relative gap.
    solve_time
        Seconds spent in the solver(s).
    n_split
        Unit-level pairs rounded from a split assignment.
    mode
        The solve mode.
    parts
        The objective's parts (:func:`objective_parts`).
    first
        The outcome whose solver is reported.

    Returns
    -------
    SitingResult
        With ``opened``, ``assignment`` and ``overflow`` from ``x``.
    """
    d = model._d
    n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
    zo = x[n_arc : n_arc + n_opt] > 0.5
    opened = d["o_table"][zo].set_index("school_id")
    return SitingResult(
        status=status,
        solver_status=words,
        objective=objective,
        bound=bound,
        gap=gap_value,
        solve_time_s=solve_time,
        build_time_s=model.build_time_s,
        n_split_rounded=n_split,
        mode=mode,
        opened=opened,
        assignment=_assignment_table(d, model.levels, x),
        overflow=_overflow_table(d, model.levels, x),
        objective_parts=parts,
        solver=first.solver,
        _model=model,
        _x=x,
    )


def _assignment_table(d: dict[str, Any], levels: list[Any], x: np.ndarray) -> pd.DataFrame:
    """Return the arcs used in ``x`` as :data:`ASSIGNMENT_COLUMNS` rows."""
    xa = x[: len(d["a_k"])]
    used = np.flatnonzero(xa > 1e-9)
    k = d["a_k"][used]
    assignment = pd.DataFrame(
        {
            "unit_id": d["units"][d["k_u"][k]],
            "level": np.asarray(levels, dtype=object)[d["k_l"][k]],
            "school_id": d["facilities"][d["a_f"][used]],
            "pupils": d["k_d"][k] * xa[used],
            "distance_m": d["a_dist"][used],
            "beyond_limit": d["a_beyond"][used],
        }
    )
    return assignment.sort_values(["level", "unit_id", "school_id"], kind="stable").reset_index(drop=True)


def _overflow_table(d: dict[str, Any], levels: list[Any], x: np.ndarray) -> pd.DataFrame:
    """Return the seats, pupils and overflow of every school-level with seats or pupils at ``x``."""
    n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
    seats, _ = plan_capacity(d, np.round(x[n_arc : n_arc + n_opt]))
    load = school_loads(d, x[:n_arc])
    li, f = np.nonzero(((seats > 0) | (load > _NOISE)).T)  # level by level, in facility order
    over = load[f, li] - seats[f, li]
    return pd.DataFrame(
        {
            "school_id": d["facilities"][f],
            "level": np.asarray(levels, dtype=object)[li],
            "capacity": seats[f, li],
            "pupils": load[f, li],
            "overflow": np.where(over > _NOISE, over, 0.0),
        }
    )
