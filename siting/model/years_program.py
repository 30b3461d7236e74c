r"""The multi-year program: one single-year program per year, stacked, and the rows that join the years.

Each year :math:`t` is the single-year program of :mod:`siting.model.program` built from that year's core
arrays (:func:`year_data`: the same pairs, arcs, options and overflow columns, that year's demand), so
the assignment, capacity, minimum-load, option, linking and limit rows are exactly the single-year ones.
In year :math:`t` an option column :math:`z_{o,t}` means "open by year :math:`t`" (cumulative). The
years are joined by

* **stays open**: :math:`z_{o,t-1} \le z_{o,t}` (with at most one option per facility per year, a school
  keeps the size it opened at);
* **earliest year**: :math:`z_{o,t} = 0` before the option's earliest opening year (its site's
  ``available_from`` and the first plan year plus the build time);
* **catchment changes**: :math:`x_{a,t} - x_{a,t-1} \le w_{a,t}`, each :math:`w` charged ``change_m`` per
  pupil moved (in that year's demand), so families do not move back and forth;
* **per-year limits** on what starts in a year: spend
  :math:`\sum_o c_o (z_{o,t+b} - z_{o,t+b-1}) \le B_t` (``b`` = build time: the cost is spent in the year
  building starts) and openings of new facilities :math:`\sum (z_{o,t} - z_{o,t-1}) \le N`.

The objective is the sum over the years of the assignment, disruption and overflow costs, plus the
building cost once (on the last year's columns, where every option opened is still open). The total
budget and ``max_new`` are the single-year rows of each year (binding on the last). With one year and no
per-year limits the program is the single-year one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.model.program import _Rows, build_program
from siting.model.solvers import MatrixProgram, sparse_rows
from siting.model.underuse import pupils_within_reach


@dataclass(frozen=True)
class YearLimits:
    """The per-year limits and couplings of the multi-year program.

    Attributes
    ----------
    earliest_index
        Per option: index of the first plan year it may be open (``n_years``: never).
    budget
        Per plan year: most yuan whose building may start that year (``inf``: no limit).
    max_openings
        Most new facilities opening in one plan year (None: no limit).
    build_years
        Plan years from the start of building to opening (0: opens the year it is paid).
    change_m
        Objective units per pupil whose school differs from the previous year's.
    overflow_first
        The fewest pupil-years above capacity over the plan first (:mod:`siting.model.years_overflow`),
        then the usual objective among the plans that keep it.
    """

    earliest_index: np.ndarray
    budget: np.ndarray
    max_openings: int | None
    build_years: int
    change_m: float
    overflow_first: bool = False


@dataclass(frozen=True)
class YearsLayout:
    """Where each year's columns sit in the stacked program.

    Attributes
    ----------
    n_years, n_arc, n_opt, width
        Years; arcs, options and all columns of one year's block.
    n_rows
        Rows of each year's block, in order.
    """

    n_years: int
    n_arc: int
    n_opt: int
    width: int
    n_rows: tuple[int, ...]

    def block(self, t: int) -> slice:
        """Columns of year ``t``'s block (arcs, options, overflow)."""
        return slice(t * self.width, (t + 1) * self.width)

    def opt(self, t: int) -> np.ndarray:
        """Option columns of year ``t``."""
        return t * self.width + self.n_arc + np.arange(self.n_opt)

    def arc(self, t: int) -> np.ndarray:
        """Arc columns of year ``t``."""
        return t * self.width + np.arange(self.n_arc)

    def change(self, t: int) -> np.ndarray:
        """Change columns of year ``t`` (``t >= 1``): one per arc, after every block."""
        return self.n_years * self.width + (t - 1) * self.n_arc + np.arange(self.n_arc)

    @property
    def n_cols(self) -> int:
        """All columns: the year blocks, then the change columns."""
        return self.n_years * self.width + (self.n_years - 1) * self.n_arc


def year_data(d: dict[str, Any], demand: np.ndarray) -> dict[str, Any]:
    """Return the core arrays of one year: ``d`` with that year's demand per pair.

    Arc costs and disruption are per pupil in ``d`` times the pair's demand, so they scale with it;
    minimum loads scale down with the demand within each school's reach (never up), and the utilisation
    floor of today's seats is capped at it (:mod:`siting.model.underuse`).

    Parameters
    ----------
    d
        The core arrays (:func:`~siting.model.arrays.core_data`) built with the largest demand of any year.
    demand
        Demand of each pair in this year, pupils (``len(d["k_d"])``), at most ``d["k_d"]``.

    Returns
    -------
    dict
        A shallow copy with ``k_d``, ``a_cost``, ``a_dis``, ``min_load``, ``under0`` and ``arc_frame``
        replaced.
    """
    ref = d["k_d"]
    ratio = np.divide(demand, ref, out=np.zeros(len(ref)), where=ref > 0)
    out = dict(d)
    out["k_d"] = np.asarray(demand, dtype=float)
    a_ratio = ratio[d["a_k"]]
    out["a_cost"] = d["a_cost"] * a_ratio
    out["a_dis"] = d["a_dis"] * a_ratio
    frame = d["arc_frame"].copy()
    frame["cost"], frame["disruption"], frame["demand"] = out["a_cost"], out["a_dis"], out["k_d"][d["a_k"]]
    out["arc_frame"] = frame
    reach_ref, reach = pupils_within_reach(d, ref), pupils_within_reach(d, out["k_d"])
    share = np.divide(reach, reach_ref, out=np.ones_like(reach), where=reach_ref > 0)
    out["min_load"] = d["min_load"] * np.minimum(share, 1.0)
    # the utilisation floor of today's seats is capped at this year's pupils within reach (never more)
    out["under0"] = np.minimum(d["under0"], reach)
    return out


def stacked_program(
    years: list[dict[str, Any]], limits: YearLimits, link_mask: np.ndarray | None = None
) -> tuple[MatrixProgram, YearsLayout, list[MatrixProgram]]:
    """Build the multi-year program (see the module docstring) from each year's core arrays.

    Parameters
    ----------
    years
        One core-array dict per plan year (:func:`year_data`), in year order.
    limits
        The per-year limits.
    link_mask
        Which linking rows each year keeps (:func:`~siting.model.program.linking_mask`; None: all).

    Returns
    -------
    tuple
        The program (arcs continuous, options integer), its column layout and each year's own program.
    """
    progs = [build_program(d, link_mask) for d in years]
    d0 = years[0]
    n_arc, n_opt = len(d0["a_k"]), len(d0["o_f"])
    lay = YearsLayout(len(years), n_arc, n_opt, progs[0].shape[1], tuple(p.shape[0] for p in progs))
    cols = np.concatenate([p.c for p in progs])
    for t in range(lay.n_years - 1):  # building is paid once, on the last year's columns
        cols[lay.opt(t)] = 0.0
    change_c = [limits.change_m * d["k_d"][d["a_k"]] for d in years[1:]]
    c = np.concatenate([cols, *change_c]) if change_c else cols
    lb = np.concatenate([p.lb for p in progs] + [np.zeros(n_arc * (lay.n_years - 1))])
    ub = np.concatenate([p.ub for p in progs] + [np.ones(n_arc * (lay.n_years - 1))])
    integer = np.concatenate([p.integer for p in progs] + [np.zeros(n_arc * (lay.n_years - 1), bool)])
    for t in range(lay.n_years):
        ub[lay.opt(t)[limits.earliest_index > t]] = 0.0
    blocks = sp.block_diag([p.a for p in progs], format="csr")
    blocks = sp.hstack([blocks, sp.csr_matrix((blocks.shape[0], lay.n_cols - blocks.shape[1]))], "csr")
    extra, lo, hi = _joining_rows(years, limits, lay)
    a = sp.vstack([blocks, extra], format="csr")
    row_lo = np.concatenate([*(p.row_lo for p in progs), lo])
    row_hi = np.concatenate([*(p.row_hi for p in progs), hi])
    return MatrixProgram(c, lb, ub, integer, a, row_lo, row_hi), lay, progs


def _joining_rows(
    years: list[dict[str, Any]], limits: YearLimits, lay: YearsLayout
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Return the rows that join the years: stays open, changes, per-year spend and openings."""
    m = _Rows()
    ones_o, ones_a = np.ones(lay.n_opt), np.ones(lay.n_arc)
    for t in range(1, lay.n_years):
        r = m.n + np.arange(lay.n_opt)  # z[o,t-1] - z[o,t] <= 0
        m.add(r, lay.opt(t - 1), ones_o)
        m.add(r, lay.opt(t), -ones_o)
        m.close(np.full(lay.n_opt, -np.inf), np.zeros(lay.n_opt))
        r = m.n + np.arange(lay.n_arc)  # x[a,t] - x[a,t-1] - w[a,t] <= 0
        m.add(r, lay.arc(t), ones_a)
        m.add(r, lay.arc(t - 1), -ones_a)
        m.add(r, lay.change(t), -ones_a)
        m.close(np.full(lay.n_arc, -np.inf), np.zeros(lay.n_arc))
    d0 = years[0]
    new_opt = d0["is_new_f"][d0["o_f"]] if lay.n_opt else np.zeros(0, bool)
    per_year: list[tuple[int, np.ndarray, float]] = []
    for s in range(lay.n_years):
        t = s + limits.build_years
        if np.isfinite(limits.budget[s]) and t < lay.n_years:
            per_year.append((t, d0["o_budget"], float(limits.budget[s])))
    if limits.max_openings is not None:
        per_year += [(t, new_opt.astype(float), float(limits.max_openings)) for t in range(lay.n_years)]
    for t, weight, cap in per_year:  # sum w (z[o,t] - z[o,t-1]) <= cap
        m.add(np.full(lay.n_opt, m.n), lay.opt(t), weight)
        if t > 0:
            m.add(np.full(lay.n_opt, m.n), lay.opt(t - 1), -weight)
        m.close(np.array([-np.inf]), np.array([cap]))
    if not m.rows:
        return sp.csr_matrix((0, lay.n_cols)), np.zeros(0), np.zeros(0)
    a = sparse_rows(m.rows, m.cols, m.vals, (m.n, lay.n_cols))
    return sp.csr_matrix(a), np.concatenate(m.lo), np.concatenate(m.hi)


def assemble(lay: YearsLayout, xs: list[np.ndarray]) -> np.ndarray:
    """Return the stacked columns of the years' columns, change columns set to the moves into each arc."""
    full = np.zeros(lay.n_cols)
    for t, xt in enumerate(xs):
        full[lay.block(t)] = xt
        if t:
            moved = xt[: lay.n_arc] - xs[t - 1][: lay.n_arc]
            full[lay.change(t)] = np.clip(moved, 0.0, None)
    return full
