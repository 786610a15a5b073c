"""Fixtures of the intake tests: a program with its agreement and reps, a referee, and
intake's writer process (its loop in a thread)."""
import threading
from dataclasses import dataclass

import pytest
from werkzeug.security import generate_password_hash

from blueprints.api import group_commit, intake_writer
from referral_app.models import Program, User
from tests import factories as f


@dataclass
class World:
    program: Program
    referrer: User
    partner: User
    reps: list[User]


@pytest.fixture(autouse=True)
def fast_passwords(monkeypatch):
    """scrypt costs ~0.3 s a user; these tests are not about password hashing."""
    monkeypatch.setattr("referral_app.models.user.generate_password_hash",
                        lambda password, method=None: generate_password_hash(
                            password, method="pbkdf2:sha256:1"))


@pytest.fixture
def world(db) -> World:
    """An active Widget program under an agreement in force, two reps, two referrers."""
    f.agreement(product="Widget")
    program = f.program(slug="widgets", product="Widget", name="Widget friends",
                        rules=[("give", "submitted", "percent", 20), ("get", "won", "fixed", 100)])
    reps = [f.user("sales", product="Widget", name=f"Rep {n}") for n in (1, 2)]
    world = World(program=program,
                  referrer=f.user("referrer", kind="customer", email="carla@customer.example",
                                   name="Carla Customer"),
                  partner=f.user("referrer", kind="partner", email="pete@partner.example",
                                 name="Pete Partner"),
                  reps=reps)
    db.session.commit()
    return world


def referee(n: int = 1, **fields) -> dict:
    values = {"name": f"Rhea Referee {n}", "email": f"rhea{n}@prospect.example",
              "company": "Prospect Inc", "phone": "+1 212 555 0100", "title": "CTO",
              "country": "US"}
    values.update(fields)
    return values


def post(client, n, **fields):
    """POST /api/v1/referrals of referee `n` to the Widget program, with consent."""
    return client.post("/api/v1/referrals", json=dict(
        {"program": "widgets", "referee": referee(n), "consent": True}, **fields))


@pytest.fixture
def relayed(app, monkeypatch):
    """The app in INTAKE_WRITER=process; start() runs `flask intake-writer`'s loop (serve)
    in a thread, stop() ends every loop started (as SIGTERM would)."""
    monkeypatch.setitem(app.config, "INTAKE_WRITER", "process")
    running = []

    class Relay:
        writer = group_commit.GroupCommit(app)

        def start(self):
            stop, listening = threading.Event(), threading.Event()
            thread = threading.Thread(target=intake_writer.serve,
                                      args=(app, stop, self.writer, listening), daemon=True)
            thread.start()
            running.append((stop, thread))
            assert listening.wait(30), "the writer did not start"

        def stop(self):
            for stop, thread in running:
                stop.set()
                thread.join(timeout=10)
                assert not thread.is_alive(), "the writer did not stop within 10 s"
            running.clear()

    relay = Relay()
    yield relay
    relay.stop()
