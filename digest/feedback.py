"""Feedback from SES: bounce and complaint notifications, as SNS delivers them, end in suppression.

Both shapes SES sends are read: identity notifications (`notificationType`) and configuration-set event
publishing (`eventType`), inside a Lambda SNS event, an SNS notification body, or bare. A record that is not
one of them is logged and skipped; the rest of the batch still applies. The SNS function first checks each
message's topic and signature (digest.sns_verify); every path then believes a bounce or complaint only about a
mail this service sent to that address (digest.sent_mail). Logs carry subscriber ids or address hashes, never
an address.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import guard, sent_mail, subscribers as subs
from .errors import InputError
from .jsontext import BadJSON, loads
from .models import Subscriber
from .readers import Rejected, read_records
from .sns_verify import NotVerified

log = logging.getLogger(__name__)

TRANSIENT_LIMIT = 3  # transient or undetermined bounces before an address is suppressed
BOUNCE_TYPES = {"Permanent": "bounce", "Transient": "transient", "Undetermined": "transient"}
# Known types that change nothing here: deliveries, engagement, SES-side rejects and rendering failures,
# SES list-management subscriptions (we run our own unsubscribe), SNS and SES subscription handshakes.
IGNORED_TYPES = frozenset({
    "Delivery", "Send", "Reject", "Open", "Click", "DeliveryDelay", "Rendering Failure", "Subscription",
    "AmazonSnsSubscriptionSucceeded", "SubscriptionConfirmation", "UnsubscribeConfirmation",
})
_SAFE = re.compile(r"[A-Za-z0-9 :_-]{1,40}")  # what of the input a log line may echo: no "@", no "."
_DSN_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """One SES notification, reduced to what it does to its recipients."""

    kind: str  # the SES type as sent: Bounce, Complaint, Delivery, ...
    where: str  # "record 2", "line 7": for logs and the operator's report
    effect: str | None = None  # bounce (permanent), transient, complaint; None changes nothing
    recipients: tuple[str, ...] = ()  # lower-cased addresses
    detail: str = ""  # safe to log: "Permanent/General 5.1.1", "abuse"
    message_id: str | None = None  # SES id of the mail it is about: a notification seen twice counts once


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that is not an SES notification we understand."""

    where: str
    reason: str  # never echoes an address
    refused: bool = False  # an SNS message whose topic or signature did not check out


Item = FeedbackEvent | Skipped


@dataclass
class FeedbackReport:
    notifications: int = 0
    suppressed: int = 0  # subscribers newly suppressed (bounce, complaint, or too many transient bounces)
    unsubscribed: int = 0  # subscribers a complaint unsubscribed (they are suppressed as well)
    transient_counted: int = 0
    ignored: int = 0  # nothing to do: deliveries, opens, ..., repeats, addresses already suppressed
    unknown: int = 0  # records skipped: malformed or not an SES notification
    refused: int = 0  # SNS messages dropped unread: wrong topic, unsigned, or a signature that does not match
    not_ours: int = 0  # recipients of no mail this service sent under that id: dropped
    skipped: list[Skipped] = field(default_factory=list)

    def summary(self) -> str:
        """One line for operators."""
        plural = "" if self.notifications == 1 else "s"
        return (f"{self.notifications} notification{plural}: suppressed {self.suppressed} (unsubscribed by "
                f"complaint {self.unsubscribed}), transient bounces counted {self.transient_counted}, "
                f"ignored {self.ignored}, unknown {self.unknown}, not sent by this service {self.not_ours}"
                + (f", refused {self.refused}" if self.refused else ""))


# --- parsing ------------------------------------------------------------------------------------------------

Verify = Callable[[dict], None]  # raises NotVerified: digest.sns_verify.Verifier.verify


def parse_sns_event(event: Any, where: str = "", verify: Verify | None = None) -> list[Item]:
    """Read a Lambda SNS event ({"Records": [{"EventSource": "aws:sns", "Sns": {...}}]}); with `verify`, a
    record whose topic or signature does not check out is skipped unread."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return [Skipped(where or "event", "not an SNS event (no Records list)")]
    return [_sns_record(rec, f"{where} record {i}".strip(), verify) for i, rec in enumerate(records, 1)]


def parse_item(obj: Any, where: str) -> list[Item]:
    """Read one item of a file: a Lambda SNS event, an SNS record, an SNS notification body, or bare SES."""
    if not isinstance(obj, dict):
        return [Skipped(where, "not a JSON object")]
    if "Records" in obj:
        return parse_sns_event(obj, where)
    if "Sns" in obj:
        return [_sns_record(obj, where)]
    if "Type" in obj and ("Message" in obj or "TopicArn" in obj):
        return [_sns_message(obj, where)]
    return [parse_notification(obj, where)]


def _sns_record(rec: Any, where: str, verify: Verify | None = None) -> Item:
    if not isinstance(rec, dict) or not isinstance(rec.get("Sns"), dict):
        return Skipped(where, "not an SNS record (no Sns object)")
    if rec.get("EventSource", "aws:sns") != "aws:sns":
        return Skipped(where, f"not an SNS record (EventSource {_safe(rec.get('EventSource'))})")
    if verify is not None:
        try:
            verify(rec["Sns"])
        except NotVerified as e:
            return Skipped(where, f"not believed: {e}", refused=True)
    return _sns_message(rec["Sns"], where)


def _sns_message(sns: dict, where: str) -> Item:
    kind = sns.get("Type", "Notification")
    if kind in IGNORED_TYPES:  # the handshake of an HTTPS subscription, saved with the rest
        return FeedbackEvent(kind, where)
    if kind != "Notification":
        return Skipped(where, f"unknown SNS message type {_safe(kind)}")
    if "Message" not in sns:
        return Skipped(where, "SNS notification without a Message")
    return parse_notification(sns["Message"], where)


def parse_notification(message: Any, where: str) -> Item:
    """Read one SES notification, in either shape, given as its JSON text (the SNS Message) or as a dict."""
    if isinstance(message, (str, bytes)):
        try:
            message = loads(message)
        except BadJSON as e:
            return Skipped(where, f"the SNS Message is not JSON ({e})")
    if not isinstance(message, dict):
        return Skipped(where, "the SES notification is not a JSON object")
    kind = message.get("eventType", message.get("notificationType"))
    mail = message.get("mail") if isinstance(message.get("mail"), dict) else {}
    mail_id = mail.get("messageId") if isinstance(mail.get("messageId"), str) else None
    if kind == "Bounce":
        return _bounce(message.get("bounce"), where, mail_id)
    if kind == "Complaint":
        return _complaint(message.get("complaint"), where, mail_id)
    if kind in IGNORED_TYPES:
        return FeedbackEvent(kind, where, message_id=mail_id)
    if kind is None:
        return Skipped(where, "not an SES notification (no eventType or notificationType)")
    return Skipped(where, f"unknown SES notification type {_safe(kind)}")


def _bounce(bounce: Any, where: str, mail_id: str | None) -> Item:
    if not isinstance(bounce, dict):
        return Skipped(where, "Bounce without a bounce object")
    effect = BOUNCE_TYPES.get(bounce.get("bounceType"))
    if effect is None:
        return Skipped(where, f"Bounce of unknown bounceType {_safe(bounce.get('bounceType'))}")
    recipients = _addresses(bounce.get("bouncedRecipients"))
    if not recipients:
        return Skipped(where, "Bounce without readable bouncedRecipients")
    statuses = [r.get("status") for r in bounce["bouncedRecipients"] if isinstance(r, dict)]
    status = next((s for s in statuses if isinstance(s, str) and _DSN_STATUS.fullmatch(s)), "")
    detail = f"{bounce['bounceType']}/{_word(bounce.get('bounceSubType'), '?')} {status}".strip()
    # The bounce type decides, not the DSN status: SES calls a full mailbox Transient even when it says 5.2.2.
    return FeedbackEvent("Bounce", where, effect, recipients, detail, mail_id)


def _complaint(complaint: Any, where: str, mail_id: str | None) -> Item:
    if not isinstance(complaint, dict):
        return Skipped(where, "Complaint without a complaint object")
    recipients = _addresses(complaint.get("complainedRecipients"))
    if not recipients:
        return Skipped(where, "Complaint without readable complainedRecipients")
    feedback = complaint.get("complaintFeedbackType")
    detail = _word(feedback, "unspecified")
    # An ARF "not-spam" report says the opposite of a complaint.
    effect = None if feedback == "not-spam" else "complaint"
    return FeedbackEvent("Complaint", where, effect, recipients, detail, mail_id)


def _addresses(items: Any) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    out = []
    for item in items:
        raw = item.get("emailAddress") if isinstance(item, dict) else None
        address = parseaddr(raw)[1].strip().lower() if isinstance(raw, str) else ""
        if "@" in address and address not in out:
            out.append(address)
    return tuple(out)


def _word(value: Any, default: str) -> str:
    """The value if a log line may echo it (a word, never an address), else the default."""
    return value if isinstance(value, str) and _SAFE.fullmatch(value) else default


def _safe(value: Any) -> str:
    word = _word(value, "")
    return repr(word) if word else "(unreadable)"


# --- effects ------------------------------------------------------------------------------------------------

def apply_events(session: Session, events: Iterable[Item], now: datetime, *, key: str,
                 transient_limit: int = TRANSIENT_LIMIT) -> FeedbackReport:
    """Suppress, unsubscribe or count bounces as the notifications say, and keep each bounce and complaint for the
    reputation guard (the address under a hash keyed with `key`, a signing key); the caller commits."""
    report = FeedbackReport()
    for ev in events:
        report.notifications += 1
        if isinstance(ev, Skipped):
            report.skipped.append(ev)
            if ev.refused:
                report.refused += 1
                log.warning("SNS message refused: dropped", extra={"where": ev.where, "reason": ev.reason})
            else:
                report.unknown += 1
                log.warning("feedback record skipped", extra={"where": ev.where, "reason": ev.reason})
        elif ev.effect is None:
            report.ignored += 1
            log.debug("feedback ignored", extra={"where": ev.where, "feedback": ev.kind})
        else:
            for address in ev.recipients:
                _apply(session, ev, address, now, transient_limit, report, key)
    session.flush()
    return report


def _apply(session: Session, ev: FeedbackEvent, address: str, now: datetime, limit: int,
           report: FeedbackReport, key: str) -> None:
    fields = {"where": ev.where, "feedback": ev.kind, "detail": ev.detail}
    # Locked: two notifications for one person in concurrent batches must not lose a bounce count.
    sub = session.scalar(select(Subscriber).where(Subscriber.email_key == address).with_for_update())
    if sub is None or not sent_mail.sent_to(session, sub, ev.message_id):
        # A forged or misdirected notice must not suppress anyone: only mail we sent to them counts.
        report.not_ours += 1
        log.warning("feedback about a mail this service did not send to that address: dropped",
                    extra=fields | {"address_hash": subs.address_hash(address)[:16]})
        return
    fields["subscriber_id"] = sub.id
    # SES counts it against the account whatever it changes here (an address already suppressed bounces too).
    guard.record(session, now, ev.effect, sub.id, address, key, ev.message_id)
    if ev.effect in ("bounce", "complaint"):
        subs.record_suppression(session, address, ev.effect, now)
    reason = ev.effect
    if ev.effect == "transient":
        if sub.status == "suppressed" or (ev.message_id and ev.message_id == sub.bounced_message_id):
            report.ignored += 1
            log.info("transient bounce already handled", extra=fields)
            return
        sub.bounce_count += 1
        sub.bounced_message_id, sub.updated_at = ev.message_id, now
        report.transient_counted += 1
        log.info("transient bounce counted", extra=fields | {"bounce_count": sub.bounce_count})
        if sub.bounce_count < limit:
            return
        subs.record_suppression(session, address, reason, now)
    changed = False
    if sub.status != "suppressed":
        sub.status, sub.suppressed_at, sub.suppression_reason, sub.updated_at = "suppressed", now, reason, now
        report.suppressed += 1
        changed = True
        log.info("subscriber suppressed", extra=fields | {"reason": reason})
    if ev.effect == "complaint" and sub.unsubscribed_at is None:
        sub.unsubscribed_at, sub.updated_at = now, now
        report.unsubscribed += 1
        changed = True
        log.info("subscriber unsubscribed by complaint", extra=fields)
    if not changed:
        report.ignored += 1


# --- from a file, for operators -----------------------------------------------------------------------------

FILE_TYPES = (".json", ".jsonl", ".ndjson")


def read_feedback(path: str) -> Iterator[Item]:
    """Yield the notifications of a file: a JSON array, JSON Lines or one object ('-' reads stdin)."""
    if path != "-" and Path(path).suffix.lower() not in FILE_TYPES:
        raise InputError(f"{path}: unknown file type {Path(path).suffix or '(none)'!r}; use .json or .jsonl")
    for rec in read_records(path):
        if isinstance(rec, Rejected):
            yield Skipped(f"line {rec.line}", rec.reason)
        else:
            yield from parse_item(rec.data, f"line {rec.line}")


def feedback_file(session: Session, path: str, now: datetime, key: str) -> FeedbackReport:
    """Apply every notification in a file, as the SNS-subscribed function would; the caller commits."""
    return apply_events(session, read_feedback(path), now, key=key)
