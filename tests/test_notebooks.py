"""The notebooks in notebooks/ run from a clean kernel, so a broken one fails the build."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO, SAMPLE

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_for_each_task():
    names = {p.stem for p in NOTEBOOKS}
    assert {"01-quick-start", "02-scenario-sweep", "03-catchment-review", "04-hearing-map"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: clear outputs"


KERNEL = "siting"  # registered by `make kernel` (part of `make test` and `make lab`)


@pytest.fixture(scope="module")
def kernel_name() -> str:
    """The project's kernel, as `make lab` registers it; it must run this environment's Python."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        message = (
            f"Jupyter kernel {KERNEL!r} is not registered: run `make kernel` (make test and make lab do)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    if Path(spec.argv[0]).absolute() != Path(sys.executable).absolute():
        pytest.fail(f"kernel {KERNEL!r} runs {spec.argv[0]}, not {sys.executable}: run `make kernel`")
    return KERNEL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_name_the_project_kernel(path):
    book = nbformat.read(path, as_version=4)
    assert book.metadata["kernelspec"]["name"] == KERNEL


def test_make_lab_sets_up_jupyterlab_and_the_kernel():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    lab = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert ".installed-lab" in lab and "kernel" in lab and "jupyter lab" in lab
    assert (
        '".[notebook]"' in makefile and "--name $(KERNEL)" in makefile and f"KERNEL := {KERNEL}" in makefile
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch, kernel_name):
    if not (SAMPLE / "scenarios" / "sample.yaml").exists():
        pytest.skip(f"the sample city is missing under {SAMPLE}")
    monkeypatch.setenv("SITING_NO_PROGRESS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book, timeout=900, kernel_name=kernel_name, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [
        out
        for cell in book.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors
