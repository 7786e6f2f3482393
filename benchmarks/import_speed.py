"""The import-speed benchmark: `digest listings import FILE`, as an operator runs it, on a seeded board export.

    .venv/bin/python -m benchmarks.import_speed                       # 100,000 listings, SQLite, 3 runs
    .venv/bin/python -m benchmarks.import_speed --postgresql          # and then a throwaway PostgreSQL (tests/pg.py)
    .venv/bin/python -m benchmarks.import_speed --listings 20000 --repeat 1 --out /tmp/import_speed.json

Data (not timed, made in a child process so this one stays small): N invented listings split between a JSON
Lines export (60 %) and a CSV export (40 %) with their own ids, in the shapes boards send: raw tags as lists or
comma text with noise, raw level words, location texts (countries, US cities with states, "Remote - US only",
"EMEA", "UTC-1 to UTC+3", emoji flags, "Anywhere"), salary texts in many shapes, structured salary numbers,
descriptions of a few hundred characters. Seeded: the same seed writes byte-identical files (sha256 recorded).

Timed: the real command line, `digest listings import FILE` (the console script beside this Python), in a fresh
process per file, on a fresh database per run (`digest db upgrade` first, not timed): a first import of both
files (all new), then a re-import of both (all unchanged). PYTHONPATH is this checkout, so a git worktree
measures its own code (the child's `digest.__file__` is recorded). Wall time from spawn to exit, CPU and peak
RSS (ru_maxrss) from wait4. Reported: seconds and listings/s (min and median of --repeat runs), peak RSS,
the importer's own counts (new, updated, unchanged, rejected, warning lines), the load average around each
backend. Results are merged, one entry per backend, into benchmarks/results/import_speed.json.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import itertools
import json
import os
import platform
import random
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "import_speed.json"
DIGEST = Path(sys.executable).with_name("digest")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # the export's "today": fixed, so the files never change
JSONL_SHARE = 0.6
SUMMARY = re.compile(r"imported (\d+) listings \((\d+) new, (\d+) updated, (\d+) unchanged\); (\d+) rejected")
CSV_FIELDS = ["id", "title", "company", "url", "posted_at", "verified", "verified_at", "expires_at", "stack",
              "level", "location", "salary", "salary_min", "salary_max", "salary_currency", "salary_period",
              "employer_type", "role_type", "description", "source"]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- the generated export -------------------------------------------------------------------------------
# Everything below is invented. Weights are rough shares of what remote backend boards publish.

STACKS = {  # stack: (title words, raw tag spellings boards use)
    "python": (["Python", "Django", "Python/Django", "FastAPI"],
               ["Python", "python3", "Django", "django rest framework", "FastAPI", "Flask", "Celery", "SQLAlchemy",
                "Python 3", "py", "pydantic"]),
    "go": (["Go", "Golang", "Go (Golang)"], ["golang", "Go", "go-lang", "GoLang", "golang/go", "Go language"]),
    "java": (["Java", "Java/Spring", "JVM"], ["Java", "Spring Boot", "spring", "java/spring", "Java 17", "J2EE",
                                              "Hibernate", "Quarkus", "jvm", "Micronaut"]),
    "node": (["Node.js", "TypeScript", "NodeJS", "Node"], ["node.js", "Node.JS", "nodejs", "TypeScript", "ts",
                                                           "Express", "NestJS", "javascript", "Fastify"]),
    "ruby": (["Ruby", "Ruby on Rails", "Rails"], ["ruby/rails", "Ruby on Rails", "rails", "RoR", "Sidekiq", "ruby"]),
    "php": (["PHP", "Laravel", "Symfony"], ["PHP", "php8", "Laravel", "Symfony", "php/laravel"]),
    "rust": (["Rust"], ["Rust", "rustlang", "tokio", "axum", "actix-web"]),
    "kotlin": (["Kotlin"], ["Kotlin", "ktor", "kotlin/jvm"]),
    "scala": (["Scala"], ["Scala", "akka", "ZIO", "http4s", "cats effect"]),
    "elixir": (["Elixir"], ["Elixir", "Phoenix", "elixir/phoenix"]),
    "csharp": ([".NET", "C#", "C#/.NET", "ASP.NET"], ["C#", ".NET", "dotnet", ".NET Core", "ASP.NET Core", "C Sharp",
                                                      "Entity Framework"]),
    "cpp": (["C++"], ["C++", "cpp", "C Plus Plus", "modern c++", "C/C++"]),
}
STACK_WEIGHTS = {"python": 22, "node": 17, "java": 14, "go": 13, "ruby": 6, "php": 6, "csharp": 7, "rust": 4,
                 "kotlin": 4, "scala": 3, "elixir": 2, "cpp": 2}
OTHER_TAGS = ["AWS", "GCP", "Azure", "PostgreSQL", "Postgres", "MySQL", "Redis", "Kafka", "RabbitMQ", "Docker",
              "Kubernetes", "k8s", "Terraform", "gRPC", "GraphQL", "REST", "REST APIs", "microservices", "CI/CD",
              "Linux", "MongoDB", "Elasticsearch", "DynamoDB", "Snowflake", "Airflow", "dbt", "Spark", "SQL",
              "backend", "Back-end", "distributed systems", "Observability", "Datadog", "remote", "Senior"]
NOISE_TAGS = ["", " ", "#python", "N/A", "tbd", "Software Development", "💻 engineering", "python;django",
              "node | typescript", "Go/Rust", "fullstack", "Full Stack", "React", "Vue.js", "english", "startup"]

ROLE_NOUNS = {  # role type: title nouns
    "api": ["Backend Engineer", "Backend Developer", "Software Engineer", "API Engineer", "Back-End Developer",
            "Software Engineer, Backend", "Server-side Engineer", "Backend Software Engineer"],
    "data": ["Data Engineer", "Backend Engineer, Data Platform", "Software Engineer, Data", "Analytics Engineer",
             "ML Platform Engineer"],
    "platform": ["Platform Engineer", "Infrastructure Engineer", "Site Reliability Engineer", "DevOps Engineer",
                 "Backend Engineer, Payments", "Software Engineer, Internal Tools"],
}
ROLE_RAW = {"api": ["api", "API", "APIs & microservices", "backend-api"], "data": ["data", "Data", "data-heavy"],
            "platform": ["platform", "Platform", "infrastructure"]}
TEAMS = ["Payments", "Integrations", "Billing", "Search", "Identity", "Growth", "Core API", "Checkout", "Risk",
         "Messaging", "Catalog", "Reporting", "Onboarding", "Scheduling", "Developer Experience"]

LEVELS = [  # (canonical level, title prefix, raw level values seen for it, weight)
    ("intern", ["Intern,", "Internship -", ""], ["Internship", "Intern", "Working Student", "Trainee", "co-op"], 3),
    ("junior", ["Junior", "Jr.", "Entry Level", "Associate", "New Grad"], ["Junior", "Entry level", "Entry-Level",
                                                                          "Graduate", "Jr", "associate"], 12),
    ("mid", ["", "Mid-level", ""], ["Mid level", "Mid-Level", "Intermediate", "Regular", "Experienced", "mid"], 22),
    ("senior", ["Senior", "Sr.", "Sr", "Senior"], ["Senior", "Mid-Senior level", "Sr", "SENIOR", "Senior/Lead",
                                                   "Mid or Senior", "senior-level", "Expert"], 38),
    ("lead", ["Staff", "Principal", "Lead", "Senior Staff"], ["Staff", "Principal", "Lead level", "Tech Lead",
                                                             "Staff/Principal", "Architect"], 10),
    (None, [""], ["Not Applicable", "N/A", "any", "Various"], 15),
]

LOCATIONS = [  # (raw text, weight): where one may work from, as boards write it
    ("Remote - US only", 9), ("United States", 6), ("USA", 3), ("Remote (US)", 4), ("USA timezones", 2),
    ("US or Canada", 2), ("Northern America", 2), ("North America", 3), ("Americas", 2), ("LATAM", 3),
    ("Latin America (UTC-3 to UTC-6)", 1), ("Canada", 3), ("Remote, Canada", 1), ("Europe", 6), ("EMEA", 4),
    ("European Union", 1), ("CET +/- 3 HOURS", 2), ("UTC-1 to UTC+3", 2), ("UTC+0 to UTC+8", 1),
    ("EST +/- 2h", 1), ("United Kingdom", 3), ("UK only", 2), ("Remote (UK)", 1), ("Germany", 2),
    ("Netherlands", 1), ("Poland", 1), ("Spain", 1), ("Portugal", 1), ("Brazil", 1), ("Mexico", 1),
    ("Argentina", 1), ("India", 2), ("Bengaluru, India", 1), ("APAC", 2), ("Australia", 1),
    ("Sydney, Australia", 1), ("New Zealand", 1), ("Singapore", 1), ("Nigeria", 1), ("Lagos, Nigeria", 1),
    ("Africa", 1), ("South Africa", 1), ("Middle East", 1), ("Dubai, UAE", 1), ("Tel Aviv, Israel", 1),
    ("Anywhere", 4), ("Worldwide", 5), ("Remote", 5), ("100% Remote", 2), ("Anywhere in the world", 1),
    ("Fully remote - anywhere", 1), ("🇩🇪", 1), ("🇧🇷 Brazil", 1), ("🇺🇸 🇨🇦", 1), ("🇬🇧 UK", 1), ("🇪🇺 Europe", 1),
    ("🌍 Worldwide", 1), ("Berlin, Germany", 1), ("Berlin, DE", 1), ("London, UK", 2), ("London, ON", 1),
    ("Paris, France", 1), ("Paris, TX", 1), ("Amsterdam", 1), ("Lisbon, Portugal (remote)", 1),
    ("Toronto, ON", 1), ("Vancouver, BC (remote)", 1), ("Remote — Germany, Netherlands, Poland", 1),
    ("Remote, Mars", 1), ("", 2),
]
US_CITIES = [("Austin", "TX", "Texas"), ("Seattle", "WA", "Washington"), ("New York", "NY", "New York"),
             ("San Francisco", "CA", "California"), ("Denver", "CO", "Colorado"), ("Boston", "MA", "Massachusetts"),
             ("Chicago", "IL", "Illinois"), ("Atlanta", "GA", "Georgia"), ("Raleigh", "NC", "North Carolina"),
             ("Portland", "OR", "Oregon"), ("Miami", "FL", "Florida"), ("Salt Lake City", "UT", "Utah"),
             ("Pittsburgh", "PA", "Pennsylvania"), ("Nashville", "TN", "Tennessee"), ("Phoenix", "AZ", "Arizona")]
US_CITY_SHARE = 0.12
# Salary regions: (currency sign, share of US pay) by the first word that decides it.
INTERNATIONAL = {"Europe": ("€", 0.55), "EMEA": ("€", 0.55), "Germany": ("€", 0.55), "Netherlands": ("€", 0.55),
                 "Spain": ("€", 0.45), "Portugal": ("€", 0.42), "Poland": ("zł", 0.45), "United Kingdom": ("£", 0.55),
                 "UK": ("£", 0.55), "London": ("£", 0.6), "India": ("₹", 0.3), "Bengaluru": ("₹", 0.3),
                 "Canada": ("CA$", 0.8), "Toronto": ("CA$", 0.8), "Vancouver": ("CA$", 0.8),
                 "Brazil": ("R$", 0.35), "Australia": ("A$", 0.7), "Sydney": ("A$", 0.7)}
FX = {"$": 1.0, "€": 1.08, "£": 1.27, "zł": 0.25, "₹": 0.012, "CA$": 0.74, "R$": 0.19, "A$": 0.66}
CODE = {"$": "USD", "€": "EUR", "£": "GBP", "zł": "PLN", "₹": "INR", "CA$": "CAD", "R$": "BRL", "A$": "AUD"}
US_PAY = {"intern": (55_000, 80_000), "junior": (80_000, 120_000), "mid": (140_000, 220_000),
          "senior": (180_000, 280_000), "lead": (220_000, 350_000), None: (120_000, 220_000)}
NO_FIGURE = ["Competitive", "DOE", "Negotiable", "Competitive + equity", "Market rate", "Depends on experience"]

SYLLABLES = ["Ledger", "Quill", "Bright", "Parcel", "Cobalt", "Fennel", "Kite", "Orbit", "Stack", "Pollen",
             "Hearth", "Drift", "Moss", "Luma", "Cinder", "Tessel", "Way", "Glimmer", "June", "Salt", "Out",
             "Pine", "Velvet", "Copper", "Quiet", "Zest", "Halcyon", "Tumble", "Plinth", "Grain", "Wicker",
             "Amper", "Kudu", "Oasis", "North", "Brass", "Meridian", "Field", "Harbor", "Sky", "Granite", "Beacon",
             "Kelpie", "Stratus", "Open", "Mari", "Iron", "Wave", "Fox", "Blue", "Lark", "Canopy", "Ever", "Wind",
             "Paloma", "Tanager", "Quokka", "Crest", "Vantage", "Amber", "Nør", "Señal", "Café"]
ENDINGS = ["ly", "stack", "works", " Labs", " Health", "pay", " Analytics", "line", "wise", "box", "desk",
           " Systems", " Cloud", " Data", "flow", "gate", " Commerce", " Logistics", " Bank", " Mutual",
           " Software", " & Co", " Digital", " Insurance Group", " Studio", " Partners"]
EMPLOYERS = {  # employer type: (raw values boards send, description phrases)
    "startup": (["startup", "Startup", "venture-backed", "Series A", "Series B"],
                ["a venture-backed startup (Series {s}, {n} people)", "a seed-stage startup of {n} people",
                 "a Series {s} company backed by investors you have heard of"]),
    "scaleup": (["scale-up", "scaleup", "Scale-up", "late-stage"],
                ["a profitable scale-up of about {n0} people", "a late-stage, Series D company of {n0} people"]),
    "enterprise": (["enterprise", "Enterprise", "corporate"],
                   ["a global enterprise with {n1} employees in 30 countries", "a listed company of {n1} people"]),
    "agency": (["agency", "Agency", "consultancy"],
               ["a consulting and development agency building for clients in fintech and health",
                "a software agency of {n} engineers"]),
}
DOMAINS = ["invoicing for small agencies", "freight tracking", "clinical scheduling", "payroll for contractors",
           "energy trading", "travel booking", "identity verification", "retail analytics", "insurance claims",
           "developer tooling", "school timetabling", "card payments", "property management", "supply chains"]
ROLE_SENTENCES = {
    "api": ["You will design, build and operate the {stack} services and REST/gRPC APIs behind our {team} area.",
            "You'll ship endpoints in {stack} used by partners and our own apps, and keep them fast and observable."],
    "data": [("You will build the {stack} pipelines that move events from Kafka into our warehouse, and the services "
              "that serve models to the product."),
             "You'll own batch and streaming jobs (Airflow, Spark, dbt) written in {stack}, and the APIs on top."],
    "platform": [("You will work on the platform every team deploys to: CI/CD, Kubernetes, caching, auth and the "
                  "internal tooling around our {stack} services."),
                 "You'll keep {team} running: payments, retries, idempotency, on-call, and the {stack} code behind it."],
}
LEVEL_SENTENCES = {
    "intern": "This is a paid internship of six months with a mentor; students in their last year are welcome.",
    "junior": "You have up to two years of experience and are keen to learn how production systems are run.",
    "mid": "You have three or more years of backend work behind you and like owning a feature end to end.",
    "senior": "You will mentor other engineers, drive technical decisions in your area and join a light on-call "
              "rotation.",
    "lead": "You will set technical direction across several teams, write the RFCs that matter and still ship code.",
    None: "Tell us about the systems you have built; we hire at several levels for this role.",
}
PERKS = ["We pay in the local currency, offer 30 days of holiday and a learning budget.",
         "Async-first: few meetings, written decisions, core hours of 3 hours a day.",
         "Equity for everyone, a home-office budget and a yearly team off-site.",
         "Health, dental and vision; 401(k) match; parental leave of 16 weeks.",
         "Our interview is two conversations and a paid take-home — no whiteboard puzzles."]


def _weighted(rng: random.Random, pairs: list[tuple]) -> tuple:
    return rng.choices(pairs, weights=[p[-1] for p in pairs])[0]


def _companies(rng: random.Random, n: int) -> list[tuple[str, str]]:
    names, seen = [], set()
    n = min(n, len(SYLLABLES) * len(ENDINGS) * 8)  # a quarter of the name space at most: the loop ends quickly
    while len(names) < n:
        middle = rng.choice(SYLLABLES).lower() if len(seen) > len(SYLLABLES) * 4 or rng.random() < 0.3 else ""
        name = rng.choice(SYLLABLES) + middle + rng.choice(ENDINGS)
        if name not in seen:
            seen.add(name)
            kind = rng.choices(list(EMPLOYERS), weights=[45, 25, 20, 10])[0]
            names.append((name, kind))
    return names


@functools.cache
def _zipf(n: int, s: float = 0.7) -> list[float]:
    return list(itertools.accumulate(1 / (k + 1) ** s for k in range(n)))


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _round(x: float, step: int) -> int:
    return max(step, round(x / step) * step)


def _salary(rng: random.Random, level: str | None, location: str, csv_row: bool) -> dict:
    """Pay as one of the many shapes boards use: a text, structured numbers, or nothing."""
    sign, share = "$", 1.0
    for word, (s, f) in INTERNATIONAL.items():
        if word in location:
            sign, share = s, f
            break
    lo_us, hi_us = US_PAY[level]
    lo = _round(rng.uniform(lo_us, (lo_us + hi_us) / 2) * share / FX[sign], 1000)
    hi = _round(lo * rng.uniform(1.15, 1.5), 1000)
    kind = rng.choices(["none", "numbers", "text", "word"], weights=[34, 20, 40, 6])[0]
    if kind == "none":
        return {}
    if kind == "word":
        return {"salary": rng.choice(NO_FIGURE)}
    if kind == "numbers":
        period = rng.choices(["year", "month", "hour"], weights=[80, 12, 8])[0]
        div = {"year": 1, "month": 12, "hour": 2080}[period]
        a, b = round(lo / div, -1 if period == "month" else 0), round(hi / div, -1 if period == "month" else 0)
        named = sign != "$" or rng.random() < 0.7
        out = {"salary_currency": rng.choice([CODE[sign], CODE[sign].lower()]) if named else None,
               "salary_period": rng.choice([period, {"year": "annual", "month": "monthly", "hour": "hourly"}[period]])
               if rng.random() < 0.85 else None}
        if period == "year" and out["salary_period"] is None and out["salary_currency"] in (None, "USD", "usd"):
            out["salary_period"] = "year"
        if rng.random() < 0.1:
            a = 0  # boards write 0 for "not stated"
        mn, mx = (a, b) if rng.random() < 0.85 else (a, None)
        if csv_row:
            fmt = (lambda v: "" if v is None else rng.choice([f"{v:.0f}", f"{v:.2f}"]))
            out |= {"salary_min": fmt(mn), "salary_max": fmt(mx)}
        else:
            out |= {"salary_min": mn if rng.random() < 0.6 else float(mn), "salary_max": mx}
        return {k: v for k, v in out.items() if v is not None}
    # A salary text: "$93,400 – $140,000 usd", "€4,000 - 5,200 per month", "£50-60k", "$90/hr - $100/hr",
    # "CA$100k–132k", "₹18,00,000 per annum", ...
    dash = rng.choice(["-", " - ", " – ", "–", " to "])
    if sign == "₹":
        def lakh(v: int) -> str:  # Indian grouping: 18,00,000
            return f"{v // 100_000},{(v // 1000) % 100:02d},000" if v >= 100_000 else _money(v)

        lo_i, hi_i = _round(lo, 100_000), _round(hi, 100_000)
        text = rng.choice([f"₹{lakh(lo_i)} per annum", f"₹{lakh(lo_i)}{dash}₹{lakh(hi_i)} p.a.",
                           f"INR {lakh(lo_i)} - {lakh(hi_i)} per year"])
    elif sign == "$" and rng.random() < 0.14:
        hour = rng.choice([45, 55, 65, 75, 85, 90, 110])
        text = rng.choice([f"${hour}/hr - ${hour + 15}/hr", f"${hour} per hour", f"${hour}-{hour + 20}/hour",
                           f"US$ {hour}.00 hourly"])
    elif sign in ("€", "£") and rng.random() < 0.25:
        month = _round(lo / 12, 100)
        if rng.random() < 0.5:
            text = f"{sign}{_money(month)}{dash}{_money(_round(month * 1.3, 100))} per month"
        else:
            day = _round(lo / 220, 10)
            text = rng.choice([f"{sign}{day}/day", f"{sign}{day} - {sign}{day + 100} per day", f"{sign}{day} day rate"])
    else:
        k_lo, k_hi = lo // 1000, hi // 1000
        code = CODE[sign]
        text = rng.choice([
            f"{sign}{_money(lo)}{dash}{sign}{_money(hi)}",
            f"{sign}{_money(lo)}{dash}{sign}{_money(hi)} {code.lower()}",
            f"{sign}{k_lo}k{dash}{sign}{k_hi}k",
            f"{sign}{k_lo}k{dash}{k_hi}k",
            f"{sign}{k_lo}-{k_hi}k",
            f"{k_lo}-{k_hi}k {code}",
            f"{sign}{_money(lo)} - {sign}{_money(hi)} per year",
            f"{sign}{k_lo}k+",
            f"Up to {sign}{k_hi}k",
            f"From {sign}{k_lo}k + equity",
            f"{code} {_money(lo)} to {_money(hi)} annually",
        ])
    return {"salary": text}


def _tags(rng: random.Random, stack: str, csv_row: bool) -> list[str] | str | None:
    main = rng.sample(STACKS[stack][1], k=min(len(STACKS[stack][1]), rng.choice([1, 1, 2, 2, 3])))
    if rng.random() < 0.15:  # a second stack
        main += rng.sample(STACKS[rng.choice(list(STACKS))][1], k=1)
    tags = main + rng.sample(OTHER_TAGS, k=rng.choice([0, 1, 2, 3, 4, 6]))
    if rng.random() < 0.2:
        tags += rng.sample(NOISE_TAGS, k=rng.choice([1, 2]))
    if rng.random() < 0.01:  # a tag-stuffed listing
        tags += rng.sample(OTHER_TAGS, k=25)
    rng.shuffle(tags)
    tags = [f" {t}" if rng.random() < 0.05 else t.lower() if rng.random() < 0.1 else t for t in tags]
    if rng.random() < 0.05:
        return None
    if not csv_row and rng.random() < 0.6:
        return tags
    sep = rng.choices([",", ", ", ";", " | "], weights=[50, 35, 10, 5])[0]
    return sep.join(t.replace(",", " ") for t in tags)


def _location(rng: random.Random) -> str:
    if rng.random() < US_CITY_SHARE:
        city, code, state = rng.choice(US_CITIES)
        return rng.choice([f"{city}, {code}", f"{city}, {state}", f"{city}, {code} (Remote)",
                           f"Remote - {city}, {code}", f"{city}, {code}, USA"])
    text = _weighted(rng, LOCATIONS)[0]
    if text and rng.random() < 0.05:
        text = rng.choice([text.lower(), f"  {text} ", text.upper()])
    return text


def _when(rng: random.Random, base: datetime, style: int) -> str:
    if style == 0:
        return base.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == 1:
        return base.astimezone(_tz(rng.choice([-5, -4, 1, 2, 5.5]))).isoformat(timespec="seconds")
    if style == 2:
        return base.strftime("%Y-%m-%d %H:%M:%S")
    if style == 3:
        return base.strftime("%Y-%m-%d")
    return base.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _tz(hours: float):
    from datetime import timezone

    return timezone(timedelta(hours=hours))


def _description(rng: random.Random, company: str, kind: str, stack_label: str, role: str, level: str | None,
                 team: str) -> str:
    n, n0 = rng.randint(8, 60), rng.randint(150, 900)
    n1, s = rng.choice(["4,000", "12,000", "40,000"]), "ABC"[rng.randrange(3)]
    about = rng.choice(EMPLOYERS[kind][1]).format(n=n, n0=n0, n1=n1, s=s)
    parts = [f"{company} is {about} working on {rng.choice(DOMAINS)}.",
             rng.choice(ROLE_SENTENCES[role]).format(stack=stack_label, team=team),
             LEVEL_SENTENCES[level]]
    if rng.random() < 0.7:
        parts.append(rng.choice(PERKS))
    if rng.random() < 0.3:
        parts.append("What you'll do:\n- own services end to end\n- review code, write “boring” docs\n- help hiring")
    sep = "\n\n" if rng.random() < 0.35 else " "
    return sep.join(parts)


def make_listing(rng: random.Random, i: int, csv_row: bool, companies: list[tuple[str, str]]) -> dict:
    """One raw record as a board exports it (JSON Lines shapes, or CSV shapes: text cells only)."""
    stack = rng.choices(list(STACK_WEIGHTS), weights=list(STACK_WEIGHTS.values()))[0]
    level, prefixes, raw_levels, _w = _weighted(rng, LEVELS)
    role = rng.choices(list(ROLE_NOUNS), weights=[55, 25, 20])[0]
    # A few employers post a lot (Zipf-like, s = 0.7, for 30 % of listings), most post now and then.
    company, kind = rng.choices(companies, cum_weights=_zipf(len(companies)))[0] if rng.random() < 0.3 \
        else rng.choice(companies)
    prefix = rng.choice(prefixes)
    stack_word = rng.choice(STACKS[stack][0]) if rng.random() < 0.75 else ""
    team = rng.choice(TEAMS)
    title = " ".join(w for w in (prefix, stack_word, rng.choice(ROLE_NOUNS[role])) if w)
    title += rng.choices(["", f", {team}", f" - {team}", " (Remote)", " II", " III", " I"],
                         weights=[50, 15, 10, 10, 6, 4, 2])[0]
    source = "wk" if csv_row else "rb"
    board_id = f"{source}-{100_000 + i}"
    posted = NOW - timedelta(days=rng.uniform(0, 28), seconds=rng.randrange(86_400))
    verified = rng.random() < 0.9
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    host = re.sub(r"[^a-z0-9]+", "", company.lower().encode("ascii", "ignore").decode()) or "company"
    url = rng.choice([f"https://jobs.example.com/l/{board_id}/{slug}",
                      f"https://careers.{host}.example/jobs/{rng.randrange(10_000)}-{slug}",
                      f"https://{host}.example/careers?id={i}&ref=board"])
    location = _location(rng)
    rec: dict = {
        "id": board_id, "title": title, "company": company, "url": url,
        "posted_at": _when(rng, posted, rng.choices(range(5), weights=[55, 20, 10, 5, 10])[0]),
        "verified": verified if not csv_row else
        rng.choice(["true", "TRUE", "yes", "1"] if verified else ["false", "0", "no"]),
    }
    if verified and rng.random() < 0.6:
        rec["verified_at"] = _when(rng, posted + timedelta(hours=rng.uniform(1, 30)), rng.choice([0, 0, 1, 4]))
    if rng.random() < 0.3:
        rec["expires_at"] = _when(rng, posted + timedelta(days=rng.choice([30, 45, 60])), 0)
    tags = _tags(rng, stack, csv_row)
    if tags is not None:
        rec["stack"] = tags
    if rng.random() < 0.8:
        rec["level"] = rng.choice(raw_levels) if rng.random() < 0.9 or level is None else ""
    rec["location"] = location
    rec |= _salary(rng, level, location, csv_row)
    if rng.random() < 0.6:
        rec["employer_type"] = rng.choice(EMPLOYERS[kind][0])
    if rng.random() < 0.5:
        rec["role_type"] = rng.choice(ROLE_RAW[role])
    rec["description"] = _description(rng, company, kind, stack_word or STACKS[stack][0][0], role, level, team)
    rec["source"] = "board-export"
    if not csv_row:
        if rng.random() < 0.1:  # exporters that write every key, unset ones as null
            rec = {k: rec.get(k) for k in CSV_FIELDS}
        elif rng.random() < 0.2:
            rec = dict(rng.sample(list(rec.items()), k=len(rec)))  # keys in another order
    return rec


def generate_files(out: Path, n: int, seed: int) -> dict:
    """Write listings.jsonl and listings.csv (n records between them); return their facts."""
    rng = random.Random(seed)
    companies = _companies(rng, max(50, n // 40))
    out.mkdir(parents=True, exist_ok=True)
    jsonl, csv_path = out / "listings.jsonl", out / "listings.csv"
    counts = {"jsonl": 0, "csv": 0}
    shapes = {"salary_text": 0, "salary_numbers": 0, "salary_none": 0, "stack_list": 0, "stack_text": 0,
              "location_empty": 0}
    with jsonl.open("w", encoding="utf-8", newline="") as jf, csv_path.open("w", encoding="utf-8", newline="") as cf:
        writer = csv.DictWriter(cf, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for i in range(n):
            as_csv = rng.random() >= JSONL_SHARE
            rec = make_listing(rng, i, as_csv, companies)
            shapes["salary_text"] += "salary" in rec
            shapes["salary_numbers"] += "salary_min" in rec or "salary_max" in rec
            shapes["salary_none"] += not any(k in rec for k in ("salary", "salary_min", "salary_max"))
            shapes["stack_list"] += isinstance(rec.get("stack"), list)
            shapes["stack_text"] += isinstance(rec.get("stack"), str)
            shapes["location_empty"] += not rec.get("location", "").strip()
            if as_csv:
                writer.writerow(rec)
                counts["csv"] += 1
            else:
                jf.write(json.dumps(rec, ensure_ascii=rng.random() < 0.2) + "\n")
                counts["jsonl"] += 1
    files = []
    for fmt, path in (("jsonl", jsonl), ("csv", csv_path)):
        data = path.read_bytes()
        files.append({"format": fmt, "path": str(path), "listings": counts[fmt], "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()})
    return {"listings": n, "seed": seed, "files": files, "shapes": shapes}


# -- the timed command ----------------------------------------------------------------------------------

def child_env(url: str) -> dict:
    """The operator's environment, with the database and this checkout's code (first on the path)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return os.environ | {"DIGEST_DATABASE_URL": url, "PYTHONPATH": path}


def _busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores; /proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_timed(cmd: list[str], env: dict, cwd: Path) -> dict:
    """Run one command to its end: wall seconds, CPU and peak RSS (wait4), exit code, output, and how many
    cores everything else on the machine kept busy meanwhile (other engineers' work; a PostgreSQL server)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out, tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        busy0, started = _busy_s(), time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall, busy = time.perf_counter() - started, _busy_s() - busy0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": usage.ru_maxrss / 1024,
                "others_busy_cores": max(0.0, (busy - cpu) / wall), "rc": proc.returncode,
                "stdout": out.read(), "stderr": err.read()}


def import_once(path: str, url: str, cwd: Path) -> dict:
    """`digest listings import PATH`, timed, with what the importer said about it."""
    r = run_timed([str(DIGEST), "listings", "import", path], child_env(url), cwd)
    found = SUMMARY.search(r["stdout"])
    if not found:
        raise SystemExit(f"`digest listings import {path}` exited {r['rc']} without its summary line:\n"
                         f"{r['stdout'][-2000:]}\n{r['stderr'][-2000:]}")
    imported, new, updated, unchanged, rejected = map(int, found.groups())
    lines = r["stderr"].splitlines()
    return {"wall_s": round(r["wall_s"], 3), "cpu_s": round(r["cpu_s"], 3), "peak_rss_mb": round(r["peak_rss_mb"], 1),
            "others_busy_cores": round(r["others_busy_cores"], 2),
            "exit": r["rc"], "imported": imported, "new": new, "updated": updated, "unchanged": unchanged,
            "rejected": rejected, "warnings": sum(": warning:" in line for line in lines),
            "rejected_sample": [line for line in lines if ": warning:" not in line][:5]}


def setup_database(url: str, cwd: Path) -> None:
    r = run_timed([str(DIGEST), "db", "upgrade"], child_env(url), cwd)
    if r["rc"] != 0:
        raise SystemExit(f"`digest db upgrade` failed on {url}:\n{r['stdout']}{r['stderr']}")


def code_under_test(cwd: Path) -> str:
    """Where the child's `digest` package comes from (an editable install elsewhere must not win)."""
    r = subprocess.run([sys.executable, "-c", "import digest; print(digest.__file__)"], env=child_env("sqlite://"),
                       cwd=cwd, capture_output=True, text=True, check=True)
    where = r.stdout.strip()
    if not Path(where).resolve().is_relative_to(ROOT / "digest"):
        raise SystemExit(f"the child imports digest from {where}, not from this checkout ({ROOT})")
    return where


def _stats(values: list[float], listings: int) -> dict:
    return {"min_s": round(min(values), 2), "median_s": round(statistics.median(values), 2),
            "max_s": round(max(values), 2), "runs_s": [round(v, 2) for v in values],
            "listings_per_s_best": round(listings / min(values)),
            "listings_per_s_median": round(listings / statistics.median(values))}


def summarise(runs: list[dict], files: list[dict], listings: int) -> dict:
    """Per phase: the two commands' total wall (min, median), listings/s, CPU, peak RSS, the importer's counts."""
    out = {}
    for phase in ("first_import", "re_import"):
        per_run = [r[phase] for r in runs]
        total = [sum(f["wall_s"] for f in run) for run in per_run]
        cpu = [sum(f["cpu_s"] for f in run) for run in per_run]
        entry = _stats(total, listings) | {
            "cpu_s_min": round(min(cpu), 2), "cpu_s_median": round(statistics.median(cpu), 2),
            "cpu_runs_s": [round(c, 2) for c in cpu],
            # Cores kept busy by everything but the timed command, averaged over each run's commands.
            "others_busy_cores_runs": [round(sum(f["others_busy_cores"] * f["wall_s"] for f in run) /
                                             sum(f["wall_s"] for f in run), 2) for run in per_run],
            "peak_rss_mb_max": max(f["peak_rss_mb"] for run in per_run for f in run),
            "peak_rss_mb_median": round(statistics.median(max(f["peak_rss_mb"] for f in run) for run in per_run), 1),
            "files": {},
        }
        for k, meta in enumerate(files):
            calls = [run[k] for run in per_run]
            entry["files"][meta["format"]] = _stats([c["wall_s"] for c in calls], meta["listings"]) | {
                "peak_rss_mb_max": max(c["peak_rss_mb"] for c in calls),
                "cpu_s_median": round(statistics.median(c["cpu_s"] for c in calls), 2),
                "cpu_runs_s": [round(c["cpu_s"], 2) for c in calls],
                # The importer's own counts, from the first run (every run reads the same files).
                **{key: calls[0][key] for key in ("exit", "imported", "new", "updated", "unchanged", "rejected",
                                                  "warnings", "rejected_sample")},
            }
        files_out = entry["files"].values()
        entry["counts"] = {key: sum(f[key] for f in files_out)
                           for key in ("imported", "new", "updated", "unchanged", "rejected", "warnings")}
        out[phase] = entry
    return out


def measure(backend: str, new_database, facts: dict, repeat: int, cwd: Path) -> dict:
    """`repeat` runs, each on a fresh database: first import of every file, then a re-import of every file."""
    load_before = os.getloadavg()
    uptime_before = _uptime()
    runs, loads = [], []
    for i in range(repeat):
        url = new_database(i)
        setup_database(url, cwd)
        loads.append([round(x, 2) for x in os.getloadavg()])
        run = {"first_import": [], "re_import": []}
        for phase, calls in run.items():
            for meta in facts["files"]:
                r = import_once(meta["path"], url, cwd)
                calls.append(r)
                _say(f"  {backend} run {i + 1}/{repeat} {phase.replace('_', ' ')} {meta['format']}: "
                     f"{r['wall_s']:.1f} s ({meta['listings'] / r['wall_s']:,.0f}/s), {r['peak_rss_mb']:.0f} MB, "
                     f"{r['new']} new, {r['updated']} updated, {r['unchanged']} unchanged, {r['rejected']} rejected; "
                     f"others kept {r['others_busy_cores']:.2f} cores busy")
        runs.append(run)
    result = {"backend": backend, "repeat": repeat} | summarise(runs, facts["files"], facts["listings"])
    n = facts["listings"]
    first, again = result["first_import"]["counts"], result["re_import"]["counts"]
    result["as_expected"] = {"first_import_all_new": first["new"] == n - first["rejected"],
                             "re_import_all_unchanged": again["unchanged"] == n - again["rejected"]}
    # A child's ru_maxrss starts from what it inherited at spawn: this (small, stdlib-only) process's peak.
    result["benchmark_process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["load"] = {"before": [round(x, 2) for x in load_before], "at_each_run_start": loads,
                      "after": [round(x, 2) for x in os.getloadavg()],
                      "uptime_before": uptime_before, "uptime_after": _uptime()}
    return result


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return ""

    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(), "commit": git("rev-parse", "HEAD"),
            "code_changed_since_commit": bool(git("status", "--porcelain", "digest"))}


def report_lines(r: dict) -> list[str]:
    lines = []
    for phase in ("first_import", "re_import"):
        p = r[phase]
        c = p["counts"]
        lines.append(f"{r['backend']:10} {phase.replace('_', ' '):12} min {p['min_s']:.1f} s "
                     f"({p['listings_per_s_best']:,}/s), median {p['median_s']:.1f} s ({p['listings_per_s_median']:,}/s), "
                     f"peak RSS {p['peak_rss_mb_max']:.0f} MB; {c['new']} new, {c['updated']} updated, "
                     f"{c['unchanged']} unchanged, {c['rejected']} rejected, {c['warnings']} warnings")
    la = r["load"]
    lines.append(f"{'':10} CPU s per run: first import {r['first_import']['cpu_runs_s']}, "
                 f"re-import {r['re_import']['cpu_runs_s']}")
    lines.append(f"{'':10} cores kept busy by everything else, per run: first import "
                 f"{r['first_import']['others_busy_cores_runs']}, re-import {r['re_import']['others_busy_cores_runs']}")
    lines.append(f"{'':10} load average (1, 5, 15 min) before {la['before']}, at each run {la['at_each_run_start']}, "
                 f"after {la['after']} ({os.cpu_count()} cores)")
    bad = [k for k, ok in r["as_expected"].items() if not ok]
    if bad:
        lines.append(f"{'':10} NOT AS EXPECTED: {', '.join(bad)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.import_speed", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--listings", type=int, default=100_000, help="listings in the two files together")
    p.add_argument("--repeat", type=int, default=3, help="runs per backend, each on a fresh database")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--postgresql", action="store_true", help="also run on a throwaway PostgreSQL (tests/pg.py)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results file (entries merged by backend)")
    p.add_argument("--generate-only", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.generate_only:  # the child that writes the files: its memory never counts towards the parent's peak
        print(json.dumps(generate_files(a.generate_only, a.listings, a.seed)))
        return 0
    if not DIGEST.exists():
        raise SystemExit(f"{DIGEST} not found: run with the project's virtualenv (pip install -e .)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jobdigest-import-") as tmp_name:
        tmp = Path(tmp_name)
        code = code_under_test(tmp)
        _say(f"generating {a.listings:,} listings (seed {a.seed}) …")
        g0 = time.perf_counter()
        gen = subprocess.run([sys.executable, "-m", "benchmarks.import_speed", "--generate-only", str(tmp / "data"),
                              "--listings", str(a.listings), "--seed", str(a.seed)],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        facts = json.loads(gen.stdout)
        made = ", ".join(f"{f['listings']:,} in {Path(f['path']).name} ({f['bytes'] / 1e6:.1f} MB)" for f in facts["files"])
        _say(f"  {made} in {time.perf_counter() - g0:.0f} s; importing with {code}")
        results = []
        sqlite_dir = tmp / "sqlite"
        sqlite_dir.mkdir()
        results.append(measure("sqlite", lambda i: f"sqlite:///{sqlite_dir / f'run{i}.db'}", facts, a.repeat, tmp))
        for line in report_lines(results[-1]):
            print(line, flush=True)
        if a.postgresql:
            from tests import pg

            server = pg.Server()
            base = server.start()
            try:
                def new_pg(i: int) -> str:
                    name = f"import_speed_{i}"
                    subprocess.run([str(server.bin / "createdb"), "-h", "127.0.0.1", "-p", str(server.port),
                                    "-U", "postgres", name], check=True, capture_output=True)
                    return base.rsplit("/", 1)[0] + f"/{name}"

                results.append(measure("postgresql", new_pg, facts, a.repeat, tmp))
                results[-1]["server"] = "tests.pg.Server: fsync=off, synchronous_commit=off, full_page_writes=off"
            finally:
                server.stop()
            for line in report_lines(results[-1]):
                print(line, flush=True)
    command = "python -m benchmarks.import_speed " + " ".join(argv if argv is not None else sys.argv[1:])
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    data = {k: facts[k] for k in ("listings", "seed", "shapes")} | {
        "files": [{k: f[k] for k in ("format", "listings", "bytes", "sha256")} for f in facts["files"]]}
    previous = json.loads(a.out.read_text()) if a.out.exists() else {}
    entries = previous.get("backends", {})
    for r in results:
        entries[r["backend"]] = {"date": now, "command": command.strip(), "machine": machine(), "code": code,
                                 "timed": "digest listings import FILE, one process per file",
                                 "data": data} | r
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"benchmark": "import_speed", "backends": entries}, indent=2, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    print(f"wrote {a.out} in {time.perf_counter() - started:.0f} s")
    return 0 if all(all(r["as_expected"].values()) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
