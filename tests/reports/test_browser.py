"""The pack in Chromium: charts draw under the strict CSP, and it prints to a PDF."""
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.reports.conftest import Q1

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


@pytest.fixture
def live(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_the_pack_draws_its_charts_and_prints(world, live, make_user):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    user = make_user("marketing")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(base_url=live)
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto("/sign-in")
        page.fill("input[name=email]", user.email)
        page.fill("input[name=password]", "correct horse")
        page.click("button[type=submit]")
        page.goto(f"/reports/pack?from={Q1['from']}&to={Q1['to']}")
        drawn = page.evaluate("Array.from(document.querySelectorAll('canvas[data-chart]'))"
                              ".filter(c => c.chart).length")
        page.emulate_media(media="print")
        hidden = page.evaluate("getComputedStyle(document.querySelector('.report-filter')).display")
        pdf = page.pdf(format="A4")
        browser.close()
    assert problems == []  # no CSP violation, no script error
    assert drawn >= 3  # funnel, speed and the SLA trend
    assert hidden == "none"
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
