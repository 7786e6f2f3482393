"""Schema migrations: they build exactly the models, apply by themselves on SQLite, and are asked for on PostgreSQL."""

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from digest import db
from digest.errors import ConfigError
from digest.models import Base

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
