"""Form validation at the edge of the core pages."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, FloatField, HiddenField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=40)])
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=120)])
    role = SelectField(_l("Role"))
    station = SelectField(_l("Station"), validate_choice=False)
    skills = StringField(_l("Skills (comma separated)"), validators=[Optional(), Length(max=200)])
    password = PasswordField(_l("New password"), validators=[Optional(), Length(max=200)])
    is_enabled = BooleanField(_l("Account enabled"), default=True)


class StationForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=255)])
    district = StringField(_l("District"), validators=[Optional(), Length(max=80)])
    lat = FloatField(_l("Latitude"), validators=[DataRequired()])
    lon = FloatField(_l("Longitude"), validators=[DataRequired()])
    coverage = HiddenField(_l("Coverage area"), validators=[DataRequired()])


class CustomerForm(FlaskForm):
    account_no = StringField(_l("Account number"), validators=[DataRequired(), Length(max=20)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    phone = StringField(_l("Phone"), validators=[DataRequired(), Length(max=20)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=255)])
    district = StringField(_l("District"), validators=[Optional(), Length(max=80)])
    lat = StringField(_l("Latitude"), validators=[Optional(), Length(max=30)])
    lon = StringField(_l("Longitude"), validators=[Optional(), Length(max=30)])
    segment = SelectField(_l("Segment"))
    services = SelectMultipleField(_l("Services"))


class CsvImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()])
    only_good = BooleanField(_l("Import only the good rows"))
