"""Seat demand per level: from residents (seats per 1,000) or from age/sex band rasters."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np

from siting._log import get_logger
from siting.demand._columns import _require_population, _scale_years, _year_columns
from siting.demand.area import PathLike
from siting.demand.units import _residents_on_units
from siting.errors import InputError, describe
from siting.standards import LEVELS, Standards

log = get_logger(__name__)


DEFAULT_AGES: Mapping[str, tuple[int, int]] = {"primary": (6, 11), "junior": (12, 14)}
"""Ages (first, last, inclusive) of each level: primary grades 1–6 at 6–11, junior grades 7–9 at 12–14."""


def _seat_rates(standards: Standards, seats_per_1000: Mapping[str, float] | None) -> dict[str, float]:
    rates = {level: float(standards.seats_per_1000[level]) for level in LEVELS}
    for level, value in (seats_per_1000 or {}).items():
        if level not in LEVELS:
            raise InputError(f"seats_per_1000: unknown level {level!r}; levels are {list(LEVELS)}.")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"seats_per_1000.{level} must be a number, got {describe(value)}.") from None
        if not (math.isfinite(value) and value >= 0):
            raise InputError(f"seats_per_1000.{level} must be >= 0 seats per 1,000 residents, got {value}.")
        rates[level] = value
    return rates


def add_seat_demand(
    units: gpd.GeoDataFrame,
    standards: Standards,
    *,
    seats_per_1000: Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """Add seat demand per level from residents: ``population × seats_per_1000[level] / 1000``.

    Parameters
    ----------
    units
        Demand units with ``population`` (and optionally ``population_<year>`` columns).
    standards
        Policy values; ``standards.seats_per_1000`` (80 primary, 40 junior in Foshan) is used.
    seats_per_1000
        Optional override per level (seats per 1,000 residents).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``primary``, ``junior`` (seats) and ``primary_<year>``, ``junior_<year>`` for each
        ``population_<year>`` column.
    """
    _require_population(units, "add_seat_demand")
    rates = _seat_rates(standards, seats_per_1000)
    out = units.copy()
    for level in LEVELS:
        out[level] = out["population"].astype("float64") * rates[level] / 1000.0
        for year in _year_columns(out):
            out[f"{level}_{year}"] = out[f"population_{year}"].astype("float64") * rates[level] / 1000.0
    return out


_WORLDPOP_AGE = re.compile(r"_(?:f|m|t)_(\d{1,2})_(?:\d{4})", re.IGNORECASE)


def _band_ages(name: str) -> tuple[int, int] | None:
    """Ages (first, last) of a WorldPop age/sex band file such as ``chn_f_5_2020.tif`` (5–9)."""
    m = _WORLDPOP_AGE.search(name)
    if not m:
        return None
    start = int(m.group(1))
    if start == 0:
        return 0, 0
    if start == 1:
        return 1, 4
    if start >= 80:
        return start, 99
    return start, start + 4


def _band_fraction(path: Path, ages: tuple[int, int]) -> float:
    band_ages = _band_ages(path.name)
    if band_ages is None:
        raise InputError(
            f"{path}: cannot read the age band from the file name (WorldPop style is "
            "'<iso>_<f|m>_<age>_<year>.tif'); give the fraction explicitly as (path, fraction)."
        )
    lo, hi = band_ages
    overlap = max(0, min(hi, ages[1]) - max(lo, ages[0]) + 1)
    return overlap / (hi - lo + 1)


def seat_demand_from_age_bands(
    units: gpd.GeoDataFrame,
    bands: Mapping[str, Sequence[PathLike | tuple[PathLike, float]]],
    *,
    ages: Mapping[str, tuple[int, int]] | None = None,
    band: int | None = None,
    enrolment: Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """Set seat demand per level from age/sex band rasters (e.g. WorldPop ``chn_f_5_2020.tif``).

    Each level's seats are ``enrolment[level] × Σ fraction × residents of the band raster`` allocated to the
    units by exact area weighting. A plain path's fraction is the share of the band's ages that fall in
    the level's ages, assuming ages are spread evenly inside a band: with the default ages (primary 6–11,
    junior 12–14) the 5–9 band counts 0.8 (ages 6–9) and the 10–14 band 0.4 (10–11) towards primary, and
    the 10–14 band 0.6 (12–14) towards junior. Give ``(path, fraction)`` to set a fraction yourself.

    Parameters
    ----------
    units
        Demand units (any polygons, including grid units) with ``population``.
    bands
        Per level, the band rasters to sum: ``{"primary": [f_5, m_5, f_10, m_10], ...}``.
    ages
        Ages (first, last, inclusive) per level; default :data:`DEFAULT_AGES`.
    band
        Band to read in multi-band files.
    enrolment
        Share of the age group enrolled in public compulsory schools per level (default 1.0).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``primary`` and ``junior`` (seats); ``<level>_<year>`` columns are scaled with
        ``population_<year> / population`` when present.
    """
    _require_population(units, "seat_demand_from_age_bands")
    ages = dict(DEFAULT_AGES if ages is None else ages)
    unknown = set(bands) - set(LEVELS)
    if unknown:
        raise InputError(f"bands: unknown level(s) {sorted(unknown)}; levels are {list(LEVELS)}.")
    out = units.copy()
    for level, files in bands.items():
        if level not in ages:
            raise InputError(
                f"ages: no age range for level {level!r}; give ages={{'{level}': (first, last)}}."
            )
        if not files:
            raise InputError(f"bands: no raster given for level {level!r}.")
        seats = np.zeros(len(out))
        for item in files:
            if isinstance(item, tuple):
                path, fraction = Path(item[0]), float(item[1])
            else:
                path = Path(item)
                fraction = _band_fraction(path, ages[level])
            if not 0 < fraction <= 1:
                raise InputError(
                    f"{path}: the band's fraction for {level} (ages {ages[level]}) is {fraction:g}; "
                    "it must be in (0, 1]. Remove the file from this level or give (path, fraction)."
                )
            log.info("%s: %s × %.3g", level, path.name, fraction)
            seats += fraction * _residents_on_units(path, out, band=band)
        out[level] = seats * float((enrolment or {}).get(level, 1.0))
        _scale_years(out, level)
    return out
