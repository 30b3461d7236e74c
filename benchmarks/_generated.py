"""Generated single-source capacitated p-median instances (issue 17), with fixed seeds.

Clients and candidate sites are uniform random points in a 10 km square, client weights are integers
1–20, every candidate holds ``1.15 × total weight / p`` and costs are weight × Euclidean distance (metres),
the instances a planner tries first. Nothing here solves anything.
"""

from __future__ import annotations

import numpy as np

from benchmarks._instances import Instance

SIDE_M = 10_000.0
"""Side of the square, metres."""
SLACK = 1.15
"""Capacity of each candidate as a multiple of total weight / p."""


def capacitated_pmedian(n_clients: int, n_sites: int, p: int, seed: int) -> Instance:
    """Return one instance: ``n_clients`` weighted points, ``n_sites`` candidates, open exactly ``p``.

    Parameters
    ----------
    n_clients, n_sites, p
        Clients, candidate sites and sites to open.
    seed
        Seed of :func:`numpy.random.default_rng` (the same seed gives the same instance).

    Returns
    -------
    Instance
        ``cost[i, j]`` = weight of client j × distance from site i (metres); ``meta`` holds the
        coordinates (``clients``, ``sites``: arrays of x, y in metres) for other tools.
    """
    rng = np.random.default_rng(seed)
    clients = rng.uniform(0.0, SIDE_M, size=(n_clients, 2))
    sites = rng.uniform(0.0, SIDE_M, size=(n_sites, 2))
    weight = rng.integers(1, 21, size=n_clients).astype(float)
    dist = np.sqrt(((sites[:, None, :] - clients[None, :, :]) ** 2).sum(axis=2))
    cap = SLACK * weight.sum() / p
    return Instance(
        name=f"cpmp{n_clients}x{n_sites}p{p}s{seed}",
        cost=dist * weight[None, :],
        demand=weight,
        capacity=np.full(n_sites, cap),
        fixed=np.zeros(n_sites),
        p=p,
        meta={"clients": clients, "sites": sites, "distance": dist},
    )
