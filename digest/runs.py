"""Past runs for operators (`digest runs`): when each started, for which `now`, who started it, what it did and
how it ended. A run writes its row (digest.run); a dispatched run's shards are rows of their own, written by the
queue workers that sent them (`record_shard`), and are folded into their run here."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from .models import Run

COUNTS = ("due", "sent", "skipped_empty", "failed", "failed_rejected", "failed_throttled", "failed_unavailable",
          "withdrawn", "in_progress_elsewhere")


@dataclass
class RunView:
    id: str
    started_at: datetime
    finished_at: datetime | None
    now: datetime
    trigger: str | None
    status: str  # finished / stopped / failed / running, dispatched (waiting for shards) or shards reported
    counts: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None  # why the carrier (or a guard) stopped it early
    error: str | None = None  # what broke a failed run
    shards: int | None = None  # a dispatched run: shards planned
    shards_done: int = 0  # ... and reported by workers
    workers: int = 1

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else round((self.finished_at - self.started_at).total_seconds(), 3)

    def to_json(self) -> dict:
        data = asdict(self) | {"duration_s": self.duration_s}
        for key in ("started_at", "finished_at", "now"):
            data[key] = None if data[key] is None else data[key].isoformat().replace("+00:00", "Z")
        return data


def recent(session: Session, limit: int = 20) -> list[RunView]:
    """The newest runs first, each dispatched run with its workers' shards added up."""
    tops = session.scalars(select(Run).where(Run.parent_id.is_(None))
                           .order_by(Run.started_at.desc(), Run.id).limit(limit)).all()
    shards: dict[str, list[Run]] = {}
    if tops:
        for row in session.scalars(select(Run).where(Run.parent_id.in_([r.id for r in tops]))):
            shards.setdefault(row.parent_id, []).append(row)
    return [_view(r, shards.get(r.id, [])) for r in tops]


def _view(row: Run, shards: list[Run]) -> RunView:
    s = row.summary or {}
    view = RunView(id=row.id, started_at=row.started_at, finished_at=row.finished_at, now=row.now,
                   trigger=row.trigger, status=row.status, counts={k: int(s.get(k, 0)) for k in COUNTS},
                   stopped=s.get("stopped"), error=s.get("error"), workers=row.workers)
    if row.status == "dispatched":
        view.shards, view.shards_done = int(s.get("shards", 0)), len(shards)
        for shard in shards:
            for k in COUNTS:
                view.counts[k] += int((shard.summary or {}).get(k, 0))
            view.stopped = view.stopped or (shard.summary or {}).get("stopped")
            view.error = view.error or (shard.summary or {}).get("error")
        if shards and len(shards) >= view.shards and all(sh.finished_at for sh in shards):
            view.finished_at = max(sh.finished_at for sh in shards)
            view.status = ("failed" if any(sh.status == "failed" for sh in shards)
                           else "stopped" if view.stopped else "finished")
    return view


def record_shard(engine: Engine, parent_id: str, now: datetime, lo: int, hi: int, clock: Callable[[], datetime],
                 send: Callable[[], object]):
    """Send one shard of a dispatched run (`send`) and keep a row of what it did, trigger "worker"."""
    shard_id = str(uuid.uuid4())
    with Session(engine) as s:
        s.add(Run(id=shard_id, started_at=clock(), now=now, workers=1, status="running", trigger="worker",
                  parent_id=parent_id, summary={"lo": lo, "hi": hi}))
        s.commit()
    status, summary, error = "failed", None, None
    try:
        summary = send()
        status = "stopped" if getattr(summary, "stopped", None) else "finished"
        return summary
    except BaseException as e:
        error = f"{type(e).__name__}: {e}"[:500]
        raise
    finally:
        with Session(engine) as s:
            row = s.get(Run, shard_id)
            row.finished_at, row.status = clock(), status
            row.summary = {"lo": lo, "hi": hi} | (asdict(summary) if summary is not None else {}) | (
                {"error": error} if error else {})
            s.commit()
