"""One job exported under two ids (same URL, or same company + normalised title) appears once in a digest,
counts once, and never comes back under its twin id: through the import, the run and the parsed outbox."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.matching import IndexedListing, ListingIndex, Prefs, canonical_url
from digest.models import Delivery
from digest.normalise import repost_key
from digest.run import run

from .conftest import NOW, listing, read_outbox

EARLY, LATE = "2026-11-22T09:00:00Z", "2026-11-22T15:00:00Z"  # both inside the first window

# Three jobs linked only by their URL: the second export's title is worded differently (another repost key)
# and its URL differs only in what canonical_url drops (host case, trailing slash, tracking, fragment).
URL_TWINS = {
    "northwind-python": [
        listing("nw-1", company="Northwind", title="Senior Python Engineer",
                url="https://jobs.example.com/northwind/4411", verified_at=EARLY),
        listing("nw-2", company="Northwind", title="SENIOR  Python Engineer - Remote EU",
                url="HTTPS://Jobs.Example.COM/northwind/4411/", verified_at=LATE),
    ],
    "umbrella-django": [
        listing("um-1", company="Umbrella Health", title="Backend Developer (Django)",
                url="https://careers.umbrella.example/jobs/77?utm_source=newsletter&utm_medium=email",
                verified_at=LATE),
        listing("um-2", company="Umbrella Health", title="backend developer, django and celery",
                url="https://careers.umbrella.example/jobs/77", verified_at=EARLY),
    ],
    "hooli-platform": [
        listing("ho-1", company="Hooli", title="Platform Engineer", url="https://hooli.example/apply/9#apply",
                verified_at=EARLY),
        listing("ho-2", company="Hooli", title="Platform  Engineer (Kubernetes)",
                url="https://hooli.example/apply/9?ref=homepage", verified_at=LATE),
    ],
}
# Three jobs linked only by company + title (case and punctuation differ), each export with its own URL.
KEY_TWINS = {
    "globex-go": [
        listing("gx-1", company="Globex", title="Go Engineer, Payments", url="https://globex.example/j/1",
                verified_at=EARLY),
        listing("gx-2", company="GLOBEX", title="go engineer - payments", url="https://board.example/globex-go",
                verified_at=LATE),
    ],
    "soylent-node": [
        listing("so-1", company="Soylent", title="Sr. Node.js Developer", url="https://soylent.example/careers/5",
                verified_at=LATE),
        listing("so-2", company="Soylent", title="SR NODE JS DEVELOPER", url="https://soylent.example/careers/6",
                verified_at=EARLY),
    ],
    "vandelay-cpp": [
        listing("va-1", company="Vandelay", title="C++ Backend Engineer (Low-Latency)",
                url="https://vandelay.example/a", verified_at=EARLY),
        listing("va-2", company="Vandelay", title="c++ backend engineer — low latency",
                url="https://vandelay.example/b", verified_at=LATE),
    ],
}
# Two genuinely different jobs of one company: both stay.
SAME_COMPANY = {
    "initech-data": [listing("in-data", company="Initech", title="Data Engineer", url="https://initech.example/1")],
    "initech-api": [listing("in-api", company="Initech", title="API Engineer", url="https://initech.example/2")],
}
JOBS = URL_TWINS | KEY_TWINS | SAME_COMPANY
JOB_OF_TITLE = {" ".join(r["title"].split()): job for job, records in JOBS.items() for r in records}
FRESHEST = {job: max(records, key=lambda r: r["verified_at"])["id"] for job, records in JOBS.items()}

CARD = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)
SUBJECT_COUNT = re.compile(r"^(\d+) new backend jobs? for you")


def run_at(settings, engine, now):
    _run_id, summary = run(settings, now, engine=engine)
    return summary


def cards(msg) -> list[str]:
    """The job titles a digest's text part shows, in order."""
    return [" ".join(title.split()) for _n, title in CARD.findall(msg.get_body(("plain",)).get_content())]


def subject_count(msg) -> int:
    return int(SUBJECT_COUNT.match(msg["Subject"]).group(1))


def sent_row(engine, sid: int, period: str) -> Delivery:
    with Session(engine) as s:
        return s.scalars(select(Delivery).where(Delivery.subscriber_id == sid, Delivery.period == period)).one()


def test_the_fixture_twins_are_linked_only_by_the_rule_each_tests():
    """URL twins differ in repost key (only the URL links them); key twins differ in URL."""
    for a, b in URL_TWINS.values():
        assert repost_key(a["company"], a["title"]) != repost_key(b["company"], b["title"])
        assert a["url"] != b["url"] and canonical_url(a["url"]) == canonical_url(b["url"])
    for a, b in KEY_TWINS.values():
        assert repost_key(a["company"], a["title"]) == repost_key(b["company"], b["title"])
        assert canonical_url(a["url"]) != canonical_url(b["url"])


def test_each_job_appears_once_and_counts_once(engine, settings, add_listings, add_subscriber):
    add_listings(*[r for records in JOBS.values() for r in records])
    sid = add_subscriber("ana@example.com")
    assert run_at(settings, engine, NOW).sent == 1
    [msg] = read_outbox(settings.outbox_dir).values()
    shown = [JOB_OF_TITLE[t] for t in cards(msg)]
    assert Counter(shown) == Counter(list(JOBS))  # every job, each once (both Initech jobs included)
    assert subject_count(msg) == len(JOBS) == 8
    assert "more match" not in msg.get_body(("plain",)).get_content()
    row = sent_row(engine, sid, "2026-W48")
    assert (row.total_matches, row.listing_count) == (8, 8)
    # Of each pair the best ranked stays: all fit equally here, so the freshest export.
    assert sorted(b for b, _k in row.listings) == sorted(FRESHEST.values())


def test_capped_digest_counts_jobs_not_ids_in_subject_and_more_link(engine, settings, add_listings, add_subscriber):
    add_listings(*[r for records in JOBS.values() for r in records])
    sid = add_subscriber("cap@example.com")
    run_at(settings.with_(max_jobs=5), engine, NOW)
    msg = read_outbox(settings.outbox_dir)[f"2026-W48/{sid}"]
    shown = [JOB_OF_TITLE[t] for t in cards(msg)]
    assert len(shown) == len(set(shown)) == 5
    assert subject_count(msg) == 8
    text = msg.get_body(("plain",)).get_content()
    assert "+3 more matches this week. See all 8 matches" in text
    assert sent_row(engine, sid, "2026-W48").total_matches == 8


def test_a_twin_of_a_job_sent_last_week_is_not_sent_again(engine, settings, add_listings, add_subscriber):
    [nw_1, nw_2], [gx_1, gx_2] = URL_TWINS["northwind-python"], KEY_TWINS["globex-go"]
    add_listings(nw_1, gx_1)
    sid = add_subscriber("bo@example.com")
    run_at(settings, engine, NOW)
    week1 = read_outbox(settings.outbox_dir)[f"2026-W48/{sid}"]
    assert sorted(JOB_OF_TITLE[t] for t in cards(week1)) == ["globex-go", "northwind-python"]

    # The board exports both jobs again under new ids during the week, and one job that is really new.
    later = {"verified_at": "2026-11-26T10:00:00Z", "posted_at": "2026-11-26T09:00:00Z"}
    add_listings(nw_2 | later, gx_2 | later,
                 listing("in-new", company="Northwind", title="Staff Python Engineer",
                         url="https://jobs.example.com/northwind/4412", **later))
    assert run_at(settings, engine, NOW + timedelta(days=7)).sent == 1
    week2 = read_outbox(settings.outbox_dir)[f"2026-W49/{sid}"]
    assert cards(week2) == ["Staff Python Engineer"]
    assert subject_count(week2) == 1
    assert [b for b, _k in sent_row(engine, sid, "2026-W49").listings] == ["in-new"]


def test_only_twins_left_means_no_digest(engine, settings, add_listings, add_subscriber):
    [nw_1, nw_2] = URL_TWINS["northwind-python"]
    add_listings(nw_1)
    sid = add_subscriber("cy@example.com")
    run_at(settings, engine, NOW)
    add_listings(nw_2 | {"verified_at": "2026-11-26T10:00:00Z"})
    summary = run_at(settings, engine, NOW + timedelta(days=7))
    assert (summary.sent, summary.skipped_empty) == (0, 1)
    assert sent_row(engine, sid, "2026-W49").status == "empty"


# -- the rule at the level of the index ------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [
    ("https://jobs.example.com/x/1", "HTTPS://JOBS.EXAMPLE.COM/x/1"),
    ("https://jobs.example.com/x/1/", "https://jobs.example.com/x/1"),
    ("https://jobs.example.com/x/1#apply", "https://jobs.example.com/x/1"),
    ("https://jobs.example.com/x/1?utm_source=a&utm_campaign=b", "https://jobs.example.com/x/1"),
    ("https://jobs.example.com/x/1?ref=feed&source=rss&UTM_Medium=c", "https://jobs.example.com/x/1"),
    ("https://jobs.example.com/x?id=7&utm_source=a&lang=en", "https://jobs.example.com/x?id=7&lang=en"),
    ("https://jobs.example.com:8443/x", "https://Jobs.Example.com:8443/x"),
])
def test_canonical_url_drops_what_does_not_name_the_job(a, b):
    assert canonical_url(a) == canonical_url(b)


@pytest.mark.parametrize("a, b", [
    ("https://jobs.example.com/X/1", "https://jobs.example.com/x/1"),  # paths are case-sensitive
    ("https://jobs.example.com/x?id=7", "https://jobs.example.com/x?id=8"),  # other parameters name the job
    ("https://jobs.example.com/x?referrer=a", "https://jobs.example.com/x"),  # only `ref` itself is tracking
    ("https://a.example.com/x", "https://b.example.com/x"),
])
def test_canonical_url_keeps_what_does(a, b):
    assert canonical_url(a) != canonical_url(b)


NOW_I = datetime(2026, 11, 23, 9, tzinfo=UTC)


def L(id, hours_ago=10, level=None, url=None, key=None, stack=("python",)):
    t = NOW_I - timedelta(hours=hours_ago)
    return IndexedListing(
        board_id=id, title=f"Job {id}", company="Co", url=url or f"https://x.example/{id}", stack=stack,
        level=level, regions=("worldwide",), location=None, salary_display=None, usd_max=None, verified_at=t, available_at=t,
        posted_at=t, repost_key=key if key is not None else zlib.crc32(id.encode()),
    )


def ids(match):
    return [item.board_id for item in match.listings]


def test_the_best_ranked_twin_stays_not_merely_the_freshest():
    index = ListingIndex([L("senior", hours_ago=50, level="senior", url="https://x.example/j"),
                          L("unstated", hours_ago=1, url="https://X.example/j/"), L("other", hours_ago=5)])
    m = index.match(Prefs(levels=("senior",)), NOW_I - timedelta(days=7))
    assert ids(m) == ["senior", "other"] and m.total == 2


def test_twins_chain_through_a_third_listing_into_one_job():
    # a and b share a URL, b and c a repost key: all three are one job, shown once and sent once.
    index = ListingIndex([L("a", hours_ago=3, url="https://x.example/j"),
                          L("b", hours_ago=2, url="https://x.example/j", key=9),
                          L("c", hours_ago=1, key=9), L("d", hours_ago=4)])
    week = NOW_I - timedelta(days=7)
    assert ids(index.match(Prefs(), week)) == ["c", "d"]
    assert ids(index.match(Prefs(), week, index.history(["a"], [12345]))) == ["d"]


def test_a_twin_that_does_not_fit_leaves_the_one_that_does():
    index = ListingIndex([L("go", hours_ago=1, stack=("go",), url="https://x.example/j"),
                          L("py", hours_ago=2, url="https://x.example/j")])
    m = index.match(Prefs(stack=("python",)), NOW_I - timedelta(days=7))
    assert (ids(m), m.total) == (["py"], 1)


def test_an_index_without_twins_groups_nothing():
    index = ListingIndex([L(f"j{i}", hours_ago=i + 1) for i in range(50)])
    assert index.twinned == 0
    m = index.match(Prefs(), NOW_I - timedelta(days=7), limit=15)
    assert (len(m.listings), m.total) == (15, 50)
