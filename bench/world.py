"""The benchmark company: calendars, agreements, people, programs, reward rules and codes."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.pgload import NULL

DAY = 86400.0
SPAN_DAYS = 730  # leads arrive over two years
PASSWORD = "bench-password"

# (name, timezone, country, weekly hours)
CALENDARS = [
    ("New York office", "America/New_York", "US", ("09:00", "17:00")),
    ("London office", "Europe/London", "GB", ("09:00", "17:30")),
    ("Berlin office", "Europe/Berlin", "DE", ("08:00", "16:00")),
]
# (product, calendar index, first-attempt business hours, decision business hours)
PRODUCTS = [
    ("Interlock CRM", 0, 5, 8),
    ("Interlock Analytics", 0, 5, 8),
    ("Interlock Support", 1, 4, 8),
    ("Interlock Marketing Cloud", 2, 8, 16),
]
# Per product, three programs: (suffix, referrer kinds, rules as (side, trigger, kind, amount))
PROGRAM_SHAPES = [
    ("Friends", ["customer"], [("give", "submitted", "percent", "20"), ("get", "won", "fixed", "100")]),
    ("Partners", ["partner"], [("get", "sql", "fixed", "25"), ("get", "won", "percent", "10")]),
    ("Insiders", ["customer", "partner"], [("give", "submitted", "percent", "25"),
                                           ("get", "purchase", "fixed", "150")]),
]
REJECT_REASONS = ["Not a fit", "No budget", "Existing customer", "Duplicate", "Bad contact data",
                  "Student or personal use"]
LOST_REASONS = ["Chose a competitor", "Price", "No decision", "Timing", "Missing feature"]


@dataclass
class Rule:
    id: int
    side: str
    trigger: str
    kind: str
    amount: str
    hold_days: int = 14


@dataclass
class Program:
    id: int
    product: int  # index into PRODUCTS
    kinds: list[str]
    rules: list[Rule] = field(default_factory=list)


def ts(t: float) -> str:
    """An epoch second as a PostgreSQL timestamptz literal."""
    return datetime.fromtimestamp(t, UTC).isoformat(sep=" ")


def row(*values) -> str:
    return "\t".join(NULL if v is None else ("t" if v is True else "f" if v is False else str(v))
                     for v in values)


class World:
    """Everything the leads hang off, as rows ready for COPY plus lookups for the simulation."""

    def __init__(self, leads: int, seed: int, now: float, password_hash: str):
        from referral_app.calendar import calendar_for

        self.rng = random.Random(seed)
        self.now, self.start = now, now - SPAN_DAYS * DAY
        self.rows: dict[str, list[str]] = {}
        self.closed_pool: list[tuple[float, str]] = []  # leads whose email may be referred again
        self.calendars = []
        for n, (name, tz, country, (a, b)) in enumerate(CALENDARS, 1):
            hours = {str(d): [[a, b]] for d in range(5)}
            self.calendars.append(calendar_for(tz, hours, (), country))
            self._add("calendars", row(n, name, tz, json.dumps(hours), "[]", country))
        self._people(leads, password_hash)
        self._agreements()
        self._definitions()
        self._programs()
        self._codes()
        self._batches()
        self._add("webhook_subscriptions", row(1, "https://hooks.example/interlock",
                                               '["lead.stage_changed"]', "s3cret", True, ts(self.start)))

    def _add(self, table: str, line: str) -> None:
        self.rows.setdefault(table, []).append(line)

    def _user(self, email, name, role, kind=None, company=None, product=None, manager=None,
              away=False) -> int:
        uid = len(self.rows.get("users", ())) + 1
        self._add("users", row(uid, email, name, role, kind, company, product, manager,
                               self.password_hash, True, away, 0, None, None, ts(self.start)))
        return uid

    def _people(self, leads: int, password_hash: str) -> None:
        self.password_hash = password_hash
        self.admin = self._user("admin@bench.interlock", "Ada Admin", "admin")
        self.marketing = [self._user(f"marketing{n}@bench.interlock", f"Marketer {n}", "marketing")
                          for n in range(1, 6)]
        self.managers, self.reps = [], []
        for p, (product, *_) in enumerate(PRODUCTS):
            managers = [self._user(f"manager{p}{m}@bench.interlock", f"Manager {p}{m}",
                                   "sales_manager", product=product) for m in (1, 2)]
            self.managers.append(managers)
            self.reps.append([])
        n_reps = max(8, leads // 5000)
        for r in range(n_reps):
            p = r % len(PRODUCTS)
            self.reps[p].append(self._user(
                f"rep{r + 1}@bench.interlock", f"Rep {r + 1}", "sales", product=PRODUCTS[p][0],
                manager=self.managers[p][0], away=self.rng.random() < 0.03))
        self.referrers = []  # (user id, kind)
        for n in range(max(50, leads // 40)):
            kind = "partner" if self.rng.random() < 0.15 else "customer"
            company = f"{'partners' if kind == 'partner' else 'co'}{n % 5000}"
            uid = self._user(f"referrer{n + 1}@{company}.example", f"Referrer {n + 1}", "referrer",
                             kind=kind, company=company.title())
            self.referrers.append((uid, kind))

    def _agreements(self) -> None:
        self.agreements = []  # per product: (v1 id, v2 id, v2 effective)
        aid = 0
        for product, cal, first, decision in PRODUCTS:
            ids = []
            for version, status, effective in ((1, "superseded", self.start),
                                               (2, "in_force", self.start + 365 * DAY)):
                aid += 1
                ids.append(aid)
                self._add("agreements", row(
                    aid, product, version, status, cal + 1, first, "business", 4, 16, decision,
                    False, 300, "0.6", 14, "", self.marketing[0], ts(effective), ts(effective)))
            self.agreements.append((ids[0], ids[1], self.start + 365 * DAY))

    def _definitions(self) -> None:
        rule_id = 0
        for p, (product, *_) in enumerate(PRODUCTS, 1):
            self._add("mql_definitions", row(p, product, 50, '["Budget confirmed", "Authority"]'))
            for fld, op, value, points in (("company_size", ">=", 50, 30), ("title", "contains",
                                           '"Head"', 30), ("country", "in", '["US", "GB", "DE"]', 20)):
                rule_id += 1
                self._add("scoring_rules", row(rule_id, p, fld, op, value, points))
        for n, label in enumerate(REJECT_REASONS + LOST_REASONS, 1):
            self._add("rejection_reasons", row(n, "reject" if n <= len(REJECT_REASONS) else "lost",
                                               label, True))

    def _programs(self) -> None:
        self.programs: list[Program] = []
        rule_id = 0
        for p, (product, *_) in enumerate(PRODUCTS):
            for suffix, kinds, rules in PROGRAM_SHAPES:
                pid = len(self.programs) + 1
                program = Program(pid, p, kinds)
                slug = f"{product.lower().replace(' ', '-')}-{suffix.lower()}"
                status = "paused" if pid == 5 else "active"
                self._add("programs", row(
                    pid, f"{product} {suffix}", slug, product, status, json.dumps(kinds),
                    "Try {product}: {link}", f"You're invited to {product}", "**Welcome.**",
                    "20% off", 90, 10, 20, False, False, "REF-{code}", self.marketing[0],
                    ts(self.start), ts(self.start)))
                for side, trigger, kind, amount in rules:
                    rule_id += 1
                    program.rules.append(Rule(rule_id, side, trigger, kind, amount))
                    self._add("reward_rules", row(rule_id, pid, side, trigger, kind, amount, "USD",
                                                  None, "[]", 14, True, True))
                self.programs.append(program)

    def _codes(self) -> None:
        """Each referrer has codes in 1-3 programs open to their kind; a few refer a lot."""
        self.codes = []  # (code id, code, program, referrer id)
        weights = []
        for uid, kind in self.referrers:
            eligible = [p for p in self.programs if kind in p.kinds]
            k = 1 if self.rng.random() < 0.6 else (2 if self.rng.random() < 0.75 else 3)
            for program in self.rng.sample(eligible, min(k, len(eligible))):
                cid = len(self.codes) + 1
                code = f"B{cid:07X}"
                self.codes.append((cid, code, program, uid))
                weights.append(self.rng.paretovariate(1.3) * (4 if kind == "partner" else 1))
                self._add("referral_codes", row(cid, code, program.id, uid, 0, 0, ts(self.start)))
        total, self.code_cum = 0.0, []
        for w in weights:
            total += w
            self.code_cum.append(total)

    def _batches(self) -> None:
        """Monthly payout batches; `batch_for(t)` finds the one covering an issue time."""
        self.batch_starts = []
        t = datetime.fromtimestamp(self.start, UTC).replace(day=1, hour=0, minute=0, second=0,
                                                            microsecond=0)
        while t.timestamp() < self.now:
            nxt = (t.replace(day=28) + (t.replace(day=28) - t.replace(day=1))).replace(day=1)
            bid = len(self.batch_starts) + 1
            self.batch_starts.append(t.timestamp())
            self._add("payout_batches", row(bid, ts(t.timestamp()), ts(nxt.timestamp()),
                                            self.marketing[1], ts(nxt.timestamp())))
            t = nxt

    def batch_for(self, t: float) -> int:
        import bisect

        return max(1, bisect.bisect_right(self.batch_starts, t))
