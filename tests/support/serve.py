"""`digest` and `digest serve` as subprocesses: a free loopback port, the environment that points them at a test's
database, outbox and links, and the wait until the server answers /healthz."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import pytest

from digest.settings import Settings


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a `digest` subprocess see the same database, outbox and links."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    return env | {"DIGEST_DATABASE_URL": settings.database_url, "DIGEST_OUTBOX_DIR": str(settings.outbox_dir),
                  "DIGEST_BASE_URL": settings.base_url}


def wait_until_healthy(proc: subprocess.Popen, base: str, log: Callable[[], str], seconds: float) -> None:
    """Return once `base`/healthz answers 200; fail with the server's log if it exits first or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail(f"digest serve exited {proc.returncode} before answering:\n{log()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"digest serve did not answer {base}/healthz within {seconds:.0f} s")
        time.sleep(0.05)


@contextmanager
def serving(port: int, env: dict[str, str], log_path: Path, *args: str, seconds: float = 20):
    """`digest serve --port PORT ARGS` as a subprocess (its own session) with `env`; yields the process once
    /healthz answers, stops it after and fails if it logged a traceback or an unhandled error."""
    log = log_path.open("w+")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("digest")), "serve", "--port", str(port), *args],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=log_path.parent,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(proc, base, lambda: log.seek(0) or log.read(), seconds)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.seek(0)
        errors = [line for line in log if "Traceback" in line or "unhandled error" in line]
        log.close()
    assert not errors, f"the server logged errors; see {log_path}"
