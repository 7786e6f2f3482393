"""The tables: listings, subscribers, the suppression list, the delivery ledger, the operators' audit log, and what
the public pages may mail (do-not-contact, lifetime counts, stored sign-ups, mail waiting to leave)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (naive text) and PostgreSQL (timestamptz) alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict: JSON, list: JSON}


class Listing(Base):
    __tablename__ = "listings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(Text)
    company: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(Text)
    posted_at: Mapped[datetime]
    verified: Mapped[bool] = mapped_column(Boolean)
    verified_at: Mapped[datetime | None] = mapped_column(index=True)
    # When the listing became available to digests: the later of the board's verified_at and the first import
    # that held it verified (digest.listings.availability). Windows are by this, so a late import is not lost.
    available_at: Mapped[datetime | None] = mapped_column(index=True)
    expires_at: Mapped[datetime | None]
    stack: Mapped[list] = mapped_column(JSON, default=list)
    level: Mapped[str | None] = mapped_column(String(20))
    regions: Mapped[list] = mapped_column(JSON, default=list)
    location: Mapped[str | None] = mapped_column(Text)
    salary_min: Mapped[int | None] = mapped_column(BigInteger)
    salary_max: Mapped[int | None] = mapped_column(BigInteger)
    salary_currency: Mapped[str | None] = mapped_column(String(3))
    salary_period: Mapped[str | None] = mapped_column(String(10))
    salary_display: Mapped[str | None] = mapped_column(String(100))
    employer_type: Mapped[str | None] = mapped_column(String(50))
    role_type: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(Text)
    raw_tags: Mapped[list] = mapped_column(JSON, default=list)
    repost_key: Mapped[int] = mapped_column(BigInteger, index=True)
    # A hash of the columns an import writes (all but verified_at): equal means unchanged. Whatever else changes a
    # listing row must clear it, or the next import would not restore the board's values.
    fingerprint: Mapped[str | None] = mapped_column(String(32))
    imported_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Subscriber(Base):
    __tablename__ = "subscribers"
    # Ids are in every link's token and outbox key: SQLite must never hand a removed person's id to another.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased: one person, one row
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)  # pending/active/unsubscribed/suppressed
    stack: Mapped[list] = mapped_column(JSON, default=list)
    levels: Mapped[list] = mapped_column(JSON, default=list)
    regions: Mapped[list] = mapped_column(JSON, default=list)
    # Role types (api, data, platform) and employer types (startup, scaleup, enterprise, agency); empty = any.
    roles: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    employers: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # weekly, or fortnightly: every second ISO week counted from their first sent digest (digest.cadence).
    cadence: Mapped[str] = mapped_column(String(20), default="weekly", server_default="weekly")
    timezone: Mapped[str] = mapped_column(String(64))
    send_day: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    send_hour: Mapped[int] = mapped_column(Integer)
    min_salary: Mapped[int | None] = mapped_column(Integer)  # annual, USD
    hide_no_salary: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[date | None] = mapped_column(Date)
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    confirm_sent_at: Mapped[datetime | None]  # last confirmation mail (the caps are counted in contact_counts)
    unsubscribed_at: Mapped[datetime | None]
    unsubscribe_reason: Mapped[str | None] = mapped_column(String(20))  # found-job/too-many/not-relevant/other
    source: Mapped[str | None] = mapped_column(String(50))
    # Feedback from the mail provider (digest.feedback): soft bounces counted, then suppressed for good.
    bounce_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bounced_message_id: Mapped[str | None] = mapped_column(String(255))  # last counted: a resent notice counts once
    suppressed_at: Mapped[datetime | None]
    suppression_reason: Mapped[str | None] = mapped_column(String(20))  # bounce/complaint/transient


class Suppression(Base):
    """Addresses never to mail again, kept as a hash so the list outlives `digest subscribers remove`."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex of the lower-cased address
    reason: Mapped[str] = mapped_column(String(20))  # bounce/complaint/transient/other, or unsubscribed
    suppressed_at: Mapped[datetime]


class RateLimitHit(Base):
    """One counted request from a client, kept for the limit's window only, under a keyed hash of its IP."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_client", "scope", "client_hash", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))  # what was counted, e.g. "signup"
    client_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 hex of the client's network, never the IP
    at: Mapped[datetime] = mapped_column(index=True)  # pruned once older than the window


class Delivery(Base):
    """The ledger: one row per subscriber and week, claimed before sending, finished after."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # Every ledger query starts from subscriber ids: this unique index leads with them (no second index).
        UniqueConstraint("subscriber_id", "period", name="uq_deliveries_subscriber_period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(10))  # ISO week of the slot, "2026-W48"
    status: Mapped[str] = mapped_column(String(10))  # claimed/sent/empty/failed
    run_id: Mapped[str] = mapped_column(String(36))
    slot_at: Mapped[datetime]
    window_start: Mapped[datetime]
    cutoff: Mapped[datetime]  # listings verified up to this instant were considered
    claimed_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    listing_count: Mapped[int] = mapped_column(Integer, default=0)
    total_matches: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(255))
    transport_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    # The listings this digest carries, [[board id, repost key], ...] in the order sent: written with the claim,
    # history once the row is "sent" (against repeats and reposts), and part of a person's export.
    listings: Mapped[list | None] = mapped_column(JSON)


class SentNotice(Base):
    """Mail other than the digest that went to a subscriber (the confirmation), so that SES feedback about it can
    be matched to what this service sent, as the deliveries ledger matches the digests."""

    __tablename__ = "sent_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # confirm, links
    message_id: Mapped[str | None] = mapped_column(String(255))  # the Message-ID header, "<...@domain>"
    transport_id: Mapped[str | None] = mapped_column(String(255))  # what the carrier answered: SES's MessageId
    sent_at: Mapped[datetime]


class MailFeedback(Base):
    """One bounce or complaint SES reported about a mail this service sent (digest.feedback), kept for the
    reputation guard (digest.guard) and for statistics. It outlives the person: their removal leaves only the time
    and the kind (the rates SES holds the account to do not forget)."""

    __tablename__ = "feedback_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)  # when it was applied
    kind: Mapped[str] = mapped_column(String(20))  # bounce-permanent / bounce-transient / complaint
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"), index=True)
    # HMAC-SHA256 hex of the address under a signing key (digest.guard), never the address; None once removed.
    email_hash: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)  # the carrier's id of the mail


class Run(Base):
    """What one `digest run` did, for operators."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    now: Mapped[datetime]
    workers: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20))  # running/finished/stopped/guarded/failed, or dispatched (to workers)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    trigger: Mapped[str | None] = mapped_column(String(20))  # cli / schedule / worker (None: before it was kept)
    # A shard a queue worker sent for a dispatched run: that run's id (the shard's claims carry it too).
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)


class NotForMe(Base):
    """A job a subscriber marked "not for me" from a digest card: never sent to them again, nor its reposts.

    Kept by the board's id and the repost key (not the listing row), so it outlives the row and covers the job
    when the board exports it again under a new id."""

    __tablename__ = "not_for_me"
    __table_args__ = (UniqueConstraint("subscriber_id", "board_id", name="uq_not_for_me_subscriber_board"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    board_id: Mapped[str] = mapped_column(String(100))
    repost_key: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(20))  # wrong_stack/wrong_level/wrong_location/not_interested
    created_at: Mapped[datetime]


class HiddenCompany(Base):
    """A company a subscriber hid from a digest card: none of its listings reach them again until they unhide it."""

    __tablename__ = "hidden_companies"
    __table_args__ = (UniqueConstraint("subscriber_id", "company_key", name="uq_hidden_companies_subscriber_company"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    company_key: Mapped[str] = mapped_column(String(300))  # normalise.company_key: folded as repost keys fold it
    company: Mapped[str] = mapped_column(String(300))  # the name as the card showed it, for the preferences page
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """One operator action that changed a person, a listing or a list entry (digest.audit).

    A removed person's target is a keyed hash of the address, never the address in clear."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))  # the operating-system user, or DIGEST_OPERATOR
    command: Mapped[str] = mapped_column(String(100))  # e.g. "subscribers remove"
    target_kind: Mapped[str] = mapped_column(String(20))  # subscriber/listing/suppression/do-not-contact
    target: Mapped[str] = mapped_column(String(320))  # address, board id, or "hash:<keyed hash>"
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class DoNotContact(Base):
    """An address that asked never to be mailed, under a keyed hash (digest.contact): lifted only by an operator."""

    __tablename__ = "do_not_contact"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # HMAC-SHA256 hex under a signing key
    source: Mapped[str] = mapped_column(String(20))  # link (the person, through a mail's link) / operator
    created_at: Mapped[datetime]


class ContactCount(Base):
    """How many mails of one kind the public pages ever sent an address, under a keyed hash: it outlives the
    subscriber row (purged, removed), so the lifetime cap holds."""

    __tablename__ = "contact_counts"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # confirm / links
    sent: Mapped[int] = mapped_column(Integer)
    last_sent_at: Mapped[datetime]


class Signup(Base):
    """The preferences one sign-up asked for; its confirmation link names it, so confirming applies these."""

    __tablename__ = "signups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    preferences: Mapped[dict] = mapped_column(JSON)  # a SubscriberIn, as JSON
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]


class MailRequest(Base):
    """A page's request for mail, stored with its answer and handled after it (digest.page_mail)."""

    __tablename__ = "mail_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # signup / renew / manage
    email: Mapped[str | None] = mapped_column(String(320))
    subscriber_id: Mapped[int | None] = mapped_column(Integer)  # renewals: the expired link's subscriber
    signup_id: Mapped[int | None] = mapped_column(Integer)  # renewals: the expired link's sign-up
    payload: Mapped[dict | None] = mapped_column(JSON)  # sign-ups: the form's SubscriberIn
    created_at: Mapped[datetime]
