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
