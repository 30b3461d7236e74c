"""The sizes a new school can have and the schools a number of pupils needs (class modules, land)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from siting.errors import InputError
from siting.facilities import land_needed, size_options
from siting.search_areas._checks import EPS as _EPS
from siting.standards import Standards


def module_options(kind: str, standards: Standards, *, central: bool) -> pd.DataFrame:
    """Return the sizes a new school of ``kind`` can have (a parcel of unlimited area), smallest first."""
    parcel = pd.DataFrame(
        {"level": [kind], "status": ["site"], "area_m2": [math.inf], "central": [central]}, index=["(new)"]
    )
    table = size_options(parcel, standards, allow_expansion=False)
    if table.empty:
        raise InputError(
            f"standards: no {kind} class module fits the new-school cap of {standards.school_cap_for(kind)} "
            "pupils; lower a module in class_modules or raise school_cap."
        )
    table["land_m2"] = [
        land_needed(p, j, standards, central=central)
        for p, j in zip(table["capacity_primary"], table["capacity_junior"], strict=True)
    ]
    return table.sort_values(["land_m2", "capacity_primary"], ignore_index=True)


def school_for(pupils: float, level: str, table: pd.DataFrame) -> tuple[int, int, int, float]:
    """Return ``(classes, seats, n_schools, land_m2)`` of each new school ``pupils`` need.

    ``table`` lists the modules (:func:`_module_options`). ``n_schools`` schools of the largest module hold
    the pupils; each then gets the smallest module that holds an equal share.
    """
    seats = table[f"capacity_{level}"].to_numpy(dtype=float)
    n_schools = max(1, math.ceil(pupils / seats.max() - _EPS))
    share = pupils / n_schools
    row = table.iloc[int(np.flatnonzero(seats >= share - _EPS)[0])]
    return int(row[f"classes_{level}"]), int(row[f"capacity_{level}"]), n_schools, float(row["land_m2"])
