"""Reading a scenario file: YAML, input paths made absolute and checked, then validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from siting.config.scenario import Scenario, _validate
from siting.errors import InputError, describe
from siting.standards import LEVELS

_PATH_KEYS: tuple[tuple[str, ...], ...] = (
    ("population", "raster"),
    ("population", "units"),
    ("districts", "path"),
    ("network", "osm"),
    ("network", "osm_xml"),
    ("network", "graphml"),
    ("network", "lines"),
    ("schools",),
    ("sites",),
)


def _resolve_paths(data: dict[str, Any], base: Path, label: str) -> None:
    """Make relative input paths absolute from ``base`` and check that each file exists."""

    def resolve(keys: tuple[str, ...], value: Any) -> Any:
        if value is None or not isinstance(value, str | Path):
            return value
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = (base / path).resolve()
        if not path.exists():
            raise InputError(
                f"{label}: {'.'.join(keys)} = {describe(str(value))} does not exist (looked for {path}). "
                "Relative paths are read from the scenario file's folder."
            )
        return path

    for keys in _PATH_KEYS:
        parent = data
        for part in keys[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
            if parent is None:
                break
        if isinstance(parent, dict) and keys[-1] in parent:
            parent[keys[-1]] = resolve(keys, parent[keys[-1]])
    catchments = data.get("current_catchments")
    if isinstance(catchments, dict):
        for level, value in list(catchments.items()):
            catchments[level] = resolve(("current_catchments", str(level)), value)
    outputs = data.get("outputs")
    if isinstance(outputs, dict):
        for key in ("dir", "map"):
            if outputs.get(key) is not None:
                outputs[key] = Path(outputs[key]).expanduser()


def _yaml_where(exc: yaml.YAMLError) -> str:
    """Where and what a YAML error is, in a few words: " at line 4, column 12: expected ',' or ']' ..."."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    tabs = " (YAML indents with spaces, not tabs)" if "\\t" in problem else ""
    return f"{where}: {' '.join(problem.split())}{tabs}; check the indentation, quotes and brackets there"


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path
        A YAML file (see README "Scenario file"). Relative input paths in it are read from its folder.

    Returns
    -------
    Scenario
        The validated scenario; ``scenario.source`` is the file.

    Raises
    ------
    InputError
        If the file is missing or not YAML, an input file is missing, or a value is invalid; the message
        names the file, the key and the value.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: scenario file not found.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML{_yaml_where(exc)}.") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else describe(data)
        raise InputError(
            f"{path}: a scenario must be a mapping of keys to values (key: value lines), got {got}."
        )
    data.setdefault("name", path.stem)
    _resolve_paths(data, path.parent.resolve(), str(path))
    scenario = _validate(data, str(path))
    for level in scenario.current_catchments:
        if level not in LEVELS:  # pragma: no cover - Literal already restricts it
            raise InputError(f"{path}: current_catchments.{level}: unknown level.")
    return scenario.model_copy(update={"source": path.resolve()})
