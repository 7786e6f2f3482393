"""Load what the salary reader knows: ISO 4217 currencies (pycountry) with their symbols (babel), the taxonomy's
own spellings, periods and word lists, and the dated US dollar rates table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import pycountry
from babel.numbers import get_currency_symbol

from .datafile import alternation, number, read_toml, strs, table, text
from .errors import ConfigError

PERIODS = ("year", "month", "week", "day", "hour")
WEAK = "$"  # a bare dollar sign: US dollars unless a code or a more specific symbol says otherwise
_ro = MappingProxyType
_LETTER_BEFORE, _LETTER_AFTER = r"(?<![^\W\d_])", r"(?![^\W\d_])"


@dataclass(frozen=True, eq=False)
class Money:
    """Currencies and their spellings, periods, multipliers and the salary word lists, compiled."""

    currencies: frozenset[str]  # every current ISO 4217 code
    aliases: Mapping[str, str]  # casefolded code, symbol or name -> code
    lower_codes: frozenset[str]  # codes that also count written in lower case ("usd", "cad")
    longest: int  # characters in the longest spelling
    token: re.Pattern[str]  # a spelling of a currency next to an amount
    letters: re.Pattern[str]  # "R50,000", "P 50,000": one letter right before the digits
    letter_codes: Mapping[str, str]
    symbols: Mapping[str, str]  # code -> the symbol a card shows ("CA$", "₱"), when it has one
    usd_rates: Mapping[str, float]
    rates_as_of: date
    period_aliases: Mapping[str, str]
    period_factors: Mapping[str, int]
    multipliers: Mapping[str, float]
    multiplier: re.Pattern[str]
    annual_usd_bounds: tuple[float, float]
    no_currency_max: float
    assume_year_min_usd: float
    max_range_ratio: float
    up_to: re.Pattern[str]
    from_: re.Pattern[str]
    period_after: re.Pattern[str]  # glue then a period word, right after a figure
    label: re.Pattern[str]  # a period word labelling the figures before them ("Monthly salary:")
    not_pay_after: re.Pattern[str]
    not_pay_before: re.Pattern[str]
    ignore: re.Pattern[str]

    def code(self, spelling: str) -> str | None:
        """Return the ISO code a spelling names ("cad", "CA$", "₱"), or None."""
        return self.aliases.get(spelling.strip().casefold())

    def written(self, spelling: str) -> str | None:
        """The code a spelling names as written next to a figure: a code counts in capitals (or in lower case
        for the common ones), a symbol or name in any case; None for anything else."""
        folded = spelling.casefold()
        code = self.aliases.get(folded)
        if code and folded.upper() in self.currencies and not (spelling.isupper() or folded in self.lower_codes):
            return None
        return code

    def before(self, text: str, end: int) -> tuple[int, str] | None:
        """The currency spelled right before `end` ("CA$", "usd ", "pounds sterling"): (start, spelling)."""
        for n in range(min(self.longest, end), 0, -1):
            start = end - n
            spelling = text[start:end]
            if self.written(spelling) and not (spelling[0].isalpha() and start and text[start - 1].isalpha()):
                return start, spelling
        return None

    def after(self, text: str, start: int) -> str | None:
        """The currency spelled right at `start` ("sgd", "€", "EUR"), when it is a whole word."""
        for n in range(min(self.longest, len(text) - start), 0, -1):
            spelling = text[start:start + n]
            end = start + n
            if self.written(spelling) and not (spelling[-1].isalpha() and end < len(text) and text[end].isalpha()):
                return spelling
        return None

    def usd_rate(self, currency: str | None) -> float | None:
        """Return US dollars per unit of a currency code, or None when the rates table lacks it."""
        return self.usd_rates.get(currency) if currency else None


def load_money(data: dict[str, Any], path: Path) -> Money:
    """Compile the [currencies], [periods] and [salary] sections and the rates file beside the taxonomy."""
    cur = table(data, "currencies")
    codes = frozenset(c.alpha_3 for c in pycountry.currencies)
    aliases: dict[str, str] = {}
    symbols: dict[str, str] = {}

    def claim(spelling: str, code: str, where: str) -> None:
        if code not in codes:
            raise ConfigError(f"{where}: {code!r} is not an ISO 4217 currency code")
        old = aliases.setdefault(spelling.strip().casefold(), code)
        if old != code:
            raise ConfigError(f"{where}: {spelling!r} already means {old}")

    for code in sorted(codes):
        aliases[code.casefold()] = code
        sign = get_currency_symbol(code, "en")
        if sign != code and sign.casefold() not in aliases:
            aliases[sign.casefold()] = code
            symbols[code] = sign
    locales = cur.get("locale_symbols") or {}
    if not isinstance(locales, dict):
        raise ConfigError("currencies.locale_symbols must be a table of CODE = \"locale\"")
    for code, locale in locales.items():
        sign = get_currency_symbol(code, text(locale, f"currencies.locale_symbols.{code}"))
        if sign != code:
            claim(sign, code, f"currencies.locale_symbols.{code}")  # read, not shown: "zł" goes after the figure
    for code, spellings in table(cur, "symbols", "currencies.").items():
        for spelling in strs(spellings, f"currencies.symbols.{code}"):
            claim(spelling, code, f"currencies.symbols.{code}")
    letter_codes = {}
    for letter, code in table(cur, "letters", "currencies.").items():
        if len(letter) != 1 or not letter.isalpha() or code not in codes:
            raise ConfigError(f"currencies.letters.{letter}: one letter = an ISO 4217 code")
        letter_codes[letter.casefold()] = code
    lower = {c.casefold() for c in strs(cur.get("lower_case_codes"), "currencies.lower_case_codes")}
    spellings = [s for s in aliases if s.upper() not in codes or s in lower]
    token = _spellings(spellings, sorted(codes))
    letters = re.compile(rf"{_LETTER_BEFORE}(?P<letter>[{''.join(letter_codes)}])\s?(?=\d)", re.I)

    periods = table(data, "periods", of_tables=True)
    if sorted(periods) != sorted(PERIODS):
        raise ConfigError(f"[periods] must define exactly: {', '.join(PERIODS)}")
    factors: dict[str, int] = {}
    words: dict[str, str] = {}
    for period in PERIODS:
        entry = periods[period]
        factors[period] = int(number(entry.get("factor"), f"periods.{period}.factor", 1, 10_000))
        for word in [period, *strs(entry.get("words"), f"periods.{period}.words")]:
            old = words.setdefault(word.strip().casefold(), period)
            if old != period:
                raise ConfigError(f"periods.{period}.words: {word!r} already means {old}")

    salary = table(data, "salary")
    low = number(salary.get("annual_usd_min"), "salary.annual_usd_min", 0, 1e12)
    high = number(salary.get("annual_usd_max"), "salary.annual_usd_max", low, 1e12)
    mult = {k: number(v, f"salary.multipliers.{k}", 1, 1e9) for k, v in table(salary, "multipliers", "salary.").items()}
    lists = table(salary, "words", "salary.")
    glue = _words(strs(lists.get("glue"), "salary.words.glue"))
    period_words = _words(list(words))
    not_pay = _words(strs(lists.get("not_pay"), "salary.words.not_pay"))
    return Money(
        currencies=codes, aliases=_ro(aliases), lower_codes=frozenset(lower), longest=max(map(len, aliases)),
        token=token, letters=letters, letter_codes=_ro(letter_codes),
        symbols=_ro(symbols), **_rates(cur, path, codes), period_aliases=_ro(words), period_factors=_ro(factors),
        multipliers=_ro(mult), multiplier=_multiplier(mult), annual_usd_bounds=(low, high),
        no_currency_max=number(salary.get("no_currency_annual_max"), "salary.no_currency_annual_max", low, high),
        assume_year_min_usd=number(salary.get("assume_year_min_usd"), "salary.assume_year_min_usd", 0, high),
        max_range_ratio=number(salary.get("max_range_ratio"), "salary.max_range_ratio", 1, 1000),
        up_to=alternation(strs(lists.get("up_to"), "salary.words.up_to")),
        from_=alternation(strs(lists.get("from"), "salary.words.from")),
        # "€4,000 gross per month", "$90/hr", "(monthly gross package)", "a year": glue words, then the period.
        period_after=re.compile(rf"[\s/(,.:-]*(?:(?:{glue})[\s/(),.:-]+)*?(?P<period>{period_words}){_LETTER_AFTER}",
                                re.I),
        label=re.compile(rf"{_LETTER_BEFORE}(?P<period>{period_words})(?:[\s:,()-]+(?:{glue}))*[\s:,()=-]*$", re.I),
        # "$2,500 per course", "1,800€ per year for flexible benefits", "$5,000 signing bonus", "6 months".
        not_pay_after=re.compile(
            rf"\s*(?:(?:per|for|in|as|on|towards?|of)\s+(?:[^\W\d_][\w-]*\s+){{0,2}}?)?(?:{not_pay}){_LETTER_AFTER}", re.I),
        not_pay_before=re.compile(rf"{_LETTER_BEFORE}(?:{not_pay})(?:\s+(?:of|up to|worth|is|from))?[\s:(=-]*$", re.I),
        ignore=alternation(strs(lists.get("ignore"), "salary.words.ignore")),
    )


def _rates(cur: dict[str, Any], path: Path, codes: frozenset[str]) -> dict[str, Any]:
    where = path.with_name(text(cur.get("rates_file"), "currencies.rates_file"))
    data = read_toml(where, "the rates table")
    as_of = data.get("as_of")
    if not isinstance(as_of, date):
        raise ConfigError(f"{where}: as_of must be a date (as_of = 2026-12-01)")
    rates = {}
    for code, rate in table(data, "rates").items():
        if code not in codes:
            raise ConfigError(f"{where}: rates.{code} is not an ISO 4217 currency code")
        rates[code] = number(rate, f"{where.name}: rates.{code}", 1e-9, 1e6)
    return dict(usd_rates=_ro(rates), rates_as_of=as_of)


def _words(words: list[str]) -> str:
    """An alternation of words and phrases, longest first, a space also matching a hyphen or several spaces."""
    return "|".join(r"[\s-]+".join(map(re.escape, w.split())) for w in sorted(set(words), key=len, reverse=True))


def _spellings(spellings: list[str], codes: list[str]) -> re.Pattern[str]:
    """Currency spellings, case-insensitively, plus every ISO code in capitals, never inside a longer word."""
    lead, other = [], []
    for s in sorted(spellings, key=len, reverse=True):
        (lead if s[0].isalpha() else other).append(re.escape(s) + (_LETTER_AFTER if s[-1].isalpha() else ""))
    capitals = "|".join(codes)
    return re.compile(
        rf"{_LETTER_BEFORE}(?:(?i:{'|'.join(lead)})|{capitals}){_LETTER_AFTER}|(?i:{'|'.join(other)})")


def _multiplier(mult: Mapping[str, float]) -> re.Pattern[str]:
    # One or two letters ("k", "K", "M", "L") as written; words ("lakh", "LPA", "crore") in any case.
    short = [re.escape(k) for k in sorted(mult, key=len, reverse=True) if len(k) <= 2]
    long = [re.escape(k) for k in sorted(mult, key=len, reverse=True) if len(k) > 2]
    return re.compile(rf"\s?(?P<mult>(?i:{'|'.join(long) or '(?!)'})|{'|'.join(short)}){_LETTER_AFTER}")
