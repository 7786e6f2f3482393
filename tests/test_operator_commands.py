"""The operator's questions on real state (SQLite and PostgreSQL): `digest runs`, `stats`, `why`, and
`listings expire|remove`, through the `digest` command, with one-line errors."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.fanout import ShardMessage, dispatch, send_shard
from digest.models import Delivery, HiddenCompany, Listing, MailFeedback, NotForMe, Subscriber
from digest.run import run
from digest.subscribers import record_suppression
from digest.carriers.choose import make_transport

from .conftest import NOW, listing
from .support.cli import digest, json_lines

NEXT = NOW + timedelta(days=7)


def test_runs_show_each_run_its_trigger_counts_duration_and_end(db_url, engine, settings, add_listings,
                                                               add_subscriber, tmp_path):
    add_listings(listing("a"), listing("b", stack=["go"]))
    add_subscriber("ana@example.com", stack=["python"])
    add_subscriber("rust@example.com", stack=["rust"])
    assert digest(db_url, tmp_path, "run", "--now", NOW.isoformat()).exit_code == 0
    # The hourly schedule dispatching to queue workers: the run and its shard, written by the worker.
    settings = settings.__class__(**{**settings.__dict__, "outbox_dir": tmp_path / "outbox"})

    class Queue:
        def __init__(self):
            self.bodies = []

        def send_message_batch(self, QueueUrl, Entries):
            self.bodies += [e["MessageBody"] for e in Entries]
            return {}

    queue = Queue()
    d = dispatch(settings, engine, NEXT, sqs=queue, queue_url="q", shard_size=1, inline_below=0,
                 transport=lambda: make_transport(settings), clock=lambda: NEXT)
    listed = json_lines(digest(db_url, tmp_path, "runs", "--json").stdout)
    assert [r["trigger"] for r in listed] == ["schedule", "cli"]
    assert listed[0]["status"] == "dispatched" and listed[0]["shards"] == 2 and listed[0]["shards_done"] == 0
    for body in queue.bodies:
        send_shard(settings, engine, ShardMessage.from_json(body), make_transport(settings), lambda: NEXT,
                   trigger="worker")
    text = digest(db_url, tmp_path, "runs").stdout.splitlines()
    listed = json_lines(digest(db_url, tmp_path, "runs", "--json").stdout)
    first_run = listed[1]
    assert first_run["now"] == "2026-11-23T09:00:00Z" and first_run["status"] == "finished"
    assert first_run["counts"]["due"] == 2 and first_run["counts"]["sent"] == 1
    assert first_run["counts"]["skipped_empty"] == 1 and first_run["duration_s"] >= 0
    assert listed[0]["id"] == d.run_id and listed[0]["status"] == "finished" and listed[0]["shards_done"] == 2
    assert listed[0]["counts"]["due"] == 2 and listed[0]["counts"]["skipped_empty"] == 2  # nothing new next week
    assert f"run {d.run_id[:8]}  now 2026-11-30 09:00Z  schedule  finished" in text[0]
    assert "cli  finished" in text[1] and "due 2, sent 1, empty 1, failed 0" in text[1]
    assert len(digest(db_url, tmp_path, "runs", "--limit", "1").stdout.splitlines()) == 1


def test_a_run_stopped_or_broken_says_how_it_ended(db_url, engine, settings, add_listings, add_subscriber, tmp_path):
    add_listings(listing("a"))
    add_subscriber("ana@example.com")

    class Broken:
        name, record_batch = "broken", 1

        def send(self, key, to, raw, tags, **_kw):
            raise RuntimeError("disk on fire")

        def close(self):
            pass

    try:
        run(settings, NOW, engine=engine, transport=Broken())
    except RuntimeError:
        pass
    (row,) = json_lines(digest(db_url, tmp_path, "runs", "--json").stdout)
    assert row["status"] == "failed" and row["error"] == "RuntimeError: disk on fire"
    assert "FAILED (RuntimeError: disk on fire)" in digest(db_url, tmp_path, "runs").stdout


def test_stats_count_each_week_and_each_listings_reach(db_url, engine, settings, add_listings, add_subscriber,
                                                       tmp_path):
    add_listings(listing("py", title="Python Engineer"), listing("go", stack=["go"], title="Go Engineer"),
                 listing("java", stack=["java"], title="Java Engineer"))
    for n in range(3):
        add_subscriber(f"py{n}@example.com", stack=["python"])
    add_subscriber("go@example.com", stack=["go"])
    add_subscriber("rust@example.com", stack=["rust"])
    run(settings, NOW, engine=engine)
    with Session(engine) as s:
        subs = {sub.email: sub for sub in s.scalars(select(Subscriber))}
        left = subs["py0@example.com"]
        left.status, left.unsubscribed_at, left.unsubscribe_reason = "unsubscribed", NOW + timedelta(hours=2), "too-many"
        s.add(NotForMe(subscriber_id=subs["py1@example.com"].id, board_id="py", repost_key=1, reason="wrong_level",
                       created_at=NOW + timedelta(hours=3)))
        s.add(HiddenCompany(subscriber_id=subs["go@example.com"].id, company_key="company go", company="Company go",
                            created_at=NOW + timedelta(hours=3)))
        bounced = subs["py2@example.com"]
        bounced.status, bounced.suppressed_at, bounced.suppression_reason = "suppressed", NOW + timedelta(hours=4), "bounce"
        record_suppression(s, bounced.email, "bounce", NOW + timedelta(hours=4))
        record_suppression(s, "gone@example.com", "complaint", NOW + timedelta(days=1))
        # What SES reported (digest.feedback keeps each applied notification): the hard bounce, a soft one that
        # suppressed nobody, and the complaint of someone removed since.
        s.add(MailFeedback(at=NOW + timedelta(hours=4), kind="bounce-permanent", subscriber_id=bounced.id))
        s.add(MailFeedback(at=NOW + timedelta(hours=5), kind="bounce-transient", subscriber_id=subs["py1@example.com"].id))
        s.add(MailFeedback(at=NOW + timedelta(days=1), kind="complaint", subscriber_id=None))
        s.add(MailFeedback(at=NOW - timedelta(weeks=3), kind="complaint", subscriber_id=None))  # before the weeks asked
        s.commit()
    result = digest(db_url, tmp_path, "stats", "--weeks", "2", "--json", now=NOW + timedelta(days=2))
    st = json.loads(result.stdout)
    prev, week = st["weeks"]
    assert (prev["period"], week["period"]) == ("2026-W47", "2026-W48")
    assert (week["sent"], week["skipped_empty"], week["failed"]) == (4, 1, 0)
    assert (week["bounces"], week["complaints"]) == (2, 1) and (prev["bounces"], prev["complaints"]) == (0, 0)
    assert week["unsubscribes"] == {"too-many": 1}
    assert week["not_for_me"] == {"wrong_level": 1} and week["hides"] == 1
    assert prev["active"] == 5 and week["active"] == 3  # one left, one bounced during the week
    assert {r["board_id"]: r["digests"] for r in st["reach"]} == {"py": 3, "go": 1}
    assert [r["board_id"] for r in st["unreached"]] == ["java"]
    text = digest(db_url, tmp_path, "stats", "--weeks", "2", now=NOW + timedelta(days=2)).stdout
    assert "2026-W48       4      1      0      2      1       3  unsub 1 (too-many 1); not for me 1 " in text
    assert "listings that reached nobody: 1" in text and "java  Java Engineer — Company java" in text


def test_why_answers_for_a_person_and_a_listing(db_url, engine, settings, add_listings, add_subscriber, tmp_path):
    add_listings(listing("py", title="Python Engineer"), listing("go", stack=["go"], title="Go Engineer"),
                 listing("late", verified=False))
    add_subscriber("ana@example.com", stack=["python"])
    before = digest(db_url, tmp_path, "why", "ana@example.com", "--now", NOW.isoformat())
    assert before.exit_code == 0
    lines = before.stdout.splitlines()
    assert lines[1] == "due now: the run would plan their digest as below"
    assert "  #1   py  Python Engineer — Company py" in lines
    assert "  go  stack  (Go Engineer — Company go)" in lines
    run(settings, NOW, engine=engine)
    after = json.loads(digest(db_url, tmp_path, "why", "ana@example.com", "--now", NOW.isoformat(), "--json").stdout)
    assert after["due"] is False and after["not_due"][0].startswith("already sent this week (2026-W48")
    assert after["recorded"]["listings"] == ["py"] and [item["id"] for item in after["listings"] if item["rank"]] == ["py"]
    one = digest(db_url, tmp_path, "why", "ana@example.com", "--listing", "late", "--now", NOW.isoformat())
    assert one.stdout.splitlines()[-1] == "late Backend Engineer — Company late: kept out: not verified"
    nxt = digest(db_url, tmp_path, "why", "ana@example.com", "--listing", "py", "--now", NEXT.isoformat())
    assert nxt.stdout.splitlines()[-1] == "py Python Engineer — Company py: kept out: before the window"
    # Unknown person or listing: one line, exit 1.
    for args in (("why", "nobody@example.com"), ("why", "ana@example.com", "--listing", "nope")):
        bad = digest(db_url, tmp_path, *args)
        assert bad.exit_code == 1 and len(bad.stderr.splitlines()) == 1 and bad.stderr.startswith("Error: no ")


def test_listings_expire_and_remove_are_audited_and_keep_history(db_url, engine, settings, add_listings,
                                                                 add_subscriber, tmp_path):
    add_listings(listing("a", title="Python Engineer"), listing("b", title="Python Developer"))
    sid = add_subscriber("ana@example.com")
    run(settings, NOW, engine=engine)
    with Session(engine) as s:
        s.add(NotForMe(subscriber_id=sid, board_id="b", repost_key=7, created_at=NOW))
        s.commit()
    later = NOW + timedelta(days=1)
    assert digest(db_url, tmp_path, "listings", "expire", "a", now=later).stdout == (
        "expired a (Python Engineer — Company a): in no digest from now on\n")
    removed = digest(db_url, tmp_path, "listings", "remove", "b", now=later)
    assert removed.exit_code == 0 and "kept: 1 sent digests' record of it, 1 \"not for me\"" in removed.stdout
    with Session(engine) as s:
        assert s.scalar(select(Listing.expires_at).where(Listing.board_id == "a")) == later
        assert s.scalar(select(Listing).where(Listing.board_id == "b")) is None
        (kept,) = s.scalars(select(Delivery.listings)).all()
        assert sorted(b for b, _k in kept) == ["a", "b"]  # the ledger's history still names both
        assert s.scalar(select(NotForMe.board_id)) == "b"
    # The expired listing is in no later digest: `why` names the rule.
    why = digest(db_url, tmp_path, "why", "ana@example.com", "--listing", "a", "--now", NEXT.isoformat())
    assert why.stdout.splitlines()[-1] == "a Python Engineer — Company a: kept out: expired"
    audit = json_lines(digest(db_url, tmp_path, "audit", "--json").stdout)
    assert [(e["command"], e["target"]) for e in audit] == [("listings remove", "b"), ("listings expire", "a")]
    assert audit[0]["detail"]["digests_kept"] == 1 and audit[1]["detail"]["title"] == "Python Engineer"
    for command in ("expire", "remove"):
        bad = digest(db_url, tmp_path, "listings", command, "nope")
        assert (bad.exit_code, bad.stderr) == (1, "Error: no listing with id nope\n")
