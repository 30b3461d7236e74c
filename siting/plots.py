"""Trade-off plots for scenario sweeps (matplotlib); they read comparison tables and change nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from siting.errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def tradeoff_plot(
    table: pd.DataFrame,
    *,
    x: str,
    y: str,
    label: str | None = None,
    ax: Axes | None = None,
    annotate: bool = True,
) -> Axes:
    """Plot one key figure against another across scenarios (e.g. mean walk vs number of new schools).

    Parameters
    ----------
    table
        From :func:`siting.pipeline.compare_scenarios` or :func:`siting.pipeline.sweep` (one row per
        scenario).
    x, y
        Column names to plot.
    label
        Column whose values label the points (default: the index, i.e. the scenario name).
    ax
        Axes to draw on (a new figure when absent).
    annotate
        Write each point's label beside it.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    import matplotlib.pyplot as plt

    for column in (x, y) + ((label,) if label else ()):
        if column not in table.columns:
            raise InputError(f"no column {column!r} to plot; columns are {list(table.columns)}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    data = table.sort_values(x)
    ax.plot(data[x], data[y], marker="o", color="#0072B2")
    if annotate:
        names = data[label] if label else data.index.to_series()
        for xv, yv, name in zip(data[x], data[y], names, strict=True):
            ax.annotate(str(name), (xv, yv), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    ax.grid(True, alpha=0.3)
    return ax
