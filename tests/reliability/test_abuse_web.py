"""Attacks on the real `digest serve` (waitress) on loopback: a huge body, a crowd of idle half-sent connections,
cross-site form posts. Each measures what a person (or a monitor) would: the status that comes back and how
soon, what the server holds on disk and in memory, what is stored and what is mailed.

Figures for the README's Reliability table are printed (`pytest -s`) and written to test-artifacts/abuse_web.json.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from digest import db, tokens
from digest.models import Subscriber
from digest.settings import Settings
from subscribers.cli import SERVER_LIMITS

from ..conftest import write_artifact
from ..support.serve import free_port, serving as serve_process
from ..support.web import FORM, ONE_CLICK, Page

KEY = "abuse-web-signing-key-0123456789abcdef"
BOARD = "https://jobs.example.com"
HUGE = 100 * 1024 * 1024
FIGURES: dict[str, object] = {}


class Served:
    def __init__(self, proc: subprocess.Popen, port: int, tmp: Path, settings: Settings):
        self.proc, self.port, self.tmp, self.settings = proc, port, tmp, settings
        self.base = f"http://127.0.0.1:{port}"

    def temp_files(self) -> dict[str, int]:
        """The server's open files under its TMPDIR (waitress spills big bodies there), with their sizes now."""
        out = {}
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
                if target.startswith(str(self.tmp / "tmp")):
                    out[target] = os.stat(fd).st_size
            except OSError:
                continue  # closed meanwhile
        return out

    def rss(self) -> int:
        """The server's resident memory in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@contextmanager
def serving(db_url: str, tmp: Path, **env):
    """`digest serve` on a free loopback port over `db_url`, its TMPDIR inside `tmp`; stops it after."""
    port = free_port()
    settings = Settings(database_url=db_url, outbox_dir=tmp / "outbox", base_url=f"http://127.0.0.1:{port}",
                        secret_keys=(KEY,))
    (tmp / "tmp").mkdir(exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")} | {
        "DIGEST_DATABASE_URL": db_url, "DIGEST_OUTBOX_DIR": str(settings.outbox_dir),
        "DIGEST_BASE_URL": settings.base_url, "DIGEST_SECRET_KEYS": KEY, "TMPDIR": str(tmp / "tmp")} | env
    with serve_process(port, environ, tmp / "serve.log", "--threads", "2", seconds=30) as proc:
        yield Served(proc, port, tmp, settings)


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template) -> str:
    shutil.copy(sqlite_template, tmp_path / "digest.db")
    return f"sqlite:///{tmp_path / 'digest.db'}"


@pytest.fixture(scope="module", autouse=True)
def _figures():
    yield
    if FIGURES:
        print("\nabuse_web figures:", FIGURES)
        write_artifact("abuse_web.json", FIGURES)


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent until it closed the connection (or `timeout` passed)."""
    sock.settimeout(timeout)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return out


def healthz(base: str, timeout: float) -> float:
    """Seconds /healthz took to answer 200."""
    start = time.monotonic()
    with urllib.request.urlopen(f"{base}/healthz", timeout=timeout) as r:
        assert r.status == 200 and r.read() == b'{"status":"ok"}\n'
    return time.monotonic() - start


def watch(served: Served, stop: threading.Event, seen: dict) -> None:
    """Record the largest temp file and the highest RSS of the server while an upload runs."""
    while not stop.is_set():
        for path, size in served.temp_files().items():
            seen["temp"] = max(seen["temp"], size)
        seen["rss"] = max(seen["rss"], served.rss())
        time.sleep(0.01)


# -- a huge body ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_100_mb_body_is_refused_at_once_without_a_temp_file(sqlite_url, tmp_path, framing):
    with serving(sqlite_url, tmp_path) as served:
        rss_before = served.rss()
        seen, stop = {"temp": 0, "rss": rss_before}, threading.Event()
        watcher = threading.Thread(target=watch, args=(served, stop, seen), daemon=True)
        watcher.start()
        head = (f"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nContent-Type: {FORM}\r\n"
                + ("Content-Length: %d\r\n" % HUGE if framing == "content-length" else "Transfer-Encoding: chunked\r\n")
                + "\r\n").encode()
        chunk = b"email=" + b"a" * (1024 * 1024 - 6)
        start, sent, answer = time.monotonic(), 0, b""
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            sock.sendall(head)
            try:
                while sent < HUGE:
                    if select.select([sock], [], [], 0)[0]:
                        break  # the server has answered: stop sending, as a browser would
                    piece = chunk if framing == "content-length" else b"%x\r\n%s\r\n" % (len(chunk), chunk)
                    sock.sendall(piece)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # it closed the connection on us: what it answered is read below
            answer = read_response(sock, 10)
        took = time.monotonic() - start
        stop.set()
        watcher.join(5)
        time.sleep(0.2)
        assert healthz(served.base, 5) < 2  # and it is still answering
    assert seen["temp"] == 0, f"a {seen['temp'] / 1e6:.1f} MB temp file was written"
    assert seen["rss"] - rss_before < 16 * 1024 * 1024, f"RSS grew by {(seen['rss'] - rss_before) / 1e6:.0f} MB"
    assert sent < 16 * 1024 * 1024, f"the server read {sent / 1e6:.0f} MB before refusing"
    assert took < 5, f"the answer took {took:.1f} s"
    # waitress's own answer (plain text): the body never reaches the app.
    assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 413 Request Entity Too Large", answer[:300]
    FIGURES[f"huge_body_{framing}"] = {"seconds_to_413": round(took, 3), "client_bytes_sent": sent,
                                       "largest_temp_file": seen["temp"], "rss_growth": seen["rss"] - rss_before}


# -- idle half-sent connections ---------------------------------------------------------------------------

def half_sent(port: int, n: int) -> list[socket.socket]:
    """`n` connections that each send half a request's headers and then nothing (slowloris)."""
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40\r\nX-Idle: %d\r\n" % i)
        socks.append(s)
    return socks


def closed_by_server(socks: list[socket.socket], within: float) -> int:
    """How many of `socks` the server closes (without a byte of answer) within `within` seconds."""
    open_, closed, deadline = list(socks), 0, time.monotonic() + within
    while open_ and time.monotonic() < deadline:
        readable, _, _ = select.select(open_, [], [], 0.2)
        for sock in readable:
            try:
                data = sock.recv(1)
            except ConnectionResetError:
                data = b""
            assert data == b"", "an idle half-sent request got an answer"
            open_.remove(sock)
            closed += 1
    return closed


def test_idle_half_sent_connections_do_not_stop_healthz(sqlite_url, tmp_path):
    timeout = SERVER_LIMITS["channel_timeout"] + SERVER_LIMITS["cleanup_interval"]
    limit = SERVER_LIMITS["connection_limit"]
    with serving(sqlite_url, tmp_path) as served:
        first = half_sent(served.port, 120)  # more than waitress's default limit of 100, which starved it
        with_120 = healthz(served.base, 5)
        assert with_120 < 2, f"/healthz took {with_120:.1f} s beside 120 idle connections"
        # More idle connections than the limit: new ones wait in the backlog until the silent ones are dropped.
        second = half_sent(served.port, limit - 120 + 30)
        over_limit = healthz(served.base, 30)
        assert over_limit < timeout + 3, f"/healthz took {over_limit:.1f} s beside {limit + 30} idle connections"
        # Every idle one is closed by the server after its silence, without an answer; the last were let in
        # only when the first were dropped, so they go one timeout later.
        assert closed_by_server(first + second, 2 * timeout + 3) == len(first) + len(second)
        assert healthz(served.base, 5) < 1
        for s in first + second:
            s.close()
    FIGURES["idle_connections"] = {"healthz_beside_120_idle_s": round(with_120, 3),
                                   f"healthz_beside_{limit + 30}_idle_s": round(over_limit, 2),
                                   "idle_dropped_after_s": timeout}


# -- cross-site form posts --------------------------------------------------------------------------------

def post(url: str, body: bytes, **headers) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": FORM} | headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def stored(db_url: str, address: str) -> Subscriber | None:
    engine = db.make_engine(db_url)
    try:
        with Session(engine) as s:
            return s.scalar(sql_select(Subscriber).where(Subscriber.email_key == address.lower()))
    finally:
        engine.dispose()


def mails_to(outbox: Path, address: str) -> int:
    return sum(f"To: {address}" in p.read_text(errors="replace") for p in outbox.rglob("*.eml")) if outbox.exists() else 0


def test_cross_site_sign_ups_are_refused_and_one_click_unsubscribe_still_works(db_url, tmp_path, add_subscriber):
    sid = add_subscriber("leaving@example.com")
    with serving(db_url, tmp_path, DIGEST_SIGNUP_ORIGINS=BOARD) as served:
        own = served.base

        def sign_up(address: str, **headers):
            body = urllib.parse.urlencode({"email": address, "timezone": "UTC"}).encode()
            return post(f"{own}/subscribe", body, **headers)

        attacks = {
            "evil@example.com": {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
            "null@example.com": {"Origin": "null"},
            "lookalike@example.com": {"Origin": f"{own}.evil.example"},
            "fetch-site@example.com": {"Sec-Fetch-Site": "cross-site"},
            "sibling@example.com": {"Origin": "https://digest.jobs.example.com", "Sec-Fetch-Site": "same-site"},
        }
        for address, headers in attacks.items():
            status, html = sign_up(address, **headers)
            page = Page(html)
            assert status == 403 and page.h1 == "This form cannot be sent from another site", (address, status)
            assert f"{own}/subscribe" in page.text
            assert address not in html
        allowed = {
            "own@example.com": {"Origin": own, "Sec-Fetch-Site": "same-origin"},
            "board@example.com": {"Origin": BOARD, "Sec-Fetch-Site": "cross-site"},
            "typed@example.com": {"Sec-Fetch-Site": "none"},
            "curl@example.com": {},
        }
        for address, headers in allowed.items():
            status, html = sign_up(address, **headers)
            assert status == 200 and Page(html).h1 == "Check your inbox", (address, status)
        # One-click unsubscribe from a mail client: no Origin, or the mail client's own.
        link = f"{own}/unsubscribe/{tokens.sign((KEY,), 'unsubscribe', sid, 1)}"
        status, _ = post(link, ONE_CLICK, Origin="https://mail.example.net", **{"Sec-Fetch-Site": "cross-site"})
        assert status == 200
    for address in attacks:
        assert stored(db_url, address) is None and mails_to(served.settings.outbox_dir, address) == 0
    for address in allowed:
        assert stored(db_url, address).status == "pending" and mails_to(served.settings.outbox_dir, address) == 1
    assert stored(db_url, "leaving@example.com").status == "unsubscribed"
    FIGURES["cross_site"] = {"refused": len(attacks), "allowed": len(allowed), "one_click_foreign_origin": 200}

