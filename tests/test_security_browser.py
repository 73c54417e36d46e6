"""In a real browser, an error stays readable in the page: the message outlives Gradio's 10-second toast.

Uses the chromium + chromedriver of tests/test_app_browser.py (skipped without them, as there).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from loopback import free_port
from test_app_browser import WAIT_SECONDS, browser  # noqa: F401  (browser: the shared fixture)

from restore.app import AppConfig, launch
from restore.io import save

# Gradio removes a toast with a duration after 10 s; the app's errors have none.
GRADIO_TOAST_SECONDS = 10

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


@pytest.fixture(scope="module")
def small_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = AppConfig(max_pixels=1024, output_dir=tmp_path_factory.mktemp("app-outputs"), device="cpu")
    demo = launch(config, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield demo.local_url
    finally:
        demo.close()


def test_error_message_stays_readable_in_the_page(browser: object, small_app_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, WAIT_SECONDS)
    driver.get(small_app_url)
    wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "#upscale-run")))
    source = save(tmp_path / "toolarge.png", np.zeros((40, 40, 3), np.uint8))
    driver.find_element(By.CSS_SELECTOR, "#upscale-input input[type=file]").send_keys(str(source))
    wait.until(lambda d: "toolarge" in d.find_element(By.CSS_SELECTOR, "#upscale-input").text)
    driver.find_element(By.CSS_SELECTOR, "#upscale-run").click()
    expected = "toolarge.png is 40x40 = 1,600 pixels"
    wait.until(lambda d: expected in d.find_element(By.TAG_NAME, "body").text)
    time.sleep(GRADIO_TOAST_SECONDS + 3)
    assert expected in driver.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text
