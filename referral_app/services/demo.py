"""The demo company: people, calendar, agreements and programs (idempotent)."""
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import Agreement, Calendar, Program, RewardRule, User
from referral_app.models.base import utcnow
from referral_app.services.auth import create_user

PASSWORD = "interlock-demo"
SIGN_INS = [
    ("admin@demo.interlock", PASSWORD, "admin"),
    ("maya@demo.interlock", PASSWORD, "marketing"),
    ("sam@demo.interlock", PASSWORD, "sales_manager"),
    ("rita@demo.interlock", PASSWORD, "sales"),
    ("carla@customer.example", PASSWORD, "referrer"),
    ("pete@partner.example", PASSWORD, "referrer"),
]
MARKER = "admin@demo.interlock"


def seed() -> bool:
    """Create the demo data set unless it is there; True when something was created."""
    if db.session.scalar(select(User.id).where(User.email == MARKER)) is not None:
        return False
    people()
    cal = Calendar(name="New York office", timezone="America/New_York", country="US",
                   hours={str(d): [["09:00", "17:00"]] for d in range(5)}, holidays=[])
    db.session.add(cal)
    db.session.flush()
    for product, target in (("Interlock CRM", 75), ("Interlock Analytics", 40)):
        db.session.add(Agreement(product=product, version=1, status="in_force", calendar_id=cal.id,
                                 monthly_qualified_leads=target,
                                 # in force before the six months of demo history began
                                 effective_at=utcnow() - timedelta(days=190)))
    definitions()
    programs()
    db.session.flush()
    from referral_app.services.demo_history import seed_history

    seed_history()
    return True


def definitions() -> None:
    """What both teams agreed makes a referred lead worth sales' time (demo_history scores
    every lead under it, so each lead's score shows the rules that gave it)."""
    from referral_app.services.definitions import save_definition

    for product in ("Interlock CRM", "Interlock Analytics"):
        save_definition(product, 50, [
            {"field": "company_size", "operator": ">=", "value": "50", "points": 30},
            {"field": "title", "operator": "in", "points": 25,
             "value": "Head of Sales, VP Revenue, CEO, Founder, Marketing Director"},
            {"field": "country", "operator": "in", "value": "US, CA, GB", "points": 15},
        ], ["Budget confirmed", "Decision maker on the call", "Buying within six months"])


def people() -> None:
    create_user("admin@demo.interlock", "admin", PASSWORD, name="Ada Admin")
    create_user("maya@demo.interlock", "marketing", PASSWORD, name="Maya Marketing")
    manager = create_user("sam@demo.interlock", "sales_manager", PASSWORD, name="Sam Manager",
                          product="Interlock CRM")
    for name, product in (("Rita Rep", "Interlock CRM"), ("Raj Rep", "Interlock CRM"),
                          ("Rosa Rep", "Interlock Analytics"), ("Ron Rep", "Interlock Analytics")):
        rep = create_user(f"{name.split()[0].lower()}@demo.interlock", "sales", PASSWORD,
                          name=name, product=product)
        rep.manager_id = manager.id
    customers = ["Carla Customer", "Chen Wu", "Claire Dubois", "Carlos Mendez", "Cora Lee",
                 "Colin Grant", "Chloe Park"]
    partners = ["Pete Partner", "Priya Nair", "Paolo Rossi", "Paula Kim", "Piet de Vries"]
    for name in customers:
        email = "carla@customer.example" if name == "Carla Customer" else \
            f"{name.split()[0].lower()}@{name.split()[-1].lower()}-co.example"
        create_user(email, "referrer", PASSWORD, name=name, kind="customer",
                    company=f"{name.split()[-1]} Co")
    for name in partners:
        email = "pete@partner.example" if name == "Pete Partner" else \
            f"{name.split()[0].lower()}@{name.split()[-1].lower()}-partners.example"
        create_user(email, "referrer", PASSWORD, name=name, kind="partner",
                    company=f"{name.split()[-1]} Partners")


def programs() -> None:
    specs = [
        ("Friends of CRM", "crm-friends", "Interlock CRM", ["customer"],
         "20% off the first year", [("give", "submitted", "percent", "20"),
                                    ("get", "won", "fixed", "100")]),
        ("CRM Partner Program", "crm-partners", "Interlock CRM", ["partner"],
         "A free onboarding package", [("get", "won", "percent", "10")]),
        ("Analytics Insiders", "analytics-insiders", "Interlock Analytics",
         ["customer", "partner"], "Three months free",
         [("give", "submitted", "percent", "25"), ("get", "sql", "fixed", "25"),
          ("get", "purchase", "fixed", "150")]),
    ]
    for name, slug, product, kinds, offer, rules in specs:
        program = Program(
            name=name, slug=slug, product=product, status="active", referrer_kinds=kinds,
            give_offer=offer, landing_headline=f"You've been invited to {product}",
            landing_body=f"**{offer}** when you join through a friend.",
            share_message="Hi! I use {product} and think you'd like it too. "
                          "Sign up through my link and get {offer}: {link} — {referrer_first_name}",
        )
        for side, trigger, kind, amount in rules:
            program.rules.append(RewardRule(side=side, trigger=trigger, kind=kind, amount=Decimal(amount),
                                            currency="USD", hold_days=14))
        db.session.add(program)
