"""The one place that decides whether a user may do an action, optionally to one object."""
from referral_app.models import Lead, Program, Referral, Reward, User

MARKETING = {"marketing", "admin"}
MANAGERS = {"sales_manager", "marketing", "admin"}

# Actions that depend only on the role.
ROLE_RULES: dict[str, set[str]] = {
    "program.read": {"referrer", "sales", "sales_manager", "marketing", "admin"},
    "program.write": MARKETING,
    "calendar.write": MARKETING,
    "agreement.read": {"sales", "sales_manager", "marketing", "admin"},
    "agreement.write": {"marketing", "sales_manager", "admin"},
    "agreement.sign": {"marketing", "sales_manager"},
    "agreement.publish": MARKETING,  # POST /agreements: a version in force without sign-off
    "definition.write": MARKETING,
    "referral.create": {"referrer"},
    "referral.list": {"referrer", "marketing", "admin"},
    "referral.import": MARKETING,
    "referral.review": MARKETING,  # the refused referrals intake recorded
    "queue.own": {"sales", "sales_manager"},
    "queue.team": {"sales_manager", "admin"},
    "lead.reassign": {"sales_manager", "admin"},
    "lead.read": {"sales", "sales_manager", "marketing", "admin"},  # which roles may see leads
    "lead.work": {"sales", "sales_manager"},  # roles that may work (their own) leads
    "reward.list": {"referrer", "marketing", "admin"},
    "reward.review": MARKETING,
    "purchase.create": {"admin"},
    "purchase.review": MARKETING,
    "report.read": MANAGERS,
    "report.own": {"sales", "sales_manager", "marketing", "admin"},
    "admin": {"admin"},
}


def may(user: User | None, action: str, obj=None) -> bool:
    """True when `user` may do `action` (to `obj`, when one is given)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return False
    role = user.role
    if obj is None:
        return role in ROLE_RULES.get(action, set())
    if isinstance(obj, Referral):
        return _referral(user, action, obj)
    if isinstance(obj, Lead):
        return _lead(user, action, obj)
    if isinstance(obj, Reward):
        return _reward(user, action, obj)
    if isinstance(obj, Program):
        return _program(user, action, obj)
    return role in ROLE_RULES.get(action, set())


def _referral(user: User, action: str, referral: Referral) -> bool:
    if action == "referral.read":
        return user.role in MARKETING or referral.referrer_id == user.id
    return False


def _lead(user: User, action: str, lead: Lead) -> bool:
    if action == "lead.read":
        return user.role in MANAGERS or (user.role == "sales" and lead.owner_id == user.id)
    if action == "lead.work":
        # Only the owner logs attempts and moves the stage; managers reassign instead.
        return user.role in {"sales", "sales_manager"} and lead.owner_id == user.id
    if action == "lead.reassign":
        return user.role in {"sales_manager", "admin"}
    return False


def _reward(user: User, action: str, reward: Reward) -> bool:
    if action == "reward.read":
        return user.role in MARKETING or reward.referrer_id == user.id
    if action == "reward.review":
        return user.role in MARKETING
    return False


def _program(user: User, action: str, program: Program) -> bool:
    if action == "program.read":
        # Drafts are marketing's work in progress; referrers see the programs open to their kind.
        if user.role in MARKETING:
            return True
        if user.role == "referrer":
            return program.status in ("active", "paused") and user.kind in (program.referrer_kinds or ())
        return program.status != "draft" and user.role in ROLE_RULES["program.read"]
    return user.role in ROLE_RULES.get(action, set())
