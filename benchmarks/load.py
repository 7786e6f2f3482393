"""The subscriber web app under a bounded local load: a real `digest serve` (waitress) on loopback.

Seeds active subscribers, then clients on keep-alive connections fire RFC 8058 one-click unsubscribe POSTs
and preferences GETs until the fixed number of requests is done (a deadline stops a hung server too).
Afterwards it checks the database: everyone whose one-click POST was answered 200 is unsubscribed (no lost
writes), nobody else is (no stray writes), the server logged no "database is locked" and no traceback, and
a SQLite database takes a write at once when the server has stopped (WAL, nothing left locked).

    .venv/bin/python -m benchmarks.load                     # SQLite, writes benchmarks/results/load.json
    .venv/bin/python -m benchmarks.load --postgresql        # SQLite and a throwaway PostgreSQL (tests/pg.py)
    .venv/bin/python -m benchmarks.load --requests 500 --subscribers 300 --concurrency 16 --out /tmp/load.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import queue
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from digest import db, tokens
from digest.models import Subscriber

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "load.json"
KEY = "load-benchmark-signing-key-0123456789abcdef"
ONE_CLICK = b"List-Unsubscribe=One-Click"  # RFC 8058: the body a mail client's unsubscribe button sends
FORM = "application/x-www-form-urlencoded"
SERVER_PROBLEMS = ("database is locked", "Traceback", "unhandled error")


@dataclass
class Plan:
    """What to send, decided up front from a seed so runs are comparable."""

    subscribers: int
    requests: int
    concurrency: int
    threads: int
    seed: int = 7
    unsubscribe_share: float = 0.5  # the rest are preferences GETs
    deadline_s: float = 600.0


@dataclass
class Outcome:
    kind: str
    subscriber: int
    status: int | None  # None: the connection failed
    seconds: float


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, o: Outcome) -> None:
        with self.lock:
            self.outcomes.append(o)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_subscribers(url: str, n: int) -> list[int]:
    """Migrate the database and insert `n` active subscribers in one statement; return their ids."""
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        now = datetime.now(UTC)
        rows = [dict(email=f"load{i}@example.com", email_key=f"load{i}@example.com", name=None, status="active",
                     stack=["python"], levels=[], regions=[], timezone="UTC", send_day=0, send_hour=8,
                     hide_no_salary=False, token_version=1, created_at=now, updated_at=now, confirmed_at=now,
                     source="load", bounce_count=0) for i in range(n)]
        with Session(engine) as s, s.begin():
            s.execute(insert(Subscriber), rows)
        with Session(engine) as s:
            return list(s.scalars(select(Subscriber.id).where(Subscriber.source == "load").order_by(Subscriber.id)))
    finally:
        engine.dispose()


def requests_for(plan: Plan, ids: list[int]) -> list[tuple[str, int, str]]:
    """(kind, subscriber id, path) in a shuffled order; some people get their one-click POST twice (mail
    clients retry) and some are never touched, so stray writes would show."""
    rnd = random.Random(plan.seed)
    pool = ids[: max(1, int(len(ids) * 0.9))]  # the last tenth is never sent anything
    out = []
    for _ in range(plan.requests):
        sid = rnd.choice(pool)
        if rnd.random() < plan.unsubscribe_share:
            out.append(("unsubscribe", sid, f"/unsubscribe/{tokens.sign((KEY,), 'unsubscribe', sid, 1)}"))
        else:
            out.append(("preferences", sid, f"/preferences/{tokens.sign((KEY,), 'preferences', sid, 1)}"))
    return out


class Server:
    """`digest serve` in a subprocess on a free port, its output kept in a file."""

    def __init__(self, url: str, workdir: Path, threads: int):
        self.port = free_port()
        self.log = workdir / "server.log"
        env = os.environ | {"DIGEST_DATABASE_URL": url, "DIGEST_SECRET_KEYS": KEY,
                            "DIGEST_OUTBOX_DIR": str(workdir / "outbox"), "DIGEST_TRANSPORT": "outbox",
                            "DIGEST_BASE_URL": f"http://127.0.0.1:{self.port}"}
        command = [str(Path(sys.executable).parent / "digest"), "serve", "--port", str(self.port),
                   "--threads", str(threads)]
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(command, env=env, stdout=self._out, stderr=subprocess.STDOUT, cwd=workdir)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"digest serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"digest serve did not answer /healthz in {timeout:.0f} s")

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)
        self._out.close()
        return self.log.read_text(errors="replace")


def client(port: int, work: queue.Queue, tally: Tally, deadline: float) -> None:
    """One keep-alive connection working through the shared queue; a failed connection is opened again."""
    conn = None
    while time.monotonic() < deadline:
        try:
            kind, sid, path = work.get_nowait()
        except queue.Empty:
            break
        started = time.perf_counter()
        status = None
        try:
            conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if kind == "unsubscribe":
                conn.request("POST", path, body=ONE_CLICK, headers={"Content-Type": FORM})
            else:
                conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            status = response.status
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
        tally.add(Outcome(kind, sid, status, time.perf_counter() - started))
    if conn is not None:
        conn.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def latency(outcomes: list[Outcome]) -> dict:
    ms = [o.seconds * 1000 for o in outcomes]
    return {"p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms, default=0.0), 2),
            "mean_ms": round(statistics.fmean(ms), 2) if ms else 0.0}


def check_database(url: str, ids: list[int], unsubscribed: set[int]) -> dict:
    """Count lost writes (a 200 one-click whose row is not unsubscribed) and stray ones."""
    engine = db.make_engine(url)
    try:
        with Session(engine) as s:
            status = dict(s.execute(select(Subscriber.id, Subscriber.status).where(Subscriber.id.in_(ids))).all())
            stamped = s.scalar(select(func.count()).select_from(Subscriber)
                               .where(Subscriber.id.in_(unsubscribed), Subscriber.unsubscribed_at.is_not(None)))
    finally:
        engine.dispose()
    lost = sorted(sid for sid in unsubscribed if status.get(sid) != "unsubscribed")
    stray = sorted(sid for sid in ids if sid not in unsubscribed and status.get(sid) != "active")
    return {"unsubscribed_confirmed": len(unsubscribed), "lost_writes": len(lost), "lost_ids": lost[:20],
            "stray_writes": len(stray), "stray_ids": stray[:20], "unsubscribed_at_set": stamped}


def sqlite_takes_a_write_at_once(url: str) -> dict:
    """With the server gone, open the file with no busy timeout: WAL mode, and BEGIN IMMEDIATE succeeds."""
    path = make_url(url).database
    conn = sqlite3.connect(path, timeout=0)
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            locked = False
        except sqlite3.OperationalError:
            locked = True
    finally:
        conn.close()
    return {"journal_mode": mode, "locked_after": locked}


def run_load(url: str, plan: Plan, workdir: Path) -> dict:
    """Seed, serve, fire the plan's requests, stop, and check: one database's figures."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = make_url(url).get_backend_name()
    ids = seed_subscribers(url, plan.subscribers)
    work: queue.Queue = queue.Queue()
    for item in requests_for(plan, ids):
        work.put(item)
    server = Server(url, workdir, plan.threads)
    tally = Tally()
    try:
        server.wait_ready()
        deadline = time.monotonic() + plan.deadline_s
        started = time.perf_counter()
        clients = [threading.Thread(target=client, args=(server.port, work, tally, deadline), daemon=True)
                   for _ in range(plan.concurrency)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        server_log = server.stop()
    outcomes = tally.outcomes
    errors = [o for o in outcomes if o.status is None or not 200 <= o.status < 300]
    unsubscribed = {o.subscriber for o in outcomes if o.kind == "unsubscribe" and o.status == 200}
    result = {
        "database": database,
        "plan": {"subscribers": plan.subscribers, "requests": plan.requests, "concurrency": plan.concurrency,
                 "server_threads": plan.threads, "seed": plan.seed, "unsubscribe_share": plan.unsubscribe_share},
        "requests": len(outcomes),
        "not_sent": work.qsize(),  # left over only if the deadline stopped the clients
        "by_kind": {k: sum(o.kind == k for o in outcomes) for k in ("unsubscribe", "preferences")},
        "errors": len(errors),
        "error_statuses": sorted({str(o.status) for o in errors}),
        "seconds": round(elapsed, 3),
        "throughput_rps": round(len(outcomes) / elapsed, 1) if elapsed else 0.0,
        "latency": latency(outcomes),
        "latency_by_kind": {k: latency([o for o in outcomes if o.kind == k]) for k in ("unsubscribe", "preferences")},
        "server_problems": {p: server_log.count(p) for p in SERVER_PROBLEMS},
    } | check_database(url, ids, unsubscribed)
    if database == "sqlite":
        result |= sqlite_takes_a_write_at_once(url)
    return result


def machine() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}


def summary_line(r: dict) -> str:
    lat = r["latency"]
    return (f"{r['database']:10} {r['requests']} requests, {r['errors']} errors, {r['throughput_rps']} req/s, "
            f"p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, p99 {lat['p99_ms']} ms, "
            f"lost writes {r['lost_writes']}, stray writes {r['stray_writes']}, "
            f"'database is locked' {r['server_problems']['database is locked']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=24, help="client connections at once")
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads (digest serve --threads)")
    parser.add_argument("--postgresql", action="store_true",
                        help="also run on PostgreSQL: TEST_DATABASE_URL, or a throwaway server (tests/pg.py)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    a = parser.parse_args(argv)
    plan = Plan(a.subscribers, a.requests, a.concurrency, a.threads, a.seed)
    runs = []
    with tempfile.TemporaryDirectory(prefix="jobdigest-load-") as tmp:
        runs.append(run_load(f"sqlite:///{Path(tmp) / 'sqlite' / 'digest.db'}", plan, Path(tmp) / "sqlite"))
        print(summary_line(runs[-1]), flush=True)
        if a.postgresql:
            from tests import pg

            server = None
            url = os.environ.get("TEST_DATABASE_URL")
            if not url:
                server = pg.Server()
                url = server.start()
            try:
                runs.append(run_load(url, plan, Path(tmp) / "postgresql"))
            finally:
                if server is not None:
                    server.stop()
            print(summary_line(runs[-1]), flush=True)
    report = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
              "command": "python -m benchmarks.load " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": machine(), "runs": runs}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {a.out}")
    held = all(r["errors"] == 0 and r["lost_writes"] == 0 and r["stray_writes"] == 0 and r["not_sent"] == 0
               and not any(r["server_problems"].values()) and not r.get("locked_after") for r in runs)
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
