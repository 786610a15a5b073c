"""One lead's simulated life: referral, stage events, attempts, SLA clocks, rewards, purchase."""
from __future__ import annotations

import bisect
import functools
import json
import operator
from datetime import UTC, datetime, timedelta

from bench.world import DAY, LOST_REASONS, PRODUCTS, REJECT_REASONS, World, row, ts
from referral_app.models.lead import STAGE_BITS
from referral_app.services.sla import WARN_SHARE

HOUR = 3600.0
OPEN = {"new", "mql", "sql", "opportunity"}
# stage -> [(next stage or None to stay, probability, mean delay in days)]
NEXT = {
    "new": [("mql", .72, 1.5), ("rejected", .12, 2), ("recycled", .10, 10), ("lost", .06, 5)],
    "mql": [("sql", .55, 1), ("rejected", .25, .8), ("recycled", .15, 14), ("lost", .05, 7)],
    "sql": [("opportunity", .65, 7), ("lost", .20, 14), ("recycled", .15, 21)],
    "opportunity": [("won", .42, 30), ("lost", .58, 30)],
    "recycled": [("mql", .30, 45), (None, .70, 0)],
}
NEGLECTED = 0.10  # leads nobody worked: their running clocks are overdue (the sweep's backlog)
SOURCES = (("portal", .50), ("landing", .75), ("api", .90), ("csv", 1.0))
OUTCOMES = ("no_answer", "no_answer", "voicemail", "connected", "bounced", "wrong_contact",
            "no_answer", "voicemail")
CHANNELS = ("call", "call", "email", "email", "social", "meeting")
TITLES = ("Head of Sales", "CTO", "Office Manager", "Head of Marketing", "Founder", "Analyst")
COUNTRIES = ("US", "US", "GB", "DE", "FR", "CA", "NL")


class Chunk:
    """The rows of a run of consecutive leads; events and attempts get ids in time order."""

    def __init__(self, world: World, ids: dict[str, int]):
        self.w, self.ids, self.rng = world, ids, world.rng
        self.out: dict[str, list[str]] = {}
        self.events: list[tuple] = []
        self.attempts: list[tuple] = []
        self.closed_pool = world.closed_pool  # (closed at, email) of leads whose email is free

    def next_id(self, table: str) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        return self.ids[table]

    def add(self, table: str, line: str) -> None:
        self.out.setdefault(table, []).append(line)

    def finish(self) -> dict[str, list[str]]:
        for table, items in (("lead_events", self.events), ("attempts", self.attempts)):
            items.sort(key=lambda item: item[0])
            lines = self.out.setdefault(table, [])
            # History is settled: every follow-up job ran seconds after its event.
            done = (lambda at: (ts(at), ts(at + 2))) if table == "lead_events" else \
                (lambda at: (ts(at),))
            for item in items:
                lines.append(row(self.next_id(table), *item[1:], *done(item[0])))
        return self.out

    def lead(self, lead_id: int, t0: float) -> None:
        w, rng, now = self.w, self.rng, self.w.now
        cid, code, program, referrer = w.codes[bisect.bisect_left(
            w.code_cum, rng.random() * w.code_cum[-1])]
        product = PRODUCTS[program.product]
        reps = w.reps[program.product]
        owner = reps[rng.randrange(len(reps))]
        v1, v2, v2_from = w.agreements[program.product]
        agreement = v2 if t0 >= v2_from else v1
        r = rng.random()
        source = next(name for name, p in SOURCES if r < p)
        email = self._email(lead_id, t0)
        assigned = t0 + rng.uniform(5, 600)
        # Every tenth lead (exactly 10%, not a coin toss), a week old at least so that every
        # one of its clocks is already overdue.
        neglected = lead_id % round(1 / NEGLECTED) == 7 and t0 < now - 7 * DAY
        stage, moves = ("mql" if rng.random() < .3 else "new", []) if neglected else \
            self._path(t0)
        if neglected and stage == "mql":
            moves = [("new", "mql", assigned + 30)]
        reached = {"submitted": t0}
        for _, to, at in moves:
            reached.setdefault(to, at)
        closed_at = moves[-1][2] if stage not in OPEN and moves else None
        amount = f"{rng.lognormvariate(9.5, .8):.2f}" if "opportunity" in reached or \
            "won" in reached else None
        attempts = [] if neglected else self._attempts(lead_id, owner, assigned, moves, closed_at)
        first_attempt = attempts[0] if attempts else None
        self._events(lead_id, t0, assigned, owner, w.managers[program.product][0], source, moves,
                     closed_at)
        self._referral(lead_id, program, referrer, cid, source, email, t0, amount)
        reason = None
        if stage in ("rejected", "lost"):
            reason = rng.choice(REJECT_REASONS if stage == "rejected" else LOST_REASONS)
        last = max([t0, assigned] + [m[2] for m in moves] + attempts)
        score = rng.randint(50, 95) if "mql" in reached else rng.randint(0, 49)
        cal = w.calendars[product[1]]
        owed = [self._clock(lead_id, "first_attempt", agreement, owner, cal, assigned, product[2],
                            first_attempt, closed_at, neglected)]
        if "mql" in reached:
            after = [m[2] for m in moves if m[0] == "mql"]
            owed.append(self._clock(lead_id, "decision", agreement, owner, cal, reached["mql"],
                                    product[3], after[0] if after else None, closed_at, neglected))
        owed = [due for due in owed if due is not None]
        self.add("leads", row(
            lead_id, lead_id, program.id, product[0], agreement, owner, stage, stage in OPEN,
            email, email if stage in OPEN else None, score, "[]", "[]", amount, reason, ts(t0),
            ts(assigned), ts(first_attempt) if first_attempt else None,
            ts(closed_at) if closed_at else None, ts(last), ts(min(owed)) if owed else None,
            # Lead.stages_entered: arrival, then every move (assignments repeat a stage).
            functools.reduce(operator.or_, (STAGE_BITS[m[1]] for m in moves), STAGE_BITS["new"]),
            referrer))
        if closed_at is not None and len(self.closed_pool) < 20000:
            self.closed_pool.append((closed_at, email))
        if "won" in reached and rng.random() < .9:
            bought = reached["won"] + rng.uniform(0, 3 * DAY)
            if bought < now:
                reached["purchase"] = bought
                self._purchase(email, amount, bought, code, lead_id, rng.random() < .6)
        self._rewards(lead_id, program, referrer, reached, amount)
        self._outbox(lead_id, referrer, owner, email, source, t0, reached)

    def _email(self, lead_id: int, t0: float) -> str:
        """Mostly new people; 2% a person referred before whose earlier lead has closed."""
        pool = self.closed_pool
        if pool and self.rng.random() < .02:
            k = self.rng.randrange(len(pool))
            closed_at, email = pool[k]
            if closed_at <= t0:
                pool[k] = pool[-1]
                pool.pop()
                return email
        return f"person{lead_id}@org{self.rng.randrange(20000)}.example"

    def _path(self, t0: float) -> tuple[str, list]:
        rng, now = self.rng, self.w.now
        stage, t, moves = "new", t0, []
        while stage in NEXT and len(moves) < 8:
            r, acc = rng.random(), 0.0
            choice = NEXT[stage][-1]
            for option in NEXT[stage]:
                acc += option[1]
                if r < acc:
                    choice = option
                    break
            nxt, _, mean = choice
            if nxt is None:
                break
            t += rng.expovariate(1 / (mean * DAY)) + 600
            if t > now:
                break
            moves.append((stage, nxt, t))
            stage = nxt
        return stage, moves

    def _events(self, lead_id, t0, assigned, owner, manager, source, moves, closed_at) -> None:
        rng, ev = self.rng, self.events
        ev.append((t0, lead_id, "stage", None, "new", None, None, json.dumps({"source": source})))
        ev.append((assigned, lead_id, "assign", "new", "new", None, None,
                   f'{{"owner_id": {owner}}}'))
        for frm, to, at in moves:
            actor = None if to == "mql" else owner
            ev.append((at, lead_id, "stage", frm, to, actor, None, "{}"))
        # Reassignments (a manager moves the lead, or the owner is away): 0-3, 0.9 on average.
        end = min(closed_at or self.w.now, self.w.now)
        for _ in range(rng.choice((0, 0, 0, 1, 1, 1, 2, 3))):
            at = rng.uniform(assigned, end)
            stage = "new"
            for _, to, moved in moves:
                if moved <= at:
                    stage = to
            ev.append((at, lead_id, "assign", stage, stage, manager, "rebalance",
                       f'{{"owner_id": {owner}}}'))

    def _attempts(self, lead_id, owner, assigned, moves, closed_at) -> list[float]:
        """Attempt times; the first comes before the first decision on the lead."""
        rng, now = self.rng, self.w.now
        n = rng.choice((0, 1, 1, 1, 2, 2, 2, 3, 3, 4))
        if not n:
            return []
        decided = next((m[2] for m in moves if m[1] != "mql"), None)
        t = assigned + rng.expovariate(1 / (6 * HOUR)) + 60
        if decided is not None and t > decided:
            t = max(assigned + 30, decided - rng.uniform(0, HOUR))
        times = []
        end = min(closed_at or now, now)
        for k in range(n):
            if t > end and k:
                break
            if t > now:
                break
            times.append(t)
            connected = k == n - 1 and any(m[1] == "sql" for m in moves)
            self.attempts.append((t, lead_id, owner, rng.choice(CHANNELS),
                                  "connected" if connected else rng.choice(OUTCOMES), ""))
            t += rng.expovariate(1 / (1.2 * DAY)) + 600
        return times

    def _clock(self, lead_id, kind, agreement, owner, cal, started, hours, met, closed_at,
               neglected) -> float | None:
        """Write one clock; its due time when it is still owed (unmet, running or breached)."""
        now = self.w.now
        start_dt = datetime.fromtimestamp(started, UTC)
        due = cal.add(start_dt, timedelta(hours=hours)).timestamp()
        warn = cal.add(start_dt, timedelta(hours=hours * WARN_SHARE)).timestamp()
        met_at = breached_at = None
        if met is not None and met <= now:
            met_at = met
            status = "met" if met <= due else "breached"
        elif neglected:
            status = "running"  # overdue, and not yet swept
        elif closed_at is not None:
            status = "cancelled" if closed_at <= due else "breached"
        else:
            status = "running" if due > now else "breached"
        if status == "breached":
            breached_at = due + self.rng.uniform(1, 60)
        handled = breached_at + 2 if breached_at and breached_at + 2 <= now else None
        # The minute sweep warned it within a minute of its warning point, unless met first.
        warned = warn + 30 if warn + 30 <= min(met_at or now, now) else None
        measured = None  # services.sla.measured_seconds: first attempts, in open seconds
        if met_at is not None and kind == "first_attempt":
            measured = max(round(cal.elapsed(start_dt, datetime.fromtimestamp(met_at, UTC))
                                 .total_seconds()), 0)
        cid = self.next_id("sla_clocks")
        self.add("sla_clocks", row(cid, lead_id, kind, agreement, owner, status, ts(started),
                                   ts(due), ts(met_at) if met_at else None,
                                   ts(breached_at) if breached_at else None, ts(warn),
                                   ts(warned) if warned else None,
                                   ts(handled) if handled else None, measured))
        if handled:
            self.add("notifications", row(
                self.next_id("notifications"), owner, None, "sla.breached",
                f"SLA breached: {kind.replace('_', ' ')} on lead {lead_id}", "", "{}",
                f"breach:{cid}", "sent", 1, ts(handled), ts(handled + 2), None))
        return due if met_at is None and status in ("running", "breached") else None

    def _referral(self, lead_id, program, referrer, cid, source, email, t0, amount) -> None:
        rng = self.rng
        held = rng.random() < .02
        self.add("referrals", row(
            lead_id, program.id, referrer, None if source == "csv" else cid, source,
            "held" if held else "submitted", '["velocity"]' if held else "[]",
            f"Person {lead_id}", email, f"Org {email.rsplit('@org', 1)[-1][:-8]}",
            f"+1555{lead_id % 10_000_000:07d}", rng.choice(TITLES), rng.choice(COUNTRIES),
            rng.choice((5, 20, 50, 200, 1000)), amount, "", ts(t0), None,
            f"10.{lead_id >> 16 & 255}.{lead_id >> 8 & 255}.{lead_id & 255}",
            f"{rng.getrandbits(64):016x}", ts(t0), ts(t0 + 2)))

    def _purchase(self, email, amount, bought, code, lead_id, by_code) -> None:
        pid = self.next_id("purchases")
        self.add("purchases", row(pid, f"inv_{pid}", email, amount or "99.00", "USD", ts(bought),
                                  code if by_code else None, lead_id,
                                  "code" if by_code else "email", "matched", None, ts(bought)))

    def _rewards(self, lead_id, program, referrer, reached, amount) -> None:
        rng, now = self.rng, self.w.now
        for rule in program.rules:
            at = reached.get(rule.trigger)
            if at is None or at + 60 > now:
                continue
            created = at + 60
            age = now - created
            value = rule.amount
            if rule.side == "get" and rule.kind == "percent":
                value = f"{float(amount or 1000) * float(rule.amount) / 100:.2f}"
            approved = issued = None
            if age < 2 * DAY:
                status = "pending"
            elif age < (rule.hold_days + 3) * DAY:
                status, approved = "approved", created + rng.uniform(.5, 2) * DAY
            else:
                status = rng.choices(("issued", "rejected", "void", "held"), (88, 4, 4, 4))[0]
                if status in ("issued", "held"):
                    approved = created + rng.uniform(.5, 2) * DAY
                if status == "issued":
                    issued = created + (rule.hold_days + rng.uniform(0, 3)) * DAY
            rid = self.next_id("rewards")
            coupon = f"REF-{rid:X}" if rule.side == "give" and status == "issued" else None
            batch = self.w.batch_for(issued) if issued and rule.side == "get" else None
            self.add("rewards", row(
                rid, rule.id, lead_id, program.id, referrer, rule.side, rule.trigger, status,
                "percent" if rule.side == "give" and rule.kind == "percent" else "fixed", value,
                "USD", "Not eligible" if status == "rejected" else None,
                '["review"]' if status == "held" else "[]", coupon, batch,
                ts(created + rule.hold_days * DAY), ts(created), ts(approved) if approved else None,
                ts(issued) if issued else None))
            steps = [(None, "pending", created, None)]
            if approved:
                steps.append(("pending", "approved", approved, self.w.marketing[0]))
            if status in ("issued", "held") and approved:
                steps.append(("approved", status, issued or approved + 60, self.w.marketing[0]))
            elif status in ("rejected", "void"):
                steps.append(("pending", status, created + DAY, self.w.marketing[0]))
            for frm, to, at, actor in steps:
                self.add("reward_events", row(self.next_id("reward_events"), rid, frm, to, actor,
                                              None, ts(at)))

    def _outbox(self, lead_id, referrer, owner, email, source, t0, reached) -> None:
        rng = self.rng
        if rng.random() < .5:
            self.add("notifications", row(
                self.next_id("notifications"), referrer, None, "referral.received",
                "Thanks for your referral", "", "{}", f"received:{lead_id}", "sent", 1, ts(t0),
                ts(t0 + 3), ts(t0 + DAY) if rng.random() < .3 else None))
        if source == "api":
            self.add("idempotency_records", row(
                self.next_id("idempotency_records"), referrer, f"k-{lead_id}", f"{lead_id:064x}",
                201, f'{{"id": {lead_id}, "status": "submitted"}}', ts(t0)))
        if "won" in reached:
            self.add("webhook_deliveries", row(
                self.next_id("webhook_deliveries"), 1, "lead.stage_changed",
                f'{{"lead": {lead_id}, "stage": "won"}}', f"won:{lead_id}", "delivered", 1, 200,
                None, ts(reached["won"]), ts(reached["won"] + 1)))
