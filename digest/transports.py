"""Where finished messages go: the local outbox, a recorder for tests, or nowhere (dry runs)."""

from __future__ import annotations

import binascii
import html
import os
import re
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Protocol

from .settings import Settings


class Transport(Protocol):
    """Carries finished RFC 5322 messages; `key` names the message (subscriber and week)."""

    name: str
    # Optional `record_batch: int`: how many accepted messages may wait for their ledger mark together (a crash
    # or a database outage re-sends at most that many). Absent means 1: a real carrier's message is recorded
    # before the next one goes.

    def send(self, key: str, to: str, raw: bytes, tags: Mapping[str, str] | None = None) -> str:
        """Hand one message over (tags: e.g. period and run id, for the carrier's events); return its id."""

    def close(self) -> None:
        """Flush whatever the transport keeps for the end of a run."""


KINDS = ("rejected", "throttled", "unavailable", "quota", "paused")


class TransportError(Exception):
    """A message could not be handed over, and what kind of failure it was.

    rejected     this message or address will never be accepted (marked failed, not retried)
    throttled    the carrier kept saying "slow down" after our retries (left for the next run)
    unavailable  network or server errors after bounded retries (left for the next run)
    quota        the 24-hour sending quota is used up: stop, the rest stays due
    paused       the account may not send at all (paused or suspended): stop the run at once
    """

    def __init__(self, message: str, kind: str = "unavailable"):
        super().__init__(message)
        if kind not in KINDS:
            raise ValueError(f"unknown transport error kind {kind!r}")
        self.kind = kind

    @property
    def permanent(self) -> bool:
        return self.kind == "rejected"

    @property
    def stops_run(self) -> bool:
        return self.kind in ("paused", "quota")


class ClaimTaken(Exception):
    """The run's claim on this message was taken over by another run (this one was stopped): it must not go."""


class OutboxTransport:
    """Write each message as `<dir>/<key>.eml`; the same key rewrites the same file."""

    name = "outbox"
    # send() takes a fence and asks it at the last moment, between writing the message and making it visible, so
    # a run stopped mid-write and taken over meanwhile never replaces the other run's file.
    fenced = True
    # Messages that may await their ledger mark together (a run's page): a crash re-writes at most these files,
    # it sends nothing twice.
    record_batch = 200

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def check(self) -> None:
        """Make sure messages can be written here, before a run claims anyone (a misconfigured outbox must not
        cost every recipient an attempt)."""
        from .errors import ConfigError

        # The nearest existing folder on the way must be a writable folder; nothing is created until a message is.
        there = self.directory.absolute()
        while not there.exists() and there != there.parent:
            there = there.parent
        why = None if there.is_dir() else "Not a directory"
        if why is None and not os.access(there, os.W_OK | os.X_OK):
            why = "Permission denied"
        if why:
            raise ConfigError(f"the outbox {self.directory} cannot be written: {why}")

    def send(self, key: str, to: str, raw: bytes, tags: Mapping[str, str] | None = None,
             fence: Callable[[], bool] | None = None) -> str:
        path = self.directory / f"{key}.eml"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        if fence is not None and not fence():
            tmp.unlink()
            raise ClaimTaken(key)
        os.replace(tmp, path)  # atomic: a crash leaves the old file or the new one, never half of one
        # A browser cannot show an .eml: keep its HTML part beside it for outbox/index.html.
        path.with_suffix(".html").write_text(html_part(raw), encoding="utf-8")
        return path.relative_to(self.directory).as_posix()

    def close(self) -> None:
        remove_stale_temp_files(self.directory)
        write_index(self.directory)


def remove_stale_temp_files(directory: Path) -> int:
    """Delete the half-written `.<name>.<pid>.tmp` files of processes that are gone (killed mid-write).

    A temp file is never read as a message; one whose process still runs is being written now and stays.
    """
    removed = 0
    for tmp in Path(directory).rglob(".*.tmp"):
        pid = tmp.suffixes[-2].lstrip(".") if len(tmp.suffixes) >= 2 else ""
        if not pid.isdigit() or _alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@dataclass
class RecordingTransport:
    """Keep messages in memory (tests, previews)."""

    name: str = "recording"
    sent: list[tuple[str, str, bytes]] = field(default_factory=list)

    def send(self, key: str, to: str, raw: bytes, tags: Mapping[str, str] | None = None) -> str:
        self.sent.append((key, to, raw))
        return key

    def close(self) -> None:
        pass


@dataclass
class NullTransport:
    """Keep only counts: what a dry run would have sent."""

    name: str = "null"
    messages: int = 0
    bytes: int = 0

    def send(self, key: str, to: str, raw: bytes, tags: Mapping[str, str] | None = None) -> str:
        self.messages += 1
        self.bytes += len(raw)
        return key

    def close(self) -> None:
        pass


def make_transport(settings: Settings) -> Transport:
    """Return the transport the settings name."""
    if settings.transport == "outbox":
        outbox = OutboxTransport(settings.outbox_dir)
        outbox.check()
        return outbox
    if settings.transport == "ses":
        from .ses import make_ses_transport  # here, so the outbox path never imports boto3

        return make_ses_transport(settings)
    from .errors import ConfigError

    raise ConfigError(f"transport {settings.transport!r} is not available in this build")


def write_index(directory: Path) -> Path:
    """Write `index.html` linking every message in the outbox (newest week first) and its HTML view."""
    rows = []
    paths = sorted(directory.rglob("*.eml"), key=lambda p: (int(p.stem) if p.stem.isdigit() else 0, p.stem))
    for path in sorted(paths, key=lambda p: p.parent.name, reverse=True):  # newest week first, then by id
        head = _headers(path)
        rel = path.relative_to(directory).as_posix()
        view = path.with_suffix(".html").relative_to(directory).as_posix()
        rows.append(
            f"<tr><td>{html.escape(head.get('date', ''))}</td><td>{html.escape(head.get('to', ''))}</td>"
            f'<td><a href="{html.escape(view)}">{html.escape(head.get("subject", rel))}</a></td>'
            f'<td><a href="{html.escape(rel)}">.eml</a></td></tr>'
        )
    directory.mkdir(parents=True, exist_ok=True)
    index = directory / "index.html"
    index.write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Outbox</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font:14px system-ui,sans-serif;margin:2rem;color:#1f2933}"
        "td,th{padding:.3rem .6rem;border-bottom:1px solid #e4e7eb;text-align:left}</style>"
        f"</head><body><h1>Outbox: {len(rows)} messages</h1><table>"
        "<tr><th>Date</th><th>To</th><th>Subject (opens the HTML part)</th><th>Raw</th></tr>"
        + "".join(rows)
        + "</table></body></html>",
        encoding="utf-8",
    )
    return index


def _headers(path: Path) -> dict[str, str]:
    """Date, To and Subject of a message, decoded, reading only its header block."""
    with path.open("rb") as f:
        data = f.read(16384)
    end = data.find(b"\r\n\r\n")
    msg = BytesHeaderParser(policy=compat32).parsebytes(data[: end + 4] if end >= 0 else data)
    return {k: str(make_header(decode_header(msg.get(k, "")))) for k in ("date", "to", "subject")}


_BOUNDARY = re.compile(rb'boundary="?([^";\r\n]+)"?')


def html_part(raw: bytes) -> str:
    """The decoded text/html part of a message we built (quoted-printable or base64), or ''."""
    m = _BOUNDARY.search(raw, 0, raw.find(b"\r\n\r\n"))
    if not m:
        return ""
    for part in raw.split(b"--" + m.group(1)):
        head, _, body = part.partition(b"\r\n\r\n")
        lower = head.lower()
        if b"content-type: text/html" in lower:
            if b"base64" in lower:
                return binascii.a2b_base64(body).decode("utf-8", "replace")
            return binascii.a2b_qp(body).decode("utf-8", "replace")
    return ""
