"""Six months of believable demo history: referrals, leads at every stage, attempts, rewards."""
import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, update

from referral_app.extensions import db
from referral_app.models import (
    Agreement,
    Attempt,
    Lead,
    LeadEvent,
    Program,
    Purchase,
    Referral,
    RejectionReason,
    Reward,
    SlaClock,
    User,
)
from referral_app.models.base import utcnow
from referral_app.services.assignment import assignment_event
from referral_app.services.codes import code_for
from referral_app.services.leads import attempts_used_reason
from referral_app.services.qualification import MEETS_DEFINITION, definition_for, score
from referral_app.services.sla import measured_seconds, refresh_due_all

FIRST = ["Alex", "Blair", "Casey", "Dana", "Eli", "Frankie", "Gabi", "Harper", "Ira", "Jo",
         "Kai", "Lee", "Morgan", "Noa", "Oakley", "Parker", "Quinn", "Reese", "Sky", "Toni"]
LAST = ["Adams", "Brooks", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito",
        "Jensen", "Khan", "Lopez", "Meyer", "Novak", "Okafor", "Patel", "Rossi", "Silva"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne",
             "Wonka", "Tyrell", "Cyberdyne", "Soylent", "Aperture", "Massive Dynamic"]
# Who buys (the demo's MQL definition scores these titles) and who does not.
DECIDERS = ["Head of Sales", "Marketing Director", "CEO", "VP Revenue", "Founder"]
OTHERS = ["Operations Manager", "IT Director", "Analyst"]
REJECT = ["Not our ideal customer profile", "No budget this year", "Student / personal use",
          "Already in a contract with a competitor"]
LOST = ["Chose a competitor", "Price", "Project cancelled", "No response after proposal"]
SHARED_IP = "203.0.113.7"
# Where a lead ends up: (final stage, weight). The path to it follows the main funnel.
OUTCOMES = [("new", 4), ("mql", 8), ("sql", 8), ("opportunity", 7), ("won", 12), ("lost", 8),
            ("rejected", 7), ("recycled", 4)]
# How old a lead in each final stage may be: open leads are recent, closed ones anything.
# (Past "mql" a lead was reached first: its first attempt, up to 20 business hours after
# arrival, must lie in the past.)
AGE_DAYS = {"new": (0.05, 2), "mql": (0.5, 8), "sql": (6, 40), "opportunity": (8, 70),
            "recycled": (17, 182)}  # its attempt window is over
PATHS = {"new": [], "mql": ["mql"], "sql": ["mql", "sql"], "opportunity": ["mql", "sql", "opportunity"],
         "won": ["mql", "sql", "opportunity", "won"], "lost": ["mql", "sql", "opportunity", "lost"],
         "rejected": ["mql", "rejected"], "recycled": ["mql", "recycled"]}


def seed_history(leads: int = 320, seed: int = 7) -> int:
    """Create `leads` referrals and leads over the last six months; returns the count."""
    rng = random.Random(seed)
    now = utcnow()
    for kind, labels in (("reject", REJECT), ("lost", LOST)):
        for label in labels:
            db.session.add(RejectionReason(kind=kind, label=label))
    programs = db.session.scalars(select(Program).order_by(Program.id)).all()
    referrers = db.session.scalars(select(User).where(User.role == "referrer").order_by(User.id)).all()
    reps = db.session.scalars(select(User).where(User.role == "sales").order_by(User.id)).all()
    agreements = {a.product: a for a in db.session.scalars(select(Agreement))}
    definitions = {product: definition_for(product) for product in agreements}
    for n in range(leads):
        program = programs[n % len(programs)]
        eligible = [r for r in referrers if r.kind in program.referrer_kinds]
        referrer = rng.choice(eligible)
        final = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
        received = now - timedelta(days=rng.uniform(*AGE_DAYS.get(final, (8, 182))),
                                   minutes=rng.randint(0, 600))
        owner = rng.choice([r for r in reps if r.product == program.product] or reps)
        _one_lead(rng, n, program, referrer, owner, agreements[program.product], received, now,
                  final, definitions[program.product])
    db.session.flush()
    # History is history: old breaches were dealt with back then; the queue's order is
    # the earliest due time still owed, kept on the lead.
    db.session.execute(update(SlaClock).where(SlaClock.status == "breached")
                       .values(handled_at=SlaClock.breached_at))
    refresh_due_all()
    return leads


def _one_lead(rng, n, program, referrer, owner, agreement, received, now, final, definition):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    # A lead still "new" did not meet the MQL definition on arrival; every other one did.
    qualifies = final != "new"
    company = rng.choice(COMPANIES)
    email = f"{first}.{last}.{n}@{company.lower().replace(' ', '')}.example".lower()
    code = code_for(referrer.id, program.id)
    code.submissions += 1
    code.visits += rng.randint(1, 4)
    referral = Referral(program_id=program.id, referrer_id=referrer.id, code_id=code.id,
                        source=rng.choice(["portal", "portal", "landing", "api"]),
                        referee_name=f"{first} {last}", referee_email=email,
                        referee_company=f"{company} {rng.choice(['Inc', 'Ltd', 'GmbH', 'Co'])}",
                        referee_title=rng.choice(DECIDERS if qualifies else OTHERS),
                        referee_country=rng.choice(["US", "CA", "GB", "DE"]),
                        company_size=rng.choice([50, 120, 400, 2000] if qualifies else [5, 20]),
                        note=rng.choice(["", "Met at a conference.", "Asked me about our setup.",
                                         "Their team is growing fast."]),
                        ip=f"198.51.100.{rng.randint(2, 250)}",  # documentation addresses
                        consent_at=received, created_at=received, followed_up_at=received)
    db.session.add(referral)
    db.session.flush()
    calendar = agreement.calendar.business()
    due = calendar.add(received, timedelta(hours=float(agreement.first_attempt_hours)))
    lead = Lead(referral_id=referral.id, program_id=program.id, product=program.product,
                agreement_id=agreement.id, stage=final, email=email, received_at=received)
    lead.referral = referral
    lead.score, lead.score_rules = score(lead, definition)
    lead.is_open = final in ("new", "mql", "sql", "opportunity")
    lead.open_email = email if lead.is_open else None
    db.session.add(lead)
    db.session.flush()
    db.session.add(LeadEvent(lead_id=lead.id, to_stage="new", at=received, processed_at=received,
                             data={"source": referral.source}))
    if qualifies:  # scored on arrival, as intake does
        db.session.add(LeadEvent(lead_id=lead.id, from_stage="new", to_stage="mql", at=received,
                                 processed_at=received, reason=MEETS_DEFINITION,
                                 data={"score": lead.score, "rules": lead.score_rules}))
    # Given to its rep on arrival by round robin, as intake does (the timeline shows it).
    db.session.add(assignment_event(lead, owner.id, received,
                                    stage="mql" if qualifies else "new"))
    # Reps mostly keep the SLA; about one in five first attempts comes late.
    late = rng.random() < 0.2
    first_at = calendar.add(received, timedelta(hours=rng.uniform(5.2, 20) if late else rng.uniform(0.1, 4.8)))
    clock = SlaClock(lead_id=lead.id, kind="first_attempt", agreement_id=agreement.id,
                     owner_id=owner.id, started_at=received, due_at=due)
    db.session.add(clock)
    at = received
    if final == "new":
        if first_at < now:
            clock.status, clock.breached_at = "breached", due if due < now else None
            if due >= now:
                clock.status, clock.breached_at = "running", None
        return
    # A recycled lead got every attempt the agreement allows and no conversation; the others
    # reached someone on their last attempt.
    recycled = final == "recycled"
    attempts = agreement.max_attempts if recycled else rng.randint(1, 3)
    times, when = [], first_at
    for i in range(attempts):
        if i:  # the next try within the next two working days, in working hours
            when = calendar.add(when, timedelta(hours=rng.uniform(3, 16)))
        if recycled:
            when = min(when, received + timedelta(days=agreement.attempt_window_days - 1))
        if when > now:
            break
        times.append(when)
    last_at = times[-1] if times else None
    for when in times:
        outcome = "connected" if when == last_at and not recycled else \
            rng.choice(["no_answer", "voicemail"])
        db.session.add(Attempt(lead_id=lead.id, user_id=owner.id, channel=rng.choice(["call", "email"]),
                               outcome=outcome, at=when))
        lead.first_attempt_at = lead.first_attempt_at or when
    if lead.first_attempt_at:
        clock.met_at = lead.first_attempt_at
        clock.business_seconds = measured_seconds(clock, clock.met_at)
        clock.status = "met" if lead.first_attempt_at <= due else "breached"
        clock.breached_at = due if clock.status == "breached" else None
    elif due < now:
        clock.status, clock.breached_at = "breached", due
    at, previous = max(at, lead.first_attempt_at or at), "mql"
    for stage in PATHS[final][1:]:  # mql came on arrival
        at = min(at + timedelta(days=rng.uniform(0.5, 12)), now - timedelta(minutes=5))
        reason = None
        if stage == "rejected":
            reason = rng.choice(REJECT)
        elif stage == "lost":
            reason = rng.choice(LOST)
        elif stage == "recycled":  # the last allowed attempt recycles it, as leads.log_attempt
            at = last_at or at
            reason = attempts_used_reason(attempts, agreement)
        db.session.add(LeadEvent(lead_id=lead.id, from_stage=previous, to_stage=stage, at=at,
                                 processed_at=at,
                                 actor_id=owner.id, reason=reason))
        previous = stage
        if stage == "opportunity":
            lead.amount = Decimal(rng.choice([4800, 9600, 12000, 24000, 36000]))
        lead.close_reason = reason or lead.close_reason
    if not lead.is_open:
        lead.closed_at = at
    if final == "won":
        _won(rng, program, referral, lead, at, now)


def _won(rng, program, referral, lead, at, now):
    if rng.random() < 0.7:
        db.session.add(Purchase(external_id=f"demo-inv-{lead.id}", email=lead.email, amount=lead.amount,
                                currency="USD", purchased_at=at, referral_code=referral.code.code,
                                referral_id=referral.id, matched_by="code", status="matched"))
    for rule in program.rules:
        if rule.trigger not in ("won", "purchase", "submitted", "sql"):
            continue
        amount = rule.amount if rule.kind == "fixed" else (
            (lead.amount or 0) * rule.amount / 100 if rule.side == "get" else rule.amount)
        age = (now - at).days
        status = "issued" if age > 30 else ("approved" if age > 10 else "pending")
        if rng.random() < 0.08:
            status = "held"
            referral.ip = SHARED_IP  # what the hold says: many referees from one address
        reward = Reward(rule_id=rule.id, referral_id=referral.id, program_id=program.id,
                        referrer_id=referral.referrer_id, side=rule.side, trigger=rule.trigger,
                        status=status, amount=Decimal(amount).quantize(Decimal("0.01")),
                        currency=rule.currency, created_at=at,
                        hold_reasons=["many referees from one IP"] if status == "held" else [],
                        approved_at=at + timedelta(days=3) if status in ("approved", "issued") else None,
                        issued_at=at + timedelta(days=15) if status == "issued" else None,
                        coupon_code=f"DEMO-{referral.id}-{rule.id}" if rule.side == "give" else None)
        db.session.add(reward)
