"""Run liveness: whether the run that holds a claim still has a process that could send it.

A lease alone cannot tell a dead run from a slow one: a killed run's claims would block the week until the
lease ran out, and a live run slower than its lease could be overtaken. So every process that claims for a run
holds a lock named after the run for as long as it works, one the operating system or the database server drops
when the process dies (SIGKILL, an out-of-memory kill, a Lambda timeout):

* PostgreSQL: a session advisory lock (shared) on a connection of its own; `alive` reads pg_locks, so asking
  never takes anything a holder could wait for.
* SQLite file: flock(LOCK_SH) on `<database>.runs/<hash>.lock`; `alive` tries LOCK_EX without waiting, and
  removes the files of dead runs.
* SQLite in memory: one process sees the database, so the runs it holds are the live ones.

Holds nest: the same run held twice in one process takes one lock, given back when the last hold ends.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from sqlalchemy import Connection, Engine, text

from .errors import ConfigError


def lock_key(run_id: str) -> int:
    """A stable signed 64-bit number for a run id (PostgreSQL's advisory lock key)."""
    return int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=8).digest(), "big", signed=True)


class Liveness:
    """hold(run_id) while a run works here; alive(run_ids) says which runs some process still holds."""

    def __init__(self) -> None:
        self._held: dict[str, list] = {}  # run id -> [hold count, what the backend keeps to release it]
        self._mutex = threading.Lock()

    @contextmanager
    def hold(self, run_id: str) -> Iterator[None]:
        """Mark the run alive from this process until the block ends (or the process dies)."""
        with self._mutex:
            entry = self._held.get(run_id)
            if entry is None:
                entry = self._held[run_id] = [0, self._take(run_id)]
            entry[0] += 1
        try:
            yield
        finally:
            with self._mutex:
                entry[0] -= 1
                if entry[0] == 0:
                    del self._held[run_id]
                    self._give_back(run_id, entry[1])

    def alive(self, run_ids: Iterable[str]) -> set[str]:
        """The runs among `run_ids` that some process (this one included) holds now."""
        run_ids = set(run_ids)
        if not run_ids:
            return set()
        with self._mutex:
            mine = run_ids & set(self._held)
        return mine | self._held_elsewhere(run_ids - mine)

    def _take(self, run_id: str):
        raise NotImplementedError

    def _give_back(self, run_id: str, token) -> None:
        raise NotImplementedError

    def _held_elsewhere(self, run_ids: set[str]) -> set[str]:
        raise NotImplementedError


class InProcess(Liveness):
    """An in-memory SQLite database lives in one process: the runs it holds are all the live ones."""

    def _take(self, run_id: str):
        return None

    def _give_back(self, run_id: str, token) -> None:
        pass

    def _held_elsewhere(self, run_ids: set[str]) -> set[str]:
        return set()


class AdvisoryLocks(Liveness):
    """PostgreSQL: a shared session advisory lock per holding process, dropped by the server with its connection."""

    # A killed process's server backend outlives it for a moment (it has to notice the closed socket and exit):
    # a re-run started at once could see the lock still granted. A run first seen alive is looked at again
    # SETTLE seconds later, and counts as alive only if it still is; once seen twice it is trusted for TRUST.
    SETTLE = 0.3
    TRUST = 5.0

    def __init__(self, engine: Engine):
        super().__init__()
        self.engine = engine
        self._seen_alive: dict[str, float] = {}  # run id -> monotonic time it was last confirmed alive

    def _take(self, run_id: str) -> Connection:
        conn = self.engine.connect()  # kept out of the pool while held: the lock lives as long as this session
        conn.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": lock_key(run_id)})
        conn.commit()
        return conn

    def _give_back(self, run_id: str, conn: Connection) -> None:
        try:
            conn.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": lock_key(run_id)})
            conn.commit()
        except Exception:
            conn.invalidate()  # a broken session has lost the lock anyway; never return it to the pool
        finally:
            conn.close()

    def _held_elsewhere(self, run_ids: set[str]) -> set[str]:
        held = self._granted(run_ids)
        now = time.monotonic()
        unsure = {r for r in held if now - self._seen_alive.get(r, -self.TRUST) >= self.TRUST}
        if unsure:
            time.sleep(self.SETTLE)
            held -= unsure - self._granted(unsure)
            now = time.monotonic()
        for r in held:
            self._seen_alive[r] = now
        return held

    def _granted(self, run_ids: set[str]) -> set[str]:
        # A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
        wanted = {(lock_key(r) >> 32 & 0xFFFFFFFF, lock_key(r) & 0xFFFFFFFF): r for r in run_ids}
        with self.engine.connect() as conn:
            held = conn.execute(text(
                "SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).all()
        return {wanted[(int(c), int(o))] for c, o in held if (int(c), int(o)) in wanted}


class LockFiles(Liveness):
    """SQLite: flock on a file per run beside the database, dropped by the kernel when the process dies."""

    def __init__(self, database: str):
        super().__init__()
        self.folder = Path(database + ".runs")

    def path(self, run_id: str) -> Path:
        # Hashed: a run id can come from a queue message, and must never name a path.
        return self.folder / f"{hashlib.blake2b(run_id.encode(), digest_size=16).hexdigest()}.lock"

    def _take(self, run_id: str) -> int:
        path = self.path(run_id)
        try:
            self.folder.mkdir(exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the run lock folder {self.folder}: {e.strerror}") from e
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_SH)
            try:  # a checker may have removed the file of a dead run between our open and our lock: lock anew
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)

    def _give_back(self, run_id: str, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the last holder anywhere removes the file
            self.path(run_id).unlink(missing_ok=True)
        except OSError:
            pass  # another process of the run still holds it
        finally:
            os.close(fd)

    def _held_elsewhere(self, run_ids: set[str]) -> set[str]:
        return {r for r in run_ids if self._held_by_someone(r)}

    def _held_by_someone(self, run_id: str) -> bool:
        path = self.path(run_id)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False  # never held, or its last holder is gone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return True
            raise
        else:
            path.unlink(missing_ok=True)  # a dead run's file: nobody can take it while we hold it exclusively
            return False
        finally:
            os.close(fd)


_BY_ENGINE: "weakref.WeakKeyDictionary[Engine, Liveness]" = weakref.WeakKeyDictionary()
_BY_ENGINE_MUTEX = threading.Lock()


def for_engine(engine: Engine) -> Liveness:
    """The liveness of runs on this engine's database (one per engine, so a run's holds in a process nest)."""
    with _BY_ENGINE_MUTEX:
        found = _BY_ENGINE.get(engine)
        if found is None:
            found = _BY_ENGINE[engine] = _make(engine)
        return found


def _make(engine: Engine) -> Liveness:
    if engine.dialect.name == "postgresql":
        return AdvisoryLocks(engine)
    database = engine.url.database or ""
    if engine.dialect.name == "sqlite" and database not in ("", ":memory:") and not database.startswith("file::memory:") \
            and engine.url.query.get("mode") != "memory":
        return LockFiles(os.path.abspath(database))
    return InProcess()
