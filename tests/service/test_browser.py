"""/review and /dashboard in a real browser: Playwright driving Debian's Chromium
(``/usr/bin/chromium``, never a downloaded one) against the app served by uvicorn on a
free port, with a SQLite store seeded with REVIEW items and a day of checks.

Chromium missing: skipped locally, a failure under ``CI=true``. The dashboard's
screenshot is saved under ``$PYTEST_ARTIFACTS`` when set, else ``test-artifacts/``
at the repository's root (ignored by git), and in the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import httpx
import pytest
import uvicorn

from moderation_core.service import create_app
from moderation_core.store import create_store_engine, store_url, upgrade
from tests.service.helpers import free_port
from tests.service.pages_helpers import API_KEY, review_row, seed_store

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Dialog, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).parents[2]
CHARTS = ("hourly", "latency", "rates", "senders", "keywords", "precision")
WAIT_MS = 15_000  # Playwright's wait for a page event, not a measurement


def _chromium() -> Path:
    if CHROMIUM.is_file():
        return CHROMIUM
    message = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _artifacts_dir() -> Path:
    folder = Path(os.environ.get("PYTEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_store_engine(store_url(url))
    upgrade(engine)
    ids = seed_store(engine)
    try:
        yield url, ids
    finally:
        engine.dispose()


@pytest.fixture
def server(seeded: tuple[str, list[int]]) -> Iterator[str]:
    """The app under uvicorn in a thread: a real server on a free port."""
    url, _ = seeded
    app = create_app(
        {
            "providers": {"local": {"type": "local"}},
            "serve": {"api_keys": [API_KEY]},
            "store": {"url": url},
        }
    )
    port = free_port()
    uv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=uv.run, name="uvicorn-pages", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    assert httpx.get(f"{base}/healthz").status_code == 200
    try:
        yield base
    finally:
        uv.should_exit = True
        thread.join(timeout=30)


@attrs.define
class Watched:
    """A page, and what went wrong on it: script errors and CSP refusals (console
    errors), and dialogs (an alert() would mean hostile content ran)."""

    page: Page
    problems: list[str] = attrs.field(factory=list)
    dialogs: list[str] = attrs.field(factory=list)


@pytest.fixture
def browser_page() -> Iterator[Watched]:
    """A fresh Chromium page, watched for errors and dialogs."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - dev extra

    executable = _chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            watched = Watched(page)
            page.on("pageerror", lambda error: watched.problems.append(f"pageerror: {error}"))
            page.on("console", lambda message: _console(watched, message))
            page.on("dialog", lambda dialog: _dialog(watched, dialog))
            yield watched
        finally:
            browser.close()


def _console(watched: Watched, message: ConsoleMessage) -> None:
    if message.type == "error":
        watched.problems.append(f"console: {message.text}")


def _dialog(watched: Watched, dialog: Dialog) -> None:
    watched.dialogs.append(dialog.message)
    dialog.dismiss()


def _log_in(page: Page, server: str) -> None:
    # Not logged in: the page sends the browser to the login form, then back.
    page.goto(f"{server}/review")
    assert page.url == f"{server}/login?next=/review"
    page.fill("#key", API_KEY)
    page.click("#login")
    page.wait_for_url(f"{server}/review")


def _review_by_keys_and_button(page: Page, ids: list[int]) -> None:
    assert page.locator("#item").get_attribute("data-id") == str(ids[0])
    assert page.locator("#content mark").first.inner_text() == "naughty"

    # A name, then the keyboard: a approves and moves on to the next item.
    page.fill("#reviewer", "mia")
    page.locator("h1").click()  # out of the field: keys are shortcuts again
    page.keyboard.press("a")
    page.wait_for_url(f"**/review?decided={ids[0]}&decision=approve&item={ids[1]}")
    assert page.locator("#notice").inner_text() == f"Item #{ids[0]} approved."
    assert page.locator("#item").get_attribute("data-id") == str(ids[1])
    assert page.locator(f'.queue a[data-id="{ids[0]}"]').count() == 0
    # The hostile item is text on the page, not markup.
    assert "<script>" in page.locator("#content").inner_text()

    # j and k move through the queue.
    page.keyboard.press("j")
    page.wait_for_url(f"**/review?item={ids[2]}")
    page.keyboard.press("k")
    page.wait_for_url(f"**/review?item={ids[1]}")
    assert page.locator("#reviewer").input_value() == "mia"  # remembered

    # And the button: reject.
    page.click("#reject")
    page.wait_for_url(f"**/review?decided={ids[1]}&decision=reject*")
    assert page.locator(".queue li").count() == 1
    assert page.locator("#open-count").inner_text() == "1"


_CHARTS_DRAWN = """() => Array.from(document.querySelectorAll("canvas[data-chart]"))
    .map((canvas) => {
      const chart = Chart.getChart(canvas);
      const points = chart ? chart.data.datasets
        .flatMap((set) => set.data)
        .filter((v) => v !== null && v > 0).length : 0;
      return {name: canvas.dataset.chart, points, width: canvas.width, height: canvas.height};
    })"""


def _check_dashboard(page: Page, server: str) -> None:
    page.click("nav >> text=Dashboard")
    page.wait_for_url(f"{server}/dashboard")
    page.wait_for_selector("body[data-charts-ready=true]")
    drawn = page.evaluate(_CHARTS_DRAWN)
    assert [chart["name"] for chart in drawn] == list(CHARTS)
    for chart in drawn:
        assert chart["points"] > 0, f"chart {chart['name']} has no data"
        assert chart["width"] > 0, chart
        assert chart["height"] > 0, chart
    assert page.locator("#open-reviews").inner_text() == "1"


def _screenshot(page: Page, folder: Path, name: str) -> None:
    shot = folder / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    shutil.copy(shot, _artifacts_dir() / name)


def test_review_and_dashboard_in_chromium(
    server: str, seeded: tuple[str, list[int]], browser_page: Watched, tmp_path: Path
) -> None:
    url, ids = seeded
    page = browser_page.page
    _log_in(page, server)
    _review_by_keys_and_button(page, ids)
    engine = create_store_engine(store_url(url))
    try:
        approved, rejected = review_row(engine, ids[0]), review_row(engine, ids[1])
        assert (approved.status, approved.reviewer) == ("approved", "mia")
        assert (rejected.status, rejected.reviewer) == ("rejected", "mia")
        assert review_row(engine, ids[2]).status == "open"
    finally:
        engine.dispose()

    # The dashboard: every chart drawn by Chart.js, with data in it.
    _check_dashboard(page, server)
    _screenshot(page, tmp_path, "dashboard.png")
    page.goto(f"{server}/review")
    _screenshot(page, tmp_path, "review.png")
    assert browser_page.dialogs == []
    assert browser_page.problems == []


def test_a_session_cookie_is_not_readable_by_scripts(server: str, browser_page: Watched) -> None:
    page = browser_page.page
    _log_in(page, server)
    assert page.evaluate("document.cookie") == ""
    cookies = page.context.cookies()
    assert [(c["name"], c.get("httpOnly"), c.get("sameSite")) for c in cookies] == [
        ("moderation_session", True, "Strict")
    ]
    assert browser_page.problems == []
