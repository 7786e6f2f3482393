"""Read the outbox's index pages as a person clicking through them would: top page → folder → its pages."""

from __future__ import annotations

import email
import email.policy
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote


class Page(HTMLParser):
    """The heading, the table rows (cell texts and the links in them) and every link of an HTML page."""

    def __init__(self, path: Path):
        super().__init__()
        self.h1 = ""
        self.tables: list[list[tuple[list[str], list[str]]]] = []
        self._tag: list[str] = []
        self._row: tuple[list[str], list[str]] | None = None
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        self._tag.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = ([], [])
        elif tag in ("td", "th") and self._row is not None:
            self._row[0].append("")
        elif tag == "a" and self._row is not None:
            self._row[1].append(dict(attrs)["href"])

    def handle_endtag(self, tag):
        while self._tag and self._tag.pop() != tag:
            pass
        if tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if "h1" in self._tag:
            self.h1 += data
        elif self._row is not None and self._row[0]:
            self._row[0][-1] += data


def _rows(page: Page, table: int = 0) -> list[tuple[list[str], list[str]]]:
    return [r for r in page.tables[table] if r[1]]  # rows with a link: not the header


def folders(outbox: Path) -> list[tuple[str, int, Path]]:
    """The top page's folders, in its order: (name, count shown, folder page)."""
    top = Page(outbox / "index.html")
    return [(cells[0], int(cells[1].replace(",", "")), outbox / unquote(links[0])) for cells, links in _rows(top)]


def messages(outbox: Path) -> dict[str, dict]:
    """Every message the index pages list, reached from the top page, keyed like read_outbox ("2026-W48/3"):
    the Date, To and Subject shown, and the page that lists it. A message listed twice fails."""
    out: dict[str, dict] = {}
    for _name, count, folder_page in folders(outbox):
        listed = 0
        for cells, links in _rows(Page(folder_page)):
            page_path = folder_page.parent / unquote(links[0])
            page = Page(page_path)
            rows = _rows(page)
            assert int(cells[1].replace(",", "")) == len(rows), f"{folder_page}: count of {page_path.name}"
            for (date, to, subject, _raw), (view, eml) in rows:
                key = (page_path.parent / unquote(eml)).relative_to(outbox).with_suffix("").as_posix()
                assert key not in out, f"{key} listed twice"
                assert (page_path.parent / unquote(view)).is_file()
                out[key] = {"date": date, "to": to, "subject": subject, "page": page_path}
            listed += len(rows)
        assert listed == count, f"{folder_page}: the top page says {count}, its pages list {listed}"
    return out


def headers(outbox: Path) -> dict[str, dict]:
    """Date, To and Subject of every .eml on disk, parsed with the standard library."""
    strict = email.policy.default.clone(raise_on_defect=True)
    out = {}
    for p in outbox.rglob("*.eml"):
        msg = email.message_from_bytes(p.read_bytes(), policy=strict)
        out[p.relative_to(outbox).with_suffix("").as_posix()] = {
            "date": str(msg["Date"]), "to": str(msg["To"]), "subject": str(msg["Subject"])}
    return out


def assert_index_matches_disk(outbox: Path) -> dict[str, dict]:
    """The index lists exactly the messages on disk, each with its own headers, and the top count is their number."""
    listed = messages(outbox)
    on_disk = headers(outbox)
    assert set(listed) == set(on_disk)
    for key, head in on_disk.items():
        assert {k: listed[key][k] for k in head} == head, (key, listed[key], head)
    assert Page(outbox / "index.html").h1 == f"Outbox: {len(on_disk):,} messages"
    return listed


def _message(key: str, to: str = "ana@example.com", subject: str = "3 new backend jobs") -> bytes:
    return (f"From: Jobs <digest@example.com>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{key.replace('/', '.')}@example.com>\r\n"
            'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b--\r\n"
            ).encode()
