"""Headless Debian Chromium driven by Selenium, for tests of pages Sluice renders (explanations, review console)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.core.settings import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver  (or `make browser`)"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session; a missing browser fails the test (never skips it) with the fix."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.fail(f"browser tests need Debian's chromium and its driver ({', '.join(missing)} missing): {INSTALL}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("browser tests need selenium: pip install -e '.[dev]'")
    # Selenium Manager would otherwise look for a driver online; the system driver is given, nothing to fetch.
    saved = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1024"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        if saved is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = saved


def screenshot(driver: Any, name: str) -> Path:
    """Save what the browser shows as var/screenshots/<name>.png (the whole page height) and return the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9._-]', '_', name)}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    size = driver.get_window_size()
    # A headless window screenshot is the viewport only: grow it to the page so the picture holds all of it,
    # then give the session's later tests the window they had.
    driver.set_window_size(size["width"], min(max(int(height), 600), 8000))
    try:
        if not driver.save_screenshot(str(path)):
            raise AssertionError(f"the browser could not save a screenshot to {path}")
    finally:
        driver.set_window_size(size["width"], size["height"])
    return path
