"""The `digest` command as an operator meets it: help with examples, usage errors, an unreachable database,
and the installed console script end to end (stdin included) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess

import click
import pytest
from click.testing import CliRunner

from digest.cli import main

from .support.cli import DIGEST, digest, errors, json_lines

UNREACHABLE = "postgresql+psycopg://digest@127.0.0.1:1/digest"


# -- help ----------------------------------------------------------------------------------------------

def command_paths(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            paths += command_paths(cmd, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_the_command_tree_has_what_the_design_names():
    paths = {" ".join(p) for p in command_paths()}
    assert {"listings import", "listings list", "subscribers add", "subscribers import", "subscribers list",
            "subscribers show", "subscribers remove", "subscribers export", "run", "preview", "test-send",
            "db upgrade", "demo", "runs", "stats", "why", "listings expire", "listings remove", "audit"} <= paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "digest")
def test_every_command_has_help_with_an_example(path, tmp_path):
    result = CliRunner().invoke(main, [*path, "--help"], env={"DIGEST_DATABASE_URL": UNREACHABLE})
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout
    # The example is a real invocation of this very command, not a placeholder.
    assert f"digest {' '.join(path)}".strip() in result.stdout


# -- usage errors and a database that is not there --------------------------------------------------------

def test_run_with_a_bad_now_is_a_usage_error(tmp_path):
    result = digest(f"sqlite:///{tmp_path / 'd.db'}", tmp_path, "run", "--now", "notadate")
    assert result.exit_code == 2
    assert errors(result)[-1] == (
        "Error: Invalid value for '--now': 'notadate' is not an ISO 8601 time, e.g. 2026-11-23T08:00:00Z")
    assert result.stdout == ""
    assert not (tmp_path / "outbox").exists()


@pytest.mark.parametrize("args", [
    ("db", "upgrade"),
    ("listings", "list"),
    ("subscribers", "show", "ana@example.com"),
    ("run", "--now", "2026-11-23T09:00:00Z"),
], ids=" ".join)
def test_an_unreachable_postgresql_is_one_clear_line(args, tmp_path):
    result = digest(UNREACHABLE, tmp_path, *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = errors(result)
    assert line.startswith("Error: ") and "127.0.0.1" in line and "refused" in line


def test_the_installed_command_answers_an_unreachable_database_without_a_traceback(tmp_path):
    proc = subprocess.run([DIGEST, "listings", "list"], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "DIGEST_DATABASE_URL": UNREACHABLE})
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("Error: cannot reach the database")
    assert "Traceback" not in proc.stderr


# -- the console script end to end ----------------------------------------------------------------------

def test_stdin_import_end_to_end(db_url, tmp_path):
    """`cat file | digest listings import -` sniffs a JSON array and JSON Lines; `list --json` shows both."""
    env = {"PATH": "/usr/bin:/bin", "DIGEST_DATABASE_URL": db_url, "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox")}

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([DIGEST, *args], input=input, capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=60)

    array = json.dumps([
        {"id": "arr-1", "title": "Sr. Golang Engineer", "company": "Acme", "url": "https://acme.example/1",
         "posted_at": "2026-11-20T10:00:00Z", "verified": True, "location": "Remote - US only"},
        {"id": "arr-2", "title": "Backend Engineer", "company": "Acme", "url": "ftp://acme.example/2",
         "posted_at": "2026-11-20T10:00:00Z"},
    ], indent=2)
    first = run("listings", "import", "-", input=array)
    assert first.returncode == 1
    assert first.stderr.splitlines() == ["-: line 11 (arr-2): url: must be an http:// or https:// URL"]
    assert first.stdout == "imported 1 listings (1 new, 0 updated, 0 unchanged); 1 rejected\n"

    lines = "\n".join(json.dumps(r) for r in [
        {"id": "jl-1", "title": "Python Developer", "company": "Bolt", "url": "https://bolt.example/1",
         "posted_at": "2026-11-21", "verified": "true", "stack": "django, celery", "location": "EMEA"},
    ]) + "\n"
    second = run("listings", "import", "-", input=lines)
    assert (second.returncode, second.stderr) == (0, "")
    assert second.stdout == "imported 1 listings (1 new, 0 updated, 0 unchanged); 0 rejected\n"

    listed = run("listings", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    got = {row["id"]: row for row in json_lines(listed.stdout)}
    assert set(got) == {"arr-1", "jl-1"}
    assert (got["arr-1"]["stack"], got["arr-1"]["level"], got["arr-1"]["regions"]) == (["go"], "senior", ["us"])
    assert (got["jl-1"]["stack"], got["jl-1"]["level"], got["jl-1"]["verified"]) == (["python"], None, True)
    assert got["jl-1"]["regions"] == ["africa", "europe", "middle-east", "uk"]
    assert got["jl-1"]["posted_at"] == "2026-11-21T00:00:00Z"
