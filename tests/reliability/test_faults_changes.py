"""Unsubscribes, pauses and preference changes that land while the weekly run is sending.

The changes go through the web app exactly as a subscriber makes them, with the links of last week's digest:
the one-click POST to its List-Unsubscribe URL, the pause button of the unsubscribe page, the preferences form.
They land after the run's 50th message, while the first page of 200 subscribers is read and claimed and the
other 60 are not yet read.

What happens, precisely: the run reads subscribers a page at a time (digest/run.py, ShardRunner.run reads up to
PAGE=200 active rows with their preferences, then matches, claims and sends them). A change that commits before
the run reads a subscriber's page is honoured by this run: an unsubscribed or paused subscriber is not sent, a
new stack is what the digest carries. After the page was read, the run still checks status and pause just before
each batch it sends (every message, for a real carrier): an unsubscribe or pause that lands before their digest
leaves withdraws it (the claim is given back, counted as "withdrawn"); a changed preference applies from next
week, as the digest was already chosen. The next run always honours every change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.models import Delivery
from digest.run import run
from digest.settings import Settings
from digest.subscribers import SubscriberIn, upsert
from digest.taxonomy import load_taxonomy
from digest.carriers.null import RecordingTransport

from ..conftest import JOINED, NOW, listing, listing_ids
from ..support.web import BASE_PREFS, FORM, ONE_CLICK, mail_link, parse_mail

N = 260  # pages of 200: ids 1-200 are read and claimed when the changes land; 201-260 are not yet read
LAST_WEEK, THIS_WEEK, NEXT_WEEK = NOW - timedelta(days=7), NOW, NOW + timedelta(days=7)
AFTER = 50  # the changes land after this many messages of this week's run

# Who changes what, by subscriber id.
UNSUBSCRIBE_SENT = {10}  # this week's digest already left
UNSUBSCRIBE_READ = {60, 120, 199}  # page read and claimed, digest not yet sent
UNSUBSCRIBE_UNREAD = {201, 230, 259, 260}
PAUSE_READ, PAUSE_UNREAD = {140}, {215}
GO_ONLY_READ, GO_ONLY_UNREAD = {130}, {240, 258}  # preferences: stack "go" instead of any stack


@dataclass
class Interrupting(RecordingTransport):
    """Accepts every message; after the `at`-th (counting all it ever sent) it lets `then` run: the changes
    arriving meanwhile."""

    at: int = 0
    then: Callable[[], None] | None = None
    done: list[int] = field(default_factory=list)

    def send(self, key, to, raw, tags=None):
        out = super().send(key, to, raw, tags)
        if len(self.sent) == self.at and self.then:
            self.then()
            self.done.append(len(self.sent))
        return out


def week_of(carrier: RecordingTransport, period: str) -> dict[int, list[str]]:
    """{subscriber id: listing ids} of the digests sent for a week."""
    out = {}
    for key, _to, raw in carrier.sent:
        week, sid = key.split("/")
        if week == period:
            assert int(sid) not in out, f"{key} sent twice"
            out[int(sid)] = listing_ids(parse_mail(raw))
    return out


@pytest.fixture
def population(engine, settings, add_listings):
    """N active subscribers (any stack); listings for three weeks, a Python and a Go one each."""
    taxonomy = load_taxonomy()
    with Session(engine) as s:
        for i in range(1, N + 1):
            upsert(s, SubscriberIn.model_validate({"email": f"s{i}@example.com", "confirmed": True}), taxonomy,
                   Settings(), JOINED)
            s.flush()
        s.commit()
    for week, at in (("47", LAST_WEEK), ("48", THIS_WEEK), ("49", NEXT_WEEK)):
        verified = (at - timedelta(days=1)).isoformat()
        add_listings(listing(f"py-{week}", stack=["python"], verified_at=verified, posted_at=verified),
                     listing(f"go-{week}", stack=["go"], title="Go Developer", verified_at=verified, posted_at=verified))
    carrier = Interrupting()
    _, summary = run(settings, LAST_WEEK, engine=engine, transport=carrier)
    assert summary.sent == N
    return carrier


def links(carrier: RecordingTransport) -> dict[int, tuple[str, str]]:
    """Each subscriber's unsubscribe and preferences paths, from last week's digest (List-Unsubscribe, text)."""
    out = {}
    for key, _to, raw in carrier.sent:
        if key.startswith("2026-W47/"):
            msg = parse_mail(raw)
            out[int(key.split("/")[1])] = (urlsplit(msg["List-Unsubscribe"].strip("<>")).path,
                                           mail_link(msg, "preferences"))
    return out


def make_changes(web, paths) -> Callable[[], None]:  # noqa: F811
    def changes():
        for sid in UNSUBSCRIBE_SENT | UNSUBSCRIBE_READ | UNSUBSCRIBE_UNREAD:  # the mail client's one-click button
            r = web.client.post(paths[sid][0], data=ONE_CLICK, content_type=FORM)
            assert r.status_code == 200
        for sid in PAUSE_READ | PAUSE_UNREAD:  # "pause instead" on the unsubscribe page
            assert web.post_form(paths[sid][0] + "/pause").status_code == 200
        for sid in GO_ONLY_READ | GO_ONLY_UNREAD:
            assert web.post_form(paths[sid][1], BASE_PREFS | {"stack": "go"}).status_code == 200
        for sid in UNSUBSCRIBE_SENT | UNSUBSCRIBE_READ | UNSUBSCRIBE_UNREAD:
            assert web.row(sid)["status"] == "unsubscribed"
    return changes


def test_changes_during_a_run_are_honoured_for_everyone_not_yet_read_and_by_the_next_run(
        web, population, engine, settings):  # noqa: F811
    carrier = population
    paths = links(carrier)
    carrier.at, carrier.then = N + AFTER, make_changes(web, paths)  # last week's N, then this week's 50th
    _, summary = run(settings, THIS_WEEK, engine=engine, transport=carrier)
    assert carrier.done == [N + AFTER]  # the changes landed mid-run, in the first page
    sent = week_of(carrier, "2026-W48")
    not_read = UNSUBSCRIBE_UNREAD | PAUSE_UNREAD
    withdrawn = UNSUBSCRIBE_READ | PAUSE_READ  # read and claimed, but checked again before their digest left
    assert set(sent) == set(range(1, N + 1)) - not_read - withdrawn  # every leave or pause not yet sent is honoured
    assert UNSUBSCRIBE_SENT <= set(sent)  # that one had already left
    skipped = len(not_read | withdrawn)
    assert (summary.due, summary.sent, summary.failed, summary.withdrawn) == (N - skipped, N - skipped, 0,
                                                                              len(withdrawn))
    for sid in GO_ONLY_UNREAD:
        assert sent[sid] == ["go-48"]  # the new preferences, in this very run
    for sid in GO_ONLY_READ:
        assert sent[sid] == ["py-48", "go-48"] or sent[sid] == ["go-48", "py-48"]  # chosen before the change
    assert sent[1] in (["py-48", "go-48"], ["go-48", "py-48"])

    # The same week, later: nothing more to anyone.
    _, again = run(settings, THIS_WEEK + timedelta(hours=3), engine=engine, transport=carrier)
    assert (again.due, again.sent) == (0, 0)

    # Next week: every change is honoured.
    _, later = run(settings, NEXT_WEEK, engine=engine, transport=carrier)
    gone = UNSUBSCRIBE_SENT | UNSUBSCRIBE_READ | UNSUBSCRIBE_UNREAD | PAUSE_READ | PAUSE_UNREAD
    following = week_of(carrier, "2026-W49")
    assert set(following) == set(range(1, N + 1)) - gone and later.sent == N - len(gone)
    for sid in GO_ONLY_READ | GO_ONLY_UNREAD:
        assert following[sid] == ["go-49"]
    per_week = Counter(key.split("/")[0] for key, _to, _raw in carrier.sent)
    assert per_week == {"2026-W47": N, "2026-W48": N - skipped, "2026-W49": N - len(gone)}
    with Session(engine) as s:
        rows = Counter((d.period, d.status) for d in s.scalars(select(Delivery)))
    assert rows == {("2026-W47", "sent"): N, ("2026-W48", "sent"): N - skipped,
                    ("2026-W49", "sent"): N - len(gone)}
    print(f"\nchanges after message {AFTER}: {len(not_read)} not-yet-read honoured at once, "
          f"{len(withdrawn)} already read withdrawn before sending, all {len(gone)} honoured next week")
