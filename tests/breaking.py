"""Helpers for the bad-input catalogue (tests/test_bad_inputs.py): a copy of the sample city to break.

:class:`City` copies the bundled sample to a folder and offers small edits, each the kind of thing a planner
does by mistake: change one scenario key, change one feature's properties, drop a column, save a layer in
another format. :func:`run_cli` runs ``siting run`` on it through click's runner and returns what a planner
would see.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import yaml
from click.testing import CliRunner, Result

DELETE = object()
"""Value for :meth:`City.set` that removes the key."""

# layer name -> (file in the sample, scenario key holding its path)
LAYERS = {
    "schools": ("schools.geojson", "schools"),
    "sites": ("sites.geojson", "sites"),
    "districts": ("districts.geojson", "districts.path"),
    "catchments_primary": ("catchments_primary.geojson", "current_catchments.primary"),
    "catchments_junior": ("catchments_junior.geojson", "current_catchments.junior"),
}


@dataclass
class City:
    """A writable copy of the sample city; ``scenario`` is its YAML file."""

    root: Path

    @classmethod
    def copy_of(cls, sample: Path, dest: Path) -> City:
        """Copy ``sample`` (the folder holding ``scenarios/sample.yaml``) to ``dest``."""
        shutil.copytree(sample, dest, ignore=shutil.ignore_patterns("README.md", "water.geojson"))
        return cls(dest)

    @property
    def scenario(self) -> Path:
        return self.root / "scenarios" / "sample.yaml"

    def path(self, layer: str) -> Path:
        """The file a layer is in now (after :meth:`convert`, its new file)."""
        value: Any = self.data()
        for part in LAYERS[layer][1].split("."):
            value = value[part]
        return (self.scenario.parent / value).resolve()

    # ---------------------------------------------------------------- the scenario
    def data(self) -> dict[str, Any]:
        return yaml.safe_load(self.scenario.read_text(encoding="utf-8"))

    def set(self, dotted: str, value: Any) -> None:
        """Set (or with :data:`DELETE`, remove) one scenario key, e.g. ``set("model.gap", 0.01)``."""
        data = self.data()
        *parents, last = dotted.split(".")
        target = data
        for part in parents:
            target = target.setdefault(part, {})
        if value is DELETE:
            target.pop(last)
        else:
            target[last] = value
        self.scenario.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    def write_scenario_text(self, text: str) -> None:
        self.scenario.write_text(text, encoding="utf-8")

    # ---------------------------------------------------------------- the layers (GeoJSON)
    def features(self, layer: str, edit: Callable[[list[dict]], list[dict] | None]) -> None:
        """Edit a GeoJSON layer's feature list in place (``edit`` may return a new list)."""
        path = self.path(layer)
        doc = json.loads(path.read_text(encoding="utf-8"))
        result = edit(doc["features"])
        if result is not None:
            doc["features"] = result
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    def props(self, layer: str, feature_id: str | int | None, **changes: Any) -> None:
        """Change properties of one feature (by ``school_id``, position, or None for every feature).

        A value of :data:`DELETE` removes the property.
        """

        def edit(features: list[dict]) -> None:
            for i, feature in enumerate(features):
                p = feature["properties"]
                if feature_id is None or feature_id == i or p.get("school_id") == feature_id:
                    for key, value in changes.items():
                        if value is DELETE:
                            p.pop(key, None)
                        else:
                            p[key] = value

        self.features(layer, edit)

    def rename(self, layer: str, old: str, new: str) -> None:
        """Rename one property in every feature."""

        def edit(features: list[dict]) -> None:
            for feature in features:
                p = feature["properties"]
                if old in p:
                    p[new] = p.pop(old)

        self.features(layer, edit)

    def geometry(self, layer: str, feature_id: str | int, geometry: dict | None) -> None:
        """Replace one feature's geometry (a GeoJSON geometry dict, or None)."""

        def edit(features: list[dict]) -> None:
            for i, feature in enumerate(features):
                if feature_id == i or feature["properties"].get("school_id") == feature_id:
                    feature["geometry"] = geometry

        self.features(layer, edit)

    def coordinates(self, layer: str, fix: Callable[[list[float]], list[float]], feature_id=None) -> None:
        """Apply ``fix`` to every ``[x, y]`` pair of one feature (or all, ``feature_id=None``)."""

        def walk(c: Any) -> Any:
            return fix(c) if isinstance(c[0], int | float) else [walk(x) for x in c]

        def edit(features: list[dict]) -> None:
            for i, feature in enumerate(features):
                if (
                    feature_id is None
                    or feature_id == i
                    or feature["properties"].get("school_id") == feature_id
                ):
                    feature["geometry"]["coordinates"] = walk(feature["geometry"]["coordinates"])

        self.features(layer, edit)

    def convert(self, layer: str, suffix: str, *, crs: Any = "keep", edit: Callable | None = None) -> Path:
        """Save a layer in another format (``.shp``, ``.gpkg``, ``.csv``...) and point the scenario at it.

        ``crs=None`` writes it without a CRS; ``edit`` may change the GeoDataFrame before writing.
        """
        src = self.path(layer)
        gdf = gpd.read_file(src)
        if edit is not None:
            gdf = edit(gdf)
        if crs is None:
            gdf = gdf.set_crs(None, allow_override=True)
        dest = src.with_suffix(suffix)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "column names longer than 10 characters will be truncated"
            gdf.to_file(dest)
        if crs is None and suffix == ".shp":
            dest.with_suffix(".prj").unlink(missing_ok=True)
        self.set(LAYERS[layer][1], f"../{dest.relative_to(self.root).as_posix()}")
        return dest


@dataclass
class Seen:
    """What a planner sees after ``siting run``: the exit code, the lines printed, the exception."""

    code: int
    lines: list[str]
    result: Result

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def run_cli(city: City, out: Path, map_path: Path, *extra: str) -> Seen:
    """Run ``siting -q run`` on ``city``'s scenario, writing to ``out`` and ``map_path``."""
    from siting.cli import cli

    args = ["-q", "run", str(city.scenario), "--out", str(out), "--map", str(map_path), "--no-cache", *extra]
    result = CliRunner().invoke(cli, args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    return Seen(result.exit_code, lines, result)
