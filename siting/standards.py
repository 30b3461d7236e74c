"""Planning standards: the policy parameters every stage reads, with their defaults and sources.

The defaults are Foshan's (see ``Standards.foshan``); a scenario overrides any of them by its dotted name,
for example ``class_size.primary: 40``. Every run records the values it used (``Standards.to_dict``).

Levels are ``"primary"`` and ``"junior"`` (junior middle). School kinds are ``primary``, ``junior``,
``nine_year`` and ``twelve_year``; :data:`LEVELS_SERVED` says which levels each kind serves.

The resource indicators of the difference coefficient are the national seven of :data:`INDICATORS`; what
a new school or an added class brings of each is ``Standards.new_school_resources``.
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
class Indicator:
    """One of the national resource indicators whose difference coefficient is assessed.

    Attributes
    ----------
    key
        Name used in tables and in the scenario's ``indicators`` mapping (e.g. ``"sports_area"``).
    label_zh, label_en
        The indicator's name in 教督〔2017〕6号 and in English.
    unit
        How its per-pupil value is reported, e.g. ``"m² per pupil"`` or ``"teachers per 100 pupils"``.
    scale
        1 for a value per pupil, 100 for a value per 100 pupils (the CV does not depend on it).
    minimum
        The school-level floor of 优质均衡 per level, in ``unit``.
    new_per
        What a new school's or added class's amount is counted per: ``"pupil"`` (areas, equipment; times
        the added seats) or ``"class"`` (teachers and rooms; times the added classes). The amounts are
        ``Standards.new_school_resources``.
    column
        The schools-file column read for it when the scenario declares no ``indicators`` mapping.
    source
        Where the indicator and its minimum come from.
    """

    key: str
    label_zh: str
    label_en: str
    unit: str
    scale: float
    minimum: Mapping[str, float]
    new_per: str
    column: str
    source: str


_SOURCE_2017 = "教督〔2017〕6号《县域义务教育优质均衡发展督导评估办法》 resource indicator; minimum ({grade})"

INDICATORS: Mapping[str, Indicator] = MappingProxyType(
    {
        ind.key: ind
        for ind in (
            Indicator(
                "qualified_teachers",
                "每百名学生拥有高于规定学历教师数",
                "teachers above the required qualification",
                "teachers per 100 pupils",
                100.0,
                _per_level(4.2, 5.3),
                "class",
                "qualified_teachers",
                _SOURCE_2017.format(grade="V"),
            ),
            Indicator(
                "backbone_teachers",
                "每百名学生拥有县级以上骨干教师数",
                "district-level-or-higher backbone teachers",
                "teachers per 100 pupils",
                100.0,
                _per_level(1.0, 1.0),
                "class",
                "backbone_teachers",
                _SOURCE_2017.format(grade="V"),
            ),
            Indicator(
                "pe_arts_teachers",
                "每百名学生拥有体育、艺术（美术、音乐）专任教师数",
                "PE and art teachers (fine art and music)",
                "teachers per 100 pupils",
                100.0,
                _per_level(0.9, 0.9),
                "class",
                "pe_arts_teachers",
                _SOURCE_2017.format(grade="S"),
            ),
            Indicator(
                "teaching_aux_area",
                "生均教学及辅助用房面积",
                "teaching and auxiliary floor area",
                "m² per pupil",
                1.0,
                _per_level(4.5, 5.8),
                "pupil",
                "floor_area_m2",
                _SOURCE_2017.format(grade="S"),
            ),
            Indicator(
                "sports_area",
                "生均体育运动场馆面积",
                "sports ground and hall area",
                "m² per pupil",
                1.0,
                _per_level(7.5, 10.2),
                "pupil",
                "sports_area_m2",
                _SOURCE_2017.format(grade="S"),
            ),
            Indicator(
                "equipment_value",
                "生均教学仪器设备值",
                "teaching equipment value",
                "yuan per pupil",
                1.0,
                _per_level(2000.0, 2500.0),
                "pupil",
                "equipment_value_yuan",
                _SOURCE_2017.format(grade="S"),
            ),
            Indicator(
                "multimedia_rooms",
                "每百名学生拥有网络多媒体教室数",
                "networked multimedia classrooms",
                "rooms per 100 pupils",
                100.0,
                _per_level(2.3, 2.4),
                "class",
                "multimedia_rooms",
                _SOURCE_2017.format(grade="S"),
            ),
        )
    }
)
"""The seven resource indicators of 优质均衡 (教督〔2017〕6号), keyed by :attr:`Indicator.key`.

Each must reach its ``minimum`` in every school (a school passes with six of seven met and the seventh at
85 % or more), and the pupil-weighted difference coefficient of each across a county's schools must stay
within ``Standards.cv_max``. Only columns a scenario maps to these keys (or, without a mapping, the
:attr:`Indicator.column` names) are indicators; no other column of a schools file ever is.
"""

DEFAULT_INDICATOR_COLUMNS: Mapping[str, str] = MappingProxyType(
    {ind.column: ind.key for ind in INDICATORS.values()}
)
"""Schools-file column → indicator key used when a scenario declares no ``indicators`` mapping.

The names are those of the bundled sample's schools file (``floor_area_m2`` holds its teaching and
auxiliary floor area) and, for the three indicators the sample does not carry, the indicator keys.
"""


def _new_resources() -> Mapping[str, Mapping[str, float]]:
    """Default resources a new school or an added class brings, per indicator and level.

    Per-pupil indicators: the 优质均衡 minimum per seat. Teachers and rooms: the minimum per 100 pupils at
    the standard class size (45 primary, 50 junior), i.e. per class. See :data:`NEW_SCHOOL_SOURCES`.
    """
    class_size = {"primary": 45, "junior": 50}
    out = {}
    for key, ind in INDICATORS.items():
        per = {lv: class_size[lv] if ind.new_per == "class" else 1 for lv in LEVELS}
        out[key] = _frozen({lv: round(ind.minimum[lv] / ind.scale * per[lv], 6) for lv in LEVELS})
    return _frozen(out)


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
    utilisation_floor: float = 0.6
    stage_split_weights: Mapping[str, float] = field(
        default_factory=lambda: _frozen({"primary": 1.0, "junior": 1.1, "senior": 1.32})
    )
    nearby_enrollment_share: Mapping[str, float] = field(default_factory=lambda: _per_level(1.00, 0.95))
    new_school_resources: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: _new_resources())

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
            Either dotted names (``{"class_size.primary": 40}``,
            ``{"new_school_resources.sports_area.primary": 8.0}``) or nested mappings
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
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for dotted, value in _flatten(overrides).items():
            name, _, sub = dotted.partition(".")
            if name not in current:
                known = ", ".join(sorted(current))
                raise InputError(
                    f"standards: unknown parameter {name!r} (in {dotted!r}). Known parameters: {known}."
                )
            current[name] = _replaced(current[name], name, sub.split(".") if sub else [], value, dotted)
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
        for key, per_level in self.new_school_resources.items():
            for level, amount in per_level.items():
                if not amount >= 0:
                    raise InputError(
                        f"standards: new_school_resources.{key}.{level} must be >= 0, got {amount!r}."
                    )

    def to_dict(self) -> dict[str, Any]:
        """Return the values as plain JSON-ready data (for the run summary and cache keys)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = {k: _plain(v) for k, v in value.items()}
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


def _plain(value: Any) -> Any:
    """Return a per-level value as JSON-ready data (tuples as lists, mappings as dicts)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def _flatten(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return nested scenario overrides as dotted names: ``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _replaced(old: Any, name: str, path: list[str], value: Any, dotted: str) -> Any:
    """Return ``old`` with the entry at ``path`` replaced by ``value`` (coerced to the old entry's type).

    Parameters
    ----------
    old
        The current value of parameter ``name`` (a single value or a read-only mapping, maybe nested).
    name
        The parameter's name, for messages.
    path
        Keys below ``name`` (``["primary"]`` in ``class_size.primary``); empty for a single value.
    value
        The scenario's value.
    dotted
        The full dotted name, for messages.
    """
    if not isinstance(old, Mapping):
        if path:
            raise InputError(f"standards: {name!r} is a single value, not per level (in {dotted!r}).")
        return _coerce(dotted, old, value)
    if not path:
        example = f"{name}.{next(iter(old))}"
        raise InputError(
            f"standards: {name!r} has entries {sorted(old)}; write e.g. '{example}: …' "
            f"or a mapping, not {describe(value)}."
        )
    head, rest = path[0], path[1:]
    if head not in old:
        raise InputError(f"standards: {name!r} has no entry {head!r}; entries are {sorted(old)}.")
    new = dict(old)
    new[head] = _replaced(old[head], f"{name}.{head}", rest, value, dotted)
    return _frozen(new)


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
        "utilisation_floor": "siting's planning default (D): a school kept at ≥ 60 % of its seats where "
        "pupils within reach allow keeps per-pupil resources within about 1.7 x of a full school's, which "
        "the CV limits 0.50 / 0.45 tolerate; not a published standard: set locally",
        "stage_split_weights": "local 均衡 practice, primary:junior:senior 1:1.1:1.32 (S)",
        "nearby_enrollment_share": "2017 measures (M)",
        "new_school_resources": "per indicator: see NEW_SCHOOL_SOURCES (S/D)",
    }
)
"""Where each default comes from (grades as in ``shared/standards.md``: V, S, M, D)."""

_NEW_PER_PUPIL = (
    "教督〔2017〕6号 minimum per pupil, times the added seats: new, rebuilt and expanded schools must meet "
    "the per-pupil standards (Foshan action plan draft), and none of the standards found gives a new "
    "building's {what}, so the minimum is the default (S/D). Override: new_school_resources.{key}.<level>."
)
_NEW_PER_CLASS = (
    "no standard found sets the {what} of a new school or an added class; default: the 教督〔2017〕6号 "
    "minimum per 100 pupils at the standard class size (45 / 50), i.e. minimum × class size / 100 per added "
    "class (D). Override: new_school_resources.{key}.<level>."
)
_WHAT = {
    "qualified_teachers": "teachers above the required qualification",
    "backbone_teachers": "backbone teachers (a new school's come by rotation)",
    "pe_arts_teachers": "PE and art teachers",
    "teaching_aux_area": "teaching and auxiliary floor area",
    "sports_area": "sports area",
    "equipment_value": "equipment value",
    "multimedia_rooms": "multimedia classrooms",
}
NEW_SCHOOL_SOURCES: Mapping[str, str] = MappingProxyType(
    {
        key: (_NEW_PER_CLASS if ind.new_per == "class" else _NEW_PER_PUPIL).format(what=_WHAT[key], key=key)
        for key, ind in INDICATORS.items()
    }
)
"""Where each default of ``Standards.new_school_resources`` comes from, per indicator."""
