"""Requested pairs at their true distance (``network._arrays.pair_distances``): widening searches vs one.

The pairs a run asks for beyond the walking limit (each home and its current school, kept for the
disruption measure) are far fewer than the graph's nodes but, on a city, lie within a few km of their
school. One unbounded Dijkstra per school explores the whole city; the widening search
(:data:`~siting.network._arrays.FIRST_REACH_M`, then :data:`~siting.network._arrays.REACH_GROWTH` times
farther for the pairs not reached) stops near them. The graph is a jittered street lattice of
``side × side`` nodes at 60 m (Foshan's graph has 569,031 nodes); each school is paired with homes at
up to ``radius`` m straight-line (its current catchment); a few pairs reach across the city. Both
variants run in fresh processes in the same run and must return the same distances.

Usage: ``python -m benchmarks.run pair-distances [side=N] [schools=N] [homes=N] [radius=M]``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmarks._common import machine, measure

SEED = 7


def _instance(
    side: int, schools: int, homes: int, radius: float
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The lattice's matrix (m) and the pairs' node ids (school, home)."""
    rng = np.random.default_rng(SEED)
    idx = np.arange(side * side).reshape(side, side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) > 0.08  # 8 % of the street segments missing
    w = rng.uniform(50.0, 70.0, keep.sum())
    m = sp.coo_matrix((w, (u[keep], v[keep])), shape=(side * side,) * 2)
    m = sp.csr_matrix(m + m.T)
    s_xy = rng.integers(0, side, (schools, 2))
    cells = max(1, int(radius / 60.0))
    h_xy = np.repeat(s_xy, homes, axis=0) + rng.integers(-cells, cells + 1, (schools * homes, 2))
    far = rng.random(len(h_xy)) < 0.01  # a few homes whose current school is across the city
    h_xy[far] = rng.integers(0, side, (far.sum(), 2))
    h_xy = np.clip(h_xy, 0, side - 1)
    s_node = np.repeat(idx[s_xy[:, 0], s_xy[:, 1]], homes)
    return m, s_node, idx[h_xy[:, 0], h_xy[:, 1]]


def run(side: int, schools: int, homes: int, radius: float, first_reach: float) -> dict[str, Any]:
    """Time ``pair_distances`` with ``FIRST_REACH_M = first_reach`` (``inf``: one unbounded search)."""
    from siting.network import _arrays

    m, a, b = _instance(side, schools, homes, radius)
    _arrays.FIRST_REACH_M = first_reach
    zero = np.zeros(len(a))
    start = time.perf_counter()
    dist = _arrays.pair_distances(m, a, zero, b, zero)
    return {"seconds": time.perf_counter() - start, "dist": dist, "nodes": m.shape[0], "pairs": len(a)}


def main(argv: list[str]) -> str:
    """Run both variants; return the Markdown section."""
    opts = dict(x.split("=", 1) for x in argv if "=" in x)
    side, schools = int(opts.get("side", 755)), int(opts.get("schools", 200))
    homes, radius = int(opts.get("homes", 50)), float(opts.get("radius", 3000))
    from siting.network import _arrays

    old, old_wall, old_peak = measure(run, side, schools, homes, radius, float("inf"))
    new, new_wall, new_peak = measure(run, side, schools, homes, radius, _arrays.FIRST_REACH_M)
    same = bool(np.array_equal(old["dist"], new["dist"]))
    ratio = old["seconds"] / new["seconds"]
    return "\n".join(
        [
            "## pair-distances: requested pairs at their true distance",
            "",
            f"Machine: {machine()}. Lattice of {old['nodes']:,} nodes (60 m streets, 8 % missing), "
            f"{schools} schools × {homes} homes within {radius:.0f} m straight-line (1 % anywhere in the "
            f"city): {old['pairs']:,} pairs. One fresh process per variant, same run. Other agents' jobs may "
            "have run on the other core.",
            "",
            "| variant | search s | wall s | peak MiB |",
            "|---|---:|---:|---:|",
            f"| one unbounded search per school (before) | {old['seconds']:.1f} | {old_wall:.1f} "
            f"| {old_peak:.0f} |",
            f"| widening from {_arrays.FIRST_REACH_M:,.0f} m, × {_arrays.REACH_GROWTH:g} "
            f"| {new['seconds']:.1f} | {new_wall:.1f} | {new_peak:.0f} |",
            "",
            f"Before / after: **{ratio:.1f}×**; distances identical: **{'yes' if same else 'NO'}**.",
        ]
    )
