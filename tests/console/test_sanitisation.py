"""No script from marketing text reaches any page: program pages, preview, landing, portal."""
from html.parser import HTMLParser

import pytest

from referral_app.models import Program
from referral_app.services import definitions, programs
from referral_app.services.codes import code_for
from tests import factories

ATTACK = ('<script>alert(1)</script><img src=x onerror=alert(2)>[a](javascript:alert(3))'
          '<a href="javascript:alert(4)">x</a><svg onload=alert(5)>[b](JaVaScRiPt:alert(6))'
          '![c](javascript:alert(7))')
LONG_ATTACK = ATTACK + '<iframe src="javascript:alert(8)"></iframe><style>@import url(//evil.example)</style>'

TEXTS = ("name", "landing_headline", "landing_body", "give_offer", "share_message")


class ScriptFinder(HTMLParser):
    """Every way the parsed page could run script: inline scripts, handlers, javascript: URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script":
            self._in_script = True
            if not (values.get("src") or "").startswith("/static/"):
                self.problems.append(f"script tag {attrs}")
        if tag in ("iframe", "object", "embed", "svg"):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"handler {name}={value}")
            if (value or "").strip().lower().replace("\x00", "").startswith(("javascript:", "data:text")):
                self.problems.append(f"url {name}={value}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append(f"inline script {data[:40]}")


def assert_safe(html: str) -> None:
    finder = ScriptFinder()
    finder.feed(html)
    assert finder.problems == [], finder.problems
    assert "<script>alert" not in html and "onerror=alert(2)>" not in html.replace("&gt;", "")


@pytest.fixture
def hostile(db, marketer):
    """An active program whose every marketing text (and product name) is an attack."""
    body = {name: LONG_ATTACK if name in ("landing_body", "share_message") else ATTACK
            for name in TEXTS}
    body.update(slug="hostile", product=ATTACK[:100], referrer_kinds=["customer"],
                mql_on_arrival=True, status="active",
                rewards=[{"side": "give", "trigger": "submitted", "kind": "percent",
                          "amount": "20"}])
    program = programs.create_program(body, marketer.id)
    definitions.save_definition(program.product, 10, [
        {"field": "title", "operator": "contains", "value": ATTACK, "points": 5}], [ATTACK])
    factories.agreement(product=program.product)
    db.session.commit()
    return program


def test_the_attack_is_stored_verbatim(db, hostile):
    row = db.session.get(Program, hostile.id)
    assert row.landing_body == LONG_ATTACK and row.name == ATTACK


@pytest.mark.parametrize("path", ["/programs/", "/programs/hostile", "/programs/glossary",
                                  "/programs/agreements", "/programs/definitions"])
def test_console_pages_escape_or_sanitise_it(web, marketer, hostile, path):
    response = web(marketer).get(path + ("?product=" + hostile.product if "definitions" in path else ""))
    assert response.status_code == 200
    html = response.data.decode()
    assert "alert(1)" in html or path in ("/programs/agreements",)  # the text is there, inert
    assert_safe(html)


def test_the_preview_fragment_is_safe(web, marketer):
    form = {name: LONG_ATTACK for name in TEXTS}
    form.update(product="Widget", slug="x", **{"rewards-0-side": "give", "rewards-0-kind": "fixed",
                                               "rewards-0-amount": "5", "rewards-0-currency": "USD",
                                               "rewards-0-trigger": "submitted"})
    response = web(marketer).post("/programs/preview", data=form)
    assert response.status_code == 200
    html = response.data.decode()
    assert "Share e-mail" in html and "alert(2)" in html
    assert_safe(html)


def test_the_landing_page_is_safe(client, app, hostile, referrer, db):
    if "intake.landing" not in app.view_functions:
        pytest.skip("the landing page is not built yet")
    code = code_for(referrer.id, hostile.id).code
    db.session.commit()
    response = client.get(f"/r/{code}")
    assert response.status_code == 200
    assert_safe(response.data.decode())


def test_the_portal_is_safe(web, app, hostile, referrer):
    if "portal.home" not in app.view_functions:
        pytest.skip("the portal is not built yet")
    client = web(referrer)
    pages = [client.get("/portal/")]
    if "portal.program" in app.view_functions:
        pages.append(client.get("/portal/programs/hostile"))
    for response in pages:
        assert response.status_code == 200
        assert_safe(response.data.decode())
