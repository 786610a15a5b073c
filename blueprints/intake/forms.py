"""Forms of the intake blueprint: the referee's landing form, CSV upload and column mapping."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, TelField

from referral_app.services.imports import REQUIRED_TARGETS, TARGETS


class Marked:
    """Marks a field required on the page; intake's own validation gives the message."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        return None


class LandingForm(FlaskForm):
    name = StringField("Your name", validators=[Marked()])
    email = EmailField("Work e-mail", validators=[Marked()])
    company = StringField("Company")
    phone = TelField("Phone")
    title = StringField("Job title")
    country = StringField("Country (two-letter code, e.g. US)")
    consent = BooleanField("I agree to be contacted about this offer.", validators=[Marked()])

    def referee(self) -> dict:
        return {name: getattr(self, name).data
                for name in ("name", "email", "company", "phone", "title", "country")}


class UploadForm(FlaskForm):
    program = SelectField("Program", coerce=int)
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file."),
                                             FileAllowed(["csv", "txt"], "Upload a .csv file.")])
    attest = BooleanField("Everyone in this file agreed to be contacted (unless a consent "
                          "column says otherwise).")


def mapping_form(headers: list[str], guessed: dict[str, str], formdata=None):
    """A form with one select per target field, offering the file's columns."""

    class MappingForm(FlaskForm):
        pass

    choices = [SelectChoice("", "— not in the file —")] + [SelectChoice(h, h) for h in headers]
    for target, label in TARGETS.items():
        validators = [Marked()] if target in REQUIRED_TARGETS else []
        setattr(MappingForm, target, SelectField(label, choices=choices, validators=validators,
                                                 default=guessed.get(target, "")))
    form = MappingForm() if formdata is None else MappingForm(formdata=formdata)

    def errors_of_mapping() -> dict[str, str]:
        chosen = {t: getattr(form, t).data for t in TARGETS if getattr(form, t).data}
        problems = {t: "Choose the column that holds this." for t in REQUIRED_TARGETS
                    if t not in chosen}
        seen = {}
        for target, column in chosen.items():
            if column in seen:
                problems[target] = f"“{column}” is already mapped to {TARGETS[seen[column]]}."
            seen.setdefault(column, target)
        for target, message in problems.items():
            getattr(form, target).errors = [*getattr(form, target).errors, message]
        return chosen if not problems else {}

    form.chosen_mapping = errors_of_mapping
    return form
