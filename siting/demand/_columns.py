"""Column conventions of demand units: ``population``, ``population_<year>`` and ``<level>_<year>``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from siting.errors import InputError


def _year_columns(units: pd.DataFrame, prefix: str = "population") -> list[int]:
    pattern = re.compile(rf"^{prefix}_(\d{{4}})$")
    return sorted(int(m.group(1)) for c in units.columns if (m := pattern.match(str(c))))


def _require_population(units: pd.DataFrame, what: str) -> None:
    if "population" not in units.columns:
        raise InputError(f"{what}: units have no 'population' column; build them with units_from_raster.")


def _scale_years(units: pd.DataFrame, level: str) -> None:
    pop = units["population"].to_numpy(dtype="float64")
    for year in _year_columns(units):
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(pop > 0, units[f"population_{year}"].to_numpy(dtype="float64") / pop, 0.0)
        units[f"{level}_{year}"] = units[level].to_numpy(dtype="float64") * factor
