"""Table output: aligned text for a terminal, Markdown, and CSV / Markdown / HTML files written atomically.

Cells are formatted the same way everywhere: utilization and shares as percentages, CVs with two decimals,
other numbers with thousands separators, ``–`` for a missing value. Ids (a column named ``id`` or ending in
``_id``) print plainly, as a person types them: ``2305870313394540024``, never ``2,305,870,…``.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting._atomic import write_text_atomic
from siting._log import get_logger
from siting.errors import InputError, OutputExistsError, describe

logger = get_logger(__name__)

FORMATS: tuple[str, ...] = ("csv", "md", "html")
"""File formats :func:`write_tables` can write."""


def is_id_column(column: str) -> bool:
    """Return whether ``column`` holds identifiers (``id`` or ``*_id``), printed without separators."""
    return column == "id" or column.endswith("_id")


def _cell(value: Any, column: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if is_id_column(column):
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        return str(value)
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if column.startswith(("utilization", "share")):
            return f"{value:.0%}"
        if column.startswith(("cv", "mean")) or (abs(value) < 10 and not value.is_integer()):
            return f"{value:,.2f}"
        return f"{value:,.0f}"
    return str(value)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cells(df: pd.DataFrame) -> tuple[list[str], list[list[str]], list[bool]]:
    header = [str(c) for c in df.columns]
    body = [[_cell(v, str(c)) for v, c in zip(row, df.columns, strict=True)] for row in df.itertuples(False)]
    numeric = [
        pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
        and not is_id_column(str(c))
        for c in df
    ]
    return header, body, numeric


def format_table(df: pd.DataFrame, *, max_rows: int | None = None) -> str:
    """Return ``df`` as aligned plain text for a terminal (numbers right-aligned, ``–`` for missing).

    Utilization and shares print as percentages, CVs with two decimals, other numbers with thousands
    separators; wide (CJK) characters count as two columns.

    Parameters
    ----------
    df
        The table.
    max_rows
        Print at most this many rows and say how many were left out.

    Returns
    -------
    str
        The text, without a trailing newline.
    """
    if df.shape[1] == 0:
        return "(no columns)"
    shown = df if max_rows is None or len(df) <= max_rows else df.head(max_rows)
    header, body, numeric = _cells(shown)
    widths = [max([_width(h)] + [_width(r[i]) for r in body]) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        parts = []
        for text, width, num in zip(cells, widths, numeric, strict=True):
            pad = " " * (width - _width(text))
            parts.append(pad + text if num else text + pad)
        return "  ".join(parts).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in body] if body else ["(no rows)"]
    if len(shown) < len(df):
        lines.append(f"… {len(df) - len(shown):,} more rows")
    return "\n".join(lines)


def markdown_table(df: pd.DataFrame) -> str:
    """Return ``df`` as a GitHub-flavoured Markdown table (cells formatted as in :func:`format_table`).

    Parameters
    ----------
    df
        The table.

    Returns
    -------
    str
        The Markdown text, ending with a newline.
    """
    header, body, numeric = _cells(df)

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(esc(h) for h in header) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    write_text_atomic(path, text, newline="")  # umask permissions (mkstemp gave 0600)


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    dest: str | Path,
    *,
    fmt: Iterable[str] = ("csv", "md"),
    overwrite: bool = False,
) -> list[Path]:
    """Write each table to ``dest/<name>.<fmt>``, every file atomically (a temporary file, then a rename).

    Parameters
    ----------
    tables
        Table name → table (names become file names).
    dest
        Folder; created if missing.
    fmt
        Any of ``"csv"`` (raw values, UTF-8), ``"md"`` (formatted Markdown), ``"html"``.
    overwrite
        Replace existing files; otherwise refuse before writing anything.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    InputError
        For an unknown format or a table name that is not a plain file name.
    OutputExistsError
        When a file exists and ``overwrite`` is false.
    """
    formats = [fmt] if isinstance(fmt, str) else list(fmt)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(
            f"write_tables: unknown format(s) {describe(unknown)}; use any of {', '.join(FORMATS)}."
        )
    dest = Path(dest)
    for name in tables:
        if not name or Path(name).name != name or name.startswith("."):
            raise InputError(f"write_tables: table name {describe(name)} must be a plain file name.")
    paths = [dest / f"{name}.{f}" for name in tables for f in formats]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"write_tables: {len(existing)} file(s) exist, e.g. {existing[0]}; pass overwrite=True "
            "(--overwrite) or choose another folder."
        )
    dest.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        for f in formats:
            if f == "csv":
                text = table.to_csv(index=False, float_format="%.6g")
            elif f == "md":
                text = f"## {name}\n\n" + markdown_table(table)
            else:
                text = table.to_html(index=False, na_rep="–", float_format=lambda v: f"{v:,.2f}")
            _atomic_write(dest / f"{name}.{f}", text)
    logger.info("wrote %d table file(s) to %s", len(paths), dest)
    return paths
