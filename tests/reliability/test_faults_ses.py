"""SES misbehaving during `digest run` (the real CLI, the real SES transport, moto's SES): the ledger, the summary
line and the exit status against what SES accepted.

Figures (400 subscribers, eight of them refused by SES; per database):
  run 1  a storm: 429 bursts, 500/503, connection resets, refused connections, connect and read timeouts, and
         SendingPausedException from the 260th attempt on: stops with exit 3, the ledger holds exactly what SES
         accepted;
  run 2  sustained throttling: ten messages give up, the circuit breaker fails the rest fast: exit 2, nobody marked;
  run 3  a calm SES: everyone still due is sent, the refused addresses fail for good: exit 2;
  run 4  nothing is due: exit 0.
  Nobody twice, nobody lost, each refused address tried exactly once.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.cli import main
from digest.models import Delivery, Run, Subscriber
from digest.settings import Settings
from digest.subscribers import SubscriberIn, upsert

from ..conftest import JOINED, NOW, listing
from .faults_ses import StormySes, accepted, ses_env

N = 400
REJECTED_AT = (7, 57, 107, 157, 207, 257, 307, 357)  # positions (in send order) SES refuses for good
SUMMARY = re.compile(
    r"^run ([0-9a-f]{8}) at (\S+): due (\d+), sent (\d+), skipped-empty (\d+), failed (\d+), "
    r"in progress elsewhere (\d+), listings considered (\d+)$", re.M)
BY_KIND = re.compile(r"^failed by kind: rejected (\d+) \(final\), throttled (\d+), unavailable (\d+) "
                     r"\(both due again next run\)$", re.M)

# Run 1, by attempt number: what SES (or the network) does to that HTTP attempt.
STORM = {
    11: "throttle", 12: "throttle", 13: "throttle",  # a short burst: ridden out by the retries
    **{n: "throttle" for n in range(30, 45)},  # fifteen in a row: three messages give up (five tries each)
    60: "500", 61: "503",  # two server errors, then accepted
    80: "503", 81: "503", 82: "503",  # one message gives up: unavailable (three tries)
    100: "reset", 101: "refused", 102: "connect-timeout",  # one message gives up on the network
    120: "read-timeout", 140: "connect-timeout", 150: "throttle", 151: "reset",  # ridden out
    **{n: ("503" if n % 2 == 0 else "throttle") for n in range(170, 182)},  # mixed: two give up (503 x3)
}
PAUSED_FROM = 260  # SendingPausedException from this attempt on: about half way through the list


def people(engine) -> dict[str, int]:
    """Add two listings and N subscribers (one transaction); return {address: id}."""
    from digest.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    settings = Settings()
    out = {}
    with Session(engine) as s:
        for i in range(N):
            address = f"reader{i:03d}@example.{('net', 'org', 'com')[i % 3]}"
            sub, _ = upsert(s, SubscriberIn.model_validate({"email": address, "confirmed": True, "timezone": "UTC"}),
                            taxonomy, settings, JOINED)
            s.flush()
            out[address] = sub.id
        s.commit()
    return out


def digest_run(env: dict[str, str]):
    """`digest run --now NOW` as an operator types it; returns (exit status, stdout, stderr)."""
    result = CliRunner().invoke(main, ["run", "--now", NOW.isoformat()], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def summary_of(stdout: str, stderr: str) -> dict[str, int]:
    m = SUMMARY.search(stdout)
    assert m, stdout
    out = dict(zip(("due", "sent", "empty", "failed", "elsewhere", "listings"), map(int, m.groups()[2:])))
    kinds = BY_KIND.search(stderr)
    out.update(zip(("rejected", "throttled", "unavailable"), map(int, kinds.groups()) if kinds else (0, 0, 0)))
    return out


def ledger(engine) -> dict[int, tuple[str, str | None, str | None]]:
    with Session(engine) as s:
        return {d.subscriber_id: (d.status, d.transport_id, d.message_id) for d in s.scalars(select(Delivery))}


def assert_ledger_is_what_ses_accepted(engine, ids: dict[str, int], storm: StormySes) -> None:
    """Sent rows are exactly the messages SES accepted (by its MessageId); refused ones are final; nothing else."""
    rows = ledger(engine)
    took = accepted()
    assert {sid: (st, tid, mid) for sid, (st, tid, mid) in rows.items() if st == "sent"} == {
        ids[to]: ("sent", ses_id, msg["Message-ID"]) for ses_id, to, msg in took}
    refused = {ids[a.to] for a in storm.log if a.answer == "rejected"}
    assert {sid for sid, (st, _t, _m) in rows.items() if st == "rejected"} == refused
    assert Counter(st for st, _t, _m in rows.values()) == Counter(sent=len(took), rejected=len(refused))


def test_an_ses_storm_never_marks_unsent_mail_and_the_next_runs_send_everyone_once(
        engine, db_url, ses_client, tmp_path, monkeypatch, add_listings):  # noqa: F811
    add_listings(listing("a"), listing("b", title="Platform Engineer"))
    ids = people(engine)
    order = sorted(ids, key=ids.get)  # the run goes through subscribers by id
    refused = frozenset(order[i] for i in REJECTED_AT)
    storm = StormySes(rejected=refused).install(monkeypatch)
    env = ses_env(db_url, str(tmp_path / "outbox"))

    # Run 1: the storm, then the account is paused half way.
    storm.next_run(script=STORM.get, paused_from=PAUSED_FROM)
    code, out, err = digest_run(env)
    first = summary_of(out, err)
    expected = storm.expected_outcomes(1)
    assert code == 3  # the carrier stopped the run
    assert re.search(r"^stopped early \(paused: SendingPausedException: Email sending is disabled for this account\."
                     r"\); everyone not yet sent stays due for the next run$", err, re.M), err
    assert (first["due"], first["sent"], first["empty"], first["elsewhere"]) == (N, expected["sent"], 0, 0)
    assert (first["rejected"], first["throttled"], first["unavailable"]) == (
        expected["rejected"], expected["throttled"], expected["unavailable"])
    assert first["failed"] == first["rejected"] + first["throttled"] + first["unavailable"]
    # The figures of this storm, over the 225 messages tried before the pause (259 attempts, 35 of them retries).
    assert dict(expected) == {"sent": 212, "rejected": 5, "throttled": 3, "unavailable": 4, "paused": 1}
    attempts = storm.attempts(1)
    assert len(attempts) == PAUSED_FROM  # the pause stopped the run at once: one paused attempt, no retry
    per_message = Counter(a.to for a in attempts)
    assert max(per_message.values()) <= 6 and all(per_message[to] == 1 for to in refused if to in per_message)
    assert_ledger_is_what_ses_accepted(engine, ids, storm)
    assert len(accepted()) == first["sent"] == 212

    # Run 2: the account is back, but SES throttles everything for a while: the breaker stops hammering it.
    storm.next_run(script=lambda n: "throttle" if n <= 80 else None)
    code, out, err = digest_run(env)
    second = summary_of(out, err)
    still_due = N - 212 - 5
    assert code == 2
    assert (second["due"], second["sent"], second["failed"], second["throttled"], second["rejected"]) == (
        still_due, 0, still_due, still_due, 0)
    assert len(storm.attempts(2)) == 50  # ten messages tried five times, then the rest failed fast, untried
    assert_ledger_is_what_ses_accepted(engine, ids, storm)  # nothing new marked, nothing given up for good
    assert len(accepted()) == 212

    # Run 3: SES is calm. Everyone still due is sent; the three refused addresses not reached before fail now.
    storm.next_run()
    code, out, err = digest_run(env)
    third = summary_of(out, err)
    assert code == 2  # some messages failed (for good): the operator is told which kind
    assert (third["due"], third["sent"], third["failed"], third["rejected"], third["throttled"],
            third["unavailable"]) == (still_due, still_due - 3, 3, 3, 0, 0)
    assert_ledger_is_what_ses_accepted(engine, ids, storm)

    # Run 4: nothing left.
    storm.next_run()
    code, out, err = digest_run(env)
    assert code == 0 and summary_of(out, err)["due"] == 0 and storm.attempts(4) == []

    took = Counter(to for _id, to, _msg in accepted())
    assert set(took) == set(ids) - refused  # nobody lost
    assert set(took.values()) == {1}  # nobody twice
    tries = Counter(a.to for a in storm.log)
    assert {to: tries[to] for to in refused} == {to: 1 for to in refused}  # refused once, never retried
    rows = ledger(engine)
    assert {ids[to] for to in refused} == {sid for sid, (st, _t, _m) in rows.items() if st == "rejected"}
    with Session(engine) as s:
        assert [r.status for r in s.scalars(select(Run).order_by(Run.started_at))] == [
            "stopped", "finished", "finished", "finished"]
        assert s.scalar(select(Subscriber.status).where(Subscriber.id == ids[order[7]])) == "active"


def test_an_answer_lost_after_ses_accepted_costs_one_copy_never_a_lost_week(engine, db_url, ses_client, tmp_path,
                                                                             monkeypatch, add_listings):  # noqa: F811
    """A read timeout after SES took the message: the transport tries again (SES has no idempotency key), so that
    subscriber gets two copies; the ledger records the copy whose answer came back. The documented trade-off."""
    add_listings(listing("a"))
    with Session(engine) as s:
        from digest.taxonomy import load_taxonomy

        for i in range(5):
            upsert(s, SubscriberIn.model_validate({"email": f"r{i}@example.net", "confirmed": True}),
                   load_taxonomy(), Settings(), NOW - timedelta(days=30))
        s.commit()
    storm = StormySes().install(monkeypatch)
    storm.next_run(lost_after_accept={3})
    code, out, err = digest_run(ses_env(db_url, str(tmp_path / "outbox")))
    assert code == 0 and summary_of(out, err)["sent"] == 5
    took = Counter(to for _id, to, _msg in accepted())
    assert took == Counter({"r0@example.net": 1, "r1@example.net": 1, "r2@example.net": 2, "r3@example.net": 1,
                            "r4@example.net": 1})  # the one duplicate, and the bytes of both copies are the same
    copies = [msg for _id, to, msg in accepted() if to == "r2@example.net"]
    assert copies[0].as_bytes() == copies[1].as_bytes()  # same Message-ID: mail clients show one
    second_id = [i for i, to, _m in accepted() if to == "r2@example.net"][1]
    with Session(engine) as s:
        row = s.scalars(select(Delivery).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                        .where(Subscriber.email == "r2@example.net")).one()
    assert (row.status, row.transport_id) == ("sent", second_id)
