"""Errors raised by siting.

Every class also inherits the matching builtin, so ``except ValueError`` keeps working for callers that
do not know siting. Messages say what went wrong, the value seen, and how to fix it.
"""

from __future__ import annotations


class SitingError(Exception):
    """Base class of every error siting raises on purpose."""


class InputError(SitingError, ValueError):
    """An input file, table or parameter is unusable as given."""


class CRSError(InputError):
    """A layer has no CRS, a geographic CRS where metres are needed, or a CRS that differs from another's."""


class NetworkError(InputError):
    """A road network cannot be loaded, is empty, or does not cover the study area."""


class InfeasibleError(SitingError, ValueError):
    """The planning problem cannot be feasible as posed (checked with numbers before solving)."""


class SolverError(SitingError, RuntimeError):
    """The solver failed or returned no usable solution."""


class SweepError(SitingError, RuntimeError):
    """Some values of a parameter sweep failed; the others ran.

    ``failures`` maps each failed value to its error; ``results`` and ``table`` are the whole sweep's, as
    :func:`siting.pipeline.sweep` returns them with ``on_error="keep"``.
    """

    results: list
    table: object
    failures: dict


class OutputExistsError(SitingError, FileExistsError):
    """An output already exists and overwriting was not asked for."""


class OutputWriteError(SitingError, OSError):
    """Outputs could not be written (full disk, read-only folder...); the earlier ones are left unchanged."""


def describe(value: object, *, limit: int = 80) -> str:
    """Return a short printable form of ``value`` for error messages.

    Parameters
    ----------
    value
        Anything that was found in an input.
    limit
        Maximum number of characters kept.

    Returns
    -------
    str
        ``repr(value)``, cut to ``limit`` characters.
    """
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        value = item()  # numpy scalar -> plain Python value, so messages read "-3", not "np.int64(-3)"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
