"""Load the taxonomy data file (stacks, levels, regions, money) into lookups the normaliser uses."""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple

from .errors import ConfigError

DEFAULT_PATH = Path(__file__).with_name("taxonomy.toml")
PERIODS = ("year", "month", "week", "day", "hour")
WORLDWIDE = "worldwide"
_TOKEN = re.compile(r"[^\W_]+")
_NEVER = re.compile(r"(?!)")
_ro = MappingProxyType
_LETTER_BEFORE, _LETTER_AFTER = r"(?<![^\W\d_])", r"(?![^\W\d_])"


def phrase_key(text: str) -> str:
    """Return the letters and digits of a place or level phrase, one space apart."""
    return " ".join(_TOKEN.findall(text))


def tag_key(text: str) -> str:
    """Return a raw stack tag casefolded, its whitespace collapsed."""
    return " ".join(text.casefold().split())


def word_key(text: str) -> str:
    """Return the lookup key of a title word as matched (hyphens and spaces alike)."""
    return " ".join(re.split(r"[\s-]+", text.strip()))


class Place(NamedTuple):
    regions: tuple[str, ...]
    city: bool


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """Canonical facet values with their labels, plus derived lookups used by digest.normalise."""

    stacks: tuple[str, ...]
    levels: tuple[str, ...]
    regions: tuple[str, ...]
    currencies: tuple[str, ...]
    stack_labels: Mapping[str, str]
    level_labels: Mapping[str, str]
    region_labels: Mapping[str, str]
    stack_aliases: Mapping[str, str]  # tag_key -> stack
    stack_title: re.Pattern[str]
    stack_title_words: Mapping[str, str]  # word_key (casefolded unless cased) -> stack
    level_aliases: Mapping[str, str]  # casefolded phrase_key -> level
    level_titles: tuple[tuple[str, re.Pattern[str]], ...]  # in level_title_order
    level_unstated: frozenset[str]  # raw level values that mean "not given"
    region_utc: Mapping[str, tuple[float, float]]
    places: Mapping[str, Place]  # casefolded phrase_key -> place
    places_cased: Mapping[str, Place]  # phrase_key -> place
    place_max_words: int
    country_regions: Mapping[str, str]
    subdivision_regions: Mapping[str, str]
    tz_offsets: Mapping[str, float]
    tz_band: re.Pattern[str]
    remote_only: re.Pattern[str]
    currency_aliases: Mapping[str, str]  # casefolded symbol or code -> code
    currency_token: re.Pattern[str]
    usd_rates: Mapping[str, float]
    period_aliases: Mapping[str, str]
    period_token: re.Pattern[str]
    period_factors: Mapping[str, int]
    period_guess: tuple[tuple[float, str], ...]  # (largest USD amount, period), ascending
    annual_usd_bounds: tuple[float, float]
    default_currency: str
    salary_up_to: re.Pattern[str]
    salary_from: re.Pattern[str]
    salary_ignore: re.Pattern[str]

    def stack_label(self, tag: str) -> str:
        """Return the display name of a stack (the tag itself when unknown, so stale data still renders)."""
        return self.stack_labels.get(tag, tag)

    def level_label(self, level: str) -> str:
        """Return the display name of a level (the value itself when unknown)."""
        return self.level_labels.get(level, level)

    def region_label(self, region: str) -> str:
        """Return the display name of a region (the value itself when unknown)."""
        return self.region_labels.get(region, region)

    def usd_rate(self, currency: str | None) -> float | None:
        """Return US dollars per unit of a currency code or symbol, or None when unknown."""
        code = self.currency_aliases.get(currency.strip().casefold()) if currency else None
        return self.usd_rates[code] if code else None


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file; the default file is read once per process."""
    return _default() if path is None else _load(Path(path))


@functools.lru_cache(maxsize=1)
def _default() -> Taxonomy:
    return _load(DEFAULT_PATH)


def _load(path: Path) -> Taxonomy:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as e:
        raise ConfigError(f"cannot read taxonomy {path}: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"taxonomy {path} is not valid TOML: {e}") from e
    try:
        return Taxonomy(**_stacks(data), **_levels(data), **_places(data), **_money(data))
    except ConfigError as e:
        raise ConfigError(f"taxonomy {path}: {e}") from e


# -- validation helpers: each names the key at fault ------------------------------------------------------

def _table(parent: dict[str, Any], key: str, where: str = "", *, of_tables: bool = False) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"[{where}{key}] must be a non-empty table")
    for name, entry in value.items() if of_tables else ():
        if not isinstance(entry, dict):
            raise ConfigError(f"[{where}{key}.{name}] must be a table")
    return value


def _strs(value: Any, where: str) -> list[str]:
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value)):
        raise ConfigError(f"{where} must be a list of non-empty strings")
    return value or []


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string")
    return value


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{where} must be a number from {low:g} to {high:g}")
    return float(value)


def _claim(table: dict[str, Any], key: str, value: Any, where: str) -> None:
    # One spelling must mean one thing, or the result would depend on file order.
    old = table.setdefault(key, value)
    if getattr(old, "regions", old) != getattr(value, "regions", value):
        meaning = ", ".join(old.regions) if isinstance(old, Place) else old
        raise ConfigError(f"{where}: {key!r} already means {meaning}")


def _labelled(data: dict[str, Any], section: str, key: Callable[[str], str]):
    """Read a table of labelled entries; return (labels, aliases, entries), each alias keyed by `key`."""
    entries = _table(data, section, of_tables=True)
    labels: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for name, entry in entries.items():
        labels[name] = _text(entry.get("label"), f"{section}.{name}.label")
        for alias in [name, labels[name], *_strs(entry.get("aliases"), f"{section}.{name}.aliases")]:
            _claim(aliases, key(alias), name, f"{section}.{name}.aliases")
    return labels, aliases, entries


def _alternation(ci: list[str], cased: list[str] = (), right: str = r"(?!\w)") -> re.Pattern[str]:
    """Compile whole-word alternatives, longest first, a space in a word also matching a hyphen."""
    alts = sorted([(w, "(?i:%s)") for w in ci] + [(w, "(?:%s)") for w in cased], key=lambda a: -len(a[0]))
    body = "|".join(wrap % r"[\s-]+".join(map(re.escape, w.split())) for w, wrap in alts)
    return re.compile(f"(?<!\\w)(?:{body}){right}") if alts else _NEVER


def _symbols(symbols: list[str]) -> re.Pattern[str]:
    """Compile currency symbols or period words, case-insensitively, not inside a longer word."""
    # One shared lookbehind for the words that start with a letter keeps the search fast.
    lead, other = [], []
    for s in sorted(symbols, key=len, reverse=True):
        (lead if s[0].isalpha() else other).append(re.escape(s) + (_LETTER_AFTER if s[-1].isalpha() else ""))
    return re.compile(f"{_LETTER_BEFORE}(?:{'|'.join(lead) or '(?!)'})|(?:{'|'.join(other) or '(?!)'})", re.I)


# -- sections --------------------------------------------------------------------------------------------

def _stacks(data: dict[str, Any]) -> dict[str, Any]:
    labels, aliases, entries = _labelled(data, "stacks", tag_key)
    words: dict[str, str] = {}
    ci, cased = [], []
    for tag, entry in entries.items():
        for word in _strs(entry.get("title_words"), f"stacks.{tag}.title_words"):
            _claim(words, word_key(word).casefold(), tag, f"stacks.{tag}.title_words")
            ci.append(word)
        for word in _strs(entry.get("title_words_cased"), f"stacks.{tag}.title_words_cased"):
            _claim(words, word_key(word), tag, f"stacks.{tag}.title_words_cased")
            cased.append(word)
    # "Go-to-market" and "C" in "C++" must not count: no word character, +, # or "-word" may follow.
    return dict(stacks=tuple(labels), stack_labels=_ro(labels), stack_aliases=_ro(aliases),
                stack_title=_alternation(ci, cased, right=r"(?![\w+#]|-\w)"), stack_title_words=_ro(words))


def _levels(data: dict[str, Any]) -> dict[str, Any]:
    labels, aliases, entries = _labelled(data, "levels", lambda alias: phrase_key(alias).casefold())
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
    labels, _, regions = _labelled(data, "regions", str.casefold)
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
            place = Place(tuple(sorted(names)), city)
            _claim(cased, key, place, where) if is_cased else _claim(ci, key.casefold(), place, where)

    utc: dict[str, tuple[float, float]] = {}
    for name, entry in regions.items():
        if (span := entry.get("utc")) is not None:
            if not isinstance(span, list) or len(span) != 2 or span[0] > span[1]:
                raise ConfigError(f"regions.{name}.utc must be [low, high]")
            utc[name] = tuple(_number(x, f"regions.{name}.utc", -12, 14) for x in span)
        add(_strs(entry.get("words"), f"regions.{name}.words"), [name], f"regions.{name}.words")
        add(_strs(entry.get("words_cased"), f"regions.{name}.words_cased"), [name], f"regions.{name}.words_cased",
            is_cased=True)
    for key, is_cased in (("region_groups", False), ("region_groups_cased", True)):
        for phrase, names in (data.get(key) or {}).items():
            add([phrase], _strs(names, f"{key}.{phrase}"), key, is_cased=is_cased)
    codes: dict[str, dict[str, str]] = {"countries": {}, "subdivisions": {}}
    for key, table in codes.items():
        for region in _table(data, key):
            add([], [region], f"{key}.{region}")
            for code, names in _table(data[key], region, f"{key}.").items():
                if not re.fullmatch(r"[A-Z]{2}", code):
                    raise ConfigError(f"{key}.{region}.{code}: codes are two capital letters")
                _claim(table, code, region, f"{key}.{region}")
                add(_strs(names, f"{key}.{region}.{code}"), [region], f"{key}.{region}.{code}")
    for region, names in _table(data, "cities").items():
        add(_strs(names, f"cities.{region}"), [region], f"cities.{region}", city=True)
    offsets = {abbr: _number(v, f"timezones.{abbr}", -12, 14) for abbr, v in _table(data, "timezones").items()}
    if not all(re.fullmatch(r"[A-Z]{2,5}", abbr) for abbr in offsets):
        raise ConfigError("timezones: abbreviations are 2 to 5 capital letters")
    remote = _strs(_table(data, "remote_only").get("words"), "remote_only.words")
    return dict(regions=tuple(labels), region_labels=_ro(labels), region_utc=_ro(utc),
                places=_ro(ci), places_cased=_ro(cased), place_max_words=max(len(k.split()) for k in [*ci, *cased]),
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


def _money(data: dict[str, Any]) -> dict[str, Any]:
    aliases: dict[str, str] = {}
    rates: dict[str, float] = {}
    for code, entry in _table(data, "currencies", of_tables=True).items():
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise ConfigError(f"currencies.{code}: codes are three capital letters")
        rates[code] = _number(entry.get("usd_rate"), f"currencies.{code}.usd_rate", 1e-9, 1e6)
        for symbol in [code, *_strs(entry.get("symbols"), f"currencies.{code}.symbols")]:
            _claim(aliases, symbol.strip().casefold(), code, f"currencies.{code}.symbols")
    periods = _table(data, "periods", of_tables=True)
    if sorted(periods) != sorted(PERIODS):
        raise ConfigError(f"[periods] must define exactly: {', '.join(PERIODS)}")
    factors: dict[str, int] = {}
    words: dict[str, str] = {}
    for period in PERIODS:
        entry = periods[period]
        factors[period] = int(_number(entry.get("factor"), f"periods.{period}.factor", 1, 10_000))
        for word in [period, *_strs(entry.get("words"), f"periods.{period}.words")]:
            _claim(words, word.strip().casefold(), period, f"periods.{period}.words")
    salary = _table(data, "salary")
    guess = _table(salary, "guess_period", "salary.")
    if sorted(guess) != ["day", "hour", "month"]:
        raise ConfigError("[salary.guess_period] must set hour, day and month")
    bounds = [(_number(guess[p], f"salary.guess_period.{p}", 1, 1e9), p) for p in ("hour", "day", "month")]
    if [b for b, _ in bounds] != sorted(b for b, _ in bounds):
        raise ConfigError("salary.guess_period must grow from hour to day to month")
    low = _number(salary.get("annual_usd_min"), "salary.annual_usd_min", 0, 1e12)
    high = _number(salary.get("annual_usd_max"), "salary.annual_usd_max", low, 1e12)
    default = _text(salary.get("default_currency"), "salary.default_currency")
    if default not in rates:
        raise ConfigError(f"salary.default_currency {default!r} is not in [currencies]")
    return dict(currencies=tuple(rates), currency_aliases=_ro(aliases), usd_rates=_ro(rates),
                currency_token=_symbols(list(aliases)), period_aliases=_ro(words),
                period_token=_symbols(list(words)), period_factors=_ro(factors),
                period_guess=tuple(bounds), annual_usd_bounds=(low, high), default_currency=default,
                salary_up_to=_alternation(_strs(salary.get("up_to"), "salary.up_to")),
                salary_from=_alternation(_strs(salary.get("from"), "salary.from")),
                salary_ignore=_alternation(_strs(salary.get("ignore"), "salary.ignore")))
