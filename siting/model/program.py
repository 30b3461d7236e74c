r"""The matrix program built from the core arrays, and the rows added or chosen around it.

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

:func:`build_program` builds it (columns: arcs, options, shortfall); :func:`lazy_links` and
:func:`select_linking_rows` keep only the linking rows the LP needs on large models;
:func:`with_indicators` adds single sourcing with partial shortfall; :func:`clean` rounds solver noise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting._log import get_logger
from siting.model.solvers import MatrixProgram, solve_program, sparse_rows

log = get_logger(__name__)

TOL = 1e-6
"""Tolerance on column values: below it an arc or shortfall share counts as 0 (above ``1 - TOL`` as 1)."""
_LINK_ROWS_ALL = 20_000
"""Up to this many linking rows are always all built; above it HiGHS gets only those the LP needs."""


def clean(x: np.ndarray, integer: np.ndarray) -> np.ndarray:
    """Round near-integral values of integer columns (solver tolerance noise)."""
    out = x.copy()
    out[integer] = np.round(out[integer])
    out[~integer] = np.clip(out[~integer], 0.0, None)
    return out


@dataclass
class _Rows:
    """The constraint matrix as coordinate blocks and row bounds, filled one block of rows at a time."""

    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    lo: list[np.ndarray] = field(default_factory=list)
    hi: list[np.ndarray] = field(default_factory=list)
    n: int = 0
    """Rows closed so far: the first row of the next block."""

    def add(self, r: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
        """Add the coefficients ``v`` at rows ``r`` and columns ``c``."""
        self.rows.append(r.astype(np.int64))
        self.cols.append(c.astype(np.int64))
        self.vals.append(np.asarray(v, dtype=float))

    def close(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """End a block of ``len(lo)`` rows with these bounds."""
        self.lo.append(lo)
        self.hi.append(hi)
        self.n += len(lo)


@dataclass
class _Columns:
    """Where the variables sit: the columns of arcs, options and shortfall, and the (facility, level) rows.

    A (facility, level) is numbered ``facility * n_levels + level``.
    """

    arc: np.ndarray
    opt: np.ndarray
    short: np.ndarray
    fl: np.ndarray
    """(facility, level) of each arc."""
    o_fl: np.ndarray
    """(facility, level) of each option and level (option-major)."""
    o_col: np.ndarray
    """Column of each option and level."""
    o_q: np.ndarray
    """Capacity of each option and level, pupils."""


def _columns(d: dict[str, Any]) -> _Columns:
    """Return the column layout of the program of ``d``: arcs, then options, then shortfall (if allowed)."""
    a_k, o_f = d["a_k"], d["o_f"]
    n_arc, n_opt, n_pair = len(a_k), len(o_f), len(d["k_d"])
    n_l = d["base"].shape[1]
    n_s = n_pair if d["has_shortfall"] else 0
    opt_cols = n_arc + np.arange(n_opt)
    return _Columns(
        arc=np.arange(n_arc),
        opt=opt_cols,
        short=n_arc + n_opt + np.arange(n_s),
        fl=d["a_f"] * n_l + d["k_l"][a_k],
        o_fl=np.repeat(o_f, n_l) * n_l + np.tile(np.arange(n_l), n_opt),
        o_col=opt_cols[np.repeat(np.arange(n_opt), n_l)],
        o_q=d["o_cap"].reshape(-1),
    )


def build_program(d: dict[str, Any], link_mask: np.ndarray | None = None) -> MatrixProgram:
    """Build the matrix program (columns: arcs, options, shortfall) from the core arrays.

    ``link_mask`` (one flag per arc) keeps only some linking rows; the capacity rows alone already forbid
    serving from a closed facility, so any subset gives a valid model (the rows only tighten the bound).
    Sets ``d["s_col"]``, the shortfall columns.
    """
    cols = _columns(d)
    d["s_col"] = cols.short
    n_col = len(cols.arc) + len(cols.opt) + len(cols.short)
    m = _Rows()
    _assignment_rows(m, d, cols)
    used_fl = _capacity_rows(m, d, cols)
    _min_load_rows(m, d, cols, used_fl)
    _option_rows(m, d, cols)
    _linking_rows(m, d, cols, link_mask)
    _limit_rows(m, d, cols)
    a = sparse_rows(m.rows, m.cols, m.vals, (m.n, n_col))
    c = np.concatenate(
        [d["a_cost"] + d["a_dis"], d["o_fixed"], d["k_d"] * d["penalty"] if len(cols.short) else np.zeros(0)]
    )
    lb = np.zeros(n_col)
    ub = np.ones(n_col)
    integer = np.zeros(n_col, dtype=bool)
    integer[cols.opt] = True
    return MatrixProgram(c, lb, ub, integer, a, np.concatenate(m.lo), np.concatenate(m.hi))


def _assignment_rows(m: _Rows, d: dict[str, Any], cols: _Columns) -> None:
    """Rows 1, assignment: ``sum x + s = 1`` per pair (``s`` only with shortfall)."""
    n_pair = len(d["k_d"])
    r0 = m.n
    m.add(r0 + d["a_k"], cols.arc, np.ones(len(cols.arc)))
    if len(cols.short):
        m.add(r0 + np.arange(n_pair), cols.short, np.ones(n_pair))
    m.close(np.ones(n_pair), np.ones(n_pair))


def _capacity_rows(m: _Rows, d: dict[str, Any], cols: _Columns) -> np.ndarray:
    """Rows 2, capacity per used (facility, level): ``sum d x - sum q z <= base``; return those pairs."""
    n_f, n_l = d["base"].shape
    used_fl = np.unique(cols.fl)
    row_of = np.full(n_f * n_l, -1, dtype=np.int64)
    row_of[used_fl] = m.n + np.arange(len(used_fl))
    m.add(row_of[cols.fl], cols.arc, d["k_d"][d["a_k"]])
    o_rows = row_of[cols.o_fl]
    mask = (o_rows >= 0) & (cols.o_q > 0)
    m.add(o_rows[mask], cols.o_col[mask], -cols.o_q[mask])
    m.close(np.full(len(used_fl), -np.inf), d["base"].reshape(-1)[used_fl])
    return used_fl


def _min_load_rows(m: _Rows, d: dict[str, Any], cols: _Columns, used_fl: np.ndarray) -> None:
    """Rows 3, minimum loads: ``sum d x >= m`` per used (facility, level) with a minimum."""
    n_f, n_l = d["base"].shape
    mload = d["min_load"].reshape(-1)
    ml_fl = used_fl[mload[used_fl] > 0]
    if not len(ml_fl):
        return
    mrow = np.full(n_f * n_l, -1, dtype=np.int64)
    mrow[ml_fl] = m.n + np.arange(len(ml_fl))
    sel = mrow[cols.fl] >= 0
    m.add(mrow[cols.fl][sel], cols.arc[sel], d["k_d"][d["a_k"]][sel])
    m.close(mload[ml_fl], np.full(len(ml_fl), np.inf))


def _option_rows(m: _Rows, d: dict[str, Any], cols: _Columns) -> None:
    """Rows 4: at most one option per facility (exactly one when forced and new)."""
    o_f, is_new = d["o_f"], d["is_new_f"]
    n_f = d["base"].shape[0]
    fac_with_opt = np.unique(o_f)
    if not len(o_f):
        return
    frow = np.full(n_f, -1, dtype=np.int64)
    frow[fac_with_opt] = m.n + np.arange(len(fac_with_opt))
    m.add(frow[o_f], cols.opt, np.ones(len(o_f)))
    lo_f = np.zeros(len(fac_with_opt))
    forced = np.zeros(n_f, dtype=bool)
    forced[d["forced"]] = True
    lo_f[forced[fac_with_opt] & is_new[fac_with_opt]] = 1.0
    m.close(lo_f, np.ones(len(fac_with_opt)))


def _linking_arcs(d: dict[str, Any]) -> np.ndarray:
    """Return the arcs whose facility has no base capacity for the arc's level (each has a linking row)."""
    a_l = d["k_l"][d["a_k"]]
    return np.flatnonzero(d["base"][d["a_f"], a_l] <= 0)


def _linking_rows(m: _Rows, d: dict[str, Any], cols: _Columns, link_mask: np.ndarray | None) -> None:
    """Rows 5, linking: ``x_a <= sum`` of the facility's options with capacity for that level (base 0)."""
    link = _linking_arcs(d)
    if link_mask is not None:
        link = link[link_mask[link]]
    if not len(link):
        return
    lrows = m.n + np.arange(len(link))
    m.add(lrows, cols.arc[link], np.ones(len(link)))
    opts = pd.DataFrame({"fl": cols.o_fl, "col": cols.o_col})
    opts = opts[cols.o_q > 0]
    left = pd.DataFrame({"fl": cols.fl[link], "row": lrows})
    joined = left.merge(opts, on="fl", how="inner", sort=False)
    m.add(joined["row"].to_numpy(), joined["col"].to_numpy(), -np.ones(len(joined)))
    m.close(np.full(len(link), -np.inf), np.zeros(len(link)))


def _limit_rows(m: _Rows, d: dict[str, Any], cols: _Columns) -> None:
    """Rows 6: limits on new openings, budget and total open facilities (one row each)."""
    is_new, opt_cols = d["is_new_f"], cols.opt
    new_opt = is_new[d["o_f"]] if len(opt_cols) else np.zeros(0, dtype=bool)
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
        m.add(np.full(len(c), m.n), c, v)
        m.close(np.array([lo_v]), np.array([hi_v]))


def lazy_links(d: dict[str, Any], solver: str) -> np.ndarray | None:
    """Return the arcs whose linking rows are to be chosen, or None when every linking row is built.

    Rows are chosen only for HiGHS and only above ``_LINK_ROWS_ALL`` linking rows.
    """
    link_all = _linking_arcs(d)
    if solver != "highs" or len(link_all) <= _LINK_ROWS_ALL:
        return None
    return link_all


def select_linking_rows(
    d: dict[str, Any], link_all: np.ndarray, time_limit_s: float, threads: int | None
) -> MatrixProgram:
    """Return the program with only the linking rows the LP relaxation needs.

    Solve the LP, add the violated rows ``x_a <= open_j``, repeat until none is violated (at most a
    quarter of the time limit). The bound is then as strong at the root as with every row, and the LP is
    much smaller.

    Parameters
    ----------
    d
        The core arrays.
    link_all
        The arcs with a linking row (:func:`lazy_links`).
    time_limit_s
        The solve's time limit, seconds (a quarter of it may be spent here).
    threads
        Solver threads (None: solver default).

    Returns
    -------
    MatrixProgram
        With the chosen linking rows.
    """
    start = time.perf_counter()
    base, a_f = d["base"], d["a_f"]
    a_l = d["k_l"][d["a_k"]]
    n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
    n_f, n_l = base.shape
    mask = np.zeros(n_arc, dtype=bool)
    prog = build_program(d, mask)
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
        prog = build_program(d, mask)
    return prog


def with_indicators(
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
        The program (arc columns first, as built by :func:`build_program`).
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
        first = np.concatenate([start, (start[idx] > TOL).astype(float)])
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
