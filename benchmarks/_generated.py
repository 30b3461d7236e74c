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


def _points(
    rng: np.random.Generator, n_clients: int, n_sites: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return client and site points (x, y in metres), client weights (1–20) and sites × clients distances."""
    clients = rng.uniform(0.0, SIDE_M, size=(n_clients, 2))
    sites = rng.uniform(0.0, SIDE_M, size=(n_sites, 2))
    weight = rng.integers(1, 21, size=n_clients).astype(float)
    dist = np.sqrt(((sites[:, None, :] - clients[None, :, :]) ** 2).sum(axis=2))
    return clients, sites, weight, dist


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
    clients, sites, weight, dist = _points(rng, n_clients, n_sites)
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


FIXED_SHARE = 1 / 400
"""Mean fixed cost of a facility-location site as a share of total weight × :data:`SIDE_M`."""
OPEN_GUESS = 30
"""Sites about that many open hold the demand at the mean capacity (more than the fixed costs open
alone, so the seats bind)."""


def capacitated_facility_location(n_clients: int, n_sites: int, seed: int) -> Instance:
    """Return a single-source capacitated facility location instance (fixed costs, no count of sites).

    Points, weights and costs as :func:`capacitated_pmedian`; each site holds ``U(0.75, 1.25) ×
    total weight /`` :data:`OPEN_GUESS` (a quarter of the sites if fewer) and costs
    ``U(0.75, 1.25) × √(seats / mean seats) ×`` :data:`FIXED_SHARE` ``× total weight × side`` to open
    (about the saving of the twentieth open site: larger sites cost more, and the seats bind).

    Parameters
    ----------
    n_clients, n_sites
        Clients and candidate sites.
    seed
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    Instance
        With ``p`` None; ``meta`` as :func:`capacitated_pmedian`'s.
    """
    rng = np.random.default_rng(seed)
    clients, sites, weight, dist = _points(rng, n_clients, n_sites)
    total = weight.sum()
    seats = rng.uniform(0.75, 1.25, n_sites) * total / min(OPEN_GUESS, n_sites / 4)
    scale = np.sqrt(seats / seats.mean()) * FIXED_SHARE * total * SIDE_M
    return Instance(
        name=f"sscflp{n_clients}x{n_sites}s{seed}",
        cost=dist * weight[None, :],
        demand=weight,
        capacity=seats,
        fixed=rng.uniform(0.75, 1.25, n_sites) * scale,
        p=None,
        meta={"clients": clients, "sites": sites, "distance": dist},
    )
