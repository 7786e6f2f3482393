"""SES bounce and complaint feedback, fed as SNS delivers it (fixtures modelled on AWS's documented examples, in
both shapes), ends in suppression that the run, re-imports, web sign-ups and erasure all respect."""

from __future__ import annotations

import copy
import json
import logging
from datetime import timedelta

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from digest import db, lifecycle, subscribers as subs
from digest.cli import main
from digest.runtime import Runtime
from digest.feedback import (
    TRANSIENT_LIMIT, FeedbackEvent, apply_events, parse_item, parse_sns_event,
)
from digest.models import Subscriber, Suppression
from digest.run import run
from digest.settings import DEV_SECRET_KEY

from .conftest import NOW, listing, read_outbox
from .support.sns import FIXTURES, lambda_event, record_sent, ses, sns_body, sns_record

SHAPES = ["notification", "event"]  # identity notifications (notificationType), event publishing (eventType)


def another_mail(message: dict, n: int) -> dict:
    """The same notification about a different mail (SES message id), as next week's bounce would be."""
    message = copy.deepcopy(message)
    message["mail"]["messageId"] = message["mail"]["messageId"][:-6] + f"{n:06d}"
    return message


def mailed(engine, address: str, *messages: dict) -> None:
    """The ledger holds the mails these notifications are about: this service sent them to `address`."""
    for message in messages:
        record_sent(engine, address, message["mail"]["messageId"])


def feed(engine, event: dict, now=NOW):
    with Session(engine) as s, s.begin():
        return apply_events(s, parse_sns_event(event), now, key=DEV_SECRET_KEY)


def row(engine, address: str) -> Subscriber | None:
    with Session(engine) as s:
        return s.scalar(select(Subscriber).where(Subscriber.email_key == address.lower()))


def digest_recipients(settings, engine, now=NOW) -> set[str]:
    """Run the week and return who got a digest, read from the parsed outbox."""
    run(settings, now, engine=engine)
    return {m["To"].addresses[0].addr_spec for m in read_outbox(settings.outbox_dir).values()}


# -- parsing ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name, effect, address, detail", [
    ("bounce-permanent", "bounce", "gone@example.com", "Permanent/General 5.1.1"),
    ("bounce-transient", "transient", "full@example.com", "Transient/MailboxFull 5.2.2"),
    ("complaint", "complaint", "angry@example.com", "abuse"),
    ("delivery", None, None, ""),
])
def test_each_documented_notification_reads_the_same_in_both_shapes(shape, name, effect, address, detail):
    message = ses(f"{shape}-{name}")
    expected = FeedbackEvent(message.get("eventType", message.get("notificationType")), "record 1", effect,
                             (address,) if address else (), detail, message["mail"]["messageId"])
    assert parse_sns_event(lambda_event(message)) == [expected]
    # The same message as an SNS HTTPS body and bare, as an operator's file may hold it.
    assert parse_item(sns_body(message), "record 1") == [expected]
    assert parse_item(message, "record 1") == [expected]


def test_the_stored_lambda_event_reads_as_lambda_delivers_it():
    event = json.loads((FIXTURES / "lambda-sns-event.json").read_text("utf-8"))
    bounce, delivery = parse_sns_event(event)
    assert (bounce.kind, bounce.effect, bounce.recipients) == ("Bounce", "bounce", ("gone@example.com",))
    assert (delivery.kind, delivery.effect, delivery.where) == ("Delivery", None, "record 2")


@pytest.mark.parametrize("change, effect", [
    ({"complaintFeedbackType": "not-spam"}, None),  # ARF "not-spam" is the opposite of a complaint
    ({"complaintSubType": "OnAccountSuppressionList"}, "complaint"),
    ({"complaintFeedbackType": None}, "complaint"),  # many providers send no feedback type at all
])
def test_complaint_variants(change, effect):
    message = ses("event-complaint")
    message["complaint"] |= change
    [ev] = parse_sns_event(lambda_event(message))
    assert ev.effect == effect


def test_undetermined_bounces_count_like_transient_ones():
    message = ses("notification-bounce-transient")
    message["bounce"] |= {"bounceType": "Undetermined", "bounceSubType": "Undetermined"}
    [ev] = parse_sns_event(lambda_event(message))
    assert ev.effect == "transient"


# -- effects and the run -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_a_bounce_and_a_complaint_stop_their_digests_while_others_still_get_theirs(
        shape, engine, settings, add_listings, add_subscriber):
    add_listings(listing("py-1"))
    for address in ("gone@example.com", "angry@example.com", "happy@example.com"):
        add_subscriber(address)
    mailed(engine, "gone@example.com", ses(f"{shape}-bounce-permanent"))
    mailed(engine, "angry@example.com", ses(f"{shape}-complaint"))
    later = NOW + timedelta(hours=2)
    report = feed(engine, lambda_event(ses(f"{shape}-bounce-permanent"), ses(f"{shape}-complaint"),
                                       ses(f"{shape}-delivery")), now=later)
    assert (report.notifications, report.suppressed, report.unsubscribed, report.ignored, report.unknown,
            report.not_ours) == (3, 2, 1, 1, 0, 0)

    gone, angry, happy = (row(engine, a) for a in ("gone@example.com", "angry@example.com", "happy@example.com"))
    assert (gone.status, gone.suppression_reason, gone.suppressed_at, gone.unsubscribed_at) == (
        "suppressed", "bounce", later, None)
    assert (angry.status, angry.suppression_reason, angry.suppressed_at, angry.unsubscribed_at) == (
        "suppressed", "complaint", later, later)
    assert happy.status == "active"
    assert digest_recipients(settings, engine) == {"happy@example.com"}


def test_the_same_notification_again_changes_nothing(engine, add_subscriber):
    """SNS delivers at least once: a repeated batch must leave the same state and counts of nothing new."""
    add_subscriber("gone@example.com")
    add_subscriber("angry@example.com")
    mailed(engine, "gone@example.com", ses("event-bounce-permanent"))
    mailed(engine, "angry@example.com", ses("event-complaint"))
    event = lambda_event(ses("event-bounce-permanent"), ses("event-complaint"))
    feed(engine, event)
    again = feed(engine, event, now=NOW + timedelta(hours=1))
    assert (again.suppressed, again.unsubscribed, again.ignored) == (0, 0, 2)
    assert row(engine, "angry@example.com").suppressed_at == NOW


@pytest.mark.parametrize("shape", SHAPES)
def test_transient_bounces_are_counted_then_suppressed_at_the_threshold(
        shape, engine, settings, add_listings, add_subscriber):
    add_listings(listing("py-1"))
    add_subscriber("full@example.com")
    add_subscriber("happy@example.com")
    bounce = ses(f"{shape}-bounce-transient")
    mailed(engine, "full@example.com", *(another_mail(bounce, n) for n in range(1, TRANSIENT_LIMIT + 1)))
    assert TRANSIENT_LIMIT == 3
    for n in range(1, TRANSIENT_LIMIT):
        report = feed(engine, lambda_event(another_mail(bounce, n)))
        assert (report.transient_counted, report.suppressed) == (1, 0)
        full = row(engine, "full@example.com")
        assert (full.status, full.bounce_count) == ("active", n)
    report = feed(engine, lambda_event(another_mail(bounce, TRANSIENT_LIMIT)))
    assert (report.transient_counted, report.suppressed) == (1, 1)
    full = row(engine, "full@example.com")
    assert (full.status, full.bounce_count, full.suppression_reason) == ("suppressed", 3, "transient")
    assert digest_recipients(settings, engine) == {"happy@example.com"}
    with Session(engine) as s:  # an access request shows what the bounces left behind
        exported = subs.export(s, subs.get(s, "full@example.com"), NOW)["subscriber"]
    assert exported | {"bounce_count": 3, "suppression_reason": "transient", "status": "suppressed"} == exported


def test_one_bounce_in_both_shapes_and_redelivered_counts_once(engine, add_subscriber):
    """With identity notifications and a configuration set both configured, SES reports one bounce twice."""
    add_subscriber("full@example.com")
    identity, event = ses("notification-bounce-transient"), ses("event-bounce-transient")
    event["mail"]["messageId"] = identity["mail"]["messageId"]
    mailed(engine, "full@example.com", identity)
    report = feed(engine, lambda_event(identity, event, identity))
    assert (report.transient_counted, report.ignored) == (1, 2)
    assert row(engine, "full@example.com").bounce_count == 1


def test_unknown_and_malformed_records_are_skipped_and_the_rest_of_the_batch_applies(
        engine, add_subscriber, caplog):
    add_subscriber("gone@example.com")
    add_subscriber("angry@example.com")
    mailed(engine, "gone@example.com", ses("notification-bounce-permanent"))
    mailed(engine, "angry@example.com", ses("event-complaint"))
    odd_bounce = ses("event-bounce-permanent")
    odd_bounce["bounce"]["bounceType"] = "Soft-ish"
    no_recipients = ses("notification-complaint")
    no_recipients["complaint"]["complainedRecipients"] = [{"emailAddress": "not an address"}]
    event = lambda_event(
        '{"notificationType": "Bounce", "bounce": {',  # cut short
        {"notificationType": "Received", "receipt": {}, "mail": {}},  # SES receiving, not sending feedback
        {"hello": "world"},
        odd_bounce,
        no_recipients,
        ses("notification-bounce-permanent"),
        ses("event-complaint"),
    )
    event["Records"].insert(2, {"EventSource": "aws:sqs", "body": "{}"})
    event["Records"].append("not a record")
    caplog.set_level(logging.DEBUG, logger="digest.feedback")

    report = feed(engine, event)
    assert (report.unknown, report.suppressed, report.unsubscribed) == (7, 2, 1)
    assert [(s.where, s.reason) for s in report.skipped] == [
        ("record 1", "the SNS Message is not JSON (Expecting property name enclosed in double quotes at column 43)"),
        ("record 2", "unknown SES notification type 'Received'"),
        ("record 3", "not an SNS record (no Sns object)"),
        ("record 4", "not an SES notification (no eventType or notificationType)"),
        ("record 5", "Bounce of unknown bounceType 'Soft-ish'"),
        ("record 6", "Complaint without readable complainedRecipients"),
        ("record 9", "not an SNS record (no Sns object)"),
    ]
    assert row(engine, "gone@example.com").status == row(engine, "angry@example.com").status == "suppressed"
    # Logs say what was skipped and whom it touched, by subscriber id or address hash, never by address.
    assert any(r.levelno == logging.WARNING and r.reason.startswith("unknown SES") for r in caplog.records)
    assert {r.subscriber_id for r in caplog.records if hasattr(r, "subscriber_id")} == {
        row(engine, "gone@example.com").id, row(engine, "angry@example.com").id}
    loud = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert loud and not [r for r in loud if "@" in repr(vars(r))]


def test_a_bounce_event_that_is_not_an_sns_event_is_one_skipped_record(engine):
    report = feed(engine, {"detail-type": "Scheduled Event"})
    assert (report.notifications, report.unknown) == (1, 1)


# -- never sent to again: re-import, web sign-up, erasure -----------------------------------------------------

def write_import(tmp_path, *addresses: str) -> str:
    path = tmp_path / "again.jsonl"
    path.write_text("".join(json.dumps({"email": a, "confirmed": True, "timezone": "UTC"}) + "\n"
                            for a in addresses), encoding="utf-8")
    return str(path)


def reimport(engine, taxonomy, settings, tmp_path, *addresses: str) -> None:
    with Session(engine) as s:
        report = subs.import_subscribers(s, write_import(tmp_path, *addresses), taxonomy, settings, NOW + timedelta(days=1))
    assert not report.rejected


def sign_up(engine, taxonomy, settings, address: str):
    with Session(engine) as s, s.begin():
        data = subs.SubscriberIn.model_validate({"email": address, "stack": ["go"], "timezone": "UTC"})
        sub = lifecycle.sign_up(s, data, taxonomy, settings, NOW + timedelta(days=1))
        return None if sub is None else sub.status


def test_a_confirmed_reimport_or_a_web_sign_up_keeps_them_suppressed(
        engine, settings, taxonomy, tmp_path, add_listings, add_subscriber):
    add_listings(listing("py-1"))
    for address in ("gone@example.com", "angry@example.com", "happy@example.com"):
        add_subscriber(address)
    mailed(engine, "gone@example.com", ses("event-bounce-permanent"))
    mailed(engine, "angry@example.com", ses("notification-complaint"))
    feed(engine, lambda_event(ses("event-bounce-permanent"), ses("notification-complaint")))

    reimport(engine, taxonomy, settings, tmp_path, "Gone@example.com", "angry@example.com")
    assert row(engine, "gone@example.com").status == row(engine, "angry@example.com").status == "suppressed"
    assert sign_up(engine, taxonomy, settings, "GONE@example.com") is None
    assert sign_up(engine, taxonomy, settings, "angry@example.com") is None
    assert row(engine, "angry@example.com").stack == []  # the form changed nothing
    assert digest_recipients(settings, engine) == {"happy@example.com"}


def all_rows_text(engine) -> str:
    with engine.connect() as conn:
        return repr([conn.execute(text(f'SELECT * FROM "{t}"')).all() for t in inspect(conn).get_table_names()])


def remove(engine, address: str) -> None:
    with Session(engine) as s:
        subs.remove(s, subs.get(s, address))
        s.commit()


def test_removed_then_reimported_comes_back_suppressed(engine, settings, taxonomy, tmp_path, add_listings, add_subscriber):
    add_listings(listing("py-1"))
    for address in ("gone@example.com", "angry@example.com", "full@example.com", "happy@example.com"):
        add_subscriber(address)
    bounce = ses("notification-bounce-transient")
    mailed(engine, "gone@example.com", ses("notification-bounce-permanent"))
    mailed(engine, "angry@example.com", ses("event-complaint"))
    mailed(engine, "full@example.com", *(another_mail(bounce, n) for n in range(TRANSIENT_LIMIT)))
    feed(engine, lambda_event(ses("notification-bounce-permanent"), ses("event-complaint"),
                              *(another_mail(bounce, n) for n in range(TRANSIENT_LIMIT))))
    for address in ("gone@example.com", "angry@example.com", "full@example.com"):
        remove(engine, address)
    # Erased: no address left anywhere, only its hash on the suppression list.
    stored = all_rows_text(engine)
    assert "gone@" not in stored and "angry@" not in stored and "full@" not in stored
    with Session(engine) as s:
        assert {(x.email_hash, x.reason) for x in s.scalars(select(Suppression))} == {
            (subs.address_hash("gone@example.com"), "bounce"), (subs.address_hash("angry@example.com"), "complaint"),
            (subs.address_hash("full@example.com"), "transient")}

    assert sign_up(engine, taxonomy, settings, "angry@example.com") is None
    assert row(engine, "angry@example.com") is None  # nothing stored for a suppressed address typed into the form
    reimport(engine, taxonomy, settings, tmp_path, "gone@example.com", "ANGRY@example.com", "full@example.com")
    back = [row(engine, a) for a in ("gone@example.com", "angry@example.com", "full@example.com")]
    assert [(b.status, b.suppression_reason, b.confirmed_at) for b in back] == [
        ("suppressed", "bounce", None), ("suppressed", "complaint", None), ("suppressed", "transient", None)]
    assert digest_recipients(settings, engine) == {"happy@example.com"}


def test_someone_who_unsubscribed_is_not_reactivated_by_a_reimport_after_removal(
        engine, settings, taxonomy, tmp_path, add_subscriber):
    add_subscriber("left@example.com")
    with Session(engine) as s, s.begin():
        lifecycle.unsubscribe(subs.get(s, "left@example.com"), NOW)
    remove(engine, "left@example.com")
    reimport(engine, taxonomy, settings, tmp_path, "left@example.com")
    assert row(engine, "left@example.com").status == "unsubscribed"
    # Their own sign-up through the form is offered a confirmation (double opt-in, as before removal); the row
    # stays as they left it until the mailbox confirms.
    assert sign_up(engine, taxonomy, settings, "left@example.com") == "unsubscribed"


def test_a_bounce_for_an_address_with_no_subscriber_is_not_about_our_mail_and_changes_nothing(
        engine, settings, taxonomy, tmp_path):
    report = feed(engine, lambda_event(ses("event-bounce-permanent"), ses("event-bounce-transient")))
    assert (report.not_ours, report.suppressed, report.transient_counted) == (2, 0, 0)
    with Session(engine) as s:
        assert s.scalars(select(Suppression)).all() == []
    reimport(engine, taxonomy, settings, tmp_path, "gone@example.com", "full@example.com")
    assert row(engine, "gone@example.com").status == row(engine, "full@example.com").status == "active"


def test_migration_0003_keeps_existing_subscribers_with_no_bounces(engine, add_subscriber):
    sid = add_subscriber("old@example.com")
    cfg = db._alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert db.upgrade(engine) == db.head_revision()  # through 0003 and every later one
    old = row(engine, "old@example.com")
    assert (old.id, old.status, old.bounce_count, old.suppressed_at) == (sid, "active", 0, None)


# -- `digest feedback PATH` ----------------------------------------------------------------------------------

def digest_feedback(db_url, tmp_path, *args: str):
    app = Runtime(clock=lambda: NOW)
    env = {"DIGEST_DATABASE_URL": db_url, "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"), "DIGEST_TRANSPORT": "outbox"}
    try:
        return CliRunner().invoke(main, ["feedback", *args], env=env, obj=app)
    finally:
        if "engine" in app.__dict__:
            app.engine.dispose()


@pytest.mark.parametrize("form", ["json-array", "jsonl", "single"])
def test_digest_feedback_reads_a_file_and_prints_one_line(form, db_url, engine, tmp_path, add_subscriber):
    add_subscriber("gone@example.com")
    add_subscriber("angry@example.com")
    mailed(engine, "gone@example.com", ses("event-bounce-permanent"), ses("notification-bounce-permanent"))
    mailed(engine, "angry@example.com", ses("notification-complaint"), ses("event-complaint"))
    path = tmp_path / ("feedback.jsonl" if form == "jsonl" else "feedback.json")
    if form == "json-array":  # Lambda SNS records and a bare notification side by side
        path.write_text(json.dumps([sns_record(ses("event-bounce-permanent")), ses("notification-complaint"),
                                    sns_record(ses("event-delivery"))], indent=2), encoding="utf-8")
        expected = "3 notifications: suppressed 2 (unsubscribed by complaint 1), transient bounces counted 0, " \
                   "ignored 1, unknown 0, not sent by this service 0"
    elif form == "jsonl":  # SNS HTTPS bodies, one per line, one of them cut short
        lines = [json.dumps(sns_body(ses("notification-bounce-permanent"))), '{"Type": "Notification", "Mess',
                 json.dumps(sns_body(ses("event-complaint")))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        expected = "3 notifications: suppressed 2 (unsubscribed by complaint 1), transient bounces counted 0, " \
                   "ignored 0, unknown 1, not sent by this service 0"
    else:  # the stored Lambda event, whole
        path.write_text((FIXTURES / "lambda-sns-event.json").read_text("utf-8"), encoding="utf-8")
        expected = "2 notifications: suppressed 1 (unsubscribed by complaint 0), transient bounces counted 0, " \
                   "ignored 1, unknown 0, not sent by this service 0"
    result = digest_feedback(db_url, tmp_path, str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: {expected}\n"
    if form == "jsonl":
        assert result.stderr == f"{path}: line 2: skipped: malformed JSON: Unterminated string starting at at " \
                                f"column 26\n"
    assert row(engine, "gone@example.com").status == "suppressed"


@pytest.mark.parametrize("name, message", [
    ("missing.jsonl", "{path}: no such file"),
    ("feedback.csv", "{path}: unknown file type '.csv'; use .json or .jsonl"),
])
def test_digest_feedback_refuses_a_file_it_cannot_read_in_one_line(name, message, db_url, tmp_path):
    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_text("email\ngone@example.com\n", encoding="utf-8")
    result = digest_feedback(db_url, tmp_path, str(path))
    assert result.exit_code != 0
    assert (result.stdout, result.stderr) == ("", f"Error: {message.format(path=path)}\n")


def test_digest_feedback_help_has_an_example():
    result = CliRunner().invoke(main, ["feedback", "--help"])
    assert result.exit_code == 0 and "Example" in result.stdout and "digest feedback" in result.stdout
