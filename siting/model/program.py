r"""The matrix program built from the core arrays, and the rows added or chosen around it.

Formulation (one program for all levels :math:`l`). Pairs :math:`k=(i,l)` are units with demand
:math:`d_{il}>0`; arcs :math:`a=(i,j,l)` join a pair to a facility that may serve it, with cost :math:`c_a`
(the cost of serving *all* of :math:`d_{il}` from :math:`j`) and, optionally, a disruption cost :math:`r_a`.
Options :math:`o` of facility :math:`j` add capacity :math:`q_{ol}` at fixed cost :math:`f_o`. Where an
overflow penalty :math:`\pi` is given, a facility with base capacity :math:`Q_{jl} > 0` (an existing
school) may hold pupils above its capacity: the overflow :math:`v_{jl} \ge 0`.

.. math::

    \min \sum_a (c_a + r_a)\,x_a + \sum_o f_o z_o + \sum_{j,l} \pi\, v_{jl} + \sum_{j,l} \beta\, u_{jl}

subject to

* every pair assigned in full: :math:`\sum_{a \in k} x_a = 1`;
* capacity: :math:`\sum_{a \to (j,l)} d_a x_a - v_{jl} \le Q_{jl} + \sum_{o \in j} q_{ol} z_o`
  (:math:`v_{jl}` only where :math:`Q_{jl} > 0` and overflow is allowed; new facilities never overflow);
* optional overflow ceiling: :math:`v_{jl} \le V_{jl} + \sum_{o \in j} e_{ol} z_o` (a bound when no option
  adds room);
* a facility with no base capacity for a level serves it only through an opened option:
  :math:`x_a \le \sum_{o \in j,\, q_{ol} > 0} z_o` (the strong linking rows);
* at most one option per facility, exactly one for a forced-open facility without base capacity;
* limits: new openings :math:`\le` ``max_new`` (or :math:`=` ``exactly_new``), budget on the options'
  ``budget_cost``, total open facilities :math:`\le` ``max_open``;
* optional minimum loads :math:`\sum_{a \to (j,l)} d_a x_a \ge m_{jl}`;
* optional utilisation floors, priced at :math:`\beta` per pupil below them (:math:`u_{jl} \ge 0`):
  :math:`\sum_{a \to (j,l)} d_a x_a + u_{jl} - \sum_{o \in j} \phi_{jl} q_{ol} z_o \ge F_{jl}`
  (:mod:`siting.model.underuse`);
* :math:`z` binary, :math:`x \in [0,1]` (split, and the relaxation of mode ``"round"``) or binary
  (single-sourced).

:func:`build_program` builds it (columns: arcs, options, overflow, under-use); :func:`lazy_links` and
:func:`select_linking_rows` keep only the linking rows the LP needs on large models; :func:`clean` rounds
solver noise and :func:`settle_overflow` sets each overflow column to the load above capacity and each
under-use column to the pupils below the floor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from siting._log import get_logger
from siting.model.solvers import MatrixProgram, solve_program, sparse_rows
from siting.model.underuse import underuse_of

log = get_logger(__name__)

TOL = 1e-6
"""Tolerance on column values: below it an arc share counts as 0 (above ``1 - TOL`` as 1)."""
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
    """Where the variables sit: the columns of arcs, options and overflow, and the (facility, level) rows.

    A (facility, level) is numbered ``facility * n_levels + level``.
    """

    arc: np.ndarray
    opt: np.ndarray
    over: np.ndarray
    """Column of each overflow variable (one per (facility, level) of ``d["over_fl"]``)."""
    under: np.ndarray
    """Column of each under-use variable (one per (facility, level) of ``d["under_fl"]``)."""
    fl: np.ndarray
    """(facility, level) of each arc."""
    o_fl: np.ndarray
    """(facility, level) of each option and level (option-major)."""
    o_col: np.ndarray
    """Column of each option and level."""
    o_q: np.ndarray
    """Capacity of each option and level, pupils."""


def _columns(d: dict[str, Any]) -> _Columns:
    """Return the column layout of the program of ``d``: arcs, options, overflow, then under-use."""
    a_k, o_f = d["a_k"], d["o_f"]
    n_arc, n_opt = len(a_k), len(o_f)
    n_over = len(d["over_fl"])
    n_l = d["base"].shape[1]
    opt_cols = n_arc + np.arange(n_opt)
    return _Columns(
        arc=np.arange(n_arc),
        opt=opt_cols,
        over=n_arc + n_opt + np.arange(n_over),
        under=underuse_columns(d),
        fl=d["a_f"] * n_l + d["k_l"][a_k],
        o_fl=np.repeat(o_f, n_l) * n_l + np.tile(np.arange(n_l), n_opt),
        o_col=opt_cols[np.repeat(np.arange(n_opt), n_l)],
        o_q=d["o_cap"].reshape(-1),
    )


def overflow_columns(d: dict[str, Any]) -> np.ndarray:
    """Return the program's overflow columns (after the arcs and options), one per ``d["over_fl"]``."""
    return len(d["a_k"]) + len(d["o_f"]) + np.arange(len(d["over_fl"]))


def underuse_columns(d: dict[str, Any]) -> np.ndarray:
    """Return the program's under-use columns (after the overflow columns), one per ``d["under_fl"]``."""
    return len(d["a_k"]) + len(d["o_f"]) + len(d["over_fl"]) + np.arange(len(d["under_fl"]))


def build_program(d: dict[str, Any], link_mask: np.ndarray | None = None) -> MatrixProgram:
    """Build the matrix program (columns: arcs, options, overflow, under-use) from the core arrays.

    ``link_mask`` (one flag per arc) keeps only some linking rows; the capacity rows alone already forbid
    serving from a closed facility, so any subset gives a valid model (the rows only tighten the bound).
    """
    cols = _columns(d)
    n_col = len(cols.arc) + len(cols.opt) + len(cols.over) + len(cols.under)
    m = _Rows()
    _assignment_rows(m, d, cols)
    used_fl = _capacity_rows(m, d, cols)
    _min_load_rows(m, d, cols, used_fl)
    _floor_rows(m, d, cols)
    _option_rows(m, d, cols)
    _linking_rows(m, d, cols, link_mask)
    _limit_rows(m, d, cols)
    over_ub = _ceiling_rows(m, d, cols)
    a = sparse_rows(m.rows, m.cols, m.vals, (m.n, n_col))
    c = np.concatenate(
        [
            d["a_cost"] + d["a_dis"],
            d["o_fixed"],
            np.full(len(cols.over), d["penalty"]),
            np.full(len(cols.under), d["under_price"]),
        ]
    )
    lb = np.zeros(n_col)
    ub = np.concatenate([np.ones(len(cols.arc) + len(cols.opt)), over_ub, np.full(len(cols.under), np.inf)])
    integer = np.zeros(n_col, dtype=bool)
    integer[cols.opt] = True
    return MatrixProgram(c, lb, ub, integer, a, np.concatenate(m.lo), np.concatenate(m.hi))


def _assignment_rows(m: _Rows, d: dict[str, Any], cols: _Columns) -> None:
    """Rows 1, assignment: ``sum x = 1`` per pair (every unit-level with demand goes somewhere)."""
    n_pair = len(d["k_d"])
    m.add(m.n + d["a_k"], cols.arc, np.ones(len(cols.arc)))
    m.close(np.ones(n_pair), np.ones(n_pair))


def _capacity_rows(m: _Rows, d: dict[str, Any], cols: _Columns) -> np.ndarray:
    """Rows 2, capacity per used (facility, level): ``sum d x - sum q z - v <= base``; return those pairs."""
    n_f, n_l = d["base"].shape
    used_fl = np.unique(cols.fl)
    row_of = np.full(n_f * n_l, -1, dtype=np.int64)
    row_of[used_fl] = m.n + np.arange(len(used_fl))
    m.add(row_of[cols.fl], cols.arc, d["k_d"][d["a_k"]])
    o_rows = row_of[cols.o_fl]
    mask = (o_rows >= 0) & (cols.o_q > 0)
    m.add(o_rows[mask], cols.o_col[mask], -cols.o_q[mask])
    if len(cols.over):
        m.add(row_of[d["over_fl"]], cols.over, -np.ones(len(cols.over)))
    m.close(np.full(len(used_fl), -np.inf), d["base"].reshape(-1)[used_fl])
    return used_fl


def arc_duals(d: dict[str, Any], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the duals an arc's column meets in :func:`build_program`'s rows, from the row duals ``y``.

    Returns ``(per pair, per (facility, level) and pupil)``: an arc ``a`` of pair ``k`` to ``(j, l)`` has
    reduced cost ``c_a - lam[k] - d_k * mu[j l]`` (assignment, capacity, minimum-load and floor rows; its
    own linking row, if any, is left out). A (facility, level) without arcs in ``d`` has no capacity or
    minimum-load row: its part of ``mu`` is 0, which keeps ``y`` dual feasible for a program with the row.
    Follows the row order of :func:`build_program`.
    """
    n_f, n_l = d["base"].shape
    n_pair = len(d["k_d"])
    lam = np.asarray(y[:n_pair], dtype=float)
    mu = np.zeros(n_f * n_l)
    used_fl = np.unique(d["a_f"] * n_l + d["k_l"][d["a_k"]])
    at = n_pair
    mu[used_fl] += y[at : at + len(used_fl)]
    at += len(used_fl)
    ml_fl = used_fl[d["min_load"].reshape(-1)[used_fl] > 0]
    mu[ml_fl] += y[at : at + len(ml_fl)]
    at += len(ml_fl)
    fl = d["under_fl"]
    mu[fl] += y[at : at + len(fl)]
    return lam, mu


def _ceiling_rows(m: _Rows, d: dict[str, Any], cols: _Columns) -> np.ndarray:
    """Rows 7, overflow ceilings that options raise: ``v - sum e z <= V``; return the overflow bounds.

    Where no option adds room the ceiling is the column's upper bound ``V`` (``inf`` without a ceiling);
    where one does, the bound is ``V`` plus the most any option adds, and a row holds the exact ceiling.
    """
    room0 = d["room0"].reshape(-1)[d["over_fl"]]
    if not len(room0):
        return room0
    e = d["o_room"].reshape(-1)
    extra = np.zeros(len(room0))
    pos = pd.Index(d["over_fl"]).get_indexer(cols.o_fl)
    has = (pos >= 0) & (e > 0) & np.isfinite(room0[np.maximum(pos, 0)])
    if not has.any():
        return room0
    np.maximum.at(extra, pos[has], e[has])
    rows_for = np.flatnonzero(extra > 0)
    r_of = np.full(len(room0), -1, dtype=np.int64)
    r_of[rows_for] = m.n + np.arange(len(rows_for))
    m.add(r_of[rows_for], cols.over[rows_for], np.ones(len(rows_for)))
    m.add(r_of[pos[has]], cols.o_col[has], -e[has])
    m.close(np.full(len(rows_for), -np.inf), room0[rows_for])
    return room0 + extra


def settle_overflow(d: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Return ``x`` with each load slack at its least: overflow and under-use columns.

    An overflow column is set to its load above capacity (``max(0, load - seats)``), an under-use column to
    its pupils below the utilisation floor (``max(0, floor - load)``). Any answer's slacks are at least
    that (the capacity and floor rows); setting them to it keeps every row and is never costlier.
    Capacities and floors are those of the options open in ``x``.
    """
    cols, ucols = overflow_columns(d), underuse_columns(d)
    if not len(cols) and not len(ucols):
        return x
    out = x.copy()
    n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
    z = np.round(x[n_arc : n_arc + n_opt])
    load = school_loads(d, x[:n_arc])
    if len(cols):
        seats, _ = plan_capacity(d, z)
        fl = d["over_fl"]
        out[cols] = np.clip(load.reshape(-1)[fl] - seats.reshape(-1)[fl], 0.0, None)
    if len(ucols):
        out[ucols] = underuse_of(d, load, z)
    return out


def school_loads(d: dict[str, Any], xa: np.ndarray) -> np.ndarray:
    """Return the pupils the arc values ``xa`` assign to each facility and level (facility × level)."""
    load = np.zeros_like(d["base"], dtype=float)
    np.add.at(load, (d["a_f"], d["k_l"][d["a_k"]]), d["k_d"][d["a_k"]] * xa)
    return load


def plan_capacity(d: dict[str, Any], z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the seats and the overflow room (most pupils above the seats) with options ``z`` open.

    Both facility × level: seats are base capacity plus the open options'; the room is ``room0`` plus
    what the open options add (``inf`` without a ceiling, 0 where the facility may not overflow).
    """
    seats = d["base"].astype(float).copy()
    room = d["room0"].astype(float).copy()
    for li in range(seats.shape[1]):
        np.add.at(seats[:, li], d["o_f"], z * d["o_cap"][:, li])
        np.add.at(room[:, li], d["o_f"], z * d["o_room"][:, li])
    return seats, np.where(d["may_over"], room, 0.0)


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


def _floor_rows(m: _Rows, d: dict[str, Any], cols: _Columns) -> None:
    """Rows 3b, utilisation floors: ``sum d x + u - sum g z >= F`` per (facility, level) with a floor.

    See :mod:`siting.model.underuse` for ``F`` (``d["under0"]``) and ``g = share × q`` (``d["o_under"]``).
    """
    fl = d["under_fl"]
    if not len(fl):
        return
    n_f, n_l = d["base"].shape
    row_of = np.full(n_f * n_l, -1, dtype=np.int64)
    row_of[fl] = m.n + np.arange(len(fl))
    sel = row_of[cols.fl] >= 0
    m.add(row_of[cols.fl][sel], cols.arc[sel], d["k_d"][d["a_k"]][sel])
    g = d["o_under"].reshape(-1)
    o_rows = row_of[cols.o_fl]
    has = (o_rows >= 0) & (g > 0)
    m.add(o_rows[has], cols.o_col[has], -g[has])
    m.add(row_of[fl], cols.under, np.ones(len(fl)))
    m.close(d["under0"].reshape(-1)[fl], np.full(len(fl), np.inf))


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
    d: dict[str, Any], link_all: np.ndarray, seconds: float, threads: int | None
) -> MatrixProgram:
    """Return the program with only the linking rows the LP relaxation needs (see :func:`linking_mask`)."""
    return linking_mask(d, link_all, seconds, threads)[1]


def linking_mask(
    d: dict[str, Any], link_all: np.ndarray, seconds: float, threads: int | None
) -> tuple[np.ndarray, MatrixProgram]:
    """Return which linking rows the LP relaxation needs (one flag per arc) and the program with them.

    Solve the LP, add the violated rows ``x_a <= open_j``, repeat until none is violated (at most
    ``seconds``). The bound is then as strong at the root as with every row, and the LP is much smaller.

    Parameters
    ----------
    d
        The core arrays.
    link_all
        The arcs with a linking row (:func:`lazy_links`).
    seconds
        Time for the rounds of LPs, seconds.
    threads
        Solver threads (None: solver default).

    Returns
    -------
    tuple
        The mask over arcs (:func:`build_program`'s ``link_mask``) and the program with those rows.
    """
    start = time.perf_counter()
    mask = np.zeros(len(d["a_k"]), dtype=bool)
    prog = build_program(d, mask)
    for rnd in range(50):
        left = seconds - (time.perf_counter() - start)
        if left <= 0:
            break
        lp = solve_program(prog.relaxed(), solver="highs", time_limit_s=left, gap=0.0, threads=threads)
        if lp.x is None or lp.status != "optimal":
            break
        viol = violated_links(d, lp.x, link_all, mask)
        log.info("linking rows: round %d adds %d violated of %d", rnd + 1, len(viol), len(link_all))
        if not len(viol):
            break
        mask[viol] = True
        prog = build_program(d, mask)
    return mask, prog


def violated_links(d: dict[str, Any], x: np.ndarray, arcs: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Return the arcs of ``arcs`` not yet ``chosen`` whose linking row ``x_a <= open(j, l)`` ``x`` breaks."""
    n_arc, n_opt = len(d["a_k"]), len(d["o_f"])
    z = x[n_arc : n_arc + n_opt]
    y = np.zeros(d["base"].shape)
    for li in range(y.shape[1]):
        has = d["o_cap"][:, li] > 0
        np.add.at(y[:, li], d["o_f"][has], z[has])
    a_l = d["k_l"][d["a_k"]]
    return arcs[(x[arcs] > y[d["a_f"][arcs], a_l[arcs]] + 1e-6) & ~chosen[arcs]]
