"""Cadence: weekly, or every second ISO week counted from the first digest, through many runs of the real job on
SQLite and PostgreSQL, across the 53-week year 2026 (2026-W53 then 2027-W01) and New York's DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest.cadence import next_digest, on_week, weeks_between
from digest.models import Delivery, Subscriber
from digest.run import run

from .conftest import listing, listing_ids, read_outbox


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def sent_periods(settings, sid: int) -> list[str]:
    """The weeks whose digest reached the outbox for this subscriber, in order."""
    return sorted(key.split("/")[0] for key in read_outbox(settings.outbox_dir) if key.endswith(f"/{sid}"))


def test_weeks_are_counted_by_their_mondays_across_a_53_week_year():
    assert weeks_between("2026-W52", "2026-W53") == weeks_between("2026-W53", "2027-W01") == 1
    assert weeks_between("2026-W51", "2027-W01") == 3
    assert [p for p in ("2026-W52", "2026-W53", "2027-W01", "2027-W02") if on_week("fortnightly", "2026-W50", p)] == [
        "2026-W52", "2027-W01"]  # not W02, as counting by week numbers would have it
    assert on_week("weekly", "2026-W50", "2026-W53") and on_week("fortnightly", None, "2026-W53")


def test_fortnightly_every_second_week_across_the_year_boundary(engine, settings, add_listings, add_subscriber):
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)  # Monday of 2026-W50, an hour after the 08:00 UTC slots
    joined = start - timedelta(days=3)
    weekly = add_subscriber("weekly@example.com", joined=joined)
    fortnightly = add_subscriber("fortnightly@example.com", joined=joined, cadence="fortnightly")
    switcher = add_subscriber("switcher@example.com", joined=joined)  # weekly, fortnightly from 2026-W52 on
    for week in range(9):  # 2026-W50 … 2027-W05, one new listing a day
        now = start + timedelta(weeks=week)
        add_listings(*[listing(f"w{week}d{day}", verified_at=iso(now - timedelta(days=day, hours=2)))
                       for day in range(7)])
        if week == 2:
            with Session(engine) as s:
                s.execute(update(Subscriber).where(Subscriber.id == switcher).values(cadence="fortnightly"))
                s.commit()
        run(settings, now, engine=engine)
        run(settings, now + timedelta(hours=5), engine=engine)  # a later run that week sends nothing more

    assert sent_periods(settings, weekly) == ["2026-W50", "2026-W51", "2026-W52", "2026-W53", "2027-W01",
                                              "2027-W02", "2027-W03", "2027-W04", "2027-W05"]
    assert sent_periods(settings, fortnightly) == ["2026-W50", "2026-W52", "2027-W01", "2027-W03", "2027-W05"]
    # The rhythm counts from the first digest, also for someone who switched after two weekly ones.
    assert sent_periods(settings, switcher) == ["2026-W50", "2026-W51", "2026-W52", "2027-W01", "2027-W03",
                                                "2027-W05"]
    # Off-weeks leave no ledger row, and each fortnightly digest carries both weeks' listings.
    with Session(engine) as s:
        rows = s.scalars(select(Delivery.period).where(Delivery.subscriber_id == fortnightly)).all()
    assert sorted(rows) == sent_periods(settings, fortnightly)
    msg = read_outbox(settings.outbox_dir)[f"2027-W01/{fortnightly}"]
    assert msg["Subject"].startswith("14 new")
    assert set(listing_ids(msg)) == {f"w{week}d{day}" for week in (3, 4) for day in range(7)}  # W53 and W01


@pytest.mark.parametrize("start, day, hour, expected", [
    # Spring forward on Sunday 14 March 2027: the Sunday 02:00 slot falls in the gap (03:00 EDT that day), and
    # the next slot is 23 hours less than two weeks after the first.
    (datetime(2027, 3, 1, tzinfo=UTC), "sunday", 2, ["2027-W09", "2027-W11", "2027-W13"]),
    # Fall back on Sunday 7 November 2027: 01:00 happens twice (the first counts).
    (datetime(2027, 10, 25, tzinfo=UTC), "sunday", 1, ["2027-W43", "2027-W45", "2027-W47"]),
], ids=["march", "november"])
def test_fortnightly_keeps_its_weeks_over_a_dst_change(engine, settings, add_listings, add_subscriber, start, day,
                                                        hour, expected):
    sid = add_subscriber("ny@example.com", joined=start, timezone="America/New_York", send_day=day, send_hour=hour,
                         cadence="fortnightly")
    for step in range(6 * 7 * 4):  # every six hours for six weeks
        now = start + timedelta(hours=6 * step)
        if step % 4 == 0:
            add_listings(listing(f"d{step}", verified_at=iso(now - timedelta(hours=1))))
        run(settings, now, engine=engine)
    assert sent_periods(settings, sid) == expected


def test_next_digest_is_the_next_slot_of_one_of_their_weeks(engine, add_subscriber):
    sid = add_subscriber("f@example.com", cadence="fortnightly", timezone="America/New_York", send_hour=8)
    with Session(engine) as s:
        sub = s.get(Subscriber, sid)
        monday = datetime(2026, 12, 28, 12, tzinfo=UTC)  # 2026-W53, 07:00 in New York
        assert next_digest(s, sub, monday).at == datetime(2026, 12, 28, 13, tzinfo=UTC)  # none yet: the next slot
        s.add(Delivery(subscriber_id=sid, period="2026-W52", status="sent", run_id="r", slot_at=monday,
                       window_start=monday, cutoff=monday, claimed_at=monday, attempts=1))
        s.flush()
        # First digest in 2026-W52: 2026-W53 is an off-week, so the next is Monday 4 January 2027 (2027-W01).
        assert next_digest(s, sub, monday).at == datetime(2027, 1, 4, 13, tzinfo=UTC)
