"""The PostgreSQL server goes away during `digest run` and comes back; or is not there at all.

A dedicated server (not the session's shared one) is stopped (`pg_ctl stop -m immediate`, as a crash or a
failover looks to clients) once the run has written some outbox files, and started again. The failed run must
say so in one line on stderr with a non-zero status; the next run, started at once with the production claim
lease (the failed run is dead, so its claims are open), completes:
every subscriber has exactly one digest for the week, in the outbox and in the ledger.
"""

from __future__ import annotations

import email.policy
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from digest import db
from digest.listings import import_listings
from digest.models import Delivery, Subscriber
from digest.run import run
from digest.settings import Settings
from digest.subscribers import SubscriberIn, upsert
from digest.taxonomy import load_taxonomy
from digest.carriers.null import RecordingTransport

from ..support import pg
from ..conftest import JOINED, NOW, TABLES, listing

DIGEST = str(Path(sys.executable).with_name("digest"))
WEEK = "2026-W48"
N = 3000  # a few thousand subscribers: fifteen pages of 200


class OwnServer(pg.Server):
    """A PostgreSQL server of this module alone, which the tests stop and start at will."""

    def start(self) -> str:
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(self._cmd(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "-A",
                                 "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
                       check=True, capture_output=True)
        self.up()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        return self.url

    def up(self) -> None:
        # A commit is durable when it returns (synchronous_commit on, as in production): the suite's shared
        # server turns that off for speed, and an immediate stop would then lose the last commits.
        self.pg_ctl("start", "-w", "-t", "30", "-l", str(self.dir / "log"), "-o",
                    f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=on")

    def down(self) -> None:
        self.pg_ctl("stop", "-w", "-m", "immediate")


@pytest.fixture(scope="module")
def server():
    try:
        server = OwnServer()
    except pg.PostgresMissing as e:
        pytest.fail(str(e))  # never a skip
    server.start()
    engine = db.make_engine(server.url)
    db.upgrade(engine)
    engine.dispose()
    yield server
    server.stop()


@pytest.fixture
def fresh(server):
    """fresh(n): the dedicated server emptied and filled with n due subscribers and a few listings."""
    engines = []

    def make(n: int):
        engine = db.make_engine(server.url)
        engines.append(engine)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        populate(engine, n)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def populate(engine, n: int) -> None:
    """Twenty listings; n subscribers who joined a month ago, all due at NOW (Monday 08:00 UTC slot)."""
    taxonomy = load_taxonomy()
    records = [listing(f"l{i}", verified_at=(NOW - timedelta(hours=i + 1)).isoformat()) for i in range(20)]
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"faults-db-listings-{os.getpid()}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with Session(engine) as s:
        assert import_listings(s, str(path), taxonomy, NOW).imported == 20
        # One subscriber through the real path; the rest are copies of its row with their own address.
        first, _ = upsert(s, SubscriberIn.model_validate({"email": "u0@example.com", "confirmed": True}), taxonomy,
                          Settings(), JOINED)
        s.flush()
        row = {c.key: getattr(first, c.key) for c in Subscriber.__table__.columns if c.key != "id"}
        s.execute(insert(Subscriber), [row | {"email": f"u{i}@example.com", "email_key": f"u{i}@example.com"}
                                       for i in range(1, n)])
        s.commit()
    path.unlink()


def cli_env(server: OwnServer, outbox: Path, url: str | None = None) -> dict[str, str]:
    return os.environ | {"DIGEST_DATABASE_URL": url or server.url, "DIGEST_OUTBOX_DIR": str(outbox),
                         "DIGEST_CLAIM_LEASE": "1"}


def digest_run(env) -> subprocess.CompletedProcess:
    return subprocess.run([DIGEST, "run", "--now", NOW.isoformat()], env=env, capture_output=True, text=True,
                          timeout=300)


def assert_one_clear_line(stderr: str, starts: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith(starts), lines[0]
    return lines[0]


def deliveries(engine) -> dict[int, Delivery]:
    with Session(engine) as s:
        return {d.subscriber_id: d for d in s.scalars(select(Delivery))}


def headers(outbox: Path) -> dict[str, tuple[str, str]]:
    """(Message-ID, To address) of each outbox message, read from its header block alone."""
    parser = BytesHeaderParser(policy=email.policy.default)
    out = {}
    for p in outbox.rglob("*.eml"):
        with p.open("rb") as f:
            head = parser.parse(f)
        out[p.relative_to(outbox).with_suffix("").as_posix()] = (head["Message-ID"], head["To"].addresses[0].addr_spec)
    return out


def files(outbox: Path) -> dict[str, int]:
    """Each outbox message and the inode of its file: a message written again is a new file (os.replace)."""
    return {p.relative_to(outbox).with_suffix("").as_posix(): p.stat().st_ino for p in outbox.rglob("*.eml")}


@pytest.mark.slow
def test_server_stopped_mid_run_fails_in_one_line_and_the_next_run_completes(server, fresh, tmp_path):
    engine = fresh(N)
    outbox = tmp_path / "outbox"
    env = cli_env(server, outbox)
    proc = subprocess.Popen([DIGEST, "run", "--now", NOW.isoformat()], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    stopped_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        if outbox.is_dir() and sum(1 for _ in outbox.rglob("*.eml")) >= 250:  # into the second page
            server.down()
            stopped_at = sum(1 for _ in outbox.rglob("*.eml"))
            break
        time.sleep(0.005)
    out, err = proc.communicate(timeout=120)
    assert stopped_at is not None, f"the run ended before the server could be stopped: {out}"

    # The failed run: one line naming the database's answer, a non-zero status, nothing on stdout.
    assert proc.returncode == 1, (out, err)
    line = assert_one_clear_line(err, "Error: database error: ")
    assert "Connection refused" in line or "server closed the connection" in line or "terminating" in line, line
    assert out == ""

    # While the server is down, a run cannot start: one line again, and no secret from the URL.
    down = digest_run(cli_env(server, outbox, server.url.replace("postgres@", "postgres:s3cret@")))
    assert down.returncode == 1
    line = assert_one_clear_line(down.stderr, "Error: cannot reach the database postgresql+psycopg://postgres:***@")
    assert "Connection refused" in line and "s3cret" not in line
    assert down.stdout == ""

    written = files(outbox)
    server.up()
    before = deliveries(engine)
    recorded = {sid for sid, d in before.items() if d.status == "sent"}
    left_claimed = {sid for sid, d in before.items() if d.status == "claimed"}
    assert recorded and len(written) >= len(recorded)
    time.sleep(1.1)  # the failed run's claims expire (DIGEST_CLAIM_LEASE=1)

    again = digest_run(env)
    assert again.returncode == 0, again.stderr
    assert f"due {N - len(recorded)}, sent {N - len(recorded)}, skipped-empty 0, failed 0, in progress elsewhere 0" \
        in again.stdout
    rows = deliveries(engine)
    with Session(engine) as s:
        everyone = set(s.scalars(select(Subscriber.id).where(Subscriber.status == "active")))
    assert len(everyone) == N and set(rows) == everyone  # nobody missed
    assert {(d.period, d.status) for d in rows.values()} == {(WEEK, "sent")}
    heads = headers(outbox)
    assert set(heads) == {f"{WEEK}/{sid}" for sid in everyone}  # one file per subscriber and week, no strays
    with Session(engine) as s:
        emails = dict(s.execute(select(Subscriber.id, Subscriber.email)).all())
    for sid, d in rows.items():  # each file is the message the ledger recorded, to its subscriber
        assert heads[f"{WEEK}/{sid}"] == (d.message_id, emails[sid])

    # Written again by the second run: only messages the ledger had not recorded as sent (their page's
    # finish never reached the database), never one it had.
    now_written = files(outbox)
    rewritten = {key for key, inode in written.items() if now_written[key] != inode}
    rewritten_ids = {int(k.split("/")[1]) for k in rewritten}
    assert not rewritten_ids & recorded
    assert rewritten_ids <= left_claimed
    print(f"\ndatabase stopped at {stopped_at} outbox files; {len(recorded)} recorded as sent, "
          f"{len(left_claimed)} left claimed, {len(rewritten)} messages written again by the next run")

    third = digest_run(env)
    assert third.returncode == 0 and "due 0, sent 0" in third.stdout


class StopsTheDatabase(RecordingTransport):
    """A carrier that accepts everything; the database server dies as it accepts message `at`."""

    def __init__(self, server: OwnServer, at: int | None):
        super().__init__()
        self.server, self.at = server, at

    def send(self, key, to, raw, tags=None):
        out = super().send(key, to, raw, tags)
        if len(self.sent) == self.at:
            self.server.down()
        return out


def test_a_database_outage_mid_page_resends_at_most_the_message_in_flight(server, fresh):
    engine = fresh(450)
    settings = Settings(database_url=server.url)  # the production lease: the failed run is dead, not waited out
    carrier = StopsTheDatabase(server, at=250)  # the 50th message of the second page
    with pytest.raises(OperationalError):
        run(settings, NOW, engine=engine, transport=carrier)
    sent_while_down = len(carrier.sent) - 250
    server.up()
    carrier.at = None
    _, summary = run(settings, NOW, engine=engine, transport=carrier)
    assert summary.in_progress_elsewhere == 0
    times = Counter(key for key, _to, _raw in carrier.sent)
    assert set(times) == {f"{WEEK}/{sid}" for sid in range(1, 451)}  # nobody missed, whatever happens
    print(f"\nsent after the database went away: {sent_while_down}; "
          f"sent twice: {sum(1 for n in times.values() if n > 1)}")
    assert sum(1 for n in times.values() if n > 1) <= 1


@pytest.mark.parametrize("url, says", [
    ("postgresql+psycopg://postgres@127.0.0.1:{closed}/postgres", "cannot reach the database"),
    ("sqlite:////nonexistent-dir/digest.db", "cannot reach the database sqlite:////nonexistent-dir/digest.db"),
    ("postgres://who@where", "DIGEST_DATABASE_URL is not usable"),
])
def test_a_database_unreachable_at_start_is_one_clear_line(tmp_path, url, says):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    done = digest_run(os.environ | {"DIGEST_DATABASE_URL": url.format(closed=closed),
                                    "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox")})
    assert done.returncode == 1 and done.stdout == ""
    assert_one_clear_line(done.stderr, f"Error: {says}")
    assert not (tmp_path / "outbox").exists()
