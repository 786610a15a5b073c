"""The forms of the queue blueprint: one per action on a lead, and the managers' reassignment."""
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DecimalField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from referral_app.extensions import db
from referral_app.models import RejectionReason, User
from referral_app.models.lead import ATTEMPT_CHANNELS, ATTEMPT_OUTCOMES

OTHER = "Other"


def _choices(values) -> list:
    return [SelectChoice(v, v.replace("_", " ")) for v in values]


def reason_choices(kind: str) -> list:
    """The list marketing maintains (RejectionReason of `kind`), plus "Other" with free text."""
    labels = db.session.scalars(select(RejectionReason.label).where(
        RejectionReason.kind == kind, RejectionReason.active.is_(True))
        .order_by(RejectionReason.label)).all()
    return [SelectChoice("", "Choose a reason…")] + [SelectChoice(x, x) for x in labels] \
        + [SelectChoice(OTHER, "Other (explain below)")]


def rep_choices() -> list:
    reps = db.session.scalars(select(User).where(User.role.in_(("sales", "sales_manager")),
                                                 User.active.is_(True))
                              .order_by(User.name, User.email)).all()
    return [SelectChoice("", "Choose a rep…")] + [
        SelectChoice(str(u.id), f"{u.name or u.email}{' (away)' if u.away else ''}") for u in reps]


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AttemptForm(FlaskForm):
    channel = SelectField("Channel", choices=_choices(ATTEMPT_CHANNELS), default="call")
    outcome = SelectField("Outcome", choices=_choices(ATTEMPT_OUTCOMES), default="no_answer")
    note = TextAreaField("Note", validators=[Length(max=4000)])


class AcceptForm(FlaskForm):
    checklist = CheckboxesField("SQL checklist", choices=[], validate_choice=True)

    def set_checklist(self, items: list[str]) -> "AcceptForm":
        self.checklist.choices = [SelectChoice(item, item) for item in items]
        return self


class _ReasonForm(FlaskForm):
    reason = SelectField("Reason", choices=[], validators=[DataRequired("Choose a reason.")])
    note = TextAreaField("Details", validators=[Length(max=4000)])

    def validate_note(self, field):
        if self.reason.data == OTHER and not (field.data or "").strip():
            raise ValidationError("Explain the reason when you choose Other.")


class RejectForm(_ReasonForm):
    pass


class LostForm(_ReasonForm):
    pass


class OpportunityForm(FlaskForm):
    amount = DecimalField("Amount", places=2, validators=[
        DataRequired("Give the amount."), NumberRange(min=0.01, max=10**11)])


class WonForm(FlaskForm):
    amount = DecimalField("Amount", places=2, validators=[
        DataRequired("Give the amount."), NumberRange(min=0.01, max=10**11)])


class RecycleForm(FlaskForm):
    reason = TextAreaField("Why it goes back to marketing",
                           validators=[DataRequired("Give the reason."), Length(max=500)])


class ReassignForm(FlaskForm):
    owner = SelectField("New owner", choices=[], validators=[DataRequired("Choose a rep.")])
    restart = BooleanField("Restart the first-attempt clock for the new owner")
    note = TextAreaField("Why", validators=[Optional(), Length(max=500)])

    def with_reps(self) -> "ReassignForm":
        self.owner.choices = rep_choices()
        return self
