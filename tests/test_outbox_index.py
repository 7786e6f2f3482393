"""The outbox's index pages list exactly the messages on disk, stay current, and never re-read older weeks."""

from __future__ import annotations

import io
import os
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.orm import Session

from digest.models import Delivery
from digest.outbox_index import PAGE_IDS
from digest.run import run
from digest.subscribers import import_subscribers
from digest.carriers.outbox import OutboxTransport

from .conftest import NOW, listing
from .support.outbox_pages import Page, _message, assert_index_matches_disk, folders, messages
from .support.cli import invoke


def _subscribers(engine, taxonomy, settings, tmp_path, n: int) -> None:
    csv = tmp_path / "subs.csv"
    csv.write_text("email,name,stack,confirmed\n" + "".join(
        f"u{i}@example.com,{'Zoë Ñandú' if i % 7 == 0 else ''},{'go' if i % 2 else 'python'},true\n" for i in range(n)))
    with Session(engine) as s:
        import_subscribers(s, str(csv), taxonomy, settings, NOW - timedelta(days=30))


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size)
            for p in folder.rglob("*") if p.is_file()}


def test_the_index_lists_every_message_on_disk_newest_week_first(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a"), listing("b", stack=["go"]))
    add_subscriber("ana@example.com", name="Ana Lima")
    add_subscriber("zoe@example.com", name="Zoë Ñandú, \"the\" dev")
    add_subscriber("go@example.com", stack=["go"])
    assert run(settings, NOW, engine=engine)[1].sent == 3
    add_listings(listing("c", verified_at="2026-11-27T10:00:00Z", posted_at="2026-11-27T09:00:00Z"))
    assert run(settings, NOW + timedelta(days=7), engine=engine)[1].sent == 2

    listed = assert_index_matches_disk(settings.outbox_dir)
    assert len(listed) == 5
    assert [(name, count) for name, count, _page in folders(settings.outbox_dir)] == [("2026-W49", 2), ("2026-W48", 3)]
    latest = Page(settings.outbox_dir / "index.html").tables[1]
    assert any("Zoë Ñandú" in cells[1] for cells, _links in latest)  # the latest messages, decoded


def test_a_rerun_that_rewrites_the_files_counts_each_message_once(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a"))
    for i in range(4):
        add_subscriber(f"p{i}@example.com")
    run(settings, NOW, engine=engine)
    with Session(engine) as s:  # as if the run died before recording its page: the next one sends it again
        s.execute(delete(Delivery))
        s.commit()
    assert run(settings, NOW, engine=engine)[1].sent == 4

    assert len(assert_index_matches_disk(settings.outbox_dir)) == 4
    assert folders(settings.outbox_dir)[0][:2] == ("2026-W48", 4)


def test_two_workers_writing_one_week_are_indexed_exactly(engine, settings, add_listings, taxonomy, tmp_path):
    add_listings(listing("a"), listing("b", stack=["go"]))
    _subscribers(engine, taxonomy, settings, tmp_path, PAGE_IDS + 150)
    assert run(settings, NOW, engine=engine, workers=2)[1].sent == PAGE_IDS + 150

    listed = assert_index_matches_disk(settings.outbox_dir)
    assert len(listed) == PAGE_IDS + 150
    assert len({row["page"] for row in listed.values()}) == 2  # ids 1–999 and 1,000–1,150


def test_closing_a_later_week_neither_reads_nor_rewrites_older_weeks(engine, settings, add_listings, add_subscriber,
                                                                     monkeypatch):
    add_listings(listing("a"))
    for i in range(3):
        add_subscriber(f"p{i}@example.com")
    run(settings, NOW, engine=engine)
    old = settings.outbox_dir / "2026-W48"
    before = _snapshot(old)
    assert {"index.html", "page-0.html", ".index/0.log"} <= set(before)

    opened: list[str] = []
    for mod, name in ((io, "open"), (os, "open"), (os, "scandir")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda p=".", *a, _real=real, **k: opened.append(str(p)) or _real(p, *a, **k))
    add_listings(listing("c", verified_at="2026-11-27T10:00:00Z", posted_at="2026-11-27T09:00:00Z"))
    assert run(settings, NOW + timedelta(days=7), engine=engine)[1].sent == 3
    monkeypatch.undo()

    assert any("2026-W49" in p for p in opened)
    assert not [p for p in opened if "2026-W48" in p]
    assert _snapshot(old) == before
    assert [count for _n, count, _p in folders(settings.outbox_dir)] == [3, 3]
    assert_index_matches_disk(settings.outbox_dir)


def test_a_crash_leaves_an_index_the_next_close_repairs(tmp_path):
    crashed = OutboxTransport(tmp_path)
    for i in (1, 2, 3):
        crashed.send(f"2026-W48/{i}", "ana@example.com", _message(f"2026-W48/{i}"))
    with crashed.index.writing("2026-W48/4", _message("2026-W48/4")):
        pass  # killed after logging message 4, before writing its file; and never closed
    assert not (tmp_path / "index.html").exists()

    later = OutboxTransport(tmp_path)
    later.send("2026-W49/1", "bo@example.com", _message("2026-W49/1"))
    later.close()
    listed = assert_index_matches_disk(tmp_path)
    assert sorted(listed) == ["2026-W48/1", "2026-W48/2", "2026-W48/3", "2026-W49/1"]


def test_an_outbox_written_before_the_index_is_adopted_once(tmp_path):
    week = tmp_path / "2026-W47"
    week.mkdir()
    for i in range(5):
        (week / f"{i}.eml").write_bytes(_message(f"2026-W47/{i}", subject=f"=?utf-8?q?Caf=C3=A9_{i}?="))
        (week / f"{i}.html").write_text("<p>hi</p>")
    (tmp_path / "index.html").write_text("<h1>Outbox: 5 messages</h1>")  # the old single page
    outbox = OutboxTransport(tmp_path)
    outbox.send("2026-W48/1", "ana@example.com", _message("2026-W48/1"))
    outbox.close()
    listed = assert_index_matches_disk(tmp_path)
    assert listed["2026-W47/3"]["subject"] == "Café 3"
    before = _snapshot(week)

    again = OutboxTransport(tmp_path)
    again.send("2026-W49/1", "ana@example.com", _message("2026-W49/1"))
    again.close()
    assert _snapshot(week) == before
    assert len(assert_index_matches_disk(tmp_path)) == 7


def test_a_week_is_paged_by_subscriber_id(tmp_path):
    outbox = OutboxTransport(tmp_path)
    ids = [2 * PAGE_IDS + 5, 7, PAGE_IDS - 1, PAGE_IDS, 3]
    for i in ids:
        outbox.send(f"2026-W48/{i}", f"p{i}@example.com", _message(f"2026-W48/{i}", to=f"p{i}@example.com"))
    outbox.close()
    listed = assert_index_matches_disk(tmp_path)
    week = tmp_path / "2026-W48"
    pages = [(cells[0], cells[1]) for cells, links in Page(week / "index.html").tables[0] if links]
    assert [count for _range, count in pages] == ["3", "1", "1"]
    first = [cells[1] for cells, links in Page(week / "page-0.html").tables[0] if links]
    assert first == ["p3@example.com", "p7@example.com", f"p{PAGE_IDS - 1}@example.com"]  # by id
    assert listed[f"2026-W48/{PAGE_IDS}"]["page"] == week / "page-1.html"


def test_closing_while_another_thread_writes_loses_nothing(tmp_path):
    outbox = OutboxTransport(tmp_path)
    done, closed = threading.Event(), threading.Event()

    def write():
        for i in range(400):
            if i == 200:  # half-way, wait for a close to have happened, so that closes land among the writes
                closed.wait(60)
            outbox.send(f"2026-W48/{i}", f"p{i}@example.com", _message(f"2026-W48/{i}", to=f"p{i}@example.com"))
            if i % 50 == 0:  # re-writes, as a re-run does
                outbox.send(f"2026-W48/{i}", f"p{i}@example.com", _message(f"2026-W48/{i}", to=f"p{i}@example.com"))
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    closes = 0
    while not done.is_set():
        OutboxTransport(tmp_path).close()
        closes += 1
        closed.set()
    writer.join()
    outbox.close()
    assert closes > 1
    assert len(assert_index_matches_disk(tmp_path)) == 400


def test_removing_a_subscriber_leaves_their_address_nowhere_in_the_outbox(engine, settings, add_listings,
                                                                            add_subscriber):
    add_listings(listing("a"))
    add_subscriber("gone@example.com")
    add_subscriber("kept@example.com")
    run(settings, NOW, engine=engine)
    assert invoke(settings, "subscribers", "remove", "gone@example.com").exit_code == 0

    assert set(messages(settings.outbox_dir)) == set(assert_index_matches_disk(settings.outbox_dir))
    holding = [p for p in settings.outbox_dir.rglob("*") if p.is_file() and b"gone@example.com" in p.read_bytes()]
    assert holding == []
