"""The heartbeat: a live run renews its claims while it works, so a page slower than the lease is never taken over."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Callable, Iterable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import ledger

log = logging.getLogger(__name__)
BEATS_PER_LEASE = 3  # a beat or two may fail (a busy database) before the lease runs out


class Heartbeat:
    """Renew the lease of the claims a run holds in this process, a few times per lease, from a thread.

    The thread has its own session (and connection), so it never touches the sending session's transaction.
    A stopped process (SIGSTOP, a frozen container) stops its heartbeat with it: then the lease runs out, another
    run may take the claims over, and the fence before each send (ledger.renew) keeps the resumed run from
    sending them.
    """

    def __init__(self, engine: Engine, run_id: str, lease_seconds: int, clock: Callable[[], datetime]):
        self.engine, self.run_id, self.clock = engine, run_id, clock
        self.lease = timedelta(seconds=lease_seconds)
        self.every = lease_seconds / BEATS_PER_LEASE
        self._tickets: dict[int, ledger.Ticket] = {}
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def track(self, tickets: Iterable[ledger.Ticket]) -> None:
        with self._mutex:
            self._tickets.update((t.delivery_id, t) for t in tickets)

    def forget(self, delivery_ids: Iterable[int]) -> None:
        with self._mutex:
            for did in delivery_ids:
                self._tickets.pop(did, None)

    def beat(self) -> int:
        """Renew every tracked claim now; return how many were still this run's."""
        with self._mutex:
            tickets = list(self._tickets.values())
        if not tickets:
            return 0
        with Session(self.engine) as s:
            renewed = ledger.renew(s, tickets, self.run_id, self.clock() + self.lease, wait=False)
            s.commit()
        return len(renewed)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.beat()
            except SQLAlchemyError as e:  # a busy or briefly unreachable database: the next beat tries again
                # INFO, not a warning: a database that stays away fails the run itself, with one clear line.
                log.info("heartbeat of run %s could not renew its claims: %s", self.run_id[:8],
                            str(e).splitlines()[0])

    def __enter__(self) -> "Heartbeat":
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{self.run_id[:8]}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._mutex:
            self._tickets.clear()
