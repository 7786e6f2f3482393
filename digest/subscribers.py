"""Subscribers in and out: add, import, show, export and erase one person's data; the suppression list."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterator

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import contact, listing_feedback, normalise
from .errors import InputError, NormaliseError, NotFoundError
from .cadence import CADENCES, DEFAULT as DEFAULT_CADENCE
from .importing import save_batch
from .validation import describe_errors, drop_nulls_and_refuse_nul
from .models import Delivery, MailFeedback, SentNotice, Subscriber, Suppression
from .readers import Rejected, read_records
from .schedule import zone
from .settings import WEEKDAYS, Settings, is_zone_name
from .taxonomy import Taxonomy

BATCH = 500  # rows per transaction when importing
STATUSES = ("pending", "active", "paused", "unsubscribed", "suppressed")
_DAY_ALIASES = {d[:3]: i for i, d in enumerate(WEEKDAYS)} | {d: i for i, d in enumerate(WEEKDAYS)}


MAX_PREF = 50  # characters in one stack, level, region, role or employer value; the error message echoes it


CLEAR = object()  # a preference explicitly cleared (as opposed to not given)
ANY = "any"  # in an import cell or an update option: clear this preference (an empty cell keeps it)


def _as_list(v: Any) -> list[str] | None:
    """None: not given (keep what is stored); []: `any` (clear); else the values."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if (isinstance(v, str) and v.strip().lower() == ANY) or (isinstance(v, list) and [x.strip().lower() for x in v
                                                                                      if isinstance(x, str)] == [ANY]):
        return []
    if isinstance(v, str):
        items = [p.strip() for p in v.replace(";", ",").split(",") if p.strip()]
    elif isinstance(v, list) and all(isinstance(x, str) for x in v):
        items = [x.strip() for x in v if x.strip()]
    else:
        raise ValueError("must be a list or a comma-separated text")
    if len(items) > 50 or any(len(x) > MAX_PREF for x in items):
        raise ValueError(f"at most 50 values of at most {MAX_PREF} characters each")
    return items


def check_email(value: str) -> str:
    """Return the address in normal form, or raise InputError saying why it is not one."""
    try:
        return _valid_email(value)
    except ValueError as e:
        raise InputError(f"{value.strip()[:100]!r} is not a valid email address: {e}") from e


def _valid_email(value: str) -> str:
    try:
        # Our messages are plain RFC 5322 (no SMTPUTF8), so an address must be ASCII to be deliverable.
        return validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False).normalized
    except EmailNotValidError as e:
        raise ValueError(str(e)) from e


class SubscriberIn(BaseModel):
    """One subscriber as an operator gives them; values are validated against the taxonomy later."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: str = Field(max_length=320)
    name: str | None = Field(default=None, max_length=200)
    # None means "not given": a new subscriber gets "any", an existing one keeps what is stored.
    stack: list[str] | None = None
    level: list[str] | None = None
    region: list[str] | None = None
    role: list[str] | None = None
    employer: list[str] | None = None
    timezone: str | None = Field(default=None, max_length=64)
    send_day: str | int | None = None
    send_hour: int | None = Field(default=None, ge=0, le=23)
    cadence: str | None = None
    min_salary: int | None = Field(default=None, ge=0, le=2_000_000)  # 0 (or `any`) clears the floor
    hide_no_salary: bool | None = None
    confirmed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        return drop_nulls_and_refuse_nul(data)

    @field_validator("stack", "level", "region", "role", "employer", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> list[str] | None:
        return _as_list(v)

    @field_validator("min_salary", mode="before")
    @classmethod
    def _floor(cls, v: Any) -> Any:
        return 0 if isinstance(v, str) and v.strip().lower() == ANY else v

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return _valid_email(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        # Not merely "ZoneInfo opens it": posixrules, right/…, posix/…, Factory and localtime open too.
        if v and not is_zone_name(v):
            raise ValueError(f"unknown timezone {v!r} (use an IANA name such as Europe/Berlin)")
        return v or None

    @field_validator("cadence", mode="before")
    @classmethod
    def _cadence(cls, v: Any) -> str | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if not isinstance(v, str) or v.strip().lower() not in CADENCES:
            raise ValueError(f"unknown cadence {str(v)[:20]!r}: use {' or '.join(CADENCES)}")
        return v.strip().lower()

    @field_validator("send_day", mode="before")
    @classmethod
    def _day(cls, v: Any) -> int | None:
        if v is None or v == "":
            return None
        if isinstance(v, int) and 0 <= v <= 6:
            return v
        day = _DAY_ALIASES.get(str(v).strip().lower())
        if day is None:
            raise ValueError(f"unknown day {str(v)[:20]!r}; use monday … sunday")
        return day


@dataclass
class SubscriberReport:
    added: int = 0
    updated: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    changed: dict[str, int] = field(default_factory=dict)  # field -> how many existing people it changed for


def _prefs(data: SubscriberIn, taxonomy: Taxonomy) -> dict:
    """The list preferences given, in canonical values (a list not given is absent)."""
    given = {"stack": (data.stack, normalise.canonical_stack_pref), "levels": (data.level, normalise.canonical_level_pref),
             "regions": (data.region, normalise.canonical_region_pref),
             "roles": (data.role, normalise.canonical_role_pref),
             "employers": (data.employer, normalise.canonical_employer_pref)}
    return {k: sorted({canon(v, taxonomy) for v in values})
            for k, (values, canon) in given.items() if values is not None}


def find(session: Session, email: str) -> Subscriber | None:
    """Return the subscriber with this address (any case), or None."""
    return session.scalar(select(Subscriber).where(Subscriber.email_key == email.strip().lower()))


def get(session: Session, email: str) -> Subscriber:
    """Return the subscriber with this address (any case) or raise NotFoundError."""
    sub = find(session, email)
    if sub is None:
        raise NotFoundError(f"no subscriber with address {email.strip()}")
    return sub


# --- the suppression list: hashes of addresses that must not be mailed again, whether or not a row is left ---

OPTED_OUT = "unsubscribed"  # the weakest entry: any suppression reason replaces it


def address_hash(email: str) -> str:
    """The key of an address on the suppression list: SHA-256 of the trimmed, lower-cased address."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def suppression_of(session: Session, email: str) -> Suppression | None:
    """The suppression-list entry of this address (any case), or None."""
    return session.get(Suppression, address_hash(email))


def record_suppression(session: Session, email: str, reason: str, now: datetime) -> None:
    """Put the address on the suppression list; an existing entry keeps its first reason unless that was an
    opt-out, which a bounce or complaint replaces. Safe against a concurrent writer of the same address."""
    key = address_hash(email)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(Suppression).values(email_hash=key, reason=reason, suppressed_at=now)
                    .on_conflict_do_nothing(index_elements=["email_hash"]))
    if reason != OPTED_OUT:
        session.execute(update(Suppression).where(Suppression.email_hash == key, Suppression.reason == OPTED_OUT)
                        .values(reason=reason, suppressed_at=now))


def upsert(session: Session, data: SubscriberIn, taxonomy: Taxonomy, settings: Settings, now: datetime,
           update: bool = True, source: str = "import", changed: list[str] | None = None) -> tuple[Subscriber, bool]:
    """Create a subscriber, or update the preferences of an existing one; return (row, created).

    For an existing person only what `data` gives changes (an empty value keeps, `any` clears); the names of
    the fields that changed are appended to `changed`. An address on the suppression list comes back as it left
    (suppressed, or unsubscribed), never active.
    """
    prefs = _prefs(data, taxonomy)
    sub = find(session, data.email)
    created = sub is None
    if sub is None:
        sub = Subscriber(
            email=data.email, email_key=data.email.lower(), status="active" if data.confirmed else "pending",
            token_version=1, created_at=now, confirmed_at=now if data.confirmed else None,
            source=source, timezone=settings.default_timezone, send_day=WEEKDAYS.index(settings.send_day),
            send_hour=settings.send_hour, bounce_count=0,
        )
        listed = suppression_of(session, data.email)
        if listed is None and contact.listed(session, settings, data.email) is not None:
            sub.status, sub.confirmed_at, sub.unsubscribed_at = "unsubscribed", None, now  # asked never to be mailed
        elif listed is not None and listed.reason == OPTED_OUT:
            sub.status, sub.confirmed_at, sub.unsubscribed_at = "unsubscribed", None, listed.suppressed_at
        elif listed is not None:
            sub.status, sub.confirmed_at = "suppressed", None
            sub.suppressed_at, sub.suppression_reason = listed.suppressed_at, listed.reason
        session.add(sub)
    elif not update:
        raise InputError(f"{data.email} is already a subscriber (status {sub.status})")
    elif data.confirmed and sub.status == "pending":
        sub.status, sub.confirmed_at = "active", now
    # An unsubscribed or suppressed person is never re-activated by an import: consent is theirs.
    given = {"name": data.name, "stack": prefs.get("stack"), "levels": prefs.get("levels"),
             "regions": prefs.get("regions"), "roles": prefs.get("roles"), "employers": prefs.get("employers"),
             "timezone": data.timezone, "send_day": data.send_day, "send_hour": data.send_hour,
             "cadence": data.cadence, "hide_no_salary": data.hide_no_salary,
             "min_salary": None if data.min_salary is None else (data.min_salary or CLEAR)}
    if created:  # what a new person is not given: any stack, level, region, role, employer; weekly; no floor
        given = {k: v for k, v in given.items() if v is not None}
        sub.stack, sub.levels, sub.regions, sub.roles, sub.employers, sub.min_salary = [], [], [], [], [], None
        sub.hide_no_salary, sub.cadence = False, DEFAULT_CADENCE
    for attr, value in given.items():
        if value is None:
            continue  # not given: kept
        value = None if value is CLEAR else value
        if getattr(sub, attr) != value:
            setattr(sub, attr, value)
            if changed is not None and not created:
                changed.append(attr)
    sub.updated_at = now
    session.flush()
    return sub, created


def import_subscribers(session: Session, path: str, taxonomy: Taxonomy, settings: Settings,
                       now: datetime) -> SubscriberReport:
    """Import a CSV or JSONL file of subscribers; bad rows are reported, good rows land."""
    report = SubscriberReport()
    seen: dict[str, int] = {}
    batch: list[tuple[int, SubscriberIn]] = []
    for item in read_records(path):
        if isinstance(item, Rejected):
            report.rejected.append(item)
            continue
        key = str(item.data.get("email") or "")[:100] or None
        try:
            data = SubscriberIn.model_validate(item.data)
            _prefs(data, taxonomy)  # an unknown list value: rejected here, before anything is written
        except ValidationError as e:
            report.rejected.append(Rejected(item.line, describe_errors(e), key))
            continue
        except NormaliseError as e:
            report.rejected.append(Rejected(item.line, str(e), key))
            continue
        if data.email.lower() in seen:
            report.rejected.append(Rejected(
                item.line, f"duplicate address (first on line {seen[data.email.lower()]}); this one was skipped", key))
            continue
        seen[data.email.lower()] = item.line
        batch.append((item.line, data))
        if len(batch) >= BATCH:
            _save(session, batch, taxonomy, settings, now, report)
            batch = []
    if batch:
        _save(session, batch, taxonomy, settings, now, report)
    report.rejected.sort(key=lambda r: r.line)
    return report


def _save(session: Session, batch: list[tuple[int, SubscriberIn]], taxonomy: Taxonomy, settings: Settings,
          now: datetime, report: SubscriberReport) -> None:
    """Write a batch in one transaction, or row by row when the database refuses it (say, the same address signed
    up through the web form meanwhile): only the refused row is lost, and the report says which and why."""
    def write(rows: list[SubscriberIn]) -> tuple[list[bool], list[str]]:
        changed: list[str] = []
        return [upsert(session, data, taxonomy, settings, now, changed=changed)[1] for data in rows], changed

    def refused(line: int, data: SubscriberIn, reason: str) -> None:
        report.rejected.append(Rejected(line, f"the database refused it: {reason}", data.email))

    for created, changed in save_batch(session, batch, write, refused):
        for name in changed:
            report.changed[name] = report.changed.get(name, 0) + 1
        report.added += sum(created)
        report.updated += len(created) - sum(created)


def display_status(sub: Subscriber, today: date) -> str:
    """The status an operator sees: an active subscriber paused until after `today` shows as paused."""
    if sub.status == "active" and sub.paused_until and sub.paused_until > today:
        return "paused"
    return sub.status


def subscriber_json(sub: Subscriber, now: datetime) -> dict:
    """Status and preferences of one subscriber, as `subscribers show --json` prints them."""
    iso = lambda d: d.isoformat().replace("+00:00", "Z") if d else None  # noqa: E731
    return {
        "id": sub.id, "email": sub.email, "name": sub.name,
        "status": local_status(sub, now),
        "stack": list(sub.stack), "level": list(sub.levels), "region": list(sub.regions),
        "role": list(sub.roles), "employer": list(sub.employers),
        "timezone": sub.timezone, "send_day": WEEKDAYS[sub.send_day], "send_hour": sub.send_hour,
        "cadence": sub.cadence, "min_salary": sub.min_salary, "hide_no_salary": sub.hide_no_salary,
        "paused_until": sub.paused_until.isoformat() if sub.paused_until else None,
        "created_at": iso(sub.created_at), "confirmed_at": iso(sub.confirmed_at),
        "unsubscribed_at": iso(sub.unsubscribed_at), "unsubscribe_reason": sub.unsubscribe_reason,
    }


def export(session: Session, sub: Subscriber, now: datetime) -> dict:
    """Everything held about one person: the subscriber row, every delivery (all its columns) with its
    listings, the other mails sent to them, their entry on the suppression list, and the jobs and companies they
    waved away."""
    deliveries = session.scalars(select(Delivery).where(Delivery.subscriber_id == sub.id).order_by(Delivery.period)).all()
    iso = lambda d: d.isoformat().replace("+00:00", "Z") if d else None  # noqa: E731
    plain = lambda v: iso(v) if isinstance(v, datetime) else v  # noqa: E731
    listed = suppression_of(session, sub.email)
    return {
        "subscriber": subscriber_json(sub, now) | {"token_version": sub.token_version, "source": sub.source,
                                                   "updated_at": iso(sub.updated_at), "bounce_count": sub.bounce_count,
                                                   "bounced_message_id": sub.bounced_message_id,
                                                   "confirm_sent_at": iso(sub.confirm_sent_at),
                                                   "suppressed_at": iso(sub.suppressed_at),
                                                   "suppression_reason": sub.suppression_reason},
        "deliveries": [
            {c.key: plain(getattr(d, c.key)) for c in Delivery.__table__.columns if c.key not in ("id", "subscriber_id")}
            | {"listings": [board_id for board_id, _key in d.listings or ()]}
            for d in deliveries
        ],
        "sent_notices": [{"kind": n.kind, "message_id": n.message_id, "transport_id": n.transport_id,
                     "sent_at": iso(n.sent_at)} for n in session.scalars(
                         select(SentNotice).where(SentNotice.subscriber_id == sub.id).order_by(SentNotice.id))],
        "suppression": None if listed is None else {"email_hash": listed.email_hash, "reason": listed.reason,
                                                    "suppressed_at": iso(listed.suppressed_at)},
        # Bounces and complaints SES reported about mail to them (after a removal: only a time and a kind stay).
        "feedback_events": [{"at": iso(f.at), "kind": f.kind, "email_hash": f.email_hash, "message_id": f.message_id}
                            for f in session.scalars(select(MailFeedback).where(MailFeedback.subscriber_id == sub.id)
                                                     .order_by(MailFeedback.id))],
    } | listing_feedback.export(session, sub.id)


def remove(session: Session, sub: Subscriber) -> None:
    """Erase the person: subscriber row, ledger rows and the listings sent to them.

    Someone who left or whose mail was suppressed stays on the suppression list as a hash of the address
    (no address, no name), so that re-importing an old list never mails them again. The caller commits.
    """
    if sub.status in ("unsubscribed", "suppressed"):
        reason = (sub.suppression_reason or "other") if sub.status == "suppressed" else OPTED_OUT
        record_suppression(session, sub.email, reason, sub.suppressed_at or sub.unsubscribed_at or sub.updated_at)
    session.execute(delete(Delivery).where(Delivery.subscriber_id == sub.id))
    session.execute(delete(SentNotice).where(SentNotice.subscriber_id == sub.id))
    # Their bounces and complaints stay as a time and a kind, tied to nobody: the rates SES holds the account to
    # (and the guard) do not forget them, and removing bounced people must not lower the bounce rate.
    session.execute(update(MailFeedback).where(MailFeedback.subscriber_id == sub.id)
                    .values(subscriber_id=None, email_hash=None))
    listing_feedback.forget(session, sub.id)
    session.delete(sub)


def list_subscribers(session: Session, status: str | None = None, now: datetime | None = None) -> Iterator[Subscriber]:
    """Stream subscribers in id order, optionally of one status as `display_status` shows it at `now`."""
    stored = "active" if status == "paused" else status
    q = select(Subscriber).order_by(Subscriber.id)
    if stored:
        q = q.where(Subscriber.status == stored)
    for sub in session.scalars(q.execution_options(yield_per=1000)):
        if status in ("paused", "active") and now is not None and local_status(sub, now) != status:
            continue
        yield sub


def local_status(sub: Subscriber, now: datetime) -> str:
    """The subscriber's status on their own calendar date at `now`."""
    return display_status(sub, now.astimezone(zone(sub.timezone)).date())


def counts(session: Session) -> dict[str, int]:
    """Count subscribers by status."""
    return dict(session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all())
