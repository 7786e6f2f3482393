"""Turn a listing's raw fields (tags, level, location, salary) into canonical facets; pure functions."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from . import salary
from .salary import MEMO
from .errors import NormaliseError
from .datafile import TAG_PARTS as _TAG_PARTS
from .datafile import TAG_SPLIT as _TAG_SPLIT
from .datafile import phrase_key, tag_key, word_key
from .taxonomy import DATA_PLACE_WORDS, WORLDWIDE, Place, Taxonomy

_LEVEL_PARTS = re.compile(r"[/,|&]|\s(?:or|to)\s", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]+")
_FLAG = re.compile("[\U0001F1E6-\U0001F1FF]{2}")
_COMMA_GAP = re.compile(r"\s*,\s*")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_TITLE_WORD = re.compile(r"[^\W_]+[+#]*")
# An amount: digits with group separators (93,400 / 4.000 / 120 000 / Indian 18,00,000) or a decimal part,
# then an optional k (thousands) or m (millions) that does not start a word ("mo", "month", "MXN").
_AMOUNT = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)*(?:[ \u00a0\u202f'’]\d{3}(?!\d))*)(?:\s?([kKmM])(?![^\W\d_]))?")
_RANGE = re.compile(r"\s*(?:-|–|—|~|to|and)\s*", re.IGNORECASE)
_MULTIPLIERS = {"k": 1_000.0, "m": 1_000_000.0}


@dataclass(frozen=True)
class Salary:
    """A pay range annualised in its own currency, with the figures and period as stated."""

    min_annual: int | None
    max_annual: int | None
    currency: str
    period: str
    raw_min: float | None
    raw_max: float | None


# -- stack and level ------------------------------------------------------------------------------------

def normalise_stack(raw: list[str] | str | None, title: str, taxonomy: Taxonomy) -> list[str]:
    """Map a listing to sorted canonical stacks: the ones its title names, else the ones its tags name."""
    named = _title_stacks(title or "", taxonomy)
    if named is not None:  # boards tag noisily ("Senior Magento Developer" tagged java); the title is what the job is
        return list(named)
    found: set[str] = set()
    for item in raw if isinstance(raw, list) else [raw or ""]:
        for tag in _TAG_SPLIT.split(str(item)):
            found.update(_tag_stacks(tag, taxonomy))
    return sorted(found)


# Boards repeat titles, tags and locations endlessly: each is read once per process (bounded, so memory stays flat).
@functools.lru_cache(maxsize=MEMO)
def _title_stacks(title: str, taxonomy: Taxonomy) -> tuple[str, ...] | None:
    """The stacks a title names; () for a job that is not development; None when the title names none."""
    if taxonomy.stack_not_development.search(title):
        return ()
    found = set()
    for match in taxonomy.stack_title.finditer(taxonomy.stack_title_not.sub(" ", title)):
        key = word_key(match.group())
        found.add(taxonomy.stack_title_words.get(key) or taxonomy.stack_title_words.get(key.casefold(), ""))
    found.discard("")
    return tuple(sorted(found)) if found else None


@functools.lru_cache(maxsize=MEMO)
def _tag_stacks(tag: str, taxonomy: Taxonomy) -> tuple[str, ...]:
    key = tag_key(tag)
    # Whole tag first: "ruby/rails" and "c/c++" are aliases in their own right.
    hit = taxonomy.stack_aliases.get(key)
    parts = [hit] if hit else [taxonomy.stack_aliases.get(tag_key(p)) for p in _TAG_PARTS.split(key)]
    return tuple(p for p in parts if p)


@functools.lru_cache(maxsize=MEMO)
def normalise_level(raw: str | None, title: str, taxonomy: Taxonomy) -> str | None:
    """Map a raw level to a canonical one, or infer it from the title when the field is empty."""
    key = phrase_key(raw or "").casefold()
    if key and key not in taxonomy.level_unstated:
        level = taxonomy.level_aliases.get(key) or _level_range(raw, taxonomy)
        if level is None:
            raise NormaliseError(f"unknown level {raw!r}; allowed: {', '.join(taxonomy.levels)}")
        return level
    for level, pattern in taxonomy.level_titles:
        if title and pattern.search(title):
            return level
    return None


def _level_range(raw: str, taxonomy: Taxonomy) -> str | None:
    # "Senior/Lead", "Mid or Senior": every part must be known; the title order picks the most specific.
    parts = {taxonomy.level_aliases.get(phrase_key(p).casefold()) for p in _LEVEL_PARTS.split(raw) if p.strip()}
    if not parts or None in parts:
        return None
    return next(level for level, _ in taxonomy.level_titles if level in parts)


# -- regions --------------------------------------------------------------------------------------------

def normalise_regions(location: str | None, taxonomy: Taxonomy) -> list[str]:
    """Map a raw location to sorted canonical regions; [] when it names none we know (see _regions)."""
    if not location or not location.strip():
        return []
    return list(_regions(location, taxonomy))


@functools.lru_cache(maxsize=MEMO)
def _regions(location: str, taxonomy: Taxonomy) -> tuple[str, ...]:
    return tuple(_read_regions(location, taxonomy))


def _read_regions(location: str, taxonomy: Taxonomy) -> list[str]:
    """Map a raw location to sorted canonical regions; [] when it names none we know.

    Places named outright win; timezone words ("EST preferred") and bands ("UTC-1 to UTC+3") say where only when
    no place is named; "worldwide" or "any location" wins over places but not over a stated band.
    """
    if not location or not location.strip():
        return []
    text = unicodedata.normalize("NFKC", location).replace("\u2212", "-")
    band: set[str] = set()
    text = _timezone_bands(text, taxonomy, band)
    hard: set[str] = set()
    soft: set[str] = set()
    for flag in _FLAG.findall(text):
        code = "".join(chr(ord(c) - 0x1F1E6 + ord("A")) for c in flag)
        if code in taxonomy.country_regions:
            hard.add(taxonomy.country_regions[code])
    for place in _places_in(text, taxonomy):
        (soft if place.soft else hard).update(place.regions)
    if WORLDWIDE in hard or WORLDWIDE in soft:
        return sorted(band) if band else [WORLDWIDE]
    if hard or band or soft:
        return sorted(hard or band | soft)
    # "Remote" or "100% remote - anywhere" with nothing else named means anywhere; "Remote, Mars" is unknown.
    rest = taxonomy.remote_only.sub(" ", text)
    return [WORLDWIDE] if rest != text and not _HAS_LETTER.search(rest) else []


def title_regions(title: str, taxonomy: Taxonomy) -> list[str]:
    """Regions a title names outright ("Backend Engineer (LATAM)", "Solutions Architect India"), for listings
    that give no location; cities, timezone words and "international" do not count here."""
    text = unicodedata.normalize("NFKC", title or "")
    found = {r for p in _places_in(text, taxonomy) if not (p.city or p.soft or p.guess) for r in p.regions}
    return sorted(found - {WORLDWIDE})


def _timezone_bands(text: str, taxonomy: Taxonomy, found: set[str]) -> str:
    """Add the regions each timezone band meets; return the text with the bands blanked out."""
    spans = []
    for m in taxonomy.tz_band.finditer(text):
        start = _utc_offset(m, 1, m["a1"], taxonomy)
        if m["a2"] or m["h2"]:
            end = _utc_offset(m, 2, m["a2"] or m["a1"], taxonomy)
        elif m["tol"]:
            start, end = start - float(m["tol"]), start + float(m["tol"])
        elif m["h1"]:
            end = start
        else:
            continue  # a bare "CET" is a place word, read with the others
        low, high = min(start, end), max(start, end)
        found.update(name for name, (a, b) in taxonomy.region_utc.items() if a <= high and low <= b)
        spans.append(m.span())
    for a, b in reversed(spans):
        text = text[:a] + " " * (b - a) + text[b:]  # same length, so later spans stay valid
    return text


def _utc_offset(m: re.Match[str], n: int, zone: str, taxonomy: Taxonomy) -> float:
    base = taxonomy.tz_offsets.get(zone.upper(), 0.0)
    if not m[f"h{n}"]:
        return base
    hours = int(m[f"h{n}"]) + int(m[f"m{n}"] or 0) / 60
    return base - hours if m[f"s{n}"] == "-" else base + hours


def _places_in(text: str, taxonomy: Taxonomy) -> list[Place]:
    """The places a text names, each resolved against the others ("London, ON" is Canada, "Paris, TX" the US,
    "Georgia" among European countries the country)."""
    tokens = list(_TOKEN.finditer(text))
    hits: list[tuple[int, int, Place]] = []
    i = 0
    while i < len(tokens):
        n, hit = 1, _code_after_comma(text, tokens[i], hits, taxonomy)
        if hit is None:
            n, hit = _longest_place(tokens, i, taxonomy)
        if hit:
            hits.append((tokens[i].start(), tokens[i + n - 1].end(), hit))
        i += n if hit else 1
    places: list[Place] = []
    for k, (_, end, place) in enumerate(hits):
        after = hits[k + 1] if k + 1 < len(hits) else None
        # A city yields to the state or country right after it: "London, ON" is Canada, "Paris, TX" the US.
        if place.city and after and not after[2].city and _COMMA_GAP.fullmatch(text, end, after[0]):
            continue
        places.append(place)
    # Every firm place, yielded cities included, tells what an ambiguous one means ("Tbilisi, Georgia"); a city
    # known only from the data yields to the places our lists name ("South East London, London" is not East London,
    # South Africa).
    firm = {r for _, _, p in hits if not p.alt and not p.soft for r in p.regions}
    listed = {r for _, _, p in hits if not p.guess and not p.soft for r in p.regions}
    resolved = [_resolve(p, listed if p.guess else firm) if p.alt or p.guess else p for p in places]
    return [p for p in resolved if p is not None]


def _resolve(place: Place, firm: set[str]) -> Place | None:
    """An ambiguous name means what the rest of the text agrees with, else its first meaning; a guessed city that
    the rest of the text contradicts means nothing."""
    if not firm or firm & set(place.regions):
        return place
    agreed = [r for r in place.alt if r in firm]
    if agreed:
        return place._replace(regions=(agreed[0],))
    return None if place.guess else place


def _longest_place(tokens: list[re.Match[str]], i: int, taxonomy: Taxonomy) -> tuple[int, Place | None]:
    # Longest phrase first, so "New Mexico" is not Mexico and "Papua New Guinea" is one place.
    for n in range(min(max(taxonomy.place_max_words, DATA_PLACE_WORDS), len(tokens) - i), 0, -1):
        key = " ".join(t.group() for t in tokens[i:i + n])
        hit = taxonomy.places_cased.get(key) or taxonomy.places.get(key.casefold())
        if hit is None:
            data = taxonomy.data_places.get(key.casefold())
            # A city from the data must be written as a name ("Palo Alto"), not a common word ("mobile").
            hit = data if data and (not data.city or tokens[i].group()[:1].isupper()) else None
        if hit:
            return n, hit
    return 1, None


def _code_after_comma(text: str, token: re.Match[str], hits: list, taxonomy: Taxonomy) -> Place | None:
    code = token.group()
    if len(code) != 2 or not code.isupper() or not text[:token.start()].rstrip().endswith(","):
        return None
    state, country = taxonomy.subdivision_regions.get(code), taxonomy.country_regions.get(code)
    # "Berlin, DE" is Germany, not Delaware: prefer the country when the city before it agrees.
    if state and country and hits and hits[-1][2].city and country in hits[-1][2].regions:
        state = None
    region = state or country
    return Place((region,), False) if region else None


# -- salary ---------------------------------------------------------------------------------------------

def annual_usd(amount: int | None, currency: str | None, taxonomy: Taxonomy) -> int | None:
    """Convert an annual amount to approximate US dollars; None when missing or the currency has no rate."""
    return salary.annual_usd(amount, currency, taxonomy.money)


# -- titles and reposts ---------------------------------------------------------------------------------

def normalise_title(title: str) -> str:
    """Fold a title (or company) to lowercase words, keeping level words and "c++"/"c#"."""
    return " ".join(_TITLE_WORD.findall(unicodedata.normalize("NFKC", title or "").casefold()))


def company_key(company: str) -> str:
    """A company folded as repost keys fold it ("Acme, Inc." and "ACME Inc" are one), for hiding a company;
    cut to its column's length (an NFKC-expanded name may pass it)."""
    return normalise_title(company)[:300]


def repost_key(company: str, title: str) -> int:
    """Hash company and title into a stable non-negative int that fits a signed 64-bit column."""
    data = f"{normalise_title(company)}\x1f{normalise_title(title)}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") & (2**63 - 1)


# -- subscriber preferences -----------------------------------------------------------------------------

def canonical_stack_pref(value: str, taxonomy: Taxonomy) -> str:
    """Map a stack a subscriber typed (tag, alias or display name) to its canonical tag."""
    found = taxonomy.stack_aliases.get(tag_key(value or ""))
    if found is None:
        raise NormaliseError(f"unknown stack {value!r}; allowed: {', '.join(taxonomy.stacks)}")
    return found


def canonical_level_pref(value: str, taxonomy: Taxonomy) -> str:
    """Map a level a subscriber typed (name, alias or display name) to its canonical name."""
    found = taxonomy.level_aliases.get(phrase_key(value or "").casefold())
    if found is None:
        raise NormaliseError(f"unknown level {value!r}; allowed: {', '.join(taxonomy.levels)}")
    return found


def canonical_region_pref(value: str, taxonomy: Taxonomy) -> str:
    """Map a region a subscriber typed (name, display name or a place in one region) to its canonical name."""
    text = (value or "").strip().casefold()
    for name in taxonomy.regions:
        if text in (name, taxonomy.region_label(name).casefold()):
            return name
    key = phrase_key(value or "")
    place = taxonomy.places_cased.get(key) or taxonomy.places.get(key.casefold())
    if place and len(place.regions) == 1:
        return place.regions[0]
    several = f" ({value} spans {', '.join(place.regions)}: choose one)" if place else ""
    raise NormaliseError(f"unknown region {value!r}{several}; allowed: {', '.join(taxonomy.regions)}")


def canonical_role_pref(value: str, taxonomy: Taxonomy) -> str:
    """Map a role type a subscriber typed (name, display name or a board's alias) to its canonical name."""
    return _facet_pref(value, taxonomy.role_type_aliases, taxonomy.role_types, "role")


def canonical_employer_pref(value: str, taxonomy: Taxonomy) -> str:
    """Map an employer type a subscriber typed (name, display name or a board's alias) to its canonical name."""
    return _facet_pref(value, taxonomy.employer_type_aliases, taxonomy.employer_types, "employer")


def _facet_pref(value: str, aliases: Mapping[str, str], allowed: tuple[str, ...], what: str) -> str:
    # The aliases hold each name and display name too ("data", "Data-heavy"), as the listings' facets read them.
    found = aliases.get(phrase_key(value or "").casefold())
    if found is None:
        raise NormaliseError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")
    return found
