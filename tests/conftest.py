"""Shared fixtures: a headless Chromium page for report tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "out" / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--enable-unsafe-swiftshader"]


def chromium_path() -> str | None:
    return os.environ.get("THEMEKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (no browser download). CI requires it."""
    exe = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        exe = None
    if exe is None:
        if os.environ.get("THEMEKIT_REQUIRE_BROWSER"):
            pytest.fail("headless chromium + playwright are required here (apt-get install chromium)")
        pytest.skip("chromium or playwright not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True, scope="session")
def _private_result_cache(tmp_path_factory):
    """Step results (themekit.common.results) go to a folder of this test session, never the
    user's cache; embeddings keep their usual cache (the real model is slow to rerun)."""
    import themekit.common.results as results

    root = tmp_path_factory.mktemp("themekit-cache")
    saved = results.default_cache_root
    results.default_cache_root = lambda: root
    yield root
    results.default_cache_root = saved
