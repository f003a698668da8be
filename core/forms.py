"""Form validation at the edge of the core pages."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, FloatField, HiddenField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from core import auth
from core.extensions import db
from core.parse import MAX_ID, is_digits
from core.stations import Station

# How the skills the job categories require read in the picker (a skill without a label shows its code).
SKILL_LABELS = {"cable_tv": _l("Cable TV"), "digital_tv": _l("Digital TV"), "broadband": _l("Broadband"),
                "fiber": _l("Fibre"), "installation": _l("Installation")}


class CheckboxListField(SelectMultipleField):
    """Several choices as a list of checkboxes (a picker that works with a thumb, unlike <select multiple>)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


class UserForm(FlaskForm):
    """An account, checked whole: every rule of core.auth is checked here at once, so one submit shows
    every mistake (the services still refuse, one rule at a time, whatever reaches them another way).

    The view sets `is_new`, the role, station and skill choices, and `known_skills` (the managed list).
    """

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=40)])
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=120)])
    role = SelectField(_l("Role"))
    station = SelectField(_l("Station"), validate_choice=False)
    skills = CheckboxListField(_l("Skills"), validate_choice=False)
    password = PasswordField(_l("New password"), validators=[Length(max=200)])  # validate_password below
    is_enabled = BooleanField(_l("Account enabled"), default=True)

    is_new = True
    known_skills: frozenset[str] = frozenset()

    def validate_username(self, field: Any) -> None:
        if not self.is_new:
            return  # the name of an existing account does not change
        name = (field.data or "").strip().lower()
        if not auth.USERNAME_RE.match(name):
            raise ValidationError(_l("A username is 2–40 lower-case letters, digits, dots, dashes or underscores."))
        if auth.find_user(name):
            raise ValidationError(_l("The username %(name)s is taken.", name=name))

    def validate_station(self, field: Any) -> None:
        raw = (field.data or "").strip()
        if raw and self.station_id() is None:
            raise ValidationError(_l("No such station."))
        if not raw and self.role.data in auth.STATION_ROLES:
            raise ValidationError(_l("A %(role)s must belong to a station.",
                                     role=auth.ROLE_LABELS[self.role.data]))

    def validate_skills(self, field: Any) -> None:
        unknown = [s for s in field.data or [] if s not in self.known_skills]
        if unknown:
            raise ValidationError(_l("Not a skill any job category needs: %(skills)s. Untick it.",
                                     skills=", ".join(unknown)))

    def validate_password(self, field: Any) -> None:
        if self.is_new and not field.data:
            raise ValidationError(_l("A new account needs a password."))
        if field.data and len(field.data) < auth.MIN_PASSWORD:
            raise ValidationError(_l("The password must have at least %(n)d characters.", n=auth.MIN_PASSWORD))

    def station_id(self) -> int | None:
        """The chosen station's id, if it names a station."""
        raw = (self.station.data or "").strip()
        if not (is_digits(raw) and len(raw) <= 10 and 1 <= int(raw) <= MAX_ID):
            return None
        station = db.session.get(Station, int(raw))
        return station.id if station else None


class StationForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    name_zh = StringField(_l("Name in Chinese"), validators=[Optional(), Length(max=120)])
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
    services = CheckboxListField(_l("Services"))


class CsvImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()])
    only_good = BooleanField(_l("Import only the good rows"))
