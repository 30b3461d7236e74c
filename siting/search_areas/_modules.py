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


def school_for(
    pupils: float, level: str, table: pd.DataFrame, *, class_size: int, floor: float
) -> tuple[str, int, int, int, float]:
    """Return ``(need, classes, seats, n_schools, land_m2)``: what ``pupils`` above capacity need.

    A new school only where its pupils would fill ``floor`` (the utilisation floor, a share) of the
    smallest module (:func:`module_options` lists them in ``table``): then ``need = "new school"``,
    ``n_schools`` schools of the largest module hold the pupils and each gets the smallest module that holds
    an equal share; classes, seats and land are per school. Fewer pupils would leave a new school emptier
    than the floor the model itself keeps schools above, so ``need = "classes"``: that many classes of
    ``class_size`` at or near the schools they overflow, ``n_schools`` 0 and no land for a new school.
    """
    seats = table[f"capacity_{level}"].to_numpy(dtype=float)
    if pupils < floor * float(seats[seats > 0].min()) - _EPS:
        classes = max(1, math.ceil(pupils / class_size - _EPS))
        return "classes", classes, classes * class_size, 0, 0.0
    n_schools = max(1, math.ceil(pupils / seats.max() - _EPS))
    share = pupils / n_schools
    row = table.iloc[int(np.flatnonzero(seats >= share - _EPS)[0])]
    classes, cap = int(row[f"classes_{level}"]), int(row[f"capacity_{level}"])
    return "new school", classes, cap, n_schools, float(row["land_m2"])
