"""Formulas: the pupil-weighted difference coefficient, weighted quantiles, walk statistics, large classes.

Plain numeric functions on arrays; the metric tables of :mod:`siting.metrics` are built from them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from siting.errors import InputError, describe


def pupil_weighted_cv(values: Sequence[float] | np.ndarray, weights: Sequence[float] | np.ndarray) -> float:
    """Return the pupil-weighted coefficient of variation (差异系数) of a per-pupil indicator.

    The national 均衡 formula (``shared/standards.md``)::

        x̄ = Σ pᵢ xᵢ / Σ pᵢ          (the pooled value: total resource / total pupils)
        S = sqrt( Σ (pᵢ / P) (xᵢ − x̄)² ),   P = Σ pᵢ
        CV = S / x̄

    Parameters
    ----------
    values
        ``xᵢ``: each school's per-pupil value (resource total / pupils, any unit).
    weights
        ``pᵢ``: each school's pupils (≥ 0).

    Returns
    -------
    float
        The CV (dimensionless); ``nan`` when there are no pupils or ``x̄ = 0``.

    Raises
    ------
    InputError
        For a negative or non-finite weight, a non-finite value with a positive weight, or unequal lengths.

    Examples
    --------
    >>> round(pupil_weighted_cv([10, 20], [100, 100]), 4)
    0.3333
    """
    x = np.asarray(values, dtype=float)
    p = np.asarray(weights, dtype=float)
    if x.shape != p.shape:
        raise InputError(
            f"pupil_weighted_cv: {x.size} values but {p.size} weights; give one weight per value."
        )
    if (~np.isfinite(p)).any() or (p < 0).any():
        raise InputError(f"pupil_weighted_cv: pupils must be finite and >= 0, got {describe(p.tolist())}.")
    use = p > 0
    if (~np.isfinite(x[use])).any():
        raise InputError(
            f"pupil_weighted_cv: per-pupil values must be finite, got {describe(x[use].tolist())}; "
            "drop schools with a missing resource first."
        )
    total = p[use].sum()
    if total <= 0:
        return math.nan
    mean = float((p[use] * x[use]).sum() / total)
    if mean == 0:
        return math.nan
    spread = math.sqrt(float(((p[use] / total) * (x[use] - mean) ** 2).sum()))
    return spread / mean


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Return the smallest value at which the cumulative weight share reaches ``q`` (no interpolation).

    Parameters
    ----------
    values
        Values (e.g. distances in metres); ``nan`` entries are ignored.
    weights
        Non-negative weights (e.g. pupils).
    q
        Quantile in ``[0, 1]``.

    Returns
    -------
    float
        The quantile, or ``nan`` when no positive weight remains.
    """
    x = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    keep = np.isfinite(x) & (w > 0)
    if not keep.any():
        return math.nan
    order = np.argsort(x[keep], kind="stable")
    xs, ws = x[keep][order], w[keep][order]
    share = np.cumsum(ws) / ws.sum()
    return float(xs[np.searchsorted(share, q - 1e-12)])


def walk_stats(distances: np.ndarray, pupils: np.ndarray, radius_m: float) -> dict[str, float]:
    """Return pupil-weighted walk statistics: ``walk_mean_m``, ``walk_p95_m``, ``share_within_radius``.

    Parameters
    ----------
    distances
        Walking distance of each unit to its school, metres (``nan`` = unknown, ignored).
    pupils
        Pupils of each unit.
    radius_m
        The soft service radius, metres.

    Returns
    -------
    dict
        Mean and 95th percentile in metres, and the share (0–1) of pupils within ``radius_m``; ``nan``
        without pupils.
    """
    d = np.asarray(distances, dtype=float)
    w = np.asarray(pupils, dtype=float)
    keep = np.isfinite(d) & (w > 0)
    if not keep.any():
        return {"walk_mean_m": math.nan, "walk_p95_m": math.nan, "share_within_radius": math.nan}
    total = w[keep].sum()
    return {
        "walk_mean_m": float((d[keep] * w[keep]).sum() / total),
        "walk_p95_m": weighted_quantile(d, w, 0.95),
        "share_within_radius": float(w[keep][d[keep] <= radius_m].sum() / total),
    }


def classes_over(pupils: int, classes: int, threshold: int) -> int:
    """Return how many of ``classes`` hold ``threshold`` or more pupils when ``pupils`` are spread evenly.

    Parameters
    ----------
    pupils
        Whole pupils ``n`` (≥ 0).
    classes
        Classes ``k`` (> 0 when ``n > 0``).
    threshold
        Class size that counts (56 for large, 66 for super-large).

    Returns
    -------
    int
        ``k`` when ``⌊n/k⌋ ≥ threshold``; ``n mod k`` when only the ``⌊n/k⌋ + 1`` classes reach it; else 0.

    Examples
    --------
    >>> classes_over(570, 10, 56), classes_over(565, 10, 57), classes_over(450, 10, 56)
    (10, 5, 0)
    """
    if pupils <= 0 or classes <= 0:
        return 0
    base, extra = divmod(int(pupils), int(classes))
    if base >= threshold:
        return int(classes)
    if base + 1 >= threshold:
        return int(extra)
    return 0
