"""Crash anywhere: kill `digest run` with SIGKILL at random moments, re-run, and count what users would see.

A trial kills the real command (its whole process group, as a machine or container dying would) one to three
times in a row, at a seeded random moment: during start-up, after a random number of messages were handed over,
or after the last one; re-runs at once with the production claim lease (600 s, no DIGEST_CLAIM_LEASE), runs to
the end, and checks every due subscriber against what the carrier holds and against the ledger. The re-run must
report nobody "in progress elsewhere": a killed run's claims are recognised as dead (digest.liveness), not
waited out. The database and list are built once per backend; between trials only the ledger and the carrier
are reset.

A stop trial (--stop-trials, outbox) freezes a run with SIGSTOP part-way, starts a second run under faketime a
quarter of an hour later (past the frozen run's lease, which its heartbeat could not renew) that takes over and
finishes the week, then resumes the first with SIGCONT: it must send nothing the second run took (fencing by run
id on the ledger row), so every subscriber still has exactly one digest.

    .venv/bin/python -m tests.reliability.crash_harness --trials 50

runs 50 trials on SQLite and 50 on a throwaway PostgreSQL (or TEST_DATABASE_URL) with the outbox transport,
then --ses-trials (default 10) per backend with the SES transport against a fake SES and --smtp-trials (default
10) with the smtp transport against a real SMTP server on loopback, over a list of 2,000 subscribers, and writes
benchmarks/results/crash-trials.json. Figures per carrier and backend: kills that landed (by phase), crashes survived, digests duplicated and lost (both must be 0), and messages handed over
again after a kill because the ledger had not recorded them yet (same Message-ID and bytes: the outbox replaces
the file, which is harmless; SES and SMTP deliver a second email, at most the one in flight per kill).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
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
from pathlib import Path
from typing import Sequence

from sqlalchemy import MetaData, Table, text

from digest import db

from .crash_carriers import CARRIERS, LEASE_S, ROOT, Delivered, outbox_delivered
from .crash_population import Population, populate

RUN_TIMEOUT_S = 300


@dataclass
class Counts:
    trials: int = 0
    kills: int = 0  # SIGKILLs that reached a live run
    crashes_survived: int = 0  # kills in trials whose final state was correct
    kills_by_phase: Counter = field(default_factory=Counter)  # startup / mid-run / late; missed = already exited
    trials_with_workers_2: int = 0
    duplicated: int = 0  # digests beyond the first for a subscriber and week that differ from it (another Message-ID)
    lost: int = 0  # due subscribers without their digest, or with one the ledger does not record as sent
    # Messages handed over before a kill but not yet recorded as sent, summed over the kills (one left unrecorded
    # by two kills in a row counts twice): the next run hands them over again.
    unrecorded_at_kill: int = 0
    # The same message (same Message-ID) handed over again after a kill. Outbox: a file replaced, counted once
    # per message, by design up to a page per kill and harmless (one file). SES: each extra acceptance is a second
    # email; the design bound is the message in flight, one per kill.
    resent_identical: int = 0
    resent_changed: int = 0  # an outbox file written again with different bytes
    # Subscribers the run right after the kills reported "in progress elsewhere" (claims of a killed run it waited
    # for): 0 when a dead run is recognised as dead.
    in_progress_elsewhere_after_rerun: int = 0
    nobody_due_checks: int = 0  # trials followed by one more run, which must find nobody due
    stray_temp_files: int = 0  # half-written outbox temp files a kill left behind (never an .eml)
    errors: list[str] = field(default_factory=list)  # anything else wrong, one line each

    def as_dict(self) -> dict:
        d = asdict(self)
        d["kills_by_phase"] = dict(sorted(self.kills_by_phase.items()))
        d["errors"] = self.errors[:50]
        return d


# --- the ledger ---

def ledger_rows(engine) -> list[tuple[int, str, str, str | None, str | None]]:
    """(subscriber id, period, status, Message-ID, transport id) of every delivery row."""
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(
            text("SELECT subscriber_id, period, status, message_id, transport_id FROM deliveries"))]


def runs_count(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM runs")).scalar_one()


def reset_ledger(engine) -> None:
    """Forget the week: delete the ledger and every table that hangs off it (found by reflection)."""
    meta = MetaData()
    meta.reflect(engine)
    doomed: list[Table] = [meta.tables["deliveries"]]
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
    """SIGKILL a process started with start_new_session and everything it started; wait until all are dead."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    while _group_alive(proc.pid):  # worker processes of --workers 2 die with their parent's group
        time.sleep(0.01)


@dataclass
class Attempt:
    mode: str  # early / count / late
    phase: str  # startup / mid-run / late / missed
    before: int  # messages the carrier held before and after the attempt
    after: int
    unrecorded: int = 0  # of those, not recorded as sent when the kill landed
    error: str | None = None  # the run ended on its own with an error before the kill


def killed_attempt(rng: random.Random, engine, carrier, env: dict, workers: int, pop: Population) -> Attempt:
    """Start a run and SIGKILL its process group at a random moment; say where in the run it landed."""
    remaining = len(pop.to_send) - carrier.distinct()
    roll = rng.random()
    # Nothing left to hand over: a kill can still land while the run re-claims and records what the last one left.
    mode = "early" if roll < 0.2 or remaining == 0 else "count" if roll < 0.85 else "late"
    before, runs_before = carrier.handed_over(), runs_count(engine)
    target = before + (rng.randint(1, remaining) if mode == "count" else remaining)
    delay = rng.uniform(0.0, 2.5 if remaining == 0 else 1.5)
    proc = subprocess.Popen(carrier.command(workers), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    started = time.monotonic()
    while proc.poll() is None and time.monotonic() - started < RUN_TIMEOUT_S:
        if mode == "early" and time.monotonic() - started >= delay:
            break
        if mode != "early" and carrier.handed_over() >= target:
            break
        time.sleep(0.003)
    exited = proc.poll() is not None
    kill_group(proc)
    _out, err = proc.communicate()
    rows = {sid: status for sid, _period, status, _m, _t in ledger_rows(engine)}
    held = carrier.delivered(pop)
    unrecorded = len({d.message_id for d in held if rows.get(d.subscriber_id) != "sent"})
    error = None
    if exited:
        phase = "missed"
        if proc.returncode != 0 or b"Traceback" in err:
            error = f"a run exited {proc.returncode} on its own: {err.decode(errors='replace')[-500:]}"
    elif runs_count(engine) == runs_before:
        phase = "startup"  # killed before the run recorded itself: imports, settings, planning
    elif sum(1 for status in rows.values() if status in ("sent", "empty")) == len(pop.due):
        phase = "late"  # every digest out and recorded; killed while writing the index or closing
    else:
        phase = "mid-run"
    return Attempt(mode, phase, before, len(held), unrecorded, error)


# --- checking a finished week ---

def check(engine, delivered: list[Delivered], pop: Population, counts: Counts) -> None:
    """Compare what the carrier holds and the ledger with what the week owes each subscriber; add to the counts."""
    rows: dict[int, list[tuple]] = {}
    for sid, period, status, mid, tid in ledger_rows(engine):
        rows.setdefault(sid, []).append((period, status, mid, tid))
    got: dict[int | None, list[Delivered]] = {}
    for d in delivered:
        got.setdefault(d.subscriber_id, []).append(d)
    for sid, items in got.items():
        if sid not in pop.to_send:
            counts.errors.append(f"subscriber {sid} ({items[0].to}) was mailed but is not owed a digest")
            continue
        ids = Counter(d.message_id for d in items)
        if len(ids) > 1:
            counts.duplicated += len(ids) - 1
            counts.errors.append(f"subscriber {sid} got {len(ids)} different digests: {sorted(ids)}")
        counts.resent_identical += sum(ids.values()) - len(ids)
        for d in items:
            if d.to != pop.emails[sid]:
                counts.errors.append(f"subscriber {sid}'s digest went to {d.to}")
            if d.period is not None and d.period != pop.due[sid]:
                counts.errors.append(f"subscriber {sid}'s digest is filed under {d.period}, not {pop.due[sid]}")
    for sid, entries in rows.items():
        if sid not in pop.due:
            counts.errors.append(f"subscriber {sid} has a ledger row but is not due: {entries}")
        elif len(entries) > 1:
            counts.errors.append(f"subscriber {sid} has {len(entries)} ledger rows: {entries}")
    for sid, period in pop.due.items():
        row = next((e for e in rows.get(sid, []) if e[0] == period), None)
        mine = got.get(sid, [])
        if sid in pop.empty:
            if row is None or row[1] != "empty" or mine:
                counts.errors.append(f"subscriber {sid} matches nothing: wanted an empty row and no mail, got {row}")
            continue
        if not mine:
            counts.lost += 1
            counts.errors.append(f"subscriber {sid} got no digest for {period} (ledger: {row})")
        elif row is None or row[1] != "sent":
            counts.lost += 1  # mailed, but the ledger would send again next time and history is missing
            counts.errors.append(f"subscriber {sid} was mailed for {period} but the ledger says {row}")
        else:
            held = {d.message_id for d in mine}
            if row[2] not in held:
                counts.duplicated += 1  # the carrier holds a message the ledger does not know: another send
                counts.errors.append(f"subscriber {sid}: carrier has {sorted(held)}, ledger {row[2]}")
            carrier_ids = {d.carrier_id for d in mine if d.carrier_id}
            if carrier_ids and row[3] not in carrier_ids:
                counts.errors.append(f"subscriber {sid}: ledger transport id {row[3]} is none of {carrier_ids}")


def check_outboxes(engine, outboxes: Sequence[Path], pop: Population, counts: Counts) -> None:
    """check() over the outboxes of several processes: the same message in two of them was sent twice."""
    check(engine, outbox_delivered(list(outboxes)), pop, counts)


# --- trials ---

def trial(rng: random.Random, engine, url: str, carrier, pop: Population, counts: Counts,
          final_rerun: bool = True) -> list[Attempt]:
    """Kill 1–3 runs in a row, finish with a complete run, check; return the attempts."""
    env = carrier.env(url)
    workers = 2 if rng.random() < 0.3 and carrier.max_workers >= 2 else 1
    attempts: list[Attempt] = []
    errors_before = len(counts.errors)
    for _ in range(rng.choice((1, 1, 2, 3))):
        attempt = killed_attempt(rng, engine, carrier, env, workers, pop)
        attempts.append(attempt)
        counts.unrecorded_at_kill += attempt.unrecorded
        if attempt.error:
            counts.errors.append(attempt.error)
        carrier.after_kill()
    # At once: no waiting for the killed runs' leases (600 s) to run out.
    final = subprocess.run(carrier.command(workers), env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=RUN_TIMEOUT_S)
    if final.returncode != 0 or "failed 0" not in final.stdout or "Traceback" in final.stderr:
        counts.errors.append(f"final run exited {final.returncode}: {final.stdout.strip()} {final.stderr.strip()[-300:]}")
    elsewhere = elsewhere_of(final.stdout)
    counts.in_progress_elsewhere_after_rerun += max(0, elsewhere)
    if elsewhere:
        counts.errors.append(f"the re-run after the kills reported {elsewhere} in progress elsewhere")
    check(engine, carrier.delivered(pop), pop, counts)
    same, changed = carrier.resent()
    counts.resent_identical += same
    counts.resent_changed += len(changed)
    counts.errors += [f"{name} was written again with different content" for name in changed]
    counts.stray_temp_files += carrier.stray_files()
    if final_rerun:
        counts.nobody_due_checks += 1
        again = subprocess.run(carrier.command(1), env=env, cwd=ROOT, capture_output=True, text=True,
                               timeout=RUN_TIMEOUT_S)
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


SUMMARY = re.compile(r"in progress elsewhere (\d+)")


def elsewhere_of(stdout: str) -> int:
    """The "in progress elsewhere" figure of a `digest run` summary line (-1 when there is none)."""
    found = SUMMARY.search(stdout)
    return int(found.group(1)) if found else -1


# --- stopping ---

LATER = "+15m"  # the second run's clock in a stop trial: past the stopped run's 600 s lease


def faketime() -> str:
    """Where faketime is; missing, the stop trials cannot run and say so in one line."""
    found = shutil.which("faketime")
    if found is None:
        raise SystemExit("faketime is missing: run ./scripts/test (it installs it) or apt-get install faketime")
    return found


@dataclass
class StopCounts:
    trials: int = 0
    stops_mid_run: int = 0  # SIGSTOPs that froze a run with messages still to send
    taken_over: int = 0  # claims of the stopped run the later run took over: the resumed run sent none of them
    duplicated: int = 0
    lost: int = 0
    resent_changed: int = 0  # outbox files written again with other content after the stop
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self) | {"errors": self.errors[:50]}


def stop_trial(rng: random.Random, engine, url: str, carrier, pop: Population, counts: StopCounts) -> None:
    """Freeze run A mid-run, let run B (a quarter of an hour later by its clock) finish the week, resume A; check."""
    env = carrier.env(url)
    target = rng.randint(1, max(1, len(pop.to_send) - 1))
    a = subprocess.Popen(carrier.command(1), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    while a.poll() is None and carrier.handed_over() < target:
        time.sleep(0.002)
    try:
        os.killpg(a.pid, signal.SIGSTOP)
        frozen_at = carrier.handed_over()
        carrier.after_kill()
        b = subprocess.run([faketime(), "-f", LATER, *carrier.command(1)], env=env | {"TZ": "UTC"}, cwd=ROOT,
                           capture_output=True, text=True, timeout=RUN_TIMEOUT_S, start_new_session=True)
    finally:
        os.killpg(a.pid, signal.SIGCONT)
    out, err = a.communicate(timeout=RUN_TIMEOUT_S)
    for name, code, stdout, stderr in (("B", b.returncode, b.stdout, b.stderr), ("A", a.returncode, out, err)):
        if code != 0 or "Traceback" in stderr or elsewhere_of(stdout) < 0:
            counts.errors.append(f"run {name} exited {code}: {stdout.strip()} {stderr.strip()[-300:]}")
    counts.stops_mid_run += frozen_at < len(pop.to_send)
    counts.taken_over += max(0, elsewhere_of(out))
    checked = Counts()
    check(engine, carrier.delivered(pop), pop, checked)
    _same, changed = carrier.resent()
    counts.duplicated += checked.duplicated
    counts.lost += checked.lost
    counts.resent_changed += len(changed)
    counts.errors += checked.errors
    counts.trials += 1


def run_stop_trials(db_url: str, trials: int, seed: int, workdir: Path, subscribers: int = 2000,
                    progress=None) -> dict:
    """Build the list once on `db_url` and run `trials` stop trials on the outbox; return the counts."""
    pop = populate(db_url, Path(workdir), subscribers, seed)
    box = CARRIERS["outbox"](Path(workdir))
    engine = db.make_engine(db_url)
    counts = StopCounts()
    started = time.monotonic()
    try:
        for i in range(trials):
            reset_ledger(engine)
            box.reset()
            stop_trial(random.Random(f"stop-trial-{seed}-{i}"), engine, db_url, box, pop, counts)
            if progress:
                progress(i, counts)
    finally:
        engine.dispose()
    return counts.as_dict() | {"subscribers": len(pop.emails), "to_send": len(pop.to_send), "later_clock": LATER,
                               "wall_s": round(time.monotonic() - started, 1)}


def run_trials(db_url: str, trials: int, seed: int, workdir: Path, subscribers: int = 2000,
               final_rerun_every: int = 1, progress=None, carrier: str = "outbox") -> dict:
    """Build the list once on `db_url`, run `trials` crash trials with the given carrier, return the counts.

    The last trial's messages stay where the carrier put them (the outbox: `workdir/outbox`).
    """
    workdir = Path(workdir)
    pop = populate(db_url, workdir, subscribers, seed)
    box = CARRIERS[carrier](workdir)
    engine = db.make_engine(db_url)
    counts = Counts()
    started = time.monotonic()
    try:
        for i in range(trials):
            reset_ledger(engine)
            box.reset()
            rng = random.Random(f"crash-trial-{seed}-{i}")
            attempts = trial(rng, engine, db_url, box, pop, counts, final_rerun=i % final_rerun_every == 0)
            if progress:
                progress(i, attempts, counts)
    finally:
        engine.dispose()
        getattr(box, "close", lambda: None)()  # the SMTP carrier's server
    return counts.as_dict() | {"carrier": carrier, "subscribers": len(pop.emails), "due": len(pop.due),
                               "to_send": len(pop.to_send), "wall_s": round(time.monotonic() - started, 1)}


# --- the documented command ---

def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    mine = [str(p.relative_to(ROOT)) for p in Path(__file__).parent.glob("crash_*.py")]
    dirty = subprocess.run(["git", "status", "--porcelain", "digest", "templates", *mine], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(), "commit": commit.strip() + ("+dirty" if dirty else ""),
            "load_average_at_start": round(os.getloadavg()[0], 2)}


def _say(label: str):
    def progress(i: int, attempts: list[Attempt], counts: Counts) -> None:
        shown = ", ".join(f"{a.mode}->{a.phase} ({a.before}->{a.after} held)" for a in attempts)
        print(f"{label} trial {i + 1}: {shown}; duplicated {counts.duplicated}, lost {counts.lost}, "
              f"re-sent {counts.resent_identical}, errors {len(counts.errors)}", flush=True)
    return progress


def _say_stop(label: str):
    def progress(i: int, counts: StopCounts) -> None:
        print(f"{label} trial {i + 1}: taken over {counts.taken_over}, duplicated {counts.duplicated}, "
              f"lost {counts.lost}, errors {len(counts.errors)}", flush=True)
    return progress


TOTALS = ("trials", "kills", "crashes_survived", "duplicated", "lost", "unrecorded_at_kill", "resent_identical",
          "resent_changed", "in_progress_elsewhere_after_rerun")
STOP_TOTALS = ("trials", "stops_mid_run", "taken_over", "duplicated", "lost", "resent_changed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="outbox trials per backend (default 50)")
    parser.add_argument("--ses-trials", type=int, default=10, help="SES trials per backend (default 10)")
    parser.add_argument("--smtp-trials", type=int, default=10, help="SMTP trials per backend (default 10)")
    parser.add_argument("--stop-trials", type=int, default=10, help="SIGSTOP/SIGCONT trials per backend (default 10)")
    parser.add_argument("--subscribers", type=int, default=2000, help="subscribers on the list (default 2000)")
    parser.add_argument("--check-rerun-every", type=int, default=5,
                        help="after every Nth trial, also check that one more run finds nobody due (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/crash-trials.json")
    args = parser.parse_args(argv)
    from tests.support import pg

    started = time.monotonic()
    result = {"command": "python -m tests.reliability.crash_harness " + " ".join(sys.argv[1:] if argv is None else argv),
              "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "seed": args.seed,
              "subscribers": args.subscribers, "lease_s": LEASE_S, "outbox": {}, "ses": {}, "smtp": {}, "stop": {}}
    plan = [("outbox", args.trials), ("ses", args.ses_trials), ("smtp", args.smtp_trials)]
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
                if args.stop_trials:
                    faketime()
                    reset_subscribers(url)
                    result["stop"][backend] = run_stop_trials(
                        url, args.stop_trials, args.seed, Path(tmp, backend, "stop"), args.subscribers,
                        progress=_say_stop(f"{backend}/stop"))
                for carrier, trials in plan:
                    if trials:
                        reset_subscribers(url)
                        result[carrier][backend] = run_trials(
                            url, trials, args.seed, Path(tmp, backend, carrier), args.subscribers,
                            final_rerun_every=args.check_rerun_every, progress=_say(f"{backend}/{carrier}"),
                            carrier=carrier)
            finally:
                if server:
                    server.stop()
    for carrier, _n in plan:
        result[carrier]["totals"] = {k: sum(b[k] for b in result[carrier].values()) for k in TOTALS}
    if result["stop"]:
        result["stop"]["totals"] = {k: sum(b[k] for b in result["stop"].values()) for k in STOP_TOTALS}
    result["wall_s"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for carrier, _n in plan:
        for backend, c in result[carrier].items():
            if backend == "totals":
                continue
            print(f"{backend}/{carrier}: {c['trials']} trials ({c['trials_with_workers_2']} with --workers 2), "
                  f"{c['kills']} kills {c['kills_by_phase']}, crashes survived {c['crashes_survived']}, "
                  f"duplicated {c['duplicated']}, lost {c['lost']}, re-sent after a kill {c['resent_identical']} "
                  f"({c['unrecorded_at_kill']} unrecorded when killed), in progress elsewhere after the re-run "
                  f"{c['in_progress_elsewhere_after_rerun']}, errors {len(c['errors'])}, {c['wall_s']} s")
    for backend, c in result["stop"].items():
        if backend != "totals":
            print(f"{backend}/stop: {c['trials']} trials ({c['stops_mid_run']} stopped mid-run), taken over from the "
                  f"stopped run {c['taken_over']}, duplicated {c['duplicated']}, lost {c['lost']}, "
                  f"rewritten {c['resent_changed']}, errors {len(c['errors'])}, {c['wall_s']} s")
    print(f"wall {result['wall_s']} s; written to {args.out}")
    failed = any(b["errors"] for c in ("outbox", "ses", "smtp", "stop") for k, b in result[c].items() if k != "totals")
    return 1 if failed else 0


def reset_subscribers(url: str) -> None:
    """Empty every table, so the next carrier's trials build the same list from scratch."""
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        meta = MetaData()
        meta.reflect(engine)
        with engine.begin() as c:
            for table in reversed(meta.sorted_tables):
                if table.name != "alembic_version":
                    c.execute(table.delete())
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
