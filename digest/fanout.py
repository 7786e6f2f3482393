"""Fan-out over a queue: the hourly planner cuts the list into shards, workers send one shard each.

A shard message carries the run id, the run's `now` and an id range. Workers run the same shard function as
`digest run --workers N`; the ledger's unique claim makes a message delivered twice, two planners at once,
or a worker that times out half way harmless, and the next hourly plan picks up whatever is still due.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from . import guard
from .jsontext import loads
from .models import Run
from .runs import record_shard
from .run import RunContext, Shard, ShardRunner, Summary, plan, run
from .settings import Settings
from .carriers.base import Transport

SQS_BATCH = 10  # SendMessageBatch takes at most ten entries


@dataclass(frozen=True)
class ShardMessage:
    run_id: str
    now: str  # ISO 8601, aware
    lo: int
    hi: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> "ShardMessage":
        data = loads(body)
        msg = cls(run_id=str(data["run_id"]), now=str(data["now"]), lo=int(data["lo"]), hi=int(data["hi"]))
        msg.instant  # refuse a malformed time here, not half way through the shard  # noqa: B018
        return msg

    @property
    def instant(self) -> datetime:
        when = datetime.fromisoformat(self.now)
        if when.tzinfo is None:
            raise ValueError("shard message time has no timezone")
        return when


@dataclass
class Dispatch:
    run_id: str
    subscribers: int
    shards: int
    inline: Summary | None  # set when the list was small enough to send right here
    guard: str | None = None  # the reputation guard's line when it kept the run from starting (nothing queued)
    rates: guard.Rates | None = None  # the last 7 days as the planner saw them


def dispatch(settings: Settings, engine: Engine, now: datetime, *, sqs: Any, queue_url: str,
             shard_size: int, inline_below: int, transport: Callable[[], Transport],
             clock: Callable[[], datetime], trigger: str = "schedule") -> Dispatch:
    """Plan the hour's run: below `inline_below` active subscribers send inline, else enqueue shards; above the
    reputation guard, nothing (each worker also checks it before every page)."""
    with Session(engine) as s:
        shards = list(plan(s, shard_size))
        rates = guard.rates(s, settings, clock())
    total = sum(sh.size for sh in shards)
    if total < inline_below:
        run_id, summary = run(settings, now, engine=engine, transport=transport(), clock=clock, trigger=trigger)
        return Dispatch(run_id, total, len(shards), summary, guard=summary.guard, rates=rates)
    run_id = str(uuid.uuid4())
    if line := rates.over():
        with Session(engine) as s:
            s.add(Run(id=run_id, started_at=clock(), finished_at=clock(), now=now, workers=0, status="guarded",
                      summary={"subscribers": total, "stopped": line, "guard": line} | rates.as_dict()))
            s.commit()
        return Dispatch(run_id, total, 0, None, guard=line, rates=rates)
    with Session(engine) as s:
        s.add(Run(id=run_id, started_at=clock(), now=now, workers=len(shards), status="dispatched",
                  summary={"shards": len(shards), "subscribers": total}, trigger=trigger))
        s.commit()
    messages = [ShardMessage(run_id, now.isoformat(), sh.lo, sh.hi) for sh in shards]
    for i in range(0, len(messages), SQS_BATCH):
        batch = messages[i : i + SQS_BATCH]
        answer = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "MessageBody": m.to_json()} for n, m in enumerate(batch)],
        )
        if answer.get("Failed"):
            # The hour's plan is incomplete, which is safe: the next plan finds those subscribers still due.
            raise RuntimeError(f"SQS refused {len(answer['Failed'])} shard messages: {answer['Failed'][0]}")
    return Dispatch(run_id, total, len(shards), None, rates=rates)


_runners: dict[str, ShardRunner] = {}  # one per run in a warm worker: the listing index is built once


def send_shard(settings: Settings, engine: Engine, message: ShardMessage, transport: Transport,
               clock: Callable[[], datetime], trigger: str | None = None) -> Summary:
    """Send one shard: the function the SQS worker runs for each message (`trigger` "worker" also keeps a row
    of what it did, which `digest runs` adds to its run)."""
    runner = _runners.get(message.run_id)
    if runner is None:
        _runners.clear()
        ctx = RunContext(settings=settings, now=message.instant, run_id=message.run_id)
        runner = _runners[message.run_id] = ShardRunner(engine, ctx, transport, clock)
    shard = Shard(message.lo, message.hi)
    if trigger is None:
        return runner.run(shard)
    return record_shard(engine, message.run_id, message.instant, message.lo, message.hi, clock,
                        lambda: runner.run(shard))
