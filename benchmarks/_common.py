"""Shared helpers for benchmarks: timing, peak memory in a fresh process, machine facts, result files."""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS_DIR = ROOT / "results"
WORK_DIR = ROOT / "_work"
SHARED = ROOT.parent.parent / "shared"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(queue: Any, func: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    start = time.perf_counter()
    try:
        value = func(*args, **kwargs)
        queue.put(("ok", value, time.perf_counter() - start, peak_rss_mb()))
    except BaseException as exc:  # report, never hang the parent
        queue.put(("error", repr(exc), time.perf_counter() - start, peak_rss_mb()))


def measure(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """Run ``func(*args, **kwargs)`` in a fresh spawned process.

    Returns
    -------
    tuple
        ``(return value, wall seconds, peak RSS of that process in MiB)``. ``func`` must be importable
        (a module-level function) and its return value picklable. Raises ``RuntimeError`` if it failed.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, func, args, kwargs))
    proc.start()
    status, value, seconds, peak = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"benchmark step {func.__name__} failed: {value}")
    return value, seconds, peak


def machine() -> str:
    """One line describing this machine, for the top of each result section."""
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = float("nan")
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


def write_result(name: str, markdown: str) -> Path:
    """Write one benchmark's section and rebuild ``RESULTS.md`` from all sections."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    path.write_text(markdown.rstrip() + "\n", encoding="utf-8")
    rebuild_results()
    return path


def rebuild_results() -> Path:
    """Concatenate ``results/*.md`` into ``RESULTS.md`` (sorted by name)."""
    parts = [
        "# Benchmark results\n",
        "Written by `python -m benchmarks.run NAME`; each section says when and on what machine it ran.",
        "Times are wall-clock on a noisy 2-core machine: compare the ratios measured in the same run.\n",
    ]
    for section in sorted(RESULTS_DIR.glob("*.md")):
        parts.append(section.read_text(encoding="utf-8").rstrip() + "\n")
    out = ROOT / "RESULTS.md"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
