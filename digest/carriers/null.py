"""Carriers that carry nothing: a recorder for tests and previews, a counter for dry runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


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
