"""The weekly run: plan shards of subscribers, and send one shard (locally or on Lambda)."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from typing import Callable, Iterator

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from . import guard, ledger, liveness
from .cadence import on_their_weeks
from .compose import Composer, Recipient
from .db import make_engine
from .heartbeat import Heartbeat
from .listings_index import load_index
from .matching import ListingIndex, Match
from .models import Run, Subscriber
from .planning import FIRST_WINDOW, MAX_WINDOW, plan_digests, slot_counts, window_start  # noqa: F401 (re-exported)
from .schedule import Slot, SlotCache, resume_at
from .sent_mail import header_message_id
from .settings import Settings
from .taxonomy import load_taxonomy
from .carriers.base import ClaimTaken, Transport, TransportError
from .carriers.choose import make_transport
from .carriers.null import NullTransport

PAGE = 200  # subscribers per claim/send/finish cycle: one short write transaction each
FENCE_TRUST = 1.0  # seconds a confirmed claim is trusted without asking again (see ShardRunner._fence)
SHARD_SIZE = 500

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Summary:
    """What a run (or one shard of it) did."""

    due: int = 0
    sent: int = 0
    skipped_empty: int = 0
    failed: int = 0  # every message not sent this run, whatever the kind
    failed_rejected: int = 0  # refused for good (bad address, content): not retried
    failed_throttled: int = 0  # still throttled after retries: due again next run
    failed_unavailable: int = 0  # network or server errors after retries: due again next run
    in_progress_elsewhere: int = 0  # claimed by a live run (or taken over from this one while it was stopped)
    withdrawn: int = 0  # unsubscribed or paused after the run read them, before their digest went out
    listings_considered: int = 0
    bytes: int = 0
    stopped: str | None = None  # why the run stopped early (sending paused, quota used up, the guard)
    guard: str | None = None  # the reputation guard's line when it is what stopped the run (digest.guard)

    def add(self, other: "Summary") -> "Summary":
        for f in fields(self):
            if f.name not in ("listings_considered", "stopped", "guard"):
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.listings_considered = max(self.listings_considered, other.listings_considered)
        self.stopped = self.stopped or other.stopped
        self.guard = self.guard or other.guard
        return self

    def count_failure(self, kind: str) -> None:
        self.failed += 1
        name = f"failed_{kind}"
        if hasattr(self, name):
            setattr(self, name, getattr(self, name) + 1)


class RunStopped(Exception):
    """The carrier will take no more mail now (paused account, quota used up): stop, leave the rest due."""


@dataclass(frozen=True)
class Shard:
    """A range of subscriber ids (inclusive); the unit of work a worker or a queue message carries."""

    lo: int
    hi: int
    size: int = 0


@dataclass(frozen=True)
class RunContext:
    settings: Settings
    now: datetime
    run_id: str
    dry_run: bool = False
    ignore_guard: bool = False  # `digest run --ignore-guard`: audited, the rates are not looked at


def plan(session: Session, size: int = SHARD_SIZE) -> Iterator[Shard]:
    """Split the active subscribers into id ranges of at most `size`, streaming (flat memory)."""
    q = select(Subscriber.id).where(Subscriber.status == "active").order_by(Subscriber.id)
    lo = prev = None
    n = 0
    for (sid,) in session.execute(q.execution_options(yield_per=5000)):
        if lo is None:
            lo = sid
        prev, n = sid, n + 1
        if n == size:
            yield Shard(lo, prev, n)
            lo, n = None, 0
    if lo is not None:
        yield Shard(lo, prev, n)


_RECIPIENT_COLS = [getattr(Subscriber, f.name) for f in fields(Recipient)]


def recipients(session: Session, after: int, hi: int, limit: int, active_only: bool = True) -> list[Recipient]:
    """A page of subscribers with ids in (after, hi], as plain rows."""
    q = select(*_RECIPIENT_COLS).where(Subscriber.id > after, Subscriber.id <= hi).order_by(Subscriber.id).limit(limit)
    if active_only:
        q = q.where(Subscriber.status == "active")
    # List preferences (JSON columns) become tuples: Recipient is frozen and its preferences are cache keys.
    return [Recipient(*(tuple(v) if type(v) is list else v for v in r)) for r in session.execute(q)]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ShardRunner:
    """Sends the digests of one shard; one per process, reused across shards of the same run."""

    def __init__(self, engine: Engine, ctx: RunContext, transport: Transport, clock: Clock = wall_clock,
                 index: ListingIndex | None = None):
        self.engine = engine
        self.ctx = ctx
        self.transport = transport
        self.clock = clock
        self.taxonomy = load_taxonomy()
        self.composer = Composer(ctx.settings, self.taxonomy)
        if index is None:
            with Session(engine) as s:
                index = load_index(s, ctx.now, self.taxonomy, MAX_WINDOW)
        self.index = index
        self.guard = None  # a dry run sends nothing, so it is not held back
        if not (ctx.dry_run or ctx.ignore_guard):
            with Session(engine) as s:
                self.guard = guard.Guard(s, ctx.settings, clock())
        self._sent_earlier = 0  # by this runner in earlier shards of the run: the window's sends, without a recount
        self.slots = SlotCache(ctx.now)
        self.liveness = liveness.for_engine(engine)
        self.heartbeat = Heartbeat(engine, ctx.run_id, ctx.settings.claim_lease_seconds, clock)
        # When the database last said this run's claims were its own: (monotonic, run clock); see _fence.
        self._confirmed_at: tuple[float, datetime] = (-FENCE_TRUST, _EPOCH)

    def run(self, shard: Shard, progress: Callable[[int], None] | None = None) -> Summary:
        """Process every active subscriber in the shard, a page at a time, holding the run alive meanwhile."""
        with ExitStack() as alive:
            if not self.ctx.dry_run:  # a dry run claims nothing, so it has nothing to keep
                alive.enter_context(self.liveness.hold(self.ctx.run_id))
                alive.enter_context(self.heartbeat)
            summary = self._pages(shard, progress)
        self._sent_earlier += summary.sent
        return summary

    def _pages(self, shard: Shard, progress: Callable[[int], None] | None) -> Summary:
        summary = Summary(listings_considered=len(self.index))
        after = shard.lo - 1
        while True:
            with Session(self.engine) as s:
                if self._guarded(s, summary):
                    return summary
                page = recipients(s, after, shard.hi, PAGE)
                if not page:
                    break
                after = page[-1].id
                try:
                    self._page(s, page, summary)
                except RunStopped as e:
                    summary.stopped = str(e)
                    return summary
            if progress:
                progress(len(page))
        return summary

    def _guarded(self, s: Session, summary: Summary) -> bool:
        """Before each page: is a recent bounce or complaint rate above the guard? Then nothing more is sent."""
        if self.guard is None:
            return False
        line = self.guard.check(s, self.clock(), self._sent_earlier + summary.sent).over()
        s.rollback()  # a read: nothing of it may stay open while the page claims
        if line:
            summary.stopped = summary.guard = line
        return line is not None

    def _page(self, s: Session, page: list[Recipient], summary: Summary) -> None:
        """One page of subscribers: who is due, what each gets, claim them, send."""
        slots = {r.id: self.slots(r.timezone, r.send_day, r.send_hour) for r in page}
        due, wall, dead = self._due(s, page, slots, summary)
        if not due:
            return
        plans = self._plan(s, due)
        if self.ctx.dry_run:
            self._count_dry_run(plans, slots, summary)
            return
        owned = self._claim(s, plans, slots, wall, dead, summary)
        pending = [(r, since, match) for r, since, match in plans if r.id in owned and match.total]
        self.heartbeat.track(owned[r.id] for r, _s, _m in pending)
        self._send_all(s, pending, owned, slots, summary)

    def _due(self, s: Session, page: list[Recipient], slots: dict[int, Slot],
             summary: Summary) -> tuple[list[Recipient], datetime, set[str]]:
        """Who on the page is due now (their slot counts, it is their week, no one else holds their row); with the
        wall-clock time asked and the dead runs whose claims are open."""
        page = [r for r in page if slot_counts(r, slots[r.id])]
        page = on_their_weeks(s, page, {r.id: slots[r.id].period for r in page})
        rows = ledger.rows_for(s, {r.id: slots[r.id].period for r in page})
        wall = self.clock()
        live, dead = self._runs_of(rows.values(), wall)
        due = []
        for r in page:
            row = rows.get(r.id)
            if row is None or row.open_for(wall, live):
                due.append(r)
            elif row.status == "claimed":
                summary.in_progress_elsewhere += 1
        summary.due += len(due)
        return due, wall, dead

    def _plan(self, s: Session, due: list[Recipient]) -> list[tuple[Recipient, datetime, Match]]:
        """What each due subscriber gets: their window's start and their matching listings."""
        planned = plan_digests(s, self.index, due, self.ctx.now, self.ctx.settings)
        return [(p.recipient, p.since, p.match) for p in planned]

    def _count_dry_run(self, plans: list[tuple[Recipient, datetime, Match]], slots: dict[int, Slot],
                       summary: Summary) -> None:
        """A dry run composes every digest into the null transport and claims nothing."""
        for r, since, match in plans:
            if match.total:
                self._send(r, since, match, slots[r.id], summary)
            else:
                summary.skipped_empty += 1

    def _claim(self, s: Session, plans: list[tuple[Recipient, datetime, Match]], slots: dict[int, Slot],
               wall: datetime, dead: set[str], summary: Summary) -> dict[int, ledger.Ticket]:
        """Claim the page's rows in the ledger (durably, before anything leaves); return those this run owns."""
        claims = [
            ledger.Claim(r.id, slots[r.id].period, "claimed" if m.total else "empty", slots[r.id].at, since, m.total,
                         m.listings)
            for r, since, m in plans
        ]
        owned = ledger.claim(s, claims, self.ctx.run_id, self.ctx.now, wall, self.ctx.settings.claim_lease_seconds,
                             dead)
        s.commit()  # the claim is durable before anything leaves
        for r, since, match in plans:
            if r.id not in owned:
                summary.in_progress_elsewhere += 1
                summary.due -= 1
            elif not match.total:
                summary.skipped_empty += 1
        return owned

    def _send_all(self, s: Session, pending: list, owned: dict[int, ledger.Ticket], slots: dict[int, Slot],
                  summary: Summary) -> None:
        """Send the claimed digests batch by batch, each batch recorded before the next goes."""
        # What the carrier accepted is recorded before more goes out: after every message for a real carrier, so
        # a crash or a database outage re-sends at most the one in flight; in batches where a re-send costs
        # nothing (the outbox rewrites the same file).
        batch = max(1, getattr(self.transport, "record_batch", 1))
        for i in range(0, len(pending), batch):
            try:
                self._send_batch(s, pending[i : i + batch], owned, slots, summary)
            except BaseException:
                # Stopped, or broken: the page's later batches were never tried, so their claims go back now
                # (if the database is what broke, their leases run out instead).
                try:
                    ledger.release(s, [owned[r.id].delivery_id for r, _s, _m in pending[i + batch :]],
                                   self.ctx.run_id)
                    s.commit()
                except Exception:
                    pass
                raise

    def _runs_of(self, rows, wall: datetime) -> tuple[set[str], set[str]]:
        """Which runs holding unexpired claims among `rows` are alive, and which are dead (their claims are open)."""
        asked = {row.run_id for row in rows if row.held_until(wall)} - {self.ctx.run_id}
        live = self.liveness.alive(asked) | {self.ctx.run_id}
        return live, asked - live

    def _send_batch(self, s: Session, chunk: list, owned: dict[int, ledger.Ticket], slots, summary: Summary) -> None:
        """Send one batch of claimed digests, then record the outcomes (and give back what was not sent)."""
        outcomes: list[ledger.Outcome] = []
        release: list[int] = []  # claims given back unsent: due again for the next run
        stop: TransportError | None = None
        claimed = [owned[r.id].delivery_id for r, _s, _m in chunk]
        chunk = self._still_wanted(s, chunk, owned, slots, release, summary)
        chunk = self._still_ours(s, chunk, owned, summary)
        tried = 0
        broken = False
        try:
            for r, since, match in chunk:
                tried += 1
                try:
                    outcomes.append(self._deliver(owned[r.id], r, since, match, slots[r.id], summary,
                                                  self._fence(s, owned[r.id])))
                except ClaimTaken:  # taken over while this run was stopped: theirs now, not failed, not given back
                    summary.in_progress_elsewhere += 1
                    summary.due -= 1
                except TransportError as e:  # only kinds that stop the run get here
                    stop = e
                    break
        except BaseException:
            broken = True
            raise
        finally:
            # Whatever happened, what was accepted is recorded as sent before the run goes on or stops. On a stop
            # (paused, quota) the refused message and everything after it is given back; when something
            # unexpected broke, the message in flight keeps its claim until the run is dead or the lease ends
            # (it may have left).
            if stop is not None:
                release += [owned[r.id].delivery_id for r, _s, _m in chunk[tried - 1 :]]
            elif broken:
                release += [owned[r.id].delivery_id for r, _s, _m in chunk[tried:]]
            ledger.finish(s, outcomes, self.ctx.run_id, self.clock())
            ledger.release(s, release, self.ctx.run_id)
            s.commit()
            self.heartbeat.forget(claimed)
        if stop is not None:
            raise RunStopped(f"{stop.kind}: {stop}") from stop

    def _fence(self, s: Session, ticket: ledger.Ticket) -> Callable[[], bool]:
        """The last check before one message leaves: is the claim still this run's?

        Within FENCE_TRUST of the last time the database said this run's claims were its own, by both the
        monotonic clock (which runs on while a process is stopped) and the run's clock, nothing can have been
        taken: a live run's claims are taken only once their lease (minutes) ran out. Past it, the database is
        asked: a read while the lease has half its length left, which the heartbeat keeps it at; else a renewal
        that says. So a run asks about once a second, not once a message.
        """
        lease = timedelta(seconds=self.ctx.settings.claim_lease_seconds)

        def still_ours() -> bool:
            now = self.clock()
            if self._trusted(now):
                return True
            if ledger.holds(s, ticket, self.ctx.run_id, now + lease / 2):
                self._confirmed(now)
                return True
            kept = ledger.renew(s, [ticket], self.ctx.run_id, now + lease)
            s.commit()
            if kept:
                self._confirmed(now)
            return bool(kept)

        return still_ours

    def _confirmed(self, now: datetime) -> None:
        self._confirmed_at = (time.monotonic(), now)

    def _trusted(self, now: datetime) -> bool:
        mono, wall = self._confirmed_at
        return time.monotonic() - mono < FENCE_TRUST and timedelta(0) <= now - wall < timedelta(seconds=FENCE_TRUST)

    def _still_ours(self, s: Session, chunk: list, owned: dict[int, ledger.Ticket], summary: Summary) -> list:
        """The fence: renew the lease of the chunk's claims and drop those another run took over meanwhile."""
        if not chunk:
            return chunk
        until = self.clock() + timedelta(seconds=self.ctx.settings.claim_lease_seconds)
        kept = ledger.renew(s, [owned[r.id] for r, _s, _m in chunk], self.ctx.run_id, until)
        s.commit()
        self._confirmed(until - timedelta(seconds=self.ctx.settings.claim_lease_seconds))
        ours = [item for item in chunk if owned[item[0].id].delivery_id in kept]
        summary.in_progress_elsewhere += len(chunk) - len(ours)  # theirs now: not failed, not given back
        summary.due -= len(chunk) - len(ours)
        return ours

    def _still_wanted(self, s: Session, chunk: list, owned: dict[int, ledger.Ticket], slots, release: list[int],
                      summary: Summary) -> list:
        """Drop (and give back the claims of) anyone who unsubscribed or paused since the page was read."""
        if not chunk:
            return chunk
        fresh = dict(
            (sid, (status, paused_until)) for sid, status, paused_until in s.execute(
                select(Subscriber.id, Subscriber.status, Subscriber.paused_until)
                .where(Subscriber.id.in_([r.id for r, _s, _m in chunk]))
            )
        )
        keep = []
        for item in chunk:
            r = item[0]
            status, paused_until = fresh.get(r.id, ("removed", None))
            if status == "active" and (paused_until == r.paused_until or paused_until is None
                                       or slots[r.id].at >= resume_at(paused_until, r.timezone)):
                keep.append(item)
            else:
                release.append(owned[r.id].delivery_id)
                summary.due -= 1
                summary.withdrawn += 1
        return keep

    def _send(self, r: Recipient, since: datetime, match, slot, summary: Summary,
              fence: Callable[[], bool] | None = None):
        msg = self.composer.compose(r, match, slot.period, slot.at, since, self.ctx.now)
        tags = {"campaign": "weekly", "period": slot.period, "run": self.ctx.run_id}
        if fence is not None and getattr(self.transport, "fenced", False):
            transport_id = self.transport.send(msg.key, msg.to, msg.raw, tags, fence=fence)
        else:
            if fence is not None and not fence():
                raise ClaimTaken(msg.key)
            transport_id = self.transport.send(msg.key, msg.to, msg.raw, tags)
        summary.bytes += len(msg.raw)
        summary.sent += 1
        return msg, transport_id

    def _deliver(self, ticket: ledger.Ticket, r: Recipient, since: datetime, match, slot, summary: Summary,
                 fence: Callable[[], bool]) -> ledger.Outcome:
        delivery_id = ticket.delivery_id
        try:
            msg, transport_id = self._send(r, since, match, slot, summary, fence)
        except TransportError as e:
            if e.stops_run:
                raise
            summary.count_failure(e.kind)
            # Rejected is final for this week; throttled or unavailable is given back, due again next run.
            status = "rejected" if e.permanent else "retry"
            return ledger.Outcome(delivery_id, r.id, ok=False, error=f"{e.kind}: {e}", status=status)
        except OSError as e:  # the outbox could not write: a retryable failure of this row
            summary.count_failure("unavailable")
            return ledger.Outcome(delivery_id, r.id, ok=False, error=f"{type(e).__name__}: {e}")
        return ledger.Outcome(delivery_id, r.id, ok=True, message_id=header_message_id(msg.raw), transport_id=transport_id)


# --- local orchestration: in this process, or N worker processes running the same shard function ---

_worker_state: dict = {}


def _worker_shard(ctx: RunContext, shard: Shard) -> Summary:
    """Entry point of a worker process: one engine, transport and index per process and run."""
    runner = _worker_state.get(ctx.run_id)
    if runner is None:
        engine = make_engine(ctx.settings.database_url)
        transport = NullTransport() if ctx.dry_run else make_transport(ctx.settings)
        runner = _worker_state[ctx.run_id] = ShardRunner(engine, ctx, transport)
    return runner.run(shard)


def run(settings: Settings, now: datetime, *, dry_run: bool = False, workers: int = 1,
        engine: Engine | None = None, transport: Transport | None = None, clock: Clock = wall_clock,
        on_plan: Callable[[int], None] | None = None, progress: Callable[[int], None] | None = None,
        ignore_guard: bool = False, trigger: str = "cli") -> tuple[str, Summary]:
    """Run the weekly job at `now`; return the run id and what it did. `trigger` says who started it (cli,
    schedule), for `digest runs`."""
    engine = engine or make_engine(settings.database_url)
    ctx = RunContext(settings=settings, now=now, run_id=str(uuid.uuid4()), dry_run=dry_run,
                     ignore_guard=ignore_guard)
    # A transport that cannot work says so now, before anyone is claimed (and costs nobody an attempt).
    transport = transport or (NullTransport() if dry_run else make_transport(settings))
    with Session(engine) as s:
        shards = list(plan(s))
        if not dry_run:
            s.add(Run(id=ctx.run_id, started_at=clock(), now=now, workers=workers, status="running", summary={},
                      trigger=trigger))
            if ignore_guard:
                guard.note_ignored(s, settings, clock(), clock(), ctx.run_id)
            s.commit()
    if on_plan:
        on_plan(sum(sh.size for sh in shards))
    total = Summary()
    status, error = "failed", None
    try:
        if workers <= 1 or len(shards) <= 1:
            runner = ShardRunner(engine, ctx, transport, clock)
            total.listings_considered = len(runner.index)
            for shard in shards:
                total.add(runner.run(shard, progress))
                if total.stopped:
                    break
            transport.close()
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(_worker_shard, ctx, sh): sh for sh in shards}
                for fut in as_completed(futures):
                    if fut.cancelled():
                        continue
                    total.add(fut.result())
                    if total.stopped:
                        for other in futures:
                            other.cancel()
                    if progress:
                        progress(futures[fut].size)
            if not dry_run:
                transport.close()
        status = "guarded" if total.guard else "stopped" if total.stopped else "finished"
    except BaseException as e:
        error = f"{type(e).__name__}: {e}"[:500]  # what broke it, for `digest runs`
        raise
    finally:
        if not dry_run:
            with Session(engine) as s:
                row = s.get(Run, ctx.run_id)
                row.finished_at, row.status = clock(), status
                row.summary = asdict(total) | ({"error": error} if error else {})
                s.commit()
    return ctx.run_id, total
