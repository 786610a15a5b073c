"""The authorization matrix: who may call every route, on the objects of tests/trust/world.py.

Each entry of MATRIX maps an endpoint to its probes: (method, URL arguments, body, expected
outcome per persona). An outcome is "ok" (the route let the caller through: 2xx, a redirect
that is not to sign-in, or a 400/409/422 about the input), "login" (302 to the sign-in page),
"any" (public probes whose answer depends on the environment) or the refusal status (401, 403,
404). URL arguments name objects of the world (`lead_rep` is the lead owned by `rep`), so
"another rep's lead" and "another referrer's referral" are probed explicitly.
"""
from dataclasses import dataclass, field

PERSONAS = ("anonymous", "customer", "partner", "rep", "rep2", "manager", "marketing", "admin")
SIGNED_IN = PERSONAS[1:]

REFERRERS = ("customer", "partner")
SALES = ("rep", "rep2")
TEAM_READERS = ("manager", "marketing", "admin")  # report.read
MARKETING = ("marketing", "admin")


# --- expectations -------------------------------------------------------------------------

def web(*allowed, **overrides) -> dict:
    """A signed-in page: anonymous goes to sign-in, `allowed` pass, every other role gets 403."""
    expect = {p: ("ok" if p in allowed else 403) for p in SIGNED_IN}
    expect["anonymous"] = "login"
    expect.update(overrides)
    return expect


def api(*allowed, **overrides) -> dict:
    """An API route: no token is 401, `allowed` pass, every other role gets 403."""
    expect = {p: ("ok" if p in allowed else 403) for p in SIGNED_IN}
    expect["anonymous"] = 401
    expect.update(overrides)
    return expect


def public(outcome="ok") -> dict:
    return {p: outcome for p in PERSONAS}


def lead_web(owner: str) -> dict:
    """A move on a lead page: others' leads are invisible (404) to reps and referrers;
    managers, marketing and admin see the lead but only its owner works it (403)."""
    other = "rep2" if owner == "rep" else "rep"
    return web(owner, customer=404, partner=404, **{other: 404},
               manager=403, marketing=403, admin=403)


def lead_api(owner: str) -> dict:
    """A move through the API: roles that work no leads 403, another rep's lead 404."""
    other = "rep2" if owner == "rep" else "rep"
    return api(owner, **{other: 404})


@dataclass
class Probe:
    method: str
    expect: dict
    args: dict = field(default_factory=dict)  # URL argument -> world id key (or a literal)
    body: dict | None = None  # form fields for pages, JSON for the API
    label: str = ""


def P(method, expect, label="", body=None, **args) -> Probe:
    return Probe(method, expect, args, body, label)


LEAD_ARGS = {"rep": "lead_rep", "rep2": "lead_rep2"}


def lead_probes(method: str, web_route: bool, body=None) -> list[Probe]:
    make = lead_web if web_route else lead_api
    return [P(method, make(owner), f"{owner}'s lead", body, lead_id=key)
            for owner, key in LEAD_ARGS.items()]


ATTEMPT = {"channel": "call", "outcome": "no_answer", "note": "matrix"}
CALENDAR = {"name": "matrix-api-cal", "timezone": "UTC", "hours": {"0": [["09:00", "17:00"]]}}
PROGRAM = {"name": "Matrix API", "slug": "matrix-api", "product": "Widget"}
PURCHASE = {"external_id": "matrix-api-1", "email": "buyer@matrix.example", "amount": "10.00",
            "currency": "USD", "purchased_at": "2026-01-05T10:00:00+00:00"}
REFERRAL = {"program": "matrix", "consent": True,
            "referee": {"name": "Api Referee", "email": "api-referee@matrix.example"}}

MATRIX: dict[str, list[Probe]] = {
    # Public pages and the probes of operators.
    "auth.home": [P("GET", public())],
    "auth.sign_in": [P("GET", public()), P("POST", public())],
    "auth.sign_up": [P("GET", public()), P("POST", public())],
    "auth.sign_out": [P("POST", web(*SIGNED_IN))],
    "health.healthz": [P("GET", public("any"))],
    "api-docs.openapi_json": [P("GET", public())],
    "intake.landing": [P("GET", public(), code="code"), P("POST", public(), code="code")],
    "intake.thanks": [P("GET", public(), code="code")],
    "privacy.withdraw": [P("GET", public(), token="withdraw_token"),
                         P("POST", public(), token="withdraw_token")],
    # Admin.
    "admin.users": [P("GET", web("admin")), P("POST", web("admin"))],
    "admin.edit_user": [P("GET", web("admin"), user_id="some_user"),
                        P("POST", web("admin"), user_id="some_user")],
    "admin.tokens": [P("GET", web("admin")), P("POST", web("admin"))],
    "admin.revoke_token": [P("POST", web("admin"), token_id="spare_token")],
    "admin.outbox": [P("GET", web("admin"))],
    "privacy.admin": [P("GET", web("admin")), P("POST", web("admin"))],
    "privacy.export": [P("POST", web("admin"))],
    "privacy.erase": [P("POST", web("admin"))],
    "rewards.webhook_subscriptions": [P("GET", web("admin")), P("POST", web("admin"))],
    "rewards.webhook_log": [P("GET", web("admin"), sub_id="subscription")],
    "rewards.webhook_toggle": [P("POST", web("admin"), sub_id="subscription", action="pause")],
    "rewards.webhook_redeliver": [P("POST", web("admin"), delivery_id="delivery")],
    # Referrers' portal.
    "portal.home": [P("GET", web(*REFERRERS))],
    "portal.referrals": [P("GET", web(*REFERRERS))],
    "portal.program": [P("GET", web(*REFERRERS), slug="program_slug"),
                       P("POST", web(*REFERRERS), slug="program_slug"),
                       P("GET", web(customer=404, partner=404), "a draft", slug="draft_slug")],
    "portal.deal": [P("GET", web("partner", customer=404), slug="program_slug"),
                    P("POST", web("partner", customer=404), slug="program_slug")],
    "rewards.mine": [P("GET", web(*REFERRERS, *MARKETING))],
    # Marketing's console.
    "programs.index": [P("GET", web(*MARKETING))],
    "programs.new": [P("GET", web(*MARKETING)), P("POST", web(*MARKETING))],
    "programs.edit": [P("GET", web(*MARKETING), slug="program_slug"),
                      P("POST", web(*MARKETING), slug="program_slug")],
    "programs.status": [P("POST", web(*MARKETING), slug="program_slug")],
    "programs.preview": [P("POST", web(*MARKETING))],
    "programs.definitions": [P("GET", web(*MARKETING)), P("POST", web(*MARKETING))],
    "programs.add_reason": [P("POST", web(*MARKETING))],
    "programs.toggle_reason": [P("POST", web(*MARKETING), reason_id="reason")],
    "programs.calendars": [P("GET", web(*MARKETING)), P("POST", web(*MARKETING))],
    "programs.glossary": [P("GET", web(*SALES, *TEAM_READERS))],
    "programs.agreements": [P("GET", web(*SALES, *TEAM_READERS))],
    "programs.agreement_edit": [P("GET", web(*TEAM_READERS)), P("POST", web(*TEAM_READERS))],
    "programs.agreement_sign": [P("POST", web("manager", "marketing"),
                                  agreement_id="draft_agreement")],
    "intake.imports": [P("GET", web(*MARKETING)), P("POST", web(*MARKETING))],
    "intake.import_mapping": [P("GET", web(*MARKETING), import_id="csv_import"),
                              P("POST", web(*MARKETING), import_id="csv_import")],
    "intake.import_detail": [P("GET", web(*MARKETING), import_id="csv_import")],
    "intake.import_status": [P("GET", web(*MARKETING), import_id="csv_import")],
    "intake.import_report": [P("GET", web(*MARKETING), import_id="csv_import")],
    "intake.refusals": [P("GET", web(*MARKETING))],
    "rewards.review": [P("GET", web(*MARKETING))],
    "rewards.decide": [P("POST", web(*MARKETING), reward_id="reward_customer", action="approve")],
    "rewards.payout_batches": [P("GET", web(*MARKETING)), P("POST", web(*MARKETING))],
    "rewards.payout_csv": [P("GET", web(*MARKETING), batch_id="batch")],
    "rewards.purchases": [P("GET", web(*MARKETING))],
    "rewards.match_purchase": [P("POST", web(*MARKETING), purchase_id="purchase")],
    "rewards.refund_purchase": [P("POST", web(*MARKETING), purchase_id="purchase")],
    "rewards.upload_purchases": [P("POST", web(*MARKETING))],
    # Sales: the queue, the team and the lead page.
    "queue.index": [P("GET", web("rep", "rep2", "manager"))],
    "queue.team": [P("GET", web("manager", "admin"))],
    "queue.bulk_reassign": [P("POST", web("manager", "admin"))],
    # An empty body marks the rep present, as they are: nothing changes for later probes.
    "queue.rep_away": [P("POST", web("manager", "admin"), rep_id="rep_user")],
    "queue.lead": [
        P("GET", web("rep", "manager", "marketing", "admin", customer=404, partner=404, rep2=404),
          "rep's lead", lead_id="lead_rep"),
        P("GET", web("rep2", "manager", "marketing", "admin", customer=404, partner=404, rep=404),
          "rep2's lead", lead_id="lead_rep2"),
    ],
    "queue.attempt": lead_probes("POST", True),
    "queue.accept": lead_probes("POST", True),
    "queue.reject": lead_probes("POST", True),
    "queue.opportunity": lead_probes("POST", True),
    "queue.won": lead_probes("POST", True),
    "queue.lost": lead_probes("POST", True),
    "queue.recycle": lead_probes("POST", True),
    # Seeing a lead is not being allowed to reassign it: 403 for those who see it.
    "queue.reassign": [
        P("POST", web("manager", "admin", customer=404, partner=404, rep=403, rep2=404),
          "rep's lead", lead_id="lead_rep"),
    ],
    # Reports.
    "reports.dashboard": [P("GET", web(*TEAM_READERS))],
    "reports.leaderboards": [P("GET", web(*TEAM_READERS))],
    "reports.sla": [P("GET", web(*TEAM_READERS))],
    "reports.speed": [P("GET", web(*TEAM_READERS))],
    "reports.rejections": [P("GET", web(*TEAM_READERS))],
    "reports.referrers": [P("GET", web(*TEAM_READERS))],
    "reports.mine": [P("GET", web(*SALES, *TEAM_READERS))],
    "reports.pack": [P("GET", web(*TEAM_READERS)), P("POST", web(*TEAM_READERS))],
    "reports.download": [P("GET", web(*TEAM_READERS), "team table", name="funnel"),
                         P("GET", web(*SALES, *TEAM_READERS), "own table",
                           name="mine-conversion")],
    # The API (Bearer tokens only).
    "agreements_api.create_agreement": [P("POST", api(*MARKETING), body={"product": "Widget"})],
    "calendars_api.create_calendar": [P("POST", api(*MARKETING), body=CALENDAR)],
    "programs_api.create_program": [P("POST", api(*MARKETING), body=PROGRAM)],
    "programs_api.list_programs": [P("GET", api(*SIGNED_IN))],
    "programs_api.get_program": [
        P("GET", api(*SIGNED_IN), "active", slug="program_slug"),
        P("GET", api(*MARKETING, customer=404, partner=404, rep=404, rep2=404, manager=404),
          "draft", slug="draft_slug"),
    ],
    "programs_api.patch_program": [
        P("PATCH", api(*MARKETING), "active", body={"give_offer": "25% off"}, slug="program_slug"),
        P("PATCH", api(*MARKETING, customer=404, partner=404, rep=404, rep2=404, manager=404),
          "draft", body={"give_offer": "25% off"}, slug="draft_slug"),
    ],
    "referrals_api.create_referral": [P("POST", api(*REFERRERS), body=REFERRAL)],
    "referrals_api.list_referrals": [P("GET", api(*REFERRERS, *MARKETING))],
    "referrals_api.get_referral": [
        P("GET", api("customer", *MARKETING, partner=404, rep=404, rep2=404, manager=404),
          "customer's referral", referral_id="referral_customer"),
        P("GET", api("partner", *MARKETING, customer=404, rep=404, rep2=404, manager=404),
          "partner's referral", referral_id="referral_partner"),
    ],
    "leads.get_lead": [
        P("GET", api("rep", *TEAM_READERS, rep2=404), "rep's lead", lead_id="lead_rep"),
        P("GET", api("rep2", *TEAM_READERS, rep=404), "rep2's lead", lead_id="lead_rep2"),
    ],
    "leads.queue": [P("GET", api("rep", "rep2", "manager"))],
    "leads.log_attempt": lead_probes("POST", False, ATTEMPT),
    "leads.accept": lead_probes("POST", False, {"checklist": []}),
    "leads.opportunity": lead_probes("POST", False, {"amount": "1000.00"}),
    "leads.close": lead_probes("POST", False, {"won": True, "amount": "1000.00"}),
    "leads.reject": lead_probes("POST", False, {"reason": "Not a fit"}),
    "purchases.record": [P("POST", api("admin"), body=PURCHASE)],
    "purchases.list_purchases": [P("GET", api(*MARKETING))],
    "purchases.refund": [P("POST", api("admin"), body={}, external_id="purchase_external_id")],
    "reports_api.funnel": [P("GET", api(*TEAM_READERS))],
    "reports_api.leaderboards": [P("GET", api(*TEAM_READERS))],
    "reports_api.sla": [P("GET", api(*TEAM_READERS))],
    "reward-ledger.list_rewards": [P("GET", api(*REFERRERS, *MARKETING))],
    "reward-ledger.get_reward": [
        P("GET", api("customer", *MARKETING, partner=404), "customer's reward",
          reward_id="reward_customer"),
        P("GET", api("partner", *MARKETING, customer=404), "partner's reward",
          reward_id="reward_partner"),
    ],
    "reward-ledger.approve": [P("POST", api(*MARKETING), body={}, reward_id="reward_customer")],
    "reward-ledger.reject": [P("POST", api(*MARKETING), body={"reason": "matrix"},
                               reward_id="reward_partner")],
    "reward-ledger.issue": [P("POST", api(*MARKETING), body={}, reward_id="reward_customer")],
    "reward-ledger.void": [P("POST", api(*MARKETING), body={"reason": "matrix"},
                             reward_id="reward_customer")],
    "webhooks.events": [P("GET", api("admin"))],
}

# Probed last: they end the session or change who owns what.
LAST = ("queue.reassign", "auth.sign_out")
