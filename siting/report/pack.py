"""Writing the hearing and review packs: HTML documents, their PDFs, all in one folder written atomically.

:func:`write_packs` builds everything in a temporary folder beside the destination and moves it into place
only when every file is written, so a pack folder is never half-written. PDFs are printed by headless
Chromium through Playwright (``pip install 'siting[pdf]'``; Chromium from ``$SITING_CHROMIUM``,
``/usr/bin/chromium`` or Playwright's own), with no internet: the documents inline their images.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from siting._log import get_logger
from siting.errors import InputError, OutputExistsError
from siting.report.brief import hearing_brief
from siting.report.brief_pages import brief_document
from siting.report.places import SheetGrid
from siting.report.review_pages import review_document

log = get_logger(__name__)

CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
"""Command-line switches of the headless Chromium that prints the PDFs."""

PACK_DIR = "pack"
"""Folder of a result folder that ``siting pack`` writes."""

BRIEF_FILE, REVIEW_FILE, HEARING_MAP_FILE = "hearing-brief", "review-pack", "hearing-map.html"
"""File stems of the brief and the review pack (``.html`` and ``.pdf``) and the hearing map's file name."""


def pack_files(folder: str | Path) -> dict[str, Path]:
    """Return the files of a pack folder that exist, by kind (``brief_html``, ``brief_pdf``, ...).

    Parameters
    ----------
    folder
        A pack folder (``<result>/pack``).

    Returns
    -------
    dict of str to pathlib.Path
        Keys ``brief_html``, ``brief_pdf``, ``review_html``, ``review_pdf``, ``hearing_map``, and
        ``review_vs_<name>_html`` / ``_pdf`` for reviews against other plans; only files present.
    """
    folder = Path(folder)
    found = {}
    for kind, stem in (("brief", BRIEF_FILE), ("review", REVIEW_FILE)):
        for ext in ("html", "pdf"):
            if (folder / f"{stem}.{ext}").is_file():
                found[f"{kind}_{ext}"] = folder / f"{stem}.{ext}"
    if (folder / HEARING_MAP_FILE).is_file():
        found["hearing_map"] = folder / HEARING_MAP_FILE
    for path in sorted(folder.glob(f"{REVIEW_FILE}-vs-*.*")) if folder.is_dir() else []:
        found[f"review_vs_{path.stem.split('-vs-', 1)[1]}_{path.suffix[1:]}"] = path
    return found


def write_packs(
    result: Any,
    dest: str | Path,
    *,
    against: Mapping[str, Any] | None = None,
    hearing: bool = True,
    review: bool = True,
    brief: Mapping[str, pd.DataFrame] | None = None,
    roads: gpd.GeoDataFrame | None = None,
    pdf: bool = True,
    overwrite: bool = False,
    extra: Callable[[Path, Mapping[str, pd.DataFrame] | None], None] | None = None,
) -> dict[str, Path]:
    """Write the hearing brief and the review pack(s) of a result into ``dest``, all at once or not at all.

    Parameters
    ----------
    result
        A run result (``pipeline.RunResult``).
    dest
        The pack folder (e.g. ``data/processed/<scenario>/pack``); replaced as a whole.
    against
        Other plans to review against, by name: each adds ``review-pack-vs-<name>`` (before = that plan).
    hearing, review
        Write the brief (``hearing-brief``) and the review of the result (``review-pack``).
    brief
        :func:`siting.report.hearing_brief` tables (e.g. with re-solves); default made without re-solving.
    roads
        Named road lines for the nearest-road names and the maps.
    pdf
        Also print each document to PDF.
    overwrite
        Replace an existing pack folder.
    extra
        Called with the temporary folder and the brief before the move, to add files (the hearing map).

    Returns
    -------
    dict of str to pathlib.Path
        :func:`pack_files` of the folder written.

    Raises
    ------
    OutputExistsError
        When ``dest`` exists and ``overwrite`` is false.
    InputError
        When a PDF cannot be printed (no Playwright or Chromium), naming the fix.
    """
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest} exists; pass --overwrite (overwrite=True) to replace the pack.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        docs, brief = _documents(result, tmp, hearing=hearing, review=review, against=against, brief=brief,
                                 roads=roads)  # fmt: skip
        if extra is not None:
            extra(tmp, brief)
        if pdf:
            print_pdfs([(d, d.with_suffix(".pdf")) for d in docs])
        _swap(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("pack written to %s", dest)
    return pack_files(dest)


def _documents(
    result: Any,
    folder: Path,
    *,
    hearing: bool,
    review: bool,
    against: Mapping[str, Any] | None,
    brief: Mapping[str, pd.DataFrame] | None,
    roads: gpd.GeoDataFrame | None,
) -> tuple[list[Path], Mapping[str, pd.DataFrame] | None]:
    """Write the HTML documents (and the brief's tables) into ``folder``; return them and the brief."""
    grid = SheetGrid.for_units(result.units)
    title = _title(result)
    docs: list[Path] = []
    if hearing:
        brief = brief if brief is not None else hearing_brief(result, roads=roads, grid=grid)
        text = brief_document(result, brief, grid=grid, roads=roads, title=title)
        docs.append(_write(folder / f"{BRIEF_FILE}.html", text))
        for name, table in brief.items():
            if len(table.columns):
                table.to_csv(folder / f"brief-{name}.csv", index=False, float_format="%.6g")
    if review:
        text = review_document(result, grid=grid, roads=roads, title=title)
        docs.append(_write(folder / f"{REVIEW_FILE}.html", text))
    for name, other in (against or {}).items():
        text = review_document(result, against=other, against_name=name, grid=grid, roads=roads, title=title)
        docs.append(_write(folder / f"{REVIEW_FILE}-vs-{_slug(name)}.html", text))
    return docs, brief


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _swap(tmp: Path, dest: Path) -> None:
    """Move ``tmp`` to ``dest``; an existing ``dest`` is moved aside first and removed after."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}-old-", dir=dest.parent))
        old.rmdir()
        dest.replace(old)
    try:
        tmp.replace(dest)
    except BaseException:
        if old is not None:
            old.replace(dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _title(result: Any) -> str:
    summary = getattr(result, "summary", None) or {}
    scenario = getattr(result, "scenario", None)
    name = getattr(scenario, "name", None) or summary.get("scenario") or "siting run"
    design = getattr(scenario, "design_year", None) or (summary.get("demand") or {}).get("design_year")
    sol = summary.get("solution") or {}
    parts = [f"方案 scenario {name}"]
    if design:
        parts.append(f"设计年份 design year {design}")
    if sol.get("status"):
        gap = sol.get("gap")
        parts.append(
            f"solver {sol['status']}" + (f", gap {100 * float(gap):.2f} %" if gap is not None else "")
        )
    return " · ".join(parts)


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^\w.-]+", "_", str(name)).strip("._") or "other"


def chromium_path() -> str | None:
    """Return the Chromium that prints: ``$SITING_CHROMIUM``, ``/usr/bin/chromium``, one on PATH, or None."""
    env = os.environ.get("SITING_CHROMIUM")
    if env:
        return env
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def print_pdfs(jobs: Sequence[tuple[Path, Path]], *, timeout_s: float = 300.0) -> list[Path]:
    """Print HTML files to A4 PDFs with headless Chromium (no network: only ``file:`` and ``data:`` URLs).

    Runs in a worker thread, so it also works inside Jupyter's event loop.

    Parameters
    ----------
    jobs
        ``(html_path, pdf_path)`` pairs.
    timeout_s
        Limit for loading and printing each document, seconds.

    Returns
    -------
    list of pathlib.Path
        The PDFs written.

    Raises
    ------
    InputError
        When Playwright or Chromium is missing, or Chromium fails.
    """
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise InputError(
            "printing the packs to PDF needs Playwright: pip install 'siting[pdf]' (and Debian's chromium, "
            "`make browser`), or pass --no-pdf to write the HTML only."
        ) from exc
    _check_cjk_font()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_print_all, list(jobs), timeout_s).result()


def _check_cjk_font() -> None:
    """Warn when fontconfig knows no Chinese font: the packs' Chinese labels would print as boxes."""
    import subprocess

    if shutil.which("fc-list") is None:
        return
    found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False)
    if not found.stdout.strip():
        log.warning(
            "no Chinese font found (fc-list :lang=zh is empty): the packs' Chinese labels will print as "
            "boxes; install Debian's fonts-noto-cjk (`make browser`)"
        )


def _print_all(jobs: list[tuple[Path, Path]], timeout_s: float) -> list[Path]:
    from playwright.sync_api import Error, sync_playwright

    exe = chromium_path()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page()
                page.route("**/*", _offline_route)
                for html_path, pdf_path in jobs:
                    page.goto(html_path.resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
                    page.emulate_media(media="print")
                    clipped = page.evaluate(
                        "[...document.querySelectorAll('section.page.one')]"
                        ".filter(s => s.scrollHeight > s.clientHeight + 2).map(s => s.id)"
                    )
                    if clipped:
                        log.warning(
                            "%s: page(s) %s overflow one A4 page and are cut", html_path.name, clipped
                        )
                    page.pdf(
                        path=str(pdf_path), format="A4", print_background=True, prefer_css_page_size=True
                    )
            finally:
                browser.close()
    except Error as exc:
        where = exe or "Playwright's bundled Chromium"
        raise InputError(
            f"could not print PDF with {where}: {str(exc).splitlines()[0]}; install Debian's chromium "
            "(`make browser`), set $SITING_CHROMIUM, or pass --no-pdf."
        ) from exc
    return [pdf for _, pdf in jobs]


def _offline_route(route: Any) -> None:
    if route.request.url.startswith(("file:", "data:")):
        route.continue_()
    else:
        route.abort()
