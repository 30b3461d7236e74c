"""The package's shape: imports point one way (cli → pipeline → stages → standards/errors), files stay small.

Read from the source with ``ast`` (every import, also those inside functions), so a new import that goes
against the direction fails here before it becomes a cycle. ``docs/architecture.md`` draws the same table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "siting"

FOUNDATION = {"__init__", "errors", "standards", "_log", "_crs", "_cache", "_jsonify", "_atomic", "schema"}
STAGES = {"config", "facilities", "demand", "network", "model", "catchments", "sample"}
PRODUCTS = {"metrics", "report", "maps", "plots", "search_areas"}
# what each top-level part of the package may import, besides itself
ALLOWED: dict[str, set[str]] = {
    "__init__": {"errors", "standards"},
    "errors": set(),
    "standards": {"errors"},
    "_log": set(),
    "_crs": {"errors"},
    "schema": {"errors", "standards", "_log"},  # the declared input layers, read by every stage
    "_cache": {"_log", "_atomic", "errors"},
    "_jsonify": set(),
    "_atomic": {"_log", "errors"},  # all-or-nothing outputs: the maps and the pipeline both write with it
    **dict.fromkeys(STAGES, FOUNDATION),
    "network": FOUNDATION | {"facilities"},  # costs_cli reads the schools layer
    "metrics": FOUNDATION | {"catchments"},
    # the hearing brief lists the sizes a parcel's land allows and re-solves with a parcel forced open/closed
    "report": FOUNDATION | {"catchments", "metrics", "facilities", "model"},
    "maps": FOUNDATION | {"catchments", "report"},  # a reserved parcel's popup is its hearing brief
    "plots": FOUNDATION,
    "search_areas": FOUNDATION | {"catchments", "facilities"},  # sizes land with size_options
    "pipeline": FOUNDATION | STAGES | PRODUCTS,
    "cli": FOUNDATION | STAGES | PRODUCTS | {"pipeline"},
    "__main__": {"cli"},  # python -m siting
}


def _part(path: Path) -> str:
    """The top-level part of the package a file belongs to (``siting/model/solvers.py`` -> ``model``)."""
    rel = path.relative_to(PACKAGE)
    return rel.stem if len(rel.parts) == 1 else rel.parts[0]


def _imported_parts(path: Path) -> set[tuple[str, int]]:
    """``(part, line)`` of every siting part the file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "siting":  # from siting import maps, __version__
                names = [f"siting.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            bits = name.split(".")
            if bits[0] != "siting":
                continue
            target = bits[1] if len(bits) > 1 else "__init__"
            if (PACKAGE / f"{target}.py").exists() or (PACKAGE / target).is_dir():
                found.add((target, node.lineno))
            else:  # a name defined in siting/__init__.py (e.g. __version__)
                found.add(("__init__", node.lineno))
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "_assets" not in p.parts)


def test_every_part_is_in_the_table():
    parts = {_part(p) for p in SOURCES}
    assert parts <= set(ALLOWED), f"add {sorted(parts - set(ALLOWED))} to ALLOWED and docs/architecture.md"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path):
    part = _part(path)
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports siting.{target}"
        for target, line in sorted(_imported_parts(path))
        if target != part and target not in ALLOWED[part]
    ]
    assert not wrong, f"{part} may import only {sorted(ALLOWED[part])}: " + "; ".join(wrong)


def test_the_table_has_no_cycle():
    seen: dict[str, int] = {}

    def visit(part: str, trail: tuple[str, ...]) -> None:
        assert part not in trail, f"import cycle allowed by the table: {' -> '.join((*trail, part))}"
        if seen.get(part):
            return
        for target in ALLOWED[part] - {part}:
            visit(target, (*trail, part))
        seen[part] = 1

    for part in ALLOWED:
        visit(part, ())


def test_a_wrong_import_is_caught(tmp_path):
    # the checker itself: a stage that imports the pipeline is found
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from siting.pipeline import run_scenario\n    from siting import maps\n")
    assert {t for t, _ in _imported_parts(bad)} == {"pipeline", "maps"}


MAX_LINES = 600
MAX_FUNCTION = 80


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_and_functions_are_small(path):
    text = path.read_text(encoding="utf-8")
    n_lines = len(text.splitlines())
    assert n_lines <= MAX_LINES, f"{path.name}: {n_lines} lines (limit about {MAX_LINES}); split it"
    long = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            doc = ast.get_docstring(node) or ""
            if length > MAX_FUNCTION and "long because" not in doc.lower():
                long.append(f"{node.name} ({length} lines)")
    assert not long, (
        f"{path.name}: functions over {MAX_FUNCTION} lines without a 'long because …' line in the "
        f"docstring: {', '.join(long)}"
    )
