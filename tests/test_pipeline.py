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


def test_every_units_demand_is_served_once_or_reported_short(run):
    a = run.assignment
    short = run.solution.shortfall
    for level in ("primary", "junior"):
        served = a[a.level == level].groupby("unit_id")["pupils"].sum()
        unserved = short[short.level == level].groupby("unit_id")["pupils"].sum() if len(short) else 0
        total = served.reindex(run.units.index, fill_value=0) + (
            unserved.reindex(run.units.index, fill_value=0) if len(short) else 0
        )
        np.testing.assert_allclose(total.to_numpy(), run.units[level].to_numpy(), rtol=1e-6, atol=1e-6)
        # single-school catchments: one school per unit and level
        assert not a[a.level == level]["unit_id"].duplicated().any()


def test_no_school_over_capacity(run):
    a = run.assignment
    for level in ("primary", "junior"):
        load = a[a.level == level].groupby("school_id")["pupils"].sum()
        cap = run.schools[f"capacity_after_{level}"].reindex(load.index)
        assert (load <= cap + 1e-6).all(), (load - cap)[load > cap + 1e-6]


def test_assignments_within_the_hard_walking_limit(run):
    a = run.assignment
    for level in ("primary", "junior"):
        limit = run.standards.hard_max_distance_m[level]
        assert (a[a.level == level]["distance_m"] <= limit + 1e-6).all()


def test_population_is_conserved(run):
    report = run.summary["demand"]
    assert abs(run.units["population"].sum() - report["raster_sum"]) <= 1e-3 * report["raster_sum"]


def test_new_sites_relieve_the_overcrowded_schools(run):
    from siting.report import review_tables

    k = run.key_figures()
    for level in ("primary", "junior"):
        assert k[f"{level}_schools_over_capacity_before"] > 0 and k[f"{level}_large_classes_before"] > 0
        assert k[f"{level}_schools_over_capacity"] == 0 and k[f"{level}_large_classes"] == 0
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
    for name in ("siting.gpkg", "summary.json", "changes.csv", "school_metrics.csv", "costs.parquet"):
        assert (out / name).exists(), name
    assert run.map_path is not None and Path(run.map_path).exists()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run_scenario(sample_scenario, out_dir=out, map_path=run.map_path, cache_dir=None)
    loaded = RunResult.load(out)
    assert loaded.summary["solution"] == run.summary["solution"]
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
