"""Planning standards: the policy parameters every stage reads, with their defaults and sources.

The defaults are Foshan's (see ``Standards.foshan``); a scenario overrides any of them by its dotted name,
for example ``class_size.primary: 40``. Every run records the values it used (``Standards.to_dict``).

Levels are ``"primary"`` and ``"junior"`` (junior middle). School kinds are ``primary``, ``junior``,
``nine_year`` and ``twelve_year``; :data:`LEVELS_SERVED` says which levels each kind serves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from siting.errors import InputError, describe

LEVELS: tuple[str, ...] = ("primary", "junior")
"""The compulsory-education levels planned for, in order."""

SCHOOL_KINDS: tuple[str, ...] = ("primary", "junior", "nine_year", "twelve_year")
"""Allowed values of a school's ``level`` column."""

LEVELS_SERVED: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "primary": ("primary",),
        "junior": ("junior",),
        "nine_year": ("primary", "junior"),
        "twelve_year": ("primary", "junior"),
    }
)
"""Levels each school kind serves; nine- and twelve-year schools serve both from their own capacities."""


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


def _per_level(primary: Any, junior: Any) -> Mapping[str, Any]:
    return _frozen({"primary": primary, "junior": junior})


@dataclass(frozen=True)
class Standards:
    """Policy parameters, in metres, seconds, pupils, seats, square metres and yuan.

    Per-level values are read-only mappings keyed by ``"primary"`` and ``"junior"``. Build the defaults with
    :meth:`foshan`, change them with :meth:`with_overrides`. Sources are in :data:`SOURCES`.
    """

    class_size: Mapping[str, int] = field(default_factory=lambda: _per_level(45, 50))
    large_class_min: int = 56
    super_large_min: int = 66
    school_cap: Mapping[str, int] = field(
        default_factory=lambda: _frozen(
            {"primary": 2000, "junior": 2000, "nine_year": 2500, "twelve_year": 2500}
        )
    )
    class_modules: Mapping[str, tuple[int, ...]] = field(
        default_factory=lambda: _per_level((24, 30, 36, 42), (18, 24, 30, 36))
    )
    nine_year_modules: tuple[tuple[int, int], ...] = ((24, 12), (30, 18), (36, 15))
    seats_per_1000: Mapping[str, float] = field(default_factory=lambda: _per_level(80.0, 40.0))
    service_radius_m: Mapping[str, float] = field(default_factory=lambda: _per_level(500.0, 1000.0))
    hard_max_distance_m: Mapping[str, float] = field(default_factory=lambda: _per_level(1500.0, 3000.0))
    walking_speed_mps: float = 1.0
    land_per_pupil_m2: Mapping[str, float] = field(default_factory=lambda: _per_level(18.0, 23.0))
    land_per_pupil_central_m2: Mapping[str, float] = field(default_factory=lambda: _per_level(9.4, 10.1))
    floor_per_pupil_m2: Mapping[str, float] = field(default_factory=lambda: _per_level(8.6, 10.2))
    build_cost_per_m2: float = 4500.0
    new_floor_subsidy_per_m2: float = 200.0
    cv_max: Mapping[str, float] = field(default_factory=lambda: _per_level(0.50, 0.45))
    stage_split_weights: Mapping[str, float] = field(
        default_factory=lambda: _frozen({"primary": 1.0, "junior": 1.1, "senior": 1.32})
    )
    nearby_enrollment_share: Mapping[str, float] = field(default_factory=lambda: _per_level(1.00, 0.95))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def foshan(cls) -> Standards:
        """Return Foshan's defaults (see ``shared/standards.md`` and :data:`SOURCES`)."""
        return cls()

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Standards:
        """Return a copy with some values changed.

        Parameters
        ----------
        overrides
            Either dotted names (``{"class_size.primary": 40}``) or nested mappings
            (``{"class_size": {"primary": 40}}``), as written in a scenario file.

        Returns
        -------
        Standards
            A new, validated object; ``self`` is unchanged.

        Raises
        ------
        InputError
            For an unknown name, a wrong type or an impossible value, naming the key and the value.
        """
        if not overrides:
            return self
        flat: dict[str, Any] = {}
        for key, value in overrides.items():
            if isinstance(value, Mapping):
                for sub, subvalue in value.items():
                    flat[f"{key}.{sub}"] = subvalue
            else:
                flat[str(key)] = value
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for dotted, value in flat.items():
            name, _, sub = dotted.partition(".")
            if name not in current:
                known = ", ".join(sorted(current))
                raise InputError(
                    f"standards: unknown parameter {name!r} (in {dotted!r}). Known parameters: {known}."
                )
            old = current[name]
            if isinstance(old, Mapping):
                if not sub:
                    raise InputError(
                        f"standards: {name!r} is per level; write e.g. '{name}.primary: …' "
                        f"or a mapping, not {describe(value)}."
                    )
                if sub not in old:
                    raise InputError(f"standards: {name!r} has no entry {sub!r}; entries are {sorted(old)}.")
                new = dict(old)
                new[sub] = _coerce(dotted, old[sub], value)
                current[name] = _frozen(new)
            else:
                if sub:
                    raise InputError(f"standards: {name!r} is a single value, not per level.")
                current[name] = _coerce(dotted, old, value)
        result = Standards(**current)
        result.validate()
        return result

    # ------------------------------------------------------------------ checks and helpers
    def validate(self) -> None:
        """Raise :class:`InputError` when a value is impossible (non-positive size, radius above limit...)."""
        for level in LEVELS:
            if self.class_size[level] <= 0:
                raise InputError(f"standards: class_size.{level} must be > 0, got {self.class_size[level]}.")
            if self.service_radius_m[level] <= 0 or self.hard_max_distance_m[level] <= 0:
                raise InputError(f"standards: distances for {level} must be > 0 metres.")
            if self.service_radius_m[level] > self.hard_max_distance_m[level]:
                raise InputError(
                    f"standards: service_radius_m.{level} = {self.service_radius_m[level]} m is beyond "
                    f"hard_max_distance_m.{level} = {self.hard_max_distance_m[level]} m; "
                    "the soft radius must lie within the hard limit."
                )
            if self.seats_per_1000[level] < 0:
                raise InputError(f"standards: seats_per_1000.{level} must be >= 0.")
            if not self.class_modules[level] or min(self.class_modules[level]) <= 0:
                raise InputError(f"standards: class_modules.{level} must list positive class counts.")
        if self.walking_speed_mps <= 0:
            raise InputError(f"standards: walking_speed_mps must be > 0, got {self.walking_speed_mps}.")
        if not 0 < self.large_class_min <= self.super_large_min:
            raise InputError("standards: need 0 < large_class_min <= super_large_min.")

    def to_dict(self) -> dict[str, Any]:
        """Return the values as plain JSON-ready data (for the run summary and cache keys)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    def fingerprint(self) -> str:
        """Return a short stable hash of the values (part of cache keys)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def school_cap_for(self, kind: str) -> int:
        """Return the pupil cap of a new school of ``kind`` (primary, junior, nine_year, twelve_year)."""
        return int(self.school_cap[kind])


def _coerce(key: str, old: Any, value: Any) -> Any:
    """Coerce a scenario value to the type of the default it replaces, or raise naming the key."""
    try:
        if isinstance(old, bool):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(old, int):
            if isinstance(value, bool) or float(value) != int(value):
                raise TypeError
            return int(value)
        if isinstance(old, float):
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if isinstance(old, tuple):
            return tuple(tuple(v) if isinstance(v, list | tuple) else _num(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(
            f"standards: {key} must be a {type(old).__name__} like {old!r}, got {describe(value)}."
        ) from None
    return value


def _num(value: Any) -> int:
    if isinstance(value, bool) or float(value) != int(value):
        raise TypeError
    return int(value)


SOURCES: Mapping[str, str] = MappingProxyType(
    {
        "class_size": "GB 50099-2011 §3.0.1; 建标102-2002 §6 (V)",
        "large_class_min": "MOE definition of 大班额 (56+); 国发〔2016〕40号 (S)",
        "super_large_min": "MOE definition of 超大班额 (66+) (S)",
        "school_cap": "教督〔2017〕6号 (S); Foshan action plan draft: 2,000 / 2,500 pupils",
        "class_modules": "建标102 series (V), extended to the 2,000 cap (D)",
        "nine_year_modules": "2,500 cap for nine-year schools (D)",
        "seats_per_1000": "Foshan action plan draft; Guangzhou 2022 (V)",
        "service_radius_m": "GB 50180-93 Appendix A; Guangzhou 2022 (V)",
        "hard_max_distance_m": "derived feasibility cut (D); tune locally",
        "walking_speed_mps": "derived from radius/time pairs, 60 m/min (D)",
        "land_per_pupil_m2": "广东省义务教育标准化学校标准 第三条 (V)",
        "land_per_pupil_central_m2": "same, central (禅城-type) areas (V)",
        "floor_per_pupil_m2": "建标102-2002 Table 4-1, mid-range (V/D)",
        "build_cost_per_m2": "common practice for Guangdong school construction (M): set locally",
        "new_floor_subsidy_per_m2": "Foshan action plan draft: 200 yuan/m² city subsidy (seed only)",
        "cv_max": "教督〔2017〕6号 优质均衡, per indicator, pupil-weighted (S)",
        "stage_split_weights": "local 均衡 practice, primary:junior:senior 1:1.1:1.32 (S)",
        "nearby_enrollment_share": "2017 measures (M)",
    }
)
"""Where each default comes from (grades as in ``shared/standards.md``: V, S, M, D)."""
