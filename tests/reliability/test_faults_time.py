"""Time: hourly runs through the DST changes of five zones (and one without DST), then a three-week outage.

For each change, 24 subscribers have their weekly slot on the day of the change, one at every local hour, the
hour that does not exist or happens twice included. The real run is called every hour on the hour (UTC) from two
days before the change to eight days after it, then not for three weeks, then every hour for a day again.

What a subscriber must see is computed here from the zone's wall clock alone, not with digest.schedule: the slot
is the first instant the local clock shows the slot's hour (the first of the two when it happens twice); when the
hour does not exist, it is that hour read in the offset before the jump (PEP 495 fold=0), which is the end of a
one-hour gap (02:00 -> 03:00) and, in Chatham's 02:45-03:45 gap, 04:00. The digest of a slot goes out at the first
hourly run at or after it, under the ISO week of the slot's local date, once; after an outage, one digest for the
latest slot only.

Figures: 11 zone-changes x 24 hours = 264 subscribers; 8 x 289 hourly runs; 528 digests in the DST weeks and 264
after the outages, every one at its expected run, none twice, none missing.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import db
from digest.listings import import_listings
from digest.models import Delivery
from digest.run import run
from digest.schedule import latest_slot
from digest.settings import WEEKDAYS, Settings
from digest.subscribers import SubscriberIn, upsert
from digest.taxonomy import load_taxonomy
from digest.carriers.null import RecordingTransport

from ..conftest import NOW, listing, listing_ids
from ..support.web import parse_mail

QUARTER = timedelta(minutes=15)  # every offset in use is a multiple of 15 minutes (Kolkata +5:30, Chatham +12:45)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class Change:
    zone: str
    when: date  # the UTC date around which the zone's clock changes (or any date, for a zone without DST)
    kind: str  # "gap" (spring forward), "repeat" (fall back) or "none"


# Grouped by week: each group is one database and one sequence of hourly runs.
GROUPS = {
    "2026-09 Santiago spring": [Change("America/Santiago", date(2026, 9, 6), "gap")],  # Sunday 00:00 is skipped
    "2026-09 Chatham spring": [Change("Pacific/Chatham", date(2026, 9, 26), "gap")],  # 02:45 -> 03:45
    "2026-10 Sydney spring": [Change("Australia/Sydney", date(2026, 10, 3), "gap")],
    "2026-10 Berlin autumn": [Change("Europe/Berlin", date(2026, 10, 25), "repeat"),
                              Change("Asia/Kolkata", date(2026, 10, 25), "none")],
    "2026-11 New York autumn": [Change("America/New_York", date(2026, 11, 1), "repeat")],
    "2027-03 New York spring": [Change("America/New_York", date(2027, 3, 14), "gap")],
    "2027-03 Berlin spring": [Change("Europe/Berlin", date(2027, 3, 28), "gap")],
    "2027-04 southern autumn": [Change("Australia/Sydney", date(2027, 4, 3), "repeat"),
                                Change("America/Santiago", date(2027, 4, 4), "repeat"),  # Saturday 23:00 twice
                                Change("Pacific/Chatham", date(2027, 4, 3), "repeat")],
}


def wall(u: datetime, zone: str) -> datetime:
    """What the zone's clocks show at instant u (naive)."""
    return u.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def grid(around: date, days: int = 3):
    """Every quarter hour (UTC) from the day before `around` on."""
    start = datetime.combine(around - DAY, time(0), UTC)
    return (start + k * QUARTER for k in range(days * 96))


def the_change(c: Change) -> tuple[date, set[int]]:
    """The local day whose clock jumps or repeats, and the whole hours of it that are skipped or repeated."""
    if c.kind == "none":
        return c.when, set()
    for u in grid(c.when):
        before, after = wall(u, c.zone), wall(u + QUARTER, c.zone)
        if after - before != QUARTER:  # the clock jumps (gap) or goes back (repeat) here
            lo, hi = (before + QUARTER, after) if after > before else (after, before + QUARTER)
            assert (after > before) == (c.kind == "gap"), c
            hours = {h for h in range(24) if lo <= datetime.combine(lo.date(), time(h)) < hi}
            return lo.date(), hours
    raise AssertionError(f"no clock change in {c}")


@lru_cache(maxsize=None)
def expected_slot(zone: str, day: date, hour: int) -> datetime:
    """The instant of a slot, from the wall clock alone (see the module docstring)."""
    target = datetime.combine(day, time(hour))
    points = list(grid(day))
    hits = [u for u in points if wall(u, zone) == target]
    if hits:
        return hits[0]
    # Skipped: the clock jumped over the target. Read it in the offset in force just before the jump.
    jump = next(u for u in points if wall(u, zone) > target)
    offset = (jump - QUARTER).astimezone(ZoneInfo(zone)).utcoffset()
    return (target - offset).replace(tzinfo=UTC)


def latest_expected(zone: str, weekday: int, hour: int, now: datetime) -> tuple[datetime, str]:
    """The latest slot at or before `now`, and the ISO week of its local date."""
    local = wall(now, zone).date()
    for back in range(0, 9):
        day = local - back * DAY
        if day.weekday() == weekday and expected_slot(zone, day, hour) <= now:
            year, week, _ = day.isocalendar()
            return expected_slot(zone, day, hour), f"{year}-W{week:02d}"
    raise AssertionError("no slot in eight days")


class Clocked(RecordingTransport):
    """Keeps each message with the run time at which it left."""

    def __init__(self):
        super().__init__()
        self.now: datetime | None = None
        self.at: list[tuple[str, datetime]] = []

    def send(self, key, to, raw, tags=None):
        self.at.append((key, self.now))
        return super().send(key, to, raw, tags)


def test_the_skipped_and_repeated_hours_resolve_as_documented():
    """What digest.schedule decides at each change, spelled out (the oracle below computes the same in general)."""
    cases = [  # zone, local day, hour -> UTC instant of the slot, and what the local clock shows then
        ("Europe/Berlin", date(2027, 3, 28), 2, datetime(2027, 3, 28, 1, 0, tzinfo=UTC), "03:00"),  # gap -> 03:00
        ("America/New_York", date(2027, 3, 14), 2, datetime(2027, 3, 14, 7, 0, tzinfo=UTC), "03:00"),
        ("Australia/Sydney", date(2026, 10, 4), 2, datetime(2026, 10, 3, 16, 0, tzinfo=UTC), "03:00"),
        ("America/Santiago", date(2026, 9, 6), 0, datetime(2026, 9, 6, 4, 0, tzinfo=UTC), "01:00"),
        ("Pacific/Chatham", date(2026, 9, 27), 3, datetime(2026, 9, 26, 14, 15, tzinfo=UTC), "04:00"),  # not 03:45
        ("Europe/Berlin", date(2026, 10, 25), 2, datetime(2026, 10, 25, 0, 0, tzinfo=UTC), "02:00"),  # first 02:00
        ("America/New_York", date(2026, 11, 1), 1, datetime(2026, 11, 1, 5, 0, tzinfo=UTC), "01:00"),
        ("Australia/Sydney", date(2027, 4, 4), 2, datetime(2027, 4, 3, 15, 0, tzinfo=UTC), "02:00"),
        ("America/Santiago", date(2027, 4, 3), 23, datetime(2027, 4, 4, 2, 0, tzinfo=UTC), "23:00"),
        ("Pacific/Chatham", date(2027, 4, 4), 3, datetime(2027, 4, 3, 13, 15, tzinfo=UTC), "03:00"),
    ]
    for zone, day, hour, at, shows in cases:
        week = f"{day.isocalendar()[0]}-W{day.isocalendar()[1]:02d}"
        for now in (at, at + HOUR, at + 3 * HOUR, at + 6 * DAY):  # the slot holds, repeated hour or not
            slot = latest_slot(now, zone, day.weekday(), hour)
            assert (slot.at, slot.period) == (at, week), (zone, day, hour, now)
        assert latest_slot(at - timedelta(minutes=1), zone, day.weekday(), hour).period != week
        assert wall(at, zone).strftime("%H:%M") == shows
        assert expected_slot(zone, day, hour) == at  # the oracle agrees


def add_listing(engine, taxonomy, tmp_path, n: int, verified_at: datetime, now: datetime) -> None:
    path = tmp_path / f"listing-{n}.jsonl"
    path.write_text(json.dumps(listing(f"d{n}", title=f"Backend Engineer {n}", verified_at=verified_at.isoformat(),
                                       posted_at=verified_at.isoformat())) + "\n")
    with Session(engine) as s:
        assert import_listings(s, str(path), taxonomy, now).imported == 1


@pytest.mark.parametrize("group", list(GROUPS))
def test_hourly_runs_through_a_dst_change_and_an_outage_send_one_digest_per_week(group, tmp_path,
                                                                                 sqlite_template):
    changes = GROUPS[group]
    shutil.copy(sqlite_template, tmp_path / "digest.db")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'digest.db'}", claim_lease_seconds=600)
    engine = db.make_engine(settings.database_url)
    taxonomy = load_taxonomy()
    first = min(c.when for c in changes)
    start = datetime.combine(first - 2 * DAY, time(0), UTC)  # two days before the change (UTC midnight)
    dst_runs = [start + h * HOUR for h in range(11 * 24)]  # to eight days after it
    back = dst_runs[-1] + 21 * DAY + HOUR  # three weeks without a run
    later_runs = [back + h * HOUR for h in range(25)]

    people = {}  # subscriber id -> (zone, weekday, hour)
    covered = Counter()
    with Session(engine) as s:
        for c in changes:
            day, odd_hours = the_change(c)
            covered[c.kind] += len(odd_hours)
            assert c.kind == "none" or odd_hours, c
            for hour in range(24):
                sub, _ = upsert(s, SubscriberIn.model_validate({
                    "email": f"{c.zone.split('/')[1].lower()}-{day:%m%d}-{hour:02d}@example.com", "confirmed": True,
                    "timezone": c.zone, "send_day": WEEKDAYS[day.weekday()], "send_hour": hour}),
                    taxonomy, settings, start - HOUR)
                s.flush()
                people[sub.id] = (c.zone, day.weekday(), hour)
        s.commit()

    # Expected: walk the same run times with the wall-clock oracle.
    expected: dict[str, datetime] = {}  # "<week>/<id>" -> the run time that sends it
    for now in dst_runs + later_runs:
        for sid, (zone, weekday, hour) in people.items():
            at, week = latest_expected(zone, weekday, hour, now)
            if at >= start - HOUR and f"{week}/{sid}" not in expected:
                expected[f"{week}/{sid}"] = now

    carrier = Clocked()
    n = 0
    for now in dst_runs:
        if now.hour == 0:  # a new listing every day, so every weekly digest has something to carry
            n += 1
            add_listing(engine, taxonomy, tmp_path, n, now - timedelta(minutes=30), now)
        carrier.now = now
        _, summary = run(settings, now, engine=engine, transport=carrier, clock=lambda now=now: now)
        assert summary.failed == summary.skipped_empty == 0
    in_dst_weeks = len(carrier.at)

    outage = []  # listings verified while nothing ran
    for d in range(21):
        n += 1
        outage.append(f"d{n}")
        add_listing(engine, taxonomy, tmp_path, n, dst_runs[-1] + d * DAY + 2 * HOUR, back)
    for now in later_runs:
        carrier.now = now
        run(settings, now, engine=engine, transport=carrier, clock=lambda now=now: now)

    sent = dict(carrier.at)
    assert len(sent) == len(carrier.at)  # no message twice
    assert sent == expected  # each at the first hourly run at or after its slot, under its slot's week
    assert in_dst_weeks == 2 * len(people)  # the change day and the same day a week later
    after = [k for k, t in carrier.at if t >= back]
    assert len(after) == len(people) and {t for k, t in carrier.at if t >= back} == {back}  # one each, at once
    weeks = Counter(k.split("/")[1] for k in sent)
    assert set(weeks.values()) == {3}  # per subscriber: two DST weeks, then one digest for three weeks away

    with Session(engine) as s:
        rows = {(d.subscriber_id, d.period): d for d in s.scalars(select(Delivery))}
    assert {f"{p}/{sid}" for sid, p in rows} == set(sent) and {d.status for d in rows.values()} == {"sent"}
    for (sid, period), d in rows.items():  # the ledger's slot is the local hour the subscriber chose
        zone, weekday, hour = people[sid]
        slot_at = d.slot_at.replace(tzinfo=UTC) if d.slot_at.tzinfo is None else d.slot_at
        assert slot_at == latest_expected(zone, weekday, hour, sent[f"{period}/{sid}"])[0]

    # After the outage each digest carries what was verified during it: the 15 newest (the cap), never a backlog.
    for _key, _to, raw in carrier.sent[-len(people):]:
        assert listing_ids(parse_mail(raw)) == list(reversed(outage))[:15]
    print(f"\n{group}: {len(people)} subscribers, {len(dst_runs) + len(later_runs)} runs, "
          f"{in_dst_weeks} + {len(after)} digests, skipped/repeated hours covered: {dict(covered)}")
    engine.dispose()


@pytest.mark.parametrize("tick", [timedelta(0), timedelta(microseconds=1)])
def test_a_run_whose_clock_reads_a_whole_second_sends_at_once(engine, settings, add_listings, add_subscriber, tick):
    """A scheduler's clock (or a test's) often reads exactly hh:00:00.000000: the run must still own its claims."""
    add_listings(listing("a"))
    sid = add_subscriber("whole@example.com")
    carrier = RecordingTransport()
    _, summary = run(settings, NOW, engine=engine, transport=carrier, clock=lambda: NOW + tick)
    assert (summary.due, summary.sent, summary.in_progress_elsewhere) == (1, 1, 0)
    assert [key for key, _to, _raw in carrier.sent] == [f"2026-W48/{sid}"]
