"""What every carrier is: the Transport protocol, and the kinds of failure a run knows how to treat."""

from __future__ import annotations

import ipaddress
from typing import Mapping, Protocol


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



def is_local_host(host: str, loopback_only: bool = False) -> bool:
    """Whether `host` names this machine (or, unless `loopback_only`, a private or link-local network)."""
    host = host.lower().rstrip(".").strip("[]")
    if not host or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if loopback_only:
        return ip.is_loopback
    return ip.is_loopback or ip.is_unspecified or ip.is_private or ip.is_link_local
