"""What the three edges (the `digest` command, the Lambda handlers, the web app) hand the core: settings, the
database engine, the taxonomy, the carrier and the clock, each built on first use, once per process or container.

The CLI builds one per command (settings read when a command first needs them, so a bad setting is one line);
the Lambda handlers one per container (digest.lambdas.state, built at cold start); the web app one per app
(subscribers.app.create_app, built before the first request). Tests pass in what they fake.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from . import db
from .settings import Settings
from .taxonomy import Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from .carriers.base import Transport


def utc_now() -> datetime:
    """The wall clock, in UTC: the runtime's clock unless one is passed in."""
    return datetime.now(UTC)


class Runtime:
    """Settings, engine, taxonomy and carrier, built lazily; pass any of them (or the clock) in to use it instead.

    `autoclose`: the carrier is never closed by its user (a server's), so the outbox indexes each mail as written.
    """

    def __init__(self, settings: Settings | None = None, *, engine: Engine | None = None,
                 transport: Transport | None = None, clock: Callable[[], datetime] = utc_now,
                 autoclose: bool = False):
        self.clock = clock
        self.autoclose = autoclose
        self._given_engine = engine
        # A value given here fills the cached property's slot, so it is never built.
        if settings is not None:
            self.settings = settings
        if transport is not None:
            self.transport = transport

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env()

    @cached_property
    def engine(self) -> Engine:
        """The engine (the one given, else one for DIGEST_DATABASE_URL) with its schema checked: SQLite is
        upgraded, a PostgreSQL behind the code refused."""
        engine = self._given_engine or db.make_engine(self.settings.database_url)
        db.ensure_schema(engine)
        return engine

    @cached_property
    def taxonomy(self) -> Taxonomy:
        return load_taxonomy()

    @cached_property
    def transport(self) -> Transport:
        """The carrier the settings name (digest.carriers.choose)."""
        from .carriers.choose import make_transport  # here: a command that sends nothing never loads a carrier

        return make_transport(self.settings, autoclose=self.autoclose)

    def session(self) -> Session:
        """A session on the engine whose objects stay readable after commit."""
        return Session(self.engine, expire_on_commit=False)

    def prepare(self, *names: str) -> Runtime:
        """Build these attributes now, so that a bad setting fails the start, not the first request."""
        for name in names:
            getattr(self, name)
        return self
