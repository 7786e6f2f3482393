"""When: weekly slots in the subscriber's zone, DST weeks, long outages."""

from datetime import UTC, datetime, timedelta

import pytest

from digest.schedule import latest_slot, period_of, resume_at

MON, SUN = 0, 6


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_slot_today_once_the_hour_has_come():
    slot = latest_slot(utc(2026, 11, 23, 9, 0), "UTC", MON, 8)
    assert slot.at == utc(2026, 11, 23, 8, 0)
    assert slot.period == "2026-W48"


def test_slot_last_week_before_the_hour():
    slot = latest_slot(utc(2026, 11, 23, 7, 59), "UTC", MON, 8)
    assert slot.at == utc(2026, 11, 16, 8, 0)
    assert slot.period == "2026-W47"


@pytest.mark.parametrize(
    "tz, expected_utc",
    [
        ("Europe/Berlin", utc(2026, 11, 23, 7, 0)),  # CET = UTC+1
        ("America/New_York", utc(2026, 11, 23, 13, 0)),  # EST = UTC-5
        ("Asia/Kolkata", utc(2026, 11, 23, 2, 30)),  # IST = UTC+5:30
        ("Australia/Sydney", utc(2026, 11, 22, 21, 0)),  # AEDT = UTC+11: Monday 08:00 is Sunday in UTC
    ],
)
def test_slot_is_the_local_hour_in_the_subscribers_zone(tz, expected_utc):
    slot = latest_slot(utc(2026, 11, 23, 15, 0), tz, MON, 8)
    assert slot.at == expected_utc
    assert slot.period == "2026-W48"


def hourly_sends(tz: str, day: int, hour: int, start: datetime, weeks: int) -> list[tuple[datetime, str]]:
    """Simulate the hourly schedule: send when the latest slot's week has no digest yet."""
    sent: dict[str, datetime] = {}
    t = start
    while t < start + timedelta(weeks=weeks):
        slot = latest_slot(t, tz, day, hour)
        if slot.period not in sent and slot.at >= start:
            sent[slot.period] = t
        t += timedelta(hours=1)
    return sorted((v, k) for k, v in sent.items())


@pytest.mark.parametrize(
    "tz, day, hour, start",
    [
        ("America/New_York", SUN, 2, utc(2027, 3, 8)),  # 2027-03-14 02:00 does not exist (spring forward)
        ("America/New_York", SUN, 1, utc(2026, 10, 26)),  # 2026-11-01 01:00 happens twice (fall back)
        ("America/New_York", MON, 8, utc(2027, 3, 8)),
        ("Europe/Berlin", SUN, 2, utc(2027, 3, 22)),  # 2027-03-28 02:00 does not exist
        ("Europe/Berlin", SUN, 2, utc(2026, 10, 19)),  # 2026-10-25 02:00 happens twice
        ("Europe/Berlin", MON, 8, utc(2026, 10, 19)),
    ],
)
def test_dst_weeks_send_exactly_once_per_week(tz, day, hour, start):
    sends = hourly_sends(tz, day, hour, start, weeks=3)
    periods = [p for _t, p in sends]
    assert len(periods) == len(set(periods)) == 3, sends
    gaps = [b[0] - a[0] for a, b in zip(sends, sends[1:])]
    # A DST change moves the UTC hour by one, never skips or doubles a week.
    assert all(timedelta(days=7) - timedelta(hours=1) <= g <= timedelta(days=7) + timedelta(hours=1) for g in gaps)


def test_spring_forward_gap_hour_sends_just_after_the_gap():
    slot = latest_slot(utc(2027, 3, 14, 12, 0), "America/New_York", SUN, 2)
    assert slot.at == utc(2027, 3, 14, 7, 0)  # 03:00 EDT, the first instant after the gap


def test_three_week_outage_is_one_slot_not_a_backlog():
    last = latest_slot(utc(2026, 11, 2, 9), "UTC", MON, 8)
    after_outage = latest_slot(utc(2026, 11, 25, 12), "UTC", MON, 8)
    assert last.period == "2026-W45" and after_outage.period == "2026-W48"


def test_period_is_the_iso_week_of_the_local_date():
    assert period_of(datetime(2026, 12, 31).date()) == "2026-W53"
    assert period_of(datetime(2027, 1, 4).date()) == "2027-W01"


def test_pause_ends_at_local_midnight():
    assert resume_at(datetime(2026, 12, 1).date(), "Europe/Berlin") == utc(2026, 11, 30, 23, 0)
