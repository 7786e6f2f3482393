"""Turn a listing's raw fields (tags, level, location, salary) into canonical facets; pure functions."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass

from .errors import NormaliseError
from .taxonomy import WORLDWIDE, Place, Taxonomy, phrase_key, tag_key, word_key

_TAG_SPLIT = re.compile(r"[,;|\n]")
_TAG_PARTS = re.compile(r"[/()]")
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

def normalise_stack(raw: list[str] | str | None, title: str, tax: Taxonomy) -> list[str]:
    """Map raw tags to sorted canonical stacks, falling back to the title when no tag is known."""
    found: set[str] = set()
    for item in raw if isinstance(raw, list) else [raw or ""]:
        for tag in _TAG_SPLIT.split(str(item)):
            key = tag_key(tag)
            # Whole tag first: "ruby/rails" and "c/c++" are aliases in their own right.
            hit = tax.stack_aliases.get(key)
            parts = [hit] if hit else [tax.stack_aliases.get(tag_key(p)) for p in _TAG_PARTS.split(key)]
            found.update(p for p in parts if p)
    if not found and title:
        for match in tax.stack_title.finditer(title):
            key = word_key(match.group())
            found.add(tax.stack_title_words.get(key) or tax.stack_title_words.get(key.casefold(), ""))
    return sorted(found - {""})


def normalise_level(raw: str | None, title: str, tax: Taxonomy) -> str | None:
    """Map a raw level to a canonical one, or infer it from the title when the field is empty."""
    key = phrase_key(raw or "").casefold()
    if key and key not in tax.level_unstated:
        level = tax.level_aliases.get(key) or _level_range(raw, tax)
        if level is None:
            raise NormaliseError(f"unknown level {raw!r}; allowed: {', '.join(tax.levels)}")
        return level
    for level, pattern in tax.level_titles:
        if title and pattern.search(title):
            return level
    return None


def _level_range(raw: str, tax: Taxonomy) -> str | None:
    # "Senior/Lead", "Mid or Senior": every part must be known; the title order picks the most specific.
    parts = {tax.level_aliases.get(phrase_key(p).casefold()) for p in _LEVEL_PARTS.split(raw) if p.strip()}
    if not parts or None in parts:
        return None
    return next(level for level, _ in tax.level_titles if level in parts)


# -- regions --------------------------------------------------------------------------------------------

def normalise_regions(location: str | None, tax: Taxonomy) -> list[str]:
    """Map a raw location to sorted canonical regions; [] when it names none we know."""
    if not location or not location.strip():
        return []
    text = unicodedata.normalize("NFKC", location).replace("\u2212", "-")
    found: set[str] = set()
    text = _timezone_bands(text, tax, found)
    for flag in _FLAG.findall(text):
        code = "".join(chr(ord(c) - 0x1F1E6 + ord("A")) for c in flag)
        if code in tax.country_regions:
            found.add(tax.country_regions[code])
    found.update(_place_regions(text, tax))
    if WORLDWIDE in found:
        return [WORLDWIDE]
    if found:
        return sorted(found)
    # "Remote" or "100% remote - anywhere" with nothing else named means anywhere; "Remote, Mars" is unknown.
    rest = tax.remote_only.sub(" ", text)
    return [WORLDWIDE] if rest != text and not _HAS_LETTER.search(rest) else []


def _timezone_bands(text: str, tax: Taxonomy, found: set[str]) -> str:
    """Add the regions each timezone band meets; return the text with the bands blanked out."""
    spans = []
    for m in tax.tz_band.finditer(text):
        start = _utc_offset(m, 1, m["a1"], tax)
        if m["a2"] or m["h2"]:
            end = _utc_offset(m, 2, m["a2"] or m["a1"], tax)
        elif m["tol"]:
            start, end = start - float(m["tol"]), start + float(m["tol"])
        elif m["h1"]:
            end = start
        else:
            continue  # a bare "CET" is a place word, read with the others
        low, high = min(start, end), max(start, end)
        found.update(name for name, (a, b) in tax.region_utc.items() if a <= high and low <= b)
        spans.append(m.span())
    for a, b in reversed(spans):
        text = text[:a] + " " * (b - a) + text[b:]  # same length, so later spans stay valid
    return text


def _utc_offset(m: re.Match[str], n: int, zone: str, tax: Taxonomy) -> float:
    base = tax.tz_offsets.get(zone.upper(), 0.0)
    if not m[f"h{n}"]:
        return base
    hours = int(m[f"h{n}"]) + int(m[f"m{n}"] or 0) / 60
    return base - hours if m[f"s{n}"] == "-" else base + hours


def _place_regions(text: str, tax: Taxonomy) -> set[str]:
    tokens = list(_TOKEN.finditer(text))
    hits: list[tuple[int, int, Place]] = []
    i = 0
    while i < len(tokens):
        n, hit = 1, _code_after_comma(text, tokens[i], hits, tax)
        if hit is None:
            n, hit = _longest_place(tokens, i, tax)
        if hit:
            hits.append((tokens[i].start(), tokens[i + n - 1].end(), hit))
        i += n if hit else 1
    regions: set[str] = set()
    for k, (_, end, place) in enumerate(hits):
        after = hits[k + 1] if k + 1 < len(hits) else None
        # A city yields to the state or country right after it: "London, ON" is Canada, "Paris, TX" the US.
        if place.city and after and not after[2].city and _COMMA_GAP.fullmatch(text, end, after[0]):
            continue
        regions.update(place.regions)
    return regions


def _longest_place(tokens: list[re.Match[str]], i: int, tax: Taxonomy) -> tuple[int, Place | None]:
    # Longest phrase first, so "New Mexico" is not Mexico and "Papua New Guinea" is one place.
    for n in range(min(tax.place_max_words, len(tokens) - i), 0, -1):
        key = " ".join(t.group() for t in tokens[i:i + n])
        hit = tax.places_cased.get(key) or tax.places.get(key.casefold())
        if hit:
            return n, hit
    return 1, None


def _code_after_comma(text: str, token: re.Match[str], hits: list, tax: Taxonomy) -> Place | None:
    code = token.group()
    if len(code) != 2 or not code.isupper() or not text[:token.start()].rstrip().endswith(","):
        return None
    state, country = tax.subdivision_regions.get(code), tax.country_regions.get(code)
    # "Berlin, DE" is Germany, not Delaware: prefer the country when the city before it agrees.
    if state and country and hits and hits[-1][2].city and country in hits[-1][2].regions:
        state = None
    region = state or country
    return Place((region,), False) if region else None


# -- salary ---------------------------------------------------------------------------------------------

def parse_salary(*, text: str | None = None, min_: float | None = None, max_: float | None = None,
                 currency: str | None = None, period: str | None = None, tax: Taxonomy) -> Salary | None:
    """Read pay from structured fields or a raw text and annualise it; None when no figure is given."""
    low, high = _figure(min_, "minimum"), _figure(max_, "maximum")
    text_currency = text_period = None
    if text and text.strip():
        clean = unicodedata.normalize("NFKC", text).replace("\u2212", "-")
        clean = tax.salary_ignore.sub(" ", clean)
        if low is None and high is None:
            low, high = _amounts(clean, tax)
        found = tax.currency_token.search(clean)
        text_currency = found.group() if found else None
        found = tax.period_token.search(clean)
        text_period = tax.period_aliases[found.group().casefold()] if found else None
    if low is None and high is None:
        return None
    if low is not None and high is not None and low > high:
        raise NormaliseError(f"salary minimum {_show(low)} is above the maximum {_show(high)}")
    code = _currency(currency or text_currency, tax)
    rate = tax.usd_rates[code]
    per = _period(period, tax) if period and period.strip() else text_period
    if per is None:
        # No period stated: guess from the size of the largest figure in USD (thresholds in taxonomy.toml,
        # [salary.guess_period]) so an hourly, daily or monthly rate is never read as a yearly salary.
        top = (high if high is not None else low) * rate
        per = next((p for bound, p in tax.period_guess if top <= bound), "year")
    factor = tax.period_factors[per]
    least, most = tax.annual_usd_bounds
    for value in (low, high):
        if value is not None and not least <= value * factor * rate <= most:
            raise NormaliseError(
                f"salary {_show(value)} {code} per {per} is about {_about(value * factor * rate)} USD a year, outside "
                f"{least:,.0f}-{most:,.0f}; check the amount and the period")
    annual = (None if v is None else round(v * factor) for v in (low, high))
    return Salary(*annual, currency=code, period=per, raw_min=low, raw_max=high)


def _show(value: float) -> str:
    if abs(value) >= 1e15:  # absurd (or infinite): 300 digits would drown the report line
        return f"{value:.3g}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _about(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e15 else f"{value:,.0f}"


def _figure(value: float | str | None, what: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise NormaliseError(f"salary {what} {value!r} is not a number") from e
    if not math.isfinite(number) or number < 0:
        raise NormaliseError(f"salary {what} {value!r} must be a positive number")
    return number or None  # boards write 0 for "not stated"


def _currency(value: str | None, tax: Taxonomy) -> str:
    # A salary naming no currency is taken as the default (USD), like one written with a bare "$".
    if value is None or not value.strip():
        return tax.default_currency
    code = tax.currency_aliases.get(value.strip().casefold())
    if code is None:
        raise NormaliseError(f"unknown currency {value!r}; known: {', '.join(tax.currencies)}")
    return code


def _period(value: str, tax: Taxonomy) -> str:
    period = tax.period_aliases.get(value.strip().casefold())
    found = None if period else tax.period_token.search(value)
    if found:
        period = tax.period_aliases[found.group().casefold()]
    if period is None:
        raise NormaliseError(f"unknown salary period {value!r}; allowed: {', '.join(tax.period_factors)}")
    return period


def _amounts(text: str, tax: Taxonomy) -> tuple[float | None, float | None]:
    """Return the (min, max) figures of a salary text: a range, "up to X", "from X", "X+" or one figure."""
    found = [m for m in _AMOUNT.finditer(text) if not text[m.end():].lstrip().startswith("%")]
    if not found:
        return None, None
    first = found[0]
    value, mult = _number(first[1]), _MULTIPLIERS.get((first[2] or "").lower(), 1.0)
    if len(found) > 1 and _RANGE.fullmatch(tax.currency_token.sub("", text[first.end():found[1].start()])):
        second, mult2 = _number(found[1][1]), _MULTIPLIERS.get((found[1][2] or "").lower(), 1.0)
        # "$65-105k", "£50-60k": a k on one end applies to a bare small figure on the other.
        if mult == 1.0 and mult2 > 1.0 and value < 1000:
            mult = mult2
        elif mult2 == 1.0 and mult > 1.0 and second < 1000:
            mult2 = mult
        return value * mult, second * mult2
    value *= mult
    if tax.salary_up_to.search(text, 0, first.start()):
        return None, value
    if tax.salary_from.search(text, 0, first.start()) or text[first.end():first.end() + 1] == "+":
        return value, None
    return value, value


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


def annual_usd(amount: int | None, currency: str, tax: Taxonomy) -> int | None:
    """Convert an annual amount to approximate US dollars; None when missing or the currency is unknown."""
    rate = tax.usd_rate(currency)
    return None if amount is None or rate is None else round(amount * rate)


# -- titles and reposts ---------------------------------------------------------------------------------

def normalise_title(title: str) -> str:
    """Fold a title (or company) to lowercase words, keeping level words and "c++"/"c#"."""
    return " ".join(_TITLE_WORD.findall(unicodedata.normalize("NFKC", title or "").casefold()))


def repost_key(company: str, title: str) -> int:
    """Hash company and title into a stable non-negative int that fits a signed 64-bit column."""
    data = f"{normalise_title(company)}\x1f{normalise_title(title)}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") & (2**63 - 1)


# -- subscriber preferences -----------------------------------------------------------------------------

def canonical_stack_pref(value: str, tax: Taxonomy) -> str:
    """Map a stack a subscriber typed (tag, alias or display name) to its canonical tag."""
    found = tax.stack_aliases.get(tag_key(value or ""))
    if found is None:
        raise NormaliseError(f"unknown stack {value!r}; allowed: {', '.join(tax.stacks)}")
    return found


def canonical_level_pref(value: str, tax: Taxonomy) -> str:
    """Map a level a subscriber typed (name, alias or display name) to its canonical name."""
    found = tax.level_aliases.get(phrase_key(value or "").casefold())
    if found is None:
        raise NormaliseError(f"unknown level {value!r}; allowed: {', '.join(tax.levels)}")
    return found


def canonical_region_pref(value: str, tax: Taxonomy) -> str:
    """Map a region a subscriber typed (name, display name or a place in one region) to its canonical name."""
    text = (value or "").strip().casefold()
    for name in tax.regions:
        if text in (name, tax.region_label(name).casefold()):
            return name
    key = phrase_key(value or "")
    place = tax.places_cased.get(key) or tax.places.get(key.casefold())
    if place and len(place.regions) == 1:
        return place.regions[0]
    several = f" ({value} spans {', '.join(place.regions)}: choose one)" if place else ""
    raise NormaliseError(f"unknown region {value!r}{several}; allowed: {', '.join(tax.regions)}")
