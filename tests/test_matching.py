"""Who gets what, at the level of the index: each rule, the ranking and the cap."""

from datetime import UTC, datetime, timedelta
import random
import zlib

from digest.matching import IndexedListing, ListingIndex, Prefs

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
WEEK_AGO = NOW - timedelta(days=7)


def L(id, hours_ago=10, stack=("python",), level=None, regions=("worldwide",), usd=None, key=None, company=None):
    t = NOW - timedelta(hours=hours_ago)
    return IndexedListing(
        board_id=id, title=f"Job {id}", company=company or f"Co {id}", url=f"https://x.example/{id}",
        stack=tuple(stack), level=level, regions=tuple(regions), location=None, salary_display=None,
        usd_max=usd, verified_at=t, available_at=t, posted_at=t, repost_key=key if key is not None else zlib.crc32(id.encode()),
    )


def ids(match):
    return [listing.board_id for listing in match.listings]


def test_stack_preferences_intersect_and_empty_means_any():
    index = ListingIndex([L("py", stack=("python",)), L("go", stack=("go",)), L("both", stack=("go", "python"))])
    assert set(ids(index.match(Prefs(stack=("python",)), WEEK_AGO))) == {"py", "both"}
    assert len(index.match(Prefs(), WEEK_AGO).listings) == 3


def test_unknown_level_matches_but_ranks_below_exact_level():
    index = ListingIndex([L("unknown", level=None, hours_ago=1), L("senior", level="senior", hours_ago=50),
                          L("junior", level="junior")])
    assert ids(index.match(Prefs(levels=("senior",)), WEEK_AGO)) == ["senior", "unknown"]


def test_region_intersects_or_listing_is_worldwide_and_unknown_region_needs_no_preference():
    index = ListingIndex([L("eu", regions=("europe",)), L("us", regions=("us",)), L("ww", regions=("worldwide",)),
                          L("unknown", regions=())])
    assert set(ids(index.match(Prefs(regions=("europe",)), WEEK_AGO))) == {"eu", "ww"}
    assert set(ids(index.match(Prefs(), WEEK_AGO))) == {"eu", "us", "ww", "unknown"}


def test_salary_floor_is_met_or_listing_has_no_salary_unless_hidden():
    index = ListingIndex([L("rich", usd=200_000), L("poor", usd=90_000), L("silent", usd=None)])
    assert set(ids(index.match(Prefs(min_salary=150_000), WEEK_AGO))) == {"rich", "silent"}
    assert set(ids(index.match(Prefs(min_salary=150_000, hide_no_salary=True), WEEK_AGO))) == {"rich"}
    assert set(ids(index.match(Prefs(hide_no_salary=True), WEEK_AGO))) == {"rich", "poor"}


def test_only_listings_verified_after_the_window_start():
    index = ListingIndex([L("new", hours_ago=5), L("old", hours_ago=24 * 8)])
    assert ids(index.match(Prefs(), WEEK_AGO)) == ["new"]
    assert ids(index.match(Prefs(), NOW - timedelta(hours=5))) == []  # strictly after


def test_sent_before_and_reposts_are_excluded():
    index = ListingIndex([L("a", key=1), L("a-repost", key=1), L("b", key=2)])
    sent = index.history(["zzz"], [1])
    assert ids(index.match(Prefs(), WEEK_AGO, sent)) == ["b"]
    assert ids(index.match(Prefs(), WEEK_AGO, index.history(["b"], []))) == ["a-repost"]  # one job, shown once


def test_ranked_by_stack_overlap_then_level_then_region_then_freshness():
    index = ListingIndex([
        L("fresh-one-tag", stack=("python",), hours_ago=1),
        L("two-tags-old", stack=("python", "go"), hours_ago=100),
        L("two-tags-new", stack=("python", "go"), hours_ago=50),
        L("one-tag-exact", stack=("go",), level="senior", regions=("europe",), hours_ago=120),
        L("one-tag-level", stack=("go",), level="senior", hours_ago=2),
    ])
    got = ids(index.match(Prefs(stack=("python", "go"), levels=("senior",), regions=("europe",)), WEEK_AGO))
    assert got == ["two-tags-new", "two-tags-old", "one-tag-exact", "one-tag-level", "fresh-one-tag"]


def test_capped_with_total_for_more_link():
    index = ListingIndex([L(f"j{i}", hours_ago=i + 1) for i in range(40)])
    m = index.match(Prefs(), WEEK_AGO, limit=15)
    assert len(m.listings) == 15 and m.total == 40
    assert ids(m) == [f"j{i}" for i in range(15)]  # freshest first


def test_index_agrees_with_a_plain_scan_on_random_data():
    rng = random.Random(7)
    stacks, levels, regions = ["python", "go", "java", "node"], [None, "junior", "mid", "senior"], ["us", "europe", "worldwide"]
    listings = [
        L(f"r{i}", hours_ago=rng.randint(1, 300), stack=rng.sample(stacks, rng.randint(1, 2)), level=rng.choice(levels),
          regions=rng.sample(regions, 1), usd=rng.choice([None, 80_000, 150_000, 250_000]))
        for i in range(300)
    ]
    index = ListingIndex(listings)
    for _ in range(200):
        p = Prefs(stack=tuple(rng.sample(stacks, rng.randint(0, 2))), levels=tuple(rng.sample(levels[1:], rng.randint(0, 1))),
                  regions=tuple(rng.sample(regions[:2], rng.randint(0, 1))), min_salary=rng.choice([None, 120_000]),
                  hide_no_salary=rng.random() < 0.2)
        expected = {
            listing.board_id for listing in listings
            if listing.verified_at > WEEK_AGO
            and (not p.stack or set(p.stack) & set(listing.stack))
            and (not p.levels or listing.level in p.levels or listing.level is None)
            and (not p.regions or set(p.regions) & set(listing.regions) or "worldwide" in listing.regions)
            and (listing.usd_max is None and not p.hide_no_salary
                 or listing.usd_max is not None and listing.usd_max >= (p.min_salary or 0))
        }
        m = index.match(p, WEEK_AGO, limit=1000)
        assert set(ids(m)) == expected and m.total == len(expected)
