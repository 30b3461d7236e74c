"""Parameter sweeps: in this process and in worker processes (Dask's local scheduler), the same figures.

A small generated city keeps each run to about a second; the parallel tests need Dask (the ``test`` and
``parallel`` extras) and no cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from siting import _atomic
from siting.cli import cli
from siting.config import load_scenario
from siting.errors import InputError, SweepError
from siting.pipeline import sweep
from siting.pipeline.sweep import variants
from siting.sample import generate_city, write_city


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A 3 x 2.5 km generated city: its scenario file and a stage cache shared by the module's tests."""
    base = tmp_path_factory.mktemp("sweep")
    write_city(generate_city(residents=40_000, width_km=3.0, height_km=2.5, seed=11), base / "raw", name="c")
    return base / "raw" / "scenarios" / "c.yaml", base / "cache"


def _solutions(results):
    return [(r.solution.opened, r.solution.assignment, r.assignment) for r in results]


def test_two_workers_give_the_sequential_sweeps_results_and_write_each_folder(city, tmp_path, monkeypatch):
    pytest.importorskip("dask")
    path, cache = city
    monkeypatch.chdir(tmp_path)  # outputs go under data/processed/ here, in the workers too
    scenario = load_scenario(path)
    values = [0, 1, 3]
    seq_results, seq = sweep(scenario, "max_new_schools", values, threads=1, cache_dir=cache)
    par_results, par = sweep(scenario, "max_new_schools", values, workers=2, write=True, cache_dir=cache)
    pd.testing.assert_frame_equal(seq, par)
    assert list(par["max_new_schools"]) == values and par["new_schools"].tolist() == [0, 1, 2]
    for (o1, a1, f1), (o2, a2, f2) in zip(_solutions(seq_results), _solutions(par_results), strict=True):
        pd.testing.assert_frame_equal(o1, o2)
        pd.testing.assert_frame_equal(a1, a2)
        pd.testing.assert_frame_equal(f1, f2)
    for value, result in zip(values, par_results, strict=True):
        folder = tmp_path / "data" / "processed" / f"c-max_new_schools-{value}"
        assert result.out_dir == folder.relative_to(tmp_path)
        saved = json.loads((folder / "summary.json").read_text())
        assert saved["scenario"] == result.name and saved["model_parameters"]["max_new_schools"] == value
        assert saved["key_figures"]["new_schools"] == par.loc[result.name, "new_schools"]
    assert not [p.name for p in (tmp_path / "data" / "processed").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_value_is_reported_with_its_value_and_the_others_still_run(city, workers):
    if workers > 1:
        pytest.importorskip("dask")
    path, cache = city
    scenario = load_scenario(path)
    results, table = sweep(scenario, "band", [2, 1], workers=workers, cache_dir=cache, on_error="keep")
    assert results[0] is None and results[1] is not None
    assert table["band"].tolist() == [2, 1] and table.index.tolist() == ["c-band-2", "c-band-1"]
    assert (
        table.loc["c-band-2", "error"].startswith("InputError: ")
        and "band 2" in table.loc["c-band-2", "error"]
    )
    assert pd.isna(table.loc["c-band-1", "error"]) and table.loc["c-band-1", "new_schools"] == 2
    with pytest.raises(SweepError, match=r"1 of 2 values failed \(band=2: InputError: .*band 2") as caught:
        sweep(scenario, "band", [2, 1], workers=workers, cache_dir=cache)
    assert list(caught.value.failures) == [2] and caught.value.results[1] is not None
    assert caught.value.table.shape == table.shape


def test_without_dask_the_sequential_sweep_runs_and_workers_name_the_extra(city, monkeypatch):
    path, cache = city
    monkeypatch.setitem(sys.modules, "dask", None)  # import dask now raises ImportError
    scenario = load_scenario(path)
    results, table = sweep(scenario, "max_new_schools", [1], cache_dir=cache)
    assert table["new_schools"].tolist() == [1] and results[0].summary["solution"]["status"] == "optimal"
    with pytest.raises(InputError, match=r"pip install 'siting\[parallel\]'.*workers=1"):
        sweep(scenario, "max_new_schools", [0, 1], workers=2, cache_dir=cache)


def test_values_are_checked_before_any_run(city):
    scenario = load_scenario(city[0])
    with pytest.raises(
        InputError, match=r"the values 1 and '1' both give the scenario name 'c-max_new_schools-1'"
    ):
        variants(scenario, "max_new_schools", [1, "1"])
    with pytest.raises(InputError, match=r"max_new_schools = 'many'"):
        sweep(scenario, "max_new_schools", [1, "many"], cache_dir=None)
    with pytest.raises(InputError, match=r"workers=0"):
        sweep(scenario, "max_new_schools", [1], workers=0, cache_dir=None)
    with pytest.raises(InputError, match=r"no values"):
        sweep(scenario, "max_new_schools", [], cache_dir=None)


def test_a_variant_of_a_scenario_with_its_own_output_folder_gets_its_own(city, tmp_path):
    scenario = load_scenario(city[0]).replace(**{"outputs.dir": str(tmp_path / "out")})
    dirs = [v.output_dir() for _, v in variants(scenario, "disruption_m", [0, 300])]
    assert dirs == [tmp_path / "out-disruption_m-0", tmp_path / "out-disruption_m-300"]


def test_temporaries_of_a_sibling_sharing_the_stem_are_not_taken_for_ones_own(tmp_path):
    """``s-0.5`` and ``s-0.25`` (a sweep of 0.5 and 0.25) share the stem ``s-0``; both write at once."""
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        theirs = tmp_path / f".s-0.siting-tmp-{live.pid}-00ff00ff.25"
        theirs.mkdir()
        _atomic.recover([tmp_path / "s-0.5"])  # not busy: those are s-0.25's
        assert theirs.exists()
        mine = tmp_path / f".s-0.siting-tmp-{live.pid}-00ff00ff.5"
        mine.mkdir()
        with pytest.raises(Exception, match=rf"{mine.name} is being written by another siting run"):
            _atomic.recover([tmp_path / "s-0.5"])
    finally:
        live.kill()
        live.wait()


def test_the_sweep_command_prints_and_writes_the_table_and_exits_2_naming_a_failed_value(
    city, tmp_path, monkeypatch
):
    path, _ = city
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SITING_NO_PROGRESS", "1")
    out = tmp_path / "table.csv"
    ran = CliRunner().invoke(cli, ["-q", "sweep", str(path), "max_new_schools", "0", "2", "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    table = pd.read_csv(out, index_col="scenario")
    assert table["max_new_schools"].tolist() == [0, 2] and table["new_schools"].tolist() == [0, 2]
    assert "c-max_new_schools-2" in ran.output and f"table written: {out}" in ran.output
    again = CliRunner().invoke(cli, ["-q", "sweep", str(path), "max_new_schools", "1", "--out", str(out)])
    assert again.exit_code == 2 and "exists; pass --overwrite" in again.output
    failed = CliRunner().invoke(
        cli, ["-q", "sweep", str(path), "band", "2", "1", "--out", str(out), "--overwrite"]
    )
    assert failed.exit_code == 2 and "1 of 2 values failed: band=2: InputError:" in failed.output
    assert pd.read_csv(out, index_col="scenario").loc["c-band-1", "new_schools"] == 2
