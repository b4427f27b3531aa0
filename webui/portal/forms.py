"""The portal's forms (Flask-WTF: every one carries the CSRF token) and their checks.

Each field says what is wrong in words a person can act on.
"""

from __future__ import annotations

import json

from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Regexp,
    ValidationError,
)

from gridledger.formats.ids import ID_PATTERN

try:  # WTForms 3.3 names choices; tuples are deprecated there
    from wtforms import SelectChoice

    def choice(value: str, label: str) -> object:
        return SelectChoice(value, label)
except ImportError:  # pragma: no cover - older WTForms
    def choice(value: str, label: str) -> object:
        return (value, label)

ID = Regexp(f"^{ID_PATTERN}$", message="use 1-64 characters: A-Z a-z 0-9 . _ -")
ADDRESS = Regexp(r"^[0-9a-f]{40}$", message="an account address is 40 hexadecimal digits")
USERNAME = Regexp(r"^[a-z0-9][a-z0-9._-]{2,31}$",
                  message="3 to 32 characters: a-z, 0-9, and . _ - (start with a letter "
                          "or digit)")
UTC_HOUR = Regexp(r"^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$",
                  message="a whole UTC hour like 2026-03-01T00:00:00Z")
MAX_TOKENS = 10**12


class SignInForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    next = HiddenField()


class SignUpForm(FlaskForm):
    customer_id = StringField("Customer code", validators=[DataRequired(), ID])
    code = StringField("Sign-up code", validators=[
        DataRequired(), Regexp(r"^[0-9A-Fa-f]{4}(-[0-9A-Fa-f]{4}){3}$",
                               message="the code looks like 1A2B-3C4D-5E6F-7A8B")])
    username = StringField("Username", validators=[DataRequired(), USERNAME])
    password = PasswordField("Password", validators=[
        DataRequired(), Length(min=10, max=256, message="10 to 256 characters")])
    confirm = PasswordField("Password again", validators=[
        DataRequired(), EqualTo("password", message="the two passwords differ")])


class TopUpForm(FlaskForm):
    amount = IntegerField("Amount (tokens = VND)", validators=[
        InputRequired(message="enter an amount"),
        NumberRange(min=1, max=MAX_TOKENS, message="between 1 and 10^12")])


class TransferForm(FlaskForm):
    source = SelectField("From", validators=[DataRequired()], choices=[])
    target = StringField("To (account address)", validators=[DataRequired(), ADDRESS])
    amount = IntegerField("Amount", validators=[
        InputRequired(message="enter an amount"),
        NumberRange(min=1, max=MAX_TOKENS, message="between 1 and 10^12")])

    def validate_target(self, field) -> None:
        if field.data and field.data == self.source.data:
            raise ValidationError("source and target are the same account")


class PolicyForm(FlaskForm):
    address = SelectField("Account", validators=[DataRequired()], choices=[])
    threshold = IntegerField("Threshold (tokens)", validators=[
        InputRequired(message="enter a threshold (0 turns it off)"),
        NumberRange(min=0, max=MAX_TOKENS, message="between 0 and 10^12")])
    policy = SelectField("When the balance falls below it", choices=[
        choice("notify", "notify me"),
        choice("power-saving", "power-saving mode (the bridge limits supply)")])


class ConfirmForm(FlaskForm):
    """A button that only needs the CSRF token (open account, check now, repair)."""


class SignupCodeForm(FlaskForm):
    customer_id = StringField("Customer code", validators=[DataRequired(), ID])


class IssueBillForm(FlaskForm):
    customer_id = StringField("Customer code", validators=[DataRequired(), ID])
    period_start = StringField("Period start", validators=[DataRequired(), UTC_HOUR])
    period_end = StringField("Period end", validators=[DataRequired(), UTC_HOUR])

    def validate_period_end(self, field) -> None:
        if self.period_start.data and field.data and field.data <= self.period_start.data:
            raise ValidationError("the period must end after it starts")


class MeterStatusForm(FlaskForm):
    action = SelectField("Action", choices=[choice("suspend", "suspend"),
                                            choice("resume", "resume")])
    reason = StringField("Reason", validators=[DataRequired(), Length(max=200)])


class TariffProposalForm(FlaskForm):
    document = TextAreaField("Tariff (JSON, as SetTariff takes it)",
                             validators=[DataRequired(), Length(max=20_000)])

    def validate_document(self, field) -> None:
        try:
            doc = json.loads(field.data)
        except ValueError as exc:
            raise ValidationError(f"not JSON: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("tariffId"), str):
            raise ValidationError('a JSON object with a "tariffId" (and the version fields)')
        for member in ("effectiveFrom", "currency", "tiers", "taxes"):
            if member not in doc:
                raise ValidationError(f'the tariff lacks "{member}"')


class DecisionForm(FlaskForm):
    decision = SelectField("Decision", choices=[choice("approve", "approve"),
                                                choice("reject", "reject")])


# -- data sharing (contract access) ------------------------------------------------------

HEX64 = Regexp(r"^[0-9a-f]{64}$", message="a hash address is 64 lowercase hex digits "
                                          "(SHA-256 of the content)")
MSPS = [choice("AggregatorMSP", "the Aggregator"), choice("RegulatorMSP", "the Regulator"),
        choice("UtilityMSP", "the Utility")]


class ResourceForm(FlaskForm):
    resource_id = StringField("Resource id", validators=[DataRequired(), ID])
    hash_address = StringField("Hash address", validators=[DataRequired(), HEX64])
    media_type = StringField("Media type", default="application/json",
                             validators=[DataRequired(), Length(max=100)])
    size = IntegerField("Size (bytes)", validators=[
        InputRequired(), NumberRange(min=0, max=10**12, message="0 to 10^12 bytes")])
    description = StringField("Description", validators=[DataRequired(), Length(max=200)])


class ProfileForm(FlaskForm):
    meter_id = SelectField("Meter", validators=[DataRequired()], choices=[])
    resource_id = StringField("Resource id", validators=[DataRequired(), ID])


class DactForm(FlaskForm):
    dact_id = StringField("DACT id", validators=[DataRequired(), ID])
    resources = StringField("Resources (ids, comma-separated)", validators=[
        DataRequired(), Length(max=2000)])
    devices = StringField("The requester's devices (ids, comma-separated)", validators=[
        DataRequired(), Length(max=2000)])
    requester_kind = SelectField("Who may ask", choices=[
        choice("organisation", "any identity of the organisation"),
        choice("operator", "the organisation's operators")])
    requester_msp = SelectField("Organisation", choices=MSPS)
    purpose = StringField("Purpose", validators=[DataRequired(), Length(max=100)],
                          default="vpp-forecasting")
    days = IntegerField("Valid for (days)", default=30, validators=[
        InputRequired(), NumberRange(min=1, max=366, message="1 to 366 days")])
    owner_info = SelectField("Your identifying fields are given", choices=[
        choice("if-several", "only with more than one hash address (seed 001)"),
        choice("always", "always"), choice("never", "never")])

    @staticmethod
    def ids(text: str) -> list[str]:
        return [x.strip() for x in (text or "").split(",") if x.strip()]

    def validate_resources(self, field) -> None:
        _check_ids(self.ids(field.data), "resource")

    def validate_devices(self, field) -> None:
        _check_ids(self.ids(field.data), "device")


def _check_ids(ids: list[str], what: str) -> None:
    import re as _re

    if not ids:
        raise ValidationError(f"name at least one {what}")
    bad = [i for i in ids if not _re.fullmatch(ID_PATTERN, i)]
    if bad:
        raise ValidationError(f"not {what} ids: {', '.join(bad)[:100]}")
    if len(set(ids)) != len(ids):
        raise ValidationError(f"a {what} is named twice")


class RevokeDactForm(FlaskForm):
    reason = StringField("Reason", validators=[DataRequired(), Length(max=200)])


class DeviceForm(FlaskForm):
    device_id = StringField("Device id", validators=[DataRequired(), ID])
    kind = SelectField("Kind", choices=[choice("gateway", "gateway"), choice("phone", "phone"),
                                        choice("sensor", "sensor")])


class TokenForm(FlaskForm):
    device_id = SelectField("With device", validators=[DataRequired()], choices=[])
    table = TextAreaField("The DACT table the data owner gave you (JSON)",
                          validators=[DataRequired(), Length(max=20_000)])

    def validate_table(self, field) -> None:
        from gridledger.formats.access import validate_dact
        from gridledger.formats.errors import FormatError

        try:
            validate_dact(json.loads(field.data))
        except ValueError as exc:
            if isinstance(exc, FormatError):
                raise ValidationError(str(exc)) from None
            raise ValidationError(f"not JSON: {exc}") from None


class ResolveForm(FlaskForm):
    pseudonym = StringField("Pseudonym", validators=[
        DataRequired(), Regexp(r"^p-[0-9a-f]{24}$",
                               message="a pseudonym is p- and 24 lowercase hex digits")])
    reason = StringField("Reason (kept in the audit log)", validators=[
        DataRequired(), Length(min=3, max=512, message="3 to 512 characters")])
