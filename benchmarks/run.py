"""Run a benchmark by name: ``python -m benchmarks.run NAME [ARGS...]`` or ``... all``.

Each benchmark is a module ``benchmarks/bench_NAME.py`` (dashes in NAME become underscores) with a
``main(argv: list[str]) -> str`` that returns its Markdown section; this runner writes it to
``benchmarks/results/NAME.md`` and rebuilds ``RESULTS.md``.
"""

from __future__ import annotations

import importlib
import sys

from benchmarks._common import ROOT, write_result


def available() -> list[str]:
    """Names of the benchmarks present."""
    return sorted(p.stem.removeprefix("bench_").replace("_", "-") for p in ROOT.glob("bench_*.py"))


def run(name: str, argv: list[str]) -> None:
    """Run one benchmark and record its section."""
    module = importlib.import_module(f"benchmarks.bench_{name.replace('-', '_')}")
    section = module.main(argv)
    if hasattr(module, "label"):  # a benchmark may leave run options out of its section's name
        label = module.label(argv)
    else:
        label = name if not argv else f"{name}-{'-'.join(a.strip('/').split('/')[-1] for a in argv)}"
    path = write_result(label, section)
    print(section)
    print(f"\nwritten to {path}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        print("available:", ", ".join(available()) or "(none yet)")
        return
    name, rest = argv[0], argv[1:]
    names = available() if name == "all" else [name]
    for each in names:
        if each not in available():
            raise SystemExit(f"no benchmark {each!r}; available: {', '.join(available())}")
        run(each, rest)


if __name__ == "__main__":
    main()
