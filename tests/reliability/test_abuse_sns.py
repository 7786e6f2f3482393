"""Forged SES feedback through the real SNS handler (digest.lambdas.ses_events) and `digest feedback`.

Before, anyone who could invoke the function or hand SNS a message suppressed and unsubscribed any address for
good. Now a notification changes something only when it is signed by SNS (SignatureVersion 1 or 2, the
certificate from https://sns.<region>.amazonaws.com), comes from the configured topic, and is about a mail the
ledger says this service sent to that address. Everything else is logged (without the address) and dropped:
the function returns, so SNS does not retry it. The certificate comes from the test's own key through the
injected fetcher; nothing is served over the network.
"""

from __future__ import annotations

import copy
import json
import logging

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import lambdas
from digest.models import Subscriber, Suppression

from ..support.lambda_events import FakeContext
from ..support.sns import CERT_URL, TOPIC, Signer, record_sent, sign_event
from ..support.cli import digest
from ..support.sns import lambda_event, ses, sns_body

PEOPLE = ("gone@example.com", "angry@example.com")


@pytest.fixture
def world(aws, monkeypatch, engine, add_subscriber, caplog):  # noqa: F811
    """Two active subscribers, each sent one digest (its SES id in the ledger); the deployed settings."""
    for address in PEOPLE:
        add_subscriber(address)
    record_sent(engine, "gone@example.com", ses("event-bounce-permanent")["mail"]["messageId"])
    record_sent(engine, "angry@example.com", ses("event-complaint")["mail"]["messageId"])
    monkeypatch.setenv("DIGEST_SNS_TOPIC_ARN", TOPIC)
    fetcher = Signer.new("sns.amazonaws.com")  # this test's SNS, fresh: its fetch log starts empty
    st = lambdas.state()
    st.settings = st.settings.with_(sns_cert_fetcher=fetcher.fetch)
    caplog.set_level(logging.DEBUG)
    return fetcher


def state(engine) -> dict:
    with Session(engine) as s:
        people = {r.email_key: (r.status, r.bounce_count, r.unsubscribed_at) for r in s.scalars(select(Subscriber))}
        return {"people": people, "suppressions": s.scalars(select(Suppression.email_hash)).all()}


UNCHANGED = {"people": {a: ("active", 0, None) for a in PEOPLE}, "suppressions": []}


def genuine() -> dict:
    return lambda_event(ses("event-bounce-permanent"), ses("event-complaint"))


def invoke(event: dict) -> dict:
    return lambdas.ses_events(event, FakeContext())  # raising would make SNS retry it into the failed queue


def assert_dropped(caplog, report: dict, reason: str, n: int = 2) -> None:
    assert (report["suppressed"], report["unsubscribed"], report["refused"] + report["not_ours"]) == (0, 0, n)
    dropped = [r for r in caplog.records if r.levelno == logging.WARNING and reason in getattr(r, "reason", r.msg)]
    assert len(dropped) == n, [(r.msg, vars(r).get("reason")) for r in caplog.records]
    loud = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert not [r for r in loud if "@" in repr(vars(r))]  # logged, never with an address


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_genuine_signed_notification_about_our_mail_applies(world, engine, version):
    report = invoke(sign_event(genuine(), world, version))
    assert (report["suppressed"], report["unsubscribed"], report["refused"], report["not_ours"]) == (2, 1, 0, 0)
    people = state(engine)["people"]
    assert (people["gone@example.com"][:2], people["angry@example.com"][:2]) == (("suppressed", 0),) * 2
    assert people["gone@example.com"][2] is None and people["angry@example.com"][2] is not None  # complaint: left
    assert world.fetched == [CERT_URL]  # fetched once for both records


def test_the_certificate_is_fetched_once_per_container(world, engine):
    invoke(sign_event(lambda_event(ses("event-delivery")), world))
    invoke(sign_event(genuine(), world, "2"))
    assert world.fetched == [CERT_URL]


def test_a_forged_signature_changes_nothing(world, engine, caplog):
    """Signed by someone else's key: SNS's certificate (the one at the URL) does not verify it."""
    forger = Signer.new("sns.amazonaws.com")
    report = invoke(sign_event(genuine(), forger))
    assert state(engine) == UNCHANGED
    assert_dropped(caplog, report, "the SNS signature does not match the message")


def test_a_signed_message_altered_afterwards_changes_nothing(world, engine, caplog):
    """A real signed delivery notice with its Message swapped for a complaint about someone else."""
    event = sign_event(lambda_event(ses("event-delivery"), ses("event-delivery")), world)
    for rec, message in zip(event["Records"], (ses("event-bounce-permanent"), ses("event-complaint"))):
        rec["Sns"]["Message"] = json.dumps(message)
    report = invoke(event)
    assert state(engine) == UNCHANGED
    assert_dropped(caplog, report, "the SNS signature does not match the message")


@pytest.mark.parametrize("strip, reason", [
    (("Signature", "SignatureVersion"), "unsigned SNS message"),
    (("Signature",), "unsigned SNS message (no Signature)"),
    (("SigningCertUrl",), "unsigned SNS message (no SigningCertURL)"),
    ((), "unsigned SNS message (SignatureVersion is not 1 or 2)"),
])
def test_an_unsigned_notification_changes_nothing(world, engine, caplog, strip, reason):
    event = copy.deepcopy(genuine())  # the fixtures' "EXAMPLE..." signature, never checked before
    for rec in event["Records"]:
        for key in strip:
            rec["Sns"].pop(key, None)
        if not strip:
            rec["Sns"]["SignatureVersion"] = "3"
    report = invoke(event)
    assert state(engine) == UNCHANGED
    assert_dropped(caplog, report, reason)
    assert world.fetched == []


def test_a_notification_from_another_topic_changes_nothing(world, engine, caplog):
    """Correctly signed by SNS, but from a topic someone else owns (it could subscribe our function)."""
    event = genuine()
    for rec in event["Records"]:
        rec["Sns"]["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:not-ours"
    report = invoke(sign_event(event, world))
    assert state(engine) == UNCHANGED
    assert_dropped(caplog, report, "not from the configured SNS topic")


@pytest.mark.parametrize("url", [
    "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-0123.pem",
    "https://evil.example/sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.eu-west-1.amazonaws.com@evil.example/SimpleNotificationService-0123.pem",
    "https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-0123.pem",
    "https://s3.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.eu-west-1.amazonaws.com/redirect?to=https://evil.example/c.pem",
])
def test_a_certificate_from_anywhere_but_an_sns_host_over_https_is_never_fetched(world, engine, caplog, url):
    event = sign_event(genuine(), world)
    for rec in event["Records"]:
        rec["Sns"]["SigningCertUrl"] = url
    report = invoke(event)
    assert state(engine) == UNCHANGED
    assert_dropped(caplog, report, "SigningCertURL")
    assert world.fetched == []


@pytest.mark.parametrize("change", ["unknown-id", "someone-elses-id"])
def test_a_signed_notification_about_mail_we_never_sent_changes_nothing(world, engine, caplog, change):
    bounce, complaint = ses("event-bounce-permanent"), ses("event-complaint")
    if change == "unknown-id":
        bounce["mail"]["messageId"] = complaint["mail"]["messageId"] = "0102018c2a5b0000-forged-000000"
    else:  # real ids of our mails, each pinned on the other person
        bounce["mail"]["messageId"], complaint["mail"]["messageId"] = (complaint["mail"]["messageId"],
                                                                       bounce["mail"]["messageId"])
    report = invoke(sign_event(lambda_event(bounce, complaint), world))
    assert state(engine) == UNCHANGED
    assert_dropped(caplog, report, "did not send", n=2)


def test_with_no_topic_configured_nothing_is_believed(world, engine, caplog, monkeypatch):
    lambdas.state.cache_clear()
    monkeypatch.delenv("DIGEST_SNS_TOPIC_ARN")
    st = lambdas.state()
    st.settings = st.settings.with_(sns_cert_fetcher=world.fetch)
    report = invoke(sign_event(genuine(), world))
    assert state(engine) == UNCHANGED
    assert_dropped(caplog, report, "DIGEST_SNS_TOPIC_ARN")


def test_digest_feedback_drops_notifications_about_mail_we_never_sent(db_url, engine, tmp_path, add_subscriber):
    """An operator's saved file is not signature-checked (it may hold bare SES notifications), but it too
    changes only people this service mailed under that SES id."""
    for address in PEOPLE:
        add_subscriber(address)
    record_sent(engine, "gone@example.com", ses("event-bounce-permanent")["mail"]["messageId"])
    forged = ses("event-complaint")  # angry@ was never sent this mail; gone@ was, but the bounce names angry@
    pinned = json.loads(json.dumps(ses("event-bounce-permanent")).replace("gone@example.com", "angry@example.com"))
    path = tmp_path / "feedback.jsonl"
    path.write_text("\n".join(json.dumps(sns_body(m)) for m in (forged, pinned)) + "\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "feedback", str(path))
    assert result.exit_code == 0
    assert result.stdout.endswith("ignored 0, unknown 0, not sent by this service 2\n")
    assert state(engine) == UNCHANGED


def test_a_bounce_of_a_confirmation_mail_we_sent_applies_and_one_we_did_not_send_does_not(
        db_url, engine, tmp_path):
    """Confirmation mails are recorded (sent_notices) by the carrier's id, as digests are in the ledger."""
    for address in ("new@example.com", "other@example.com"):
        assert digest(db_url, tmp_path, "subscribers", "add", address, "--timezone", "UTC").exit_code == 0
    from digest.models import SentNotice

    with Session(engine) as s:
        sent = dict(s.execute(select(Subscriber.email_key, SentNotice.transport_id)
                              .join(SentNotice, SentNotice.subscriber_id == Subscriber.id)).all())
    assert sent.keys() == {"new@example.com", "other@example.com"} and all(sent.values())
    bounce = json.loads(json.dumps(ses("event-bounce-permanent")).replace("gone@example.com", "new@example.com"))
    bounce["mail"]["messageId"] = sent["new@example.com"]
    pinned = json.loads(json.dumps(bounce).replace("new@example.com", "other@example.com"))
    path = tmp_path / "feedback.jsonl"
    path.write_text("\n".join(json.dumps(m) for m in (bounce, pinned)) + "\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "feedback", str(path))
    assert result.stdout.endswith("suppressed 1 (unsubscribed by complaint 0), transient bounces counted 0, "
                                  "ignored 0, unknown 0, not sent by this service 1\n")
    with Session(engine) as s:
        assert dict(s.execute(select(Subscriber.email_key, Subscriber.status)).all()) == {
            "new@example.com": "suppressed", "other@example.com": "pending"}
