"""A parameter sweep: one scenario run over a range of one parameter, in one process or in several.

Every variant is a whole :func:`~siting.pipeline.run.run_scenario` of ``scenario.replace(parameter=value)``
(its outputs, when written, all or nothing in its own folder). With ``workers > 1`` the variants run in
separate processes under Dask's local process scheduler (the optional extra: ``pip install
'siting[parallel]'``); processes, not threads, because HiGHS and the rounding's Python loops hold the
GIL. Each worker solves with one solver thread, so N workers on N cores do not oversubscribe.

The expensive inputs (demand, network, costs) are computed once, in the calling process, into the stage
cache (:mod:`siting._cache`); every worker reads them from its files once and from memory after that
(measured in ``benchmarks/RESULTS.md``, section ``sweep``). Without a cache folder (``cache_dir=None``)
a parallel sweep uses a temporary one for its workers and removes it.

An error in one variant does not stop the others: every value is run, and the failures are reported
together with their values (:class:`~siting.errors.SweepError`, or an ``error`` column).
"""

from __future__ import annotations

import os
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pandas as pd

from siting._atomic import write_text_atomic
from siting._cache import DEFAULT_CACHE_DIR
from siting._log import get_logger, progress, set_progress
from siting.config import Scenario, load_scenario
from siting.errors import InputError, OutputExistsError, SweepError
from siting.pipeline import checks, stages
from siting.pipeline.result import RunResult
from siting.pipeline.run import compare_scenarios, run_scenario

log = get_logger(__name__)

_EXTRA = "pip install 'siting[parallel]'"
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class Outcome(NamedTuple):
    """One variant's run: its result, or the error that stopped it (``"<Type>: <message>"``)."""

    value: Any
    name: str
    result: RunResult | None
    error: str | None
    detail: str | None  # the traceback, for the log


def sweep(
    scenario: Scenario,
    parameter: str,
    values: Sequence[Any],
    *,
    workers: int = 1,
    threads: int | None = None,
    write: bool = False,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    on_error: Literal["raise", "keep"] = "raise",
) -> tuple[list[RunResult | None], pd.DataFrame]:
    """Run one scenario over a range of one parameter and tabulate the key figures.

    Only the model is re-solved when ``parameter`` is a model parameter: demand, the network and the
    cost table are built once and come from the cache for every value.

    Parameters
    ----------
    scenario
        The base scenario.
    parameter
        Any key :meth:`Scenario.replace` accepts, e.g. ``"max_new_schools"`` or ``"disruption_m"``.
    values
        The values to try, in order; each must give a valid scenario and a distinct name.
    workers
        Processes to run the variants in (1: in this process, no Dask needed). More than 1 needs Dask
        (``pip install 'siting[parallel]'``); at most one per core is useful.
    threads
        Solver threads per variant (None: 1 with ``workers > 1``, else the solver's default). The same
        ``threads`` gives the same results whatever ``workers`` is.
    write
        Write each variant's files (under ``data/processed/<name>-<parameter>-<value>/``), each folder all
        or nothing.
    cache_dir
        As for :func:`run_scenario`.
    on_error
        ``"raise"``: after every value has run, raise :class:`SweepError` naming each failed value;
        ``"keep"``: return them, ``None`` in the results and the error in the table's ``error`` column.

    Returns
    -------
    tuple
        ``(results, table)``: one result per value, and one row per value (see :func:`compare_scenarios`)
        with a column named after ``parameter`` and, when some failed and ``on_error="keep"``, ``error``.

    Raises
    ------
    InputError
        Before any run: a value the scenario does not accept, two values with the same name, ``workers``
        below 1, or ``workers > 1`` without Dask.
    SweepError
        With ``on_error="raise"``, when some values failed; it holds ``results``, ``table`` and
        ``failures`` (value → error) of the whole sweep.
    """
    if on_error not in ("raise", "keep"):
        raise InputError(f"sweep: on_error={on_error!r}; use 'raise' or 'keep'.")
    runs = variants(scenario, parameter, values)
    if workers < 1:
        raise InputError(f"sweep: workers={workers!r}; give 1 (in this process) or more (processes).")
    if workers == 1:  # the first variant fills the cache for the others
        outcomes = [
            _run_variant(value, variant, write, cache_dir, threads)
            for value, variant in progress(runs, desc=f"sweep {parameter}", unit="run")
        ]
    else:
        per_worker = 1 if threads is None else threads
        outcomes = _run_processes(runs, workers, write, cache_dir, per_worker)
    return _collect(parameter, outcomes, on_error)


def sweep_cli(
    scenario_file: str | Path,
    parameter: str,
    values: list[str],
    *,
    workers: int = 1,
    write: bool = False,
    out_path: Path | None = None,
    overwrite: bool = False,
    no_cache: bool = False,
) -> tuple[str, str | None]:
    """Run ``siting sweep``: the sweep of :func:`sweep`, its table as text (and CSV), and what failed.

    Parameters
    ----------
    scenario_file
        The base scenario's YAML file.
    parameter
        As for :func:`sweep`.
    values
        The values as typed; each is read as YAML (``6``, ``0.5``, ``null``, ``{primary: 800}``).
    workers, write
        As for :func:`sweep`.
    out_path
        Write the table here as CSV (atomically); refused if it exists unless ``overwrite``.
    overwrite
        Replace ``out_path``.
    no_cache
        Rebuild demand, network and costs (a parallel sweep still shares them through a temporary cache).

    Returns
    -------
    tuple
        ``(text, failed)``: the table, one column per value, and where it was written; and ``None``, or
        a line naming each value that failed with its error (the command prints it and exits 2).
    """
    import yaml

    if out_path is not None and Path(out_path).exists() and not overwrite:
        raise OutputExistsError(f"{out_path} exists; pass --overwrite to replace it.")
    parsed = [yaml.safe_load(v) for v in values]
    cache = None if no_cache else DEFAULT_CACHE_DIR
    scenario = load_scenario(scenario_file)
    _, table = sweep(
        scenario, parameter, parsed, workers=workers, write=write, cache_dir=cache, on_error="keep"
    )
    lines = [table.T.to_string()]
    if out_path is not None:
        write_text_atomic(Path(out_path), table.to_csv())
        lines.append(f"table written: {out_path}")
    if "error" not in table:
        return "\n".join(lines), None
    failed = table[table["error"].notna()]
    pairs = zip(failed[parameter], failed["error"], strict=True)
    shown = "; ".join(f"{parameter}={value!r}: {error}" for value, error in pairs)
    return "\n".join(lines), f"{len(failed)} of {len(table)} values failed: {shown}"


def variants(scenario: Scenario, parameter: str, values: Sequence[Any]) -> list[tuple[Any, Scenario]]:
    """``(value, variant)`` per value: ``parameter`` set, named ``<name>-<parameter>-<value>``.

    A scenario with its own ``outputs.dir`` gives each variant ``<dir>-<parameter>-<value>`` beside it.

    Raises
    ------
    InputError
        For a value the scenario does not accept (naming key and value), no values, or two values that
        give the same name (their outputs would overwrite each other).
    """
    if not len(values):
        raise InputError(f"sweep of {parameter}: no values given; give at least one.")
    runs, names = [], {}
    for value in values:
        label = str(value).replace(" ", "").replace("/", "-")
        name = f"{scenario.name}-{parameter}-{label}"
        if name in names:
            raise InputError(
                f"sweep of {parameter}: the values {names[name]!r} and {value!r} both give the scenario name "
                f"{name!r}, so their outputs would overwrite each other; give each value once."
            )
        names[name] = value
        changes = {parameter: value, "name": name}
        if scenario.outputs.dir is not None:  # one folder per variant, beside the scenario's own
            changes["outputs.dir"] = scenario.outputs.dir.with_name(
                f"{scenario.outputs.dir.name}-{parameter}-{label}"
            )
        runs.append((value, scenario.replace(**changes)))
    return runs


def _run_variant(
    value: Any, variant: Scenario, write: bool, cache_dir: str | Path | None, threads: int | None
) -> Outcome:
    """Run one variant; an error is returned with its value, never raised (the other values go on)."""
    try:
        result = run_scenario(
            variant, write=write, draw_map=False, overwrite=True, cache_dir=cache_dir, threads=threads
        )
    except Exception as exc:  # one variant's failure is reported with its value, not lost
        log.warning("sweep: %s failed: %s: %s", variant.name, type(exc).__name__, exc)
        words = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        return Outcome(value, variant.name, None, words, traceback.format_exc())
    return Outcome(value, variant.name, result, None, None)


def _run_processes(
    runs: list[tuple[Any, Scenario]],
    workers: int,
    write: bool,
    cache_dir: str | Path | None,
    threads: int,
) -> list[Outcome]:
    """Run the variants in ``workers`` processes (Dask's local process scheduler), inputs cached first."""
    dask = _require_dask()
    from concurrent.futures.process import BrokenProcessPool

    with _shared_cache(cache_dir) as cache, _one_blas_thread():
        _warm(runs[0][1], cache)
        tasks = [
            dask.delayed(_run_variant, pure=False)(value, variant, write, cache, threads)
            for value, variant in runs
        ]
        log.info("sweep: %d variants, %d processes, %d solver thread(s) each", len(runs), workers, threads)
        try:
            # chunksize 1: one variant per hand-out (Dask batches 6 by default, all on one worker here)
            return list(
                dask.compute(
                    *tasks,
                    scheduler="processes",
                    num_workers=min(workers, len(runs)),
                    chunksize=1,
                    initializer=_worker_init,
                )
            )
        except BrokenProcessPool as exc:
            raise SweepError(
                f"sweep from {runs[0][1].name}: a worker process died before every value had run, so "
                "nothing was returned: out of memory (run with fewer workers), killed, or started from a "
                "script that calls sweep outside `if __name__ == '__main__':` (worker processes re-import "
                f"the script; put the call under that guard). ({exc})"
            ) from exc


def warm_cache(scenario: Scenario, cache_dir: str | Path | None) -> None:
    """Build the scenario's demand, network and cost table into the stage cache.

    The same stage calls as :func:`run_scenario` up to the costs, so every variant that changes only the
    model finds them cached, in this process's memory and in files under ``cache_dir`` (None: memory
    only); a worker process reads the files once (the network's too: ``run_scenario`` loads it before
    the costs) and its memory after that.

    Raises
    ------
    InputError
        As :func:`run_scenario` does for the scenario's inputs.
    """
    cache = Path(cache_dir) if cache_dir is not None else None
    area = stages.read_study_area(scenario)
    inputs = checks.check_inputs(scenario, area)
    units, _ = stages.build_demand(scenario, area, cache_dir=cache, catchments=inputs.catchments)
    facilities = stages.read_facilities(scenario, units, area.crs, layers=(inputs.schools, inputs.sites))
    graph = stages.load_graph(scenario, area, cache_dir=cache)
    stages.build_costs(scenario, graph, units, facilities.facilities, area.crs, cache_dir=cache)


def _warm(variant: Scenario, cache: Path) -> None:
    """Build the first variant's inputs for the workers; an error is left for that variant's run to report.

    The first variant, not the base scenario: a sweep of an input parameter (``cell_size_m``) shares
    nothing, and the base's inputs would be built for no variant.
    """
    try:
        warm_cache(variant, cache)
    except Exception as exc:  # the variant's own run reports it with its value
        log.info("sweep: inputs of %s not cached (%s); its run will say why", variant.name, exc)


@contextmanager
def _shared_cache(cache_dir: str | Path | None) -> Iterator[Path]:
    """The cache folder the workers share: ``cache_dir``, or a temporary one removed afterwards."""
    if cache_dir is not None:
        yield Path(cache_dir)
        return
    with tempfile.TemporaryDirectory(prefix="siting-sweep-cache-") as tmp:
        yield Path(tmp)


def _worker_init() -> None:
    """In each worker: no progress bars (several workers' bars would interleave)."""
    set_progress(False)


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Start worker processes with one BLAS / OpenMP thread each (they inherit the environment)."""
    saved = {name: os.environ.get(name) for name in _ONE_THREAD}
    os.environ.update(dict.fromkeys(_ONE_THREAD, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _require_dask() -> Any:
    """Import Dask, or say which extra to install."""
    try:
        import dask
    except ImportError as exc:
        raise InputError(
            f"a sweep with workers > 1 runs on Dask's local scheduler, which is not installed: {_EXTRA} "
            "(or pip install dask), or run with workers=1 (--workers 1) in this process."
        ) from exc
    return dask


def _collect(
    parameter: str, outcomes: list[Outcome], on_error: str
) -> tuple[list[RunResult | None], pd.DataFrame]:
    """The results and the table, in the values' order; the failures raised or kept as ``on_error`` says."""
    results = [o.result for o in outcomes]
    done = [r for r in results if r is not None]
    rows = compare_scenarios(done) if done else pd.DataFrame()
    table = rows.reindex(pd.Index([o.name for o in outcomes], name="scenario"))
    table.insert(0, parameter, [o.value for o in outcomes])
    failed = [o for o in outcomes if o.error is not None]
    if not failed:
        return results, table
    table["error"] = [o.error for o in outcomes]
    for o in failed:
        log.debug("sweep: %s=%r failed:\n%s", parameter, o.value, o.detail)
    if on_error == "keep":
        return results, table
    lines = "; ".join(f"{parameter}={o.value!r}: {o.error}" for o in failed)
    error = SweepError(
        f"sweep of {parameter}: {len(failed)} of {len(outcomes)} values failed ({lines}); the others ran"
        " (their results are on this error's .results and .table, their outputs written if asked)."
    )
    error.results, error.table = results, table
    error.failures = {o.value if _hashable(o.value) else repr(o.value): o.error for o in failed}
    raise error


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
