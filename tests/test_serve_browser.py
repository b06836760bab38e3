"""`savsr serve` in a real browser: Debian's headless Chromium, driven by Selenium through the
system's chromedriver (nothing downloaded at run time). It uploads the demo clip, follows the
job to its end, moves the before/after slider, looks at the W map, and downloads the result,
whose frames equal `savsr upscale`'s (issue #34)."""

from __future__ import annotations

import os
import shutil
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from conftest import require
from media_clips import marked_clip
from serve_helpers import frames, free_port, reference, start_server, stop
from savsr.models.zoo import default_model

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# Where to keep the screenshot for docs/serve.md (docs/figures/serve.png), when set.
SCREENSHOT_ENV = "SAVSR_SERVE_SCREENSHOT"


@pytest.fixture
def browser(tmp_path: Path):
    # Skipped where missing, but failed in CI (SAVSR_REQUIRE_DATA=1), where make test installs them.
    require(CHROMIUM), require(CHROMEDRIVER)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1250"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path / "dl")})
    try:
        yield driver
    finally:
        driver.quit()


def _wait(condition, timeout: float = 120, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_upload_follow_compare_download(browser, model_file: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    clip = Path(str(files("savsr") / "assets" / "bedroom_clip.mkv"))
    port = free_port()
    server = start_server(tmp_path / "data", port, model_file)
    try:
        d = browser
        d.get(f"http://127.0.0.1:{port}/")
        find = lambda css: d.find_element(By.CSS_SELECTOR, css)  # noqa: E731
        _wait(lambda: len(Select(find("#scale")).options) > 0, 30, "the models")
        Select(find("#scale")).select_by_value("2")
        Select(find("#model")).select_by_value("tiny_x2")
        Select(find("#precision")).select_by_value("fp32")
        find("#frames").send_keys("0:6")
        find("#files").send_keys(str(clip))
        assert "bedroom_clip.mkv" in find("#picked").text
        find("#queue").click()

        seen = set()

        def finished() -> bool:
            # Read in one script: the table is redrawn on each event, so element handles go stale.
            row = d.execute_script("const r = document.querySelector('#jobs tbody tr'); "
                                   "return r && [r.dataset.status, r.querySelector('.frames').textContent.trim()];")
            if row:
                seen.add(tuple(row))
            return bool(row) and row[0] == "done"

        _wait(finished, 180, "the job to finish")
        assert ("done", "6 / 6") in seen
        assert any(s == "running" for s, _ in seen), seen  # progress was shown while it ran

        find("#jobs tbody tr button").click()  # Compare
        for img, width in (("#img-bicubic", 768), ("#img-sr", 768), ("#img-w", 384)):
            _wait(lambda: d.execute_script(f"const i = document.querySelector('{img}'); "
                                           "return i.complete && i.naturalWidth;") == width, 30, img)
        stage = find("#stage")
        ActionChains(d).move_to_element_with_offset(stage, -stage.size["width"] // 4, 0).click().perform()
        split = float(find("#split").get_attribute("value"))
        clip_path = d.execute_script("return document.getElementById('img-sr').style.clipPath")
        assert clip_path.startswith("inset(0px 0px 0px ") and clip_path.endswith("%)"), clip_path
        shown = float(clip_path[len("inset(0px 0px 0px "):-2])  # the SR frame shows right of the line
        assert abs(shown - 25) < 2 and abs(split - shown) <= 0.5, (split, shown)
        Select(find("#zoom")).select_by_value("2")
        assert find("#stage").size["width"] == pytest.approx(2 * find("#compare-view").size["width"], abs=20)
        Select(find("#zoom")).select_by_value("1")
        d.execute_script("window.scrollTo(0, 0)")
        d.save_screenshot(str(tmp_path / "serve.png"))
        if os.environ.get(SCREENSHOT_ENV):
            shutil.copy(tmp_path / "serve.png", os.environ[SCREENSHOT_ENV])

        find("#jobs tbody tr a.download").click()
        got = tmp_path / "dl" / "bedroom_clip_x2.mkv"
        _wait(lambda: got.exists() and not list(got.parent.glob("*.crdownload")), 60, "the download")
    finally:
        stop(server)
    want = reference(clip, tmp_path / "want.mkv", model_file, "--precision", "fp32", "--frames", "0:6")
    result = frames(got)
    assert result.shape == (6, 432, 768, 3) and np.array_equal(result, want)


def test_defaults_a_name_in_any_script_a_rotated_clip_and_delete(browser, model_file: Path, tmp_path: Path) -> None:
    """The page preselects `savsr upscale --scale S`'s model at every scale and says what it is
    for; a portrait phone clip named 視頻.mp4 runs, is shown upright, downloads as 視頻_x2.mp4, and
    Delete leaves nothing of it in the data folder (issue #51)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    clip = marked_clip(tmp_path / "視頻.mp4", 4, rotation=90)
    data, port = tmp_path / "data", free_port()
    server = start_server(data, port, model_file)
    try:
        d = browser
        d.get(f"http://127.0.0.1:{port}/")
        find = lambda css: d.find_element(By.CSS_SELECTOR, css)  # noqa: E731
        _wait(lambda: len(Select(find("#model")).options) > 0, 30, "the models")
        assert Select(find("#scale")).first_selected_option.get_attribute("value") == "4"
        for scale in (4, 3, 2):
            Select(find("#scale")).select_by_value(str(scale))
            assert Select(find("#model")).first_selected_option.get_attribute("value") == default_model(scale)
            assert find("#purpose").text.startswith(f"{default_model(scale)}: for clean input;")
        Select(find("#model")).select_by_value("tiny_x2")
        Select(find("#precision")).select_by_value("fp32")
        find("#files").send_keys(str(clip))
        find("#queue").click()
        row = "document.querySelector('#jobs tbody tr')"
        _wait(lambda: d.execute_script(f"return {row} && {row}.dataset.status") == "done", 120, "the job")
        assert d.execute_script(f"return {row}.querySelector('.name').textContent") == "視頻.mp4"
        job_id = d.execute_script(f"return {row}.dataset.id")

        d.execute_script(f"[...{row}.querySelectorAll('button')].find(b => b.textContent === 'Compare').click()")
        for img in ("#img-bicubic", "#img-sr", "#img-w"):  # portrait, as the phone held it
            size = _wait(lambda: d.execute_script(
                f"const i = document.querySelector('{img}'); return i.complete && i.naturalWidth && "
                "[i.naturalWidth, i.naturalHeight];"), 30, img)
            assert size == ([96, 128] if img != "#img-w" else [48, 64]), (img, size)
        view = find("#compare-view")  # fitted to the pane's height, not its width
        assert find("#img-bicubic").size["height"] <= view.size["height"] + 1 < 1.5 * find("#img-bicubic").size["height"]
        frame = find("#frame")
        frame.clear()
        frame.send_keys("9\n")
        _wait(lambda: "is not among this job's frames 0 to 3" in find("#viewer-message").text, 10, "the range message")
        d.save_screenshot(str(tmp_path / "portrait.png"))

        d.execute_script(f"{row}.querySelector('a.download').click()")
        got = tmp_path / "dl" / "視頻_x2.mp4"
        _wait(lambda: got.exists() and not list(got.parent.glob("*.crdownload")), 60, "the download")
        assert frames(got).shape == (4, 96, 128, 3)  # coded landscape, with the rotation kept for players

        d.execute_script(f"[...{row}.querySelectorAll('button')].find(b => b.textContent === 'Delete').click()")
        _wait(lambda: d.execute_script(f"return {row} === null"), 30, "the row to go")
        assert find("#viewer").get_attribute("hidden") is not None

        # A refused upload is named once; a 94-character name wraps and keeps the buttons on screen.
        bad = tmp_path / "notavideo.mp4"
        bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(3000))
        long = tmp_path / ("a_summer_holiday_at_the_lake_with_the_whole_family_filmed_on_an_old_phone_" + "x" * 15 + ".mp4")
        long.write_bytes(clip.read_bytes())
        find("#files").send_keys(f"{bad}\n{long}")
        find("#queue").click()
        _wait(lambda: find("#message").text.startswith("notavideo.mp4: not a readable image or video"), 30, "the refusal")
        assert find("#message").text.count("notavideo.mp4") == 1, find("#message").text
        _wait(lambda: d.execute_script(f"return {row} && {row}.dataset.status") == "done", 120, "the long-named job")
        right = d.execute_script(f"return Math.max(...[...{row}.querySelectorAll('button, a')]"
                                 ".map(b => b.getBoundingClientRect().right))")
        assert right <= d.execute_script("return document.documentElement.clientWidth"), right
        assert find("#jobs tbody tr .name").get_attribute("title") == long.name
    finally:
        stop(server)
    assert [p for p in data.rglob("*") if job_id in str(p) or "視頻" in str(p)] == []
