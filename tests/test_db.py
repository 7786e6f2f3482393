"""Schema migrations: they build exactly the models, apply by themselves on SQLite, and are asked for on PostgreSQL."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from digest import db
from digest.errors import ConfigError
from digest.models import Base, Listing

DIGEST = str(Path(sys.executable).with_name("digest"))


def test_migrations_build_exactly_the_models(engine):
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_sqlite_upgrades_by_itself(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    db.ensure_schema(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_postgresql_behind_the_code_is_refused_until_db_upgrade(pg_url):
    engine = db.make_engine(pg_url)
    fresh_url = pg_url.rsplit("/", 1)[0] + "/fresh_upgrade_check"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP DATABASE IF EXISTS fresh_upgrade_check"))
        conn.execute(text("CREATE DATABASE fresh_upgrade_check"))
    fresh = db.make_engine(fresh_url)
    with pytest.raises(ConfigError, match="digest db upgrade"):
        db.ensure_schema(fresh)
    fresh.dispose()
    out = subprocess.run([DIGEST, "db", "upgrade"], env={"DIGEST_DATABASE_URL": fresh_url, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True)
    assert f"revision {db.head_revision()}" in out.stdout
    fresh = db.make_engine(fresh_url)
    db.ensure_schema(fresh)  # now accepted
    fresh.dispose()


def scratch_database(kind: str, tmp_path, request, name: str):
    """An empty database of `kind` and a function that moves it to a revision (up or down)."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / (name + '.db')}"
    else:
        pg_url = request.getfixturevalue("pg_url")
        admin = db.make_engine(pg_url)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        url = pg_url.rsplit("/", 1)[0] + "/" + name
    engine = db.make_engine(url)

    def migrate(step, revision):
        cfg = db._alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)

    return engine, migrate


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_delivery_items_move_into_the_delivery_row_and_back(kind, tmp_path, request):
    """Migration 0005 carries every delivered listing into deliveries.listings, in order, and back on downgrade."""
    from alembic import command

    engine, migrate = scratch_database(kind, tmp_path, request, "migrate_items_check")
    migrate(command.upgrade, "0004")
    t = "'2026-11-16 08:00:00'"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (id, email, email_key, status, stack, levels, regions, timezone, send_day, send_hour,"
            " hide_no_salary, token_version, created_at, updated_at, bounce_count) VALUES"
            f" (7, 'a@example.com', 'a@example.com', 'active', '[]', '[]', '[]', 'UTC', 0, 8, false, 1, {t}, {t}, 0)"))
        for did, period, status in ((1, "2026-W46", "sent"), (2, "2026-W47", "sent"), (3, "2026-W48", "empty")):
            conn.execute(text(
                "INSERT INTO deliveries (id, subscriber_id, period, status, run_id, slot_at, window_start, cutoff,"
                " claimed_at, attempts, listing_count, total_matches) VALUES"
                f" ({did}, 7, '{period}', '{status}', 'r', {t}, {t}, {t}, {t}, 1, 0, 0)"))
        # Positions inserted out of order: the migration must keep the order sent, not the order stored.
        for did, pos, board, key in ((1, 1, "go-2", 22), (1, 0, "py-1", 11), (2, 0, "rs-3", 33)):
            conn.execute(text("INSERT INTO delivery_items (delivery_id, position, subscriber_id, listing_board_id,"
                              f" repost_key) VALUES ({did}, {pos}, 7, '{board}', {key})"))

    migrate(command.upgrade, "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, listings FROM deliveries ORDER BY id")).all()
    listings = {did: (json.loads(v) if isinstance(v, str) else v) for did, v in rows}
    assert listings == {1: [["py-1", 11], ["go-2", 22]], 2: [["rs-3", 33]], 3: None}
    assert "delivery_items" not in inspect(engine).get_table_names()

    migrate(command.downgrade, "0004")
    with engine.connect() as conn:
        items = conn.execute(text("SELECT delivery_id, position, subscriber_id, listing_board_id, repost_key"
                                  " FROM delivery_items ORDER BY delivery_id, position")).all()
    assert [tuple(r) for r in items] == [(1, 0, 7, "py-1", 11), (1, 1, 7, "go-2", 22), (2, 0, 7, "rs-3", 33)]
    assert "listings" not in {c["name"] for c in inspect(engine).get_columns("deliveries")}
    engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_availability_is_backfilled_from_the_first_import(kind, tmp_path, request):
    """Migration 0008 dates each verified listing's availability from what the row knows: the later of the
    board's verified_at and its first import, except a listing verified more than four weeks before it was first
    imported, which keeps its old date (never new); unverified listings have none."""
    from alembic import command

    engine, migrate = scratch_database(kind, tmp_path, request, "migrate_available_check")
    migrate(command.upgrade, "0007")
    rows = {  # board id: (verified, verified_at, imported_at)
        "late": (True, "2026-11-30 07:30:00", "2026-11-30 10:00:00"),  # the export arrived after the board verified
        "prompt": (True, "2026-11-30 09:00:00", "2026-11-29 10:00:00"),  # imported unverified, verified later
        "stale": (True, "2026-10-01 08:00:00", "2026-11-30 10:00:00"),  # a back catalogue: verified 8 weeks before
        "unverified": (False, None, "2026-11-30 10:00:00"),
    }
    with engine.begin() as conn:
        for n, (board, (verified, verified_at, imported_at)) in enumerate(rows.items(), 1):
            conn.execute(text(
                "INSERT INTO listings (id, board_id, title, company, url, posted_at, verified, verified_at, stack,"
                " regions, raw_tags, repost_key, imported_at, updated_at) VALUES (:id, :board, 'Backend', 'Co',"
                " 'https://x.example/j', '2026-11-01 00:00:00', :verified, :verified_at, '[]', '[]', '[]', :n,"
                " :imported_at, :imported_at)"),
                dict(id=n, board=board, verified=verified, verified_at=verified_at, imported_at=imported_at, n=n))
    migrate(command.upgrade, "head")
    with Session(engine) as s:
        got = {listing.board_id: listing.available_at for listing in s.scalars(select(Listing))}
    at = lambda text_: datetime.fromisoformat(text_).replace(tzinfo=UTC)  # noqa: E731
    assert got == {"late": at("2026-11-30 10:00:00"), "prompt": at("2026-11-30 09:00:00"),
                   "stale": at("2026-10-01 08:00:00"), "unverified": None}
    migrate(command.downgrade, "0007")
    assert "available_at" not in {c["name"] for c in inspect(engine).get_columns("listings")}
    engine.dispose()
