"""What every importer shares: saving a batch in one transaction, and when the database refuses it, record by
record so only the refused record is lost; telling a refused record from a database that is gone."""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from sqlalchemy.exc import OperationalError, StatementError
from sqlalchemy.orm import Session

T = TypeVar("T")
R = TypeVar("R")


def save_batch(session: Session, batch: Sequence[tuple[int, T]], write: Callable[[list[T]], R],
               refused: Callable[[int, T, str], None]) -> list[R]:
    """Write a batch with `write` and commit; if the database refuses it, write and commit each record alone,
    telling `refused` (line, record, the database's reason) about each one it refuses. Returns what `write`
    returned: once for the whole batch, or once per record that was saved. A database that cannot be reached
    (or is locked) is no record's fault: that error is raised, not reported."""
    try:
        done = [write([item for _, item in batch])]
        session.commit()
        return done
    except StatementError as e:
        session.rollback()
        if db_unreachable(e):
            raise
    done = []
    for line, item in batch:
        try:
            one = write([item])
            session.commit()
        except StatementError as err:
            session.rollback()
            if db_unreachable(err):
                raise
            refused(line, item, db_reason(err))
            continue
        done.append(one)
    return done


def db_unreachable(e: Exception) -> bool:
    """Tell a lost connection or a locked database (stop the import) from a refused record (skip it)."""
    return isinstance(e, OperationalError) or getattr(e, "connection_invalidated", False)


def db_reason(e: StatementError) -> str:
    """The first line of what the database said, for a report line."""
    text = str(e.orig or e).strip().splitlines()
    return text[0][:200] if text else type(e.orig or e).__name__
