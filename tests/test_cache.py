"""Tests for siting._cache: stage outputs cached in memory and on disk."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from siting import _cache


@pytest.fixture(autouse=True)
def _fresh_memory():
    _cache.clear_memory()
    yield
    _cache.clear_memory()


def test_a_stage_is_computed_once_and_its_file_reads_back(tmp_path: Path) -> None:
    calls = []

    def compute() -> dict[str, int]:
        calls.append(1)
        return {"units": 3}

    value, hit = _cache.cached("demand", "k1", compute, cache_dir=tmp_path)
    assert (value, hit, len(calls)) == ({"units": 3}, False, 1)
    assert _cache.cached("demand", "k1", compute, cache_dir=tmp_path) == ({"units": 3}, True)
    _cache.clear_memory()
    assert _cache.cached("demand", "k1", compute, cache_dir=tmp_path) == ({"units": 3}, True)  # from disk
    assert len(calls) == 1
    (path,) = tmp_path.iterdir()  # no temporary left beside it
    mask = os.umask(0)
    os.umask(mask)
    assert path.name == "demand-k1.pkl" and path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_an_unwritable_cache_folder_warns_and_the_run_goes_on(tmp_path: Path, caplog) -> None:
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="siting"):
        value, hit = _cache.cached("costs", "k2", lambda: [1, 2], cache_dir=blocked)
    assert (value, hit) == ([1, 2], False)
    assert "cache not written" in caplog.text and str(blocked) in caplog.text


def test_a_damaged_cache_file_is_recomputed(tmp_path: Path, caplog) -> None:
    (tmp_path / "network-k3.pkl").write_bytes(b"not a pickle")
    with caplog.at_level(logging.WARNING, logger="siting"):
        assert _cache.cached("network", "k3", lambda: "graph", cache_dir=tmp_path) == ("graph", False)
    assert "ignoring unreadable cache file" in caplog.text
    _cache.clear_memory()
    assert _cache.cached("network", "k3", lambda: "other", cache_dir=tmp_path) == ("graph", True)
