"""Fixtures: a fresh database per test on SQLite and on a real PostgreSQL, factories, the outbox."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import freezegun
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from digest import db
from digest.models import Base
from digest.settings import Settings
from digest.subscribers import SubscriberIn, upsert
from digest.taxonomy import load_taxonomy

from .support import pg

# freezegun reads every loaded module's attributes when it starts; Powertools' parser builds its pydantic models
# on first attribute access, which under a frozen clock would see FakeDatetime and fail. Leave it alone.
freezegun.configure(extend_ignore_list=["aws_lambda_powertools"])

# Fixtures that live beside their helpers in tests/support/ and are shared with every test module from here.
pytest_plugins = ["tests.support.aws", "tests.support.http_lambda", "tests.support.smtp", "tests.support.web",
                  "tests.reliability.fuzz_support"]

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
JOINED = NOW - timedelta(days=30)  # when factory subscribers confirmed, unless a test says otherwise


@pytest.fixture(scope="session")
def pg_url():
    """URL of the session's PostgreSQL: TEST_DATABASE_URL, or a server started here."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    try:
        server = pg.Server()
    except pg.PostgresMissing as e:
        pytest.fail(str(e))  # never a skip: the database tests are the point
    url = server.start()
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    return path


TABLES = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))


def write_artifact(name: str, data) -> None:
    """Keep a checker's findings as JSON under test-artifacts/ (gitignored) for people and CI logs."""
    out = Path(__file__).resolve().parent.parent / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / name).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def fresh_database(kind: str, request, tmp_path, sqlite_template) -> str:
    """A migrated, empty database: a copied SQLite file, or the session's PostgreSQL server truncated."""
    if kind == "sqlite":
        path = tmp_path / "digest.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_url")
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, sqlite_template):
    """Every database test runs on SQLite and on PostgreSQL."""
    return fresh_database(request.param, request, tmp_path, sqlite_template)


@pytest.fixture
def engine(db_url):
    engine = db.make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings(database_url=db_url, outbox_dir=tmp_path / "outbox", claim_lease_seconds=600)


@pytest.fixture
def taxonomy():
    return load_taxonomy()


@pytest.fixture
def listing_file(tmp_path):
    """Write listing dicts to a JSONL file and return its path."""
    counter = iter(range(1, 10**6))

    def write(records: list[dict]) -> str:
        path = tmp_path / f"listings-{next(counter)}.jsonl"
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
        return str(path)

    return write


def listing(id: str, **fields) -> dict:
    """A valid, verified listing verified the day before NOW; override any field."""
    base = {
        "id": id, "title": "Backend Engineer", "company": f"Company {id}", "url": f"https://jobs.example.com/{id}",
        "posted_at": "2026-11-22T08:00:00Z", "verified": True, "verified_at": "2026-11-22T10:00:00Z",
        "stack": ["python"], "location": "Worldwide",
    }
    return base | fields


@pytest.fixture
def add_listings(engine, taxonomy, listing_file):
    from digest.listings import import_listings

    def add(*records: dict, at: datetime | None = None):
        """Import the records at `at`; by default as a board fed continuously: each record in an import of its
        own at the moment the board verified it (NOW when it does not say), so its availability is its
        verified_at, as before a listing could arrive late."""
        if at is not None:
            groups = {at: list(records)}
        else:
            groups = {}
            for r in records:
                when = datetime.fromisoformat(r["verified_at"].replace("Z", "+00:00")) if r.get("verified_at") else NOW
                groups.setdefault(when, []).append(r)
        with Session(engine) as s:
            reports = [import_listings(s, listing_file(group), taxonomy, when) for when, group in sorted(groups.items())]
        rejected = [bad for report in reports for bad in report.rejected]
        assert not rejected, rejected

    return add


@pytest.fixture
def add_subscriber(engine, taxonomy, settings):
    def add(email: str, joined: datetime = JOINED, **prefs):
        prefs.setdefault("confirmed", True)
        prefs.setdefault("timezone", "UTC")
        with Session(engine) as s:
            sub, _ = upsert(s, SubscriberIn.model_validate({"email": email, **prefs}), taxonomy, settings, joined)
            s.commit()
            return sub.id

    return add


def read_outbox(directory: Path) -> dict[str, email.message.EmailMessage]:
    """Every message in an outbox, parsed strictly, keyed by its file name ("2026-W48/3")."""
    strict = email.policy.default.clone(raise_on_defect=True)
    return {
        p.relative_to(directory).with_suffix("").as_posix(): email.message_from_bytes(p.read_bytes(), policy=strict)
        for p in sorted(directory.rglob("*.eml"))
    }


LISTING_LINK = re.compile(r"https://jobs\.example\.com/([A-Za-z0-9._-]+)(?=[\s>)\]]|$)")


def listing_ids(msg: email.message.EmailMessage) -> list[str]:
    """The listing ids a digest links to, in order, read from its text part."""
    body = msg.get_body(("plain",)).get_content()
    seen: list[str] = []
    for m in LISTING_LINK.finditer(body):
        if m.group(1) not in seen:
            seen.append(m.group(1))
    return seen
