"""Commands that run scenarios: ``siting run``, ``siting compare``, ``siting sweep``, and their reports."""

from __future__ import annotations

from pathlib import Path

import click

from siting._log import logs_above_bars
from siting.cli._group import cli
from siting.errors import OutputExistsError, SweepError


@cli.command("run")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Result folder (default data/processed/<name>/).",
)
@click.option(
    "--map",
    "map_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML map (default maps/<name>.html).",
)
@click.option("--overwrite", is_flag=True, help="Replace earlier outputs of this scenario.")
@click.option("--no-cache", is_flag=True, help="Rebuild demand, network and costs even if cached.")
@click.option("--time-limit", type=float, default=None, help="Solver time limit in seconds.")
@click.option(
    "--map-assets",
    type=click.Choice(["inline", "cdn"]),
    default=None,
    help="Leaflet in the map files (no network needed) or from CDNs [default: outputs.map_assets, inline].",
)
def run_command(
    scenario_file: Path,
    out_dir: Path | None,
    map_path: Path | None,
    overwrite: bool,
    no_cache: bool,
    time_limit: float | None,
    map_assets: str | None,
) -> None:
    """Run SCENARIO_FILE end to end: demand, walking costs, model, catchments, metrics, maps.

    Exit status: 0 done, 1 aborted, 2 an error (bad input, no solution, outputs not writable), told in
    one line; on an error nothing is written and earlier outputs stay as they were.
    """
    from siting.config import load_scenario
    from siting.pipeline import run_scenario

    scenario = load_scenario(scenario_file)
    if time_limit is not None:
        scenario = scenario.replace(time_limit_s=time_limit)
    if map_assets is not None:
        scenario = scenario.replace(**{"outputs.map_assets": map_assets})
    with logs_above_bars():  # a bar per long stage on a terminal (none with -q or when piped)
        result = run_scenario(
            scenario,
            out_dir=out_dir,
            map_path=map_path,
            overwrite=overwrite,
            cache_dir=None if no_cache else Path("data/processed/_cache"),
        )
    click.echo(_run_report(result))


def _number(value: object, spec: str) -> str:
    """``value`` formatted with ``spec``, or ``n/a`` when it is missing (None)."""
    return "n/a" if value is None else format(value, spec)


def _plan_report(plan: dict | None, schedule: object) -> list[str]:
    """The year-by-year plan's lines: its certified gap over all years and when each school opens."""
    if not plan:
        return []
    gap = None if plan.get("gap") is None else 100 * plan["gap"]
    years = plan.get("years") or []
    lines = [
        f"plan {years[0]}-{years[-1]} (every year): {plan['status']}, objective "
        f"{_number(plan.get('objective'), ',.0f')}, bound {_number(plan.get('bound'), ',.0f')}, gap "
        f"{_number(gap, '.2f')}% (the solution above is the design year {plan.get('design_year')})"
    ]
    if plan.get("overflow_pupil_years") is not None:
        line = f"  pupil-years above capacity: {_number(plan['overflow_pupil_years'], ',.0f')}"
        if plan.get("least_overflow_pupil_years") is not None:
            line += (
                f" (overflow first: the least the budget allows "
                f"{_number(plan['least_overflow_pupil_years'], ',.0f')}, proven at least "
                f"{_number(plan.get('least_overflow_bound'), ',.0f')})"
            )
        lines.append(line)
    for row in getattr(schedule, "itertuples", lambda **_: [])(index=False):
        lines.append(f"  opens {row.opening_year}: {row.school_id} {row.name} {row.option}")
    return lines


def _cvs(ind: dict) -> str:
    """Today's, the design year's without the plan, and the plan's CV of one indicator, with the limit."""
    without = "" if ind.get("cv_without_plan") is None else f", {ind['cv_without_plan']:.3f} without the plan"
    return f"{ind['cv_before']:.3f} today{without}, {ind['cv_after']:.3f} with it (limit {ind['cv_max']:.2f})"


def _verdict(ind: dict) -> str:
    """What the plan does to an indicator that fails in the design year without it."""
    if ind["plan_passes"]:
        return "the plan brings it within the limit"
    causes = ", ".join(f"{s['school_id']} ({s['action']})" for s in ind.get("schools", [])) or "none named"
    lowers = (
        "lowers it, not within the limit" if ind["cv_after"] < ind["cv_without_plan"] else "does not lower it"
    )
    return f"the plan {lowers}; schools behind it: {causes} (why: balance_schools.csv)"


def _solution_line(scenario: str, sol: dict, plan: dict | None) -> str:
    """The first line of a run: the solver's answer, or in a plan run the design year's part of the plan.

    A plan's design year has its own objective but no bound of its own; its status, bound and gap are
    the whole plan's, printed on the plan line, so they are not repeated here as if they were the year's.
    """
    if plan:
        return (
            f"scenario {scenario}: design year {plan.get('design_year')} of the plan below "
            f"({sol.get('solver')}): that year's objective {_number(sol.get('objective'), ',.0f')}; status, "
            f"bound and gap are the plan's, {_number(sol.get('solve_time_s'), '.1f')} s"
        )
    gap = None if sol.get("gap") is None else 100 * sol["gap"]
    return (
        f"scenario {scenario}: solver {sol['status']} ({sol.get('solver')}), "
        f"objective {_number(sol.get('objective'), ',.0f')}, bound {_number(sol.get('bound'), ',.0f')}, "
        f"gap {_number(gap, '.2f')}%, {_number(sol.get('solve_time_s'), '.1f')} s"
    )


def _run_report(result: object) -> str:
    summary = result.summary  # type: ignore[attr-defined]
    sol = summary["solution"]
    lines = [_solution_line(summary["scenario"], sol, summary.get("plan"))]
    for key, value in summary["key_figures"].items():
        shown = (
            f"{value:,.3f}"
            if isinstance(value, float) and abs(value) < 10
            else (f"{value:,.0f}" if isinstance(value, float) else str(value))
        )
        lines.append(f"  {key:<32} {shown}")
    for school in summary["new_schools"]:
        lines.append(f"  new school {school['school_id']} {school['name']}: {school['option']}")
    for ind in summary.get("balance_worsened", []):
        causes = ", ".join(f"{s['school_id']} ({s['action']})" for s in ind["schools"]) or "none named"
        lines.append(
            f"  balance: the plan makes {ind['level']} {ind['indicator']} fail: CV {_cvs(ind)}; schools "
            f"behind it: {causes} (why: balance_schools.csv)"
        )
    for ind in summary.get("balance_failing_without_plan", []):
        lines.append(
            f"  balance: {ind['level']} {ind['indicator']} passes today but fails in the design year without "
            f"the plan: CV {_cvs(ind)}; {_verdict(ind)}"
        )
    lines += _plan_report(summary.get("plan"), getattr(result, "plan_tables", {}).get("schedule"))
    lines.append(f"results: {result.out_dir}")  # type: ignore[attr-defined]
    if result.map_path:  # type: ignore[attr-defined]
        lines.append(f"map: {result.map_path}")  # type: ignore[attr-defined]
    return "\n".join(lines)


@cli.command("compare")
@click.argument("scenario_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "map_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Side-by-side map of the first two scenarios (default maps/compare-<a>-<b>.html).",
)
@click.option("--overwrite", is_flag=True, help="Replace earlier outputs.")
def compare_command(scenario_files: tuple[Path, ...], map_path: Path | None, overwrite: bool) -> None:
    """Run several scenarios and print their key figures side by side."""
    from siting.config import load_scenario
    from siting.pipeline import compare_scenarios, run_scenario

    results = [run_scenario(load_scenario(p), overwrite=overwrite) for p in scenario_files]
    table = compare_scenarios(results)
    click.echo(table.T.to_string())
    if len(results) >= 2:
        from siting import maps

        path = map_path or Path("maps") / f"compare-{results[0].name}-{results[1].name}.html"
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it.")
        written = maps.review_map(results[0], other=results[1], path=path)
        click.echo(f"side-by-side map: {written}")


@cli.command("sweep")
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("parameter")
@click.argument("values", nargs=-1, required=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes (Dask).")
@click.option("--write", is_flag=True, help="Write each variant's result folder (replacing earlier ones).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="The table as CSV.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--no-cache", is_flag=True, help="Rebuild demand, network and costs even if cached.")
def sweep_command(scenario_file: Path, parameter: str, values: tuple[str, ...], **options: object) -> None:
    """Run SCENARIO_FILE once per VALUE of PARAMETER and print the key figures side by side.

    E.g. `siting sweep scenario.yaml max_new_schools 0 2 4 6 --workers 2`. Each VALUE is read as YAML
    (`null`, `0.5`, `{primary: 800}`). --workers above 1 needs `pip install 'siting[parallel]'`.
    """
    from siting.pipeline.sweep import sweep_cli

    text, failed = sweep_cli(scenario_file, parameter, list(values), **options)
    click.echo(text)
    if failed:
        raise SweepError(failed)  # the group prints it in one line and exits 2
