"""Re-run the shared pmed/cap instances that missed their target before issue 17, beside the earlier rows.

The earlier rows are read from the ``orlib-pmed-all`` / ``orlib-cap-all`` records (300 s limit); the new
runs use the limit given here, in one fresh process per instance
(:func:`benchmarks.bench_orlib.solve_instance`). The target of issue 17 is "within 1 % of the optimum".
Rows are kept per (instance, limit) in ``results/shared-misses.json``, so instances can be run a few at a
time (each under the shared lock) and the section shows every row run so far, one table per limit.

Usage: ``python -m benchmarks.run shared-misses [limit=SECONDS] [only=NAME,NAME]`` (without ``only``: the
earlier misses not yet run at this limit; names with `` (single)`` are the single-source rows).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from benchmarks._common import RESULTS_DIR, SHARED, machine, measure
from benchmarks.bench_orlib import _tasks, solve_instance

DEFAULT_LIMIT = 300.0
STORE = RESULTS_DIR / "shared-misses.json"
HEADER = [
    "| instance | mode | optimum | before: above optimum (status) | after: objective "
    "| above optimum | certified gap | status | wall s | within 1 % |",
    "|---|---|---:|---:|---:|---:|---:|---|---:|---|",
]
NOTES = {
    30.0: "The 30 s rows ran at commit `cc81bb2` (2026-12-02 19:32 UTC), after the interchange got its lean "
    "assignment LP; a first run at `fee3707` (before it) had the cap `split` rows and `capc_5000 (single)` "
    "177–767 % above the optimum and six pmed rows 1.1–2.5 % above.",
    300.0: "All 24 rows ran in one lock hold at commit `d48b191` (main), 2026-12-04 19:52–21:48 UTC, one "
    "thread each. On the other core: this project's fresh-clone test suite (19:53–20:12), then this "
    "project's sample plan runs and HiGHS checks, one thread (20:12–21:20), then nothing of this project's. "
    "pmed16, proven optimal at 281 s in the earlier pieced-together run, ended 0.184 % above the optimum "
    "here, in the test suite's 20 minutes. The cap instances have fixed costs, so LP first does not apply "
    "to them; the pmed rows run in split mode, where it does not apply either. The earlier rows of this "
    "table, from commits `38f538e`, `b9aeae9`, `f6473d3` and `d2ea054` (2026-12-02/03), were also all "
    "24 within 1 %.",
}


def _earlier(family: str) -> dict[str, dict[str, Any]]:
    """The earlier rows of a family, by instance name."""
    path = RESULTS_DIR / f"orlib-{family}-all.json"
    return {r["name"]: r for r in json.loads(path.read_text(encoding="utf-8"))["rows"]}


def _load() -> list[dict[str, Any]]:
    """Rows run so far: ``name, limit, line, within, ran``."""
    if STORE.exists():
        return json.loads(STORE.read_text(encoding="utf-8"))["rows"]
    return []


def label(argv: list[str]) -> str:
    """One section, whatever the options."""
    return "shared-misses"


def _row(task: dict[str, Any], old: dict[str, Any] | None, limit: float) -> dict[str, Any]:
    """Solve one task in a fresh process and return its stored row."""
    family = "pmed" if task["name"].startswith("pmed") else "cap"
    out, wall, _ = measure(
        solve_instance, family, str(task["path"]), task.get("capacity"), task["mode"], limit, 1
    )
    new_gap = (out["objective"] - task["opt"]) / abs(task["opt"])
    cert = (out["objective"] - out["bound"]) / abs(out["objective"])
    old_gap = old["gap_opt"] if old is not None else math.nan
    line = (
        f"| {task['name']} | {task['mode']} | {task['opt']:,.2f} | {100 * old_gap:.3f} % "
        f"({old['status'] if old else '—'}) | {out['objective']:,.2f} | {100 * new_gap:.3f} % | "
        f"{100 * cert:.3f} % | {out['status']} | {wall:.0f} | {'yes' if new_gap <= 0.01 else '**no**'} |"
    )
    ran = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return {"name": task["name"], "limit": limit, "line": line, "within": bool(new_gap <= 0.01), "ran": ran}


def main(argv: list[str]) -> str:
    """Run the chosen instances, store their rows and return the Markdown section of all rows."""
    opts = dict(a.split("=", 1) for a in argv if "=" in a)
    limit = float(opts.get("limit", DEFAULT_LIMIT))
    only = set(opts["only"].split(",")) if "only" in opts else None
    rows = _load()
    done = {r["name"] for r in rows if r["limit"] == limit}
    for family in ("pmed", "cap"):
        before = _earlier(family)
        for task in _tasks(family, SHARED / "benchmarks" / family):
            old = before.get(task["name"])
            missed = old is not None and not old["hit"] and task["name"] not in done
            if not (task["name"] in only if only is not None else missed):
                continue
            new = _row(task, old, limit)
            rows = [r for r in rows if not (r["name"] == new["name"] and r["limit"] == limit)] + [new]
            STORE.write_text(json.dumps({"rows": rows}, indent=1), encoding="utf-8")
    return render(rows)


def render(rows: list[dict[str, Any]]) -> str:
    """The section: one table per limit, in the order the rows ran."""
    out = [
        "## shared-misses: the shared pmed/cap instances that missed, after issue 17",
        "",
        f"Section written {machine()}. One fresh process per instance, HiGHS one thread, gap 1e-6 (as "
        "the orlib benchmark), against the earlier rows at **300 s** (orlib sections, 2026-11-29/30). "
        "*Within 1 %*: the issue-17 target for these families (objective at most 1 % above the published "
        "optimum). *Certified gap*: against the larger of HiGHS's and the Lagrangian bound. Other agents' "
        "jobs may have run on the other core.",
    ]
    for limit in sorted({r["limit"] for r in rows}):
        sel = [r for r in rows if r["limit"] == limit]
        hit = sum(r["within"] for r in sel)
        ran = sorted(r["ran"] for r in sel)
        out += [
            "",
            f"### Limit {limit:g} s ({len(sel)} instances, run {ran[0]} – {ran[-1]}): "
            f"{hit} of {len(sel)} within 1 %",
            "",
            *HEADER,
            *[r["line"] for r in sel],
        ]
        if limit in NOTES:
            out += ["", NOTES[limit]]
    return "\n".join(out)
