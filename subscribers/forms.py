"""Read the web forms strictly: one value per single field, known values only, clear messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from digest import normalise
from digest.errors import InputError, NormaliseError
from digest.lifecycle import UNSUBSCRIBE_REASONS
from digest.validation import describe_errors
from digest.subscribers import SubscriberIn
from digest.taxonomy import Taxonomy

LISTS = ("stack", "level", "region", "role", "employer")
CANONICAL = {"stack": normalise.canonical_stack_pref, "level": normalise.canonical_level_pref,
             "region": normalise.canonical_region_pref, "role": normalise.canonical_role_pref,
             "employer": normalise.canonical_employer_pref}
MAX_VALUE = 320  # no form value of ours is longer than an email address


class FormError(InputError):
    """The form cannot be saved; `messages` say why, one per problem, for the page."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class Preferences:
    data: SubscriberIn
    paused_until: date | None


def _single(form: MultiDict, name: str, errors: list[str]) -> str | None:
    values = form.getlist(name)
    if len(values) > 1:
        errors.append(f"{name}: given {len(values)} times; send it once")
        return None
    value = values[0].strip() if values else ""
    if len(value) > MAX_VALUE:
        errors.append(f"{name}: too long")
        return None
    return value or None


def _many(form: MultiDict, name: str, taxonomy: Taxonomy, errors: list[str]) -> list[str]:
    check = CANONICAL[name]
    values = [v.strip() for v in form.getlist(name) if v.strip()]
    if len(values) > 40:
        errors.append(f"{name}: too many values")
        return []
    out = []
    for v in values:
        try:
            out.append(check(v[:MAX_VALUE], taxonomy))
        except NormaliseError as e:
            errors.append(str(e))
    return out


def _model(raw: dict, errors: list[str]) -> SubscriberIn | None:
    try:
        return SubscriberIn.model_validate(raw)
    except ValidationError as e:
        errors.extend(describe_errors(e).split("; "))
        return None


def signup(form: MultiDict, taxonomy: Taxonomy) -> SubscriberIn:
    """Validate the sign-up form, or raise FormError."""
    errors: list[str] = []
    raw = {"email": _single(form, "email", errors) or "", "timezone": _single(form, "timezone", errors)}
    raw |= {name: _many(form, name, taxonomy, errors) for name in LISTS}
    if not raw["email"]:
        errors.append("email: please give your email address")
    data = _model(raw, errors)
    if errors or data is None:
        raise FormError(errors)
    return data


def email_only(form: MultiDict) -> str:
    """The address of the /manage form, in normal form, or raise FormError."""
    errors: list[str] = []
    raw = _single(form, "email", errors) or ""
    if not raw and not errors:
        errors.append("email: please give your email address")
    data = _model({"email": raw}, errors) if not errors else None
    if errors or data is None:
        raise FormError(errors)
    return data.email


def preferences(form: MultiDict, taxonomy: Taxonomy, email: str, today: date) -> Preferences:
    """Validate the preferences form, or raise FormError; nothing is saved either way."""
    errors: list[str] = []
    raw: dict = {"email": email}
    raw |= {name: _many(form, name, taxonomy, errors) for name in LISTS}
    for name in ("timezone", "send_day", "send_hour", "cadence", "min_salary"):
        raw[name] = _single(form, name, errors)
    hide = _single(form, "hide_no_salary", errors)
    if hide not in (None, "1", "on", "true"):
        errors.append("hide_no_salary: must be checked or not")
    raw["hide_no_salary"] = hide is not None
    if not raw["timezone"]:
        errors.append("timezone: please choose your timezone")
    paused_until = None
    pause = _single(form, "paused_until", errors)
    if pause:
        try:
            paused_until = date.fromisoformat(pause)
        except ValueError:
            errors.append("paused_until: not a date (YYYY-MM-DD)")
        else:
            if paused_until <= today:
                paused_until = None  # a pause that has already ended is no pause
            elif (paused_until - today).days > 366:
                errors.append("paused_until: pause for at most a year")
    data = _model(raw, errors)
    if errors or data is None:
        raise FormError(errors)
    return Preferences(data, paused_until)


def unsubscribe_reason(form: MultiDict) -> str | None:
    """The optional reason given on the unsubscribe page (None: none given), or raise FormError naming it."""
    errors: list[str] = []
    reason = _single(form, "reason", errors)
    if reason is not None and reason not in UNSUBSCRIBE_REASONS:
        errors.append(f"reason: choose one of {', '.join(UNSUBSCRIBE_REASONS)}, or none")
    if errors:
        raise FormError(errors)
    return reason
