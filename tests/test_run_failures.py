"""What a run does when the carrier refuses: each kind of failure, and a stop half way (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.models import Delivery
from digest.run import run
from digest.carriers.base import TransportError
from digest.carriers.null import RecordingTransport

from .conftest import NOW, listing


@dataclass
class Refusing(RecordingTransport):
    """Accepts messages like a carrier, except: `refuse` maps an address to a failure kind; `stop_after`
    accepted messages, every further one raises `paused`."""

    refuse: dict[str, str] = field(default_factory=dict)
    stop_after: int | None = None
    tags_seen: list = field(default_factory=list)

    def send(self, key, to, raw, tags=None):
        if self.stop_after is not None and len(self.sent) >= self.stop_after:
            raise TransportError("Sending paused for this account", "paused")
        if to in self.refuse:
            raise TransportError(f"{self.refuse[to]} for {to}", self.refuse[to])
        self.tags_seen.append(dict(tags or {}))
        return super().send(key, to, raw, tags)


def rows(engine) -> dict[int, str]:
    with Session(engine) as s:
        return {d.subscriber_id: d.status for d in s.scalars(select(Delivery))}


def test_each_failure_kind_is_counted_and_handled(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a"))
    ok = add_subscriber("ok@example.com")
    bad = add_subscriber("bad@example.com")
    slow = add_subscriber("slow@example.com")
    down = add_subscriber("down@example.com")
    carrier = Refusing(refuse={"bad@example.com": "rejected", "slow@example.com": "throttled",
                               "down@example.com": "unavailable"})
    _, summary = run(settings, NOW, engine=engine, transport=carrier)
    assert (summary.sent, summary.failed) == (1, 3)
    assert (summary.failed_rejected, summary.failed_throttled, summary.failed_unavailable) == (1, 1, 1)
    assert rows(engine) == {ok: "sent", bad: "rejected"}  # throttled and unavailable were given back
    assert carrier.tags_seen == [{"campaign": "weekly", "period": "2026-W48", "run": carrier.tags_seen[0]["run"]}]

    carrier.refuse = {"bad@example.com": "rejected"}
    _, again = run(settings, NOW, engine=engine, transport=carrier)
    assert (again.due, again.sent, again.failed) == (2, 2, 0)  # the rejected address is not retried
    assert rows(engine) == {ok: "sent", bad: "rejected", slow: "sent", down: "sent"}
    sent_to = [to for _k, to, _r in carrier.sent]
    assert sorted(sent_to) == ["down@example.com", "ok@example.com", "slow@example.com"]


def test_sending_paused_half_way_stops_with_the_ledger_right(engine, settings, add_listings, add_subscriber):
    add_listings(listing("a"))
    ids = [add_subscriber(f"u{i}@example.com") for i in range(450)]  # three pages of 200
    carrier = Refusing(stop_after=250)
    _, summary = run(settings, NOW, engine=engine, transport=carrier)
    assert summary.stopped and summary.stopped.startswith("paused")
    assert summary.sent == 250
    ledger = rows(engine)
    assert sorted(s for s, st in ledger.items() if st == "sent") == sorted(
        int(k.split("/")[1]) for k, _to, _raw in carrier.sent)  # sent in the ledger == accepted by the carrier
    assert set(ledger.values()) == {"sent"}  # nothing claimed or failed is left behind

    carrier.stop_after = None
    _, rest = run(settings, NOW, engine=engine, transport=carrier)
    assert (rest.due, rest.sent, rest.stopped) == (200, 200, None)
    keys = [k for k, _to, _raw in carrier.sent]
    assert len(keys) == len(set(keys)) == len(ids)  # everyone once, nobody twice


def test_an_unexpected_crash_keeps_what_was_accepted(engine, settings, add_listings, add_subscriber):
    import pytest

    class Broken(RecordingTransport):
        def send(self, key, to, raw, tags=None):
            if len(self.sent) == 2:
                raise RuntimeError("bug in a transport")
            return super().send(key, to, raw, tags)

    add_listings(listing("a"))
    ids = [add_subscriber(f"u{i}@example.com") for i in range(6)]
    carrier = Broken()
    with pytest.raises(RuntimeError):
        run(settings, NOW, engine=engine, transport=carrier)
    # Accepted messages are recorded as sent; the one in flight keeps its claim (we cannot know whether it
    # left); the untried ones are given back, due at once for the next run.
    assert rows(engine) == {ids[0]: "sent", ids[1]: "sent", ids[2]: "claimed"}
