"""Reading a run result: the attributes every report table needs, with a clear error when one is missing."""

from __future__ import annotations

from typing import Any

from siting.errors import InputError


def _attr(result: Any, name: str) -> Any:
    if not hasattr(result, name):
        raise InputError(
            f"report: the result has no {name!r}; pass a pipeline.RunResult (or an object with units, "
            f"schools, costs and standards), got {type(result).__name__}."
        )
    return getattr(result, name)


def indicator_mapping(result: Any) -> dict[str, str] | None:
    """Return the scenario's ``{column: indicator key}`` of a run result (None: the default names).

    A result loaded from a folder whose scenario file is gone has no scenario; its schools' columns are
    then read under the default names, as the run itself would have without an ``indicators:`` section.
    """
    scenario = getattr(result, "scenario", None)
    return scenario.indicator_columns() if scenario is not None else None
