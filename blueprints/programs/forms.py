"""The console's forms, and the translation between form data, service dicts and field errors."""
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from referral_app.models.agreement import CLOCK_KINDS
from referral_app.models.definition import SCORING_OPERATORS
from referral_app.models.program import REWARD_TRIGGERS
from referral_app.services.definitions import OPERATOR_WORDS, REASON_KINDS
from referral_app.services.qualification import FIELDS
from referral_app.services.reward_rules import TRIGGER_WORDS


def _choices(pairs):
    return [SelectChoice(value, label) for value, label in pairs]


class MultiCheckbox(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RewardRuleForm(Form):
    side = SelectField("Who", choices=_choices([("get", "the referrer gets"),
                                                ("give", "the friend gets")]))
    kind = SelectField("Kind", choices=_choices([("fixed", "an amount"), ("percent", "a percent")]))
    amount = StringField("Amount")
    currency = StringField("Currency", default="USD", validators=[Length(max=3)])
    trigger = SelectField("When", choices=_choices((t, TRIGGER_WORDS[t]) for t in REWARD_TRIGGERS))
    cap_per_referrer = IntegerField("Cap a year", validators=[Optional()])
    tiers = StringField("Tiers", description="e.g. 5:150, 10:200")
    hold_days = IntegerField("Hold days", default=0, validators=[Optional()])
    requires_approval = BooleanField("Marketing approves", default=True)


class ProgramForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    slug = StringField("Slug", validators=[DataRequired(), Length(max=100)],
                       description="Lower-case letters, digits and hyphens; fixed once launched.")
    product = StringField("Product", validators=[DataRequired(), Length(max=100)])
    referrer_kinds = MultiCheckbox("Who may join", default=["customer", "partner"],
                                   choices=_choices([("customer", "Customers"),
                                                     ("partner", "Partners")]))
    share_message = TextAreaField("Share message")
    landing_headline = StringField("Landing headline")
    landing_body = TextAreaField("Landing body (Markdown)")
    give_offer = StringField("What the friend is given (offer text)")
    attribution_window_days = IntegerField("Attribution window (days)", default=90)
    velocity_per_hour = IntegerField("Referrals per referrer per hour", default=10)
    velocity_per_ip = IntegerField("Referees per IP address per day", default=20)
    block_same_domain = BooleanField("Refuse referees from the referrer's own e-mail domain")
    mql_on_arrival = BooleanField("Referred leads are MQL on arrival")
    coupon_format = StringField("Coupon format", default="REF-{code}")
    rewards = FieldList(FormField(RewardRuleForm), min_entries=0)

    TEXT = ("name", "slug", "product", "share_message", "landing_headline", "landing_body",
            "give_offer", "coupon_format")
    NUMBERS = ("attribution_window_days", "velocity_per_hour", "velocity_per_ip")


def parse_tiers(text: str) -> list[dict]:
    """ "5:150, 10:200" → [{"from": "5", "amount": "150"}, ...]; ValueError on a bad item."""
    tiers = []
    for item in (text or "").replace(";", ",").split(","):
        if item.strip():
            start, sep, amount = item.partition(":")
            if not sep:
                raise ValueError(f"Write tiers as count:amount, e.g. 5:150 (not {item.strip()!r}).")
            tiers.append({"from": start.strip(), "amount": amount.strip()})
    return tiers


def program_data(form: ProgramForm) -> tuple[dict, list[int]]:
    """The service dict, and for each rule sent the index of its row (blank rows are skipped)."""
    data = {name: form[name].data or "" for name in form.TEXT}
    data.update({name: form[name].data for name in form.NUMBERS if form[name].data is not None})
    data.update(block_same_domain=form.block_same_domain.data,
                mql_on_arrival=form.mql_on_arrival.data, referrer_kinds=form.referrer_kinds.data)
    rules, rows = [], []
    for index, entry in enumerate(form.rewards.entries):
        sub = entry.form
        if not (sub.amount.data or "").strip():
            continue
        try:
            tiers = parse_tiers(sub.tiers.data)
        except ValueError as exc:
            sub.tiers.errors = [*sub.tiers.errors, str(exc)]
            tiers = []
        rules.append({"side": sub.side.data, "trigger": sub.trigger.data, "kind": sub.kind.data,
                      "amount": sub.amount.data, "currency": sub.currency.data,
                      "cap_per_referrer": sub.cap_per_referrer.data, "tiers": tiers,
                      "hold_days": sub.hold_days.data, "requires_approval": sub.requires_approval.data})
        rows.append(index)
    data["rewards"] = rules
    return data, rows


def program_initial(program) -> dict:
    data = {name: getattr(program, name) for name in (*ProgramForm.TEXT, *ProgramForm.NUMBERS,
                                                      "block_same_domain", "mql_on_arrival",
                                                      "referrer_kinds")}
    data["rewards"] = [
        {"side": r.side, "trigger": r.trigger, "kind": r.kind, "amount": f"{r.amount:f}",
         "currency": r.currency, "cap_per_referrer": r.cap_per_referrer, "hold_days": r.hold_days,
         "requires_approval": r.requires_approval,
         "tiers": ", ".join(f"{t['from']}:{t['amount']}" for t in r.tiers or [])}
        for r in program.rules if r.active]
    return data


def show_errors(form, fields: dict, lists: dict | None = None) -> list[str]:
    """Put service field errors next to their fields; returns the messages with no field.

    `lists` maps a service list name ("rewards") to (form FieldList, row index per item).
    """
    leftover = []
    for key, messages in fields.items():
        name, _, rest = key.partition(".")
        field = None
        if lists and name in lists and rest:
            entries, rows = lists[name]
            index, _, sub = rest.partition(".")
            if index.isdigit() and int(index) < len(rows):
                field = entries[rows[int(index)]].form._fields.get(sub)
        elif name in form._fields and not rest:
            field = form[name]
        if field is None or isinstance(field, FieldList | FormField):
            leftover.extend(f"{key.replace('_', ' ')}: {m}" for m in messages)
        else:
            field.errors = [*field.errors, *messages]
    return leftover


class AgreementForm(FlaskForm):
    product = StringField("Product", validators=[DataRequired(), Length(max=100)])
    calendar_id = SelectField("Business calendar", coerce=int, choices=[])
    first_attempt_hours = DecimalField("First attempt within (hours)", places=2,
                                       validators=[InputRequired()])
    first_attempt_clock = SelectField("Counted in", choices=_choices(
        (k, f"{k} hours") for k in CLOCK_KINDS))
    max_attempts = IntegerField("At most … attempts", validators=[InputRequired()])
    attempt_window_days = IntegerField("… within (days)", validators=[InputRequired()])
    decision_hours = DecimalField("Accept or reject within (hours)", places=2,
                                  validators=[InputRequired()])
    auto_reassign = BooleanField("Reassign a lead automatically when its first attempt is late")
    monthly_qualified_leads = IntegerField("MQLs per month", validators=[InputRequired()])
    min_acceptance_rate = IntegerField("Minimum acceptance rate (%)",
                                       validators=[InputRequired(), NumberRange(0, 100)])
    review_cadence_days = IntegerField("Review every (days)", default=14,
                                       validators=[InputRequired()])
    notes = TextAreaField("Notes", validators=[Length(max=5000)])

    TERMS = ("product", "calendar_id", "first_attempt_hours", "first_attempt_clock",
             "max_attempts", "attempt_window_days", "decision_hours", "auto_reassign",
             "monthly_qualified_leads", "review_cadence_days", "notes")


class ScoringRuleForm(Form):
    field = SelectField("Field", choices=_choices([("", "—"), *FIELDS.items()]))
    operator = SelectField("Operator", choices=_choices(
        (op, f"{op} ({OPERATOR_WORDS[op]})") for op in SCORING_OPERATORS))
    value = StringField("Value")
    points = IntegerField("Points", validators=[Optional()])


class DefinitionForm(FlaskForm):
    product = StringField("Product", validators=[DataRequired(), Length(max=100)])
    threshold = IntegerField("MQL threshold (points)", validators=[InputRequired()])
    rules = FieldList(FormField(ScoringRuleForm), min_entries=0)
    sql_checklist = TextAreaField("SQL checklist (one item a line)")


class ReasonForm(FlaskForm):
    kind = SelectField("Used when", choices=_choices(
        (k, words.capitalize()) for k, words in REASON_KINDS.items()))
    label = StringField("Reason", validators=[DataRequired(), Length(max=200)])


class CalendarForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    timezone = SelectField("Time zone", choices=[])
    monday = StringField("Monday", default="09:00-17:00")
    tuesday = StringField("Tuesday", default="09:00-17:00")
    wednesday = StringField("Wednesday", default="09:00-17:00")
    thursday = StringField("Thursday", default="09:00-17:00")
    friday = StringField("Friday", default="09:00-17:00")
    saturday = StringField("Saturday")
    sunday = StringField("Sunday")
    holidays = TextAreaField("Extra holidays (YYYY-MM-DD, one a line)")
    country = StringField("Country for public holidays (e.g. US)", validators=[Length(max=8)])

    DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def calendar_data(form: CalendarForm) -> dict | None:
    """The service dict, or None after putting a format error next to a weekday."""
    hours, ok = {}, True
    for index, day in enumerate(form.DAYS):
        intervals = []
        for part in (form[day].data or "").split(","):
            if part.strip():
                start, sep, end = part.replace("–", "-").partition("-")
                if not sep:
                    form[day].errors = [*form[day].errors,
                                        "Write opening hours as 09:00-17:00, 18:00-20:00."]
                    ok = False
                    break
                intervals.append([start.strip(), end.strip()])
        if intervals:
            hours[str(index)] = intervals
    holidays = [line.strip() for line in (form.holidays.data or "").replace(",", "\n").splitlines()
                if line.strip()]
    return {"name": form.name.data, "timezone": form.timezone.data, "hours": hours,
            "holidays": holidays, "country": form.country.data} if ok else None
