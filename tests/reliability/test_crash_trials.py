"""Crash anywhere, in the normal suite: a few SIGKILL trials of the real `digest run` per database, re-run at
once with the production claim lease, and SIGSTOP trials where a later run takes over from a frozen one.

The full count is `python -m tests.reliability.crash_harness` (50 outbox, 10 SES, 10 SMTP and 10 stop trials per
backend); this runs the same harness with fewer trials and a shorter list, then reads the last outbox as a mail client
would.
"""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import text

from digest import db
from tests.conftest import read_outbox

from .crash_carriers import DIGEST, ROOT, OutboxCarrier, SesCarrier
from .crash_harness import Counts, check, run_stop_trials, run_trials
from .crash_population import NOW, populate

pytestmark = pytest.mark.slow
SMTP_SEED = 4  # kills land mid-run, one trial runs --workers 2


def test_sigkill_anywhere_then_rerun_sends_every_due_subscriber_exactly_once(db_url, tmp_path):
    # Seed 11 kills during start-up, after a random number of messages and after the last one, so kills land
    # mid-run; the first trial also checks that one more run after the complete week finds nobody due.
    counts = run_trials(db_url, trials=4, seed=11, workdir=tmp_path, subscribers=400, final_rerun_every=4)

    assert counts["errors"] == []
    assert (counts["duplicated"], counts["lost"], counts["resent_changed"]) == (0, 0, 0)
    assert counts["trials"] == 4 and counts["kills_by_phase"].get("mid-run", 0) >= 1
    assert counts["crashes_survived"] == counts["kills"]
    assert counts["in_progress_elsewhere_after_rerun"] == 0  # the re-run right after the kills waited for nobody
    # The last trial's outbox, parsed strictly: one well-formed digest per subscriber owed one, as recorded.
    msgs = read_outbox(tmp_path / "outbox")
    engine = db.make_engine(db_url)
    with engine.connect() as c:
        emails = dict(c.execute(text("SELECT id, email FROM subscribers")).all())
        sent = {sid: (period, total) for sid, period, total in c.execute(
            text("SELECT subscriber_id, period, total_matches FROM deliveries WHERE status = 'sent'"))}
    engine.dispose()
    assert sorted(msgs) == sorted(f"{period}/{sid}" for sid, (period, _n) in sent.items())
    assert len(msgs) == counts["to_send"]
    for key, msg in msgs.items():
        sid = int(key.split("/")[1])
        assert msg["To"].addresses[0].addr_spec == emails[sid]
        assert int(msg["Subject"].split()[0]) == sent[sid][1] >= 1  # "10 new backend jobs for you: …"
        assert msg.get_body(("plain",)).get_content().strip() and msg.get_body(("html",)) is not None


def test_sigkill_on_the_ses_transport_re_sends_at_most_the_message_in_flight(db_url, tmp_path):
    # SES (faked in the killed process, every acceptance logged at once) is where a re-send is a second email.
    counts = run_trials(db_url, trials=2, seed=4, workdir=tmp_path, subscribers=200, final_rerun_every=2,
                        carrier="ses")

    assert counts["errors"] == []
    assert (counts["duplicated"], counts["lost"]) == (0, 0)
    assert counts["kills_by_phase"].get("mid-run", 0) >= 1
    # Each message is recorded before the next leaves: a kill can catch at most one accepted but unrecorded.
    assert counts["resent_identical"] <= counts["kills"]


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_sigkill_on_the_smtp_transport_re_sends_at_most_the_message_in_flight(db_url, tmp_path):
    # A real SMTP server in this process (STARTTLS, AUTH) takes the killed runs' mail: what it accepted survives
    # the kill, and a message it accepted twice is a second email. Some trials run --workers 2.
    counts = run_trials(db_url, trials=3, seed=SMTP_SEED, workdir=tmp_path, subscribers=200, final_rerun_every=3,
                        carrier="smtp")

    assert counts["errors"] == []
    assert (counts["duplicated"], counts["lost"]) == (0, 0)
    assert counts["kills_by_phase"].get("mid-run", 0) >= 1
    assert counts["crashes_survived"] == counts["kills"]
    assert counts["in_progress_elsewhere_after_rerun"] == 0
    # Each message is recorded before the next leaves: a kill can catch at most one accepted but unrecorded
    # (per process: with --workers 2, one per worker).
    assert counts["resent_identical"] <= counts["kills"] * 2


def test_a_run_frozen_past_its_lease_is_taken_over_and_resumes_sending_nothing_twice(db_url, tmp_path):
    # Run A is frozen (SIGSTOP) part-way; run B starts a quarter of an hour later by its clock (faketime), past A's
    # 600 s lease, and finishes the week; then A resumes (SIGCONT) and must find its claims taken.
    counts = run_stop_trials(db_url, trials=2, seed=5, workdir=tmp_path, subscribers=400)

    assert counts["errors"] == []
    assert (counts["trials"], counts["stops_mid_run"]) == (2, 2)
    assert (counts["duplicated"], counts["lost"], counts["resent_changed"]) == (0, 0, 0)
    assert counts["taken_over"] >= 1  # A found claims taken from it, and sent none of them
    msgs = read_outbox(tmp_path / "outbox")
    assert len(msgs) == counts["to_send"]
    engine = db.make_engine(db_url)
    with engine.connect() as c:
        emails = dict(c.execute(text("SELECT id, email FROM subscribers")).all())
        sent = {sid: mid for sid, mid in c.execute(
            text("SELECT subscriber_id, message_id FROM deliveries WHERE status = 'sent'"))}
        runs = c.execute(text("SELECT count(DISTINCT run_id) FROM deliveries WHERE status = 'sent'")).scalar_one()
    engine.dispose()
    assert runs == 2  # the week was sent by both runs between them
    for key, msg in msgs.items():
        sid = int(key.split("/")[1])
        assert msg["To"].addresses[0].addr_spec == emails[sid] and msg["Message-ID"] == sent[sid]


def test_the_checker_sees_a_lost_a_duplicated_and_a_disowned_message(db_url, tmp_path):
    """The trial check is only worth its zeros if it counts real damage: damage a finished week and look."""
    pop = populate(db_url, tmp_path, 120, seed=3)
    carrier = OutboxCarrier(tmp_path)
    subprocess.run(carrier.command(1), env=carrier.env(db_url), cwd=ROOT, check=True, capture_output=True,
                   timeout=120)
    engine = db.make_engine(db_url)
    try:
        clean = Counts()
        check(engine, carrier.delivered(pop), pop, clean)
        assert (clean.lost, clean.duplicated, clean.resent_identical, clean.errors) == (0, 0, 0, [])

        lost, twice, disowned = sorted(pop.to_send)[:3]
        outbox = carrier.outbox
        (outbox / pop.due[lost] / f"{lost}.eml").unlink()
        other_week = outbox / "2026-W40"  # a second digest for the same subscriber, filed under another week
        other_week.mkdir()
        (other_week / f"{twice}.eml").write_bytes(
            (outbox / pop.due[twice] / f"{twice}.eml").read_bytes().replace(b"Message-ID: <", b"Message-ID: <x"))
        with engine.begin() as c:
            c.execute(text("UPDATE deliveries SET message_id = '<other@example.com>' WHERE subscriber_id = :s"),
                      {"s": disowned})
        damaged = Counts()
        check(engine, carrier.delivered(pop), pop, damaged)
    finally:
        engine.dispose()
    assert (damaged.lost, damaged.duplicated) == (1, 2)
    assert len(damaged.errors) == 4  # lost, two digests, filed under another week, not the recorded message


@pytest.mark.parametrize("aws, says", [
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "Could not connect to the endpoint URL"),  # SES out of reach
    ({"AWS_ACCESS_KEY_ID": None}, "Unable to locate credentials"),
    ({"DIGEST_SES_REGION": None, "AWS_DEFAULT_REGION": None}, "You must specify a region"),
], ids=["unreachable", "no-credentials", "no-region"])
def test_a_run_that_cannot_start_ses_says_so_in_one_line_and_claims_nobody(tmp_path, aws, says):
    url = f"sqlite:///{tmp_path}/digest.db"
    pop = populate(url, tmp_path, 40, seed=2)
    env = SesCarrier(tmp_path).env(url) | {"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
                                           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    env = {k: v for k, v in (env | aws).items() if v is not None}
    done = subprocess.run([DIGEST, "run", "--now", NOW.isoformat()], env=env, capture_output=True, text=True,
                          timeout=120)  # the real command and boto3: no fake SES here

    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: cannot reach Amazon SES")
    assert says in done.stderr
    engine = db.make_engine(url)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM deliveries")).scalar_one() == 0  # nothing waits for a lease
    engine.dispose()
    assert pop.to_send  # there was someone to send to
