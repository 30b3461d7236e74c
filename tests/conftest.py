"""Shared test fixtures: where the repository and the shared real-data folder are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLE = REPO / "data" / "raw" / "sample"

os.environ.setdefault("SITING_NO_PROGRESS", "1")


def shared_file(relative: str) -> Path:
    """Return a file under ``../shared``, or skip the test naming the missing file."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"real input file {path} is absent (it comes with the shared/ folder beside the repo)")
    return path


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def sample_dir() -> Path:
    if not (SAMPLE / "scenarios" / "sample.yaml").exists():
        pytest.skip(f"the bundled sample city is missing under {SAMPLE}")
    return SAMPLE
