"""Personal referral codes: short, unguessable, stable per (referrer, program)."""
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from referral_app.extensions import db
from referral_app.models import ReferralCode

# No 0/O, 1/I/L: codes are read aloud and typed from paper.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 8  # 31^8 ≈ 8.5e11 codes: guessing one is hopeless at the landing's rate limit


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def code_for(referrer_id: int, program_id: int) -> ReferralCode:
    """The referrer's code for the program, created on first use and never changed."""
    query = select(ReferralCode).where(ReferralCode.referrer_id == referrer_id,
                                       ReferralCode.program_id == program_id)
    existing = db.session.scalar(query)
    if existing is not None:
        return existing
    for _ in range(5):
        row = ReferralCode(code=new_code(), referrer_id=referrer_id, program_id=program_id)
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
            return row
        except IntegrityError:
            # Either the random code collided, or a concurrent request created this
            # referrer's code first: take theirs if so, else try another code.
            existing = db.session.scalar(query)
            if existing is not None:
                return existing
    raise RuntimeError("could not allocate a unique referral code")


def codes_for(referrer_id: int, program_ids: list[int]) -> tuple[dict[int, str], bool]:
    """The referrer's code for each program (one read; the missing ones created as in
    code_for), and whether any was created (the caller then commits)."""
    found = dict(db.session.execute(
        select(ReferralCode.program_id, ReferralCode.code).where(
            ReferralCode.referrer_id == referrer_id,
            ReferralCode.program_id.in_(program_ids))).all()) if program_ids else {}
    missing = [pid for pid in program_ids if pid not in found]
    for program_id in missing:
        found[program_id] = code_for(referrer_id, program_id).code
    return found, bool(missing)


def by_code(code: str) -> ReferralCode | None:
    return db.session.scalar(select(ReferralCode).where(ReferralCode.code == (code or "").upper()))
