r"""The utilisation floor: a priced term that keeps schools from being emptied (balanced development).

The national assessment of balanced compulsory education reads the pupil-weighted coefficient of variation
of per-pupil resources across a district's schools. A plan that fills some schools to the brim and leaves
others lightly used raises it, although no school's resources changed. The model therefore charges a price
per pupil that a school-level holds below a floor: a share :math:`\phi_{jl}` of its seats after the plan.
The part of today's seats is capped at the pupils who live within the school's reach (an existing school
cannot be filled with pupils who have no arc to it, and the plan cannot change that); the part of the
seats an option adds is not: a new school, or an expansion, is charged for every seat of the floor it
would leave empty, so options are opened at the sizes they fill.

With :math:`u_{jl} \ge 0` the pupils below the floor and :math:`R_{jl}` the demand within reach, the row is

.. math::

    \sum_{a \to (j,l)} d_a x_a + u_{jl} - \sum_{o \in j} \phi_{jl} q_{ol} z_o \ \ge\ F_{jl},
    \qquad F_{jl} = \min(\phi_{jl} Q_{jl},\, R_{jl})

and :math:`\beta\, u_{jl}` joins the objective. The term is soft: a school that cannot be filled costs
:math:`\beta` per missing pupil and the plan stays feasible.

:func:`underuse_arrays` checks the inputs and returns the arrays the program and the local search read;
:func:`plan_floor` gives the floors with some options open; :func:`pupils_within_reach` the reach the
floor (and the minimum loads) are capped at.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from siting.errors import InputError


def underuse_arrays(
    underuse_penalty: float | None,
    utilisation_floor: float | pd.DataFrame | None,
    base: np.ndarray,
    opt: dict[str, Any],
    arc: dict[str, np.ndarray],
    f_pos: pd.Index,
    levels: list[Any],
) -> dict[str, Any]:
    """Return the utilisation floor's arrays (see the module's formulation).

    Parameters
    ----------
    underuse_penalty
        Cost per pupil below the floor (objective units); None or 0 switches the term off.
    utilisation_floor
        The floor's share of seats: one number for every school-level, or a table indexed by ``school_id``
        with one column per level (missing: no floor). Shares lie in [0, 1].
    base
        Base capacity, facility × level (pupils).
    opt
        The option arrays (``o_f``, ``o_cap``).
    arc
        The arc arrays (``a_k``, ``a_f``, ``k_l``, ``k_d``).
    f_pos, levels
        Facility ids and levels, in the order of ``base``.

    Returns
    -------
    dict
        ``under_price`` (float, 0 when off), ``under_fl`` (the floor columns' (facility, level) numbers
        ``facility * n_levels + level``), ``under0`` (facility × level: floor with no option open, pupils)
        and ``o_under`` (option × level: pupils an opened option adds to the floor, ``share × seats``).

    Raises
    ------
    InputError
        For a negative or non-finite penalty, a share outside [0, 1] or unknown school ids.
    """
    n_f, n_l = base.shape
    o_f, o_cap = opt["o_f"], opt["o_cap"]
    off = {
        "under_price": 0.0,
        "under_fl": np.zeros(0, dtype=np.int64),
        "under0": np.zeros_like(base, dtype=float),
        "o_under": np.zeros_like(o_cap, dtype=float),
    }
    if underuse_penalty is not None and not (underuse_penalty >= 0 and math.isfinite(underuse_penalty)):
        raise InputError(
            f"underuse_penalty must be a finite number >= 0 or None (no utilisation floor), got "
            f"{underuse_penalty!r}."
        )
    if not underuse_penalty or utilisation_floor is None:
        return off
    share = _shares(utilisation_floor, f_pos, levels)
    reach = pupils_within_reach({**arc, "base": base})
    fl = arc["a_f"] * n_l + arc["k_l"][arc["a_k"]]
    under0 = np.minimum(share * base, reach)
    o_under = share[o_f] * o_cap if len(o_f) else off["o_under"]
    has = under0 > 1e-9
    if len(o_f):
        np.logical_or.at(has, o_f, o_under > 1e-9)
    used = np.zeros(n_f * n_l, dtype=bool)
    used[fl] = True
    return {
        "under_price": float(underuse_penalty),
        "under_fl": np.flatnonzero(has.reshape(-1) & used),
        "under0": under0,
        "o_under": o_under,
    }


def pupils_within_reach(d: dict[str, Any], demand: np.ndarray | None = None) -> np.ndarray:
    """Return the pupils with an arc to each facility and level (facility × level, like ``d["base"]``).

    ``demand`` is one value per pair (default ``d["k_d"]``, the model's demand).
    """
    reach = np.zeros_like(d["base"], dtype=float)
    pairs = d["k_d"] if demand is None else demand
    np.add.at(reach, (d["a_f"], d["k_l"][d["a_k"]]), pairs[d["a_k"]])
    return reach


def _shares(utilisation_floor: float | pd.DataFrame, f_pos: pd.Index, levels: list[Any]) -> np.ndarray:
    """Return the floor share per facility and level from a number or a table (0 where missing)."""
    if isinstance(utilisation_floor, pd.DataFrame):
        unknown = utilisation_floor.index.difference(f_pos)
        if len(unknown) or utilisation_floor.index.has_duplicates:
            raise InputError(
                "utilisation_floor must be indexed by unique, known school_id; unknown: "
                f"{list(unknown[:5])} (add them to the capacity table or drop them)."
            )
        table = utilisation_floor.reindex(index=f_pos, columns=levels)
        share = table.apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy(dtype=float)
    else:
        value = float(utilisation_floor)
        share = np.full((len(f_pos), len(levels)), value)
    if not np.isfinite(share).all() or (share < 0).any() or (share > 1).any():
        bad = share[~(np.isfinite(share) & (share >= 0) & (share <= 1))]
        raise InputError(
            f"utilisation_floor must be a share of seats in [0, 1], got {bad[0]!r}; e.g. 0.6 keeps at "
            "least 60 % of a school's seats filled where pupils within reach allow."
        )
    return share


def plan_floor(d: dict[str, Any], z: np.ndarray) -> np.ndarray:
    """Return the floor per facility and level (pupils) with the options ``z`` (0/1 per option) open."""
    floor = d["under0"].astype(float).copy()
    if len(d["o_f"]):
        for li in range(floor.shape[1]):
            np.add.at(floor[:, li], d["o_f"], z * d["o_under"][:, li])
    return floor


def underuse_of(d: dict[str, Any], load: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Return the pupils below the floor of each floor column (``d["under_fl"]``) at ``load`` (f × l)."""
    fl = d["under_fl"]
    return np.clip(plan_floor(d, z).reshape(-1)[fl] - load.reshape(-1)[fl], 0.0, None)
