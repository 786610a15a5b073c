"""Forms of the reports blueprint: the period filter (GET) and the interlock notes (POST)."""
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import HiddenField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange, Optional

from referral_app.extensions import db
from referral_app.models import Program


class FilterForm(FlaskForm):
    """Read from the query string; validated by services.reports.periods, not here."""

    class Meta:
        csrf = False

    start = StringField("From", name="from", render_kw={"type": "date"})
    end = StringField("To", name="to", render_kw={"type": "date"})
    program = SelectField("Program", validate_choice=False)
    product = SelectField("Product", validate_choice=False)
    min_volume = IntegerField("Minimum leads", validators=[Optional(), NumberRange(min=1)],
                              render_kw={"min": 1})

    def fill_choices(self) -> None:
        rows = db.session.execute(select(Program.slug, Program.name, Program.product)
                                  .order_by(Program.name)).all()
        self.program.choices = [SelectChoice("", "All programs")] + [
            SelectChoice(slug, name) for slug, name, _ in rows]
        self.product.choices = [SelectChoice("", "All products")] + [
            SelectChoice(p, p) for p in sorted({product for _, _, product in rows})]


class NotesForm(FlaskForm):
    notes = TextAreaField("Notes from the meeting", render_kw={"rows": 10})
    version = HiddenField(default="0")
