"""Read pay as boards write it: the figures, their currency and period, annualised in the listing's own currency.

A figure's currency and period are the ones written next to it ("$90/hr - $100/hr", "$100,000 - $132,000 cad",
"€4,000 gross per month"); a period word elsewhere in the text belongs to something else ("plus monthly bonus").
Text that is not pay ("UTC-1 to UTC+3", "50/50 profit share", "$2,500 per course", "-1") gives no salary. Nothing
here guesses: with no period the figures are annual only when they are plausible as a year's pay, otherwise they
are shown as written and never compared with a subscriber's floor.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from .errors import NormaliseError
from .money import WEAK, Money
from .validation import quote as _quote

# An amount: digits with group separators (93,400 / 4.000 / 120 000 / Indian 18,00,000) or a decimal part.
_AMOUNT = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)*(?:[ \u00a0\u202f'’]\d{3}(?!\d))*)")
_RANGE = re.compile(r"\s*(?:-+|–|—|~|to|and|bis|a|até|hasta|till?|through)\s*", re.IGNORECASE)
_RATIO = re.compile(r"\s*[/:]\s*\d")  # "50/50", "24:7": not an amount
_RATIO_BEFORE = re.compile(r"\d\s*[/:]\s*$")
_GAP_BEFORE_END = re.compile(r"[\s(:]{1,3}$")
_SPACES = re.compile(r"[ \t\u00a0]{0,2}")
_ZONE = re.compile(r"(?i)(?<![^\W\d_])(?:utc|gmt)\s*[+±-]\s*\d{1,2}(?::?\d\d)?")
_NOT_STATED = {"", "0", "-1", "nan", "none", "null", "n/a", "na", "-", "tbd", "tba"}
_LEAST_FIGURE_USD = 10  # below this a figure is no wage for any period ("$1")
MEMO = 8192  # distinct texts each reader remembers per process (salaries, locations, titles, tags repeat)
NO_CURRENCY_MIN = 10_000  # with no currency and no period, smaller figures cannot be told from anything else


@dataclass(frozen=True)
class Salary:
    """Pay annualised in its own currency, with the figures and period as stated; None where unknown."""

    min_annual: int | None
    max_annual: int | None
    currency: str | None
    period: str | None
    raw_min: float | None
    raw_max: float | None


@dataclass
class _Figure:
    start: int  # the figure with its currency and period
    end: int
    value: float
    multiplied: float | None = None  # the k/M/lakh it carried
    code: str | None = None  # a currency named next to it
    weak: bool = False  # only a bare "$" next to it
    period: str | None = None
    not_pay: bool = False


Warn = Callable[[str], None]


def parse_salary(*, text: str | None = None, min_: object = None, max_: object = None, currency: str | None = None,
                 period: str | None = None, money: Money, warn: Warn | None = None) -> Salary | None:
    """Read pay from structured fields and/or a raw text; None when none is stated.

    Raises NormaliseError when pay is given but cannot be used (the caller leaves the salary out and says why);
    `warn` hears about a field that was dropped while the rest of the salary stands.
    """
    warn = warn or (lambda _msg: None)
    low, high = _structured(min_, "salary_min"), _structured(max_, "salary_max")
    code = _field_currency(currency, money, warn)
    per = _field_period(period, money, warn)
    text_code = text_weak = text_per = None
    ends: tuple[str | None, str | None] = (None, None)
    if text is not None and str(text).strip():
        try:
            read = _read_text(str(text), money)
        except NormaliseError:
            if low is None and high is None:
                raise
            read = None  # the structured figures stand; the text only adds what they lack
        if read:
            t_low, t_high, text_code, text_weak, text_per, ends = read
            if low is None and high is None:
                low, high = t_low, t_high
            else:
                ends = (None, None)
    if low is None and high is None:
        return None
    code = code or text_code or ("USD" if text_weak else None)
    if per is None and ends[0] and ends[1] and ends[0] != ends[1]:
        # "$5,000/month - $80,000/year": each end keeps its own unit, the range is stated per year.
        low, high = (None if v is None else v * money.period_factors[p] for v, p in zip((low, high), ends))
        per = "year"
    per = per or text_per
    return _checked(low, high, code, per, money, str(text or "") or _show(high or low))


def _checked(low: float | None, high: float | None, code: str | None, per: str | None, money: Money,
             raw: str) -> Salary:
    shown = _quote(raw)
    if low is not None and high is not None:
        if low > high:
            raise NormaliseError(f"salary minimum {_show(low)} is above the maximum {_show(high)}")
        if high > low * money.max_range_ratio:
            raise NormaliseError(f"salary {shown} spans {_show(low)} to {_show(high)}: not a pay range, left out")
    top = high if high is not None else low
    rate = money.usd_rate(code)
    if per is None:
        if code is None:
            if not NO_CURRENCY_MIN <= top <= money.no_currency_max:
                raise NormaliseError(f"salary {shown} names neither a currency nor a period, left out")
            per = "year"
        elif rate is not None and top * rate >= money.assume_year_min_usd:
            per = "year"
        else:
            if rate is not None and top * rate < _LEAST_FIGURE_USD:
                raise NormaliseError(f"salary {shown} is too small to be pay, left out")
            return Salary(None, None, code, None, low, high)  # shown as written; never compared with a floor
    factor = money.period_factors[per]
    least, most = money.annual_usd_bounds
    if code is None:
        rate, most = 1.0, money.no_currency_max
    for value in (low, high):
        if value is not None and rate is not None and not least <= value * factor * rate <= most:
            what = f"{code} " if code else ""
            raise NormaliseError(
                f"salary {_show(value)} {what}per {per} is about {_about(value * factor * rate)} "
                f"{'USD ' if code else ''}a year, outside {least:,.0f}-{most:,.0f}; left out")
    annual = (None if v is None else round(v * factor) for v in (low, high))
    return Salary(*annual, currency=code, period=per, raw_min=low, raw_max=high)


# -- the raw text ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=MEMO)
def _read_text(text: str, money: Money):
    """Return (low, high, code, weak, period, (period of each end)) of the first pay figure(s), or None."""
    clean = unicodedata.normalize("NFKC", text).replace("\u2212", "-")
    if clean.strip().casefold() in _NOT_STATED or not any(ch.isdigit() for ch in clean):
        return None
    clean = _blank(_blank(clean, money.ignore), _ZONE)
    if not any(ch.isdigit() for ch in clean):
        raise NormaliseError(f"salary {_quote(text)} is not pay, left out")
    figures = _figures(clean, money)
    for group in _groups(clean, figures):
        if any(f.not_pay for f in group):
            continue
        return _group(clean, group, money)
    raise NormaliseError(f"salary {_quote(text)} is not pay, left out")


def _figures(clean: str, money: Money) -> list[_Figure]:
    figures = []
    for a in _AMOUNT.finditer(clean):
        start, end = a.span(1)
        f = _Figure(start, end, _number(a[1]))
        if clean[end:end + 1] == "%" or _RATIO.match(clean, end) or _RATIO_BEFORE.search(clean, max(0, start - 4), start):
            f.not_pay = True
        mult = money.multiplier.match(clean, end)
        if mult:
            word = mult["mult"]
            f.multiplied = money.multipliers.get(word) or money.multipliers[word.casefold()]
            f.period = "year" if word.casefold() == "lpa" else None  # lakh per annum
            f.end = end = mult.end()
        # A currency right before the figure (dictionary lookups of the few characters there, not a text scan).
        gap = _GAP_BEFORE_END.search(clean, max(0, start - 3), start)
        before = money.before(clean, gap.start() if gap else start)
        if before:
            f.weak = before[1] == WEAK
            f.start, f.code = before[0], None if f.weak else money.written(before[1])
        else:
            letter = money.letters.search(clean, max(0, start - 2), start + 1)  # "R50,000", "p 50,000"
            if letter and letter.end() == start:
                f.start, f.code = letter.start(), money.letter_codes[letter["letter"].casefold()]
        at = _SPACES.match(clean, end).end()
        after = money.after(clean, at)  # ... or right after it ("$148,900 sgd", "1,800€")
        if after:
            f.end = at + len(after)
            if after != WEAK:
                f.code = money.written(after)
            f.weak = f.weak or after == WEAK
        per = money.period_after.match(clean, f.end)
        if per:
            f.period, f.end = money.period_aliases[_fold(per["period"])], per.end()
        if money.not_pay_after.match(clean, f.end) or money.not_pay_before.search(clean, max(0, f.start - 30), f.start):
            f.not_pay = True
        figures.append(f)
    return figures


def _groups(clean: str, figures: list[_Figure]) -> list[list[_Figure]]:
    """Chain figures joined by a range word ("-", "to", "and") into ranges; the rest stand alone."""
    groups: list[list[_Figure]] = []
    for f in figures:
        if groups and _RANGE.fullmatch(clean, groups[-1][-1].end, f.start):
            groups[-1].append(f)
        else:
            groups.append([f])
    return groups


def _group(clean: str, group: list[_Figure], money: Money):
    first, last = group[0], group[-1]
    low, high = first.value * (first.multiplied or 1), last.value * (last.multiplied or 1)
    if len(group) == 1:
        if money.up_to.search(clean, max(0, first.start - 25), first.start):
            low = None
        elif money.from_.search(clean, max(0, first.start - 25), first.start) or clean[last.end:last.end + 1] == "+":
            high = None
    elif first.multiplied is None and last.multiplied and first.value < 1000:
        low = first.value * last.multiplied  # "$65-105k", "£50-60k"
    elif last.multiplied is None and first.multiplied and last.value < 1000:
        high = last.value * first.multiplied
    elif first.multiplied is None and last.multiplied is None and low < 1000 <= high and low * 1000 <= high:
        low *= 1000  # "$75-85,000"
    code = next((f.code for f in group if f.code), None)
    weak = any(f.weak for f in group)
    if code is None and not weak:
        # "Salary (EUR): 50-60k": a currency named elsewhere in the text, when it is the only one.
        named = {money.code(t.group()) for t in money.token.finditer(clean) if t.group() != WEAK}
        code = named.pop() if len(named) == 1 else None
    ends = (first.period, last.period)
    per = first.period or last.period
    if per is None:
        label = money.label.search(clean, 0, first.start)
        per = money.period_aliases[_fold(label["period"])] if label else None
    return low, high, code, weak, per, ends


# -- structured fields ----------------------------------------------------------------------------------------

def _structured(value: object, what: str) -> float | None:
    """A salary figure from its own field: a JSON number or a numeric text; 0, -1, nan and empty are unstated."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.casefold() in _NOT_STATED:
            return None
        digits = re.sub(r"[^\d.,\-]", "", text)
        scale = {"k": 1e3, "m": 1e6}.get(text.rstrip(" .").casefold()[-1:], 1.0)  # "120k", "1.2M"
        try:
            number = _number(digits.lstrip("-")) * scale * (-1 if digits.startswith("-") else 1) if digits else None
        except ValueError:
            number = None
        if number is None:
            raise NormaliseError(f"{what} {_quote(text)} is not a number, salary left out")
    elif isinstance(value, (int, float)):
        number = float(value) if not isinstance(value, int) or abs(value) < 10**300 else math.inf
    else:
        raise NormaliseError(f"{what} must be a number, salary left out")
    if math.isnan(number) or number in (0, -1):
        return None
    if not math.isfinite(number) or number < 0:
        raise NormaliseError(f"{what} {_show(number)} is not a salary figure, salary left out")
    return number


def _field_currency(value: str | None, money: Money, warn: Warn) -> str | None:
    if value is None or not str(value).strip() or str(value).strip().casefold() in _NOT_STATED:
        return None
    code = money.code(str(value))
    if code is None:
        warn(f"salary_currency {_quote(str(value))} is not a currency we know, left out")
    return code


def _field_period(value: str | None, money: Money, warn: Warn) -> str | None:
    if value is None or not str(value).strip() or str(value).strip().casefold() in _NOT_STATED:
        return None
    text = str(value).strip()
    period = money.period_aliases.get(_fold(text))
    found = None if period else money.period_after.match(text)
    if found:
        period = money.period_aliases[_fold(found["period"])]
    if period is None:
        warn(f"salary_period {_quote(text)} is not one of {', '.join(money.period_factors)}, left out")
    return period


# -- small helpers ------------------------------------------------------------------------------------------

def _number(digits: str) -> float:
    """Read "93,400", "4.000", "120 000", "18,00,000", "1.5" or "1.234,56" as a number."""
    digits = re.sub(r"[ \u00a0\u202f'’]", "", digits)
    if "," in digits and "." in digits:
        decimal = max(",", ".", key=digits.rfind)
        return float(digits.replace("." if decimal == "," else ",", "").replace(decimal, "."))
    for sep in ",.":
        parts = digits.split(sep)
        if len(parts) > 1:
            # One separator before exactly three digits groups thousands; otherwise it marks decimals.
            grouped = len(parts) > 2 or len(parts[-1]) == 3
            return float("".join(parts) if grouped else ".".join(parts))
    return float(digits)


def _blank(text: str, pattern: re.Pattern[str]) -> str:
    """Replace each match with spaces of the same length, so positions stay valid."""
    return pattern.sub(lambda m: " " * len(m.group()), text)


def _fold(word: str) -> str:
    return " ".join(word.casefold().replace("-", " ").split())


def _show(value: float) -> str:
    if not math.isfinite(value) or abs(value) >= 1e15:  # 300 digits would drown the report line
        return f"{value:.3g}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _about(value: float) -> str:
    return f"{value:.3g}" if not math.isfinite(value) or abs(value) >= 1e15 else f"{value:,.0f}"


# -- showing it -----------------------------------------------------------------------------------------------

def format_salary(salary: Salary, money: Money) -> str:
    """Show pay as the listing gave it: "CA$100k–132k / year", "€4,000–5,200 / month", "₱50,000 (period not stated)"."""
    code, per = salary.currency, salary.period
    sign = (money.symbols.get(code) or f"{code} ") if code else ""

    def amount(x: float) -> str:
        if per == "year" and x >= 1_000_000:
            return f"{x / 1_000_000:,.1f}M".replace(".0M", "M")
        if per == "year" and x >= 1000:
            k = x / 1000
            return f"{k:,.0f}k" if k >= 100 or k == int(k) else f"{k:,.1f}k"
        return f"{x:,.0f}" if x >= 100 or x == int(x) else f"{x:,.2f}"

    lo, hi = salary.raw_min, salary.raw_max
    if lo and hi and lo != hi:
        text = f"{sign}{amount(lo)}–{amount(hi)}"
    elif lo and not hi:
        text = f"from {sign}{amount(lo)}"
    elif hi and not lo:
        text = f"up to {sign}{amount(hi)}"
    else:
        text = f"{sign}{amount(lo or hi)}"
    return f"{text} / {per}" if per else f"{text} (period not stated)"


def annual_usd(amount: int | None, currency: str | None, money: Money) -> int | None:
    """Convert an annual amount to approximate US dollars; None when missing or the currency has no rate."""
    rate = money.usd_rate(currency)
    return None if amount is None or rate is None else round(amount * rate)
