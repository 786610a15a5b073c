"""The forms of the rewards blueprint."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    URLField,
)
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from referral_app.models.notification import WEBHOOK_EVENTS


class DecisionForm(FlaskForm):
    """One click on a reward: approve, reject, issue or void (reason for the last two)."""

    reason = StringField("Reason", validators=[Optional(), Length(max=500)])
    back = HiddenField()


class BatchForm(FlaskForm):
    period_start = DateField("From (UTC day)", validators=[DataRequired()])
    period_end = DateField("To, inclusive (UTC day)", validators=[DataRequired()])


class MatchForm(FlaskForm):
    referral_id = IntegerField("Referral #", validators=[DataRequired(), NumberRange(min=1)])


class PurchaseUploadForm(FlaskForm):
    file = FileField("Purchases CSV", validators=[FileRequired(), FileAllowed(["csv"], "Upload a .csv file.")])


class SubscriptionForm(FlaskForm):
    url = URLField("Receiver URL", validators=[DataRequired(), URL(require_tld=False), Length(max=500)])
    events = SelectMultipleField(
        "Events", choices=[SelectChoice(e, e) for e in WEBHOOK_EVENTS],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
        validators=[DataRequired(message="Choose at least one event.")])
