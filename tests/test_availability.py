"""Windows by availability: a listing the board verified before a digest went out, but that reached us after it,
is new to that subscriber next time; one verified more than four weeks before it arrived is never new.

The wall clock really moves: freezegun in this process, Debian's `faketime` for whole `digest` processes. Nothing
here passes `--now`, so an import that happens after a run happens after it, as on a board's real week.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy.orm import Session

from digest.listings import import_listings

from .conftest import listing, read_outbox
from .support.cli import DIGEST, digest, json_lines

MONDAY = datetime(2026, 11, 30, tzinfo=UTC)  # ISO week 2026-W49


def at(hour: float, week: int = 0) -> datetime:
    return MONDAY + timedelta(weeks=week, hours=hour)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def cards(msg) -> list[str]:
    """The board ids of the listings a digest's text part links to (each card links https://jobs.example.com/ID)."""
    text = msg.get_body(("plain",)).get_content()
    return sorted({line.split("jobs.example.com/", 1)[1].split()[0].rstrip(")>")
                   for line in text.splitlines() if "jobs.example.com/" in line})


def outbox_by_person(directory: Path, emails: dict[str, int]) -> dict[tuple[str, str], list[str]]:
    """(email, ISO week) -> the listings their digest of that week carried."""
    who = {sid: email for email, sid in emails.items()}
    out = {}
    for key, msg in read_outbox(directory).items():
        week, sid = key.split("/")
        out[(who[int(sid)], week)] = cards(msg)
    return out


def write(tmp_path: Path, name: str, *records: dict) -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def add_people(db_url: str, tmp_path: Path, joined: datetime = MONDAY - timedelta(days=1)) -> dict[str, int]:
    """Ana's digest is Monday 08:00 UTC; Bea's Monday 12:00 UTC. Both confirmed on `joined` (by default the day
    before this week's Monday: their first digests are this week's)."""
    people = {"ana@example.com": 8, "bea@example.com": 12}
    for email, hour in people.items():
        assert digest(db_url, tmp_path, "subscribers", "add", email, "--stack", "python", "--timezone", "UTC",
                      "--send-day", "monday", "--send-hour", hour, "--confirmed",
                      now=joined).exit_code == 0
    shown = json_lines(digest(db_url, tmp_path, "subscribers", "list", "--json").stdout)
    return {p["email"]: p["id"] for p in shown}


def test_a_listing_imported_after_a_digest_reaches_that_subscriber_the_next_week(db_url, tmp_path):
    ids = add_people(db_url, tmp_path)
    early = listing("early", verified_at=iso(at(-12)))  # Sunday evening
    late = listing("late", verified_at=iso(at(7.5)))  # Monday 07:30 on the board; its export lands at 10:00
    with freeze_time(at(6)):
        assert digest(db_url, tmp_path, "listings", "import", write(tmp_path, "sunday.jsonl", early), now=None).exit_code == 0
    for hour in (8, 9, 10, 11, 12, 13):  # the hourly schedule, on the wall clock
        with freeze_time(at(hour, 0) + timedelta(minutes=5)):
            if hour == 10:
                result = digest(db_url, tmp_path, "listings", "import", write(tmp_path, "monday.jsonl", late), now=None)
                assert result.exit_code == 0, result.output
            assert digest(db_url, tmp_path, "run", now=None).exit_code == 0
    with freeze_time(at(8, week=1) + timedelta(minutes=5)):
        assert digest(db_url, tmp_path, "run", now=None).exit_code == 0
        listed = digest(db_url, tmp_path, "listings", "list", "--json", now=None).stdout
        shown = {item["id"]: item for item in json_lines(listed)}
    assert shown["late"]["verified_at"] == "2026-11-30T07:30:00Z"
    assert shown["late"]["available_at"] == "2026-11-30T10:05:00Z"  # when we first held it verified
    assert outbox_by_person(tmp_path / "outbox", ids) == {
        ("ana@example.com", "2026-W49"): ["early"],  # went out at 08:05, before the late export arrived
        ("bea@example.com", "2026-W49"): ["early", "late"],  # 12:05: both were here
        ("ana@example.com", "2026-W50"): ["late"],  # not lost: new to Ana since her last digest
    }


def test_a_listing_verified_more_than_four_weeks_before_it_arrives_is_never_new(db_url, tmp_path):
    ids = add_people(db_url, tmp_path, joined=MONDAY - timedelta(days=8))
    with freeze_time(at(6, week=-1)):  # last week: one listing, one digest each
        digest(db_url, tmp_path, "listings", "import",
               write(tmp_path, "w48.jsonl", listing("w48", verified_at=iso(at(-12, week=-1)))), now=None)
    old = listing("catalogue-old", verified_at=iso(at(7) - timedelta(weeks=4, hours=1)))
    recent = listing("catalogue-recent", verified_at=iso(at(7) - timedelta(weeks=3)))
    for week in (-1, 0, 1, 2):
        if week == 0:
            with freeze_time(at(7)):  # the board's back catalogue arrives in one bulk import
                digest(db_url, tmp_path, "listings", "import", write(tmp_path, "bulk.jsonl", old, recent), now=None)
        for hour in (8, 12):
            with freeze_time(at(hour, week) + timedelta(minutes=5)):
                assert digest(db_url, tmp_path, "run", now=None).exit_code == 0
    with freeze_time(at(13, week=2)):
        listed = digest(db_url, tmp_path, "listings", "list", "--json", now=None).stdout
        shown = {item["id"]: item for item in json_lines(listed)}
    assert shown["catalogue-old"]["available_at"] == shown["catalogue-old"]["verified_at"]  # before every window
    assert shown["catalogue-recent"]["available_at"] == "2026-11-30T07:00:00Z"
    assert outbox_by_person(tmp_path / "outbox", ids) == {
        ("ana@example.com", "2026-W48"): ["w48"], ("bea@example.com", "2026-W48"): ["w48"],
        # Three weeks old when it arrived: new once, to both; the listing verified four weeks and an hour before it
        # arrived reaches nobody, in this week or any later one.
        ("ana@example.com", "2026-W49"): ["catalogue-recent"], ("bea@example.com", "2026-W49"): ["catalogue-recent"],
    }


def test_an_import_that_spans_a_run_holds_each_batch_from_when_it_lands(db_url, engine, taxonomy, listing_file, tmp_path):
    """A long import is not dated from its start: a batch that lands after a run began is new to that run's
    subscribers next time (the clock is read per batch of 500)."""
    records = [listing(f"l{n:04d}", verified_at=iso(at(7))) for n in range(1, 701)]
    ticks = iter([at(9), at(9) + timedelta(minutes=2)])
    with Session(engine) as s:
        assert import_listings(s, listing_file(records), taxonomy, at(9), clock=lambda: next(ticks)).inserted == 700
    shown = {item["id"]: item["available_at"]
             for item in json_lines(digest(db_url, tmp_path, "listings", "list", "--json").stdout)}
    assert {shown["l0001"], shown["l0500"]} == {"2026-11-30T09:00:00Z"}
    assert {shown["l0501"], shown["l0700"]} == {"2026-11-30T09:02:00Z"}


FAKETIME = shutil.which("faketime")


def test_whole_cli_processes_on_a_moved_wall_clock(db_url, tmp_path):
    """The same week with real `digest` processes under faketime: a run at 08:05, the late export at 10:00, the
    next Monday's run. The installed console script, the environment an operator sets, no --now."""
    if FAKETIME is None:
        pytest.fail("faketime is not installed (Debian package faketime; ./scripts/test installs it)")
    ids = add_people(db_url, tmp_path)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DIGEST_DATABASE_URL": db_url,
           "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"), "DIGEST_TRANSPORT": "outbox"}

    def digest_at(when: datetime, *args: str) -> str:
        out = subprocess.run([FAKETIME, when.strftime("%Y-%m-%d %H:%M:%S"), DIGEST, *map(str, args)], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        return out.stdout

    late = write(tmp_path, "late.jsonl", listing("late", verified_at=iso(at(7.5))))
    digest_at(at(6), "listings", "import", write(tmp_path, "early.jsonl", listing("early", verified_at=iso(at(-12)))))
    digest_at(at(8, 0) + timedelta(minutes=5), "run")
    digest_at(at(10), "listings", "import", late)
    digest_at(at(12, 0) + timedelta(minutes=5), "run")
    digest_at(at(8, week=1) + timedelta(minutes=5), "run")
    listed = {item["id"]: item
              for item in json_lines(digest_at(at(8, week=1) + timedelta(minutes=6), "listings", "list", "--json"))}
    assert listed["late"]["available_at"].startswith("2026-11-30T10:00:0")  # the faked wall clock of the import
    assert outbox_by_person(tmp_path / "outbox", ids) == {
        ("ana@example.com", "2026-W49"): ["early"],
        ("bea@example.com", "2026-W49"): ["early", "late"],
        ("ana@example.com", "2026-W50"): ["late"],
    }
