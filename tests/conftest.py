"""Shared test fixtures: where the repository and the shared real-data folder are."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLE = REPO / "data" / "raw" / "sample"

os.environ.setdefault("SITING_NO_PROGRESS", "1")


def shared_file(relative: str) -> Path:
    """Return a file under ``../shared``, or skip the test naming the missing file."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"real input file {path} is absent (it comes with the shared/ folder beside the repo)")
    return path


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def sample_dir() -> Path:
    if not (SAMPLE / "scenarios" / "sample.yaml").exists():
        pytest.skip(f"the bundled sample city is missing under {SAMPLE}")
    return SAMPLE


# -- browser tests (tests/test_browser.py): headless Debian chromium driven by Playwright, no internet --
CHROMIUM = Path(os.environ.get("SITING_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
BLANK_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)  # 1×1 transparent tile


@pytest.fixture(scope="session")
def chromium():
    """A headless chromium (Playwright Browser); skip without it locally, fail under CI=true."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium (`make browser`) for the browser tests"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def offline_page(chromium):
    """A page that never reaches the internet: CDN assets from siting/_assets, tiles blank, rest aborted.

    ``page.errors`` collects console errors and page exceptions, ``page.dialogs`` every dialog opened,
    ``page.aborted`` the URLs refused.
    """
    from siting.maps import local_asset

    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.errors, page.dialogs, page.aborted = [], [], []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:")):
            return r.continue_()
        asset = local_asset(url)
        if asset is not None:
            return r.fulfill(path=str(asset))
        if "tile" in url or "/appmaptile" in url or "wmts" in url:
            return r.fulfill(body=BLANK_PNG, content_type="image/png")
        page.aborted.append(url)
        return r.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()
