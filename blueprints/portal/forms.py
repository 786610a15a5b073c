"""Forms of the portal: refer someone, and the partners' deal registration."""
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    EmailField,
    IntegerField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import NumberRange, Optional


class Marked:
    """Marks a field required on the page; intake's own validation gives the message."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        return None


class ReferForm(FlaskForm):
    name = StringField("Their name", validators=[Marked()])
    email = EmailField("Their work e-mail", validators=[Marked()])
    company = StringField("Company")
    title = StringField("Job title")
    phone = TelField("Phone")
    country = StringField("Country (two-letter code, e.g. US)")
    note = TextAreaField("A note for our sales team")
    consent = BooleanField("They agreed that I share their details and that you contact them.",
                           validators=[Marked()])

    def referee(self) -> dict:
        return {name: getattr(self, name).data
                for name in ("name", "email", "company", "phone", "title", "country")}

    def extras(self) -> dict:
        return {}


class DealForm(ReferForm):
    company_size = IntegerField("Company size (employees)",
                                validators=[Optional(), NumberRange(min=1)])
    deal_value = DecimalField("Expected deal value", places=2,
                              validators=[Optional(), NumberRange(min=0)])

    def extras(self) -> dict:
        return {"company_size": self.company_size.data, "deal_value": self.deal_value.data}


