"""A seeded board and subscriber list for the crash and overlap suites, and who is due at NOW.

Every subscriber with a stack the board lists is sure to match something (each such stack has listings of
unknown level, worldwide, without salary, which every preference admits), and the elixir and scala fans match
nothing: so who gets a digest and who gets an "empty" row is known before any run, independently of the run.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from digest import db
from digest.listings import import_listings
from digest.schedule import latest_slot
from digest.settings import Settings
from digest.subscribers import import_subscribers
from digest.taxonomy import load_taxonomy

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC: the run's --now
LISTED = ("python", "go", "java", "node", "ruby", "php", "rust", "kotlin")
UNLISTED = ("elixir", "scala")  # no listing carries these: their fans get an "empty" row, no message
LEVELS = ("intern", "junior", "mid", "senior", "lead")
REGIONS = ("us", "europe", "uk", "latam", "asia", "canada")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PAUSED_FUTURE = date(2026, 12, 14)
PAUSED_PAST = date(2026, 11, 20)  # resumed: due when their latest slot is on or after that date


@dataclass
class Population:
    """Who is on the list and what the week owes each of them."""

    emails: dict[int, str] = field(default_factory=dict)  # every subscriber id -> address
    due: dict[int, str] = field(default_factory=dict)  # due subscriber id -> the period (ISO week) owed
    empty: set[int] = field(default_factory=set)  # due, but nothing matches: an "empty" row, no message

    @property
    def to_send(self) -> set[int]:
        return set(self.due) - self.empty


def _listings(rng: random.Random) -> list[dict]:
    records = []
    titles = ["Senior Backend Engineer", "Junior Backend Developer", "Staff Platform Engineer",
              "Backend Engineer II", "Backend Engineering Intern"]
    places = ["Remote - US only", "EMEA", "UK", "LATAM", "APAC", "Canada", "Worldwide"]
    n = 0

    def add(**fields) -> None:
        nonlocal n
        n += 1
        hours = fields.pop("hours", rng.randint(2, 150))
        verified_at = NOW - timedelta(hours=hours)
        records.append({"id": f"crash-{n}", "title": "Backend Engineer", "company": f"Company {n}",
                        "url": f"https://jobs.example.com/crash-{n}", "posted_at": verified_at.isoformat(),
                        "verified": True, "verified_at": verified_at.isoformat(), "location": "Worldwide"} | fields)

    for stack in LISTED:
        for _ in range(2):  # admitted by every preference: unknown level, worldwide, no salary
            add(stack=[stack])
        for _ in range(3):
            salary = rng.choice([None, "$140,000 - $180,000", "€60,000 - €75,000"])
            add(stack=[stack, rng.choice(LISTED)], title=rng.choice(titles), location=rng.choice(places),
                **({"salary": salary} if salary else {}))
    add(stack=["python"], verified=False, verified_at=None)  # never sent
    add(stack=["go"], expires_at=(NOW - timedelta(hours=1)).isoformat())  # expired at send time
    add(stack=["java"], hours=24 * 10)  # verified before the first digest's window
    return records


def _subscribers(rng: random.Random, n: int) -> tuple[list[dict], list[dict], dict[str, str]]:
    """(joined a month ago, joined after their slot, what to change afterwards by address)."""
    early, late, after = [], [], {}
    for i in range(n):
        email = f"crash{i}@example.com"
        roll = rng.random()
        if roll < 0.12:
            stack = rng.sample(UNLISTED, rng.randint(1, 2))
        else:
            stack = rng.sample(LISTED + UNLISTED, rng.randint(1, 2))
            if not set(stack) & set(LISTED):
                stack.append(rng.choice(LISTED))
        rec = {"email": email, "stack": stack, "confirmed": True,
               "level": rng.sample(LEVELS, rng.randint(1, 2)) if rng.random() < 0.6 else [],
               "region": rng.sample(REGIONS, rng.randint(1, 2)) if rng.random() < 0.5 else [],
               "timezone": rng.choice(ZONES)}
        if rng.random() < 0.3:
            rec["send_day"] = rng.choice(DAYS)
        if rng.random() < 0.4:
            rec["send_hour"] = rng.randint(0, 23)
        if rng.random() < 0.2:
            rec["min_salary"] = rng.choice([60_000, 120_000, 200_000])
        kind = rng.random()
        if kind < 0.06:
            rec["confirmed"] = False  # pending: never mailed a digest
        elif kind < 0.10:
            rec |= {"timezone": "UTC", "send_day": "monday", "send_hour": 8}
            late.append(rec)  # confirmed at 08:40, after this week's 08:00 slot: first digest next week
            continue
        elif kind < 0.14:
            after[email] = "paused-future"
        elif kind < 0.17:
            after[email] = "paused-past"
        elif kind < 0.21:
            after[email] = "unsubscribed"
        early.append(rec)
    return early, late, after


def _jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def populate(url: str, workdir: Path, subscribers: int, seed: int) -> Population:
    """Migrate the database at `url`, load the board and the list, and work out who is due at NOW."""
    rng = random.Random(f"crash-population-{seed}")
    workdir.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        taxonomy, settings = load_taxonomy(), Settings(database_url=url)
        early, late, after = _subscribers(rng, subscribers)
        with Session(engine) as s:
            report = import_listings(s, _jsonl(workdir / "listings.jsonl", _listings(rng)), taxonomy, NOW)
            assert not report.rejected, report.rejected
            for records, joined in ((early, NOW - timedelta(days=30)), (late, NOW - timedelta(minutes=20))):
                report = import_subscribers(s, _jsonl(workdir / "subscribers.jsonl", records), taxonomy, settings, joined)
                assert not report.rejected, report.rejected
            changes = {"paused-future": {"paused_until": PAUSED_FUTURE}, "paused-past": {"paused_until": PAUSED_PAST},
                       "unsubscribed": {"status": "unsubscribed"}}
            for email, change in after.items():
                sets = ", ".join(f"{k} = :{k}" for k in changes[change])
                s.execute(text(f"UPDATE subscribers SET {sets} WHERE email = :email"), changes[change] | {"email": email})
            s.commit()
            return _expected(s)
    finally:
        engine.dispose()


def _expected(s: Session) -> Population:
    """Apply the design's rule of who is due: active, and the latest slot is on or after they joined or resumed."""
    pop = Population()
    rows = s.execute(text("SELECT id, email, status, stack, timezone, send_day, send_hour, confirmed_at, paused_until "
                          "FROM subscribers ORDER BY id"))
    for sid, email, status, stack, tz, day, hour, confirmed, paused in rows:
        pop.emails[sid] = email
        if status != "active":
            continue
        start = _aware(confirmed)
        if paused is not None:
            paused = date.fromisoformat(paused) if isinstance(paused, str) else paused
            start = max(start, datetime.combine(paused, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC))
        slot = latest_slot(NOW, tz, day, hour)
        if slot.at >= start:
            pop.due[sid] = slot.period
            if not set(json.loads(stack) if isinstance(stack, str) else stack) & set(LISTED):
                pop.empty.add(sid)
    return pop


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
