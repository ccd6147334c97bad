"""The window's missed-call badge: the exact count up to 9, then "9+" (the badge is one character wide),
while the History tab's accessible name keeps the exact count.

The rule lives in the window's page (ui/app), so it runs in the real page in headless Chromium, fed through
``window.softphoneApp.onEvent`` exactly as the desktop shell pushes engine events; no engine is needed. The
page is served over loopback HTTP (module scripts do not load from file: URLs).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from softphone.desktop import resources

CHROMIUM = "/usr/bin/chromium"


class PageHandler(SimpleHTTPRequestHandler):
    """The window's files by the same URL rule the desktop shell uses (``resources.page_file``)."""

    def translate_path(self, path: str) -> str:
        url_path = path.split("?", 1)[0]
        page_file = getattr(resources, "page_file", None)      # absent while the page was one classic script
        if page_file is not None:
            found = page_file(url_path)
            return str(found) if found is not None else str(resources.app_dir() / "missing")
        return str(resources.app_dir() / url_path.lstrip("/"))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def page(page_url: str) -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (or `apt-get install chromium`)", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing from the venv: run `make test` (it installs the dev extras)",
                    pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            pg = browser.new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(page_url)
            pg.wait_for_function("() => !!(window.softphoneApp && window.softphoneApp.onEvent)")
            yield pg
            assert errors == [], f"the page threw: {errors}"
        finally:
            browser.close()


def missed_call(page: Any, n: int) -> None:
    page.evaluate("""(n) => window.softphoneApp.onEvent({type: 'call', previous_state: 'INCOMING', call: {
        call_id: 'missed-' + n, direction: 'inbound', state: 'TERMINATED', end_status: 'MISSED',
        remote: '+1415555' + String(n).padStart(4, '0'), account: 'Office'}})""", n)


def badge(page: Any) -> tuple[bool, str, str]:
    hidden, text, label = page.evaluate("""() => [document.getElementById('missed-badge').hidden,
        document.getElementById('missed-badge').textContent,
        document.getElementById('tab-history').getAttribute('aria-label')]""")
    return bool(hidden), str(text), str(label)


def test_missed_badge_counts_to_nine_then_caps(page: Any) -> None:
    assert badge(page)[0] is True                                    # nothing missed: no badge
    seen = []
    for n in range(1, 13):
        missed_call(page, n)
        hidden, text, label = badge(page)
        assert not hidden
        seen.append(text)
        assert label == f"History, {n} missed"                      # screen readers get the exact count
    assert seen == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "9+", "9+", "9+"]
    assert page.evaluate("() => window.softphoneApp.debug().missed") == 12
