"""Programs, their give-get reward rules and the referrers' personal codes."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_app.extensions import db
from referral_app.models.base import MONEY, JSONType, UTCDateTime, utcnow

PROGRAM_STATUSES = ("draft", "active", "paused", "archived")
REWARD_SIDES = ("give", "get")
REWARD_TRIGGERS = ("submitted", "mql", "sql", "opportunity", "won", "purchase")
REWARD_KINDS = ("fixed", "percent")


class Program(db.Model):
    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    product: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    referrer_kinds: Mapped[list] = mapped_column(JSONType, default=lambda: ["customer", "partner"])
    share_message: Mapped[str] = mapped_column(default="")  # template with {placeholders}
    landing_headline: Mapped[str] = mapped_column(String(300), default="")
    landing_body: Mapped[str] = mapped_column(default="")  # Markdown, rendered sanitised
    give_offer: Mapped[str] = mapped_column(String(300), default="")
    attribution_window_days: Mapped[int] = mapped_column(default=90)
    velocity_per_hour: Mapped[int] = mapped_column(default=10)  # referrals per referrer
    velocity_per_ip: Mapped[int] = mapped_column(default=20)  # referees per IP per day
    block_same_domain: Mapped[bool] = mapped_column(default=False)  # self-referral by domain
    mql_on_arrival: Mapped[bool] = mapped_column(default=False)
    coupon_format: Mapped[str] = mapped_column(String(50), default="REF-{code}")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    rules: Mapped[list["RewardRule"]] = relationship(
        back_populates="program", order_by="RewardRule.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.status == "active"


class RewardRule(db.Model):
    __tablename__ = "reward_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    side: Mapped[str] = mapped_column(String(10))
    trigger: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    cap_per_referrer: Mapped[int | None] = mapped_column()  # rewards per calendar year
    tiers: Mapped[list] = mapped_column(JSONType, default=list)  # [{"from": 5, "amount": "150"}]
    hold_days: Mapped[int] = mapped_column(default=0)
    requires_approval: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)

    program: Mapped[Program] = relationship(back_populates="rules")


class ReferralCode(db.Model):
    """One referrer's personal, stable code for one program; also counts link traffic."""

    __tablename__ = "referral_codes"
    __table_args__ = (UniqueConstraint("program_id", "referrer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    referrer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    visits: Mapped[int] = mapped_column(default=0)
    submissions: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    program: Mapped[Program] = relationship()
    referrer = relationship("User")
