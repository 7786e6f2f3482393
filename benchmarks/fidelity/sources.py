"""Adapters: one function per board shape, turning a raw record of a public dump into our import record.

Each adapter maps faithfully: raw values go through as the board wrote them (salary texts, location texts,
level words, tag lists, "nan", "-1", 0), because the normaliser must cope with them. A board's convention is
applied only where the board documents one (RemoteOK's API numbers are USD per year; Jobicy's fields are
named annualSalaryMin/Max; Adzuna's API answers per country in that country's currency). Ids are prefixed
with the source name so sources never collide. Where a dump has no usable url or date, the adapter makes a
synthetic one from the source and says so in a comment.

The dumps live OUTSIDE the repository (their terms forbid republishing), under `<data>/raw/<source>/`:

    .venv/bin/python -m benchmarks.fidelity.sources --counts            # records per source in the dumps
    .venv/bin/python -m benchmarks.fidelity.sources --build-sample      # <data>/sample.jsonl from the truth ids
    .venv/bin/python -m benchmarks.fidelity.sources --show ID [ID ...]  # one record, raw and adapted
"""

from __future__ import annotations

import argparse
import csv
import email.utils
import hashlib
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_DATA = "/work/realdata"


def data_dir(given: str | None = None) -> Path:
    return Path(given or os.environ.get("FIDELITY_DATA") or DEFAULT_DATA)


def _id(source: str, raw_id: object) -> str:
    """`source-rawid`, kept within the importer's 100 characters (a long slug ends in a short hash)."""
    text = f"{source}-{raw_id}"
    if len(text) <= 100:
        return text
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    return f"{text[:89]}-{digest}"


def _rec(**fields) -> dict:
    """An import record; fields the board does not have are left out rather than sent empty."""
    return {k: v for k, v in fields.items() if v is not None}


# ----------------------------------------------------------------------------------------------- adapters

def remotive_api(raw: dict) -> dict:
    """Remotive public API (`GET /api/remote-jobs`): `jobs[]` with free-text `salary`,
    `candidate_required_location`, a `tags` list, `job_type`, `category`; no level field."""
    return _rec(
        id=_id("remotive", raw.get("id")),
        title=raw.get("title"),
        company=raw.get("company_name"),
        url=raw.get("url"),
        posted_at=raw.get("publication_date"),  # ISO 8601 without an offset, as the API gives it
        verified=True,
        stack=raw.get("tags"),
        location=raw.get("candidate_required_location"),
        salary=raw.get("salary"),
        description=raw.get("description"),
    )


def remotive_export(raw: dict) -> dict:
    """A flat export of Remotive listings with re-keyed columns (`job_id`, `company`, `location`,
    `salary` text, `skills` as comma text, `experience`)."""
    return _rec(
        id=_id("remotive_export", raw.get("job_id")),
        title=raw.get("title"),
        company=raw.get("company"),
        url=raw.get("url"),
        posted_at=raw.get("publication_date"),
        verified=True,
        stack=raw.get("skills"),
        level=raw.get("experience"),
        location=raw.get("location"),
        salary=raw.get("salary"),
        description=raw.get("description"),
    )


def remoteok_api(raw: dict) -> dict:
    """RemoteOK public API (`GET /api`): a JSON array whose first element is the legal notice; `position`,
    `company`, `tags`, `location`, `salary_min`/`salary_max` JSON numbers (0 when not given)."""
    url = raw.get("url") or raw.get("apply_url")
    if not url and raw.get("id"):
        url = f"https://remoteok.com/remote-jobs/{raw['id']}"  # synthetic: the board's listing URL by id
    return _rec(
        id=_id("remoteok", raw.get("id")),
        title=raw.get("position"),
        company=raw.get("company"),
        url=url,
        posted_at=raw.get("date"),
        verified=True,
        stack=raw.get("tags"),
        location=raw.get("location"),
        salary_min=raw.get("salary_min"),
        salary_max=raw.get("salary_max"),
        # The API's documented convention: salary numbers are US dollars per year.
        salary_currency="USD",
        salary_period="year",
        description=raw.get("description"),
    )


def wwr_rss(raw: dict) -> dict:
    """We Work Remotely RSS (`/categories/*.rss`): `<title>` is "Company: Position", `<region>` the
    region text, `<pubDate>`/`<expires_at>` RFC 822 dates, `<guid>` the listing URL; no salary field."""
    company, _, title = (raw.get("title") or "").partition(": ")
    if not title:  # no "Company: " prefix: the whole title is the position
        company, title = "", company
    guid = raw.get("guid") or raw.get("link") or ""
    slug = guid.rstrip("/").rsplit("/", 1)[-1]
    return _rec(
        id=_id("wwr", slug),
        title=title,
        company=company or None,
        url=raw.get("link") or guid,
        posted_at=_rfc822(raw.get("pubDate")),  # the import wants ISO 8601: only the date format is changed
        expires_at=_rfc822(raw.get("expires_at")),
        verified=True,
        location=raw.get("region"),
        description=raw.get("description"),
    )


def jobicy_api(raw: dict) -> dict:
    """Jobicy API v2 (`GET /api/v2/remote-jobs`): `jobs[]` with `jobTitle`, `companyName`, `jobGeo`,
    `jobLevel`, `jobIndustry` (an industry, not a stack), `annualSalaryMin/Max` + `salaryCurrency`."""
    has_pay = raw.get("annualSalaryMin") is not None or raw.get("annualSalaryMax") is not None
    return _rec(
        id=_id("jobicy", raw.get("id")),
        title=raw.get("jobTitle"),
        company=raw.get("companyName"),
        url=raw.get("url"),
        posted_at=raw.get("pubDate"),  # "YYYY-MM-DD HH:MM:SS", as the API gives it
        verified=True,
        level=raw.get("jobLevel"),
        location=raw.get("jobGeo"),
        salary_min=raw.get("annualSalaryMin"),
        salary_max=raw.get("annualSalaryMax"),
        salary_currency=raw.get("salaryCurrency"),
        # The fields are named annualSalaryMin/Max: the board's own statement that they are per year.
        salary_period="year" if has_pay else None,
        description=raw.get("jobDescription"),
    )


GLASSDOOR_DUMP_DATE = "2020-04-04T00:00:00Z"


def glassdoor_csv(raw: dict) -> dict:
    """Glassdoor scrape CSV (the widely copied data-science salary dump): `Job Title`, `Salary Estimate`
    ("$NNK-$NNK (Glassdoor est.)", "Employer Provided Salary:$NN-$NN Per Hour", "-1"), `Company Name`
    (with the rating glued on after a newline), `Location` ("City, ST"); no url and no date."""
    row = raw.get("") or raw.get("index")
    return _rec(
        id=_id("glassdoor", row),
        title=raw.get("Job Title"),
        company=raw.get("Company Name"),
        url=f"https://www.glassdoor.com/job-listing/{row}",  # synthetic: the dump has no URL
        posted_at=GLASSDOOR_DUMP_DATE,  # synthetic: the dump has no dates; the day it was published
        verified=True,
        location=raw.get("Location"),
        salary=raw.get("Salary Estimate"),
        description=raw.get("Job Description"),
    )


JOB_TRACKER_DUMP_DATE = "2026-06-06T00:00:00Z"


def _job_tracker(source: str, raw: dict, currency: str | None) -> dict:
    link = raw.get("job_link") or ""
    m = re.search(r"/(?:details|view)/(\d+)", link)
    posted = raw.get("job_posted_date") or ""
    if not posted and re.match(r"\d{4}-\d\d-\d\d", raw.get("job_maturity") or ""):
        posted = raw["job_maturity"]  # Adzuna's `created` time lands in this column
    return _rec(
        id=_id(source, m.group(1) if m else hashlib.sha1(link.encode()).hexdigest()[:16]),
        title=raw.get("job_title"),
        company=raw.get("employer_name"),
        url=link,
        posted_at=posted or JOB_TRACKER_DUMP_DATE,  # synthetic when the row has none: the dump's date
        verified=True,
        location=raw.get("location"),
        salary_min=raw.get("job_min_salary"),
        salary_max=raw.get("job_max_salary"),
        salary_currency=currency,
        salary_period=raw.get("job_salary_period") or None,
        description=raw.get("job_description"),
    )


def adzuna_uk_csv(raw: dict) -> dict:
    """Adzuna UK rows of a job-tracker CSV (`job_min_salary`/`job_max_salary` numbers as text,
    `job_salary_period` "annum"). Adzuna's API is per country and gives pay in that country's currency;
    these rows come from the UK endpoint, so GBP."""
    return _job_tracker("adzuna_uk", raw, "GBP")


def linkedin_uk_csv(raw: dict) -> dict:
    """LinkedIn UK rows of the same job-tracker CSV: salaries mostly "nan", periods "annual"/"daily",
    no currency column and no dates."""
    return _job_tracker("linkedin_uk", raw, None)


def arbeitnow_api(raw: dict) -> dict:
    """Arbeitnow job-board API (`GET /api/job-board-api`): `data[]` with `slug`, `company_name`, `title`
    (often German, with "(m/w/d)"), `tags` (board categories such as "Software Development", rarely a
    language), `job_types` (employment types mixed with German experience words: not a level field, so
    left out), `location` (mostly a German city alone), `remote` (bool), `created_at` (Unix seconds); no
    salary field."""
    created = raw.get("created_at")
    posted = None
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        # the import wants ISO 8601: only the date format is changed
        posted = datetime.fromtimestamp(created, UTC).isoformat().replace("+00:00", "Z")
    return _rec(
        id=_id("arbeitnow", raw.get("slug")),
        title=raw.get("title"),
        company=raw.get("company_name"),
        url=raw.get("url"),
        posted_at=posted if posted is not None else created,
        verified=True,
        stack=raw.get("tags"),
        location=raw.get("location"),
        description=raw.get("description"),
    )


# ------------------------------------------------------------------------------------------------ loaders

def _rfc822(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return email.utils.parsedate_to_datetime(text).astimezone(UTC).isoformat().replace("+00:00", "Z")
    except (TypeError, ValueError):
        return text  # not a date we can read: pass it on as written


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8-sig"))


def _remotive_jobs(path: Path) -> Iterator[dict]:
    yield from _json(path).get("jobs", [])


def _remoteok_jobs(path: Path) -> Iterator[dict]:
    for item in _json(path):
        if isinstance(item, dict) and "legal" not in item:
            yield item


def _jobicy_jobs(path: Path) -> Iterator[dict]:
    yield from _json(path).get("jobs", [])


def _arbeitnow_jobs(path: Path) -> Iterator[dict]:
    yield from _json(path).get("data", [])


def _list(path: Path) -> Iterator[dict]:
    yield from _json(path)


def _rss_items(path: Path) -> Iterator[dict]:
    for item in ET.parse(path).getroot().iter("item"):
        yield {child.tag: (child.text or "") for child in item}


def _csv_rows(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        yield from csv.DictReader(f)


# source -> (adapter, file glob under raw/<source>/, loader)
SOURCES: dict[str, tuple[Callable[[dict], dict], str, Callable[[Path], Iterator[dict]]]] = {
    "remotive": (remotive_api, "*.json", _remotive_jobs),
    "remotive_export": (remotive_export, "*.json", _list),
    "remoteok": (remoteok_api, "*.json", _remoteok_jobs),
    "wwr": (wwr_rss, "*.rss", _rss_items),
    "jobicy": (jobicy_api, "*.json", _jobicy_jobs),
    "glassdoor": (glassdoor_csv, "*.csv", _csv_rows),
    "adzuna_uk": (adzuna_uk_csv, "*.csv", _csv_rows),
    "linkedin_uk": (linkedin_uk_csv, "*.csv", _csv_rows),
    "arbeitnow": (arbeitnow_api, "*.json", _arbeitnow_jobs),
}


def source_of(record_id: str) -> str:
    """The source an id belongs to (the longest source name that prefixes it)."""
    return max((s for s in SOURCES if record_id.startswith(s + "-")), key=len, default="?")


def raw_records(data: Path, source: str) -> Iterator[tuple[str, dict]]:
    """Every raw record of every dump of one source, once per id (the first dump file, by name, wins)."""
    adapter, pattern, loader = SOURCES[source]
    seen: set[str] = set()
    for path in sorted((data / "raw" / source).glob(pattern)):
        for raw in loader(path):
            rid = adapter(raw).get("id", "")
            if rid in seen:
                continue
            seen.add(rid)
            yield rid, raw


def adapted(data: Path, source: str) -> Iterator[dict]:
    adapter = SOURCES[source][0]
    for _, raw in raw_records(data, source):
        yield adapter(raw)


def build_sample(data: Path) -> int:
    """Write `<data>/sample.jsonl`: the adapted records whose ids the truth file lists, in its order."""
    ids = [json.loads(line)["id"] for line in (data / "truth.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()]
    wanted = set(ids)
    found: dict[str, dict] = {}
    for source in SOURCES:
        for rec in adapted(data, source):
            if rec.get("id") in wanted:
                found[rec["id"]] = rec
    missing = [i for i in ids if i not in found]
    if missing:
        raise SystemExit(f"ids in truth.jsonl that no dump has: {', '.join(missing[:10])}")
    with (data / "sample.jsonl").open("w", encoding="utf-8") as f:
        for i in ids:
            f.write(json.dumps(found[i], ensure_ascii=False) + "\n")
    return len(ids)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help=f"data directory (default $FIDELITY_DATA or {DEFAULT_DATA})")
    ap.add_argument("--counts", action="store_true", help="records per source in the dumps")
    ap.add_argument("--build-sample", action="store_true", help="write sample.jsonl from truth.jsonl's ids")
    ap.add_argument("--show", nargs="+", metavar="ID", help="print records raw and adapted")
    args = ap.parse_args(argv)
    data = data_dir(args.data)
    if args.counts:
        for source in SOURCES:
            print(f"{source:16} {sum(1 for _ in raw_records(data, source)):6}")
    if args.build_sample:
        print(f"wrote {build_sample(data)} records to {data / 'sample.jsonl'}")
    if args.show:
        wanted = set(args.show)
        for source in {source_of(i) for i in wanted}:
            for rid, raw in raw_records(data, source):
                if rid in wanted:
                    print(json.dumps({"raw": raw, "adapted": SOURCES[source][0](raw)}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
