"""Parsers for the published facility-location benchmark families (see ``shared/benchmarks/SOURCES.md``).

Each parser returns an :class:`Instance`: the data in the general form :meth:`SitingModel.from_costs` takes
(costs of serving all of a client's demand from a facility, demands, capacities, fixed costs) and the
limits of the family. Nothing here solves anything.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

FAMILIES = ("pmed", "cap", "sscflp", "cpmp")


@dataclass
class Instance:
    """One benchmark problem in from-costs form.

    ``cost[i, j]`` is the cost of serving ALL of client ``j``'s demand from facility ``i`` (facility rows).
    ``capacity``/``fixed`` are per facility; every facility has no base capacity and one option
    (capacity, fixed cost). ``p`` is the exact number of facilities to open (p-median kinds) or None.
    """

    name: str
    cost: np.ndarray
    demand: np.ndarray
    capacity: np.ndarray
    fixed: np.ndarray
    p: int | None = None
    meta: dict[str, object] = field(default_factory=dict)


def read_tokens(path: Path) -> list[str]:
    """Read whitespace tokens, cutting the bytes at the first NUL and deleting DOS EOF bytes (\\x1a)."""
    raw = Path(path).read_bytes()
    cut = raw.find(b"\x00")
    if cut >= 0:
        raw = raw[:cut]
    raw = raw.replace(b"\x1a", b"")
    return raw.decode("ascii", errors="strict").split()


def _check_count(path: Path, tokens: list[str], expected: int) -> None:
    if len(tokens) != expected:
        raise ValueError(f"{path}: expected {expected} tokens from its header, found {len(tokens)}")


def read_pmed(path: Path, name: str | None = None) -> Instance:
    """OR-Library p-median: ``n m p`` then m edges ``i j cost``; the LAST duplicate edge wins."""
    tok = read_tokens(path)
    n, m, p = (int(t) for t in tok[:3])
    _check_count(path, tok, 3 + 3 * m)
    e = np.array(tok[3:], dtype=np.int64).reshape(m, 3)
    weight: dict[tuple[int, int], int] = {}
    for i, j, c in e:
        a, b = (int(i) - 1, int(j) - 1)
        weight[(min(a, b), max(a, b))] = int(c)  # last occurrence wins
    keys = np.array(list(weight.keys()), dtype=np.int64)
    vals = np.array(list(weight.values()), dtype=float)
    graph = coo_matrix((vals, (keys[:, 0], keys[:, 1])), shape=(n, n)).tocsr()
    dist = shortest_path(graph, method="D", directed=False)
    if not np.isfinite(dist).all():
        raise ValueError(f"{path}: graph is not connected")
    return Instance(
        name or Path(path).stem,
        cost=dist,
        demand=np.ones(n),
        capacity=np.full(n, float(n)),
        fixed=np.zeros(n),
        p=p,
        meta={"n": n, "p": p},
    )


def read_cap(path: Path, name: str | None = None, capacity: float | None = None) -> Instance:
    """OR-Library capacitated warehouse location (capa/b/c need ``capacity``: the token is 'capacity')."""
    tok = read_tokens(path)
    m, n = int(tok[0]), int(tok[1])
    _check_count(path, tok, 2 + 2 * m + n * (1 + m))
    caps = np.empty(m)
    fixed = np.empty(m)
    pos = 2
    for i in range(m):
        c = tok[pos]
        if c.lower() == "capacity":
            if capacity is None:
                raise ValueError(f"{path}: capacity is the word 'capacity'; give a capacity value")
            caps[i] = capacity
        else:
            caps[i] = float(c)
        fixed[i] = float(tok[pos + 1])
        pos += 2
    body = np.array(tok[pos:], dtype=float).reshape(n, 1 + m)
    return Instance(
        name or Path(path).stem,
        cost=body[:, 1:].T.copy(),
        demand=body[:, 0].copy(),
        capacity=caps,
        fixed=fixed,
        meta={"m": m, "n": n},
    )


def read_sscflp(path: Path, name: str | None = None, layout: str | None = None) -> Instance:
    """SSCFLP in Holmberg (``J I``, facility rows) or Delmaire (``I J``, customer rows) layout.

    ``layout`` None detects it from the token count (the two counts differ whenever I ≠ J) and otherwise
    from the folder name.
    """
    tok = read_tokens(path)
    a, b = int(tok[0]), int(tok[1])
    holm = 2 + 2 * a + b + a * b
    delm = 2 + a * b + a + 2 * b
    if layout is None:
        if len(tok) == holm and len(tok) != delm:
            layout = "holmberg"
        elif len(tok) == delm and len(tok) != holm:
            layout = "delmaire"
        else:
            layout = "delmaire" if "delmaire" in str(path).lower() else "holmberg"
    vals = np.array(tok[2:], dtype=float)
    if layout == "holmberg":
        j_, i_ = a, b
        _check_count(path, tok, holm)
        sf = vals[: 2 * j_].reshape(j_, 2)
        dem = vals[2 * j_ : 2 * j_ + i_]
        cost = vals[2 * j_ + i_ :].reshape(j_, i_)
        caps, fixed = sf[:, 0], sf[:, 1]
    else:
        i_, j_ = a, b
        _check_count(path, tok, delm)
        cost = vals[: i_ * j_].reshape(i_, j_).T
        dem = vals[i_ * j_ : i_ * j_ + i_]
        fixed = vals[i_ * j_ + i_ : i_ * j_ + i_ + j_]
        caps = vals[i_ * j_ + i_ + j_ :]
    return Instance(
        name or Path(path).name,
        cost=np.ascontiguousarray(cost),
        demand=dem.copy(),
        capacity=caps.copy(),
        fixed=fixed.copy(),
        meta={"m": j_, "n": i_, "layout": layout},
    )


def read_cpmp(path: Path, name: str | None = None) -> Instance:
    """Capacitated p-median: Osman–Christofides (floor distances) or Lorena–Senne (real distances)."""
    lines = [ln.split() for ln in Path(path).read_text(encoding="ascii").splitlines() if ln.strip()]
    if len(lines[0]) == 2 and len(lines[1]) == 3:  # osman_christofides: "no best", "n p Q", "id x y d"
        n, p, q = (int(float(t)) for t in lines[1])
        rows = np.array(lines[2 : 2 + n], dtype=float)
        xy, dem = rows[:, 1:3], rows[:, 3]
        caps = np.full(n, float(q))
        dist_kind = "floor_euclidean"
    else:  # lorena_senne: "n p", then "x y capacity demand"
        n, p = int(lines[0][0]), int(lines[0][1])
        rows = np.array(lines[1 : 1 + n], dtype=float)
        xy, caps, dem = rows[:, 0:2], rows[:, 2], rows[:, 3]
        dist_kind = "euclidean_real"
    if len(rows) != n:
        raise ValueError(f"{path}: header says {n} nodes, found {len(rows)}")
    diff = xy[:, None, :] - xy[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    if dist_kind == "floor_euclidean":
        dist = np.floor(dist + 1e-9)
    return Instance(
        name or Path(path).stem,
        cost=dist,
        demand=dem,
        capacity=caps,
        fixed=np.zeros(n),
        p=p,
        meta={"n": n, "p": p, "distance": dist_kind},
    )


def read_optima(folder: Path) -> list[dict[str, str]]:
    """Rows of a family folder's ``optima.csv``."""
    with (Path(folder) / "optima.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def to_float(text: str | None) -> float:
    """Parse a number from a CSV cell (NaN when empty)."""
    return float(text) if text not in (None, "") else math.nan


def to_model_inputs(inst: Instance) -> dict[str, object]:
    """Turn an instance into :meth:`SitingModel.from_costs` arguments (one level, ``"all"``)."""
    m, n = inst.cost.shape
    fac = np.repeat(np.arange(m), n)
    cli = np.tile(np.arange(n), m)
    arcs = pd.DataFrame({"unit_id": cli, "school_id": fac, "level": "all", "cost": inst.cost.reshape(-1)})
    demand = pd.DataFrame({"all": inst.demand}, index=pd.RangeIndex(n))
    capacity = pd.DataFrame({"all": np.zeros(m)}, index=pd.RangeIndex(m))
    options = pd.DataFrame(
        {"school_id": np.arange(m), "option": "open", "fixed_cost": inst.fixed, "capacity_all": inst.capacity}
    )
    return {"arcs": arcs, "demand": demand, "capacity": capacity, "options": options}
