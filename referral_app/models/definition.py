"""Lead definitions agreed by both teams: MQL scoring, SQL checklist, rejection reasons."""
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_app.extensions import db
from referral_app.models.base import JSONType

SCORING_OPERATORS = ("=", "!=", ">=", "<=", ">", "<", "contains", "in")


class MqlDefinition(db.Model):
    __tablename__ = "mql_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    product: Mapped[str] = mapped_column(String(100), unique=True)
    threshold: Mapped[int] = mapped_column(default=50)
    sql_checklist: Mapped[list] = mapped_column(JSONType, default=list)  # ["Budget confirmed", ...]

    rules: Mapped[list["ScoringRule"]] = relationship(
        back_populates="definition", order_by="ScoringRule.id", cascade="all, delete-orphan"
    )


class ScoringRule(db.Model):
    __tablename__ = "scoring_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("mql_definitions.id"), index=True)
    field: Mapped[str] = mapped_column(String(50))
    operator: Mapped[str] = mapped_column(String(10))
    value: Mapped[object] = mapped_column(JSONType)
    points: Mapped[int] = mapped_column()

    definition: Mapped[MqlDefinition] = relationship(back_populates="rules")


class RejectionReason(db.Model):
    """The list marketing maintains for sales to pick from when rejecting or losing a lead."""

    __tablename__ = "rejection_reasons"
    __table_args__ = (UniqueConstraint("kind", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="reject")  # reject | lost
    label: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
