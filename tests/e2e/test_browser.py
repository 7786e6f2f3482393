"""A subscriber's whole journey in Debian's Chromium against `digest serve`, starting from the mail in the outbox."""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from digest import tokens
from digest.db import make_engine
from digest.models import Delivery, MailRequest, Subscriber
from digest.run import run

from ..conftest import NOW, listing, listing_ids, read_outbox
from ..support.content import Anchors
from ..support.journey import JS, digests, fresh, html_part, link, save_png, subscriber
from .conftest import AXE_LOG, DESKTOP, PHONE, REPO, SHOTS, check_page, digest_cli

NEXT_WEEK = NOW + timedelta(days=7)
pytestmark = pytest.mark.slow


# --- reading what was sent -----------------------------------------------------------------------------------

def list_unsubscribe(msg: EmailMessage) -> str:
    value = str(msg["List-Unsubscribe"]).strip()
    assert value.startswith("<") and value.endswith(">"), value
    return value[1:-1]


def confirmations(settings, to: str, folder: str = "confirm", wait: float = 10) -> list[EmailMessage]:
    """The mail the pages sent `to`. It leaves just after the answer, and the server commits what it stored with it
    (a new subscriber, the sign-up) just after the mail has left: wait for both, so the rows are there to read."""
    deadline = time.monotonic() + wait
    engine = make_engine(settings.database_url)
    try:
        while True:
            found = [msg for key, msg in read_outbox(settings.outbox_dir).items()
                     if key.startswith(f"{folder}/") and to in str(msg["To"])]
            if found and not _requests_waiting(engine) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)
    finally:
        engine.dispose()


def _requests_waiting(engine) -> int:
    """Page-mail requests not yet handled and committed (each is deleted with the rows its mail goes with)."""
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(MailRequest))


def periods_in_ledger(engine, sub_id: int) -> list[str]:
    with Session(engine) as s:
        return sorted(s.scalars(select(Delivery.period).where(Delivery.subscriber_id == sub_id)))


def next_slot_after(moment: datetime, tz: str, day: int = 0, hour: int = 9) -> datetime:
    """The first local `day` (0 = Monday) after `moment`'s local date, at `hour`:00 local, in UTC."""
    local = moment.astimezone(ZoneInfo(tz))
    days = (day - local.weekday()) % 7 or 7
    d = local.date() + timedelta(days=days)
    return datetime(d.year, d.month, d.day, hour, tzinfo=ZoneInfo(tz)).astimezone(UTC)


# --- a. preferences from the digest's link change the next digest ----------------------------------------------

@JS
def test_preferences_link_from_the_digest_changes_the_next_digest(server, settings, add_listings, add_subscriber,
                                                                  new_page, js):
    add_listings(listing("py-sr", title="Senior Python Engineer", stack=["python"], level="senior"),
                 listing("go-jr", title="Junior Go Developer", stack=["go"], level="junior"))
    add_subscriber("ana@example.com", stack=["python"])
    run(settings, NOW)
    (week1,) = digests(settings, "ana@example.com").values()
    assert listing_ids(week1) == ["py-sr"]

    url = link(week1, "Manage preferences")
    assert url.startswith(f"{server}/preferences/")
    page = new_page(java_script_enabled=js)
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your digest preferences")
    check_page(page, "preferences", axe=js)
    stacks, levels = page.get_by_role("group", name="Stacks"), page.get_by_role("group", name="Levels")
    expect(stacks.get_by_label("Python", exact=True)).to_be_checked()
    expect(stacks.get_by_label("Go", exact=True)).not_to_be_checked()

    stacks.get_by_label("Python", exact=True).uncheck()
    stacks.get_by_label("Go", exact=True).check()
    levels.get_by_label("Senior", exact=True).check()
    page.get_by_role("button", name="Save preferences").click()

    expect(page.get_by_role("status")).to_contain_text("Saved")
    check_page(page, "preferences saved", axe=js)
    expect(stacks.get_by_label("Go", exact=True)).to_be_checked()  # the page shows what was stored
    expect(stacks.get_by_label("Python", exact=True)).not_to_be_checked()
    expect(levels.get_by_label("Senior", exact=True)).to_be_checked()

    add_listings(fresh("go-sr", NEXT_WEEK, title="Senior Go Engineer", stack=["go"], level="senior"),
                 fresh("go-any", NEXT_WEEK, title="Go Backend Engineer", stack=["go"]),
                 fresh("go-jr2", NEXT_WEEK, title="Junior Go Developer", stack=["go"], level="junior"),
                 fresh("py-sr2", NEXT_WEEK, title="Senior Python Developer", stack=["python"], level="senior"))
    run(settings, NEXT_WEEK)
    _, week2 = digests(settings, "ana@example.com").values()
    assert listing_ids(week2) == ["go-sr", "go-any"]  # Go only, senior first, unknown level ranked lower


# --- b. unsubscribe through the page, then come back ----------------------------------------------------------

@JS
def test_unsubscribe_through_the_page_stops_mail_and_resubscribe_restores_it(server, settings, engine, add_listings,
                                                                             add_subscriber, new_page, js):
    add_listings(listing("py-1"))
    sub_id = add_subscriber("ben@example.com")
    run(settings, NOW)
    (week1,) = digests(settings, "ben@example.com").values()
    url = link(week1, "Unsubscribe")
    assert url == list_unsubscribe(week1)

    page = new_page(java_script_enabled=js)
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribe from Backend Jobs Weekly?")
    check_page(page, "unsubscribe", axe=js)
    assert subscriber(engine, "ben@example.com").status == "active"  # opening the page changed nothing

    page.get_by_role("button", name="Unsubscribe", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    resubscribe = page.get_by_role("button", name=re.compile("subscribe me again"))
    expect(resubscribe).to_be_visible()
    check_page(page, "unsubscribed", axe=js)
    assert subscriber(engine, "ben@example.com").status == "unsubscribed"

    add_listings(fresh("py-2", NEXT_WEEK))
    run(settings, NEXT_WEEK)
    assert list(digests(settings, "ben@example.com")) == ["2026-W48"]  # nothing new in the outbox
    assert periods_in_ledger(engine, sub_id) == ["2026-W48"]  # nor in the ledger

    resubscribe.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome back")
    check_page(page, "resubscribed", axe=js)
    shown = json.loads(digest_cli(settings, "subscribers", "show", "ben@example.com", "--json"))
    assert shown["status"] == "active"


# --- c. RFC 8058 one-click exactly as Gmail sends it ---------------------------------------------------------

def _post(url: str, content_type: str, body: bytes) -> http.client.HTTPResponse:
    """One POST, no cookies, no redirects followed (http.client never follows them)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                 headers={"Content-Type": content_type, "Content-Length": str(len(body))})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


ONE_CLICK = {
    "urlencoded": ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click"),
    "multipart": ("multipart/form-data; boundary=----oneclick7MA4YWxkTrZu0gW",
                  b"------oneclick7MA4YWxkTrZu0gW\r\n"
                  b'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
                  b"One-Click\r\n"
                  b"------oneclick7MA4YWxkTrZu0gW--\r\n"),
}


@pytest.mark.parametrize("encoding", ONE_CLICK)
def test_one_click_post_from_the_list_unsubscribe_header(server, settings, engine, add_listings, add_subscriber,
                                                        encoding):
    add_listings(listing("py-1"))
    add_subscriber("cleo@example.com")
    run(settings, NOW)
    (msg,) = digests(settings, "cleo@example.com").values()
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = list_unsubscribe(msg)
    assert url.startswith(f"{server}/unsubscribe/")

    content_type, body = ONE_CLICK[encoding]
    for attempt in ("first", "repeat"):
        response = _post(url, content_type, body)
        assert response.status == 200, f"{attempt}: {response.status}"
        assert response.getheader("Location") is None
        assert response.getheader("Set-Cookie") is None
        assert subscriber(engine, "cleo@example.com").status == "unsubscribed", attempt


# --- d. sign up, confirm from the mail, receive the next digest -----------------------------------------------

@JS
def test_sign_up_confirm_from_the_mail_and_receive_the_next_digest(server, settings, engine, add_listings,
                                                                   new_page, js):
    page = new_page(java_script_enabled=js)
    page.goto(f"{server}/subscribe")
    check_page(page, "subscribe", axe=js)
    page.get_by_label("Email address").fill("dana@example.com")
    page.get_by_role("group", name="Stacks").get_by_label("Python", exact=True).check()
    page.get_by_label("Your timezone").select_option("America/New_York")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    check_page(page, "check inbox", axe=js)
    (mail,) = confirmations(settings, "dana@example.com")  # (it leaves after the answer)
    assert subscriber(engine, "dana@example.com").status == "pending"

    parser = Anchors()
    parser.feed(html_part(mail))
    confirm_urls = {href for href, _ in parser.links if href.startswith(f"{server}/confirm/")}
    assert len(confirm_urls) == 1, parser.links
    page.goto(confirm_urls.pop())
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your subscription")
    check_page(page, "confirm", axe=js)
    assert subscriber(engine, "dana@example.com").status == "pending"  # a scanner opening the link confirms nothing

    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are subscribed")
    check_page(page, "confirmed", axe=js)
    sub = subscriber(engine, "dana@example.com")
    assert sub.status == "active" and sub.timezone == "America/New_York" and sub.stack == ["python"]
    page.get_by_role("link", name=re.compile("Choose your stacks")).click()
    expect(page.get_by_role("group", name="Stacks").get_by_label("Python", exact=True)).to_be_checked()
    expect(page.get_by_label("Your timezone")).to_have_value("America/New_York")

    # The server ran on the real clock; the first digest comes at the first Monday 08:00 New York after that.
    when = next_slot_after(sub.confirmed_at, "America/New_York")
    add_listings(fresh("py-new", when, title="Python Engineer"), fresh("go-new", when, stack=["go"]))
    run(settings, when)
    (first,) = digests(settings, "dana@example.com").values()
    assert listing_ids(first) == ["py-new"]


# --- d2. the subscriber's say: timezone guess, kinds of role and employer, cadence, leaving with a reason -------

@JS
def test_sign_up_guesses_the_timezone_and_the_confirmed_page_names_the_first_digest(server, settings, engine,
                                                                                    new_page, js):
    # The subscriber's real policy (no bypass): the static script must run under it, the page must work without it.
    page = new_page(java_script_enabled=js, timezone_id="America/New_York", bypass_csp=False)
    page.goto(f"{server}/subscribe")
    expect(page.get_by_label("Your timezone")).to_have_value("America/New_York" if js else "UTC")
    check_page(page, "subscribe (timezone guessed)" if js else "subscribe", axe=False)
    page.get_by_label("Email address").fill("tz@example.com")
    page.get_by_role("group", name="Kind of role").get_by_label("Data-heavy", exact=True).check()
    page.get_by_role("group", name="Kind of employer").get_by_label("Startup", exact=True).check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    (mail,) = confirmations(settings, "tz@example.com")  # (it leaves after the answer)
    sub = subscriber(engine, "tz@example.com")
    assert (sub.timezone, sub.roles, sub.employers) == ("America/New_York" if js else "UTC", ["data"], ["startup"])
    parser = Anchors()
    parser.feed(html_part(mail))
    page.goto(next(href for href, _ in parser.links if href.startswith(f"{server}/confirm/")))
    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are subscribed")
    zone = "America/New_York" if js else "UTC"
    first = next_slot_after(subscriber(engine, "tz@example.com").confirmed_at - timedelta(days=1), zone, hour=8)
    if first < subscriber(engine, "tz@example.com").confirmed_at:
        first += timedelta(days=7)
    local = first.astimezone(ZoneInfo(zone))
    expect(page.get_by_text("Your first digest:")).to_contain_text(
        f"Your first digest: {local:%A} {local.day} {local:%B} at 08:00 ({zone}), then every week.")


@JS
def test_preferences_choose_role_employer_and_cadence(server, settings, engine, add_subscriber, new_page, js):
    sid = add_subscriber("rae@example.com", stack=["python"])
    page = new_page(java_script_enabled=js)
    page.goto(f"{server}/preferences/{tokens.sign(settings.secret_keys, 'preferences', sid, 1)}")
    roles, employers = page.get_by_role("group", name="Kind of role"), page.get_by_role("group", name="Kind of employer")
    expect(page.get_by_label("How often")).to_have_value("weekly")
    roles.get_by_label("Platform & infrastructure", exact=True).check()
    employers.get_by_label("Scale-up", exact=True).check()
    employers.get_by_label("Enterprise", exact=True).check()
    page.get_by_label("How often").select_option("fortnightly")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status")).to_contain_text("Your next digest uses these choices")
    check_page(page, "preferences with role, employer and cadence", axe=js)
    expect(roles.get_by_label("Platform & infrastructure", exact=True)).to_be_checked()
    expect(page.get_by_label("How often")).to_have_value("fortnightly")
    sub = subscriber(engine, "rae@example.com")
    assert (sub.roles, sub.employers, sub.cadence) == (["platform"], ["enterprise", "scaleup"], "fortnightly")
    page.get_by_role("link", name="Unsubscribe, or get digests less often").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribe from Backend Jobs Weekly?")
    expect(page.get_by_role("button", name="Every two weeks instead")).to_have_count(0)  # already so


@JS
def test_leaving_with_a_reason_or_choosing_every_two_weeks(server, settings, engine, add_subscriber, new_page, js):
    keys = settings.secret_keys
    stays, leaves = add_subscriber("stays@example.com"), add_subscriber("leaves@example.com")
    page = new_page(java_script_enabled=js)
    page.goto(f"{server}/unsubscribe/{tokens.sign(keys, 'unsubscribe', stays, 1)}")
    check_page(page, "unsubscribe with reasons and offers", axe=js)
    page.get_by_role("button", name="Every two weeks instead").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Every two weeks from now on")
    expect(page.get_by_text("Your next digest:")).to_contain_text("(UTC)")
    check_page(page, "every two weeks", axe=js)
    sub = subscriber(engine, "stays@example.com")
    assert (sub.status, sub.cadence) == ("active", "fortnightly")

    page.goto(f"{server}/unsubscribe/{tokens.sign(keys, 'unsubscribe', leaves, 1)}")
    page.get_by_role("group", name="Why are you leaving? (optional)").get_by_label("Too many emails").check()
    page.get_by_role("button", name="Unsubscribe", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    shown = json.loads(digest_cli(settings, "subscribers", "show", "leaves@example.com", "--json"))
    assert (shown["status"], shown["unsubscribe_reason"]) == ("unsubscribed", "too-many-emails")

    page.goto(f"{server}/preferences/{tokens.sign(keys, 'preferences', leaves, 1)}")
    expect(page.get_by_role("status")).to_contain_text("You are unsubscribed")
    check_page(page, "preferences after unsubscribing", axe=js)
    page.get_by_role("button", name="Subscribe me again").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome back")
    assert subscriber(engine, "leaves@example.com").status == "active"


# --- e. every other page passes axe -----------------------------------------------------------------------------

def test_every_other_page_passes_axe(server, settings, add_subscriber, page):
    """The pages the journeys above do not reach: errors, pause, expired link, already confirmed, 404s."""
    keys = settings.secret_keys
    subscriber_id = add_subscriber("ana@example.com", stack=["python"])
    prefs = tokens.sign(keys, "preferences", subscriber_id, 1)
    unsub = tokens.sign(keys, "unsubscribe", subscriber_id, 1)

    page.goto(f"{server}/preferences/{prefs}")
    page.get_by_label("Pause until (optional)").fill("2099-01-01")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("alert")).to_contain_text("pause for at most a year")
    check_page(page, "preferences with errors")

    page.goto(f"{server}/subscribe")
    page.get_by_label("Email address").fill("someone@localhost")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check_page(page, "subscribe with errors")

    page.goto(f"{server}/unsubscribe/{unsub}")
    page.get_by_role("button", name="Pause for a month").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Paused until")
    check_page(page, "paused")

    page.goto(f"{server}/confirm/{tokens.sign(keys, 'confirm', subscriber_id, 1, issued_at=datetime.now(UTC))}")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are already confirmed")
    check_page(page, "confirm (already confirmed)")

    pending = add_subscriber("eve@example.com", confirmed=False)
    expired = tokens.sign(keys, "confirm", pending, 1, issued_at=datetime.now(UTC) - timedelta(days=8))
    response = page.goto(f"{server}/confirm/{expired}")
    assert response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("This confirmation link has expired")
    check_page(page, "confirm expired")
    page.get_by_role("button", name="Send me a new link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    assert len(confirmations(settings, "eve@example.com")) == 1

    page.goto(f"{server}/unsubscribe/{tokens.sign(keys, 'unsubscribe', pending, 1)}")  # the mail's "never" link
    expect(page.get_by_role("heading", level=1)).to_have_text("Never email this address?")
    check_page(page, "never email this address")
    page.get_by_role("button", name="Never email this address").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("We will not email this address again")
    check_page(page, "never emailed again")

    page.goto(f"{server}/manage")
    check_page(page, "manage")
    page.get_by_label("Email address").fill("ana@example.com")
    page.get_by_role("button", name="Email me my links").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    check_page(page, "manage (sent)")
    assert len(confirmations(settings, "ana@example.com", folder="links")) == 1

    for path in (f"/preferences/{prefs[:-3]}", f"/unsubscribe/{prefs}", "/no/such/page"):
        response = page.goto(f"{server}{path}")
        assert response.status == 404, path
        expect(page.get_by_role("heading", level=1)).to_have_text("This link is not valid")
        check_page(page, f"404 {path.split('/')[1]}")

    page.emulate_media(color_scheme="dark")  # the pages have a dark palette: its contrast counts too
    for name, path in (("subscribe", "/subscribe"), ("preferences", f"/preferences/{prefs}"),
                       ("unsubscribe", f"/unsubscribe/{unsub}"), ("manage", "/manage")):
        page.goto(f"{server}{path}")
        check_page(page, f"{name} (dark)")


def test_the_axe_gate_is_not_vacuous(page):
    """The same check fails on a page with a serious violation (so a green run means something)."""
    page.set_content('<!doctype html><html lang="en"><title>t</title><main><h1>Hi</h1>'
                     '<p style="color:#bbb;background:#fff">faint text</p><input type="text"></main></html>')
    with pytest.raises(AssertionError, match="color-contrast.*serious|label.*critical"):
        check_page(page, "known-bad page")
    AXE_LOG.pop()  # the report lists the app's pages only


# --- g. screenshots for the README at phone and desktop width --------------------------------------------------

def _pinned(page):
    """The page with its digest date pinned: the server runs on the real clock, and a picture should change only
    when the page does."""
    expect(page.locator("strong")).to_have_count(1)
    page.locator("strong").evaluate("e => { e.textContent = 'Monday 30 November at 08:00 (UTC)'; }")
    return page


def test_screenshots_at_phone_and_desktop_width(server, settings, engine, add_listings, add_subscriber, new_page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    add_listings(
        listing("py-1", title="Senior Python Engineer (Payments API)", company="Ledgerly", level="senior",
                location="Remote - Europe", salary="€85,000 – €105,000", role_type="api", employer_type="startup"),
        listing("go-1", title="Backend Engineer, Go", company="Fleetbase", stack=["go"], location="Worldwide",
                salary="$150k - $190k", employer_type="scaleup"),
        listing("py-2", title="Python Developer II", company="Acme Health", level="mid", location="Remote - US only",
                role_type="api", employer_type="scaleup"),
    )
    ana = add_subscriber("ana@example.com", stack=["python", "go"], level=["senior", "mid"], region=["europe"],
                         role=["api"], employer=["startup", "scaleup"], timezone="Europe/Berlin")
    ben = add_subscriber("ben@example.com")
    eve = add_subscriber("eve@example.com", confirmed=False)
    keys, base = settings.secret_keys, server
    issued = datetime.now(UTC)
    pages = {
        "subscribe": f"{base}/subscribe",
        "preferences": f"{base}/preferences/{tokens.sign(keys, 'preferences', ana, 1)}",
        "unsubscribe": f"{base}/unsubscribe/{tokens.sign(keys, 'unsubscribe', ben, 1)}",
        "confirm": f"{base}/confirm/{tokens.sign(keys, 'confirm', eve, 1, issued_at=issued)}",
    }
    for size_name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = new_page(viewport=viewport, color_scheme="light", bypass_csp=False)  # as a subscriber sees it
        for name, url in pages.items():
            page.goto(url)
            check_page(page, f"{name} ({size_name})", axe=False)
            save_png(SHOTS / f"{name}-{size_name}.png", page.screenshot(full_page=True))
        page.goto(pages["unsubscribe"])
        page.get_by_role("button", name="Unsubscribe", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
        save_png(SHOTS / f"unsubscribed-{size_name}.png", page.screenshot(full_page=True))
        page.get_by_role("button", name=re.compile("subscribe me again")).click()  # ben back for the next size
        page.goto(pages["unsubscribe"])
        page.get_by_role("button", name="Every two weeks instead").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Every two weeks from now on")
        save_png(SHOTS / f"every-two-weeks-{size_name}.png", _pinned(page).screenshot(full_page=True))
        page.goto(pages["confirm"])
        page.get_by_role("button", name="Confirm my subscription").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("You are subscribed")
        save_png(SHOTS / f"confirmed-{size_name}.png", _pinned(page).screenshot(full_page=True))
        with Session(engine) as s:  # ben weekly and eve pending again for the next size
            s.execute(update(Subscriber).where(Subscriber.id == ben).values(cadence="weekly"))
            s.execute(update(Subscriber).where(Subscriber.id == eve).values(status="pending", confirmed_at=None))
            s.commit()

    run(settings, NOW)
    (msg,) = digests(settings, "ana@example.com").values()
    html = html_part(msg)
    for width in (375, 600):
        page = new_page(viewport={"width": width, "height": 900}, color_scheme="light", java_script_enabled=False)
        page.set_content(html)
        check_page(page, f"digest email at {width}px", axe=False)
        save_png(SHOTS / f"digest-email-{width}.png", page.screenshot(full_page=True))
    written = [f"{n}-{s}.png" for n in (*pages, "unsubscribed", "every-two-weeks", "confirmed")
               for s in ("phone", "desktop")] + ["digest-email-375.png", "digest-email-600.png"]
    assert all((SHOTS / name).exists() for name in written)
    # Every picture this test takes is committed (scripts/refresh-screenshots), and so is every one the README shows.
    shown = set(re.findall(r"docs/screenshots/([\w-]+\.png)", (REPO / "README.md").read_text()))
    committed = {p.name for p in (REPO / "docs" / "screenshots").glob("*.png")}
    assert set(written) <= committed and shown <= committed
