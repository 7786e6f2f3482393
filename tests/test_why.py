"""`digest why` against the run itself: on a generated week (60 subscribers, 80 listings of varied facets, a
week of history, feedback), for every subscriber and listing, what `why` says before and after the run is what
the run sent (the ledger and the outbox)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.listings_index import left_out
from digest.models import Delivery, HiddenCompany, Listing, NotForMe, Subscriber
from digest.normalise import company_key
from digest.planning import MAX_WINDOW
from digest.run import run
from digest.why import why

from .conftest import NOW, listing, listing_ids, read_outbox

LAST_WEEK = NOW - timedelta(days=7)
STACKS = ["python", "go", "java", "node", "rust"]
LEVELS = ["junior", "mid", "senior", "lead", None]
PLACES = ["Worldwide", "Remote - US only", "EMEA", "United Kingdom", "Canada", "APAC", "Berlin, Germany"]
SALARIES = [None, "$60,000 - $80,000", "$120,000 - $160,000", "€50,000 - €70,000", "$200k - $250k"]
ROLES = [None, "api", "data", "platform"]
EMPLOYERS = [None, "startup", "scaleup", "enterprise", "agency"]
COMPANIES = [f"Firm {c}" for c in "ABCDEFGHIJ"]


def generated_listings(rng: random.Random) -> list[dict]:
    """80 listings: varied facets, a few companies (caps bite), spread over five weeks (windows bite), some not
    verified or expired, reposts (same company and title) and twins (same URL under another id)."""
    out = []
    for n in range(80):
        lid = f"g{n:02d}"
        stack = rng.sample(STACKS, rng.choice([1, 1, 2]))
        level = rng.choice(LEVELS)
        title = f"{(level or '').title()} {stack[0].title()} Engineer".strip() + f" {n % 9}"
        verified_at = NOW - timedelta(days=rng.choice([0.2, 1, 2, 3, 5, 6, 8, 9, 10, 12, 20, 33]), hours=1)
        rec = listing(lid, title=title, company=rng.choice(COMPANIES), stack=stack,
                      location=rng.choice(PLACES), verified_at=verified_at.isoformat(),
                      posted_at=(verified_at - timedelta(hours=2)).isoformat())
        if level:
            rec["level"] = level
        if salary := rng.choice(SALARIES):
            rec["salary"] = salary
        if role := rng.choice(ROLES):
            rec["role_type"] = role
        if employer := rng.choice(EMPLOYERS):
            rec["employer_type"] = employer
        if n % 17 == 3:
            rec["verified"] = False
        if n % 19 == 5:
            rec["expires_at"] = (NOW - timedelta(days=1)).isoformat()
        out.append(rec)
    # Reposts of listings from two weeks ago, posted again this week (new id and URL, same company and title).
    for n, old in enumerate(out[:6]):
        out.append(old | {"id": f"r{n}", "url": f"https://jobs.example.com/r{n}",
                          "verified_at": (NOW - timedelta(days=2)).isoformat(), "verified": True,
                          "expires_at": None})
    # Twins: one job under two ids (same URL).
    for n, old in enumerate(out[10:14]):
        out.append(old | {"id": f"t{n}", "company": old["company"] + " Ltd",
                          "verified_at": (NOW - timedelta(days=1)).isoformat()})
    return [{k: v for k, v in r.items() if v is not None} for r in out]


def generated_subscribers(rng: random.Random, add_subscriber) -> None:
    """60 subscribers: varied preferences, zones, days and hours, cadences; some paused, pending, left, or new."""
    for n in range(60):
        prefs = {
            "stack": rng.sample(STACKS, rng.choice([0, 1, 1, 2, 3])),
            "level": rng.sample([level for level in LEVELS if level], rng.choice([0, 0, 1, 2])),
            "region": rng.sample(["us", "europe", "uk", "canada", "asia"], rng.choice([0, 1, 1, 2])),
            "role": rng.sample(["api", "data", "platform"], rng.choice([0, 0, 0, 1])),
            "employer": rng.sample(["startup", "scaleup", "enterprise"], rng.choice([0, 0, 0, 1])),
            "timezone": rng.choice(["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]),
            "send_day": rng.choice([0, 0, 0, 1, 6]),
            "send_hour": rng.choice([6, 8, 8, 9, 12]),
            "cadence": rng.choice(["weekly", "weekly", "fortnightly"]),
            "confirmed": n % 23 != 7,  # a few never confirmed: pending
        }
        if n % 5 == 2:
            prefs["min_salary"] = rng.choice([70_000, 130_000])
        if n % 11 == 4:
            prefs["hide_no_salary"] = True
        joined = NOW - timedelta(days=40) if n % 13 != 6 else NOW - timedelta(hours=2)  # a few joined after a slot
        add_subscriber(f"p{n:02d}@example.com", joined=joined, **prefs)


def mark_feedback_and_leavers(engine, rng: random.Random) -> None:
    """Between the weeks: "not for me" and hidden companies from the first digests; a few pause or leave."""
    with Session(engine) as s:
        people = s.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        listings = s.scalars(select(Listing).where(Listing.verified.is_(True)).order_by(Listing.id)).all()
        for sub in people[::3]:
            for item in rng.sample(listings, 3):
                s.add(NotForMe(subscriber_id=sub.id, board_id=item.board_id, repost_key=item.repost_key,
                               reason=rng.choice(["wrong_stack", None]), created_at=NOW - timedelta(days=3)))
        for sub in people[1::4]:
            company = rng.choice(COMPANIES)
            s.add(HiddenCompany(subscriber_id=sub.id, company_key=company_key(company), company=company,
                                created_at=NOW - timedelta(days=3)))
        for sub in people[5::17]:
            sub.paused_until = date(2026, 12, 20)
        for sub in people[8::19]:
            sub.status, sub.unsubscribed_at = "unsubscribed", NOW - timedelta(days=2)
        s.commit()


def planned_week(engine, settings, taxonomy) -> dict[str, object]:
    """`why` at NOW for every subscriber (every listing of the week in each answer)."""
    with Session(engine) as s:
        emails = s.scalars(select(Subscriber.email).order_by(Subscriber.id)).all()
        return {e: why(s, settings, taxonomy, e, NOW) for e in emails}


def test_why_agrees_with_what_the_run_sent_for_every_subscriber_and_listing(engine, settings, taxonomy, add_listings,
                                                                           add_subscriber):
    rng = random.Random(15)
    settings = replace(settings, max_jobs=5, max_per_company=2)
    records = generated_listings(rng)
    add_listings(*records)
    generated_subscribers(rng, add_subscriber)
    run(settings, LAST_WEEK, engine=engine)  # history: last week's digests (already sent, reposts)
    mark_feedback_and_leavers(engine, rng)
    # The board verifies some listings again: new to the window, but already sent to some.
    add_listings(*[r | {"verified_at": (NOW - timedelta(days=1)).isoformat()} for r in records[20:40]
                   if r.get("verified", True)])

    before = planned_week(engine, settings, taxonomy)
    run_id, summary = run(settings, NOW, engine=engine)
    after = planned_week(engine, settings, taxonomy)

    with Session(engine) as s:
        rows = {sub_email: d for sub_email, d in s.execute(
            select(Subscriber.email, Delivery).join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.run_id == run_id))}
        all_ids = {item.board_id: item.id for item in s.scalars(select(Listing))}
    outbox = read_outbox(settings.outbox_dir)
    assert summary.sent >= 10 and summary.skipped_empty >= 1 and summary.failed == 0

    rules_seen: set[str] = set()
    checked = 0
    for email, planned in before.items():
        row = rows.get(email)
        # Due exactly when the run took them; then the run sent exactly what `why` ranked, in its order.
        assert planned.due == (row is not None), (email, planned.not_due)
        sent = [b for b, _k in row.listings or []] if row is not None else []
        # (Someone not due still gets a plan, "what they would get": the run sends it only when they are due.)
        assert (planned.sent if planned.due else []) == sent, email
        if row is not None:  # after the run: that run's plan, from the ledger as it stood before it
            assert after[email].sent == sent, email
        if row is not None:
            assert planned.since == row.window_start == after[email].since
            assert not after[email].due and after[email].recorded.run_id == run_id
        if row is not None and row.status == "sent":
            msg = outbox[f"{row.period}/{row.subscriber_id}"]
            urls = {r["id"]: r["url"].rsplit("/", 1)[1] for r in records}  # twins share their URL
            assert listing_ids(msg) == [urls[b] for b in sent]
        # Every listing of the board: ranked ones are the digest, the rest name the rule that kept them out.
        in_index = {v.listing.board_id: v for v in planned.verdicts}
        for board_id in all_ids:
            checked += 1
            v = in_index.get(board_id)
            if v is None:
                assert board_id not in sent
                continue
            assert (v.rank is None) == (v.rule is not None)
            assert (v.rank is not None and planned.due) == (board_id in sent), (email, board_id, v)
            if v.rule:
                rules_seen.add(v.rule.split(" as ")[0])
        # After the run, `why` explains that run's plan: the same verdict for every listing.
        assert {v.listing.board_id: (v.rank, v.rule) for v in after[email].verdicts} == {
            v.listing.board_id: (v.rank, v.rule) for v in planned.verdicts}, email

    # Listings outside the week's index name why: checked with the index's own conditions.
    with Session(engine) as s:
        outside = {b: left_out(s, i, NOW, MAX_WINDOW) for b, i in all_ids.items()
                   if b not in {v.listing.board_id for v in next(iter(before.values())).verdicts}}
    assert {"not verified", "expired", "before the window"} <= set(outside.values())
    assert checked == 60 * len(all_ids)
    # The generated week exercises the rules, not just a few of them.
    assert {"before the window", "already sent", "repost of one sent", "stack", "level", "region", "salary floor",
            "not for me", "hidden company", "company cap", "over the cap", "same job"} <= rules_seen, rules_seen
    not_due = {reason.split(" ")[0] for w in before.values() for reason in w.not_due}
    assert {"status", "paused", "cadence", "this"} <= not_due, not_due
