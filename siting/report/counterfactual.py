"""Re-solve a plan with one parcel fixed: what forcing it open (or closed) would cost, with certified bounds.

The plan's own model is rebuilt from the result (its units, schools, size options and costs, and the model
parameters saved in ``summary["model_parameters"]``) and solved once as it is (``test == "plan"``), then once
per parcel with that parcel forced open or, for a chosen parcel, with its size options dropped (forced
closed). Every solve gets the same time limit, so the whole is bounded by ``(1 + parcels) × time_limit_s``.

The change of objective is certified from both solves: the true optimum of each lies between its bound and
its objective, so ``optimum_fixed − optimum_plan`` lies in ``[bound_fixed − objective_plan, objective_fixed −
bound_plan]`` (``delta_low``, ``delta_high``). A ``delta_low`` above zero proves the fixed plan is worse.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from siting._log import get_logger
from siting.errors import InputError, SitingError
from siting.report._result import _attr
from siting.report.labels import unmet_by_level
from siting.standards import LEVELS

log = get_logger(__name__)

_SOLVE_KEYS = ("solver", "gap", "mode")
"""Model parameters passed to ``solve`` rather than to ``from_scenario``."""


def resolve_parcels(
    result: Any,
    *,
    open_ids: Sequence[str] = (),
    close_ids: Sequence[str] = (),
    time_limit_s: float = 30.0,
) -> pd.DataFrame:
    """Re-solve the plan with each parcel of ``open_ids`` forced open and each of ``close_ids`` closed.

    Parameters
    ----------
    result
        A run result with ``units``, ``schools``, ``options``, ``costs``, ``standards`` and ``summary``
        (holding ``model_parameters``, as ``siting run`` saves it).
    open_ids
        Parcels to force open (each must have a size option).
    close_ids
        Parcels to force closed (their size options are dropped).
    time_limit_s
        Solver time limit of each solve, seconds.

    Returns
    -------
    pandas.DataFrame
        One row for the plan re-solved (``test == "plan"``) and one per parcel and test (``forced_open`` /
        ``forced_closed``): ``school_id, test, status, objective, bound, gap, seconds, delta, delta_low,
        delta_high`` (objective units), ``walk_m_<level>`` and ``walk_change_m_<level>`` (pupil-weighted
        mean walk, metres), ``unmet_<level>`` and ``unmet_change_<level>`` (pupils without a standard
        seat), ``cost_yuan``, ``cost_change_yuan``, ``new_sites``, ``opens_instead``, ``drops`` and
        ``note`` (why a solve gave no answer).

    Raises
    ------
    InputError
        When the result does not hold what the model needs (e.g. no ``model_parameters``), or the time
        limit is not positive.
    """
    if not (time_limit_s > 0 and math.isfinite(time_limit_s)):
        raise InputError(f"re-solve time limit must be a positive number of seconds, got {time_limit_s!r}.")
    inputs = _ModelInputs(result)
    n = 1 + len(open_ids) + len(close_ids)
    log.info(
        "re-solving the plan %d time(s), at most %.0f s each (%.0f s in all)",
        n,
        time_limit_s,
        n * time_limit_s,
    )
    base = inputs.solve(time_limit_s=time_limit_s)
    if base["objective"] is None:
        raise InputError(
            f"re-solving the plan as it is gave no answer ({base['note']}); the parcels cannot be compared."
        )
    rows = [_row("", "plan", base, base)]
    for sid in open_ids:
        rows.append(
            _row(str(sid), "forced_open", inputs.solve(time_limit_s=time_limit_s, force_open=[sid]), base)
        )
    for sid in close_ids:
        rows.append(
            _row(str(sid), "forced_closed", inputs.solve(time_limit_s=time_limit_s, drop=[sid]), base)
        )
    return pd.DataFrame(rows)


class _ModelInputs:
    """The tables and parameters that rebuild a result's model (see :func:`resolve_parcels`)."""

    def __init__(self, result: Any) -> None:
        from siting.model import SitingModel

        self.units = _attr(result, "units")
        self.schools = _attr(result, "schools")
        self.costs = _attr(result, "costs")
        self.standards = _attr(result, "standards")
        options = getattr(result, "options", None)
        if not isinstance(options, pd.DataFrame) or "school_id" not in options.columns:
            raise InputError(
                "re-solve: the result has no size options (options.csv); re-run `siting run` to save them."
            )
        self.options = options
        summary = getattr(result, "summary", None) or {}
        params = dict(summary.get("model_parameters") or {})
        if not params:
            raise InputError(
                "re-solve: the result's summary.json has no model_parameters; re-run `siting run` with this "
                "version so the plan's model can be rebuilt."
            )
        accepted = set(inspect.signature(SitingModel.from_scenario).parameters)
        skip = {*_SOLVE_KEYS, "force_open"}
        self.build_kw = {k: v for k, v in params.items() if k in accepted and k not in skip}
        scenario = getattr(result, "scenario", None)
        design = getattr(scenario, "design_year", None) or (summary.get("demand") or {}).get("design_year")
        if "design_year" in accepted:
            self.build_kw["design_year"] = design
        self.solve_kw = {k: params[k] for k in _SOLVE_KEYS if params.get(k) is not None}
        self.sites = set(
            self.schools.index[(self.schools["status"].astype(str) == "site").to_numpy()].astype(str)
        )

    def solve(
        self, *, time_limit_s: float, force_open: Iterable[str] = (), drop: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Build and solve the model with parcels forced open or dropped; return its figures."""
        from siting.model import SitingModel

        forced, dropped = [str(s) for s in force_open], {str(s) for s in drop}
        options = self.options[~self.options["school_id"].astype(str).isin(dropped)]
        start = time.perf_counter()
        try:
            model = SitingModel.from_scenario(
                self.units,
                self.schools,
                options,
                self.costs,
                standards=self.standards,
                force_open=forced,
                **self.build_kw,
            )
            sol = model.solve(time_limit_s=time_limit_s, **self.solve_kw)
        except SitingError as exc:
            return _no_answer("error", str(exc).splitlines()[0], time.perf_counter() - start)
        if sol.status not in ("optimal", "feasible"):
            return _no_answer(sol.status, f"solver: {sol.solver_status}", time.perf_counter() - start)
        return self._figures(sol, time.perf_counter() - start)

    def _figures(self, sol: Any, seconds: float) -> dict[str, Any]:
        a = sol.assignment
        out: dict[str, Any] = {
            "status": sol.status,
            "objective": float(sol.objective),
            "bound": float(sol.bound),
            "gap": float(sol.gap),
            "seconds": seconds,
            "note": "",
        }
        for lv in LEVELS:
            rows = a[a["level"] == lv] if len(a) else a
            w = pd.to_numeric(rows.get("pupils", pd.Series(dtype=float)), errors="coerce").to_numpy(float)
            d = pd.to_numeric(rows.get("distance_m", pd.Series(dtype=float)), errors="coerce").to_numpy(float)
            ok = np.isfinite(w) & np.isfinite(d) & (w > 0)
            out[f"walk_m_{lv}"] = float(np.average(d[ok], weights=w[ok])) if ok.any() else math.nan
        out.update({f"unmet_{lv}": v for lv, v in unmet_by_level(sol.summary()).items()})
        opened = sol.opened
        col = next((c for c in ("cost_yuan", "budget_cost") if c in opened.columns), None)
        out["cost_yuan"] = float(pd.to_numeric(opened[col], errors="coerce").sum()) if col else math.nan
        out["new_sites"] = sorted(s for s in opened.index.astype(str) if s in self.sites)
        return out


def _no_answer(status: str, note: str, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "objective": None, "bound": math.nan, "gap": math.nan}
    out.update(seconds=seconds, note=note, cost_yuan=math.nan, new_sites=[])
    for lv in LEVELS:
        out[f"walk_m_{lv}"] = out[f"unmet_{lv}"] = math.nan
    return out


def _row(sid: str, test: str, fig: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """One row of :func:`resolve_parcels`: a solve's figures and their change from the plan."""
    obj = fig["objective"]
    row: dict[str, Any] = {
        "school_id": sid,
        "test": test,
        "status": fig["status"],
        "objective": math.nan if obj is None else obj,
        "bound": fig["bound"],
        "gap": fig["gap"],
        "seconds": fig["seconds"],
    }
    if obj is None:
        row.update(delta=math.nan, delta_low=math.nan, delta_high=math.nan)
    else:
        row["delta"] = obj - base["objective"]
        row["delta_low"] = fig["bound"] - base["objective"]
        row["delta_high"] = obj - base["bound"]
    for lv in LEVELS:
        row[f"walk_m_{lv}"] = fig[f"walk_m_{lv}"]
        row[f"walk_change_m_{lv}"] = fig[f"walk_m_{lv}"] - base[f"walk_m_{lv}"]
        row[f"unmet_{lv}"] = fig[f"unmet_{lv}"]
        row[f"unmet_change_{lv}"] = fig[f"unmet_{lv}"] - base[f"unmet_{lv}"]
    row["cost_yuan"] = fig["cost_yuan"]
    row["cost_change_yuan"] = fig["cost_yuan"] - base["cost_yuan"]
    new, old = set(fig["new_sites"]), set(base["new_sites"])
    row["new_sites"] = ", ".join(sorted(new))
    row["opens_instead"] = ", ".join(sorted(new - old - {sid}))
    row["drops"] = ", ".join(sorted(old - new - {sid}))
    row["note"] = fig["note"]
    return row
