"""The reputation guard with generated feedback, on SQLite and PostgreSQL: every applied bounce and complaint is
kept (once, without the address), a run over the guard sends nothing and says why (exit 4, the runs table),
complaints that arrive while a run sends stop it between pages, `--ignore-guard` sends and is audited, and the
Lambda schedule reports it with the metric its alarm watches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import guard, run as run_module, subscribers as subs
from digest.feedback import apply_events, parse_item
from digest.models import AuditEntry, Delivery, MailFeedback, Run, Subscriber
from digest.run import run
from digest.settings import DEV_SECRET_KEY
from digest.carriers.null import RecordingTransport

from .conftest import JOINED, NOW, listing, read_outbox
from .support.sns import notification, write
from .support.sns import record_sent
from .support.cli import digest

WEEK_ONE = NOW - timedelta(days=7) + timedelta(hours=1)  # last Monday's run, inside this run's 7-day window
GUARD_LINE = ('stopped: bounce rate 6.67 % over the last 7 days (2 of 30 sent) is above the guard 4 %; see README '
              '"The reputation guard"; --ignore-guard to send anyway')


def bounce(address: str, mail_id: str) -> dict:
    return notification("notification-bounce-permanent.json", address, mail_id)


def complaint(address: str, mail_id: str) -> dict:
    return notification("notification-complaint.json", address, mail_id)


def sent_ids(engine) -> dict[str, str]:
    """Address -> the carrier's id of the digest the ledger says went to it."""
    with Session(engine) as s:
        return dict(s.execute(select(Subscriber.email_key, Delivery.transport_id)
                              .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                              .where(Delivery.status == "sent")).all())


def feedback_rows(engine) -> list[tuple]:
    with Session(engine) as s:
        return [(f.kind, f.subscriber_id, f.email_hash, f.message_id)
                for f in s.scalars(select(MailFeedback).order_by(MailFeedback.id))]


# -- what is kept -------------------------------------------------------------------------------------------------

def test_each_applied_bounce_and_complaint_is_kept_once_under_a_keyed_hash(settings, engine, add_subscriber):
    ids = {a: add_subscriber(a) for a in ("gone@example.com", "full@example.com", "angry@example.com",
                                          "happy@example.com")}
    for n, address in enumerate(ids):
        record_sent(engine, address, f"ses-{n}")
    not_spam = complaint("happy@example.com", "ses-3")
    not_spam["complaint"]["complaintFeedbackType"] = "not-spam"
    events = [bounce("gone@example.com", "ses-0"),
              notification("notification-bounce-transient.json", "full@example.com", "ses-1"),
              complaint("angry@example.com", "ses-2"),
              complaint("angry@example.com", "ses-2"),  # SNS delivered it twice
              not_spam,  # the opposite of a complaint
              complaint("happy@example.com", "ses-999")]  # no mail of ours: dropped, not counted
    with Session(engine) as s, s.begin():
        apply_events(s, [item for e in events for item in parse_item(e, "line")], NOW, key=DEV_SECRET_KEY)
    ref = lambda a: guard.email_ref(DEV_SECRET_KEY, a)  # noqa: E731
    assert feedback_rows(engine) == [
        ("bounce-permanent", ids["gone@example.com"], ref("gone@example.com"), "ses-0"),
        ("bounce-transient", ids["full@example.com"], ref("full@example.com"), "ses-1"),
        ("complaint", ids["angry@example.com"], ref("angry@example.com"), "ses-2"),
    ]
    assert all("@" not in value for row in feedback_rows(engine) for value in map(str, row))
    # Removing the person leaves a time and a kind, tied to nobody: the rates do not forget them.
    with Session(engine) as s, s.begin():
        subs.remove(s, s.get(Subscriber, ids["angry@example.com"]))
    assert feedback_rows(engine)[2] == ("complaint", None, None, "ses-2")
    with Session(engine) as s:
        seen = guard.rates(s, settings, NOW)
    assert (seen.sent, seen.bounces, seen.complaints) == (3, 1, 1)  # transient bounces are not counted


@pytest.mark.parametrize("sent, bounces, complaints, line", [
    (999, 200, 5, None),  # below DIGEST_GUARD_MIN_SENT nothing trips: one event is 0.1 % there
    (1000, 40, 0, None),  # 4 % is the guard, not above it
    (1000, 41, 0, "stopped: bounce rate 4.1 % over the last 7 days (41 of 1,000 sent) is above the guard 4 %"),
    (1000, 0, 1, "stopped: complaint rate 0.1 % over the last 7 days (1 of 1,000 sent) is above the guard 0.08 %"),
    (2500, 2, 2, None),
    (20000, 1200, 20, "stopped: bounce rate 6 % over the last 7 days (1200 of 20,000 sent) is above the guard 4 % "
                      "and complaint rate 0.1 % over the last 7 days (20 of 20,000 sent) is above the guard 0.08 %"),
])
def test_the_guard_trips_above_either_rate_once_the_window_holds_enough_sends(sent, bounces, complaints, line):
    rates = guard.Rates(sent, bounces, complaints, bounce_guard=0.04, complaint_guard=0.0008, min_sent=1000)
    said = rates.over()
    assert (said and said.split(";")[0]) == line
    if line:
        assert said.endswith('; see README "The reputation guard"; --ignore-guard to send anyway')


# -- a run over the guard -------------------------------------------------------------------------------------

def test_a_run_over_the_guard_sends_nothing_says_why_and_ignore_guard_sends(db_url, tmp_path, engine, add_listings,
                                                                            add_subscriber, monkeypatch):
    add_listings(listing("last-week", verified_at="2026-11-15T10:00:00Z", posted_at="2026-11-15T08:00:00Z"),
                 listing("this-week"))
    people = [f"dev{n:02d}@example.com" for n in range(30)]
    for address in people:
        add_subscriber(address, joined=JOINED)
    first = digest(db_url, tmp_path, "run", "--now", WEEK_ONE.isoformat(), now=WEEK_ONE)
    assert first.exit_code == 0, first.stderr
    ids = sent_ids(engine)
    assert len(ids) == 30
    # Generated feedback, as an operator applies a saved file: 2 hard bounces of 30 sent (6.7 %).
    saved = write(tmp_path / "bounces.jsonl", [bounce(a, ids[a]) for a in people[:2]])
    applied = digest(db_url, tmp_path, "feedback", saved, now=NOW - timedelta(days=1))
    assert applied.exit_code == 0 and "suppressed 2" in applied.stdout
    monkeypatch.setenv("DIGEST_GUARD_MIN_SENT", "20")  # a small board's week: armed from 20 sends

    stopped = digest(db_url, tmp_path, "run", "--now", NOW.isoformat())
    assert stopped.exit_code == 4
    assert f"{GUARD_LINE}; everyone not yet sent stays due" in stopped.stderr.splitlines()
    assert "due 0, sent 0" in stopped.stdout
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "### The reputation guard" in readme and GUARD_LINE in readme  # the README shows this very line
    assert not [k for k in read_outbox(tmp_path / "outbox") if k.startswith("2026-W48/")]
    with Session(engine) as s:
        row = s.scalar(select(Run).where(Run.now == NOW))
        assert (row.status, row.summary["guard"], row.summary["sent"]) == ("guarded", GUARD_LINE, 0)
        assert s.scalar(select(Delivery).where(Delivery.period == "2026-W48")) is None  # still due

    sent = digest(db_url, tmp_path, "run", "--now", NOW.isoformat(), "--ignore-guard")
    assert sent.exit_code == 0, sent.stderr
    assert "due 28, sent 28" in sent.stdout  # everyone but the two suppressed by their bounce
    assert len([k for k in read_outbox(tmp_path / "outbox") if k.startswith("2026-W48/")]) == 28
    with Session(engine) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.command == "run --ignore-guard"))
        assert entry.target_kind == "run"
        row = s.get(Run, entry.target)
        assert [r.status for r in s.scalars(select(Run).order_by(Run.started_at))] == ["finished", "guarded",
                                                                                       "finished"]
    assert (row.status, row.summary["sent"]) == ("finished", 28)
    assert entry.detail | {"bounce_rate": round(entry.detail["bounce_rate"], 4)} == {
        "over": True, "sent": 30, "bounces": 2, "complaints": 0, "bounce_rate": 0.0667, "complaint_rate": 0.0,
        "armed": True}
    audit = digest(db_url, tmp_path, "audit")
    assert f"run --ignore-guard  run {row.id}" in audit.stdout


class ComplainingTransport(RecordingTransport):
    """Sends, and after its fifth message a complaint about its first arrives (as SNS would, concurrently)."""

    def __init__(self, engine):
        super().__init__()
        self.engine = engine

    def send(self, key, to, raw, tags=None):
        sent_id = super().send(key, to, raw, tags)
        if len(self.sent) == 5:
            first_key, first_to, _raw = self.sent[0]
            with Session(self.engine) as s, s.begin():
                apply_events(s, parse_item(complaint(first_to, first_key), "sns"), NOW, key=DEV_SECRET_KEY)
        return sent_id


def test_complaints_that_arrive_while_a_run_sends_stop_it_between_pages(settings, engine, add_listings,
                                                                        add_subscriber, monkeypatch):
    monkeypatch.setattr(run_module, "PAGE", 10)
    add_listings(listing("py-1"))
    for n in range(35):
        add_subscriber(f"dev{n:02d}@example.com")
    settings = settings.with_(guard_min_sent=5)
    transport = ComplainingTransport(engine)
    run_id, summary = run(settings, NOW, engine=engine, transport=transport, clock=lambda: NOW)
    # The page in flight finishes; the next one is never read.
    assert (summary.sent, len(transport.sent)) == (10, 10)
    assert summary.guard == ('stopped: complaint rate 10 % over the last 7 days (1 of 10 sent) is above the guard '
                             '0.08 %; see README "The reputation guard"; --ignore-guard to send anyway')
    with Session(engine) as s:
        assert s.get(Run, run_id).status == "guarded"
        assert len(s.scalars(select(Delivery)).all()) == 10  # the other 25 hold no claim: due next run
        assert [f.kind for f in s.scalars(select(MailFeedback))] == ["complaint"]

    _id, later = run(settings, NOW, engine=engine, transport=RecordingTransport(), clock=lambda: NOW)
    assert later.guard is not None and later.sent == 0  # still over: nothing leaves
    rest = RecordingTransport()
    _id, forced = run(settings, NOW, engine=engine, transport=rest, clock=lambda: NOW, ignore_guard=True)
    assert (forced.sent, forced.guard) == (25, None)  # the rest of the week, each once
    assert len({to for _k, to, _r in transport.sent + rest.sent}) == 35


def test_a_dry_run_is_not_held_back(settings, engine, add_listings, add_subscriber):
    add_listings(listing("py-1"))
    ids = [add_subscriber(f"dev{n}@example.com") for n in range(3)]
    with Session(engine) as s, s.begin():
        for sid in ids:
            s.add(MailFeedback(at=NOW, kind="complaint", subscriber_id=sid, email_hash="x", message_id=None))
    _id, summary = run(settings.with_(guard_min_sent=0), NOW, engine=engine, dry_run=True, clock=lambda: NOW)
    assert (summary.sent, summary.guard) == (3, None)


# -- on AWS --------------------------------------------------------------------------------------------------------

from .support.aws import believe_sns  # noqa: E402


def emitted_metrics(text: str) -> dict[str, float]:
    """The metrics Powertools wrote as CloudWatch embedded-metric-format lines."""
    found = {}
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            data = json.loads(line)
            for directive in data["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = data[metric["Name"]]
                    found[metric["Name"]] = value[0] if isinstance(value, list) else value
    return found


def test_the_schedule_reports_the_guard_with_the_metric_its_alarm_watches(aws, monkeypatch, engine, add_listings,
                                                                         add_subscriber, capsys):
    from digest import lambdas
    from digest.models import Subscriber as Sub

    from .support.lambda_events import FakeContext, scheduled_event
    from .support.sns import sign_event
    from .support.sns import lambda_event
    from .support.serverless import SERVERLESS_YML, _CfnLoader
    import yaml

    sqs, queue_url = aws
    add_listings(listing("py-1"))
    people = [f"dev{n:02d}@example.com" for n in range(25)]
    for address in people:
        add_subscriber(address)
    yesterday = datetime.now(UTC) - timedelta(days=1)  # the functions keep the real clock
    for n, address in enumerate(people):
        record_sent(engine, address, f"0102018c-ses-{n:04d}", at=yesterday)
    monkeypatch.setenv("DIGEST_GUARD_MIN_SENT", "20")
    believe_sns(monkeypatch)
    # Three hard bounces arrive through the SNS function: 3 of 25 sent is 12 %.
    report = lambdas.ses_events(sign_event(lambda_event(*(bounce(a, f"0102018c-ses-{n:04d}")
                                                          for n, a in enumerate(people[:3])))), FakeContext())
    assert report["suppressed"] == 3
    capsys.readouterr()

    inline = lambdas.schedule(scheduled_event("2026-11-23T09:00:00Z"), FakeContext())
    assert inline["sent"] == 0 and inline["guard"].startswith("stopped: bounce rate 12 % over the last 7 days")
    assert inline["rates"] | {"bounce_rate": 0} == {"sent": 25, "bounces": 3, "complaints": 0, "bounce_rate": 0,
                                                     "complaint_rate": 0.0, "armed": True}
    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics["GuardStopped"], metrics["BounceRate"]) == (1, 12)
    alarm = yaml.load(SERVERLESS_YML.read_text(), Loader=_CfnLoader)["resources"]["Resources"]["GuardStoppedAlarm"]
    assert alarm["Properties"]["MetricName"] in metrics and alarm["Properties"]["Namespace"] == "JobDigest"

    monkeypatch.setenv("DIGEST_INLINE_BELOW", "0")  # a list big enough for the queue: nothing is queued
    queued = lambdas.schedule(scheduled_event("2026-11-23T10:00:00Z"), FakeContext())
    assert (queued["shards"], queued["guard"]) == (0, inline["guard"])
    assert sqs.receive_message(QueueUrl=queue_url).get("Messages", []) == []
    assert emitted_metrics(capsys.readouterr().out)["GuardStopped"] == 1
    with Session(engine) as s:
        assert s.get(Run, queued["run_id"]).status == "guarded"
        assert s.scalar(select(Delivery).where(Delivery.period == "2026-W48")) is None
        assert s.query(Sub).filter_by(status="active").count() == 22
