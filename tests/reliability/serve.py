"""The real `digest serve` for the abuse suite: a subprocess on a free loopback port, optionally on a moved wall
clock (Debian's faketime), stopped the way a service manager stops it (SIGTERM), which drains its page mail."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest

from digest.settings import Settings

from ..support.serve import cli_env, wait_until_healthy

DIGEST = str(Path(sys.executable).with_name("digest"))
FAKETIME = shutil.which("faketime")
STOPPED = "page mail requests handled"  # the server's last line


def at_clock(when: datetime | None) -> list[str]:
    """The command prefix that starts a process at `when` (UTC), or nothing for the real clock."""
    if when is None:
        return []
    if FAKETIME is None:
        pytest.fail("faketime is not installed (Debian package faketime; ./scripts/test installs it)")
    return [FAKETIME, when.strftime("%Y-%m-%d %H:%M:%S")]


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return cli_env(settings) | {"TZ": "UTC", "DIGEST_SECRET_KEYS": ",".join(settings.secret_keys)} | extra


@contextmanager
def serving(settings: Settings, port: int, log: Path, when: datetime | None = None, **extra: str) -> Iterator[str]:
    """`digest serve` until the block ends, then SIGTERM and wait (the page mail it accepted leaves first)."""
    out = log.open("a+")
    stops = log.read_text().count(STOPPED) if log.exists() else 0
    proc = subprocess.Popen([*at_clock(when), DIGEST, "serve", "--port", str(port)], env=env_for(settings, **extra),
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(proc, base, log.read_text, 30)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # faketime forks: stop the whole session
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()
        # faketime's own process ends at the signal; the server it started ends once its page mail has left.
        deadline = time.monotonic() + 30
        while log.read_text().count(STOPPED) == stops and time.monotonic() < deadline:
            time.sleep(0.05)
    text = log.read_text()
    assert text.count(STOPPED) == stops + 1, text
    assert "Traceback" not in text and "unhandled error" not in text, text


def cli(settings: Settings, when: datetime | None, *args: str) -> str:
    """Run the real `digest` command (on a moved clock if `when`); return its stdout."""
    done = subprocess.run([*at_clock(when), DIGEST, *args], env=env_for(settings), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"digest {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return done.stdout


def post(base: str, path: str, fields: list[tuple[str, str]] | dict) -> tuple[int, str]:
    """POST a form as the page's own form does (same origin); return the status and the page."""
    body = urllib.parse.urlencode(fields, doseq=True).encode()
    request = urllib.request.Request(f"{base}{path}", data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Origin": base})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get(base: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{base}{path}", timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def outbox_mails(outbox: Path, folder: str) -> dict[str, email.message.EmailMessage]:
    """The messages in one outbox folder, parsed, by file name."""
    strict = email.policy.default.clone(raise_on_defect=True)
    return {p.name: email.message_from_bytes(p.read_bytes(), policy=strict)
            for p in sorted((outbox / folder).glob("*.eml"))}
