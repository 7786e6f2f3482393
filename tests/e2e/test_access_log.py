"""`digest serve`'s access log, read from a real server on loopback: one line per request with method, path,
status, size and duration, the client as a keyed hash, and never a token, an address or a query string."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from digest import tokens
from subscribers.access_log import redact

from ..conftest import fresh_database
from ..support.serve import cli_env, serving
from .conftest import digest_cli

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) ([0-9a-f]{12}) ([A-Z]+) (\S+) (\d{3}) (\d+) (\d+\.\d)ms$")
ANA = "ana.lopez@example.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, sqlite_template):
    """Both databases here (no browser, so this costs little)."""
    return fresh_database(request.param, request, tmp_path, sqlite_template)


def fetch(url: str, data: bytes | None = None) -> tuple[int, int]:
    """Status and body length of one request (an error page's too)."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, len(r.read())
    except urllib.error.HTTPError as e:
        return e.code, len(e.read())


def test_every_request_is_one_line_without_its_token(settings, port, tmp_path):
    digest_cli(settings, "subscribers", "add", ANA, "--confirmed")
    unsubscribe = tokens.sign(settings.secret_keys, "unsubscribe", 1, 1)
    preferences = tokens.sign(settings.secret_keys, "preferences", 1, 1)
    base = settings.base_url
    asked = [  # what was requested, and the path the log must show
        ("GET", "/healthz", None, "/healthz"),
        ("GET", "/subscribe", None, "/subscribe"),
        ("GET", f"/preferences/{preferences}?utm_source={ANA}", None, "/preferences/…?…"),
        ("GET", f"/unsubscribe/{unsubscribe}", None, "/unsubscribe/…"),
        ("POST", f"/unsubscribe/{unsubscribe}", b"List-Unsubscribe=One-Click", "/unsubscribe/…"),
        ("GET", f"/unsubscribe/{unsubscribe}/not-a-page", None, "/unsubscribe/…/not-a-page"),
        ("GET", f"/Confirm/{unsubscribe[:12]}", None, "/Confirm/…"),  # any case, however short
        ("GET", f"/{ANA}", None, "/…"),
        ("GET", "/static/no such file", None, "/static/no%20such%20file"),
    ]
    answers = []
    with serving(port, cli_env(settings), tmp_path / "serve.log"):
        for _method, path, data, _shown in asked:
            answers.append(fetch(base + path.replace(" ", "%20"), data))
    text = (tmp_path / "serve.log").read_text("utf-8")

    probe, *lines = [m.groups() for m in map(LINE.match, text.splitlines()) if m]
    assert probe[2:5] == ("GET", "/healthz", "200")  # `serving` waits for /healthz to answer
    assert len(lines) == len(asked), text
    assert [(method, shown) for method, _p, _d, shown in asked] == [(m, p) for _t, _c, m, p, *_ in lines]
    assert [(str(status), str(size)) for status, size in answers] == [(s, n) for *_x, s, n, _d in lines]
    assert [status for status, _size in answers] == [200, 200, 200, 200, 200, 404, 404, 404, 404]
    assert len({client for _t, client, *_ in lines}) == 1  # one client, one hash
    access = "\n".join(line for line in text.splitlines() if LINE.match(line))
    for secret in (unsubscribe, preferences, unsubscribe[:12], ANA, "utm_source", "127.0.0.1"):
        assert secret not in text.replace(f"serving on {base}", "") and secret not in access
    assert all(float(duration) < 10_000 for *_x, duration in lines)


def test_the_access_log_can_go_to_a_file_or_nowhere(settings, port, tmp_path):
    for where in (str(tmp_path / "access.log"), "off"):
        with serving(port, cli_env(settings), tmp_path / "serve.log", "--access-log", where):
            assert fetch(settings.base_url + "/healthz") == (200, 16)
        lines = [m for m in map(LINE.match, (tmp_path / "serve.log").read_text().splitlines()) if m]
        assert lines == []  # not on stderr
    written = (tmp_path / "access.log").read_text().splitlines()
    assert len(written) == 2  # `serving`'s readiness probe and ours; nothing from the run with "off"
    assert [LINE.match(line).group(3, 4, 5, 6) for line in written] == [("GET", "/healthz", "200", "16")] * 2


@pytest.mark.parametrize("path, query, shown", [
    ("/unsubscribe/eyJhbGciOi", "", "/unsubscribe/…"),
    ("/feedback/abc/undo", "", "/feedback/…/undo"),
    ("/preferences/abc/unhide", "x=1", "/preferences/…/unhide?…"),
    ("/test-copy/unsubscribe", "", "/test-copy/unsubscribe"),
    ("/a\r\nb/\x1b[31m", "", "/a%0D%0Ab/%1B%5B31m"),  # a log line cannot be split or recoloured
    ("/x/" + "A" * 24, "", "/x/…"),
])
def test_paths_are_written_without_what_could_be_a_token(path, query, shown):
    assert redact(path, query) == shown
