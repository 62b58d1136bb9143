"""The web map in real headless Chromium (Debian ``chromium`` driven by Playwright).

Screenshots are kept in ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


#: Screenshots land here (the CI keeps them).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
chromium_available = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
pytestmark = [pytest.mark.browser, chromium_available]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def page(live_server):
    playwright = pytest.importorskip("playwright.sync_api")
    url, _ = live_server
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.console_errors = []
        page.failed_requests = []
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        page.on("requestfailed", lambda r: page.failed_requests.append(r.url))
        page.on("request", lambda r: r.url.startswith(url) or page.failed_requests.append("external " + r.url))
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        yield page
        browser.close()


def _overlay_tiles_loaded(page, layer: str) -> None:
    page.wait_for_function(
        """layer => Array.from(document.querySelectorAll('img.leaflet-tile-loaded'))
                 .some(img => img.src.includes('/' + layer + '/'))""", arg=layer, timeout=15_000)


def test_map_loads_with_overlay_legend_and_stats(page) -> None:
    _overlay_tiles_loaded(page, "hillshade")
    _overlay_tiles_loaded(page, "uncovered_population")
    assert page.locator("#legend .ramp").count() == 1
    assert "Coverage by technology" in page.inner_text("#stats")
    assert "4G" in page.inner_text("#stats-tech") and "%" in page.inner_text("#stats-urban-rural")
    assert "modelled" in page.inner_text("#provenance-note")
    assert "WorldPop" in page.inner_text(".leaflet-control-attribution")
    assert page.locator(".leaflet-interactive").count() >= 1  # gap cluster outline
    page.wait_for_timeout(400)  # let Leaflet's tile fade-in finish before the screenshot
    page.screenshot(path=str(ARTIFACTS / "webmap-initial.png"))
    assert page.console_errors == []
    assert page.failed_requests == []


def test_switch_layer_and_opacity(page) -> None:
    page.check('#layer-list input[value="covered_4G"]')
    _overlay_tiles_loaded(page, "covered_4G")
    page.wait_for_function("document.querySelector('#legend').innerText.includes('not covered')")
    page.fill("#opacity", "40")
    page.dispatch_event("#opacity", "input")
    assert page.evaluate("window.covgap.state.overlay.options.opacity") == pytest.approx(0.4)
    assert "covered_4G.tif" in page.inner_text("#downloads")
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / "webmap-covered-4G.png"))
    assert page.console_errors == []


def test_click_shows_point_values(page) -> None:
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector(".point-values", timeout=10_000)
    text = page.inner_text(".leaflet-popup-content")
    assert "received_power_4G" in text and "dBm" in text
    assert "Best server" in text
    page.screenshot(path=str(ARTIFACTS / "webmap-point-query.png"))
    assert page.console_errors == []


def test_switch_run(page) -> None:
    page.select_option("#run-select", "two-off")
    _overlay_tiles_loaded(page, "covered_4G")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('img.leaflet-tile-loaded')).some(i => i.src.includes('/two-off/'))")
    assert "One site switched off" in page.inner_text("#run-title")
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / "webmap-run-two-off.png"))
    assert page.console_errors == []
