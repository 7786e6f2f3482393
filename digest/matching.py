"""Who gets what: an index of the week's eligible listings, built once per run, queried per subscriber.

Each facet value maps to a bitmap (a Python int) of listing positions; listings are ordered by the
time they were verified, so "verified after X" is a suffix of positions and "freshest first" is
"highest bit first". A subscriber's matches are a handful of big-int ANDs and ORs, never a scan.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Sequence


@dataclass(frozen=True, slots=True)
class Prefs:
    stack: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    min_salary: int | None = None  # annual USD
    hide_no_salary: bool = False


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
    verified_at: datetime
    posted_at: datetime
    repost_key: int
    # This listing as a ledger row lists it (JSON [board id, repost key]): made once per run, not per digest.
    ledger_ref: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.ledger_ref:
            object.__setattr__(self, "ledger_ref", json.dumps([self.board_id, self.repost_key]))


@dataclass(frozen=True, slots=True)
class Match:
    listings: tuple[IndexedListing, ...]  # best first, at most the limit
    total: int  # every listing that fits, for "+N more"


class ListingIndex:
    """Bitmaps over the listings eligible this run."""

    def __init__(self, listings: Iterable[IndexedListing]):
        self.listings: list[IndexedListing] = sorted(listings, key=lambda l: (l.verified_at, l.board_id))
        self._verified = [l.verified_at for l in self.listings]
        self.all = (1 << len(self.listings)) - 1
        self.stack: dict[str, int] = {}
        self.level: dict[str | None, int] = {}
        self.region: dict[str, int] = {}
        self.by_id: dict[str, int] = {}
        self.by_key: dict[int, int] = {}
        self.no_salary = 0
        for pos, l in enumerate(self.listings):
            bit = 1 << pos
            for tag in l.stack:
                self.stack[tag] = self.stack.get(tag, 0) | bit
            self.level[l.level] = self.level.get(l.level, 0) | bit
            for region in l.regions:
                self.region[region] = self.region.get(region, 0) | bit
            self.by_id[l.board_id] = bit
            self.by_key[l.repost_key] = self.by_key.get(l.repost_key, 0) | bit
            if l.usd_max is None:
                self.no_salary |= bit
        self._floors: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.listings)

    def since(self, when: datetime) -> int:
        """Bitmap of listings verified strictly after `when`."""
        k = bisect_right(self._verified, when)
        return self.all >> k << k

    def paying(self, floor: int) -> int:
        """Bitmap of listings whose range reaches `floor` (annual USD)."""
        bits = self._floors.get(floor)
        if bits is None:
            bits = 0
            for pos, l in enumerate(self.listings):
                if l.usd_max is not None and l.usd_max >= floor:
                    bits |= 1 << pos
            self._floors[floor] = bits
        return bits

    def history(self, board_ids: Iterable[str], repost_keys: Iterable[int]) -> int:
        """Bitmap of listings already sent: same listing, or a repost of one (company + title)."""
        bits = 0
        for board_id in board_ids:
            bits |= self.by_id.get(board_id, 0)
        for key in repost_keys:
            bits |= self.by_key.get(key, 0)
        return bits

    def _any(self, table: dict, values: Sequence) -> int:
        bits = 0
        for v in values:
            bits |= table.get(v, 0)
        return bits

    def candidates(self, prefs: Prefs, since: datetime, sent: int = 0) -> int:
        """Bitmap of every listing that fits the preferences and is new to this subscriber."""
        bits = self.since(since) & ~sent
        if prefs.stack:
            bits &= self._any(self.stack, prefs.stack)
        if prefs.levels:
            bits &= self._any(self.level, prefs.levels) | self.level.get(None, 0)
        if prefs.regions:
            bits &= self._any(self.region, prefs.regions) | self.region.get("worldwide", 0)
        if prefs.min_salary:
            bits &= self.paying(prefs.min_salary) | (0 if prefs.hide_no_salary else self.no_salary)
        elif prefs.hide_no_salary:
            bits &= ~self.no_salary
        return bits

    def match(self, prefs: Prefs, since: datetime, sent: int = 0, limit: int = 15) -> Match:
        """Choose the best `limit` listings: by fit (stack overlap, level, region), then freshness."""
        bits = self.candidates(prefs, since, sent)
        total = bits.bit_count()
        if not total:
            return Match((), 0)
        chosen: list[IndexedListing] = []
        for tier in self._tiers(prefs, bits):
            while tier and len(chosen) < limit:
                pos = tier.bit_length() - 1
                tier ^= 1 << pos
                chosen.append(self.listings[pos])
            if len(chosen) >= limit:
                break
        return Match(tuple(chosen), total)

    def _tiers(self, prefs: Prefs, bits: int):
        """Yield disjoint bitmaps from best fit to worst."""
        by_overlap = _overlap_tiers([self.stack.get(t, 0) & bits for t in prefs.stack]) if len(prefs.stack) > 1 else [bits]
        level_exact = self._any(self.level, prefs.levels) if prefs.levels else self.all
        region_exact = self._any(self.region, prefs.regions) if prefs.regions else self.all
        for stack_tier in by_overlap:
            for level in (level_exact, self.all & ~level_exact):
                for region in (region_exact, self.all & ~region_exact):
                    tier = stack_tier & level & region
                    if tier:
                        yield tier


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
