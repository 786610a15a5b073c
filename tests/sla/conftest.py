"""Fixtures of the SLA tests: a New York 9-17 calendar, an agreement, reps and assigned leads."""
import functools
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from referral_app.services import sla
from tests import factories as f

# Monday 2 March 2026, 10:00 in New York (UTC-5 until 8 March): inside business hours.
MONDAY_10 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@dataclass
class World:
    agreement: object
    program: object
    rep: object
    other_rep: object
    manager: object
    referrer: object
    marketing: object

    def lead(self, at=MONDAY_10, owner=None, stage="new", **referee):
        """A lead assigned to `owner` (default: the rep) at `at`, its clocks started."""
        from referral_app.extensions import db

        lead = f.lead(self.program, referrer=self.referrer, owner=owner or self.rep,
                      stage=stage, received_at=at, **referee)
        sla.start_clocks(lead, at)
        db.session.commit()
        return lead


@functools.cache
def _password_hash() -> str:
    # scrypt is slow on purpose; hash "correct horse" once for every user of these tests.
    from referral_app.models import User

    user = User()
    user.set_password("correct horse")
    return user.password_hash


def person(role, name, **fields):
    """A user who can sign in with "correct horse" (tests.conftest.sign_in)."""
    from referral_app.extensions import db
    from referral_app.models import User

    email = name.lower().replace(" ", ".") + "@example.com"
    row = User(email=email, role=role, name=name, password_hash=_password_hash(),
               kind="customer" if role == "referrer" else None, **fields)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def world(db):
    cal = f.calendar(timezone="America/New_York")
    agreement = f.agreement(cal=cal)  # 5 business hours; 4 attempts in 16 days; decide in 8 h
    program = f.program(name="Widget friends", give_offer="20% off the first year")
    manager = person("sales_manager", "Mia Manager")
    rep = person("sales", "Remy Rep", product="Widget", manager_id=manager.id)
    other = person("sales", "Olga Other", product="Widget", manager_id=manager.id)
    referrer = person("referrer", "Rita Referrer", company="Acme")
    marketing = person("marketing", "Mark Eting")
    db.session.commit()
    return World(agreement, program, rep, other, manager, referrer, marketing)


def clock(lead, kind="first_attempt"):
    """The lead's clock of `kind`, read fresh from the database."""
    return sla.clocks_of(lead).get(kind)
