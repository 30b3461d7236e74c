"""The sample city's answer, pinned: a change meant to keep behaviour (a refactor) must reproduce it.

The reference files in ``tests/data/golden/sample/`` are the outputs of ``siting run`` on the bundled
sample. When a change *means* to alter the answer (a new model term, a new default), regenerate them
with ``SITING_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py`` and say why in the commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from siting import _cache
from siting.config import load_scenario
from siting.pipeline import run_scenario

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).parent / "data" / "golden" / "sample"
TABLES = [
    "assignment.csv",
    "solver_assignment.csv",
    "opened.csv",
    "changes.csv",
    "school_metrics.csv",
    "district_metrics.csv",
    "cv.csv",
    "overflow.csv",
    "search_areas.csv",
    "options.csv",
    "unreachable.csv",
    "district_years.csv",
    "balance_schools.csv",
]
# parts of summary.json that legitimately differ between two runs or two checkouts
VOLATILE = {"timings", "scenario_file", "siting_version"}
VOLATILE_SOLUTION = {"solve_time_s", "build_time_s"}


def _stable_summary(path: Path) -> dict:
    summary = json.loads(path.read_text(encoding="utf-8"))
    for key in VOLATILE:
        summary.pop(key, None)
    for key in VOLATILE_SOLUTION:
        summary["solution"].pop(key, None)
    summary["demand"].pop("raster", None)  # an absolute path
    return summary


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    from tests.conftest import SAMPLE

    if not (SAMPLE / "scenarios" / "sample.yaml").exists():
        pytest.skip(f"the bundled sample city is missing under {SAMPLE}")
    base = tmp_path_factory.mktemp("golden")
    _cache.clear_memory()
    run_scenario(
        load_scenario(SAMPLE / "scenarios" / "sample.yaml"),
        out_dir=base / "out",
        draw_map=False,
        cache_dir=None,
    )
    out = base / "out"
    if os.environ.get("SITING_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            (GOLDEN / name).write_bytes((out / name).read_bytes())
        (GOLDEN / "summary.json").write_text(
            json.dumps(_stable_summary(out / "summary.json"), indent=1, ensure_ascii=False, sort_keys=True),
            encoding="utf-8",
        )
    return out


@pytest.mark.parametrize("name", TABLES)
def test_table_matches_the_reference(outputs, name):
    reference = GOLDEN / name
    assert reference.exists(), f"{reference} missing: regenerate with SITING_UPDATE_GOLDEN=1"
    if (outputs / name).read_bytes() == reference.read_bytes():
        return
    # not byte-identical: show which rows differ (float noise below 1e-9 would pass here)
    got = pd.read_csv(outputs / name)
    want = pd.read_csv(reference)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-9)


def test_summary_matches_the_reference(outputs):
    want = json.loads((GOLDEN / "summary.json").read_text(encoding="utf-8"))
    assert _stable_summary(outputs / "summary.json") == want
