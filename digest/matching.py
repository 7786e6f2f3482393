"""Who gets what: an index of the week's eligible listings, built once per run, queried per subscriber.

Each facet value maps to a bitmap (a Python int) of listing positions; listings are ordered by the
time they became available, so "new since X" is a suffix of positions and "freshest first" is
"highest bit first". A subscriber's matches are a handful of big-int ANDs and ORs, never a scan.

A board may export one job under two ids (same URL, or same company + normalised title: the repost key).
Such twins are grouped once, when the index is built; a digest keeps the best-ranked listing of a group and
counts the group as one job, and a job sent under one id is never sent again under its twin. Only listings
that have a twin are grouped (usually none), so a match without twins among its candidates pays one AND.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Iterable, Iterator, Sequence
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from .normalise import company_key


@dataclass(frozen=True, slots=True)
class Prefs:
    stack: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    min_salary: int | None = None  # annual USD
    hide_no_salary: bool = False
    roles: tuple[str, ...] = ()  # role types: a listing of unknown role passes, ranked lower (like level)
    employers: tuple[str, ...] = ()  # employer types: when chosen, a listing must be one of them


@dataclass(frozen=True, slots=True)
class IndexedListing:
    board_id: str
    title: str
    company: str
    url: str
    stack: tuple[str, ...]
    level: str | None
    regions: tuple[str, ...]
    location: str | None
    salary_display: str | None
    usd_max: int | None  # top of the annual range in USD, for salary floors
    verified_at: datetime  # when the board verified it (shown on the card)
    available_at: datetime  # when it became available to digests (windows and freshness)
    posted_at: datetime
    repost_key: int
    role_type: str | None = None  # api / data / platform, when known
    employer_type: str | None = None  # startup / scaleup / enterprise / agency, when known
    listing_id: int = 0  # the row's primary key, which feedback links carry (0: not from the database)
    # This listing as a ledger row lists it (JSON [board id, repost key]): made once per run, not per digest.
    ledger_ref: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.ledger_ref:
            object.__setattr__(self, "ledger_ref", json.dumps([self.board_id, self.repost_key]))


@dataclass(frozen=True, slots=True)
class Exclusions:
    """What one subscriber asked never to see again, from the cards of earlier digests."""

    board_ids: tuple[str, ...] = ()  # jobs marked "not for me" (their reposts and twins go too)
    repost_keys: tuple[int, ...] = ()
    companies: tuple[str, ...] = ()  # hidden companies, as normalise.company_key folds them


@dataclass(frozen=True, slots=True)
class Verdict:
    """One listing for one subscriber's digest: its rank there, or the first rule that kept it out."""

    listing: IndexedListing
    rank: int | None = None
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    listings: tuple[IndexedListing, ...]  # best first, at most the limit
    total: int  # every job that fits (twins counted once), for the subject and "+N more"
    below_floor: int = 0  # listings that fit everything but the salary floor (the digest says so)


_TRACKING_PARAMS = frozenset({"ref", "source"})


def canonical_url(url: str) -> str:
    """Reduce a listing URL to what two exports of one job share.

    Scheme and host are casefolded; the fragment, a trailing slash and tracking parameters (`utm_*`, `ref`,
    `source`) are dropped; the path and the other parameters are kept as written, in their order.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # not a URL we can take apart: only the very same text is the same URL
        return url
    userinfo, at, hostport = parts.netloc.rpartition("@")
    query = "&".join(
        pair for pair in parts.query.split("&")
        if pair and not _is_tracking(unquote_plus(pair.partition("=")[0]).casefold())
    )
    return urlunsplit((parts.scheme.casefold(), userinfo + at + hostport.casefold(), parts.path.rstrip("/"), query, ""))


def _is_tracking(name: str) -> bool:
    return name.startswith("utm_") or name in _TRACKING_PARAMS


def twin_groups(listings: Sequence[IndexedListing]) -> list[int]:
    """Bitmaps (by position) of listings that are one job: sharing a repost key or a canonical URL, also
    through a third listing. Listings without a twin are in none."""
    parent: dict[int, int] = {}

    def root(pos: int) -> int:
        while parent[pos] != pos:
            parent[pos] = parent[parent[pos]]  # halve the path on the way up
            pos = parent[pos]
        return pos

    first: dict[int | str, int] = {}  # the first position holding a repost key (int) or a URL (str)
    for pos, listing in enumerate(listings):
        for key in (listing.repost_key, canonical_url(listing.url)):
            other = first.setdefault(key, pos)
            if other != pos:
                parent.setdefault(other, other)
                parent.setdefault(pos, pos)
                parent[root(pos)] = root(other)
    groups: dict[int, int] = {}
    for pos in parent:
        r = root(pos)
        groups[r] = groups.get(r, 0) | (1 << pos)
    return list(groups.values())


class ListingIndex:
    """Bitmaps over the listings eligible this run."""

    def __init__(self, listings: Iterable[IndexedListing]):
        # Freshest last: by availability, and among listings that arrived together, by the board's verification.
        self.listings: list[IndexedListing] = sorted(
            listings, key=lambda listing: (listing.available_at, listing.verified_at, listing.board_id))
        self._available = [listing.available_at for listing in self.listings]
        # One company however the board spells it (the repost key's reading of a name), for the per-company cap.
        self._company = [company_key(listing.company) for listing in self.listings]
        self.all = (1 << len(self.listings)) - 1
        self.stack: dict[str, int] = {}
        self.level: dict[str | None, int] = {}
        self.region: dict[str, int] = {}
        self.role: dict[str | None, int] = {}
        self.employer: dict[str | None, int] = {}
        self.by_id: dict[str, int] = {}
        self.by_key: dict[int, int] = {}
        self.no_salary = 0
        for pos, listing in enumerate(self.listings):
            bit = 1 << pos
            for tag in listing.stack:
                self.stack[tag] = self.stack.get(tag, 0) | bit
            self.level[listing.level] = self.level.get(listing.level, 0) | bit
            for region in listing.regions:
                self.region[region] = self.region.get(region, 0) | bit
            self.role[listing.role_type] = self.role.get(listing.role_type, 0) | bit
            self.employer[listing.employer_type] = self.employer.get(listing.employer_type, 0) | bit
            self.by_id[listing.board_id] = bit
            self.by_key[listing.repost_key] = self.by_key.get(listing.repost_key, 0) | bit
            if listing.usd_max is None:
                self.no_salary |= bit
        self._floors: dict[int, int] = {}
        self._by_company: dict[str, int] | None = None
        # One job under several ids: for each twinned position its group's number and everything outside the
        # group (a bitmap with the group's bits cleared), and the union of all groups.
        self._job: dict[int, int] = {}
        self._outside: dict[int, int] = {}
        self.twinned = 0
        for number, group in enumerate(twin_groups(self.listings)):
            self.twinned |= group
            rest = group
            while rest:
                pos = rest.bit_length() - 1
                rest ^= 1 << pos
                self._job[pos], self._outside[pos] = number, ~group

    def __len__(self) -> int:
        return len(self.listings)

    def since(self, when: datetime) -> int:
        """Bitmap of listings that became available strictly after `when`."""
        k = bisect_right(self._available, when)
        return self.all >> k << k

    def paying(self, floor: int) -> int:
        """Bitmap of listings whose range reaches `floor` (annual USD)."""
        bits = self._floors.get(floor)
        if bits is None:
            bits = 0
            for pos, listing in enumerate(self.listings):
                if listing.usd_max is not None and listing.usd_max >= floor:
                    bits |= 1 << pos
            self._floors[floor] = bits
        return bits

    def history(self, board_ids: Iterable[str], repost_keys: Iterable[int]) -> int:
        """Bitmap of listings already sent: same listing, a repost of one (company + title), or a twin of one
        this index holds (same URL: a sent id that has left the index can no longer be matched by URL)."""
        bits = 0
        for board_id in board_ids:
            bits |= self.by_id.get(board_id, 0)
        for key in repost_keys:
            bits |= self.by_key.get(key, 0)
        return self._with_twins(bits)

    def _with_twins(self, bits: int) -> int:
        """`bits` and every listing that is one job with one of them."""
        hit = bits & self.twinned
        while hit:
            outside = self._outside[hit.bit_length() - 1]
            bits |= ~outside  # the whole group
            hit &= outside
        return bits

    def excluded(self, ex: Exclusions | None) -> int:
        """Bitmap of listings a subscriber excluded: jobs marked "not for me" (as history: reposts and twins
        too) and every listing of a company they hid (and its twins, whatever name the twin gives)."""
        if ex is None:
            return 0
        bits = self.history(ex.board_ids, ex.repost_keys) if ex.board_ids or ex.repost_keys else 0
        if ex.companies:
            by_company = self._companies()
            hidden = 0
            for key in ex.companies:
                hidden |= by_company.get(key, 0)
            bits |= self._with_twins(hidden)
        return bits

    def _companies(self) -> dict[str, int]:
        """Company key -> bitmap, built on first use: a run where nobody hid a company never pays for it."""
        if self._by_company is None:
            self._by_company = {}
            for pos, listing in enumerate(self.listings):
                key = company_key(listing.company)
                self._by_company[key] = self._by_company.get(key, 0) | (1 << pos)
        return self._by_company

    def _any(self, table: dict, values: Sequence) -> int:
        bits = 0
        for v in values:
            bits |= table.get(v, 0)
        return bits

    def fits(self, prefs: Prefs) -> Iterator[tuple[str, int]]:
        """The preference filters, as (rule, bitmap of the listings that pass it), in the order `explain` names
        them: what `candidates` applies, and what `explain` walks to name the rule that kept a listing out."""
        if prefs.stack:
            yield "stack", self._any(self.stack, prefs.stack)
        if prefs.levels:
            yield "level", self._any(self.level, prefs.levels) | self.level.get(None, 0)
        if prefs.roles:
            yield "role", self._any(self.role, prefs.roles) | self.role.get(None, 0)
        if prefs.employers:
            yield "employer", self._any(self.employer, prefs.employers)  # unknown employer type: not what they chose
        if prefs.regions:
            yield "region", self._any(self.region, prefs.regions) | self.region.get("worldwide", 0)
        if prefs.min_salary:
            yield "salary floor", self.paying(prefs.min_salary) | (0 if prefs.hide_no_salary else self.no_salary)
        elif prefs.hide_no_salary:
            yield "salary not stated", self.all & ~self.no_salary

    def candidates(self, prefs: Prefs, since: datetime, sent: int = 0) -> int:
        """Bitmap of every listing that fits the preferences and is new to this subscriber."""
        bits = self.since(since) & ~sent
        for _rule, passing in self.fits(prefs):
            bits &= passing
        return bits

    def match(self, prefs: Prefs, since: datetime, sent: int = 0, limit: int = 15, per_company: int = 0,
              skipped: dict[int, str] | None = None) -> Match:
        """Choose the best `limit` listings: by fit (stack overlap, level, role, region), then freshness, at most
        `per_company` of one company (0: no cap; the rest still count in the total, for "+N more"). Candidates
        passed over on the way are noted in `skipped` (position -> why), for `explain`."""
        bits = self.candidates(prefs, since, sent)
        below = self._below_floor(prefs, since, sent, bits)
        if not bits:
            return Match((), 0, below)
        twins = bits & self.twinned
        if not twins:
            return Match(self._choose(self._tiers(prefs, bits), limit, None, per_company, skipped), bits.bit_count(),
                         below)
        return Match(self._choose(self._tiers(prefs, bits), limit, self._job, per_company, skipped), self._jobs(bits),
                     below)

    def explain(self, prefs: Prefs, since: datetime, sent: int, exclusions: Exclusions | None, limit: int,
                per_company: int, sent_ids: Iterable[str] = ()) -> dict[str, Verdict]:
        """For every listing of the index, its rank in this digest or the first rule that kept it out.

        `sent` and `exclusions` are what the plan used (`sent | excluded(exclusions)` is the run's `sent`); the
        match is the run's own, and each rule is the bitmap the match applies, taken one at a time in order:
        before the window, already sent, repost, the preference filters, not for me, hidden company, then what
        choosing passed over (same job as a listing shown, company cap) and the rest: over the cap."""
        ex = exclusions or Exclusions()
        not_for_me = self.excluded(Exclusions(ex.board_ids, ex.repost_keys))
        hidden = self.excluded(Exclusions(companies=ex.companies))
        skipped: dict[int, str] = {}
        match = self.match(prefs, since, sent | not_for_me | hidden, limit, per_company, skipped)
        rank = {listing.board_id: n for n, listing in enumerate(match.listings, 1)}
        exact = 0
        for board_id in sent_ids:
            exact |= self.by_id.get(board_id, 0)
        rules = [("before the window", self.since(since)), ("already sent", ~exact), ("repost of one sent", ~sent),
                 *self.fits(prefs), ("not for me", ~not_for_me), ("hidden company", ~hidden)]
        out: dict[str, Verdict] = {}
        for pos, listing in enumerate(self.listings):
            if listing.board_id in rank:
                out[listing.board_id] = Verdict(listing, rank=rank[listing.board_id])
                continue
            rule = next((name for name, passing in rules if not passing >> pos & 1), None)
            if rule is None:
                rule = skipped.get(pos, "over the cap")
                if rule.startswith("twin:"):
                    other = rule[5:]
                    rule = f"same job as {other}" + (f" (#{rank[other]})" if other in rank else "")
            out[listing.board_id] = Verdict(listing, rule=rule)
        return out

    def _jobs(self, bits: int) -> int:
        """How many jobs the bitmap holds: the ids of one job count once."""
        twins = bits & self.twinned
        jobs = 0
        hit = twins
        while hit:
            hit &= self._outside[hit.bit_length() - 1]
            jobs += 1
        return bits.bit_count() - twins.bit_count() + jobs

    def _below_floor(self, prefs: Prefs, since: datetime, sent: int, bits: int) -> int:
        """Jobs that fit everything but the salary floor (a listing without a salary passes a floor already)."""
        if not prefs.min_salary:
            return 0
        unfloored = self.candidates(replace(prefs, min_salary=None), since, sent) & ~bits & ~self.no_salary
        return self._jobs(unfloored) if unfloored else 0

    def _choose(self, tiers: Iterable[int], limit: int, job: dict[int, int] | None = None,
                per_company: int = 0, skipped: dict[int, str] | None = None) -> tuple[IndexedListing, ...]:
        """Take listings best first, tier by tier, freshest first within a tier; one id per job, and at most
        `per_company` listings of one company (0: any number). What is passed over is noted in `skipped`."""
        chosen: list[IndexedListing] = []
        seen: dict[int, str] = {}  # job number -> board id of the listing chosen for it
        companies: dict[str, int] = {}  # company key -> listings of it chosen
        for tier in tiers:
            while tier and len(chosen) < limit:
                pos = tier.bit_length() - 1
                tier ^= 1 << pos
                if job is not None and pos in job:
                    if job[pos] in seen:
                        if skipped is not None:
                            skipped[pos] = "twin:" + seen[job[pos]]
                        continue  # a better-ranked id of this job is already in
                    seen[job[pos]] = self.listings[pos].board_id
                listing = self.listings[pos]
                if per_company:
                    key = self._company[pos]
                    if companies.get(key, 0) >= per_company:
                        if skipped is not None:
                            skipped[pos] = "company cap"
                        continue  # counted in the total ("+N more"), not shown
                    companies[key] = companies.get(key, 0) + 1
                chosen.append(listing)
            if len(chosen) >= limit:
                break
        return tuple(chosen)

    def _tiers(self, prefs: Prefs, bits: int):
        """Yield disjoint bitmaps from best fit to worst."""
        by_overlap = _overlap_tiers([self.stack.get(t, 0) & bits for t in prefs.stack]) if len(prefs.stack) > 1 else [bits]
        levels = self._exact_first(self.level, prefs.levels)
        roles = self._exact_first(self.role, prefs.roles)
        regions = self._exact_first(self.region, prefs.regions)
        for stack_tier in by_overlap:
            for level in levels:
                for role in roles:
                    for region in regions:
                        tier = stack_tier & level & role & region
                        if tier:
                            yield tier

    def _exact_first(self, table: dict, chosen: Sequence) -> tuple[int, ...]:
        """The listings matching a preference exactly, then the rest (one tier of all when nothing is chosen)."""
        if not chosen:
            return (self.all,)
        exact = self._any(table, chosen)
        return exact, self.all & ~exact


def _overlap_tiers(planes_in: list[int]) -> list[int]:
    """Split the union of bitmaps by how many of them each bit is in, most first (bit-sliced count)."""
    counters: list[int] = []
    for bits in planes_in:
        carry = bits
        for i, plane in enumerate(counters):
            counters[i], carry = plane ^ carry, plane & carry
            if not carry:
                break
        if carry:
            counters.append(carry)
    union = 0
    for bits in planes_in:
        union |= bits
    tiers = []
    for count in range(len(planes_in), 0, -1):
        tier = union
        for i, plane in enumerate(counters):
            tier &= plane if count >> i & 1 else ~plane
        if count >> len(counters):
            tier = 0
        if tier:
            tiers.append(tier)
    return tiers
