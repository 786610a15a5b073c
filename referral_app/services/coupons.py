"""Give-side coupon codes: unique and single-use, in the program's `coupon_format`."""
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from referral_app.extensions import db
from referral_app.models import Program, Reward
from referral_app.services.codes import new_code

PLACEHOLDER = "{code}"
DEFAULT_FORMAT = "REF-{code}"
MAX_LENGTH = 64  # Reward.coupon_code


def render(coupon_format: str | None, code: str) -> str:
    """The format with its {code} filled in (plain replacement: no other braces interpreted)."""
    fmt = (coupon_format or DEFAULT_FORMAT).strip() or DEFAULT_FORMAT
    if PLACEHOLDER not in fmt:
        fmt += PLACEHOLDER
    return fmt.replace(PLACEHOLDER, code)


def assign(reward: Reward) -> str:
    """Give the reward its coupon code (once; a second call returns the same code)."""
    if reward.coupon_code:
        return reward.coupon_code
    program = db.session.get(Program, reward.program_id)
    db.session.flush()  # only the code may be undone by the savepoint below
    for _ in range(5):
        candidate = render(program.coupon_format, new_code())[:MAX_LENGTH].upper()
        try:
            with db.session.begin_nested():
                reward.coupon_code = candidate
                db.session.flush()
            return candidate
        except IntegrityError:
            continue  # another reward holds this code: draw again
    raise RuntimeError("could not allocate a unique coupon code")


def reward_for_code(code: str | None) -> Reward | None:
    """The give reward that issued `code` (codes are matched case-insensitively)."""
    if not code:
        return None
    return db.session.scalar(select(Reward).where(Reward.coupon_code == code.strip().upper()))
