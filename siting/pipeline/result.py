"""What one run produced (:class:`RunResult`), and how it is saved to and read back from a folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from siting._atomic import all_or_nothing, recover
from siting._jsonify import json_ready
from siting._log import get_logger
from siting.config import Scenario
from siting.errors import InputError, OutputExistsError
from siting.pipeline.years import PLAN_TABLES
from siting.standards import Standards

log = get_logger(__name__)

SUMMARY_FILE = "summary.json"
GPKG_FILE = "siting.gpkg"
REQUIRED_FILES = (
    SUMMARY_FILE,
    GPKG_FILE,
    "costs.parquet",
    "assignment.csv",
    "solver_assignment.csv",
    "opened.csv",
)
"""Files every result folder has; :meth:`RunResult.load` refuses a folder that lacks one."""
SOLVED = frozenset({"optimal", "feasible"})
"""Solver statuses of a solution that can be saved, mapped and reviewed."""


@dataclass
class RunResult:
    """Everything one scenario run produced; maps, reports and notebooks read it.

    Attributes follow ``docs/architecture.md`` ("Run result"). ``summary`` is JSON-ready; its
    ``timings`` entry is the only part that differs between two runs of the same scenario.
    """

    scenario: Scenario | None
    standards: Standards
    units: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    costs: pd.DataFrame
    solution: Any
    assignment: pd.DataFrame
    catchments: gpd.GeoDataFrame
    current_catchments: gpd.GeoDataFrame
    changes: pd.DataFrame
    school_metrics: pd.DataFrame
    district_metrics: pd.DataFrame
    cv: pd.DataFrame
    summary: dict[str, Any]
    options: pd.DataFrame = field(default_factory=pd.DataFrame)
    unreachable: pd.DataFrame = field(default_factory=pd.DataFrame)
    contiguity: pd.DataFrame = field(default_factory=pd.DataFrame)
    overflow: pd.DataFrame = field(default_factory=pd.DataFrame)
    search_areas: gpd.GeoDataFrame = field(default_factory=gpd.GeoDataFrame)
    district_years: pd.DataFrame = field(default_factory=pd.DataFrame)
    balance_schools: pd.DataFrame = field(default_factory=pd.DataFrame)
    plan: Any = None
    """The year-by-year plan (``model.YearsResult``) of a scenario with ``plan:``; None otherwise (and
    after :meth:`load`, which reads its tables into :attr:`plan_tables`)."""
    plan_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    """With a plan: ``schedule``, ``spend_by_year``, ``needs_by_year``, ``assignment_by_year``,
    ``overflow_by_year`` (:data:`siting.pipeline.years.PLAN_TABLES`), each written as ``<name>.csv``."""
    out_dir: Path | None = None
    map_path: Path | None = None

    @property
    def name(self) -> str:
        """The scenario's name."""
        return str(self.summary.get("scenario", "result"))

    # ------------------------------------------------------------------ saving and loading
    def save(self, out_dir: str | Path, *, overwrite: bool = False) -> Path:
        """Write the result to ``out_dir`` all or nothing (see :mod:`siting._atomic`).

        Files: ``siting.gpkg`` (layers units, schools, sites, catchments, current_catchments, changes,
        districts, search_areas), CSV tables (assignment, opened, overflow, search_areas, changes,
        school_metrics, district_metrics, cv, options, unreachable, contiguity, district_years,
        balance_schools; with a plan also schedule, spend_by_year, needs_by_year, assignment_by_year,
        overflow_by_year), ``costs.parquet`` and
        ``summary.json``.

        Raises
        ------
        OutputExistsError
            If ``out_dir`` holds an earlier result and ``overwrite`` is false.
        OutputWriteError
            If a file cannot be written; ``out_dir`` is then as it was and no temporary is left.
        """
        out_dir = Path(out_dir)
        prepare_outputs(out_dir, None, overwrite)
        with all_or_nothing() as staged:
            self._write(staged.folder(out_dir))
        self.out_dir = out_dir
        return out_dir

    def _write(self, folder: Path) -> None:
        gpkg = folder / GPKG_FILE
        _to_gpkg(self.units, gpkg, "units")
        _to_gpkg(self.schools, gpkg, "schools")
        if len(self.sites):
            _to_gpkg(self.sites, gpkg, "sites")
        _to_gpkg(self.catchments, gpkg, "catchments")
        _to_gpkg(self.current_catchments, gpkg, "current_catchments")
        _to_gpkg(self.districts, gpkg, "districts")
        if len(self.changes):
            geoms = self.units.geometry.reindex(self.changes["unit_id"]).to_numpy()
            changes = gpd.GeoDataFrame(self.changes.copy(), geometry=list(geoms), crs=self.units.crs)
            _to_gpkg(changes, gpkg, "changes")
        if len(self.search_areas):
            _to_gpkg(self.search_areas, gpkg, "search_areas")
        tables = {
            "assignment": self.assignment,
            "solver_assignment": self.solution.assignment,
            "opened": self.solution.opened.reset_index(),
            "overflow": self.overflow,
            "search_areas": pd.DataFrame(self.search_areas.drop(columns="geometry", errors="ignore")),
            "changes": self.changes,
            "school_metrics": self.school_metrics,
            "district_metrics": self.district_metrics,
            "cv": self.cv,
            "options": self.options,
            "unreachable": self.unreachable,
            "contiguity": self.contiguity,
            "district_years": self.district_years,
            "balance_schools": self.balance_schools,
            **self.plan_tables,
        }
        for name, table in tables.items():
            table.to_csv(folder / f"{name}.csv", index=False, float_format="%.6g")
        self.costs.to_parquet(folder / "costs.parquet", index=False)
        (folder / SUMMARY_FILE).write_text(
            json.dumps(json_ready(self.summary, 6), indent=2, ensure_ascii=False, sort_keys=False) + "\n",
            encoding="utf-8",
        )

    @classmethod
    def load(cls, out_dir: str | Path) -> RunResult:
        """Read a result written by :meth:`save` (for ``siting review`` and comparisons).

        Raises
        ------
        InputError
            If ``out_dir`` does not hold a siting result.
        """
        from siting.model import SitingResult

        out_dir = Path(out_dir)
        summary = _read_summary(out_dir)
        gpkg = out_dir / GPKG_FILE

        def layer(name: str, index: str | None) -> gpd.GeoDataFrame:
            try:
                gdf = gpd.read_file(gpkg, layer=name)
            except Exception:
                return gpd.GeoDataFrame(geometry=[], crs=summary.get("crs"))
            return gdf.set_index(index) if index and index in gdf.columns else gdf

        def table(name: str) -> pd.DataFrame:
            path = out_dir / f"{name}.csv"
            try:
                return pd.read_csv(path)
            except (FileNotFoundError, pd.errors.EmptyDataError):
                return pd.DataFrame()

        units = layer("units", "unit_id")
        schools = layer("schools", "school_id")
        opened = table("opened")
        overflow = table("overflow")
        solution = SitingResult.from_tables(
            summary=summary.get("solution", {}),
            opened=opened.set_index("school_id") if "school_id" in opened.columns else opened,
            assignment=table("solver_assignment"),
            overflow=_solution_overflow(overflow),
        )
        return cls(
            scenario=None,
            standards=Standards.foshan().with_overrides(_standards_overrides(summary)),
            units=units,
            schools=schools,
            sites=layer("sites", "school_id"),
            districts=layer("districts", None),
            costs=pd.read_parquet(out_dir / "costs.parquet"),
            solution=solution,
            assignment=table("assignment"),
            catchments=layer("catchments", None),
            current_catchments=layer("current_catchments", None),
            changes=table("changes"),
            school_metrics=table("school_metrics"),
            district_metrics=table("district_metrics"),
            cv=table("cv"),
            summary=summary,
            options=table("options"),
            unreachable=table("unreachable"),
            contiguity=table("contiguity"),
            overflow=overflow,
            search_areas=layer("search_areas", None),
            district_years=table("district_years"),
            balance_schools=table("balance_schools"),
            plan_tables={n: table(n) for n in PLAN_TABLES if (out_dir / f"{n}.csv").exists()},
            out_dir=out_dir,
        )

    # ------------------------------------------------------------------ display
    def key_figures(self) -> dict[str, Any]:
        """The headline numbers (one row of :func:`compare_scenarios`)."""
        return dict(self.summary.get("key_figures", {}))

    def __repr__(self) -> str:
        figures = ", ".join(f"{k}={_fmt(v)}" for k, v in self.key_figures().items())
        return f"<RunResult {self.name}: {figures}>"

    def _repr_html_(self) -> str:
        """Key figures, the solver's status, and links to the maps and packs that exist (for Jupyter)."""
        import html

        sol = self.summary.get("solution", {})
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
            for k, v in self.key_figures().items()
        )
        status = html.escape(f"{sol.get('status')} (gap {_fmt(sol.get('gap'))})")
        links = "".join(
            f"<li><a href='{html.escape(href, quote=True)}' target='_blank'>{html.escape(label)}</a></li>"
            for label, href in self._links()
        )
        files = f"<ul>{links}</ul>" if links else ""
        return f"<b>siting result: {html.escape(self.name)}</b> — solver {status}{files}<table>{rows}</table>"

    def _links(self) -> list[tuple[str, str]]:
        """(label, href) of the maps beside ``map_path`` and the files of ``out_dir/pack`` that exist."""
        from siting.report import pack_files

        found: list[tuple[str, Path]] = []
        map_path = self.map_path or Path("maps") / f"{self.name}.html"
        for label, suffix in (("map", ""), ("hearing map", "-hearing"), ("review map", "-review")):
            path = map_path.with_name(f"{map_path.stem}{suffix}{map_path.suffix or '.html'}")
            if path.is_file():
                found.append((label, path))
        if self.out_dir is not None:
            names = {"brief_pdf": "hearing brief (PDF)", "brief_html": "hearing brief (HTML)",
                     "review_pdf": "review pack (PDF)", "review_html": "review pack (HTML)",
                     "hearing_map": "hearing map with re-solves"}  # fmt: skip
            for key, path in pack_files(Path(self.out_dir) / "pack").items():
                found.append((names.get(key, key.replace("_", " ")), path))
        return [(label, _href(path)) for label, path in found]


def _href(path: Path) -> str:
    """A link to a local file: relative to the working directory (as Jupyter serves it) when inside it."""
    import os

    try:
        return Path(os.path.relpath(path.resolve(), Path.cwd())).as_posix()
    except ValueError:  # another drive
        return path.resolve().as_uri()


def _solution_overflow(overflow: pd.DataFrame) -> pd.DataFrame:
    """The saved overflow as the model result's ``from_tables`` takes it.

    The model's own table (``school_id, level, capacity, pupils, overflow``) is the after-state of
    ``overflow.csv``.
    """
    cols = {"capacity_after": "capacity", "pupils_after": "pupils", "overflow_after": "overflow"}
    if not set(cols) <= set(overflow.columns):
        return pd.DataFrame(columns=["school_id", "level", *cols.values()])
    return overflow[["school_id", "level", *cols]].rename(columns=cols)


def _read_summary(out_dir: Path) -> dict[str, Any]:
    """The summary of a complete result folder with a solution; InputError naming what is wrong."""
    try:
        recover([out_dir])  # a save killed while moving files in is finished first
    except OSError as exc:  # e.g. a read-only copy: read what is there
        log.warning("%s: could not finish an interrupted save (%s)", out_dir, exc)
    summary_path = out_dir / SUMMARY_FILE
    if not summary_path.exists():
        raise InputError(
            f"{out_dir}: no {SUMMARY_FILE} here, so it is not a siting result folder; "
            "give the folder `siting run` wrote (data/processed/<scenario>/)."
        )
    missing = [name for name in REQUIRED_FILES if not (out_dir / name).exists()]
    if missing:
        raise InputError(
            f"{out_dir}: incomplete result folder, {', '.join(missing)} missing; run the scenario again "
            "(`siting run <scenario> --overwrite`) to write a complete one."
        )
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{summary_path}: not readable JSON ({exc}); run the scenario again.") from exc
    if not isinstance(summary, dict):
        raise InputError(f"{summary_path}: not a siting summary (a JSON object); run the scenario again.")
    solution = summary.get("solution") or {}
    if "status" in solution and solution["status"] not in SOLVED:
        raise InputError(
            f"{out_dir}: this result has no solution (solver status {solution.get('status')!r}: "
            f"{solution.get('solver_status', 'unknown')}), so there is nothing to review or map; run the "
            "scenario again with a longer time limit (model.time_limit_s or --time-limit)."
        )
    return summary


def _standards_overrides(summary: dict[str, Any]) -> dict[str, Any]:
    values = dict(summary.get("standards", {}))
    defaults = Standards.foshan().to_dict()
    return {k: v for k, v in values.items() if k in defaults and v != defaults[k]}


def prepare_outputs(out_dir: Path, map_files: list[Path] | None, overwrite: bool) -> None:
    """Before any work: finish or clean what an interrupted run left, then refuse to overwrite unasked.

    Parameters
    ----------
    out_dir
        The result folder.
    map_files
        The map files the run will write (None: no maps).
    overwrite
        Whether earlier outputs may be replaced.

    Raises
    ------
    OutputExistsError
        When earlier outputs exist and ``overwrite`` is off (naming them and the two ways on), or when
        another live run is writing the same outputs (naming its temporaries).
    """
    recover([out_dir, *(map_files or [])])
    if overwrite:
        return
    existing = []
    if out_dir.exists() and any(out_dir.iterdir()):
        existing.append(str(out_dir))
    existing += [str(path) for path in map_files or [] if path.exists()]
    if existing:
        raise OutputExistsError(
            f"earlier outputs exist: {', '.join(existing)}. Pass --overwrite (overwrite=True) to replace "
            "them, or set outputs.dir / outputs.map in the scenario to keep both."
        )


def _to_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    frame = gdf.reset_index() if gdf.index.name else gdf.reset_index(drop=True)
    for col in frame.columns:
        if col != frame.geometry.name and frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: None if v is None or v is pd.NA else str(v))
    frame.to_file(path, layer=layer, driver="GPKG")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
