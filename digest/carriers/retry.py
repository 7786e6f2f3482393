"""How carriers try a message again, and when they stop trying for a while (shared by SES and SMTP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .base import TransportError

Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one message is tried again, and when to stop trying for a while."""

    throttled_tries: int = 5
    unavailable_tries: int = 3
    base: float = 0.2  # seconds: the longest first wait
    cap: float = 10.0  # seconds: the longest wait
    breaker_after: int = 10  # messages in a row given up on (throttled or unavailable) before failing fast
    breaker_cooldown: float = 60.0  # seconds of failing fast before the carrier is tried again

    def backoff(self, retry: int, rand: Callable[[], float]) -> float:
        """Capped exponential backoff with full jitter: uniform in [0, min(cap, base * 2**retry))."""
        return rand() * min(self.cap, self.base * 2**retry)

    def tries(self, kind: str) -> int:
        """How many times a message failing with this kind is tried in all (1: not again)."""
        return {"throttled": self.throttled_tries, "unavailable": self.unavailable_tries}.get(kind, 1)


class Breaker:
    """Fail fast once `policy.breaker_after` messages in a row were given up on, for `breaker_cooldown` seconds.

    A carrier that is down or keeps saying "later" is then not hammered with every remaining message of the run
    (each is failed at once with the same kind, due again next run); after the cool-down one message is tried.
    """

    def __init__(self, policy: RetryPolicy, clock: Clock, carrier: str):
        self.policy, self._clock, self.carrier = policy, clock, carrier
        self.streak = 0  # messages in a row given up on as throttled or unavailable
        self.kind = "unavailable"
        self._open_until = float("-inf")

    def admit(self) -> None:
        """Raise TransportError at once while the breaker is open."""
        wait = self._open_until - self._clock()
        if wait > 0:
            raise TransportError(f"{self.carrier} gave up on {self.streak} messages in a row; not trying for "
                                 f"another {wait:.0f} s", self.kind)

    def settle(self, kind: str | None) -> None:
        """Count one message's outcome: None when it was accepted, else its TransportError kind."""
        if kind in ("throttled", "unavailable"):
            self.streak += 1
            self.kind = kind
            if self.streak >= self.policy.breaker_after:
                self._open_until = self._clock() + self.policy.breaker_cooldown
        else:  # accepted or refused: the carrier answered, it is up
            self.streak = 0
