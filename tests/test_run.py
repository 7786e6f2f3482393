"""The weekly run against a real database (SQLite and PostgreSQL), asserting on the parsed outbox."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.models import Delivery, Run
from digest.run import run

from .conftest import NOW, listing, listing_ids, read_outbox


def run_at(settings, engine, now, **kw):
    _run_id, summary = run(settings, now, engine=engine, **kw)
    return summary


def ledger(engine):
    with Session(engine) as s:
        return {(d.subscriber_id, d.period): d.status for d in s.scalars(select(Delivery))}


def test_one_digest_with_the_matching_listings(engine, settings, add_listings, add_subscriber):
    add_listings(
        listing("py-1", stack=["Python", "Django"], title="Senior Python Engineer"),
        listing("go-1", stack=["golang"], title="Go Developer"),
        listing("py-old", stack=["python"], verified_at="2026-11-15T08:00:00Z"),  # before the first window
        listing("py-unverified", stack=["python"], verified=False),
        listing("py-expired", stack=["python"], expires_at="2026-11-23T08:00:00Z"),
    )
    sid = add_subscriber("ana@example.com", name="Ana", stack=["python"])
    summary = run_at(settings, engine, NOW)
    assert (summary.due, summary.sent, summary.skipped_empty, summary.failed) == (1, 1, 0, 0)
    assert summary.listings_considered == 3  # verified, unexpired, within the four-week horizon
    msgs = read_outbox(settings.outbox_dir)
    assert list(msgs) == [f"2026-W48/{sid}"]
    msg = msgs[f"2026-W48/{sid}"]
    assert msg["To"].addresses[0].addr_spec == "ana@example.com"
    assert "1 " in msg["Subject"]
    assert listing_ids(msg) == ["py-1"]
    assert msg["List-Unsubscribe"].startswith("<http") and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with Session(engine) as s:
        d = s.scalars(select(Delivery)).one()
        assert (d.status, d.period, d.listing_count, d.message_id) == ("sent", "2026-W48", 1, msg["Message-ID"])
        assert [board_id for board_id, _key in d.listings] == ["py-1"]
        assert s.scalars(select(Run)).one().summary["sent"] == 1


def test_rerun_in_the_same_week_sends_nothing_more(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a"))
    add_subscriber("a@example.com")
    assert run_at(settings, engine, NOW).sent == 1
    again = run_at(settings, engine, NOW + timedelta(hours=5))
    assert (again.due, again.sent) == (0, 0)
    assert len(read_outbox(settings.outbox_dir)) == 1


def test_next_week_only_new_listings_and_no_reposts(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a", company="Acme", title="Backend Engineer"), listing("b"))
    sid = add_subscriber("a@example.com")
    run_at(settings, engine, NOW)
    add_listings(
        listing("a-repost", company="ACME", title="Backend  engineer", verified_at="2026-11-26T10:00:00Z",
                posted_at="2026-11-26T09:00:00Z"),
        listing("c", verified_at="2026-11-27T10:00:00Z"),
    )
    week2 = NOW + timedelta(days=7)
    assert run_at(settings, engine, week2).sent == 1
    msg = read_outbox(settings.outbox_dir)[f"2026-W49/{sid}"]
    assert listing_ids(msg) == ["c"]


def test_no_digest_when_nothing_matches(engine, settings, add_listings, add_subscriber):
    add_listings(listing("go", stack=["go"]))
    sid = add_subscriber("rust@example.com", stack=["rust"])
    summary = run_at(settings, engine, NOW)
    assert (summary.due, summary.sent, summary.skipped_empty) == (1, 0, 1)
    assert read_outbox(settings.outbox_dir) == {}
    assert ledger(engine) == {(sid, "2026-W48"): "empty"}


def test_level_region_and_salary_rules(engine, settings, add_listings, add_subscriber):
    add_listings(
        listing("senior-eu", title="Senior Backend Engineer", location="Remote (Europe)", salary="€90k – €110k"),
        listing("unknown-level", title="Backend Engineer", location="Worldwide"),
        listing("junior", title="Junior Backend Engineer", location="Worldwide"),
        listing("senior-us", title="Senior Backend Engineer", location="Remote - US only"),
        listing("senior-lowpay", title="Sr. Backend Engineer", location="EMEA", salary="$40,000 - $50,000"),
    )
    sid = add_subscriber("eu@example.com", level=["senior"], region=["europe"], min_salary=70_000)
    run_at(settings, engine, NOW)
    ids = listing_ids(read_outbox(settings.outbox_dir)[f"2026-W48/{sid}"])
    assert ids == ["senior-eu", "unknown-level"]  # exact level first; unknown level ranked lower


def test_hide_listings_without_salary(engine, settings, add_listings, add_subscriber):
    add_listings(listing("paid", salary="$150k - $180k"), listing("silent"))
    sid = add_subscriber("p@example.com", hide_no_salary=True)
    run_at(settings, engine, NOW)
    assert listing_ids(read_outbox(settings.outbox_dir)[f"2026-W48/{sid}"]) == ["paid"]


def test_cap_and_more_link(engine, settings, add_listings, add_subscriber):
    add_listings(*[listing(f"j{i:02d}", verified_at=f"2026-11-22T{i % 24:02d}:30:00Z") for i in range(20)])
    sid = add_subscriber("m@example.com")
    run_at(settings.with_(max_jobs=15), engine, NOW)
    msg = read_outbox(settings.outbox_dir)[f"2026-W48/{sid}"]
    assert len(listing_ids(msg)) == 15
    text = msg.get_body(("plain",)).get_content()
    assert "5 more" in text and "https://jobs.example.com/search?" in text


def test_slot_in_the_subscribers_timezone(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a"))
    joined = NOW - timedelta(days=3)  # Friday: their first slot is this Monday
    ny = add_subscriber("ny@example.com", timezone="America/New_York", send_day="monday", send_hour=8, joined=joined)
    berlin = add_subscriber("b@example.com", timezone="Europe/Berlin", send_day="monday", send_hour=8, joined=joined)
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert run_at(settings, engine, monday + timedelta(hours=6, minutes=59)).sent == 0
    assert run_at(settings, engine, monday + timedelta(hours=7)).sent == 1  # 08:00 in Berlin
    assert run_at(settings, engine, monday + timedelta(hours=12)).sent == 0
    assert run_at(settings, engine, monday + timedelta(hours=13)).sent == 1  # 08:00 in New York
    assert set(read_outbox(settings.outbox_dir)) == {f"2026-W48/{ny}", f"2026-W48/{berlin}"}


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/Berlin"])
def test_hourly_runs_over_dst_weeks_send_once_a_week(engine, settings, add_listings, add_subscriber, tz):
    # Spring forward 2027: New York on Mar 14, Berlin on Mar 28. Slot Sunday 02:00, inside the gap.
    start = datetime(2027, 3, 8, tzinfo=UTC) if tz.startswith("America") else datetime(2027, 3, 22, tzinfo=UTC)
    add_subscriber("dst@example.com", timezone=tz, send_day="sunday", send_hour=2, joined=start)
    sent_at = []
    for hour in range(0, 24 * 14, 1):
        now = start + timedelta(hours=hour)
        add_listings(listing(f"l{hour}", verified_at=(now - timedelta(minutes=30)).isoformat())) if hour % 24 == 0 else None
        if run_at(settings, engine, now).sent:
            sent_at.append(now)
    assert len(sent_at) == 2, sent_at
    assert sorted(p for (s, p), st in ledger(engine).items() if st == "sent") == ["2027-W10", "2027-W11"] if tz.startswith("America") else ["2027-W12", "2027-W13"]
    assert len(read_outbox(settings.outbox_dir)) == 2


def test_three_week_outage_sends_one_digest(engine, settings, add_listings, add_subscriber):
    add_listings(listing("w1"))
    sid = add_subscriber("o@example.com")
    run_at(settings, engine, NOW)
    add_listings(*[listing(f"w{n}", verified_at=(NOW + timedelta(days=7 * (n - 1), hours=2)).isoformat()) for n in (2, 3, 4)])
    back = NOW + timedelta(days=21, hours=3)
    summary = run_at(settings, engine, back)
    assert summary.sent == 1
    msgs = read_outbox(settings.outbox_dir)
    assert set(msgs) == {f"2026-W48/{sid}", f"2026-W51/{sid}"}
    assert set(listing_ids(msgs[f"2026-W51/{sid}"])) == {"w2", "w3", "w4"}


def test_paused_subscriber_resumes_on_their_date(engine, settings, add_listings, add_subscriber):
    from digest.models import Subscriber

    add_listings(listing("a"))
    sid = add_subscriber("p@example.com")
    with Session(engine) as s:
        s.get(Subscriber, sid).paused_until = datetime(2026, 11, 28).date()
        s.commit()
    assert run_at(settings, engine, NOW).due == 0
    add_listings(listing("b", verified_at="2026-11-29T10:00:00Z"))
    assert run_at(settings, engine, NOW + timedelta(days=7)).sent == 1


def test_inactive_subscribers_get_nothing(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a"))
    add_subscriber("pending@example.com", confirmed=False)
    assert run_at(settings, engine, NOW).due == 0


def test_dry_run_sends_and_writes_nothing(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a"), listing("b", stack=["go"]))
    add_subscriber("a@example.com")
    add_subscriber("g@example.com", stack=["rust"])
    summary = run_at(settings, engine, NOW, dry_run=True)
    assert (summary.due, summary.sent, summary.skipped_empty) == (2, 1, 1) and summary.bytes > 1000
    assert not settings.outbox_dir.exists()
    assert ledger(engine) == {}
    with Session(engine) as s:
        assert s.scalars(select(Run)).all() == []


def test_the_claim_of_a_crashed_run_is_finished_at_once_by_the_next(engine, settings, add_listings, add_subscriber):
    from digest import ledger as ledger_mod

    add_listings(listing("a"))
    sid = add_subscriber("c@example.com")
    wall = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with Session(engine) as s:  # a run claimed the row, then died before sending: no process holds it
        ledger_mod.claim(s, [ledger_mod.Claim(sid, "2026-W48", "claimed", NOW, NOW, 1)], "dead-run", NOW, wall, 600)
        s.commit()
    within_lease = run_at(settings, engine, NOW, clock=lambda: wall + timedelta(seconds=30))
    assert (within_lease.sent, within_lease.in_progress_elsewhere) == (1, 0)
    assert ledger(engine) == {(sid, "2026-W48"): "sent"}
    assert list(read_outbox(settings.outbox_dir)) == [f"2026-W48/{sid}"]


def test_workers_share_the_list_without_overlap(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a"), listing("b", stack=["go"]))
    ids = [add_subscriber(f"u{i}@example.com", stack=["go"] if i % 3 == 0 else ["python"]) for i in range(1200)]
    summary = run_at(settings, engine, NOW, workers=2)
    assert (summary.due, summary.sent) == (1200, 1200)
    msgs = read_outbox(settings.outbox_dir)
    assert set(msgs) == {f"2026-W48/{i}" for i in ids}
    assert set(ledger(engine).values()) == {"sent"}


def test_overlapping_runs_and_a_duplicated_shard_never_send_twice(engine, settings, add_listings, tmp_path, taxonomy):
    import threading

    from digest.run import RunContext, ShardRunner, plan
    from digest.subscribers import import_subscribers
    from digest.carriers.null import RecordingTransport

    add_listings(listing("a"), listing("b", stack=["go"]))
    csv = tmp_path / "subs.csv"
    csv.write_text("email,stack,confirmed\n" + "".join(f"u{i}@example.com,{'go' if i % 2 else 'python'},true\n" for i in range(600)))
    with Session(engine) as s:
        import_subscribers(s, str(csv), taxonomy, settings, NOW - timedelta(days=30))
        [shard] = list(plan(s, size=1000))
    transports = [RecordingTransport() for _ in range(3)]
    workers = [
        # two whole runs at once ...
        threading.Thread(target=run, args=(settings, NOW), kwargs=dict(engine=engine, transport=transports[0])),
        threading.Thread(target=run, args=(settings, NOW), kwargs=dict(engine=engine, transport=transports[1])),
        # ... and the same shard delivered a second time, as a queue may do
        threading.Thread(target=lambda: ShardRunner(engine, RunContext(settings, NOW, "dup"), transports[2]).run(shard)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    keys = [key for t in transports for key, _to, _raw in t.sent]
    assert len(keys) == len(set(keys)) == 600  # everyone once, nobody twice
    assert set(ledger(engine).values()) == {"sent"}


def test_the_ledger_rows_a_run_writes_read_back_like_the_orm_wrote_them(engine, settings, add_listings, add_subscriber):
    """The claim and the sent mark go through the driver directly: values must be stored exactly as the ORM
    stores them (SQLite compares datetimes as text), so reading them back and comparing in SQL both work."""
    add_listings(listing("py-1"), listing("py-2"))
    sid = add_subscriber("ana@example.com")
    wall = datetime(2026, 11, 23, 9, 0, 5, tzinfo=UTC)  # no microseconds: the text form must still carry them
    run_at(settings, engine, NOW, clock=lambda: wall)
    with Session(engine) as s:
        d = s.scalars(select(Delivery)).one()
        assert (d.subscriber_id, d.status, d.claimed_at, d.sent_at, d.cutoff) == (sid, "sent", wall, wall, NOW)
        [msg] = read_outbox(settings.outbox_dir).values()
        assert [board_id for board_id, _key in d.listings] == listing_ids(msg) and d.listing_count == 2
        assert sorted(listing_ids(msg)) == ["py-1", "py-2"]
        # SQL comparisons against ORM-bound values find the row (what the claim's "owned" query relies on).
        assert s.scalar(select(func.count()).select_from(Delivery).where(Delivery.claimed_at == wall,
                                                                         Delivery.sent_at >= wall)) == 1


def test_the_outbox_clears_half_written_files_of_killed_runs_only(tmp_path):
    """A run killed mid-write leaves `.<id>.eml.<pid>.tmp`; the next run's outbox removes it, unless that
    process still runs (it is writing the file now)."""
    import subprocess
    import sys

    from digest.carriers.outbox import OutboxTransport

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    week = tmp_path / "2026-W48"
    week.mkdir()
    stale, live = week / f".7.eml.{gone.pid}.tmp", week / f".8.eml.{os.getpid()}.tmp"
    stale.write_bytes(b"half a mess")
    live.write_bytes(b"being written")
    outbox = OutboxTransport(tmp_path)
    outbox.send("2026-W48/9", "ana@example.com", b"Subject: hi\r\n\r\nbody\r\n")
    outbox.close()
    assert not stale.exists() and live.exists()
    # The week now holds its index pages too (index.html, page-0.html, .index/): only these are messages or temp.
    assert sorted(p.name for p in week.iterdir() if p.suffix in (".eml", ".tmp") or p.stem == "9") == [
        live.name, "9.eml", "9.html"]
    assert ".tmp" not in (tmp_path / "index.html").read_text()


def test_role_and_employer_preferences(engine, settings, add_listings, add_subscriber):
    add_listings(
        listing("data-startup", role_type="data", employer_type="startup", verified_at="2026-11-22T08:00:00Z"),
        listing("data-scaleup", role_type="Data-heavy", employer_type="Series D", verified_at="2026-11-22T09:00:00Z"),
        listing("api-startup", role_type="api", employer_type="startup"),
        listing("data-enterprise", role_type="data", employer_type="enterprise"),
        listing("data-unstated-employer", role_type="data"),
        listing("unstated-role-startup", employer_type="seed-stage", verified_at="2026-11-22T12:00:00Z"),
    )
    picky = add_subscriber("picky@example.com", role=["data"], employer=["startup", "scaleup"])
    corporate = add_subscriber("corp@example.com", employer=["enterprise"])
    anyone = add_subscriber("any@example.com")
    run_at(settings, engine, NOW)
    msgs = read_outbox(settings.outbox_dir)
    # The freshest listing says no role: it still comes, after the ones that are exactly what was asked for.
    assert listing_ids(msgs[f"2026-W48/{picky}"]) == ["data-scaleup", "data-startup", "unstated-role-startup"]
    # Chosen employer types must match: a listing that does not say is left out.
    assert listing_ids(msgs[f"2026-W48/{corporate}"]) == ["data-enterprise"]
    assert len(listing_ids(msgs[f"2026-W48/{anyone}"])) == 6
