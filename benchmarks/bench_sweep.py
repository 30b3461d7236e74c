"""A parameter sweep in one process against two worker processes (Dask's local scheduler), same run.

Six values of ``max_new_schools`` on the sample city, each variant a whole ``run_scenario`` without maps,
one solver thread each. Each sweep runs in a fresh process with an empty cache folder of its own, so
both pay for building demand, network and costs once (``warm_cache``) and start their solvers cold; the
modes alternate over the repeats so that load from other jobs falls on both. The figures must be
identical (the tables are compared; the section says whether they were).

Sharing the inputs: the workers read them from the stage cache's files (once per worker, from memory
after). The alternative, passing them to every task, would pickle the same tables once per task: the
section reports the cache files' size and what one dumps + loads of them costs, against what the
workers' input stages took.
"""

from __future__ import annotations

import pickle
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks._common import WORK_DIR, machine, measure

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "raw" / "sample" / "scenarios" / "sample.yaml"
PARAMETER = "max_new_schools"
VALUES = [1, 2, 3, 4, 5, 6]
_INPUT_STAGES = ("demand", "facilities", "network", "costs")


def run_sweep(path: str, workers: int, cache_dir: str) -> dict[str, Any]:
    """In a fresh process: build the inputs into ``cache_dir``, then sweep; return timings and the table."""
    from siting._log import set_progress
    from siting.config import load_scenario
    from siting.pipeline import sweep
    from siting.pipeline.sweep import warm_cache

    set_progress(False)
    scenario = load_scenario(path)
    start = time.perf_counter()
    warm_cache(scenario, cache_dir)
    warm = time.perf_counter() - start
    results, table = sweep(scenario, PARAMETER, VALUES, workers=workers, threads=1, cache_dir=cache_dir)
    total = time.perf_counter() - start
    return {
        "warm_s": warm,
        "total_s": total,
        "table": table,
        "inputs_s": [sum(r.summary["timings"][s] for s in _INPUT_STAGES) for r in results],
        "model_s": [r.summary["timings"]["model"] for r in results],
        "variant_s": [r.summary["timings"]["total"] for r in results],
        "status": [r.summary["solution"]["status"] for r in results],
    }


def pickle_cost(cache_dir: Path) -> tuple[float, float]:
    """Size (MB) of the cached demand and costs and the seconds of one ``pickle.dumps`` + ``loads`` of them.

    What a task would be handed if the prepared tables were passed to it (the network is not needed then).
    """
    files = sorted(f for f in cache_dir.glob("*.pkl") if not f.name.startswith("network-"))
    values = [pickle.loads(f.read_bytes()) for f in files]
    start = time.perf_counter()
    data = pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
    pickle.loads(data)
    return len(data) / 1e6, time.perf_counter() - start


def main(argv: list[str]) -> str:
    """Two repeats of (sequential, 2 workers), alternating; return the Markdown section."""
    path = argv[0] if argv else str(SAMPLE)
    repeats = 2
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for repeat in range(repeats):
        for workers in (1, 2) if repeat % 2 == 0 else (2, 1):
            cache = WORK_DIR / f"sweep-cache-{workers}"
            shutil.rmtree(cache, ignore_errors=True)
            value, wall, peak = measure(run_sweep, path, workers, str(cache))
            value["wall_s"], value["peak_mb"] = wall, peak
            runs[workers].append(value)
    first = runs[1][0]["table"]
    same = [other["table"].equals(first) for other in runs[1][1:] + runs[2]]  # the same figures?
    size_mb, pickle_s = pickle_cost(WORK_DIR / "sweep-cache-2")
    return _section(path, runs, size_mb, pickle_s, all(same))


def _section(
    path: str, runs: dict[int, list[dict[str, Any]]], size_mb: float, pickle_s: float, same: bool
) -> str:
    rows, ratios = [], []
    for i, (seq, par) in enumerate(zip(runs[1], runs[2], strict=True), start=1):
        ratios.append(seq["total_s"] / par["total_s"])
        for label, run in (("1 process", seq), ("2 workers", par)):
            rows.append(
                f"| {i} | {label} | {run['warm_s']:.1f} | {run['total_s']:.1f} | "
                f"{sum(run['variant_s']):.1f} | {statistics.median(run['model_s']):.1f} | "
                f"{max(run['inputs_s']):.2f} | {run['peak_mb']:.0f} |"
            )
    table = runs[1][0]["table"]
    columns = zip(VALUES, table["new_schools"], table["primary_walk_mean_m"], strict=True)
    figures = ", ".join(f"{v}: {n:g} new, {w:.0f} m" for v, n, w in columns)
    statuses = sorted({s for run in runs[1] + runs[2] for s in run["status"]})
    median = statistics.median(ratios)
    inputs = [s for run in runs[2] for s in run["inputs_s"]]
    variants = [s for run in runs[2] for s in run["variant_s"]]
    saving = max(0.0, statistics.median(inputs) - pickle_s) / statistics.median(variants)
    verdict = (
        "not worth splitting `run_scenario` into an inputs half and a rest half for; the cache also serves "
        "a cluster whose workers share a file system."
        if saving < 0.05
        else "worth building (pass the tables, or scatter them on a cluster)."
    )
    return "\n".join(
        [
            "## Parameter sweep: one process against two worker processes",
            "",
            f"Machine: {machine()} (other agents' jobs may have run on the same cores). Scenario "
            f"`{Path(path).name}`: `sweep(scenario, '{PARAMETER}', {VALUES}, workers=N, threads=1)`, each "
            "variant a whole run without maps; each sweep in a fresh process with an empty cache folder, "
            "which first builds demand, network and costs once (`warm_cache`). Modes alternate per repeat; "
            "the peak RSS is the calling process's, not its workers'.",
            "",
            "| repeat | mode | inputs once (s) | sweep wall (s) | sum of variants (s) | model, median (s) "
            "| inputs per variant, max (s) | peak RSS, sweep process (MiB) |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"**Speed-up with two workers: {median:.2f}×** (one process's sweep wall time over two workers'; "
            "median of the repeats' ratios "
            f"{', '.join(f'{r:.2f}' for r in ratios)}; the ideal on 2 cores is 2×). The figures were "
            f"{'identical in every run' if same else 'NOT identical in every run'} (tables compared): "
            f"{figures} (primary mean walk); statuses "
            f"{', '.join(statuses)}. A worker process starts by importing siting (spawn), and the six "
            "variants do not split evenly in time over two workers.",
            "",
            f"Sharing the inputs: in the workers a variant's input stages (reading the layers and checking "
            f"them, then demand, network and costs from the cache: files for a worker's first variant, "
            f"memory after) took {statistics.median(inputs):.2f} s (median; at most {max(inputs):.2f} s) of "
            f"a {statistics.median(variants):.1f} s variant. Passing the prepared demand and costs to every "
            f"task instead would cost one pickle dumps + loads of them ({size_mb:.1f} MB) per task, "
            f"{pickle_s:.2f} s, and save at most {saving:.0%} of a variant: {verdict}",
        ]
    )
