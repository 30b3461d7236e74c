"""The machinery of the layer schemas: :class:`Column`, :class:`LayerSchema`, :func:`read_values`.

See :mod:`siting.schema` for what they do; the layers themselves are declared in ``layers.py``.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from siting._log import get_logger
from siting.errors import InputError, describe
from siting.standards import LEVELS, LEVELS_SERVED, SCHOOL_KINDS

log = get_logger(__name__)

SHAPEFILE_NAME_LENGTH = 10
"""Shapefile (dBASE) field names are cut to this many characters."""

Kind = Literal["id", "text", "level", "count", "number", "bool", "year"]

LEVEL_SPELLINGS: Mapping[str, str] = {
    **{k: k for k in SCHOOL_KINDS},
    "小学": "primary",
    "初中": "junior",
    "初级中学": "junior",
    "primary_school": "primary",
    "junior_middle": "junior",
    "junior_middle_school": "junior",
    "nine_year_school": "nine_year",
    "twelve_year_school": "twelve_year",
    "九年一贯制": "nine_year",
    "九年一贯制学校": "nine_year",
    "九年制": "nine_year",
    "十二年一贯制": "twelve_year",
    "十二年一贯制学校": "twelve_year",
}
"""Values accepted in a ``level`` column (after lower-casing, and ``-`` or spaces read as ``_``)."""

_TRUE = {"true", "t", "yes", "y", "1", "是"}
_FALSE = {"false", "f", "no", "n", "0", "否"}


def did_you_mean(word: str, choices: Any, *, cutoff: float = 0.75) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest of ``choices`` to ``word``, or ``""`` if none is close.

    Parameters
    ----------
    word
        What was written.
    choices
        The names it should have been one of.
    cutoff
        Similarity (0–1, :class:`difflib.SequenceMatcher` ratio, case-insensitive) needed to suggest.
    """
    names = [str(c) for c in choices]
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=cutoff)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


def _key(name: object) -> str:
    """How a column name is compared: lower case, spaces and hyphens as underscores."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


@dataclass(frozen=True)
class Column:
    """One declared column of an input layer.

    Attributes
    ----------
    name
        The declared name (what the rest of siting reads).
    kind
        ``id`` and ``text`` (strings), ``level`` (a school kind), ``count`` (whole number ≥ ``minimum``),
        ``number`` (≥ ``minimum``), ``bool``, ``year``.
    doc
        What the column holds, for messages and the README table.
    unit
        Unit of a number (``seats``, ``classes``, ``pupils``, ``m²``, ``yuan``...).
    required
        The column must be present in every layer of this kind.
    empty
        What an empty cell (or an absent column) means: ``"error"``, ``"default"`` (``default`` with a
        warning) or ``"keep"`` (left missing for the reader to derive; ``default_doc`` says how).
    default
        Value of an empty cell when ``empty == "default"``.
    default_doc
        The default in words, as the warning says it (e.g. ``"0 classes (no expansion)"``).
    warn_absent
        Warn when the whole column is absent and its default is used.
    aliases
        Other spellings accepted (compared in lower case), besides the shapefile cut.
    minimum
        Smallest value of a number (``None``: any).
    level
        The level a per-level column is about (``capacity_primary``: ``"primary"``).
    """

    name: str
    kind: Kind
    doc: str
    unit: str = ""
    required: bool = False
    empty: Literal["error", "default", "keep"] = "keep"
    default: Any = None
    default_doc: str = ""
    warn_absent: bool = True
    aliases: tuple[str, ...] = ()
    minimum: float | None = 0
    level: str | None = None

    def spellings(self) -> tuple[str, ...]:
        """Every accepted spelling (compared keys), the declared name first."""
        names = [self.name, *self.aliases, self.name[:SHAPEFILE_NAME_LENGTH]]
        return tuple(dict.fromkeys(_key(n) for n in names))


@dataclass(frozen=True)
class LayerSchema:
    """The declared columns and geometry of one kind of input layer.

    Attributes
    ----------
    layer
        Name of the layer kind in messages (``"schools"``).
    noun
        One feature in messages (``"school"``).
    geometry
        Geometry types allowed.
    geometry_doc
        The geometry asked for, in words, with the fix (e.g. ``"points (use the entrance ...)"``).
    columns
        Declared columns, in README order.
    others
        What happens to undeclared columns (said once in the unknown-columns warning).
    """

    layer: str
    noun: str
    geometry: tuple[str, ...]
    geometry_doc: str
    columns: tuple[Column, ...]
    others: str = "not used"

    def with_numbers(self, names: Iterable[str], doc: str) -> LayerSchema:
        """Return this schema with number columns (>= 0, empty allowed) for the ``names`` not declared yet."""
        known = {c.name for c in self.columns}
        extra = tuple(Column(n, "number", doc) for n in dict.fromkeys(names) if n not in known)
        return dataclasses.replace(self, columns=self.columns + extra) if extra else self

    def __getitem__(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def _spellings(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        """``(unique, ambiguous)``: spelling → declared name, and shapefile cuts shared by several columns."""
        owners: dict[str, list[str]] = {}
        for column in self.columns:
            for spelling in column.spellings():
                owners.setdefault(spelling, [])
                if column.name not in owners[spelling]:
                    owners[spelling].append(column.name)
        unique = {s: names[0] for s, names in owners.items() if len(names) == 1}
        ambiguous = {s: names for s, names in owners.items() if len(names) > 1}
        for names in list(ambiguous.values()):  # GDAL names the 2nd, 3rd... clash <first 8>_1, _2, ...
            for i in range(1, len(names) + 1):
                ambiguous.setdefault(f"{names[0][: SHAPEFILE_NAME_LENGTH - 2]}_{i}", names)
        return unique, ambiguous

    def conform(self, gdf: gpd.GeoDataFrame, label: str) -> gpd.GeoDataFrame:
        """Return ``gdf`` with its columns under their declared names, after checking it against the schema.

        Parameters
        ----------
        gdf
            The layer as read (any column spellings).
        label
            What to call the layer in messages (its file).

        Returns
        -------
        geopandas.GeoDataFrame
            A copy; declared columns renamed, others kept as they were.

        Raises
        ------
        InputError
            A column that is a near miss of a declared one (with "did you mean"), two columns that are
            the same declared one, a shapefile cut that could be several columns, a missing required
            column, or a feature of the wrong geometry type.
        """
        given = [c for c in gdf.columns if c != gdf.geometry.name]
        out, unknown = self._renamed(gdf, given, label)
        declared = {c.name for c in self.columns}
        near = self._near_misses(unknown, declared - set(out.columns))
        if near:
            shown = "; ".join(f"{bad!r} (did you mean {good!r}?)" for bad, good in near)
            raise InputError(
                f"{label}: column(s) {shown} are not {self.layer} columns; rename them, or their values "
                f"would be ignored (README 'Input layers' lists the {self.layer} columns)."
            )
        for column in self.columns:
            if column.required and column.name not in out.columns:
                hint = did_you_mean(column.name, unknown, cutoff=0.6)
                raise InputError(
                    f"{label}: no {column.name!r} column ({column.doc}).{hint} Columns found: {given}."
                )
        self._check_geometry(out, label)
        if unknown:
            log.warning(
                "%s: column(s) %s are not %s columns; %s.", label, ", ".join(map(str, unknown)),
                self.layer, self.others,
            )  # fmt: skip
        return out

    def _renamed(self, gdf: gpd.GeoDataFrame, given: list[str], label: str) -> tuple[gpd.GeoDataFrame, list]:
        """Return a copy with each given column under its declared name, and the unknown columns."""
        unique, ambiguous = self._spellings()
        renames: dict[str, str] = {}
        clashes: dict[tuple[str, ...], list[str]] = {}
        unknown: list[str] = []
        for col in given:
            key = _key(col)
            if key in unique:
                target = unique[key]
                twin = next((c for c, t in renames.items() if t == target), None)
                if twin is not None:
                    raise InputError(
                        f"{label}: columns {twin!r} and {col!r} both give {target!r}; keep one of them."
                    )
                renames[col] = target
            elif key in ambiguous:
                clashes.setdefault(tuple(ambiguous[key]), []).append(col)
            else:
                unknown.append(col)
        out = gdf.rename(columns={k: v for k, v in renames.items() if k != v})
        kinds = out["level"].map(lambda v: LEVEL_SPELLINGS.get(_key(v))) if "level" in out.columns else None
        for names, cols in clashes.items():
            free = [n for n in names if n not in renames.values()]
            out = out.drop(columns=cols).assign(**self._resolve_cut(gdf, free, cols, kinds, label))
        return out, unknown

    def _resolve_cut(
        self, gdf: gpd.GeoDataFrame, free: list[str], cols: list[str], kinds: pd.Series | None, label: str
    ) -> dict[str, pd.Series]:
        """Read shapefile columns whose cut name could be several declared ones; refuse when unsure.

        ``max_extra_classes_primary`` and ``..._junior`` both become ``max_extra_`` (GDAL names the second
        ``max_extr_1``), and which is which is lost. A reading is used only when it cannot be wrong: every
        reading that fits the schools' levels (nothing at a level a school does not teach) gives the same
        values.
        """
        readings: list[dict[str, pd.Series | None]] = []
        for names in itertools.permutations(free, len(cols)):
            given = dict(zip(names, (gdf[c] for c in cols), strict=True))
            reading = {n: given.get(n, self._absent(n, gdf.index)) for n in free}
            fits = all(self._fits_levels(n, v, kinds) for n, v in reading.items())
            if fits and not any(all(_same(r[n], reading[n]) for n in free) for r in readings):
                readings.append(reading)
        if len(readings) == 1:
            log.info(
                "%s: read the shapefile's %s as %s (the one reading that fits the levels).", label, cols, free
            )
            return {n: v for n, v in readings[0].items() if v is not None}
        shorts = " and ".join(self[n].aliases[0] for n in free if self[n].aliases) or "with full names"
        raise InputError(
            f"{label}: column(s) {cols} could be any of {free} (a shapefile cuts names to "
            f"{SHAPEFILE_NAME_LENGTH} characters) and their values differ; rename them {shorts}, or save "
            "the layer as GeoPackage or GeoJSON, which keep full names."
        )

    def _absent(self, name: str, index: pd.Index) -> pd.Series | None:
        default = self[name].default
        return None if default is None else pd.Series(default, index=index)

    def _fits_levels(self, name: str, values: pd.Series | None, kinds: pd.Series | None) -> bool:
        """Whether ``values`` can be column ``name``: nothing non-zero at a school not teaching its level."""
        level = self[name].level
        if values is None or kinds is None or level is None:
            return True
        teaches = kinds.map(lambda k: level in LEVELS_SERVED.get(k, LEVELS)).astype(bool)
        return not ((pd.to_numeric(values, errors="coerce").fillna(0) != 0) & ~teaches).any()

    def _near_misses(self, unknown: list[str], absent: set[str]) -> list[tuple[str, str]]:
        """Unknown columns that look like an absent declared column (a typo would silently drop values)."""
        targets: dict[str, str] = {}
        for column in self.columns:
            if column.name in absent:
                for spelling in column.spellings():
                    targets[spelling] = column.name
        near = []
        for col in unknown:
            close = difflib.get_close_matches(_key(col), list(targets), n=1, cutoff=0.8)
            if close:
                near.append((col, targets[close[0]]))
        return near

    def _check_geometry(self, gdf: gpd.GeoDataFrame, label: str) -> None:
        kinds = gdf.geometry.geom_type
        bad = gdf.geometry.notna() & ~kinds.isin(list(self.geometry))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            ident = _ident(gdf, self, row)
            raise InputError(
                f"{label}: {self.noun} {ident} has a {kinds.iloc[row]} geometry; {self.layer} must be "
                f"{self.geometry_doc}."
            )


def _same(a: pd.Series | None, b: pd.Series | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(
        (pd.to_numeric(a, errors="coerce").fillna(-1) == pd.to_numeric(b, errors="coerce").fillna(-1)).all()
    )


def _ident(gdf: pd.DataFrame, schema: LayerSchema, row: int) -> str:
    """How to name one feature in a message: its id (or name) when the layer has one, else its position."""
    named = [c.name for c in schema.columns if c.kind == "id"] + [
        c.name for c in schema.columns if c.required
    ]
    id_col = next((n for n in named if n in gdf.columns), None)
    if id_col is not None and pd.notna(gdf[id_col].iloc[row]):
        return repr(str(gdf[id_col].iloc[row]))
    if gdf.index.name and not isinstance(gdf.index, pd.RangeIndex):
        return repr(str(gdf.index[row]))
    return f"#{row + 1}"


def read_values(
    gdf: pd.DataFrame,
    schema: LayerSchema,
    name: str,
    label: str,
    *,
    where: pd.Series | None = None,
) -> pd.Series:
    """Return one column converted to its declared type, with empty cells handled as declared.

    Parameters
    ----------
    gdf
        A conformed layer (:meth:`LayerSchema.conform`); its index names the features in messages.
    schema
        The layer's schema.
    name
        The declared column.
    label
        What to call the layer in messages.
    where
        Features for which the value matters (e.g. the schools teaching primary for ``enrolled_primary``);
        elsewhere an empty cell is filled with the default (or left missing) without a word.

    Returns
    -------
    pandas.Series
        ``count``/``year``: ``Int64``; ``number``: ``float64``; ``bool``: ``bool`` (or ``boolean`` with
        missing values); ``level``: one of :data:`~siting.standards.SCHOOL_KINDS`; ``id``/``text``: ``object``
        strings. Missing values only where ``empty == "keep"`` (or outside ``where``).

    Raises
    ------
    InputError
        A value of the wrong type or below the minimum, or an empty cell (or absent column) of an
        ``empty="error"`` column where it matters; naming the file, the feature, the column and the value.
    """
    column = schema[name]
    where = pd.Series(True, index=gdf.index) if where is None else where.reindex(gdf.index, fill_value=False)
    if name in gdf.columns:
        raw = gdf[name].map(lambda v: pd.NA if isinstance(v, str) and not v.strip() else v)
        values = _convert(raw, column, schema, label)
    else:
        raw = pd.Series(pd.NA, index=gdf.index, dtype="object")
        values = raw
    empty = values.isna() & where
    if empty.any():
        _empty_cells(gdf, column, schema, label, empty, absent=name not in gdf.columns)
    if column.empty == "default":
        values = values.where(values.notna(), column.default)
    return _typed(values, column)


def _convert(raw: pd.Series, column: Column, schema: LayerSchema, label: str) -> pd.Series:
    """Parse the non-empty cells of one column; raise naming the first bad one."""
    kind = column.kind
    if kind in {"id", "text"}:
        return raw.map(lambda v: v if pd.isna(v) else (str(int(v)) if _whole_float(v) else str(v).strip()))
    if kind == "level":
        parsed = raw.map(lambda v: v if pd.isna(v) else LEVEL_SPELLINGS.get(_key(v)))
        bad = raw.notna() & parsed.isna()
        if bad.any():
            value = raw[bad].iloc[0]
            raise InputError(
                f"{label}: {schema.noun} {_who(raw, bad)} has {column.name} = {describe(value)}; use one of "
                f"{list(SCHOOL_KINDS)}.{did_you_mean(_key(value), SCHOOL_KINDS)}"
            )
        return parsed
    if kind == "bool":
        parsed = raw.map(lambda v: v if pd.isna(v) or isinstance(v, bool | np.bool_) else _boolean(v))
        bad = raw.notna() & parsed.isna()
        if bad.any():
            raise InputError(
                f"{label}: {schema.noun} {_who(raw, bad)} has {column.name} = {describe(raw[bad].iloc[0])}; "
                "use true or false."
            )
        return parsed
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = raw.notna() & ~np.isfinite(numbers.astype("float64"))
    if kind in {"count", "year"}:
        bad |= raw.notna() & (numbers % 1 != 0)
    if kind == "year":
        bad |= raw.notna() & ~numbers.between(1900, 2200)
    elif column.minimum is not None:
        bad |= raw.notna() & (numbers < column.minimum)
    if bad.any():
        raise InputError(
            f"{label}: {schema.noun} {_who(raw, bad)} has {column.name} = {describe(raw[bad].iloc[0])}; "
            f"{_expected(column)}."
        )
    return numbers


def _expected(column: Column) -> str:
    unit = f" ({column.unit})" if column.unit else ""
    if column.kind == "year":
        return "give a year like 2027 or leave it empty"
    if column.kind == "count":
        return f"it must be a whole number >= {column.minimum:g}{unit}"
    return (
        f"it must be a number >= {column.minimum:g}{unit}" if column.minimum is not None else "give a number"
    )


def _whole_float(v: object) -> bool:
    return isinstance(v, float | np.floating) and float(v).is_integer()


def _boolean(v: object) -> bool | None:
    text = str(v).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    return True if text in _TRUE else (False if text in _FALSE else None)


def _who(values: pd.Series, mask: pd.Series) -> str:
    index = values.index[mask.to_numpy()][0]
    return f"#{index + 1}" if isinstance(values.index, pd.RangeIndex) else repr(index)


def _empty_cells(
    gdf: pd.DataFrame, column: Column, schema: LayerSchema, label: str, empty: pd.Series, *, absent: bool
) -> None:
    """Raise or warn about the empty cells (or the absent column) of one column, as it declares."""
    n = int(empty.sum())
    first = _who(empty, empty)
    what = f"{column.doc}{f', {column.unit}' if column.unit else ''}"
    if column.empty == "error":
        number = column.kind in {"count", "number"}
        fix = " (write 0 where there is none)" if number else ""
        if absent:
            raise InputError(
                f"{label}: no {column.name!r} column ({column.doc}), needed for {n} {schema.noun}(s) such as "
                f"{first}; add it{fix}."
            )
        more = f" (and {n - 1} more)" if n > 1 else ""
        about = f" ({column.doc})" if number else ""
        raise InputError(
            f"{label}: {schema.noun} {first} has no {column.name}{about}{more}; fill it in{fix}."
        )
    if column.empty == "default" and (column.warn_absent or not absent):
        if absent:
            log.warning("%s: no %s column (%s); using %s.", label, column.name, what, column.default_doc)
        else:
            log.warning(
                "%s: %d %s(s) have no %s (e.g. %s); using %s.",
                label, n, schema.noun, column.name, first, column.default_doc,
            )  # fmt: skip


def _typed(values: pd.Series, column: Column) -> pd.Series:
    if column.kind in {"count", "year"}:
        return values.astype("Float64").round().astype("Int64")
    if column.kind == "number":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if column.kind == "bool":
        return values.astype(bool) if values.notna().all() else values.astype("boolean")
    return values.astype("object")
