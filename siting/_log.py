"""Logging and progress bars: the one place both are set up.

Library modules call :func:`get_logger` and :func:`progress`; only the command line configures handlers.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

logging.getLogger("siting").addHandler(logging.NullHandler())

_PROGRESS = {"enabled": True}


def get_logger(name: str) -> logging.Logger:
    """Return the logger for a siting module (``logging.getLogger(name)``)."""
    return logging.getLogger(name)


def set_progress(enabled: bool) -> None:
    """Turn progress bars on or off for this process (the CLI's ``-q`` turns them off)."""
    _PROGRESS["enabled"] = bool(enabled)


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap a long loop in a progress bar, shown only on an interactive terminal or notebook.

    Parameters
    ----------
    iterable
        The loop's items.
    desc
        A few words saying what is being done.
    total
        Number of items, when ``iterable`` has no length.
    unit
        Name of one item.

    Yields
    ------
    T
        The items of ``iterable``, unchanged.
    """
    disable = (
        not _PROGRESS["enabled"]
        or os.environ.get("SITING_NO_PROGRESS") == "1"
        or not (sys.stderr.isatty() or "ipykernel" in sys.modules)
    )
    yield from tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, leave=False)
