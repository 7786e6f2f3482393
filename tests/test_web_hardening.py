"""Issue 14's web hardening, unit by unit (the attacks on the real server are tests/reliability/test_abuse_web.py):
signing keys, cross-site form posts, the client address behind proxies, headers of every page, timezone names,
terminal-safe operator output, token lengths as the README states them, revoked unsubscribe links."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from digest import lifecycle
from digest.cli import main
from digest.errors import ConfigError
from digest.models import Subscriber
from digest.settings import DEV_SECRET_KEY, MIN_KEY_BYTES, Settings
from subscribers.cli import is_loopback
from subscribers.limits import client_ip, network

from .conftest import NOW
from .support.cli import digest, json_lines
from .support.web import FORM, ONE_CLICK, Page, mail_link, make_app, parse_mail

README = Path(__file__).resolve().parent.parent / "README.md"
MAKE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
GOOD_KEY = "k" * MIN_KEY_BYTES


# -- signing keys ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("keys, n, size", [("short-key", 1, 9), (f"{GOOD_KEY},old-key", 2, 7),
                                          ("é" * 15, 1, 30)])
def test_a_key_under_32_bytes_is_refused_with_how_to_make_one(keys, n, size):
    with pytest.raises(ConfigError) as e:
        Settings.from_env({"DIGEST_SECRET_KEYS": keys})
    assert str(e.value) == (f"DIGEST_SECRET_KEYS: key {n} is {size} bytes; each key must be at least 32 bytes. "
                            f"Make one with: {MAKE_KEY}")
    assert "short-key" not in str(e.value) and "old-key" not in str(e.value)


def test_the_development_key_meets_the_rule_and_a_made_key_passes():
    assert len(DEV_SECRET_KEY.encode()) >= 32
    assert Settings.from_env({}).secret_keys == (DEV_SECRET_KEY,)
    assert Settings.from_env({"DIGEST_SECRET_KEYS": "W4qmN0b3-Xn9mQbZf1kq3u8lF0n2hYt5gS7pRcVw1Eo"}).secret_keys


def test_the_cli_refuses_a_short_key_with_one_line(tmp_path):
    result = CliRunner().invoke(main, ["subscribers", "list"], env={
        "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}", "DIGEST_SECRET_KEYS": "change-me"})
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"Error: DIGEST_SECRET_KEYS: key 1 is 9 bytes; each key must be at least "
                                          f"32 bytes. Make one with: {MAKE_KEY}"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "jobs.example.com"])
def test_serve_off_loopback_refuses_the_development_key(tmp_path, host):
    env = {"DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    result = CliRunner().invoke(main, ["serve", "--host", host, "--port", "8000"], env=env)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: refusing to serve on {host} with the development signing key: anyone could forge links. Set "
        f"DIGEST_SECRET_KEYS to a key of your own (make one with: {MAKE_KEY}), or serve on 127.0.0.1"]
    # Also as a verifying (old) key beside a real one.
    env["DIGEST_SECRET_KEYS"] = f"{GOOD_KEY},{DEV_SECRET_KEY}"
    assert CliRunner().invoke(main, ["serve", "--host", host], env=env).exit_code == 1


def test_loopback_is_only_what_this_machine_alone_reaches():
    assert all(map(is_loopback, ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost", "LOCALHOST"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", "localhost.example.com"]))


# -- cross-site form posts ------------------------------------------------------------------------------------

BOARD = "https://jobs.example.com"


@pytest.fixture
def site(web):
    """The app with the board's page allowed to post the sign-up form; no per-client limit in the way."""
    settings = web.settings.with_(signup_origins=(BOARD,), signup_limit=0)
    first = web.app
    web.app = make_app(settings, web.engine, transport=web.transport, clock=web.clock)
    web.client, web.settings = web.app.test_client(use_cookies=False), settings
    yield web
    web.app.extensions["digest"].mailer.close()
    web.app = first  # the web fixture closes its own app's mailer


def sign_up(site, address: str, **headers):
    return site.client.post("/subscribe", data={"email": address, "timezone": "UTC"}, content_type=FORM,
                            headers=headers)


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "null"},  # a sandboxed frame, a data: page
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a page under no-referrer elsewhere
    {"Origin": "http://127.0.0.1:8000.evil.example"},
    {"Origin": "http://127.0.0.1:8000@evil.example"},
    {"Origin": "http://evil.example@127.0.0.1:8000"},  # no browser sends these: a forged header
    {"Origin": "http://127.0.0.1:8000/subscribe"},
    {"Origin": "https://127.0.0.1:8000"},  # another scheme is another origin
    {"Origin": "https://jobs.example.com:8443"},  # another port too
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is not our page
])
def test_a_cross_site_sign_up_is_refused_with_a_clear_page_and_nothing_done(site, headers):
    before = site.dump()
    r = sign_up(site, "victim@example.com", **headers)
    page = Page(r.data)
    assert r.status_code == 403 and r.mimetype == "text/html"
    assert page.h1 == "This form cannot be sent from another site"
    assert "Please use the form at http://127.0.0.1:8000/subscribe." in page.text
    assert "victim@example.com" not in r.get_data(as_text=True)
    assert site.dump() == before and site.transport.sent == []


@pytest.mark.parametrize("headers", [
    {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
    {"Origin": "HTTP://127.0.0.1:8000"},
    {"Origin": BOARD, "Sec-Fetch-Site": "cross-site"},  # the board's own page embeds the form
    {"Origin": "https://jobs.example.com:443"},
    {"Sec-Fetch-Site": "same-origin"},
    {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # our page under a no-referrer policy
    {"Sec-Fetch-Site": "none"},  # typed or bookmarked
    {},  # curl, a script, an old client: no browser, no forgery to stop
])
def test_a_sign_up_from_our_page_the_boards_or_no_browser_goes_through(site, headers):
    r = sign_up(site, "person@example.com", **headers)
    assert r.status_code == 200 and Page(r.data).h1 == "Check your inbox"
    assert [m["To"] for m in site.mails()] == ["person@example.com"]


def test_the_check_is_keyed_on_endpoints_so_manage_gets_it_too(site):
    from subscribers.origins import CHECKED_ENDPOINTS

    assert {"pages.subscribe", "pages.manage"} <= CHECKED_ENDPOINTS
    # Every other POST route is untouched: their tokens protect them, and mail clients post one-click.
    rules = {r.endpoint for r in site.app.url_map.iter_rules() if "POST" in r.methods}
    assert rules - CHECKED_ENDPOINTS and "pages.unsubscribe" in rules


def test_the_sign_up_page_lets_the_browser_name_it_and_token_pages_do_not(site, add_subscriber):
    """Under "no-referrer" browsers post a form with `Origin: null`; the sign-up page (no token in its URL) uses
    "same-origin" so our own form carries our origin, and still sends nothing to other sites."""
    for path in ("/", "/subscribe"):
        assert site.client.get(path).headers["Referrer-Policy"] == "same-origin"
    assert sign_up(site, "bad-address").headers["Referrer-Policy"] == "same-origin"  # the form again, with errors
    sid = add_subscriber("token@example.com")
    for purpose in ("preferences", "unsubscribe"):
        assert site.client.get(f"/{purpose}/{site.token(purpose, sid)}").headers["Referrer-Policy"] == "no-referrer"


def test_token_routes_accept_posts_from_anywhere(site, add_subscriber):
    """One-click unsubscribe comes from the mail client (no Origin, or its own); /confirm and /preferences carry
    the link's secret."""
    foreign = {"Origin": "https://mail.example.net", "Sec-Fetch-Site": "cross-site"}
    sid = add_subscriber("reader@example.com")
    pending = add_subscriber("new@example.com", confirmed=False)
    r = site.client.post(f"/confirm/{site.token('confirm', pending)}", content_type=FORM, headers=foreign)
    assert r.status_code == 200 and site.row(pending)["status"] == "active"
    r = site.post_form(f"/preferences/{site.token('preferences', sid)}",
                       {"timezone": "Europe/Berlin", "send_day": "monday", "send_hour": "8", "cadence": "weekly"},
                       headers=foreign)
    assert r.status_code == 200 and site.row(sid)["timezone"] == "Europe/Berlin"
    r = site.client.post(f"/unsubscribe/{site.token('unsubscribe', sid)}", data=ONE_CLICK, content_type=FORM,
                         headers=foreign)
    assert r.status_code == 200 and site.row(sid)["status"] == "unsubscribed"


def test_signup_origins_are_read_as_origins_and_anything_else_is_refused():
    settings = Settings.from_env({"DIGEST_SIGNUP_ORIGINS": " https://Jobs.Example.com/ ,http://localhost:3000",
                                  "DIGEST_BASE_URL": "https://digest.example.com/"})
    assert settings.signup_origins == ("https://jobs.example.com", "http://localhost:3000")
    assert settings.own_origin == "https://digest.example.com"
    for bad in ("jobs.example.com", "https://jobs.example.com/signup", "ftp://jobs.example.com", "https://",
                "https://jobs.example.com?x=1"):
        with pytest.raises(ConfigError, match="DIGEST_SIGNUP_ORIGINS: .* is not an origin"):
            Settings.from_env({"DIGEST_SIGNUP_ORIGINS": bad})


# -- the client's address --------------------------------------------------------------------------------------

PROXIES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "127.0.0.1/32", "fd00::/8"))


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("198.51.100.7", "", "198.51.100.7"),
    ("198.51.100.7", "192.0.2.1", "198.51.100.7"),  # a direct request: the header is anyone's words
    ("10.0.0.2", "192.0.2.1", "192.0.2.1"),
    ("10.0.0.2", "6.6.6.6, 192.0.2.1", "192.0.2.1"),  # what the client wrote before the proxy is ignored
    ("10.0.0.2", "6.6.6.6, 192.0.2.1, 10.9.9.9, 127.0.0.1", "192.0.2.1"),  # three proxies of ours
    ("127.0.0.1", "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # only proxies: the farthest one
    ("127.0.0.1", "", "127.0.0.1"),
    ("::ffff:10.0.0.2", "2001:db8::5", "2001:db8::5"),
    ("fd00::1", "2001:db8::5, fd12::9", "2001:db8::5"),
])
def test_forwarded_for_is_walked_from_the_right_over_trusted_proxies_only(peer, forwarded, expected):
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_ip(environ, PROXIES) == expected
    assert client_ip(environ) == peer  # no proxy configured: never the header


def test_api_gateway_keeps_its_source_ip():
    environ = {"REMOTE_ADDR": "6.6.6.6", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9",
               "apig_wsgi.request_context": {"http": {"sourceIp": "203.0.113.9"}}}
    assert client_ip(environ) == "203.0.113.9"
    assert client_ip(environ, PROXIES) == "203.0.113.9"


def test_ipv6_clients_are_counted_per_56():
    assert network("2001:db8:1:2ff:ffff::9") == network("2001:db8:1:200::1") == "2001:db8:1:200::/56"
    assert network("2001:db8:1:300::1") != network("2001:db8:1:200::1")
    assert network("::ffff:192.0.2.1") == "192.0.2.1"


# -- headers of every page -------------------------------------------------------------------------------------

def test_a_405_keeps_its_allow_header(web):
    for path, allowed in (("/healthz", {"GET", "HEAD", "OPTIONS"}), ("/subscribe", {"GET", "HEAD", "OPTIONS", "POST"})):
        r = web.client.put(path)
        assert r.status_code == 405 and Page(r.data).h1 == "Not allowed"
        assert set(r.headers["Allow"].replace(" ", "").split(",")) == allowed
    r = web.client.delete("/unsubscribe/whatever")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]


def test_every_page_forbids_framing(web, add_subscriber):
    sid = add_subscriber("framed@example.com")
    answers = [web.client.get("/subscribe"), web.client.get("/healthz"), web.client.get("/nowhere"),
               web.client.get(f"/preferences/{web.token('preferences', sid)}"), web.client.put("/subscribe"),
               web.post_form("/subscribe", {"email": "bad"}), web.client.get("/static/timezone.js")]
    for r in answers:
        assert r.headers["X-Frame-Options"] == "DENY", r.status
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


# -- timezone names --------------------------------------------------------------------------------------------

NOT_ZONES = ["posixrules", "right/UTC", "right/Europe/Berlin", "posix/Europe/Berlin", "Factory", "localtime",
             "zone.tab", "leapseconds", "Europe"]


@pytest.mark.parametrize("name", NOT_ZONES)
def test_the_sign_up_form_refuses_files_of_the_zone_database_that_are_no_zone(web, name):
    r = web.post_form("/subscribe", {"email": "tz@example.com", "timezone": name})
    assert r.status_code == 400
    assert f"timezone: unknown timezone {name!r} (use an IANA name such as Europe/Berlin)" in Page(r.data).text
    assert web.by_email("tz@example.com") is None


def test_the_preferences_form_and_the_cli_refuse_them_too(web, add_subscriber, db_url, tmp_path):
    sid = add_subscriber("tz@example.com")
    r = web.post_form(f"/preferences/{web.token('preferences', sid)}",
                      {"timezone": "posix/Europe/Berlin", "send_day": "monday", "send_hour": "8", "cadence": "weekly"})
    assert r.status_code == 400 and web.row(sid)["timezone"] == "UTC"
    added = digest(db_url, tmp_path, "subscribers", "add", "cli@example.com", "--timezone", "Factory")
    assert added.exit_code != 0 and "unknown timezone 'Factory'" in added.stderr
    updated = digest(db_url, tmp_path, "subscribers", "update", "tz@example.com", "--timezone", "right/UTC")
    assert updated.exit_code != 0 and "unknown timezone 'right/UTC'" in updated.stderr
    (tmp_path / "people.csv").write_text("email,timezone\nimp@example.com,localtime\nok@example.com,US/Eastern\n")
    imported = digest(db_url, tmp_path, "subscribers", "import", str(tmp_path / "people.csv"))
    assert "unknown timezone 'localtime'" in imported.stderr
    assert web.by_email("imp@example.com") is None and web.by_email("ok@example.com")["timezone"] == "US/Eastern"
    assert web.row(sid)["timezone"] == "UTC"
    with pytest.raises(ConfigError, match="DIGEST_DEFAULT_TIMEZONE 'posixrules' is not an IANA timezone"):
        Settings.from_env({"DIGEST_DEFAULT_TIMEZONE": "posixrules"})


# -- what an operator's terminal shows -------------------------------------------------------------------------

HOSTILE = "Ana\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil\u2066x\u2069\rdone"


def test_subscribers_show_and_list_escape_terminal_controls(db_url, tmp_path):
    people = tmp_path / "people.jsonl"
    people.write_text(json.dumps({"email": "ana@example.com", "name": HOSTILE, "confirmed": True}) + "\n")
    assert digest(db_url, tmp_path, "subscribers", "import", str(people)).exit_code == 0
    unsafe = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
    outputs = {args: digest(db_url, tmp_path, "subscribers", *args).stdout
               for args in (("show", "ana@example.com"), ("show", "ana@example.com", "--json"), ("list",),
                            ("list", "--json"), ("export", "ana@example.com"))}
    for args, out in outputs.items():
        assert not unsafe.search(out), (args, out)
    shown = outputs[("show", "ana@example.com")]
    assert "name             Ana\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202eevil\\u2066x\\u2069\\rdone\n" in shown
    # The JSON still holds the name exactly as stored.
    assert json.loads(outputs[("show", "ana@example.com", "--json")])["name"] == HOSTILE
    assert json_lines(outputs[("list", "--json")])[0]["name"] == HOSTILE
    assert json.loads(outputs[("export", "ana@example.com")])["subscriber"]["name"] == HOSTILE


# -- token lengths as the README states them -------------------------------------------------------------------

def test_the_readme_states_the_length_of_real_tokens(web, add_subscriber, db_url, tmp_path):
    web.post_form("/subscribe", {"email": "len@example.com", "timezone": "UTC"})
    confirm = mail_link(web.mails()[-1], "confirm").rsplit("/", 1)[1]
    add_subscriber("reader@example.com", stack=["python"])
    (tmp_path / "l.jsonl").write_text(json.dumps({
        "id": "j1", "title": "Backend Engineer (Python)", "company": "Acme", "url": "https://jobs.example.com/1",
        "posted_at": "2026-11-20T10:00:00Z", "verified": True, "stack": ["python"]}) + "\n")
    assert digest(db_url, tmp_path, "listings", "import", str(tmp_path / "l.jsonl")).exit_code == 0
    assert digest(db_url, tmp_path, "run", "--now", "2026-11-23T09:00:00Z").exit_code == 0
    [eml] = [p for p in (tmp_path / "outbox").rglob("*.eml") if "/confirm/" not in str(p)]
    text = parse_mail(eml.read_bytes()).get_body(("plain",)).get_content()
    links = dict(re.findall(r"https?://[^/\s]+/(unsubscribe|preferences|feedback)/([A-Za-z0-9_-]+)", text))
    assert {len(links["unsubscribe"]), len(links["preferences"])} == {43} and len(links["feedback"]) == 38
    assert len(confirm) == 48  # format 3: it names the sign-up it confirms
    readme = README.read_text()
    assert "URL-safe base64 without padding: 43 characters" in readme
    assert "in a tighter layout, 38 characters" in readme
    assert "Confirmation\nlinks carry format 3: format 1's fields and the id of the sign-up they confirm, 48 characters" \
        in readme


# -- revoked unsubscribe links ---------------------------------------------------------------------------------

def test_a_revoked_unsubscribe_link_does_not_show_the_address(web, add_subscriber):
    sid = add_subscriber("private@example.com")
    old = f"/unsubscribe/{web.token('unsubscribe', sid)}"
    assert "private@example.com" in web.client.get(old).get_data(as_text=True)  # a current link names it
    with Session(web.engine) as s:
        lifecycle.revoke_links(s.get(Subscriber, sid), NOW)
        s.commit()
    page = web.client.get(old)
    assert page.status_code == 200 and "private@example.com" not in page.get_data(as_text=True)
    assert "the address this link was sent to gets no more digests" in Page(page.data).text
    done = web.post_form(old)
    assert done.status_code == 200 and web.row(sid)["status"] == "unsubscribed"
    assert "private@example.com" not in done.get_data(as_text=True)
    assert "We will not email this address again." in Page(done.data).text
