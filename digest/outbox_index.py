"""The outbox's index pages, kept bounded and current however long the outbox's history grows.

Each message written appends one line (stem, Date, To, Subject as sent, time) to the log of its page: a
folder (`2026-W48`, `confirm`, `test`) is cut into pages of PAGE_IDS subscriber ids, and a page only ever
holds the messages of those ids. Writing also leaves a marker naming the page as stale. Building rebuilds
only the stale pages, from their own logs, then the folder's page list and the top page from small count
files, so closing the outbox costs what was written since the last build: older weeks are never read
again, and no step holds more than one page of rows.

    <folder>/<stem>.eml, <stem>.html     the messages (carriers/outbox.py)
    <folder>/page-<n>.html               the messages of ids n*PAGE_IDS … (n+1)*PAGE_IDS-1, by id
    <folder>/index.html                  the folder's pages with their counts
    <folder>/.index/<n>.log              page n's lines; rewritten without duplicates or deleted files
    <folder>/.index/pages.json           messages and latest write per page
    <folder>/.index/lock                 writers hold it shared while they write, a rebuild exclusively
    .index/stale/<folder>@<n|top>        what changed since it was last built (after a crash, too)
    .index/folders.json, recent.json     counts per folder, the latest messages: the top page's data
    index.html, folders.html             the newest folders with counts and the latest messages; every folder

Markers are removed only after what they name is rebuilt, under the lock the writers respect, so a crash
at any point leaves a marker that the next build repairs.
"""

from __future__ import annotations

import binascii
import fcntl
import heapq
import html
import json
import os
import re
import time
from contextlib import contextmanager
from email.policy import default
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import quote, unquote

from .outbox_keys import subscriber_of

PAGE_IDS = 1000  # subscriber ids per page: a page holds at most this many digests of one week
TOP_FOLDERS = 100  # folders on the top page (all of them are on folders.html)
RECENT = 20  # latest messages on the top page
FORMAT = "1"  # bump to re-adopt every message on the next build
LOCK_WAIT = 2.0  # seconds a build waits for a folder's lock before leaving its pages for a later close
WRITER_WAIT = 0.5  # seconds a message waits for a folder's lock (held by a build) before writing without it
_HEADERS = (b"date", b"to", b"subject")


def page_of(stem: str) -> int:
    """The page a message belongs to: its subscriber id's range (0 for names without an id)."""
    sid = subscriber_of(stem)
    return 0 if sid is None else sid // PAGE_IDS


def _split(key: str) -> tuple[str, str]:
    folder, _, stem = key.rpartition("/")
    return folder, stem


def _natural(stem: str) -> tuple[int, str]:
    sid = subscriber_of(stem)
    return (-1 if sid is None else sid, stem)


class OutboxIndex:
    """The index of one outbox directory: `writing` around each message, `build` to bring the pages up to date."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.top = self.directory / ".index"
        self.stale = self.top / "stale"
        self._prepared: dict[str, str] = {}  # folder → its index directory, made in this process
        self._blocked: dict[str, float] = {}  # folder → until when not to wait for its lock (a stopped holder)

    # --- places ---

    def folder_dir(self, folder: str) -> Path:
        return self.directory / folder if folder else self.directory

    def data_dir(self, folder: str) -> Path:
        """Where a folder's logs and counts live (the root folder's apart from the top's own)."""
        return self.directory / folder / ".index" if folder else self.top / "root"

    def folder_page(self, folder: str) -> Path:
        return self.directory / folder / "index.html" if folder else self.directory / "messages.html"

    def _marker(self, folder: str, page: int | str) -> Path:
        return self.stale / f"{quote(folder, safe='')}@{page}"

    # --- writing ---

    @contextmanager
    def writing(self, key: str, raw: bytes) -> Iterator[None]:
        """Log a message's line and mark its page stale, then let the caller write its files, all under the
        folder's shared lock: a rebuild sees the line and the files together, and a crash between the two
        leaves a line whose file is missing, which the rebuild drops."""
        folder, stem = _split(key)
        page = page_of(stem)
        data = self._prepared.get(folder) or self._prepare(folder)
        # A rebuild holds the folder's lock briefly. One that holds it for long is a stopped process: then write
        # without it (the line and the marker are one append and one create each; at worst that page's listing
        # waits for a later close), and stop waiting for it a while.
        wait = 0.0 if self._blocked.get(folder, 0.0) > time.monotonic() else WRITER_WAIT
        with _lock(f"{data}/lock", fcntl.LOCK_SH, wait) as locked:
            if not locked:
                self._blocked[folder] = time.monotonic() + 30.0
            line = json.dumps([stem, *header_values(raw), round(time.time(), 3)]) + "\n"
            _append(f"{data}/{page}.log", line.encode())
            marker = f"{self.stale}/{quote(folder, safe='')}@{page}"
            if not os.path.exists(marker):
                os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o644))
            yield

    def _prepare(self, folder: str) -> str:
        """Create a folder's index directory once per process (its path kept as a string: no Path per message)."""
        data = self.data_dir(folder)
        fresh = not self.directory.is_dir() or not any(not e.name.startswith(".") for e in os.scandir(self.directory))
        data.mkdir(parents=True, exist_ok=True)
        self.stale.mkdir(parents=True, exist_ok=True)
        if fresh:  # a new outbox: every message it will hold is logged as written, none to adopt
            (self.top / "format").write_text(FORMAT)
        self._prepared[folder] = str(data)
        return str(data)

    def mark(self, keys: Iterable[str]) -> None:
        """Mark the pages of these messages stale (their files were changed or deleted outside `writing`)."""
        self.stale.mkdir(parents=True, exist_ok=True)
        for key in keys:
            folder, stem = _split(key)
            self._marker(folder, page_of(stem)).touch()

    def stale_folders(self) -> dict[str, set[int]]:
        """Folders with pages (or top counts) to rebuild: every marker, this process's or a crashed one's."""
        out: dict[str, set[int]] = {}
        if not self.stale.is_dir():
            return out
        for entry in os.scandir(self.stale):
            name, _, page = entry.name.rpartition("@")
            pages = out.setdefault(unquote(name), set())
            if page.isdigit():
                pages.add(int(page))
        return out

    # --- building ---

    def build(self) -> None:
        """Rebuild the stale pages, their folders' page lists and the top page; nothing else is read."""
        if not self.directory.is_dir():  # nothing was ever written: nothing to list
            return
        if _read_text(self.top / "format") != FORMAT:
            self.adopt()
        self.stale.mkdir(parents=True, exist_ok=True)
        stale = self.stale_folders()
        if not stale and (self.directory / "index.html").exists():
            return
        recent: list[list] = []
        for folder, pages in stale.items():
            recent = heapq.nlargest(RECENT, recent + self._build_folder(folder, pages), key=lambda r: r[-1])
        with _lock(self.top / "lock", fcntl.LOCK_EX) as locked:
            if not locked:  # another process is building it (or stopped while it did): its markers stay for later
                return
            folders = _read_json(self.top / "folders.json")
            for marker in [p for p in self.stale.iterdir() if p.name.endswith("@top")]:
                folder = unquote(marker.name[: -len("@top")])
                pages = _read_json(self.data_dir(folder) / "pages.json")
                count = sum(p["n"] for p in pages.values())
                folders[folder] = {"n": count, "t": max((p["t"] for p in pages.values()), default=0)}
                if not count:
                    del folders[folder]
            recent = self._recent(recent + _read_json(self.top / "recent.json", []))
            _write_json(self.top / "folders.json", folders)
            _write_json(self.top / "recent.json", recent)
            self._write_top(folders, recent)
            for marker in [p for p in self.stale.iterdir() if p.name.endswith("@top")]:
                marker.unlink(missing_ok=True)

    def _build_folder(self, folder: str, pages: set[int]) -> list[list]:
        """Rebuild a folder's stale pages and its page list; return its newest rows (for the top page)."""
        data = self.data_dir(folder)
        data.mkdir(parents=True, exist_ok=True)
        newest: list[list] = []
        with _lock(data / "lock", fcntl.LOCK_EX) as locked:
            if not locked:  # writers or a builder hold it (perhaps a stopped process): the markers wait for later
                return newest
            self._marker(folder, "top").touch()  # until the top page has the new counts (a crash repairs it)
            counts = _read_json(data / "pages.json")
            for page in sorted(pages):
                marker = self._marker(folder, page)
                if not marker.exists():  # another build got here first
                    continue
                rows = self._build_page(folder, page)
                if rows:
                    counts[str(page)] = {"n": len(rows), "t": max(r[-1] for r in rows)}
                else:
                    counts.pop(str(page), None)
                newest = heapq.nlargest(RECENT, newest + [[folder, *r] for r in rows], key=lambda r: r[-1])
                marker.unlink()
            _write_json(data / "pages.json", counts)
            self._write_folder_page(folder, counts)
        return newest

    def _build_page(self, folder: str, page: int) -> list[list]:
        """Read a page's log (the last line of a re-written message wins), keep the messages still on disk,
        rewrite the log without the rest and write the page."""
        here = self.folder_dir(folder)
        log = self.data_dir(folder) / f"{page}.log"
        rows: dict[str, list] = {}
        for line in _lines(log):
            try:
                stem, date, to, subject, t = json.loads(line)
            except ValueError:  # a line cut short by a crash or a full disk
                continue
            rows.pop(stem, None)
            rows[stem] = [stem, date, to, subject, t]
        # os.path on strings, not Path: pathlib interns every part, and the interned table never shrinks again.
        there = os.fspath(here)
        kept = [r for r in rows.values() if os.path.exists(os.path.join(there, f"{r[0]}.eml"))]
        if kept:
            _write_lines(log, (json.dumps(r) + "\n" for r in kept))
        else:
            log.unlink(missing_ok=True)
        kept.sort(key=lambda r: _natural(r[0]))
        kept = [_decoded(r) for r in kept]
        target = here / f"page-{page}.html"
        if kept:
            title = f"{folder or 'Outbox'}: ids {page * PAGE_IDS:,}–{(page + 1) * PAGE_IDS - 1:,}"
            _write_lines(target, _page_html(title, len(kept), "index.html" if folder else "messages.html",
                                            (_message_row(*r) for r in kept)))
        else:
            target.unlink(missing_ok=True)
        return kept

    def _write_folder_page(self, folder: str, counts: dict) -> None:
        total = sum(c["n"] for c in counts.values())
        rows = (
            f'<tr><td><a href="page-{n}.html">ids {int(n) * PAGE_IDS:,}–{(int(n) + 1) * PAGE_IDS - 1:,}</a></td>'
            f"<td>{counts[n]['n']:,}</td><td>{_when(counts[n]['t'])}</td></tr>"
            for n in sorted(counts, key=int)
        )
        up = "../index.html" if folder else "index.html"
        _write_lines(self.folder_page(folder), _table_html(
            f"{folder or 'Outbox'}: {total:,} messages", up, "<tr><th>Page</th><th>Messages</th><th>Last written</th></tr>",
            rows))

    def _recent(self, rows: list[list]) -> list[list]:
        """The latest messages still on disk, each once."""
        seen: dict[tuple[str, str], list] = {}
        for r in sorted(rows, key=lambda r: r[-1], reverse=True):
            folder, stem = r[0], r[1]
            if (folder, stem) not in seen and os.path.exists(os.path.join(self.folder_dir(folder), f"{stem}.eml")):
                seen[folder, stem] = r
            if len(seen) == RECENT:
                break
        return list(seen.values())

    def _write_top(self, folders: dict, recent: list[list]) -> None:
        order = sorted(folders, key=lambda f: folders[f]["t"], reverse=True)
        total = sum(f["n"] for f in folders.values())

        def folder_rows(names):
            for f in names:
                link = quote(self.folder_page(f).relative_to(self.directory).as_posix())
                yield (f'<tr><td><a href="{link}">{html.escape(f or "(no folder)")}</a></td>'
                       f"<td>{folders[f]['n']:,}</td><td>{_when(folders[f]['t'])}</td></tr>")

        head = "<tr><th>Folder</th><th>Messages</th><th>Last written</th></tr>"
        latest = "".join(_message_row(stem, date, to, subject, t, f"{quote(folder)}/" if folder else "")
                         for folder, stem, date, to, subject, t in recent)
        more = (f'<p><a href="folders.html">All {len(order):,} folders</a></p>' if len(order) > TOP_FOLDERS else "")
        _write_lines(self.directory / "index.html", _table_html(
            f"Outbox: {total:,} messages", None, head, folder_rows(order[:TOP_FOLDERS]),
            after="</table>" + more + "<h2>Latest messages</h2><table>"
                  "<tr><th>Date</th><th>To</th><th>Subject (opens the HTML part)</th><th>Raw</th></tr>" + latest))
        _write_lines(self.directory / "folders.html", _table_html(
            f"Outbox: {len(order):,} folders, {total:,} messages", "index.html", head, folder_rows(order)))

    # --- repair ---

    def adopt(self) -> None:
        """Log every message already on disk (an outbox written before this index, or a full repair): the one
        step that reads the whole history, run once."""
        folders = [""] + sorted(e.name for e in os.scandir(self.directory) if e.is_dir() and not e.name.startswith("."))
        for folder in folders:
            for entry in os.scandir(self.folder_dir(folder)):
                if entry.name.endswith(".eml") and not entry.name.startswith("."):
                    with open(entry.path, "rb") as f:
                        head = f.read(16384)
                    key = f"{folder}/{entry.name[:-4]}" if folder else entry.name[:-4]
                    with self.writing(key, head):
                        pass
        self.top.mkdir(parents=True, exist_ok=True)
        (self.top / "format").write_text(FORMAT)

    def rebuild_all(self) -> None:
        """Re-read every message and rebuild every page (a repair after the outbox was edited by hand)."""
        (self.top / "format").unlink(missing_ok=True)
        self.build()


def header_values(raw: bytes) -> tuple[str, str, str]:
    """Date, To and Subject exactly as written (unfolded, still encoded), from the header block alone."""
    end = raw.find(b"\r\n\r\n")
    block = raw[: end if end >= 0 else len(raw)].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    found: dict[bytes, str] = {}
    for line in block.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        name = name.strip().lower()
        if sep and name in _HEADERS and name not in found:
            found[name] = value.strip().decode("ascii", "replace")
    return found.get(b"date", ""), found.get(b"to", ""), found.get(b"subject", "")


def _decoded(r: list) -> list:
    stem, date, to, subject, t = r
    return [stem, _decode("date", date), _decode("to", to), _decode("subject", subject), t]


def _decode(name: str, value: str) -> str:
    """A header as a mail program shows it: encoded words decoded, an address's display name quoted when it
    must be. Only what is encoded is parsed (the standard parser costs ~0.3 ms a header: a page of a
    thousand rows would take longer to build than to send)."""
    if "=?" not in value:
        return value
    try:
        if name == "to":  # a non-ASCII display name: rare, and its quoting is the parser's job
            return str(default.header_factory(name, value))
        return _decode_words(value)
    except (ValueError, LookupError, TypeError, IndexError):  # a header the parser cannot read: show it as written
        return value


_WORD = re.compile(r"=\?([^?]+)\?([qQbB])\?([^?]*)\?=")


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded; the white space between two adjacent words dropped (RFC 2047 6.2)."""
    parts, last = [], 0
    for m in _WORD.finditer(value):
        between = value[last : m.start()]
        if not (last and between.isspace()):
            parts.append(between)
        charset, kind, text = m.groups()
        data = binascii.a2b_qp(text, header=True) if kind in "qQ" else binascii.a2b_base64(text)
        parts.append(data.decode(charset, "replace"))
        last = m.end()
    parts.append(value[last:])
    return "".join(parts)


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if t else ""


def _message_row(stem: str, date: str, to: str, subject: str, _t: float, prefix: str = "") -> str:
    view, raw = html.escape(f"{prefix}{quote(stem)}.html"), html.escape(f"{prefix}{quote(stem)}.eml")
    return (f"<tr><td>{html.escape(date)}</td><td>{html.escape(to)}</td>"
            f'<td><a href="{view}">{html.escape(subject or stem)}</a></td><td><a href="{raw}">.eml</a></td></tr>')


_STYLE = ("<style>body{font:14px system-ui,sans-serif;margin:2rem;color:#1f2933}"
          "td,th{padding:.3rem .6rem;border-bottom:1px solid #e4e7eb;text-align:left}</style>")


def _table_html(title: str, up: str | None, head: str, rows: Iterable[str], after: str = "") -> Iterator[str]:
    """A whole page, yielded a row at a time (a page is never held in memory)."""
    yield (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">{_STYLE}</head><body>')
    if up:
        yield f'<p><a href="{up}">Outbox</a></p>'
    yield f"<h1>{html.escape(title)}</h1><table>{head}"
    yield from rows
    yield after + "</table></body></html>"


def _page_html(title: str, count: int, up: str, rows: Iterable[str]) -> Iterator[str]:
    return _table_html(f"{title}: {count:,} messages", up,
                       "<tr><th>Date</th><th>To</th><th>Subject (opens the HTML part)</th><th>Raw</th></tr>", rows)


# --- files ---

@contextmanager
def _lock(path: str | Path, how: int, wait: float = LOCK_WAIT) -> Iterator[bool]:
    """An flock on a file that is never replaced (a fresh descriptor each time: threads exclude each other too);
    yields whether it was taken within `wait` seconds. Never waits for ever: the holder may be a stopped process
    (SIGSTOP), and a run that takes over its claims must not hang behind its index."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, how | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    locked = False
                    break
                time.sleep(0.01)
        yield locked
    finally:
        os.close(fd)


def _append(path: str | Path, data: bytes) -> None:
    """One write with O_APPEND: concurrent writers' lines never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            yield from f
    except FileNotFoundError:
        return


def _write_lines(path: Path, chunks: Iterable[str]) -> None:
    """Write a file piece by piece beside its place, then replace it: readers see the old one or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def _read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {} if default is None else default


def _write_json(path: Path, value) -> None:
    _write_lines(path, [json.dumps(value)])
