"""End to end on the bundled sample city: raster → demand → walking costs → model → catchments → files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from siting import _cache
from siting.cli import cli
from siting.config import load_scenario
from siting.errors import OutputExistsError
from siting.pipeline import RunResult, compare_scenarios, run_scenario

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_scenario():
    from tests.conftest import SAMPLE

    path = SAMPLE / "scenarios" / "sample.yaml"
    if not path.exists():
        pytest.skip(f"the bundled sample city is missing: {path}")
    return load_scenario(path)


@pytest.fixture(scope="module")
def run(sample_scenario, tmp_path_factory) -> RunResult:
    base = tmp_path_factory.mktemp("run")
    _cache.clear_memory()
    return run_scenario(
        sample_scenario,
        out_dir=base / "out",
        map_path=base / "maps" / "sample.html",
        cache_dir=base / "cache",
    )


def test_solver_status_is_honest(run):
    sol = run.summary["solution"]
    assert sol["status"] in {"optimal", "feasible"}
    assert sol["gap"] >= 0
    assert sol["bound"] <= sol["objective"] + 1e-6 * max(1.0, abs(sol["objective"]))
    if sol["status"] == "optimal":
        assert sol["gap"] <= run.scenario.model.gap + 1e-9


def test_every_unit_has_at_most_one_school_per_level(run):
    a = run.assignment
    for level in ("primary", "junior"):
        rows = a[a.level == level]
        assert not rows["unit_id"].duplicated().any()  # single-school catchments
        served = rows.groupby("unit_id")["pupils"].sum().reindex(run.units.index, fill_value=0)
        assert (served <= run.units[level] + 1e-6).all()


def test_pupils_above_capacity_are_the_overflow(run):
    a = run.assignment
    over = run.overflow.set_index(["school_id", "level"])
    for level in ("primary", "junior"):
        load = a[a.level == level].groupby("school_id")["pupils"].sum()
        cap = run.schools[f"capacity_after_{level}"].reindex(load.index)
        excess = (load - cap).clip(lower=0)
        got = over["overflow_after"].reindex([(s, level) for s in load.index]).fillna(0).to_numpy()
        np.testing.assert_allclose(got, excess.to_numpy(), atol=1e-6)
    # new schools never overflow
    assert (run.overflow.loc[run.overflow["status"] == "site", "overflow_after"] <= 1e-6).all()


def test_assignments_beyond_the_hard_limit_are_flagged(run):
    a = run.assignment
    limits = a["level"].map(run.standards.hard_max_distance_m)
    assert (a["beyond_limit"] == (a["distance_m"] > limits)).all()
    assert run.summary["beyond_limit"]["primary"]["units"] == int(
        a[a.level == "primary"]["beyond_limit"].sum()
    )


def test_population_is_conserved(run):
    report = run.summary["demand"]
    assert abs(run.units["population"].sum() - report["raster_sum"]) <= 1e-3 * report["raster_sum"]


def test_new_sites_relieve_the_overcrowded_schools(run):
    from siting.report import review_tables

    k = run.key_figures()
    for level in ("primary", "junior"):
        assert k[f"{level}_schools_over_capacity_before"] > 0 and k[f"{level}_large_classes_before"] > 0
        assert k[f"{level}_overflow"] < k[f"{level}_overflow_before"]
        assert k[f"{level}_large_classes"] < k[f"{level}_large_classes_before"]
    opened = set(run.schools.index[run.schools["opened"]])
    assert opened
    # pupils moved into the new schools come from schools that are over capacity today
    today = run.school_metrics[run.school_metrics["state"] == "current"]
    crowded = set(today.loc[today["utilization"] > 1.0, "school_id"])
    into_new = run.changes[run.changes["new_school"].isin(opened)]
    from_crowded = into_new[into_new["old_school"].isin(crowded)]["pupils"].sum()
    assert from_crowded > 0.5 * into_new["pupils"].sum()
    tables = review_tables(run)
    assert {"changes", "schools", "districts"} <= set(tables)


def test_outputs_written_and_overwrite_refused(run, sample_scenario):
    out = run.out_dir
    for name in (
        "siting.gpkg",
        "summary.json",
        "changes.csv",
        "school_metrics.csv",
        "costs.parquet",
        "overflow.csv",
    ):
        assert (out / name).exists(), name
    assert run.map_path is not None and Path(run.map_path).exists()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run_scenario(sample_scenario, out_dir=out, map_path=run.map_path, cache_dir=None)
    loaded = RunResult.load(out)
    assert loaded.summary["solution"] == run.summary["solution"]
    assert len(loaded.overflow) == len(run.overflow) and "why" in loaded.overflow.columns
    assert loaded.summary["current_assignment"] == {
        "primary": "file catchments_primary.geojson",
        "junior": "file catchments_junior.geojson",
    }
    pd.testing.assert_index_equal(loaded.units.index.astype("int64"), run.units.index.astype("int64"))


def test_same_inputs_same_answer(run, sample_scenario, tmp_path):
    _cache.clear_memory()
    run_scenario(sample_scenario, out_dir=tmp_path / "again", draw_map=False, cache_dir=None)
    for name in ("assignment.csv", "opened.csv", "changes.csv", "school_metrics.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (run.out_dir / name).read_bytes(), name
    first = json.loads((run.out_dir / "summary.json").read_text())
    second = json.loads((tmp_path / "again" / "summary.json").read_text())
    for summary in (first, second):
        summary.pop("timings")
        summary["solution"].pop("solve_time_s", None)
        summary["solution"].pop("build_time_s", None)
    assert first == second


def test_model_only_variant_reuses_demand_and_costs(run, sample_scenario):
    variant = sample_scenario.replace(max_new_schools=1, name="sample-one")
    result = run_scenario(variant, write=False)
    # in-process cache: the stages before the model are reused, so they take (almost) no time
    assert result.summary["timings"]["demand"] < max(0.5, run.summary["timings"]["demand"])
    table = compare_scenarios([run, result])
    assert list(table.index) == ["sample", "sample-one"]
    assert len(result.summary["new_schools"]) <= 1


def test_cli_run_refuses_then_overwrites(sample_scenario, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["-q", "run", str(sample_scenario.source), "--out", "out", "--map", "m.html"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "solver" in first.output and "results: out" in first.output
    second = runner.invoke(cli, args)
    assert second.exit_code != 0
    assert "--overwrite" in str(second.exception) + second.output
    third = runner.invoke(cli, [*args, "--overwrite"])
    assert third.exit_code == 0, third.output
