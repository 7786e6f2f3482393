"""The `digest` command run in-process as an operator runs it, and readers for what it prints."""

from __future__ import annotations

import json
import sys
import traceback
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from digest.cli import main
from digest.runtime import Runtime

from ..conftest import NOW

DIGEST = Path(sys.executable).parent / "digest"  # the console script installed in the venv


def digest(db_url: str, tmp_path: Path, *args: str, input: str | bytes | None = None,
           now: datetime | None = NOW) -> Result:
    """Run `digest ARGS` in-process with the environment an operator sets and the clock at `now` (None: the wall
    clock, which freezegun may move)."""
    app = Runtime(clock=lambda: now) if now is not None else Runtime()
    env = {"DIGEST_DATABASE_URL": db_url, "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"), "DIGEST_TRANSPORT": "outbox"}
    try:
        result = CliRunner().invoke(main, [str(a) for a in args], input=input, env=env, obj=app)
    finally:
        if "engine" in app.__dict__:
            app.engine.dispose()  # no PostgreSQL connection outlives the command
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail("digest raised instead of answering:\n" + "".join(traceback.format_exception(*result.exc_info)))
    assert "Traceback" not in result.stderr
    return result


def json_lines(text: str) -> list[dict]:
    """Parse `--json` output: one object per line (split on newlines only, titles may hold U+2028)."""
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def errors(result: Result) -> list[str]:
    """The lines the command wrote to stderr."""
    return result.stderr.splitlines()


def show(db_url, tmp_path, email: str) -> dict:
    """`subscribers show EMAIL --json`, parsed."""
    result = digest(db_url, tmp_path, "subscribers", "show", email, "--json")
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    return json.loads(result.stdout)


def invoke(settings, *args):
    """Run `digest ARGS` against these settings, letting exceptions through."""
    env = {"DIGEST_DATABASE_URL": settings.database_url, "DIGEST_OUTBOX_DIR": str(settings.outbox_dir)}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
