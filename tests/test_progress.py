"""Progress bars: one per long stage of ``siting run`` on a terminal, none with ``-q`` or when piped."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from siting import _log

REPO = Path(__file__).resolve().parents[1]

STAGE_BARS = [
    "reading roads",  # network: the OSM file streamed way by way
    "reading road nodes",
    "road graph",
    "simplifying the road graph",
    "road table",  # the graph flattened into the arrays the costs walk on
    "walking distances",  # costs: bounded Dijkstra per batch of schools
    "model",  # the solve, against its time limit, with its phases
    "contiguity repair",  # catchments
    "maps",
]


def _run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``python -m siting ARGS`` with stderr on a pseudo-terminal; return its exit code and stderr."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))  # a 160-column terminal
    env = {k: v for k, v in os.environ.items() if k != "SITING_NO_PROGRESS"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "siting", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code = proc.wait(timeout=600)
    reader.join(timeout=10)
    os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_run_shows_a_bar_per_long_stage_on_a_terminal_and_none_with_quiet(sample_dir, tmp_path):
    scenario = sample_dir / "scenarios" / "sample.yaml"
    common = ["run", str(scenario), "--overwrite", "--no-cache", "--time-limit", "20"]
    code, err = _run_on_a_terminal(
        [*common, "--out", str(tmp_path / "a"), "--map", str(tmp_path / "a.html")], REPO
    )
    assert code == 0, err[-2000:]
    missing = [bar for bar in STAGE_BARS if f"{bar}:" not in err]
    assert not missing, f"no progress bar for {missing} in:\n{err[-3000:]}"
    assert "model: " in err and " s" in err  # the solve's bar counts seconds against the limit
    assert "INFO siting.pipeline.run: scenario sample done" in err  # log lines still shown, above the bars
    quiet = ["-q", *common, "--out", str(tmp_path / "b"), "--map", str(tmp_path / "b.html")]
    code, err = _run_on_a_terminal(quiet, REPO)
    assert code == 0, err[-2000:]
    shown = [bar for bar in STAGE_BARS if f"{bar}:" in err]
    assert not shown, f"-q still shows bars {shown}:\n{err[-2000:]}"


def test_no_bars_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("SITING_NO_PROGRESS", raising=False)
    _log.set_progress(True)
    assert not sys.stderr.isatty()
    assert not _log.progress_enabled()
    assert list(_log.progress(range(3), desc="loop")) == [0, 1, 2]
    with _log.progress_timer("timer", total_s=5):
        pass
    assert "loop" not in capsys.readouterr().err


def test_timer_counts_seconds_and_shows_the_followed_logger(monkeypatch):
    """On a terminal the timer bar ticks against its budget and shows the followed logger's messages."""
    out = io.StringIO()
    out.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.delenv("SITING_NO_PROGRESS", raising=False)
    monkeypatch.setattr(sys, "stderr", out)
    _log.set_progress(True)
    logger = logging.getLogger("siting.test_progress")
    logger.setLevel(logging.INFO)
    with _log.progress_timer("solving", total_s=30, follow="siting.test_progress"):
        logger.info("relaxation: Optimal in 0.1 s")
        time.sleep(1.2)
    text = out.getvalue()
    assert "solving: " in text and "/30 s" in text
    assert "1/30 s" in text  # a second went by
    assert "relaxation: Optimal in 0.1 s" in text
    assert not logger.handlers  # the bar's handler is removed when the block ends
