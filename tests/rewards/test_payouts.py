"""Payout batches: each issued referrer reward lands in exactly one batch; the CSV for finance."""
import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from referral_app.errors import ValidationFailed
from referral_app.services import payouts, reward_states, rewards
from tests import factories as f
from tests.rewards.conftest import rule

MAY = datetime(2026, 5, 1, tzinfo=UTC)
JUNE = datetime(2026, 6, 1, tzinfo=UTC)


def issued(prog, referral, referrer, when, trigger="won"):
    (reward,) = [r for r in rewards.fire(referral(prog, referrer).id, trigger, at=when)
                 if r.side == "get"]
    reward_states.approve(reward.id)
    return reward_states.issue(reward.id, at=when)


def test_a_batch_collects_the_period_once_and_exports_csv(db, program, referral):
    prog = program(rule("get", "won", amount="100"), rule("give", "won", amount="20"),
                   slug="friends")
    ann = f.user(email="ann@example.com", name="=HYPERLINK(\"x\")")
    bob = f.user(email="bob@example.com", name="Bob")
    a = issued(prog, referral, ann, datetime(2026, 5, 3, tzinfo=UTC))
    b = issued(prog, referral, bob, datetime(2026, 5, 31, 23, 59, tzinfo=UTC))
    later = issued(prog, referral, bob, JUNE)  # the next period
    batch = payouts.create_batch(MAY, JUNE, f.user("marketing").id)
    assert payouts.totals([batch.id])[batch.id] == [("USD", 2, Decimal("200.00"))]
    with pytest.raises(ValidationFailed):  # nothing left to pay in May: no double payout
        payouts.create_batch(MAY, JUNE)
    rows = list(csv.DictReader(io.StringIO("".join(payouts.csv_lines(batch.id)))))
    assert [(r["reward_id"], r["referrer_email"], r["amount"], r["currency"], r["program"])
            for r in rows] == [(str(a.id), "ann@example.com", "100.00", "USD", "friends"),
                               (str(b.id), "bob@example.com", "100.00", "USD", "friends")]
    assert rows[0]["referrer_name"].startswith("'=")  # a formula is text for the spreadsheet
    assert rows[0]["issued_at"] == "2026-05-03T00:00:00+00:00" and rows[0]["status"] == "issued"
    db.session.refresh(later)
    assert later.payout_batch_id is None


def test_a_batch_refuses_a_period_that_ends_before_it_starts(db):
    with pytest.raises(ValidationFailed) as refused:
        payouts.create_batch(JUNE, MAY)
    assert "period_end" in refused.value.fields
