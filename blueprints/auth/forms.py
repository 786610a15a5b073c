"""The forms of the auth blueprint."""
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, Email, Length


def strip(value):
    return value.strip() if isinstance(value, str) else value


class SignInForm(FlaskForm):
    email = EmailField("E-mail", filters=[strip], validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])


class SignUpForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Work e-mail", filters=[strip], validators=[DataRequired(), Email(), Length(max=254)])
    company = StringField("Company", validators=[Length(max=200)])
    kind = RadioField("I am a", choices=[SelectChoice("customer", "Customer"), SelectChoice("partner", "Partner")],
                      default="customer", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=200)])
