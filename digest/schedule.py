"""When a subscriber is due: weekly slots in their own timezone, and the week a slot belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Iterator
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Slot:
    """A subscriber's latest weekly slot at or before some instant."""

    at: datetime  # aware, UTC
    period: str  # ISO week of the slot's local date, e.g. "2026-W48": the ledger key


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def period_of(local_day: date) -> str:
    year, week, _ = local_day.isocalendar()
    return f"{year}-W{week:02d}"


def _at(day: date, hour: int, tz: ZoneInfo) -> datetime:
    # fold=0: an hour in a DST gap is read in the offset before the jump, so it moves forward by the gap's
    # length (02:00 in a 02:00-03:00 gap is 03:00; 03:00 in Chatham's 02:45-03:45 gap is 04:00); an hour
    # that happens twice is the first of the two. Either way one instant per local day, so a week is never
    # skipped or doubled.
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def latest_slot(now: datetime, timezone: str, send_day: int, send_hour: int) -> Slot:
    """Return the latest slot (weekday 0=Monday, hour, IANA zone) at or before `now`."""
    tz = zone(timezone)
    local = now.astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - send_day) % 7)
    at = _at(day, send_hour, tz)
    if at > now:
        day -= timedelta(days=7)
        at = _at(day, send_hour, tz)
    return Slot(at=at, period=period_of(day))


def slots_from(after: datetime, timezone: str, send_day: int, send_hour: int) -> Iterator[Slot]:
    """Yield the subscriber's slots at or after `after`, one a week, in order (endless)."""
    tz = zone(timezone)
    local = after.astimezone(tz)
    day = local.date() + timedelta(days=(send_day - local.weekday()) % 7)
    if _at(day, send_hour, tz) < after:
        day += timedelta(days=7)
    while True:
        yield Slot(at=_at(day, send_hour, tz), period=period_of(day))
        day += timedelta(days=7)  # by local date: a DST change moves the instant, never the week


def slot_label(at: datetime, timezone: str) -> str:
    """A slot as its subscriber reads it: "Monday 1 December at 08:00 (America/New_York)"."""
    local = at.astimezone(zone(timezone))
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M} ({timezone})"


def resume_at(paused_until: date, timezone: str) -> datetime:
    """The instant a pause ends: the start of that date in the subscriber's zone."""
    return datetime.combine(paused_until, time(0), tzinfo=zone(timezone)).astimezone(UTC)


class SlotCache:
    """Latest slots for one `now`, computed once per (zone, day, hour) combination."""

    def __init__(self, now: datetime):
        self.now = now
        self._slots: dict[tuple[str, int, int], Slot] = {}

    def __call__(self, timezone: str, send_day: int, send_hour: int) -> Slot:
        key = (timezone, send_day, send_hour)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = latest_slot(self.now, timezone, send_day, send_hour)
        return slot

    def periods(self) -> set[str]:
        return {s.period for s in self._slots.values()}
