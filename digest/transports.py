"""Where finished messages go: the local outbox, a recorder for tests, or nowhere (dry runs)."""

from __future__ import annotations

import email
import email.policy
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .settings import Settings


class Transport(Protocol):
    """Carries finished RFC 5322 messages; `key` names the message (subscriber and week)."""

    name: str

    def send(self, key: str, to: str, raw: bytes) -> str:
        """Hand one message over; return the carrier's id for it."""

    def close(self) -> None:
        """Flush whatever the transport keeps for the end of a run."""


class TransportError(Exception):
    """A message could not be handed over; `permanent` says whether retrying can help."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class OutboxTransport:
    """Write each message as `<dir>/<key>.eml`; the same key rewrites the same file."""

    name = "outbox"

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def send(self, key: str, to: str, raw: bytes) -> str:
        path = self.directory / f"{key}.eml"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)  # atomic: a crash leaves the old file or the new one, never half of one
        return str(path.relative_to(self.directory))

    def close(self) -> None:
        write_index(self.directory)


@dataclass
class RecordingTransport:
    """Keep messages in memory (tests, previews)."""

    name: str = "recording"
    sent: list[tuple[str, str, bytes]] = field(default_factory=list)

    def send(self, key: str, to: str, raw: bytes) -> str:
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

    def send(self, key: str, to: str, raw: bytes) -> str:
        self.messages += 1
        self.bytes += len(raw)
        return key

    def close(self) -> None:
        pass


def make_transport(settings: Settings) -> Transport:
    """Return the transport the settings name."""
    if settings.transport == "outbox":
        return OutboxTransport(settings.outbox_dir)
    from .errors import ConfigError

    raise ConfigError(f"transport {settings.transport!r} is not available in this build")


def write_index(directory: Path) -> Path:
    """Write `index.html` linking every message in the outbox, newest week first."""
    rows = []
    for path in sorted(directory.rglob("*.eml"), key=lambda p: str(p), reverse=True):
        msg = email.message_from_bytes(_headers_only(path), policy=email.policy.default)
        rel = path.relative_to(directory).as_posix()
        rows.append(
            f"<tr><td>{html.escape(str(msg['Date'] or ''))}</td><td>{html.escape(str(msg['To'] or ''))}</td>"
            f'<td><a href="{html.escape(rel)}">{html.escape(str(msg["Subject"] or rel))}</a></td>'
            f'<td><a href="{html.escape(_preview(path, directory))}">view</a></td></tr>'
        )
    index = directory / "index.html"
    directory.mkdir(parents=True, exist_ok=True)
    index.write_text(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Outbox</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2rem}td{padding:.2rem .6rem;border-bottom:1px solid #ddd}</style>"
        f"</head><body><h1>Outbox: {len(rows)} messages</h1><table>"
        "<tr><th>Date</th><th>To</th><th>Subject (raw .eml)</th><th>HTML</th></tr>"
        + "".join(rows)
        + "</table></body></html>",
        encoding="utf-8",
    )
    return index


def _headers_only(path: Path) -> bytes:
    with path.open("rb") as f:
        data = f.read(16384)
    end = data.find(b"\r\n\r\n")
    return data[: end + 4] if end >= 0 else data


def _preview(path: Path, directory: Path) -> str:
    """Write the HTML part beside the .eml once, so a browser can show it; return its link."""
    target = path.with_suffix(".html")
    if not target.exists() or target.stat().st_mtime < path.stat().st_mtime:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = msg.get_body(preferencelist=("html", "plain"))
        target.write_text(part.get_content() if part else "", encoding="utf-8")
    return target.relative_to(directory).as_posix()
