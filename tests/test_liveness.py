"""Run liveness on SQLite and PostgreSQL: a dead run's claims are taken over at once, a live run that is slower
than its lease keeps them (heartbeat), and a run stopped past its lease sends nothing taken from it (fencing).

Claims are made with the production lease (600 s); time past it is a clock handed to the run, never a shorter
lease. The outcome is read as users and operators see it: the parsed messages and the ledger rows."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import db, heartbeat, ledger, liveness
from digest.models import Delivery
from digest.run import run
from digest.carriers.base import ClaimTaken
from digest.carriers.null import RecordingTransport

from .conftest import NOW, fresh_database, listing, read_outbox

WEEK = "2026-W48"
LATER = timedelta(minutes=15)  # past the 600 s lease


class Clock:
    """A wall clock the test moves (the run's `clock`): shared by a run and its heartbeat."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class Held(RecordingTransport):
    """A carrier that holds message `at` back until the test lets it go (a slow carrier, or a stopped process
    that has not yet asked its fence), asking the run's fence at the last moment as the outbox does."""

    fenced = True

    def __init__(self, at: int):
        super().__init__()
        self.at, self.reached, self.go = at, threading.Event(), threading.Event()

    def send(self, key, to, raw, tags=None, fence=None):
        if len(self.sent) == self.at and not self.go.is_set():
            self.reached.set()
            assert self.go.wait(60)
        if fence is not None and not fence():
            raise ClaimTaken(key)
        return super().send(key, to, raw, tags)


def rows(engine) -> dict[int, tuple[str, str]]:
    with Session(engine) as s:
        return {d.subscriber_id: (d.status, d.run_id) for d in s.scalars(select(Delivery))}


def addressees(raws) -> list[str]:
    return sorted(email.message_from_bytes(raw, policy=email.policy.default)["To"].addresses[0].addr_spec
                  for raw in raws)


def in_thread(target) -> tuple[threading.Thread, dict]:
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(result=target()), daemon=True)
    thread.start()
    return thread, out


@pytest.fixture
def people(add_listings, add_subscriber):
    add_listings(listing("a"))
    return {add_subscriber(f"p{i}@example.com"): f"p{i}@example.com" for i in range(6)}


HOLDER = """
import sys, time
from digest import db, liveness
engine = db.make_engine(sys.argv[1])
with liveness.for_engine(engine).hold(sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_runs_claims_are_taken_over_at_once(engine, settings, db_url, people):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, db_url, "run-killed"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        wall = datetime.now(UTC)
        with Session(engine) as s:  # the other process's run claimed everyone, then sent nothing yet
            ledger.claim(s, [ledger.Claim(sid, WEEK, "claimed", NOW, NOW, 1) for sid in people], "run-killed", NOW,
                         wall, settings.claim_lease_seconds)
            s.commit()
        assert liveness.for_engine(engine).alive({"run-killed", "never-held"}) == {"run-killed"}
        _, waiting = run(settings, NOW, engine=engine)
        assert (waiting.sent, waiting.in_progress_elsewhere) == (0, 6)  # alive and within its lease: its own
    finally:
        holder.kill()
        holder.wait()

    run_id, summary = run(settings, NOW, engine=engine)  # at once: the lease has ten minutes to go

    assert (summary.sent, summary.in_progress_elsewhere) == (6, 0)
    assert liveness.for_engine(engine).alive({"run-killed"}) == set()
    msgs = read_outbox(settings.outbox_dir)
    assert sorted(msgs) == sorted(f"{WEEK}/{sid}" for sid in people)
    assert sorted(m["To"].addresses[0].addr_spec for m in msgs.values()) == sorted(people.values())
    assert rows(engine) == {sid: ("sent", run_id) for sid in people}


def test_a_live_run_slower_than_its_lease_is_not_overtaken(engine, settings, people, monkeypatch):
    monkeypatch.setattr(heartbeat, "BEATS_PER_LEASE", 6000)  # a beat every 0.1 s, so the test need not wait
    clock = Clock(datetime.now(UTC))
    slow = Held(at=0)  # the carrier takes a quarter of an hour over the first message
    a, out = in_thread(lambda: run(settings, NOW, engine=engine, transport=slow, clock=clock))
    assert slow.reached.wait(60)
    start = clock.at
    while clock.at < start + LATER:  # time passes for the live run; its heartbeat keeps renewing
        clock.at += timedelta(minutes=1)
        time.sleep(0.15)
    time.sleep(0.3)

    _, second = run(settings, NOW, engine=engine, clock=lambda: start + LATER)
    slow.go.set()
    a.join(60)

    assert (second.sent, second.in_progress_elsewhere) == (0, 6)
    assert not list(settings.outbox_dir.rglob("*.eml"))  # the second run sent nothing
    run_id, first = out["result"]
    assert (first.sent, first.in_progress_elsewhere) == (6, 0)
    assert addressees(raw for _k, _to, raw in slow.sent) == sorted(people.values())
    assert rows(engine) == {sid: ("sent", run_id) for sid in people}


def test_a_run_stopped_past_its_lease_sends_nothing_taken_from_it(engine, settings, people):
    wall = datetime.now(UTC)
    stopped = Held(at=2)  # two messages out, then the process stops (no heartbeat either) before the third
    # Its wall clock moves on while it is stopped, as a real one does: when it resumes it is LATER.
    stopped_clock = lambda: wall + LATER if stopped.go.is_set() else wall  # noqa: E731
    a, out = in_thread(lambda: run(settings, NOW, engine=engine, transport=stopped, clock=stopped_clock))
    assert stopped.reached.wait(60)

    later_id, later = run(settings, NOW, engine=engine, clock=lambda: wall + LATER)  # past the lease: takes over
    stopped.go.set()  # the stopped run resumes
    a.join(60)

    stopped_id, first = out["result"]
    assert (later.sent, later.in_progress_elsewhere) == (4, 0)
    assert (first.sent, first.in_progress_elsewhere, first.failed) == (2, 4, 0)
    first_two = addressees(raw for _k, _to, raw in stopped.sent)
    later_four = sorted(m["To"].addresses[0].addr_spec for m in read_outbox(settings.outbox_dir).values())
    assert sorted(first_two + later_four) == sorted(people.values())  # everyone once, from one run or the other
    by_run = {}
    for sid, (status, run_id) in rows(engine).items():
        assert status == "sent"
        by_run.setdefault(run_id, set()).add(people[sid])
    assert by_run == {stopped_id: set(first_two), later_id: set(later_four)}


def test_holds_nest_and_end_with_the_last(db_url):
    engine, other = db.make_engine(db_url), db.make_engine(db_url)  # `other` stands for another process
    try:
        mine = liveness.for_engine(engine)
        with mine.hold("run-1"):
            with mine.hold("run-1"):
                assert liveness.for_engine(other).alive({"run-1", "run-2"}) == {"run-1"}
            assert liveness.for_engine(other).alive({"run-1"}) == {"run-1"}
        assert liveness.for_engine(other).alive({"run-1"}) == set()
    finally:
        engine.dispose()
        other.dispose()


@pytest.fixture
def pg_url(request, tmp_path, sqlite_template):
    return fresh_database("postgresql", request, tmp_path, sqlite_template)


def test_a_lock_that_lingers_a_moment_after_its_process_died_does_not_count(pg_url):
    """A killed process's PostgreSQL backend lets go of its lock a moment after the process is gone; a run
    started at once must not take that moment for a live run (a flock goes with the process: PostgreSQL only).
    Here the lock is let go 0.1 s after `alive` asks."""
    db_url, engine = pg_url, db.make_engine(pg_url)
    lingering = HOLDER.replace("time.sleep(600)", "sys.stdin.readline(); time.sleep(0.1)")
    holder = subprocess.Popen([sys.executable, "-c", lingering, db_url, "run-dying"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    steady = subprocess.Popen([sys.executable, "-c", HOLDER, db_url, "run-steady"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held" and steady.stdout.readline().strip() == "held"
        locks = liveness.AdvisoryLocks(engine)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert locks.alive({"run-dying", "run-steady"}) == {"run-steady"}
        started = time.monotonic()
        assert locks.alive({"run-steady"}) == {"run-steady"}  # seen twice already: trusted, no second look
        assert time.monotonic() - started < locks.SETTLE
    finally:
        holder.kill(), steady.kill()
        holder.wait(), steady.wait()
        engine.dispose()
