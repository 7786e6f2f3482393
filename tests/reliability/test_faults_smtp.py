"""An SMTP server misbehaving during `digest run` (the real CLI, the smtp transport, a real SMTP server on loopback
with STARTTLS and AUTH): the ledger, the summary line and the exit status against what the server accepted.

The server answers by a script, per SMTP transaction: dropped connections, a 421, "try later" (4xx) and "never"
(5xx) answers, an answer lost after it took the message, a refused sender, the whole server going away mid-run.
Only the transport's waits between tries are ours (recorded, not slept); its clock, retries and circuit breaker are
the production ones.
"""

from __future__ import annotations

import logging
import random
import re
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from digest import db
from digest.carriers import smtp as smtp_module
from digest.models import Run

from ..conftest import NOW
from ..support.smtp import Mailhost
from ..support.smtp import SECRETS, add_people, digest, ledger, smtp_env, week_listings
from .crash_carriers import SmtpCarrier
from .crash_harness import Counts, check
from .crash_population import populate

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
SUMMARY = re.compile(r"due (\d+), sent (\d+), skipped-empty (\d+), failed (\d+), in progress elsewhere (\d+)")
BY_KIND = re.compile(r"failed by kind: rejected (\d+) \(final\), throttled (\d+), unavailable (\d+)")


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits the smtp transport asks for between tries, recorded instead of slept (seeded jitter)."""
    asked: list[float] = []
    original = smtp_module.make_smtp_transport
    rng = random.Random(7)

    def make_smtp_transport(settings, **kw):
        return original(settings, sleep=asked.append, rand=rng.random, autoclose=kw.get("autoclose", False))

    monkeypatch.setattr(smtp_module, "make_smtp_transport", make_smtp_transport)
    return asked


def run_week(env: dict[str, str]):
    """`digest run --now NOW`; returns (exit status, summary figures, failures by kind, stderr)."""
    done = digest("run", "--now", NOW.isoformat(), env=env)
    assert "Traceback" not in done.output and all(s not in done.output for s in SECRETS), done.output
    figures = tuple(map(int, SUMMARY.search(done.stdout).groups()))
    kinds = BY_KIND.search(done.stderr)
    return done.exit_code, figures, tuple(map(int, kinds.groups())) if kinds else (0, 0, 0), done.stderr


def assert_ledger_is_what_the_server_accepted(engine, ids: dict[str, int], host: Mailhost) -> None:
    """Every sent row is a message the server accepted, recorded with the reply to its last copy; nothing else."""
    rows = ledger(engine)
    last = {r.rcpt_to: r for r in host.received}
    assert {sid for sid, row in rows.items() if row.status == "sent"} == {ids[to] for to in last}
    for to, r in last.items():
        row = rows[ids[to]]
        assert (row.message_id, row.transport_id) == (r.message_id, r.reply)


def test_dropped_connections_a_421_and_a_try_later_are_ridden_out_and_everyone_gets_one_digest(
        engine, db_url, taxonomy, add_listings, mailhost, waits, tmp_path):
    week_listings(add_listings)
    ids = add_people(engine, taxonomy, 40)
    faults = {(5, "MAIL"): "drop",  # an idle connection the server closed: found out at the next MAIL FROM
              (12, "MAIL"): "421 4.3.2 Service shutting down, closing channel",
              (20, "DATA"): "drop",  # the whole message sent, the connection gone before the server took it
              (28, "RCPT"): "451 4.7.1 Greylisted, try again in a moment"}
    mailhost.script = lambda n, stage: faults.get((n, stage))

    code, figures, kinds, _err = run_week(smtp_env(db_url, mailhost.url(), tmp_path / "outbox"))

    assert (code, figures, kinds) == (0, (40, 40, 0, 0, 0), (0, 0, 0))
    assert Counter(r.rcpt_to for r in mailhost.received) == Counter(list(ids))  # each exactly once
    assert max(n for n, _stage, _answer in mailhost.attempts) == 44  # every fault cost one more transaction
    assert mailhost.connections == 4  # the first, then one after each fault that closed the connection
    assert len(waits) == 4  # one wait before each second try
    assert_ledger_is_what_the_server_accepted(engine, ids, mailhost)


def test_try_later_is_due_again_next_run_and_a_refused_address_fails_for_good_alone(
        engine, db_url, taxonomy, add_listings, mailhost, waits, tmp_path, caplog):
    week_listings(add_listings)
    ids = add_people(engine, taxonomy, 30)
    busy, unknown = "reader007@example.org", "reader011@example.com"
    mailhost.refuse = {busy: f"452 4.2.2 <{busy}>: Mailbox full, try again later",
                       unknown: f"550 5.1.1 <{unknown}>: Recipient address rejected: User unknown"}
    env = smtp_env(db_url, mailhost.url(), tmp_path / "outbox")
    caplog.set_level(logging.INFO, logger="digest")

    code, figures, kinds, err = run_week(env)
    assert (code, figures, kinds) == (2, (30, 28, 0, 2, 0), (1, 1, 0))  # exit 2: some failed, the rest went
    rows = ledger(engine)
    assert rows[ids[unknown]].status == "rejected"
    # The server's words, without the address it quoted (nor in any log line at WARNING, where retries are said)
    assert rows[ids[unknown]].error == ("rejected: RCPT TO refused: 550 5.1.1 <<recipient>>: Recipient address "
                                        "rejected: User unknown")
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and busy in r.getMessage() + repr(r.__dict__)]
    assert ids[busy] not in rows  # given back: due again
    refused = Counter(a[:3] for _n, s, a in mailhost.attempts if s == "RCPT" and a[:1] in "45")
    assert refused == {"452": 5, "550": 1}  # "later" tried five times (four waits), "never" once
    assert len(waits) == 4
    assert mailhost.connections == 1  # refusals keep the connection (RSET, next message)

    mailhost.refuse.pop(busy)  # the mailbox has room again
    code, figures, kinds, _err = run_week(env)
    assert (code, figures) == (0, (1, 1, 0, 0, 0))  # only the one given back; the refused address is not retried
    code, figures, _kinds, _err = run_week(env)
    assert (code, figures) == (0, (0, 0, 0, 0, 0))
    assert Counter(r.rcpt_to for r in mailhost.received) == Counter(set(ids) - {unknown})
    assert sum(1 for _n, s, a in mailhost.attempts if s == "RCPT" and a.startswith("550")) == 1
    assert_ledger_is_what_the_server_accepted(engine, ids, mailhost)


def test_the_server_going_away_mid_run_fails_the_rest_fast_and_the_next_run_sends_them(
        engine, db_url, taxonomy, add_listings, mailhost, waits, tmp_path):
    week_listings(add_listings)
    ids = add_people(engine, taxonomy, 60)
    mailhost.script = lambda n, stage: "down" if (n, stage) == (21, "MAIL") else None
    env = smtp_env(db_url, mailhost.url(), tmp_path / "outbox")

    started = time.monotonic()
    code, figures, kinds, err = run_week(env)
    took = time.monotonic() - started
    assert (code, figures, kinds) == (2, (60, 20, 0, 40, 0), (0, 0, 40))
    # Ten messages were each tried three times (two waits each) against a server that was gone; then the breaker
    # failed the other thirty at once, without a connection attempt.
    assert len(waits) == 20
    assert took < 30, took
    rows = ledger(engine)
    assert Counter(row.status for row in rows.values()) == Counter(sent=20)  # the rest given back, due again
    with Session(engine) as s:
        assert s.scalars(select(Run.status)).all() == ["finished"]

    mailhost.stop()  # back up, on the same port
    mailhost.script = lambda n, stage: None
    mailhost.start()
    code, figures, kinds, _err = run_week(env)
    assert (code, figures) == (0, (40, 40, 0, 0, 0))
    assert Counter(r.rcpt_to for r in mailhost.received) == Counter(list(ids))  # nobody lost, nobody twice
    assert_ledger_is_what_the_server_accepted(engine, ids, mailhost)


def test_a_refused_sender_stops_the_run_and_the_rest_stays_due(engine, db_url, taxonomy, add_listings, mailhost, waits,
                                                                tmp_path):
    week_listings(add_listings)
    ids = add_people(engine, taxonomy, 20)
    refusal = "550 5.7.1 Sender address rejected: not owned by user digest-sender"
    mailhost.script = lambda n, stage: refusal if (n, stage) == (8, "MAIL") else None
    env = smtp_env(db_url, mailhost.url(), tmp_path / "outbox")

    code, figures, _kinds, err = run_week(env)
    assert code == 3 and figures[:2] == (20, 7)
    assert f"stopped early (paused: MAIL FROM refused: {refusal}); everyone not yet sent stays due" in err
    assert Counter(row.status for row in ledger(engine).values()) == Counter(sent=7)
    with Session(engine) as s:
        assert s.scalars(select(Run.status)).all() == ["stopped"]

    mailhost.script = lambda n, stage: None  # the operator fixed the server's sender rules
    code, figures, _kinds, _err = run_week(env)
    assert (code, figures) == (0, (13, 13, 0, 0, 0))
    assert Counter(r.rcpt_to for r in mailhost.received) == Counter(list(ids))


def test_an_answer_lost_after_the_server_took_the_message_costs_one_copy_never_a_lost_week(
        engine, db_url, taxonomy, add_listings, mailhost, waits, tmp_path):
    """The connection breaks after the server queued the message but before its 250 came back: the transport tries
    again (SMTP has no idempotency key), so one subscriber gets two identical copies. The documented trade-off."""
    week_listings(add_listings)
    ids = add_people(engine, taxonomy, 5)
    mailhost.script = lambda n, stage: "lost" if (n, stage) == (3, "DATA") else None

    code, figures, _kinds, _err = run_week(smtp_env(db_url, mailhost.url(), tmp_path / "outbox"))

    assert (code, figures) == (0, (5, 5, 0, 0, 0))
    copies = Counter(r.rcpt_to for r in mailhost.received)
    (twice,) = [to for to, n in copies.items() if n == 2]
    assert sorted(copies.values()) == [1, 1, 1, 1, 2]
    first, second = [r for r in mailhost.received if r.rcpt_to == twice]
    assert first.data == second.data  # same bytes, same Message-ID: mail clients show one
    row = ledger(engine)[ids[twice]]
    assert (row.status, row.transport_id) == ("sent", second.reply)


@pytest.mark.slow
def test_two_runs_started_together_through_one_smtp_server_send_everyone_once(db_url, tmp_path):
    pop = populate(db_url, tmp_path, 1100, seed=21)  # three shards of 500: the --workers 2 run starts two workers
    carrier = SmtpCarrier(tmp_path)
    try:
        env = carrier.env(db_url)
        runs = [subprocess.Popen(carrier.command(workers), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for workers in (2, 1)]
        outputs = [proc.communicate(timeout=300) for proc in runs]
        assert [proc.returncode for proc in runs] == [0, 0], outputs
        sent = [int(SUMMARY.search(out).group(2)) for out, _err in outputs]
        engine = db.make_engine(db_url)
        try:
            counts = Counts()
            check(engine, carrier.delivered(pop), pop, counts)
            with engine.connect() as c:
                statuses = {s for (s,) in c.execute(text("SELECT DISTINCT status FROM deliveries"))}
        finally:
            engine.dispose()
        assert counts.errors == [] and (counts.duplicated, counts.resent_identical, counts.lost) == (0, 0, 0)
        assert sum(sent) == len(pop.to_send) == carrier.handed_over()  # between them, everyone once
        assert statuses <= {"sent", "empty"}
        # Each run checks the server at start (and the single-process run sends over that connection); the worker
        # processes of the other run open their own.
        assert carrier.host.connections >= 3
    finally:
        carrier.close()
