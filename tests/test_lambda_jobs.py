"""The scheduled, queue, S3 and SNS Lambda entry points (`digest.lambdas`) with realistic events and moto for AWS:
plan → queue → worker, S3 import, test send, settings from Parameter Store. Assertions are on the outbox, the ledger and the S3 report."""

from __future__ import annotations

import json

import boto3
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import lambdas
from digest.models import Delivery, Listing
from digest.subscribers import import_subscribers

from .conftest import NOW, listing, read_outbox
from .support.aws import believe_sns
from .support.lambda_events import FakeContext, s3_event, scheduled_event, sqs_event
from .support.sns import record_sent, sign_event

def seed(engine, taxonomy, settings, tmp_path, add_listings, n: int) -> None:
    add_listings(listing("a"), listing("b", stack=["go"]))
    csv = tmp_path / "people.csv"
    csv.write_text("email,stack,confirmed\n" + "".join(f"p{i}@example.com,{'go' if i % 2 else 'python'},true\n"
                                                      for i in range(n)))
    from datetime import timedelta

    with Session(engine) as s:
        import_subscribers(s, str(csv), taxonomy, settings, NOW - timedelta(days=30))


def drain(sqs, queue_url) -> list[str]:
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        bodies += [m["Body"] for m in got]


def test_plan_queue_worker_with_a_duplicated_and_a_broken_message(aws, monkeypatch, engine, taxonomy, settings,
                                                                   tmp_path, add_listings):
    sqs, queue_url = aws
    seed(engine, taxonomy, settings, tmp_path, add_listings, 230)
    monkeypatch.setenv("DIGEST_INLINE_BELOW", "0")
    monkeypatch.setenv("DIGEST_SHARD_SIZE", "50")
    planned = lambdas.schedule(scheduled_event("2026-11-23T09:00:00Z"), FakeContext())
    assert planned["inline"] is False and (planned["subscribers"], planned["shards"]) == (230, 5)
    bodies = drain(sqs, queue_url)
    assert len(bodies) == 5 and {json.loads(b)["now"] for b in bodies} == {"2026-11-23T09:00:00+00:00"}

    delivered = bodies + [bodies[0], "{not json"]  # SQS may deliver twice; a poisoned message must not block
    event = sqs_event(delivered)
    answer = lambdas.worker(event, FakeContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][-1]["messageId"]}]}

    msgs = read_outbox(tmp_path / "outbox")
    assert len(msgs) == 230  # everyone, once: the duplicate shard found its rows already claimed
    with Session(engine) as s:
        assert [d.status for d in s.scalars(select(Delivery))] == ["sent"] * 230


def test_small_lists_are_sent_inline_by_the_planner(aws, engine, taxonomy, settings, tmp_path, add_listings):
    sqs, queue_url = aws
    seed(engine, taxonomy, settings, tmp_path, add_listings, 12)
    result = lambdas.schedule(scheduled_event("2026-11-23T09:00:00Z"), FakeContext())
    assert result["inline"] is True and result["sent"] == 12 and result["failed"] == 0
    assert drain(sqs, queue_url) == []
    assert len(read_outbox(tmp_path / "outbox")) == 12


@pytest.mark.parametrize("name, value, says", [
    ("DIGEST_SHARD_SIZE", "lots", "DIGEST_SHARD_SIZE must be a whole number, not 'lots'"),
    ("DIGEST_SHARD_SIZE", "0", "DIGEST_SHARD_SIZE must be at least 1, not 0"),
    ("DIGEST_INLINE_BELOW", "1e3", "DIGEST_INLINE_BELOW must be a whole number, not '1e3'"),
    ("DIGEST_QUEUE_URL", "", "DIGEST_QUEUE_URL must be the URL of the shard queue"),
])
def test_a_bad_fan_out_setting_stops_the_planner_with_a_config_error_before_anyone_is_sent(
        aws, monkeypatch, engine, taxonomy, settings, tmp_path, add_listings, name, value, says):
    from digest.errors import ConfigError

    sqs, queue_url = aws
    seed(engine, taxonomy, settings, tmp_path, add_listings, 3)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        lambdas.schedule(scheduled_event("2026-11-23T09:00:00Z"), FakeContext())
    assert str(refused.value).startswith(says)
    assert drain(sqs, queue_url) == [] and read_outbox(tmp_path / "outbox") == {}


def test_listings_dropped_in_s3_are_imported_with_a_report_beside_them(aws, engine):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="jobdigest-listings")
    lines = [json.dumps(listing("s3-1", title="Senior Go Engineer")), "{broken", json.dumps(listing("s3-2", url="ftp://x")),
             json.dumps(listing("s3-3", title="Go Engineer", salary="UTC-1 to UTC+3", level="Ninja"))]
    s3.put_object(Bucket="jobdigest-listings", Key="incoming/board week 48.jsonl", Body="\n".join(lines).encode())
    result = lambdas.import_listings(s3_event("jobdigest-listings", "incoming/board+week+48.jsonl"), FakeContext())
    report = json.loads(s3.get_object(Bucket="jobdigest-listings",
                                      Key="incoming/board week 48.jsonl.report.json")["Body"].read())
    assert result["reports"] == [report]
    assert (report["imported"], report["inserted"]) == (2, 2)
    assert [(r["line"], r["reason"].split(":")[0]) for r in report["rejected"]] == [(2, "malformed JSON"), (3, "url")]
    # Bad optional fields are warnings in the report too; the listing is kept without them.
    assert [(w["line"], w["id"], w["reason"][:20]) for w in report["warnings"]] == [
        (4, "s3-3", "salary 'UTC-1 to UTC"), (4, "s3-3", "unknown level 'Ninja")]
    with Session(engine) as s:
        assert sorted(item.board_id for item in s.scalars(select(Listing))) == ["s3-1", "s3-3"]
    # The report landing in the bucket fires the trigger again: it is not imported.
    again = lambdas.import_listings(s3_event("jobdigest-listings", "incoming/board+week+48.jsonl.report.json"),
                                    FakeContext())
    assert again == {"reports": []}


def test_an_unreadable_file_gets_a_report_and_is_not_retried(aws):
    """The same file would fail every retry: the report and the ListingFilesRefused metric say so instead."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="jobdigest-listings")
    s3.put_object(Bucket="jobdigest-listings", Key="incoming/export.xlsx", Body=b"PK\x03\x04")
    result = lambdas.import_listings(s3_event("jobdigest-listings", "incoming/export.xlsx"), FakeContext())
    report = json.loads(s3.get_object(Bucket="jobdigest-listings", Key="incoming/export.xlsx.report.json")["Body"].read())
    assert result == {"reports": [report]}
    assert "unknown file type" in report["error"]
    assert report["error"].startswith("incoming/export.xlsx: ")  # the key the operator knows, not a temp path


def test_an_empty_file_or_another_boards_csv_is_one_line_in_the_report(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="jobdigest-listings")
    for key, body, message in [("incoming/empty.jsonl", b"", "the file is empty"),
                               ("incoming/other.csv", b"job_title;employer\nEngineer;Acme\n", "names none of the fields")]:
        s3.put_object(Bucket="jobdigest-listings", Key=key, Body=body)
        result = lambdas.import_listings(s3_event("jobdigest-listings", key), FakeContext())
        report = json.loads(s3.get_object(Bucket="jobdigest-listings", Key=f"{key}.report.json")["Body"].read())
        assert result == {"reports": [report]}
        assert report["error"].startswith(f"{key}: ") and message in report["error"]
        assert (report["imported"], report["rejected"], report["warnings"]) == (0, [], [])


def test_test_send_invocation_shares_the_cli_function(aws, tmp_path, add_listings, add_subscriber):
    add_listings(listing("a"))
    add_subscriber("ana@example.com")
    out = lambdas.test_send({"subscriber": "ANA@example.com", "to": "ops@example.org", "now": "2026-11-23T09:00:00Z"},
                            FakeContext())
    assert out["to"] == "ops@example.org" and out["listings"] == 1
    [(key, msg)] = read_outbox(tmp_path / "outbox").items()
    assert key.startswith("test/") and msg["Subject"].startswith("[TEST] ")
    # Its links change nothing (tests/test_preview.py follows every one of them).
    assert msg["List-Unsubscribe"] == "<http://127.0.0.1:8000/test-copy/unsubscribe>"
    assert "/preferences/" not in msg.get_body(("plain",)).get_content()


def test_test_send_for_an_unknown_address_answers_without_raising(aws, tmp_path, caplog):
    """Raising would have the Lambda runtime log the error, address and all; the operator gets it as the answer."""
    caplog.set_level("DEBUG")
    out = lambdas.test_send({"subscriber": "nobody@example.com", "to": "ops@example.org"}, FakeContext())
    assert out == {"error": "no subscriber with address nobody@example.com"}
    assert "nobody@example.com" not in caplog.text
    assert not (tmp_path / "outbox").exists()


def test_settings_never_show_the_database_password_or_the_keys():
    from digest.settings import Settings

    shown = repr(Settings(database_url="postgresql+psycopg://digest:pa55word@db.internal/digest",
                          secret_keys=("k-2026-11-very-secret",)))
    assert "pa55word" not in shown and "k-2026-11-very-secret" not in shown and "Settings(" in shown


def test_settings_come_from_parameter_store(aws, monkeypatch, db_url):
    ssm = boto3.client("ssm")
    for name, value in (("database-url", db_url), ("secret-keys", "k-2026-11-0123456789abcdef0123456789,k-2026-05-0123456789abcdef0123456789"),
                        ("from", "Backend Jobs Weekly <digest@jobs.example.com>"),
                        ("base-url", "https://subscribe.jobs.example.com")):
        ssm.put_parameter(Name=f"/jobdigest/ci/{name}", Value=value, Type="SecureString")
    monkeypatch.setenv("DIGEST_SSM_PREFIX", "/jobdigest/ci")
    monkeypatch.setenv("DIGEST_DATABASE_URL", "sqlite:///must-be-overridden.db")
    settings = lambdas.lambda_settings()
    assert settings.database_url == db_url
    assert settings.secret_keys == ("k-2026-11-0123456789abcdef0123456789", "k-2026-05-0123456789abcdef0123456789")
    assert settings.base_url == "https://subscribe.jobs.example.com"
    assert settings.from_domain == "jobs.example.com"


def test_ses_bounce_through_sns_suppresses_and_the_next_run_skips_them(aws, monkeypatch, engine, tmp_path,
                                                                        add_listings, add_subscriber):
    from pathlib import Path

    from digest.models import Subscriber

    add_listings(listing("a"))
    gone = add_subscriber("gone@example.com")
    stays = add_subscriber("stays@example.com")
    event = json.loads((Path(__file__).parent / "fixtures/ses/lambda-sns-event.json").read_text())
    record_sent(engine, "gone@example.com", json.loads(event["Records"][0]["Sns"]["Message"])["mail"]["messageId"])
    believe_sns(monkeypatch)
    report = lambdas.ses_events(sign_event(event), FakeContext())
    assert report["suppressed"] == 1 and report["ignored"] == 1  # the bounce; the delivery is ignored
    with Session(engine) as s:
        assert s.get(Subscriber, gone).status == "suppressed"
    summary = lambdas.schedule(scheduled_event("2026-11-23T09:00:00Z"), FakeContext())
    assert (summary["sent"], summary["suppressed"]) == (1, 1)
    assert set(read_outbox(tmp_path / "outbox")) == {f"2026-W48/{stays}"}


@pytest.mark.parametrize("url", ["https://mail.example.org/=?utf-8?q?=0D=0ABcc:_x@y.example?=", "https://a b.example",
                                 "https://exämple.org", "https://mail.example.org/\u202e", 'https://x.example/"'])
def test_a_base_url_that_cannot_go_into_a_header_as_it_is_is_refused_at_start(url):
    from digest.errors import ConfigError
    from digest.settings import Settings

    with pytest.raises(ConfigError, match="DIGEST_BASE_URL must be a plain ASCII URL"):
        Settings.from_env({"DIGEST_BASE_URL": url})
    assert Settings.from_env({"DIGEST_BASE_URL": "https://subscribe.jobs.example.com/"}).base_url.endswith(".com")


def test_a_sign_up_on_lambda_is_queued_and_mailed_by_the_page_mail_function(aws, monkeypatch, engine):
    """The web function answers and queues the request's id; pageMail sends the confirmation, once."""
    import base64
    import importlib
    import sys

    sqs, _shards = aws
    page_mail_queue = sqs.create_queue(QueueName="jobdigest-page-mail")["QueueUrl"]
    monkeypatch.setenv("DIGEST_PAGE_MAIL_QUEUE_URL", page_mail_queue)
    name = "subscribers.lambda_handler"
    web = (importlib.reload(sys.modules[name]) if name in sys.modules else importlib.import_module(name)).handler
    body = b"email=lambda%40example.com&stack=go&timezone=UTC"
    event = {"version": "2.0", "routeKey": "$default", "rawPath": "/subscribe", "rawQueryString": "",
             "headers": {"host": "example.execute-api.eu-west-1.amazonaws.com", "content-length": str(len(body)),
                         "content-type": "application/x-www-form-urlencoded"},
             "requestContext": {"http": {"method": "POST", "path": "/subscribe", "protocol": "HTTP/1.1",
                                         "sourceIp": "203.0.113.9"}, "stage": "$default"},
             "isBase64Encoded": True, "body": base64.b64encode(body).decode()}
    assert web(event, FakeContext())["statusCode"] == 200
    assert read_outbox(lambdas.state().settings.outbox_dir) == {}  # nothing sent inside the request
    bodies = drain(sqs, page_mail_queue)
    assert [json.loads(b) for b in bodies] == [{"mail_request": 1}]
    assert lambdas.page_mail(sqs_event(bodies), FakeContext()) == {"batchItemFailures": []}
    sent = read_outbox(lambdas.state().settings.outbox_dir)
    assert [str(m["To"]) for m in sent.values()] == ["lambda@example.com"]
    assert lambdas.page_mail(sqs_event(bodies), FakeContext()) == {"batchItemFailures": []}  # a duplicate: gone
    assert len(read_outbox(lambdas.state().settings.outbox_dir)) == 1
