"""Engine, sessions and schema migrations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


STATEMENT_CACHE = 16  # prepared statements sqlite3 keeps per connection
FLAT_LISTS = 4_096  # JSON texts of short lists of strings remembered (preference lists: the same few recur)
_flat_lists: dict[str, tuple[str, ...]] = {}


def json_loads(text: str):
    """json.loads for JSON columns, with short lists of strings remembered: a run reads five preference lists a
    subscriber, nearly all of them lists it has read before. Each caller gets a list of its own."""
    known = _flat_lists.get(text)
    if known is not None:
        return list(known)
    value = json.loads(text)
    if type(value) is list and len(text) <= 256 and len(_flat_lists) < FLAT_LISTS and all(
            type(v) is str for v in value):
        _flat_lists[text] = tuple(value)
    return value


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so worker processes can share it.

    Statement parameters (addresses, names) never appear in SQLAlchemy's log lines or error messages.
    """
    try:
        if url.startswith("sqlite"):
            # A small statement cache: sqlite3 keeps 128 prepared statements per connection by default, and a run's
            # IN-lists of every length each make one, which grew peak memory by megabytes with the list's size.
            engine = create_engine(url, connect_args={"timeout": 60, "cached_statements": STATEMENT_CACHE},
                                   hide_parameters=True, json_deserializer=json_loads)
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True, hide_parameters=True, json_deserializer=json_loads)
    except Exception as e:  # bad URL, unknown driver: one clear line for the operator
        # Not chained: the original message may quote the whole URL, password included, and a traceback
        # (a Lambda cold start, a log) would print it.
        raise ConfigError(f"DIGEST_DATABASE_URL is not usable: {mask_password(f'{type(e).__name__}: {e}', url)}") from None


_USERINFO = re.compile(r"(://[^:/?#@\s]*):[^@\s]*@")


def mask_password(text: str, url: str) -> str:
    """`text` with the password of `url` (raw or percent-decoded, or any "://user:secret@") shown as ***."""
    masked = _USERINFO.sub(r"\1:***@", text)
    rest = url.split("://", 1)[-1]
    if "@" in rest and ":" in rest.rsplit("@", 1)[0]:
        password = rest.rsplit("@", 1)[0].split(":", 1)[1]
        for form in {password, unquote(password)} - {""}:
            masked = masked.replace(form, "***")
    return masked


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine) -> str:
    """Apply every pending migration; return the revision the database is now at."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return head_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_schema(engine: Engine) -> None:
    """Upgrade SQLite by itself; refuse to run on a PostgreSQL that is behind the code."""
    try:
        current = current_revision(engine)
    except OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if str(e.orig).strip() else type(e.orig).__name__
        raise ConfigError(f"cannot reach the database {engine.url.render_as_string()}: {reason}") from e
    if current == head_revision():
        return
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    raise ConfigError(
        f"the database schema is at {current or 'nothing'}, the code needs {head_revision()}: "
        "run `digest db upgrade`"
    )
