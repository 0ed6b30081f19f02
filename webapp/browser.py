"""Drive the app from a headless Chromium with Playwright (end-to-end tests, benchmark).

The system's Chromium is used as installed (``apt-get install chromium``); nothing is
ever downloaded. The steps below are what a user does: go to a page, upload files,
read a metric tile, move a slider, read an error.

Streamlit marks its elements with ``data-testid`` attributes (``stMetric``,
``stFileUploaderDropzoneInput``, ``stSlider``, ...); the locators use those.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import time
from pathlib import Path

# Flags for a quiet, sandbox-free headless run in a container with no network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1500, "height": 1100}


def chromium_path() -> str | None:
    """The system Chromium, or None where it is not installed."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def missing_requirements() -> str | None:
    """Why a browser test cannot run here (no Playwright, no Chromium), or None."""
    try:
        import playwright.sync_api  # noqa: F401  (only: is it installed?)
    except ImportError:
        return "the playwright package is not installed"
    if chromium_path() is None:
        return "no chromium on this machine (apt-get install -y chromium)"
    return None


@contextlib.contextmanager
def headless_chromium():
    """A Playwright ``Browser`` running the system Chromium headless."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, timeout_s: float = 60.0):
    """A new tab at ``url``, once Streamlit has drawn its sidebar."""
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(timeout_s * 1000)
    page.goto(url)
    page.locator('[data-testid="stSidebar"]').get_by_text("Study", exact=True).wait_for()
    return page


def choose_source(page, source: str) -> None:
    """Pick "Example" or "Server path" in the sidebar (the uploader is always in view)."""
    page.locator('[data-testid="stSidebar"] [data-testid="stRadio"]').get_by_text(source, exact=True).click()


def upload(page, paths) -> None:
    """Hand files to the upload widget, the page's only `input[type=file]` (as a user dropping them would)."""
    page.locator("input[type=file]").set_input_files([str(p) for p in paths])


def go_to(page, title: str) -> None:
    """Follow the sidebar navigation link of a page ("Analyse", "Function", ...)."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()


def metric(page, label: str):
    """The locator of the ``st.metric`` tile labelled exactly ``label``."""
    label_locator = page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    return page.locator('[data-testid="stMetric"]', has=label_locator).first


def metric_number(page, label: str) -> float:
    """The number shown in a metric tile (``"17.5 %"`` -> 17.5), once it is there."""
    value = metric(page, label).locator('[data-testid="stMetricValue"]')
    value.wait_for()
    return float(re.match(r"\s*(-?[\d.]+)", value.inner_text()).group(1))


def wait_for_text(page, text: str, timeout_s: float = 60.0) -> float:
    """Seconds until ``text`` is visible on the page."""
    started = time.perf_counter()
    page.get_by_text(text).first.wait_for(timeout=timeout_s * 1000)
    return time.perf_counter() - started


def step_slider(page, label: str, key: str = "ArrowRight") -> None:
    """Move the slider labelled ``label`` one step with the keyboard."""
    slider = page.locator('[data-testid="stSlider"]', has_text=label).first.get_by_role("slider")
    slider.focus()
    slider.press(key)


def time_redraw(page, label: str, expected_caption: str, key: str = "ArrowRight") -> float:
    """Seconds from a slider step to the image caption that shows its effect."""
    started = time.perf_counter()
    step_slider(page, label, key)
    page.get_by_text(expected_caption).first.wait_for()
    return time.perf_counter() - started
