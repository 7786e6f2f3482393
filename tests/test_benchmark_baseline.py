"""The benchmark (issue 6) at a tiny size: the naive baseline chooses exactly what the real pipeline chooses,
the generator is seeded, and the documented command runs end to end. Not a timed test."""

from __future__ import annotations

import email
import json
import shutil
from collections import Counter

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from benchmarks import million
from benchmarks import run as bench
from benchmarks.generate import Spec, ensure_sqlite
from benchmarks.measure import STRICT, CountingTransport, listing_ids
from benchmarks.naive import NaiveDigest
from digest import db
from digest.cadence import weeks_between
from digest.models import Delivery, Listing, Subscriber
from digest.run import run
from digest.settings import Settings
from digest.carriers.null import RecordingTransport

SPEC = Spec(subscribers=250, listings=300, seed=14)  # a seed whose few paused people exist


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "base.db"
    facts = ensure_sqlite(path, SPEC, progress=None)
    return path, facts


def _copy(path, tmp_path, name: str) -> str:
    shutil.copy(path, tmp_path / name)
    return f"sqlite:///{tmp_path / name}"


def this_week(url: str) -> dict[int, tuple[str, int, list[str]]]:
    """Each subscriber's ledger row of the benchmark's week: status, total matches, listings in order."""
    engine = db.make_engine(url)
    with Session(engine) as s:
        rows = s.scalars(select(Delivery).where(Delivery.run_id != "benchmark-history")).all()
        out = {d.subscriber_id: (d.status, d.total_matches, [b for b, _k in d.listings or ()]) for d in rows}
    engine.dispose()
    return out


def test_naive_baseline_chooses_what_the_real_pipeline_chooses(generated, tmp_path):
    path, facts = generated
    real_url = _copy(path, tmp_path, "real.db")
    recorder = RecordingTransport()
    engine = db.make_engine(real_url)
    _id, summary = run(Settings(database_url=real_url, outbox_dir=tmp_path / "outbox"), SPEC.now, engine=engine,
                       transport=recorder)
    engine.dispose()
    naive_url = _copy(path, tmp_path, "naive.db")
    engine = db.make_engine(naive_url)
    naive = NaiveDigest(engine, Settings(database_url=naive_url), SPEC.now).run(CountingTransport(keep_every=1))
    engine.dispose()

    real, baseline = this_week(real_url), this_week(naive_url)
    assert baseline == real
    assert (naive.due, naive.sent, naive.skipped_empty) == (summary.due, summary.sent, summary.skipped_empty)
    # The generated week exercises the rules: people not due (paused, just joined), capped digests, empty ones.
    assert 0 < summary.due < facts["active"]
    statuses = Counter(status for status, _total, _ids in real.values())
    assert statuses["sent"] == summary.sent > 180 and statuses["empty"] == summary.skipped_empty
    assert any(total > len(ids) == 15 for _s, total, ids in real.values())
    assert any(0 < total < 15 for _s, total, ids in real.values())
    # What the ledger says each message carried is what its links show, in order.
    for key, _to, raw in recorder.sent:
        msg = email.message_from_bytes(raw, policy=STRICT)
        assert listing_ids(msg) == real[int(key.split("/")[1])][2]


def _with_new_preferences(url: str) -> None:
    """Give a share of the generated people role and employer choices and a fortnightly cadence, and leave a share
    of the listings without a role or employer type, so every new rule has cases on both sides."""
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(update(Subscriber).where(Subscriber.id % 3 == 0).values(roles=["data", "platform"]))
        conn.execute(update(Subscriber).where(Subscriber.id % 4 == 1).values(employers=["startup", "scaleup"]))
        conn.execute(update(Subscriber).where(Subscriber.id % 5 == 2).values(cadence="fortnightly"))
        conn.execute(update(Listing).where(Listing.id % 6 == 0).values(role_type=None))
        conn.execute(update(Listing).where(Listing.id % 7 == 0).values(employer_type=None))
    engine.dispose()


def test_naive_baseline_applies_role_employer_and_fortnightly_rules_alike(generated, tmp_path):
    path, _facts = generated
    real_url, naive_url = _copy(path, tmp_path, "real.db"), _copy(path, tmp_path, "naive.db")
    for url in (real_url, naive_url):
        _with_new_preferences(url)
    engine = db.make_engine(real_url)
    _id, summary = run(Settings(database_url=real_url), SPEC.now, engine=engine, transport=RecordingTransport())
    with Session(engine) as s:
        people = {p.id: p for p in s.scalars(select(Subscriber))}
        kinds = {listing.board_id: (listing.role_type, listing.employer_type) for listing in s.scalars(select(Listing))}
        first = dict(s.execute(select(Delivery.subscriber_id, Delivery.period)
                               .where(Delivery.run_id == "benchmark-history")).all())
        now = dict(s.execute(select(Delivery.subscriber_id, Delivery.period)
                             .where(Delivery.run_id != "benchmark-history")).all())
    engine.dispose()
    engine = db.make_engine(naive_url)
    naive = NaiveDigest(engine, Settings(database_url=naive_url), SPEC.now).run(CountingTransport(keep_every=1))
    engine.dispose()

    real = this_week(real_url)
    assert this_week(naive_url) == real and (naive.due, naive.sent) == (summary.due, summary.sent)
    sent = {sid: ids for sid, (status, _t, ids) in real.items() if status == "sent"}
    # Employer chosen: only those employers. Role chosen: those roles, or unstated ones (the ranking of those is
    # what the naive baseline agreed on above).
    chooser = [sid for sid in sent if people[sid].employers]
    assert chooser and all(kinds[b][1] in ("startup", "scaleup") for sid in chooser for b in sent[sid])
    roles = [[kinds[b][0] for b in sent[sid]] for sid in sent if people[sid].roles]
    assert all(set(r) <= {"data", "platform", None} for r in roles)
    assert any(None in r for r in roles)
    # Fortnightly: due every second week from the first digest (one a week ago: not now; two weeks ago: now);
    # someone who never had a digest is due at once.
    fortnightly = {sid for sid, p in people.items() if p.cadence == "fortnightly" and p.status == "active"}
    gaps = {sid: weeks_between(first[sid], now[sid]) for sid in fortnightly & set(first) & set(now)}
    assert gaps and all(gap % 2 == 0 for gap in gaps.values()) and 2 in gaps.values()
    assert any(weeks_between(first[sid], "2026-W48") == 1 for sid in fortnightly & set(first) - set(now))
    assert (fortnightly - set(first)) & set(now)


def test_history_is_respected_by_both(generated, tmp_path):
    """Nobody gets a listing (or a repost of one) they were already sent in an earlier week."""
    path, _facts = generated
    url = _copy(path, tmp_path, "real.db")
    engine = db.make_engine(url)
    run(Settings(database_url=url), SPEC.now, engine=engine, transport=RecordingTransport())
    with Session(engine) as s:
        key = dict(s.execute(select(Listing.board_id, Listing.repost_key)).all())
        before: dict[int, set[int]] = {}
        now: dict[int, list[int]] = {}
        for d in s.scalars(select(Delivery).where(Delivery.status == "sent")):
            for board_id, repost_key in d.listings:
                if d.run_id == "benchmark-history":
                    before.setdefault(d.subscriber_id, set()).add(repost_key)
                else:
                    now.setdefault(d.subscriber_id, []).append(key[board_id])
    engine.dispose()
    assert sum(1 for sid in now if sid in before) > 80
    assert all(not set(keys) & before.get(sid, set()) for sid, keys in now.items())


def test_generator_is_seeded_and_skewed(tmp_path):
    spec = Spec(subscribers=300, listings=120, seed=3)
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    facts = ensure_sqlite(a, spec, progress=None)
    ensure_sqlite(b, spec, progress=None)

    def dump(path):
        engine = db.make_engine(f"sqlite:///{path}")
        with Session(engine) as s:
            rows = (s.execute(select(Listing.board_id, Listing.title, Listing.stack, Listing.verified_at)).all(),
                    s.execute(select(Subscriber.email, Subscriber.stack, Subscriber.timezone)).all(),
                    s.execute(select(Delivery.subscriber_id, Delivery.listings)).all())
        engine.dispose()
        return rows

    assert dump(a) == dump(b)
    assert facts["listings"] == 120 and facts["subscribers"] == 300 and facts["history_listings"] > 0
    assert facts["top10_preferences_share"] > 0.2 and facts["singleton_preferences"] > 20  # head and long tail
    assert ensure_sqlite(a, spec, progress=None) == json.loads(a.with_suffix(".json").read_text())  # reused


def test_the_benchmark_command_runs_end_to_end(tmp_path):
    result = bench.main(["--subscribers", "300", "--listings", "150", "--naive", "30", "--rss-sizes", "100,300",
                         "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    saved = json.loads((tmp_path / "out" / "latest.json").read_text())
    assert saved["ratios"] == result["ratios"] and saved["ratios"]["real_over_naive"] > 1
    assert saved["real"]["digests"] > 200 and saved["real"]["sample"]["parsed"] > 0
    assert saved["naive"]["sample"]["parsed"] > 0 and saved["floor"]["ms_per_digest"] > 0
    assert not saved["real"]["missing_hooks"]  # every stage hook still finds its function
    assert {"select", "match", "render html", "render text", "build message", "ledger write"} <= set(saved["real"]["stages"])
    assert [r["subscribers"] for r in saved["rss"]] == [100, 300] and all(r["peak_rss_mb"] > 0 for r in saved["rss"])
    assert len(saved["targets"]) == 6
    assert (tmp_path / "out" / "pipeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_million_mode_measures_the_real_command(tmp_path):
    spec = Spec(subscribers=1200, listings=80, seed=5)  # three shards: the run really uses both workers
    ensure_sqlite(tmp_path / "cli.db", spec, progress=None)
    r = million.run_cli(f"sqlite:///{tmp_path / 'cli.db'}", workers=2, now=spec.now)
    assert r["sent"] > 900 and r["wall_s"] > 0 and r["cpu_s"] > 0
    roles = Counter(p["role"] for p in r["processes"])
    assert roles["worker"] == 2 and roles["digest run (planner)"] == 1
    assert all(0 < p["peak_rss_mb"] < 1000 for p in r["processes"])
