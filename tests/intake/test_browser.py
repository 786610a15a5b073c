"""Browser journeys of intake: copy a link and refer, a referee's landing, an import's progress."""
import pytest
from rq import SimpleWorker

from referral_app.jobs import IMPORTS, get_queue, redis_connection
from referral_app.services import codes

pytestmark = pytest.mark.browser


def sign_in(page, user):  # noqa: F811  (page is the fixture's value here)
    page.goto("/sign-in")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill("correct horse")
    go(page, page.get_by_role("button", name="Sign in"))


def go(page, target):  # noqa: F811
    """Click what navigates, once the current page finished loading (else its images are
    aborted, which the page fixture counts as failed requests)."""
    page.wait_for_load_state("load")
    target.click()
    page.wait_for_load_state("load")


def test_a_referrer_copies_their_link_and_refers_someone(page, world):  # noqa: F811
    sign_in(page, world.referrer)
    page.goto("/portal/")
    link = page.locator(f"#link-{world.program.id}").input_value()
    page.get_by_role("button", name="Copy link").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == link
    go(page, page.get_by_role("button", name="Refer someone").first)
    page.get_by_label("Their name").fill("Rhea Referee")
    page.get_by_label("Their work e-mail").fill("rhea@prospect.example")
    page.get_by_label("They agreed").check()
    go(page, page.get_by_role("button", name="Refer them"))
    assert page.get_by_role("heading", name="My referrals").is_visible()
    assert page.get_by_role("cell", name="Rhea Referee").is_visible()


def test_a_referee_claims_the_offer(page, world, db):  # noqa: F811
    code = codes.code_for(world.partner.id, world.program.id).code
    db.session.commit()
    page.goto(f"/r/{code}")
    assert page.get_by_text("Pete invited you").is_visible()
    page.get_by_label("Your name").fill("Rhea Referee")
    page.get_by_label("Work e-mail").fill("rhea@prospect.example")
    page.get_by_label("I agree to be contacted").check()
    go(page, page.get_by_role("button", name="Claim 20% off"))
    assert page.get_by_role("heading", name="Thank you!").is_visible()


def test_marketing_watches_an_import_finish(page, world, db, make_user, tmp_path):  # noqa: F811
    csv_file = tmp_path / "leads.csv"
    csv_file.write_text("Full Name,E-mail\nAnn One,ann@one.example\nBad Row,nope\n")
    sign_in(page, make_user("marketing"))
    page.goto("/intake/imports")
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_label("Everyone in this file agreed").check()
    go(page, page.get_by_role("button", name="Upload and preview"))
    assert page.get_by_role("cell", name="Ann One").is_visible()
    go(page, page.get_by_role("button", name="Import"))
    assert page.get_by_text("The import has started").is_visible()
    SimpleWorker([get_queue(IMPORTS)], connection=redis_connection()).work(burst=True)
    report = page.get_by_role("button", name="Download the per-row report (CSV)")
    report.wait_for(state="visible", timeout=10_000)  # the progress poll saw "done"
    assert page.locator('[data-field="created"]').inner_text() == "1"
    assert page.locator('[data-field="invalid"]').inner_text() == "1"
    assert page.locator("progress").get_attribute("value") == "2"
