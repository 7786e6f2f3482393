"""Operator input that must not destroy or waste: a misconfigured outbox costs nobody an attempt; `digest serve`
on a port in use or an impossible host is one line (SQLite and PostgreSQL where a database is involved)."""

from __future__ import annotations

import socket

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.cli import App, main
from digest.models import Delivery

from .conftest import NOW, listing, listing_ids, read_outbox
from .test_cli import digest, errors


def test_an_outbox_that_cannot_be_written_stops_the_run_before_anyone_is_claimed(db_url, tmp_path, engine,
                                                                                  add_listings, add_subscriber):
    add_listings(listing("py-1", title="Senior Python Engineer"))
    sid = add_subscriber("ana@example.com", stack=["python"])
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the outbox should be\n", encoding="utf-8")  # DIGEST_OUTBOX_DIR under a file
    env = {"DIGEST_DATABASE_URL": db_url, "DIGEST_OUTBOX_DIR": str(blocker / "mail"), "DIGEST_TRANSPORT": "outbox"}
    from click.testing import CliRunner

    app = App(clock=lambda: NOW)
    result = CliRunner().invoke(main, ["run", "--now", NOW.isoformat()], env=env, obj=app)
    if "engine" in app.__dict__:
        app.engine.dispose()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert errors(result) == [f"Error: the outbox {blocker / 'mail'} cannot be written: Not a directory"]
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0  # nobody claimed, no attempt spent
    # Fixed, the next run sends as if the bad one never happened.
    blocker.unlink()
    fixed = digest(db_url, tmp_path, "run", "--now", NOW.isoformat())
    assert fixed.exit_code == 0, fixed.output
    assert listing_ids(read_outbox(tmp_path / "outbox")[f"2026-W48/{sid}"]) == ["py-1"]


def test_serve_on_a_port_in_use_or_an_impossible_host_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for host, why in (("127.0.0.1", "Address already in use"), ("999.999.999.999", "")):
            result = digest(f"sqlite:///{tmp_path}/digest.db", tmp_path, "serve", "--host", host, "--port", str(port))
            assert result.exit_code == 1 and "Traceback" not in result.output
            assert len(errors(result)) == 1 and errors(result)[0].startswith(f"Error: cannot listen on {host}:{port}: ")
            assert why in errors(result)[0]
