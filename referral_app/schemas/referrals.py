"""Schemas of referrals: what intake accepts from every source (In), what the API answers (Out)."""
import functools

import marshmallow as ma
import phonenumbers
from marshmallow import fields, validate

from referral_app.schemas import Schema

# ISO 3166-1 alpha-2, the officially assigned codes.
COUNTRIES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())

# Fields that must not be blank; every other blank string means "not given".
REQUIRED = ("name", "email")


class Country(fields.String):
    """An ISO 3166-1 alpha-2 code, upper-cased."""

    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if code not in COUNTRIES:
            raise ma.ValidationError("Use a two-letter ISO country code, such as US or DE.")
        return code


@functools.lru_cache(maxsize=256)  # validated, then formatted: parse each number once
def e164(phone: str, country: str | None) -> str:
    """The number in E.164 (+4930123456); raises ValidationError when it is not a real number."""
    message = "Enter a valid phone number, with its country code (+1 212 555 0100)."
    try:
        number = phonenumbers.parse(phone, country)
    except phonenumbers.NumberParseException as exc:
        raise ma.ValidationError(message, field_name="phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise ma.ValidationError(message, field_name="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class RefereeIn(Schema):
    name = fields.String(required=True, validate=validate.Length(max=200),
                         error_messages={"required": "Enter the person's name."})
    email = fields.Email(required=True, validate=validate.Length(max=254),
                         error_messages={"required": "Enter the person's e-mail address.",
                                         "invalid": "Enter a valid e-mail address."})
    company = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40),
                          metadata={"description": "Normalised to E.164 when stored."})
    title = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    country = Country(load_default=None, allow_none=True,
                      metadata={"description": "ISO 3166-1 alpha-2 code."})

    @ma.pre_load
    def trim(self, data, **kwargs):
        # Whitespace around values is never meant; a blank optional field is "not given".
        if not isinstance(data, dict):
            return data
        cleaned = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    if key in REQUIRED:
                        continue  # reported as "required", with the field's own message
                    value = None
            cleaned[key] = value
        return cleaned

    @ma.validates_schema(skip_on_field_errors=False)
    def real_phone(self, data, **kwargs):
        # Checked with the other fields' errors (post_load runs only when all are valid).
        if data.get("phone"):
            e164(data["phone"], data.get("country"))

    @ma.post_load
    def normalise(self, data, **kwargs):
        data["email"] = data["email"].lower()
        if data.get("phone"):
            data["phone"] = e164(data["phone"], data.get("country"))
        return data


class SubmissionIn(Schema):
    """One referral as every source sends it, without the program."""

    referee = fields.Nested(RefereeIn, required=True)
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    consent = fields.Boolean(load_default=False, metadata={
        "description": "The referee agreed to be contacted; required to be true."})
    company_size = fields.Integer(load_default=None, allow_none=True,
                                  validate=validate.Range(min=1, max=10_000_000),
                                  metadata={"description": "Deal registration (partners)."})
    deal_value = fields.Decimal(load_default=None, allow_none=True, places=2,
                                validate=validate.Range(min=0, max=10**11),
                                metadata={"description": "Expected deal value (partners)."})

    @ma.pre_load
    def trim_note(self, data, **kwargs):
        if isinstance(data, dict) and not isinstance(data.get("note"), str | type(None)):
            return data  # reported by the field as "Not a valid string."
        if isinstance(data, dict):
            data = {**data, "note": (data.get("note") or "").strip()}
        return data


class ReferralIn(SubmissionIn):
    program = fields.String(required=True, validate=validate.Length(min=1, max=100),
                            metadata={"description": "The program's slug."})

    def load(self, data, *, many=None, partial=None, unknown=None):
        """What marshmallow loads, by `plain_referral` when it can tell (the API's hot path:
        marshmallow was a fifth of a web worker's CPU per referral, bench session 16)."""
        if not (many or partial or self.many or self.partial) \
                and (unknown or self.unknown) == ma.RAISE:
            loaded = plain_referral(data)
            if loaded is not None:
                return loaded
        return super().load(data, many=many, partial=partial, unknown=unknown)


TOP_KEYS = frozenset(("program", "referee", "note", "consent", "company_size", "deal_value"))
REFEREE_KEYS = frozenset(("name", "email", "company", "phone", "title", "country"))
_email = validate.Email()


def plain_referral(data) -> dict | None:
    """ReferralIn's answer for a plainly valid referral, computed directly; None for anything
    else (an error, a phone number or a deal value to normalise, a value marshmallow would
    convert), which marshmallow then loads. Where this answers, it answers exactly what
    marshmallow would: tests/intake/test_referral_schema.py compares the two on generated
    bodies."""
    if type(data) is not dict or not data.keys() <= TOP_KEYS:
        return None
    program, referee, note = data.get("program"), data.get("referee"), data.get("note")
    consent, size = data.get("consent", False), data.get("company_size")
    if type(program) is not str or not 1 <= len(program) <= 100 \
            or type(consent) is not bool or data.get("deal_value") is not None \
            or not (size is None or (type(size) is int and 1 <= size <= 10_000_000)):
        return None
    if note is None:
        note = ""
    elif type(note) is not str or len(note := note.strip()) > 2000:
        return None
    if type(referee) is not dict or not referee.keys() <= REFEREE_KEYS \
            or referee.get("phone") not in (None, ""):
        return None
    clean = {}
    for key in ("name", "email", "company", "title", "country"):
        value = referee.get(key)
        if value is not None:
            if type(value) is not str:
                return None
            value = value.strip() or None
        clean[key] = value
    name, email, country = clean["name"], clean["email"], clean["country"]
    if name is None or len(name) > 200 or email is None or len(email) > 254 \
            or len(clean["company"] or "") > 200 or len(clean["title"] or "") > 200:
        return None
    try:
        _email(email)
    except ma.ValidationError:
        return None
    if country is not None:
        country = country.upper()
        if country not in COUNTRIES:
            return None
    return {"referee": {"name": name, "email": email.lower(), "company": clean["company"],
                        "phone": None, "title": clean["title"], "country": country},
            "note": note, "consent": consent, "company_size": size, "deal_value": None,
            "program": program}


class ReferralLeadOut(Schema):
    id = fields.Integer()
    stage = fields.String()


class ReferralCreatedOut(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"enum": ["submitted", "held"]})
    code = fields.String(metadata={"description": "The referrer's referral code for the program."})
    lead = fields.Nested(ReferralLeadOut)


class ReferralRewardOut(Schema):
    id = fields.Integer()
    side = fields.String(metadata={"enum": ["give", "get"]})
    status = fields.String()
    amount = fields.Decimal(places=2, as_string=True)
    currency = fields.String()
    trigger = fields.String()


class RefereeOut(Schema):
    name = fields.String()
    email = fields.String()
    company = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    country = fields.String(allow_none=True)


class ReferralOut(Schema):
    id = fields.Integer()
    program = fields.String(metadata={"description": "The program's slug."})
    source = fields.String(metadata={"enum": ["portal", "landing", "api", "csv"]})
    status = fields.String(metadata={"enum": ["submitted", "held"]})
    hold_reasons = fields.List(fields.String())
    referee = fields.Nested(RefereeOut)
    note = fields.String()
    company_size = fields.Integer(allow_none=True)
    deal_value = fields.Decimal(places=2, as_string=True, allow_none=True)
    created_at = fields.AwareDateTime()
    lead = fields.Nested(ReferralLeadOut, allow_none=True)
    rewards = fields.List(fields.Nested(ReferralRewardOut))

    @ma.pre_dump
    def flatten(self, referral, **kwargs):
        # The model keeps the referee's fields flat (referee_*); the contract nests them.
        return {
            "id": referral.id, "program": referral.program.slug, "source": referral.source,
            "status": referral.status, "hold_reasons": referral.hold_reasons or [],
            "referee": {key: getattr(referral, f"referee_{key}") for key in RefereeOut().fields},
            "note": referral.note, "company_size": referral.company_size,
            "deal_value": referral.deal_value, "created_at": referral.created_at,
            "lead": referral.lead, "rewards": referral.rewards,
        }
