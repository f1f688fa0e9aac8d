"""Headless Chromium (Debian's, driven by Playwright) for the pages a person looks at."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = Path(os.environ.get("DAIFU_CHROMIUM", "/usr/bin/chromium"))
# DAIFU_SCREENSHOTS=1 takes the screenshots the docs show again, into docs/screenshots/; any other value is a
# folder for every test's throwaway screenshots, to look at.
SCREENSHOTS_WANTED = os.environ.get("DAIFU_SCREENSHOTS", "")
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" if SCREENSHOTS_WANTED == "1" else None
HAVE_CHROMIUM = CHROMIUM.exists()
# Without these, Chromium keeps reaching for Google's services, which this machine's network refuses.
QUIET_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"no Chromium at {CHROMIUM}: scripts/ensure-chromium installs it (as root)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=QUIET_FLAGS)
        yield chromium
        await chromium.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where a test leaves its throwaway screenshots: the folder DAIFU_SCREENSHOTS names, else a temp dir."""
    folder = Path(SCREENSHOTS_WANTED) if SCREENSHOTS_WANTED not in ("", "1") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder
