"""A run killed with SIGKILL part-way, then re-run: every due subscriber has exactly one digest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.models import Delivery, Subscriber
from digest.schedule import period_of

from .conftest import listing, read_outbox

DIGEST = str(Path(sys.executable).with_name("digest"))
N = 1200


def cli(env, *args, check=True):
    return subprocess.run([DIGEST, *args], env=env, capture_output=True, text=True, check=check, timeout=300)


@pytest.fixture
def crash_env(db_url, tmp_path, listing_file):
    env = os.environ | {
        "DIGEST_DATABASE_URL": db_url,
        "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
        "DIGEST_CLAIM_LEASE": "1",  # a crashed run's claims may be taken over after one second
    }
    stacks = ["python", "go", "java", "node", "rust"]
    # The CLI stamps imports with the real clock, so the run happens at the next Monday 09:00 after it.
    real = datetime.now(UTC)
    listings = [listing(f"l{i}", stack=[stacks[i % 5]], verified_at=(real - timedelta(hours=i + 1)).isoformat())
                for i in range(60)]
    cli(env, "listings", "import", listing_file(listings))
    csv = tmp_path / "subs.csv"
    csv.write_text("email,stack,timezone,confirmed\n" + "".join(
        f"u{i}@example.com,{stacks[i % 6] if i % 6 < 5 else 'elixir'},UTC,true\n" for i in range(N)))
    # Subscribers joined before this week's slot, so all are due at the run's --now.
    cli(env, "subscribers", "import", str(csv))
    return env


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [100, 700])
def test_sigkill_then_rerun_sends_everyone_exactly_once(engine, crash_env, tmp_path, kill_after):
    outbox = tmp_path / "outbox"
    monday = datetime.now(UTC).date() + timedelta(days=7 - datetime.now(UTC).weekday())
    now = f"{monday.isoformat()}T09:00:00Z"  # everyone's Monday 08:00 slot has just passed
    week = period_of(monday)
    proc = subprocess.Popen([DIGEST, "run", "--now", now], env=crash_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(1 for _ in outbox.rglob("*.eml")) >= kill_after:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    with Session(engine) as s:
        statuses = [d.status for d in s.scalars(select(Delivery))]
    assert "claimed" in statuses or len(statuses) < N, "kill did not land mid-run"

    time.sleep(1.1)  # let the crashed run's claims expire
    rerun = cli(crash_env, "run", "--now", now)
    assert "failed 0" in rerun.stdout

    with Session(engine) as s:
        rows = {d.subscriber_id: d for d in s.scalars(select(Delivery))}
        active = set(s.scalars(select(Subscriber.id).where(Subscriber.status == "active")))
    assert set(rows) == active  # nobody missed
    assert all(d.period == week for d in rows.values())
    sent = {sid for sid, d in rows.items() if d.status == "sent"}
    empty = {sid for sid, d in rows.items() if d.status == "empty"}
    assert sent | empty == active
    with Session(engine) as s:
        empty_emails = set(s.scalars(select(Subscriber.email).where(Subscriber.id.in_(empty))))
    assert empty_emails == {f"u{i}@example.com" for i in range(N) if i % 6 == 5}  # the elixir fans: no listings
    msgs = read_outbox(outbox)
    assert set(msgs) == {f"{week}/{sid}" for sid in sent}  # one file per subscriber and week, no strays
    for sid in sent:  # and it is the message the ledger recorded
        assert msgs[f"{week}/{sid}"]["Message-ID"] == rows[sid].message_id
    third = cli(crash_env, "run", "--now", now)
    assert "due 0" in third.stdout
