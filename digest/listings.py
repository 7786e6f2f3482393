"""Listings in: validate raw records, normalise them into facets, upsert by the board's id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, StatementError
from sqlalchemy.orm import Session

from . import normalise
from .errors import NormaliseError
from .models import Listing
from .readers import Record, Rejected, read_records
from .taxonomy import Taxonomy

BATCH = 500
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "INR": "₹", "BRL": "R$"}
PERIOD_WORDS = {"year": "year", "month": "month", "week": "week", "day": "day", "hour": "hour"}
# Dates outside these years are typos (or numbers read as Unix time); they would also overflow on the way to UTC.
YEARS = (1990, 2100)
MAX_TAG = 100  # characters in one raw stack tag
MAX_TAGS_TEXT = 2000  # characters in a comma-separated stack text


def drop_nulls_and_refuse_nul(data: Any) -> Any:
    """Read a null (or an empty CSV cell) as "not given"; refuse text with NUL, which PostgreSQL cannot store."""
    if not isinstance(data, dict):
        return data
    for k, v in data.items():
        if (isinstance(v, str) and "\x00" in v) or (isinstance(v, list) and any(isinstance(x, str) and "\x00" in x for x in v)):
            raise ValueError(f"{str(k)[:40]} contains a NUL character")
    return {k: v for k, v in data.items() if v is not None}


class ListingIn(BaseModel):
    """One listing as the board sends it: raw fields, loosely typed, strictly bounded."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=1000)
    company: str = Field(min_length=1, max_length=300)
    url: str = Field(max_length=2000)
    posted_at: datetime
    verified: bool = False
    verified_at: datetime | None = None
    expires_at: datetime | None = None
    stack: list[str] | str | None = None
    level: str | None = Field(default=None, max_length=100)
    location: str | None = Field(default=None, max_length=500)
    salary: str | None = Field(default=None, max_length=200)
    salary_min: float | None = None
    salary_max: float | None = None
    salary_currency: str | None = Field(default=None, max_length=10)
    salary_period: str | None = Field(default=None, max_length=20)
    employer_type: str | None = Field(default=None, max_length=50)
    role_type: str | None = Field(default=None, max_length=50)
    description: str | None = Field(default=None, max_length=20000)

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        return drop_nulls_and_refuse_nul(data)

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
        if any(ch.isspace() or ord(ch) < 32 for ch in v):
            raise ValueError("must not contain spaces or control characters")
        return v

    @field_validator("posted_at", "verified_at", "expires_at", mode="before")
    @classmethod
    def _iso_text(cls, v: Any) -> Any:
        # A bare number would be read as Unix time ("20261120" -> 1970-08-23); the contract is ISO 8601.
        if isinstance(v, (int, float)) or isinstance(v, str) and v.strip().replace(".", "", 1).isdigit():
            raise ValueError(f"{str(v)[:40]!r} is not an ISO 8601 date or time (e.g. 2026-11-20T10:00:00Z)")
        return v

    @field_validator("posted_at", "verified_at", "expires_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and not YEARS[0] <= v.year <= YEARS[1]:
            raise ValueError(f"{v.date().isoformat()} is outside the years {YEARS[0]}-{YEARS[1]}")
        # Boards that omit the offset publish in UTC.
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v

    @field_validator("stack", mode="before")
    @classmethod
    def _stack_list(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) > 50:
            raise ValueError("more than 50 tags")
        if isinstance(v, list) and any(isinstance(t, str) and len(t) > MAX_TAG for t in v):
            raise ValueError(f"a tag longer than {MAX_TAG} characters")
        if isinstance(v, str) and len(v) > MAX_TAGS_TEXT:
            raise ValueError(f"longer than {MAX_TAGS_TEXT} characters")
        return v


@dataclass
class ImportReport:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.inserted + self.updated + self.unchanged


def describe_errors(e: ValidationError) -> str:
    """Say what is wrong with a record in one line, without echoing the (maybe huge) input."""
    parts = []
    for err in e.errors()[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "record"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"].startswith(("datetime_", "date_")):
            # pydantic says "input is too short"; an operator needs to hear which format is wanted.
            shown = repr(err["input"])[:42]
            msg = f"{shown} is not an ISO 8601 date or time (e.g. 2026-11-20T10:00:00Z): {msg.split(', ', 1)[-1]}"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def normalised_fields(rec: ListingIn, tax: Taxonomy) -> dict:
    """Turn a validated record into the listing's stored columns (raises NormaliseError)."""
    salary = normalise.parse_salary(
        text=rec.salary, min_=rec.salary_min, max_=rec.salary_max,
        currency=rec.salary_currency, period=rec.salary_period, tax=tax,
    )
    raw_tags = rec.stack if isinstance(rec.stack, list) else [t for t in (rec.stack or "").split(",") if t.strip()]
    return dict(
        title=rec.title,
        company=rec.company,
        url=rec.url,
        posted_at=rec.posted_at,
        verified=rec.verified,
        expires_at=rec.expires_at,
        stack=normalise.normalise_stack(rec.stack, rec.title, tax),
        level=normalise.normalise_level(rec.level, rec.title, tax),
        regions=normalise.normalise_regions(rec.location, tax),
        location=rec.location,
        salary_min=salary.min_annual if salary else None,
        salary_max=salary.max_annual if salary else None,
        salary_currency=salary.currency if salary else None,
        salary_period=salary.period if salary else None,
        salary_display=format_salary(salary) if salary else None,
        employer_type=rec.employer_type,
        role_type=rec.role_type,
        description=rec.description,
        raw_tags=[t.strip() for t in raw_tags][:50],
        repost_key=normalise.repost_key(rec.company, rec.title),
    )


def format_salary(salary: "normalise.Salary") -> str:
    """Show a salary as the listing gave it: "$140k–$180k / year", "€4,000–€5,200 / month"."""
    sign = CURRENCY_SIGNS.get(salary.currency, salary.currency + " ")

    def amount(x: float) -> str:
        if salary.period == "year" and x >= 1000:
            return f"{sign}{x / 1000:,.0f}k"
        return f"{sign}{x:,.0f}" if x >= 100 else f"{sign}{x:,.2f}".replace(".00", "")

    lo, hi = salary.raw_min, salary.raw_max
    text = f"{amount(lo)}–{amount(hi)}" if lo and hi and lo != hi else (
        f"from {amount(lo)}" if lo and not hi else f"up to {amount(hi)}" if hi and not lo else amount(lo or hi)
    )
    return f"{text} / {PERIOD_WORDS.get(salary.period, salary.period)}"


def parse_records(items: Iterable[Record | Rejected], tax: Taxonomy) -> Iterator[tuple[int, dict] | Rejected]:
    """Validate and normalise each record; yield (line, columns) or a Rejected, once per problem."""
    seen: dict[str, int] = {}
    for item in items:
        if isinstance(item, Rejected):
            yield item
            continue
        raw_id = item.data.get("id")
        key = str(raw_id)[:100] if raw_id is not None else None
        try:
            rec = ListingIn.model_validate(item.data)
            cols = normalised_fields(rec, tax)
        except ValidationError as e:
            yield Rejected(item.line, describe_errors(e), key)
            continue
        except NormaliseError as e:
            yield Rejected(item.line, str(e), key)
            continue
        if rec.id in seen:
            yield Rejected(item.line, f"duplicate id (first on line {seen[rec.id]}); this one was skipped", rec.id)
            continue
        seen[rec.id] = item.line
        cols["board_id"] = rec.id
        cols["_verified_at"] = rec.verified_at
        yield item.line, cols


def import_listings(session: Session, path: str, tax: Taxonomy, now: datetime) -> ImportReport:
    """Import a listings file; good records land (in batches) even when others are rejected."""
    report = ImportReport()
    batch: list[tuple[int, dict]] = []
    for item in parse_records(read_records(path), tax):
        if isinstance(item, Rejected):
            report.rejected.append(item)
            continue
        batch.append(item)
        if len(batch) >= BATCH:
            _save(session, batch, now, report)
            batch = []
    if batch:
        _save(session, batch, now, report)
    report.rejected.sort(key=lambda r: r.line)
    return report


def _save(session: Session, batch: list[tuple[int, dict]], now: datetime, report: ImportReport) -> None:
    """Upsert a batch in one transaction; if the database refuses it, retry record by record so only the
    record it refuses is lost, and say which one and why."""
    try:
        counts = _upsert(session, [cols for _, cols in batch], now)
        session.commit()
    except StatementError as e:
        session.rollback()
        if db_unreachable(e):
            raise
        counts = {}
        for line, cols in batch:
            try:
                one = _upsert(session, [cols], now)
                session.commit()
            except StatementError as err:
                session.rollback()
                if db_unreachable(err):
                    raise
                report.rejected.append(Rejected(line, f"the database refused it: {db_reason(err)}", cols["board_id"]))
                continue
            for k, n in one.items():
                counts[k] = counts.get(k, 0) + n
    report.inserted += counts.get("inserted", 0)
    report.updated += counts.get("updated", 0)
    report.unchanged += counts.get("unchanged", 0)


def db_unreachable(e: Exception) -> bool:
    """Tell a lost connection or a locked database (stop the import) from a refused record (skip it)."""
    # A lost connection or a locked database is not the record's fault: stop and let the command say so.
    return isinstance(e, OperationalError) or getattr(e, "connection_invalidated", False)


def db_reason(e: StatementError) -> str:
    """The first line of what the database said, for a report line."""
    text = str(e.orig or e).strip().splitlines()
    return text[0][:200] if text else type(e.orig or e).__name__


def _upsert(session: Session, batch: list[dict], now: datetime) -> dict[str, int]:
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    existing = {
        l.board_id: l for l in session.scalars(select(Listing).where(Listing.board_id.in_([c["board_id"] for c in batch])))
    }
    for given in batch:
        cols = dict(given)  # kept intact, so a batch the database refused can be retried
        given_verified_at = cols.pop("_verified_at")
        row = existing.get(cols["board_id"])
        if cols["verified"]:
            # When the board does not say when it verified, the first import that sees it verified does.
            cols["verified_at"] = given_verified_at or (row.verified_at if row and row.verified else None) or now
        else:
            cols["verified_at"] = None
        if row is None:
            session.add(Listing(**cols, imported_at=now, updated_at=now))
            counts["inserted"] += 1
        elif any(getattr(row, k) != v for k, v in cols.items()):
            for k, v in cols.items():
                setattr(row, k, v)
            row.updated_at = now
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    session.flush()
    return counts


def listing_json(l: Listing) -> dict:
    """The normalised listing as `digest listings list --json` prints it."""
    iso = lambda d: d.isoformat().replace("+00:00", "Z") if d else None  # noqa: E731
    return {
        "id": l.board_id, "title": l.title, "company": l.company, "url": l.url,
        "verified": l.verified, "verified_at": iso(l.verified_at), "posted_at": iso(l.posted_at),
        "expires_at": iso(l.expires_at), "stack": list(l.stack), "level": l.level, "regions": list(l.regions),
        "location": l.location, "salary_min": l.salary_min, "salary_max": l.salary_max,
        "salary_currency": l.salary_currency, "salary_period": l.salary_period,
        "employer_type": l.employer_type, "role_type": l.role_type,
    }
