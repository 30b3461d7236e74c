"""Caches for expensive stage outputs, keyed by their inputs.

Two layers: an in-process dictionary (so a notebook variant that changes only model parameters reuses
demand, network and costs at once) and files under ``data/processed/_cache/`` (so a re-run of an unchanged
scenario, in a new process, skips the same stages). Files are written atomically; a corrupt or unreadable
cache file is ignored and rebuilt.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from siting._atomic import write_atomic
from siting._log import get_logger
from siting.errors import OutputWriteError

log = get_logger(__name__)
T = TypeVar("T")

DEFAULT_CACHE_DIR = Path("data/processed/_cache")
_MEMORY: OrderedDict[tuple[str, str], Any] = OrderedDict()
_MEMORY_SIZE = 24


def clear_memory() -> None:
    """Forget every in-process cached stage output."""
    _MEMORY.clear()


def cached(stage: str, key: str, compute: Callable[[], T], *, cache_dir: Path | None) -> tuple[T, bool]:
    """Return a stage's output from the cache, or compute and store it.

    Parameters
    ----------
    stage
        Stage name (``"demand"``, ``"network"``, ``"costs"``); part of the file name.
    key
        Hash of everything the output depends on.
    compute
        Builds the output when it is not cached. Its result must be picklable.
    cache_dir
        Folder for cache files; ``None`` keeps only the in-process cache.

    Returns
    -------
    tuple
        ``(output, hit)``, where ``hit`` tells whether the cache served it.
    """
    mem_key = (stage, key)
    if mem_key in _MEMORY:
        _MEMORY.move_to_end(mem_key)
        log.info("%s: reused from this session (key %s)", stage, key)
        return _MEMORY[mem_key], True
    path = None if cache_dir is None else Path(cache_dir) / f"{stage}-{key}.pkl"
    if path is not None and path.exists():
        try:
            with path.open("rb") as fh:
                value = pickle.load(fh)
        except Exception as exc:  # a damaged cache must never stop a run
            log.warning("%s: ignoring unreadable cache file %s (%s)", stage, path, exc)
        else:
            log.info("%s: read from cache %s", stage, path)
            _remember(mem_key, value)
            return value, True
    value = compute()
    if path is not None:
        _write_atomic(path, value)
    _remember(mem_key, value)
    return value, False


def _remember(key: tuple[str, str], value: Any) -> None:
    _MEMORY[key] = value
    _MEMORY.move_to_end(key)
    while len(_MEMORY) > _MEMORY_SIZE:
        _MEMORY.popitem(last=False)


def _write_atomic(path: Path, value: Any) -> None:
    """Pickle ``value`` to ``path``: never partial, umask permissions; unwritable warns, not fails."""

    def dump(tmp: Path) -> None:
        with tmp.open("xb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)

    try:
        write_atomic(path, dump)
    except OutputWriteError as exc:
        log.warning("cache not written (%s): %s", path, exc.__cause__ or exc)
