"""Outputs all or nothing: staging and commit, kills at any moment, write errors, umask, no-solution runs.

The commit protocol (siting/_atomic.py) is tested on small files, with a SIGKILL at every file-system step
of a commit; the whole command line is killed on the sample city at several moments of real runs.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from siting import _atomic
from siting.errors import OutputExistsError, OutputWriteError
from tests.conftest import REPO, SAMPLE

PYTHON = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(REPO), "SITING_NO_PROGRESS": "1"}
SCENARIO = SAMPLE / "scenarios" / "sample.yaml"


# --------------------------------------------------------------------------- helpers
def targets(base: Path) -> tuple[Path, list[Path]]:
    return base / "data" / "out", [
        base / "maps" / name for name in ("s.html", "s-hearing.html", "s-review.html")
    ]


def snapshot(base: Path) -> dict[str, int]:
    """``relative path -> inode`` of every output file (the result folder's files and the maps)."""
    out_dir, maps = targets(base)
    files = sorted(out_dir.iterdir()) if out_dir.is_dir() else []
    return {str(p.relative_to(base)): p.stat().st_ino for p in [*files, *maps] if p.exists()}


def leftovers(base: Path) -> list[str]:
    """Temporaries, old copies and journals anywhere under ``base``."""
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if ".siting-" in p.name)


def classify(base: Path, old: dict[str, int]) -> str:
    """``"old"``, ``"new"`` (complete, no file of the old set) or ``"mix"``."""
    now = snapshot(base)
    if now == old:
        return "old"
    if set(now) == set(old) and not set(now.values()) & set(old.values()):
        return "new"
    return "mix"


# --------------------------------------------------------------------------- the protocol on small files
STAGE_SCRIPT = """
import os, signal, sys
from pathlib import Path
from siting import _atomic

base, kill_at, label = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out_dir = base / "data" / "out"
maps = [base / "maps" / n for n in ("s.html", "s-hearing.html", "s-review.html")]
steps = {"n": 0, "on": False}

def counted(real):
    def step(*args, **kw):
        if steps["on"]:
            steps["n"] += 1
            if steps["n"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kw)
    return step

Path.rename, Path.replace, os.link = counted(Path.rename), counted(Path.replace), counted(os.link)
real_commit = _atomic.StagedOutputs.commit
def commit(self):
    steps["on"] = True
    real_commit(self)
_atomic.StagedOutputs.commit = commit

_atomic.recover([out_dir, *maps])
with _atomic.all_or_nothing() as staged:
    folder = staged.folder(out_dir)
    for name in ("summary.json", "assignment.csv"):
        (folder / name).write_text(label + "|" + name)
    for target in maps:
        staged.file(target).write_text(label + "|" + target.name)
print("steps", steps["n"])
"""


def stage(base: Path, kill_at: int, label: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-c", STAGE_SCRIPT, str(base), str(kill_at), label],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_kill_at_every_step_of_a_commit_leaves_old_or_new(tmp_path):
    first = stage(tmp_path, 0, "v0")
    assert first.returncode == 0, first.stderr
    assert stage(tmp_path, 0, "v1").returncode == 0
    n_steps = int(stage(tmp_path, 0, "v2").stdout.split()[-1])
    previous = "v2"
    assert n_steps >= 9  # journal + folder aside + folder in + a link and a replace per map
    seen = set()
    for kill_at in range(1, n_steps + 1):
        old = snapshot(tmp_path)
        proc = stage(tmp_path, kill_at, f"k{kill_at}")
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        journal = _atomic.journal_path(targets(tmp_path)[0])
        raw = classify(tmp_path, old)
        assert raw in {"old", "new"} or journal.exists(), (kill_at, raw, leftovers(tmp_path))
        out_dir, maps = targets(tmp_path)
        _atomic.recover([out_dir, *maps])  # what any siting command does first
        state = classify(tmp_path, old)
        seen.add(state)
        # step 1 puts the journal in place: killed before it, the old set stays; after it, the new one
        assert state == ("old" if kill_at == 1 else "new"), (kill_at, state)
        assert leftovers(tmp_path) == []
        labels = {p.read_text().split("|")[0] for p in [*out_dir.iterdir(), *maps]}
        assert labels == {f"k{kill_at}" if state == "new" else previous}, (kill_at, labels)
        previous = labels.pop()
    assert seen == {"old", "new"}


def test_stale_temporaries_are_removed_and_a_live_writers_are_named(tmp_path):
    out_dir, maps = targets(tmp_path)
    assert stage(tmp_path, 0, "v0").returncode == 0
    dead = subprocess.Popen([PYTHON, "-c", "pass"])  # a pid that no longer runs
    dead.wait()
    stale = [
        out_dir.parent / f".out.siting-tmp-{dead.pid}-abcd1234",
        maps[0].parent / f".s.siting-tmp-{dead.pid}-abcd1234-hearing.html",
        out_dir.parent / ".out-k3j_x9q2",  # an older siting's mkdtemp folder
        maps[0].parent / ".s.html.ab12cd34.tmp",  # an older siting's mkstemp map
    ]
    stale[0].mkdir()
    (stale[0] / "summary.json").write_text("{}")
    stale[2].mkdir()
    for path in stale[1::2]:
        path.write_text("half a map")
    _atomic.recover([out_dir, *maps])
    assert leftovers(tmp_path) == [] and not stale[2].exists() and not stale[3].exists()
    live = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(30)"])
    try:
        busy = out_dir.parent / f".out.siting-tmp-{live.pid}-00ff00ff"
        busy.mkdir()
        with pytest.raises(OutputExistsError, match=rf"{busy.name} is being written by another siting run"):
            _atomic.recover([out_dir, *maps])
    finally:
        live.kill()
        live.wait()
    _atomic.recover([out_dir, *maps])  # now its writer is gone: cleaned
    assert leftovers(tmp_path) == []


def test_an_error_while_moving_in_puts_the_old_outputs_back(tmp_path, monkeypatch):
    out_dir, maps = targets(tmp_path)
    assert stage(tmp_path, 0, "v0").returncode == 0
    old = snapshot(tmp_path)
    real = Path.replace

    def refuse_review(self, target):
        if Path(target).name == "s-review.html" and ".siting-tmp-" in self.name:
            raise PermissionError(errno.EACCES, "Permission denied", str(target))
        return real(self, target)

    monkeypatch.setattr(Path, "replace", refuse_review)
    expected = r"Permission denied.*earlier outputs are unchanged"
    with pytest.raises(OutputWriteError, match=expected), _atomic.all_or_nothing() as staged:
        (staged.folder(out_dir) / "summary.json").write_text("new")
        for target in maps:
            staged.file(target).write_text("new")
    assert classify(tmp_path, old) == "old" and leftovers(tmp_path) == []
    assert (out_dir / "summary.json").read_text() == "v0|summary.json"


def test_text_files_follow_the_umask(tmp_path):
    previous = os.umask(0o002)
    try:
        path = _atomic.write_text_atomic(tmp_path / "a" / "map.html", "x")
        with _atomic.all_or_nothing() as staged:
            (staged.folder(tmp_path / "res") / "t.csv").write_text("x")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "res").stat().st_mode & 0o777 == 0o775
    assert (tmp_path / "res" / "t.csv").stat().st_mode & 0o777 == 0o664


# --------------------------------------------------------------------------- the command line on the sample
# Every run below is started under umask 002 (the test process has 022): outputs must come out group-writable.
UMASK = 0o002


def run_args(base: Path, *extra: str) -> list[str]:
    """``siting`` arguments running the sample into ``base``'s output folder and maps."""
    out_dir, maps = targets(base)
    return ["-q", "run", str(SCENARIO), "--out", str(out_dir), "--map", str(maps[0]), *extra]


def cli(base: Path, *extra: str) -> list[str]:
    """The command line of :func:`run_args` in a new process, under :data:`UMASK`."""
    umask = ["sh", "-c", f'umask {UMASK:03o} && exec "$@"', "sh"]
    return [*umask, PYTHON, "-m", "siting.cli", *run_args(base, *extra)]


def main(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """Run the ``siting`` console entry point in this process; return its exit code and stderr."""
    from siting import cli as siting_cli

    monkeypatch.setattr(sys, "argv", ["siting", *argv])
    with pytest.raises(SystemExit) as stop:
        siting_cli.main()
    return stop.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def sample_base(tmp_path_factory) -> Path:
    """A folder with one complete run of the sample (its cache makes later runs take seconds)."""
    if not SCENARIO.exists():
        pytest.skip(f"the bundled sample city is missing: {SCENARIO}")
    base = tmp_path_factory.mktemp("sample")
    done = subprocess.run(cli(base), cwd=base, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return base


def test_run_outputs_follow_the_umask(sample_base):
    out_dir, maps = targets(sample_base)
    assert out_dir.stat().st_mode & 0o777 == 0o777 & ~UMASK
    assert {p.stat().st_mode & 0o777 for p in [*out_dir.iterdir(), *maps]} == {0o666 & ~UMASK}


def _kill_when(proc: subprocess.Popen, base: Path, moment: tuple[str, float]) -> None:
    """SIGKILL ``proc`` ``moment[1]`` s after ``moment[0]``: its start, or when a temporary (``"tmp"``) or
    the journal in place (``"commit"``) first appears."""
    event, delay = moment
    folders = (base / "data", base / "maps")
    journal = _atomic.journal_path(targets(base)[0]).name
    seen = (lambda name: name == journal) if event == "commit" else (lambda name: f".siting-{event}" in name)
    start = time.monotonic()
    while event != "start" and proc.poll() is None and time.monotonic() - start < 300:
        if any(seen(p.name) for folder in folders for p in folder.iterdir()):
            break
        time.sleep(0.0005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_kill_9_during_real_runs_leaves_the_old_or_the_new_outputs(sample_base):
    base = sample_base
    moments = [("start", 1.0), ("tmp", 0.0), ("tmp", 0.15), ("tmp", 0.5), ("commit", 0.0)]
    outcomes = []
    for moment in moments:
        old = snapshot(base)
        proc = subprocess.Popen(cli(base, "--overwrite"), cwd=base, env=ENV, stderr=subprocess.DEVNULL)
        _kill_when(proc, base, moment)
        journal = _atomic.journal_path(targets(base)[0])
        raw = classify(base, old)
        assert raw in {"old", "new"} or journal.exists(), (moment, raw, leftovers(base))
        out_dir, maps = targets(base)
        _atomic.recover([out_dir, *maps])  # what the next siting command does first
        state = classify(base, old)
        assert state in {"old", "new"}, (moment, state, leftovers(base))
        assert leftovers(base) == []
        json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
        outcomes.append((moment, proc.returncode, state))
    assert outcomes[0][2] == "old", outcomes  # killed during the work: nothing touched
    assert outcomes[-1][2] == "new", outcomes  # killed once the journal is in place (or done): committed


def test_no_solution_exits_with_one_line_and_writes_nothing(sample_base, tmp_path, monkeypatch, capsys):
    out_dir, maps = targets(tmp_path)
    monkeypatch.chdir(sample_base)  # its cache
    code, err = main(run_args(tmp_path, "--time-limit", "0.001"), monkeypatch, capsys)
    assert code == 2
    errors = [line for line in err.splitlines() if not line.startswith("WARNING")]
    assert len(errors) == 1, err
    assert errors[0].startswith("Error: scenario sample: the solver found no solution (status not_solved")
    assert "nothing was written" in errors[0] and "--time-limit" in errors[0]
    assert not out_dir.exists() and not any(m.exists() for m in maps) and leftovers(tmp_path) == []


def test_review_and_map_refuse_a_folder_without_a_solution_or_incomplete(
    sample_base, tmp_path, monkeypatch, capsys
):
    from shutil import copytree

    broken = copytree(targets(sample_base)[0], tmp_path / "no-solution")
    summary = json.loads((broken / "summary.json").read_text(encoding="utf-8"))
    summary["solution"].update(status="not_solved", solver_status="Time limit reached", objective=None)
    (broken / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    partial = copytree(targets(sample_base)[0], tmp_path / "partial")
    (partial / "costs.parquet").unlink()
    monkeypatch.chdir(tmp_path)
    for folder, expected in ((broken, "this result has no solution"), (partial, "incomplete result folder")):
        for command in ("review", "map"):
            code, err = main(["-q", command, str(folder)], monkeypatch, capsys)
            assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "maps").exists()


def test_a_write_error_keeps_the_old_outputs_and_leaves_no_temporary(sample_base, monkeypatch, capsys):
    base = sample_base
    old = snapshot(base)
    real = pd.DataFrame.to_csv

    def disk_full(self, path=None, *args, **kw):
        if path is not None and "school_metrics" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(self, path, *args, **kw)

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    monkeypatch.chdir(base)
    code, err = main(run_args(base, "--overwrite"), monkeypatch, capsys)
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("Error: cannot write the outputs to") and "No space left on device" in line
    assert "earlier outputs are unchanged" in line and "Free some disk space" in line
    assert classify(base, old) == "old" and leftovers(base) == []


def test_an_infeasible_or_unsolved_model_stops_the_run_with_its_fix():
    from types import SimpleNamespace

    from siting.config import load_scenario
    from siting.errors import SolverError
    from siting.pipeline.run import _require_solution

    if not SCENARIO.exists():
        pytest.skip(f"the bundled sample city is missing: {SCENARIO}")
    scenario = load_scenario(SCENARIO)
    rows = pd.DataFrame({"unit_id": [1], "level": ["primary"], "school_id": ["P01"], "pupils": [3.0]})
    for status, words, fix in [
        ("infeasible", "Infeasible", "relax model.max_new_schools"),
        ("not_solved", "Time limit reached", "more time than 30 s"),
        ("optimal", "Optimal", "more time"),  # a solution with nobody assigned is no plan either
    ]:
        solution = SimpleNamespace(status=status, solver_status=words, assignment=rows.iloc[:0])
        with pytest.raises(SolverError, match=rf"status {status}: {words}\); nothing was written.*{fix}"):
            _require_solution(scenario, solution)
    _require_solution(scenario, SimpleNamespace(status="feasible", solver_status="", assignment=rows))
