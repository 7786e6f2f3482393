"""One listing as a board sends it: the required fields checked strictly, every optional field read leniently.

A record is refused only when a required field (id, title, company, url, posted_at) is unusable. A bad optional
field (a salary text we cannot read, an unknown level word, 300 tags, a date that is not one) is dropped with a
warning and the listing is kept: one odd column of a real export must not cost the job.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, Callable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from . import facets, normalise
from .errors import NormaliseError
from .salary import format_salary, parse_salary
from .taxonomy import Taxonomy
from .validation import quote, refuse_nul

# Dates outside these years are typos (or numbers read as Unix time); they would also overflow on the way to UTC.
YEARS = (1990, 2100)
MAX_TAGS = 200  # raw stack tags read from one record
MAX_TAG = 100  # characters in one raw stack tag
MAX_TAGS_TEXT = 4000  # characters of a comma-separated stack text
MAX_LOCATION = 500
MAX_DESCRIPTION = 20000
MAX_SHORT = 100  # level, salary_currency, salary_period, employer_type, role_type
MAX_SALARY_TEXT = 300
REQUIRED = ("id", "title", "company", "url", "posted_at")
OPTIONAL = ("verified", "verified_at", "expires_at", "stack", "level", "location", "salary", "salary_min",
            "salary_max", "salary_currency", "salary_period", "employer_type", "role_type", "description")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")
_BOOL = TypeAdapter(bool)
_DATETIME = TypeAdapter(datetime)

Warn = Callable[[str], None]


def _date_text(v: Any) -> Any:
    # A bare number would be read as Unix time ("20261120" -> 1970-08-23); the contract is ISO 8601.
    if isinstance(v, (int, float)) or isinstance(v, str) and v.strip().replace(".", "", 1).isdigit():
        raise ValueError(f"{str(v)[:40]!r} is not an ISO 8601 date or time (e.g. 2026-11-20T10:00:00Z)")
    return v


def _utc(v: datetime) -> datetime:
    if not YEARS[0] <= v.year <= YEARS[1]:
        raise ValueError(f"{v.date().isoformat()} is outside the years {YEARS[0]}-{YEARS[1]}")
    # Boards that omit the offset publish in UTC.
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v


class ListingIn(BaseModel):
    """The required fields, strictly bounded; the optional ones ride along raw in `extra`."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=1000)
    company: str = Field(min_length=1, max_length=300)
    url: str = Field(max_length=2000)
    posted_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        refuse_nul({k: data.get(k) for k in REQUIRED})
        return {k: v for k, v in data.items() if v is not None and (k in REQUIRED or k in OPTIONAL)}

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        if _SPACE_OR_CONTROL.search(v):
            raise ValueError("must not contain spaces or control characters")
        return v

    @field_validator("posted_at", mode="before")
    @classmethod
    def _iso_text(cls, v: Any) -> Any:
        return _date_text(v)

    @field_validator("posted_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return _utc(v)


def normalised_fields(rec: ListingIn, taxonomy: Taxonomy, warn: Warn) -> dict:
    """Turn a validated record into the listing's stored columns; each unusable optional field is warned about."""
    opt = _Optional(rec, warn)
    title = rec.title
    tags = opt.tags()
    description = opt.text("description", MAX_DESCRIPTION, cut=True)
    location = opt.text("location", MAX_LOCATION)
    salary = None
    try:
        salary = parse_salary(text=opt.text("salary", MAX_SALARY_TEXT, numbers=True), min_=opt.raw("salary_min"),
                              max_=opt.raw("salary_max"), currency=opt.text("salary_currency", MAX_SHORT),
                              period=opt.text("salary_period", MAX_SHORT), money=taxonomy.money, warn=warn)
    except NormaliseError as e:
        warn(str(e))
    level = None
    raw_level = opt.text("level", MAX_SHORT)
    try:
        level = normalise.normalise_level(raw_level, title, taxonomy)
    except NormaliseError as e:
        warn(f"{e}; read from the title instead")
        level = normalise.normalise_level(None, title, taxonomy)
    return dict(
        title=title,
        company=rec.company,
        url=rec.url,
        posted_at=rec.posted_at,
        verified=opt.flag("verified"),
        _verified_at=opt.date("verified_at"),
        expires_at=opt.date("expires_at"),
        stack=normalise.normalise_stack(tags, title, taxonomy),
        level=level,
        regions=(normalise.normalise_regions(location, taxonomy) if location
                 else normalise.title_regions(title, taxonomy)),
        location=location,
        salary_min=salary.min_annual if salary else None,
        salary_max=salary.max_annual if salary else None,
        salary_currency=salary.currency if salary else None,
        salary_period=salary.period if salary else None,
        salary_display=format_salary(salary, taxonomy.money) if salary else None,
        employer_type=opt.facet(facets.employer_type, "employer_type", rec.company, description, taxonomy=taxonomy),
        role_type=opt.facet(facets.role_type, "role_type", title, tags, description, taxonomy=taxonomy),
        description=description,
        raw_tags=tags[:50],
        repost_key=normalise.repost_key(rec.company, title),
    )


class _Optional:
    """Read optional fields one by one; a value that cannot be used is dropped with one warning."""

    def __init__(self, rec: ListingIn, warn: Warn):
        self.extra, self.warn, self._said = rec.model_extra or {}, warn, set()

    def _drop(self, name: str, why: str) -> None:
        if name not in self._said:
            self._said.add(name)
            self.warn(f"{name} {why}, left out")

    def raw(self, name: str) -> Any:
        value = self.extra.get(name)
        if value is None:
            return None
        if isinstance(value, str) and "\x00" in value:
            self._drop(name, "contains a NUL character")
            return None
        if isinstance(value, str) and not _unicode(value):
            self._drop(name, "is not valid Unicode text (a lone surrogate)")
            return None
        if isinstance(value, (dict, list)) and name != "stack":
            self._drop(name, f"is a JSON {type(value).__name__}, not a value")
            return None
        return value

    def text(self, name: str, limit: int, *, cut: bool = False, numbers: bool = False) -> str | None:
        value = self.raw(name)
        if value is None or isinstance(value, str):
            pass
        elif numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = "" if isinstance(value, float) and math.isnan(value) else str(value)  # RemoteOK: "salary": 0
        else:
            self._drop(name, f"is a JSON {type(value).__name__}, not text")
            return None
        value = (value or "").strip()
        if len(value) > limit:
            if cut:
                self.warn(f"{name} is {len(value):,} characters; the first {limit:,} were kept")
                return value[:limit]
            self._drop(name, f"is {len(value):,} characters, more than {limit:,}")
            return None
        return value or None

    def tags(self) -> list[str]:
        value = self.raw("stack")
        if value is None:
            return []
        if isinstance(value, str):
            if len(value) > MAX_TAGS_TEXT:
                self.warn(f"stack is {len(value):,} characters; the first {MAX_TAGS_TEXT:,} were read")
                value = value[:MAX_TAGS_TEXT]
            value = value.split(",")
        elif not isinstance(value, list):
            self._drop("stack", f"is a JSON {type(value).__name__}, not a list or text")
            return []
        tags = [t.strip() for t in value if isinstance(t, str) and t.strip() and "\x00" not in t and _unicode(t)]
        if len(tags) < sum(1 for t in value if t not in (None, "")):
            self.warn("stack: tags that are not text were skipped")
        if any(len(t) > MAX_TAG for t in tags):
            self.warn(f"stack: tags longer than {MAX_TAG} characters were skipped")
            tags = [t for t in tags if len(t) <= MAX_TAG]
        if len(tags) > MAX_TAGS:
            self.warn(f"stack has {len(tags):,} tags; the first {MAX_TAGS} were read")
            tags = tags[:MAX_TAGS]
        return tags

    def flag(self, name: str) -> bool:
        value = self.raw(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return False
        try:
            return _BOOL.validate_python(value.strip() if isinstance(value, str) else value)
        except ValidationError:
            self._said.add(name)
            self.warn(f"{name} {quote(str(value))} is not true or false; the listing counts as not verified")
            return False

    def date(self, name: str) -> datetime | None:
        value = self.raw(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            return _utc(_DATETIME.validate_python(_date_text(value)))
        except (ValidationError, ValueError, OverflowError):
            self._drop(name, f"{quote(str(value))} is not an ISO 8601 date or time (e.g. 2026-11-20T10:00:00Z)")
            return None

    def facet(self, infer: Callable[..., str | None], name: str, *args: Any, taxonomy: Taxonomy) -> str | None:
        raw = self.text(name, MAX_SHORT)
        try:
            return infer(raw, *args, taxonomy)
        except NormaliseError as e:
            self.warn(f"{e}; inferred instead")
            return infer(None, *args, taxonomy)


def _unicode(text: str) -> bool:
    """Whether a text can be stored: JSON allows lone surrogates ("\\ud800"), UTF-8 and the databases do not."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
