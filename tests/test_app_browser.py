"""The app in a real browser: Debian's chromium, driven by selenium through Debian's chromedriver.

Upload an image, upscale it, wait for the before/after slider, its thumbnail and the download; upscale the
shipped example and check the 100 % zoom; stylize the shipped example photo and painting with the Stylize
button on screen at 1400x1000 (the tab names the method and its time estimate first); run a benchmark (scores at fixed decimals); take a screenshot of every tab. Without /usr/bin/chromium the test is skipped (scripts/ci_browser_setup.sh
installs it), unless RESTORE_REQUIRE_BROWSER=1, where a missing browser is a failure. The screenshots go
to the test's temporary folder; RESTORE_UPDATE_SCREENSHOTS=1 also copies them to docs/screenshots/.
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from restore.app import AppConfig, launch
from restore.paths import REPO_ROOT
from restore.style.models import DEFAULT_STYLE_MODEL
from loopback import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1400, 1150)
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  f"--window-size={WINDOW[0]},{WINDOW[1]}"]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
# Generous: a loaded two-core machine imports torch and counts the zoo's parameters on first use.
WAIT_SECONDS = 120

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def _browser_missing(reason: str) -> None:
    if os.environ.get("RESTORE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"RESTORE_REQUIRE_BROWSER=1 but {reason}; run scripts/ci_browser_setup.sh")
    pytest.skip(f"{reason}; scripts/ci_browser_setup.sh installs it (RESTORE_REQUIRE_BROWSER=1 makes this fail)")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        _browser_missing(f"{CHROMIUM} is absent")
    if not CHROMEDRIVER.exists():
        _browser_missing(f"{CHROMEDRIVER} is absent (Debian package chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _browser_missing("the selenium package is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    # An explicit driver path keeps Selenium Manager from looking for (or downloading) one.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def app_url(datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = AppConfig(output_dir=tmp_path_factory.mktemp("app-outputs"), data_root=str(datasets_dir), device="cpu")
    demo = launch(config, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield demo.local_url
    finally:
        demo.close()


def _screenshot(driver: object, name: str, folder: Path) -> Path:
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot for {name}"
    assert path.read_bytes()[:4] == b"\x89PNG"
    if os.environ.get("RESTORE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)
    return path


def _open_tab(driver: object, title: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//button[@role='tab' and normalize-space(.)='{title}']").click()


def _decoded_widths(driver: object, selector: str) -> list[int]:
    """Natural widths of the decoded images under ``selector`` (0 for one still loading)."""
    return driver.execute_script(
        f"return [...document.querySelectorAll({selector!r})].map(i => i.complete ? i.naturalWidth : 0);")


def _wait_for_text(driver: object, selector: str, text: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_SECONDS).until(
        expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text)
    )
    return driver.find_element(By.CSS_SELECTOR, selector).text


def test_upscale_in_the_browser_and_screenshot_every_tab(browser: object, app_url: str, datasets_dir: Path,
                                                         tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, WAIT_SECONDS)
    driver.get(app_url)
    wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "#upscale-run")))

    source = datasets_dir / "Set5" / "LR_bicubic" / "X4" / "butterflyx4.png"
    driver.find_element(By.CSS_SELECTOR, "#upscale-input input[type=file]").send_keys(str(source))
    # Gradio shows a file's stem and suffix in separate elements, so the stem is what the text holds.
    _wait_for_text(driver, "#upscale-input", "butterflyx4")
    driver.find_element(By.CSS_SELECTOR, "#upscale-run").click()
    status = _wait_for_text(driver, "#upscale-status", "→")
    assert "64×64 → 256×256" in status and "RGB 8-bit PNG" in status
    # The default model is the best shipped one at x4 (a trained model once one ships, else bicubic).
    download = _wait_for_text(driver, "#upscale-download", "butterflyx4_")
    assert "_x4\n.png" in download  # stem and suffix sit in separate elements
    # Both halves of the slider have decoded at the output's size.
    wait.until(lambda d: d.execute_script(
        "const images = [...document.querySelectorAll('#upscale-slider img')];"
        "return images.length >= 2 && images.every(i => i.complete && i.naturalWidth === 256);"))
    # The upload shows as a thumbnail (a gr.File alone shows only the name).
    assert _decoded_widths(driver, "#upscale-thumbnail img") == [64]

    # The shipped example (160x90): at x4 the whole-image slider is 640 wide and shrunk on the page, so
    # the zoom shows 256x256 output pixels beside bicubic on the same window.
    driver.find_element(By.XPATH, "//*[@id='upscale-examples']//*[contains(text(), 'small_osprey')]").click()
    _wait_for_text(driver, "#upscale-input", "small_osprey")
    wait.until(lambda d: _decoded_widths(d, "#upscale-thumbnail img") == [160])
    driver.find_element(By.CSS_SELECTOR, "#upscale-run").click()
    status = _wait_for_text(driver, "#upscale-status", "160×90 → 640×360")
    wait.until(lambda d: _decoded_widths(d, "#upscale-slider img")[:2] == [640, 640])
    wait.until(lambda d: _decoded_widths(d, "#upscale-crop img")[:2] == [256, 256])
    _screenshot(driver, "upscale", tmp_path)

    _open_tab(driver, "Style transfer")
    notice = driver.find_element(By.CSS_SELECTOR, "#style-notice")
    wait.until(lambda d: notice.is_displayed())
    assert "style model" in notice.text.lower()
    # The shipped examples: clicking a photo and a painting fills the two inputs.
    driver.find_elements(By.CSS_SELECTOR, "#style-example-photos .thumbnail-item")[0].click()
    _wait_for_text(driver, "#style-content", "photo_kitten")
    driver.find_elements(By.CSS_SELECTOR, "#style-example-paintings .thumbnail-item")[1].click()
    _wait_for_text(driver, "#style-styles", "hokusai_great_wave")
    # Before running, the tab says which method will run and how long it should take for these sizes.
    estimate = _wait_for_text(driver, "#style-estimate", "Estimated time for 384×260")
    assert estimate.startswith("sanet will run")
    # At 1400x1000 the Stylize button is on screen with both inputs filled, not below the fold.
    driver.set_window_size(1400, 1000)
    bottom, height = driver.execute_script(
        "return [document.querySelector('#style-run').getBoundingClientRect().bottom, window.innerHeight];")
    assert bottom <= height, f"the Stylize button ends at {bottom} px, below the {height} px window"
    driver.set_window_size(*WINDOW)
    driver.find_element(By.CSS_SELECTOR, "#style-run").click()
    if DEFAULT_STYLE_MODEL.is_file():
        _wait_for_text(driver, "#style-status", "photo_kitten in the style of hokusai_great_wave")
    else:
        # Without weights the API's own message shows in the page, and no traceback does.
        wait.until(lambda d: "no style model at" in d.find_element(By.TAG_NAME, "body").text)
        assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text
    _screenshot(driver, "style", tmp_path)
    for close in driver.find_elements(By.CSS_SELECTOR, "button.toast-close"):
        close.click()

    _open_tab(driver, "Benchmark")
    wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "#bench-run"))).click()
    summary = _wait_for_text(driver, "#bench-summary", "dB")
    assert " x4 on Set5: PSNR " in summary  # the default model: the best shipped at x4
    table = _wait_for_text(driver, "#bench-table", "butterfly")
    numbers = re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", table)
    assert len(numbers) >= 18 and all("." in number for number in numbers), f"scores without decimals: {table}"
    wait.until(lambda d: d.execute_script(
        "const image = document.querySelector('#bench-chart img');"
        "return image !== null && image.complete && image.naturalWidth > 0;"))
    _screenshot(driver, "benchmark", tmp_path)

    _open_tab(driver, "Models")
    table = _wait_for_text(driver, "#models-table", "bicubic")
    assert "rcan" in table and "none needed" in table
    assert "sanet-vgg16" in table and "style transfer" in table and "★" in table
    _screenshot(driver, "models", tmp_path)

    assert "something went wrong" not in driver.find_element(By.TAG_NAME, "body").text
