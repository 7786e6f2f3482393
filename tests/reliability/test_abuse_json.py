"""Huge and non-finite JSON numbers on every path that reads JSON from outside: listing files (JSON Lines, JSON
array, one object), subscriber files, `digest feedback PATH`, and the SNS, S3 and SQS Lambda functions.

An integer literal of over 4,300 digits makes Python's json raise ValueError (not JSONDecodeError): before the
one reader (digest/jsontext.py) the feedback parser crashed on it with a traceback. Each path now answers with a
clean line naming the record, and keeps its contract for the records around it: an importer lands every good
record before and after (in batches of 500) and rejects only the bad one; feedback skips the bad notification
and applies the rest; a Lambda function returns (or reports one failed queue message) instead of raising.
"""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest import lambdas
from digest.jsontext import BadJSON, loads
from digest.models import Listing, Subscriber

from ..conftest import listing
from ..support.lambda_events import FakeContext, sqs_event
from ..support.sns import TOPIC, record_sent, sign_event, signer
from ..support.cli import digest
from ..support.sns import lambda_event, ses, sns_body
from ..support.lambda_events import s3_event

HUGE = "9" * 5000  # over CPython's 4,300-digit limit for int()
assert len(HUGE) > 4300


def raw(record: dict, **numbers: str) -> str:
    """One JSON object with fields whose values are written as raw number literals (HUGE, 1e999, NaN)."""
    text = json.dumps(record | {k: f"@{k}@" for k in numbers})
    for k, literal in numbers.items():
        text = text.replace(f'"@{k}@"', literal)
    return text


@pytest.mark.parametrize("value", [HUGE, "-" + HUGE, f"[{HUGE}]", "[" * 100_000 + "]" * 100_000, '{"a": 1',
                                   b"\xff\xfe{}", "1e999", "NaN", "-Infinity"])
def test_the_reader_raises_only_badjson(value):
    try:
        result = loads(value)
    except BadJSON as e:
        assert str(e) and len(str(e)) < 200
    else:  # what it reads is safe to use: a huge integer stays text, a non-finite float stays a float
        assert result == HUGE or result == "-" + HUGE or result == [HUGE] or isinstance(result, float)


# -- listings: JSON Lines, a JSON array, one object ------------------------------------------------------------

GOOD_BEFORE = 600  # more than one batch of 500 lands before the bad record


def listing_lines() -> list[str]:
    lines = [json.dumps(listing(f"before-{i}")) for i in range(GOOD_BEFORE)]
    lines += [
        raw(listing("x"), id=HUGE),  # a required field that cannot be used: the record is rejected
        raw(listing("huge-salary"), salary_min=HUGE, salary_max=HUGE),  # optional: kept without a salary
        raw(listing("inf-salary"), salary_min="1e999", salary_max="NaN"),
        raw(listing("minus-inf"), salary_min="-Infinity"),
        json.dumps(listing("after")),
    ]
    return lines


@pytest.mark.parametrize("form", ["jsonl", "json"])
def test_listing_import_rejects_only_the_huge_id_and_keeps_every_good_record(form, db_url, engine, tmp_path):
    lines = listing_lines()
    if form == "jsonl":
        path, first = tmp_path / "listings.jsonl", 1
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        path, first = tmp_path / "listings.json", 2  # "[" is line 1
        path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    bad = first + GOOD_BEFORE
    assert result.exit_code == 1
    assert result.stdout.startswith(f"imported {GOOD_BEFORE + 4} listings")
    stderr = result.stderr.splitlines()
    [rejected] = [line for line in stderr if "warning" not in line]
    assert rejected.startswith(f"{path}: line {bad} (") and "id: String should have at most 100 characters" in rejected
    assert len(rejected) < 400
    assert [line.split(": ")[1] for line in stderr if "warning" in line] == [
        f"line {bad + 1} (huge-salary)", f"line {bad + 2} (inf-salary)", f"line {bad + 3} (minus-inf)"]
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Listing)) == GOOD_BEFORE + 4
        kept = {item.board_id: (item.salary_min, item.salary_max) for item in s.scalars(select(Listing).where(
            Listing.board_id.in_(["huge-salary", "inf-salary", "minus-inf", "after", "before-0"])))}
    assert kept == {k: (None, None) for k in ("huge-salary", "inf-salary", "minus-inf", "after", "before-0")}


def test_one_pretty_printed_listing_with_a_huge_salary_is_kept_without_it(db_url, engine, tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps(listing("solo", salary_min="@"), indent=2).replace('"@"', HUGE), encoding="utf-8")
    result = digest(db_url, tmp_path, "listings", "import", str(path))
    assert result.exit_code == 0 and result.stdout.startswith("imported 1 listings")
    assert result.stderr.startswith(f"{path}: line 1 (solo): warning: salary_min inf is not a salary figure")


# -- subscribers -----------------------------------------------------------------------------------------------

def test_subscriber_import_rejects_each_huge_number_by_line_and_keeps_the_others(db_url, engine, tmp_path):
    base = {"confirmed": True, "timezone": "UTC"}
    lines = [json.dumps(base | {"email": f"before{i}@example.com"}) for i in range(3)] + [
        raw(base | {"email": "floor@example.com"}, min_salary=HUGE),
        raw(base | {"email": "hour@example.com"}, send_hour="1e999"),
        raw(base | {"email": "nan@example.com"}, send_hour="NaN"),
        json.dumps(base | {"email": "after@example.com"}),
    ]
    path = tmp_path / "people.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "subscribers", "import", str(path))
    assert result.exit_code == 1
    assert result.stdout.startswith("imported 4 subscribers")
    assert [line.split(": ")[1] for line in result.stderr.splitlines()] == [
        "line 4 (floor@example.com)", "line 5 (hour@example.com)", "line 6 (nan@example.com)"]
    with Session(engine) as s:
        assert sorted(s.scalars(select(Subscriber.email_key))) == [
            "after@example.com", "before0@example.com", "before1@example.com", "before2@example.com"]


# -- feedback: `digest feedback PATH` and the SNS function ---------------------------------------------------

def hostile_notifications() -> list[str]:
    """Notifications with huge numbers where SES writes strings, a Message that is a huge number, bare numbers."""
    bounce = ses("notification-bounce-permanent")
    huge_type = json.dumps(bounce).replace('"Permanent"', HUGE)
    huge_recipient = json.dumps(ses("event-complaint")).replace('"angry@example.com"', HUGE)
    return [
        json.dumps(sns_body(huge_type)),  # the SNS Message holds the huge number: this crashed the parser
        huge_recipient,
        json.dumps(sns_body(HUGE)),
        json.dumps(sns_body("[1e999, NaN, -Infinity]")),
        HUGE,
    ]


def test_digest_feedback_skips_each_hostile_line_by_number_and_applies_the_rest(
        db_url, engine, tmp_path, add_subscriber):
    for address in ("gone@example.com", "angry@example.com", "happy@example.com"):
        add_subscriber(address)
    record_sent(engine, "gone@example.com", ses("notification-bounce-permanent")["mail"]["messageId"])
    record_sent(engine, "angry@example.com", ses("notification-complaint")["mail"]["messageId"])
    lines = ([json.dumps(sns_body(ses("notification-bounce-permanent")))] + hostile_notifications()
             + [json.dumps(ses("notification-complaint"))])
    path = tmp_path / "feedback.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = digest(db_url, tmp_path, "feedback", str(path))
    assert result.exit_code == 0
    assert result.stdout == (f"{path}: 7 notifications: suppressed 2 (unsubscribed by complaint 1), transient "
                             "bounces counted 0, ignored 0, unknown 5, not sent by this service 0\n")
    assert result.stderr.splitlines() == [
        f"{path}: line 2: skipped: Bounce of unknown bounceType (unreadable)",
        f"{path}: line 3: skipped: Complaint without readable complainedRecipients",
        f"{path}: line 4: skipped: the SES notification is not a JSON object",
        f"{path}: line 5: skipped: the SES notification is not a JSON object",
        f"{path}: line 6: skipped: expected a JSON object, got str",
    ]
    with Session(engine) as s:
        status = dict(s.execute(select(Subscriber.email_key, Subscriber.status)).all())
    assert status == {"gone@example.com": "suppressed", "angry@example.com": "suppressed",
                      "happy@example.com": "active"}


def test_the_sns_function_drops_hostile_records_without_raising_and_applies_the_rest(
        aws, monkeypatch, engine, add_subscriber, caplog):  # noqa: F811
    add_subscriber("gone@example.com")
    add_subscriber("angry@example.com")
    record_sent(engine, "gone@example.com", ses("event-bounce-permanent")["mail"]["messageId"])
    record_sent(engine, "angry@example.com", ses("event-complaint")["mail"]["messageId"])
    monkeypatch.setenv("DIGEST_SNS_TOPIC_ARN", TOPIC)
    st = lambdas.state()
    st.settings = st.settings.with_(sns_cert_fetcher=signer().fetch)
    hostile = [json.loads(line)["Message"] for line in hostile_notifications()[:1] + hostile_notifications()[2:4]]
    event = sign_event(lambda_event(ses("event-bounce-permanent"), *hostile, ses("event-complaint")))
    caplog.set_level(logging.INFO)
    report = lambdas.ses_events(event, FakeContext())
    assert (report["notifications"], report["suppressed"], report["unknown"], report["refused"]) == (5, 2, 3, 0)
    with Session(engine) as s:
        assert set(s.scalars(select(Subscriber.status))) == {"suppressed"}
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "@" in r.getMessage()]


# -- the S3 import and the SQS worker --------------------------------------------------------------------------

def test_the_s3_import_reports_the_huge_record_and_keeps_the_rest_without_raising(aws, engine):  # noqa: F811
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="jobdigest-listings")
    body = "\n".join([json.dumps(listing("s3-before")), raw(listing("s3-x"), id=HUGE), json.dumps(listing("s3-after"))])
    s3.put_object(Bucket="jobdigest-listings", Key="incoming/huge.jsonl", Body=body.encode())
    result = lambdas.import_listings(s3_event("jobdigest-listings", "incoming/huge.jsonl"), FakeContext())
    [report] = result["reports"]
    assert (report["imported"], [r["line"] for r in report["rejected"]]) == (2, [2])
    assert len(report["rejected"][0]["id"]) <= 100 and "id:" in report["rejected"][0]["reason"]
    with Session(engine) as s:
        assert sorted(s.scalars(select(Listing.board_id))) == ["s3-after", "s3-before"]


def test_a_shard_message_with_a_huge_number_is_reported_failed_alone(aws):  # noqa: F811
    """Shard messages are the planner's own: one that cannot be read is a bug, kept in the dead-letter queue
    (its alarm fires) after its retries; it never takes the other messages of the batch with it."""
    good = json.dumps({"run_id": "r1", "now": "2026-11-23T09:00:00+00:00", "lo": 0, "hi": 0})
    event = sqs_event([good, raw({"run_id": "r1", "now": "2026-11-23T09:00:00+00:00", "hi": 1}, lo=HUGE)])
    answer = lambdas.worker(event, FakeContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
