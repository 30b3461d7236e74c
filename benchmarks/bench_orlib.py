"""Published optima: solve OR-Library and related facility-location benchmarks with the siting model core.

``python -m benchmarks.run orlib FAMILY [FOLDER] [subset|all] [limit=SECONDS]``

FAMILY is ``pmed``, ``cap``, ``sscflp`` or ``cpmp``; FOLDER a folder of that family's format with its
``optima.csv`` (default ``shared/benchmarks/<family>``; a folder without ``optima.csv`` is searched one level
down, e.g. ``sscflp/holmberg`` and ``sscflp/delmaire``). ``subset`` runs a representative sample first
(the default is all). Every instance goes through :meth:`siting.model.SitingModel.from_costs` with the
same settings (no per-instance tuning), one fresh process each, 300 s limit by default. Progress lines go
to ``benchmarks/_work/orlib_<family>.log``.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import SHARED, WORK_DIR, machine, measure, write_result
from benchmarks._instances import (
    FAMILIES,
    read_cap,
    read_cpmp,
    read_optima,
    read_pmed,
    read_sscflp,
    to_float,
    to_model_inputs,
)

GAP = 1e-6
"""Relative MIP gap asked of the solver for every instance (proven optimum targets)."""


def solve_instance(family: str, path: str, capacity: float | None, mode: str, limit: float) -> dict[str, Any]:
    """Parse one instance, build it with ``SitingModel.from_costs`` and solve it (run in a child process)."""
    from siting.model import SitingModel

    start = time.perf_counter()
    if family == "pmed":
        inst = read_pmed(Path(path))
    elif family == "cap":
        inst = read_cap(Path(path), capacity=capacity)
    elif family == "sscflp":
        inst = read_sscflp(Path(path))
    else:
        inst = read_cpmp(Path(path))
    parse_s = time.perf_counter() - start
    model = SitingModel.from_costs(
        **to_model_inputs(inst),  # type: ignore[arg-type]
        exactly_new=inst.p,
        single_source=mode != "split",
        shortfall_penalty=None,
    )
    res = model.solve(mode=mode, time_limit_s=limit, gap=GAP)
    return {
        "objective": res.objective,
        "bound": res.bound,
        "status": res.status,
        "solver_status": res.solver_status,
        "solve_s": res.solve_time_s,
        "build_s": res.build_time_s + parse_s,
        "n_arcs": model.n_arcs,
    }


def _tasks(family: str, folder: Path) -> list[dict[str, Any]]:
    """Instances of a folder with their targets: one task per (instance, mode)."""
    if not (folder / "optima.csv").exists():
        subs = sorted(p for p in folder.iterdir() if (p / "optima.csv").exists())
        if not subs:
            raise SystemExit(f"{folder}: no optima.csv here or one level down")
        return [t for sub in subs for t in _tasks(family, sub)]
    tasks = []
    for row in read_optima(folder):
        path = folder / row["file"]
        if family == "pmed":
            tasks.append(
                {"name": row["instance"], "path": path, "mode": "split", "opt": to_float(row["optimum"])}
            )
        elif family == "cap":
            cap = to_float(row.get("capacity"))
            capacity = None if math.isnan(cap) else cap
            base = {"path": path, "capacity": capacity}
            tasks.append(
                {
                    **base,
                    "name": row["instance"],
                    "mode": "split",
                    "opt": to_float(row["optimum_multi_source"]),
                }
            )
            single = to_float(row.get("optimum_single_source"))
            if not math.isnan(single):
                tasks.append({**base, "name": row["instance"] + " (single)", "mode": "exact", "opt": single})
        elif family == "sscflp":
            tasks.append(
                {"name": row["instance"], "path": path, "mode": "exact", "opt": to_float(row["optimum"])}
            )
        else:
            opt = to_float(row.get("optimum", row.get("value")))
            tasks.append({"name": row["instance"], "path": path, "mode": "exact", "opt": opt})
    return tasks


def _subset(tasks: list[dict[str, Any]], family: str) -> list[dict[str, Any]]:
    """A representative sample: every 4th (every 2nd for cpmp), always the first and the largest."""
    step = 2 if family == "cpmp" else 4
    picked = {id(t) for t in tasks[::step]}
    picked.add(id(tasks[-1]))
    return [t for t in tasks if id(t) in picked]


def hit(family: str, objective: float, optimum: float, status: str) -> bool:
    """Whether a result meets the family's target (proven optimum; within 1 % for sscflp)."""
    if not (math.isfinite(objective) and math.isfinite(optimum)):
        return False
    if family == "sscflp":
        return objective <= optimum * 1.01 + 1e-6
    return abs(objective - optimum) <= 0.01 + 1e-7 * abs(optimum) and status == "optimal"


def main(argv: list[str]) -> str:
    """Run one family and return its Markdown section."""
    if not argv or argv[0] not in FAMILIES:
        raise SystemExit(f"usage: orlib FAMILY [FOLDER] [subset|all] [limit=S]; FAMILY in {FAMILIES}")
    family = argv[0]
    folder = SHARED / "benchmarks" / family
    selection, limit = "all", 300.0
    for arg in argv[1:]:
        if arg in ("subset", "all"):
            selection = arg
        elif arg.startswith("limit="):
            limit = float(arg.split("=", 1)[1])
        else:
            folder = Path(arg)
    if not folder.exists():
        raise SystemExit(f"{folder} not found (benchmarks read shared/benchmarks beside the repository)")
    tasks = _tasks(family, folder)
    chosen = _subset(tasks, family) if selection == "subset" else tasks
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    log_path = WORK_DIR / f"orlib_{family}.log"
    rows: list[dict[str, Any]] = []
    label = "orlib-" + "-".join(a.strip("/").split("/")[-1] for a in argv)  # as benchmarks.run names it
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"# {time.strftime('%H:%M:%S')} {family} {selection}: {len(chosen)} of {len(tasks)}\n")
        for task in chosen:
            try:
                out, wall, peak = measure(
                    solve_instance, family, str(task["path"]), task.get("capacity"), task["mode"], limit
                )
            except RuntimeError as exc:
                out, wall, peak = {"status": f"error: {exc}"}, math.nan, math.nan
            obj = out.get("objective", math.nan)
            ok = hit(family, obj, task["opt"], out["status"])
            gap_opt = (obj - task["opt"]) / abs(task["opt"]) if math.isfinite(obj) else math.nan
            row = {**task, **out, "wall": wall, "peak": peak, "hit": ok, "gap_opt": gap_opt}
            rows.append(row)
            log.write(
                f"{task['name']}: obj {obj} opt {task['opt']} status {out['status']} {wall:.1f} s hit={ok}\n"
            )
            log.flush()
            # keep a partial section on disk, so an interrupted run still leaves its table
            partial = _markdown(family, folder, selection, tasks, rows, limit)
            write_result(label, partial + f"\n*In progress: {len(rows)} of {len(chosen)} run so far.*\n")
    return _markdown(family, folder, selection, tasks, rows, limit)


def _fmt(v: Any, digits: int = 2) -> str:
    if isinstance(v, float):
        return "—" if not math.isfinite(v) else f"{v:,.{digits}f}"
    return str(v)


def _markdown(
    family: str,
    folder: Path,
    selection: str,
    tasks: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    limit: float,
) -> str:
    n_hit = sum(r["hit"] for r in rows)
    target = (
        "within 1 % of the published optimum" if family == "sscflp" else "the proven optimum (status optimal)"
    )
    not_run = [t["name"] for t in tasks if t["name"] not in {r["name"] for r in rows}]
    lines = [
        f"## orlib {family}: published optima ({folder.name})",
        "",
        f"Machine: {machine()}",
        "",
        f"Solved with `SitingModel.from_costs` + HiGHS, gap {GAP:g}, limit {limit:g} s per instance, one "
        f"fresh process each (peak memory of that process). Selection: **{selection}**, {len(rows)} of "
        f"{len(tasks)} instances run. Target: {target}.",
        "",
        f"**{n_hit} of {len(rows)} run instances hit the target**"
        + (
            f"; {len(rows) - n_hit} missed: {', '.join(r['name'] for r in rows if not r['hit'])}."
            if n_hit < len(rows)
            else "."
        ),
        "",
        "| instance | mode | arcs | objective | optimum | gap to opt. | bound | status "
        "| build s | solve s | peak MiB | hit |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['mode']} | {r.get('n_arcs', '—')} | {_fmt(r.get('objective', math.nan))} | "
            f"{_fmt(r['opt'])} | {_fmt(100 * r['gap_opt'], 4)} % | {_fmt(r.get('bound', math.nan))} | "
            f"{r['status']} | {_fmt(r.get('build_s', math.nan))} | {_fmt(r.get('solve_s', math.nan))} | "
            f"{_fmt(r['peak'], 0)} | {'yes' if r['hit'] else '**no**'} |"
        )
    if not_run:
        lines += ["", f"Not run in this selection ({len(not_run)}): {', '.join(not_run)}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main(sys.argv[1:]))
