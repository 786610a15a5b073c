"""Fixtures of the rewards tests: programs with rules, referrers, referrals, a webhook receiver."""
import http.server
import threading
from decimal import Decimal

import pytest

from tests import factories as f


def rule(side="get", trigger="won", kind="fixed", amount="100", **fields) -> dict:
    """A RewardRule's fields; marketing-approved and without hold unless told otherwise."""
    return {"side": side, "trigger": trigger, "kind": kind, "amount": Decimal(amount), **fields}


@pytest.fixture
def program(db):
    """program(*rules, **fields) -> an active program with those rules, flushed."""
    def make(*rules, **fields):
        return f.program(rules=[r if isinstance(r, dict) else rule(*r) for r in rules], **fields)

    return make


@pytest.fixture
def referral(db):
    """referral(program, referrer, **referee) -> the Referral of a new lead (stage `new`)."""
    def make(prog, referrer=None, **fields):
        return f.lead(prog, referrer=referrer, **fields).referral

    return make


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that answers with the given status codes in turn."""

    def __init__(self, codes=(200,)):
        self.codes = list(codes)
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((dict(self.headers), body))
                code = receiver.codes.pop(0) if len(receiver.codes) > 1 else receiver.codes[0]
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def start(codes=(200,)):
        made.append(Receiver(codes))
        return made[-1]

    yield start
    for r in made:
        r.close()
