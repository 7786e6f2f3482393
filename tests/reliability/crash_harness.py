"""Crash anywhere: kill `digest run` with SIGKILL at random moments, re-run, and count what users would see.

A trial kills the real command (its whole process group, as a machine or container dying would) one to three
times in a row, at a seeded random moment: during start-up, after a random number of messages reached the
outbox, or after the last one; waits for the claim lease to end (DIGEST_CLAIM_LEASE=1), runs to the end, and
checks every due subscriber against the outbox and the ledger. The database and list are built once per backend;
between trials only the ledger and the outbox are reset.

    .venv/bin/python -m tests.reliability.crash_harness --trials 50

runs 50 trials on SQLite and 50 on a throwaway PostgreSQL (or TEST_DATABASE_URL) over a list of 2,000
subscribers and writes benchmarks/results/crash-trials.json. Figures: kills that landed (by phase), crashes
survived, digests duplicated and lost (both must be 0), and messages handed over again after a kill because the
ledger had not recorded them yet (same Message-ID, same bytes: invisible in the outbox, a second email on SES).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Sequence

from sqlalchemy import MetaData, Table, text

from digest import db

from .crash_population import NOW, Population, populate

ROOT = Path(__file__).resolve().parents[2]
DIGEST = str(Path(sys.executable).with_name("digest"))
LEASE_S = 1  # DIGEST_CLAIM_LEASE: a killed run's claims may be taken over after a second
RUN_TIMEOUT_S = 300


@dataclass
class Counts:
    trials: int = 0
    kills: int = 0  # SIGKILLs sent to a live run
    crashes_survived: int = 0  # kills in trials whose final state was correct
    kills_by_phase: Counter = field(default_factory=Counter)  # startup / mid-run / late; missed = already exited
    trials_with_workers_2: int = 0
    duplicated: int = 0  # digests beyond the first for a subscriber and week (files, or a file the ledger disowns)
    lost: int = 0  # due subscribers without a digest (or without their "empty" row) after the final run
    # Messages the outbox had accepted before a kill but the ledger had not yet recorded as sent, summed over the
    # kills (one left unrecorded by two kills in a row counts twice): the next run hands them over again.
    unrecorded_at_kill: int = 0
    # Distinct messages handed over again after a kill (their file replaced): same Message-ID and, so far, the
    # same bytes (resent_identical), so one file in the outbox; with SES each is a second email.
    resent_identical: int = 0
    resent_changed: int = 0  # handed over again with different bytes: a visibly different second digest
    nobody_due_checks: int = 0  # trials followed by one more run, which must find nobody due
    stray_temp_files: int = 0  # half-written outbox temp files a kill left behind (never an .eml)
    errors: list[str] = field(default_factory=list)  # anything else wrong, one line each

    def as_dict(self) -> dict:
        d = asdict(self)
        d["kills_by_phase"] = dict(sorted(self.kills_by_phase.items()))
        d["errors"] = self.errors[:50]
        return d


def clean_env(url: str, outbox: Path) -> dict[str, str]:
    """The environment of every `digest` the harness starts: ours, whatever the shell had."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    return env | {"DIGEST_DATABASE_URL": url, "DIGEST_OUTBOX_DIR": str(outbox), "DIGEST_TRANSPORT": "outbox",
                  "DIGEST_CLAIM_LEASE": str(LEASE_S)}


def run_args(workers: int) -> list[str]:
    return [DIGEST, "run", "--now", NOW.isoformat(), "--workers", str(workers)]


# --- looking at the outbox and the ledger ---

def eml_files(outbox: Path) -> list[Path]:
    if not outbox.is_dir():
        return []
    return [Path(e.path) for d in os.scandir(outbox) if d.is_dir()
            for e in os.scandir(d.path) if e.name.endswith(".eml")]


def count_eml(outbox: Path) -> int:
    if not outbox.is_dir():
        return 0
    return sum(1 for d in os.scandir(outbox) if d.is_dir() for e in os.scandir(d.path) if e.name.endswith(".eml"))


def ledger_rows(engine) -> list[tuple[int, str, str, str | None]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text("SELECT subscriber_id, period, status, message_id FROM deliveries"))]


def runs_count(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM runs")).scalar_one()


def headers(path: Path):
    """The header block of a message, parsed as a mail client would."""
    with path.open("rb") as f:
        head = f.read(16384)
    end = head.find(b"\r\n\r\n")
    return BytesHeaderParser(policy=default_policy).parsebytes(head[: end + 4] if end >= 0 else head)


def reset(engine, outbox: Path) -> None:
    """Forget the week: delete the ledger (and every table that hangs off it, found by reflection) and the outbox."""
    meta = MetaData()
    meta.reflect(engine)
    deliveries = meta.tables["deliveries"]
    doomed: list[Table] = [deliveries]
    changed = True
    while changed:
        changed = False
        for table in meta.sorted_tables:
            if table not in doomed and any(fk.column.table in doomed for fk in table.foreign_keys):
                doomed.append(table)
                changed = True
    with engine.begin() as c:
        for table in reversed(doomed):  # children before their parents
            c.execute(table.delete())
    shutil.rmtree(outbox, ignore_errors=True)


# --- killing ---

def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies do no work and are not counted)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    while _group_alive(proc.pid):  # worker processes of --workers 2 die with their parent's group
        time.sleep(0.01)


@dataclass
class Attempt:
    mode: str  # early / files / late
    phase: str  # startup / mid-run / late / missed
    files_before: int
    files_after: int
    unrecorded: int = 0  # messages in the outbox whose ledger row did not say "sent" when the kill landed
    error: str | None = None  # the run ended on its own with an error before the kill


def killed_attempt(rng: random.Random, engine, env: dict, outbox: Path, workers: int, pop: Population) -> Attempt:
    """Start a run and SIGKILL its process group at a random moment; say where in the run it landed."""
    remaining = len(pop.to_send) - count_eml(outbox)
    roll = rng.random()
    # Nothing left to write: a kill can still land while the run re-claims and records what the last one left.
    mode = "early" if roll < 0.2 or remaining == 0 else "files" if roll < 0.85 else "late"
    files_before, runs_before = count_eml(outbox), runs_count(engine)
    target = files_before + (rng.randint(1, remaining) if mode == "files" else remaining)
    delay = rng.uniform(0.0, 2.5 if remaining == 0 else 1.5)
    proc = subprocess.Popen(run_args(workers), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    started = time.monotonic()
    while proc.poll() is None and time.monotonic() - started < RUN_TIMEOUT_S:
        if mode == "early" and time.monotonic() - started >= delay:
            break
        if mode != "early" and count_eml(outbox) >= target:
            break
        time.sleep(0.003)
    exited = proc.poll() is not None
    kill_group(proc)
    out, err = proc.communicate()
    files_after = count_eml(outbox)
    rows = {(sid, period): status for sid, period, status, _m in ledger_rows(engine)}
    unrecorded = sum(1 for p in eml_files(outbox) if rows.get((int(p.stem), p.parent.name)) != "sent")
    error = None
    if exited:
        phase = "missed"
        if proc.returncode != 0 or b"Traceback" in err:
            error = f"a run exited {proc.returncode} on its own: {err.decode(errors='replace')[-500:]}"
    else:
        finished = sum(1 for status in rows.values() if status in ("sent", "empty"))
        if runs_count(engine) == runs_before:
            phase = "startup"  # killed before the run recorded itself: imports, settings, planning
        elif finished == len(pop.due):
            phase = "late"  # every digest out and recorded; killed while writing the index or closing
        else:
            phase = "mid-run"
    return Attempt(mode, phase, files_before, files_after, unrecorded, error)


# --- one trial ---

def check(engine, outbox: Path | Sequence[Path], pop: Population, counts: Counts,
          snapshot: dict[Path, tuple[int, Path]]) -> None:
    """Compare the outbox (or the outboxes of several processes) and the ledger with what the week owes each
    subscriber; add to the counts."""
    outboxes = [outbox] if isinstance(outbox, Path) else list(outbox)
    rows = ledger_rows(engine)
    by_sub: dict[int, list[tuple[str, str, str | None]]] = {}
    for sid, period, status, mid in rows:
        by_sub.setdefault(sid, []).append((period, status, mid))
    files: dict[int, list[Path]] = {}
    for path in (p for box in outboxes for p in eml_files(box)):
        files.setdefault(int(path.stem), []).append(path)
    counts.stray_temp_files += sum(1 for box in outboxes for p in box.rglob(".*.tmp"))
    for path, (ino, kept) in snapshot.items():  # a file replaced after a kill: the message was handed over again
        if path.exists() and path.stat().st_ino != ino:
            if path.read_bytes() == kept.read_bytes():
                counts.resent_identical += 1
            else:
                counts.resent_changed += 1
                counts.errors.append(f"{path.parent.name}/{path.name} was sent again with different content")
    for sid, paths in files.items():
        if len(paths) > 1:
            counts.duplicated += len(paths) - 1
            counts.errors.append(f"subscriber {sid} has {len(paths)} digests: {sorted(map(str, paths))}")
        if sid not in pop.to_send:
            counts.errors.append(f"subscriber {sid} was mailed but is not owed a digest")
    for sid, entries in by_sub.items():
        if sid not in pop.due:
            counts.errors.append(f"subscriber {sid} has a ledger row but is not due: {entries}")
        elif len(entries) > 1:
            counts.errors.append(f"subscriber {sid} has {len(entries)} ledger rows: {entries}")
    for sid, period in pop.due.items():
        entries = by_sub.get(sid, [])
        row = next((e for e in entries if e[0] == period), None)
        mine = [p for p in files.get(sid, []) if p.parent.name == period]
        if sid in pop.empty:
            if row is None or row[1] != "empty" or mine:
                counts.errors.append(f"subscriber {sid} matches nothing: wanted an empty row and no mail, got {row}")
            continue
        if not mine:
            counts.lost += 1
            counts.errors.append(f"subscriber {sid} got no digest for {period} (ledger: {row})")
            continue
        if row is None or row[1] != "sent":
            counts.lost += 1  # mailed, but the ledger would send again next time and history is missing
            counts.errors.append(f"subscriber {sid} was mailed for {period} but the ledger says {row}")
            continue
        head = headers(mine[0])
        if head["Message-ID"] != row[2]:
            counts.duplicated += 1  # the file is not the message the ledger recorded: two different sends
            counts.errors.append(f"subscriber {sid}: file Message-ID {head['Message-ID']} != ledger {row[2]}")
        if head["To"].addresses[0].addr_spec != pop.emails[sid]:
            counts.errors.append(f"subscriber {sid}'s digest went to {head['To']}")


def trial(rng: random.Random, engine, url: str, outbox: Path, pop: Population, counts: Counts,
          final_rerun: bool = True) -> list[Attempt]:
    """Kill 1–3 runs in a row, finish with a complete run, check; return the attempts."""
    env = clean_env(url, outbox)
    workers = 2 if rng.random() < 0.3 else 1
    attempts: list[Attempt] = []
    errors_before = len(counts.errors)
    snapshot: dict[Path, tuple[int, Path]] = {}  # each message as first seen after a kill, kept by a hard link
    kept = outbox.with_name("kept")
    shutil.rmtree(kept, ignore_errors=True)
    for _ in range(rng.choice((1, 1, 2, 3))):
        attempt = killed_attempt(rng, engine, env, outbox, workers, pop)
        attempts.append(attempt)
        counts.unrecorded_at_kill += attempt.unrecorded
        if attempt.error:
            counts.errors.append(attempt.error)
        for path in eml_files(outbox):
            if path not in snapshot:
                link = kept / path.parent.name / path.name
                link.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, link)
                snapshot[path] = (path.stat().st_ino, link)
        time.sleep(LEASE_S + 0.1)  # the killed run's claims expire
    final = subprocess.run(run_args(workers), env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if final.returncode != 0 or "failed 0" not in final.stdout or "Traceback" in final.stderr:
        counts.errors.append(f"final run exited {final.returncode}: {final.stdout.strip()} {final.stderr.strip()[-300:]}")
    check(engine, outbox, pop, counts, snapshot)
    if final_rerun:
        counts.nobody_due_checks += 1
        again = subprocess.run(run_args(1), env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        if again.returncode != 0 or "due 0, sent 0" not in again.stdout:
            counts.errors.append(f"a run after the week was complete did something: {again.stdout.strip()}")
    counts.trials += 1
    counts.trials_with_workers_2 += workers == 2
    landed = [a for a in attempts if a.phase != "missed"]
    counts.kills += len(landed)
    counts.kills_by_phase.update(a.phase for a in attempts)
    if len(counts.errors) == errors_before:
        counts.crashes_survived += len(landed)
    return attempts


def run_trials(db_url: str, trials: int, seed: int, workdir: Path, subscribers: int = 2000,
               final_rerun_every: int = 1, progress=None) -> dict:
    """Build the list once on `db_url`, run `trials` crash trials, return the counts."""
    workdir = Path(workdir)
    pop = populate(db_url, workdir, subscribers, seed)
    outbox = workdir / "outbox"
    engine = db.make_engine(db_url)
    counts = Counts()
    started = time.monotonic()
    try:
        for i in range(trials):
            reset(engine, outbox)
            rng = random.Random(f"crash-trial-{seed}-{i}")
            attempts = trial(rng, engine, db_url, outbox, pop, counts, final_rerun=i % final_rerun_every == 0)
            if progress:
                progress(i, attempts, counts)
    finally:
        engine.dispose()
    return counts.as_dict() | {"subscribers": len(pop.emails), "due": len(pop.due), "to_send": len(pop.to_send),
                               "wall_s": round(time.monotonic() - started, 1)}


# --- the documented command ---

def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "digest", "templates"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(), "commit": commit.strip() + ("+dirty" if dirty else ""),
            "load_average_at_start": os.getloadavg()[0]}


def _say(backend: str):
    def progress(i: int, attempts: list[Attempt], counts: Counts) -> None:
        shown = ", ".join(f"{a.mode}->{a.phase} ({a.files_before}->{a.files_after} files)" for a in attempts)
        print(f"{backend} trial {i + 1}: {shown}; duplicated {counts.duplicated}, lost {counts.lost}, "
              f"errors {len(counts.errors)}", flush=True)
    return progress


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="trials per backend (default 50)")
    parser.add_argument("--subscribers", type=int, default=2000, help="subscribers on the list (default 2000)")
    parser.add_argument("--check-rerun-every", type=int, default=5,
                        help="after every Nth trial, also check that one more run finds nobody due (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/crash-trials.json")
    args = parser.parse_args(argv)
    from tests import pg

    started = time.monotonic()
    result = {"command": "python -m tests.reliability.crash_harness " + " ".join(sys.argv[1:] if argv is None else argv),
              "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "seed": args.seed,
              "lease_s": LEASE_S, "backends": {}}
    with tempfile.TemporaryDirectory(prefix="crash-trials-") as tmp:
        for backend in args.backends.split(","):
            server = None
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/crash.db"
            elif os.environ.get("TEST_DATABASE_URL"):
                url = os.environ["TEST_DATABASE_URL"]
            else:
                server = pg.Server()
                url = server.start()
            try:
                counts = run_trials(url, args.trials, args.seed, Path(tmp, backend), args.subscribers,
                                    final_rerun_every=args.check_rerun_every, progress=_say(backend))
            finally:
                if server:
                    server.stop()
            result["backends"][backend] = counts
    totals = {k: sum(b[k] for b in result["backends"].values())
              for k in ("trials", "kills", "crashes_survived", "duplicated", "lost", "unrecorded_at_kill",
                        "resent_identical", "resent_changed")}
    result["totals"] = totals
    result["wall_s"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for backend, c in result["backends"].items():
        print(f"{backend}: {c['trials']} trials ({c['trials_with_workers_2']} with --workers 2), {c['kills']} kills "
              f"{c['kills_by_phase']}, crashes survived {c['crashes_survived']}, duplicated {c['duplicated']}, "
              f"lost {c['lost']}, re-sent after a kill {c['resent_identical']} identical / {c['resent_changed']} changed "
              f"({c['unrecorded_at_kill']} unrecorded when killed), errors {len(c['errors'])}, "
              f"{c['wall_s']} s")
    print(f"total: {totals}; wall {result['wall_s']} s; written to {args.out}")
    return 0 if not any(b["errors"] for b in result["backends"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
