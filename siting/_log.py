"""Logging and progress bars: the one place both are set up.

Library modules call :func:`get_logger` and :func:`progress`; only the command line configures handlers.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
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


def progress_enabled() -> bool:
    """Whether bars are shown: not turned off (``-q``, ``SITING_NO_PROGRESS=1``); a terminal or notebook."""
    return (
        _PROGRESS["enabled"]
        and os.environ.get("SITING_NO_PROGRESS") != "1"
        and (sys.stderr.isatty() or "ipykernel" in sys.modules)
    )


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
    yield from tqdm(iterable, desc=desc, total=total, unit=unit, disable=not progress_enabled(), leave=False)


class _Postfix(logging.Handler):
    """Shows the latest message of a logger (a solver's phase) after a bar."""

    def __init__(self, bar: tqdm) -> None:
        super().__init__(logging.INFO)
        self.bar = bar

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split())
        self.bar.set_postfix_str(text[:60] + ("..." if len(text) > 60 else ""), refresh=True)


@contextlib.contextmanager
def progress_timer(desc: str, *, total_s: float | None = None, follow: str | None = None) -> Iterator[None]:
    """A bar of the seconds a single long call has taken (shown as :func:`progress` bars are).

    For work that is one call, not a loop: a solve whose budget is its time limit, a library call.

    Parameters
    ----------
    desc
        A few words saying what is being done.
    total_s
        The time budget (s), e.g. the solver's time limit; None shows the seconds only.
    follow
        A logger name (e.g. ``"siting.model"``): its INFO messages, such as the solver's phases, are shown
        after the bar as they come.

    Yields
    ------
    None
        The bar runs until the block ends.
    """
    if not progress_enabled():
        yield
        return
    total = None if total_s is None or not math.isfinite(total_s) else max(1, math.ceil(total_s))
    bar = tqdm(total=total, desc=desc, unit="s", leave=False, bar_format=_TIMER_FORMAT[total is None])
    handler = _Postfix(bar)
    if follow is not None:
        logging.getLogger(follow).addHandler(handler)
    done, start = threading.Event(), time.monotonic()

    def tick() -> None:
        while not done.wait(0.5):
            seconds = int(time.monotonic() - start)
            bar.update(max(0, (seconds if total is None else min(seconds, total)) - bar.n))

    thread = threading.Thread(target=tick, name=f"progress {desc}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if follow is not None:
            logging.getLogger(follow).removeHandler(handler)
        bar.close()


_TIMER_FORMAT = {
    False: "{desc}: {bar} {n_fmt}/{total_fmt} s{postfix}",
    True: "{desc}: {n_fmt} s{postfix}",
}


@contextlib.contextmanager
def logs_above_bars() -> Iterator[None]:
    """Print log lines above the progress bars instead of through them (the command line's runs)."""
    if not progress_enabled():
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[logging.getLogger()]):
        yield
