"""Browser fixtures for every test directory: the app on 127.0.0.1 in a thread, driven by Debian's Chromium."""
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # tests/artifacts (ignored)


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for browser tests: apt-get install chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _cancelled_by_navigation(request) -> bool:
    """A static asset the browser dropped because the page moved on (a click navigated
    while an image was loading) is no fault of the app; missing assets still fail the test
    through their 4xx response."""
    return "ERR_ABORTED" in (request.failure or "") and "/static/" in request.url


@pytest.fixture
def page(browser, live_server, request, db):
    """A fresh page; the test fails on any console error or failed request on it.

    On failure a screenshot is saved under tests/artifacts/.
    """
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
          if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("requestfailed", lambda r: None if _cancelled_by_navigation(r)
          else problems.append(f"request failed: {r.url} {r.failure}"))
    pg.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
          if "/static/" in r.url and r.status >= 400 else None)
    pg.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
          if r.status >= 500 else None)
    pg.problems = problems
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert problems == [], problems


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(autouse=True)
def _rate_limits_as_configured(request):
    """Another test's app may have switched the shared limiter on: browser journeys sign up and
    sign in more often than the limits allow, so they run with the test app's setting."""
    if "page" in request.fixturenames:
        from referral_app.extensions import limiter

        limiter.enabled = request.getfixturevalue("app").config["RATELIMIT_ENABLED"]
    yield


def go(page, target):
    """Click what navigates, once the current page has loaded (else its pending images are
    aborted, which the page fixture counts as failed requests), and wait until the page it
    leads to (after any redirects) has loaded too: waiting for "load" right after the click
    may see the old page's state and let the next step abort the new page's images."""
    page.wait_for_load_state("load")
    with page.expect_navigation(wait_until="load"):
        target.click()
    _read_anew()


def _read_anew():
    """End the test's transaction, so its next read sees what the browser's requests wrote
    (as IsolatedClient does for the test client): on SQLite an open read keeps its snapshot."""
    from flask import has_app_context

    if has_app_context():
        from referral_app.extensions import db

        db.session.commit()


def sign_in_as(page, user, password="correct horse"):
    page.goto("/sign-in")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill(password)
    go(page, page.get_by_role("button", name="Sign in"))


def run_jobs(app):
    """Run every job waiting in this test run's queues, here and now (a burst worker)."""
    from rq import SimpleWorker

    from referral_app.jobs import get_queue, redis_connection
    from referral_app.jobs.queues import worker_queue_names

    queues = [get_queue(name.split(":")[-1]) for name in worker_queue_names(app)]
    SimpleWorker(queues, connection=redis_connection()).work(burst=True)
